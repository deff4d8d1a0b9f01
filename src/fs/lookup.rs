//! Lookups made in place: `metadata`, `symlink_metadata`, `exists`, `canonicalize`,
//! `File::metadata`, `DirEntry::metadata`, `Seek` of an open file and opening a file that exists (no `create`, `create_new` or `truncate`)
//! are answered on the calling green thread, with no trip to the blocking pool, when the kernel
//! can answer from its caches and (for those that reach the file itself) the file lives on a
//! local file system.
//!
//! Why: on the pool each of these costs a hand-off to a pool thread and a wake-up back (about
//! 12-16 us on a 2-core VM) for a call that takes 1-3 us when the path is in the kernel's
//! dentry cache, as the paths a server opens and stats again and again are.
//!
//! How, without ever waiting on a disk, a server or another process:
//!
//! 1. `openat2(path, O_PATH, RESOLVE_CACHED)` resolves the path from the dentry cache alone; it
//!    fails with `EAGAIN` where any component would need the disk (or a network file system's
//!    revalidation), and the call then goes to the pool as before. An `O_PATH` descriptor opens
//!    nothing: no device's or file system's `open` runs, no FIFO waits for a peer. A cached
//!    "no such file" (a negative dentry) is an answer too. `exists` needs no more (the lookup
//!    answers it), nor does `canonicalize` (`readlink` of `/proc/self/fd/N`: the path the VFS
//!    resolved).
//! 2. `statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID_UNIQUE | ...)`: the file's
//!    mount, type and inode from the VFS (`AT_STATX_DONT_SYNC` keeps FUSE and network file
//!    systems from asking their server), and `statmount(2)` that mount's file-system type, once
//!    per mount ([`MOUNTS`]).
//! 3. Only on a local file system (the ones small writes are made in place on: ext4, xfs,
//!    btrfs, tmpfs, ...) the rest: std's `metadata` of the descriptor; for an open, a regular
//!    file or a directory is opened by path again, `RESOLVE_CACHED` and `O_NONBLOCK` (a FIFO
//!    swapped in meanwhile cannot block, nor can a lease another process holds: `EWOULDBLOCK`
//!    sends the open to the pool), and kept only when it is the same inode; `O_NONBLOCK` is then
//!    cleared.
//!
//! Each lookup is timed like an in-place write: one that took over 1 ms sends lookups to the
//! pool for a while ([`Breaker`], its own). A kernel without `openat2`'s `RESOLVE_CACHED`
//! (5.12), `STATX_MNT_ID_UNIQUE` or `statmount` (6.8), or a seccomp filter refusing them, turns
//! this off at the first refusal; `ZSYNC_FS_IN_PLACE=0` turns it off too. An error the lookup
//! cannot vouch for std's answer on (a permission or a loop in the path, say) goes to the pool,
//! which gives std's own.

use super::in_place::{self, Breaker};
use crate::env_switch::EnvSwitch;
use std::ffi::CStr;
use std::fs::{File, Metadata};
use std::io;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

/// What an attempt in place came to: `Some` answer, or `None`: ask the pool.
type Answer<T> = Option<io::Result<T>>;

/// Whether lookups in place are on (`ZSYNC_FS_IN_PLACE=0` or a refusing kernel turns them off).
static SWITCH: EnvSwitch = EnvSwitch::new("ZSYNC_FS_IN_PLACE");

static BREAKER: Breaker = Breaker::new();

/// Lookups answered in place, process-wide (see `zsync::fs::in_place_lookups`).
pub(crate) static ANSWERED: AtomicU64 = AtomicU64::new(0);

/// Lookups in place that took over [`in_place::SLOW`], process-wide.
pub(crate) fn slow() -> u64 {
    BREAKER.slow()
}

/// Runs `lookup` here, timed for the [`Breaker`]; a park point first, as a call that parks is.
#[inline]
fn timed<T>(lookup: impl FnOnce() -> Answer<T>) -> Answer<T> {
    if !SWITCH.is_on() || !BREAKER.allows(Instant::now) {
        return None;
    }
    crate::runtime::monitor::coop::poll();
    crate::runtime::park::park_point();
    let started = Instant::now();
    let answer = lookup();
    BREAKER.record(started, Instant::now());
    if answer.is_some() {
        ANSWERED.fetch_add(1, Ordering::Relaxed);
    }
    answer
}

/// `metadata` (`follow`) or `symlink_metadata` of `path`.
pub(crate) fn stat(path: &Path, follow: bool) -> Answer<Metadata> {
    timed(|| {
        with_c_path(path, |path| {
            let found = match find(path, if follow { 0 } else { libc::O_NOFOLLOW })? {
                Ok(found) => found,
                Err(e) => return Some(Err(e)),
            };
            describe(found.as_raw_fd())?.local.then(|| metadata(&found))
        })
    })
}

/// `exists`: the lookup alone answers it (no file system's code runs past its cached dentries).
pub(crate) fn exists(path: &Path) -> Answer<bool> {
    timed(|| {
        with_c_path(path, |path| match find(path, 0)? {
            Ok(_) => Some(Ok(true)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(Ok(false)),
            Err(e) => Some(Err(e)),
        })
    })
}

/// `canonicalize`: the path the kernel resolved, as `/proc/self/fd/N` reads for the `O_PATH`
/// descriptor (the VFS's own path, no file system's code runs). `None` (the pool, std's
/// `realpath`) where that is not a plain absolute path: no `/proc`, a path longer than
/// `PATH_MAX`, a file deleted meanwhile (" (deleted)"), one outside this process's root.
pub(crate) fn canonicalize(path: &Path) -> Answer<PathBuf> {
    timed(|| {
        with_c_path(path, |path| {
            let found = match find(path, 0)? {
                Ok(found) => found,
                Err(e) => return Some(Err(e)),
            };
            let mut link = [0u8; 32];
            let len = {
                let mut out = &mut link[..];
                write!(out, "/proc/self/fd/{}\0", found.as_raw_fd()).ok()?;
                32 - out.len()
            };
            let mut resolved = vec![0u8; libc::PATH_MAX as usize];
            // SAFETY: `link` holds a NUL-terminated path (written just above), `resolved` is
            // writable for the length passed; readlink writes at most that many bytes.
            let n = unsafe {
                libc::readlink(
                    link[..len].as_ptr().cast(),
                    resolved.as_mut_ptr().cast(),
                    resolved.len(),
                )
            };
            let n = usize::try_from(n).ok().filter(|&n| n < resolved.len())?;
            resolved.truncate(n);
            if !resolved.starts_with(b"/") || resolved.ends_with(b" (deleted)") {
                return None;
            }
            Some(Ok(PathBuf::from(std::ffi::OsString::from_vec(resolved))))
        })
    })
}

/// Where an open file lives, learnt once per `File` (`Scratch::place`) by its first [`seek`] or
/// [`fstat`] made here (an open file's type and mount cannot change): not yet, a regular file
/// or a directory of a local file system, something else there (a FIFO, a device), or another
/// file system (network, FUSE).
const PLACE_UNKNOWN: u8 = 0;
const LOCAL_SEEKABLE: u8 = 1;
const LOCAL_OTHER: u8 = 2;
const ELSEWHERE: u8 = 3;

/// Where `file` lives (see [`PLACE_UNKNOWN`]), from `known` or learnt now with one `statx`;
/// `None` when lookups in place are off.
fn place(file: &File, known: &AtomicU8) -> Option<u8> {
    match known.load(Ordering::Relaxed) {
        PLACE_UNKNOWN => {
            let what = describe(file.as_raw_fd())?;
            let place = match (what.local, what.kind) {
                (true, libc::S_IFREG | libc::S_IFDIR) => LOCAL_SEEKABLE,
                (true, _) => LOCAL_OTHER,
                (false, _) => ELSEWHERE,
            };
            known.store(place, Ordering::Relaxed);
            Some(place)
        }
        learnt => Some(learnt),
    }
}

/// `Seek` of an open file: `lseek` on a regular file or a directory of a local file system only
/// moves the position in memory (`SeekFrom::End` reads the size the inode holds), so it is made
/// here. Elsewhere (a network or FUSE file system may ask its server for the size; a device's
/// driver does what it likes) it goes to the pool. `known` keeps where the file lives.
pub(crate) fn seek(file: &File, known: &AtomicU8, pos: std::io::SeekFrom) -> Answer<u64> {
    use std::io::Seek;
    timed(|| (place(file, known)? == LOCAL_SEEKABLE).then(|| (&*file).seek(pos)))
}

/// `File::metadata` of an open file of a local file system (the inode's fields, no server to
/// ask). `known` keeps where the file lives.
pub(crate) fn fstat(file: &File, known: &AtomicU8) -> Answer<Metadata> {
    timed(|| (place(file, known)? != ELSEWHERE).then(|| file.metadata()))
}

/// Opens `path` with `flags`, the `open(2)` flags std would pass (an access mode, `O_APPEND`,
/// the caller's custom flags; never `O_CREAT`, `O_TRUNC` or `O_EXCL`): see [`open_flags`].
pub(crate) fn open(path: &Path, flags: libc::c_int) -> Answer<File> {
    timed(|| {
        with_c_path(path, |path| {
            let found = match find(path, flags & libc::O_NOFOLLOW)? {
                Ok(found) => found,
                Err(e) => return Some(Err(e)),
            };
            let what = describe(found.as_raw_fd())?;
            if !what.local || !matches!(what.kind, libc::S_IFREG | libc::S_IFDIR) {
                return None;
            }
            let opened = match open_cached(path, flags | libc::O_NONBLOCK) {
                Ok(opened) => opened,
                // Evicted meanwhile, a FIFO swapped in, a lease held: the pool waits for it.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENXIO)) => {
                    return None
                }
                Err(e) => return Some(Err(e)),
            };
            let again = describe(opened.as_raw_fd())?;
            if (again.dev, again.ino) != (what.dev, what.ino) {
                return None;
            }
            let status = flags & (libc::O_APPEND | libc::O_NOATIME);
            // The system call itself, not libc's `fcntl`: with the `hook` feature that one makes
            // the hooks ask every fd's mode again, for a descriptor no green thread has waited
            // on yet (so the hooks remember nothing of it).
            // SAFETY: F_SETFL on a descriptor we own; it changes only its status flags.
            let set = unsafe {
                libc::syscall(libc::SYS_fcntl, opened.as_raw_fd(), libc::F_SETFL, status)
            };
            if set != 0 {
                return None;
            }
            Some(Ok(File::from(opened)))
        })
    })
}

/// The `open(2)` flags std would pass for these options, when opening in place can answer
/// for them: no file created or truncated, and no custom flag but the harmless ones.
pub(crate) fn open_flags(
    read: bool,
    write: bool,
    append: bool,
    creates: bool,
    custom: libc::c_int,
) -> Option<libc::c_int> {
    let harmless = libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_NOATIME | libc::O_CLOEXEC;
    if creates || custom & !harmless != 0 {
        return None;
    }
    let access = match (read, write || append) {
        (true, false) => libc::O_RDONLY,
        (false, true) => libc::O_WRONLY,
        (true, true) => libc::O_RDWR,
        // std's InvalidInput: the pool gives it.
        (false, false) => return None,
    };
    Some(access | if append { libc::O_APPEND } else { 0 } | custom)
}

/// `path` as a C string on the stack; `None` (the pool, which gives std's error) for a path too
/// long for the buffer or with a NUL byte inside.
fn with_c_path<T>(path: &Path, f: impl FnOnce(&CStr) -> Answer<T>) -> Answer<T> {
    let bytes = path.as_os_str().as_bytes();
    let mut buf = [0u8; 512];
    if bytes.len() >= buf.len() {
        return None;
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    f(CStr::from_bytes_with_nul(&buf[..=bytes.len()]).ok()?)
}

/// Resolves `path` from the dentry cache to an `O_PATH` descriptor (`extra`: `O_NOFOLLOW` or
/// 0). `None`: not all cached, or refused (then turned off); `Some(Err)`: the cache says the
/// path names nothing (`ENOENT`, `ENOTDIR`), which is std's answer too.
fn find(path: &CStr, extra: libc::c_int) -> Option<io::Result<OwnedFd>> {
    match open_cached(path, libc::O_PATH | extra) {
        Ok(found) => Some(Ok(found)),
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => Some(Err(e)),
            // No openat2 (before 5.6), no RESOLVE_CACHED (before 5.12), a seccomp filter.
            Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG | libc::EPERM) => {
                SWITCH.turn_off();
                None
            }
            _ => None,
        },
    }
}

/// `openat2(2)`'s `struct open_how` (libc's is `non_exhaustive`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(AT_FDCWD, path, flags | O_CLOEXEC, RESOLVE_CACHED)`.
fn open_cached(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_CACHED,
    };
    // SAFETY: `path` is a NUL-terminated string and `how` a valid `open_how` of the size passed;
    // the kernel reads both during the call only.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// What the VFS says of a file without asking its file system's server.
struct Described {
    /// `S_IFREG`, `S_IFDIR`, ...
    kind: libc::mode_t,
    dev: (u32, u32),
    ino: u64,
    /// On a local file system (see [`MOUNTS`]).
    local: bool,
}

/// `statx` of `fd` with `AT_STATX_DONT_SYNC`: `None` when the kernel cannot say (then lookups
/// are turned off) or the mount is gone.
fn describe(fd: libc::c_int) -> Option<Described> {
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    let want = libc::STATX_TYPE | libc::STATX_INO | libc::STATX_MNT_ID_UNIQUE;
    // SAFETY: an empty NUL-terminated path, `AT_EMPTY_PATH` on a descriptor the caller keeps
    // open, and `stx` writable memory of the right size.
    let r = unsafe {
        libc::statx(
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC,
            want,
            stx.as_mut_ptr(),
        )
    };
    if r != 0 {
        SWITCH.turn_off();
        return None;
    }
    // SAFETY: zeroed, then filled in by a successful `statx`.
    let stx = unsafe { stx.assume_init() };
    if stx.stx_mask & want != want {
        // Before 6.8: no unique mount ids.
        SWITCH.turn_off();
        return None;
    }
    Some(Described {
        kind: libc::mode_t::from(stx.stx_mode) & libc::S_IFMT,
        dev: (stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
        local: MOUNTS.is_local(stx.stx_mnt_id)?,
    })
}

/// std's metadata of the file `found` refers to.
fn metadata(found: &OwnedFd) -> io::Result<Metadata> {
    // SAFETY: `found` stays open for the borrow; the `File` is never dropped (ManuallyDrop), so
    // the descriptor is closed once, by `found`.
    let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(found.as_raw_fd()) });
    file.metadata()
}

/// Mounts seen, by unique id (never reused while the system runs), with whether each is a local
/// file system. Direct-mapped: a mount whose slot another took is asked again. One word per
/// slot, `id << 1 | local` (0: empty), so a reader sees a whole entry or none: no protocol.
pub(crate) struct Mounts {
    slots: [AtomicU64; 64],
}

pub(crate) static MOUNTS: Mounts = Mounts {
    slots: [const { AtomicU64::new(0) }; 64],
};

impl Mounts {
    /// Whether mount `id` is a local file system; `None` if the kernel cannot say.
    fn is_local(&self, id: u64) -> Option<bool> {
        let slot = &self.slots[id as usize % self.slots.len()];
        let entry = slot.load(Ordering::Relaxed);
        if entry != 0 && entry >> 1 == id {
            return Some(entry & 1 == 1);
        }
        let local = in_place::is_local_file_system(file_system_magic(id)?);
        if id < 1 << 63 {
            slot.store(id << 1 | u64::from(local), Ordering::Relaxed);
        }
        Some(local)
    }
}

/// `statmount(2)`'s request (`struct mnt_id_req`, its first version).
#[repr(C)]
struct MountIdRequest {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// `statmount(2)`'s number: 457 wherever the kernel's unified syscall table is used (mips and
/// alpha number it otherwise: there, lookups stay on the pool).
const SYS_STATMOUNT: Option<libc::c_long> = if cfg!(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "x86",
    target_arch = "arm",
    target_arch = "loongarch64",
    target_arch = "powerpc64",
    target_arch = "s390x"
)) {
    Some(457)
} else {
    None
};
const STATMOUNT_SB_BASIC: u64 = 1;

/// The file-system magic (`statfs`'s `f_type`) of mount `id`, from the mount table alone.
fn file_system_magic(id: u64) -> Option<u32> {
    let Some(statmount) = SYS_STATMOUNT else {
        SWITCH.turn_off();
        return None;
    };
    let request = MountIdRequest {
        size: std::mem::size_of::<MountIdRequest>() as u32,
        spare: 0,
        mnt_id: id,
        param: STATMOUNT_SB_BASIC,
    };
    // `struct statmount`: size, mnt_opts, mask, sb_dev_major and _minor, sb_magic, ... (512
    // bytes with its spare words; nothing but the basic fields is asked for, so no strings).
    let mut buf = [0u64; 64];
    // SAFETY: `request` is a valid `mnt_id_req` of the size it says, `buf` writable memory of
    // the size passed; the kernel writes at most that many bytes.
    let r = unsafe {
        libc::syscall(
            statmount,
            &request as *const MountIdRequest,
            buf.as_mut_ptr(),
            std::mem::size_of_val(&buf),
            0,
        )
    };
    if r != 0 {
        if io::Error::last_os_error().raw_os_error() != Some(libc::ENOENT) {
            // Before 6.8, or a seccomp filter.
            SWITCH.turn_off();
        }
        return None;
    }
    (buf[1] & STATMOUNT_SB_BASIC != 0).then_some(buf[3] as u32)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("zsync-lookup-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Lookups of cached paths on the temporary directory's (local) file system are answered in
    /// place with std's answers; a FIFO and a device are left to the pool.
    #[test]
    fn cached_lookups_on_a_local_file_system_give_std_answers() {
        let dir = scratch("answers");
        let file = dir.join("file");
        std::fs::write(&file, b"twelve bytes").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        // Warm the dentry cache as a server's repeated lookups would.
        std::fs::metadata(&link).unwrap();
        let _ = std::fs::metadata(dir.join("missing"));

        let ours = stat(&file, true).expect("answered in place").unwrap();
        let std_ = std::fs::metadata(&file).unwrap();
        assert_eq!(
            (ours.ino(), ours.len(), ours.mode()),
            (std_.ino(), 12, std_.mode())
        );
        // Following a symlink from the cache alone works for some (ext4's short "fast"
        // symlinks, tmpfs) and not others; either way the answer is std's.
        if let Some(ours) = stat(&link, true) {
            assert_eq!(ours.unwrap().ino(), std_.ino());
        }
        let ours = stat(&link, false).expect("answered in place").unwrap();
        assert!(ours.file_type().is_symlink());
        let err = stat(&dir.join("missing"), true)
            .expect("a cached miss")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(exists(&file).unwrap().unwrap());
        assert!(!exists(&dir.join("missing")).unwrap().unwrap());

        let canonical = std::fs::canonicalize(&file).unwrap();
        let dotted = dir
            .join(".")
            .join("..")
            .join(dir.file_name().unwrap())
            .join("file");
        assert_eq!(
            canonicalize(&dotted).expect("answered in place").unwrap(),
            canonical
        );
        if let Some(resolved) = canonicalize(&link) {
            assert_eq!(resolved.unwrap(), canonical);
        }
        let err = canonicalize(&dir.join("missing"))
            .expect("a cached miss")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);

        let flags = open_flags(true, false, false, false, 0).unwrap();
        let opened = open(&file, flags).expect("answered in place").unwrap();
        assert_eq!(opened.metadata().unwrap().ino(), std_.ino());
        // SAFETY: F_GETFL on a descriptor `opened` owns.
        let status = unsafe { libc::fcntl(opened.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(status & libc::O_NONBLOCK, 0, "O_NONBLOCK left set");
        assert_eq!(status & libc::O_ACCMODE, libc::O_RDONLY);
        assert!(fstat(&opened, &AtomicU8::new(PLACE_UNKNOWN))
            .expect("answered in place")
            .unwrap()
            .is_file());
        let flags = open_flags(false, true, true, false, 0).unwrap();
        let appending = open(&file, flags).expect("answered in place").unwrap();
        // SAFETY: as above.
        let status = unsafe { libc::fcntl(appending.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(status & (libc::O_APPEND | libc::O_NONBLOCK), libc::O_APPEND);
        assert!(
            open(&link, libc::O_RDONLY | libc::O_NOFOLLOW).is_none(),
            "a symlink under O_NOFOLLOW is left to the pool (std's ELOOP)"
        );
        let err = open(&dir.join("missing"), libc::O_RDONLY)
            .expect("a cached miss")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);

        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let _ = std::fs::symlink_metadata(&fifo);
        assert!(
            open(&fifo, libc::O_RDONLY).is_none(),
            "a FIFO is opened on the pool"
        );
        assert!(
            stat(&fifo, true).is_some(),
            "a FIFO's metadata is not its open"
        );
        assert!(
            open(Path::new("/dev/null"), libc::O_RDONLY).is_none(),
            "devtmpfs is no local file system here"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn options_that_create_truncate_or_carry_unknown_flags_are_left_to_the_pool() {
        assert_eq!(
            open_flags(true, false, false, false, 0),
            Some(libc::O_RDONLY)
        );
        assert_eq!(open_flags(true, true, false, false, 0), Some(libc::O_RDWR));
        assert_eq!(
            open_flags(false, false, true, false, libc::O_NOATIME),
            Some(libc::O_WRONLY | libc::O_APPEND | libc::O_NOATIME)
        );
        assert_eq!(open_flags(false, true, false, true, 0), None);
        assert_eq!(open_flags(false, false, false, false, 0), None);
        assert_eq!(
            open_flags(true, false, false, false, libc::O_NONBLOCK),
            None
        );
        assert_eq!(open_flags(true, false, false, false, libc::O_CREAT), None);
    }

    #[test]
    fn a_path_with_a_nul_byte_or_too_long_for_the_stack_goes_to_the_pool() {
        assert!(stat(Path::new("a\0b"), true).is_none());
        let long = "x/".repeat(300);
        assert!(stat(Path::new(&long), true).is_none());
    }
}
