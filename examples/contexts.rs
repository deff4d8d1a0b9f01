//! A tour of zsync's stackful core: contexts that suspend and resume on pooled, guard-paged
//! stacks. Run with `cargo run --release --example contexts`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;
use zsync::coro::{Context, Resumed, StackPool};

fn main() -> std::io::Result<()> {
    let mut pool = StackPool::new(64 * 1024)?;
    println!(
        "backend: {}, guard pages: {}",
        zsync::coro::BACKEND,
        zsync::coro::guard_mechanism()
    );

    // Two generators taking turns on one OS thread.
    let out = Rc::new(Cell::new(0u64));
    let (a, b) = (out.clone(), out.clone());
    let mut evens = Context::new(pool.get()?, move |s| {
        for n in (0..10).step_by(2) {
            a.set(n);
            s.suspend();
        }
    });
    let mut odds = Context::new(pool.get()?, move |s| {
        for n in (1..10).step_by(2) {
            b.set(n);
            s.suspend();
        }
    });
    let mut seen = Vec::new();
    loop {
        let e = evens.resume();
        if matches!(e, Resumed::Suspended) {
            seen.push(out.get());
        }
        let o = odds.resume();
        if matches!(o, Resumed::Suspended) {
            seen.push(out.get());
        }
        if evens.is_finished() && odds.is_finished() {
            break;
        }
    }
    println!("interleaved: {seen:?}");
    pool.put(evens.into_stack().expect("finished"));
    pool.put(odds.into_stack().expect("finished"));

    // A panic inside a context comes back as a value.
    let mut ctx = Context::new(pool.get()?, |_| panic!("boom"));
    if let Resumed::Finished(Err(payload)) = ctx.resume() {
        println!("caught: {:?}", payload.downcast_ref::<&str>());
    }
    pool.put(ctx.into_stack().expect("finished"));

    // Switch cost.
    const N: u32 = 10_000_000;
    let mut ctx = Context::new(pool.get()?, |s| loop {
        s.suspend()
    });
    let start = Instant::now();
    for _ in 0..N {
        ctx.resume();
    }
    let per = start.elapsed() / N;
    println!("{N} resume+suspend round trips: {per:?} each");

    // Creating, running and finishing a context on a pooled stack.
    pool.put(ctx.into_stack().expect("unwound"));
    let start = Instant::now();
    for _ in 0..1_000_000 {
        let mut ctx = Context::new(pool.get()?, |_| {});
        ctx.resume();
        pool.put(ctx.into_stack().expect("finished"));
    }
    println!(
        "create+run+finish on a pooled stack: {:?} each",
        start.elapsed() / 1_000_000
    );
    Ok(())
}
