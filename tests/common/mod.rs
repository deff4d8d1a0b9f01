//! Helpers shared by the `zsync::sync` test files.
#![allow(dead_code, unused_macros, unused_imports)]

use zsync::runtime::{Builder, Flavor};

/// A green-thread runtime with `workers` workers.
pub fn runtime(workers: usize) -> zsync::Runtime {
    Builder::new().worker_threads(workers).build().unwrap()
}

/// Runs `body` on a plain OS thread, on green threads, and on a `Flavor::OsThreads` runtime.
pub fn on_each_model(body: fn()) {
    body();
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        Builder::new()
            .worker_threads(2)
            .flavor(flavor)
            .build()
            .unwrap()
            .block_on(body);
    }
}

/// A cheap deterministic pseudo-random sequence: each call returns a number below `n`.
pub fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

/// Compiles only if the type does not implement the trait (the call is ambiguous otherwise).
macro_rules! assert_not_impl {
    ($t:ty: $trait:path) => {{
        trait AmbiguousIfImpl<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
        impl<T: ?Sized + $trait> AmbiguousIfImpl<u8> for T {}
        <$t as AmbiguousIfImpl<_>>::some_item();
    }};
}
pub(crate) use assert_not_impl;
