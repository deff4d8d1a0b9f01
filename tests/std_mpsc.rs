//! The behaviours std's own channel tests check (library/std/tests/sync/mpsc.rs for
//! `channel`, mpsc_sync.rs for `sync_channel`), restated for zsync. Each body runs on a plain
//! OS thread, inside a green-thread runtime and inside an OS-threads runtime.
//!
//! Scaled down: std's 8 x 10,000 stress sends become 8 x 2,000, and the tests built on long
//! sleeps (100 senders sleeping i x 10 ms, a 1 s or 300 ms sleep) sleep a tenth as long; the
//! orderings they check are the same. `SyncSender::send_timeout` is unstable in std (and absent
//! here), so its test is left out.

use std::rc::Rc;
use std::time::{Duration, Instant};
use zsync::sync::mpsc::{
    channel, sync_channel, Receiver, RecvTimeoutError, SendError, Sender, SyncSender, TryRecvError,
    TrySendError,
};
use zsync::thread;

mod common;
use common::on_each_model;

// ---- channel: one thread ----

#[test]
fn channel_basics_on_one_thread() {
    on_each_model(|| {
        let (tx, rx) = channel::<i32>();
        tx.send(1).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        let tx2 = tx.clone(); // a second sender works the same
        tx2.send(2).unwrap();
        assert_eq!(rx.recv(), Ok(2));
        // Unreceived messages are dropped with the channel, with one or several senders.
        let (tx, _rx) = channel::<Box<i32>>();
        drop(tx.clone());
        drop(tx.clone());
        tx.send(Box::new(1)).unwrap();
        // Closing either end first, without sending.
        let (_tx, rx) = channel::<i32>();
        drop(rx);
        let (tx, _rx) = channel::<i32>();
        drop(tx);
    });
}

#[test]
fn channel_send_fails_once_the_receiver_is_gone() {
    on_each_model(|| {
        let (tx, rx) = channel::<Box<i32>>();
        drop(rx);
        assert!(tx.send(Box::new(0)).is_err());
        let tx2 = tx.clone();
        drop(tx);
        assert!(tx2.send(Box::new(1)).is_err());
        // The message comes back in the error, every time.
        let (tx, _) = channel();
        let _ = tx.send(123);
        assert_eq!(tx.send(123), Err(SendError(123)));
    });
}

#[test]
fn channel_recv_fails_once_every_sender_is_gone() {
    on_each_model(|| {
        let (tx, rx) = channel::<i32>();
        drop(tx);
        assert!(rx.recv().is_err());
        let (tx, rx) = channel::<()>();
        let tx2 = tx.clone();
        drop(tx);
        drop(tx2);
        assert!(rx.recv().is_err());
        // A receive that fails panics its thread when unwrapped; the join reports it.
        let joined = thread::spawn(|| {
            let (tx, rx) = channel::<i32>();
            drop(tx);
            rx.recv().unwrap();
        })
        .join();
        assert!(joined.is_err());
    });
}

#[test]
fn channel_try_recv_states_on_one_thread() {
    on_each_model(|| {
        let (tx, rx) = channel::<i32>();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send(10).unwrap();
        assert_eq!(rx.try_recv(), Ok(10));
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

#[test]
fn channel_recv_timeout_on_one_thread() {
    on_each_model(|| {
        let (tx, rx) = channel();
        tx.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Ok(()));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Ok(()));
        // With a second sender alive, the timeout still takes at least as long as asked.
        let _tx2 = tx.clone();
        let start = Instant::now();
        let wait = Duration::from_millis(1);
        assert_eq!(rx.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
        assert!(start.elapsed() >= wait);
    });
}

/// 10,000 queued messages are received without trouble (std's regression test for running out
/// of stack).
#[test]
fn channel_many_queued_messages() {
    on_each_model(|| {
        let (tx, rx) = channel();
        for i in 0..10_000 {
            tx.send(i).unwrap();
        }
        for i in 0..10_000 {
            assert_eq!(rx.recv().unwrap(), i);
        }
    });
}

#[test]
fn channel_iterators() {
    on_each_model(|| {
        // An owning iterator outlives the scope that made the channel; it ends when the
        // (dropped) sender's messages run out.
        let mut owned = {
            let (tx, rx) = channel::<i32>();
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            rx.into_iter()
        };
        assert_eq!(owned.next(), Some(1));
        assert_eq!(owned.next(), Some(2));
        assert_eq!(owned.next(), None);
        // The same through `&Receiver`.
        let (tx, rx) = channel::<i32>();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        drop(tx);
        let mut borrowed = (&rx).into_iter();
        assert_eq!(borrowed.next(), Some(1));
        assert_eq!(borrowed.next(), Some(2));
        assert_eq!(borrowed.next(), None);
    });
}

// ---- channel: several threads ----

#[test]
fn channel_between_threads() {
    on_each_model(|| {
        let (tx, rx) = channel::<i32>();
        thread::spawn(move || tx.send(1).unwrap());
        assert_eq!(rx.recv().unwrap(), 1);
        // The receiver in the other thread.
        let (tx, rx) = channel::<Box<i32>>();
        let t = thread::spawn(move || assert_eq!(*rx.recv().unwrap(), 10));
        tx.send(Box::new(10)).unwrap();
        t.join().unwrap();
        // Two threads, each waiting for the other's message.
        let (tx1, rx1) = channel::<i32>();
        let (tx2, rx2) = channel::<i32>();
        let a = thread::spawn(move || {
            assert_eq!(rx1.recv().unwrap(), 1);
            tx2.send(2).unwrap();
        });
        let b = thread::spawn(move || {
            tx1.send(1).unwrap();
            assert_eq!(rx2.recv().unwrap(), 2);
        });
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// The sender keeps sending until the receiver, which takes one message, goes away. Sending on
/// an unbounded channel never parks, so on green threads this relies on the receiver running on
/// the other worker (it is stolen there).
#[test]
fn channel_sends_fail_when_the_receiver_quits_concurrently() {
    on_each_model(|| {
        let (tx, rx) = channel::<i32>();
        thread::spawn(move || {
            rx.recv().unwrap();
        });
        while tx.send(1).is_ok() {}
        let (tx, rx) = channel::<i32>();
        let tx2 = tx.clone();
        thread::spawn(move || {
            rx.recv().unwrap();
        });
        while tx.send(1).is_ok() && tx2.send(1).is_ok() {}
    });
}

#[test]
fn channel_recv_loop_ends_when_the_sender_quits() {
    on_each_model(|| {
        let (tx, rx) = channel::<i32>();
        thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(1).unwrap();
        });
        while rx.recv().is_ok() {}
        // Dropping the sender in another thread wakes a receiver blocked in a third.
        let (tx, rx) = channel::<Box<i32>>();
        thread::spawn(move || drop(tx));
        let joined = thread::spawn(move || assert_eq!(*rx.recv().unwrap(), 10)).join();
        assert!(joined.is_err());
    });
}

#[test]
fn channel_stress_one_and_many_senders() {
    on_each_model(|| {
        const COUNT: u32 = 10_000;
        let (tx, rx) = channel::<u32>();
        let t = thread::spawn(move || {
            for i in 0..COUNT {
                tx.send(i).unwrap();
            }
        });
        for i in 0..COUNT {
            assert_eq!(rx.recv().unwrap(), i);
        }
        t.join().unwrap();

        const SENDERS: u32 = 8;
        const EACH: u32 = 2_000; // std: 10,000
        let (tx, rx) = channel::<u32>();
        let receiver = thread::spawn(move || {
            for _ in 0..SENDERS * EACH {
                assert_eq!(rx.recv().unwrap(), 1);
            }
            assert!(rx.try_recv().is_err());
        });
        for _ in 0..SENDERS {
            let tx = tx.clone();
            thread::spawn(move || {
                for _ in 0..EACH {
                    tx.send(1).unwrap();
                }
            });
        }
        drop(tx);
        receiver.join().unwrap();
    });
}

/// std's "runtime" tests: a receiver that started first, then a sender that starts later, and
/// the other way round, forty messages each.
#[test]
fn channel_sender_or_receiver_starts_first() {
    on_each_model(|| {
        let (ready_tx, ready_rx) = channel::<()>();
        let (tx, rx) = channel::<i32>();
        let receiver = thread::spawn(move || {
            ready_tx.send(()).unwrap();
            for _ in 0..40 {
                assert_eq!(rx.recv().unwrap(), 1);
            }
        });
        ready_rx.recv().unwrap();
        let sender = thread::spawn(move || {
            for _ in 0..40 {
                tx.send(1).unwrap();
            }
        });
        receiver.join().unwrap();
        sender.join().unwrap();

        let (tx, rx) = channel::<i32>();
        let receiver = thread::spawn(move || {
            for _ in 0..40 {
                assert_eq!(rx.recv().unwrap(), 1);
            }
        });
        for _ in 0..40 {
            tx.send(1).unwrap();
        }
        receiver.join().unwrap();
    });
}

/// std's "oneshot" stress loops (one round each, as std runs them without RUST_TEST_STRESS):
/// ends dropped in other threads, sends racing drops, nested spawns.
#[test]
fn channel_ends_dropped_in_other_threads() {
    on_each_model(|| {
        for _ in 0..10 {
            let (tx, rx) = channel::<i32>();
            thread::spawn(move || drop(rx));
            drop(tx);

            let (tx, rx) = channel::<i32>();
            thread::spawn(move || drop(rx));
            let _ = thread::spawn(move || tx.send(1).unwrap()).join();

            let (tx, rx) = channel::<i32>();
            let waiter = thread::spawn(move || {
                let joined = thread::spawn(move || {
                    rx.recv().unwrap();
                })
                .join();
                assert!(joined.is_err());
            });
            thread::spawn(move || {
                thread::spawn(move || drop(tx));
            });
            waiter.join().unwrap();

            let (tx, rx) = channel::<Box<isize>>();
            thread::spawn(move || tx.send(Box::new(10)).unwrap());
            assert_eq!(*rx.recv().unwrap(), 10);
        }
    });
}

/// Each message is sent by a fresh thread that then hands the sender on to the next, and each
/// is received by a fresh thread likewise: order is still kept.
#[test]
fn channel_ends_passed_along_chains_of_threads() {
    fn send_chain(tx: Sender<Box<i32>>, i: i32) {
        if i == 10 {
            return;
        }
        thread::spawn(move || {
            tx.send(Box::new(i)).unwrap();
            send_chain(tx, i + 1);
        });
    }
    fn recv_chain(rx: Receiver<Box<i32>>, i: i32, done: Sender<()>) {
        if i == 10 {
            done.send(()).unwrap();
            return;
        }
        thread::spawn(move || {
            assert_eq!(*rx.recv().unwrap(), i);
            recv_chain(rx, i + 1, done);
        });
    }
    on_each_model(|| {
        let (tx, rx) = channel();
        let (done_tx, done_rx) = channel();
        send_chain(tx, 0);
        recv_chain(rx, 0, done_tx);
        done_rx.recv().unwrap();
    });
}

/// recv_timeout keeps working while a sender alternates between fast and slow sends; the loop
/// ends on disconnection with every message received.
#[test]
fn channel_recv_timeout_against_slow_senders() {
    on_each_model(|| {
        let (tx, rx) = channel();
        let sends = 51;
        let timeout = Duration::from_millis(5);
        thread::spawn(move || {
            for i in 0..sends {
                if i % 10 == 0 {
                    thread::sleep(timeout * 2); // std sleeps every other send
                }
                tx.send(1usize).unwrap();
            }
        });
        let mut received = 0;
        loop {
            match rx.recv_timeout(timeout) {
                Ok(n) => {
                    assert_eq!(n, 1);
                    received += 1;
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        assert_eq!(received, sends);

        // Many senders, each sleeping a different time before its one message.
        let (tx, rx) = channel();
        let senders = 101;
        for i in 0..senders {
            let tx = tx.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(i)); // std: i * 10 ms
                tx.send(1usize).unwrap();
            });
        }
        drop(tx);
        let mut received = 0;
        loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(_) => received += 1,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        assert_eq!(received, senders);
    });
}

/// A timeout of u64::MAX seconds does not overflow: it waits like `recv`.
#[test]
fn channel_recv_timeout_of_u64_max_seconds() {
    on_each_model(|| {
        let (tx, rx) = channel::<()>();
        let waiter = thread::spawn(move || rx.recv_timeout(Duration::from_secs(u64::MAX)));
        thread::sleep(Duration::from_millis(100)); // std: 1 s
        assert!(tx.send(()).is_ok());
        assert_eq!(waiter.join().unwrap(), Ok(()));
    });
}

#[test]
fn channel_many_senders_then_recv_timeout() {
    on_each_model(|| {
        let (tx, rx) = channel();
        for _ in 0..5 {
            let tx = tx.clone();
            thread::spawn(move || tx.send(()).unwrap());
        }
        for _ in 0..5 {
            rx.recv().unwrap();
        }
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Ok(()));

        let (tx, rx) = channel();
        for _ in 0..101 {
            let tx = tx.clone();
            thread::spawn(move || tx.send(()).unwrap());
        }
        for _ in 0..101 {
            rx.recv().unwrap();
        }
    });
}

#[test]
fn channel_iterators_across_threads() {
    on_each_model(|| {
        // Sum until disconnected.
        let (tx, rx) = channel::<i32>();
        let (total_tx, total_rx) = channel::<i32>();
        thread::spawn(move || total_tx.send(rx.iter().sum()).unwrap());
        for x in [3, 1, 2] {
            tx.send(x).unwrap();
        }
        drop(tx);
        assert_eq!(total_rx.recv().unwrap(), 6);

        // Leave the iterator early.
        let (tx, rx) = channel::<i32>();
        let (count_tx, count_rx) = channel();
        thread::spawn(move || {
            let mut count = 0;
            for x in rx.iter() {
                if count >= 3 {
                    break;
                }
                count += x;
            }
            count_tx.send(count).unwrap();
        });
        for _ in 0..3 {
            tx.send(2).unwrap();
        }
        let _ = tx.send(2);
        drop(tx);
        assert_eq!(count_rx.recv().unwrap(), 4);
    });
}

/// try_iter drains what is there without blocking; the asker sends requests until the answers
/// add up to 6. The asker never parks (try_iter, then an unbounded send, in a loop): on green
/// threads the answering thread gets its worker back only through the asker's yields.
fn try_iter_against_a_busy_asker() {
    let (request_tx, request_rx) = channel();
    let (response_tx, response_rx) = channel();
    let asker = thread::spawn(move || {
        let mut count = 0;
        loop {
            for x in response_rx.try_iter() {
                count += x;
                if count == 6 {
                    return count;
                }
            }
            request_tx.send(()).unwrap();
        }
    });
    for _ in request_rx.iter() {
        if response_tx.send(2).is_err() {
            break;
        }
    }
    assert_eq!(asker.join().unwrap(), 6);
}

#[test]
fn channel_try_iter_against_a_busy_asker() {
    // From a plain OS thread the asker is a green thread, but the answers come from here.
    try_iter_against_a_busy_asker();
    use zsync::runtime::{Builder, Flavor};
    Builder::new()
        .worker_threads(2)
        .flavor(Flavor::OsThreads)
        .build()
        .unwrap()
        .block_on(try_iter_against_a_busy_asker);
}

#[test]
fn channel_try_iter_against_a_busy_asker_on_green_threads() {
    // The asker never parks: the coop budget of its non-parking calls (and the monitor's yield
    // requests) give the answering thread its worker back.
    for workers in [1, 2] {
        let rt = common::runtime(workers);
        for _ in 0..20 {
            rt.block_on(try_iter_against_a_busy_asker);
        }
    }
}

#[test]
fn channel_try_recv_states_across_threads() {
    on_each_model(|| {
        let (tx1, rx1) = channel::<i32>();
        let (tx2, rx2) = channel::<()>();
        let (tx3, rx3) = channel::<()>();
        thread::spawn(move || {
            rx2.recv().unwrap();
            tx1.send(1).unwrap();
            tx3.send(()).unwrap();
            rx2.recv().unwrap();
            drop(tx1);
            tx3.send(()).unwrap();
        });
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
        tx2.send(()).unwrap();
        rx3.recv().unwrap();
        assert_eq!(rx1.try_recv(), Ok(1));
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
        tx2.send(()).unwrap();
        rx3.recv().unwrap();
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// The receiver is dropped by a thread that received once, while the main thread clones its
/// sender and sends (std's regression test for a livelock in the receiver's destructor).
#[test]
fn channel_receiver_dropped_while_a_cloned_sender_sends() {
    on_each_model(|| {
        let (tx, rx) = channel();
        let (done_tx, done_rx) = channel();
        thread::spawn(move || {
            rx.recv().unwrap();
            drop(rx);
            done_tx.send(()).unwrap();
        });
        for _ in 0..500 {
            thread::yield_now(); // std: 5,000
        }
        let tx2 = tx.clone();
        drop(tx);
        tx2.send(()).unwrap();
        done_rx.recv().unwrap();
    });
}

/// recv_timeout while the only sender is held by a sleeping thread that clones it (std's
/// issue 39364).
#[test]
fn channel_recv_timeout_while_the_sender_is_cloned() {
    on_each_model(|| {
        let (tx, rx) = channel::<()>();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30)); // std: 300 ms
            let _ = tx.clone();
            tx
        });
        let _ = rx.recv_timeout(Duration::from_millis(50)); // std: 500 ms
        let _tx = t.join().unwrap();
        let _ = rx.recv_timeout(Duration::from_millis(50));
    });
}

// ---- sync_channel ----

#[test]
fn sync_channel_basics_on_one_thread() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<i32>(1);
        tx.send(1).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        let tx2 = tx.clone();
        tx2.send(1).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        let (tx, _rx) = sync_channel::<Box<isize>>(1);
        tx.send(Box::new(1)).unwrap(); // dropped with the channel
        let (_tx, rx) = sync_channel::<i32>(0);
        drop(rx);
        let (tx, _rx) = sync_channel::<i32>(0);
        drop(tx);
        // recv_timeout
        let (tx, rx) = sync_channel::<i32>(1);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send(1).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Ok(1));
    });
}

/// std's bounded channel allocates its buffer of slots (a message and a `usize` stamp each) up
/// front: a bound whose buffer would be over `isize::MAX` bytes panics with "capacity overflow",
/// whatever the message type (even `()`); a bound just under that line does not overflow (std
/// would then fail the allocation itself, which zsync does not make).
#[test]
fn sync_channel_with_a_capacity_std_cannot_size_panics() {
    fn panic_message(bound: usize, make: fn(usize)) -> Option<String> {
        let payload = std::panic::catch_unwind(|| make(bound)).err()?;
        Some(match payload.downcast::<String>() {
            Ok(text) => *text,
            Err(payload) => payload.downcast_ref::<&str>().unwrap().to_string(),
        })
    }
    on_each_model(|| {
        let bytes = |bound| drop(sync_channel::<u8>(bound));
        let units = |bound| drop(sync_channel::<()>(bound));
        let blocks = |bound| drop(sync_channel::<[u64; 4]>(bound));
        let overflow = Some("capacity overflow".to_string());
        assert_eq!(panic_message(usize::MAX, bytes), overflow);
        assert_eq!(panic_message(usize::MAX, units), overflow);
        // A u8 slot is 16 bytes; a [u64; 4] slot 40.
        assert_eq!(panic_message(isize::MAX as usize / 16 + 1, bytes), overflow);
        assert_eq!(panic_message(isize::MAX as usize / 16, bytes), None);
        assert_eq!(
            panic_message(isize::MAX as usize / 40 + 1, blocks),
            overflow
        );
        assert_eq!(panic_message(isize::MAX as usize / 40, blocks), None);
        // Rendezvous channels allocate nothing.
        assert_eq!(panic_message(0, bytes), None);
    });
}

#[test]
fn sync_channel_disconnection() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<Box<i32>>(0);
        drop(rx);
        assert!(tx.send(Box::new(1)).is_err());
        let (tx, rx) = sync_channel::<i32>(0);
        drop(rx);
        let tx2 = tx.clone();
        drop(tx);
        assert!(tx2.send(1).is_err());
        let (tx, rx) = sync_channel::<i32>(0);
        drop(tx);
        assert!(rx.recv().is_err());
        let (tx, rx) = sync_channel::<()>(0);
        let tx2 = tx.clone();
        drop(tx);
        drop(tx2);
        assert!(rx.recv().is_err());
        let joined = thread::spawn(|| {
            let (tx, rx) = sync_channel::<i32>(0);
            drop(tx);
            rx.recv().unwrap();
        })
        .join();
        assert!(joined.is_err());
    });
}

#[test]
fn sync_channel_try_send_and_try_recv() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<i32>(1);
        assert_eq!(tx.try_send(10), Ok(()));
        assert_eq!(rx.recv().unwrap(), 10);
        // A rendezvous channel with nobody receiving is full.
        let (tx, _rx) = sync_channel::<i32>(0);
        assert_eq!(tx.try_send(10), Err(TrySendError::Full(10)));
        let (tx, rx) = sync_channel::<i32>(0);
        drop(rx);
        assert_eq!(tx.try_send(10), Err(TrySendError::Disconnected(10)));
        // Capacity one: one try_send fits, the next is full; disconnected once rx is gone.
        let (tx, rx) = sync_channel::<i32>(1);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        drop(rx);
        assert_eq!(tx.try_send(1), Err(TrySendError::Disconnected(1)));
        // Buffered data is still received after the sender is gone, then Disconnected.
        let (tx, rx) = sync_channel::<i32>(1);
        tx.send(10).unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(10));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        let (tx, rx) = sync_channel::<i32>(1);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send(10).unwrap();
        assert_eq!(rx.try_recv(), Ok(10));
        let (tx, rx) = sync_channel::<i32>(0);
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        let (_tx, rx) = sync_channel::<i32>(0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn sync_channel_between_threads() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<i32>(0);
        thread::spawn(move || tx.send(1).unwrap());
        assert_eq!(rx.recv().unwrap(), 1);
        let (tx, rx) = sync_channel::<Box<i32>>(0);
        let t = thread::spawn(move || assert_eq!(*rx.recv().unwrap(), 10));
        tx.send(Box::new(10)).unwrap();
        t.join().unwrap();
        // A blocked rendezvous send fails when the receiver quits after one message.
        let (tx, rx) = sync_channel::<i32>(0);
        thread::spawn(move || {
            rx.recv().unwrap();
        });
        while tx.send(1).is_ok() {}
        let (tx, rx) = sync_channel::<i32>(0);
        let tx2 = tx.clone();
        thread::spawn(move || {
            rx.recv().unwrap();
        });
        while tx.send(1).is_ok() && tx2.send(1).is_ok() {}
        let (tx, rx) = sync_channel::<i32>(0);
        thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(1).unwrap();
        });
        while rx.recv().is_ok() {}
        let (tx, rx) = sync_channel::<Box<i32>>(0);
        thread::spawn(move || drop(tx));
        let joined = thread::spawn(move || assert_eq!(*rx.recv().unwrap(), 10)).join();
        assert!(joined.is_err());
    });
}

#[test]
fn sync_channel_stress() {
    on_each_model(|| {
        const COUNT: u32 = 10_000;
        let (tx, rx) = sync_channel::<u32>(0);
        thread::spawn(move || {
            for i in 0..COUNT {
                tx.send(i).unwrap();
            }
        });
        for i in 0..COUNT {
            assert_eq!(rx.recv().unwrap(), i);
        }

        // The same with recv_timeout(1 ms) receiving.
        let (tx, rx) = sync_channel::<u32>(0);
        thread::spawn(move || {
            for _ in 0..COUNT {
                tx.send(1).unwrap();
            }
        });
        let mut received = 0;
        loop {
            match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(v) => {
                    assert_eq!(v, 1);
                    received += 1;
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        assert_eq!(received, COUNT);
    });
}

#[test]
fn sync_channel_stress_many_senders() {
    on_each_model(|| {
        const SENDERS: u32 = 8;
        const EACH: u32 = 1_000;
        for use_timeout in [false, true] {
            let (tx, rx) = sync_channel::<u32>(0);
            let (done_tx, done_rx) = sync_channel::<()>(0);
            thread::spawn(move || {
                let mut received = 0;
                if use_timeout {
                    loop {
                        match rx.recv_timeout(Duration::from_millis(10)) {
                            Ok(_) => received += 1,
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                } else {
                    for _ in 0..SENDERS * EACH {
                        rx.recv().unwrap();
                        received += 1;
                    }
                }
                assert_eq!(received, SENDERS * EACH);
                assert!(rx.try_recv().is_err());
                done_tx.send(()).unwrap();
            });
            for _ in 0..SENDERS {
                let tx = tx.clone();
                thread::spawn(move || {
                    for _ in 0..EACH {
                        tx.send(1).unwrap();
                    }
                });
            }
            drop(tx);
            done_rx.recv().unwrap();
        }
    });
}

#[test]
fn sync_channel_ends_dropped_in_other_threads() {
    on_each_model(|| {
        for _ in 0..10 {
            let (tx, rx) = sync_channel::<i32>(0);
            thread::spawn(move || drop(rx));
            drop(tx);

            let (tx, rx) = sync_channel::<i32>(0);
            thread::spawn(move || drop(rx));
            let _ = thread::spawn(move || tx.send(1).unwrap()).join();

            let (tx, rx) = sync_channel::<i32>(0);
            let waiter = thread::spawn(move || {
                let joined = thread::spawn(move || {
                    rx.recv().unwrap();
                })
                .join();
                assert!(joined.is_err());
            });
            thread::spawn(move || {
                thread::spawn(move || drop(tx));
            });
            waiter.join().unwrap();

            let (tx, rx) = sync_channel::<Box<i32>>(0);
            thread::spawn(move || tx.send(Box::new(10)).unwrap());
            assert_eq!(*rx.recv().unwrap(), 10);
        }
    });
}

#[test]
fn sync_channel_ends_passed_along_chains_of_threads() {
    fn send_chain(tx: SyncSender<Box<i32>>, i: i32) {
        if i == 10 {
            return;
        }
        thread::spawn(move || {
            tx.send(Box::new(i)).unwrap();
            send_chain(tx, i + 1);
        });
    }
    fn recv_chain(rx: Receiver<Box<i32>>, i: i32, done: Sender<()>) {
        if i == 10 {
            done.send(()).unwrap();
            return;
        }
        thread::spawn(move || {
            assert_eq!(*rx.recv().unwrap(), i);
            recv_chain(rx, i + 1, done);
        });
    }
    on_each_model(|| {
        let (tx, rx) = sync_channel(0);
        let (done_tx, done_rx) = channel();
        send_chain(tx, 0);
        recv_chain(rx, 0, done_tx);
        done_rx.recv().unwrap();
    });
}

#[test]
fn sync_channel_many_messages_and_senders() {
    on_each_model(|| {
        let (tx, rx) = sync_channel(10_000);
        for _ in 0..10_000 {
            tx.send(()).unwrap();
        }
        for _ in 0..10_000 {
            rx.recv().unwrap();
        }
        let (tx, rx) = sync_channel(0);
        for _ in 0..101 {
            let tx = tx.clone();
            thread::spawn(move || tx.send(()).unwrap());
        }
        for _ in 0..101 {
            rx.recv().unwrap();
        }
    });
}

#[test]
fn sync_channel_iterators_and_try_recv_states() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<i32>(0);
        let (total_tx, total_rx) = sync_channel::<i32>(0);
        thread::spawn(move || total_tx.send(rx.iter().sum()).unwrap());
        for x in [3, 1, 2] {
            tx.send(x).unwrap();
        }
        drop(tx);
        assert_eq!(total_rx.recv().unwrap(), 6);

        let (tx, rx) = sync_channel::<i32>(0);
        let (count_tx, count_rx) = sync_channel(0);
        thread::spawn(move || {
            let mut count = 0;
            for x in rx.iter() {
                if count >= 3 {
                    break;
                }
                count += x;
            }
            count_tx.send(count).unwrap();
        });
        for _ in 0..3 {
            tx.send(2).unwrap();
        }
        let _ = tx.try_send(2);
        drop(tx);
        assert_eq!(count_rx.recv().unwrap(), 4);

        let (tx1, rx1) = sync_channel::<i32>(1);
        let (tx2, rx2) = sync_channel::<()>(1);
        let (tx3, rx3) = sync_channel::<()>(1);
        thread::spawn(move || {
            rx2.recv().unwrap();
            tx1.send(1).unwrap();
            tx3.send(()).unwrap();
            rx2.recv().unwrap();
            drop(tx1);
            tx3.send(()).unwrap();
        });
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
        tx2.send(()).unwrap();
        rx3.recv().unwrap();
        assert_eq!(rx1.try_recv(), Ok(1));
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
        tx2.send(()).unwrap();
        rx3.recv().unwrap();
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Disconnected));
    });
}

#[test]
fn sync_channel_receiver_dropped_while_a_cloned_sender_sends() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<()>(0);
        let (done_tx, done_rx) = sync_channel::<()>(0);
        thread::spawn(move || {
            rx.recv().unwrap();
            drop(rx);
            done_tx.send(()).unwrap();
        });
        for _ in 0..500 {
            thread::yield_now(); // std: 5,000
        }
        let tx2 = tx.clone();
        drop(tx);
        tx2.send(()).unwrap();
        done_rx.recv().unwrap();
    });
}

/// std's send1..send4: a rendezvous send completes when received, fails when the receiver
/// goes away (before or while the sender waits), also for two blocked senders at once.
#[test]
fn sync_channel_blocked_sends_and_receiver_drops() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<i32>(0);
        thread::spawn(move || {
            rx.recv().unwrap();
        });
        assert_eq!(tx.send(1), Ok(()));

        let (tx, rx) = sync_channel::<i32>(0);
        thread::spawn(move || drop(rx));
        assert!(tx.send(1).is_err());

        let (tx, rx) = sync_channel::<i32>(1);
        assert_eq!(tx.send(1), Ok(()));
        thread::spawn(move || drop(rx));
        assert!(tx.send(1).is_err());

        let (tx, rx) = sync_channel::<i32>(0);
        let tx2 = tx.clone();
        let (done, done_rx) = channel();
        let done2 = done.clone();
        thread::spawn(move || {
            assert!(tx.send(1).is_err());
            done.send(()).unwrap();
        });
        thread::spawn(move || {
            assert!(tx2.send(2).is_err());
            done2.send(()).unwrap();
        });
        drop(rx);
        done_rx.recv().unwrap();
        done_rx.recv().unwrap();
    });
}

/// std's issue 15761: a try_send answering a receive, a hundred times.
#[test]
fn sync_channel_try_send_answers_a_recv() {
    on_each_model(|| {
        for _ in 0..100 {
            let (tx1, rx1) = sync_channel::<()>(3);
            let (tx2, rx2) = sync_channel::<()>(3);
            thread::spawn(move || {
                rx1.recv().unwrap();
                tx2.try_send(()).unwrap();
            });
            tx1.try_send(()).unwrap();
            rx2.recv().unwrap();
        }
    });
}

/// Messages still queued when the receiver goes are dropped right then, not when the last
/// sender goes.
#[test]
fn sync_channel_drops_unreceived_messages_with_the_receiver() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<Rc<()>>(1);
        let msg = Rc::new(());
        let weak = Rc::downgrade(&msg);
        assert!(tx.send(msg).is_ok());
        drop(rx);
        assert!(weak.upgrade().is_none());
        drop(tx);
    });
}
