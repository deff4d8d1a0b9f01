//! The two socket calls of every request, `recvfrom` and `sendto`, made as raw system calls:
//! the same calls with the same flags as std's `read` and `write` on a TCP or Unix stream (0 and
//! `MSG_NOSIGNAL`), without glibc's wrappers.
//!
//! The wrappers are pthread cancellation points: each brackets its call with
//! `__pthread_enable_asynccancel` and `__pthread_disable_asynccancel`, two atomic
//! compare-and-swaps on the thread's descriptor and ~60 instructions per request of an echo
//! server (callgrind of B7's server), for a feature Rust code never uses (`zsync::fs` skips them
//! for the same reason, see `fs::nowait`). With the `hook` feature, the raw calls also keep
//! zsync's own sockets out of the hooks, which would only pass them through.
//!
//! Targets without a checked system call number here use the wrappers.

use std::io;
use std::os::fd::RawFd;

/// What std's `read` on a stream socket does: `recvfrom(fd, buf, len, 0, NULL, NULL)`.
#[inline]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid and writable for `buf.len()` bytes for the whole call, the kernel
    // writes no more than that, and keeps no reference after it returns.
    result(unsafe { raw::recv(fd, buf.as_mut_ptr(), buf.len()) })
}

/// What std's `write` on a stream socket does: `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)`
/// (a write to a closed connection is `EPIPE`, not a `SIGPIPE`).
#[inline]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes for the whole call; the kernel only reads it,
    // and keeps no reference after it returns.
    result(unsafe { raw::send(fd, buf.as_ptr(), buf.len()) })
}

#[inline]
fn result(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
mod raw {
    use libc::{c_long, sockaddr, socklen_t};
    use std::os::fd::RawFd;
    use std::ptr;

    /// # Safety
    /// `buf` must be valid and writable for `len` bytes for the call.
    #[inline]
    pub(super) unsafe fn recv(fd: RawFd, buf: *mut u8, len: usize) -> isize {
        // Every argument goes as a whole word: `syscall` is variadic and hands the registers
        // to the kernel as they are, so a 32-bit argument could arrive with undefined upper
        // bits.
        // SAFETY: the caller's promise covers `buf`; the address arguments are null (no
        // sender's address is asked for), which the kernel accepts.
        unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                c_long::from(fd),
                buf,
                len,
                0 as c_long,
                ptr::null_mut::<sockaddr>(),
                ptr::null_mut::<socklen_t>(),
            ) as isize
        }
    }

    /// # Safety
    /// `buf` must be valid for `len` bytes for the call.
    #[inline]
    pub(super) unsafe fn send(fd: RawFd, buf: *const u8, len: usize) -> isize {
        // SAFETY: as for `recv`; no destination address (a connected stream), length 0.
        unsafe {
            libc::syscall(
                libc::SYS_sendto,
                c_long::from(fd),
                buf,
                len,
                c_long::from(libc::MSG_NOSIGNAL),
                ptr::null::<sockaddr>(),
                0 as c_long,
            ) as isize
        }
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
mod raw {
    use std::os::fd::RawFd;

    /// # Safety
    /// `buf` must be valid and writable for `len` bytes for the call.
    #[inline]
    pub(super) unsafe fn recv(fd: RawFd, buf: *mut u8, len: usize) -> isize {
        // SAFETY: the caller's promise covers `buf`.
        unsafe { libc::recv(fd, buf.cast(), len, 0) as isize }
    }

    /// # Safety
    /// `buf` must be valid for `len` bytes for the call.
    #[inline]
    pub(super) unsafe fn send(fd: RawFd, buf: *const u8, len: usize) -> isize {
        // SAFETY: the caller's promise covers `buf`.
        unsafe { libc::send(fd, buf.cast(), len, libc::MSG_NOSIGNAL) as isize }
    }
}
