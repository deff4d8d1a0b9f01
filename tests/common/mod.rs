//! Helpers shared by the test files (the `zsync::sync` ones, the hook tests' ticker and pty).
#![allow(dead_code, unused_macros, unused_imports)]

use zsync::runtime::{Builder, Flavor};

/// A green-thread runtime with `workers` workers.
pub fn runtime(workers: usize) -> zsync::Runtime {
    Builder::new().worker_threads(workers).build().unwrap()
}

/// Runs `body` on a plain OS thread, on green threads, and on a `Flavor::OsThreads` runtime.
pub fn on_each_model(body: fn()) {
    body();
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        Builder::new()
            .worker_threads(2)
            .flavor(flavor)
            .build()
            .unwrap()
            .block_on(body);
    }
}

/// A cheap deterministic pseudo-random sequence: each call returns a number below `n`.
pub fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

/// Compiles only if the type does not implement the trait (the call is ambiguous otherwise).
macro_rules! assert_not_impl {
    ($t:ty: $trait:path) => {{
        trait AmbiguousIfImpl<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
        impl<T: ?Sized + $trait> AmbiguousIfImpl<u8> for T {}
        <$t as AmbiguousIfImpl<_>>::some_item();
    }};
}
pub(crate) use assert_not_impl;

/// A 1 ms ticker green thread on the current runtime: it sleeps 1 ms in a loop and records how
/// many ticks it made and how late its worst wake-up was (how long other green threads, or code
/// blocking its worker, held it back).
pub struct Ticker {
    ticks: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    worst_us: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: zsync::thread::JoinHandle<()>,
}

impl Ticker {
    pub fn spawn() -> Ticker {
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let worst_us = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handle = {
            let (ticks, worst_us, stop) = (ticks.clone(), worst_us.clone(), stop.clone());
            zsync::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let before = Instant::now();
                    zsync::thread::sleep(Duration::from_millis(1));
                    let late = before.elapsed().saturating_sub(Duration::from_millis(1));
                    worst_us.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        Ticker {
            ticks,
            worst_us,
            stop,
            handle,
        }
    }

    /// Ticks so far.
    pub fn ticks(&self) -> usize {
        self.ticks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Parks the calling green thread until the ticker has ticked `more` times from now, or 10 s
    /// have passed; says whether it ticked them. Evidence, not a rate: a test that lets a plain
    /// thread go only after this holds on a machine however loaded, and fails (not hangs) when
    /// the worker is blocked.
    pub fn ticked(&self, more: usize) -> bool {
        use std::time::{Duration, Instant};
        let goal = self.ticks() + more;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ticks() < goal {
            if Instant::now() >= deadline {
                return false;
            }
            zsync::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Stops the ticker; returns its tick count and its worst lateness.
    pub fn stop(self) -> (usize, std::time::Duration) {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap();
        (
            self.ticks.load(Ordering::Relaxed),
            std::time::Duration::from_micros(self.worst_us.load(Ordering::Relaxed)),
        )
    }
}

/// A new pseudo-terminal: (master, slave), both read-write and not the controlling terminal.
pub fn open_pty() -> (libc::c_int, libc::c_int) {
    // SAFETY: plain libc calls on fds of our own; ptsname's buffer is read at once.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let name = libc::ptsname(master);
        assert!(!name.is_null());
        let slave = libc::open(name, libc::O_RDWR | libc::O_NOCTTY);
        assert!(slave >= 0);
        (master, slave)
    }
}

/// Drained reads on one worker, for zsync's own stream sockets (tests/net.rs) and std's through
/// the hook (tests/hook.rs): a read shorter than its buffer tells zsync the socket is drained,
/// and the next read waits for readiness without trying first. It must still see data that
/// comes later, and the end of the stream that came with the drained bytes (no new event
/// announces it). `server` has a read timeout of a few seconds, so that a lost wake-up fails
/// the check instead of hanging it.
pub fn check_drained_reads<S>(
    mut server: S,
    mut client: S,
    try_clone: fn(&S) -> S,
    shut_down_writes: fn(&S),
) where
    S: std::io::Read + std::io::Write + Send + 'static,
{
    use std::time::{Duration, Instant};
    let mut buf = [0u8; 64];
    for round in 0..3u8 {
        // The reader waits first (registered, readiness known), then the data comes.
        let mut writer_end = try_clone(&client);
        let writer = zsync::spawn(move || {
            zsync::thread::sleep(Duration::from_millis(10));
            writer_end.write_all(&[round; 5]).unwrap();
        });
        assert_eq!(server.read(&mut buf).unwrap(), 5, "round {round}");
        assert_eq!(&buf[..5], &[round; 5]);
        writer.join().unwrap();
    }
    // Data and the FIN together, seen by the worker's driver before the read drains them.
    client.write_all(b"last").unwrap();
    shut_down_writes(&client);
    zsync::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.read(&mut buf).unwrap(), 4);
    let start = Instant::now();
    assert_eq!(
        server.read(&mut buf).unwrap(),
        0,
        "end of stream after a drained read"
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

/// Counts its drops into the shared counter: shows that a value was dropped, or that a
/// cancelled green thread's stack was unwound.
pub struct DropCounter(pub std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Whether small writes of a green thread with siblings on its worker are made in place for a
/// file under `path`'s directory: `Some(true)` on the file systems this test knows keep writes
/// in the page cache (`Some(false)` with `ZSYNC_FS_IN_PLACE=0`), `None` elsewhere.
pub fn small_writes_in_place(path: &std::path::Path) -> Option<bool> {
    if std::env::var_os("ZSYNC_FS_IN_PLACE").is_some_and(|v| v == "0") {
        return Some(false);
    }
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut fs = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: a valid NUL-terminated path, and room for the answer.
    assert_eq!(unsafe { libc::statfs(c_path.as_ptr(), fs.as_mut_ptr()) }, 0);
    // SAFETY: statfs succeeded.
    let magic = unsafe { fs.assume_init() }.f_type as u32;
    // ext4, tmpfs, xfs, btrfs, overlayfs.
    [0xEF53, 0x0102_1994, 0x5846_5342, 0x9123_683E, 0x794C_7630]
        .contains(&magic)
        .then_some(true)
}

/// A green thread started on the caller's worker and parked there until released: the caller
/// is then not all its worker runs.
pub struct ParkedSibling {
    release: zsync::sync::mpsc::Sender<()>,
    handle: zsync::thread::JoinHandle<()>,
}

impl ParkedSibling {
    /// Parks a new green thread on the calling green thread's worker.
    pub fn park() -> ParkedSibling {
        let (started_tx, started_rx) = zsync::sync::mpsc::channel::<()>();
        let (release, release_rx) = zsync::sync::mpsc::channel::<()>();
        let handle = zsync::spawn(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        // A new green thread starts on its spawner's worker when the spawner parks at once.
        started_rx.recv().unwrap();
        ParkedSibling { release, handle }
    }

    pub fn release(self) {
        self.release.send(()).unwrap();
        self.handle.join().unwrap();
    }
}

/// Waits at most `deadline` for `child` (started with piped stdout and stderr) to exit and
/// returns its output, or, past the deadline, kills it (with its process group if
/// `whole_group`: a child started with `process_group(0)`, whose own children would otherwise
/// hold its pipes open) and returns `Err` with what it printed until then.
pub fn output_within(
    child: std::process::Child,
    deadline: std::time::Duration,
    whole_group: bool,
) -> Result<std::process::Output, std::process::Output> {
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => Ok(out.expect("wait for the child")),
        Err(_) => {
            // SAFETY (test): our own child (or its group), not reaped yet: its waiter has not
            // returned, so the pid is still its.
            unsafe { libc::kill(if whole_group { -pid } else { pid }, libc::SIGKILL) };
            Err(rx.recv().unwrap().expect("wait for the killed child"))
        }
    }
}

/// Writes `data` to `writer` with one `write`, then again as two halves with one
/// `write_vectored`, while a reader that starts 50 ms late drains `reader` on a green thread;
/// asserts that each call wrote all of it (a blocking write is whole, as std's) and returns
/// what the reader got once `writer` is dropped: `data` twice.
pub fn write_whole_plain_and_vectored<W, R>(mut writer: W, mut reader: R, data: &[u8]) -> Vec<u8>
where
    W: std::io::Write,
    R: std::io::Read + Send + 'static,
{
    let drain = zsync::thread::spawn(move || {
        zsync::thread::sleep(std::time::Duration::from_millis(50));
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        all
    });
    assert_eq!(writer.write(data).unwrap(), data.len());
    let (first, second) = data.split_at(data.len() / 2);
    let halves = [std::io::IoSlice::new(first), std::io::IoSlice::new(second)];
    assert_eq!(writer.write_vectored(&halves).unwrap(), data.len());
    drop(writer);
    drain.join().unwrap()
}

/// Threads of zsync's blocking pool in this process (by their name).
pub fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|task| {
            let comm = task.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|name| name.trim_end() == "zsync-blocking")
        })
        .count()
}
