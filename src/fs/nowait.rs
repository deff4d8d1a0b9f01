//! Reads and writes that do not wait: `preadv2` / `pwritev2` with `RWF_NOWAIT`, tried first by
//! every read and write made inside a runtime (`super::op`).
//!
//! A file read whose data is in the page cache never waits for a device, yet going through the
//! ring or the pool for it costs a park, a switch and a wake (plus a copy through an owned
//! buffer) on top of the read itself. With `RWF_NOWAIT` the kernel does the read only if it can
//! do it without blocking, and says `EAGAIN` otherwise; so one syscall, straight into the
//! caller's buffer, serves the cached case at what std's `pread` costs, and only a miss goes to
//! the ring or the pool (which then waits properly). Borrowing the caller's buffer is sound here
//! because the call is synchronous: the kernel is done with it when the syscall returns.
//!
//! What the kernel does with the flag (6.x; the fallback covers every other answer):
//!
//! - **Reads** of a regular file on ext4, xfs, btrfs (and pipes): the bytes that are cached, or
//!   `EAGAIN` if the first page is not. A read may be short (part of the range cached): the
//!   count is returned as it is, as std's `read` may return short counts; `read_exact` loops, and
//!   its next step misses and goes to the ring. 0 is the end of the file, as for `pread`.
//! - **Buffered writes**: `EOPNOTSUPP` on ext4 and tmpfs (measured on 6.18); xfs and btrfs
//!   take them (`FMODE_BUF_WASYNC`; not measured here). Pipes write what fits, `EAGAIN` when
//!   full.
//! - **`O_DIRECT` files** are never tried (their flags are looked at once per `File`): a
//!   synchronous call with the flag may wait for the device, and on 6.18/ext4 it is always
//!   `EAGAIN`.
//! - **Files that do not know the flag** (tmpfs reads, /proc, some character devices):
//!   `EOPNOTSUPP`. That is remembered per `File` and direction ([`Support`]), so such a file
//!   pays one wasted syscall per direction, not one per call.
//! - **A kernel without `preadv2`** (before 4.6): `ENOSYS`, remembered for the process. A
//!   seccomp filter's `EPERM` is remembered like `EOPNOTSUPP`, per file and direction (only
//!   per file: a sealed memfd refuses writes with `EPERM` too, and the waiting way then reports
//!   it).
//! - **Files opened (or made) non-blocking** (`O_NONBLOCK` on a pipe, FIFO, socket or character
//!   device): `EAGAIN` is std's answer there (`WouldBlock`), not a reason to wait: the ring would
//!   wait for data (io_uring ignores `O_NONBLOCK` on files it can poll) where std returns at once.
//!   The flag is looked at with the others, once per `File` ([`Support::check`]); for such a file
//!   an `EAGAIN` is returned once `F_GETFL` confirms the flag is still set, and where the kernel
//!   refuses `RWF_NOWAIT` (a terminal, or `ZSYNC_FS_NOWAIT=0`) the plain call is made here, which
//!   cannot wait either (after the same check). A flag cleared later with `fcntl(F_SETFL)` is
//!   seen at the next `EAGAIN` (the file then waits as a blocking one); a flag *set* later, after
//!   the `File`'s first read or write, is not: its reads and writes keep waiting on a green thread
//!   as a blocking file's do (on the ring, or the pool's std call, which then says `WouldBlock`).
//!   Regular files and block devices ignore the flag, and are read and written as without it;
//!   a character device that ignored it too would hold the worker as std's call holds its thread.
//!
//! Every other result, errors included, is the answer: a `pread` would have given the same.
//!
//! The calls are raw system calls, not glibc's wrappers (which are pthread cancellation points
//! and pay two atomic compare-and-swaps per call for it). What is left over std's `pread` is
//! the kernel's: `preadv2` goes through the vectored path (`import_iovec`, `vfs_readv`), about
//! 0.1 us more per call on 6.18, the price of being able to say "do not wait".
//!
//! `ZSYNC_FS_NOWAIT=0` turns this off (every read and write then goes to the ring or the pool, as
//! before it existed): for measuring, and for tests of the waiting paths.

use crate::env_switch::EnvSwitch;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, Ordering};

/// Whether `RWF_NOWAIT` is tried in this process: off with `ZSYNC_FS_NOWAIT=0`, or once the
/// kernel refused `preadv2`/`pwritev2` themselves.
static SWITCH: EnvSwitch = EnvSwitch::new("ZSYNC_FS_NOWAIT");

#[inline]
fn enabled() -> bool {
    SWITCH.is_on()
}

const READS_UNSUPPORTED: u8 = 1;
const WRITES_UNSUPPORTED: u8 = 2;
/// The open flags were looked at (see [`Support::check`]).
const CHECKED: u8 = 4;
/// A pipe, FIFO, socket or character device in non-blocking mode (`O_NONBLOCK`): its `EAGAIN`
/// is the answer, and its plain calls never wait.
const NONBLOCKING: u8 = 8;

/// What one open file has shown it does not support (`EOPNOTSUPP` for the flag), whether it
/// was opened with `O_DIRECT`, and whether it is in non-blocking mode.
#[derive(Default)]
pub(crate) struct Support(AtomicU8);

impl Support {
    /// Nothing known yet (for a `static`: standard input's, src/io/stdio.rs).
    pub(crate) const fn new() -> Support {
        Support(AtomicU8::new(0))
    }

    /// What is known of the file, its flags looked at first if they were not yet.
    #[inline]
    fn state(&self, file: &File) -> u8 {
        let state = self.0.load(Ordering::Relaxed);
        if state & CHECKED == 0 {
            return self.check(file);
        }
        state
    }

    /// Once per file (the `F_GETFL` is made whether or not `RWF_NOWAIT` is tried: it also tells
    /// a non-blocking file):
    ///
    /// - with `O_DIRECT` a read or write does not go through the page cache, and nothing
    ///   promises that a synchronous `RWF_NOWAIT` call then does not wait for the device (the
    ///   flag refuses to wait for locks, allocation and request slots). 6.18 answers such a call
    ///   on ext4 with `EAGAIN` every time, a wasted syscall per read. Either way such a file
    ///   never tries the flag. (A flag set later with `fcntl(F_SETFL, O_DIRECT)` is not seen.)
    /// - with `O_NONBLOCK`, a file that honours it ([`honours_nonblocking`]: one `statx` more,
    ///   for such files only) is [`NONBLOCKING`].
    #[cold]
    fn check(&self, file: &File) -> u8 {
        let fd = file.as_raw_fd();
        // SAFETY: F_GETFL reads the flags of a descriptor the `File` keeps open.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        let mut bits = CHECKED;
        if flags < 0 || flags & libc::O_DIRECT != 0 {
            bits |= READS_UNSUPPORTED | WRITES_UNSUPPORTED;
        }
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 && honours_nonblocking(fd) {
            bits |= NONBLOCKING;
        }
        self.0.fetch_or(bits, Ordering::Relaxed) | bits
    }

    /// Whether the file, [`NONBLOCKING`] when its flags were looked at, still is: its flags
    /// again (`F_GETFL`), as the descriptor's owner may have changed them through a raw fd
    /// (`fcntl(F_SETFL)`). If it no longer is, it is forgotten, and the file waits as a
    /// blocking one from then on.
    #[cold]
    fn still_nonblocking(&self, file: &File) -> bool {
        // SAFETY: F_GETFL reads the flags of a descriptor the `File` keeps open.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            return true;
        }
        self.0.fetch_and(!NONBLOCKING, Ordering::Relaxed);
        false
    }

    fn refuse(&self, bit: u8) {
        self.0.fetch_or(bit, Ordering::Relaxed);
    }
}

/// Whether a read or write of `fd`, opened with `O_NONBLOCK`, honours the flag: a pipe or FIFO,
/// a socket or a character device (a terminal). A regular file or a block device ignores it
/// (and waits for the device as without it); a type the kernel cannot tell counts as neither.
/// `statx` with `AT_STATX_DONT_SYNC`: the type of an open file cannot change, and a network
/// file system answers it from what it has, without asking the server.
fn honours_nonblocking(fd: libc::c_int) -> bool {
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: an empty NUL-terminated path, `AT_EMPTY_PATH` on a descriptor the caller keeps
    // open, and `stx` writable memory of the right size.
    let r = unsafe {
        libc::statx(
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC,
            libc::STATX_TYPE,
            stx.as_mut_ptr(),
        )
    };
    // SAFETY: zeroed, then filled in (or left zeroed) by `statx`.
    let stx = unsafe { stx.assume_init() };
    if r != 0 || stx.stx_mask & libc::STATX_TYPE == 0 {
        return false;
    }
    matches!(
        libc::mode_t::from(stx.stx_mode) & libc::S_IFMT,
        libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFCHR
    )
}

/// The most iovecs one call passes (the kernel refuses more with `EINVAL`; std's
/// `read_vectored` caps at the same limit).
const IOV_MAX: usize = 1024;

/// The kernel's offset for a read or write at `offset`, or at the file position (-1). `None` if
/// the offset does not fit an `off_t`: -1 would mean the file position, so the caller lets std
/// report the bad offset instead.
#[inline]
fn kernel_offset(offset: Option<u64>) -> Option<libc::off_t> {
    match offset {
        None => Some(-1),
        Some(offset) => libc::off_t::try_from(offset).ok(),
    }
}

/// What every call here does first, like `thread::check_cancel`: counts against the cooperative
/// budget (yields when it runs out, or when the monitor asks), and raises a pending cancellation
/// or expired `timeout()`. A read that parked was a park point; one that does not must stay one,
/// or a loop over cached reads could not be cancelled.
#[inline]
pub(crate) fn park_point() {
    crate::runtime::monitor::coop::poll();
    crate::runtime::park::park_point();
}

/// The kernel's two words for `offset`: it rebuilds the offset as `high << 32 << 32 | low` in
/// `unsigned long`s, so on 64-bit targets `low` is the whole offset (and `high` shifts out), on
/// 32-bit ones each word is a half. -1 (the file position) is all ones either way.
#[inline]
fn halves(offset: libc::off_t) -> (libc::c_ulong, libc::c_ulong) {
    (
        offset as libc::c_ulong,
        ((offset as u64) >> 32) as libc::c_ulong,
    )
}

/// `preadv2` or `pwritev2` (`nr`) with `RWF_NOWAIT`, made as a raw system call: glibc's
/// wrappers are pthread cancellation points, which bracket the call with
/// `__pthread_enable_asynccancel` and `__pthread_disable_asynccancel` (two atomic
/// compare-and-swaps on the thread's descriptor, about 30 instructions) for a feature Rust code
/// never uses. Errors are -1 with `errno` set, as from the wrappers.
///
/// # Safety
/// `iov` points to `count` iovecs whose buffers stay valid (and, for a read, writable) for the
/// call.
#[inline]
unsafe fn syscall(
    nr: libc::c_long,
    fd: libc::c_int,
    iov: *const libc::iovec,
    count: libc::c_int,
    offset: libc::off_t,
) -> isize {
    let (low, high) = halves(offset);
    // Every argument goes as a whole word: `syscall` is variadic and hands the registers to
    // the kernel as they are, so a 32-bit argument could arrive with undefined upper bits.
    // SAFETY: the caller keeps the iovecs and their buffers valid for the call; the kernel
    // keeps no reference after it returns.
    unsafe {
        libc::syscall(
            nr,
            libc::c_long::from(fd),
            iov,
            libc::c_long::from(count),
            low,
            high,
            libc::c_long::from(libc::RWF_NOWAIT),
        ) as isize
    }
}

/// One direction's system calls, and the bit its refusal of `RWF_NOWAIT` is remembered as.
struct Way {
    /// With `RWF_NOWAIT`: `preadv2` or `pwritev2`.
    nowait: libc::c_long,
    /// At the file position, without it: `readv` or `writev`.
    plain: libc::c_long,
    /// At an offset, without it: `preadv` or `pwritev`.
    plain_at: libc::c_long,
    unsupported: u8,
}

const READ: Way = Way {
    nowait: libc::SYS_preadv2,
    plain: libc::SYS_readv,
    plain_at: libc::SYS_preadv,
    unsupported: READS_UNSUPPORTED,
};

const WRITE: Way = Way {
    nowait: libc::SYS_pwritev2,
    plain: libc::SYS_writev,
    plain_at: libc::SYS_pwritev,
    unsupported: WRITES_UNSUPPORTED,
};

/// What a failed `RWF_NOWAIT` call leaves to do.
enum Failed {
    /// This is the answer (a `pread` would have given the same).
    Answer(io::Error),
    /// It would wait: the caller goes the waiting way.
    Wait,
    /// The kernel refused the flag on a [`NONBLOCKING`] file: the plain call, which cannot wait.
    Plain,
}

/// What a call that failed means: `errno` says.
#[cold]
fn failed(file: &File, support: &Support, bit: u8) -> Failed {
    let err = io::Error::last_os_error();
    let nonblocking = || support.0.load(Ordering::Relaxed) & NONBLOCKING != 0;
    match err.raw_os_error() {
        // A non-blocking file's `EAGAIN` is std's answer (`WouldBlock`), not a wait.
        Some(libc::EAGAIN) if nonblocking() && support.still_nonblocking(file) => {
            Failed::Answer(err)
        }
        Some(libc::EAGAIN) => Failed::Wait,
        Some(libc::EOPNOTSUPP | libc::EPERM) => {
            support.refuse(bit);
            if nonblocking() {
                Failed::Plain
            } else {
                Failed::Wait
            }
        }
        Some(libc::ENOSYS) => {
            SWITCH.turn_off();
            Failed::Wait
        }
        _ => Failed::Answer(err),
    }
}

/// Reads into or writes from the `count` iovecs at `iov` (at `offset`, or at the file position)
/// if that needs no wait: with `RWF_NOWAIT`, or, for a [`NONBLOCKING`] file that refuses it
/// (or with `ZSYNC_FS_NOWAIT=0`), the plain call. `None`: it would wait (or cannot be tried
/// here); use the ring or the pool.
///
/// # Safety
/// `iov` points to `count` iovecs whose buffers stay valid (and, for a read, writable) for the
/// call.
#[inline]
unsafe fn without_waiting(
    file: &File,
    support: &Support,
    way: &Way,
    iov: *const libc::iovec,
    count: libc::c_int,
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    let state = support.state(file);
    let nowait = enabled() && state & way.unsupported == 0;
    if !nowait && state & NONBLOCKING == 0 {
        return None;
    }
    let offset = kernel_offset(offset)?;
    park_point();
    if nowait {
        // SAFETY: the caller keeps the iovecs and their buffers valid for the call.
        let n = unsafe { syscall(way.nowait, file.as_raw_fd(), iov, count, offset) };
        if n >= 0 {
            return Some(Ok(n as usize));
        }
        match failed(file, support, way.unsupported) {
            Failed::Answer(err) => return Some(Err(err)),
            Failed::Wait => return None,
            Failed::Plain => {}
        }
    }
    // SAFETY: as above.
    unsafe { plain(file, support, way, iov, count, offset) }
}

/// The plain call (`readv`, `preadv`, `writev` or `pwritev`, raw as [`syscall`]'s) of a
/// [`NONBLOCKING`] file, which cannot wait: made once `F_GETFL` says the file still is
/// non-blocking; `None` if it no longer is (the caller then waits as for a blocking file). Its
/// result, errors included, is the answer, as std's call's would be.
///
/// # Safety
/// As [`without_waiting`].
#[cold]
unsafe fn plain(
    file: &File,
    support: &Support,
    way: &Way,
    iov: *const libc::iovec,
    count: libc::c_int,
    offset: libc::off_t,
) -> Option<io::Result<usize>> {
    if !support.still_nonblocking(file) {
        return None;
    }
    let fd = libc::c_long::from(file.as_raw_fd());
    let count = libc::c_long::from(count);
    // SAFETY: the caller keeps the iovecs and their buffers valid for the call; the kernel
    // keeps no reference after it returns. -1 is the file position (`readv`, `writev`).
    let n = unsafe {
        if offset == -1 {
            libc::syscall(way.plain, fd, iov, count)
        } else {
            let (low, high) = halves(offset);
            libc::syscall(way.plain_at, fd, iov, count, low, high)
        }
    };
    Some(if n >= 0 {
        Ok(n as usize)
    } else {
        Err(io::Error::last_os_error())
    })
}

/// Reads into `bufs` (at `offset`, or at the file position, which then moves) if that needs no
/// wait. `None`: it would wait (or cannot be tried here); use the ring or the pool.
#[inline]
pub(crate) fn read_vectored(
    file: &File,
    support: &Support,
    bufs: &mut [io::IoSliceMut<'_>],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    let count = bufs.len().min(IOV_MAX) as libc::c_int;
    // SAFETY: `IoSliceMut` is ABI-compatible with `iovec` (std guarantees it on Unix); the
    // `count` iovecs point into buffers borrowed mutably for the whole call, which returns
    // before the borrow ends (the kernel keeps no reference).
    unsafe {
        without_waiting(
            file,
            support,
            &READ,
            bufs.as_mut_ptr().cast::<libc::iovec>(),
            count,
            offset,
        )
    }
}

/// [`read_vectored`] into one buffer.
#[inline]
pub(crate) fn read(
    file: &File,
    support: &Support,
    buf: &mut [u8],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    read_vectored(file, support, &mut [io::IoSliceMut::new(buf)], offset)
}

/// Writes `bufs` (at `offset`, or at the file position) if that needs no wait. `None`: it would
/// wait (or the file system cannot say so); use the ring or the pool.
#[inline]
pub(crate) fn write_vectored(
    file: &File,
    support: &Support,
    bufs: &[io::IoSlice<'_>],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    let count = bufs.len().min(IOV_MAX) as libc::c_int;
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` (std guarantees it on Unix); the `count`
    // iovecs point into buffers borrowed for the whole call, which the kernel only reads and
    // keeps no reference to after it returns.
    unsafe {
        without_waiting(
            file,
            support,
            &WRITE,
            bufs.as_ptr().cast::<libc::iovec>(),
            count,
            offset,
        )
    }
}

/// [`write_vectored`] from one buffer.
#[inline]
pub(crate) fn write(
    file: &File,
    support: &Support,
    buf: &[u8],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    write_vectored(file, support, &[io::IoSlice::new(buf)], offset)
}
