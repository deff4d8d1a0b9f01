//! `Ring`: the worker's local ready queue, a growable ring buffer owned by one OS thread.
//!
//! `VecDeque` would do, but the compiler keeps its `push_back` out of line at the wake sites
//! (a call and ~17 instructions per wake, twice per B4 round trip and once per B7 request), and
//! its `pop_front` and indexing carry a wrap-around test each. Here the capacity is a power of
//! two, so a slot is `(head + i) & mask`; a push and a pop are a handful of instructions
//! inline, and only the growth (rare: the queue keeps its room) is out of line.

use std::mem::MaybeUninit;

/// A first-in first-out queue with pushes at both ends, for one owner.
pub(crate) struct Ring<T> {
    /// A power of two in length, or empty before the first push. `slots[(head + i) & mask]`
    /// is initialised for `i < len`, and no other slot is.
    slots: Box<[MaybeUninit<T>]>,
    head: usize,
    len: usize,
}

/// The first allocation's slots.
const FIRST_CAPACITY: usize = 16;

impl<T> Ring<T> {
    pub(crate) fn new() -> Ring<T> {
        Ring {
            slots: Box::new([]),
            head: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        // `slots.len()` is a power of two (or 0, when `len` is 0 and no slot is looked at).
        self.slots.len().wrapping_sub(1)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `value` at the back.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, value: T) {
        if self.len == self.slots.len() {
            self.grow();
        }
        let at = (self.head + self.len) & self.mask();
        // SAFETY: `at` is masked into the slots, and it is free: the ring holds `len` values
        // from `head` on, fewer than its slots (grown above).
        unsafe { self.slots.get_unchecked_mut(at).write(value) };
        self.len += 1;
    }

    /// Adds `value` at the front.
    #[inline(always)]
    pub(crate) fn push_front(&mut self, value: T) {
        if self.len == self.slots.len() {
            self.grow();
        }
        self.head = self.head.wrapping_sub(1) & self.mask();
        // SAFETY: the slot before the old head is masked into the slots, and free (as in
        // `push_back`).
        unsafe { self.slots.get_unchecked_mut(self.head).write(value) };
        self.len += 1;
    }

    /// Takes the value at the front.
    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: `head` holds the first of `len > 0` initialised values; it is read once, as
        // `head` moves past it and `len` drops it from the ring.
        let value = unsafe { self.slots.get_unchecked(self.head).assume_init_read() };
        self.head = (self.head + 1) & self.mask();
        self.len -= 1;
        Some(value)
    }

    /// The value `i` places behind the front.
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        // SAFETY: `i < len`, so the slot is masked into the slots and initialised.
        Some(unsafe {
            self.slots
                .get_unchecked((self.head + i) & self.mask())
                .assume_init_ref()
        })
    }

    #[inline(always)]
    pub(crate) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The values, front to back.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        (0..self.len).filter_map(|i| self.get(i))
    }

    /// Doubles the slots, moving the values to the front of the new ones, in order.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(FIRST_CAPACITY);
        let mut slots: Box<[MaybeUninit<T>]> = std::iter::repeat_with(MaybeUninit::uninit)
            .take(capacity)
            .collect();
        let mask = self.mask();
        for (i, slot) in slots.iter_mut().take(self.len).enumerate() {
            // SAFETY: each of the `len` values is read once, and the old slots are then freed
            // as `MaybeUninit`s, which drop nothing.
            slot.write(unsafe { self.slots[(self.head + i) & mask].assume_init_read() });
        }
        self.slots = slots;
        self.head = 0;
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop_front().is_some() {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Ring;
    use std::rc::Rc;

    #[test]
    fn first_in_first_out_across_wraps_and_growth() {
        let mut ring = Ring::new();
        let mut expected = std::collections::VecDeque::new();
        // Pushes and pops out of step, so that the head wraps before, while and after the
        // ring grows; a push at the front now and then.
        for round in 0..2000usize {
            if round % 7 == 0 {
                ring.push_front(round);
                expected.push_front(round);
            } else {
                ring.push_back(round);
                expected.push_back(round);
            }
            if round % 3 == 0 {
                assert_eq!(ring.pop_front(), expected.pop_front());
            }
            assert_eq!(ring.len(), expected.len());
            assert_eq!(ring.front(), expected.front());
            assert_eq!(ring.get(1), expected.get(1));
            assert_eq!(ring.get(ring.len()), None);
        }
        assert!(ring.iter().eq(expected.iter()));
        while let Some(value) = expected.pop_front() {
            assert_eq!(ring.pop_front(), Some(value));
        }
        assert!(ring.is_empty());
        assert_eq!(ring.pop_front(), None);
    }

    #[test]
    fn values_left_in_the_ring_are_dropped_once() {
        let counted = Rc::new(());
        let mut ring = Ring::new();
        for _ in 0..40 {
            ring.push_back(counted.clone());
            ring.push_front(counted.clone());
        }
        drop(ring.pop_front());
        assert_eq!(Rc::strong_count(&counted), 80);
        drop(ring);
        assert_eq!(Rc::strong_count(&counted), 1);
    }
}
