//! The runner's zsync children with zsync's `hook` feature on. A cargo feature is per build, so
//! the runner (whose zsync has `hook` off) cannot hold both; it builds this package and runs it
//! like its own children: `zsync-peers-hooked micro B13-LATE|B13-OPS zsync WORKERS [--quick]`
//! (B13) or `zsync-peers-hooked server zsync echo|http WORKERS ADDR` (B7's hook rows: std's own
//! net types on green threads).

#[path = "../../src/blocking_server.rs"]
mod blocking_server;
#[path = "../../src/hazard_zsync.rs"]
mod hazard_zsync;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("server") {
        let (kind, workers, addr) = (&args[2], &args[3], &args[4]);
        let workers = workers.parse().expect("worker count");
        blocking_server::std_on_zsync(addr, kind == "http", workers);
        return;
    }
    assert_eq!(
        args.first().map(String::as_str),
        Some("micro"),
        "usage: micro KEY zsync WORKERS | server zsync KIND WORKERS ADDR"
    );
    let key = args[1].as_str();
    let workers: usize = args[3].parse().expect("worker count");
    let scale = if args.iter().any(|a| a == "--quick") {
        10
    } else {
        1
    };
    let outcome = hazard_zsync::run(hazard_zsync::B13_PAIRS / scale, workers);
    println!("{}", outcome.figure(key));
}
