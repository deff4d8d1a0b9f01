//! The channel under `mpsc`, `oneshot` and `select!`: a queue and two waiter lists under one
//! short lock.
//!
//! - Unbounded (`cap == usize::MAX`) and bounded (`cap > 0`) channels queue messages; a
//!   rendezvous channel (`cap == 0`) queues a message only for a receiver that is waiting (it
//!   was notified in the same critical section, so it is committed to take it).
//! - A sender that finds no room waits on `senders` with its message in a slot on its own
//!   stack. A receiver takes that message from the slot (into the queue after a pop, or
//!   straight to the caller on a rendezvous channel) and notifies the sender `HANDOFF`: the
//!   send is complete. FIFO among blocked senders follows.
//! - A receiver that finds nothing waits on `receivers`, with an empty slot on its own stack; a
//!   send notifies the first one `RETRY` (it then takes the lock again and looks), or, when the
//!   queue is empty and that receiver is a green thread of the sender's own worker, puts the
//!   message in its slot and notifies it `HANDOFF`: the receiver returns it without taking the
//!   lock again. (Only on the same worker: there the receiver cannot run before the sender's OS
//!   thread switches to it, so the sender may unpark it under the lock with no handle of its
//!   own, as for waiters that take the lock again. Two green threads that talk share a worker,
//!   so this is the common case; it saves a lock round and a queue push and pop per message.)
//! - `select!` arms wait on the same lists with no slot (a null pointer): they are only told to
//!   look again (`RETRY`), and then complete their operation with `try_send` / `try_recv`.
//! - Disconnection: when the last sender goes, every waiting receiver is woken (and sees the
//!   queue drain, then `Disconnected`); when the receiver goes, the queue is dropped and every
//!   waiting sender is woken to take its message back as `SendError`.
//! - A waiter that unwinds after it was notified passes the notification on; a message handed
//!   to the channel is never lost: it is in the queue, or back with its sender.

#[cfg(loom)]
use super::waiter::Wake as _;
use super::waiter::{
    unpark_all, Entry, Lock, LockGuard, Unparker, UnwindGuard, WaitList, WaitReason, Waiter,
    HANDOFF, RETRY,
};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::UnsafeCell;
use std::collections::VecDeque;
use std::sync::mpsc::{RecvTimeoutError, SendError, TryRecvError, TrySendError};
use std::time::Instant;

/// Where a blocked sender keeps its message: on its own stack, touched under the lock only.
pub(crate) type Slot<T> = UnsafeCell<Option<T>>;

/// The payload of a sender's entry: its slot, or null for a `select!` arm.
pub(crate) type SlotPtr<T> = *const Slot<T>;

pub(crate) const UNBOUNDED: usize = usize::MAX;

#[inline]
fn wake_up(thread: Option<Unparker>) {
    if let Some(thread) = thread {
        thread.wake();
    }
}

pub(crate) struct Chan<T> {
    inner: Lock<Inner<T>>,
    cap: usize,
    /// Live sending handles.
    senders: AtomicUsize,
}

struct Inner<T> {
    queue: VecDeque<T>,
    /// Blocked receivers with their slots, and `select!` arms (null: no slot).
    receivers: WaitList<SlotPtr<T>>,
    senders: WaitList<SlotPtr<T>>,
    /// Every sending handle is gone.
    tx_gone: bool,
    /// The receiving handle is gone.
    rx_gone: bool,
}

impl<T> Chan<T> {
    /// A channel with one sending handle and one receiving handle.
    pub(crate) fn new(cap: usize) -> Chan<T> {
        Chan {
            inner: Lock::new(Inner {
                queue: VecDeque::new(),
                receivers: WaitList::new(),
                senders: WaitList::new(),
                tx_gone: false,
                rx_gone: false,
            }),
            cap,
            senders: AtomicUsize::new(1),
        }
    }

    pub(crate) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut inner = self.inner.lock();
            inner.tx_gone = true;
            inner.receivers.notify_all_locked(RETRY);
        }
    }

    pub(crate) fn drop_receiver(&self) {
        let mut inner = self.inner.lock();
        inner.rx_gone = true;
        let queue = std::mem::take(&mut inner.queue);
        let wakeups = inner.senders.notify_all(RETRY);
        drop(inner);
        unpark_all(wakeups);
        drop(queue); // user destructors run outside the lock
    }

    /// Queues `msg` if the channel takes it now, and wakes a waiting receiver. Receivers are
    /// woken under the lock (`notify_one_locked`): they always take it again after a wake.
    // Always: the whole of a send that does not wait (a call of its own cost B4 ~17
    // instructions per send, its registers saved and restored: callgrind).
    #[inline(always)]
    fn push(&self, inner: &mut Inner<T>, msg: T) -> Result<(), TrySendError<T>> {
        if inner.rx_gone {
            return Err(TrySendError::Disconnected(msg));
        }
        let msg = if inner.queue.is_empty() && !inner.receivers.is_empty() {
            match Self::hand_to_receiver_here(inner, msg) {
                Ok(()) => return Ok(()),
                Err(msg) => msg,
            }
        } else {
            msg
        };
        if inner.queue.len() < self.cap {
            inner.queue.push_back(msg);
            if !inner.receivers.is_empty() {
                inner.receivers.notify_one_locked(RETRY);
            }
            return Ok(());
        }
        // Rendezvous: only for a receiver that waits, and is now committed to take it.
        if self.cap == 0 && inner.receivers.notify_one_locked(RETRY) {
            inner.queue.push_back(msg);
            return Ok(());
        }
        Err(TrySendError::Full(msg))
    }

    /// Puts `msg` in the slot of the first waiting receiver and notifies it `HANDOFF`, if that
    /// is a blocked receive (not a `select!` arm) of a green thread on this OS thread's worker;
    /// gives the message back otherwise. Only with an empty queue (the message would be the
    /// next one received anyway). Under the lock.
    #[inline]
    fn hand_to_receiver_here(inner: &mut Inner<T>, msg: T) -> Result<(), T> {
        let Some(slot) = inner.receivers.front_data().filter(|slot| !slot.is_null()) else {
            return Err(msg);
        };
        let Some(here) = inner.receivers.front_on_this_worker() else {
            return Err(msg);
        };
        let first = inner.receivers.pop_front().expect("a first receiver");
        // SAFETY: the slot lives in the frame of the receiver whose entry was linked; it
        // touches the slot only under this lock, or after a `HANDOFF`, and (on this worker) not
        // before this OS thread switches to it.
        unsafe { (*slot).with_mut(|s| *s = Some(msg)) };
        // Unparked under the lock with no handle of its own: it cannot run (and go) before
        // this OS thread switches to it, see `front_on_this_worker`. (A blocked receive's
        // waiter is in this list only: `notify_here` applies.)
        if first.notify_here(HANDOFF, here) {
            return Ok(());
        }
        // It gave up (a deadline): it takes the lock again and never looks in its slot. The
        // message goes the usual way.
        // SAFETY: as above.
        Err(unsafe { (*slot).with_mut(|s| (*s).take()) }.expect("the message just put"))
    }

    /// Takes the message of the first blocked sender (which is then done), or wakes the first
    /// waiting `select!` sender to try again. `None` if no sender waits. Under the lock.
    fn pop_sender(inner: &mut Inner<T>) -> Option<(Option<T>, Unparker)> {
        while let Some(first) = inner.senders.pop_front() {
            let slot = first.data();
            if slot.is_null() {
                if let Some(thread) = first.notify(RETRY) {
                    return Some((None, thread));
                }
                continue;
            }
            // SAFETY: the slot lives in the frame of the sender whose entry was linked; it
            // touches the slot only under this lock, or not at all once notified `HANDOFF`.
            let msg = unsafe { (*slot).with_mut(|s| (*s).take()) };
            match first.notify(HANDOFF) {
                Some(thread) => return Some((msg, thread)),
                // It gave up: it takes its message back under this lock later.
                // SAFETY: as above.
                None => unsafe { (*slot).with_mut(|s| *s = msg) },
            }
        }
        None
    }

    /// After room appeared (or a waiting sender's notification is passed on): move a blocked
    /// sender's message into the queue, or wake a `select!` sender.
    fn refill(&self, inner: &mut Inner<T>) -> Option<Unparker> {
        let room = inner.queue.len() < self.cap
            || (self.cap == 0 && !inner.receivers.is_empty() && inner.queue.is_empty());
        if !room || inner.rx_gone {
            return None;
        }
        let (msg, thread) = Self::pop_sender(inner)?;
        if let Some(msg) = msg {
            inner.queue.push_back(msg);
            inner.receivers.notify_one_locked(RETRY);
        }
        Some(thread)
    }

    pub(crate) fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        crate::runtime::monitor::coop::poll();
        self.push(&mut self.inner.lock(), msg)
    }

    /// Sends, blocking while the channel is full (or, for a rendezvous channel, until a
    /// receiver takes the message). A park point.
    pub(crate) fn send(&self, msg: T) -> Result<(), SendError<T>> {
        crate::runtime::monitor::coop::poll();
        let mut inner = self.inner.lock();
        match self.push(&mut inner, msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(msg)) => Err(SendError(msg)),
            Err(TrySendError::Full(msg)) => self.send_wait(inner, msg),
        }
    }

    /// The rest of a send that found no room: waits on `senders` with its message in a slot.
    #[inline(never)]
    fn send_wait<'a>(
        &'a self,
        mut inner: LockGuard<'a, Inner<T>>,
        msg: T,
    ) -> Result<(), SendError<T>> {
        let waiter = Waiter::new();
        let slot: Slot<T> = UnsafeCell::new(Some(msg));
        let entry = Entry::new(&waiter, 0, &slot as SlotPtr<T>);
        // SAFETY: entry, waiter and slot live in this frame, which unlinks the entry before it
        // goes: a notification unlinks it, and `abandon_send` removes it when unwinding.
        unsafe { inner.senders.push_back(&entry) };
        drop(inner);
        let guard = UnwindGuard(|| self.abandon_send(&waiter, &entry));
        let result = loop {
            let notified = waiter.wait(None, &WaitReason::Send);
            if notified.is_some_and(|n| n.kind == HANDOFF) {
                break Ok(()); // a receiver took the message
            }
            // Woken to look again (the receiver is gone, or a wake-up was passed on).
            let mut inner = self.inner.lock();
            // SAFETY: under the lock, with the entry unlinked: the slot is ours.
            let msg = unsafe { slot.with_mut(|s| (*s).take()) }.expect("message in its slot");
            match self.push(&mut inner, msg) {
                Ok(()) => break Ok(()),
                Err(TrySendError::Disconnected(msg)) => break Err(SendError(msg)),
                Err(TrySendError::Full(msg)) => {
                    // SAFETY: as above.
                    unsafe { slot.with_mut(|s| *s = Some(msg)) };
                    waiter.reset();
                    // SAFETY: as for the first push.
                    unsafe { inner.senders.push_back(&entry) };
                }
            }
        };
        guard.disarm();
        result
    }

    /// The cleanup of a blocked sender that unwinds. Its message, if not taken, stays in its
    /// slot and is dropped with its frame (the send did not happen).
    fn abandon_send(&self, waiter: &Waiter, entry: &Entry<SlotPtr<T>>) {
        let mut inner = self.inner.lock();
        // SAFETY: linked in this list, if at all.
        unsafe { inner.senders.remove(entry) };
        let wake = match waiter.abort() {
            Err(n) if n.kind == RETRY => self.refill(&mut inner), // pass the wake-up on
            _ => None,
        };
        drop(inner);
        wake_up(wake);
    }

    /// A receive that does not wait, under the lock; also returns a sender to wake.
    // Always: on the hot path of every receive; when the compiler chose an out-of-line copy, B4
    // cost ~60 more instructions per receive (callgrind).
    #[inline(always)]
    fn try_recv_locked(&self, inner: &mut Inner<T>) -> (Result<T, TryRecvError>, Option<Unparker>) {
        if let Some(msg) = inner.queue.pop_front() {
            let wake = if inner.senders.is_empty() {
                None
            } else {
                self.refill(inner)
            };
            return (Ok(msg), wake);
        }
        if let Some((msg, thread)) = Self::pop_sender(inner) {
            // Rendezvous: straight from a blocked sender; or a select! sender told to come.
            return (msg.ok_or(TryRecvError::Empty), Some(thread));
        }
        if inner.tx_gone {
            (Err(TryRecvError::Disconnected), None)
        } else {
            (Err(TryRecvError::Empty), None)
        }
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        crate::runtime::monitor::coop::poll();
        let mut inner = self.inner.lock();
        let (result, wake) = self.try_recv_locked(&mut inner);
        drop(inner);
        wake_up(wake);
        result
    }

    /// Receives, waiting until `deadline` at most. A park point.
    pub(crate) fn recv(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        crate::runtime::monitor::coop::poll();
        let mut inner = self.inner.lock();
        let (result, wake) = self.try_recv_locked(&mut inner);
        match result {
            Ok(msg) => {
                drop(inner);
                wake_up(wake);
                Ok(msg)
            }
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => self.recv_wait(inner, wake, deadline),
        }
    }

    /// The rest of a receive that found the queue empty: waits on `receivers`. Inlined into
    /// `recv`, which saves every callee-saved register for its own fast path anyway: out of
    /// line, each blocking receive paid a second prologue, frame and epilogue (B4, a ping-pong
    /// over two channels: 1,214 -> 1,145 instructions per round trip by callgrind; a receive
    /// that finds a message costs the same).
    #[inline]
    fn recv_wait<'a>(
        &'a self,
        mut inner: LockGuard<'a, Inner<T>>,
        mut wake: Option<Unparker>,
        deadline: Option<Instant>,
    ) -> Result<T, RecvTimeoutError> {
        let waiter = Waiter::new();
        let slot: Slot<T> = UnsafeCell::new(None);
        let entry = Entry::new(&waiter, 0, &slot as SlotPtr<T>);
        let guard = UnwindGuard(|| self.abandon_recv(&waiter, &entry, &slot));
        let result = loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Err(RecvTimeoutError::Timeout);
            }
            waiter.reset();
            // SAFETY: entry and waiter live in this frame, which unlinks the entry before it
            // goes: a notification unlinks it, the timeout path below removes it, and
            // `abandon_recv` does when unwinding.
            unsafe { inner.receivers.push_back(&entry) };
            drop(inner);
            wake_up(wake.take());
            let notified = waiter.wait(deadline, &WaitReason::Recv);
            if notified.is_some_and(|n| n.kind == HANDOFF) {
                // A sender on this worker put its message in the slot (`hand_to_receiver_here`).
                guard.disarm();
                // SAFETY: the sender filled the slot before its notification (release; `wait`
                // saw it with acquire), unlinked the entry, and nobody touches the slot again.
                let msg = unsafe { slot.with_mut(|s| (*s).take()) };
                return Ok(msg.expect("a handed message in its slot"));
            }
            // Senders notify receivers under this lock: take it before the waiter goes.
            inner = self.inner.lock();
            if notified.is_none() {
                // SAFETY: linked in this list, if at all.
                unsafe { inner.receivers.remove(&entry) };
            }
            let (result, more) = self.try_recv_locked(&mut inner);
            wake = more;
            match result {
                Ok(msg) => break Ok(msg),
                Err(TryRecvError::Disconnected) => break Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) if notified.is_none() => {
                    break Err(RecvTimeoutError::Timeout)
                }
                Err(TryRecvError::Empty) => {}
            }
        };
        guard.disarm();
        drop(inner);
        wake_up(wake);
        result
    }

    /// The cleanup of a waiting receiver that unwinds. A message handed to it goes back to the
    /// front of the queue, and its notification to the next waiting receiver. (The wait raises
    /// only after `abort` won, so a receiver handed a message returns it; this is the cleanup
    /// for a wait that unwinds some other way.)
    fn abandon_recv(&self, waiter: &Waiter, entry: &Entry<SlotPtr<T>>, slot: &Slot<T>) {
        let mut inner = self.inner.lock();
        // SAFETY: linked in this list, if at all.
        unsafe { inner.receivers.remove(entry) };
        if let Err(notified) = waiter.abort() {
            if notified.kind == HANDOFF {
                // SAFETY: handed off and unlinked: the slot is ours.
                if let Some(msg) = unsafe { slot.with_mut(|s| (*s).take()) } {
                    inner.queue.push_front(msg);
                }
            }
            self.pass_on_recv_locked(inner);
        }
    }

    fn pass_on_recv_locked(&self, mut inner: LockGuard<'_, Inner<T>>) {
        inner.receivers.notify_one_locked(RETRY);
    }

    // ---- select! support ----

    /// Queues a `select!` receive arm, unless it can complete now (then true, not queued).
    ///
    /// # Safety
    /// As for [`WaitList::push_back`]: the entry stays put until [`Self::unregister_recv`].
    pub(crate) unsafe fn register_recv(&self, entry: &Entry<SlotPtr<T>>) -> bool {
        let mut inner = self.inner.lock();
        if !inner.queue.is_empty() || inner.tx_gone {
            return true;
        }
        match inner.senders.front_data() {
            Some(slot) if !slot.is_null() => return true, // a blocked sender's message
            Some(_) => match Self::pop_sender(&mut inner) {
                // Gave up meanwhile, and a blocked sender's message came next: it is ours.
                Some((Some(msg), thread)) => {
                    inner.queue.push_back(msg);
                    drop(inner);
                    thread.wake();
                    return true;
                }
                // A select! sender on a rendezvous channel: tell it a receiver is here.
                Some((None, thread)) => {
                    // SAFETY: the caller's promise.
                    unsafe { inner.receivers.push_back(entry) };
                    drop(inner);
                    thread.wake();
                    return false;
                }
                None => {}
            },
            None => {}
        }
        // SAFETY: the caller's promise.
        unsafe { inner.receivers.push_back(entry) };
        false
    }

    /// Queues a `select!` send arm (no slot), unless it can complete now (then true).
    ///
    /// # Safety
    /// As for [`WaitList::push_back`]: the entry stays put until [`Self::unregister_send`].
    pub(crate) unsafe fn register_send(&self, entry: &Entry<SlotPtr<T>>) -> bool {
        let mut inner = self.inner.lock();
        if inner.rx_gone
            || inner.queue.len() < self.cap
            || (self.cap == 0 && !inner.receivers.is_empty())
        {
            return true;
        }
        // SAFETY: the caller's promise.
        unsafe { inner.senders.push_back(entry) };
        false
    }

    pub(crate) fn unregister_recv(&self, entry: &Entry<SlotPtr<T>>) {
        // SAFETY: a receive arm's entry is linked in this channel's receivers, if at all.
        unsafe { self.inner.lock().receivers.remove(entry) };
    }

    pub(crate) fn unregister_send(&self, entry: &Entry<SlotPtr<T>>) {
        // SAFETY: a send arm's entry is linked in this channel's senders, if at all.
        unsafe { self.inner.lock().senders.remove(entry) };
    }

    /// A `select!` receive arm that was notified unwinds: pass the notification on.
    pub(crate) fn pass_on_recv(&self) {
        self.pass_on_recv_locked(self.inner.lock());
    }

    /// A `select!` send arm that was notified unwinds: pass the notification on.
    pub(crate) fn pass_on_send(&self) {
        let mut inner = self.inner.lock();
        let wake = self.refill(&mut inner);
        drop(inner);
        wake_up(wake);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// A sender sends two messages and goes; the receiver gets both, in order, then
    /// `Disconnected`. Unbounded, bounded and rendezvous.
    #[test]
    fn messages_then_disconnection() {
        for cap in [UNBOUNDED, 1, 0] {
            loom::model(move || {
                let chan = Arc::new(Chan::new(cap));
                let c2 = chan.clone();
                let sender = thread::spawn(move || {
                    c2.send(1).unwrap();
                    c2.send(2).unwrap();
                    c2.drop_sender();
                });
                assert_eq!(chan.recv(None), Ok(1));
                assert_eq!(chan.recv(None), Ok(2));
                assert_eq!(chan.recv(None), Err(RecvTimeoutError::Disconnected));
                sender.join().unwrap();
            });
        }
    }

    /// The receiver goes while a sender is blocked (or about to be): the message is either
    /// received or handed back, never lost, and the sender never stays blocked.
    #[test]
    fn receiver_drop_releases_blocked_senders() {
        for cap in [1, 0] {
            loom::model(move || {
                let chan = Arc::new(Chan::new(cap));
                if cap == 1 {
                    chan.send(0).unwrap();
                }
                let c2 = chan.clone();
                let sender = thread::spawn(move || c2.send(1));
                let got = chan.try_recv();
                chan.drop_receiver();
                let sent = sender.join().unwrap();
                match (cap, got) {
                    (1, Ok(0)) | (0, Err(TryRecvError::Empty)) => {}
                    (0, Ok(1)) => assert_eq!(sent, Ok(())),
                    other => panic!("unexpected {other:?}"),
                }
                if let Err(SendError(msg)) = sent {
                    assert_eq!(msg, 1);
                }
            });
        }
    }

    /// A receiver with a deadline races a send: the message is received, or stays queued for
    /// the next receive.
    #[test]
    fn recv_timeout_races_send() {
        loom::model(|| {
            let chan = Arc::new(Chan::new(UNBOUNDED));
            let c2 = chan.clone();
            let sender = thread::spawn(move || c2.send(5).unwrap());
            let first = chan.recv(Some(Instant::now()));
            sender.join().unwrap();
            match first {
                Ok(5) => assert_eq!(chan.try_recv(), Err(TryRecvError::Empty)),
                Err(RecvTimeoutError::Timeout) => assert_eq!(chan.try_recv(), Ok(5)),
                other => panic!("unexpected {other:?}"),
            }
        });
    }
}
