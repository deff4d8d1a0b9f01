//! In-process workloads: B2 spawn + join, B3 yield, B4 channel ping-pong, B9 lock contention, on
//! each implementation with a given number of worker threads. Each returns nanoseconds per
//! operation.

use std::time::Instant;

pub const B2_TASKS: usize = 200_000;
pub const B3_YIELDS: usize = 2_000_000;
pub const B4_ROUND_TRIPS: usize = 200_000;
/// B9: this many tasks, each incrementing the shared counter `B9_INCREMENTS` times.
pub const B9_TASKS: usize = 64;
pub const B9_INCREMENTS: usize = 100_000;

fn per_op(start: Instant, ops: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

pub fn b2(implementation: &str, tasks: usize, workers: usize) -> f64 {
    match implementation {
        "zsync" => {
            let rt = zsync_rt(workers);
            rt.block_on(move || {
                let start = Instant::now();
                let handles: Vec<_> = (0..tasks).map(|i| zsync::spawn(move || i)).collect();
                let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
                assert_eq!(sum, tasks * (tasks - 1) / 2);
                per_op(start, tasks)
            })
        }
        "tokio" => {
            let rt = tokio_rt(workers);
            rt.block_on(async move {
                let start = Instant::now();
                let handles: Vec<_> = (0..tasks).map(|i| tokio::spawn(async move { i })).collect();
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                assert_eq!(sum, tasks * (tasks - 1) / 2);
                per_op(start, tasks)
            })
        }
        "may" => {
            may::config().set_workers(workers);
            let start = Instant::now();
            // SAFETY: the closures use no thread-local state.
            let handles: Vec<_> = (0..tasks)
                .map(|i| unsafe { may::coroutine::spawn(move || i) })
                .collect();
            let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, tasks * (tasks - 1) / 2);
            per_op(start, tasks)
        }
        _ => {
            // OS threads: far slower, so fewer of them.
            let n = tasks / 100;
            let start = Instant::now();
            let handles: Vec<_> = (0..n).map(|i| std::thread::spawn(move || i)).collect();
            let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, n * (n - 1) / 2);
            per_op(start, n)
        }
    }
}

pub fn b3(implementation: &str, yields: usize, workers: usize) -> f64 {
    match implementation {
        "zsync" => {
            let rt = zsync_rt(workers);
            rt.block_on(move || {
                let start = Instant::now();
                for _ in 0..yields {
                    zsync::thread::yield_now();
                }
                per_op(start, yields)
            })
        }
        "tokio" => tokio_rt(workers).block_on(async move {
            tokio::spawn(async move {
                let start = Instant::now();
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                per_op(start, yields)
            })
            .await
            .unwrap()
        }),
        "may" => {
            may::config().set_workers(workers);
            // SAFETY: no thread-local state.
            unsafe {
                may::coroutine::spawn(move || {
                    let start = Instant::now();
                    for _ in 0..yields {
                        may::coroutine::yield_now();
                    }
                    per_op(start, yields)
                })
            }
            .join()
            .unwrap()
        }
        _ => {
            let start = Instant::now();
            for _ in 0..yields / 10 {
                std::thread::yield_now();
            }
            per_op(start, yields / 10)
        }
    }
}

pub fn b4(implementation: &str, round_trips: usize, workers: usize) -> f64 {
    match implementation {
        "zsync" => {
            let rt = zsync_rt(workers);
            rt.block_on(move || {
                let (ping_tx, ping_rx) = zsync::sync::mpsc::channel::<u32>();
                let (pong_tx, pong_rx) = zsync::sync::mpsc::channel::<u32>();
                let echo = zsync::spawn(move || {
                    for v in ping_rx {
                        pong_tx.send(v).unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..round_trips as u32 {
                    ping_tx.send(i).unwrap();
                    assert_eq!(pong_rx.recv().unwrap(), i);
                }
                let ns = per_op(start, round_trips);
                drop(ping_tx);
                echo.join().unwrap();
                ns
            })
        }
        "tokio" => tokio_rt(workers).block_on(async move {
            tokio::spawn(async move {
                let (ping_tx, mut ping_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
                tokio::spawn(async move {
                    while let Some(v) = ping_rx.recv().await {
                        pong_tx.send(v).unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..round_trips as u32 {
                    ping_tx.send(i).unwrap();
                    assert_eq!(pong_rx.recv().await.unwrap(), i);
                }
                per_op(start, round_trips)
            })
            .await
            .unwrap()
        }),
        "may" => {
            may::config().set_workers(workers);
            let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u32>();
            let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u32>();
            // SAFETY: no thread-local state.
            let echo = unsafe {
                may::coroutine::spawn(move || {
                    while let Ok(v) = ping_rx.recv() {
                        pong_tx.send(v).unwrap();
                    }
                })
            };
            // SAFETY: as above.
            let ns = unsafe {
                may::coroutine::spawn(move || {
                    let start = Instant::now();
                    for i in 0..round_trips as u32 {
                        ping_tx.send(i).unwrap();
                        assert_eq!(pong_rx.recv().unwrap(), i);
                    }
                    per_op(start, round_trips)
                })
            }
            .join()
            .unwrap();
            echo.join().unwrap();
            ns
        }
        _ => {
            let n = round_trips / 20;
            let (ping_tx, ping_rx) = std::sync::mpsc::channel::<u32>();
            let (pong_tx, pong_rx) = std::sync::mpsc::channel::<u32>();
            let echo = std::thread::spawn(move || {
                for v in ping_rx {
                    pong_tx.send(v).unwrap();
                }
            });
            let start = Instant::now();
            for i in 0..n as u32 {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv().unwrap(), i);
            }
            let ns = per_op(start, n);
            drop(ping_tx);
            echo.join().unwrap();
            ns
        }
    }
}

pub fn b9(implementation: &str, increments: usize, workers: usize) -> f64 {
    let total = B9_TASKS * increments;
    match implementation {
        "zsync" => zsync_rt(workers).block_on(move || {
            let counter = std::sync::Arc::new(zsync::sync::Mutex::new(0usize));
            let start = Instant::now();
            let handles: Vec<_> = (0..B9_TASKS)
                .map(|_| {
                    let counter = counter.clone();
                    zsync::spawn(move || {
                        for _ in 0..increments {
                            *counter.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(*counter.lock().unwrap(), total);
            per_op(start, total)
        }),
        "tokio" => tokio_rt(workers).block_on(async move {
            let counter = std::sync::Arc::new(tokio::sync::Mutex::new(0usize));
            let start = Instant::now();
            let handles: Vec<_> = (0..B9_TASKS)
                .map(|_| {
                    let counter = counter.clone();
                    tokio::spawn(async move {
                        for _ in 0..increments {
                            *counter.lock().await += 1;
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            assert_eq!(*counter.lock().await, total);
            per_op(start, total)
        }),
        "may" => {
            may::config().set_workers(workers);
            let counter = std::sync::Arc::new(may::sync::Mutex::new(0usize));
            let start = Instant::now();
            let handles: Vec<_> = (0..B9_TASKS)
                .map(|_| {
                    let counter = counter.clone();
                    // SAFETY: no thread-local state.
                    unsafe {
                        may::coroutine::spawn(move || {
                            for _ in 0..increments {
                                *counter.lock().unwrap() += 1;
                            }
                        })
                    }
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(*counter.lock().unwrap(), total);
            per_op(start, total)
        }
        _ => {
            // One OS thread per task, as a thread-per-task program would have.
            let counter = std::sync::Arc::new(std::sync::Mutex::new(0usize));
            let start = Instant::now();
            let handles: Vec<_> = (0..B9_TASKS)
                .map(|_| {
                    let counter = counter.clone();
                    std::thread::spawn(move || {
                        for _ in 0..increments {
                            *counter.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(*counter.lock().unwrap(), total);
            per_op(start, total)
        }
    }
}

pub fn zsync_rt(workers: usize) -> zsync::Runtime {
    zsync::runtime::Builder::new()
        .worker_threads(workers)
        .build()
        .unwrap()
}

pub fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}
