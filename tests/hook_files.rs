//! The `hook` feature on regular files: a green thread's `read`, `readv` and `pread64` of a
//! file read what the page cache holds in place, and send a read that would wait for the device
//! to the blocking pool, answering in full as libc's would. Run with `cargo test --release
//! --features hook --test hook_files`.
#![cfg(all(feature = "hook", target_os = "linux"))]

use std::fs::File;
use std::io::{IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

mod common;

const CHILD_VAR: &str = "ZSYNC_HOOK_FILES_CHILD";

/// A file of `len` bytes of a known pattern in a directory of its own; removed on drop.
struct TestFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TestFile {
    fn new(name: &str, len: usize) -> TestFile {
        let dir =
            std::env::temp_dir().join(format!("zsync-hook-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("data");
        let mut f = File::create(&path).unwrap();
        f.write_all(&pattern(0, len)).unwrap();
        f.sync_all().unwrap();
        TestFile { dir, path }
    }
}

impl Drop for TestFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pattern(from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(|i| (i % 251) as u8).collect()
}

/// Drops the file's cached pages in `range` (the file is clean: written and synced), so that
/// reading them waits for the device.
fn evict(file: &File, offset: i64, len: i64) {
    // SAFETY: an open fd; advice only.
    let rc =
        unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0);
}

/// Whether the kernel reads this file system's files with `RWF_NOWAIT` (ext4, xfs, btrfs; not
/// tmpfs): otherwise the hooks read in place and there is no pool path to test.
fn takes_nowait_reads(file: &File) -> bool {
    let mut byte = [0u8];
    let iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: one iovec over a local buffer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_preadv2,
            file.as_raw_fd(),
            &iov,
            1,
            0,
            0,
            libc::RWF_NOWAIT,
        )
    };
    r >= 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN)
}

fn set_errno(value: i32) {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() = value };
}

fn errno() -> i32 {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Cached reads on a green thread: `read`, `readv` and `pread64` return what libc's would, move
/// (or, for `pread64`, keep) the file position as libc's, answer 0 at the end, and leave
/// `errno` alone on success.
#[test]
fn cached_reads_answer_as_libc() {
    let file = TestFile::new("cached", 10_000);
    let path = file.path.clone();
    common::runtime(1).block_on(move || {
        let mut f = File::open(&path).unwrap();
        let mut buf = vec![0u8; 4000];
        set_errno(12345);
        assert_eq!(f.read(&mut buf).unwrap(), 4000);
        assert_eq!(errno(), 12345, "a successful read changed errno");
        assert_eq!(buf, pattern(0, 4000));
        let (mut a, mut b) = (vec![0u8; 1000], vec![0u8; 2000]);
        let n = f
            .read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)])
            .unwrap();
        assert_eq!(n, 3000);
        assert_eq!(a, pattern(4000, 1000));
        assert_eq!(b, pattern(5000, 2000));
        let mut at = vec![0u8; 500];
        assert_eq!(f.read_at(&mut at, 100).unwrap(), 500);
        assert_eq!(at, pattern(100, 500));
        assert_eq!(
            f.stream_position().unwrap(),
            7000,
            "pread moved the position"
        );
        let mut tail = Vec::new();
        assert_eq!(f.read_to_end(&mut tail).unwrap(), 3000);
        assert_eq!(tail, pattern(7000, 3000));
        assert_eq!(f.read(&mut buf).unwrap(), 0, "the end of the file");
        assert_eq!(f.read_at(&mut at, 20_000).unwrap(), 0, "past the end");
        assert_eq!(f.read(&mut []).unwrap(), 0);
        // A directory is not a regular file: the kernel's EISDIR, as libc's.
        let dir = File::open(path.parent().unwrap()).unwrap();
        let e = (&dir).read(&mut buf).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
    });
}

/// Runs `case` of this file as a child process (a fresh process: no blocking-pool thread yet).
fn run_child(case: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([case, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
}

/// A read of bytes the page cache does not hold goes to the blocking pool, and answers in full:
/// one `read` of a range whose first half is cached and second half is not returns all of it
/// (libc's read of a regular file is short only at the end of the file); a cached read that
/// meets the end of the file does not go there. In a child process, so that the pool's threads
/// can be counted from none.
#[test]
fn uncached_reads_go_to_the_blocking_pool_and_answer_in_full() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return run_child("uncached_reads_go_to_the_blocking_pool_and_answer_in_full");
    }
    const LEN: usize = 1 << 20;
    let file = TestFile::new("uncached", LEN);
    let path = file.path.clone();
    common::runtime(1).block_on(move || {
        let mut f = File::open(&path).unwrap();
        if !takes_nowait_reads(&f) {
            println!("skipped: this file system refuses RWF_NOWAIT reads");
            return;
        }
        assert_eq!(common::pool_threads(), 0);
        // All cached (just written), read with room to spare: the short read is the end of
        // the file, found without the pool.
        let mut room = vec![0u8; 2 * LEN];
        assert_eq!(f.read(&mut room).unwrap(), LEN);
        assert_eq!(&room[..LEN], &pattern(0, LEN)[..]);
        assert_eq!(
            common::pool_threads(),
            0,
            "a cached read's end of file went to the pool"
        );
        f.seek(SeekFrom::Start(0)).unwrap();
        // Nothing cached: the whole read on the pool.
        evict(&f, 0, 0);
        let mut buf = vec![0u8; LEN / 2];
        set_errno(777);
        assert_eq!(f.read(&mut buf).unwrap(), LEN / 2);
        assert_eq!(errno(), 777, "a successful read changed errno");
        assert_eq!(buf, pattern(0, LEN / 2));
        assert!(
            common::pool_threads() > 0,
            "the uncached read was made in place"
        );
        // The first half cached (just read), the second evicted: one read returns both.
        f.seek(SeekFrom::Start(0)).unwrap();
        evict(&f, (LEN / 2) as i64, (LEN / 2) as i64);
        let mut all = vec![0u8; LEN];
        assert_eq!(f.read(&mut all).unwrap(), LEN, "a short read");
        assert_eq!(all, pattern(0, LEN));
        // pread64 of an evicted range, at an offset.
        evict(&f, 0, 0);
        let mut at = vec![0u8; 100_000];
        assert_eq!(f.read_at(&mut at, 300_000).unwrap(), 100_000);
        assert_eq!(at, pattern(300_000, 100_000));
        assert_eq!(f.stream_position().unwrap(), LEN as u64);
        // And the end of the file after an evicted range.
        evict(&f, 0, 0);
        let mut over = vec![0u8; 2000];
        assert_eq!(f.read_at(&mut over, (LEN - 1000) as u64).unwrap(), 1000);
        assert_eq!(&over[..1000], &pattern(LEN - 1000, 1000)[..]);
    });
}

/// While one green thread waits for the device, the other green threads of its worker run: a
/// sibling counts its turns through a burst of uncached reads on a 1-worker runtime.
#[test]
fn a_worker_runs_its_other_green_threads_while_a_file_read_waits() {
    let file = TestFile::new("sibling", 4 << 20);
    let path = file.path.clone();
    common::runtime(1).block_on(move || {
        let f = File::open(&path).unwrap();
        if !takes_nowait_reads(&f) {
            println!("skipped: this file system refuses RWF_NOWAIT reads");
            return;
        }
        let turns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sibling = {
            let (turns, stop) = (turns.clone(), stop.clone());
            zsync::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    turns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    zsync::thread::yield_now();
                }
            })
        };
        zsync::thread::yield_now(); // the sibling starts
        let before = turns.load(std::sync::atomic::Ordering::Relaxed);
        let mut buf = vec![0u8; 64 << 10];
        for i in 0..64 {
            evict(&f, 0, 0);
            assert_eq!(f.read_at(&mut buf, i * (64 << 10)).unwrap(), buf.len());
        }
        let during = turns.load(std::sync::atomic::Ordering::Relaxed) - before;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sibling.join().unwrap();
        // Each read parked at least once (the sibling ran then), where a read in place would
        // have given it no turn at all.
        assert!(
            during >= 64,
            "the sibling ran {during} times during 64 device reads"
        );
    });
}
