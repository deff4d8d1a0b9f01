//! A randomized stress test of cancellation: thousands of green threads blocked at every kind of
//! park point (sleep, lock, read lock, condvar, semaphore, recv, send on a full sync_channel,
//! select!, accept, read, join, unblock), a random half of them cancelled or timed out while
//! traffic flows, on 1 and 2 workers. At the end every message, permit, connection and byte is
//! accounted for, no lock is poisoned, no `cancel()` hangs and the runtime drops cleanly.
//!
//! The seed is printed; `ZSYNC_STRESS_SEED=<n>` replays one.

use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::net::{TcpListener, TcpStream};
use zsync::runtime::Builder;
use zsync::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use zsync::sync::{Condvar, Mutex, RwLock, Semaphore};
use zsync::thread::{self, JoinHandle};
use zsync::time::timeout;

mod common;
use common::rng;

const KINDS: u64 = 12;
const PERMITS: usize = 7;
const MESSAGES: usize = 200_000;
const SOCKETS: usize = 8;

/// A set of message numbers, each marked at most once.
struct Marks(Vec<AtomicBool>);

impl Marks {
    fn new() -> Marks {
        Marks((0..MESSAGES).map(|_| AtomicBool::new(false)).collect())
    }
    fn mark(&self, v: u64, what: &str) {
        assert!(
            !self.0[v as usize].swap(true, Ordering::SeqCst),
            "message {v} {what} twice"
        );
    }
    fn get(&self, v: usize) -> bool {
        self.0[v].load(Ordering::SeqCst)
    }
}

/// Everything the green threads share, and the counts that must add up at the end.
struct World {
    counter: Mutex<u64>,
    counted: AtomicU64,
    rw: RwLock<u64>,
    rw_counted: AtomicU64,
    flag: Mutex<u64>,
    cv: Condvar,
    sem: Semaphore,
    /// Unbounded channels fed by the traffic thread; each receiver is shared behind a lock.
    rxs: Vec<Mutex<Receiver<u64>>>,
    /// A pair of channels for `select!`.
    pair: Mutex<(Receiver<u64>, Receiver<u64>)>,
    /// A small bounded channel: stress threads send, the traffic thread receives slowly.
    sync_tx: SyncSender<u64>,
    next_message: AtomicU64,
    sent: Marks,
    received: Marks,
    listener: TcpListener,
    accepted: AtomicU64,
    /// The reading ends of socket pairs the traffic thread writes into.
    readers: Vec<TcpStream>,
    bytes_read: AtomicU64,
    joined: AtomicU64,
    unblocked: AtomicU64,
}

impl World {
    fn message(&self) -> u64 {
        let v = self.next_message.fetch_add(1, Ordering::SeqCst);
        assert!((v as usize) < MESSAGES, "raise MESSAGES");
        v
    }
}

/// One blocking operation of kind `kind`. Every count is updated with no park point between the
/// operation's success and the count, so a cancellation cannot fall in between.
fn operate(world: &World, kind: u64, r: &mut impl FnMut(u64) -> u64) {
    let short = Duration::from_millis(r(3));
    match kind {
        0 => thread::sleep(short),
        1 => {
            let mut g = world.counter.lock().unwrap();
            *g += 1;
            world.counted.fetch_add(1, Ordering::SeqCst);
            thread::sleep(short); // parked while holding the lock
        }
        2 => {
            if r(4) == 0 {
                let mut w = world.rw.write().unwrap();
                *w += 1;
                world.rw_counted.fetch_add(1, Ordering::SeqCst);
                thread::sleep(short);
            } else {
                let _r = world.rw.read().unwrap();
                thread::sleep(short);
            }
        }
        3 => {
            let g = world.flag.lock().unwrap();
            let seen = *g;
            let (g, _) = world
                .cv
                .wait_timeout_while(g, Duration::from_millis(5), |f| *f == seen)
                .unwrap();
            drop(g);
        }
        4 => {
            let permit = world.sem.acquire();
            thread::sleep(short);
            drop(permit);
        }
        5 => {
            let rx = world.rxs[r(world.rxs.len() as u64) as usize]
                .lock()
                .unwrap();
            if let Ok(v) = rx.recv() {
                world.received.mark(v, "received");
            }
        }
        6 => {
            let v = world.message();
            if world.sync_tx.send(v).is_ok() {
                world.sent.mark(v, "sent");
            }
        }
        7 => {
            let pair = world.pair.lock().unwrap();
            let got = zsync::select! {
                recv(pair.0) -> v => v.ok(),
                recv(pair.1) -> v => v.ok(),
                default(Duration::from_millis(r(4))) => None,
            };
            if let Some(v) = got {
                world.received.mark(v, "received");
            }
        }
        8 => {
            if world.listener.accept().is_ok() {
                world.accepted.fetch_add(1, Ordering::SeqCst);
            }
        }
        9 => {
            let mut buf = [0u8; 64];
            let mut stream = &world.readers[r(SOCKETS as u64) as usize];
            if let Ok(n) = stream.read(&mut buf) {
                world.bytes_read.fetch_add(n as u64, Ordering::SeqCst);
            }
        }
        10 => {
            let child = thread::spawn(move || thread::sleep(short));
            if child.join().is_ok() {
                world.joined.fetch_add(1, Ordering::SeqCst);
            }
        }
        _ => {
            zsync::unblock(move || std::thread::sleep(short));
            world.unblocked.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// What the traffic thread produced.
#[derive(Default)]
struct Traffic {
    connects: u64,
    written: u64,
}

/// Feeds the stations until `stop`: messages on the unbounded channels, slow receives from the
/// bounded one, condvar notifications, connections to the listener, bytes into the sockets.
#[allow(clippy::too_many_arguments)]
fn traffic(
    world: &World,
    txs: &[Sender<u64>],
    pair_txs: &(Sender<u64>, Sender<u64>),
    sync_rx: &Receiver<u64>,
    writers: &[TcpStream],
    addr: std::net::SocketAddr,
    stop: &AtomicBool,
    seed: u64,
) -> (Traffic, Vec<TcpStream>) {
    let mut r = rng(seed ^ 0x7aff1c);
    let mut out = Traffic::default();
    let mut clients = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        for _ in 0..4 {
            let v = world.message();
            let sent = match r(3) {
                0 => pair_txs.0.send(v),
                1 => pair_txs.1.send(v),
                _ => txs[r(txs.len() as u64) as usize].send(v),
            };
            sent.unwrap();
            world.sent.mark(v, "sent");
        }
        if let Ok(v) = sync_rx.try_recv() {
            world.received.mark(v, "received");
        }
        if r(4) == 0 {
            *world.flag.lock().unwrap() += 1;
            world.cv.notify_all();
        }
        if r(8) == 0 && clients.len() < 100 {
            clients.push(TcpStream::connect(addr).unwrap());
            out.connects += 1;
        }
        let mut w = &writers[r(SOCKETS as u64) as usize];
        w.write_all(b"0123456789").unwrap();
        out.written += 10;
        thread::sleep(Duration::from_micros(200));
    }
    (out, clients)
}

fn stress(workers: usize, seed: u64, threads: usize) {
    let rt = Builder::new().worker_threads(workers).build().unwrap();
    rt.block_on(move || {
        let started = Instant::now();
        let mut r = rng(seed);
        let (mut txs, mut rxs) = (Vec::new(), Vec::new());
        for _ in 0..4 {
            let (tx, rx) = mpsc::channel();
            txs.push(tx);
            rxs.push(Mutex::new(rx));
        }
        let (a_tx, a_rx) = mpsc::channel();
        let (b_tx, b_rx) = mpsc::channel();
        let (sync_tx, sync_rx) = mpsc::sync_channel(2);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let side = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut writers, mut readers) = (Vec::new(), Vec::new());
        for _ in 0..SOCKETS {
            writers.push(TcpStream::connect(side.local_addr().unwrap()).unwrap());
            readers.push(side.accept().unwrap().0);
        }
        let world = Arc::new(World {
            counter: Mutex::new(0),
            counted: AtomicU64::new(0),
            rw: RwLock::new(0),
            rw_counted: AtomicU64::new(0),
            flag: Mutex::new(0),
            cv: Condvar::new(),
            sem: Semaphore::new(PERMITS),
            rxs,
            pair: Mutex::new((a_rx, b_rx)),
            sync_tx,
            next_message: AtomicU64::new(0),
            sent: Marks::new(),
            received: Marks::new(),
            listener,
            accepted: AtomicU64::new(0),
            readers,
            bytes_read: AtomicU64::new(0),
            joined: AtomicU64::new(0),
            unblocked: AtomicU64::new(0),
        });

        let stop = Arc::new(AtomicBool::new(false));
        let feeder = {
            let (world, stop) = (world.clone(), stop.clone());
            thread::spawn(move || {
                let pair_txs = (a_tx, b_tx);
                let out = traffic(
                    &world, &txs, &pair_txs, &sync_rx, &writers, addr, &stop, seed,
                );
                (out, sync_rx, writers)
            })
        };

        // Every thread runs a few operations of one kind; a random half of them are victims:
        // cancelled at a random moment, or running under a random timeout().
        let mut victims: Vec<(JoinHandle<()>, u64)> = Vec::new();
        let mut others = Vec::new();
        let cancelled_kinds = Arc::new(AtomicUsize::new(0));
        for i in 0..threads {
            let world = world.clone();
            let kind = r(KINDS);
            let thread_seed = seed.wrapping_add(i as u64 * 7919);
            let timed = r(4) == 0;
            let deadline = Duration::from_millis(1 + r(20));
            let h = thread::spawn(move || {
                let body = move || {
                    let mut r = rng(thread_seed);
                    for _ in 0..8 {
                        operate(&world, kind, &mut r);
                    }
                };
                if timed {
                    let _ = timeout(deadline, body);
                } else {
                    body();
                }
            });
            match r(2) {
                0 => victims.push((h, r(30))),
                _ => others.push(h),
            }
        }
        // Cancel the victims at random moments while traffic flows.
        victims.sort_by_key(|(_, at)| *at);
        for (h, at) in victims {
            let due = started + Duration::from_millis(at);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            match h.cancel() {
                Ok(()) => {}
                Err(payload) if payload.is::<zsync::Cancelled>() => {
                    cancelled_kinds.fetch_add(1, Ordering::Relaxed);
                }
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        // The rest finish their operations while traffic still flows; those blocked where
        // traffic no longer reaches (an accept after the last connect) are cancelled at the end.
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut stragglers = Vec::new();
        for h in others {
            while !h.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            if h.is_finished() {
                h.join().unwrap();
            } else {
                stragglers.push(h);
            }
        }
        stop.store(true, Ordering::SeqCst);
        let (traffic, sync_rx, _writers_kept) = {
            let ((traffic, clients), sync_rx, writers) = feeder.join().unwrap();
            drop(clients);
            (traffic, sync_rx, writers)
        };
        for h in stragglers {
            if let Err(payload) = h.cancel() {
                assert!(
                    payload.is::<zsync::Cancelled>(),
                    "only cancellations unwound"
                );
            }
        }

        // Drain what is left and check every account.
        for rx in &world.rxs {
            let rx = rx.lock().unwrap();
            while let Ok(v) = rx.try_recv() {
                world.received.mark(v, "received");
            }
        }
        {
            let pair = world.pair.lock().unwrap();
            for rx in [&pair.0, &pair.1] {
                while let Ok(v) = rx.try_recv() {
                    world.received.mark(v, "received");
                }
            }
        }
        loop {
            match sync_rx.try_recv() {
                Ok(v) => world.received.mark(v, "received"),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => unreachable!("the world holds a sender"),
            }
        }
        let issued = world.next_message.load(Ordering::SeqCst) as usize;
        for v in 0..issued {
            assert_eq!(
                world.sent.get(v),
                world.received.get(v),
                "message {v}: sent {} but received {} (seed {seed})",
                world.sent.get(v),
                world.received.get(v)
            );
        }
        assert!(!world.counter.is_poisoned() && !world.rw.is_poisoned());
        assert_eq!(
            *world.counter.lock().unwrap(),
            world.counted.load(Ordering::SeqCst)
        );
        assert_eq!(
            *world.rw.read().unwrap(),
            world.rw_counted.load(Ordering::SeqCst)
        );
        assert_eq!(world.sem.available_permits(), PERMITS, "no permit lost");

        world.listener.set_nonblocking(true).unwrap();
        let mut backlog = 0;
        let drain_deadline = Instant::now() + Duration::from_secs(5);
        while world.accepted.load(Ordering::SeqCst) + backlog < traffic.connects
            && Instant::now() < drain_deadline
        {
            match world.listener.accept() {
                Ok(_) => backlog += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        assert_eq!(
            world.accepted.load(Ordering::SeqCst) + backlog,
            traffic.connects,
            "no connection lost (seed {seed})"
        );

        let mut left = 0u64;
        for mut stream in &world.readers {
            stream.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => left += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
        assert_eq!(
            world.bytes_read.load(Ordering::SeqCst) + left,
            traffic.written,
            "no byte lost (seed {seed})"
        );
        println!(
            "workers {workers}: {threads} threads, {} cancelled mid-way, {issued} messages, \
             {} connections, {} bytes, {} joins, {} unblocks in {:?}",
            cancelled_kinds.load(Ordering::Relaxed),
            traffic.connects,
            traffic.written,
            world.joined.load(Ordering::SeqCst),
            world.unblocked.load(Ordering::SeqCst),
            started.elapsed()
        );
    });
    drop(rt); // cancels anything left and joins the workers: must not hang
}

#[test]
fn random_cancellations_at_every_park_point_lose_nothing() {
    let seed = std::env::var("ZSYNC_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("seed {seed} (replay with ZSYNC_STRESS_SEED={seed})");
    let threads = if cfg!(debug_assertions) { 1000 } else { 3000 };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(|| {
            for workers in [1, 2] {
                stress(workers, seed, threads);
            }
        }));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(240)) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("hung (a cancel() that never returned?), seed {seed}"),
    }
}
