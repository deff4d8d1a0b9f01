//! Temporary stand-in for the timer wheel (same API), until wheel.rs lands.
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

pub(crate) struct TimerWheel<T> {
    by_time: BTreeMap<(Instant, u64), T>,
    keys: HashMap<u64, Instant>,
    next: u64,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey(u64);

impl<T> TimerWheel<T> {
    pub(crate) fn new(_start: Instant) -> Self {
        TimerWheel {
            by_time: BTreeMap::new(),
            keys: HashMap::new(),
            next: 0,
        }
    }
    pub(crate) fn insert(&mut self, deadline: Instant, value: T) -> TimerKey {
        self.next += 1;
        self.by_time.insert((deadline, self.next), value);
        self.keys.insert(self.next, deadline);
        TimerKey(self.next)
    }
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let at = self.keys.remove(&key.0)?;
        self.by_time.remove(&(at, key.0))
    }
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_time.keys().next().map(|k| k.0)
    }
    pub(crate) fn advance(&mut self, now: Instant, mut fire: impl FnMut(T)) {
        while let Some(entry) = self.by_time.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), value) = entry.remove_entry();
            self.keys.remove(&id);
            fire(value);
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.by_time.is_empty()
    }
}
