//! Unix-specific file-system parts, shaped like `std::os::unix::fs`: port by changing
//! `std::os::unix::fs` to `zsync::os::unix::fs`.
//!
//! The extension traits are std's own, re-exported; zsync's [`File`](crate::fs::File),
//! [`OpenOptions`](crate::fs::OpenOptions), [`DirEntry`](crate::fs::DirEntry) and
//! [`DirBuilder`](crate::fs::DirBuilder) implement the ones that apply to them (`FileExt`,
//! `OpenOptionsExt`, `DirEntryExt`, `DirBuilderExt`); the others extend std's value types
//! ([`Metadata`](crate::fs::Metadata), [`Permissions`](crate::fs::Permissions),
//! [`FileType`](crate::fs::FileType)). The functions below run like those of
//! [`zsync::fs`](crate::fs): on the blocking pool from a green thread, directly otherwise.
//!
//! ```
//! use zsync::os::unix::fs::{symlink, MetadataExt};
//! let link = std::env::temp_dir().join(format!("zsync-unix-fs-doc-{}", std::process::id()));
//! symlink("/", &link)?;
//! assert_eq!(zsync::fs::metadata(&link)?.ino(), zsync::fs::metadata("/")?.ino());
//! zsync::fs::remove_file(&link)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

pub use std::os::unix::fs::{
    DirBuilderExt, DirEntryExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};

/// Creates a symbolic link `link` pointing to `original`, like `std::os::unix::fs::symlink`
/// (`original` need not exist; a relative one is relative to the link's directory).
///
/// # Errors
/// As std (`AlreadyExists` if `link` exists).
///
/// ```
/// let link = std::env::temp_dir().join(format!("zsync-symlink-doc-{}", std::process::id()));
/// zsync::os::unix::fs::symlink("nowhere", &link)?;
/// assert_eq!(zsync::fs::read_link(&link)?, std::path::Path::new("nowhere"));
/// zsync::fs::remove_file(&link)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn symlink<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    crate::fs::symlink(original.as_ref(), link.as_ref())
}

/// Changes the root directory of this process to `dir`, like `std::os::unix::fs::chroot`
/// (`chroot(2)`: needs `CAP_SYS_CHROOT`; the working directory is not changed).
///
/// # Errors
/// As std (`PermissionDenied` without the capability, `NotFound` for a missing directory).
///
/// ```
/// // Without the capability (or in a directory that does not exist) it fails as std's does.
/// let missing = std::env::temp_dir().join("zsync-chroot-doc-missing");
/// let err = zsync::os::unix::fs::chroot(&missing).unwrap_err();
/// assert_eq!(err.kind(), std::os::unix::fs::chroot(&missing).unwrap_err().kind());
/// ```
pub fn chroot<P: AsRef<Path>>(dir: P) -> io::Result<()> {
    crate::fs::chroot(dir.as_ref())
}

/// Changes the owner and group of a path, following symlinks, like
/// `std::os::unix::fs::chown`; `None` leaves that id unchanged.
///
/// # Errors
/// As std (`PermissionDenied` without the privilege to give a file away).
///
/// ```
/// let path = std::env::temp_dir().join(format!("zsync-chown-doc-{}", std::process::id()));
/// zsync::fs::write(&path, "")?;
/// zsync::os::unix::fs::chown(&path, None, None)?; // no change: always allowed
/// zsync::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn chown<P: AsRef<Path>>(path: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    crate::fs::chown_path(path.as_ref(), uid, gid, true)
}

/// Changes the owner and group of a symlink itself, like `std::os::unix::fs::lchown`.
///
/// # Errors
/// As std.
///
/// ```
/// let link = std::env::temp_dir().join(format!("zsync-lchown-doc-{}", std::process::id()));
/// zsync::os::unix::fs::symlink("nowhere", &link)?;
/// zsync::os::unix::fs::lchown(&link, None, None)?;
/// zsync::fs::remove_file(&link)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn lchown<P: AsRef<Path>>(path: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    crate::fs::chown_path(path.as_ref(), uid, gid, false)
}

/// Changes the owner and group of an open file, like `std::os::unix::fs::fchown`.
///
/// # Errors
/// As std.
///
/// ```
/// let path = std::env::temp_dir().join(format!("zsync-fchown-doc-{}", std::process::id()));
/// let file = zsync::fs::File::create(&path)?;
/// zsync::os::unix::fs::fchown(&file, None, None)?;
/// zsync::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn fchown<F: AsFd>(fd: F, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    crate::fs::fchown(fd.as_fd(), uid, gid)
}
