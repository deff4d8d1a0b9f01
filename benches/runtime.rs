//! B2 (spawn + join), B3 (yield_now) on zsync's runtime. `cargo bench --bench runtime`.
//!
//! B2 spawns a batch of trivial green threads from a green thread and joins them all; the time
//! per green thread covers spawn (stack from the pool, task, queue), running, finishing and
//! join. B3 is one green thread yielding to its worker and being resumed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};
use zsync::runtime::Builder;

fn b2_spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("b2_spawn_join");
    const BATCH: u64 = 10_000;
    g.throughput(Throughput::Elements(BATCH));
    for workers in [1, 2] {
        let rt = Builder::new().worker_threads(workers).build().unwrap();
        g.bench_function(format!("{workers}_workers_batch_{BATCH}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(move || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let handles: Vec<_> = (0..BATCH).map(|i| zsync::spawn(move || i)).collect();
                        for h in handles {
                            h.join().unwrap();
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn b3_yield(c: &mut Criterion) {
    let mut g = c.benchmark_group("b3_yield_now");
    let rt = Builder::new().worker_threads(1).build().unwrap();
    g.bench_function("one_green_thread", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    zsync::thread::yield_now();
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = b2_spawn_join, b3_yield
}
criterion_main!(benches);
