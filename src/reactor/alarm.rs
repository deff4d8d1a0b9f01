//! The driver's alarm: a timerfd registered with its `Poll`, so that a wait in the reactor ends
//! at the deadline its worker asked for, not at the next whole millisecond.
//!
//! mio's `Poll::poll` waits in `epoll_wait`, whose timeout is in milliseconds; mio rounds a
//! finer one up (so that it never returns early). A worker whose next timer is 300 us away
//! would sleep 1 ms, and any green thread's sleep would be up to a millisecond late on top of
//! the timer wheel's tick. So before a wait with a deadline the driver arms this timerfd for it
//! (`timerfd_settime`, one system call, made only when the deadline changed): the timerfd
//! becomes readable at the deadline, to the kernel's timer slack (50 us by default, as for
//! `nanosleep`), and ends the wait; the millisecond timeout stays as a backstop.
//!
//! The timerfd is never read. mio registers it edge-triggered: each expiry is one event (which
//! the driver ignores, as it does the waker's), and re-arming resets its expiry count. An alarm
//! left armed for a deadline nobody waits for any more (the timer was cancelled, the worker
//! woke for something else) may end a later wait early, once: the worker then looks at its
//! timers, finds nothing due, and waits again.
//!
//! Without a timerfd (`timerfd_create` failed: out of file descriptors, a seccomp filter) the
//! driver waits in whole milliseconds, as before.

use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

pub(super) struct Alarm {
    fd: OwnedFd,
    /// The deadline the timerfd is armed for (it may have passed).
    armed: Option<Instant>,
}

impl Alarm {
    /// A disarmed alarm, registered with `registry` under `token`.
    pub(super) fn new(registry: &Registry, token: Token) -> io::Result<Alarm> {
        // SAFETY: timerfd_create takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else (see above).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        registry.register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            token,
            Interest::READABLE,
        )?;
        Ok(Alarm { fd, armed: None })
    }

    /// Arms the alarm to go off at `deadline`, which is `timeout` from now, unless it already
    /// is. `std::time::Instant` reads `CLOCK_MONOTONIC`, the timerfd's clock, so a relative
    /// timeout measured just before this call ends the wait at the deadline.
    pub(super) fn set(&mut self, deadline: Instant, timeout: Duration) {
        if self.armed == Some(deadline) || timeout.is_zero() {
            return;
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                // Saturates on the (impossible) overflow: a wait that long is a wait forever.
                tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
            },
        };
        // SAFETY: `spec` is a valid itimerspec on this stack; the old value is not asked for
        // (null). The descriptor is the alarm's own.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        // A failure (none is expected: the arguments are valid) leaves the millisecond timeout
        // as the only bound; try again next time.
        self.armed = (r == 0).then_some(deadline);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    /// Waits up to `bound` for an event; the tokens that came.
    fn tokens(poll: &mut Poll, bound: Duration) -> Vec<Token> {
        let mut events = Events::with_capacity(8);
        poll.poll(&mut events, Some(bound)).unwrap();
        events.iter().map(|e| e.token()).collect()
    }

    #[test]
    fn an_armed_alarm_ends_a_wait_at_its_deadline_and_again_once_rearmed() {
        let mut poll = Poll::new().unwrap();
        let token = Token(7);
        let mut alarm = Alarm::new(poll.registry(), token).unwrap();
        for round in 0..3 {
            let start = Instant::now();
            let deadline = start + Duration::from_micros(300);
            alarm.set(deadline, deadline - start);
            // Without the alarm this wait would last the whole bound and see no event.
            let got = tokens(&mut poll, Duration::from_secs(10));
            assert_eq!(got, [token], "round {round}");
            assert!(
                Instant::now() >= deadline,
                "round {round}: the alarm went off early"
            );
        }
    }

    #[test]
    fn setting_the_same_deadline_again_does_not_rearm() {
        let mut poll = Poll::new().unwrap();
        let token = Token(7);
        let mut alarm = Alarm::new(poll.registry(), token).unwrap();
        let deadline = Instant::now() + Duration::from_micros(200);
        alarm.set(deadline, Duration::from_micros(200));
        assert_eq!(tokens(&mut poll, Duration::from_secs(10)), [token]);
        // Already armed for (and past) this deadline: no new expiry, so no new event.
        alarm.set(deadline, Duration::from_micros(200));
        assert_eq!(tokens(&mut poll, Duration::from_millis(20)), []);
        // A zero timeout arms nothing either.
        alarm.set(Instant::now(), Duration::ZERO);
        assert_eq!(tokens(&mut poll, Duration::from_millis(20)), []);
    }
}
