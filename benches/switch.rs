//! B1 and the context life cycle: zsync's hand-written switch against corosensei, in one run.
//!
//! `cargo bench --bench switch`. Compare the ratios within one run; the machines are noisy.

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use zsync::coro::{Context, Resumed, Stack, StackPool};

const STACK: usize = 64 * 1024;

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch_round_trip");
    g.bench_function("zsync", |b| {
        let mut ctx = Context::new(Stack::new(STACK).unwrap(), |s| loop {
            s.suspend();
        });
        b.iter(|| black_box(ctx.resume()));
    });
    g.bench_function("corosensei", |b| {
        let stack = DefaultStack::new(STACK).unwrap();
        let mut co = Coroutine::with_stack(stack, |y: &corosensei::Yielder<(), ()>, ()| loop {
            y.suspend(());
        });
        b.iter(|| black_box(co.resume(())));
    });
    g.finish();
}

fn life_cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("create_run_finish");
    g.bench_function("zsync_pooled_stack", |b| {
        let mut pool = StackPool::new(STACK).unwrap();
        b.iter(|| {
            let mut ctx = Context::new(pool.get().unwrap(), |_| {});
            let r = ctx.resume();
            assert!(matches!(r, Resumed::Finished(Ok(()))));
            pool.put(ctx.into_stack().unwrap());
        });
    });
    g.bench_function("corosensei_pooled_stack", |b| {
        let mut spare = Some(DefaultStack::new(STACK).unwrap());
        b.iter(|| {
            let mut co = Coroutine::with_stack(
                spare.take().unwrap(),
                |_: &corosensei::Yielder<(), ()>, ()| {},
            );
            let r = co.resume(());
            assert!(matches!(r, CoroutineResult::Return(())));
            spare = Some(co.into_stack());
        });
    });
    g.bench_function("zsync_fresh_stack", |b| {
        b.iter(|| {
            let mut ctx = Context::new(Stack::new(STACK).unwrap(), |_| {});
            black_box(ctx.resume());
        });
    });
    g.bench_function("corosensei_fresh_stack", |b| {
        b.iter(|| {
            let mut co = Coroutine::with_stack(
                DefaultStack::new(STACK).unwrap(),
                |_: &corosensei::Yielder<(), ()>, ()| {},
            );
            black_box(co.resume(()));
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = round_trip, life_cycle
}
criterion_main!(benches);
