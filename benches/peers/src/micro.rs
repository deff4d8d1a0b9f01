//! In-process workloads: B2 spawn + join, B3 yield, B4 channel ping-pong, on each
//! implementation. Each returns nanoseconds per operation.

use std::time::Instant;

pub const B2_TASKS: usize = 200_000;
pub const B3_YIELDS: usize = 2_000_000;
pub const B4_ROUND_TRIPS: usize = 200_000;

fn per_op(start: Instant, ops: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

pub fn b2(implementation: &str, tasks: usize) -> f64 {
    match implementation {
        "zsync" => {
            let rt = zsync::runtime::Builder::new()
                .worker_threads(2)
                .build()
                .unwrap();
            rt.block_on(move || {
                let start = Instant::now();
                let handles: Vec<_> = (0..tasks).map(|i| zsync::spawn(move || i)).collect();
                let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
                assert_eq!(sum, tasks * (tasks - 1) / 2);
                per_op(start, tasks)
            })
        }
        "tokio" => {
            let rt = tokio_rt();
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
            may::config().set_workers(2);
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

pub fn b3(implementation: &str, yields: usize) -> f64 {
    match implementation {
        "zsync" => {
            let rt = zsync::runtime::Builder::new()
                .worker_threads(2)
                .build()
                .unwrap();
            rt.block_on(move || {
                let start = Instant::now();
                for _ in 0..yields {
                    zsync::thread::yield_now();
                }
                per_op(start, yields)
            })
        }
        "tokio" => tokio_rt().block_on(async move {
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
            may::config().set_workers(2);
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

pub fn b4(implementation: &str, round_trips: usize) -> f64 {
    match implementation {
        "zsync" => {
            let rt = zsync::runtime::Builder::new()
                .worker_threads(2)
                .build()
                .unwrap();
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
        "tokio" => tokio_rt().block_on(async move {
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
            may::config().set_workers(2);
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

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
