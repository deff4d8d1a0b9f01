//! What the scenarios share: how a result becomes the text that is compared, a temporary
//! directory, and the one kind of timing they may show.
//!
//! Nothing here may depend on which API a scenario was compiled against: these helpers are
//! std's and the same in both compilations.

use std::any::Any;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The message of a panic payload (`panic!`'s `&str` or `String`, or an `io::Error`).
pub fn payload(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(err) = payload.downcast_ref::<io::Error>() {
        format!("io::Error {err:?}")
    } else {
        "<non-string payload>".into()
    }
}

/// An error as compared: its kind, its OS error code and its message.
pub fn e(err: &io::Error) -> String {
    format!("Err({:?},os={:?},{})", err.kind(), err.raw_os_error(), err)
}

/// A result as compared: the value's `Debug`, or the error as [`e`] shows it.
pub fn r<T: Debug>(result: io::Result<T>) -> String {
    match result {
        Ok(value) => format!("Ok({value:?})"),
        Err(err) => e(&err),
    }
}

/// A result whose value is not compared (a socket, a file, a child): `Ok`, or the error as
/// [`e`] shows it.
pub fn rk<T>(result: io::Result<T>) -> String {
    match result {
        Ok(_) => "Ok".into(),
        Err(err) => e(&err),
    }
}

/// What `f` returns, or the message it panics with: a panic is behaviour to compare too.
pub fn pc<T: Debug>(f: impl FnOnce() -> T) -> String {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => format!("{value:?}"),
        Err(panic) => format!("PANIC({})", payload(&*panic)),
    }
}

/// Which side of `split` an elapsed time is on. Scenarios use it only where the two behaviours
/// it tells apart are far apart, and put `split` halfway: a call that waits a 100 ms timeout
/// against one that returns at once is split at 50 ms, and waiting cannot make the first one
/// quicker, so only a child held off the CPU for half the gap could land on the wrong side.
pub fn took(elapsed: Duration, split: Duration) -> String {
    if elapsed < split {
        format!("under {split:?}")
    } else {
        format!("{split:?} or more")
    }
}

/// `text` with each run of digits replaced by one `N`: for `Debug` output that shows a file
/// descriptor or a thread id, whose values depend on what else the process has open or started.
pub fn numbers_as_n(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('N') {
            out.push('N');
        }
    }
    out
}

/// A fresh directory under the system's temporary directory, removed with what it holds when
/// dropped (also when the scenario panics). Its path never appears in an output: it differs
/// from one child to the next.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "zsync-differential-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

/// Makes a FIFO at `path` (std has no stable `mkfifo`).
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY (test): a NUL-terminated path that outlives the call.
    let made = unsafe { libc::mkfifo(path.as_ptr(), 0o644) };
    assert_eq!(made, 0, "mkfifo: {}", io::Error::last_os_error());
}

/// Whether the test runs as root (permission checks then pass where they would fail).
pub fn is_root() -> bool {
    // SAFETY (test): geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A pipe whose two ends are in non-blocking mode: (read end, write end).
pub fn nonblocking_pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY (test): pipe2 writes two descriptors into the array it is given.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(made, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY (test): two fresh descriptors that nothing else owns.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// Waits until the child process `pid` has exited, without reaping it: its `Child` still has
/// to learn that (its `kill`, `try_wait` and `wait` then see an exited, unreaped child).
pub fn wait_exited_unreaped(pid: u32) {
    // SAFETY (test): a zeroed siginfo_t is a valid out-parameter for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY (test): waitid on our own child with WNOWAIT leaves it for its owner to reap.
        let done = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if done == 0 {
            return;
        }
        let err = io::Error::last_os_error();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted, "waitid: {err}");
    }
}

/// What [`poll`] returns when nothing came.
pub const NOTHING: &str = "nothing within 5 s";

/// Calls `f` every millisecond until it returns `Some`, for at most 5 s: for what the kernel
/// does a little after a call returns (a reset, an ICMP error coming back over loopback), which
/// is usually there at once but may be deferred on a loaded machine. A behaviour that never
/// comes shows as [`NOTHING`] after the 5 s.
pub fn poll(mut f: impl FnMut() -> Option<String>) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Some(text) = f() {
            return text;
        }
        if start.elapsed() > Duration::from_secs(5) {
            return NOTHING.into();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
