//! Guard-paged stacks: one anonymous mapping per stack, committed lazily, with an inaccessible
//! guard page at the low end.
//!
//! The guard is installed with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which adds no
//! kernel mapping, so a million stacks still fit in the default `vm.max_map_count`; the guards
//! of a batch go in with one `process_madvise` where the kernel takes it. Where the kernel
//! refuses `MADV_GUARD_INSTALL`, `mprotect(PROT_NONE)` is used instead (one extra mapping per
//! stack). The choice is made once, at run time; `ZSYNC_STACK_GUARD=mprotect` forces the
//! fallback.

use super::discard::{advise_at_once, Discard};
use std::io;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

/// The smallest stack a context may have.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// The stack size used when none is given: reserved, not committed.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// `MADV_GUARD_INSTALL` from Linux 6.13's uapi headers; libc does not name it yet.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// A stack for one context: `size` usable bytes above a guard page.
///
/// Dropping a `Stack` unmaps it. Use a [`StackPool`](super::StackPool) to reuse stacks instead:
/// a fresh mapping costs microseconds, a pooled stack nanoseconds.
#[derive(Debug)]
pub struct Stack {
    /// Start of the mapping: the guard page.
    base: NonNull<u8>,
    /// Length of the whole mapping, guard included.
    len: usize,
    /// Length of the guard page (one page), kept here so that the hot accessors need no
    /// `sysconf`. The narrow fields keep a `Stack` at 40 bytes: every green thread's task holds
    /// one.
    guard_len: u32,
    /// Bytes left unused below the mapping's top so that the tops of different stacks fall in
    /// different cache sets (a multiple of 64, below 1 KiB: see `set_colour`).
    colour: u16,
    /// The mapping this stack is a slice of, if it was mapped with others (see `Stack::batch`);
    /// `None` if the stack is a mapping of its own.
    chunk: Option<Arc<Chunk>>,
    /// The lowest stack pointer a context on this stack was seen suspended at since its memory
    /// was last checked (`usize::MAX`: none). Cheap evidence that the stack went deep.
    low_water: usize,
    /// In a pool's warm set, its depth not checked when it went there (see `StackPool`).
    pub(crate) depth_unchecked: bool,
}

/// One mapping holding several stacks, unmapped when the last of them is dropped.
#[derive(Debug)]
struct Chunk {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: plain memory owned by the chunk; nothing about it is tied to a thread.
unsafe impl Send for Chunk {}
unsafe impl Sync for Chunk {}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: our own mapping; every stack carved from it has been dropped (each holds an Arc).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// How a stack's mapping counts against the kernel's overcommit limit.
#[derive(Clone, Copy)]
enum Commit {
    /// `MAP_NORESERVE`: not counted; a million pooled stacks fit whatever their sum.
    Unreserved,
    /// Counted, as glibc maps a pthread's stack: a size the system could never back is refused
    /// at once (under the default heuristic, one over RAM plus swap).
    Accounted,
}

/// Maps `len` bytes of lazily committed stack memory.
fn map_stack_memory(len: usize, size: usize, commit: Commit) -> io::Result<NonNull<u8>> {
    let reserve = match commit {
        Commit::Unreserved => libc::MAP_NORESERVE,
        Commit::Accounted => 0,
    };
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing; it aliases
    // nothing. MAP_NORESERVE: no swap reservation; either way memory is committed on touch.
    // MAP_STACK: keeps transparent huge pages away from it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | reserve | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(exhausted(io::Error::last_os_error(), size, "map"));
    }
    // SAFETY: mmap succeeded, so ptr is not null.
    Ok(unsafe { NonNull::new_unchecked(ptr.cast()) })
}

// SAFETY: a Stack is plain memory that it owns exclusively; nothing about it is tied to the
// thread that mapped it.
unsafe impl Send for Stack {}

/// How guard pages are made; decided once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GuardKind {
    /// `madvise(MADV_GUARD_INSTALL)`: no extra mapping.
    Madvise = 1,
    /// `mprotect(PROT_NONE)`: one extra mapping per stack.
    Mprotect = 2,
}

static GUARD_KIND: AtomicU8 = AtomicU8::new(0);

/// A guard page's length as [`Stack`] stores it. Pages are far below 4 GiB.
fn guard_len(page: usize) -> u32 {
    u32::try_from(page).expect("the page size fits in 32 bits")
}

pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize)
}

fn preferred_guard() -> GuardKind {
    match GUARD_KIND.load(Ordering::Relaxed) {
        1 => GuardKind::Madvise,
        2 => GuardKind::Mprotect,
        _ => {
            let kind = match std::env::var("ZSYNC_STACK_GUARD").as_deref() {
                Ok("mprotect") => GuardKind::Mprotect,
                _ => GuardKind::Madvise,
            };
            GUARD_KIND.store(kind as u8, Ordering::Relaxed);
            kind
        }
    }
}

/// Whether `process_madvise` may be tried for the guards of a batch (cleared the first time the
/// kernel refuses it: before 6.13 it takes no `MADV_GUARD_INSTALL`, before 6.15 no `PIDFD_SELF`).
static GUARDS_AT_ONCE: AtomicBool = AtomicBool::new(true);

/// Installs the guard pages of the `count` stacks of `len` bytes each at `base` (a fresh
/// mapping of ours), each the first `page` bytes of its stack, with one `process_madvise`
/// instead of one `madvise` per stack: the kernel then takes the mapping lock and looks up the
/// mapping once per batch. Returns how many guards, counted from `base`, are installed (0 if
/// the kernel refused the call; the caller installs the rest one by one).
fn install_guards_at_once(base: *mut u8, len: usize, page: usize, count: usize) -> usize {
    /// Ranges per call, from an array on the stack (the kernel takes up to `UIO_MAXIOV`).
    const RANGES: usize = 64;
    let mut installed = 0;
    while installed < count && GUARDS_AT_ONCE.load(Ordering::Relaxed) {
        let n = (count - installed).min(RANGES);
        let mut ranges = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; RANGES];
        for (i, range) in ranges[..n].iter_mut().enumerate() {
            range.iov_base = base.wrapping_add((installed + i) * len).cast();
            range.iov_len = page;
        }
        // SAFETY: each range is the first page of a stack in our own fresh mapping, which
        // nothing uses yet; installing a guard there only makes those pages inaccessible.
        // A failure other than a refusal (ENOMEM) is left for the one-by-one `madvise` to meet
        // and report.
        let Some(advised) =
            (unsafe { advise_at_once(&ranges[..n], MADV_GUARD_INSTALL, &GUARDS_AT_ONCE) })
        else {
            break;
        };
        // The ranges are advised in order; a short count means the kernel stopped part-way.
        let done = advised / page;
        installed += done;
        if done < n {
            break;
        }
    }
    installed
}

/// Which guard mechanism new stacks use (after the first stack has been made, the one the
/// kernel accepted).
pub fn guard_mechanism() -> &'static str {
    match preferred_guard() {
        GuardKind::Madvise => "madvise(MADV_GUARD_INSTALL)",
        GuardKind::Mprotect => "mprotect(PROT_NONE)",
    }
}

/// Checks a requested stack size and rounds it up to whole pages.
pub(crate) fn round_stack_size(size: usize) -> io::Result<usize> {
    if size < MIN_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "stack size {size} bytes is below the minimum of {MIN_STACK_SIZE} bytes ({} KiB)",
                MIN_STACK_SIZE / 1024
            ),
        ));
    }
    let page = page_size();
    size.checked_add(page - 1)
        .map(|s| s & !(page - 1))
        .filter(|s| *s <= isize::MAX as usize / 2)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("stack size {size} bytes is too large"),
            )
        })
}

impl Stack {
    /// Maps a stack with at least `size` usable bytes (rounded up to whole pages) above a guard
    /// page. Memory is reserved, not committed: pages are backed only when first touched.
    ///
    /// # Errors
    /// `InvalidInput` if `size` is below [`MIN_STACK_SIZE`] or absurdly large; `OutOfMemory` if
    /// the kernel refuses the mapping, with a message that names the limit that was hit.
    ///
    /// ```
    /// let stack = zsync::coro::Stack::new(64 * 1024)?;
    /// assert_eq!(stack.size(), 64 * 1024);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(size: usize) -> io::Result<Stack> {
        Self::with_guard(size, preferred_guard())
    }

    pub(crate) fn with_guard(size: usize, kind: GuardKind) -> io::Result<Stack> {
        Self::map(size, kind, Commit::Unreserved)
    }

    /// A stack for a green thread that asked for a size of its own
    /// (`thread::Builder::stack_size`), mapped as glibc maps a pthread's stack: counted against
    /// the kernel's overcommit limit (no `MAP_NORESERVE`), so that a size the system could never
    /// back fails the spawn, as std's does, rather than mapping memory that would fault when
    /// touched. Pages are still backed only when first touched.
    ///
    /// # Errors
    /// As [`Stack::new`], except that a mapping the kernel refuses (over the overcommit limit,
    /// or out of mappings) is `WouldBlock`, the kind of std's spawn (`pthread_create`'s
    /// `EAGAIN`), with a message that names the size.
    pub(crate) fn for_thread(size: usize) -> io::Result<Stack> {
        Self::map(size, preferred_guard(), Commit::Accounted).map_err(|err| {
            if err.kind() != io::ErrorKind::OutOfMemory {
                return err;
            }
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("cannot spawn a thread with a stack of {size} bytes: {err}"),
            )
        })
    }

    /// Maps one stack of at least `size` usable bytes above its guard page.
    fn map(size: usize, kind: GuardKind, commit: Commit) -> io::Result<Stack> {
        let size = round_stack_size(size)?;
        let page = page_size();
        let len = size + page;
        let base = map_stack_memory(len, size, commit)?;
        let stack = Stack {
            base,
            len,
            guard_len: guard_len(page),
            colour: 0,
            chunk: None,
            low_water: usize::MAX,
            depth_unchecked: false,
        };
        stack.install_guard(kind)?;
        Ok(stack)
    }

    /// [`Stack::batch_into`] into a new vector.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn batch(size: usize, count: usize) -> io::Result<Vec<Stack>> {
        let mut stacks = Vec::with_capacity(count);
        Self::batch_into(size, count, &mut stacks)?;
        Ok(stacks)
    }

    /// Maps `count` stacks of `size` usable bytes with one `mmap`, each above its own guard page,
    /// and appends them to `stacks` (a pool's spare list: no new vector per batch). Mapping
    /// stacks one by one takes the kernel's mmap write lock once per stack, which serialises
    /// workers that spawn at the same time; a batch takes it once. The mapping is released when
    /// the last of its stacks is dropped; a dropped stack's memory is released at once.
    ///
    /// # Errors
    /// As [`Stack::new`], and then nothing is appended. If a guard other than the first cannot
    /// be installed, the stacks made so far are appended.
    pub(crate) fn batch_into(size: usize, count: usize, stacks: &mut Vec<Stack>) -> io::Result<()> {
        let size = round_stack_size(size)?;
        let page = page_size();
        let len = size + page;
        let total = len
            .checked_mul(count)
            .filter(|t| *t <= isize::MAX as usize / 2)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{count} stacks of {size} bytes are too large"),
                )
            })?;
        let base = map_stack_memory(total, size, Commit::Unreserved)?;
        let chunk = Arc::new(Chunk { base, len: total });
        let kind = preferred_guard();
        // One system call for all the guards if the kernel takes it; the ones it did not
        // install are installed one by one below.
        let installed = if kind == GuardKind::Madvise {
            install_guards_at_once(base.as_ptr(), len, page, count)
        } else {
            0
        };
        stacks.reserve(count);
        for i in 0..count {
            let stack = Stack {
                // SAFETY: inside the chunk's mapping, so not null.
                base: unsafe { NonNull::new_unchecked(base.as_ptr().add(i * len)) },
                len,
                guard_len: guard_len(page),
                colour: 0,
                chunk: Some(chunk.clone()),
                low_water: usize::MAX,
                depth_unchecked: false,
            };
            if i < installed {
                stacks.push(stack);
                continue;
            }
            if let Err(err) = stack.install_guard(kind) {
                if i == 0 {
                    return Err(err);
                }
                break;
            }
            stacks.push(stack);
        }
        Ok(())
    }

    fn install_guard(&self, kind: GuardKind) -> io::Result<()> {
        let page = page_size();
        let base = self.base.as_ptr().cast();
        if kind == GuardKind::Madvise {
            // SAFETY: the first page of our own mapping.
            if unsafe { libc::madvise(base, page, MADV_GUARD_INSTALL) } == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINVAL) {
                return Err(exhausted(err, self.size(), "guard"));
            }
            // This kernel predates MADV_GUARD_INSTALL: use mprotect from now on.
            GUARD_KIND.store(GuardKind::Mprotect as u8, Ordering::Relaxed);
        }
        // SAFETY: the first page of our own mapping.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } == 0 {
            return Ok(());
        }
        Err(exhausted(io::Error::last_os_error(), self.size(), "guard"))
    }

    /// Usable bytes, guard page excluded.
    #[inline]
    pub fn size(&self) -> usize {
        self.len - self.guard_len as usize
    }

    /// The highest usable address, 16-byte aligned, lowered by this stack's colour. Stacks grow
    /// down from here.
    #[inline]
    pub fn top(&self) -> *mut u8 {
        self.base
            .as_ptr()
            .wrapping_add(self.len - self.colour as usize)
    }

    /// The lowest usable address: the end of the guard page.
    #[inline]
    pub fn limit(&self) -> *mut u8 {
        self.base.as_ptr().wrapping_add(self.guard_len as usize)
    }

    /// The guard page's address range.
    #[inline]
    pub fn guard(&self) -> Range<usize> {
        let base = self.base.as_ptr() as usize;
        base..base + self.guard_len as usize
    }

    /// Bytes between the top of the mapping and [`top`](Self::top).
    #[inline]
    pub fn colour(&self) -> usize {
        self.colour as usize
    }

    /// Sets the colour offset: a multiple of 64 below 1 KiB, which spreads stack tops over 16
    /// cache sets. Kept that small so that a parked green thread's few frames still fit in the
    /// stack's top page: a larger offset would often push them into a second page.
    pub(crate) fn set_colour(&mut self, colour: usize) {
        let max = 1024.min(self.size() / 8);
        // Below 1024: fits the field.
        self.colour = ((colour % max) & !63) as u16;
    }

    /// Records that a context on this stack suspended with its stack pointer at `sp`.
    #[inline]
    pub(crate) fn note_suspended_at(&mut self, sp: usize) {
        // A branch, not `min`: nearly every suspension is at or above the mark, and then the
        // header's line is not written.
        if sp < self.low_water {
            self.low_water = sp;
        }
    }

    /// How many bytes lie below the `keep` topmost ones (rounded up to pages): the part
    /// `release_below` gives back. A `keep` beyond the stack keeps all of it (it saturates:
    /// `StackPool::keep_resident(usize::MAX)` must not wrap around to keeping nothing).
    fn len_below(&self, keep: usize) -> usize {
        let page = page_size();
        let keep = keep.saturating_add(page - 1) & !(page - 1);
        self.size().saturating_sub(keep)
    }

    /// Gives back to the kernel every page of this stack below the `keep` topmost bytes. Their
    /// contents become zero; the mapping and guard stay.
    ///
    /// Skipped when the page just below the window is not resident: a stack is touched from
    /// its top down without gaps (frames larger than a page are probed page by page), so then
    /// nothing below it is either. Each `madvise` that drops pages ends in a TLB shootdown, an
    /// interrupt to every other CPU running this process: a burst of returning green threads
    /// that never went deep must not pay one each.
    pub(super) fn release_below(&mut self, keep: usize, discard: &mut Discard) {
        if self.release_below_if_seen_deep(keep, discard) {
            return;
        }
        let len = self.len_below(keep);
        if len == 0 {
            return;
        }
        if len < self.size() {
            let page = page_size();
            let mut resident = 0u8;
            // SAFETY: one page of our own mapping (the one just below the window) and a
            // one-byte vector for its residency bit.
            let below = unsafe { self.limit().add(len - page) };
            if unsafe { libc::mincore(below.cast(), page, &mut resident) } == 0 && resident & 1 == 0
            {
                return;
            }
        }
        // SAFETY: a range of our own mapping above the guard page. The caller guarantees that
        // nothing on the stack is alive (the context that used it has finished) and keeps the
        // stack unused until `discard` goes, so discarding the contents is not observable.
        // DONTNEED leaves the guard marker in place.
        unsafe { discard.push(self.limit(), len) };
    }

    /// The first step of `release_below`, and all of it on the busy path, where it asks the
    /// kernel nothing: releases the pages below the `keep` topmost bytes if a context was seen
    /// suspended down there, and returns true; returns false (nothing done) if it never was.
    /// Then the stack is most likely shallow, but a recursion that went deep and came back up
    /// between two suspensions leaves no trace here: only `release_below` can tell.
    pub(super) fn release_below_if_seen_deep(
        &mut self,
        keep: usize,
        discard: &mut Discard,
    ) -> bool {
        let len = self.len_below(keep);
        let seen_deep = self.low_water < self.limit() as usize + len;
        self.low_water = usize::MAX;
        if seen_deep {
            // SAFETY: as in `release_below`: our own usable range, nothing alive on it, and the
            // stack unused until `discard` goes (the caller's promise).
            unsafe { discard.push(self.limit(), len) };
        }
        seen_deep
    }
}

/// Gives back the memory of every stack in `stacks` (entirely, guard pages excepted), one range
/// per run of stacks that lie next to each other in one mapping, all ranges together (see
/// [`Discard`]: each system call costs a TLB shootdown). The guard pages in between are covered
/// too, which leaves them guards (`MADV_GUARD_INSTALL` markers survive `MADV_DONTNEED`; an
/// `mprotect` guard has no memory to drop).
pub(crate) fn release_all(stacks: &mut [Stack]) {
    stacks.sort_unstable_by_key(|s| s.base.as_ptr() as usize);
    let mut discard = Discard::new();
    let mut i = 0;
    while i < stacks.len() {
        let start = stacks[i].limit() as usize;
        let mut end = stacks[i].base.as_ptr() as usize + stacks[i].len;
        let mut j = i + 1;
        while j < stacks.len() && stacks[j].base.as_ptr() as usize == end {
            end += stacks[j].len;
            j += 1;
        }
        // SAFETY: the usable ranges of stacks we own (and the guard pages between them, which
        // DONTNEED leaves guarded); nothing lives on them (the caller's contract, as for
        // `release_below`), and `stacks` stays borrowed until `discard` goes, below.
        unsafe { discard.push(start as *mut u8, end - start) };
        i = j;
    }
}

/// Drops many idle stacks at once (a pool going away). A stack that is a slice of a chunk
/// releases its memory when dropped alone, which costs a TLB shootdown; when every slice of a
/// chunk is among `stacks`, the chunk's `munmap` frees that memory anyway, so those slices skip
/// it, and chunks that lie next to each other are unmapped together, one `munmap` per run of
/// them (each call takes the address space's lock and costs a TLB shootdown: one per chunk of
/// 32 was a third of dropping a runtime with a million parked green threads, its two workers
/// waiting on each other's unmaps). The others' memory is released with one `madvise` per run
/// of neighbours.
pub(crate) fn drop_all(mut stacks: Vec<Stack>) {
    stacks.sort_unstable_by_key(|s| s.base.as_ptr() as usize);
    // One pass, by value: slices of one chunk lie together in address order. (Draining each
    // chunk's run out of the middle of the vector moved its tail every time: quadratic, most
    // of a minute for a pool of a million stacks.)
    let mut partial = Vec::new();
    let mut whole = Vec::new();
    let mut run: Vec<Stack> = Vec::new();
    for stack in stacks {
        let same_chunk = match (&stack.chunk, run.first().and_then(|s| s.chunk.as_ref())) {
            (Some(chunk), Some(current)) => Arc::ptr_eq(chunk, current),
            _ => false,
        };
        if !same_chunk {
            finish_run(&mut run, &mut partial, &mut whole);
        }
        if stack.chunk.is_some() {
            run.push(stack);
        } else {
            drop(stack); // a mapping of its own: its drop unmaps it
        }
    }
    finish_run(&mut run, &mut partial, &mut whole);
    release_all(&mut partial);
    partial.into_iter().for_each(Stack::forget_memory);
    unmap_all(whole);
}

/// Drops `run`, the slices of one chunk found among the stacks of `drop_all`: if they are the
/// whole chunk, without touching their memory, and the chunk itself goes to `whole`, to be
/// unmapped with its neighbours; otherwise by moving them to `partial`, whose memory is
/// released in runs of neighbours.
fn finish_run(run: &mut Vec<Stack>, partial: &mut Vec<Stack>, whole: &mut Vec<Chunk>) {
    let Some(chunk) = run.first().and_then(|s| s.chunk.clone()) else {
        return;
    };
    // `run` holds these references (and `chunk` one more); if the counts match, nobody else
    // holds a slice (and nobody can make one: cloning needs a reference).
    if Arc::strong_count(&chunk) == run.len() + 1 {
        run.drain(..).for_each(Stack::forget_memory);
        // The last reference: ours.
        if let Ok(chunk) = Arc::try_unwrap(chunk) {
            whole.push(chunk);
        }
    } else {
        partial.append(run);
    }
}

/// Unmaps the chunks of `chunks`, one `munmap` per run of them that lie next to each other.
fn unmap_all(mut chunks: Vec<Chunk>) {
    chunks.sort_unstable_by_key(|c| c.base.as_ptr() as usize);
    let mut chunks = chunks
        .into_iter()
        .map(std::mem::ManuallyDrop::new)
        .peekable();
    while let Some(first) = chunks.next() {
        let start = first.base.as_ptr();
        let mut len = first.len;
        while let Some(next) = chunks.peek() {
            if next.base.as_ptr() as usize != start as usize + len {
                break;
            }
            len += next.len;
            chunks.next();
        }
        // SAFETY: the range is the chunks' mappings, back to back, every one ours and whole
        // (no stack carved from them is left: `finish_run` took each chunk's last reference);
        // they are not dropped (`ManuallyDrop`), so each is unmapped once, here.
        unsafe { libc::munmap(start.cast(), len) };
    }
}

impl Stack {
    /// Drops a slice of a chunk without releasing its memory (its chunk's `munmap`, or an
    /// earlier `release_all`, takes care of that).
    fn forget_memory(mut self) {
        let chunk = self.chunk.take();
        debug_assert!(chunk.is_some());
        // Every other field is plain data; the chunk's reference is dropped right after.
        std::mem::forget(self);
        drop(chunk);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.chunk.is_some() {
            // A slice of a shared mapping: give its memory back now; the mapping goes with the
            // last stack of the chunk (the Arc).
            self.release_below(0, &mut Discard::new());
            return;
        }
        // SAFETY: our own mapping, unmapped once; no context runs on it any more (a Context
        // owns its Stack and gives it back only once it has finished).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Turns a failed mmap/madvise/mprotect into an error that names the limit and how to raise it.
fn exhausted(err: io::Error, size: usize, what: &str) -> io::Error {
    if err.raw_os_error() != Some(libc::ENOMEM) {
        let action = if what == "map" {
            "map"
        } else {
            "install the guard page of"
        };
        return io::Error::new(
            err.kind(),
            format!(
                "cannot {action} a {} KiB green-thread stack: {err}",
                size / 1024
            ),
        );
    }
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    let used = count_mappings();
    let msg = match (max, used) {
        (Some(max), Some(used)) if used + 16 >= max => format!(
            "cannot create a {} KiB green-thread stack: the process has {used} memory mappings, \
             the kernel's limit vm.max_map_count is {max}; raise it (for example \
             `sysctl -w vm.max_map_count={}`) or run on Linux 6.13+, where guard pages \
             (MADV_GUARD_INSTALL) need no extra mapping (guard in use: {})",
            size / 1024,
            (max * 4).max(1 << 20),
            guard_mechanism()
        ),
        _ => format!(
            "cannot map a {} KiB green-thread stack: out of memory or address space ({err}); \
             check `ulimit -v` and vm.overcommit_memory, or use smaller stacks",
            size / 1024
        ),
    };
    io::Error::new(io::ErrorKind::OutOfMemory, msg)
}

/// Lines in /proc/self/maps, counted through a stack buffer: at the mapping limit, a large heap
/// allocation (which malloc would satisfy with a new mapping) could itself fail.
fn count_mappings() -> Option<usize> {
    use std::io::Read;
    let mut file = std::fs::File::open("/proc/self/maps").ok()?;
    let mut buf = [0u8; 4096];
    let mut lines = 0;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Reads one byte at `addr` through the kernel (`process_vm_readv` on ourselves): an
    /// inaccessible page gives an error instead of a fault.
    fn readable(addr: usize) -> bool {
        let mut byte = 0u8;
        let local = libc::iovec {
            iov_base: (&mut byte as *mut u8).cast(),
            iov_len: 1,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: the kernel writes at most one byte into `byte`, and reads the remote range
        // itself, reporting EFAULT if it is inaccessible.
        unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) == 1 }
    }

    #[test]
    fn every_stack_of_a_batch_has_its_guard() {
        let stacks = Stack::batch(MIN_STACK_SIZE, 32).unwrap();
        assert_eq!(stacks.len(), 32);
        for stack in &stacks {
            assert!(!readable(stack.guard().start), "{}", guard_mechanism());
            assert!(!readable(stack.guard().end - 1));
            assert!(readable(stack.limit() as usize));
            assert!(readable(stack.top() as usize - 1));
        }
        drop_all(stacks);
    }

    #[test]
    fn drop_all_takes_whole_chunks_and_parts_of_chunks() {
        let mut stacks = Stack::batch(MIN_STACK_SIZE, 8).unwrap();
        let mut kept = stacks.split_off(5); // a chunk of which only part is dropped
        stacks.extend(Stack::batch(MIN_STACK_SIZE, 4).unwrap()); // a whole chunk
        stacks.push(Stack::new(MIN_STACK_SIZE).unwrap()); // a mapping of its own
        for stack in &stacks {
            // SAFETY (test): the top byte of a stack nobody runs on.
            unsafe { stack.top().sub(1).write_volatile(7) };
        }
        drop_all(stacks);
        // The chunk stays mapped for the stacks still held, and they are intact.
        for stack in &kept {
            // SAFETY (test): as above.
            unsafe { stack.top().sub(1).write_volatile(1) };
            assert!(!readable(stack.guard().start));
        }
        drop_all(std::mem::take(&mut kept));
    }
}
