//! Runtime metrics: counters kept per worker with relaxed atomics, summed on demand.

use super::Shared;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) spawns: AtomicU64,
    pub(crate) switches: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) polls: AtomicU64,
    pub(crate) parks: AtomicU64,
    /// Green threads this worker owns that are parked right now.
    pub(crate) parked: AtomicU64,
}

impl WorkerMetrics {
    /// Adds to a counter. Only the worker's own thread writes its counters, so a plain load and
    /// store do (no locked read-modify-write on the switch path); readers may see a slightly old
    /// value, which is all a metric promises.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.store(
            counter.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }
}

/// A snapshot of a runtime's counters and gauges, total and per worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Green threads spawned and not yet finished.
    pub live: u64,
    /// Green threads parked (waiting for an unpark, a timer or I/O).
    pub parked: u64,
    /// Green threads running or waiting in a run queue.
    pub runnable: u64,
    /// Green threads spawned since the runtime started.
    pub spawns: u64,
    /// Context switches into green threads.
    pub switches: u64,
    /// Not-yet-started green threads taken from another worker's queue.
    pub steals: u64,
    /// Reactor polls (`epoll_wait` calls, blocking or not).
    pub polls: u64,
    /// Stalls: episodes in which a green thread held its worker longer than the runtime's
    /// stall threshold (each one warned about on stderr; none while warnings are off).
    pub stalls: u64,
    /// The longest stall seen, measured to the monitor's few milliseconds.
    pub longest_stall: std::time::Duration,
    /// Yields forced by a yield request of the monitor (a green thread ran past its time slice)
    /// or by a spent budget of non-parking calls.
    pub coop_yields: u64,
    /// The same counters for each worker.
    pub workers: Vec<WorkerSnapshot>,
}

/// One worker's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// Green threads spawned from this worker.
    pub spawns: u64,
    /// Switches into green threads on this worker.
    pub switches: u64,
    /// Green threads this worker stole.
    pub steals: u64,
    /// Green threads owned by this worker that are parked.
    pub parked: u64,
    /// Green threads in this worker's shared queues (inbox and not-yet-started).
    pub queued: u64,
}

impl Metrics {
    pub(crate) fn collect(shared: &Shared) -> Metrics {
        let mut m = Metrics {
            live: shared.live.load() as u64,
            ..Metrics::default()
        };
        for w in shared.workers.iter() {
            let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
            let snapshot = WorkerSnapshot {
                spawns: get(&w.metrics.spawns),
                switches: get(&w.metrics.switches),
                steals: get(&w.metrics.steals),
                parked: get(&w.metrics.parked),
                queued: (w.inbox.len() + w.fresh.len() + usize::from(!w.next.is_empty())) as u64,
            };
            m.spawns += snapshot.spawns;
            m.switches += snapshot.switches;
            m.steals += snapshot.steals;
            m.parked += snapshot.parked;
            m.polls += get(&w.metrics.polls);
            m.stalls += get(&w.watch.stalls);
            m.coop_yields += get(&w.watch.coop_yields);
            m.longest_stall = m.longest_stall.max(std::time::Duration::from_micros(get(&w
                .watch
                .longest_stall_us)));
            m.workers.push(snapshot);
        }
        m.spawns += shared.external_spawns.load(Ordering::Relaxed);
        m.runnable = m.live.saturating_sub(m.parked);
        m
    }
}
