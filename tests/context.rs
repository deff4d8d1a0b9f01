//! The stackful core through its public API: switching, nesting, panics, forced unwinding,
//! backtraces and deep recursion. Runs unchanged on both backends.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use zsync::coro::{Context, Resumed, Stack, StackPool};

const SMALL: usize = 64 * 1024;

fn stack() -> Stack {
    Stack::new(SMALL).expect("map a stack")
}

/// Counts drops, to prove destructors ran.
struct DropCounter(Rc<Cell<u32>>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn resume_runs_until_suspend_and_finish() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let inner = log.clone();
    let mut ctx = Context::new(stack(), move |s| {
        inner.borrow_mut().push("a");
        s.suspend();
        inner.borrow_mut().push("b");
        s.suspend();
        inner.borrow_mut().push("c");
    });
    assert!(!ctx.is_started());
    assert!(matches!(ctx.resume(), Resumed::Suspended));
    assert_eq!(*log.borrow(), ["a"]);
    assert!(ctx.is_started() && !ctx.is_finished());
    assert!(matches!(ctx.resume(), Resumed::Suspended));
    assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
    assert_eq!(*log.borrow(), ["a", "b", "c"]);
    assert!(ctx.is_finished());
}

#[test]
fn millions_of_switches_keep_state() {
    const ROUNDS: u64 = 3_000_000;
    let counter = Rc::new(Cell::new(0u64));
    let inner = counter.clone();
    let mut ctx = Context::new(stack(), move |s| {
        // Locals that live across every switch.
        let mut sum = 0u64;
        for i in 0..ROUNDS {
            sum = sum.wrapping_add(i);
            inner.set(i);
            s.suspend();
        }
        inner.set(sum);
    });
    for i in 0..ROUNDS {
        assert!(matches!(ctx.resume(), Resumed::Suspended));
        assert_eq!(counter.get(), i);
    }
    assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
    assert_eq!(counter.get(), ROUNDS * (ROUNDS - 1) / 2);
}

#[test]
fn a_context_resumes_another() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let mut outer = Context::new(stack(), move |s| {
        let l3 = l2.clone();
        let mut inner = Context::new(Stack::new(SMALL).unwrap(), move |s| {
            l3.borrow_mut().push("inner 1");
            s.suspend();
            l3.borrow_mut().push("inner 2");
        });
        l1.borrow_mut().push("outer 1");
        assert!(matches!(inner.resume(), Resumed::Suspended));
        s.suspend(); // suspend the outer one while the inner one is suspended too
        l1.borrow_mut().push("outer 2");
        assert!(matches!(inner.resume(), Resumed::Finished(Ok(()))));
        l2.borrow_mut().push("outer 3");
    });
    assert!(matches!(outer.resume(), Resumed::Suspended));
    assert!(matches!(outer.resume(), Resumed::Finished(Ok(()))));
    assert_eq!(
        *log.borrow(),
        ["outer 1", "inner 1", "outer 2", "inner 2", "outer 3"]
    );
}

#[test]
fn panic_payload_comes_back() {
    let mut ctx = Context::new(stack(), |s| {
        s.suspend();
        std::panic::panic_any(42u32);
    });
    assert!(matches!(ctx.resume(), Resumed::Suspended));
    match ctx.resume() {
        Resumed::Finished(Err(payload)) => assert_eq!(payload.downcast_ref::<u32>(), Some(&42)),
        other => panic!("expected a panic payload, got {other:?}"),
    }
    // The stack is fine for reuse after a panic.
    let stack = ctx.into_stack().expect("finished");
    let mut again = Context::new(stack, |_| {});
    assert!(matches!(again.resume(), Resumed::Finished(Ok(()))));
}

#[test]
fn force_unwind_runs_every_destructor() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let reached_end = Rc::new(Cell::new(false));
    let end = reached_end.clone();
    let mut ctx = Context::new(stack(), move |s| {
        let _a = DropCounter(d.clone());
        let _b = DropCounter(d.clone());
        fn deeper(s: &zsync::coro::Suspender, d: Rc<Cell<u32>>) {
            let _c = DropCounter(d);
            s.suspend();
        }
        deeper(s, d.clone());
        end.set(true);
    });
    assert!(matches!(ctx.resume(), Resumed::Suspended));
    assert_eq!(drops.get(), 0);
    ctx.force_unwind();
    assert!(ctx.is_finished());
    assert_eq!(drops.get(), 3, "every guard on the stack was dropped");
    assert!(
        !reached_end.get(),
        "the code after the suspend point never ran"
    );
}

#[test]
fn dropping_a_suspended_context_unwinds_it() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let ctx = {
        let mut ctx = Context::new(stack(), move |s| {
            let _guard = DropCounter(d);
            loop {
                s.suspend();
            }
        });
        ctx.resume();
        ctx
    };
    assert_eq!(drops.get(), 0);
    drop(ctx);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_context_that_never_ran_drops_its_closure() {
    let drops = Rc::new(Cell::new(0));
    let guard = DropCounter(drops.clone());
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let ctx = Context::new(stack(), move |_| {
        let _keep = &guard;
        r.set(true);
    });
    let stack = ctx.into_stack().expect("never started");
    assert_eq!(drops.get(), 1);
    assert!(!ran.get());
    drop(stack);
}

#[test]
fn a_destructor_may_suspend_while_unwinding() {
    // A trap of docs/ARCHITECTURE.md: a park point inside a destructor that runs during a forced
    // unwind must not raise again (that would be a panic during unwinding: an abort).
    struct SuspendsInDrop(*const zsync::coro::Suspender, Rc<Cell<u32>>);
    impl Drop for SuspendsInDrop {
        fn drop(&mut self) {
            // SAFETY (test): the Suspender outlives this guard, which lives on its stack.
            let s = unsafe { &*self.0 };
            s.suspend();
            s.suspend();
            self.1.set(self.1.get() + 1);
        }
    }
    let done = Rc::new(Cell::new(0));
    let d = done.clone();
    let mut ctx = Context::new(stack(), move |s| {
        let _g = SuspendsInDrop(s, d);
        loop {
            s.suspend();
        }
    });
    ctx.resume();
    ctx.force_unwind();
    assert!(ctx.is_finished());
    assert_eq!(done.get(), 1, "the destructor ran to its end");
}

#[test]
fn a_swallowed_forced_unwind_is_raised_again() {
    let attempts = Rc::new(Cell::new(0));
    let a = attempts.clone();
    let mut ctx = Context::new(stack(), move |s| loop {
        // The payload is dropped right here, ending the unwind as far as anyone can tell.
        let swallowed = catch_unwind(AssertUnwindSafe(|| s.suspend())).is_err();
        if swallowed {
            a.set(a.get() + 1);
            if a.get() == 3 {
                // Give up swallowing: the next suspend unwinds for real.
                s.suspend();
                unreachable!("a forced unwind was requested");
            }
        }
    });
    ctx.resume();
    ctx.force_unwind();
    assert!(ctx.is_finished());
    assert_eq!(attempts.get(), 3);
}

#[test]
#[should_panic(expected = "has finished")]
fn resuming_a_finished_context_panics() {
    let mut ctx = Context::new(stack(), |_| {});
    ctx.resume();
    ctx.resume();
}

#[test]
fn a_huge_closure_is_boxed_not_put_on_the_stack() {
    let big = [7u8; 48 * 1024]; // more than a quarter of the stack
    let sum = Rc::new(Cell::new(0u64));
    let s2 = sum.clone();
    let mut ctx = Context::new(stack(), move |_| {
        s2.set(big.iter().map(|&b| b as u64).sum());
    });
    assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
    assert_eq!(sum.get(), 7 * 48 * 1024);
}

#[inline(never)]
fn marker_function_in_context() -> String {
    std::backtrace::Backtrace::force_capture().to_string()
}

#[test]
fn a_backtrace_inside_a_context_completes() {
    let trace = Rc::new(RefCell::new(String::new()));
    let t = trace.clone();
    let mut ctx = Context::new(Stack::new(256 * 1024).unwrap(), move |s| {
        s.suspend();
        *t.borrow_mut() = marker_function_in_context();
    });
    ctx.resume();
    assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
    let trace = trace.borrow();
    assert!(trace.contains("marker_function_in_context"), "{trace}");
    if zsync::coro::BACKEND == "asm" {
        // The trampoline's CFI ends the walk.
        let last = trace.lines().rev().find(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        });
        assert!(
            last.is_some_and(|l| l.contains("zsync_0_1_trampoline")),
            "{trace}"
        );
    }
}

#[test]
fn recursion_close_to_the_stack_size_works() {
    const SIZE: usize = 128 * 1024;
    let stack = Stack::new(SIZE).unwrap();
    let limit = stack.limit() as usize;
    let deepest = Rc::new(Cell::new(usize::MAX));
    let d = deepest.clone();

    #[inline(never)]
    fn recurse(limit: usize, deepest: &Cell<usize>) -> u64 {
        let mut frame = [0u8; 512];
        let here = std::hint::black_box(&mut frame) as *mut _ as usize;
        deepest.set(deepest.get().min(here));
        if here - limit < 8 * 1024 {
            return frame[0] as u64;
        }
        frame[1] = 1;
        recurse(limit, deepest) + std::hint::black_box(frame)[1] as u64
    }
    let mut ctx = Context::new(stack, move |_| {
        recurse(limit, &d);
    });
    assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
    let used = ctx.into_stack().unwrap().top() as usize - deepest.get();
    assert!(used > SIZE - 10 * 1024, "used only {used} of {SIZE} bytes");
}

#[test]
fn stack_sizes_are_checked_and_rounded() {
    let err = Stack::new(4096).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("below the minimum"), "{err}");
    assert_eq!(
        StackPool::new(1000).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert_eq!(
        Stack::new(usize::MAX).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );

    let s = Stack::new(zsync::coro::MIN_STACK_SIZE + 1).unwrap();
    assert_eq!(s.size() % 4096, 0);
    assert!(s.size() > zsync::coro::MIN_STACK_SIZE);
    assert_eq!(s.top() as usize % 16, 0);
    assert_eq!(s.guard().end, s.limit() as usize);
}

#[test]
fn pooled_stacks_are_reused_and_coloured() {
    let mut pool = StackPool::new(SMALL).unwrap();
    let stacks: Vec<Stack> = (0..32).map(|_| pool.get().unwrap()).collect();
    let colours: std::collections::HashSet<usize> = stacks.iter().map(|s| s.colour()).collect();
    assert!(colours.len() > 4, "colours should vary: {colours:?}");
    assert!(stacks
        .iter()
        .all(|s| s.colour() % 64 == 0 && s.colour() < 1024));
    let tops: Vec<usize> = stacks.iter().map(|s| s.top() as usize).collect();
    for s in stacks {
        pool.put(s);
    }
    assert_eq!(pool.cached(), 32);
    let again = pool.get().unwrap();
    assert!(
        tops.contains(&(again.top() as usize)),
        "a pooled stack comes back"
    );
    assert_eq!(pool.cached(), 31);
}

#[test]
fn the_pool_is_bounded() {
    let mut pool = StackPool::new(SMALL).unwrap().max_cached(3);
    let stacks: Vec<Stack> = (0..5).map(|_| pool.get().unwrap()).collect();
    for s in stacks {
        pool.put(s);
    }
    assert_eq!(pool.cached(), 3);
    // A stack of another size is not kept.
    pool.put(Stack::new(2 * SMALL).unwrap());
    assert_eq!(pool.cached(), 3);
}

/// Pages of `[start, start+len)` resident in memory, by mincore(2).
fn resident_pages(start: usize, len: usize) -> usize {
    let pages = len / 4096;
    let mut vec = vec![0u8; pages];
    // SAFETY (test): a range of a live mapping, page aligned.
    let r = unsafe { libc::mincore(start as *mut _, len, vec.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
    vec.iter().filter(|&&b| b & 1 != 0).count()
}

#[test]
fn trimming_returns_deep_pages_and_keeps_the_top() {
    const SIZE: usize = 256 * 1024;
    let mut pool = StackPool::new(SIZE).unwrap().keep_resident(32 * 1024);
    let stack = pool.get().unwrap();
    let (limit, top) = (stack.limit() as usize, stack.top() as usize);
    let mut ctx = Context::new(stack, |_| {
        // Touch most of the stack, as a deep recursion would.
        dig_then(200, &|| {});
    });
    assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
    let stack = ctx.into_stack().unwrap();
    let mapped = top.next_multiple_of(4096) - limit;
    let before = resident_pages(limit, mapped);
    assert!(before > 40, "the recursion touched {before} pages");
    pool.put(stack);
    pool.trim();
    let after = resident_pages(limit, mapped);
    assert!(
        after <= 32 * 1024 / 4096,
        "{after} pages still resident after trim"
    );
    let kept = resident_pages(top.next_multiple_of(4096) - 8192, 8192);
    assert!(kept >= 1, "the top of the stack stays resident");
}

/// A pool told to keep more than a whole stack resident keeps the whole stack at a trim: the
/// rounding up to pages saturates (`usize::MAX` wrapped around to 0 and released everything, or
/// panicked with overflow checks on).
#[test]
fn keeping_more_than_a_stack_resident_keeps_all_of_it() {
    const SIZE: usize = 256 * 1024;
    for keep in [usize::MAX, usize::MAX - 4095, SIZE + 1] {
        let mut pool = StackPool::new(SIZE).unwrap().keep_resident(keep);
        let stack = pool.get().unwrap();
        let (limit, top) = (stack.limit() as usize, stack.top() as usize);
        let mut ctx = Context::new(stack, |_| {
            dig_then(200, &|| {});
        });
        assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
        let stack = ctx.into_stack().unwrap();
        let mapped = top.next_multiple_of(4096) - limit;
        let before = resident_pages(limit, mapped);
        assert!(before > 40, "the recursion touched {before} pages");
        pool.put(stack);
        pool.trim();
        let after = resident_pages(limit, mapped);
        assert_eq!(
            after, before,
            "keep_resident({keep}): pages released by trim"
        );
    }
}

/// Recurses `n` frames of about 1 KiB each, then calls `bottom`.
#[inline(never)]
fn dig_then(n: usize, bottom: &dyn Fn()) -> u8 {
    let mut frame = [n as u8; 1024];
    std::hint::black_box(&mut frame);
    if n == 0 {
        bottom();
        frame[0]
    } else {
        dig_then(n - 1, bottom).wrapping_add(frame[1])
    }
}

/// Runs a context that recurses about 200 KiB deep (suspending at the bottom if `suspend`)
/// on a stack from `pool`, returns the stack to the pool, then returns 200 other stacks after
/// it, so that it leaves the pool's hot set. Returns the stack's usable range.
fn deep_stack_pushed_out_of_the_hot_set(pool: &mut StackPool, suspend: bool) -> (usize, usize) {
    let others: Vec<Stack> = (0..200).map(|_| pool.get().unwrap()).collect();
    let stack = pool.get().unwrap();
    let (limit, top) = (stack.limit() as usize, stack.top() as usize);
    let mut ctx = Context::new(stack, move |s| {
        dig_then(200, &|| {
            if suspend {
                s.suspend()
            }
        });
    });
    if suspend {
        assert!(matches!(ctx.resume(), Resumed::Suspended));
    }
    assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
    let stack = ctx.into_stack().unwrap();
    let mapped = top.next_multiple_of(4096) - limit;
    let touched = resident_pages(limit, mapped);
    assert!(touched > 40, "the recursion touched {touched} pages");
    pool.put(stack);
    for other in others {
        pool.put(other);
    }
    (limit, mapped)
}

#[test]
fn a_stack_seen_suspended_deep_gives_back_its_deep_pages_without_a_trim() {
    let mut pool = StackPool::new(256 * 1024).unwrap().keep_resident(32 * 1024);
    let (limit, mapped) = deep_stack_pushed_out_of_the_hot_set(&mut pool, true);
    let after = resident_pages(limit, mapped);
    assert!(after <= 32 * 1024 / 4096, "{after} pages still resident");
}

#[test]
fn a_stack_that_went_deep_between_suspensions_gives_them_back_at_the_trim() {
    let mut pool = StackPool::new(256 * 1024).unwrap().keep_resident(32 * 1024);
    let (limit, mapped) = deep_stack_pushed_out_of_the_hot_set(&mut pool, false);
    pool.trim();
    let after = resident_pages(limit, mapped);
    assert!(
        after <= 32 * 1024 / 4096,
        "{after} pages still resident after trim"
    );
}
