//! zsync::fs on io_uring: the ring is really used when the kernel allows it (and not at all with
//! `ZSYNC_IO_URING=0`), many green threads reading at random offsets get the right bytes, reads
//! of data not (or only partly) in the page cache, which the read that does not wait
//! (`RWF_NOWAIT`) leaves to the ring, get the right bytes too, and a
//! read that never completes (a FIFO nobody writes) is cancelled through the ring, by
//! `JoinHandle::cancel`, by `timeout()` and by dropping the runtime, with the green thread
//! unwinding only after the kernel gave its buffer back.
//!
//! The whole of tests/fs.rs runs both ways too (CI runs it a second time with
//! `ZSYNC_IO_URING=0`).

use std::ffi::CString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::fs::{File, OpenOptions};
use zsync::os::unix::fs::{FileExt, OpenOptionsExt};
use zsync::runtime::Builder;

mod common;
use common::{small_writes_in_place, ParkedSibling};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmpdir() -> TempDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "zsync-uring-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&path).unwrap();
    TempDir(path)
}

fn make_fifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

/// Whether this process may use io_uring: not forced off, and the kernel sets up a ring.
fn uring_expected() -> bool {
    if std::env::var_os("ZSYNC_IO_URING").is_some_and(|v| v == "0") {
        return false;
    }
    // struct io_uring_params is 120 bytes; zeroed asks for nothing special.
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup writes into the 120-byte params block we pass.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        return false;
    }
    // SAFETY: a descriptor we just got and nobody else owns.
    unsafe { libc::close(fd as i32) };
    true
}

/// The byte at `offset` of the test file: varied enough that a read from the wrong place shows.
fn byte_at(offset: u64) -> u8 {
    (offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ (offset as u8)
}

fn make_file(path: &Path, len: u64) {
    let data: Vec<u8> = (0..len).map(byte_at).collect();
    std::fs::write(path, data).unwrap();
}

/// A small xorshift: random offsets without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Drops `path`'s pages from the page cache (written back first), and says whether none is left
/// (mincore on a mapping, which does not bring pages in). A file system may keep them (tmpfs):
/// then the caller cannot expect its reads to wait.
fn drop_from_page_cache(path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    file.sync_all().unwrap();
    let fd = file.as_raw_fd();
    // SAFETY: posix_fadvise only advises about the open descriptor.
    let rc = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise: {rc}");
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: a fresh read-only shared mapping of the whole file, unmapped below; nothing reads
    // through it.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    let mut resident = vec![0u8; len.div_ceil(4096)];
    // SAFETY: `resident` has a byte per page of the mapping (pages are 4 KiB or larger).
    let rc = unsafe { libc::mincore(map, len, resident.as_mut_ptr()) };
    // SAFETY: the mapping made above, of `len` bytes.
    unsafe { libc::munmap(map, len) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    resident.iter().all(|&r| r & 1 == 0)
}

#[test]
fn file_operations_go_through_the_ring_when_the_kernel_allows_it() {
    let dir = tmpdir();
    let path = dir.0.join("f");
    let expected = uring_expected();
    let before = zsync::fs::io_uring_submissions();
    zsync::run(move || {
        let mut file = File::create(&path).unwrap();
        file.write_all(b"hello ring").unwrap();
        file.sync_all().unwrap();
        file.sync_data().unwrap();
        file.write_at(b"R", 6).unwrap();
        let mut file = File::open(&path).unwrap();
        let mut text = [0u8; 10];
        file.read_exact(&mut text).unwrap();
        assert_eq!(&text, b"hello Ring");
        let mut two = [0u8; 2];
        assert_eq!(file.read_at(&mut two, 1).unwrap(), 2);
        assert_eq!(&two, b"el");
    });
    let submitted = zsync::fs::io_uring_submissions() - before;
    if expected {
        // sync_all and sync_data always go to the ring; the writes do unless the file system
        // takes them without waiting (RWF_NOWAIT) or they are made in place (a local file
        // system), and the reads of cached data never do (see the cold-file tests below).
        assert!(
            submitted >= 2,
            "io_uring is available but only {submitted} operations went through it"
        );
    } else {
        assert_eq!(
            submitted, 0,
            "io_uring is off, yet operations went through it"
        );
    }
}

/// A file whose pages are not in the page cache: the read that does not wait (RWF_NOWAIT) says
/// so, the read goes to the ring (or the pool) and waits there, and the bytes are right.
#[test]
fn reads_of_data_not_in_the_page_cache_wait_on_the_ring_and_get_the_bytes() {
    let dir = tmpdir();
    let path = dir.0.join("cold");
    const LEN: u64 = 1 << 20;
    make_file(&path, LEN);
    let cold = drop_from_page_cache(&path);
    let expected = uring_expected() && cold;
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(move || {
        let before = zsync::fs::io_uring_submissions_on_this_worker();
        let mut file = File::open(&path).unwrap();
        // Positional reads scattered over the file, then the whole of it at the position.
        for offset in [LEN - 4096, 300_000, 12_345, 0] {
            let mut buf = [0u8; 4096];
            let n = file.read_at(&mut buf, offset).unwrap();
            assert!(n > 0 && n <= 4096);
            assert!((0..n).all(|i| buf[i] == byte_at(offset + i as u64)));
        }
        let mut all = vec![0u8; LEN as usize];
        file.read_exact(&mut all).unwrap();
        assert!(all.iter().enumerate().all(|(i, &b)| b == byte_at(i as u64)));
        let mut one = [0u8; 1];
        assert_eq!(file.read(&mut one).unwrap(), 0, "end of file");
        if expected {
            assert!(
                zsync::fs::io_uring_submissions_on_this_worker() > before,
                "no read of the cold file went to the ring"
            );
        }
    });
}

/// One worker's ring reuses its operations' buffers: writes and then reads of many sizes, each
/// taking a buffer a larger or smaller operation gave back, carry exactly their own bytes (a
/// reused buffer's old bytes never reach the file, nor the reader's slice beyond the count).
#[test]
fn operations_of_every_size_reusing_the_rings_buffers_carry_their_own_bytes() {
    let dir = tmpdir();
    let path = dir.0.join("sizes");
    const SIZES: [usize; 8] = [12_000, 1, 4096, 3, 16_000, 7, 9000, 2];
    let expected = uring_expected();
    // The writes reach the ring only where the file system refuses writes that do not wait
    // (ext4, tmpfs); elsewhere they are made at once.
    std::fs::write(&path, b"").unwrap();
    let writes_to_ring = expected && nowait_writes_refused(&path);
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let written = {
        let path = path.clone();
        rt.block_on(move || {
            // A sibling parked on the worker: a lone writer writes in place, not on the ring.
            let sibling = ParkedSibling::park();
            let before = zsync::fs::io_uring_submissions_on_this_worker();
            // O_DSYNC: small writes to a local file are made in place otherwise.
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_DSYNC)
                .open(&path)
                .unwrap();
            // Each size at its own offset, with a fill of its own: a byte left over from a
            // larger write shows as a wrong byte or a wrong length.
            let mut offset = 0u64;
            for (k, &len) in SIZES.iter().enumerate() {
                let data = vec![0xA0 + k as u8; len];
                file.write_all_at(&data, offset).unwrap();
                offset += len as u64;
            }
            if writes_to_ring {
                assert!(
                    zsync::fs::io_uring_submissions_on_this_worker() >= before + SIZES.len() as u64,
                    "the small writes did not go to the ring"
                );
            }
            sibling.release();
            offset
        })
    };
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len() as u64, written);
    let mut at = 0;
    for (k, &len) in SIZES.iter().enumerate() {
        assert!(
            data[at..at + len].iter().all(|&b| b == 0xA0 + k as u8),
            "write {k} ({len} bytes)"
        );
        at += len;
    }
    // The same ranges read back cold (through the ring where the page cache lets go), largest
    // buffers first given back, into slices one byte longer than the range, pre-filled. The
    // first read that does not wait starts the kernel's read of the pages and says "would
    // wait"; on a fast disk that read can be done before the call looks again, and then every
    // read hits the cache: so a few tries, each from a cold cache, until one reaches the ring.
    let path = Arc::new(path);
    let (mut reached_ring, mut was_cold) = (false, false);
    for _try in 0..5 {
        let cold = drop_from_page_cache(&path);
        was_cold |= cold;
        let path = Arc::clone(&path);
        let ring = rt.block_on(move || {
            let before = zsync::fs::io_uring_submissions_on_this_worker();
            let file = File::open(&*path).unwrap();
            let mut offset = 0u64;
            for (k, &len) in SIZES.iter().enumerate() {
                let mut buf = vec![0x55u8; len + 1];
                let mut got = 0;
                while got < len {
                    let n = file
                        .read_at(&mut buf[got..len], offset + got as u64)
                        .unwrap();
                    assert!(n > 0, "read {k} ended early");
                    got += n;
                }
                assert!(buf[..len].iter().all(|&b| b == 0xA0 + k as u8), "read {k}");
                assert_eq!(buf[len], 0x55, "read {k} wrote past its slice");
                offset += len as u64;
            }
            zsync::fs::io_uring_submissions_on_this_worker() > before
        });
        reached_ring |= ring;
        if ring || !(expected && cold) {
            break;
        }
    }
    if expected && was_cold {
        assert!(
            reached_ring,
            "no read of the cold file went to the ring, in 5 tries"
        );
    }
}

/// Only the first page of a range is cached: the read that does not wait returns what is
/// cached (a short count, as std's `read` may), and `read_exact_at` / `read_exact` go on
/// through the ring for the rest.
#[test]
fn a_partly_cached_range_is_read_in_full() {
    use std::os::fd::AsRawFd;
    let dir = tmpdir();
    let path = dir.0.join("partly");
    const LEN: u64 = 256 << 10;
    make_file(&path, LEN);
    drop_from_page_cache(&path);
    {
        // Bring in the first page only: no readahead on this descriptor.
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: posix_fadvise only advises about the open descriptor.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
        assert_eq!(rc, 0);
        let mut page = [0u8; 4096];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut page, 0).unwrap();
    }
    zsync::run(move || {
        let file = File::open(&path).unwrap();
        let mut buf = vec![0u8; 64 << 10];
        let n = file.read_at(&mut buf, 0).unwrap();
        assert!(n > 0 && n <= buf.len());
        assert!((0..n).all(|i| buf[i] == byte_at(i as u64)));
        let mut all = vec![0u8; LEN as usize];
        file.read_exact_at(&mut all, 0).unwrap();
        assert!(all.iter().enumerate().all(|(i, &b)| b == byte_at(i as u64)));
        let mut past = [0u8; 2];
        assert_eq!(
            file.read_exact_at(&mut past, LEN - 1).unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    });
}

/// A file opened with `O_DIRECT` is never read by the call that does not wait (that would wait
/// for the device, blocking the worker): its reads go to the ring.
#[test]
fn o_direct_reads_go_to_the_ring() {
    let dir = tmpdir();
    let path = dir.0.join("direct");
    make_file(&path, 64 << 10);
    let expected = uring_expected();
    zsync::run(move || {
        let before = zsync::fs::io_uring_submissions_on_this_worker();
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
        {
            Ok(file) => file,
            // A file system without O_DIRECT (tmpfs): nothing to test here.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return,
            Err(e) => panic!("open: {e}"),
        };
        let mut buf = vec![0u8; 4096];
        // The ring's buffer may not be aligned as O_DIRECT wants (EINVAL); the bytes, if read,
        // are right.
        if let Ok(n) = file.read_at(&mut buf, 8192) {
            assert_eq!(n, 4096);
            assert!((0..n).all(|i| buf[i] == byte_at(8192 + i as u64)));
        }
        if expected {
            assert!(
                zsync::fs::io_uring_submissions_on_this_worker() > before,
                "the O_DIRECT read did not go to the ring"
            );
        }
    });
}

/// Reads of cached data do not park, yet stay park points: a loop of them ends when its
/// `timeout()` expires, and when its green thread is cancelled.
#[test]
fn a_loop_of_cached_reads_is_cancellable() {
    let dir = tmpdir();
    let path = dir.0.join("hot");
    make_file(&path, 4096);
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(move || {
        let file = Arc::new(File::open(&path).unwrap());
        let started = Instant::now();
        let outcome = zsync::time::timeout(Duration::from_millis(30), || loop {
            let mut buf = [0u8; 512];
            file.read_exact_at(&mut buf, 100).unwrap();
            assert_eq!(buf[0], byte_at(100));
        });
        assert!(outcome.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
        let reader = {
            let file = file.clone();
            zsync::spawn(move || loop {
                let mut buf = [0u8; 512];
                assert_eq!(file.read_at(&mut buf, 0).unwrap(), 512);
            })
        };
        zsync::thread::sleep(Duration::from_millis(20));
        let payload = reader.cancel().unwrap_err();
        assert!(payload.is::<zsync::Cancelled>());
    });
}

/// Whether the file system under `path` refuses writes that do not wait (ext4, tmpfs): then a
/// write that is not made in place goes to the ring or the pool.
fn nowait_writes_refused(path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let byte = [0u8; 1];
    let iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    // SAFETY: one iovec over a live byte; the offset is past nothing the test reads.
    let n = unsafe { libc::pwritev2(file.as_raw_fd(), &iov, 1, 1 << 30, libc::RWF_NOWAIT) };
    let refused = n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP);
    file.set_len(0).unwrap();
    refused
}

/// A green thread that is all its worker runs writes a regular file in place, as std does:
/// no ring submission and no park per write (the worker's switch count does not grow with
/// them), small writes and 1 MiB ones alike, and the bytes land. With a sibling started on
/// its worker, its small writes are made in place too on a local file system, and go to the
/// ring with `ZSYNC_FS_IN_PLACE=0` (where the file system refuses writes that do not wait).
#[test]
fn a_green_thread_alone_on_its_worker_writes_in_place() {
    const SMALL: usize = 100;
    const WRITES: usize = 300;
    const LARGE: usize = 1 << 20;
    let dir = tmpdir();
    let path = dir.0.join("alone");
    std::fs::write(&path, b"").unwrap();
    let to_ring = uring_expected() && nowait_writes_refused(&path);
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let handle = rt.handle();
    let path2 = path.clone();
    rt.block_on(move || {
        let mut file = File::create(&path2).unwrap();
        // The first write learns what the file is (on the pool, once per file).
        file.write_all(&[0u8; SMALL]).unwrap();
        let submissions = zsync::fs::io_uring_submissions_on_this_worker();
        let switches = handle.metrics().switches;
        for i in 1..WRITES {
            file.write_all(&[i as u8; SMALL]).unwrap();
        }
        file.write_all(&vec![0xEE; LARGE]).unwrap();
        assert_eq!(
            zsync::fs::io_uring_submissions_on_this_worker(),
            submissions,
            "a write of a green thread alone on its worker went to the ring"
        );
        let parked = handle.metrics().switches - switches;
        assert!(
            parked < 20,
            "{parked} switches for {WRITES} writes made in place"
        );
        let sibling = ParkedSibling::park();
        let slow = zsync::fs::in_place_slow_writes();
        let submissions = zsync::fs::io_uring_submissions_on_this_worker();
        for _ in 0..10 {
            file.write_all(&[0xDD; SMALL]).unwrap();
        }
        let submitted = zsync::fs::io_uring_submissions_on_this_worker() - submissions;
        // A write over 1 ms (a loaded machine) sends the next ones to the ring for a while.
        let slow = zsync::fs::in_place_slow_writes() > slow;
        match small_writes_in_place(&path2) {
            Some(true) if slow => {}
            Some(true) => assert_eq!(
                submitted, 0,
                "small writes to a local file went to the ring"
            ),
            Some(false) if to_ring => assert!(
                submitted >= 10,
                "the writes of a green thread with a sibling did not go to the ring"
            ),
            _ => {}
        }
        sibling.release();
    });
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len(), WRITES * SMALL + LARGE + 10 * SMALL);
    for i in 0..WRITES {
        assert!(
            data[i * SMALL..(i + 1) * SMALL]
                .iter()
                .all(|&b| b == i as u8),
            "write {i}"
        );
    }
    let large = &data[WRITES * SMALL..WRITES * SMALL + LARGE];
    assert!(large.iter().all(|&b| b == 0xEE));
    assert!(data[WRITES * SMALL + LARGE..].iter().all(|&b| b == 0xDD));
}

/// A green thread with a parked sibling on its worker makes small writes to a local file in
/// place: no ring submission and no switch per write, and the bytes land (write, write_all,
/// write_at and write_vectored). A file opened with `O_DSYNC` (each write waits for the
/// device) is never written in place: its small writes go to the ring.
#[test]
fn small_writes_with_a_sibling_are_made_in_place_on_a_local_file_system() {
    const WRITES: usize = 200;
    let dir = tmpdir();
    let path = dir.0.join("shared");
    let synced = dir.0.join("synced");
    std::fs::write(&synced, b"").unwrap();
    let in_place = small_writes_in_place(&dir.0);
    let to_ring = uring_expected() && nowait_writes_refused(&synced);
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let handle = rt.handle();
    let (path2, synced2) = (path.clone(), synced.clone());
    rt.block_on(move || {
        use std::io::IoSlice;
        let sibling = ParkedSibling::park();
        let mut file = File::create(&path2).unwrap();
        // The first write learns what the file is (on the pool, once per file).
        file.write_all(&[0u8; 10]).unwrap();
        let slow = zsync::fs::in_place_slow_writes();
        let submissions = zsync::fs::io_uring_submissions_on_this_worker();
        let switches = handle.metrics().switches;
        for i in 1..WRITES {
            match i % 3 {
                0 => file.write_all(&[i as u8; 10]).unwrap(),
                1 => assert_eq!(file.write(&[i as u8; 10]).unwrap(), 10),
                _ => {
                    let (a, b) = ([i as u8; 4], [i as u8; 6]);
                    let n = file
                        .write_vectored(&[IoSlice::new(&a), IoSlice::new(&b)])
                        .unwrap();
                    assert_eq!(n, 10);
                }
            }
        }
        file.write_all_at(&[0xAB; 10], 0).unwrap();
        let submitted = zsync::fs::io_uring_submissions_on_this_worker() - submissions;
        let switched = handle.metrics().switches - switches;
        // Unless one was slow (a loaded machine): then the next went to the ring for a while.
        if in_place == Some(true) && zsync::fs::in_place_slow_writes() == slow {
            assert_eq!(
                submitted, 0,
                "a small write to a local file went to the ring"
            );
            assert!(
                switched < 20,
                "{switched} switches for {WRITES} writes in place"
            );
        }
        let synced = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DSYNC)
            .open(&synced2)
            .unwrap();
        let submissions = zsync::fs::io_uring_submissions_on_this_worker();
        for k in 0..5u64 {
            synced.write_all_at(&[k as u8; 10], k * 10).unwrap();
        }
        if to_ring {
            assert!(
                zsync::fs::io_uring_submissions_on_this_worker() >= submissions + 5,
                "the small writes to an O_DSYNC file did not go to the ring"
            );
        }
        sibling.release();
    });
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len(), WRITES * 10);
    assert!(data[..10].iter().all(|&b| b == 0xAB));
    for i in 1..WRITES {
        assert!(
            data[i * 10..(i + 1) * 10].iter().all(|&b| b == i as u8),
            "write {i}"
        );
    }
    let synced = std::fs::read(&synced).unwrap();
    assert_eq!(synced.len(), 50);
    assert!((0..5).all(|k| synced[k * 10..(k + 1) * 10].iter().all(|&b| b == k as u8)));
}

/// A write made in place is still a park point, checked before it writes: a loop of them by a
/// green thread alone on its worker ends when its `timeout()` expires, and when it is
/// cancelled from another OS thread.
#[test]
fn a_loop_of_writes_alone_on_a_worker_is_cancellable() {
    let dir = tmpdir();
    let path = dir.0.join("loop");
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let file = {
        let path = path.clone();
        rt.block_on(move || Arc::new(File::create(&path).unwrap()))
    };
    {
        let file = file.clone();
        rt.block_on(move || {
            let started = Instant::now();
            // Bounded, so that a write that is no park point fails the test instead of hanging.
            let outcome = zsync::time::timeout(Duration::from_millis(30), || {
                for _ in 0..5_000_000 {
                    file.write_all_at(&[1u8; 64], 0).unwrap();
                }
            });
            assert!(outcome.is_err());
            assert!(started.elapsed() < Duration::from_secs(5));
        });
    }
    let writer = rt.spawn(move || {
        for _ in 0..5_000_000 {
            file.write_all_at(&[2u8; 64], 0).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let payload = writer.cancel().unwrap_err();
    assert!(payload.is::<zsync::Cancelled>());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 64);
}

/// A pipe takes writes that need no wait (RWF_NOWAIT) until it is full; the rest of a large
/// `write_all` waits (on the pool) until a reader on another green thread drains it, and the
/// reader gets every byte in order.
#[test]
fn a_write_all_to_a_full_pipe_waits_for_the_reader() {
    let dir = tmpdir();
    let fifo = dir.0.join("fifo");
    make_fifo(&fifo);
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(move || {
        let file = Arc::new(open_fifo(&fifo));
        const LEN: u64 = 1 << 20;
        let data: Vec<u8> = (0..LEN).map(byte_at).collect();
        let writer = {
            let file = file.clone();
            zsync::spawn(move || (&*file).write_all(&data).unwrap())
        };
        let mut got = vec![0u8; LEN as usize];
        (&*file).read_exact(&mut got).unwrap();
        writer.join().unwrap();
        assert!(got.iter().enumerate().all(|(i, &b)| b == byte_at(i as u64)));
    });
}

fn random_reads(workers: usize) {
    const FILE_LEN: u64 = 8 << 20;
    const BLOCK: usize = 4096;
    const THREADS: u64 = 64;
    const READS: usize = 200;
    let dir = tmpdir();
    let path = dir.0.join("data");
    make_file(&path, FILE_LEN);
    let rt = Builder::new().worker_threads(workers).build().unwrap();
    rt.block_on(move || {
        let file = Arc::new(File::open(&path).unwrap());
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (file, path) = (file.clone(), path.clone());
                zsync::spawn(move || {
                    let mut rng = Rng(0x1234_5678 + t * 7919);
                    let mut buf = vec![0u8; BLOCK];
                    // Half the threads read at offsets on the shared file; the other half seek
                    // their own file and read at its position.
                    let mut own = File::open(&path).unwrap();
                    for _ in 0..READS {
                        let offset = rng.next() % (FILE_LEN - BLOCK as u64);
                        if t % 2 == 0 {
                            file.read_exact_at(&mut buf, offset).unwrap();
                        } else {
                            own.seek(SeekFrom::Start(offset)).unwrap();
                            own.read_exact(&mut buf).unwrap();
                        }
                        for (i, &b) in buf.iter().enumerate() {
                            assert_eq!(b, byte_at(offset + i as u64), "offset {offset} + {i}");
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn sixty_four_green_threads_read_random_blocks_on_one_worker() {
    random_reads(1);
}

#[test]
fn sixty_four_green_threads_read_random_blocks_on_two_workers() {
    random_reads(2);
}

/// Writes at the file position from several green threads to their own files, then a check
/// with std: positions advance as with write(2).
#[test]
fn writes_at_the_file_position_advance_it() {
    let dir = tmpdir();
    let base = dir.0.clone();
    zsync::run(move || {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let path = base.join(format!("w{t}"));
                zsync::spawn(move || {
                    let mut file = File::create(&path).unwrap();
                    for i in 0..100u32 {
                        file.write_all(&i.to_le_bytes()).unwrap();
                    }
                    assert_eq!(file.stream_position().unwrap(), 400);
                    file.sync_data().unwrap();
                    drop(file);
                    let data = std::fs::read(&path).unwrap();
                    let expected: Vec<u8> = (0..100u32).flat_map(|i| i.to_le_bytes()).collect();
                    assert_eq!(data, expected);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

/// Sets a flag when dropped: the green thread's frame went away.
struct Flag(Arc<AtomicBool>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// How many bytes wait in the pipe behind `file` (`FIONREAD`).
fn bytes_in_pipe(file: &File) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at `n`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}

/// Opens a FIFO for reading and writing: the open does not wait for a writer, and a read waits
/// for data nobody writes (in io_uring too: it goes to the kernel's worker pool).
fn open_fifo(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

#[test]
fn a_read_cancelled_mid_flight_is_cancelled_in_the_kernel() {
    let dir = tmpdir();
    let fifo = dir.0.join("fifo");
    make_fifo(&fifo);
    let unwound = Arc::new(AtomicBool::new(false));
    let before = zsync::fs::io_uring_submissions();
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let file = rt.block_on({
        let (fifo, unwound) = (fifo.clone(), unwound.clone());
        move || {
            let file = Arc::new(open_fifo(&fifo));
            let reader = {
                let file = file.clone();
                zsync::spawn(move || {
                    let _flag = Flag(unwound);
                    let mut buf = [0u8; 8];
                    (&*file).read(&mut buf)
                })
            };
            zsync::thread::sleep(Duration::from_millis(50));
            let started = Instant::now();
            let payload = reader.cancel().unwrap_err();
            assert!(payload.is::<zsync::Cancelled>());
            assert!(started.elapsed() < Duration::from_secs(5));
            match Arc::try_unwrap(file) {
                Ok(file) => file,
                Err(_) => panic!("the operation did not give the file back"),
            }
        }
    });
    assert!(
        unwound.load(Ordering::SeqCst),
        "the reader's destructors ran"
    );
    drop(rt);
    if uring_expected() {
        assert!(zsync::fs::io_uring_submissions() > before);
        // The read was cancelled in the kernel: it took nothing. What is written now is read
        // in full by the next reader.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .unwrap()
            .write_all(b"ab")
            .unwrap();
        let got = zsync::run(move || {
            let mut two = [0u8; 2];
            (&file).read_exact(&mut two).unwrap();
            two
        });
        assert_eq!(&got, b"ab");
    } else {
        // On the pool the abandoned read still waits: release it.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        drop(file);
    }
}

#[test]
fn a_timeout_around_a_ring_read_cancels_it_and_raises_afterwards() {
    let dir = tmpdir();
    let fifo = dir.0.join("fifo");
    make_fifo(&fifo);
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let expected = uring_expected();
    rt.block_on(move || {
        let file = open_fifo(&fifo);
        for _ in 0..3 {
            let started = Instant::now();
            let mut one = [0u8; 1];
            let outcome =
                zsync::time::timeout(Duration::from_millis(30), || (&file).read(&mut one));
            assert!(outcome.is_err(), "the read returned: {outcome:?}");
            assert!(started.elapsed() >= Duration::from_millis(30));
            assert!(started.elapsed() < Duration::from_secs(5));
            if !expected {
                // On the pool each abandoned read waits for a byte: give it one, and wait until
                // it is taken. The abandoned job may still sit in the pool's queue (other tests
                // keep the pool busy), so a fixed pause could let the next read take the byte.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&fifo)
                    .unwrap()
                    .write_all(b"x")
                    .unwrap();
                let deadline = Instant::now() + Duration::from_secs(20);
                while bytes_in_pipe(&file) > 0 {
                    assert!(
                        Instant::now() < deadline,
                        "the abandoned read never took its byte"
                    );
                    zsync::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        if expected {
            // Nothing was consumed by the three cancelled reads.
            (&file).write_all(b"z").unwrap();
            let mut one = [0u8; 1];
            (&file).read_exact(&mut one).unwrap();
            assert_eq!(&one, b"z");
        }
    });
}

/// A runtime dropped while green threads wait on reads that never complete: shutdown cancels
/// them, each cancels its SQE and waits for the completion, and the drop finishes.
#[test]
fn dropping_the_runtime_with_reads_in_flight() {
    let dir = tmpdir();
    let fifo = dir.0.join("fifo");
    make_fifo(&fifo);
    let unwound = Arc::new(AtomicUsize::new(0));
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let file = Arc::new(open_fifo(&fifo));
    for _ in 0..8 {
        let (file, unwound) = (file.clone(), unwound.clone());
        rt.spawn(move || {
            struct Count(Arc<AtomicUsize>);
            impl Drop for Count {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let _count = Count(unwound);
            let mut buf = vec![0u8; 4096];
            let _ = (&*file).read(&mut buf);
        });
    }
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    drop(rt);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(unwound.load(Ordering::SeqCst), 8);
    if !uring_expected() {
        // On the pool the abandoned reads still wait: release them.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        writer.write_all(&[0u8; 8 * 4096]).unwrap();
    }
}

/// Thousands of green threads reading a file on one worker, its pages dropped from the page
/// cache first (so that many of the reads wait, on the ring or the pool): each gets its bytes.
#[test]
fn three_thousand_readers_of_a_cold_file_on_one_worker() {
    let dir = tmpdir();
    let path = dir.0.join("data");
    make_file(&path, 1 << 20);
    drop_from_page_cache(&path);
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(move || {
        let file = Arc::new(File::open(&path).unwrap());
        let handles: Vec<_> = (0..3000u64)
            .map(|t| {
                let file = file.clone();
                zsync::spawn(move || {
                    let offset = (t * 4099) % ((1 << 20) - 512);
                    let mut buf = [0u8; 512];
                    file.read_exact_at(&mut buf, offset).unwrap();
                    assert!(buf
                        .iter()
                        .enumerate()
                        .all(|(i, &b)| b == byte_at(offset + i as u64)));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

/// More operations in flight than the ring's completion queue holds (512): 3000 green threads
/// each wait on a one-byte read of an empty FIFO; when the bytes arrive all complete at once,
/// the completions that overflow wait in the kernel, and every one is still delivered.
#[test]
fn more_reads_at_once_than_the_completion_queue_holds() {
    const READERS: usize = 3000;
    let dir = tmpdir();
    let fifo = dir.0.join("fifo");
    make_fifo(&fifo);
    let expected = uring_expected();
    let before = zsync::fs::io_uring_submissions();
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(move || {
        let file = Arc::new(open_fifo(&fifo));
        let handles: Vec<_> = (0..READERS)
            .map(|_| {
                let file = file.clone();
                zsync::spawn(move || {
                    let mut one = [0u8; 1];
                    (&*file).read_exact(&mut one).unwrap();
                    one[0]
                })
            })
            .collect();
        if expected {
            // Every reader has its read in flight before a byte arrives.
            let started = Instant::now();
            while zsync::fs::io_uring_submissions() - before < READERS as u64 {
                assert!(started.elapsed() < Duration::from_secs(10));
                zsync::thread::sleep(Duration::from_millis(5));
            }
        }
        let bytes: Vec<u8> = (0..READERS).map(|i| (i % 251) as u8).collect();
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        std::io::Write::write_all(&mut writer, &bytes).unwrap();
        let mut got: Vec<u8> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut sent = bytes;
        got.sort_unstable();
        sent.sort_unstable();
        assert_eq!(got, sent);
    });
}
