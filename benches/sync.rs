//! B4 (channel ping-pong between two green threads) and B9 (Mutex contention), with std's
//! channel and Mutex on OS threads for comparison. `cargo bench --bench sync`.
//!
//! B4 times one round trip: a message out on one channel and the reply back on another, both
//! green threads on one worker (the case the goal is set for) or on a 2-worker runtime; the
//! same round trip with bare park/unpark is the runtime's floor under any channel. B9
//! times one lock + increment + unlock while N threads hammer one counter.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zsync::runtime::Builder;
use zsync::sync::{mpsc, Arc, Mutex};

/// A sending end for the ping-pong: `Sender` and `SyncSender` alike.
trait Put: Send + 'static {
    fn put(&self, v: u64);
}

impl Put for mpsc::Sender<u64> {
    fn put(&self, v: u64) {
        self.send(v).unwrap();
    }
}

impl Put for mpsc::SyncSender<u64> {
    fn put(&self, v: u64) {
        self.send(v).unwrap();
    }
}

/// `iters` round trips between the calling green thread and an echo green thread: out on
/// `there`, back on `back`.
fn ping_pong<T: Put>(
    iters: u64,
    there: (T, mpsc::Receiver<u64>),
    back: (T, mpsc::Receiver<u64>),
) -> Duration {
    let ((tx, rx), (back_tx, back_rx)) = (there, back);
    let echo = zsync::spawn(move || {
        for v in rx.iter() {
            back_tx.put(v);
        }
    });
    let start = Instant::now();
    for i in 0..iters {
        tx.put(i);
        back_rx.recv().unwrap();
    }
    let elapsed = start.elapsed();
    drop(tx);
    echo.join().unwrap();
    elapsed
}

fn b4_ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("b4_ping_pong");
    g.throughput(Throughput::Elements(1));
    for workers in [1, 2] {
        let rt = Builder::new().worker_threads(workers).build().unwrap();
        g.bench_function(format!("channel_{workers}_workers"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(move || ping_pong(iters, mpsc::channel(), mpsc::channel()))
            })
        });
    }
    let rt = Builder::new().worker_threads(1).build().unwrap();
    g.bench_function("sync_channel_0_1_worker", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || ping_pong(iters, mpsc::sync_channel(0), mpsc::sync_channel(0)))
        })
    });
    // The floor under any channel: the same round trip with bare park/unpark and an atomic.
    g.bench_function("park_unpark_floor_1_worker", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || {
                let turn = Arc::new(AtomicU64::new(0));
                let me = zsync::thread::current();
                let t2 = turn.clone();
                let echo = zsync::spawn(move || {
                    for i in 0..iters {
                        while t2.load(Ordering::Acquire) != 2 * i + 1 {
                            zsync::thread::park();
                        }
                        t2.store(2 * i + 2, Ordering::Release);
                        me.unpark();
                    }
                });
                let other = echo.thread().clone();
                let start = Instant::now();
                for i in 0..iters {
                    turn.store(2 * i + 1, Ordering::Release);
                    other.unpark();
                    while turn.load(Ordering::Acquire) != 2 * i + 2 {
                        zsync::thread::park();
                    }
                }
                let elapsed = start.elapsed();
                echo.join().unwrap();
                elapsed
            })
        })
    });
    g.bench_function("std_channel_os_threads", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = std::sync::mpsc::channel::<u64>();
            let (back_tx, back_rx) = std::sync::mpsc::channel::<u64>();
            let echo = std::thread::spawn(move || {
                for v in rx.iter() {
                    back_tx.send(v).unwrap();
                }
            });
            let start = Instant::now();
            for i in 0..iters {
                tx.send(i).unwrap();
                back_rx.recv().unwrap();
            }
            let elapsed = start.elapsed();
            drop(tx);
            echo.join().unwrap();
            elapsed
        })
    });
    g.finish();
}

fn b9_mutex(c: &mut Criterion) {
    let mut g = c.benchmark_group("b9_mutex_contention");
    g.throughput(Throughput::Elements(1));
    let rt = Builder::new().worker_threads(2).build().unwrap();
    for threads in [4u64, 64] {
        g.bench_function(format!("zsync_{threads}_green_threads_2_workers"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(move || {
                    let counter = Arc::new(Mutex::new(0u64));
                    let each = iters.div_ceil(threads);
                    let start = Instant::now();
                    let handles: Vec<_> = (0..threads)
                        .map(|_| {
                            let counter = counter.clone();
                            zsync::spawn(move || {
                                for _ in 0..each {
                                    *counter.lock().unwrap() += 1;
                                }
                            })
                        })
                        .collect();
                    handles.into_iter().for_each(|h| h.join().unwrap());
                    let elapsed = start.elapsed();
                    assert_eq!(*counter.lock().unwrap(), each * threads);
                    elapsed
                })
            })
        });
    }
    for threads in [2u64, 4] {
        g.bench_function(format!("std_{threads}_os_threads"), |b| {
            b.iter_custom(|iters| {
                let counter = Arc::new(std::sync::Mutex::new(0u64));
                let each = iters.div_ceil(threads);
                let start = Instant::now();
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        let counter = counter.clone();
                        std::thread::spawn(move || {
                            for _ in 0..each {
                                *counter.lock().unwrap() += 1;
                            }
                        })
                    })
                    .collect();
                handles.into_iter().for_each(|h| h.join().unwrap());
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = b4_ping_pong, b9_mutex
}
criterion_main!(benches);
