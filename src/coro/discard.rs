//! Gives the memory of idle stacks back to the kernel, many ranges per system call.
//!
//! `madvise(MADV_DONTNEED)` ends in a TLB shootdown: an interrupt to every other CPU that runs
//! this process, which the caller waits for. On a virtual machine each one costs a VM exit on
//! both sides: 19 us per stack released, with one other thread of the process busy on the
//! second vCPU (a throwaway C program on this project's 2-vCPU machine, Linux 6.18). B8's
//! workers released some 18,000 scattered stacks a run that way, a tenth of their time.
//! `process_madvise` takes a vector of ranges, and since Linux 6.16 flushes the TLB once for
//! all of them: 1.3 us per stack in the same program, 64 ranges a call here. Where the kernel
//! refuses it (before 6.13 it takes no `MADV_DONTNEED`, before 6.15 no `PIDFD_SELF`), each
//! range gets its own `madvise`, as before. The call itself, [`advise_at_once`], also installs
//! the guard pages of a new batch of stacks (`stack::Stack::batch_into`).

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

/// `PIDFD_SELF_THREAD_GROUP` from Linux 6.15's uapi headers: "this process" for the pidfd
/// system calls, without opening a pidfd.
const PIDFD_SELF: libc::c_int = -10001;

/// Ranges per call: an array on the caller's stack (the kernel takes up to `UIO_MAXIOV`).
const RANGES: usize = 64;

/// Whether `process_madvise` may be tried with `MADV_DONTNEED` (cleared the first time the
/// kernel refuses it).
static AT_ONCE: AtomicBool = AtomicBool::new(true);

/// `process_madvise(PIDFD_SELF, ranges, advice)`: the bytes advised (the ranges are advised in
/// order; fewer than all of them: the kernel stopped part-way), or `None` when the call failed.
/// A refusal as such (an advice or `PIDFD_SELF` the kernel does not take, a seccomp filter)
/// clears `allowed`, and while it is clear this is `None` without a call.
///
/// # Safety
/// Giving `advice` for every range is sound: the ranges lie in mappings of ours that nothing
/// uses in a way the advice would break.
pub(super) unsafe fn advise_at_once(
    ranges: &[libc::iovec],
    advice: libc::c_int,
    allowed: &AtomicBool,
) -> Option<usize> {
    if !allowed.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: the caller's promise for the ranges; the kernel reads `ranges.len()` iovecs from
    // the slice, which holds that many.
    let advised = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            PIDFD_SELF,
            ranges.as_ptr(),
            ranges.len(),
            advice,
            0,
        )
    };
    if advised >= 0 {
        return Some(advised as usize);
    }
    if matches!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EINVAL | libc::EBADF | libc::ENOSYS | libc::EPERM | libc::ESRCH)
    ) {
        allowed.store(false, Ordering::Relaxed);
    }
    None
}

/// Ranges of stack memory to discard, discarded together when the batch is full and when it
/// is dropped.
pub(super) struct Discard {
    /// The first `len` are set. Left unset until used: a finished green thread's stack going
    /// back to its pool makes a batch that most often stays empty, and must not pay for a 1 KiB
    /// fill.
    ranges: [MaybeUninit<libc::iovec>; RANGES],
    len: usize,
    /// False: one `madvise` per range (the tests' way to reach the fallback).
    at_once: bool,
}

impl Discard {
    #[inline]
    pub(super) fn new() -> Discard {
        Discard {
            ranges: [const { MaybeUninit::uninit() }; RANGES],
            len: 0,
            at_once: true,
        }
    }

    /// Adds `len` bytes at `start` to the batch.
    ///
    /// # Safety
    /// The range lies in mappings of ours (stacks, or the guard pages between neighbouring
    /// stacks, which `MADV_DONTNEED` leaves guarded) on which nothing lives, and stays so (the
    /// stacks not used, not unmapped) until the batch is dropped: their contents become zero at
    /// some point in between.
    pub(super) unsafe fn push(&mut self, start: *mut u8, len: usize) {
        if self.len == RANGES {
            self.flush();
        }
        self.ranges[self.len].write(libc::iovec {
            iov_base: start.cast(),
            iov_len: len,
        });
        self.len += 1;
    }

    fn flush(&mut self) {
        // SAFETY: the first `len` entries were written by `push`; `iovec` is plain data.
        let ranges: &[libc::iovec] =
            unsafe { std::slice::from_raw_parts(self.ranges.as_ptr().cast(), self.len) };
        self.len = 0;
        let mut done = 0;
        if self.at_once && ranges.len() > 1 {
            // SAFETY: every range meets `push`'s contract (ours, nothing lives there).
            if let Some(mut bytes) =
                unsafe { advise_at_once(ranges, libc::MADV_DONTNEED, &AT_ONCE) }
            {
                // Stopped part-way: the rest go one by one below.
                while done < ranges.len() && bytes >= ranges[done].iov_len {
                    bytes -= ranges[done].iov_len;
                    done += 1;
                }
            }
        }
        for range in &ranges[done..] {
            // SAFETY: as above, one range.
            unsafe { libc::madvise(range.iov_base, range.iov_len, libc::MADV_DONTNEED) };
        }
    }
}

impl Drop for Discard {
    fn drop(&mut self) {
        if self.len > 0 {
            self.flush();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_range_of_a_batch_is_zeroed_and_the_rest_is_kept() {
        discards_every_other_page(true);
    }

    #[test]
    fn one_madvise_per_range_does_the_same() {
        discards_every_other_page(false);
    }

    fn discards_every_other_page(at_once: bool) {
        // More ranges than one call takes, every other page of one mapping.
        // SAFETY (test): sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let pages = 2 * RANGES + 6;
        // SAFETY (test): a fresh private anonymous mapping, unmapped at the end.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                pages * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let base = base.cast::<u8>();
        for i in 0..pages {
            // SAFETY (test): inside the mapping.
            unsafe { base.add(i * page).write(0xab) };
        }
        {
            let mut discard = Discard::new();
            discard.at_once = at_once;
            for i in (0..pages).step_by(2) {
                // SAFETY (test): a page of our mapping that nothing else uses.
                unsafe { discard.push(base.add(i * page), page) };
            }
        }
        for i in 0..pages {
            // SAFETY (test): inside the mapping.
            let byte = unsafe { base.add(i * page).read_volatile() };
            assert_eq!(byte, if i % 2 == 0 { 0 } else { 0xab }, "page {i}");
        }
        // SAFETY (test): the mapping made above.
        unsafe { libc::munmap(base.cast(), pages * page) };
    }
}
