//! Reads and writes that do not wait: `preadv2` / `pwritev2` with `RWF_NOWAIT`, tried first by
//! every read and write made inside a runtime (`super::op`).
//!
//! A file read whose data is in the page cache never waits for a device, yet going through the
//! ring or the pool for it costs a park, a switch and a wake (plus a copy through an owned
//! buffer) on top of the read itself. With `RWF_NOWAIT` the kernel does the read only if it can
//! do it without blocking, and says `EAGAIN` otherwise; so one syscall, straight into the
//! caller's buffer, serves the cached case at what std's `pread` costs, and only a miss goes to
//! the ring or the pool (which then waits properly). Borrowing the caller's buffer is sound here
//! because the call is synchronous: the kernel is done with it when the syscall returns.
//!
//! What the kernel does with the flag (6.x; the fallback covers every other answer):
//!
//! - **Reads** of a regular file on ext4, xfs, btrfs (and pipes): the bytes that are cached, or
//!   `EAGAIN` if the first page is not. A read may be short (part of the range cached): the
//!   count is returned as it is, as std's `read` may return short counts; `read_exact` loops, and
//!   its next step misses and goes to the ring. 0 is the end of the file, as for `pread`.
//! - **Buffered writes**: `EOPNOTSUPP` on ext4 and tmpfs (measured on 6.18); xfs and btrfs
//!   take them (`FMODE_BUF_WASYNC`; not measured here). Pipes write what fits, `EAGAIN` when
//!   full.
//! - **`O_DIRECT` files** are never tried (their flags are looked at once per `File`): a
//!   synchronous call with the flag may wait for the device, and on 6.18/ext4 it is always
//!   `EAGAIN`.
//! - **Files that do not know the flag** (tmpfs reads, /proc, some character devices):
//!   `EOPNOTSUPP`. That is remembered per `File` and direction ([`Support`]), so such a file
//!   pays one wasted syscall per direction, not one per call.
//! - **A kernel without `preadv2`** (before 4.6): `ENOSYS`, remembered for the process. A
//!   seccomp filter's `EPERM` is remembered like `EOPNOTSUPP`, per file and direction (only
//!   per file: a sealed memfd refuses writes with `EPERM` too, and the waiting way then reports
//!   it).
//!
//! Every other result, errors included, is the answer: a `pread` would have given the same.
//!
//! The calls are raw system calls, not glibc's wrappers (which are pthread cancellation points
//! and pay two atomic compare-and-swaps per call for it). What is left over std's `pread` is
//! the kernel's: `preadv2` goes through the vectored path (`import_iovec`, `vfs_readv`), about
//! 0.1 us more per call on 6.18, the price of being able to say "do not wait".
//!
//! `ZSYNC_FS_NOWAIT=0` turns this off (every read and write then goes to the ring or the pool, as
//! before it existed): for measuring, and for tests of the waiting paths.

use crate::env_switch::EnvSwitch;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, Ordering};

/// Whether `RWF_NOWAIT` is tried in this process: off with `ZSYNC_FS_NOWAIT=0`, or once the
/// kernel refused `preadv2`/`pwritev2` themselves.
static SWITCH: EnvSwitch = EnvSwitch::new("ZSYNC_FS_NOWAIT");

#[inline]
fn enabled() -> bool {
    SWITCH.is_on()
}

const READS_UNSUPPORTED: u8 = 1;
const WRITES_UNSUPPORTED: u8 = 2;
/// The open flags were looked at (see [`Support::check`]).
const CHECKED: u8 = 4;

/// What one open file has shown it does not support (`EOPNOTSUPP` for the flag), and whether it
/// was opened with `O_DIRECT`.
#[derive(Default)]
pub(crate) struct Support(AtomicU8);

impl Support {
    /// Nothing known yet (for a `static`: standard input's, src/io/stdio.rs).
    pub(crate) const fn new() -> Support {
        Support(AtomicU8::new(0))
    }

    #[inline]
    fn allows(&self, file: &File, bit: u8) -> bool {
        if !enabled() {
            return false;
        }
        let mut state = self.0.load(Ordering::Relaxed);
        if state & CHECKED == 0 {
            state = self.check(file);
        }
        state & bit == 0
    }

    /// Once per file: with `O_DIRECT` a read or write does not go through the page cache, and
    /// nothing promises that a synchronous `RWF_NOWAIT` call then does not wait for the device
    /// (the flag refuses to wait for locks, allocation and request slots). 6.18 answers such a
    /// call on ext4 with `EAGAIN` every time, a wasted syscall per read. Either way such a file
    /// never takes this path. (A flag set later with `fcntl(F_SETFL, O_DIRECT)` is not seen.)
    #[cold]
    fn check(&self, file: &File) -> u8 {
        // SAFETY: F_GETFL reads the flags of a descriptor the `File` keeps open.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        let bits = if flags >= 0 && flags & libc::O_DIRECT == 0 {
            CHECKED
        } else {
            CHECKED | READS_UNSUPPORTED | WRITES_UNSUPPORTED
        };
        self.0.fetch_or(bits, Ordering::Relaxed) | bits
    }

    fn refuse(&self, bit: u8) {
        self.0.fetch_or(bit, Ordering::Relaxed);
    }
}

/// The most iovecs one call passes (the kernel refuses more with `EINVAL`; std's
/// `read_vectored` caps at the same limit).
const IOV_MAX: usize = 1024;

/// The kernel's offset for a read or write at `offset`, or at the file position (-1). `None` if
/// the offset does not fit an `off_t`: -1 would mean the file position, so the caller lets std
/// report the bad offset instead.
#[inline]
fn kernel_offset(offset: Option<u64>) -> Option<libc::off_t> {
    match offset {
        None => Some(-1),
        Some(offset) => libc::off_t::try_from(offset).ok(),
    }
}

/// What every call here does first, like `thread::check_cancel`: counts against the cooperative
/// budget (yields when it runs out, or when the monitor asks), and raises a pending cancellation
/// or expired `timeout()`. A read that parked was a park point; one that does not must stay one,
/// or a loop over cached reads could not be cancelled.
#[inline]
pub(crate) fn park_point() {
    crate::runtime::monitor::coop::poll();
    crate::runtime::park::park_point();
}

/// `preadv2` or `pwritev2` (`nr`) with `RWF_NOWAIT`, made as a raw system call: glibc's
/// wrappers are pthread cancellation points, which bracket the call with
/// `__pthread_enable_asynccancel` and `__pthread_disable_asynccancel` (two atomic
/// compare-and-swaps on the thread's descriptor, about 30 instructions) for a feature Rust code
/// never uses. Errors are -1 with `errno` set, as from the wrappers.
///
/// # Safety
/// `iov` points to `count` iovecs whose buffers stay valid (and, for a read, writable) for the
/// call.
#[inline]
unsafe fn syscall(
    nr: libc::c_long,
    fd: libc::c_int,
    iov: *const libc::iovec,
    count: libc::c_int,
    offset: libc::off_t,
) -> isize {
    // The kernel takes the offset as two words and rebuilds it as `high << 32 << 32 | low` in
    // `unsigned long`s: on 64-bit targets `low` is the whole offset (and `high` shifts out), on
    // 32-bit ones each word is a half. -1 (the file position) is all ones either way.
    let low = offset as libc::c_ulong;
    let high = ((offset as u64) >> 32) as libc::c_ulong;
    // Every argument goes as a whole word: `syscall` is variadic and hands the registers to
    // the kernel as they are, so a 32-bit argument could arrive with undefined upper bits.
    // SAFETY: the caller keeps the iovecs and their buffers valid for the call; the kernel
    // keeps no reference after it returns.
    unsafe {
        libc::syscall(
            nr,
            libc::c_long::from(fd),
            iov,
            libc::c_long::from(count),
            low,
            high,
            libc::c_long::from(libc::RWF_NOWAIT),
        ) as isize
    }
}

/// What a call's result means here: the answer, or `None` to go the waiting way.
#[inline]
fn answer(n: isize, support: &Support, bit: u8) -> Option<io::Result<usize>> {
    if n >= 0 {
        Some(Ok(n as usize))
    } else {
        failed(support, bit)
    }
}

/// [`answer`] for a call that failed: `errno` says what it means.
#[cold]
fn failed(support: &Support, bit: u8) -> Option<io::Result<usize>> {
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) => None,
        Some(libc::EOPNOTSUPP | libc::EPERM) => {
            support.refuse(bit);
            None
        }
        Some(libc::ENOSYS) => {
            SWITCH.turn_off();
            None
        }
        _ => Some(Err(err)),
    }
}

/// Reads into `bufs` (at `offset`, or at the file position, which then moves) if that needs no
/// wait. `None`: it would wait (or cannot be tried here); use the ring or the pool.
#[inline]
pub(crate) fn read_vectored(
    file: &File,
    support: &Support,
    bufs: &mut [io::IoSliceMut<'_>],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    if !support.allows(file, READS_UNSUPPORTED) {
        return None;
    }
    let offset = kernel_offset(offset)?;
    park_point();
    let count = bufs.len().min(IOV_MAX) as libc::c_int;
    // SAFETY: `IoSliceMut` is ABI-compatible with `iovec` (std guarantees it on Unix); the
    // `count` iovecs point into buffers borrowed mutably for the whole call, which returns
    // before the borrow ends (the kernel keeps no reference).
    let n = unsafe {
        syscall(
            libc::SYS_preadv2,
            file.as_raw_fd(),
            bufs.as_mut_ptr().cast::<libc::iovec>(),
            count,
            offset,
        )
    };
    answer(n, support, READS_UNSUPPORTED)
}

/// [`read_vectored`] into one buffer.
#[inline]
pub(crate) fn read(
    file: &File,
    support: &Support,
    buf: &mut [u8],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    read_vectored(file, support, &mut [io::IoSliceMut::new(buf)], offset)
}

/// Writes `bufs` (at `offset`, or at the file position) if that needs no wait. `None`: it would
/// wait (or the file system cannot say so); use the ring or the pool.
#[inline]
pub(crate) fn write_vectored(
    file: &File,
    support: &Support,
    bufs: &[io::IoSlice<'_>],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    if !support.allows(file, WRITES_UNSUPPORTED) {
        return None;
    }
    let offset = kernel_offset(offset)?;
    park_point();
    let count = bufs.len().min(IOV_MAX) as libc::c_int;
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` (std guarantees it on Unix); the `count`
    // iovecs point into buffers borrowed for the whole call, which the kernel only reads and
    // keeps no reference to after it returns.
    let n = unsafe {
        syscall(
            libc::SYS_pwritev2,
            file.as_raw_fd(),
            bufs.as_ptr().cast::<libc::iovec>(),
            count,
            offset,
        )
    };
    answer(n, support, WRITES_UNSUPPORTED)
}

/// [`write_vectored`] from one buffer.
#[inline]
pub(crate) fn write(
    file: &File,
    support: &Support,
    buf: &[u8],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    write_vectored(file, support, &[io::IoSlice::new(buf)], offset)
}
