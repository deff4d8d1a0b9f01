//! Small writes made in place: a write of under [`RING_WRITE_MAX`](super::op::RING_WRITE_MAX)
//! bytes to a regular file on a local file system, by a green thread whose worker runs others
//! too, is made on the calling thread, as std makes it, while such writes stay fast.
//!
//! Why: a buffered write to ext4 or tmpfs cannot be tried without waiting (`RWF_NOWAIT` is
//! refused), so the ring hands every one of them to one of the kernel's io-wq threads, and the
//! green thread waits for two thread wake-ups: 24-97 us per 4 KiB write on this 2-core VM
//! (measured with the `io-uring` crate alone, and 58-86 us through `zsync::fs` with one parked
//! sibling), against ~4 us for the `pwrite` itself. The write itself copies into the page cache
//! and returns; holding the worker's OS thread for it is like a few microseconds of computing.
//!
//! The risk is a write that does wait: the kernel throttling a process that dirties pages faster
//! than the disk takes them, a partly written page read from the device first, a journal
//! commit. (4 GiB of 4 KiB writes on this VM: 15 of a million took over 1 ms, the longest 22
//! ms.) Meanwhile the worker's other green threads wait, as under a long computation. So:
//!
//! - only regular files on file systems that keep writes in memory until writeback (ext2/3/4,
//!   xfs, btrfs, f2fs, bcachefs, tmpfs, ramfs, overlayfs; never NFS, FUSE or others, whose
//!   writes may wait on a server), opened without `O_DIRECT`, `O_SYNC` or `O_DSYNC`. What the
//!   file is and where it lives is learnt once per `File`, on the pool (`fstat` and `fstatfs`
//!   may wait on a network file system);
//! - each write made here is timed; one that took over [`SLOW`] sends every such write of the
//!   process back to the ring (the throttling is the whole system's, not one file's) for
//!   [`FIRST_BACK_OFF`], and for twice as long as the last time when the last back-off ended
//!   less than [`MAX_BACK_OFF`] ago, up to that: a one-off (a host that descheduled this VM's
//!   CPU mid-write trips it too) costs little, and under a kernel that keeps throttling the
//!   writer a worker is held up by one slow write per second at most;
//! - `ZSYNC_FS_IN_PLACE=0` turns this off (such writes then go to the ring, as before it
//!   existed): for measuring, and for tests of the ring's write path.
//!
//! Standard output and error redirected to such a file take the same path (src/io/stdio.rs).
//! A green thread that is all its worker runs writes regular files in place at any size and
//! without this check (`op::write_waiting`): nobody waits for it.

use crate::env_switch::EnvSwitch;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// An in-place write that takes longer than this trips the [`Breaker`].
pub(crate) const SLOW: Duration = Duration::from_millis(1);
/// How long in-place writes stay off after a slow one that follows a quiet spell (a one-off:
/// the host descheduling this VM's CPU in the middle of a write trips it too).
pub(crate) const FIRST_BACK_OFF: Duration = Duration::from_millis(10);
/// The longest back-off: a slow write within this long after the last back-off ended doubles
/// the back-off, up to this (a kernel that keeps throttling the writer).
pub(crate) const MAX_BACK_OFF: Duration = Duration::from_secs(1);

/// File systems whose buffered writes go to the page cache and return (`f_type` of `statfs`,
/// from linux/magic.h).
const LOCAL_FILE_SYSTEMS: [u32; 9] = [
    0xEF53,      // ext2, ext3, ext4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0xF2F5_2010, // f2fs
    0xCA45_1A4E, // bcachefs
    0x0102_1994, // tmpfs
    0x8584_58F6, // ramfs
    0x794C_7630, // overlayfs
    0x2FC1_2FC1, // zfs
];

/// Whether in-place writes are on in this process (`ZSYNC_FS_IN_PLACE=0` turns them off).
static SWITCH: EnvSwitch = EnvSwitch::new("ZSYNC_FS_IN_PLACE");

/// Whether `ZSYNC_FS_IN_PLACE=0` left in-place writes on.
#[inline]
pub(crate) fn enabled() -> bool {
    SWITCH.is_on()
}

/// Writes of fewer bytes than this may be made in place.
pub(crate) const MAX_LEN: usize = super::op::RING_WRITE_MAX;

/// Whether `fd` is a regular file on a local file system, opened for writes that return when
/// the bytes are in the page cache (standard output redirected to a file). Makes `fstat`,
/// `fstatfs` and `fcntl` calls: on the pool.
pub(crate) fn fd_qualifies(fd: RawFd) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable memory of the right size; a bad `fd` is an error, not UB.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: `fstat` succeeded, so it filled `st` in.
    let regular = unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFREG;
    regular && writes_to_page_cache(fd)
}

/// Whether a write to `fd`, a regular file, returns once its bytes are in the page cache: a
/// local file system's, without `O_DIRECT`, `O_SYNC` or `O_DSYNC`. Makes `fstatfs` and `fcntl`
/// calls: on the pool.
pub(crate) fn writes_to_page_cache(fd: RawFd) -> bool {
    let mut fs = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `fs` is writable memory of the right size; a bad `fd` is an error, not UB.
    if unsafe { libc::fstatfs(fd, fs.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: `fstatfs` succeeded, so it filled `fs` in.
    let magic = unsafe { fs.assume_init() }.f_type as u32;
    // SAFETY: F_GETFL reads the flags of a descriptor the `File` keeps open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    let waits = libc::O_DIRECT | libc::O_SYNC | libc::O_DSYNC;
    is_local_file_system(magic) && flags >= 0 && flags & waits == 0
}

/// Whether `magic` (`statfs`'s `f_type`) names a local file system (see [`LOCAL_FILE_SYSTEMS`]).
pub(crate) fn is_local_file_system(magic: u32) -> bool {
    LOCAL_FILE_SYSTEMS.contains(&magic)
}

/// The process's in-place writes (or lookups, `super::lookup`): off for a while after a slow
/// one, for longer after each slow one that follows soon after the last back-off.
pub(crate) struct Breaker {
    /// Nanoseconds after `base` until which in-place writes are off; 0: never tripped.
    off_until: AtomicU64,
    /// The back-off last used, in nanoseconds.
    back_off: AtomicU64,
    /// How many took over [`SLOW`].
    slow: AtomicU64,
}

impl Breaker {
    pub(crate) const fn new() -> Breaker {
        Breaker {
            off_until: AtomicU64::new(0),
            back_off: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        }
    }

    /// How many took over [`SLOW`] so far.
    pub(crate) fn slow(&self) -> u64 {
        self.slow.load(Ordering::Relaxed)
    }

    /// Whether a write may be made in place at `now`.
    #[inline]
    pub(crate) fn allows(&self, now: impl FnOnce() -> Instant) -> bool {
        let until = self.off_until.load(Ordering::Relaxed);
        until == 0 || nanos_since_base(now()) >= until
    }

    /// Notes an in-place write that ran from `started` to `ended`.
    #[inline]
    pub(crate) fn record(&self, started: Instant, ended: Instant) {
        if ended.saturating_duration_since(started) > SLOW {
            self.trip(ended);
        }
    }

    /// A slow write ended at `at`. (Two workers tripping at once may both pick a back-off; the
    /// longer end wins. A heuristic needs no more.)
    #[cold]
    fn trip(&self, at: Instant) {
        self.slow.fetch_add(1, Ordering::Relaxed);
        let at = nanos_since_base(at);
        let (until, last) = (
            self.off_until.load(Ordering::Relaxed),
            self.back_off.load(Ordering::Relaxed),
        );
        let max = MAX_BACK_OFF.as_nanos() as u64;
        let back_off = if until != 0 && at < until.saturating_add(max) {
            last.saturating_mul(2).min(max)
        } else {
            FIRST_BACK_OFF.as_nanos() as u64
        };
        self.back_off.store(back_off, Ordering::Relaxed);
        self.off_until
            .fetch_max(at.saturating_add(back_off).max(1), Ordering::Relaxed);
    }
}

/// An instant as nanoseconds after the first one asked for (an `Instant` does not fit an atomic).
fn nanos_since_base(t: Instant) -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(t.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
}

static BREAKER: Breaker = Breaker::new();

/// In-place writes that took over [`SLOW`], process-wide (see `zsync::fs::in_place_slow_writes`).
pub(crate) fn slow_writes() -> u64 {
    BREAKER.slow()
}

/// Whether a small write to a file that [`fd_qualifies`] may be made in place now.
#[inline]
pub(crate) fn allowed() -> bool {
    enabled() && BREAKER.allows(Instant::now)
}

/// Makes `write` (one `pwrite` or `write` call, or a flush) here, timing it for the
/// [`Breaker`]. A park point first, checked before anything is written, as a write that parks
/// is; and it counts against the cooperative budget, as a call that does not wait does.
#[inline]
pub(crate) fn write<T>(write: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    crate::runtime::monitor::coop::poll();
    crate::runtime::park::park_point();
    let started = Instant::now();
    let result = write();
    BREAKER.record(started, Instant::now());
    result
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::fs::File;

    #[test]
    fn a_slow_write_turns_in_place_writes_off_for_a_back_off_that_grows_while_they_stay_slow() {
        let breaker = Breaker::new();
        let t0 = Instant::now();
        assert!(breaker.allows(|| t0));
        breaker.record(t0, t0 + SLOW / 2);
        assert!(breaker.allows(|| t0 + SLOW), "a fast write changes nothing");
        // A first slow write: off for the first back-off.
        let mut end = t0 + SLOW * 3;
        breaker.record(t0, end);
        assert!(!breaker.allows(|| end));
        assert!(!breaker.allows(|| end + FIRST_BACK_OFF / 2));
        assert!(breaker.allows(|| end + FIRST_BACK_OFF));
        // Slow again right after each back-off: it doubles, up to the longest.
        let mut back_off = FIRST_BACK_OFF;
        while back_off < MAX_BACK_OFF {
            let start = end + back_off;
            end = start + SLOW * 2;
            breaker.record(start, end);
            back_off = (back_off * 2).min(MAX_BACK_OFF);
            assert!(!breaker.allows(|| end + back_off - SLOW), "{back_off:?}");
            assert!(breaker.allows(|| end + back_off), "{back_off:?}");
        }
        let start = end + back_off;
        end = start + SLOW * 2;
        breaker.record(start, end);
        assert!(
            !breaker.allows(|| end + MAX_BACK_OFF - SLOW),
            "the back-off stops growing"
        );
        assert!(breaker.allows(|| end + MAX_BACK_OFF));
        // After a quiet spell as long as the longest back-off, a slow write starts over.
        let start = end + MAX_BACK_OFF * 2 + SLOW;
        end = start + SLOW * 2;
        breaker.record(start, end);
        assert!(!breaker.allows(|| end));
        assert!(breaker.allows(|| end + FIRST_BACK_OFF));
    }

    #[test]
    fn regular_files_in_the_temporary_directory_qualify_and_others_do_not() {
        use std::os::fd::AsRawFd;
        let dir = File::open(std::env::temp_dir()).unwrap();
        assert!(
            !fd_qualifies(dir.as_raw_fd()),
            "a directory is no regular file"
        );
        assert!(!fd_qualifies(-1));
        let path = std::env::temp_dir().join(format!("zsync-in-place-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        // The temporary directory is on a local file system wherever these tests run.
        assert!(fd_qualifies(file.as_raw_fd()));
        drop(file);
        use std::os::unix::fs::OpenOptionsExt;
        let synced = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DSYNC)
            .open(&path)
            .unwrap();
        assert!(
            !fd_qualifies(synced.as_raw_fd()),
            "O_DSYNC writes wait for the device"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
