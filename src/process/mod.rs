//! Processes shaped like `std::process`: port by changing `std::process` to `zsync::process`.
//!
//! [`Command`] builds and spawns a child (std's own `Command` does the spawning, which does not
//! wait for long); [`Child`] waits for it, and its [`ChildStdin`], [`ChildStdout`] and
//! [`ChildStderr`] pipes read and write. The plain data types are std's own, re-exported:
//! [`ExitStatus`], [`Output`], [`ExitCode`], [`Stdio`], [`CommandArgs`], [`CommandEnvs`], and
//! so are [`exit`], [`abort`] and [`id`]. `std::os::unix::process::ExitStatusExt` works on the
//! statuses as usual (re-exported in [`crate::os::unix::process`], with a [`CommandExt`] for
//! zsync's `Command`).
//!
//! ```
//! use zsync::io::{Read, Write};
//! use zsync::process::{Command, Stdio};
//! zsync::run(|| -> std::io::Result<()> {
//!     let out = Command::new("echo").arg("hello").output()?;
//!     assert_eq!(out.stdout, b"hello\n");
//!
//!     let mut cat = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
//!     cat.stdin.take().unwrap().write_all(b"through a pipe")?; // dropped: cat sees the end
//!     let mut echoed = String::new();
//!     cat.stdout.take().unwrap().read_to_string(&mut echoed)?;
//!     assert!(cat.wait()?.success());
//!     assert_eq!(echoed, "through a pipe");
//!     Ok(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! [`CommandExt`]: crate::os::unix::process::CommandExt
//!
//! # What parks where
//!
//! - **Pipes.** A child's pipe ends are non-blocking fds under zsync's I/O loop (the one
//!   sockets use): a read or write on a green thread parks it on its worker's reactor until the
//!   pipe is ready; on an OS thread it blocks in poll(2), as std's would.
//! - **`Child::wait`** on a green thread parks it on a pidfd (pidfd_open(2), **Linux 5.3+**)
//!   registered with its worker's reactor, which becomes readable when the child exits; the
//!   child is then reaped with std's `try_wait`. No thread per child, no SIGCHLD handler. Where
//!   pidfd_open fails with `ENOSYS` (older kernels) or `EPERM` (seccomp), or `ZSYNC_PIDFD=0` is
//!   set, the green thread waits on the blocking pool instead (a pool thread per waiting child,
//!   waiting with waitid(WNOWAIT) so that std's `Child` still does the reaping).
//! - **`output()`** reads standard output and standard error at the same time (standard error
//!   on a second green thread), so a child that fills one pipe while the parent reads the
//!   other cannot deadlock. `status()` is `spawn` and `wait`.
//! - **`spawn`** on a green thread that shares its worker with others runs std's spawn on the
//!   blocking pool: the fork and exec hold the thread that makes them until the child has
//!   exec'd (0.15-0.2 ms for `true` on this project's machine, over 1 ms at worst, longer for a
//!   program the kernel must read from disk), which would hold every green thread of the
//!   worker. A green thread that is all its worker runs spawns on its own thread, as std: the
//!   hand-off would cost it more than the fork (0.23 ms at the median on a pool thread, 0.77 at
//!   the 90th percentile, against 0.15 and 0.19: waking threads on idle virtual CPUs), and
//!   nothing else waits meanwhile. The child inherits what is per thread
//!   from the pool thread that forks it, not the caller's worker: CPU affinity and nice value
//!   (the process's defaults, unless set on every thread) in the first case. A command with a `pre_exec` hook,
//!   or made from a std `Command` (`From`), is spawned on the calling thread as before: the
//!   hook may depend on the thread that forks (`PR_SET_PDEATHSIG` fires when that thread
//!   exits, and idle pool threads exit). The spawn cannot be cancelled half-way: a cancellation
//!   or `timeout()` that comes meanwhile is raised at the green thread's next park point, after
//!   `spawn` has returned the `Child`.
//! - **On a plain OS thread** (not a green thread, not a thread of a `Flavor::OsThreads`
//!   runtime) everything behaves as std: `wait`, `output` and `status` are std's own calls.
//!
//! # Cancellation and timeouts
//!
//! A green thread cancelled or timed out (`zsync::time::timeout`) in `Child::wait` or in a pipe
//! read or write unwinds at once; the `Child` and its pipes stay usable: a later `wait` gets the
//! status. As in std, nothing kills the child: not the unwinding, not dropping the `Child`
//! (which leaves the process running, and a zombie until the parent exits, if it is not waited
//! for). A cancelled `output()` or `wait_with_output` cancels its standard-error reader too and
//! drops the pipes (the child sees a broken pipe if it writes more).
//!
//! # Differences from std
//!
//! - The pipe fields are zsync's pipe types. They convert to and from std's (`From`), to
//!   [`Stdio`] (to feed another command) and to `OwnedFd`; the fd goes back to blocking mode
//!   when it leaves zsync.
//! - `Child::wait` needs `&mut` as in std; a pidfd is opened at the first wait that parks and
//!   lives as long as the `Child`.

mod pipe;
mod wait;

pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{
    abort, exit, id, CommandArgs, CommandEnvs, ExitCode, ExitStatus, Output, Stdio, Termination,
};

use crate::runtime::context;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// Whether the caller is one zsync should not block: a green thread, or an OS thread of a
/// `Flavor::OsThreads` runtime (which can be cancelled).
fn in_runtime() -> bool {
    let current = context::current();
    current.task().is_some() || current.os_threads_runtime().is_some()
}

/// A process builder, like `std::process::Command` (which it wraps): the builder methods and
/// getters are std's; [`spawn`](Command::spawn) gives a zsync [`Child`], and
/// [`output`](Command::output) and [`status`](Command::status) park only the calling green
/// thread.
///
/// ```
/// let status = zsync::run(|| zsync::process::Command::new("sh").args(["-c", "exit 3"]).status())?;
/// assert_eq!(status.code(), Some(3));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Command {
    inner: std::process::Command,
    /// Which standard streams the user configured: `output` defaults the others differently.
    stdio_set: [bool; 3],
    /// Spawn on the calling thread, not the blocking pool: the command may run code of the
    /// user's in the child (`pre_exec`, or a std command wrapped with who knows what), which may
    /// depend on the thread that forks (`PR_SET_PDEATHSIG` fires when that thread exits, and
    /// pool threads exit when idle).
    spawn_here: bool,
}

impl Command {
    /// A command for `program`, like `std::process::Command::new`: no arguments, the parent's
    /// environment and working directory, and standard streams inherited for `spawn` and
    /// `status` (`output` pipes standard output and error, and gives a null standard input).
    ///
    /// ```
    /// use zsync::process::Command;
    /// let out = Command::new("echo").output()?;
    /// assert!(out.status.success());
    /// assert_eq!(out.stdout, b"\n"); // no arguments: an empty line
    ///
    /// let missing = Command::new("no-such-program").status();
    /// assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command {
            spawn_here: false,
            ..Command::from(std::process::Command::new(program))
        }
    }

    /// Adds an argument.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let out = Command::new("sh")
    ///     .arg("-c")
    ///     .arg("echo $# $1")
    ///     .arg("sh")
    ///     .arg("one arg")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"1 one arg\n"); // one `arg`, one argument, spaces and all
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let out = Command::new("echo")
    ///     .args(["-n", "hello", "world"])
    ///     .output()?;
    /// assert_eq!(out.stdout, b"hello world");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let out = Command::new("sh")
    ///     .args(["-c", "echo $GREETING"])
    ///     .env("GREETING", "hi")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Sets environment variables for the child.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let vars = [("FIRST", "1"), ("SECOND", "2")];
    /// let out = Command::new("sh")
    ///     .args(["-c", "echo $FIRST$SECOND"])
    ///     .envs(vars)
    ///     .output()?;
    /// assert_eq!(out.stdout, b"12\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let out = Command::new("sh")
    ///     .args(["-c", "echo ${HOME-unset}"])
    ///     .env_remove("HOME")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"unset\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds afterwards).
    ///
    /// ```
    /// use zsync::process::Command;
    /// let out = Command::new("sh")
    ///     .args(["-c", "echo ${HOME-unset} $ONLY"])
    ///     .env_clear()
    ///     .env("ONLY", "me")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"unset me\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let out = Command::new("sh")
    ///     .args(["-c", "pwd"])
    ///     .current_dir("/")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"/\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Sets the child's standard input.
    ///
    /// ```
    /// use zsync::process::{Command, Stdio};
    /// let mut echo = Command::new("echo")
    ///     .arg("piped")
    ///     .stdout(Stdio::piped())
    ///     .spawn()?;
    /// // One child's standard output as the next one's standard input.
    /// let out = Command::new("cat")
    ///     .stdin(echo.stdout.take().unwrap())
    ///     .output()?;
    /// assert!(echo.wait()?.success());
    /// assert_eq!(out.stdout, b"piped\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdin(cfg);
        self.stdio_set[0] = true;
        self
    }

    /// Sets the child's standard output.
    ///
    /// ```
    /// use zsync::process::{Command, Stdio};
    /// let out = Command::new("echo")
    ///     .arg("gone")
    ///     .stdout(Stdio::null())
    ///     .output()?;
    /// assert!(out.status.success());
    /// assert!(out.stdout.is_empty()); // `output` keeps the setting
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdout(cfg);
        self.stdio_set[1] = true;
        self
    }

    /// Sets the child's standard error.
    ///
    /// ```
    /// use zsync::io::Read;
    /// use zsync::process::{Command, Stdio};
    /// let mut child = Command::new("sh")
    ///     .args(["-c", "echo oops >&2"])
    ///     .stderr(Stdio::piped())
    ///     .spawn()?;
    /// let mut err = String::new();
    /// child.stderr.take().unwrap().read_to_string(&mut err)?;
    /// assert!(child.wait()?.success());
    /// assert_eq!(err, "oops\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stderr(cfg);
        self.stdio_set[2] = true;
        self
    }

    /// Starts the child, like `std::process::Command::spawn`; its piped streams become zsync
    /// pipes.
    ///
    /// # Errors
    /// As std: `NotFound` for a missing program, `PermissionDenied` for one that is not
    /// executable, the error of a failed `pre_exec` hook or `current_dir`, ...
    ///
    /// ```
    /// use zsync::process::Command;
    /// let status = zsync::run(|| Command::new("sh").args(["-c", "exit 7"]).spawn()?.wait())?;
    /// assert_eq!(status.code(), Some(7));
    ///
    /// let missing = Command::new("no-such-program").spawn();
    /// assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_std().map(Child::from)
    }

    /// std's spawn: on the blocking pool for a green thread that shares its worker (see "What
    /// parks where"), on the calling thread otherwise or when the command must fork there
    /// (`spawn_here`).
    fn spawn_std(&mut self) -> io::Result<std::process::Child> {
        let shares_its_worker = match context::current() {
            context::Current::Green { worker, .. } => !worker.runs_nothing_else(),
            _ => false,
        };
        let spawned = if self.spawn_here || !shares_its_worker {
            self.inner.spawn()
        } else {
            let inner = &mut self.inner;
            crate::blocking::unblock_scoped(|| inner.spawn())
        };
        // Out of descriptors (for the pipes): name the limit and how to raise it.
        spawned.map_err(|e| crate::reactor::with_context_if_exhausted(e, "cannot start a process"))
    }

    /// Runs the child to its end and collects its output, like
    /// `std::process::Command::output`: standard output and error are piped and standard input
    /// is null unless set otherwise. Parks a green thread (see the module docs).
    ///
    /// # Errors
    /// As `spawn`, and any error reading the pipes or waiting.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let out = zsync::run(|| {
    ///     Command::new("sh")
    ///         .args(["-c", "echo out; echo err >&2; exit 1"])
    ///         .output()
    /// })?;
    /// assert_eq!(out.status.code(), Some(1));
    /// assert_eq!(out.stdout, b"out\n");
    /// assert_eq!(out.stderr, b"err\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn output(&mut self) -> io::Result<Output> {
        if !in_runtime() {
            return self.inner.output();
        }
        let [stdin_set, stdout_set, stderr_set] = self.stdio_set;
        if !stdin_set {
            self.inner.stdin(Stdio::null());
        }
        if !stdout_set {
            self.inner.stdout(Stdio::piped());
        }
        if !stderr_set {
            self.inner.stderr(Stdio::piped());
        }
        let spawned = self.spawn_std();
        // Back to what `spawn` and `status` use by default.
        for (set, which) in self.stdio_set.into_iter().zip(0..) {
            if !set {
                match which {
                    0 => self.inner.stdin(Stdio::inherit()),
                    1 => self.inner.stdout(Stdio::inherit()),
                    _ => self.inner.stderr(Stdio::inherit()),
                };
            }
        }
        Child::from(spawned?).wait_with_output()
    }

    /// Runs the child to its end with inherited standard streams (unless set otherwise) and
    /// returns its status, like `std::process::Command::status`. Parks a green thread.
    ///
    /// # Errors
    /// As `spawn`, and any error waiting.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let status = zsync::run(|| Command::new("false").status())?;
    /// assert!(!status.success());
    /// assert_eq!(status.code(), Some(1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        if !in_runtime() {
            return self.inner.status();
        }
        self.spawn()?.wait()
    }

    /// The program, as given to `new`.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let cmd = Command::new("echo");
    /// assert_eq!(cmd.get_program(), "echo");
    /// ```
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// The arguments (not the program).
    ///
    /// ```
    /// use std::ffi::OsStr;
    /// use zsync::process::Command;
    /// let mut cmd = Command::new("echo");
    /// cmd.arg("first").arg("second");
    /// let args: Vec<&OsStr> = cmd.get_args().collect();
    /// assert_eq!(args, &["first", "second"]);
    /// ```
    pub fn get_args(&self) -> CommandArgs<'_> {
        self.inner.get_args()
    }

    /// The environment changes: `(key, Some(value))` set, `(key, None)` removed.
    ///
    /// ```
    /// use std::ffi::OsStr;
    /// use zsync::process::Command;
    /// let mut cmd = Command::new("sh");
    /// cmd.env("TERM", "dumb").env_remove("TZ");
    /// let envs: Vec<(&OsStr, Option<&OsStr>)> = cmd.get_envs().collect();
    /// assert_eq!(
    ///     envs,
    ///     &[
    ///         (OsStr::new("TERM"), Some(OsStr::new("dumb"))),
    ///         (OsStr::new("TZ"), None)
    ///     ]
    /// );
    /// ```
    pub fn get_envs(&self) -> CommandEnvs<'_> {
        self.inner.get_envs()
    }

    /// The working directory, if set.
    ///
    /// ```
    /// use std::path::Path;
    /// use zsync::process::Command;
    /// let mut cmd = Command::new("sh");
    /// assert_eq!(cmd.get_current_dir(), None);
    /// cmd.current_dir("/");
    /// assert_eq!(cmd.get_current_dir(), Some(Path::new("/")));
    /// ```
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.inner.get_current_dir()
    }

    /// std's command inside, for the Unix extensions.
    pub(crate) fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }

    /// Makes `spawn` fork on the calling thread (the child runs code of the user's: `pre_exec`).
    pub(crate) fn spawn_here(&mut self) {
        self.spawn_here = true;
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std command. std does not say which standard streams it has set: `output` gives
    /// the ones not set through this wrapper its own defaults (piped, piped, null).
    fn from(inner: std::process::Command) -> Command {
        Command {
            inner,
            stdio_set: [false; 3],
            spawn_here: true,
        }
    }
}

impl From<Command> for std::process::Command {
    fn from(command: Command) -> std::process::Command {
        command.inner
    }
}

impl fmt::Debug for Command {
    /// As std's: the program and arguments, quoted (more with `{:#?}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// A running or exited child process, like `std::process::Child`. Dropping it neither kills
/// nor waits for the process.
///
/// ```
/// use zsync::io::Write;
/// use zsync::process::{Command, Stdio};
/// let status = zsync::run(|| {
///     let mut child = Command::new("sh")
///         .args(["-c", "read code; exit $code"])
///         .stdin(Stdio::piped())
///         .spawn()?;
///     child.stdin.as_mut().unwrap().write_all(b"5\n")?;
///     child.wait() // closes standard input first
/// })?;
/// assert_eq!(status.code(), Some(5));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Child {
    /// The child's standard input, if piped. `wait` closes it first.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if piped.
    pub stderr: Option<ChildStderr>,
    inner: std::process::Child,
    pidfd: wait::PidFd,
}

impl From<std::process::Child> for Child {
    /// Takes over a std child and its pipes.
    fn from(mut inner: std::process::Child) -> Child {
        Child {
            stdin: inner.stdin.take().map(ChildStdin::from),
            stdout: inner.stdout.take().map(ChildStdout::from),
            stderr: inner.stderr.take().map(ChildStderr::from),
            inner,
            pidfd: wait::PidFd::default(),
        }
    }
}

impl Child {
    /// Sends SIGKILL, like `std::process::Child::kill`; `Ok` if the child has already exited
    /// and been reaped, as std answers.
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// use zsync::os::unix::process::ExitStatusExt;
    /// use zsync::process::Command;
    /// let mut child = Command::new("sleep").arg("100").spawn()?;
    /// child.kill()?;
    /// assert_eq!(child.wait()?.signal(), Some(9)); // SIGKILL
    /// assert!(child.kill().is_ok()); // already reaped
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// The process id.
    ///
    /// ```
    /// use zsync::process::{Command, Stdio};
    /// let child = Command::new("sh")
    ///     .args(["-c", "echo $$"])
    ///     .stdout(Stdio::piped())
    ///     .spawn()?;
    /// let pid = child.id();
    /// let out = child.wait_with_output()?;
    /// assert_eq!(out.stdout, format!("{pid}\n").as_bytes());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Closes standard input, then waits for the child to exit and reaps it, like
    /// `std::process::Child::wait`; a green thread parks meanwhile (see the module docs).
    /// Waiting again returns the same status.
    ///
    /// # Errors
    /// As std; and a green thread that is cancelled or timed out unwinds from here (the child
    /// is not killed, and a later `wait` still works).
    ///
    /// ```
    /// use zsync::process::Command;
    /// let status = zsync::run(|| -> std::io::Result<_> {
    ///     let mut child = Command::new("sh")
    ///         .args(["-c", "sleep 0.1; exit 4"])
    ///         .spawn()?;
    ///     let status = child.wait()?; // parks this green thread only
    ///     assert_eq!(child.wait()?, status); // the same status again
    ///     Ok(status)
    /// })?;
    /// assert_eq!(status.code(), Some(4));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if !in_runtime() {
            return self.inner.wait();
        }
        let blocking_pool = context::current().task().is_some();
        wait::wait(&mut self.inner, &mut self.pidfd, blocking_pool)
    }

    /// The status if the child has exited (reaping it), `None` if it still runs, like
    /// `std::process::Child::try_wait`. Never blocks.
    ///
    /// # Errors
    /// As std.
    ///
    /// ```
    /// use zsync::process::Command;
    /// let mut child = Command::new("sleep").arg("100").spawn()?;
    /// assert_eq!(child.try_wait()?, None); // still running
    /// child.kill()?;
    /// let status = child.wait()?;
    /// assert_eq!(child.try_wait()?, Some(status));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Closes standard input, reads standard output and error to their ends (at the same
    /// time) and waits, like `std::process::Child::wait_with_output`.
    ///
    /// # Errors
    /// Any error reading or waiting.
    ///
    /// ```
    /// use zsync::io::Write;
    /// use zsync::process::{Command, Stdio};
    /// let mut child = Command::new("cat")
    ///     .stdin(Stdio::piped())
    ///     .stdout(Stdio::piped())
    ///     .spawn()?;
    /// child.stdin.as_mut().unwrap().write_all(b"meow")?;
    /// let out = zsync::run(move || child.wait_with_output())?; // cat sees the end of its input
    /// assert!(out.status.success());
    /// assert_eq!(out.stdout, b"meow");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        if !in_runtime() {
            // std's own, which polls both pipes: give them back (in blocking mode).
            self.inner.stdout = self.stdout.take().map(Into::into);
            self.inner.stderr = self.stderr.take().map(Into::into);
            return self.inner.wait_with_output();
        }
        let (stdout, stderr) = match (self.stdout.take(), self.stderr.take()) {
            (None, None) => (Vec::new(), Vec::new()),
            (Some(out), None) => (read_all(out)?, Vec::new()),
            (None, Some(err)) => (Vec::new(), read_all(err)?),
            (Some(out), Some(err)) => read_both(out, err)?,
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

fn read_all(mut pipe: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    pipe.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads both pipes to their ends at once: standard error on a second green thread (an OS
/// thread on a `Flavor::OsThreads` runtime), cancelled if this one unwinds.
fn read_both(out: ChildStdout, err: ChildStderr) -> io::Result<(Vec<u8>, Vec<u8>)> {
    struct CancelOnDrop(Option<crate::thread::JoinHandle<io::Result<Vec<u8>>>>);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            if let Some(handle) = self.0.take() {
                // Only asks: joining here could park inside an unwind.
                handle.thread().request_cancel();
            }
        }
    }
    let reader = crate::thread::Builder::new()
        .name("zsync-process-stderr".into())
        .spawn(move || read_all(err))?;
    let mut reader = CancelOnDrop(Some(reader));
    let stdout = read_all(out)?;
    let handle = reader.0.take().expect("joined once");
    let stderr = match handle.join() {
        Ok(result) => result?,
        Err(payload) => std::panic::resume_unwind(payload),
    };
    Ok((stdout, stderr))
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.inner.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}

/// `Stdio` from a zsync file, as std has `From<std::fs::File> for Stdio`.
impl From<crate::fs::File> for Stdio {
    fn from(file: crate::fs::File) -> Stdio {
        Stdio::from(std::fs::File::from(file))
    }
}
