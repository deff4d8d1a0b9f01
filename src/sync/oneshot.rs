//! One-shot channels: one message, from one sender to one receiver.
//!
//! Dropping the [`Sender`] without sending disconnects the channel; dropping the [`Receiver`]
//! makes `send` hand the message back. The receiver works with [`select!`](crate::select).
//!
//! ```
//! use zsync::sync::oneshot;
//!
//! let answer = zsync::run(|| {
//!     let (tx, rx) = oneshot::channel();
//!     zsync::spawn(move || tx.send(42).unwrap());
//!     rx.recv().unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```

use super::chan::Chan;
use super::select::RecvCase;
use crate::loom::sync::Arc;
use std::fmt;
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

/// The sending half of a [`channel`]: sends once.
///
/// ```
/// let (tx, rx) = zsync::sync::oneshot::channel();
/// tx.send("done").unwrap();
/// assert_eq!(rx.recv(), Ok("done"));
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a [`channel`]: receives once.
///
/// ```
/// let (tx, rx) = zsync::sync::oneshot::channel::<u8>();
/// drop(tx);
/// assert!(rx.recv().is_err());
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// Creates a one-shot channel.
///
/// ```
/// let (tx, rx) = zsync::sync::oneshot::channel();
/// zsync::spawn(move || tx.send(1).unwrap());
/// assert_eq!(rx.recv(), Ok(1));
/// ```
#[must_use]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(1));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Sender<T> {
    /// Sends the message; never blocks.
    ///
    /// # Errors
    /// The message comes back if the receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = zsync::sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(5), Err(5));
    /// ```
    pub fn send(self, t: T) -> Result<(), T> {
        match self.chan.try_send(t) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(t) | TrySendError::Full(t)) => Err(t),
        }
    }
}

impl<T> Receiver<T> {
    /// Waits for the message. A park point.
    ///
    /// # Errors
    /// `RecvError` if the sender was dropped without sending.
    ///
    /// ```
    /// let (tx, rx) = zsync::sync::oneshot::channel();
    /// zsync::spawn(move || tx.send('x').unwrap());
    /// assert_eq!(rx.recv(), Ok('x'));
    /// ```
    pub fn recv(self) -> Result<T, RecvError> {
        self.chan.recv(None).map_err(|_| RecvError)
    }

    /// Takes the message if it is there, without waiting.
    ///
    /// # Errors
    /// `Empty` if it has not been sent yet; `Disconnected` if the sender was dropped without
    /// sending (or the message was already taken).
    ///
    /// ```
    /// use zsync::sync::mpsc::TryRecvError;
    /// let (tx, rx) = zsync::sync::oneshot::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Waits for the message for `timeout` at most. A park point.
    ///
    /// # Errors
    /// `Timeout` if it did not come in time; `Disconnected` if the sender was dropped without
    /// sending.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::sync::mpsc::RecvTimeoutError;
    /// let (tx, rx) = zsync::sync::oneshot::channel::<u8>();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(2)), Err(RecvTimeoutError::Timeout));
    /// drop(tx);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(2)), Err(RecvTimeoutError::Disconnected));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(Instant::now().checked_add(timeout))
    }

    #[doc(hidden)]
    pub fn __select_recv(&self) -> RecvCase<'_, T> {
        RecvCase::new(&self.chan)
    }
}

impl<T> Drop for Sender<T> {
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

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
