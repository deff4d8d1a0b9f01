//! The green threads a worker owns: started and not finished, the ones its shutdown cancels.

use super::task::TaskRef;

/// A slab of the worker's live green threads. Each green thread keeps its slot index (in its
/// `Local`), so starting and finishing one costs a store into a dense vector; freed slots are
/// reused last-in first-out, while their cache line is still warm. (A hash map keyed by the
/// task's address cost two cache misses per start and per finish with 100,000 green threads
/// alive.)
pub(crate) struct OwnedTasks<T = TaskRef> {
    slots: Vec<Option<T>>,
    free: Vec<usize>,
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
    pub(crate) fn insert(&mut self, task: T) -> usize {
        match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot].is_none());
                self.slots[slot] = Some(task);
                slot
            }
            None => {
                self.slots.push(Some(task));
                self.slots.len() - 1
            }
        }
    }

    /// Removes the green thread in `slot` (from `insert`).
    pub(crate) fn remove(&mut self, slot: usize) -> Option<T> {
        let task = self.slots[slot].take();
        if task.is_some() {
            self.free.push(slot);
        }
        task
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.len() == self.free.len()
    }

    /// Every live green thread, cloned (shutdown cancels them while they unwind and leave).
    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.slots.iter().flatten().cloned().collect()
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
        let slots: Vec<usize> = tasks.iter().map(|t| owned.insert(t.clone())).collect();
        assert_eq!(slots, [0, 1, 2]);
        assert_eq!(owned.snapshot().len(), 3);
        assert!(Arc::ptr_eq(&owned.remove(1).unwrap(), &tasks[1]));
        assert!(owned.remove(1).is_none(), "a slot is freed once");
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
