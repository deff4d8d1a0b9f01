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
pub trait CommandExt: private::Sealed {
    /// Runs the child as user `id` (setuid after fork), like std's.
    fn uid(&mut self, id: u32) -> &mut Command;

    /// Runs the child with group `id` (setgid after fork), like std's.
    fn gid(&mut self, id: u32) -> &mut Command;

    /// Runs `f` in the child after fork and before exec, like std's `pre_exec`.
    ///
    /// # Safety
    /// As std's: `f` runs in a forked copy of a multi-threaded process, where only
    /// async-signal-safe calls are sound (no allocation, no locks, no zsync calls).
    unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static;

    /// Replaces this process with the command, like std's `exec`: returns only on failure,
    /// with the error. Every green thread and worker of this process goes with it.
    fn exec(&mut self) -> io::Error;

    /// Sets the child's `argv[0]` (the program still runs from `new`'s path), like std's.
    fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command;

    /// Puts the child in process group `pgroup` (0: a new group whose id is the child's pid),
    /// like std's.
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
