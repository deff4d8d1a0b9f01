//! The file-system operations, one small function per kind of operation.
//!
//! Every blocking call of [`zsync::fs`](crate::fs) ends up here, and only here is it decided
//! where the call runs. Inside a runtime, a read or write is first tried without waiting
//! (`super::nowait`: `RWF_NOWAIT`, one syscall into the caller's buffer, no park; for a pipe,
//! FIFO, socket or terminal in non-blocking mode, its `EAGAIN` is the answer, `WouldBlock` as
//! std's) and only when that would wait goes on: a write to a regular file by a green thread that is all its
//! worker runs is made in place, and so is a write under [`RING_WRITE_MAX`] to a regular file
//! on a local file system while such writes stay fast (see [`write_waiting`] and
//! `super::in_place`); on a green thread, other reads, writes under
//! [`RING_WRITE_MAX`] and fsync go to the worker's io_uring ring when it has one
//! (`super::uring`); otherwise (and for every other operation) a green thread, or a thread of
//! a `Flavor::OsThreads` runtime, runs the call on the blocking pool through [`crate::unblock`]
//! with owned arguments. On a plain OS thread outside any runtime each function calls std
//! directly, borrowed buffers and all.
//!
//! The rule every function here keeps: nothing borrowed from the caller goes to the pool. A
//! green thread that is cancelled while it waits unwinds at once, while the pool thread still
//! runs the operation; so paths are copied, buffers are owned (and copied in or out), and the
//! file itself is an `Arc` the pool thread holds a count of. One exception: a large write to a
//! regular file goes through `unblock_scoped`, which keeps the caller parked (shielded) until
//! the pool thread is done with the caller's buffer (see [`write_waiting`]).
//!
//! The cached read is the hot path (one `read_exact_at` of 4 KiB costs about 1.3 us, nearly all
//! of it the syscall): [`offload`] takes no count of the runtime, and everything from the
//! `File` method to the syscall is inline; the waiting ways are out of line.

use std::fs::{self as std_fs, FileTimes, Metadata, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{in_place, lookup, nowait, uring};

/// The most a single read or write hands to the pool at once. std's `read` and `write` may
/// return short counts anyway; `read_exact`, `write_all` and friends loop over chunks.
pub(crate) const MAX_CHUNK: usize = 1 << 20;

/// Writes of at least this many bytes go to the pool, not the ring. Buffered writes have no
/// non-blocking path on common filesystems (ext4), so the ring punts every one to an io-wq
/// worker, and there a buffered write costs several times the CPU of the same `write(2)` on a
/// pool thread: a 1 MiB block copy measured ~1.5-2.5 ms of io-wq system time per MiB against
/// ~0.3 ms on the pool (256 MiB copies, 6.18 kernel, ext4); 4x slower at 16 KiB blocks, about
/// equal at 4 KiB. Small writes keep the ring (no pool hand-off per write).
pub(crate) const RING_WRITE_MAX: usize = 16 << 10;

/// Whether a blocking call should leave the calling thread. Outside any runtime the caller is a
/// plain OS thread that may block (std's behaviour); inside one it may be a green thread whose
/// worker must keep running others. (On a `Flavor::OsThreads` thread `unblock` runs the closure
/// inline, so the owned-buffer path there costs a copy and nothing else.)
#[inline]
pub(crate) fn offload() -> bool {
    crate::runtime::context::current().in_runtime()
}

/// What an open `File` keeps for its operations: a reusable owned buffer for moving bytes to and
/// from the pool or the ring, and what the file has shown of `RWF_NOWAIT` support. The buffer is
/// taken out for the duration of an operation and put back afterwards; an operation abandoned by
/// a cancelled caller keeps its buffer, and the next one allocates a new one.
#[derive(Default)]
pub(crate) struct Scratch {
    buf: Mutex<Vec<u8>>,
    pub(crate) nowait: nowait::Support,
    /// Where the file lives, for its seeks and `metadata` in place (`lookup::seek`,
    /// `lookup::fstat`), learnt on the first one.
    pub(crate) place: AtomicU8,
    /// What the file is, learnt (with an `fstat` on the pool) before its first write that
    /// cannot be made at once: [`UNKNOWN`], [`REGULAR`], [`LOCAL`] or [`OTHER`] (the type of
    /// an open file cannot change). See [`write_waiting`].
    kind: AtomicU8,
}

const UNKNOWN: u8 = 0;
/// A regular file whose small writes go to the ring when others share the worker.
const REGULAR: u8 = 1;
const OTHER: u8 = 2;
/// A regular file whose small writes may be made in place (see `super::in_place`).
const LOCAL: u8 = 3;

/// Whether `kind` is one of the regular files ([`REGULAR`] or [`LOCAL`]).
fn is_regular(kind: u8) -> bool {
    matches!(kind, REGULAR | LOCAL)
}

impl Scratch {
    /// An owned buffer of at least `len` initialised bytes (contents unspecified).
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        let mut buf = std::mem::take(&mut *self.buf.lock().unwrap_or_else(|e| e.into_inner()));
        if buf.len() < len {
            buf.resize(len, 0);
        }
        buf
    }

    /// Hands a buffer back for the next operation (the larger of the two is kept, up to a
    /// bound).
    pub(crate) fn put(&self, buf: Vec<u8>) {
        if buf.capacity() <= 2 * MAX_CHUNK {
            let mut slot = self.buf.lock().unwrap_or_else(|e| e.into_inner());
            if slot.capacity() < buf.capacity() {
                *slot = buf;
            }
        }
    }
}

/// Runs `f` on the pool (or inline on a plain OS thread). The one place operations leave the
/// caller's thread.
fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::blocking::unblock(f)
}

/// An operation on one path.
fn on_path<T: Send + 'static>(path: &Path, f: fn(&Path) -> io::Result<T>) -> io::Result<T> {
    if !offload() {
        return f(path);
    }
    let path = path.to_path_buf();
    run(move || f(&path))
}

/// An operation on one path that `lookup` answers in place when it can (see `super::lookup`).
fn looked_up<T: Send + 'static>(
    path: &Path,
    lookup: impl FnOnce(&Path) -> Option<io::Result<T>>,
    f: fn(&Path) -> io::Result<T>,
) -> io::Result<T> {
    if offload() {
        if let Some(found) = lookup(path) {
            return found;
        }
    }
    on_path(path, f)
}

/// An operation on two paths.
fn on_paths<T: Send + 'static>(
    from: &Path,
    to: &Path,
    f: fn(&Path, &Path) -> io::Result<T>,
) -> io::Result<T> {
    if !offload() {
        return f(from, to);
    }
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    run(move || f(&from, &to))
}

/// An operation on an open file that moves no bytes.
fn on_file<T, A>(
    file: &Arc<std_fs::File>,
    arg: A,
    f: fn(&std_fs::File, A) -> io::Result<T>,
) -> io::Result<T>
where
    T: Send + 'static,
    A: Send + 'static,
{
    if !offload() {
        return f(file, arg);
    }
    let file = Arc::clone(file);
    run(move || f(&file, arg))
}

// ---- opening and path operations ----

/// Opens `path`; `in_place`: the `open(2)` flags when the options allow opening in place (see
/// `super::lookup`).
pub(crate) fn open(
    path: &Path,
    options: &std_fs::OpenOptions,
    in_place: Option<libc::c_int>,
) -> io::Result<std_fs::File> {
    if !offload() {
        return options.open(path);
    }
    if let Some(opened) = in_place.and_then(|flags| lookup::open(path, flags)) {
        return opened;
    }
    let (path, options) = (path.to_path_buf(), options.clone());
    run(move || options.open(&path))
}

pub(crate) fn stat(path: &Path) -> io::Result<Metadata> {
    looked_up(path, |p| lookup::stat(p, true), |p| std_fs::metadata(p))
}

pub(crate) fn lstat(path: &Path) -> io::Result<Metadata> {
    looked_up(
        path,
        |p| lookup::stat(p, false),
        |p| std_fs::symlink_metadata(p),
    )
}

pub(crate) fn exists(path: &Path) -> io::Result<bool> {
    looked_up(path, lookup::exists, |p| std_fs::exists(p))
}

pub(crate) fn read_whole(path: &Path) -> io::Result<Vec<u8>> {
    if offload() {
        if let Some(opened) = lookup::open(path, libc::O_RDONLY) {
            let mut bytes = Vec::new();
            read_to_end(&Arc::new(opened?), &Scratch::default(), &mut bytes)?;
            return Ok(bytes);
        }
    }
    on_path(path, |p| std_fs::read(p))
}

pub(crate) fn read_whole_string(path: &Path) -> io::Result<String> {
    if offload() {
        if let Some(opened) = lookup::open(path, libc::O_RDONLY) {
            let mut text = String::new();
            read_to_string(&Arc::new(opened?), &Scratch::default(), &mut text)?;
            return Ok(text);
        }
    }
    on_path(path, |p| std_fs::read_to_string(p))
}

pub(crate) fn write_whole(path: &Path, contents: &[u8]) -> io::Result<()> {
    if !offload() {
        return std_fs::write(path, contents);
    }
    let (path, contents) = (path.to_path_buf(), contents.to_vec());
    run(move || std_fs::write(&path, &contents))
}

pub(crate) fn copy(from: &Path, to: &Path) -> io::Result<u64> {
    on_paths(from, to, |f, t| std_fs::copy(f, t))
}

pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    on_paths(from, to, |f, t| std_fs::rename(f, t))
}

pub(crate) fn hard_link(original: &Path, link: &Path) -> io::Result<()> {
    on_paths(original, link, |o, l| std_fs::hard_link(o, l))
}

pub(crate) fn chroot(dir: &Path) -> io::Result<()> {
    on_path(dir, |d| std::os::unix::fs::chroot(d))
}

pub(crate) fn symlink(original: &Path, link: &Path) -> io::Result<()> {
    on_paths(original, link, |o, l| std::os::unix::fs::symlink(o, l))
}

pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    on_path(path, |p| std_fs::remove_file(p))
}

pub(crate) fn remove_dir(path: &Path) -> io::Result<()> {
    on_path(path, |p| std_fs::remove_dir(p))
}

pub(crate) fn remove_dir_all(path: &Path) -> io::Result<()> {
    on_path(path, |p| std_fs::remove_dir_all(p))
}

pub(crate) fn create_dir(path: &Path, recursive: bool, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fn create(path: &Path, recursive: bool, mode: u32) -> io::Result<()> {
        std_fs::DirBuilder::new()
            .recursive(recursive)
            .mode(mode)
            .create(path)
    }
    if !offload() {
        return create(path, recursive, mode);
    }
    let path = path.to_path_buf();
    run(move || create(&path, recursive, mode))
}

pub(crate) fn canonicalize(path: &Path) -> io::Result<PathBuf> {
    looked_up(path, lookup::canonicalize, |p| std_fs::canonicalize(p))
}

pub(crate) fn read_link(path: &Path) -> io::Result<PathBuf> {
    on_path(path, |p| std_fs::read_link(p))
}

pub(crate) fn set_permissions(path: &Path, perm: Permissions) -> io::Result<()> {
    if !offload() {
        return std_fs::set_permissions(path, perm);
    }
    let path = path.to_path_buf();
    run(move || std_fs::set_permissions(&path, perm))
}

pub(crate) fn chown_path(
    path: &Path,
    uid: Option<u32>,
    gid: Option<u32>,
    follow: bool,
) -> io::Result<()> {
    fn change(path: &Path, uid: Option<u32>, gid: Option<u32>, follow: bool) -> io::Result<()> {
        if follow {
            std::os::unix::fs::chown(path, uid, gid)
        } else {
            std::os::unix::fs::lchown(path, uid, gid)
        }
    }
    if !offload() {
        return change(path, uid, gid, follow);
    }
    let path = path.to_path_buf();
    run(move || change(&path, uid, gid, follow))
}

// ---- directories ----

/// The state of one directory listing, shared with the pool thread that reads the next batch.
/// Entries a batch reads go to `pending` under the lock, so a batch whose caller was cancelled
/// still delivers its entries to the next call: none is lost or read twice.
pub(crate) struct Listing {
    dir: std_fs::ReadDir,
    pending: std::collections::VecDeque<io::Result<Entry>>,
    finished: bool,
}

/// A directory entry and, when the batch could learn it cheaply, its file type.
pub(crate) struct Entry {
    pub(crate) entry: Arc<std_fs::DirEntry>,
    pub(crate) file_type: Option<std_fs::FileType>,
}

/// How many entries one trip to the pool reads.
const DIR_BATCH: usize = 128;

pub(crate) fn read_dir(path: &Path) -> io::Result<Arc<Mutex<Listing>>> {
    let dir = on_path(path, |p| std_fs::read_dir(p))?;
    Ok(Arc::new(Mutex::new(Listing {
        dir,
        pending: Default::default(),
        finished: false,
    })))
}

/// Moves the entries read so far into `out`; reads a batch first if there are none. Returns
/// false once the listing is exhausted and `out` got nothing.
pub(crate) fn read_dir_next(
    listing: &Arc<Mutex<Listing>>,
    out: &mut std::collections::VecDeque<io::Result<Entry>>,
) -> bool {
    fn take(
        listing: &Mutex<Listing>,
        out: &mut std::collections::VecDeque<io::Result<Entry>>,
    ) -> bool {
        let mut l = listing.lock().unwrap_or_else(|e| e.into_inner());
        out.append(&mut l.pending);
        !out.is_empty() || l.finished
    }
    fn batch(listing: &Mutex<Listing>, limit: usize) {
        let mut l = listing.lock().unwrap_or_else(|e| e.into_inner());
        let l = &mut *l;
        while !l.finished && l.pending.len() < limit {
            match l.dir.next() {
                None => l.finished = true,
                Some(Ok(entry)) => {
                    // Free when the directory gave the type (d_type); one lstat otherwise.
                    let file_type = entry.file_type().ok();
                    l.pending.push_back(Ok(Entry {
                        entry: Arc::new(entry),
                        file_type,
                    }));
                }
                Some(Err(err)) => {
                    // Hand an error over at once; std decides whether the listing goes on.
                    l.pending.push_back(Err(err));
                    break;
                }
            }
        }
    }
    if take(listing, out) {
        return !out.is_empty();
    }
    if offload() {
        let shared = Arc::clone(listing);
        run(move || batch(&shared, DIR_BATCH));
    } else {
        batch(listing, 1);
    }
    take(listing, out);
    !out.is_empty()
}

pub(crate) fn entry_metadata(entry: &Arc<std_fs::DirEntry>) -> io::Result<Metadata> {
    use std::os::unix::fs::{DirEntryExt, MetadataExt};
    if !offload() {
        return entry.metadata();
    }
    // std's looks the name up in the directory it listed (`fstatat` on its descriptor); by path
    // it is the same file only while it has the inode the listing gave (the directory may have
    // been renamed, the name taken by another file): otherwise, and for any error, the pool.
    if let Some(Ok(found)) = lookup::stat(&entry.path(), false) {
        if found.ino() == entry.ino() {
            return Ok(found);
        }
    }
    let entry = Arc::clone(entry);
    run(move || entry.metadata())
}

pub(crate) fn entry_file_type(entry: &Arc<std_fs::DirEntry>) -> io::Result<std_fs::FileType> {
    if !offload() {
        return entry.file_type();
    }
    let entry = Arc::clone(entry);
    run(move || entry.file_type())
}

// ---- open files ----

#[inline]
pub(crate) fn read(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &mut [u8],
) -> io::Result<usize> {
    if !offload() || buf.is_empty() {
        // A zero-length read never waits; std still makes the call (and reports a bad fd).
        return (&**file).read(buf);
    }
    read_some(file, scratch, buf, None)
}

pub(crate) fn read_vectored(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    bufs: &mut [io::IoSliceMut<'_>],
) -> io::Result<usize> {
    if !offload() {
        return (&**file).read_vectored(bufs);
    }
    let total = bufs.iter().map(|b| b.len()).sum::<usize>().min(MAX_CHUNK);
    if total == 0 {
        return (&**file).read_vectored(bufs);
    }
    if let Some(result) = nowait::read_vectored(file, &scratch.nowait, bufs, None) {
        return result;
    }
    into_owned(
        file,
        scratch,
        total,
        |mut f, b| f.read(b),
        |owned, &n| {
            let mut rest = &owned[..n];
            for buf in bufs.iter_mut() {
                if rest.is_empty() {
                    break;
                }
                let k = buf.len().min(rest.len());
                buf[..k].copy_from_slice(&rest[..k]);
                rest = &rest[k..];
            }
        },
    )
}

#[inline]
pub(crate) fn read_exact(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &mut [u8],
) -> io::Result<()> {
    if !offload() {
        return (&**file).read_exact(buf);
    }
    read_exact_loop(file, scratch, buf, None)
}

/// How much room a read to the end made in place asks for at least (the `Vec` grows as it
/// does for std's `read_to_end`: geometrically).
const TO_END_STEP: usize = 32 << 10;

/// Reads to the end: in place while the bytes are cached, the rest in one trip to the pool.
/// Like std, the bytes read before an error are kept.
pub(crate) fn read_to_end(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &mut Vec<u8>,
) -> io::Result<usize> {
    if !offload() {
        return (&**file).read_to_end(buf);
    }
    let start = buf.len();
    // While the bytes are cached, read them here (`RWF_NOWAIT`), straight into `buf`; the pool
    // reads whatever would wait.
    loop {
        let filled = buf.len();
        buf.reserve(TO_END_STEP);
        let room = (buf.capacity() - filled).min(MAX_CHUNK);
        buf.resize(filled + room, 0);
        let read = nowait::read(file, &scratch.nowait, &mut buf[filled..], None);
        match read {
            Some(Ok(n)) => buf.truncate(filled + n),
            _ => buf.truncate(filled),
        }
        match read {
            Some(Ok(0)) => return Ok(buf.len() - start),
            Some(Ok(_)) => {}
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            // As std's: what was read stays in `buf`.
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    let before = buf.len() - start;
    let file = Arc::clone(file);
    let (data, result) = run(move || {
        let mut data = Vec::new();
        let result = (&*file).read_to_end(&mut data);
        (data, result)
    });
    let n = data.len();
    if buf.is_empty() {
        *buf = data;
    } else {
        buf.extend_from_slice(&data);
    }
    result.map(|_| before + n)
}

/// Like std's: on invalid UTF-8 nothing is appended and the error is `InvalidData`.
pub(crate) fn read_to_string(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &mut String,
) -> io::Result<usize> {
    if !offload() {
        return (&**file).read_to_string(buf);
    }
    let mut bytes = Vec::new();
    let result = read_to_end(file, scratch, &mut bytes);
    match String::from_utf8(bytes) {
        Ok(text) => {
            buf.push_str(&text);
            result
        }
        Err(_) => result.and_then(|_| Err(invalid_utf8())),
    }
}

pub(crate) fn invalid_utf8() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "stream did not contain valid UTF-8",
    )
}

#[inline]
pub(crate) fn read_at(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    if !offload() || buf.is_empty() || offset > i64::MAX as u64 {
        // An offset beyond `off_t` fails at once (EINVAL, std's error); the ring would take
        // the largest one for "the file position".
        return file.read_at(buf, offset);
    }
    read_some(file, scratch, buf, Some(offset))
}

#[inline]
pub(crate) fn read_exact_at(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    if !offload() || offset > i64::MAX as u64 {
        return file.read_exact_at(buf, offset);
    }
    read_exact_loop(file, scratch, buf, Some(offset))
}

/// One read of at most [`MAX_CHUNK`] bytes (at `offset`, or at the file position), the
/// cheapest way that does not block the worker: at once if the data is cached (`nowait`, no
/// park), else on the worker's ring, else on the pool.
///
/// The cached case is inline down to the system call (no call of its own to pay for; a read
/// of a cached page costs little more than the syscall itself); the waiting ways are not.
#[inline]
fn read_some(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &mut [u8],
    offset: Option<u64>,
) -> io::Result<usize> {
    let len = buf.len().min(MAX_CHUNK);
    let buf = &mut buf[..len];
    if let Some(result) = nowait::read(file, &scratch.nowait, buf, offset) {
        return result;
    }
    read_waiting(file, scratch, buf, offset)
}

/// [`read_some`] when the data is not cached (or `RWF_NOWAIT` cannot be tried): on the ring,
/// else on the pool.
#[inline(never)]
fn read_waiting(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &mut [u8],
    offset: Option<u64>,
) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    if let Some(result) = uring::read(file, buf, offset) {
        return result;
    }
    let len = buf.len();
    into_owned(
        file,
        scratch,
        len,
        move |mut f, b| match offset {
            Some(offset) => f.read_at(b, offset),
            None => f.read(b),
        },
        |owned, &n| buf[..n].copy_from_slice(&owned[..n]),
    )
}

/// `read_exact` (at `offset`, or at the file position) as a loop of [`read_some`], with std's
/// semantics: `Interrupted` is retried, an early end is `UnexpectedEof` (after consuming what
/// was there).
fn read_exact_loop(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    mut buf: &mut [u8],
    mut offset: Option<u64>,
) -> io::Result<()> {
    while !buf.is_empty() {
        match read_some(file, scratch, buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "failed to fill whole buffer",
                ))
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset = offset.map(|o| o + n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One write of at most [`MAX_CHUNK`] bytes (at `offset`, or at the file position): at once if
/// the file system can do it without waiting (`nowait`: not ext4 or tmpfs), else as
/// [`write_waiting`] decides.
#[inline]
fn write_some(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &[u8],
    offset: Option<u64>,
) -> io::Result<usize> {
    let chunk = &buf[..buf.len().min(MAX_CHUNK)];
    if let Some(result) = nowait::write(file, &scratch.nowait, chunk, offset) {
        return result;
    }
    write_waiting(file, scratch, chunk, offset)
}

/// [`write_some`] when the write would wait (or `RWF_NOWAIT` cannot be tried): made here if
/// the caller is all its worker runs and the file is regular, or if it is small and the file
/// is a regular one on a local file system (`in_place`), else on the ring if it is small,
/// else on the pool.
#[inline(never)]
fn write_waiting(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    chunk: &[u8],
    offset: Option<u64>,
) -> io::Result<usize> {
    // Asked again after `learn_kind`, whose trip to the pool lets other green threads come.
    let alone = || {
        matches!(
            crate::runtime::context::current(),
            crate::runtime::context::Current::Green { worker, .. } if worker.runs_nothing_else()
        )
    };
    let small = chunk.len() < RING_WRITE_MAX;
    let mut kind = scratch.kind.load(Ordering::Relaxed);
    if kind == UNKNOWN && (alone() || (small && in_place::enabled())) {
        kind = learn_kind(file, scratch);
    }
    if is_regular(kind) && alone() {
        // Nothing else on this worker waits for its OS thread, and a regular file's write ends
        // by itself: the write is made here, as std makes it, rather than handed to the pool
        // and back (two thread wakes, ~20 us each on this machine, per write; a 1 MiB-block
        // copy 0.80-0.84x std's speed that way, 0.94-1.03x this way). Still a park point,
        // checked before anything is written, as a write that parks is.
        nowait::park_point();
        return write_on(file, chunk, offset);
    }
    if small && kind == LOCAL && in_place::allowed() {
        // A small write to a local file system's page cache: made here, timed (see
        // `in_place`), rather than through io_uring's kernel threads (~25-100 us of thread
        // wake-ups per write on this machine, against ~4 us for the write). A park point too
        // (`in_place::write`).
        return in_place::write(|| write_on(file, chunk, offset));
    }
    if small {
        if let Some(result) = uring::write(file, chunk, offset) {
            return result;
        }
    }
    if kind == UNKNOWN {
        kind = learn_kind(file, scratch);
    }
    if is_regular(kind) {
        // A write to a regular file ends by itself (no reader to wait for, as a pipe's may), so
        // the caller can afford to wait for it: `unblock_scoped` keeps it parked, shielded from
        // cancellation, until the pool has returned, and the pool writes straight from the
        // caller's buffer (a 1 MiB copy less per MiB written).
        let result = crate::blocking::unblock_scoped(|| write_on(file, chunk, offset));
        // A cancellation or `timeout()` that came meanwhile is raised now, as after a write on
        // the ring: a loop of such writes may have no other park point.
        crate::runtime::park::park_point();
        return result;
    }
    // Anything else (a pipe's reader may never come) gets a copy the caller may abandon.
    with_owned(file, scratch, chunk, move |f, data| {
        write_on(f, data, offset)
    })
}

/// One `pwrite` at `offset`, or one `write` at the file position, on the calling thread.
fn write_on(file: &std_fs::File, data: &[u8], offset: Option<u64>) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    match offset {
        Some(offset) => file.write_at(data, offset),
        None => (&*file).write(data),
    }
}

/// What the file is ([`LOCAL`], [`REGULAR`] or [`OTHER`]), learnt once per `File` before its
/// first write that cannot be made at once, on the pool (`fstat` and `fstatfs` may wait too, on
/// FUSE or NFS), where a cancellation may abandon it: nothing is written yet. (Learnt with the
/// write, a first write to a regular file would be abandoned and land after the caller had
/// unwound.)
#[cold]
fn learn_kind(file: &Arc<std_fs::File>, scratch: &Scratch) -> u8 {
    let kind = on_file(file, (), |file, ()| {
        Ok(match file.metadata() {
            Ok(m) if m.is_file() && in_place::writes_to_page_cache(file.as_raw_fd()) => LOCAL,
            Ok(m) if m.is_file() => REGULAR,
            _ => OTHER,
        })
    })
    .unwrap_or(OTHER);
    scratch.kind.store(kind, Ordering::Relaxed);
    kind
}

/// `write_all` (at `offset`, or at the file position) as a loop of [`write_some`], with std's
/// semantics: `Interrupted` is retried, a write of nothing is `WriteZero`.
fn write_all_loop(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    mut buf: &[u8],
    mut offset: Option<u64>,
) -> io::Result<()> {
    while !buf.is_empty() {
        match write_some(file, scratch, buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "failed to write whole buffer",
                ))
            }
            Ok(n) => {
                buf = &buf[n..];
                offset = offset.map(|o| o + n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies `data` into an owned buffer and runs `f` on it on the pool.
fn with_owned<T: Send + 'static>(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    data: &[u8],
    f: impl FnOnce(&std_fs::File, &[u8]) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let len = data.len();
    let mut owned = scratch.take(len);
    owned[..len].copy_from_slice(data);
    let file = Arc::clone(file);
    let (owned, result) = run(move || {
        let result = f(&file, &owned[..len]);
        (owned, result)
    });
    scratch.put(owned);
    result
}

/// The read twin of [`with_owned`]: `f` reads on the pool into an owned buffer of `len` bytes
/// from `scratch`; on success `out` copies what it needs from the buffer before it goes back.
fn into_owned<T: Send + 'static>(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    len: usize,
    f: impl FnOnce(&std_fs::File, &mut [u8]) -> io::Result<T> + Send + 'static,
    out: impl FnOnce(&[u8], &T),
) -> io::Result<T> {
    let owned = scratch.take(len);
    let file = Arc::clone(file);
    let (owned, result) = run(move || {
        let mut owned = owned;
        let result = f(&file, &mut owned[..len]);
        (owned, result)
    });
    if let Ok(value) = &result {
        out(&owned[..len], value);
    }
    scratch.put(owned);
    result
}

#[inline]
pub(crate) fn write(file: &Arc<std_fs::File>, scratch: &Scratch, buf: &[u8]) -> io::Result<usize> {
    if !offload() || buf.is_empty() {
        return (&**file).write(buf);
    }
    write_some(file, scratch, buf, None)
}

pub(crate) fn write_vectored(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    bufs: &[io::IoSlice<'_>],
) -> io::Result<usize> {
    if !offload() {
        return (&**file).write_vectored(bufs);
    }
    let total = bufs.iter().map(|b| b.len()).sum::<usize>().min(MAX_CHUNK);
    if total == 0 {
        return (&**file).write_vectored(bufs);
    }
    if let Some(result) = nowait::write_vectored(file, &scratch.nowait, bufs, None) {
        return result;
    }
    if total < RING_WRITE_MAX && in_place::enabled() {
        // Small: made here on a local file system, as `write_waiting` makes a small write.
        let mut kind = scratch.kind.load(Ordering::Relaxed);
        if kind == UNKNOWN {
            kind = learn_kind(file, scratch);
        }
        if kind == LOCAL && in_place::allowed() {
            return in_place::write(|| (&**file).write_vectored(bufs));
        }
    }
    let mut owned = scratch.take(total);
    let mut filled = 0;
    for buf in bufs {
        let k = buf.len().min(total - filled);
        owned[filled..filled + k].copy_from_slice(&buf[..k]);
        filled += k;
    }
    let file = Arc::clone(file);
    let (owned, result) = run(move || {
        let result = (&*file).write(&owned[..total]);
        (owned, result)
    });
    scratch.put(owned);
    result
}

#[inline]
pub(crate) fn write_all(file: &Arc<std_fs::File>, scratch: &Scratch, buf: &[u8]) -> io::Result<()> {
    if !offload() {
        return (&**file).write_all(buf);
    }
    write_all_loop(file, scratch, buf, None)
}

#[inline]
pub(crate) fn write_at(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &[u8],
    offset: u64,
) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    if !offload() || buf.is_empty() || offset > i64::MAX as u64 {
        // As `read_at`: a bad offset fails at once with std's error.
        return file.write_at(buf, offset);
    }
    write_some(file, scratch, buf, Some(offset))
}

#[inline]
pub(crate) fn write_all_at(
    file: &Arc<std_fs::File>,
    scratch: &Scratch,
    buf: &[u8],
    offset: u64,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    if !offload() || offset > i64::MAX as u64 {
        return file.write_all_at(buf, offset);
    }
    write_all_loop(file, scratch, buf, Some(offset))
}

pub(crate) fn seek(file: &Arc<std_fs::File>, scratch: &Scratch, pos: SeekFrom) -> io::Result<u64> {
    if offload() {
        if let Some(moved) = lookup::seek(file, &scratch.place, pos) {
            return moved;
        }
    }
    on_file(file, pos, |mut f, pos| f.seek(pos))
}

pub(crate) fn sync_all(file: &Arc<std_fs::File>) -> io::Result<()> {
    if offload() {
        if let Some(result) = uring::fsync(file, false) {
            return result;
        }
    }
    on_file(file, (), |f, ()| f.sync_all())
}

pub(crate) fn sync_data(file: &Arc<std_fs::File>) -> io::Result<()> {
    if offload() {
        if let Some(result) = uring::fsync(file, true) {
            return result;
        }
    }
    on_file(file, (), |f, ()| f.sync_data())
}

pub(crate) fn set_len(file: &Arc<std_fs::File>, size: u64) -> io::Result<()> {
    on_file(file, size, |f, size| f.set_len(size))
}

pub(crate) fn fstat(file: &Arc<std_fs::File>, scratch: &Scratch) -> io::Result<Metadata> {
    if offload() {
        if let Some(found) = lookup::fstat(file, &scratch.place) {
            return found;
        }
    }
    on_file(file, (), |f, ()| f.metadata())
}

pub(crate) fn fchmod(file: &Arc<std_fs::File>, perm: Permissions) -> io::Result<()> {
    on_file(file, perm, |f, perm| f.set_permissions(perm))
}

pub(crate) fn set_times(file: &Arc<std_fs::File>, times: FileTimes) -> io::Result<()> {
    on_file(file, times, |f, times| f.set_times(times))
}

// ---- advisory locks ----

/// The first wait between two tries of a lock that is held elsewhere.
const LOCK_POLL_FIRST: Duration = Duration::from_millis(1);
/// The longest wait between two tries.
const LOCK_POLL_MAX: Duration = Duration::from_millis(16);

/// `File::lock` (`shared`: `lock_shared`): std's `flock`. A green thread (or a thread of a
/// `Flavor::OsThreads` runtime) takes a free lock at once with a try that does not wait
/// (`LOCK_NB`, on the calling thread), and waits for a lock held elsewhere by trying again
/// after a park of 1 ms, doubling up to 16 ms: Linux gives no readiness event for a released
/// `flock`, and a blocking `flock` on the pool could not be abandoned safely (a lock taken
/// later for a caller that had given up would have to be let go, and on the same open file
/// that could let go of a lock a later call had taken). Each park is a park point: a waiting
/// `lock` is cancellable and `timeout()` ends it, and the file is then not locked by it.
pub(crate) fn lock(file: &std_fs::File, shared: bool) -> io::Result<()> {
    if !offload() {
        return if shared {
            file.lock_shared()
        } else {
            file.lock()
        };
    }
    let mut pause = LOCK_POLL_FIRST;
    loop {
        nowait::park_point();
        match try_lock(file, shared) {
            Err(std_fs::TryLockError::WouldBlock) => {}
            Err(std_fs::TryLockError::Error(e)) => return Err(e),
            Ok(()) => return Ok(()),
        }
        crate::thread::sleep(pause);
        pause = (pause * 2).min(LOCK_POLL_MAX);
    }
}

/// `File::try_lock` (`shared`: `try_lock_shared`): std's `flock` with `LOCK_NB`, which does
/// not wait, on the calling thread.
pub(crate) fn try_lock(file: &std_fs::File, shared: bool) -> Result<(), std_fs::TryLockError> {
    if shared {
        file.try_lock_shared()
    } else {
        file.try_lock()
    }
}

pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    if !offload() {
        return std::os::unix::fs::fchown(fd, uid, gid);
    }
    // The descriptor is borrowed: the pool gets a duplicate of its own (same open file).
    let fd = fd.try_clone_to_owned()?;
    run(move || std::os::unix::fs::fchown(&fd, uid, gid))
}
