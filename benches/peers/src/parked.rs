//! Workloads about many waiting tasks: B5 resident memory per parked task, B6 the most parked
//! tasks one process holds, B8 a million timers. Each runs in its own process (the runner's
//! child), prints its result as the last line of its standard output and exits without tearing
//! the tasks down: the measurement is over, and unwinding a million tasks would only add time.

use crate::micro::{tokio_rt, zsync_rt};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// B5 parks this many tasks.
pub const B5_TASKS: usize = 100_000;
/// B6 parks up to this many tasks (the quick mode a tenth).
pub const B6_TASKS: usize = 1_000_000;
/// B6 reports progress after each batch this big.
const B6_BATCH: usize = 10_000;
/// B8 starts this many sleepers (the quick mode a tenth).
pub const B8_TIMERS: usize = 1_000_000;

/// Resident set size of this process, in bytes.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// Prints a result line and makes sure it reaches the runner even if the process dies next.
fn report(value: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}").unwrap();
    out.flush().unwrap();
}

/// Waits (with `pause`, the implementation's own sleep) until `started` reaches `n`, then a
/// little longer so that the last tasks get from "started" to parked.
fn settle(started: &AtomicUsize, n: usize, pause: impl Fn(Duration)) {
    while started.load(Ordering::Acquire) < n {
        pause(Duration::from_millis(1));
    }
    pause(Duration::from_millis(50));
}

/// Parks tasks on a write-locked RwLock in batches of `batch`, up to `n`, calling `after_batch`
/// with the count parked so far after each batch has settled. Every task increments `started`
/// right before it blocks. Returns early (with the count reached) if a spawn fails.
pub fn park(
    implementation: &str,
    n: usize,
    batch: usize,
    workers: usize,
    after_batch: impl Fn(usize) + Send + 'static,
) {
    let started = Arc::new(AtomicUsize::new(0));
    match implementation {
        "zsync" => zsync_rt(workers).block_on(move || {
            let lock = Arc::new(zsync::sync::RwLock::new(()));
            let _held = lock.write().unwrap();
            let mut count = 0;
            while count < n {
                for _ in 0..batch.min(n - count) {
                    let (lock, task_started) = (lock.clone(), started.clone());
                    let spawned = zsync::thread::Builder::new().spawn(move || {
                        task_started.fetch_add(1, Ordering::Release);
                        drop(lock.read());
                    });
                    if let Err(e) = spawned {
                        eprintln!("zsync: spawn failed after {count}: {e}");
                        settle(&started, count, zsync::thread::sleep);
                        after_batch(count);
                        return;
                    }
                    count += 1;
                }
                settle(&started, count, zsync::thread::sleep);
                after_batch(count);
            }
        }),
        "tokio" => tokio_rt(workers).block_on(async {
            let lock = Arc::new(tokio::sync::RwLock::new(()));
            let _held = lock.write().await;
            let mut count = 0;
            while count < n {
                for _ in 0..batch.min(n - count) {
                    let (lock, started) = (lock.clone(), started.clone());
                    tokio::spawn(async move {
                        started.fetch_add(1, Ordering::Release);
                        drop(lock.read().await);
                    });
                    count += 1;
                }
                while started.load(Ordering::Acquire) < count {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                after_batch(count);
            }
        }),
        "may" => {
            may::config().set_workers(workers);
            let lock = Arc::new(may::sync::RwLock::new(()));
            let _held = lock.write().unwrap();
            let mut count = 0;
            while count < n {
                for _ in 0..batch.min(n - count) {
                    let (lock, started) = (lock.clone(), started.clone());
                    // SAFETY: no thread-local state. (may aborts the process when it cannot
                    // map a stack; the runner then keeps the last count printed.)
                    unsafe {
                        may::coroutine::spawn(move || {
                            started.fetch_add(1, Ordering::Release);
                            drop(lock.read());
                        });
                    }
                    count += 1;
                }
                settle(&started, count, std::thread::sleep);
                after_batch(count);
            }
        }
        _ => {
            let lock = Arc::new(std::sync::RwLock::new(()));
            let _held = lock.write().unwrap();
            let mut count = 0;
            while count < n {
                for _ in 0..batch.min(n - count) {
                    let (lock, task_started) = (lock.clone(), started.clone());
                    let spawned = std::thread::Builder::new().spawn(move || {
                        task_started.fetch_add(1, Ordering::Release);
                        drop(lock.read());
                    });
                    if let Err(e) = spawned {
                        eprintln!("std: spawn failed after {count}: {e}");
                        // Report at once: a thread whose start failed half-way may take the
                        // process down any moment.
                        after_batch(count);
                        return;
                    }
                    count += 1;
                }
                settle(&started, count, std::thread::sleep);
                after_batch(count);
            }
        }
    }
}

/// B5: KiB of resident memory per parked task, `B5_TASKS` of them, default stack sizes.
pub fn b5(implementation: &str, workers: usize) {
    let before = resident_bytes();
    let measure = move |count: usize| {
        let kib = (resident_bytes() - before) as f64 / count as f64 / 1024.0;
        report(kib);
        std::process::exit(0);
    };
    park(implementation, B5_TASKS, B5_TASKS, workers, measure);
}

/// B6: parks up to `n` tasks, printing the count after each batch; the last number printed is
/// the result, whether the process finishes, fails to spawn or is killed by its runtime.
pub fn b6(implementation: &str, n: usize, workers: usize) {
    park(implementation, n, B6_BATCH, workers, report);
    std::process::exit(0);
}

/// Random sleep durations in [0, 100) ms, the same sequence for every implementation.
fn durations(n: usize) -> Vec<Duration> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(x % 100_000)
        })
        .collect()
}

/// B8: wall time in milliseconds for `n` tasks each sleeping a random 0-100 ms, joined.
pub fn b8(implementation: &str, n: usize, workers: usize) -> f64 {
    let sleeps = durations(n);
    let ms = |start: Instant| start.elapsed().as_secs_f64() * 1e3;
    match implementation {
        "zsync" => zsync_rt(workers).block_on(move || {
            let start = Instant::now();
            let handles: Vec<_> = sleeps
                .into_iter()
                .map(|d| zsync::spawn(move || zsync::thread::sleep(d)))
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            ms(start)
        }),
        "tokio" => tokio_rt(workers).block_on(async move {
            let start = Instant::now();
            let handles: Vec<_> = sleeps
                .into_iter()
                .map(|d| tokio::spawn(tokio::time::sleep(d)))
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            ms(start)
        }),
        "may" => {
            may::config().set_workers(workers);
            let start = Instant::now();
            let handles: Vec<_> = sleeps
                .into_iter()
                // SAFETY: no thread-local state.
                .map(|d| unsafe { may::coroutine::spawn(move || may::coroutine::sleep(d)) })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            ms(start)
        }
        _ => f64::NAN,
    }
}
