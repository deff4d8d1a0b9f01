//! Multi-producer, single-consumer FIFO channels, mirroring `std::sync::mpsc`.
//!
//! The same types, methods, error types (std's own, re-exported) and disconnection rules as
//! std; a blocking call parks the green thread (or blocks the OS thread), so green threads and
//! OS threads can talk over one channel both ways. Channels also work with
//! [`select!`](crate::select).
//!
//! ```
//! use zsync::sync::mpsc::channel;
//!
//! zsync::run(|| {
//!     let (tx, rx) = channel();
//!     for i in 0..10 {
//!         let tx = tx.clone();
//!         zsync::spawn(move || tx.send(i).unwrap());
//!     }
//!     drop(tx);
//!     let mut all: Vec<i32> = rx.iter().collect(); // ends when every sender is gone
//!     all.sort();
//!     assert_eq!(all, (0..10).collect::<Vec<_>>());
//! });
//! ```

use super::chan::{Chan, UNBOUNDED};
use super::select::{RecvCase, SendCase};
use crate::loom::sync::Arc;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

/// The sending half of an unbounded [`channel`], like `std::sync::mpsc::Sender`: `send` never
/// blocks. Clone it for more producers.
///
/// ```
/// let (tx, rx) = zsync::sync::mpsc::channel();
/// let tx2 = tx.clone();
/// tx.send(1).unwrap();
/// tx2.send(2).unwrap();
/// assert_eq!(rx.iter().take(2).collect::<Vec<_>>(), [1, 2]);
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending half of a bounded [`sync_channel`], like `std::sync::mpsc::SyncSender`: `send`
/// blocks while the buffer is full (for a rendezvous channel, until a receiver takes the
/// message).
///
/// ```
/// let (tx, rx) = zsync::sync::mpsc::sync_channel(1);
/// tx.send(1).unwrap();
/// assert!(tx.try_send(2).is_err()); // full
/// assert_eq!(rx.recv().unwrap(), 1);
/// ```
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel, like `std::sync::mpsc::Receiver`: `Send` but not `Sync`.
///
/// ```
/// let (tx, rx) = zsync::sync::mpsc::channel();
/// zsync::spawn(move || tx.send("hello").unwrap());
/// assert_eq!(rx.recv().unwrap(), "hello");
/// assert!(rx.recv().is_err()); // the sender is gone
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    _not_sync: PhantomData<*const ()>,
}

// SAFETY: the channel is thread-safe for sendable messages; `Receiver` is only kept from being
// `Sync` (one receiving thread at a time, as in std).
unsafe impl<T: Send> Send for Receiver<T> {}

/// Creates an unbounded channel, like `std::sync::mpsc::channel`.
///
/// ```
/// let (tx, rx) = zsync::sync::mpsc::channel();
/// tx.send(5).unwrap();
/// assert_eq!(rx.recv(), Ok(5));
/// ```
#[must_use]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(UNBOUNDED));
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: PhantomData,
        },
    )
}

/// Creates a channel with a buffer of `bound` messages, like `std::sync::mpsc::sync_channel`.
/// With `bound == 0` it is a rendezvous channel: every send waits for a receiver.
///
/// # Panics
/// With std's message, "capacity overflow", when std's buffer of `bound` slots would be over
/// `isize::MAX` bytes (`sync_channel::<u8>(usize::MAX)`): std allocates its whole buffer up
/// front, one slot (a message and a `usize` stamp) per message, and panics then. zsync's buffer
/// grows with the messages sent, so a bound std can size but not allocate (where std aborts the
/// process, out of memory) works here.
///
/// ```should_panic
/// let _ = zsync::sync::mpsc::sync_channel::<u8>(usize::MAX); // panics: "capacity overflow"
/// ```
///
/// ```
/// use zsync::sync::mpsc::sync_channel;
/// zsync::run(|| {
///     let (tx, rx) = sync_channel(0);
///     let h = zsync::spawn(move || tx.send(1).unwrap()); // waits for the receiver
///     assert_eq!(rx.recv(), Ok(1));
///     h.join().unwrap();
/// });
/// ```
#[must_use]
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    if bound > 0 && std::alloc::Layout::array::<StdSlot<T>>(bound).is_err() {
        panic!("capacity overflow");
    }
    let chan = Arc::new(Chan::new(bound));
    (
        SyncSender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: PhantomData,
        },
    )
}

/// A slot of std's bounded channel (library/std/src/sync/mpmc/array.rs), of which std allocates
/// `bound` up front: only its layout is used, to panic where std's allocation would overflow.
#[allow(dead_code)] // never made: only its size and alignment matter
struct StdSlot<T> {
    stamp: std::sync::atomic::AtomicUsize,
    msg: std::cell::UnsafeCell<std::mem::MaybeUninit<T>>,
}

impl<T> Sender<T> {
    /// Sends a message; never blocks.
    ///
    /// # Errors
    /// `SendError` with the message if the receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = zsync::sync::mpsc::channel();
    /// assert!(tx.send(1).is_ok());
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t)
    }

    #[doc(hidden)]
    pub fn __select_send(&self, msg: T) -> SendCase<'_, T> {
        SendCase::new(&self.chan, msg)
    }
}

impl<T> SyncSender<T> {
    /// Sends a message, parking while the buffer is full. A park point: a cancellation
    /// unwinds from here, and the message is then not sent.
    ///
    /// # Errors
    /// `SendError` with the message if the receiver is gone (also while waiting).
    ///
    /// ```
    /// let (tx, rx) = zsync::sync::mpsc::sync_channel(1);
    /// tx.send(1).unwrap();
    /// drop(rx);
    /// assert!(tx.send(2).is_err());
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t)
    }

    /// Sends a message only if that needs no waiting.
    ///
    /// # Errors
    /// `Full` if the buffer is full (on a rendezvous channel: no receiver is waiting);
    /// `Disconnected` if the receiver is gone. Both hold the message.
    ///
    /// ```
    /// use zsync::sync::mpsc::{sync_channel, TrySendError};
    /// let (tx, rx) = sync_channel(0);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Disconnected(1)));
    /// ```
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(t)
    }

    #[doc(hidden)]
    pub fn __select_send(&self, msg: T) -> SendCase<'_, T> {
        SendCase::new(&self.chan, msg)
    }
}

impl<T> Receiver<T> {
    /// Takes a message if one is there, without waiting.
    ///
    /// # Errors
    /// `Empty` if there is none yet; `Disconnected` if there is none and every sender is gone.
    ///
    /// ```
    /// use zsync::sync::mpsc::{channel, TryRecvError};
    /// let (tx, rx) = channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Waits for a message. Messages sent before the last sender went are still delivered. A
    /// park point.
    ///
    /// # Errors
    /// `RecvError` once the channel is empty and every sender is gone.
    ///
    /// ```
    /// let (tx, rx) = zsync::sync::mpsc::channel();
    /// zsync::spawn(move || tx.send(3).unwrap());
    /// assert_eq!(rx.recv(), Ok(3));
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(None).map_err(|_| RecvError)
    }

    /// Waits for a message for `timeout` at most. A park point.
    ///
    /// # Errors
    /// `Timeout` if none came in time; `Disconnected` once the channel is empty and every
    /// sender is gone.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::sync::mpsc::{channel, RecvTimeoutError};
    /// let (tx, rx) = channel::<u8>();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// drop(tx);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Disconnected));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.chan.recv(Some(deadline)),
            None => self.chan.recv(None),
        }
    }

    /// An iterator that waits for messages and ends when the channel is empty and every sender
    /// is gone.
    ///
    /// ```
    /// let (tx, rx) = zsync::sync::mpsc::channel();
    /// zsync::spawn(move || (0..3).for_each(|i| tx.send(i).unwrap()));
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages already there; it never waits.
    ///
    /// ```
    /// let (tx, rx) = zsync::sync::mpsc::channel();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// assert_eq!(rx.try_iter().next(), None); // tx is still alive: just empty
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    #[doc(hidden)]
    pub fn __select_recv(&self) -> RecvCase<'_, T> {
        RecvCase::new(&self.chan)
    }
}

/// A blocking iterator over a [`Receiver`]'s messages (see [`Receiver::iter`]).
///
/// ```
/// let (tx, rx) = zsync::sync::mpsc::channel();
/// tx.send(1).unwrap();
/// drop(tx);
/// let mut iter: zsync::sync::mpsc::Iter<'_, i32> = rx.iter();
/// assert_eq!(iter.next(), Some(1));
/// assert_eq!(iter.next(), None);
/// ```
#[derive(Debug)]
pub struct Iter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// A non-blocking iterator over a [`Receiver`]'s messages (see [`Receiver::try_iter`]).
///
/// ```
/// let (tx, rx) = zsync::sync::mpsc::channel::<i32>();
/// let mut iter: zsync::sync::mpsc::TryIter<'_, i32> = rx.try_iter();
/// assert_eq!(iter.next(), None);
/// # drop(tx);
/// ```
#[derive(Debug)]
pub struct TryIter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// An owning blocking iterator over a [`Receiver`]'s messages.
///
/// ```
/// let (tx, rx) = zsync::sync::mpsc::channel();
/// zsync::spawn(move || tx.send(9).unwrap());
/// let iter: zsync::sync::mpsc::IntoIter<i32> = rx.into_iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [9]);
/// ```
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<T> Clone for Sender<T> {
    /// Another sender on the same channel.
    fn clone(&self) -> Sender<T> {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    /// Another sender on the same channel.
    fn clone(&self) -> SyncSender<T> {
        self.chan.add_sender();
        SyncSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
