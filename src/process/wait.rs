//! Waiting for a child to exit without blocking a worker.
//!
//! A pidfd (pidfd_open(2), Linux 5.3+) becomes readable when its process exits. It goes into
//! an `IoSource` like a socket, and the "operation" of the try, `WouldBlock`, wait, retry loop
//! is std's `try_wait` (waitpid with WNOHANG, which reaps and caches the status in std's
//! `Child`): a green thread parks on its worker's reactor until the exit, an OS thread of a
//! `Flavor::OsThreads` runtime waits in poll(2) in slices (so it can be cancelled). No thread
//! per child, no SIGCHLD handler.
//!
//! Where pidfd_open is missing (ENOSYS: kernels before 5.3; EPERM: a seccomp filter) or
//! `ZSYNC_PIDFD=0` is set, a green thread waits on the blocking pool instead: the pool thread
//! calls waitid(WEXITED | WNOWAIT), which returns at the exit without reaping, and the green
//! thread then reaps with `try_wait`, so std's `Child` stays the only reaper.

use crate::env_switch::EnvSwitch;
use crate::net::io_source::IoSource;
use crate::reactor::scheduled_io::Direction;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitStatus;

/// Whether pidfds are used in this process: off with `ZSYNC_PIDFD=0`, or once the kernel
/// refused `pidfd_open` (`ENOSYS` before 5.3, `EPERM` from a seccomp filter).
static PIDFD: EnvSwitch = EnvSwitch::new("ZSYNC_PIDFD");

/// A child's pidfd, opened at its first wait that needs one.
#[derive(Debug, Default)]
pub(super) enum PidFd {
    #[default]
    Unopened,
    Open(IoSource<OwnedFd>),
    /// pidfd_open failed for this child (or everywhere): the pool fallback.
    Unavailable,
}

fn pidfd_allowed() -> bool {
    PIDFD.is_on()
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::ErrorKind::InvalidData)?;
    // SAFETY: the kernel just returned this fd (close-on-exec, as pidfds always are); nothing
    // else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl PidFd {
    /// The pidfd of `pid`, opening it on first use; `None` if this child waits on the pool.
    fn get(&mut self, pid: u32) -> Option<&IoSource<OwnedFd>> {
        if let PidFd::Unopened = self {
            *self = PidFd::Unavailable;
            if pidfd_allowed() {
                match pidfd_open(pid).and_then(IoSource::new) {
                    Ok(source) => *self = PidFd::Open(source),
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                        PIDFD.turn_off();
                    }
                    // Out of fds and the like: this child waits on the pool.
                    Err(_) => {}
                }
            }
        }
        match self {
            PidFd::Open(source) => Some(source),
            _ => None,
        }
    }
}

/// Waits for `child` to exit and reaps it, parking a green thread (see the module docs).
/// `blocking_pool` says whether a wait without a pidfd may go to the pool (a green thread) or
/// should block the calling thread in std's `wait` (an OS thread).
pub(super) fn wait(
    child: &mut std::process::Child,
    pidfd: &mut PidFd,
    blocking_pool: bool,
) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    if let Some(source) = pidfd.get(child.id()) {
        return source.do_io(Direction::Read, |_| match child.try_wait() {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        });
    }
    if !blocking_pool {
        return child.wait();
    }
    let pid = libc::id_t::from(child.id());
    loop {
        crate::unblock(move || exited(pid))?;
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
    }
}

/// Blocks until process `pid` (a child) has exited, without reaping it.
fn exited(pid: libc::id_t) -> io::Result<()> {
    loop {
        // SAFETY: all-zero is a valid siginfo_t (plain integers and a union of them).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
        let r = unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            // Reaped meanwhile (std's `try_wait` from another call): the caller asks again.
            Some(libc::ECHILD) => return Ok(()),
            _ => return Err(e),
        }
    }
}
