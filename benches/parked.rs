//! B5, B6 and B8: what parked and sleeping green threads cost. `cargo bench --bench parked`
//! (add `-- quick` for a smaller B6/B8). Prints one line per measurement.
//!
//! - B5: resident memory per parked green thread, 100,000 of them (RSS delta / count).
//! - B6: 1,000,000 parked green threads in one process on the default vm.max_map_count.
//! - B8: 1,000,000 green threads each sleeping a random 0-100 ms: wall time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::runtime::Builder;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// Spawns `n` green threads that park until released, waits until all are parked, reports, then
/// releases and joins them.
fn parked(n: usize, label: &str) {
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let parked = Arc::new(AtomicUsize::new(0));
    let before = rss_bytes();
    let start = Instant::now();
    let p = parked.clone();
    let handles = rt.block_on(move || {
        (0..n)
            .map(|_| {
                let p = p.clone();
                zsync::spawn(move || {
                    p.fetch_add(1, Ordering::Relaxed);
                    zsync::thread::park();
                })
            })
            .collect::<Vec<_>>()
    });
    while parked.load(Ordering::Relaxed) < n || rt.metrics().parked < n as u64 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let spawn_time = start.elapsed();
    let after = rss_bytes();
    println!(
        "{label}: {n} parked green threads in {spawn_time:.2?}; resident {:.2} KiB each \
         ({:.0} MiB in all); {} mappings in the process",
        (after - before) as f64 / n as f64 / 1024.0,
        (after - before) as f64 / (1 << 20) as f64,
        mappings()
    );
    for h in &handles {
        h.thread().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
}

fn sleepers(n: usize) {
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let start = Instant::now();
    rt.block_on(move || {
        let mut seed = 0x2545_f491_u32;
        let handles: Vec<_> = (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let ms = u64::from(seed % 101);
                zsync::spawn(move || zsync::time::sleep(Duration::from_millis(ms)))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let wall = start.elapsed();
    println!(
        "B8: {n} green threads sleeping 0-100 ms each: {wall:.2?} wall ({:.0} ns per green thread beyond the 100 ms)",
        wall.saturating_sub(Duration::from_millis(100)).as_nanos() as f64 / n as f64
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    parked(100_000, "B5");
    parked(if quick { 200_000 } else { 1_000_000 }, "B6");
    sleepers(if quick { 100_000 } else { 1_000_000 });
}
