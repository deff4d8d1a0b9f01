//! The monitor thread's CPU cost on an idle and on a busy runtime: the CPU time of the monitor
//! thread (from /proc/self/task/<tid>/schedstat) over a few seconds of each.
//!
//! ```sh
//! cargo run --release --example monitor_cost
//! ```

use std::time::{Duration, Instant};

/// CPU time of this process's thread named `name`, in seconds: the scheduler's nanosecond
/// count from /proc/self/task/<tid>/schedstat, or utime + stime (clock ticks) from its stat.
fn thread_cpu(name: &str) -> Option<f64> {
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = entry.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim_end() != name {
            continue;
        }
        if let Ok(schedstat) = std::fs::read_to_string(dir.join("schedstat")) {
            let ns: u64 = schedstat.split(' ').next()?.parse().ok()?;
            return Some(ns as f64 / 1e9);
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks = fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        return Some(ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64);
    }
    None
}

fn measure(label: &str, secs: u64, during: impl FnOnce(Duration)) {
    let before = thread_cpu("m-monitor").expect("monitor thread");
    let start = Instant::now();
    during(Duration::from_secs(secs));
    let wall = start.elapsed().as_secs_f64();
    let cpu = thread_cpu("m-monitor").expect("monitor thread") - before;
    println!(
        "{label:<44} monitor CPU {:>7.2} ms over {wall:.1} s = {:.3}% of a core",
        cpu * 1e3,
        cpu / wall * 100.0
    );
}

fn main() {
    let rt = zsync::runtime::Builder::new()
        .thread_name("m")
        .stall_threshold(None)
        .build()
        .unwrap();
    let workers = rt.handle().worker_threads();
    println!("{workers} workers");
    std::thread::sleep(Duration::from_millis(100));

    measure("idle", 5, std::thread::sleep);

    measure("busy: a yield_now loop per worker", 5, |d| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                rt.spawn(move || {
                    let start = Instant::now();
                    while start.elapsed() < d {
                        zsync::thread::yield_now();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });

    measure("busy: a CPU loop per worker (yield requests)", 5, |d| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                rt.spawn(move || {
                    let start = Instant::now();
                    while start.elapsed() < d {
                        zsync::thread::check_cancel();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });

    measure("timers: 100 green threads sleeping 1 ms", 5, |d| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                rt.spawn(move || {
                    let start = Instant::now();
                    while start.elapsed() < d {
                        zsync::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    println!("yields on request or budget: {}", rt.metrics().coop_yields);
}
