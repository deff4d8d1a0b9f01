//! Regular files: a read that would wait for the device runs on the blocking pool.
//!
//! epoll refuses regular files (they are always "ready"), so a green thread's read of bytes
//! that are not in the page cache would hold its worker, and every green thread queued there,
//! until the device answers. On a green thread the hooked `read`, `readv`, `pread` and
//! `pread64` of a regular file therefore first read with `preadv2(RWF_NOWAIT)`: what is cached
//! is read at once, in one system call, as libc's call would read it (a read that stops short
//! tries once more: the end of the file reads 0). If the first page is not cached (`EAGAIN`),
//! or only part of the range was, the rest is read on the blocking pool
//! ([`crate::blocking::unblock_scoped`]) from a duplicate of the fd while the green thread
//! waits, shielded: the kernel's read of a regular file returns the whole count unless it meets
//! the end of the file or an error, and C code relies on that, so the call answers as it would.
//! The duplicate keeps the file open for the pool's read if another thread closes the number
//! meanwhile (libc's read, in the kernel already, holds the file the same way), and it shares
//! the file position, which a `read` moves. A cancellation or `timeout()` that arrives while
//! the pool reads is raised at the next zsync park point: the bytes were read and are returned.
//!
//! A file system that refuses the flag (tmpfs, /proc: memory, which never waits) is remembered
//! in the fd's slot and read in place from then on, as before the hook. Writes are made in
//! place: a buffered write lands in the page cache (`zsync::fs` times them; see docs/API.md).

use super::fd::{self, Slot};
use super::{current, errno, keep_errno, set_errno, Borrowed};
use crate::runtime::context::Current;
use libc::{c_int, c_long, c_void, iovec, off64_t, size_t, ssize_t};
use std::os::fd::RawFd;

/// One `preadv2` at `offset` (-1: the file position, which moves), raw as the hooks' other
/// calls. -1 with `errno` set on failure.
///
/// # Safety
/// `iov` points to `iovcnt` iovecs whose buffers stay writable for the call.
unsafe fn preadv2(
    fd: RawFd,
    iov: *const iovec,
    iovcnt: c_int,
    offset: off64_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the caller's buffers, checked by the kernel (EFAULT). On a 64-bit target the
    // low word is the whole offset and the high one is ignored; -1 is the file position.
    unsafe {
        libc::syscall(
            libc::SYS_preadv2,
            c_long::from(fd),
            iov,
            c_long::from(iovcnt),
            offset as c_long,
            0 as c_long,
            c_long::from(flags),
        ) as ssize_t
    }
}

/// A read of the regular file `fd` (whose slot is `slot`) by a green thread, into `iovcnt`
/// iovecs at `iov` holding `len` bytes, at `offset` (-1: the file position). `real` is the
/// call made in place, as before the hook. `errno` is the caller's again on success.
///
/// # Safety
/// `iov` points to `iovcnt` iovecs (at most `IOV_MAX`) whose buffers stay writable for the call.
pub(super) unsafe fn read(
    fd: RawFd,
    slot: &Slot,
    iov: *const iovec,
    iovcnt: c_int,
    offset: off64_t,
    real: impl FnOnce() -> ssize_t,
) -> ssize_t {
    if slot.kind(fd) != fd::REGULAR {
        return real();
    }
    let len = super::io::iov_len_sum(iov, iovcnt);
    let epoch = slot.epoch();
    keep_errno(|| {
        // What is cached, in as many tries as it takes: a short read is the end of the file
        // (the next try reads 0) or the end of what the page cache holds (it says EAGAIN).
        let mut done = 0;
        loop {
            let mut rest = Vec::new();
            let (at, count) = past(iov, iovcnt, done, &mut rest);
            // SAFETY: the caller's buffers (or the part of them after `done` bytes).
            let n = unsafe { preadv2(fd, at, count, after(offset, done), libc::RWF_NOWAIT) };
            if n > 0 {
                done += n as usize;
                if done >= len {
                    return done as ssize_t;
                }
                continue;
            }
            if n == 0 {
                return done as ssize_t; // the end of the file
            }
            match errno() {
                libc::EAGAIN => break,
                libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL if done == 0 => {
                    slot.refuses_nowait();
                    return real();
                }
                // What was read is the answer; the next call meets the error (as the kernel's).
                _ if done > 0 => return done as ssize_t,
                _ => return -1, // the kernel's answer (EBADF, EISDIR, EFAULT...)
            }
        }
        match on_the_pool(fd, slot, epoch, iov, iovcnt, done, offset) {
            Some(n) if n >= 0 => (done as ssize_t).saturating_add(n),
            _ if done > 0 => done as ssize_t,
            failed => failed.unwrap_or(-1),
        }
    })
}

/// The caller's iovecs past their first `done` bytes: themselves while nothing is done, else
/// the rest, built in `rest` (which must outlive the use of the pointer).
fn past(
    iov: *const iovec,
    iovcnt: c_int,
    done: usize,
    rest: &mut Vec<iovec>,
) -> (*const iovec, c_int) {
    if done == 0 {
        return (iov, iovcnt);
    }
    *rest = super::io::iov_after(iov, iovcnt, done);
    (rest.as_ptr(), rest.len() as c_int)
}

/// The offset `done` bytes after `offset` (-1, the file position, stays -1: it moves by itself).
fn after(offset: off64_t, done: usize) -> off64_t {
    if offset < 0 {
        offset
    } else {
        offset.saturating_add(done as off64_t)
    }
}

/// The rest of [`read`] after `done` bytes: read on the blocking pool from a duplicate of `fd`.
/// `None` (with `errno` set) if the fd was closed by another thread since the call began
/// (`EBADF`, as libc's read of a number closed before it).
fn on_the_pool(
    fd: RawFd,
    slot: &Slot,
    epoch: u64,
    iov: *const iovec,
    iovcnt: c_int,
    done: usize,
    offset: off64_t,
) -> Option<ssize_t> {
    let mut rest = Vec::new();
    let (iov, iovcnt) = past(iov, iovcnt, done, &mut rest);
    let offset = after(offset, done);
    // SAFETY: F_DUPFD_CLOEXEC takes an int; a raw call, so the hooks do not see the number.
    let dup = unsafe {
        libc::syscall(
            libc::SYS_fcntl,
            c_long::from(fd),
            c_long::from(libc::F_DUPFD_CLOEXEC),
            0 as c_long,
        )
    } as c_int;
    if dup < 0 {
        // No number left for a duplicate (EMFILE): the read in place, as before the hook.
        // SAFETY: the caller's buffers.
        return Some(unsafe { preadv2(fd, iov, iovcnt, offset, 0) });
    }
    if slot.epoch() != epoch {
        // Closed (and perhaps reused) since the call began: the duplicate may be another file.
        close_quietly(dup);
        set_errno(libc::EBADF);
        return None;
    }
    let lent = Borrowed((iov, iovcnt));
    let (n, err) = crate::blocking::unblock_scoped(move || {
        let (iov, iovcnt) = lent.get();
        // SAFETY: the caller's buffers, valid while it waits for this job.
        let n = unsafe { preadv2(dup, iov, iovcnt, offset, 0) };
        (n, errno())
    });
    close_quietly(dup);
    if n < 0 {
        set_errno(err);
    }
    Some(n)
}

/// Closes a number the hooks never saw (a raw call: nothing to forget), `errno` preserved.
fn close_quietly(fd: c_int) {
    let saved = errno();
    // SAFETY: our own duplicate, closed once.
    unsafe { libc::syscall(libc::SYS_close, c_long::from(fd)) };
    set_errno(saved);
}

/// `pread(2)` (also `pread64`): as [`read`] for a regular file on a green thread, at `offset`.
///
/// # Safety
///
/// libc's contract: `buf` is writable for `count` bytes.
#[no_mangle]
pub unsafe extern "C" fn pread64(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    offset: off64_t,
) -> ssize_t {
    // SAFETY: the caller's contract; the kernel checks the buffer (EFAULT) and the offset.
    let real = || unsafe { libc::syscall(libc::SYS_pread64, fd, buf, count, offset) as ssize_t };
    if offset < 0 || !matches!(current(), Current::Green { .. }) {
        return real();
    }
    let Some(slot) = fd::slot(fd) else {
        return real();
    };
    let iov = iovec {
        iov_base: buf,
        iov_len: count,
    };
    // SAFETY: one iovec over the caller's buffer.
    unsafe { read(fd, slot, &iov, 1, offset, real) }
}

/// `pread(2)`: the same function as [`pread64`] on 64-bit Linux.
///
/// # Safety
///
/// As [`pread64`].
#[no_mangle]
pub unsafe extern "C" fn pread(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    offset: off64_t,
) -> ssize_t {
    // SAFETY: the caller's contract.
    unsafe { pread64(fd, buf, count, offset) }
}
