//! Lookups of a cached path: `metadata`, opening (and closing) a file that exists,
//! `canonicalize`, and `fs::read` of a cached 4 KiB file (open, read to the end, close), from a
//! green thread (answered in place, see src/fs/lookup.rs), through the blocking pool (where
//! they went before, and still go when the path is not cached or the file system is not
//! local: `zsync::unblock` around std's call, the pool path's own cost), and std's call on a
//! plain OS thread; and `Seek` of an open file the same three ways. `cargo bench --bench fs`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zsync::runtime::Builder;

/// A file in the temporary directory (a local file system), removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn scratch() -> Scratch {
    let path = std::env::temp_dir().join(format!("zsync-bench-fs-{}", std::process::id()));
    std::fs::write(&path, [7u8; 4096]).unwrap();
    Scratch(path)
}

fn lookups(c: &mut Criterion) {
    let file = scratch();
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let mut g = c.benchmark_group("fs_lookup");
    type Op = fn(&std::path::Path);
    let ops: [(&str, Op, Op); 4] = [
        (
            "metadata",
            |p| {
                criterion::black_box(zsync::fs::metadata(p).unwrap());
            },
            |p| {
                criterion::black_box(std::fs::metadata(p).unwrap());
            },
        ),
        (
            "open_close",
            |p| drop(zsync::fs::File::open(p).unwrap()),
            |p| drop(std::fs::File::open(p).unwrap()),
        ),
        (
            "canonicalize",
            |p| drop(zsync::fs::canonicalize(p).unwrap()),
            |p| drop(std::fs::canonicalize(p).unwrap()),
        ),
        (
            "read_4k_file",
            |p| drop(zsync::fs::read(p).unwrap()),
            |p| drop(std::fs::read(p).unwrap()),
        ),
    ];
    for (name, zsync_op, std_op) in ops {
        let path = file.0.clone();
        g.bench_function(format!("{name}/green_thread_in_place"), |b| {
            b.iter_custom(|iters| {
                let path = path.clone();
                rt.block_on(move || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        zsync_op(&path);
                    }
                    start.elapsed()
                })
            })
        });
        g.bench_function(format!("{name}/green_thread_pool"), |b| {
            b.iter_custom(|iters| {
                let path = path.clone();
                rt.block_on(move || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let path = path.clone();
                        zsync::unblock(move || std_op(&path));
                    }
                    start.elapsed()
                })
            })
        });
        g.bench_function(format!("{name}/std_os_thread"), |b| {
            b.iter(|| std_op(&path))
        });
    }
    g.finish();
}

/// `Seek` of an open file (`SeekFrom::End(0)`, which reads the size the inode holds).
fn seeks(c: &mut Criterion) {
    use std::io::{Seek, SeekFrom};
    let file = scratch();
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let mut g = c.benchmark_group("fs_seek");
    let path = file.0.clone();
    g.bench_function("green_thread_in_place", |b| {
        b.iter_custom(|iters| {
            let path = path.clone();
            rt.block_on(move || {
                let mut f = zsync::fs::File::open(&path).unwrap();
                let start = Instant::now();
                for _ in 0..iters {
                    criterion::black_box(f.seek(SeekFrom::End(0)).unwrap());
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("green_thread_pool", |b| {
        b.iter_custom(|iters| {
            let path = path.clone();
            rt.block_on(move || {
                let f = std::sync::Arc::new(std::fs::File::open(&path).unwrap());
                let start = Instant::now();
                for _ in 0..iters {
                    let f = f.clone();
                    criterion::black_box(
                        zsync::unblock(move || (&*f).seek(SeekFrom::End(0))).unwrap(),
                    );
                }
                start.elapsed()
            })
        })
    });
    let mut f = std::fs::File::open(&path).unwrap();
    g.bench_function("std_os_thread", |b| {
        b.iter(|| criterion::black_box(f.seek(SeekFrom::End(0)).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = lookups, seeks
}
criterion_main!(benches);
