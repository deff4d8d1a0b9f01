//! The one word that decides the race between a green thread going to sleep and its wakers,
//! biased to the OS thread that owns the green thread.
//!
//! States: `RUNNING` (running, or queued to run), `NOTIFIED` (running or queued, with an unpark
//! token waiting), `PARKED` (suspended, in no queue). The green thread parks in two steps: it
//! first tries to consume a token; if there is none it suspends to its worker, and only once its
//! stack is fully suspended does the worker try `RUNNING -> PARKED`. A waker that comes between
//! the two steps leaves a token (`RUNNING -> NOTIFIED`), which makes that transition fail, and
//! the worker requeues the green thread. A waker that finds `PARKED` moves it to `RUNNING` and is
//! then the only one to schedule it. So no wake-up is lost and none schedules a thread twice.
//!
//! # Owner bias
//!
//! A started green thread runs only on its owner worker's OS thread, and most of its wakes come
//! from there too (a sibling's send, a timer, the worker's own reactor). So once it has started
//! (its worker *claims* the word: [`claim`](ParkState::claim), setting `OWNED`), only that OS
//! thread changes the state: the token look, the commit of a park and every wake made on that
//! OS thread ([`wake_here`](ParkState::wake_here)) are plain loads and stores, with no locked
//! instruction (a locked one waits for every store before it to drain: the park's alone was 11%
//! of a channel ping-pong's samples). A waker on any other OS thread never writes the state of a
//! claimed word: it *posts* the wake to the owner's inbox ([`post`](ParkState::post): a flag
//! swapped to true, and only a wake that finds it clear pushes, so the wakes that come while a
//! post waits add nothing to the inbox) and the owner applies it, as a wake of its own, when it
//! takes the post out of its inbox ([`take_post`](ParkState::take_post), then `wake_here`). The flag is also the token of a
//! remote wake that comes while the green thread still runs: its park looks at the flag (the
//! token look, and again at the commit) and takes it as a token rather than parking; the post,
//! taken out later, then finds the flag clear and does nothing.
//!
//! Before the claim (a green thread that has not started, which any worker may still steal) the
//! state is shared, and a waker compare-exchanges `RUNNING -> NOTIFIED` (a green thread that
//! has not started is never `PARKED`). The claim is a read-modify-write, so a waker's
//! compare-exchange either comes before it (its token is in the word the owner then reads) or
//! fails on it (the waker then sees `OWNED` and posts).
//!
//! The post's ordering: a remote waker's writes before its wake must be visible to the green
//! thread woken. The first poster's writes travel with its inbox push; a later poster that finds
//! the flag set pushes nothing, but its swap is a release read-modify-write in the flag's
//! history, and the owner's `take_post` is an acquire read-modify-write that reads the flag's
//! latest value, so it sees that poster's writes too; a park that takes the flag as a token
//! swaps it the same way. So every remote wake is delivered by the first swap to clear that
//! comes after it in the flag's history (that swap finds it set): a post applied, or a park not
//! made. Each clear looks first with a plain load and swaps only if it sees the flag set; the
//! look cannot hide a wake: `take_post` runs after the push of the post it took out, so it sees
//! at least that post's flag, and a park's look that misses a wake only parks, which the
//! wake's post then undoes. A post whose wake a park took as a token finds the flag clear when
//! it is taken out and does nothing; the poster of a wake after that clear posts again, so a
//! green thread may be in its owner's inbox more than once (once more per posted token a park
//! took between two looks at the inbox), never with a wake applied twice.

use crate::loom::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const RUNNING: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKED: u8 = 2;
/// Set by the claim, for the green thread's life: only the owner OS thread changes the state.
const OWNED: u8 = 4;

/// What a waker must do after [`ParkState::wake_here`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The thread was parked: the caller now owns it and must schedule it.
    Schedule,
    /// The thread was running or queued: a token was left (or was already there).
    Token,
}

/// What a waker on another OS thread must do after [`ParkState::wake_from_afar`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FarWake {
    /// The green thread has not started: a token was left in the shared word; nothing more.
    Token,
    /// The green thread has started: the wake must be posted to its owner (see
    /// [`ParkState::post`]).
    Post,
}

#[derive(Debug)]
pub(crate) struct ParkState {
    state: AtomicU8,
    /// A remote wake not delivered yet: its post is in the owner's inbox, and the green
    /// thread's next park may take it as a token first.
    posted: AtomicBool,
}

impl ParkState {
    pub(crate) fn new() -> Self {
        ParkState {
            state: AtomicU8::new(RUNNING),
            posted: AtomicBool::new(false),
        }
    }

    /// The owner worker, as it starts the green thread, after publishing itself as the owner
    /// (`Task::owner`, which a remote waker reads once it sees `OWNED`): from now on only this
    /// OS thread changes the state.
    #[inline]
    pub(crate) fn claim(&self) {
        // Release: a remote waker that sees `OWNED` sees the owner's index. Acquire: a token a
        // remote waker left before the claim is seen with what that waker wrote before it.
        self.state.fetch_or(OWNED, Ordering::AcqRel);
    }

    /// The green thread itself, before suspending (on its owner's OS thread): takes a waiting
    /// token, local or posted, if there is one. `true` means "do not park".
    #[inline]
    pub(crate) fn take_token(&self) -> bool {
        debug_assert!(self.state.load(Ordering::Relaxed) & OWNED != 0);
        // Plain: only this OS thread changes a claimed word.
        if self.state.load(Ordering::Relaxed) == OWNED | NOTIFIED {
            self.state.store(OWNED | RUNNING, Ordering::Relaxed);
            true
        } else {
            self.clear_posted()
        }
    }

    /// The owner worker, after the green thread's stack has suspended: `true` if it is now
    /// parked; `false` if a token, local or posted, arrived meanwhile (it is consumed here) and
    /// the caller must requeue the thread.
    #[inline]
    pub(crate) fn commit_park(&self) -> bool {
        // Plain: only this OS thread changes a claimed word. A remote wake that comes after the
        // look at the flag posts (or has posted) a wake that this worker applies later, when
        // it finds `PARKED`.
        let parked = self.state.load(Ordering::Relaxed) == OWNED | RUNNING && !self.clear_posted();
        let next = if parked { PARKED } else { RUNNING };
        self.state.store(OWNED | next, Ordering::Relaxed);
        parked
    }

    /// Clears the flag of a remote wake not delivered yet, if it is set: `true` if it was, and
    /// the caller delivers the wake (the owner: a park taking it as a token, whose post then
    /// finds the flag clear and does nothing, or `take_post`). One relaxed look first: there
    /// is usually none. (A park's look that misses a post just set is no loss: that post wakes
    /// the parked thread when the worker takes it out.)
    #[inline]
    fn clear_posted(&self) -> bool {
        self.posted.load(Ordering::Relaxed) && self.posted.swap(false, Ordering::AcqRel)
    }

    /// A wake on the owner's OS thread (a sibling green thread, the worker's timers, reactor
    /// or inbox): wakes the green thread or leaves it a token. Called anywhere else, it could
    /// lose a wake (no memory unsafety: the caller checks where it runs, `TaskRef::unpark`).
    #[inline]
    pub(crate) fn wake_here(&self) -> Wake {
        let state = self.state.load(Ordering::Relaxed);
        debug_assert!(
            state & OWNED != 0,
            "a local wake of a green thread not started"
        );
        let (next, wake) = match state & !OWNED {
            PARKED => (RUNNING, Wake::Schedule),
            RUNNING => (NOTIFIED, Wake::Token),
            _ => return Wake::Token,
        };
        self.state.store(OWNED | next, Ordering::Relaxed);
        wake
    }

    /// A wake from any other OS thread: leaves a token in the word of a green thread that has
    /// not started, or says that the wake must be posted to its owner.
    #[inline]
    pub(crate) fn wake_from_afar(&self) -> FarWake {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & OWNED != 0 {
                return FarWake::Post;
            }
            if state == NOTIFIED {
                return FarWake::Token;
            }
            debug_assert_eq!(state, RUNNING, "a green thread parked before it started");
            match self.state.compare_exchange_weak(
                RUNNING,
                NOTIFIED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return FarWake::Token,
                Err(actual) => state = actual,
            }
        }
    }

    /// A remote waker, after [`FarWake::Post`]: `true` if the caller must put the green thread
    /// in its owner's inbox; `false` if a wake not delivered yet is flagged already (its post is
    /// in the inbox, and whichever clears the flag next, that post or a park taking it as a
    /// token, delivers this wake too, with this waker's writes: see the module docs).
    #[inline]
    pub(crate) fn post(&self) -> bool {
        !self.posted.swap(true, Ordering::AcqRel)
    }

    /// The owner, taking a post out of its inbox: `true` if it still carries a wake, to apply
    /// with [`wake_here`](Self::wake_here); `false` if the green thread took it as a token
    /// before it parked (and no wake came since).
    #[inline]
    pub(crate) fn take_post(&self) -> bool {
        // The look cannot miss the post's own wake: its poster set the flag before pushing the
        // post this worker popped. A clear flag means a token took it since.
        self.clear_posted()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A started green thread parks while one of its siblings on the same OS thread wakes it
    /// (before the park, between its two steps, or after): it ends up either not parking (a
    /// token) or parked and scheduled exactly once. This is also what makes the park's
    /// reference sound (`Worker::after_suspend` keeps the reference it ran the thread with
    /// when the commit succeeds, and the waker that gets `Wake::Schedule` takes it over): one
    /// side ends up with it. All on one OS thread, so the three orders are all there is.
    #[test]
    fn a_wake_on_the_owner_thread_is_neither_lost_nor_doubled() {
        for wake_at in 0..3 {
            let state = ParkState::new();
            state.claim();
            let mut scheduled = 0;
            let mut wake = |state: &ParkState| {
                if state.wake_here() == Wake::Schedule {
                    scheduled += 1;
                }
            };
            if wake_at == 0 {
                wake(&state);
            }
            let took_token = state.take_token();
            if wake_at == 1 {
                wake(&state);
            }
            let parked = !took_token && state.commit_park();
            if wake_at == 2 {
                wake(&state);
            }
            assert_eq!(scheduled, usize::from(parked), "wake at step {wake_at}");
            assert_eq!(took_token, wake_at == 0, "wake at step {wake_at}");
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicUsize;
    use crate::loom::sync::Arc;
    use crate::loom::thread;
    use crate::runtime::queue::Queue;

    /// Joins the wakers once all `n` have said they are done (their last step), so that none
    /// can unpark this thread while it waits in `join`: loom takes such an unpark for a
    /// missing notification (tokio-rs/loom#249).
    fn join_after(done: &AtomicUsize, n: usize, wakers: Vec<thread::JoinHandle<()>>) {
        while done.load(Ordering::Acquire) < n {
            thread::yield_now();
        }
        for w in wakers {
            w.join().unwrap();
        }
    }

    /// The worker of a green thread that parks, and another OS thread that wakes it, from
    /// before its start on: the waker either leaves a token in the shared word (before the
    /// claim) or posts the wake to the owner's inbox, which the owner applies. However the two
    /// interleave, the green thread is scheduled exactly once if it parked, never if it took a
    /// token, and what the waker wrote before its wake is visible to it when it runs. (A lost
    /// wake shows as a deadlock: the worker sleeps until a post comes.)
    #[test]
    fn a_remote_wake_reaches_the_owner_exactly_once() {
        loom::model(|| {
            let state = Arc::new(ParkState::new());
            let inbox: Arc<Queue<u32>> = Arc::new(Queue::new());
            let data = Arc::new(AtomicUsize::new(0));
            let worker = thread::current();
            let done = Arc::new(AtomicUsize::new(0));
            let (s2, i2, d2, done2) = (state.clone(), inbox.clone(), data.clone(), done.clone());
            let waker = thread::spawn(move || {
                d2.store(1, Ordering::Relaxed);
                if s2.wake_from_afar() == FarWake::Post && s2.post() {
                    i2.push(7);
                    worker.unpark();
                }
                done2.store(1, Ordering::Release);
            });
            // The worker starts the green thread, which parks once.
            state.claim();
            let took_token = state.take_token();
            if took_token {
                assert_eq!(data.load(Ordering::Relaxed), 1, "a token without the write");
            }
            let parked = !took_token && state.commit_park();
            if !parked {
                // A token, left before the claim or posted, taken by the look or the commit.
                assert_eq!(data.load(Ordering::Relaxed), 1, "a token without the write");
            }
            let mut runs = 0;
            if parked {
                // The worker loop: take posts out of the inbox and apply them; sleep when
                // there is none.
                loop {
                    let post = inbox.pop();
                    if let Some(task) = post {
                        assert_eq!(task, 7);
                        if state.take_post() && state.wake_here() == Wake::Schedule {
                            runs += 1;
                            assert_eq!(data.load(Ordering::Relaxed), 1, "woken without the write");
                            break;
                        }
                    } else {
                        thread::park();
                    }
                }
            }
            join_after(&done, 1, vec![waker]);
            assert_eq!(runs, usize::from(parked));
            // A post that was not needed (the token was taken first) stays harmless: applied
            // late, it leaves a token and schedules nothing.
            let late = inbox.pop();
            if late.is_some() && state.take_post() {
                assert_eq!(state.wake_here(), Wake::Token, "scheduled twice");
            }
        });
    }

    /// Two remote wakers wake a parked green thread that waits until it sees both their writes:
    /// the second waker may find the first's post still in the inbox and push nothing, and its
    /// write must then be visible when that post is applied; if it comes later, it posts again.
    /// The green thread runs each time a post schedules it, and parks again until it has seen
    /// both. A lost wake shows as a deadlock.
    #[test]
    fn a_second_remote_wake_rides_on_the_first_post() {
        loom::model(|| {
            let state = Arc::new(ParkState::new());
            state.claim();
            // Parked before the wakers come.
            assert!(!state.take_token() && state.commit_park());
            let inbox: Arc<Queue<u32>> = Arc::new(Queue::new());
            let data = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
            let worker = thread::current();
            let done = Arc::new(AtomicUsize::new(0));
            let wakers: Vec<_> = (0..2)
                .map(|i| {
                    let (s, inbox, d, w, done) = (
                        state.clone(),
                        inbox.clone(),
                        data.clone(),
                        worker.clone(),
                        done.clone(),
                    );
                    thread::spawn(move || {
                        d[i].store(1, Ordering::Relaxed);
                        if s.wake_from_afar() == FarWake::Post && s.post() {
                            inbox.push(i as u32);
                            w.unpark();
                        }
                        done.fetch_add(1, Ordering::Release);
                    })
                })
                .collect();
            loop {
                let post = inbox.pop();
                match post {
                    Some(_) => {
                        if !state.take_post() {
                            continue; // its wake was taken as a token
                        }
                        assert_eq!(state.wake_here(), Wake::Schedule);
                        // The green thread runs: done once it has seen both writes; else it
                        // parks again, unless a posted wake is there to take as a token.
                        let mut parked = false;
                        while !data.iter().all(|d| d.load(Ordering::Relaxed) == 1) {
                            if !state.take_token() && state.commit_park() {
                                parked = true;
                                break;
                            }
                        }
                        if !parked {
                            break;
                        }
                    }
                    None => thread::park(),
                }
            }
            join_after(&done, 2, wakers);
            // A post left over is a spurious token for the running thread.
            while inbox.pop().is_some() {
                if state.take_post() {
                    assert_eq!(state.wake_here(), Wake::Token);
                }
            }
        });
    }
}
