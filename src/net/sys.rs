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
    result(unsafe { transfer(Call::Recv, fd, buf.as_mut_ptr(), buf.len()) })
}

/// What std's `write` on a stream socket does: `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)`
/// (a write to a closed connection is `EPIPE`, not a `SIGPIPE`).
#[inline]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes for the whole call; the kernel only reads it,
    // and keeps no reference after it returns.
    result(unsafe { transfer(Call::Send, fd, buf.as_ptr().cast_mut(), buf.len()) })
}

#[inline]
fn result(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Which of the two calls.
#[derive(Clone, Copy)]
enum Call {
    /// `recvfrom` with no flags: the kernel writes the buffer.
    Recv,
    /// `sendto` with `MSG_NOSIGNAL`: the kernel only reads it.
    Send,
}

/// Makes `call` on the connected stream `fd` with `len` bytes at `buf`, and no address (null and
/// 0 for both calls' last two arguments): -1 with `errno` set on failure.
///
/// # Safety
/// `buf` must be valid for `len` bytes for the call, and writable for [`Call::Recv`].
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
#[inline]
unsafe fn transfer(call: Call, fd: RawFd, buf: *mut u8, len: usize) -> isize {
    let (nr, flags) = match call {
        Call::Recv => (libc::SYS_recvfrom, 0),
        Call::Send => (libc::SYS_sendto, libc::MSG_NOSIGNAL),
    };
    // Every argument goes as a whole word: `syscall` is variadic and hands the registers to the
    // kernel as they are, so a 32-bit argument could arrive with undefined upper bits.
    // SAFETY: the caller's promise covers `buf`; the kernel keeps no reference after it
    // returns, and accepts a null address of length 0 for both calls.
    unsafe {
        libc::syscall(
            nr,
            libc::c_long::from(fd),
            buf,
            len,
            libc::c_long::from(flags),
            0 as libc::c_long,
            0 as libc::c_long,
        ) as isize
    }
}

/// [`transfer`] through glibc's wrappers, on targets whose system call numbers are not checked
/// here.
///
/// # Safety
/// As for the other `transfer`.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
#[inline]
unsafe fn transfer(call: Call, fd: RawFd, buf: *mut u8, len: usize) -> isize {
    // SAFETY: the caller's promise covers `buf`.
    unsafe {
        match call {
            Call::Recv => libc::recv(fd, buf.cast(), len, 0) as isize,
            Call::Send => libc::send(fd, buf.cast_const().cast(), len, libc::MSG_NOSIGNAL) as isize,
        }
    }
}
