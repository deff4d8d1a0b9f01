//! `zsync::sync::mpsc`, `oneshot` and `select!`: std's channel semantics case by case, green
//! threads and OS threads talking both ways, and no message lost under cancellation.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::sync::mpsc::{
    self, channel, sync_channel, Receiver, RecvError, RecvTimeoutError, SendError, Sender,
    SyncSender, TryRecvError, TrySendError,
};
use zsync::sync::oneshot;
use zsync::thread;
use zsync::time::timeout;

mod common;
use common::{assert_not_impl, on_each_model, rng, runtime};

#[test]
fn auto_traits_match_std() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    send_sync::<Sender<Vec<u8>>>();
    send_sync::<SyncSender<Vec<u8>>>();
    send::<Receiver<Vec<u8>>>();
    send_sync::<oneshot::Sender<u8>>();
    send::<oneshot::Receiver<u8>>();
    unwind_safe::<Sender<std::cell::Cell<u8>>>();
    unwind_safe::<SyncSender<std::cell::Cell<u8>>>();
    unwind_safe::<Receiver<std::cell::Cell<u8>>>();
    // Receiver is not Sync, as in std.
    assert_not_impl!(Receiver<u8>: Sync);
    // The error types are std's.
    let _: std::sync::mpsc::SendError<u8> = SendError(1);
    let _: std::sync::mpsc::RecvError = RecvError;
    assert_eq!(format!("{:?}", channel::<u8>().0), "Sender { .. }");
    assert_eq!(
        format!("{:?}", sync_channel::<u8>(0).0),
        "SyncSender { .. }"
    );
    assert_eq!(format!("{:?}", channel::<u8>().1), "Receiver { .. }");
}

#[test]
fn fifo_per_sender() {
    for bound in [None, Some(0), Some(1), Some(16)] {
        runtime(2).block_on(move || {
            const SENDERS: u64 = 8;
            const EACH: u64 = 2_000;
            let (rx, handles) = match bound {
                None => {
                    let (tx, rx) = channel();
                    let hs: Vec<_> = (0..SENDERS)
                        .map(|s| {
                            let tx = tx.clone();
                            thread::spawn(move || (0..EACH).for_each(|i| tx.send((s, i)).unwrap()))
                        })
                        .collect();
                    (rx, hs)
                }
                Some(n) => {
                    let (tx, rx) = sync_channel(n);
                    let hs: Vec<_> = (0..SENDERS)
                        .map(|s| {
                            let tx = tx.clone();
                            thread::spawn(move || (0..EACH).for_each(|i| tx.send((s, i)).unwrap()))
                        })
                        .collect();
                    (rx, hs)
                }
            };
            let mut next = vec![0u64; SENDERS as usize];
            for (s, i) in rx.iter() {
                assert_eq!(i, next[s as usize], "sender {s} out of order ({bound:?})");
                next[s as usize] += 1;
            }
            assert!(next.iter().all(|n| *n == EACH));
            handles.into_iter().for_each(|h| h.join().unwrap());
        });
    }
}

#[test]
fn disconnection_both_ways() {
    on_each_model(|| {
        // Receiver gone: sends fail and hand the message back.
        let (tx, rx) = channel();
        drop(rx);
        assert_eq!(tx.send(1), Err(SendError(1)));
        let (tx, rx) = sync_channel(1);
        drop(rx);
        assert_eq!(tx.send(1), Err(SendError(1)));
        assert_eq!(tx.try_send(2), Err(TrySendError::Disconnected(2)));

        // Senders gone: queued messages are still delivered, then RecvError.
        let (tx, rx) = channel();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(1));
        drop(tx2);
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        );
    });
}

#[test]
fn disconnection_wakes_blocked_threads() {
    on_each_model(|| {
        // A blocked receiver is woken when the last sender goes.
        let (tx, rx) = channel::<u8>();
        let h = thread::spawn(move || rx.recv());
        thread::sleep(Duration::from_millis(5));
        drop(tx);
        assert_eq!(h.join().unwrap(), Err(RecvError));

        // A blocked sender (full buffer, or rendezvous) is woken when the receiver goes, and
        // gets its message back.
        for bound in [0, 1] {
            let (tx, rx) = sync_channel(bound);
            if bound == 1 {
                tx.send(String::from("first")).unwrap();
            }
            let h = thread::spawn(move || tx.send(String::from("back")));
            thread::sleep(Duration::from_millis(5));
            drop(rx);
            assert_eq!(h.join().unwrap(), Err(SendError(String::from("back"))));
        }
    });
}

#[test]
fn rendezvous_send_waits_for_the_receiver() {
    on_each_model(|| {
        let (tx, rx) = sync_channel(0);
        let sent = Arc::new(AtomicBool::new(false));
        let s = sent.clone();
        let h = thread::spawn(move || {
            tx.send(1).unwrap();
            s.store(true, Ordering::SeqCst);
            tx.send(2).unwrap();
        });
        thread::sleep(Duration::from_millis(20));
        assert!(
            !sent.load(Ordering::SeqCst),
            "send returned with nobody receiving"
        );
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        h.join().unwrap();
        assert!(sent.load(Ordering::SeqCst));

        // try_send succeeds only while a receiver waits.
        let (tx, rx) = sync_channel(0);
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        let h = thread::spawn(move || rx.recv());
        let start = Instant::now();
        loop {
            match tx.try_send(7) {
                Ok(()) => break,
                Err(TrySendError::Full(_)) => {
                    assert!(start.elapsed() < Duration::from_secs(10));
                    thread::yield_now();
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(h.join().unwrap(), Ok(7));

        // A blocked sender's message is taken by try_recv.
        let (tx, rx) = sync_channel(0);
        let h = thread::spawn(move || tx.send(3));
        let start = Instant::now();
        let got = loop {
            match rx.try_recv() {
                Ok(v) => break v,
                Err(TryRecvError::Empty) => {
                    assert!(start.elapsed() < Duration::from_secs(10));
                    thread::yield_now();
                }
                Err(e) => panic!("{e:?}"),
            }
        };
        assert_eq!(got, 3);
        assert_eq!(h.join().unwrap(), Ok(()));
    });
}

#[test]
fn bounded_send_blocks_when_full() {
    on_each_model(|| {
        let (tx, rx) = sync_channel(2);
        tx.send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let h = thread::spawn(move || {
            tx.send(3).unwrap();
            d.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(10));
        assert!(!done.load(Ordering::SeqCst));
        assert_eq!(rx.recv(), Ok(1));
        h.join().unwrap();
        assert_eq!(rx.iter().collect::<Vec<_>>(), [2, 3]);
    });
}

#[test]
fn try_recv_and_recv_timeout() {
    on_each_model(|| {
        let (tx, rx) = channel();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let start = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Timeout)
        );
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(10), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            tx.send(9).unwrap();
            tx
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(9));
        drop(h.join().unwrap());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        // Huge timeouts are fine.
        let (tx, rx) = channel();
        tx.send(1).unwrap();
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
    });
}

#[test]
fn iterators_end_on_disconnection() {
    on_each_model(|| {
        let (tx, rx) = channel();
        let h = thread::spawn(move || {
            for i in 0..5 {
                tx.send(i).unwrap();
            }
        });
        let mut seen = Vec::new();
        for v in &rx {
            seen.push(v);
        }
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        h.join().unwrap();

        let (tx, rx) = sync_channel(10);
        (0..3).for_each(|i| tx.send(i).unwrap());
        let it: mpsc::TryIter<'_, i32> = rx.try_iter();
        assert_eq!(it.collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(rx.try_iter().next(), None);
        tx.send(3).unwrap();
        drop(tx);
        let it: mpsc::Iter<'_, i32> = rx.iter();
        assert_eq!(it.collect::<Vec<_>>(), [3]);
        let (tx, rx) = channel();
        tx.send(1).unwrap();
        drop(tx);
        let it: mpsc::IntoIter<i32> = rx.into_iter();
        assert_eq!(it.collect::<Vec<_>>(), [1]);
    });
}

#[test]
fn green_threads_and_os_threads_talk_both_ways() {
    let rt = runtime(2);
    // OS thread -> green thread, green thread -> OS thread: a ping-pong of 2000 round trips.
    let (to_green, green_rx) = channel::<u32>();
    let (to_os, os_rx) = sync_channel::<u32>(0);
    let os = std::thread::spawn(move || {
        for i in 0..2000 {
            to_green.send(i).unwrap();
            assert_eq!(os_rx.recv(), Ok(i + 1));
        }
    });
    rt.block_on(move || {
        for v in green_rx.iter() {
            to_os.send(v + 1).unwrap();
        }
    });
    os.join().unwrap();

    // Many green threads feeding one OS thread, and one OS thread feeding many green threads.
    let (tx, rx) = sync_channel::<u32>(4);
    let (back_tx, back_rx) = channel::<u32>();
    let h = rt.handle();
    let producers: Vec<_> = (0..50)
        .map(|i| {
            let tx = tx.clone();
            h.spawn(move || (0..100).for_each(|k| tx.send(i * 100 + k).unwrap()))
        })
        .collect();
    drop(tx);
    let os = std::thread::spawn(move || {
        let mut n = 0;
        for v in rx.iter() {
            back_tx.send(v).unwrap();
            n += 1;
        }
        n
    });
    let got: HashSet<u32> = rt.block_on(move || back_rx.iter().collect());
    assert_eq!(os.join().unwrap(), 5000);
    assert_eq!(got.len(), 5000);
    producers.into_iter().for_each(|p| p.join().unwrap());
}

#[test]
fn cancelled_senders_lose_no_acknowledged_message() {
    runtime(2).block_on(|| {
        let (tx, rx) = sync_channel::<u32>(4);
        let acked = Arc::new(std::sync::Mutex::new(HashSet::new()));
        let mut next = rng(5);
        let senders: Vec<_> = (0..200u32)
            .map(|s| {
                let (tx, acked) = (tx.clone(), acked.clone());
                thread::spawn(move || {
                    for k in 0..10 {
                        let v = s * 100 + k;
                        let sent = if k % 3 == 0 {
                            timeout(Duration::from_micros(100), || tx.send(v))
                                .map(|r| r.is_ok())
                                .unwrap_or(false)
                        } else {
                            tx.send(v).is_ok()
                        };
                        if sent {
                            acked.lock().unwrap().insert(v);
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let receiver = thread::spawn(move || {
            let mut got = HashSet::new();
            for v in rx.iter() {
                assert!(got.insert(v), "{v} received twice");
                if v % 7 == 0 {
                    thread::yield_now();
                }
            }
            got
        });
        for h in senders {
            if next(4) == 0 {
                let _ = h.cancel();
            } else {
                h.join().unwrap();
            }
        }
        let got = receiver.join().unwrap();
        let acked = acked.lock().unwrap();
        let lost: Vec<_> = acked.difference(&got).collect();
        assert!(lost.is_empty(), "acknowledged but never received: {lost:?}");
    });
}

#[test]
fn interrupted_receives_lose_no_message() {
    for bound in [None, Some(0), Some(2)] {
        runtime(2).block_on(move || {
            let total = 3000u32;
            let (tx, rx): (Box<dyn Fn(u32) + Send>, Receiver<u32>) = match bound {
                None => {
                    let (tx, rx) = channel();
                    (Box::new(move |v| tx.send(v).unwrap()), rx)
                }
                Some(n) => {
                    let (tx, rx) = sync_channel(n);
                    (Box::new(move |v| tx.send(v).unwrap()), rx)
                }
            };
            let producer = thread::spawn(move || {
                for v in 0..total {
                    tx(v);
                    if v % 50 == 0 {
                        thread::sleep(Duration::from_micros(300));
                    }
                }
            });
            // The receiver's waits are cut short by timeout() all the time.
            let mut got = Vec::new();
            let mut interrupted = 0;
            loop {
                match timeout(Duration::from_micros(200), || rx.recv()) {
                    Ok(Ok(v)) => got.push(v),
                    Ok(Err(RecvError)) => break,
                    Err(_) => interrupted += 1,
                }
            }
            producer.join().unwrap();
            assert_eq!(got, (0..total).collect::<Vec<_>>(), "{bound:?}");
            assert!(interrupted > 0 || bound.is_some());
        });
    }
}

/// A sender on the receiver's own worker hands its message straight into the waiting
/// receive (which then returns without a second trip through the channel). On one worker, with
/// every kind of channel: the messages of a green thread on that worker and of an OS thread all
/// arrive, once, each sender's in order, while the receiver's waits end by a message, by their
/// deadline (`recv_timeout`) or by `timeout()`.
#[test]
fn receives_handed_on_the_same_worker_lose_nothing() {
    #[derive(Clone)]
    enum Tx {
        Unbounded(Sender<(usize, u32)>),
        Bounded(SyncSender<(usize, u32)>),
    }
    impl Tx {
        fn send(&self, v: (usize, u32)) {
            match self {
                Tx::Unbounded(tx) => tx.send(v).unwrap(),
                Tx::Bounded(tx) => tx.send(v).unwrap(),
            }
        }
    }
    const EACH: u32 = 3000;
    for bound in [None, Some(0), Some(1), Some(8)] {
        runtime(1).block_on(move || {
            let (tx, rx) = match bound {
                None => {
                    let (tx, rx) = channel();
                    (Tx::Unbounded(tx), rx)
                }
                Some(n) => {
                    let (tx, rx) = sync_channel(n);
                    (Tx::Bounded(tx), rx)
                }
            };
            let green_tx = tx.clone();
            let green = thread::spawn(move || {
                for i in 0..EACH {
                    green_tx.send((0, i));
                    if i % 7 == 0 {
                        thread::yield_now();
                    }
                    if i % 101 == 0 {
                        thread::sleep(Duration::from_micros(50));
                    }
                }
            });
            let os = std::thread::spawn(move || {
                for i in 0..EACH {
                    tx.send((1, i));
                    if i % 64 == 0 {
                        std::thread::sleep(Duration::from_micros(20));
                    }
                }
            });
            let mut next = [0u32; 2];
            let (mut timed_out, mut interrupted) = (0, 0);
            for round in 0u32.. {
                let got = match round % 3 {
                    0 => rx.recv().map_err(|_| ()),
                    1 => match rx.recv_timeout(Duration::from_micros(30)) {
                        Err(RecvTimeoutError::Timeout) => {
                            timed_out += 1;
                            continue;
                        }
                        other => other.map_err(|_| ()),
                    },
                    _ => match timeout(Duration::from_micros(30), || rx.recv()) {
                        Err(_) => {
                            interrupted += 1;
                            continue;
                        }
                        Ok(got) => got.map_err(|_| ()),
                    },
                };
                let Ok((sender, i)) = got else { break };
                assert_eq!(i, next[sender], "sender {sender} out of order ({bound:?})");
                next[sender] += 1;
            }
            assert_eq!(next, [EACH, EACH], "{bound:?}");
            green.join().unwrap();
            os.join().unwrap();
            // Not asserted: whether any wait ran out depends on the machine's speed.
            let _ = (timed_out, interrupted);
        });
    }
}

/// A receive handed its message on its own worker and then cancelled before it runs again
/// returns the message: the cancellation is raised at its next park point, and the message is
/// not lost.
#[test]
fn a_receive_handed_its_message_returns_it_before_a_cancellation() {
    runtime(1).block_on(|| {
        let (tx, rx) = channel::<u32>();
        let got = Arc::new(AtomicUsize::new(0));
        let got2 = got.clone();
        let receiver = thread::spawn(move || {
            let v = rx.recv().unwrap();
            got2.store(v as usize, Ordering::SeqCst);
            thread::yield_now(); // the park point that raises the cancellation
            unreachable!("cancelled at the yield");
        });
        // Let the receiver block in `recv` (one worker: it runs while this thread yields).
        for _ in 0..10 {
            thread::yield_now();
        }
        tx.send(7).unwrap();
        let result = receiver.cancel();
        assert!(result.unwrap_err().is::<zsync::Cancelled>());
        assert_eq!(got.load(Ordering::SeqCst), 7);
    });
}

// ---- oneshot ----

#[test]
fn oneshot_semantics() {
    on_each_model(|| {
        let (tx, rx) = oneshot::channel();
        let h = thread::spawn(move || tx.send(5));
        assert_eq!(rx.recv(), Ok(5));
        assert_eq!(h.join().unwrap(), Ok(()));

        let (tx, rx) = oneshot::channel::<u8>();
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv(), Err(RecvError));

        let (tx, rx) = oneshot::channel();
        drop(rx);
        assert_eq!(tx.send(String::from("x")), Err(String::from("x")));

        let (tx, rx) = oneshot::channel();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(2)),
            Err(RecvTimeoutError::Timeout)
        );
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(2));
            tx.send(1).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(1));
        h.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

// ---- select! ----

#[test]
fn select_picks_the_ready_arm() {
    on_each_model(|| {
        let (tx1, rx1) = channel::<u32>();
        let (_tx2, rx2) = channel::<&str>();
        tx1.send(1).unwrap();
        let r = zsync::select! {
            recv(rx1) -> msg => msg.unwrap(),
            recv(rx2) -> _msg => unreachable!(),
        };
        assert_eq!(r, 1);

        // Blocks until another thread sends.
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            tx1.send(2).unwrap();
        });
        let r = zsync::select! {
            recv(rx2) -> _msg => 0,
            recv(rx1) -> msg => { msg.unwrap() }
        };
        assert_eq!(r, 2);
        h.join().unwrap();

        // A disconnected channel is ready, with the error.
        let r = zsync::select! {
            recv(rx1) -> msg => msg,
            recv(rx2) -> _msg => unreachable!(),
        };
        assert_eq!(r, Err(RecvError));
    });
}

#[test]
fn select_default_and_timeout() {
    on_each_model(|| {
        let (tx, rx) = channel::<u8>();
        let r = zsync::select! {
            recv(rx) -> _m => "message",
            default => "nothing ready",
        };
        assert_eq!(r, "nothing ready");
        let start = Instant::now();
        let r = zsync::select! {
            recv(rx) -> _m => "message",
            default(Duration::from_millis(10)) => "timed out",
        };
        assert_eq!(r, "timed out");
        assert!(start.elapsed() >= Duration::from_millis(10));
        tx.send(1).unwrap();
        let r = zsync::select! {
            recv(rx) -> m => m.unwrap(),
            default(Duration::from_secs(30)) => 0,
        };
        assert_eq!(r, 1);
        // No arms at all, only a timeout.
        let r = zsync::select! { default(Duration::from_millis(1)) => 5 };
        assert_eq!(r, 5);
    });
}

#[test]
fn select_send_arms() {
    on_each_model(|| {
        let (tx, rx) = sync_channel::<u32>(1);
        let (utx, urx) = channel::<u32>();
        // Full bounded channel: only the unbounded send is ready.
        tx.send(0).unwrap();
        let r = zsync::select! {
            send(tx, 1) -> res => { res.unwrap(); "bounded" }
            send(utx, 2) -> res => { res.unwrap(); "unbounded" }
        };
        assert_eq!(r, "unbounded");
        assert_eq!(urx.try_recv(), Ok(2));
        // It becomes ready when the receiver makes room.
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            assert_eq!(rx.recv(), Ok(0));
            assert_eq!(rx.recv(), Ok(1));
            rx
        });
        let r = zsync::select! {
            send(tx, 1) -> res => res,
        };
        assert_eq!(r, Ok(()));
        let rx = h.join().unwrap();
        drop(rx);
        let r = zsync::select! {
            send(tx, 9) -> res => res,
        };
        assert_eq!(r, Err(SendError(9)));
        // Rendezvous: the select sender meets a blocking receiver, and the other way round.
        let (ztx, zrx) = sync_channel::<u32>(0);
        let h = thread::spawn(move || zrx.recv());
        let r = zsync::select! {
            send(ztx, 5) -> res => res,
            default(Duration::from_secs(30)) => panic!("no receiver came"),
        };
        assert_eq!(r, Ok(()));
        assert_eq!(h.join().unwrap(), Ok(5));
        let (ztx, zrx) = sync_channel::<u32>(0);
        let h = thread::spawn(move || ztx.send(6));
        let r = zsync::select! {
            recv(zrx) -> m => m,
            default(Duration::from_secs(30)) => panic!("no sender came"),
        };
        assert_eq!(r, Ok(6));
        assert_eq!(h.join().unwrap(), Ok(()));
    });
}

#[test]
fn select_on_both_ends_of_a_rendezvous() {
    runtime(2).block_on(|| {
        let (tx, rx) = sync_channel::<u32>(0);
        let (_keep, never) = channel::<u32>();
        let h = thread::spawn(move || {
            for i in 0..200 {
                zsync::select! {
                    send(tx, i) -> res => res.unwrap(),
                    recv(never) -> _m => unreachable!(),
                }
            }
        });
        let (_keep2, never2) = channel::<u32>();
        for i in 0..200 {
            let v = zsync::select! {
                recv(rx) -> m => m.unwrap(),
                recv(never2) -> _m => unreachable!(),
            };
            assert_eq!(v, i);
        }
        h.join().unwrap();
    });
}

#[test]
fn select_is_fair_among_ready_arms() {
    let (tx1, rx1) = channel::<()>();
    let (tx2, rx2) = channel::<()>();
    for _ in 0..1000 {
        tx1.send(()).unwrap();
        tx2.send(()).unwrap();
    }
    let (mut a, mut b) = (0, 0);
    for _ in 0..1000 {
        zsync::select! {
            recv(rx1) -> _m => a += 1,
            recv(rx2) -> _m => b += 1,
        }
    }
    assert!(a > 200 && b > 200, "unfair: {a} vs {b}");
}

#[test]
fn select_with_oneshot_and_references() {
    on_each_model(|| {
        let (otx, orx) = oneshot::channel::<u8>();
        let (_tx, rx) = channel::<u8>();
        let rx_ref = &rx;
        let h = thread::spawn(move || otx.send(4).unwrap());
        let r = zsync::select! {
            recv(rx_ref) -> _m => 0,
            recv(orx) -> m => m.unwrap(),
        };
        assert_eq!(r, 4);
        h.join().unwrap();
    });
}

#[test]
fn interrupted_selects_lose_no_message() {
    runtime(2).block_on(|| {
        let (tx1, rx1) = channel::<u32>();
        let (tx2, rx2) = sync_channel::<u32>(1);
        let p1 = thread::spawn(move || {
            for v in 0..1000 {
                tx1.send(v).unwrap();
                if v % 20 == 0 {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        });
        let p2 = thread::spawn(move || {
            for v in 1000..2000 {
                tx2.send(v).unwrap();
            }
        });
        let mut got = Vec::new();
        let (mut open1, mut open2) = (true, true);
        while open1 || open2 {
            let r = timeout(Duration::from_micros(150), || {
                zsync::select! {
                    recv(rx1) -> m => (1, m),
                    recv(rx2) -> m => (2, m),
                }
            });
            match r {
                Ok((_, Ok(v))) => got.push(v),
                Ok((1, Err(_))) => {
                    open1 = false;
                    // Keep selecting on the other one alone.
                    got.extend(rx2.iter());
                    open2 = false;
                }
                Ok((_, Err(_))) => {
                    open2 = false;
                    got.extend(rx1.iter());
                    open1 = false;
                }
                Err(_) => {}
            }
        }
        p1.join().unwrap();
        p2.join().unwrap();
        got.sort();
        assert_eq!(got, (0..2000).collect::<Vec<_>>());
    });
}

#[test]
fn a_counter_of_blocked_threads_stays_right() {
    // Each round: 50 green threads block on a rendezvous channel, are all served, and the
    // metrics agree that nobody is left parked.
    let rt = runtime(2);
    rt.block_on(|| {
        for _ in 0..10 {
            let (tx, rx) = sync_channel::<u32>(0);
            let served = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..50)
                .map(|i| {
                    let (tx, served) = (tx.clone(), served.clone());
                    thread::spawn(move || {
                        tx.send(i).unwrap();
                        served.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            drop(tx);
            let sum: u32 = rx.iter().sum();
            assert_eq!(sum, (0..50).sum());
            hs.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(served.load(Ordering::SeqCst), 50);
        }
    });
    assert_eq!(rt.metrics().parked, 0);
}
