//! Guard pages, overflow reports and mapping exhaustion. Each scenario that kills or exhausts a
//! process runs in a child: this test binary re-executed with `ZSYNC_TEST_CHILD` set.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use zsync::coro::{Context, Stack};

const CHILD: &str = "ZSYNC_TEST_CHILD";

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the test `name` of this binary in a child process with the extra environment `env`.
fn run_child(name: &str, env: &[(&str, &str)]) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .output()
        .expect("re-execute the test binary")
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the test `name` in a child with `env` and checks that it was aborted with `report` on
/// its standard error (the overflow handler's line).
fn assert_aborts_reporting(name: &str, env: &[(&str, &str)], report: &str) {
    let out = run_child(name, env);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(report),
        "{}",
        describe(&out)
    );
}

/// Runs the test `name` in a child and checks that the fault reached the previous handler (the
/// default: death by SIGSEGV) and that the overflow handler reported nothing.
fn assert_faults_unreported(name: &str) {
    let out = run_child(name, &[]);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "{}",
        describe(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("overflowed"),
        "{}",
        describe(&out)
    );
}

#[test]
fn writing_into_the_guard_page_faults() {
    if in_child() {
        let stack = Stack::new(64 * 1024).unwrap();
        println!("guard: {}", zsync::coro::guard_mechanism());
        let guard = stack.guard().start as *mut u8;
        // SAFETY (test): deliberately writes into the guard page; the parent expects SIGSEGV.
        unsafe { guard.add(100).write_volatile(1) };
        println!("the write went through");
        return;
    }
    for mechanism in ["madvise", "mprotect"] {
        let out = run_child(
            "writing_into_the_guard_page_faults",
            &[("ZSYNC_STACK_GUARD", mechanism)],
        );
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGSEGV),
            "{mechanism}: {}",
            describe(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("guard: {mechanism}")),
            "{}",
            describe(&out)
        );
        assert!(!stdout.contains("went through"), "{}", describe(&out));
    }
}

#[test]
fn the_usable_stack_is_writable_up_to_the_guard() {
    let stack = Stack::new(64 * 1024).unwrap();
    let (limit, top) = (stack.limit(), stack.top());
    // SAFETY (test): the lowest and highest usable bytes of a stack nobody runs on.
    unsafe {
        limit.write_volatile(1);
        top.sub(1).write_volatile(2);
        assert_eq!(limit.read_volatile() + top.sub(1).read_volatile(), 3);
    }
}

#[inline(never)]
#[allow(unconditional_recursion)] // the point: it only ends at the guard page
fn recurse_forever(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse_forever(depth + 1) + frame[3]
}

#[test]
fn a_stack_overflow_names_the_green_thread() {
    if in_child() {
        let mut ctx = Context::new(Stack::new(64 * 1024).unwrap(), |_| {
            recurse_forever(0);
        });
        ctx.set_name("overflow-victim".into());
        ctx.resume();
        println!("the recursion returned");
        return;
    }
    for mechanism in ["madvise", "mprotect"] {
        assert_aborts_reporting(
            "a_stack_overflow_names_the_green_thread",
            &[("ZSYNC_STACK_GUARD", mechanism)],
            "green thread 'overflow-victim' has overflowed its stack (64 KiB)",
        );
    }
}

#[test]
fn an_unnamed_context_overflow_is_reported_too() {
    if in_child() {
        let mut ctx = Context::new(Stack::new(32 * 1024).unwrap(), |_| {
            recurse_forever(0);
        });
        ctx.resume();
        return;
    }
    assert_aborts_reporting(
        "an_unnamed_context_overflow_is_reported_too",
        &[],
        "green thread '<unnamed>' has overflowed its stack (32 KiB)",
    );
}

/// A context that resumed another (which suspended back to it) and then overflows is named,
/// not the inner one: the report follows whichever stack runs.
#[test]
fn an_overflow_after_a_nested_resume_names_the_outer_context() {
    if in_child() {
        let mut outer = Context::new(Stack::new(64 * 1024).unwrap(), |_| {
            let mut inner = Context::new(Stack::new(32 * 1024).unwrap(), |s| loop {
                s.suspend();
            });
            inner.set_name("inner".into());
            for _ in 0..3 {
                inner.resume();
            }
            recurse_forever(0);
        });
        outer.set_name("outer".into());
        outer.resume();
        return;
    }
    assert_aborts_reporting(
        "an_overflow_after_a_nested_resume_names_the_outer_context",
        &[],
        "green thread 'outer' has overflowed its stack (64 KiB)",
    );
}

/// The handler finds the overflowing stack among all the contexts started on the thread:
/// contexts that finished before (first, last and middle of the list) are gone from it, and
/// suspended ones are passed over.
#[test]
fn an_overflow_names_the_right_context_among_many_started_ones() {
    if in_child() {
        let suspending = |name: &str| {
            let mut ctx = Context::new(Stack::new(32 * 1024).unwrap(), |s| s.suspend());
            ctx.set_name(name.into());
            ctx.resume();
            ctx
        };
        let mut contexts: Vec<Context> = ["a", "b", "c", "d", "e"].map(suspending).into();
        for index in [4, 2, 0] {
            // Finishing takes it off the list: "e" was its head, "a" its tail.
            assert!(matches!(
                contexts[index].resume(),
                zsync::coro::Resumed::Finished(Ok(()))
            ));
        }
        let mut deep = Context::new(Stack::new(64 * 1024).unwrap(), |_| {
            recurse_forever(0);
        });
        deep.set_name("deep".into());
        deep.resume();
        return;
    }
    assert_aborts_reporting(
        "an_overflow_names_the_right_context_among_many_started_ones",
        &[],
        "green thread 'deep' has overflowed its stack (64 KiB)",
    );
}

/// A green thread of a runtime, entered by a hand-over from another green thread of its
/// worker (a channel ping-pong on one worker), is named by its overflow report.
#[test]
fn an_overflow_in_a_spawned_green_thread_names_it() {
    if in_child() {
        let rt = zsync::Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(|| {
            let (to_deep, deep_rx) = zsync::sync::mpsc::channel::<u64>();
            let (to_main, main_rx) = zsync::sync::mpsc::channel::<u64>();
            let _deep = zsync::thread::Builder::new()
                .name("deep-green".into())
                .stack_size(64 * 1024)
                .spawn(move || {
                    for round in 0.. {
                        if deep_rx.recv().unwrap() == 10 {
                            recurse_forever(round);
                        }
                        to_main.send(round).unwrap();
                    }
                })
                .unwrap();
            for round in 0..=10 {
                to_deep.send(round).unwrap();
                main_rx.recv().unwrap();
            }
        });
        return;
    }
    assert_aborts_reporting(
        "an_overflow_in_a_spawned_green_thread_names_it",
        &[],
        "green thread 'deep-green' has overflowed its stack (64 KiB)",
    );
}

/// A write into the guard page of a context that is suspended, not running, is not reported as
/// its overflow: the fault goes to the previous handler.
#[test]
fn a_write_into_a_suspended_contexts_guard_is_not_an_overflow() {
    if in_child() {
        let stack = Stack::new(32 * 1024).unwrap();
        let guard = stack.guard().start as *mut u8;
        let mut ctx = Context::new(stack, |s| s.suspend());
        ctx.set_name("bystander".into());
        ctx.resume();
        // SAFETY (test): a deliberate write into the suspended context's guard page (the
        // context owns the stack, so the mapping is still there).
        unsafe { guard.add(8).write_volatile(1) };
        return;
    }
    assert_faults_unreported("a_write_into_a_suspended_contexts_guard_is_not_an_overflow");
}

#[test]
fn a_fault_outside_any_context_is_left_to_the_previous_handler() {
    if in_child() {
        // Make sure our handler is installed first, then fault on a null pointer.
        let mut ctx = Context::new(Stack::new(32 * 1024).unwrap(), |_| {});
        ctx.resume();
        // SAFETY (test): a deliberate segfault.
        unsafe {
            std::ptr::null_mut::<u8>()
                .add(std::hint::black_box(8))
                .write_volatile(1)
        };
        return;
    }
    assert_faults_unreported("a_fault_outside_any_context_is_left_to_the_previous_handler");
}

#[test]
fn running_out_of_mappings_is_an_error_that_names_the_limit() {
    if in_child() {
        let max = max_map_count();
        // Reserve up front: at the limit, growing this Vec would need a mapping of its own.
        let mut stacks = Vec::with_capacity(max);
        let err = loop {
            match Stack::new(16 * 1024) {
                Ok(stack) => stacks.push(stack),
                Err(err) => break err,
            }
        };
        println!("after {} stacks: {:?}: {err}", stacks.len(), err.kind());
        assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
        assert!(err.to_string().contains("vm.max_map_count"), "{err}");
        assert!(stacks.len() > max / 3, "only {} stacks", stacks.len());
        drop(stacks);
        // Everything was given back: stacks can be made again.
        Stack::new(16 * 1024).unwrap();
        println!("recovered");
        return;
    }
    exhaust_in_child(
        "running_out_of_mappings_is_an_error_that_names_the_limit",
        "recovered",
    );
}

#[test]
fn a_scoped_thread_that_could_not_start_is_reported_by_its_join_only() {
    // At the limit, the first green thread whose stack cannot be mapped fails as it starts
    // (its closure is dropped unrun and its `join` gives the error); the spawns after it map
    // eagerly and fail themselves. Before the fix, joining the one that failed at start took
    // a panic off `scope`'s count that no panic had put there, and `scope` then panicked.
    if in_child() {
        let rt = zsync::runtime::Builder::new()
            .worker_threads(1)
            .stack_size(16 * 1024)
            .build()
            .unwrap();
        rt.block_on(|| {
            let (failed_at_start, refused) = zsync::thread::scope(|s| {
                let mut handles = Vec::new();
                let refused = loop {
                    match zsync::thread::Builder::new().spawn_scoped(s, zsync::thread::park) {
                        Ok(h) => handles.push(h),
                        Err(err) => break err,
                    }
                    zsync::thread::yield_now(); // let the worker start what was spawned
                };
                for h in &handles {
                    h.thread().unpark();
                }
                let failed = handles.into_iter().filter_map(|h| h.join().err()).count();
                (failed, refused)
            });
            println!("refused: {:?}: {refused}", refused.kind());
            assert_eq!(refused.kind(), std::io::ErrorKind::OutOfMemory);
            assert!(failed_at_start >= 1, "no green thread failed as it started");
        });
        println!("scope returned");
        return;
    }
    exhaust_in_child(
        "a_scoped_thread_that_could_not_start_is_reported_by_its_join_only",
        "scope returned",
    );
}

fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Runs the test `name` in a child that uses mprotect guards (one extra mapping per stack), so
/// that it reaches vm.max_map_count quickly; the child must report OutOfMemory, then `done`.
fn exhaust_in_child(name: &str, done: &str) {
    let max = max_map_count();
    if max > 1 << 20 {
        println!("skipped: vm.max_map_count is {max}, too high to exhaust quickly");
        return;
    }
    let out = run_child(name, &[("ZSYNC_STACK_GUARD", "mprotect")]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("OutOfMemory") && stdout.contains(done),
        "{}",
        describe(&out)
    );
}

#[test]
fn spawn_reports_stack_exhaustion_as_an_error() {
    if in_child() {
        let rt = zsync::runtime::Builder::new()
            .worker_threads(2)
            .stack_size(16 * 1024)
            .build()
            .unwrap();
        let outcome = rt.block_on(|| {
            let mut handles = Vec::new();
            for _ in 0..200_000 {
                match zsync::thread::Builder::new().spawn(zsync::thread::park) {
                    Ok(h) => handles.push(h),
                    Err(err) => return Ok((handles.len(), err)),
                }
                zsync::thread::yield_now(); // let the workers start what was spawned
            }
            Err(handles.len())
        });
        let (spawned, err) = outcome.expect("spawn kept succeeding");
        println!(
            "spawn failed after {spawned} green threads: {:?}: {err}",
            err.kind()
        );
        assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
        assert!(err.to_string().contains("vm.max_map_count"), "{err}");
        drop(rt); // cancels and unwinds every parked green thread
        println!("runtime dropped cleanly");
        return;
    }
    exhaust_in_child(
        "spawn_reports_stack_exhaustion_as_an_error",
        "dropped cleanly",
    );
}
