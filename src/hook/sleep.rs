//! Sleeps: `nanosleep`, `clock_nanosleep`, `usleep`, `sleep`.
//!
//! On a green thread the sleep parks it until the deadline, in the worker's timer wheel. A
//! cancellation or an expired `timeout()` ends the sleep early as a signal would, with nothing
//! left to sleep: `nanosleep` and `usleep` return -1 with `EINTR` (`nanosleep` writes a zero
//! remainder), a relative `clock_nanosleep` returns `EINTR` (zero remainder), `sleep` returns
//! 0. Not `ECANCELED`: `std::thread::sleep` calls `clock_nanosleep` and panics on any error but
//! `EINTR`, and a caller that retries with the remainder (std does, and so does the usual C
//! loop) then retries a zero sleep, which returns at once. An absolute `clock_nanosleep`
//! (`TIMER_ABSTIME`), which such a loop would retry unchanged, returns `ECANCELED` (`ETIMEDOUT`
//! for an expired `timeout()`). The request is raised at the next zsync park point.
//!
//! Clocks: `CLOCK_REALTIME`, `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` are measured on the
//! monotonic clock (an absolute `CLOCK_REALTIME` deadline is converted once: a later change of
//! the wall clock does not move it). Other clocks (CPU-time clocks, `CLOCK_TAI`) make the real
//! call.

use super::{errno, keep_errno, on_green_thread, set_errno, timespec_duration};
use crate::runtime::park::{park_quiet, WaitReason};
use crate::runtime::task::cancel::Pending;
use libc::{c_int, c_uint, clockid_t, timespec};
use std::time::{Duration, Instant};

/// Parks the green thread for `dur` (`None`: forever). `Err` if a cancellation or an expired
/// `timeout()` ended it early.
pub(super) fn green_sleep(dur: Option<Duration>) -> Result<(), Pending> {
    let deadline = dur.and_then(|d| Instant::now().checked_add(d));
    loop {
        if let Some(pending) = park_quiet(deadline, WaitReason::Sleep { until: deadline }) {
            return Err(pending);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
    }
}

fn real_nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: the kernel validates both pointers (EFAULT), as libc's nanosleep does.
    unsafe { libc::syscall(libc::SYS_nanosleep, req, rem) as c_int }
}

/// The error number of a real `clock_nanosleep` (it returns it; errno is left alone).
fn real_clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    // glibc's own mapping of the CPU-time clocks.
    let clock = match clock {
        libc::CLOCK_THREAD_CPUTIME_ID => return libc::EINVAL,
        // MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_SCHED)
        libc::CLOCK_PROCESS_CPUTIME_ID => (!0 << 3) | 2,
        clock => clock,
    };
    let saved = errno();
    // SAFETY: the kernel validates the pointers (EFAULT), as libc's clock_nanosleep does.
    let r = unsafe { libc::syscall(libc::SYS_clock_nanosleep, clock, flags, req, rem) };
    let err = if r == -1 { errno() } else { 0 };
    set_errno(saved);
    err
}

/// Writes a zero remainder if asked for one.
fn zero(rem: *mut timespec) {
    if !rem.is_null() {
        // SAFETY: the caller passed `rem` for the remainder: a writable timespec.
        unsafe {
            rem.write(timespec {
                tv_sec: 0,
                tv_nsec: 0,
            })
        };
    }
}

/// `nanosleep(2)`.
///
/// # Safety
///
/// libc's contract: `req` points to a timespec, `rem` is null or points to a writable one.
#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    if req.is_null() || !on_green_thread() {
        return real_nanosleep(req, rem);
    }
    // SAFETY: non-null, and the caller's contract makes it a readable timespec.
    let Some(dur) = timespec_duration(unsafe { &*req }) else {
        return real_nanosleep(req, rem);
    };
    keep_errno(|| match green_sleep(Some(dur)) {
        Ok(()) => 0,
        Err(_) => {
            zero(rem);
            set_errno(libc::EINTR);
            -1
        }
    })
}

/// `clock_nanosleep(2)`: what `std::thread::sleep` calls (with `CLOCK_MONOTONIC`).
///
/// # Safety
///
/// As [`nanosleep`].
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let measured = matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME
    );
    if req.is_null() || !measured || !on_green_thread() {
        return real_clock_nanosleep(clock, flags, req, rem);
    }
    // It returns its error number and never sets `errno` (which the worker's other green
    // threads may set while this one sleeps).
    keep_errno(|| {
        // SAFETY: non-null, and the caller's contract makes it a readable timespec.
        let req_ts = unsafe { &*req };
        let Some(dur) = timespec_duration(req_ts) else {
            return real_clock_nanosleep(clock, flags, req, rem);
        };
        if flags & libc::TIMER_ABSTIME != 0 {
            let mut now = timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid clock id and a writable timespec.
            if unsafe { libc::clock_gettime(clock, &mut now) } == -1 {
                return real_clock_nanosleep(clock, flags, req, rem);
            }
            let now = timespec_duration(&now).unwrap_or_default();
            return match green_sleep(Some(dur.saturating_sub(now))) {
                Ok(()) => 0,
                Err(Pending::Cancelled) => libc::ECANCELED,
                Err(Pending::TimedOut) => libc::ETIMEDOUT,
            };
        }
        match green_sleep(Some(dur)) {
            Ok(()) => 0,
            Err(_) => {
                zero(rem);
                libc::EINTR
            }
        }
    })
}

/// `usleep(3)`.
#[no_mangle]
pub extern "C" fn usleep(usec: libc::useconds_t) -> c_int {
    let ts = timespec {
        tv_sec: (usec / 1_000_000) as libc::time_t,
        tv_nsec: (usec % 1_000_000) as libc::c_long * 1000,
    };
    // SAFETY: a valid timespec, no remainder.
    unsafe { nanosleep(&ts, std::ptr::null_mut()) }
}

/// `sleep(3)`: the seconds left unslept (0 after a cancellation; see the module docs).
#[no_mangle]
pub extern "C" fn sleep(seconds: c_uint) -> c_uint {
    let mut ts = timespec {
        tv_sec: seconds as libc::time_t,
        tv_nsec: 0,
    };
    let remainder: *mut timespec = &mut ts;
    // SAFETY: a valid timespec, also the remainder (nanosleep reads it before writing it).
    if unsafe { nanosleep(remainder, remainder) } == -1 {
        // glibc's answer for an interrupted sleep: the whole seconds left, the fraction
        // dropped (2.7 s left is 2).
        return ts.tv_sec as c_uint;
    }
    0
}
