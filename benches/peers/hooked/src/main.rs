//! B13's zsync child with zsync's `hook` feature on. A cargo feature is per build, so the
//! runner (whose zsync has `hook` off) cannot hold both; it builds this package and runs it
//! as `zsync-peers-hooked micro B13-LATE|B13-OPS zsync WORKERS [--quick]`, like its own children.

#[path = "../../src/hazard_zsync.rs"]
mod hazard_zsync;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert_eq!(
        args.first().map(String::as_str),
        Some("micro"),
        "usage: micro KEY zsync WORKERS"
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
