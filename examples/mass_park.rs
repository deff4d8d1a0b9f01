//! How long parking a million green threads takes, and dropping the runtime that holds them:
//! `cargo run --release --example mass_park [-- COUNT]`. Dropping the runtime cancels every
//! parked green thread and unwinds it (its destructors run), then unmaps the stacks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rss_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4
}

/// Fields of /proc/self/stat, counted from 1 after the parenthesised command name (field 3 is
/// the first): `first..=last`, summed.
fn stat_sum(first: usize, last: usize) -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    after_name
        .split_whitespace()
        .skip(first - 3)
        .take(last + 1 - first)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum()
}

/// CPU time this process has used so far (user and system, fields 14 and 15): the machine may
/// be shared, so wall time alone says little.
fn cpu_time() -> Duration {
    Duration::from_millis(stat_sum(14, 15) * 10) // USER_HZ is 100 on Linux
}

/// Minor page faults so far (field 10): first touches of stack and heap pages.
fn page_faults() -> u64 {
    stat_sum(10, 10)
}

/// Counts the destructors that ran, to show that dropping the runtime unwound every thread.
struct Unwound(Arc<AtomicUsize>);

impl Drop for Unwound {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().expect("a count of green threads"));
    let rt = zsync::Runtime::new().expect("start the runtime");
    let before = rss_kib();
    let parked = Arc::new(AtomicUsize::new(0));
    let unwound = Arc::new(AtomicUsize::new(0));
    let (start, cpu, faults) = (Instant::now(), cpu_time(), page_faults());
    let (p, u) = (parked.clone(), unwound.clone());
    rt.block_on(move || {
        for _ in 0..count {
            let (p, u) = (p.clone(), u.clone());
            zsync::spawn(move || {
                let _unwound = Unwound(u);
                p.fetch_add(1, Ordering::Relaxed);
                zsync::thread::park();
            });
        }
    });
    let spawned = start.elapsed();
    while parked.load(Ordering::Relaxed) < count || rt.metrics().parked < count as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = start.elapsed();
    let kib = rss_kib().saturating_sub(before);
    let per_worker: Vec<u64> = rt.metrics().workers.iter().map(|w| w.parked).collect();
    println!(
        "parked {count} green threads in {took:.2?} (spawn loop {spawned:.2?}, CPU {:.2?}, \
         {} page faults): {:.2} KiB resident each; per worker {per_worker:?}",
        cpu_time() - cpu,
        page_faults() - faults,
        kib as f64 / count as f64
    );
    let (start, cpu, faults) = (Instant::now(), cpu_time(), page_faults());
    drop(rt);
    println!(
        "dropped the runtime in {:.2?} (CPU {:.2?}, {} page faults); {} of {count} green threads \
         unwound",
        start.elapsed(),
        cpu_time() - cpu,
        page_faults() - faults,
        unwound.load(Ordering::Relaxed)
    );
}
