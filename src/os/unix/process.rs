//! Unix-specific process parts, shaped like `std::os::unix::process`: port by changing
//! `std::os::unix::process` to `zsync::os::unix::process`.
//!
//! [`CommandExt`] gives zsync's [`Command`] the Unix builder methods of std's (each passes
//! through to the std command inside); [`ExitStatusExt`] is std's own, and works on
//! [`zsync::process::ExitStatus`](crate::process::ExitStatus), which is std's.
//!
//! ```
//! use zsync::os::unix::process::{CommandExt, ExitStatusExt};
//! use zsync::process::Command;
//! let status = zsync::run(|| Command::new("sh").args(["-c", "kill -9 $$"]).process_group(0).status())?;
//! assert_eq!(status.signal(), Some(9));
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::process::Command;
use std::ffi::OsStr;
use std::io;

pub use std::os::unix::process::{parent_id, ExitStatusExt};

mod private {
    pub trait Sealed {}
    impl Sealed for crate::process::Command {}
}

/// Unix extensions of [`Command`], like `std::os::unix::process::CommandExt` (sealed, as
/// std's is).
///
/// ```
/// use zsync::os::unix::process::CommandExt;
/// use zsync::process::Command;
/// let out = Command::new("sh")
///     .arg0("renamed")
///     .args(["-c", "echo $0"])
///     .output()?;
/// assert_eq!(out.stdout, b"renamed\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait CommandExt: private::Sealed {
    /// Runs the child as user `id` (setuid after fork), like std's.
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// use zsync::os::unix::process::CommandExt;
    /// use zsync::process::Command;
    /// let uid = std::fs::metadata("/proc/self")?.uid(); // our own: always allowed
    /// let out = Command::new("cat")
    ///     .arg("/proc/self/status")
    ///     .uid(uid)
    ///     .output()?;
    /// let status = String::from_utf8_lossy(&out.stdout);
    /// assert!(status.contains(&format!("\nUid:\t{uid}\t{uid}\t")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn uid(&mut self, id: u32) -> &mut Command;

    /// Runs the child with group `id` (setgid after fork), like std's.
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// use zsync::os::unix::process::CommandExt;
    /// use zsync::process::Command;
    /// let gid = std::fs::metadata("/proc/self")?.gid(); // our own: always allowed
    /// let out = Command::new("cat")
    ///     .arg("/proc/self/status")
    ///     .gid(gid)
    ///     .output()?;
    /// let status = String::from_utf8_lossy(&out.stdout);
    /// assert!(status.contains(&format!("\nGid:\t{gid}\t{gid}\t")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn gid(&mut self, id: u32) -> &mut Command;

    /// Runs `f` in the child after fork and before exec, like std's `pre_exec`.
    ///
    /// # Safety
    /// As std's: `f` runs in a forked copy of a multi-threaded process, where only
    /// async-signal-safe calls are sound (no allocation, no locks, no zsync calls).
    ///
    /// ```
    /// use std::io::Error;
    /// use zsync::os::unix::process::CommandExt;
    /// use zsync::process::Command;
    /// let mut cmd = Command::new("true");
    /// // SAFETY: the hook only builds an OS error, which neither allocates nor locks.
    /// unsafe { cmd.pre_exec(|| Err(Error::from_raw_os_error(13))) };
    /// let err = cmd.spawn().unwrap_err(); // the hook's error, back from the child
    /// assert_eq!(err.raw_os_error(), Some(13));
    /// ```
    unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static;

    /// Replaces this process with the command, like std's `exec`: returns only on failure,
    /// with the error. Every green thread and worker of this process goes with it.
    ///
    /// ```
    /// use zsync::os::unix::process::CommandExt;
    /// use zsync::process::Command;
    /// // On success `exec` never returns; here the program does not exist.
    /// let err = Command::new("/no/such/program").exec();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    fn exec(&mut self) -> io::Error;

    /// Sets the child's `argv[0]` (the program still runs from `new`'s path), like std's.
    ///
    /// ```
    /// use zsync::os::unix::process::CommandExt;
    /// use zsync::process::Command;
    /// let out = Command::new("cat")
    ///     .arg0("kitty")
    ///     .arg("/proc/self/cmdline")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"kitty\0/proc/self/cmdline\0");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command;

    /// Puts the child in process group `pgroup` (0: a new group whose id is the child's pid),
    /// like std's.
    ///
    /// ```
    /// use zsync::os::unix::process::CommandExt;
    /// use zsync::process::Command;
    /// // `kill -s 0 -- -$$` succeeds only if a process group with the shell's pid exists.
    /// let probe = ["-c", "kill -s 0 -- -$$"];
    /// let own = Command::new("sh").args(probe).process_group(0).output()?;
    /// assert!(own.status.success());
    /// let inherited = Command::new("sh").args(probe).output()?;
    /// assert!(!inherited.status.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn process_group(&mut self, pgroup: i32) -> &mut Command;
}

impl CommandExt for Command {
    fn uid(&mut self, id: u32) -> &mut Command {
        std::os::unix::process::CommandExt::uid(self.as_std_mut(), id);
        self
    }

    fn gid(&mut self, id: u32) -> &mut Command {
        std::os::unix::process::CommandExt::gid(self.as_std_mut(), id);
        self
    }

    unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller keeps std's contract for `f`, which this passes on unchanged.
        unsafe { std::os::unix::process::CommandExt::pre_exec(self.as_std_mut(), f) };
        // `f` may depend on the thread that forks: not a pool thread.
        self.spawn_here();
        self
    }

    fn exec(&mut self) -> io::Error {
        std::os::unix::process::CommandExt::exec(self.as_std_mut())
    }

    fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        std::os::unix::process::CommandExt::arg0(self.as_std_mut(), arg);
        self
    }

    fn process_group(&mut self, pgroup: i32) -> &mut Command {
        std::os::unix::process::CommandExt::process_group(self.as_std_mut(), pgroup);
        self
    }
}
