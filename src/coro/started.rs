//! The contexts started on this OS thread and not finished: what the overflow handler
//! (`overflow.rs`) searches for the stack whose guard page a fault hit.
//!
//! A table of slots per OS thread, in chunks of [`SLOTS`]: a started context holds one slot,
//! which points at its `StackInfo`, from its first resume to its finish (twice per context,
//! off the switch; a context never changes OS thread once started). A free slot holds the
//! next free slot's address with the low bit set, so the free slots form a list threaded
//! through the table itself, and the handler tells a taken slot (an aligned, non-null
//! pointer) from a free one by that bit.
//!
//! Why a table and not a list through the contexts' own stack headers (which this replaced):
//! leaving such a list writes into both neighbours' headers, contexts started long apart whose
//! stacks have left the cache. With a million sleepers finishing in random order, those two
//! stores were a tenth of the samples (B8 on 2 workers: 1,803-2,051 -> 1,607-1,730 ms of CPU
//! in alternating runs).
//! Here a start and a finish touch the context's own header, one slot and the thread's
//! free-list head; a slot freed is the next one taken.
//!
//! The race: the handler runs on this thread, between any two instructions of [`watch`],
//! [`unwatch`] and the table's growth and teardown. Every state it can see must be a table
//! whose taken slots point at live `StackInfo`s: [`watch`] fills the slot last, [`unwatch`]
//! frees it first (before the context's memory can be reused), a new chunk is complete
//! before the head points at it, and the teardown unlinks the table before it frees
//! anything. A compiler fence keeps each of those orders (the CPU never reorders a thread's
//! stores as seen by its own signal handler).
//!
//! Teardown: at thread exit the table is unlinked, and each chunk is freed if all its slots are
//! free, or leaked if a context started here is still unfinished (it may finish later in this
//! thread's exit, and its `unwatch` writes into its chunk). A context started on this thread
//! after that gets a chunk that is never freed, and no overflow report.

use super::overflow::StackInfo;
use std::alloc::{self, Layout};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{compiler_fence, Ordering};

/// Slots per chunk: with the link to the next chunk, a chunk is one 4 KiB page.
const SLOTS: usize = 511;

/// A slot: a `*const StackInfo` (taken) or the next free slot's address `| FREE`.
pub(crate) type Slot = Cell<usize>;

/// The low bit of a free slot's value.
const FREE: usize = 1;

#[repr(C)]
struct Chunk {
    /// The chunk made before this one (null for the first): the handler's way through the table.
    older: *const Chunk,
    slots: [Slot; SLOTS],
}

thread_local! {
    // Const-initialised and without destructors: plain TLS slots, safe to read from a signal
    // handler. The newest chunk (the table's head), and the first free slot (null: none).
    static NEWEST: Cell<*const Chunk> = const { Cell::new(ptr::null()) };
    static FIRST_FREE: Cell<*const Slot> = const { Cell::new(ptr::null()) };
    // Only its destructor matters: it tears the table down at thread exit (see the module docs).
    static TEARDOWN: Teardown = const { Teardown };
}

/// Lists `info`'s context as started on this thread: called at its first resume.
///
/// # Safety
/// `info` is not listed, and stays at its address with its guard and size unchanged (only its
/// name may be set, while its context is not running) until [`unwatch`] is called for it on
/// this same thread, or forever (a leaked or abandoned context's stack is never unmapped).
#[inline]
pub(crate) unsafe fn watch(info: *const StackInfo) {
    let mut slot = FIRST_FREE.with(Cell::get);
    if slot.is_null() {
        slot = grow();
    }
    // SAFETY: `slot` is a free slot of this thread's table (chunks are freed only at thread
    // exit, after `FIRST_FREE` is cleared); `info` is valid (the caller's promise).
    unsafe {
        FIRST_FREE.with(|first| first.set(((*slot).get() & !FREE) as *const Slot));
        (*info).slot.set(slot);
        compiler_fence(Ordering::SeqCst);
        (*slot).set(info as usize); // the handler sees it from here
    }
}

/// Takes `info`'s context off this thread's table: called once it has finished, before the
/// memory `info` lies in can be reused.
///
/// # Safety
/// `info` was listed by [`watch`] on this thread and not unwatched since.
#[inline]
pub(crate) unsafe fn unwatch(info: *const StackInfo) {
    // SAFETY: `info` is listed (the caller's promise), so its slot is in a chunk that is still
    // allocated (a chunk with a taken slot is never freed).
    unsafe {
        let slot = (*info).slot.replace(ptr::null());
        let first = FIRST_FREE.with(Cell::get);
        (*slot).set(first as usize | FREE); // the handler no longer sees it
        compiler_fence(Ordering::SeqCst);
        FIRST_FREE.with(|head| head.set(slot));
    }
}

/// Calls `f` with every context started on this thread and not finished. Async-signal-safe: it
/// only reads plain TLS slots and the table.
///
/// # Safety
/// Called on the thread whose table it reads (by the overflow handler, or in tests).
pub(crate) unsafe fn for_each(mut f: impl FnMut(&StackInfo)) {
    // try_with: never panic in a signal handler (the slot may be gone during thread exit).
    let mut chunk = NEWEST.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: a chunk reachable from `NEWEST` is allocated and complete, and each of its taken
    // slots points at the `StackInfo` of a context started here and not finished, at a fixed
    // address (see `watch`); that holds at every instruction this can interrupt (module docs).
    while let Some(c) = unsafe { chunk.as_ref() } {
        for slot in &c.slots {
            let value = slot.get();
            if value & FREE == 0 && value != 0 {
                f(unsafe { &*(value as *const StackInfo) });
            }
        }
        chunk = c.older;
    }
}

fn layout() -> Layout {
    Layout::new::<Chunk>()
}

/// A new chunk, its slots all free and chained (the last to the old first free slot, which is
/// null: `grow` is called only when no slot is free), linked in as the table's head. Returns
/// its first slot.
#[cold]
#[inline(never)]
fn grow() -> *const Slot {
    // SAFETY: `Chunk` has a non-zero size.
    let chunk = unsafe { alloc::alloc(layout()) }.cast::<Chunk>();
    if chunk.is_null() {
        alloc::handle_alloc_error(layout());
    }
    // SAFETY: fresh memory of the right layout, written field by field before any use; only
    // this thread knows of it until `NEWEST` points at it.
    unsafe {
        (&raw mut (*chunk).older).write(NEWEST.with(Cell::get));
        let slots = (&raw mut (*chunk).slots).cast::<Slot>();
        for i in 0..SLOTS {
            let next = if i + 1 < SLOTS {
                slots.add(i + 1) as usize
            } else {
                0
            };
            slots.add(i).write(Cell::new(next | FREE));
        }
        compiler_fence(Ordering::SeqCst);
        NEWEST.with(|newest| newest.set(chunk));
        // Registers the teardown (a no-op once this thread's destructors have run: the chunk
        // is then leaked, as the module docs say).
        let _ = TEARDOWN.try_with(|_| ());
        slots
    }
}

/// At thread exit: unlinks the table, then frees its chunks that have no taken slot.
struct Teardown;

impl Drop for Teardown {
    fn drop(&mut self) {
        let mut chunk = NEWEST.with(|newest| newest.replace(ptr::null()));
        FIRST_FREE.with(|first| first.set(ptr::null()));
        // The handler sees no table from here.
        compiler_fence(Ordering::SeqCst);
        // SAFETY: every chunk of the list was allocated by `grow` with `layout()`; one with a
        // taken slot is left alone (its context may still `unwatch`), the others are reachable
        // from nowhere now.
        unsafe {
            while !chunk.is_null() {
                let older = (*chunk).older;
                if (*chunk).slots.iter().all(|slot| slot.get() & FREE != 0) {
                    alloc::dealloc(chunk.cast_mut().cast(), layout());
                }
                chunk = older;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count() -> usize {
        let mut n = 0;
        // SAFETY: this thread's own table.
        unsafe { for_each(|_| n += 1) };
        n
    }

    /// Contexts come and go in any order across several chunks: the table lists exactly the
    /// watched ones, and a freed slot is the next one taken.
    #[test]
    fn the_table_lists_exactly_the_watched_contexts() {
        std::thread::spawn(|| {
            let infos: Vec<Box<StackInfo>> = (0..3 * SLOTS + 7)
                .map(|i| Box::new(StackInfo::new(i * 8192..i * 8192 + 4096, 4096)))
                .collect();
            for info in &infos {
                // SAFETY: each box stays put until unwatched below.
                unsafe { watch(&**info) };
            }
            assert_eq!(count(), infos.len());
            for info in infos.iter().step_by(3) {
                // SAFETY: watched above, once.
                unsafe { unwatch(&**info) };
            }
            let expected: Vec<usize> = (infos.iter().enumerate())
                .filter(|(i, _)| i % 3 != 0)
                .map(|(_, info)| info.guard_start)
                .collect();
            let mut seen = Vec::new();
            // SAFETY: this thread's own table.
            unsafe { for_each(|info| seen.push(info.guard_start)) };
            seen.sort_unstable();
            assert_eq!(seen, expected);
            // The slot freed last is the next one taken.
            let first_free = FIRST_FREE.with(Cell::get);
            assert!(!first_free.is_null());
            let again = Box::new(StackInfo::new(1..2, 4096));
            // SAFETY: a fresh box, unwatched before it is dropped.
            unsafe { watch(&*again) };
            assert_eq!(again.slot.get(), first_free);
            assert_eq!(count(), expected.len() + 1);
            // SAFETY: watched just above.
            unsafe { unwatch(&*again) };
            for info in infos.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
                // SAFETY: still watched.
                unsafe { unwatch(&**info.1) };
            }
            assert_eq!(count(), 0);
        })
        .join()
        .unwrap();
    }
}
