//! Features that an environment variable turns off (`ZSYNC_IO_URING=0`, `ZSYNC_FS_NOWAIT=0`,
//! `ZSYNC_FS_IN_PLACE=0`, `ZSYNC_PIDFD=0`), read once per process, and that the code turns off
//! itself when the kernel refuses them.
//!
//! A leaf: the reactor below the runtime and the modules above it use it alike.

use std::sync::atomic::{AtomicU8, Ordering};

const UNREAD: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// One such feature: on unless its variable is `0` or the code turned it off.
pub(crate) struct EnvSwitch {
    variable: &'static str,
    state: AtomicU8,
}

impl EnvSwitch {
    /// The feature `variable=0` turns off.
    pub(crate) const fn new(variable: &'static str) -> EnvSwitch {
        EnvSwitch {
            variable,
            state: AtomicU8::new(UNREAD),
        }
    }

    /// Whether the feature is on: the variable is read on the first call only.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        match self.state.load(Ordering::Relaxed) {
            ON => true,
            OFF => false,
            _ => self.read(),
        }
    }

    #[cold]
    fn read(&self) -> bool {
        let on = std::env::var_os(self.variable).is_none_or(|v| v != "0");
        // A `turn_off` that came first wins.
        let _ = self.state.compare_exchange(
            UNREAD,
            if on { ON } else { OFF },
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.state.load(Ordering::Relaxed) == ON
    }

    /// Turns the feature off for the rest of the process (the kernel refused it).
    pub(crate) fn turn_off(&self) {
        self.state.store(OFF, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn on_unless_the_variable_is_zero_or_the_code_turned_it_off() {
        static UNSET: EnvSwitch = EnvSwitch::new("ZSYNC_TEST_SWITCH_NEVER_SET");
        assert!(UNSET.is_on());
        UNSET.turn_off();
        assert!(!UNSET.is_on());
        // A variable this test sets is not read by any other switch.
        std::env::set_var("ZSYNC_TEST_SWITCH_ZERO", "0");
        static ZERO: EnvSwitch = EnvSwitch::new("ZSYNC_TEST_SWITCH_ZERO");
        assert!(!ZERO.is_on());
        static EARLY: EnvSwitch = EnvSwitch::new("ZSYNC_TEST_SWITCH_NEVER_SET_EITHER");
        EARLY.turn_off();
        assert!(!EARLY.is_on(), "turned off before the variable was read");
    }
}
