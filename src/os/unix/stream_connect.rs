//! `UnixStream::connect` on a green thread, which must not wait in the kernel.
//!
//! A Unix stream connect completes at once while the listener's queue of unaccepted connections
//! has room; when it is full, a blocking `connect(2)` sleeps until the listening process
//! accepts one, which may be never (a stuck daemon, a `listen(fd, 5)` under load), and std's
//! connect would hold the worker and every green thread on it that long. So on a green thread
//! the socket is made non-blocking: a full queue then answers `EAGAIN` at once (the socket stays
//! unconnected and may try again). Linux gives no readiness event for room in another socket's
//! queue (the blocking connect sleeps on the listener's own wait queue, which `poll` does not
//! reach), so the green thread tries again after a park of 1 ms, doubling up to 16 ms, as a
//! waiting `File::lock` does. Each park is a park point: the wait is cancellable and
//! `timeout()` ends it (the socket is then closed, never connected).
//!
//! The address is std's: `SocketAddr::from_pathname` checks the path with std's errors
//! (interior NUL, too long), and its bytes or abstract name make the `sockaddr_un` the same
//! way std's connect does. On an OS thread, or for an unnamed address, std's blocking connect.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::Duration;

/// The first park between two tries against a full queue.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest park between two tries.
const MAX_PAUSE: Duration = Duration::from_millis(16);

/// Connects to `address` without waiting in the kernel (see the module doc); `None` when the
/// address is unnamed (std's connect gives its answer at once).
pub(crate) fn connect(address: &SocketAddr) -> Option<io::Result<UnixStream>> {
    let (raw, len) = sockaddr(address)?;
    Some(connect_raw(&raw, len))
}

/// `address` as a `sockaddr_un` and its length, as std builds them: a path with its NUL, or an
/// abstract name after a NUL byte.
fn sockaddr(address: &SocketAddr) -> Option<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: all-zero bytes are a valid `sockaddr_un`.
    let mut raw: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    raw.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let (bytes, skip, nul) = if let Some(path) = address.as_pathname() {
        (
            std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()),
            0,
            1,
        )
    } else {
        (address.as_abstract_name()?, 1, 0)
    };
    // A `SocketAddr` holds no more than fits (std checked it when it made one).
    let room = raw.sun_path.get_mut(skip..skip + bytes.len())?;
    for (dst, &src) in room.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + skip + bytes.len() + nul;
    Some((raw, len as libc::socklen_t))
}

fn connect_raw(raw: &libc::sockaddr_un, len: libc::socklen_t) -> io::Result<UnixStream> {
    // SAFETY: a plain system call; the descriptor it returns is owned right below.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(crate::reactor::with_context_if_exhausted(
            e,
            "cannot open a Unix socket",
        ));
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut pause = FIRST_PAUSE;
    loop {
        // SAFETY: `raw` is a valid `sockaddr_un` of at least `len` bytes; the kernel reads it
        // during the call only.
        let r = unsafe { libc::connect(fd, (raw as *const libc::sockaddr_un).cast(), len) };
        if r == 0 {
            // Non-blocking still: the stream's source keeps it so (it parks on readiness).
            return Ok(UnixStream::from(socket));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EAGAIN) => {
                crate::thread::sleep(pause);
                pause = (pause * 2).min(MAX_PAUSE);
            }
            _ => return Err(err),
        }
    }
}
