//! A hierarchical timer wheel, one per worker: 6 levels of 64 slots, one tick (2^16 ns, about
//! 65.5 us) per slot at level 0, 64 times coarser at each level up (level 1's slots are 4.2 ms,
//! level 2's 268 ms; the top level spans about 52 days).
//!
//! The tick is what a green thread's sleep can be late by, on top of the kernel's own wake-up
//! latency: std's `sleep` on an OS thread is about 0.1 ms late, and so is ours. A 1 ms tick (what
//! tokio's wheel has) made a 1 ms sleep take 1 to 2 ms, and a 100 us one take 1 ms or more; a
//! finer tick costs little, since the levels still cascade an entry at most once per level and
//! the occupancy maps skip empty slots.
//!
//! Entries live in a slab and each slot is an array of slab indices; an entry knows its place in
//! its slot's array, so insert (a push) and cancel (a swap-remove, which moves one index and
//! updates its entry) are O(1). Arrays rather than linked lists: a slot's due entries are
//! visited by reading its array in order, so the loads of their entries do not wait on one
//! another (following `next` links through a slab of a million timers was one dependent cache
//! miss per entry, 9% of B8's CPU). A 64-bit occupancy map per level lets `advance` jump
//! straight to the next occupied slot, so long empty stretches cost nothing. When time reaches
//! a slot of a higher level, its entries cascade down to finer levels; an entry fires once the
//! wheel's tick has reached its own deadline tick, which is rounded up, so nothing fires early.
//!
//! The wheel proper holds only deadlines in the current *turn* of the top level: ticks that agree
//! with `elapsed` on every bit above the wheel's 36 (`tick ^ elapsed < SPAN`). Anything later (a
//! deadline beyond the span, e.g. 800 days, `Duration::MAX` clamped to an `Instant`, or just one
//! that falls past the end of the current turn) waits in an overflow list. The wheel visits that
//! list when the clock reaches the start of the turn of its earliest entry, and links into the
//! wheel whatever now belongs to the current turn. Every slot and the overflow visit lie strictly
//! ahead of `elapsed` when they are armed, so `advance` always makes progress: a far deadline can
//! never be reported due and put back where it was (the endless loop the old clamp to the top
//! level's farthest slot caused once the clock had moved).
//!
//! Single-threaded: a worker owns its wheel (`runtime::worker`); green threads on that worker
//! insert and cancel (`runtime::park`).

use crate::coro::prefetch;
use std::time::{Duration, Instant};

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Ticks the whole wheel spans.
const SPAN: u64 = 1 << (SLOT_BITS as u64 * LEVELS as u64);
/// A tick is 2^TICK_SHIFT nanoseconds (65,536 ns).
const TICK_SHIFT: u32 = 16;
/// How many entries ahead of the one it fires `advance` asks the CPU for.
const PREFETCH_AHEAD: usize = 8;
/// The `level` of an entry in the overflow list.
const OVERFLOW: usize = LEVELS;

/// Names an inserted timer. Stale keys (fired or cancelled timers, reused slab entries) are
/// recognised by their generation and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u32,
}

struct Entry<T> {
    value: Option<T>,
    /// The deadline in ticks since `start`, rounded up.
    tick: u64,
    generation: u32,
    level: u8,
    slot: u8,
    /// Where its index is in its slot's (or the overflow list's) array.
    pos: u32,
}

pub(crate) struct TimerWheel<T> {
    start: Instant,
    /// Every tick up to this one has been processed.
    elapsed: u64,
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    slots: [[Vec<u32>; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    /// Entries whose tick lies beyond the current turn of the top level.
    overflow: Vec<u32>,
    /// An empty array that takes the place of the slot `advance` empties, so that slots keep
    /// their capacity from turn to turn.
    spare: Vec<u32>,
    /// The start of the turn of the earliest overflow entry, when the list is looked at next;
    /// `u64::MAX` when the list is empty. May be early (after a cancel), never late: an early
    /// visit just links nothing and re-arms.
    overflow_at: u64,
    len: usize,
}

impl<T> TimerWheel<T> {
    pub(crate) fn new(start: Instant) -> Self {
        TimerWheel {
            start,
            elapsed: 0,
            entries: Vec::new(),
            free: Vec::new(),
            slots: std::array::from_fn(|_| std::array::from_fn(|_| Vec::new())),
            occupied: [0; LEVELS],
            overflow: Vec::new(),
            spare: Vec::new(),
            overflow_at: u64::MAX,
            len: 0,
        }
    }

    /// Ticks since `start` at `t`, rounded up (deadlines) or down (the clock).
    fn ticks(&self, t: Instant, round_up: bool) -> u64 {
        let d = t.saturating_duration_since(self.start);
        // Saturates after 584 years, far beyond the wheel's span (such a deadline waits in the
        // overflow list, and a wait for it is a wait forever).
        let nanos = d
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(d.subsec_nanos()));
        let ticks = nanos >> TICK_SHIFT;
        if round_up && nanos & ((1 << TICK_SHIFT) - 1) != 0 {
            ticks + 1
        } else {
            ticks
        }
    }

    /// The instant at which tick `tick` starts; `None` if that is too far away to be an
    /// `Instant`.
    fn instant(&self, tick: u64) -> Option<Instant> {
        let nanos = u128::from(tick) << TICK_SHIFT;
        let d = Duration::new(
            u64::try_from(nanos / 1_000_000_000).ok()?,
            (nanos % 1_000_000_000) as u32,
        );
        self.start.checked_add(d)
    }

    /// Arms a timer. A deadline in the past fires at the next `advance`.
    pub(crate) fn insert(&mut self, deadline: Instant, value: T) -> TimerKey {
        let tick = self.ticks(deadline, true).max(self.elapsed);
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.entries.push(Entry {
                    value: None,
                    tick: 0,
                    generation: 0,
                    level: 0,
                    slot: 0,
                    pos: 0,
                });
                u32::try_from(self.entries.len() - 1).expect("fewer than 4 billion timers")
            }
        };
        let entry = &mut self.entries[index as usize];
        entry.value = Some(value);
        entry.tick = tick;
        let generation = entry.generation;
        self.link(index);
        self.len += 1;
        TimerKey { index, generation }
    }

    /// Disarms a timer and gives its value back; `None` if it already fired or was cancelled.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let entry = self.entries.get(key.index as usize)?;
        if entry.generation != key.generation || entry.value.is_none() {
            return None;
        }
        self.unlink(key.index);
        Some(self.release(key.index))
    }

    /// When `advance` would next fire or cascade something: never after the earliest deadline's
    /// tick, so an idle worker may sleep until then. `None` if nothing is armed, or if that time
    /// is too far away to be an `Instant` (a wait for it is a wait forever).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let (_, _, when) = self.next_expiration()?;
        self.instant(when)
    }

    /// Fires, by passing their values to `fire`, every timer whose deadline is at or before
    /// `now`.
    pub(crate) fn advance(&mut self, now: Instant, mut fire: impl FnMut(T)) {
        let now_tick = self.ticks(now, false);
        if now_tick < self.elapsed {
            return;
        }
        while let Some((level, slot, when)) = self.next_expiration() {
            if when > now_tick {
                break;
            }
            self.elapsed = when;
            // Take the whole slot (or the overflow list), then fire what is due and cascade the
            // rest down. Each entry is linked relative to the new `elapsed`: into a slot that
            // starts later, or back into the overflow list to be looked at in a later turn.
            let spare = std::mem::take(&mut self.spare);
            let mut batch = if level == OVERFLOW {
                self.overflow_at = u64::MAX; // re-armed by what goes back in
                std::mem::replace(&mut self.overflow, spare)
            } else {
                self.occupied[level] &= !(1 << slot);
                std::mem::replace(&mut self.slots[level][slot], spare)
            };
            for (i, &index) in batch.iter().enumerate() {
                if let Some(&ahead) = batch.get(i + PREFETCH_AHEAD) {
                    prefetch((&raw const self.entries[ahead as usize]).cast());
                }
                if self.entries[index as usize].tick <= self.elapsed {
                    let value = self.release(index);
                    fire(value);
                } else {
                    self.link(index);
                }
            }
            batch.clear();
            self.spare = batch;
        }
        self.elapsed = now_tick;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The level and slot for a deadline tick (at or after `elapsed`), relative to `elapsed`:
    /// the level of the highest 6-bit digit in which they differ. `None` if they differ above
    /// the top level: the tick is in a later turn of the wheel and goes to the overflow list.
    fn position(&self, tick: u64) -> Option<(usize, usize)> {
        let differing = (self.elapsed ^ tick) | (SLOTS as u64 - 1);
        if differing >= SPAN {
            return None;
        }
        let level = ((63 - differing.leading_zeros()) / SLOT_BITS) as usize;
        let slot = ((tick >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1);
        Some((level, slot))
    }

    fn link(&mut self, index: u32) {
        let tick = self.entries[index as usize].tick;
        let (level, slot, list) = match self.position(tick) {
            Some((level, slot)) => {
                self.occupied[level] |= 1 << slot;
                (level, slot, &mut self.slots[level][slot])
            }
            None => {
                // Looked at again when the clock reaches the start of the tick's turn, which
                // is after `elapsed` (the tick differs from it above the wheel's bits and is
                // not earlier).
                self.overflow_at = self.overflow_at.min(tick & !(SPAN - 1));
                (OVERFLOW, 0, &mut self.overflow)
            }
        };
        let pos = u32::try_from(list.len()).expect("fewer than 4 billion timers");
        list.push(index);
        let entry = &mut self.entries[index as usize];
        entry.level = level as u8;
        entry.slot = slot as u8;
        entry.pos = pos;
    }

    fn unlink(&mut self, index: u32) {
        let (level, slot, pos) = {
            let e = &self.entries[index as usize];
            (e.level as usize, e.slot as usize, e.pos as usize)
        };
        let list = if level == OVERFLOW {
            &mut self.overflow
        } else {
            &mut self.slots[level][slot]
        };
        list.swap_remove(pos);
        let moved = list.get(pos).copied();
        let emptied = list.is_empty();
        if let Some(moved) = moved {
            self.entries[moved as usize].pos = pos as u32;
        }
        if emptied {
            if level == OVERFLOW {
                self.overflow_at = u64::MAX;
            } else {
                self.occupied[level] &= !(1 << slot);
            }
        }
    }

    /// Frees an entry that is in no list and returns its value.
    fn release(&mut self, index: u32) -> T {
        let entry = &mut self.entries[index as usize];
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        entry.value.take().expect("a live timer has a value")
    }

    /// The earliest occupied slot: (level, slot, the tick at which it starts); level `OVERFLOW`
    /// for the visit of the overflow list.
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        let mut best: Option<(usize, usize, u64)> =
            (!self.overflow.is_empty()).then(|| (OVERFLOW, 0, self.overflow_at.max(self.elapsed)));
        for level in 0..LEVELS {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let shift = level as u32 * SLOT_BITS;
            let slot_ticks = 1u64 << shift;
            let level_ticks = slot_ticks << SLOT_BITS;
            let now_slot = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
            let offset = occupied.rotate_right(now_slot as u32).trailing_zeros() as usize;
            let slot = (now_slot + offset) & (SLOTS - 1);
            let level_start = self.elapsed & !(level_ticks - 1);
            let mut when = level_start + slot as u64 * slot_ticks;
            if slot < now_slot {
                when += level_ticks; // the next turn of this level
            }
            // A slot that started before `elapsed` (its digit equals elapsed's) is due now.
            let when = when.max(self.elapsed);
            if best.is_none_or(|(_, _, w)| when < w) {
                best = Some((level, slot, when));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ticks` ticks after `start`. The tests count in ticks (and call a tick "ms" where that
    /// reads better: these tests were written when a tick was a millisecond).
    fn at(start: Instant, ticks: u64) -> Instant {
        start + Duration::from_nanos(ticks << TICK_SHIFT)
    }

    fn fired(wheel: &mut TimerWheel<u64>, now: Instant) -> Vec<u64> {
        let mut out = Vec::new();
        wheel.advance(now, |v| out.push(v));
        out.sort_unstable();
        out
    }

    #[test]
    fn fires_due_entries_never_early() {
        let s = Instant::now();
        let mut w = TimerWheel::new(s);
        w.insert(at(s, 5), 5);
        w.insert(at(s, 5) + Duration::from_micros(30), 55); // within tick 5: rounds up to 6
        w.insert(at(s, 0), 0);
        assert_eq!(fired(&mut w, at(s, 0)), [0]);
        assert_eq!(fired(&mut w, at(s, 4)), Vec::<u64>::new());
        assert_eq!(
            fired(&mut w, at(s, 5) - Duration::from_nanos(1)),
            Vec::<u64>::new()
        );
        assert_eq!(fired(&mut w, at(s, 5)), [5]);
        assert_eq!(
            fired(&mut w, at(s, 5) + Duration::from_micros(50)),
            Vec::<u64>::new()
        );
        assert_eq!(fired(&mut w, at(s, 6)), [55]);
        assert!(w.is_empty());
        // A deadline in the past fires at the next advance.
        w.insert(at(s, 1), 1);
        assert_eq!(fired(&mut w, at(s, 6)), [1]);
    }

    #[test]
    fn every_level_fires_on_time() {
        let s = Instant::now();
        let ms = [
            1u64,
            70,
            5_000,
            360_000,
            7 * 3_600_000,
            400 * 86_400_000,
            900 * 86_400_000,
        ];
        for &d in &ms {
            let mut w = TimerWheel::new(s);
            w.insert(at(s, d), d);
            // Jump close to the deadline (cheap: empty stretches are skipped), then step.
            assert_eq!(
                fired(&mut w, at(s, d - 1)),
                Vec::<u64>::new(),
                "{d} fired early"
            );
            assert_eq!(fired(&mut w, at(s, d)), [d], "{d} did not fire on time");
        }
    }

    #[test]
    fn cancel_returns_the_value_once() {
        let s = Instant::now();
        let mut w = TimerWheel::new(s);
        let a = w.insert(at(s, 10), 1);
        let b = w.insert(at(s, 10), 2);
        let c = w.insert(at(s, 100_000), 3);
        assert_eq!(w.cancel(b), Some(2));
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.cancel(c), Some(3));
        assert_eq!(w.len(), 1);
        assert_eq!(fired(&mut w, at(s, 200_000)), [1]);
        assert_eq!(w.cancel(a), None, "already fired");
        // The freed slab entries are reused; old keys do not reach the new timers.
        let d = w.insert(at(s, 300_000), 4);
        assert_eq!(w.cancel(a), None);
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.cancel(d), Some(4));
    }

    #[test]
    fn next_deadline_is_never_after_the_earliest() {
        let s = Instant::now();
        let mut w = TimerWheel::new(s);
        assert_eq!(w.next_deadline(), None);
        let k = w.insert(at(s, 50), 50);
        w.insert(at(s, 5_000), 5_000);
        assert_eq!(w.next_deadline(), Some(at(s, 50)));
        w.cancel(k);
        let next = w.next_deadline().unwrap();
        assert!(next <= at(s, 5_000) && next > at(s, 50), "{:?}", next - s);
        fired(&mut w, at(s, 4_100));
        let next = w.next_deadline().unwrap();
        assert!(next <= at(s, 5_000), "{:?}", next - s);
    }

    #[test]
    fn long_empty_stretches_are_skipped() {
        let s = Instant::now();
        let mut w = TimerWheel::new(s);
        let ten_hours = 10 * 3_600_000;
        w.insert(at(s, ten_hours), 1);
        let mut steps = 0;
        // Count loop turns through next_deadline: each one is a slot visit, not a tick.
        while let Some(next) = w.next_deadline() {
            steps += 1;
            let mut out = Vec::new();
            w.advance(next, |v| out.push(v));
            if !out.is_empty() {
                assert_eq!(next, at(s, ten_hours));
                break;
            }
            assert!(steps < 20, "too many steps");
        }
        assert!(steps <= LEVELS + 1, "{steps} steps");
    }

    /// Runs `f` on another thread and fails if it does not end within a generous bound: the
    /// far-deadline bugs these tests look for made `advance` loop forever.
    fn terminates(name: &str, f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(()) => worker.join().unwrap(),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // It panicked: report its panic.
                if let Err(payload) = worker.join() {
                    std::panic::resume_unwind(payload);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name}: the wheel did not finish (an endless loop in advance?)")
            }
        }
    }

    const DAY: u64 = 86_400_000;

    #[test]
    fn far_deadlines_fire_on_time_wherever_the_clock_is() {
        terminates("far deadlines", || {
            let s = Instant::now();
            // Where the clock is when the far timers go in: at the start, a little later,
            // just before the end of the span's first turn, and several turns later.
            for origin in [0, 5, 12_345, SPAN - 5, 3 * SPAN + 7] {
                let mut w = TimerWheel::new(s);
                w.insert(at(s, origin), u64::MAX);
                assert_eq!(fired(&mut w, at(s, origin)), [u64::MAX], "origin {origin}");
                let mut deadlines = vec![
                    origin + SPAN - 1,
                    origin + SPAN,
                    origin + SPAN + 1,
                    origin + 800 * DAY,
                    origin + 2 * SPAN + 3,
                    origin + 5 * SPAN,
                    origin + 100 * 365 * DAY,
                ];
                for &d in &deadlines {
                    w.insert(at(s, d), d);
                }
                // The worker sleeps until next_deadline: it must be in the future, not now.
                let next = w.next_deadline().expect("timers are pending");
                assert!(next > at(s, origin), "origin {origin}: {:?}", next - s);
                assert!(next <= at(s, origin + SPAN - 1), "origin {origin}");
                deadlines.sort_unstable();
                for &d in &deadlines {
                    assert_eq!(
                        fired(&mut w, at(s, d - 1)),
                        Vec::<u64>::new(),
                        "origin {origin}: {d} fired early"
                    );
                    assert_eq!(
                        fired(&mut w, at(s, d)),
                        [d],
                        "origin {origin}: {d} did not fire on time"
                    );
                }
                assert!(w.is_empty());
                assert_eq!(w.next_deadline(), None);
            }
        });
    }

    #[test]
    fn a_near_timer_after_a_far_one_fires_on_time() {
        terminates("near after far", || {
            let s = Instant::now();
            let mut w = TimerWheel::new(s);
            assert_eq!(fired(&mut w, at(s, 5)), Vec::<u64>::new());
            w.insert(at(s, 5 + 800 * DAY), 800);
            w.insert(at(s, 15), 15);
            let next = w.next_deadline().unwrap();
            assert!(next > at(s, 5) && next <= at(s, 15), "{:?}", next - s);
            assert_eq!(fired(&mut w, at(s, 14)), Vec::<u64>::new());
            assert_eq!(fired(&mut w, at(s, 15)), [15]);
            assert_eq!(w.len(), 1, "the far timer is kept");
            // Follow next_deadline as the worker does: a handful of visits, never a spin.
            let mut visits = 0;
            let mut out = Vec::new();
            while out.is_empty() {
                let next = w.next_deadline().expect("the far timer is pending");
                assert!(next > at(s, 15), "{:?}", next - s);
                w.advance(next, |v| out.push(v));
                visits += 1;
                assert!(visits < 4 * LEVELS, "{visits} visits");
            }
            assert_eq!(out, [800]);
            assert_eq!(w.next_deadline(), None);
        });
    }

    #[test]
    fn a_near_deadline_in_the_next_turn_fires_on_time() {
        terminates("next turn", || {
            let s = Instant::now();
            let mut w = TimerWheel::new(s);
            fired(&mut w, at(s, SPAN - 5));
            w.insert(at(s, SPAN + 5), 1);
            let next = w.next_deadline().unwrap();
            assert!(next > at(s, SPAN - 5) && next <= at(s, SPAN + 5));
            assert_eq!(fired(&mut w, at(s, SPAN + 4)), Vec::<u64>::new());
            assert_eq!(fired(&mut w, at(s, SPAN + 5)), [1]);
        });
    }

    #[test]
    fn far_timers_cancel() {
        terminates("cancel far", || {
            let s = Instant::now();
            let mut w = TimerWheel::new(s);
            fired(&mut w, at(s, 7));
            let a = w.insert(at(s, 800 * DAY), 1);
            let b = w.insert(at(s, 3 * SPAN), 2);
            let c = w.insert(at(s, 900 * DAY), 3);
            assert_eq!(w.cancel(b), Some(2));
            assert_eq!(w.cancel(b), None);
            assert_eq!(w.len(), 2);
            assert_eq!(fired(&mut w, at(s, 850 * DAY)), [1]);
            assert_eq!(w.cancel(a), None, "already fired");
            assert_eq!(w.cancel(c), Some(3));
            assert!(w.is_empty());
            assert_eq!(fired(&mut w, at(s, 4 * SPAN)), Vec::<u64>::new());
            assert_eq!(w.next_deadline(), None);
        });
    }

    #[test]
    fn far_deadlines_match_a_sorted_reference() {
        terminates("far random", || {
            let s = Instant::now();
            let mut w = TimerWheel::new(s);
            let mut reference: Vec<(u64, u64, TimerKey)> = Vec::new(); // (deadline ms, id, key)
            let mut seed = 0x2545_f491u32;
            let mut rand = move || {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                u64::from(seed)
            };
            let mut now = 0u64;
            for id in 0..5_000u64 {
                match rand() % 10 {
                    0..=5 => {
                        let span = [100, SPAN / 64, SPAN, 4 * SPAN][rand() as usize % 4];
                        let deadline = now + (rand() << 32 | rand()) % span;
                        let key = w.insert(at(s, deadline), id);
                        reference.push((deadline, id, key));
                    }
                    6 if !reference.is_empty() => {
                        let i = rand() as usize % reference.len();
                        let (_, id, key) = reference.swap_remove(i);
                        assert_eq!(w.cancel(key), Some(id));
                    }
                    _ => {
                        let jump = [50, SPAN / 256, SPAN / 4, SPAN][rand() as usize % 4];
                        now += (rand() << 32 | rand()) % jump;
                        let got = fired(&mut w, at(s, now));
                        let mut due: Vec<u64> = reference
                            .iter()
                            .filter(|r| r.0 <= now)
                            .map(|r| r.1)
                            .collect();
                        due.sort_unstable();
                        reference.retain(|r| r.0 > now);
                        assert_eq!(got, due, "at {now} ms");
                        assert_eq!(w.len(), reference.len());
                        if let Some(next) = w.next_deadline() {
                            let earliest = reference.iter().map(|r| r.0).min().unwrap();
                            assert!(next > at(s, now) && next <= at(s, earliest));
                        }
                    }
                }
            }
        });
    }

    #[test]
    fn matches_a_sorted_reference_under_random_operations() {
        let s = Instant::now();
        let mut w = TimerWheel::new(s);
        let mut reference: Vec<(u64, u64, TimerKey)> = Vec::new(); // (deadline us, id, key)
        let mut seed = 0x9e37_79b9u32;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let mut now_us = 0u64;
        for id in 0..20_000u64 {
            match rand() % 10 {
                0..=5 => {
                    let span = [2_000u64, 200_000, 20_000_000][rand() as usize % 3];
                    let deadline = now_us + u64::from(rand()) % span;
                    let key = w.insert(s + Duration::from_micros(deadline), id);
                    reference.push((deadline, id, key));
                }
                6 if !reference.is_empty() => {
                    let i = rand() as usize % reference.len();
                    let (_, id, key) = reference.swap_remove(i);
                    assert_eq!(w.cancel(key), Some(id));
                }
                _ => {
                    now_us += u64::from(rand()) % 3_000_000;
                    let now = s + Duration::from_micros(now_us);
                    let got = fired(&mut w, now);
                    // Due in the reference: the deadline's tick, rounded up, is at or before
                    // now's, rounded down (a tick is 65,536 ns).
                    let tick = 65_536;
                    let now_tick = now_us * 1000 / tick;
                    let due_by_now = |d: u64| (d * 1000).div_ceil(tick) <= now_tick;
                    let mut due: Vec<u64> = reference
                        .iter()
                        .filter(|(d, _, _)| due_by_now(*d))
                        .map(|r| r.1)
                        .collect();
                    due.sort_unstable();
                    reference.retain(|(d, _, _)| !due_by_now(*d));
                    assert_eq!(got, due, "at {now_us} us");
                    assert_eq!(w.len(), reference.len());
                }
            }
        }
    }
}
