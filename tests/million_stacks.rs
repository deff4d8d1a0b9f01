//! B6's foundation: a million guarded stacks of the default size mapped at once, on the default
//! vm.max_map_count (65530). Possible only because MADV_GUARD_INSTALL adds no kernel mapping per
//! guard page; with mprotect guards the process would stop near 32,700 stacks.
//!
//! This file holds one test so that it has its process to itself.

use zsync::coro::{Stack, DEFAULT_STACK_SIZE};

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_million_guarded_stacks_fit_in_the_default_mapping_limit() {
    const COUNT: usize = 1_000_000;
    let before = mappings();
    let mut stacks = Vec::with_capacity(COUNT);
    for i in 0..COUNT {
        match Stack::new(DEFAULT_STACK_SIZE) {
            Ok(stack) => stacks.push(stack),
            Err(err) => panic!("stack {i} failed: {err}"),
        }
    }
    assert_eq!(
        zsync::coro::guard_mechanism(),
        "madvise(MADV_GUARD_INSTALL)",
        "this test needs Linux 6.13+ (MADV_GUARD_INSTALL)"
    );
    let during = mappings();
    println!(
        "{COUNT} stacks of {} KiB: {before} mappings before, {during} with them",
        DEFAULT_STACK_SIZE / 1024
    );
    assert!(
        during < before + 1000,
        "{during} mappings for {COUNT} stacks"
    );

    // Every guard is real: the lowest usable byte is writable, and the guards sit where they
    // should (one spot check per 100k; the faulting write itself is tested in tests/guard.rs).
    for stack in stacks.iter().step_by(100_000) {
        assert_eq!(stack.guard().end, stack.limit() as usize);
        // SAFETY (test): the lowest usable byte of a stack nobody runs on.
        unsafe { stack.limit().write_volatile(1) };
    }
    drop(stacks);
    assert!(mappings() < before + 100, "all freed");
}
