//! Timers: each worker owns a [`wheel::TimerWheel`] of the green threads it parks with a
//! deadline (`park::park_until`), and fires it from its loop.

pub(crate) mod wheel;
