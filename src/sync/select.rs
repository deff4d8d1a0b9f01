//! The machinery behind [`select!`](crate::select). Not public API: the macro's expansion
//! calls it.
//!
//! A select first tries every arm without blocking, starting at a random arm so that ready
//! arms are picked fairly. If none is ready, it registers one entry per arm, all pointing to
//! one waiter, on the channels' waiter lists; an arm that turns out ready while registering
//! notifies the waiter itself. The first notification wins the waiter; the select unregisters
//! everything, tries the arm that woke it, and starts over if that arm was taken meanwhile. A
//! select that unwinds after it was notified passes the notification on.

use super::chan::{Chan, SlotPtr};
use super::waiter::{Entry, UnwindGuard, Waiter};
use std::cell::Cell;
use std::sync::mpsc::{RecvError, SendError, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

/// The waiter all arms of one select share.
#[doc(hidden)]
pub struct Hub {
    waiter: Waiter,
}

/// One arm of a select.
#[doc(hidden)]
pub trait Case {
    /// Tries the operation without blocking; true if it completed (with an error or not).
    fn try_complete(&mut self) -> bool;

    /// Registers the arm on its channel, notified with `token`; true if it is ready now (then
    /// it is not registered).
    ///
    /// # Safety
    /// `hub` and `self` stay where they are until [`unregister`](Case::unregister) is called.
    unsafe fn register(&self, hub: &Hub, token: usize) -> bool;

    /// Removes the arm's registration, if any.
    fn unregister(&self);

    /// The arm was notified but the select unwinds: pass the notification on.
    fn pass_on(&self);
}

/// A `recv(rx) -> msg` arm.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: &'a Chan<T>,
    /// No slot (null): an arm is only told to look again.
    entry: Entry<SlotPtr<T>>,
    out: Option<Result<T, RecvError>>,
}

/// A `send(tx, value) -> res` arm.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    entry: Entry<SlotPtr<T>>,
    msg: Option<T>,
    out: Option<Result<(), SendError<T>>>,
}

impl<'a, T> RecvCase<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>) -> Self {
        RecvCase {
            chan,
            entry: Entry::unbound(std::ptr::null()),
            out: None,
        }
    }

    /// Whether this arm was the one selected.
    #[doc(hidden)]
    pub fn is_done(&self) -> bool {
        self.out.is_some()
    }

    /// The arm's result.
    ///
    /// # Panics
    /// If the arm was not selected.
    #[doc(hidden)]
    pub fn into_output(self) -> Result<T, RecvError> {
        self.out.expect("select!: this arm was not selected")
    }
}

impl<'a, T> SendCase<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>, msg: T) -> Self {
        SendCase {
            chan,
            entry: Entry::unbound(std::ptr::null()),
            msg: Some(msg),
            out: None,
        }
    }

    /// Whether this arm was the one selected.
    #[doc(hidden)]
    pub fn is_done(&self) -> bool {
        self.out.is_some()
    }

    /// The arm's result.
    ///
    /// # Panics
    /// If the arm was not selected.
    #[doc(hidden)]
    pub fn into_output(self) -> Result<(), SendError<T>> {
        self.out.expect("select!: this arm was not selected")
    }
}

impl<T> Case for RecvCase<'_, T> {
    fn try_complete(&mut self) -> bool {
        match self.chan.try_recv() {
            Ok(msg) => self.out = Some(Ok(msg)),
            Err(TryRecvError::Disconnected) => self.out = Some(Err(RecvError)),
            Err(TryRecvError::Empty) => return false,
        }
        true
    }

    unsafe fn register(&self, hub: &Hub, token: usize) -> bool {
        self.entry.bind(&hub.waiter, token);
        // SAFETY: the caller's promise covers the entry (in self) and its waiter (in hub).
        unsafe { self.chan.register_recv(&self.entry) }
    }

    fn unregister(&self) {
        self.chan.unregister_recv(&self.entry);
    }

    fn pass_on(&self) {
        self.chan.pass_on_recv();
    }
}

impl<T> Case for SendCase<'_, T> {
    fn try_complete(&mut self) -> bool {
        let msg = self.msg.take().expect("select!: the message is sent once");
        match self.chan.try_send(msg) {
            Ok(()) => self.out = Some(Ok(())),
            Err(TrySendError::Disconnected(msg)) => self.out = Some(Err(SendError(msg))),
            Err(TrySendError::Full(msg)) => {
                self.msg = Some(msg);
                return false;
            }
        }
        true
    }

    unsafe fn register(&self, hub: &Hub, token: usize) -> bool {
        self.entry.bind(&hub.waiter, token);
        // SAFETY: the caller's promise covers the entry (in self) and its waiter (in hub).
        unsafe { self.chan.register_send(&self.entry) }
    }

    fn unregister(&self) {
        self.chan.unregister_send(&self.entry);
    }

    fn pass_on(&self) {
        self.chan.pass_on_send();
    }
}

/// How long a select may block.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Timeout {
    /// No `default` arm: block until an arm is ready.
    Never,
    /// `default => ..`: do not block.
    Now,
    /// `default(dur) => ..`: block for `dur` at most.
    After(Duration),
}

thread_local! {
    static RNG: Cell<u32> = const { Cell::new(0x9e37_79b9) };
}

/// A cheap pseudo-random number for the starting arm (xorshift; per OS thread, which is fine:
/// it only has to spread the choice). Loom models need determinism: always 0 there.
fn random() -> u32 {
    if cfg!(loom) {
        return 0;
    }
    RNG.with(|rng| {
        let mut x = rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        rng.set(x);
        x
    })
}

/// Runs a select over `cases`: the index of the arm that completed, or `None` if the timeout
/// ran out (the `default` arm). A park point, unless `timeout` is `Now`.
#[doc(hidden)]
pub fn select(cases: &mut [&mut dyn Case], timeout: Timeout) -> Option<usize> {
    let deadline = match timeout {
        Timeout::Never | Timeout::Now => None,
        Timeout::After(dur) => Instant::now().checked_add(dur),
    };
    let n = cases.len();
    let start = if n > 1 { random() as usize % n } else { 0 };
    loop {
        for k in 0..n {
            let i = (start + k) % n;
            if cases[i].try_complete() {
                return Some(i);
            }
        }
        let give_up = match timeout {
            Timeout::Never => false,
            Timeout::Now => true,
            Timeout::After(_) => deadline.is_some_and(|d| Instant::now() >= d),
        };
        if give_up {
            return None;
        }
        let hub = Hub {
            waiter: Waiter::new(),
        };
        let notified = {
            let cases: &[&mut dyn Case] = cases;
            let guard = UnwindGuard(|| {
                let notified = hub.waiter.abort().err();
                cases.iter().for_each(|case| case.unregister());
                if let Some(n) = notified {
                    cases[n.token].pass_on();
                }
            });
            for k in 0..n {
                let i = (start + k) % n;
                // SAFETY: the hub and the cases stay put (borrowed here) until every arm is
                // unregistered, below or by the guard when unwinding.
                if unsafe { cases[i].register(&hub, i) } {
                    hub.waiter.notify_self(i);
                    break;
                }
            }
            let notified = hub
                .waiter
                .wait(deadline, &super::waiter::WaitReason::Select);
            guard.disarm();
            cases.iter().for_each(|case| case.unregister());
            notified
        };
        if let Some(n) = notified {
            if cases[n.token].try_complete() {
                return Some(n.token);
            }
        }
        // The arm was taken by somebody else, or the time ran out: look at every arm again.
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc;
    use crate::loom::thread;
    use crate::sync::chan::UNBOUNDED;

    /// A select over two channels, each of which gets one message from its own thread: the
    /// select completes with one of them, and the other message is still there afterwards
    /// (a losing notification is never a lost message).
    #[test]
    fn select_over_two_channels_loses_nothing() {
        loom::model(|| {
            let a = Arc::new(Chan::new(UNBOUNDED));
            let b = Arc::new(Chan::new(0));
            let a2 = a.clone();
            let ta = thread::spawn(move || a2.send(1).unwrap());
            let b2 = b.clone();
            let tb = thread::spawn(move || b2.send(2).unwrap());
            let (mut ra, mut rb) = (RecvCase::new(&a), RecvCase::new(&b));
            let first = select(&mut [&mut ra, &mut rb], Timeout::Never);
            let (first, other) = match first {
                Some(0) => (ra.into_output(), b.recv(None)),
                Some(1) => (rb.into_output(), a.recv(None)),
                _ => unreachable!(),
            };
            let mut got = [first.unwrap(), other.unwrap()];
            got.sort();
            assert_eq!(got, [1, 2]);
            ta.join().unwrap();
            tb.join().unwrap();
        });
    }

    /// A select with a deadline races a send on a rendezvous channel: it either takes the
    /// message or times out, and then the sender is still waiting for a receiver.
    #[test]
    fn select_timeout_races_rendezvous_send() {
        loom::model(|| {
            let chan = Arc::new(Chan::new(0));
            let c2 = chan.clone();
            let sender = thread::spawn(move || c2.send(7).unwrap());
            let mut case = RecvCase::new(&chan);
            match select(&mut [&mut case], Timeout::After(Duration::ZERO)) {
                Some(0) => assert_eq!(case.into_output(), Ok(7)),
                None => assert_eq!(chan.recv(None), Ok(7)),
                _ => unreachable!(),
            }
            sender.join().unwrap();
        });
    }
}

/// Waits on several channel operations at once and runs the arm of the first one to complete.
///
/// ```text
/// select! {
///     recv(rx) -> msg => expr,          // msg: Result<T, RecvError>
///     send(tx, value) -> res => expr,   // res: Result<(), SendError<T>>
///     default => expr,                  // runs if no arm is ready right now
///     default(duration) => expr,        // runs if no arm gets ready within `duration`
/// }
/// ```
///
/// Arms work on `zsync::sync::mpsc::{Receiver, Sender, SyncSender}` and
/// `zsync::sync::oneshot::Receiver`, given by value or by reference. A disconnected channel
/// counts as ready: its arm gets the error. When several arms are ready, one is picked at
/// random, so none starves. Without a `default` arm, the select blocks (parks the green
/// thread, or blocks the OS thread) until an arm completes; there is at most one `default`.
/// The value of a `send` arm is evaluated up front and dropped if another arm is selected.
/// Arm bodies may be blocks (`=> { .. }`) and may `return`, `break` or `continue`.
///
/// ```
/// use std::time::Duration;
/// use zsync::sync::mpsc;
///
/// zsync::run(|| {
///     let (tx1, rx1) = mpsc::channel::<u32>();
///     let (tx2, rx2) = mpsc::sync_channel::<&str>(0);
///     zsync::spawn(move || tx1.send(7).unwrap());
///     let got = zsync::select! {
///         recv(rx1) -> msg => msg.unwrap(),
///         recv(rx2) -> msg => panic!("nothing is sent on rx2: {msg:?}"),
///     };
///     assert_eq!(got, 7);
///
///     // Nothing ready: the default arm runs.
///     let idle = zsync::select! {
///         recv(rx2) -> _msg => false,
///         default => true,
///     };
///     assert!(idle);
///
///     // A rendezvous send completes once a receiver takes it; otherwise time out.
///     let sent = zsync::select! {
///         send(tx2, "hi") -> res => res.is_ok(),
///         default(Duration::from_millis(10)) => false,
///     };
///     assert!(!sent);
/// });
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select_parse!(
            @arms()
            @default()
            @names(
                __zsync_case0 __zsync_case1 __zsync_case2 __zsync_case3 __zsync_case4
                __zsync_case5 __zsync_case6 __zsync_case7 __zsync_case8 __zsync_case9
                __zsync_case10 __zsync_case11 __zsync_case12 __zsync_case13 __zsync_case14
                __zsync_case15 __zsync_case16 __zsync_case17 __zsync_case18 __zsync_case19
                __zsync_case20 __zsync_case21 __zsync_case22 __zsync_case23 __zsync_case24
                __zsync_case25 __zsync_case26 __zsync_case27 __zsync_case28 __zsync_case29
                __zsync_case30 __zsync_case31
            )
            @rest($($tokens)*)
        )
    };
}

/// Parses the arms of [`select!`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // All arms parsed.
    (@arms($($arms:tt)*) @default($($default:tt)*) @names($($names:tt)*) @rest()) => {
        $crate::__select_expand!(@arms($($arms)*) @default($($default)*))
    };
    (@arms($($arms:tt)*) @default($($default:tt)*) @names() @rest($($rest:tt)*)) => {
        ::core::compile_error!("zsync::select! takes at most 32 arms")
    };

    // recv(rx) -> pat => body
    (@arms($($arms:tt)*) @default $d:tt @names($name:ident $($names:tt)*)
     @rest(recv($rx:expr) -> $pat:pat => $body:block, $($rest:tt)*)) => {
        $crate::__select_parse!(@arms($($arms)* ($name recv($rx) ($pat) ($body))) @default $d
            @names($($names)*) @rest($($rest)*))
    };
    (@arms($($arms:tt)*) @default $d:tt @names($name:ident $($names:tt)*)
     @rest(recv($rx:expr) -> $pat:pat => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@arms($($arms)* ($name recv($rx) ($pat) ($body))) @default $d
            @names($($names)*) @rest($($rest)*))
    };
    (@arms($($arms:tt)*) @default $d:tt @names($name:ident $($names:tt)*)
     @rest(recv($rx:expr) -> $pat:pat => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(@arms($($arms)* ($name recv($rx) ($pat) ($body))) @default $d
            @names($($names)*) @rest($($rest)*))
    };
    (@arms($($arms:tt)*) @default $d:tt @names($name:ident $($names:tt)*)
     @rest(recv($rx:expr) -> $pat:pat => $body:expr)) => {
        $crate::__select_parse!(@arms($($arms)* ($name recv($rx) ($pat) ($body))) @default $d
            @names($($names)*) @rest())
    };

    // send(tx, value) -> pat => body
    (@arms($($arms:tt)*) @default $d:tt @names($name:ident $($names:tt)*)
     @rest(send($tx:expr, $v:expr) -> $pat:pat => $body:block, $($rest:tt)*)) => {
        $crate::__select_parse!(@arms($($arms)* ($name send($tx, $v) ($pat) ($body))) @default $d
            @names($($names)*) @rest($($rest)*))
    };
    (@arms($($arms:tt)*) @default $d:tt @names($name:ident $($names:tt)*)
     @rest(send($tx:expr, $v:expr) -> $pat:pat => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@arms($($arms)* ($name send($tx, $v) ($pat) ($body))) @default $d
            @names($($names)*) @rest($($rest)*))
    };
    (@arms($($arms:tt)*) @default $d:tt @names($name:ident $($names:tt)*)
     @rest(send($tx:expr, $v:expr) -> $pat:pat => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(@arms($($arms)* ($name send($tx, $v) ($pat) ($body))) @default $d
            @names($($names)*) @rest($($rest)*))
    };
    (@arms($($arms:tt)*) @default $d:tt @names($name:ident $($names:tt)*)
     @rest(send($tx:expr, $v:expr) -> $pat:pat => $body:expr)) => {
        $crate::__select_parse!(@arms($($arms)* ($name send($tx, $v) ($pat) ($body))) @default $d
            @names($($names)*) @rest())
    };

    // A second default arm.
    (@arms $a:tt @default($($d:tt)+) @names $n:tt @rest(default $($rest:tt)*)) => {
        ::core::compile_error!("zsync::select! takes at most one default arm")
    };

    // default => body, default(dur) => body
    (@arms $a:tt @default() @names $n:tt @rest(default => $body:block, $($rest:tt)*)) => {
        $crate::__select_parse!(@arms $a @default(now ($body)) @names $n @rest($($rest)*))
    };
    (@arms $a:tt @default() @names $n:tt @rest(default => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@arms $a @default(now ($body)) @names $n @rest($($rest)*))
    };
    (@arms $a:tt @default() @names $n:tt @rest(default => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(@arms $a @default(now ($body)) @names $n @rest($($rest)*))
    };
    (@arms $a:tt @default() @names $n:tt @rest(default => $body:expr)) => {
        $crate::__select_parse!(@arms $a @default(now ($body)) @names $n @rest())
    };
    (@arms $a:tt @default() @names $n:tt
     @rest(default($dur:expr) => $body:block, $($rest:tt)*)) => {
        $crate::__select_parse!(@arms $a @default(after($dur) ($body)) @names $n @rest($($rest)*))
    };
    (@arms $a:tt @default() @names $n:tt
     @rest(default($dur:expr) => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@arms $a @default(after($dur) ($body)) @names $n @rest($($rest)*))
    };
    (@arms $a:tt @default() @names $n:tt
     @rest(default($dur:expr) => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(@arms $a @default(after($dur) ($body)) @names $n @rest($($rest)*))
    };
    (@arms $a:tt @default() @names $n:tt @rest(default($dur:expr) => $body:expr)) => {
        $crate::__select_parse!(@arms $a @default(after($dur) ($body)) @names $n @rest())
    };

    (@arms $a:tt @default $d:tt @names $n:tt @rest($($rest:tt)+)) => {
        ::core::compile_error!(::core::concat!(
            "zsync::select!: expected `recv(rx) -> msg => ..`, `send(tx, value) -> res => ..`, ",
            "`default => ..` or `default(duration) => ..`, found: ",
            ::core::stringify!($($rest)+)
        ))
    };
}

/// Expands a parsed [`select!`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_expand {
    (@arms($(($name:ident $kind:ident($($args:tt)*) ($pat:pat) ($body:expr)))*)
     @default($($default:tt)*)) => {{
        $( let mut $name = $crate::__select_case!($kind $($args)*); )*
        $crate::sync::select::select(
            &mut [$(&mut $name as &mut dyn $crate::sync::select::Case),*],
            $crate::__select_timeout!($($default)*),
        );
        $(
            if $name.is_done() {
                let $pat = $name.into_output();
                $body
            } else
        )*
        {
            $crate::__select_default!($($default)*)
        }
    }};
}

/// Builds one arm of a [`select!`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_case {
    (recv $rx:expr) => {
        ($rx).__select_recv()
    };
    (send $tx:expr, $v:expr) => {
        ($tx).__select_send($v)
    };
}

/// The timeout of a [`select!`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_timeout {
    () => {
        $crate::sync::select::Timeout::Never
    };
    (now $body:tt) => {
        $crate::sync::select::Timeout::Now
    };
    (after($dur:expr) $body:tt) => {
        $crate::sync::select::Timeout::After($dur)
    };
}

/// The default arm of a [`select!`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_default {
    () => {
        ::core::unreachable!("zsync::select! without a default arm returned without an arm")
    };
    (now ($body:expr)) => {
        $body
    };
    (after($dur:expr) ($body:expr)) => {
        $body
    };
}
