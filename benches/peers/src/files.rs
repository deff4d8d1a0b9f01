//! B12 files: random 4 KiB reads of a 256 MiB file by 64 tasks (warm page cache), a copy of
//! that file in 1 MiB blocks, and 64 MiB written in 4 KiB writes by a task with a waiting
//! sibling, on zsync::fs (io_uring or, with `ZSYNC_IO_URING=0` set on the child, the blocking
//! pool), tokio::fs and std on OS threads.
//!
//! The runner makes the file once per run (`prepare`) in a directory under the system's temp
//! directory, passes the directory to each child in `DIR_VAR` and removes it at the end; each
//! child reads the whole file once before timing so that the page cache is warm.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The environment variable that tells a child where the run's files are.
pub const DIR_VAR: &str = "ZSYNC_PEERS_B12_DIR";
/// The size of the file read and copied.
pub const FILE_SIZE: u64 = 256 << 20;
/// The size of one random read.
const BLOCK: usize = 4096;
/// The size of one block of the copy.
const COPY_BLOCK: usize = 1 << 20;
/// Bytes written by B12's small writes, in blocks of [`BLOCK`].
const WRITTEN: usize = 64 << 20;
/// The number of concurrent readers.
pub const B12_TASKS: usize = 64;
/// Random reads in total (shared evenly by the readers).
pub const B12_READS: usize = 1_280_000;

/// The run's directory with its 256 MiB file; removed (with anything left in it) when dropped.
pub struct Files {
    pub dir: PathBuf,
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Makes the run's directory and the file (pseudo-random bytes, synced to disk so that no
/// write-back runs during the measurements).
pub fn prepare() -> Files {
    let dir = std::env::temp_dir().join(format!("zsync-peers-b12-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the B12 directory");
    let files = Files { dir };
    let mut file = std::fs::File::create(source(&files.dir)).expect("create the B12 file");
    let mut block = vec![0u8; COPY_BLOCK];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..FILE_SIZE / COPY_BLOCK as u64 {
        for chunk in block.chunks_mut(8) {
            state = xorshift(state);
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block).expect("write the B12 file");
    }
    file.sync_all().expect("sync the B12 file");
    files
}

fn source(dir: &Path) -> PathBuf {
    dir.join("source")
}

fn dir_from_env() -> PathBuf {
    PathBuf::from(std::env::var_os(DIR_VAR).expect("the runner sets ZSYNC_PEERS_B12_DIR"))
}

/// Reads the whole file once, so that the timed part finds it in the page cache.
fn warm(path: &Path) {
    let mut file = std::fs::File::open(path).expect("open the B12 file");
    let mut block = vec![0u8; COPY_BLOCK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut block).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, FILE_SIZE, "the B12 file is incomplete");
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// The random block-aligned offsets reader `task` visits, one per call.
struct Offsets(u64);

impl Offsets {
    fn new(task: usize) -> Offsets {
        Offsets(0x2545_f491_4f6c_dd1d ^ ((task as u64 + 1) * 0x9e37_79b9_7f4a_7c15))
    }

    fn next(&mut self) -> u64 {
        self.0 = xorshift(self.0);
        (self.0 % (FILE_SIZE / BLOCK as u64)) * BLOCK as u64
    }
}

/// Before the timed part: an fsync of `file` (clean, so it costs next to nothing), which goes to
/// the worker's ring when there is one, for [`check_zsync_path`]. Reads of cached data (and writes
/// that need no wait) go through neither the ring nor the pool (`RWF_NOWAIT`), so the timed part
/// alone may submit nothing.
fn probe_ring(file: &zsync::fs::File) {
    file.sync_data().unwrap();
}

/// zsync on io_uring must really be on io_uring (a kernel that refuses it would otherwise make
/// that row a second pool row), and on the pool really on the pool.
fn check_zsync_path() {
    let pool = std::env::var("ZSYNC_IO_URING").is_ok_and(|v| v == "0");
    let submitted = zsync::fs::io_uring_submissions();
    if pool {
        assert_eq!(submitted, 0, "ZSYNC_IO_URING=0 but io_uring was used");
    } else if submitted == 0 {
        eprintln!(
            "  (zsync B12: io_uring is unavailable here; not reporting a pool figure as io_uring)"
        );
        std::process::exit(1);
    }
}

/// 64 tasks reading `reads` 4 KiB blocks in total at random offsets: reads per second.
pub fn b12_read(implementation: &str, reads: usize, workers: usize) -> f64 {
    let path = source(&dir_from_env());
    warm(&path);
    let per_task = reads / B12_TASKS;
    let total = per_task * B12_TASKS;
    let start;
    match implementation {
        "zsync" => {
            let rt = crate::micro::zsync_rt(workers);
            start = rt.block_on(move || {
                let file = Arc::new(zsync::fs::File::open(&path).unwrap());
                probe_ring(&file);
                let start = Instant::now();
                let handles: Vec<_> = (0..B12_TASKS)
                    .map(|task| {
                        let file = file.clone();
                        zsync::spawn(move || {
                            let mut offsets = Offsets::new(task);
                            let mut buf = [0u8; BLOCK];
                            for _ in 0..per_task {
                                file.read_exact_at(&mut buf, offsets.next()).unwrap();
                            }
                        })
                    })
                    .collect();
                handles.into_iter().for_each(|h| h.join().unwrap());
                start
            });
            check_zsync_path();
        }
        "tokio" => {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            start = crate::micro::tokio_rt(workers).block_on(async move {
                // tokio::fs has no positional read: each reader has its own File, and a read
                // is a seek and a read.
                let mut files = Vec::new();
                for _ in 0..B12_TASKS {
                    files.push(tokio::fs::File::open(&path).await.unwrap());
                }
                let start = Instant::now();
                let handles: Vec<_> = files
                    .into_iter()
                    .enumerate()
                    .map(|(task, mut file)| {
                        tokio::spawn(async move {
                            let mut offsets = Offsets::new(task);
                            let mut buf = [0u8; BLOCK];
                            for _ in 0..per_task {
                                file.seek(std::io::SeekFrom::Start(offsets.next()))
                                    .await
                                    .unwrap();
                                file.read_exact(&mut buf).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                start
            });
        }
        _ => {
            let file = Arc::new(std::fs::File::open(&path).unwrap());
            start = Instant::now();
            let handles: Vec<_> = (0..B12_TASKS)
                .map(|task| {
                    let file = file.clone();
                    std::thread::spawn(move || {
                        let mut offsets = Offsets::new(task);
                        let mut buf = [0u8; BLOCK];
                        for _ in 0..per_task {
                            file.read_exact_at(&mut buf, offsets.next()).unwrap();
                        }
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
        }
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Copies the 256 MiB file in 1 MiB blocks (read a block, write it) on one task: MiB per
/// second. The copy is not synced to disk (the page cache takes it, as it does the reads); it
/// is removed at the end.
pub fn b12_copy(implementation: &str, workers: usize) -> f64 {
    let dir = dir_from_env();
    let (from, to) = (
        source(&dir),
        dir.join(format!("copy-{}", std::process::id())),
    );
    warm(&from);
    let to2 = to.clone();
    let (elapsed, copied) = match implementation {
        "zsync" => {
            let rt = crate::micro::zsync_rt(workers);
            let result = rt.block_on(move || {
                probe_ring(&zsync::fs::File::open(&from).unwrap());
                let start = Instant::now();
                let mut src = zsync::fs::File::open(&from).unwrap();
                let mut dst = zsync::fs::File::create(&to2).unwrap();
                let mut buf = vec![0u8; COPY_BLOCK];
                let mut copied = 0u64;
                loop {
                    let n = src.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    dst.write_all(&buf[..n]).unwrap();
                    copied += n as u64;
                }
                drop(dst);
                (start.elapsed(), copied)
            });
            check_zsync_path();
            result
        }
        "tokio" => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            crate::micro::tokio_rt(workers).block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    let mut src = tokio::fs::File::open(&from).await.unwrap();
                    let mut dst = tokio::fs::File::create(&to2).await.unwrap();
                    let mut buf = vec![0u8; COPY_BLOCK];
                    let mut copied = 0u64;
                    loop {
                        let n = src.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        dst.write_all(&buf[..n]).await.unwrap();
                        copied += n as u64;
                    }
                    // tokio's File writes in the background: wait for the last write.
                    dst.flush().await.unwrap();
                    drop(dst);
                    (start.elapsed(), copied)
                })
                .await
                .unwrap()
            })
        }
        _ => {
            let start = Instant::now();
            let mut src = std::fs::File::open(&from).unwrap();
            let mut dst = std::fs::File::create(&to2).unwrap();
            let mut buf = vec![0u8; COPY_BLOCK];
            let mut copied = 0u64;
            loop {
                let n = src.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                dst.write_all(&buf[..n]).unwrap();
                copied += n as u64;
            }
            drop(dst);
            (start.elapsed(), copied)
        }
    };
    assert_eq!(copied, FILE_SIZE);
    assert_eq!(std::fs::metadata(&to).unwrap().len(), FILE_SIZE);
    std::fs::remove_file(&to).unwrap();
    (FILE_SIZE >> 20) as f64 / elapsed.as_secs_f64()
}

/// Writes 64 MiB in 4 KiB `write_all` calls to a new file on one task while another task of the
/// same runtime waits (on zsync a green thread parked on the writer's worker, so the writer is
/// not all its worker runs): MiB per second. Not synced, removed at the end.
pub fn b12_write(implementation: &str, workers: usize) -> f64 {
    let dir = dir_from_env();
    let to = dir.join(format!("small-{}", std::process::id()));
    let to2 = to.clone();
    let block = vec![0x5Au8; BLOCK];
    let elapsed = match implementation {
        "zsync" => {
            let rt = crate::micro::zsync_rt(workers);
            rt.block_on(move || {
                let (started_tx, started_rx) = zsync::sync::mpsc::channel::<()>();
                let (release, release_rx) = zsync::sync::mpsc::channel::<()>();
                let sibling = zsync::spawn(move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                });
                // The spawner parks at once, so the sibling starts on its worker.
                started_rx.recv().unwrap();
                let start = Instant::now();
                let mut file = zsync::fs::File::create(&to2).unwrap();
                for _ in 0..WRITTEN / BLOCK {
                    file.write_all(&block).unwrap();
                }
                drop(file);
                let elapsed = start.elapsed();
                release.send(()).unwrap();
                sibling.join().unwrap();
                elapsed
            })
        }
        "tokio" => {
            use tokio::io::AsyncWriteExt;
            crate::micro::tokio_rt(workers).block_on(async move {
                let (release, wait) = tokio::sync::oneshot::channel::<()>();
                let sibling = tokio::spawn(async move { wait.await.unwrap() });
                let elapsed = tokio::spawn(async move {
                    let start = Instant::now();
                    let mut file = tokio::fs::File::create(&to2).await.unwrap();
                    for _ in 0..WRITTEN / BLOCK {
                        file.write_all(&block).await.unwrap();
                    }
                    // tokio's File writes in the background: wait for the last write.
                    file.flush().await.unwrap();
                    drop(file);
                    start.elapsed()
                })
                .await
                .unwrap();
                release.send(()).unwrap();
                sibling.await.unwrap();
                elapsed
            })
        }
        _ => {
            let start = Instant::now();
            let mut file = std::fs::File::create(&to2).unwrap();
            for _ in 0..WRITTEN / BLOCK {
                file.write_all(&block).unwrap();
            }
            drop(file);
            start.elapsed()
        }
    };
    assert_eq!(std::fs::metadata(&to).unwrap().len(), WRITTEN as u64);
    std::fs::remove_file(&to).unwrap();
    (WRITTEN >> 20) as f64 / elapsed.as_secs_f64()
}
