//! A per-thread cache of stacks of one size.

use super::discard::Discard;
use super::stack::{round_stack_size, Stack, DEFAULT_STACK_SIZE};
use std::collections::VecDeque;
use std::io;

/// How many recently returned stacks stay untouched (hot in cache and TLB) before the pool gives
/// their deep pages back to the kernel.
const HOT_STACKS: usize = 64;

/// How many idle stacks keep their keep-resident window; older ones are released entirely
/// (their mapping stays, their memory goes) at the next `trim`, or once they have waited
/// through a `release_aged`.
const WARM_STACKS: usize = 1024;

/// How many stacks one `mmap` makes when the pool is empty: as many as the pool has mapped so
/// far, at least `BATCH` and at most `MAX_BATCH` (address space only: a stack's memory is
/// committed when touched). Growing batches keep a million stacks in a thousand mappings, not
/// thirty thousand: each is a `munmap` when the pool goes, and the mappings of two pools
/// growing at once interleave, so neighbours in memory rarely share a pool.
const BATCH: usize = 32;
const MAX_BATCH: usize = 1024;

/// Reuses stacks of one size, so that making a context costs nanoseconds instead of an `mmap`.
///
/// Returned stacks go to a small "hot" set first and are reused last-in first-out. When a stack
/// falls out of the hot set, the pool releases its memory below a keep-resident window
/// (`MADV_DONTNEED`) if a context was seen suspended down there, so a burst of deeply
/// recursing contexts does not pin memory forever; a stack that went deep only between two
/// suspensions is found by [`trim`](StackPool::trim), which asks the kernel. Past the thousand
/// most recent, `trim` releases all of a stack's memory (a runtime's busy worker also releases
/// those left unused for a second or more). Stacks stay mapped while the pool lives. Each fresh
/// stack gets a colour (a small offset of its top) so the tops of many stacks do not compete
/// for the same cache sets.
///
/// A pool is meant to be owned by one thread (a worker); it is `Send` but not shared.
///
/// ```
/// use zsync::coro::StackPool;
/// let mut pool = StackPool::new(64 * 1024)?;
/// let stack = pool.get()?;
/// let top = stack.top();
/// pool.put(stack);
/// assert_eq!(pool.get()?.top(), top); // the same stack, reused
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct StackPool {
    stack_size: usize,
    /// Recently returned stacks, newest at the back; their memory is left as it was.
    hot: VecDeque<Stack>,
    /// Stacks whose memory below the keep-resident window has been released, newest last, or
    /// that looked shallow (`depth_unchecked`, see `cool_oldest`).
    warm: VecDeque<Stack>,
    /// Stacks whose memory has been released entirely.
    cold: Vec<Stack>,
    /// Stacks leaving `warm`, released together (see `stack::release_all`) at the next `trim`,
    /// or at the second `release_aged` after they came, then cold.
    cooling: Vec<Stack>,
    /// Stacks that were already cooling at the last `release_aged`: released at the next one.
    aged: Vec<Stack>,
    /// Mapped in a batch and never used yet.
    spare: Vec<Stack>,
    /// Returned after `retire`: kept as they are until the pool is dropped.
    retired: Vec<Stack>,
    retiring: bool,
    max_cached: usize,
    keep_resident: usize,
    /// xorshift state for stack colours.
    seed: u32,
    /// Stacks mapped so far, for the size of the next batch.
    mapped: usize,
}

impl StackPool {
    /// A pool of stacks with `stack_size` usable bytes (rounded up to whole pages), caching at
    /// most 1024 of them and keeping their top 32 KiB resident.
    ///
    /// # Errors
    /// `InvalidInput` if `stack_size` is below [`MIN_STACK_SIZE`](super::MIN_STACK_SIZE).
    pub fn new(stack_size: usize) -> io::Result<StackPool> {
        Ok(StackPool {
            stack_size: round_stack_size(stack_size)?,
            hot: VecDeque::new(),
            warm: VecDeque::new(),
            cold: Vec::new(),
            cooling: Vec::new(),
            aged: Vec::new(),
            spare: Vec::new(),
            retired: Vec::new(),
            retiring: false,
            max_cached: usize::MAX,
            keep_resident: 32 * 1024,
            seed: seed(),
            mapped: 0,
        })
    }

    /// Sets how many idle stacks the pool keeps; stacks returned beyond that are unmapped.
    ///
    /// The default keeps them all: an idle stack beyond the most recent thousand costs address
    /// space but no memory, while unmapping stacks one by one fragments the address space into
    /// more kernel mappings than `vm.max_map_count` allows, after enough churn.
    pub fn max_cached(mut self, n: usize) -> StackPool {
        self.max_cached = n;
        self
    }

    /// Sets how many bytes at the top of an idle stack stay resident when the pool trims it
    /// (rounded up to whole pages). A value at least the stack size, `usize::MAX` included,
    /// keeps whole stacks resident.
    pub fn keep_resident(mut self, bytes: usize) -> StackPool {
        self.keep_resident = bytes;
        self
    }

    /// The usable size of this pool's stacks.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// How many idle stacks the pool holds.
    pub fn cached(&self) -> usize {
        self.hot.len()
            + self.warm.len()
            + self.cold.len()
            + self.cooling.len()
            + self.aged.len()
            + self.retired.len()
    }

    /// A stack from the pool, or a freshly mapped one when the pool is empty.
    ///
    /// # Errors
    /// As [`Stack::new`]: the kernel refused a new mapping.
    #[inline]
    pub fn get(&mut self) -> io::Result<Stack> {
        // One look per set and one pop, rather than a chain of `Option`s: each link of such a
        // chain copied the 40-byte stack through a temporary, with a load straddling two
        // earlier stores that the CPU cannot forward (B2's hottest lines in perf).
        // Cooling before cold: a cooling stack's memory is still there (no page faults to run
        // on it again), and taking it back saves releasing it.
        let stack = if !self.hot.is_empty() {
            self.hot.pop_back()
        } else if !self.warm.is_empty() {
            self.warm.pop_back()
        } else if !self.cooling.is_empty() {
            self.cooling.pop()
        } else if !self.aged.is_empty() {
            self.aged.pop()
        } else {
            self.cold.pop()
        };
        match stack {
            Some(stack) => Ok(stack),
            None => self.fresh(),
        }
    }

    #[cold]
    fn fresh(&mut self) -> io::Result<Stack> {
        if self.spare.is_empty() {
            let count = self.mapped.clamp(BATCH, MAX_BATCH);
            Stack::batch_into(self.stack_size, count, &mut self.spare)?;
            self.mapped += self.spare.len();
        }
        let mut stack = self.spare.pop().expect("a batch holds at least one stack");
        // xorshift32: cheap, and good enough to spread colours.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        stack.set_colour(self.seed as usize);
        Ok(stack)
    }

    /// Returns a stack to the pool. Nothing may live on it any more: take it from a finished
    /// [`Context`](super::Context) with [`Context::into_stack`](super::Context::into_stack).
    /// Stacks of another size, and stacks beyond the cache limit, are unmapped.
    #[inline]
    pub fn put(&mut self, stack: Stack) {
        if stack.size() != self.stack_size || self.cached() >= self.max_cached {
            return;
        }
        if self.retiring {
            self.retired.push(stack);
            return;
        }
        self.hot.push_back(stack);
        if self.hot.len() > HOT_STACKS {
            self.cool_oldest(false, &mut Discard::new());
        }
    }

    /// Moves the oldest hot stack to the warm set, releasing its memory below the keep-resident
    /// window. On the busy path (`check` false) it asks the kernel nothing: it releases the
    /// memory only if a context was seen suspended down there, and marks the stack
    /// `depth_unchecked` otherwise, for `trim` to check (the flag means something only while
    /// the stack is in `warm`: cooling releases all of a stack's memory). (A `mincore` per
    /// finished green thread made busy workers queue on the process's mapping lock.)
    #[cold]
    fn cool_oldest(&mut self, check: bool, discard: &mut Discard) {
        if let Some(mut stack) = self.hot.pop_front() {
            stack.depth_unchecked = if check {
                stack.release_below(self.keep_resident, discard);
                false
            } else {
                !stack.release_below_if_seen_deep(self.keep_resident, discard)
            };
            self.warm.push_back(stack);
            if self.warm.len() > WARM_STACKS {
                let stack = self.warm.pop_front().expect("warm is not empty");
                self.cooling.push(stack);
            }
        }
    }

    fn release_cooling(&mut self) {
        self.cooling.append(&mut self.aged);
        super::stack::release_all(&mut self.cooling);
        self.cold.append(&mut self.cooling);
    }

    /// The trim of a thread that naps between near timers: like [`trim`](Self::trim), except
    /// that the stacks that left the warm set since the previous call keep their memory until
    /// the next one (see [`release_aged`](Self::release_aged)). Called every few tens of
    /// milliseconds, it releases only what sat unused that long: a burst of short green threads
    /// (sleepers that end while more are spawned) reuses its own stacks as they are, instead of
    /// faulting them back in after each trim.
    pub(crate) fn trim_aged(&mut self) {
        self.cool_and_check();
        self.release_aged();
    }

    /// Moves every hot stack to the warm set, and releases the deep memory of the warm stacks
    /// that were not checked when they went there: all of it in one batch.
    fn cool_and_check(&mut self) {
        // Flushed when it goes, at the end of this call: every stack it names stays in `warm`
        // until then.
        let mut discard = Discard::new();
        while !self.hot.is_empty() {
            self.cool_oldest(true, &mut discard);
        }
        for stack in self.warm.iter_mut().filter(|s| s.depth_unchecked) {
            stack.release_below(self.keep_resident, &mut discard);
            stack.depth_unchecked = false;
        }
    }

    /// Releases the memory of the stacks that have waited beyond the warm set since the
    /// previous call and are still there (`get` takes the newest first), and starts the clock
    /// of the ones that came since. Asks the kernel nothing about the hot and warm stacks: a
    /// busy thread calls this every second or so, so that stacks left over from a burst go back
    /// to the kernel even if it never idles, without a count that forces a release in the
    /// middle of a burst (each release is a TLB shootdown, and each stack released and taken
    /// again faults its pages back in: B8's sleepers spent a fifth of their time there).
    pub(crate) fn release_aged(&mut self) {
        super::stack::release_all(&mut self.aged);
        self.cold.append(&mut self.aged);
        std::mem::swap(&mut self.aged, &mut self.cooling);
    }

    /// Tells the pool that it is about to be dropped, with many stacks still to come back (a
    /// worker shutting down while its green threads unwind): stacks returned from now on are
    /// kept as they are, not released one run at a time, for the pool's drop to unmap with
    /// their mappings. (Releasing a stack's memory costs a TLB shootdown; unmapping it right
    /// after costs another.) `coming_back` is how many stacks are still out: room for them is
    /// made now, in one allocation. (Growing the list by doubling while a million green threads
    /// unwound copied it twenty times over and faulted in twice its final size: all of the
    /// drop's page faults, a twentieth of its time.)
    pub(crate) fn retire(&mut self, coming_back: usize) {
        self.retiring = true;
        self.retired.reserve(coming_back);
    }

    /// Releases the memory of every idle stack below the keep-resident window. A scheduler calls
    /// this when its thread goes idle.
    pub fn trim(&mut self) {
        self.cool_and_check();
        self.release_cooling();
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        // The others join `retired`, which may hold every stack of a worker that shut down
        // with a million green threads: copying it into a new vector faulted in its size again.
        let mut all = std::mem::take(&mut self.retired);
        all.extend(self.hot.drain(..).chain(self.warm.drain(..)));
        all.append(&mut self.cold);
        all.append(&mut self.cooling);
        all.append(&mut self.aged);
        all.append(&mut self.spare);
        super::stack::drop_all(all);
    }
}

fn seed() -> u32 {
    // Any value that differs between threads and runs will do; zero would stick.
    let local = 0u8;
    let addr = &local as *const u8 as usize;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    ((addr ^ time.rotate_left(16)) as u32) | 1
}

impl Default for StackPool {
    /// A pool of [`DEFAULT_STACK_SIZE`] stacks.
    fn default() -> StackPool {
        // DEFAULT_STACK_SIZE is above the minimum, so this cannot fail.
        StackPool::new(DEFAULT_STACK_SIZE).expect("default stack size is valid")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::coro::MIN_STACK_SIZE;

    /// The byte just below the top of the stack whose top is `top` (a pool's stack: mapped
    /// while the pool lives, and nobody runs on it).
    fn top_byte(top: usize) -> u8 {
        // SAFETY (test): inside a mapped stack owned by a live pool; no reference to it exists.
        unsafe { (top as *const u8).sub(1).read_volatile() }
    }

    #[test]
    fn a_burst_of_returned_stacks_keeps_its_memory_until_it_has_aged() {
        // More idle stacks than the pool ever forced out by count (16k, before): none of them
        // is released while they come back, only by age.
        const BURST: usize = 20_000;
        let mut pool = StackPool::new(MIN_STACK_SIZE).unwrap();
        let stacks: Vec<Stack> = (0..BURST).map(|_| pool.get().unwrap()).collect();
        for stack in &stacks {
            // SAFETY (test): the top byte of a stack nobody runs on.
            unsafe { stack.top().sub(1).write_volatile(0xab) };
        }
        let tops: Vec<usize> = stacks.iter().map(|s| s.top() as usize).collect();
        stacks.into_iter().for_each(|s| pool.put(s));
        assert!(tops.iter().all(|&top| top_byte(top) == 0xab));
        pool.release_aged();
        assert!(
            tops.iter().all(|&top| top_byte(top) == 0xab),
            "stacks past the warm set keep their memory through one release_aged"
        );
        pool.release_aged();
        let released = tops.iter().filter(|&&top| top_byte(top) == 0).count();
        assert_eq!(
            released,
            BURST - HOT_STACKS - WARM_STACKS,
            "and lose it at the next"
        );
    }

    #[test]
    fn trim_aged_releases_only_stacks_idle_since_the_previous_call() {
        let mut pool = StackPool::new(MIN_STACK_SIZE).unwrap();
        let stacks: Vec<Stack> = (0..HOT_STACKS + WARM_STACKS + 8)
            .map(|_| pool.get().unwrap())
            .collect();
        for stack in &stacks {
            // SAFETY (test): the top byte of a stack nobody runs on.
            unsafe { stack.top().sub(1).write_volatile(0xab) };
        }
        // The first 8 returned are the oldest: past the hot and warm sets, cooling.
        let oldest: Vec<usize> = stacks[..8].iter().map(|s| s.top() as usize).collect();
        stacks.into_iter().for_each(|s| pool.put(s));
        pool.trim_aged();
        assert!(
            oldest.iter().all(|&top| top_byte(top) == 0xab),
            "cooling stacks keep their memory through one trim_aged"
        );
        pool.trim_aged();
        assert!(
            oldest.iter().all(|&top| top_byte(top) == 0),
            "and lose it at the next"
        );
        // A full trim releases everything past the warm set at once.
        let again: Vec<Stack> = (0..HOT_STACKS + WARM_STACKS + 8)
            .map(|_| pool.get().unwrap())
            .collect();
        for stack in &again {
            // SAFETY (test): as above.
            unsafe { stack.top().sub(1).write_volatile(0xcd) };
        }
        let oldest: Vec<usize> = again[..8].iter().map(|s| s.top() as usize).collect();
        again.into_iter().for_each(|s| pool.put(s));
        pool.trim();
        assert!(oldest.iter().all(|&top| top_byte(top) == 0));
    }
}
