//! The waiter list under every primitive of `zsync::sync`.
//!
//! A primitive keeps its waiters in a [`WaitList`], a FIFO list of intrusive [`Entry`] nodes,
//! always touched under a short critical-section [`Lock`] (the primitive's own). An entry points
//! to a [`Waiter`]: the waiting thread and one atomic state word. Both live on the waiting
//! thread's stack, which never moves (green threads keep their stacks; OS threads too).
//!
//! The state word decides every race: `WAITING` becomes either a notification (a notifier won,
//! under the list's lock) or `ABORTED` (the waiter gave up: deadline or unwinding). Exactly one
//! compare-exchange wins, so a notification is either delivered or visibly refused, never lost:
//! a notifier that loses moves on to the next entry. A [`select!`](crate::select) waiter has one
//! entry per channel, all pointing to one `Waiter`, so the first channel to notify wins it.
//!
//! Lifetime rules, which make the raw pointers sound:
//! - an entry is linked, unlinked and read only under its list's lock;
//! - its owner unlinks it under that lock (or sees it unlinked) before the entry or its waiter go
//!   away, on every path: normal return, deadline, and unwinding (cancellation, `timeout()`), for
//!   which every wait holds an [`UnwindGuard`];
//! - a notifier clones the waiter's thread handle before its compare-exchange and touches the
//!   entry no more after it wins: from then on the waiter may return and free its frame. (For
//!   waiters that always take the list's lock again after a wake, like channel receivers, the
//!   notifier may instead unpark them under the lock without a clone: `notify_one_locked`.)
//! - a waiter's thread handle holds no reference count of its own (the waiter lives on that
//!   thread's stack); a notifier that keeps it past the lock clones it.
//!
//! A waiter that unwinds after it was notified passes what it was given on (the lock, the
//! permit, the wake-up), so a dead waiter never swallows one; each primitive says how.
//!
//! Parking goes through [`park`] and [`current`]: zsync's park (green thread or OS thread)
//! normally, loom's under `cfg(loom)`, where a wait with a deadline times out at its first park.

pub(crate) use crate::loom::lock::{Lock, LockGuard};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
pub(crate) use crate::runtime::WaitReason;
use std::cell::Cell;
use std::ptr;
use std::time::Instant;

/// The calling OS thread's worker, found for a waiter it owns
/// ([`WaitList::front_on_this_worker`]). None exists under loom (its threads are OS threads).
#[cfg(not(loom))]
pub(crate) type Here<'w> = crate::runtime::ThisWorker<'w>;
/// The calling OS thread's worker, found for a waiter it owns
/// ([`WaitList::front_on_this_worker`]). None exists under loom (its threads are OS threads).
#[cfg(loom)]
pub(crate) enum Here<'w> {
    #[allow(dead_code)]
    Never(std::convert::Infallible, std::marker::PhantomData<&'w ()>),
}

/// What wakes a parked waiter: a zsync thread, or a loom thread in models.
#[cfg(not(loom))]
pub(crate) type Unparker = crate::runtime::Thread;
/// What wakes a parked waiter: a zsync thread, or a loom thread in models.
#[cfg(loom)]
pub(crate) type Unparker = crate::loom::thread::Thread;

/// A loom thread's wake is its `unpark`. (A zsync thread's is `Thread::wake`, which leaves
/// the user's `park`/`unpark` token alone.)
#[cfg(loom)]
pub(crate) trait Wake {
    fn wake(&self);
}

#[cfg(loom)]
impl Wake for Unparker {
    fn wake(&self) {
        self.unpark();
    }
}

/// The calling thread's handle, as a waiter keeps it: without a reference count of its own
/// normally (the waiter lives on the thread's own stack, so the thread outlives it).
#[cfg(not(loom))]
type Handle = std::mem::ManuallyDrop<Unparker>;
#[cfg(loom)]
type Handle = Unparker;

#[inline]
fn current() -> Handle {
    // SAFETY: the handle lives in a `Waiter` on the calling thread's stack; notifiers use it
    // only while the waiter is alive, and clone it to keep it longer.
    #[cfg(not(loom))]
    return unsafe { crate::runtime::task::handle::current_unowned() };
    #[cfg(loom)]
    return crate::loom::thread::current();
}

/// Parks the calling thread until it is unparked or `deadline` passes; returns true if the
/// deadline has passed. May return early (spuriously). A park point on the way in, but only for
/// a waiter that can still be withdrawn (see [`Waiter::wait`]): a cancellation or an expired
/// `timeout()` unwinds from here after `withdraw` took the waiter out of reach of notifiers. One
/// that arrives while the thread is parked only wakes it: [`Waiter::wait`] then returns a
/// notification that came meanwhile (what it was handed is kept, and the request is raised at
/// the next park point), or parks again, which raises.
#[inline]
fn park(deadline: Option<Instant>, wait: &WaitReason, withdraw: &dyn Fn() -> bool) -> bool {
    #[cfg(not(loom))]
    {
        crate::runtime::park::park_until_woken_or(deadline, wait, withdraw);
        deadline.is_some_and(|d| Instant::now() >= d)
    }
    #[cfg(loom)]
    {
        let _ = (wait, withdraw);
        // Loom has no clock: a wait with a deadline gives up at its first park, which lets the
        // models race every timeout against every notification.
        match deadline {
            None => {
                crate::loom::thread::park();
                false
            }
            Some(_) => {
                crate::loom::thread::yield_now();
                true
            }
        }
    }
}

/// Unparks every thread in `wakeups` (collected under a lock, woken after it).
pub(crate) fn unpark_all(wakeups: Vec<Unparker>) {
    for thread in wakeups {
        thread.wake();
    }
}

const WAITING: usize = 0;
const ABORTED: usize = 1;
const KIND_BITS: u32 = 3;
const KIND_MASK: usize = (1 << KIND_BITS) - 1;

/// A notification kind that asks the waiter to look again (the primitive's state changed).
pub(crate) const RETRY: usize = 2;
/// A notification kind that hands the waiter what it waited for (a lock, a permit) or tells it
/// that its offer was taken (a message).
pub(crate) const HANDOFF: usize = 3;

/// A notification, as the waiter sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Notified {
    /// [`RETRY`] or [`HANDOFF`].
    pub(crate) kind: usize,
    /// The token of the entry it came through (a `select!` arm).
    pub(crate) token: usize,
}

/// The waiting thread and its state word.
pub(crate) struct Waiter {
    state: AtomicUsize,
    thread: Handle,
}

impl Waiter {
    #[inline]
    pub(crate) fn new() -> Waiter {
        Waiter {
            state: AtomicUsize::new(WAITING),
            thread: current(),
        }
    }

    fn decode(state: usize) -> Notified {
        Notified {
            kind: state & KIND_MASK,
            token: state >> KIND_BITS,
        }
    }

    /// The notification, if one has come.
    #[inline]
    pub(crate) fn notified(&self) -> Option<Notified> {
        match self.state.load(Ordering::Acquire) {
            WAITING | ABORTED => None,
            state => Some(Self::decode(state)),
        }
    }

    /// Makes a notified waiter wait again. Only while none of its entries is linked.
    #[inline]
    pub(crate) fn reset(&self) {
        self.state.store(WAITING, Ordering::Relaxed);
    }

    /// Gives up waiting: after this no notifier can win. `Err` with the notification if one won
    /// first.
    /// Aborting again is `Ok`: a park point aborts a waiter before it raises, and the raise's
    /// cleanup aborts it once more.
    pub(crate) fn abort(&self) -> Result<(), Notified> {
        match self
            .state
            .compare_exchange(WAITING, ABORTED, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) | Err(ABORTED) => Ok(()),
            Err(state) => Err(Self::decode(state)),
        }
    }

    /// Tries to notify; returns the thread to unpark if this notification won.
    ///
    /// The waiter must be alive: the caller reached it through a linked entry, under its lock.
    fn notify(&self, kind: usize, token: usize) -> Option<Unparker> {
        debug_assert!(kind == RETRY || kind == HANDOFF);
        // Clone first: once the exchange succeeds, the waiter may return and free itself.
        let thread = Unparker::clone(&self.thread);
        self.state
            .compare_exchange(
                WAITING,
                (token << KIND_BITS) | kind,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .ok()
            .map(|_| thread)
    }

    /// Notifies the waiter from its own thread (a `select!` arm found ready while registering).
    /// False if another notification won first.
    pub(crate) fn notify_self(&self, token: usize) -> bool {
        self.state
            .compare_exchange(
                WAITING,
                (token << KIND_BITS) | RETRY,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Parks until notified; with a deadline, gives up when it passes (`None`, the waiter is
    /// then aborted, and its entries must still be unlinked). A park point.
    /// `wait` says what the thread waits on (for `Runtime::dump`).
    pub(crate) fn wait(&self, deadline: Option<Instant>, wait: &WaitReason) -> Option<Notified> {
        loop {
            if let Some(notified) = self.notified() {
                return Some(notified);
            }
            // A cancellation or expired `timeout()` raised here must not unwind a waiter that a
            // notifier (on another thread) has just handed something: the park point first
            // aborts the waiter, and raises only if that wins.
            if park(deadline, wait, &|| self.abort().is_ok()) {
                return self.abort().err();
            }
        }
    }
}

/// A node of a [`WaitList`], with a primitive-specific payload `D` (a writer flag, a message
/// slot, the time the wait began).
pub(crate) struct Entry<D> {
    waiter: Cell<*const Waiter>,
    token: Cell<usize>,
    data: Cell<D>,
    prev: Cell<*const Entry<D>>,
    next: Cell<*const Entry<D>>,
    linked: Cell<bool>,
}

impl<D: Copy> Entry<D> {
    /// An entry for `waiter`, notified with `token`.
    pub(crate) fn new(waiter: &Waiter, token: usize, data: D) -> Entry<D> {
        let entry = Entry::unbound(data);
        entry.bind(waiter, token);
        entry
    }

    /// An entry not yet bound to a waiter (for `select!` arms).
    pub(crate) fn unbound(data: D) -> Entry<D> {
        Entry {
            waiter: Cell::new(ptr::null()),
            token: Cell::new(0),
            data: Cell::new(data),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            linked: Cell::new(false),
        }
    }

    /// Points the entry at `waiter`. Only while unlinked.
    pub(crate) fn bind(&self, waiter: &Waiter, token: usize) {
        debug_assert!(!self.linked.get());
        self.waiter.set(waiter);
        self.token.set(token);
    }

    pub(crate) fn data(&self) -> D {
        self.data.get()
    }

    /// Only while unlinked, or under the list's lock.
    pub(crate) fn set_data(&self, data: D) {
        self.data.set(data);
    }
}

/// A FIFO list of waiting entries. Not synchronised: its owner keeps it under a [`Lock`].
pub(crate) struct WaitList<D> {
    head: *const Entry<D>,
    tail: *const Entry<D>,
}

// SAFETY: the list holds pointers to entries that their owners keep alive while linked (see the
// module docs); entries are touched only under the lock that guards the list, whichever thread
// holds it. Payloads are plain data read under that lock.
unsafe impl<D> Send for WaitList<D> {}

impl<D> std::fmt::Debug for WaitList<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitList")
            .field("empty", &self.head.is_null())
            .finish()
    }
}

impl<D: Copy> WaitList<D> {
    pub(crate) const fn new() -> WaitList<D> {
        WaitList {
            head: ptr::null(),
            tail: ptr::null(),
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Appends `entry`.
    ///
    /// # Safety
    /// `entry` is bound to a waiter, and both stay where they are and alive until the entry has
    /// left this list again (popped by a notifier, or [`remove`](Self::remove)d by its owner),
    /// under the same lock as this call. The entry is in no list now.
    pub(crate) unsafe fn push_back(&mut self, entry: &Entry<D>) {
        debug_assert!(!entry.linked.get() && !entry.waiter.get().is_null());
        entry.prev.set(self.tail);
        entry.next.set(ptr::null());
        entry.linked.set(true);
        if self.tail.is_null() {
            self.head = entry;
        } else {
            // SAFETY: linked entries are alive (push_back's contract) and we hold the lock.
            unsafe { (*self.tail).next.set(entry) };
        }
        self.tail = entry;
    }

    /// Unlinks `entry` if it is still linked; true if it was.
    ///
    /// # Safety
    /// If `entry` is linked, it is linked in this list.
    pub(crate) unsafe fn remove(&mut self, entry: &Entry<D>) -> bool {
        if !entry.linked.get() {
            return false;
        }
        let (prev, next) = (entry.prev.get(), entry.next.get());
        // SAFETY: neighbours are linked entries of this list, alive, and we hold the lock.
        unsafe {
            match prev.as_ref() {
                Some(prev) => prev.next.set(next),
                None => self.head = next,
            }
            match next.as_ref() {
                Some(next) => next.prev.set(prev),
                None => self.tail = prev,
            }
        }
        entry.linked.set(false);
        true
    }

    /// The payload of the first entry.
    pub(crate) fn front_data(&self) -> Option<D> {
        // SAFETY: linked entries are alive while we hold the lock.
        unsafe { self.head.as_ref() }.map(Entry::data)
    }

    /// The calling OS thread's worker, if the first entry's waiter is a green thread it owns
    /// (see `Thread::on_this_worker`): that waiter cannot run, let alone return, before this OS
    /// thread switches to it. Never under loom (its threads are OS threads).
    #[inline]
    pub(crate) fn front_on_this_worker<'w>(&self) -> Option<Here<'w>> {
        // SAFETY: linked entries and their waiters are alive while we hold the lock.
        #[cfg(not(loom))]
        return unsafe { self.head.as_ref() }
            .and_then(|entry| unsafe { &*entry.waiter.get() }.thread.on_this_worker());
        #[cfg(loom)]
        return None;
    }

    /// Unlinks the first entry. The result may be used only while the lock is held.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Popped<D>> {
        let head = self.head;
        // SAFETY: a linked entry of this list.
        let entry = unsafe { head.as_ref() }?;
        // SAFETY: as above.
        unsafe { self.remove(entry) };
        Some(Popped(head))
    }

    /// Notifies the first waiter that takes the notification (skipping ones that gave up).
    pub(crate) fn notify_one(&mut self, kind: usize) -> Option<Unparker> {
        while let Some(entry) = self.pop_front() {
            if let Some(thread) = entry.notify(kind) {
                return Some(thread);
            }
        }
        None
    }

    /// Like [`notify_one`](Self::notify_one), but unparks the waiter right here, under the
    /// lock, without taking a handle to its thread. Only for waiters that take this lock again
    /// after they are notified, before they return: they cannot go away while it is held.
    pub(crate) fn notify_one_locked(&mut self, kind: usize) -> bool {
        while let Some(entry) = self.pop_front() {
            if entry.notify_locked(kind) {
                return true;
            }
        }
        false
    }

    /// [`notify_all`](Self::notify_all) for waiters that take this lock again (see
    /// [`notify_one_locked`](Self::notify_one_locked)).
    pub(crate) fn notify_all_locked(&mut self, kind: usize) {
        while let Some(entry) = self.pop_front() {
            entry.notify_locked(kind);
        }
    }

    /// Notifies every waiter; returns the threads to unpark once the lock is released.
    pub(crate) fn notify_all(&mut self, kind: usize) -> Vec<Unparker> {
        let mut wakeups = Vec::new();
        while let Some(entry) = self.pop_front() {
            wakeups.extend(entry.notify(kind));
        }
        wakeups
    }
}

/// An entry just popped from a list. Valid only while the list's lock is held.
pub(crate) struct Popped<D>(*const Entry<D>);

impl<D: Copy> Popped<D> {
    pub(crate) fn data(&self) -> D {
        // SAFETY: the entry was linked when popped under the lock, which is still held: its
        // owner cannot have freed it (it unlinks, or checks, under that lock first).
        unsafe { (*self.0).data() }
    }

    /// Notifies the entry's waiter; the thread to unpark if the notification won.
    pub(crate) fn notify(self, kind: usize) -> Option<Unparker> {
        // SAFETY: as in `data`; the waiter outlives its linked entries.
        let entry = unsafe { &*self.0 };
        // SAFETY: as above.
        let waiter = unsafe { &*entry.waiter.get() };
        waiter.notify(kind, entry.token.get())
    }
}

impl<D: Copy> Popped<D> {
    /// Notifies the entry's waiter and, if that won, unparks it now, under the lock. Only for
    /// waiters that take this lock again before they return (see
    /// [`WaitList::notify_one_locked`]): they cannot go away while it is held.
    pub(crate) fn notify_locked(self, kind: usize) -> bool {
        // SAFETY: as in `data`; the waiter outlives its linked entries.
        let entry = unsafe { &*self.0 };
        // SAFETY: as above; and once notified, the waiter still waits for this lock before it
        // can return, so it outlives the unpark below.
        let waiter = unsafe { &*entry.waiter.get() };
        let won = waiter
            .state
            .compare_exchange(
                WAITING,
                (entry.token.get() << KIND_BITS) | kind,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok();
        if won {
            waiter.thread.wake();
        }
        won
    }

    /// [`notify_locked`](Self::notify_locked) for a waiter that is linked in this list only
    /// (not a `select!` waiter) and runs on the caller's worker, `here` (see
    /// [`WaitList::front_on_this_worker`]): its state word changes without a
    /// read-modify-write. Nothing else can change it meanwhile: other notifiers reach it
    /// through this list, under the lock the caller holds, and the waiter itself (its `abort`)
    /// runs only on its worker's OS thread, which is running the caller.
    #[inline]
    pub(crate) fn notify_here(self, kind: usize, here: Here<'_>) -> bool {
        // SAFETY: as in `data`; the waiter outlives its linked entries.
        let entry = unsafe { &*self.0 };
        // SAFETY: as above; and it cannot run (and return) before this OS thread switches to
        // it, so it outlives the unpark below too.
        let waiter = unsafe { &*entry.waiter.get() };
        if waiter.state.load(Ordering::Relaxed) != WAITING {
            return false;
        }
        waiter
            .state
            .store((entry.token.get() << KIND_BITS) | kind, Ordering::Release);
        #[cfg(not(loom))]
        {
            waiter.thread.unpark_on(here);
            true
        }
        #[cfg(loom)]
        match here {}
    }
}

/// Runs its closure when dropped, unless [`disarm`](Self::disarm)ed: the cleanup of a wait that
/// unwinds (a cancellation or an expired `timeout()` raised at the park point).
pub(crate) struct UnwindGuard<F: FnMut()>(pub(crate) F);

impl<F: FnMut()> UnwindGuard<F> {
    /// The wait returned normally: no cleanup.
    #[inline]
    pub(crate) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl<F: FnMut()> Drop for UnwindGuard<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicUsize;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// A waiter with a deadline races one notification: either it gets it, or it times out and
    /// the notifier sees that nobody took it. Never both, never neither.
    #[test]
    fn notify_races_timeout() {
        loom::model(|| {
            let list = Arc::new(Lock::new(WaitList::<()>::new()));
            let l2 = list.clone();
            let notifier = thread::spawn(move || {
                let thread = l2.lock().notify_one(RETRY);
                thread.map(|t| t.unpark()).is_some()
            });
            let waiter = Waiter::new();
            let entry = Entry::new(&waiter, 7, ());
            // SAFETY: both live until the end of the closure, and are unlinked before.
            unsafe { list.lock().push_back(&entry) };
            let got = waiter.wait(Some(Instant::now()), &WaitReason::Park);
            if got.is_none() {
                // SAFETY: linked in this list, if at all.
                unsafe { list.lock().remove(&entry) };
            }
            let delivered = notifier.join().unwrap();
            assert_eq!(got.is_some(), delivered);
            if let Some(n) = got {
                assert_eq!((n.kind, n.token), (RETRY, 7));
            }
            assert!(list.lock().is_empty());
        });
    }

    /// notify_all wakes every waiter registered before it and skips one that timed out; it
    /// counts exactly the notifications that won.
    #[test]
    fn notify_all_skips_aborted_waiters() {
        loom::model(|| {
            let list = Arc::new(Lock::new(WaitList::<()>::new()));
            let registered = Arc::new(AtomicUsize::new(0));
            let (l2, r2) = (list.clone(), registered.clone());
            let blocked = thread::spawn(move || {
                let waiter = Waiter::new();
                let entry = Entry::new(&waiter, 0, ());
                // SAFETY: we wait until notified, which unlinks the entry.
                unsafe { l2.lock().push_back(&entry) };
                r2.fetch_add(1, Ordering::SeqCst);
                waiter.wait(None, &WaitReason::Park).expect("no deadline");
            });
            let (l3, r3) = (list.clone(), registered.clone());
            let timing_out = thread::spawn(move || {
                let waiter = Waiter::new();
                let entry = Entry::new(&waiter, 0, ());
                // SAFETY: unlinked below before it goes away.
                unsafe { l3.lock().push_back(&entry) };
                r3.fetch_add(1, Ordering::SeqCst);
                let got = waiter.wait(Some(Instant::now()), &WaitReason::Park);
                // SAFETY: linked in this list, if at all.
                unsafe { l3.lock().remove(&entry) };
                got.is_some()
            });
            while registered.load(Ordering::SeqCst) < 2 {
                thread::yield_now();
            }
            let wakeups = list.lock().notify_all(RETRY);
            let sent = wakeups.len();
            unpark_all(wakeups);
            blocked.join().unwrap();
            let got = timing_out.join().unwrap();
            assert_eq!(sent, 1 + usize::from(got));
            assert!(list.lock().is_empty());
        });
    }
}
