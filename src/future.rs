//! Futures interop: [`block_on`] drives a std `Future` from blocking code, and a green thread's
//! `JoinHandle` is a `Future` that async code can await.

use crate::runtime::task::join::{JoinHandle, Joiner};
use crate::runtime::{self, park, Thread};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Drives `fut` to completion on the calling thread: a green thread parks (letting its worker
/// run others) until the future's waker fires; an OS thread blocks. A park point: cancellation
/// and `timeout()` unwind from here, dropping the future.
///
/// ```
/// let value = zsync::run(|| zsync::block_on(async { 6 * 7 }));
/// assert_eq!(value, 42);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(runtime::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        park::park_point();
        if let Poll::Ready(value) = fut.as_mut().poll(&mut cx) {
            return value;
        }
        park::park_for(park::WaitReason::Future);
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.wake();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake();
    }
}

/// The future of a [`JoinHandle`]: resolves to what [`JoinHandle::join`] returns, and, like
/// `join`, panics if polled on the very thread it waits for (which could never finish).
///
/// ```
/// let rt = zsync::Runtime::new()?;
/// let handle = rt.spawn(|| 2 + 2);
/// // Any executor can await it; here zsync's own block_on, from a plain thread.
/// let value = zsync::block_on(async move { handle.await });
/// assert_eq!(value.unwrap(), 4);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinFuture<T> {
    handle: Option<JoinHandle<T>>,
    slot: Option<Arc<Mutex<Option<Waker>>>>,
}

impl<T> std::fmt::Debug for JoinFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinFuture").finish_non_exhaustive()
    }
}

impl<T> IntoFuture for JoinHandle<T> {
    type Output = std::thread::Result<T>;
    type IntoFuture = JoinFuture<T>;

    fn into_future(self) -> JoinFuture<T> {
        JoinFuture {
            handle: Some(self),
            slot: None,
        }
    }
}

impl<T> Future for JoinFuture<T> {
    type Output = std::thread::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // No field is structurally pinned.
        let this = self.get_mut();
        let handle = this
            .handle
            .as_ref()
            .expect("JoinFuture polled after it completed");
        handle.refuse_self_join(&runtime::current());
        match &this.slot {
            None => {
                let slot = Arc::new(Mutex::new(Some(cx.waker().clone())));
                if handle.packet.register(Joiner::Waker(slot.clone())) {
                    this.slot = Some(slot);
                    return Poll::Pending;
                }
            }
            Some(slot) => {
                // Store the newest waker, then look: a finisher that completes after the look
                // finds the waker under the lock.
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                if !handle.packet.is_done() {
                    return Poll::Pending;
                }
            }
        }
        let handle = this.handle.take().expect("checked above");
        Poll::Ready(handle.packet.take())
    }
}
