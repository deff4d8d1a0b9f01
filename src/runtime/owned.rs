//! The green threads a worker owns: started and not finished, the ones its shutdown cancels.

use super::task::TaskRef;

/// A slab of the worker's live green threads. Each green thread keeps its slot index (in its
/// `Local`), so starting and finishing one costs a store into a dense vector; freed slots are
/// reused last-in first-out, while their cache line is still warm. (A hash map keyed by the
/// task's address cost two cache misses per start and per finish with 100,000 green threads
/// alive.) Slot indices are `u32`: each green thread's task stores one.
pub(crate) struct OwnedTasks<T = TaskRef> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for OwnedTasks<T> {
    fn default() -> Self {
        OwnedTasks {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T: Clone> OwnedTasks<T> {
    /// Adds a green thread; returns the slot to give back to `remove`.
    pub(crate) fn insert(&mut self, task: T) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot as usize].is_none());
                self.slots[slot as usize] = Some(task);
                slot
            }
            None => {
                // 2^32 live green threads on one worker would need 16 TiB for their stacks'
                // first pages alone: spawning fails with "out of memory" long before.
                let slot = u32::try_from(self.slots.len())
                    .expect("fewer than 2^32 live green threads per worker");
                self.slots.push(Some(task));
                slot
            }
        }
    }

    /// Removes the green thread in `slot` (from `insert`).
    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        let task = self.slots[slot as usize].take();
        if task.is_some() {
            self.free.push(slot);
        }
        task
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.len() == self.free.len()
    }

    /// How many green threads are live.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Every live green thread, cloned (for `Runtime::dump`).
    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.slots.iter().flatten().cloned().collect()
    }

    /// Clones into `batch` up to `max` live green threads from slot `*from` on, and moves
    /// `*from` past the last slot looked at. Shutdown cancels the live green threads a batch at
    /// a time (they unwind and leave, freeing slots, while it walks on).
    pub(crate) fn batch_from(&self, from: &mut usize, max: usize, batch: &mut Vec<T>) {
        while *from < self.slots.len() && batch.len() < max {
            if let Some(task) = &self.slots[*from] {
                batch.push(task.clone());
            }
            *from += 1;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn slots_are_reused_and_tracked() {
        let tasks: Vec<Arc<u32>> = (0..3).map(Arc::new).collect();
        let mut owned = OwnedTasks::default();
        let slots: Vec<u32> = tasks.iter().map(|t| owned.insert(t.clone())).collect();
        assert_eq!(slots, [0, 1, 2]);
        assert_eq!(owned.snapshot().len(), 3);
        assert_eq!(owned.len(), 3);
        let (mut from, mut batch) = (0, Vec::new());
        owned.batch_from(&mut from, 2, &mut batch);
        assert_eq!((from, batch.len()), (2, 2));
        batch.clear();
        owned.batch_from(&mut from, 2, &mut batch);
        assert_eq!(
            (from, batch.len()),
            (3, 1),
            "a batch stops at the end of the slab"
        );
        assert!(Arc::ptr_eq(&owned.remove(1).unwrap(), &tasks[1]));
        assert!(owned.remove(1).is_none(), "a slot is freed once");
        assert_eq!(owned.len(), 2);
        assert_eq!(
            owned.insert(tasks[1].clone()),
            1,
            "the freed slot comes back first"
        );
        for slot in slots {
            owned.remove(slot);
        }
        assert!(owned.is_empty());
        assert!(owned.snapshot().is_empty());
    }
}
