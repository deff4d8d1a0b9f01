//! B1: a context switch round trip (resume, then suspend back), zsync's hand-written switch
//! against corosensei's, on stacks of the same size.

use corosensei::stack::DefaultStack;
use corosensei::Coroutine;
use std::hint::black_box;
use std::time::Instant;
use zsync::coro::{Context, Stack};

pub const B1_ROUND_TRIPS: usize = 20_000_000;
const STACK: usize = 64 * 1024;

/// Nanoseconds per round trip; `implementation` is "zsync" or "corosensei".
pub fn b1(implementation: &str, round_trips: usize) -> f64 {
    match implementation {
        "zsync" => {
            let mut ctx = Context::new(Stack::new(STACK).unwrap(), |s| loop {
                s.suspend();
            });
            time(round_trips, || {
                black_box(ctx.resume());
            })
        }
        "corosensei" => {
            let stack = DefaultStack::new(STACK).unwrap();
            let mut co = Coroutine::with_stack(stack, |y: &corosensei::Yielder<(), ()>, ()| loop {
                y.suspend(());
            });
            time(round_trips, || {
                black_box(co.resume(()));
            })
        }
        _ => f64::NAN,
    }
}

/// Times `round_trips` calls of `resume` after a warm-up of a tenth as many. Generic so that the
/// call can inline, and one loop (the clock starts at the warm-up's end) so that `resume` has a
/// single call site: with two loops, LLVM inlined corosensei's resume into both but kept
/// zsync's, which is larger, out of line, and B1 then measured a function call and six saved
/// registers per round trip on one side only.
fn time(round_trips: usize, mut resume: impl FnMut()) -> f64 {
    let warm_up = round_trips / 10;
    let mut start = Instant::now();
    for i in 0..warm_up + round_trips {
        if i == warm_up {
            start = Instant::now();
        }
        resume();
    }
    start.elapsed().as_nanos() as f64 / round_trips as f64
}
