//! File-system access shaped like `std::fs`: port by changing `std::fs` to `zsync::fs`.
//!
//! The names, signatures, error kinds and the value types are std's ([`Metadata`],
//! [`Permissions`], [`FileType`], [`FileTimes`] and [`TryLockError`] are std's own, re-exported); `File`,
//! `OpenOptions`, `ReadDir`, `DirEntry` and `DirBuilder` are zsync types with std's methods and
//! std's traits (`Read`, `Write`, `Seek` for `File` and `&File`,
//! `std::os::unix::fs::{FileExt, OpenOptionsExt, DirEntryExt, DirBuilderExt}`, the raw-fd
//! traits, conversions from and into `std::fs::File`).
//!
//! ```
//! use std::io::{Read, Seek, SeekFrom, Write};
//! let dir = std::env::temp_dir().join(format!("zsync-fs-doc-{}", std::process::id()));
//! let text = zsync::run(move || -> std::io::Result<String> {
//!     zsync::fs::create_dir_all(&dir)?;
//!     let path = dir.join("hello.txt");
//!     let mut file = zsync::fs::File::create(&path)?;
//!     file.write_all(b"hello, green world")?;
//!     drop(file);
//!     let mut file = zsync::fs::File::open(&path)?;
//!     file.seek(SeekFrom::Start(7))?;
//!     let mut text = String::new();
//!     file.read_to_string(&mut text)?;
//!     zsync::fs::remove_dir_all(&dir)?;
//!     Ok(text)
//! })?;
//! assert_eq!(text, "green world");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What runs where
//!
//! - **On a green thread, in place**: a read of cached data (`RWF_NOWAIT`), a write a file
//!   system takes without waiting (xfs, btrfs), a write to a regular file by a green thread
//!   that is all its worker runs, and a write under 16 KiB to a regular file on a local file
//!   system (ext4, tmpfs, ...: made as std makes it, timed, and sent to the ring for a while
//!   after one that took over 1 ms; `ZSYNC_FS_IN_PLACE=0` turns that off); and `metadata`,
//!   `symlink_metadata`, `exists`, `canonicalize`, `File::metadata`, `DirEntry::metadata` and
//!   opening a file that exists, when the kernel resolves the path from its dentry cache and
//!   the file system is local, and `Seek` of a file on a local file system (timed the same
//!   way). See docs/API.md.
//! - **On a green thread, through io_uring** (Linux, when the kernel allows it): `read`,
//!   `read_exact`, `write`, `write_all` (at the file position), `read_at`, `read_exact_at`,
//!   `write_at`, `write_all_at`, `sync_all` and `sync_data`. Each worker has one ring, made on
//!   its first file operation; a call queues its request and parks the green thread, the worker
//!   submits everything queued when it runs out of green threads to run (or every 32 requests),
//!   and a completion wakes the green thread. Reads and writes at the file position use offset
//!   -1 (`IORING_FEAT_RW_CUR_POS`): the kernel uses and advances the file position as `read(2)`
//!   and `write(2)` do, so `Seek` and std's position semantics hold.
//! - **On a green thread, on the blocking pool**: every other call that can block (creating
//!   opens, those lookups when the path is not cached, seeking elsewhere, `set_len`, vectored
//!   reads and the part of a to-the-end read that is not cached, directory listing, every other
//!   path operation), and everything when io_uring is off: `ZSYNC_IO_URING=0`, or a kernel that
//!   refuses io_uring (`ENOSYS`, `EPERM` from `kernel.io_uring_disabled` or a seccomp filter, an
//!   old kernel without the opcodes or `IORING_FEAT_RW_CUR_POS`), decided at run time. They run
//!   on zsync's blocking pool (see [`crate::unblock`]) and park only the calling green thread.
//!   On a `Flavor::OsThreads` runtime the same code runs on the calling thread.
//! - **On a plain OS thread** outside any runtime each call is std's own call, made directly:
//!   exactly std's behaviour and cost.
//!
//! # Cancellation
//!
//! A green thread blocked in a file operation is cancellable like anywhere else in zsync
//! ([`JoinHandle::cancel`](crate::thread::JoinHandle::cancel),
//! [`zsync::time::timeout`](crate::time::timeout), dropping the runtime).
//!
//! - **On io_uring** the operation owns a heap buffer (the caller's bytes are copied in or out)
//!   and a reference to the file until its completion has been reaped. A cancellation or an
//!   expired `timeout()` wakes the waiting green thread without raising; it asks the kernel to
//!   cancel its request (`IORING_OP_ASYNC_CANCEL`), waits for the completion, and only then
//!   unwinds. A read of a pipe or FIFO cancelled this way consumes nothing; a read of a regular
//!   file usually completes before the cancellation reaches it, and its data is then dropped.
//! - **On the pool** the operation cannot be stopped half-way; the green thread unwinds at once,
//!   and the operation finishes on its pool thread, its result dropped. So nothing borrowed goes
//!   to the pool: paths are copied, data moves through a buffer the operation owns (kept per
//!   `File` and reused, at most 1 MiB per trip), and the open file is shared with the pool
//!   thread by reference count. The exception is a write of 16 KiB or more to a regular file
//!   (known as such after its first write on the pool): it is made from the caller's buffer,
//!   and the caller waits for it, shielded, as on io_uring (a regular file's write ends by
//!   itself); the cancellation is raised when it returns. After a cancelled `read` or `write`
//!   the file position may still move when the abandoned operation completes, and the data it
//!   read is lost, as after an interrupted read on any stream; a directory listing loses no
//!   entry (a batch read for a cancelled caller is handed to the next `next()`).
//!
//! # Differences from std
//!
//! - A single `read`/`write`/`read_at`/`write_at` on a green thread moves at most 1 MiB (std's
//!   calls may return short counts too); `read_exact`, `write_all`, `read_to_end` and the
//!   `_at` variants move everything, in 1 MiB trips or one trip.
//! - `std::path::Path`'s own file-system methods (`exists`, `is_file`, `is_dir`, `metadata`,
//!   `read_dir`, `canonicalize`, ...) are std's and block the worker: use the functions here
//!   (`zsync::fs::metadata(path)?.is_dir()`).
//! - `impl Read/Write/Seek for Arc<File>` (std has them for `Arc<std::fs::File>`) cannot be
//!   written outside std; `&File` implements all three, so `&*arc` works.
//! - `File::lock` and `lock_shared` on a green thread wait for a lock held elsewhere by trying
//!   again after parks of 1 ms, doubling up to 16 ms (Linux gives no readiness event for a
//!   released `flock`): a lock let go is taken up to 16 ms later than by std's blocking call.
//! - Dropping a `File` closes it on the calling thread, as std does (`close` does not wait on
//!   local file systems); `try_clone` (`dup`) also runs there.
//! - Converting a `File` into a `std::fs::File` (or a raw fd) while an abandoned operation on it
//!   is still running on the pool duplicates the descriptor instead (same open file, same
//!   position, another fd number).

pub(crate) mod in_place;
mod lookup;
pub(crate) mod nowait;
mod op;
pub(crate) mod uring;

use std::ffi::OsString;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use std::fs::{FileTimes, FileType, Metadata, Permissions, TryLockError};

/// How many file operations this process has submitted to io_uring so far (all runtimes
/// together). For tests and diagnostics: it stays at 0 while every operation goes to the
/// blocking pool (`ZSYNC_IO_URING=0`, or a kernel that refuses io_uring).
#[doc(hidden)]
pub fn io_uring_submissions() -> u64 {
    crate::reactor::uring::SUBMITTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Small writes made in place that took over 1 ms so far, process-wide; each turned such writes
/// off for a while (see docs/API.md). For tests, which cannot expect a write in place when one
/// was slow on a loaded machine.
#[doc(hidden)]
pub fn in_place_slow_writes() -> u64 {
    in_place::slow_writes()
}

/// Lookups (`metadata`, `exists`, opening a file that exists, ...) answered on the calling green
/// thread so far, process-wide, and how many of them took over 1 ms (each turned lookups in
/// place off for a while; see docs/API.md). For tests.
#[doc(hidden)]
pub fn in_place_lookups() -> (u64, u64) {
    (
        lookup::ANSWERED.load(std::sync::atomic::Ordering::Relaxed),
        lookup::slow(),
    )
}

/// File operations the calling green thread's worker has submitted to its io_uring ring (0 on
/// any other thread). For tests that must not count what other tests of the process submit.
#[doc(hidden)]
pub fn io_uring_submissions_on_this_worker() -> u64 {
    match crate::runtime::context::current() {
        crate::runtime::context::Current::Green { worker, .. } => worker.uring.submitted(),
        _ => 0,
    }
}

pub(crate) use op::{chown_path, chroot, fchown, invalid_utf8, offload, symlink};

/// An open file, like `std::fs::File`: `Read`, `Write` and `Seek` (for `File` and `&File`),
/// positional I/O through `std::os::unix::fs::FileExt`; each blocking call parks only the
/// calling green thread.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::fs::FileExt;
/// use zsync::fs::File;
/// let path = std::env::temp_dir().join(format!("zsync-file-doc-{}", std::process::id()));
/// zsync::run({
///     let path = path.clone();
///     move || -> std::io::Result<()> {
///         let mut file = File::options()
///             .read(true)
///             .write(true)
///             .create(true)
///             .truncate(true)
///             .open(&path)?;
///         file.write_all(b"0123456789")?;
///         let mut four = [0; 4];
///         file.read_exact_at(&mut four, 3)?;
///         assert_eq!(&four, b"3456");
///         assert_eq!(file.metadata()?.len(), 10);
///         Ok(())
///     }
/// })?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct File {
    inner: Arc<std::fs::File>,
    scratch: op::Scratch,
}

impl File {
    fn from_std(file: std::fs::File) -> File {
        File {
            inner: Arc::new(file),
            scratch: op::Scratch::default(),
        }
    }

    /// Opens a file for reading, like `std::fs::File::open`.
    ///
    /// # Errors
    /// As std: `NotFound` if the path does not exist, `PermissionDenied`, ...; out of file
    /// descriptors, an error that names the limit and how to raise it.
    ///
    /// ```
    /// let err = zsync::fs::File::open("/no/such/file").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens a file for writing, creating it or truncating it, like `std::fs::File::create`.
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("zsync-create-doc-{}", std::process::id()));
    /// let file = zsync::fs::File::create(&path)?;
    /// assert_eq!(file.metadata()?.len(), 0);
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Creates a new file for reading and writing; fails with `AlreadyExists` if the path
    /// exists, like `std::fs::File::create_new`.
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("zsync-new-doc-{}", std::process::id()));
    /// let _file = zsync::fs::File::create_new(&path)?;
    /// let err = zsync::fs::File::create_new(&path).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
    }

    /// A blank [`OpenOptions`], like `std::fs::File::options`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("zsync-options-doc-{}", std::process::id()));
    /// let file = zsync::fs::File::options().append(true).create(true).open(&path)?;
    /// drop(file);
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Flushes data and metadata to the device (`fsync`).
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-sync-doc-{}", std::process::id()));
    /// use std::io::Write;
    /// let mut file = zsync::fs::File::create(&path)?;
    /// file.write_all(b"durable")?;
    /// file.sync_all()?;
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sync_all(&self) -> io::Result<()> {
        op::sync_all(&self.inner)
    }

    /// Flushes data (and the metadata needed to read it) to the device (`fdatasync`).
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-syncd-doc-{}", std::process::id()));
    /// let file = zsync::fs::File::create(&path)?;
    /// file.sync_data()?;
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sync_data(&self) -> io::Result<()> {
        op::sync_data(&self.inner)
    }

    /// Truncates or extends the file to `size` bytes (extending with zeros); the position does
    /// not move.
    ///
    /// # Errors
    /// As std (`InvalidInput` if the file is not open for writing).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-len-doc-{}", std::process::id()));
    /// let file = zsync::fs::File::create(&path)?;
    /// file.set_len(100)?;
    /// assert_eq!(file.metadata()?.len(), 100);
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        op::set_len(&self.inner, size)
    }

    /// The file's metadata (`fstat`).
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-meta-doc-{}", std::process::id()));
    /// let file = zsync::fs::File::create(&path)?;
    /// assert!(file.metadata()?.is_file());
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metadata(&self) -> io::Result<Metadata> {
        op::fstat(&self.inner, &self.scratch)
    }

    /// A new handle to the same open file (`dup`): it shares the position and the flags.
    ///
    /// # Errors
    /// As std (`EMFILE` when out of descriptors).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-clone-doc-{}", std::process::id()));
    /// use std::io::{Seek, Write};
    /// let mut file = zsync::fs::File::create(&path)?;
    /// let mut other = file.try_clone()?;
    /// file.write_all(b"abc")?;
    /// assert_eq!(other.stream_position()?, 3);
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<File> {
        // dup(2) never waits.
        let file = self
            .inner
            .try_clone()
            .map_err(exhausted("cannot duplicate a file"))?;
        Ok(File::from_std(file))
    }

    /// Changes the permissions of the file (`fchmod`).
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-perm-doc-{}", std::process::id()));
    /// let file = zsync::fs::File::create(&path)?;
    /// let mut perm = file.metadata()?.permissions();
    /// perm.set_readonly(true);
    /// file.set_permissions(perm)?;
    /// assert!(file.metadata()?.permissions().readonly());
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        op::fchmod(&self.inner, perm)
    }

    /// Sets the access and modification times given in `times` (`futimens`).
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-times-doc-{}", std::process::id()));
    /// use std::time::{Duration, SystemTime};
    /// let file = zsync::fs::File::create(&path)?;
    /// let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    /// file.set_times(zsync::fs::FileTimes::new().set_accessed(then).set_modified(then))?;
    /// assert_eq!(file.metadata()?.modified()?, then);
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_times(&self, times: FileTimes) -> io::Result<()> {
        op::set_times(&self.inner, times)
    }

    /// Sets the modification time, like `std::fs::File::set_modified`.
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-mtime-doc-{}", std::process::id()));
    /// use std::time::{Duration, SystemTime};
    /// let file = zsync::fs::File::create(&path)?;
    /// let then = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
    /// file.set_modified(then)?;
    /// assert_eq!(file.metadata()?.modified()?, then);
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        self.set_times(FileTimes::new().set_modified(time))
    }

    /// Takes an exclusive advisory lock on the file, waiting while another open file holds a
    /// lock on it, like `std::fs::File::lock` (`flock(LOCK_EX)`). The lock belongs to the open
    /// file (shared with its `try_clone`s) and goes when it is closed or [`unlock`]ed.
    ///
    /// On a green thread a lock held elsewhere is waited for by trying again after a park
    /// (1 ms, doubling up to 16 ms): the worker runs other green threads meanwhile, and the
    /// wait is cancellable (it then leaves the file unlocked).
    ///
    /// [`unlock`]: File::unlock
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-lock-doc-{}", std::process::id()));
    /// use std::time::Duration;
    /// let file = zsync::fs::File::create(&path)?;
    /// let other = zsync::fs::File::open(&path)?;
    /// file.lock()?;
    /// let waiter = zsync::spawn(move || {
    ///     other.lock().unwrap(); // parks until `file` lets go
    ///     other.unlock().unwrap();
    /// });
    /// zsync::thread::sleep(Duration::from_millis(20));
    /// assert!(!waiter.is_finished());
    /// file.unlock()?;
    /// waiter.join().unwrap();
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn lock(&self) -> io::Result<()> {
        op::lock(&self.inner, false)
    }

    /// Takes a shared advisory lock on the file, waiting while another open file holds an
    /// exclusive one, like `std::fs::File::lock_shared` (`flock(LOCK_SH)`); on a green thread
    /// the wait parks, as for [`lock`](File::lock).
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-lock-sh-doc-{}", std::process::id()));
    /// let a = zsync::fs::File::create(&path)?;
    /// let b = zsync::fs::File::open(&path)?;
    /// a.lock_shared()?;
    /// b.lock_shared()?; // shared locks coexist
    /// assert!(matches!(a.try_lock(), Err(zsync::fs::TryLockError::WouldBlock)));
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn lock_shared(&self) -> io::Result<()> {
        op::lock(&self.inner, true)
    }

    /// Takes an exclusive advisory lock if no other open file holds a lock on the file, like
    /// `std::fs::File::try_lock`; never waits.
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`] if another open file holds a lock, else as std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-trylock-doc-{}", std::process::id()));
    /// let a = zsync::fs::File::create(&path)?;
    /// let b = zsync::fs::File::open(&path)?;
    /// a.try_lock().unwrap();
    /// assert!(matches!(b.try_lock(), Err(zsync::fs::TryLockError::WouldBlock)));
    /// a.unlock()?;
    /// b.try_lock().unwrap();
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<(), TryLockError> {
        op::try_lock(&self.inner, false)
    }

    /// Takes a shared advisory lock if no other open file holds an exclusive one, like
    /// `std::fs::File::try_lock_shared`; never waits.
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`] if another open file holds an exclusive lock, else as std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-trylock-sh-doc-{}", std::process::id()));
    /// let a = zsync::fs::File::create(&path)?;
    /// let b = zsync::fs::File::open(&path)?;
    /// a.try_lock_shared().unwrap();
    /// b.try_lock_shared().unwrap();
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_lock_shared(&self) -> Result<(), TryLockError> {
        op::try_lock(&self.inner, true)
    }

    /// Releases the advisory lock this open file holds, like `std::fs::File::unlock`; never
    /// waits.
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("zsync-unlock-doc-{}", std::process::id()));
    /// let a = zsync::fs::File::create(&path)?;
    /// let b = zsync::fs::File::open(&path)?;
    /// a.lock()?;
    /// a.unlock()?;
    /// b.try_lock().unwrap();
    /// # zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unlock(&self) -> io::Result<()> {
        self.inner.unlock()
    }

    /// Whether the file is a terminal, like std's `IsTerminal` for `File` (which is sealed, so
    /// this is an inherent method: `file.is_terminal()` works as with std's).
    ///
    /// ```
    /// let tty = zsync::fs::File::open("/dev/null")?;
    /// assert!(!tty.is_terminal());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(&*self.inner)
    }

    /// Gives up the `Arc` and the buffer: the std file, or a duplicate of its descriptor if an
    /// abandoned operation still holds it. With no descriptor free for the duplicate, waits
    /// (sleeping, a park point) until the operation lets the file go or a descriptor frees.
    fn into_std(self) -> std::fs::File {
        let mut shared = self.inner;
        let mut pause = Duration::from_millis(1);
        loop {
            shared = match Arc::try_unwrap(shared) {
                Ok(file) => return file,
                Err(shared) => shared,
            };
            // dup fails only with EMFILE or ENFILE here (the descriptor is open).
            if let Ok(duplicate) = shared.try_clone() {
                return duplicate;
            }
            crate::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        op::read(&self.inner, &self.scratch, buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        op::read_vectored(&self.inner, &self.scratch, bufs)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        op::read_exact(&self.inner, &self.scratch, buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        op::read_to_end(&self.inner, &self.scratch, buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        op::read_to_string(&self.inner, &self.scratch, buf)
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        (&*self).read_exact(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        op::write(&self.inner, &self.scratch, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        op::write_vectored(&self.inner, &self.scratch, bufs)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        op::write_all(&self.inner, &self.scratch, buf)
    }

    /// A file has no buffer of its own (like std's `File`): nothing to do.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        op::seek(&self.inner, &self.scratch, pos)
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

impl std::os::unix::fs::FileExt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        op::read_at(&self.inner, &self.scratch, buf, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        op::read_exact_at(&self.inner, &self.scratch, buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        op::write_at(&self.inner, &self.scratch, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        op::write_all_at(&self.inner, &self.scratch, buf, offset)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

/// Names the limit and how to raise it when a call that opens (or duplicates) a descriptor ran
/// out of them; every other error passes unchanged.
fn exhausted(what: &'static str) -> impl FnOnce(io::Error) -> io::Error {
    move |e| crate::reactor::with_context_if_exhausted(e, what)
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from_std(file)
    }
}

impl From<File> for std::fs::File {
    /// The std file. If an abandoned operation (of a cancelled green thread, or of a
    /// `timeout()`) still runs on the file, the descriptor is duplicated instead; if the
    /// process is out of descriptors for that, the conversion waits until the operation ends
    /// or a descriptor frees (a park point).
    fn from(file: File) -> std::fs::File {
        file.into_std()
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> File {
        File::from_std(std::fs::File::from(fd))
    }
}

impl From<File> for OwnedFd {
    fn from(file: File) -> OwnedFd {
        std::fs::File::from(file).into()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl FromRawFd for File {
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: the caller hands over an open descriptor it owns, which is exactly what
        // `std::fs::File::from_raw_fd` requires.
        File::from_std(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

impl IntoRawFd for File {
    fn into_raw_fd(self) -> RawFd {
        std::fs::File::from(self).into_raw_fd()
    }
}

/// Options for opening a file, like `std::fs::OpenOptions` (std's own rules for invalid
/// combinations and their `InvalidInput` errors); also `std::os::unix::fs::OpenOptionsExt`.
///
/// ```
/// use std::io::Write;
/// use std::os::unix::fs::OpenOptionsExt;
/// use zsync::fs::OpenOptions;
/// let path = std::env::temp_dir().join(format!("zsync-oo-doc-{}", std::process::id()));
/// let mut log = OpenOptions::new().append(true).create(true).mode(0o600).open(&path)?;
/// log.write_all(b"one\n")?;
/// let mut log = OpenOptions::new().append(true).open(&path)?;
/// log.write_all(b"two\n")?;
/// assert_eq!(zsync::fs::read_to_string(&path)?, "one\ntwo\n");
/// zsync::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct OpenOptions(std::fs::OpenOptions, OpenShape);

/// What [`OpenOptions`] were given, as far as opening in place needs to know (std's
/// `OpenOptions` does not say).
#[derive(Clone, Copy, Default)]
struct OpenShape {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    custom_flags: i32,
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl OpenOptions {
    /// All options off.
    ///
    /// ```
    /// use zsync::fs::OpenOptions;
    /// let path = std::env::temp_dir().join(format!("zsync-oo-new-doc-{}", std::process::id()));
    /// // Not even read access: std refuses to open with no access mode.
    /// let err = OpenOptions::new().open(&path).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// let file = OpenOptions::new()
    ///     .read(true)
    ///     .write(true)
    ///     .create(true)
    ///     .open(&path)?;
    /// assert_eq!(file.metadata()?.len(), 0);
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    #[allow(clippy::new_without_default)] // std's OpenOptions has no Default either
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new(), OpenShape::default())
    }

    /// Read access.
    ///
    /// ```
    /// use std::io::Read;
    /// let path = std::env::temp_dir().join(format!("zsync-oo-read-doc-{}", std::process::id()));
    /// zsync::fs::write(&path, "data")?;
    /// let mut file = zsync::fs::OpenOptions::new().read(true).open(&path)?;
    /// let mut text = String::new();
    /// file.read_to_string(&mut text)?;
    /// assert_eq!(text, "data");
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.0.read(read);
        self.1.read = read;
        self
    }

    /// Write access.
    ///
    /// ```
    /// use std::io::Write;
    /// let path = std::env::temp_dir().join(format!("zsync-oo-write-doc-{}", std::process::id()));
    /// zsync::fs::write(&path, "old data")?;
    /// let mut file = zsync::fs::OpenOptions::new().write(true).open(&path)?;
    /// file.write_all(b"new")?; // from the start, over the old bytes
    /// assert_eq!(zsync::fs::read_to_string(&path)?, "new data");
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.0.write(write);
        self.1.write = write;
        self
    }

    /// Append mode: every write goes to the end (implies write access).
    ///
    /// ```
    /// use std::io::Write;
    /// let path = std::env::temp_dir().join(format!("zsync-oo-append-doc-{}", std::process::id()));
    /// zsync::fs::write(&path, "one\n")?;
    /// let mut file = zsync::fs::OpenOptions::new().append(true).open(&path)?;
    /// file.write_all(b"two\n")?;
    /// assert_eq!(zsync::fs::read_to_string(&path)?, "one\ntwo\n");
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.0.append(append);
        self.1.append = append;
        self
    }

    /// Truncate an existing file to length 0 (needs write access).
    ///
    /// ```
    /// use std::io::Write;
    /// use zsync::fs::OpenOptions;
    /// let path = std::env::temp_dir().join(format!("zsync-oo-trunc-doc-{}", std::process::id()));
    /// zsync::fs::write(&path, "old data")?;
    /// let mut file = OpenOptions::new().write(true).truncate(true).open(&path)?;
    /// file.write_all(b"new")?;
    /// assert_eq!(zsync::fs::read_to_string(&path)?, "new");
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.0.truncate(truncate);
        self.1.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs write or append access).
    ///
    /// ```
    /// use zsync::fs::OpenOptions;
    /// let path = std::env::temp_dir().join(format!("zsync-oo-create-doc-{}", std::process::id()));
    /// let err = OpenOptions::new().write(true).open(&path).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// OpenOptions::new().write(true).create(true).open(&path)?;
    /// assert!(zsync::fs::metadata(&path)?.is_file());
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.0.create(create);
        self.1.create = create;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists (atomically; symlinks are
    /// not followed). Overrides `create` and `truncate`.
    ///
    /// ```
    /// use zsync::fs::OpenOptions;
    /// let path = std::env::temp_dir().join(format!("zsync-oo-excl-doc-{}", std::process::id()));
    /// let mut options = OpenOptions::new();
    /// options.write(true).create_new(true);
    /// options.open(&path)?;
    /// let err = options.open(&path).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    /// zsync::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.0.create_new(create_new);
        self.1.create_new = create_new;
        self
    }

    /// Opens `path` with these options.
    ///
    /// # Errors
    /// As std: `InvalidInput` for a combination std rejects, the OS's error otherwise; out of
    /// file descriptors, one that names the limit and how to raise it.
    ///
    /// ```
    /// use std::io::{Read, Seek, Write};
    /// let path = std::env::temp_dir().join(format!("zsync-oo-open-doc-{}", std::process::id()));
    /// let text = zsync::run(move || -> std::io::Result<String> {
    ///     let mut options = zsync::fs::OpenOptions::new();
    ///     let mut file = options.read(true).write(true).create(true).open(&path)?;
    ///     file.write_all(b"on a green thread")?;
    ///     file.rewind()?;
    ///     let mut text = String::new();
    ///     file.read_to_string(&mut text)?;
    ///     zsync::fs::remove_file(&path)?;
    ///     Ok(text)
    /// })?;
    /// assert_eq!(text, "on a green thread");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let shape = self.1;
        let in_place = lookup::open_flags(
            shape.read,
            shape.write,
            shape.append,
            shape.truncate || shape.create || shape.create_new,
            shape.custom_flags,
        );
        op::open(path.as_ref(), &self.0, in_place)
            .map(File::from_std)
            .map_err(exhausted("cannot open a file"))
    }
}

impl std::os::unix::fs::OpenOptionsExt for OpenOptions {
    fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.0.mode(mode);
        self
    }

    fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.0.custom_flags(flags);
        self.1.custom_flags = flags;
        self
    }
}

/// Creates a symbolic link, like std's deprecated `std::fs::soft_link`: use
/// [`zsync::os::unix::fs::symlink`](crate::os::unix::fs::symlink).
///
/// # Errors
/// As std.
///
/// ```
/// # #![allow(deprecated)]
/// let dir = std::env::temp_dir().join(format!("zsync-soft-link-doc-{}", std::process::id()));
/// zsync::fs::create_dir_all(&dir)?;
/// zsync::fs::write(dir.join("target"), b"x")?;
/// zsync::fs::soft_link(dir.join("target"), dir.join("link"))?;
/// assert_eq!(zsync::fs::read(dir.join("link"))?, b"x");
/// zsync::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[deprecated(
    note = "replaced with zsync::os::unix::fs::symlink, as std's with std::os::unix::fs::symlink"
)]
pub fn soft_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    op::symlink(original.as_ref(), link.as_ref())
}

/// Reads a whole file, like `std::fs::read`.
///
/// # Errors
/// As std.
///
/// ```
/// let path = std::env::temp_dir().join(format!("zsync-read-doc-{}", std::process::id()));
/// zsync::fs::write(&path, [1, 2, 3])?;
/// assert_eq!(zsync::fs::read(&path)?, [1, 2, 3]);
/// zsync::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    op::read_whole(path.as_ref()).map_err(exhausted("cannot read a file"))
}

/// Reads a whole file into a `String`, like `std::fs::read_to_string` (`InvalidData` if it is
/// not UTF-8).
///
/// # Errors
/// As std.
///
/// ```
/// let path = std::env::temp_dir().join(format!("zsync-rts-doc-{}", std::process::id()));
/// zsync::fs::write(&path, "text")?;
/// assert_eq!(zsync::fs::read_to_string(&path)?, "text");
/// zsync::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    op::read_whole_string(path.as_ref()).map_err(exhausted("cannot read a file"))
}

/// Writes `contents` as the whole file, creating or truncating it, like `std::fs::write`.
///
/// # Errors
/// As std.
///
/// ```
/// let path = std::env::temp_dir().join(format!("zsync-write-doc-{}", std::process::id()));
/// zsync::fs::write(&path, b"bytes")?;
/// assert_eq!(zsync::fs::metadata(&path)?.len(), 5);
/// zsync::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    op::write_whole(path.as_ref(), contents.as_ref()).map_err(exhausted("cannot write a file"))
}

/// Copies a file's contents and permission bits, like `std::fs::copy`; returns the bytes copied.
///
/// # Errors
/// As std.
///
/// ```
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("zsync-cp-a-{}", std::process::id())), dir.join(format!("zsync-cp-b-{}", std::process::id())));
/// zsync::fs::write(&a, "copy me")?;
/// assert_eq!(zsync::fs::copy(&a, &b)?, 7);
/// assert_eq!(zsync::fs::read_to_string(&b)?, "copy me");
/// zsync::fs::remove_file(&a)?;
/// zsync::fs::remove_file(&b)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<u64> {
    op::copy(from.as_ref(), to.as_ref()).map_err(exhausted("cannot copy a file"))
}

/// Renames a file or directory, replacing `to` if it exists (and may be replaced), like
/// `std::fs::rename`.
///
/// # Errors
/// As std.
///
/// ```
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("zsync-mv-a-{}", std::process::id())), dir.join(format!("zsync-mv-b-{}", std::process::id())));
/// zsync::fs::write(&a, "x")?;
/// zsync::fs::rename(&a, &b)?;
/// assert!(!zsync::fs::exists(&a)? && zsync::fs::exists(&b)?);
/// zsync::fs::remove_file(&b)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    op::rename(from.as_ref(), to.as_ref())
}

/// Removes a file (or symlink), like `std::fs::remove_file`.
///
/// # Errors
/// As std.
///
/// ```
/// let err = zsync::fs::remove_file("/no/such/file").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// ```
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    op::remove_file(path.as_ref())
}

/// Creates a directory, like `std::fs::create_dir` (`AlreadyExists` if it exists).
///
/// # Errors
/// As std.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("zsync-mkdir-doc-{}", std::process::id()));
/// zsync::fs::create_dir(&dir)?;
/// assert!(zsync::fs::metadata(&dir)?.is_dir());
/// zsync::fs::remove_dir(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    op::create_dir(path.as_ref(), false, 0o777)
}

/// Creates a directory and every missing parent, like `std::fs::create_dir_all` (no error if
/// it exists already).
///
/// # Errors
/// As std.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("zsync-mkdirp-doc-{}", std::process::id()));
/// zsync::fs::create_dir_all(dir.join("a/b/c"))?;
/// zsync::fs::create_dir_all(dir.join("a/b/c"))?;
/// zsync::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    op::create_dir(path.as_ref(), true, 0o777)
}

/// Removes an empty directory, like `std::fs::remove_dir`.
///
/// # Errors
/// As std (`DirectoryNotEmpty`, `NotADirectory`, ...).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("zsync-rmdir-doc-{}", std::process::id()));
/// zsync::fs::create_dir(&dir)?;
/// zsync::fs::remove_dir(&dir)?;
/// assert!(!zsync::fs::exists(&dir)?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    op::remove_dir(path.as_ref())
}

/// Removes a directory and everything under it without following symlinks, like
/// `std::fs::remove_dir_all`. The whole walk is one operation on the pool.
///
/// # Errors
/// As std.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("zsync-rmrf-doc-{}", std::process::id()));
/// zsync::fs::create_dir_all(dir.join("inner"))?;
/// zsync::fs::write(dir.join("inner/file"), "x")?;
/// zsync::fs::remove_dir_all(&dir)?;
/// assert!(!zsync::fs::exists(&dir)?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    op::remove_dir_all(path.as_ref())
}

/// The metadata of a path, following symlinks, like `std::fs::metadata`.
///
/// # Errors
/// As std.
///
/// ```
/// assert!(zsync::fs::metadata("/")?.is_dir());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    op::stat(path.as_ref())
}

/// The metadata of a path without following a final symlink, like `std::fs::symlink_metadata`.
///
/// # Errors
/// As std.
///
/// ```
/// let dir = std::env::temp_dir();
/// let link = dir.join(format!("zsync-lstat-doc-{}", std::process::id()));
/// zsync::os::unix::fs::symlink("/", &link)?;
/// assert!(zsync::fs::symlink_metadata(&link)?.file_type().is_symlink());
/// assert!(zsync::fs::metadata(&link)?.is_dir());
/// zsync::fs::remove_file(&link)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    op::lstat(path.as_ref())
}

/// The absolute path with every symlink, `.` and `..` resolved, like `std::fs::canonicalize`.
///
/// # Errors
/// As std (`NotFound` if the path does not exist).
///
/// ```
/// assert_eq!(zsync::fs::canonicalize("/usr/../")?, std::path::Path::new("/"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    op::canonicalize(path.as_ref())
}

/// Creates a hard link `link` to `original`, like `std::fs::hard_link`.
///
/// # Errors
/// As std.
///
/// ```
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("zsync-ln-a-{}", std::process::id())), dir.join(format!("zsync-ln-b-{}", std::process::id())));
/// zsync::fs::write(&a, "shared")?;
/// zsync::fs::hard_link(&a, &b)?;
/// assert_eq!(zsync::fs::read_to_string(&b)?, "shared");
/// zsync::fs::remove_file(&a)?;
/// zsync::fs::remove_file(&b)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn hard_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    op::hard_link(original.as_ref(), link.as_ref())
}

/// The target of a symlink, like `std::fs::read_link`.
///
/// # Errors
/// As std (`InvalidInput` if the path is not a symlink).
///
/// ```
/// let link = std::env::temp_dir().join(format!("zsync-readlink-doc-{}", std::process::id()));
/// zsync::os::unix::fs::symlink("some/target", &link)?;
/// assert_eq!(zsync::fs::read_link(&link)?, std::path::Path::new("some/target"));
/// zsync::fs::remove_file(&link)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_link<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    op::read_link(path.as_ref())
}

/// Whether the path exists (following symlinks): `Ok(false)` if it does not, an error if that
/// cannot be told (permission denied on a parent, ...), like `std::fs::exists`.
///
/// # Errors
/// As std.
///
/// ```
/// assert!(zsync::fs::exists("/")?);
/// assert!(!zsync::fs::exists("/no/such/path")?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    op::exists(path.as_ref())
}

/// Changes the permissions of a path, like `std::fs::set_permissions`.
///
/// # Errors
/// As std.
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
/// let path = std::env::temp_dir().join(format!("zsync-chmod-doc-{}", std::process::id()));
/// zsync::fs::write(&path, "")?;
/// zsync::fs::set_permissions(&path, zsync::fs::Permissions::from_mode(0o640))?;
/// assert_eq!(zsync::fs::metadata(&path)?.permissions().mode() & 0o777, 0o640);
/// zsync::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    op::set_permissions(path.as_ref(), perm)
}

/// Opens a directory listing, like `std::fs::read_dir`.
///
/// # Errors
/// As std (`NotFound`, `NotADirectory`, ...).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("zsync-ls-doc-{}", std::process::id()));
/// zsync::fs::create_dir(&dir)?;
/// zsync::fs::write(dir.join("a"), "")?;
/// zsync::fs::write(dir.join("b"), "")?;
/// let mut names: Vec<_> = zsync::fs::read_dir(&dir)?
///     .map(|entry| entry.map(|e| e.file_name()))
///     .collect::<Result<_, _>>()?;
/// names.sort();
/// assert_eq!(names, ["a", "b"]);
/// zsync::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    Ok(ReadDir {
        listing: op::read_dir(path.as_ref()).map_err(exhausted("cannot read a directory"))?,
        ready: Default::default(),
        root: path.as_ref().to_path_buf(),
    })
}

/// An iterator over a directory's entries (without `.` and `..`), like `std::fs::ReadDir`. On a
/// green thread the entries are read in batches, one trip to the pool per batch.
///
/// ```
/// let n = zsync::fs::read_dir("/")?.count();
/// assert!(n > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ReadDir {
    listing: Arc<Mutex<op::Listing>>,
    ready: std::collections::VecDeque<io::Result<op::Entry>>,
    /// The path as given, for `Debug` (std's shows it; the listing's own is behind its lock,
    /// which a pool thread may hold for a batch).
    root: PathBuf,
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        if self.ready.is_empty() && !op::read_dir_next(&self.listing, &mut self.ready) {
            return None;
        }
        self.ready.pop_front().map(|entry| {
            entry.map(|e| DirEntry {
                entry: e.entry,
                file_type: e.file_type,
            })
        })
    }
}

impl fmt::Debug for ReadDir {
    /// As std's: `ReadDir("/tmp")`, the path as it was given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadDir").field(&self.root).finish()
    }
}

/// An entry of a [`ReadDir`], like `std::fs::DirEntry`; also
/// `std::os::unix::fs::DirEntryExt`.
///
/// ```
/// use std::os::unix::fs::DirEntryExt;
/// for entry in zsync::fs::read_dir("/")? {
///     let entry = entry?;
///     assert!(entry.path().starts_with("/"));
///     assert!(entry.ino() != 0);
///     let _ = entry.file_type()?;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct DirEntry {
    entry: Arc<std::fs::DirEntry>,
    file_type: Option<FileType>,
}

impl DirEntry {
    /// The full path: the directory's path joined with the file name.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("zsync-de-path-doc-{}", std::process::id()));
    /// zsync::fs::create_dir(&dir)?;
    /// zsync::fs::write(dir.join("a.txt"), "")?;
    /// let entry = zsync::fs::read_dir(&dir)?.next().unwrap()?;
    /// assert_eq!(entry.path(), dir.join("a.txt"));
    /// zsync::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> PathBuf {
        self.entry.path()
    }

    /// The entry's name within its directory.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("zsync-de-name-doc-{}", std::process::id()));
    /// zsync::fs::create_dir(&dir)?;
    /// zsync::fs::write(dir.join("a.txt"), "")?;
    /// let entry = zsync::fs::read_dir(&dir)?.next().unwrap()?;
    /// assert_eq!(entry.file_name(), "a.txt");
    /// zsync::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn file_name(&self) -> OsString {
        self.entry.file_name()
    }

    /// The entry's metadata, not following a symlink (`fstatat` relative to the directory; on
    /// a green thread, when the entry's path is cached, in place by that path while it names
    /// the inode the listing gave).
    ///
    /// # Errors
    /// As std (`NotFound` if the entry was removed since it was listed).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("zsync-de-meta-doc-{}", std::process::id()));
    /// zsync::fs::create_dir(&dir)?;
    /// zsync::os::unix::fs::symlink("/", dir.join("link"))?;
    /// let entry = zsync::fs::read_dir(&dir)?.next().unwrap()?;
    /// assert!(entry.metadata()?.is_symlink()); // the link itself, not `/`
    /// zsync::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metadata(&self) -> io::Result<Metadata> {
        op::entry_metadata(&self.entry)
    }

    /// The entry's file type, not following a symlink. Usually known from the listing itself
    /// (no further call); otherwise an `lstat`.
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("zsync-de-type-doc-{}", std::process::id()));
    /// zsync::fs::create_dir_all(dir.join("sub"))?;
    /// let entry = zsync::fs::read_dir(&dir)?.next().unwrap()?;
    /// assert!(entry.file_type()?.is_dir());
    /// zsync::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn file_type(&self) -> io::Result<FileType> {
        match self.file_type {
            Some(file_type) => Ok(file_type),
            None => op::entry_file_type(&self.entry),
        }
    }
}

impl std::os::unix::fs::DirEntryExt for DirEntry {
    fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.entry)
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.entry, f)
    }
}

/// A builder for creating directories, like `std::fs::DirBuilder`; also
/// `std::os::unix::fs::DirBuilderExt` (the mode, 0o777 before the umask by default).
///
/// ```
/// use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
/// let dir = std::env::temp_dir().join(format!("zsync-db-doc-{}", std::process::id()));
/// zsync::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir.join("x/y"))?;
/// assert_eq!(zsync::fs::metadata(dir.join("x/y"))?.permissions().mode() & 0o777, 0o700);
/// zsync::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct DirBuilder {
    recursive: bool,
    mode: u32,
}

impl fmt::Debug for DirBuilder {
    /// std's: formatted by a `std::fs::DirBuilder` with the same settings, so the fields are
    /// std's own (`DirBuilder { inner: DirBuilder { mode: 0o000777 }, recursive: false }`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::fs::DirBuilderExt;
        let mut std_builder = std::fs::DirBuilder::new();
        std_builder.recursive(self.recursive).mode(self.mode);
        fmt::Debug::fmt(&std_builder, f)
    }
}

impl DirBuilder {
    /// A builder that creates one directory with mode 0o777 (before the umask).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("zsync-db-new-doc-{}", std::process::id()));
    /// zsync::fs::DirBuilder::new().create(&dir)?;
    /// assert!(zsync::fs::metadata(&dir)?.is_dir());
    /// zsync::fs::remove_dir(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn new() -> DirBuilder {
        DirBuilder {
            recursive: false,
            mode: 0o777,
        }
    }

    /// Whether missing parents are created too (and an existing directory is no error).
    ///
    /// ```
    /// use zsync::fs::DirBuilder;
    /// let dir = std::env::temp_dir().join(format!("zsync-db-rec-doc-{}", std::process::id()));
    /// let err = DirBuilder::new().create(dir.join("a/b")).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// DirBuilder::new().recursive(true).create(dir.join("a/b"))?;
    /// DirBuilder::new().recursive(true).create(dir.join("a/b"))?; // exists: no error
    /// assert!(zsync::fs::metadata(dir.join("a/b"))?.is_dir());
    /// zsync::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recursive(&mut self, recursive: bool) -> &mut DirBuilder {
        self.recursive = recursive;
        self
    }

    /// Creates the directory.
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("zsync-db-create-doc-{}", std::process::id()));
    /// let builder = zsync::fs::DirBuilder::new();
    /// builder.create(&dir)?;
    /// let err = builder.create(&dir).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    /// zsync::fs::remove_dir(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        op::create_dir(path.as_ref(), self.recursive, self.mode)
    }
}

impl Default for DirBuilder {
    fn default() -> DirBuilder {
        DirBuilder::new()
    }
}

impl std::os::unix::fs::DirBuilderExt for DirBuilder {
    fn mode(&mut self, mode: u32) -> &mut DirBuilder {
        self.mode = mode;
        self
    }
}
