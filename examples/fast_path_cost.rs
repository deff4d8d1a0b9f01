//! Nanoseconds per uncontended fast-path call on a green thread (what the monitor's yield
//! check adds to), and per `yield_now` round trip between two green threads on one worker.
//!
//! ```sh
//! cargo run --release --example fast_path_cost
//! ```

use std::hint::black_box;
use std::time::Instant;

fn per_op(label: &str, n: u64, f: impl FnOnce()) {
    let start = Instant::now();
    f();
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{label:<40} {ns:>7.2} ns");
}

fn main() {
    let rt = zsync::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(|| {
        const N: u64 = 20_000_000;
        for _ in 0..2 {
            let m = zsync::sync::Mutex::new(0u64);
            per_op("Mutex::lock + unlock", N, || {
                for _ in 0..N {
                    *black_box(&m).lock().unwrap() += 1;
                }
            });
            per_op("Mutex::try_lock + unlock", N, || {
                for _ in 0..N {
                    drop(black_box(&m).try_lock());
                }
            });
            let (tx, rx) = zsync::sync::mpsc::channel::<u64>();
            per_op("channel send + try_recv", N / 4, || {
                for i in 0..N / 4 {
                    tx.send(i).unwrap();
                    black_box(rx.try_recv().unwrap());
                }
            });
            per_op("check_cancel", N, || {
                for _ in 0..N {
                    zsync::thread::check_cancel();
                }
            });
            let other = zsync::spawn(|| {
                for _ in 0..1_000_000 {
                    zsync::thread::yield_now();
                }
            });
            per_op("yield_now (two green threads)", 2_000_000, || {
                for _ in 0..1_000_000 {
                    zsync::thread::yield_now();
                }
                other.join().unwrap();
            });
        }
    });
}
