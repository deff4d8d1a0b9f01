//! zsync's std-shaped APIs behave exactly as std's: the same calls give the same results, on a
//! plain OS thread and on a green thread.
//!
//! Each scenario is a function written once, in a file of tests/std_differential/, and compiled
//! twice: against std (module `with_std`, whose `api` re-exports `std::net`, `std::fs`, ...)
//! and against zsync (`with_zsync`, the same names from zsync). A scenario makes calls, edge
//! cases mostly (bad input, timeouts of zero and of `Duration::MAX`, closed peers, poisoned
//! locks, exited children, ...), and returns what they gave as text: values, error kinds, OS
//! error codes and messages, panic messages. Every scenario runs in four modes (five with the `hook` feature):
//!
//! - `std`: the std compilation on a plain OS thread: the reference;
//! - `zsync-os`: the zsync compilation on a plain OS thread, outside any runtime;
//! - `zsync-green`: the zsync compilation on a green thread, inside `zsync::run`;
//! - `zsync-busy`: the zsync compilation on a green thread of a 1-worker runtime, beside a
//!   sibling green thread that sleeps 0.5 ms in a loop, so that the scenario's waits are real
//!   parks and its wake-ups come through a worker that has other work;
//! - `std-green`, with the `hook` feature only: the std compilation on a green thread, where
//!   the hooks park the green thread in libc's blocking calls under std's, and promise libc's
//!   answers.
//!
//! The texts must be equal, byte for byte. There is a test per area (`net`, `fs`,
//! `process`, `sync`, `thread`, `misc`); it fails listing every scenario whose texts differ,
//! with all its texts.
//!
//! Each scenario runs in each mode in a child process of its own: this test binary re-executed
//! with `ZSYNC_TEST_CHILD=<scenario> <mode>`, the area's test alone, which runs that scenario,
//! prints its text after [`MARKER`] and exits. A crash, an abort or a scenario's leftovers
//! (threads, a runtime, sockets) stay in its child, as they would end with a std program's
//! `main`. A child not done within [`CHILD_DEADLINE`] is killed with its process group, and its
//! text is `HANG`. A scenario that hangs, or whose child dies before printing its text, fails
//! even if it does so in every mode: a scenario must finish. At most [`max_children`]
//! children run at once, across the areas' tests. A child's standard input is /dev/null, never
//! the test runner's.
//!
//! What a scenario prints depends on the behaviour alone: not on timing, ports, pids,
//! temporary paths, thread ids or file descriptor numbers, so that the suite holds on 2 busy
//! cores, in debug and in release. Where timing is the behaviour (a timeout that passes, a call
//! that returns at once) it prints which side of a split it fell on, the split halfway between
//! two far-apart behaviours ([`helpers::took`]).
//!
//! Scenarios that would show a difference docs/API.md lists as deliberate are left out, with a
//! comment naming it where they would be. Differences that are not documented, bugs not fixed
//! yet, are listed in [`KNOWN_DIVERGENCES`] and skipped (the ignored test
//! `known_divergences_behave_as_std` runs them).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A scenario of a scenario file: its name and its body, compiled against one of the two APIs.
#[derive(Clone, Copy)]
pub struct Scenario {
    name: &'static str,
    body: fn() -> String,
}

/// `scenarios![a, b, ...]`: the scenario functions `a`, `b`, ... of a scenario file, named. A
/// name listed with no function is a compile error, and a function left out of the list is dead
/// code (a warning, an error under clippy's `-D warnings`).
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        &[$($crate::Scenario { name: stringify!($name), body: $name }),*]
    };
}

mod common;
#[path = "std_differential/helpers.rs"]
mod helpers;
#[path = "std_differential/with_std.rs"]
mod with_std;
#[path = "std_differential/with_zsync.rs"]
mod with_zsync;

/// Scenarios whose texts differ from std's where docs/API.md lists no deliberate difference:
/// bugs, skipped by the areas' tests until they are fixed (then take them off this list).
/// `cargo test --test std_differential -- --ignored` runs them. None at present: the two the
/// suite found when it was written (`Debug` of a `Thread`, a zero-length read's timeout) are
/// fixed.
const KNOWN_DIVERGENCES: &[&str] = &[];

/// Set in a child: the scenario and the mode it runs.
const CHILD: &str = "ZSYNC_TEST_CHILD";
/// Set (to anything) in the test's environment: each scenario's std text is printed to stderr,
/// to see what is compared (`cargo test --test std_differential -- --nocapture`).
const SHOW: &str = "ZSYNC_DIFFERENTIAL_SHOW";
/// What a child prints before its scenario's text (after libtest's own lines).
const MARKER: &str = "\n=== zsync std_differential text ===\n";
/// The text of a child that did not finish in time, and of one that died without a text.
const HANG: &str = "HANG";
const NO_TEXT: &str = "NO TEXT";
/// How long a child may take before it counts as hung. A scenario takes well under 2 s.
const CHILD_DEADLINE: Duration = Duration::from_secs(20);

/// The most children running at once, across the areas' tests: twice the cores (most
/// scenarios spend their time waiting), at least 2 and at most 8.
fn max_children() -> usize {
    std::thread::available_parallelism().map_or(2, |n| (2 * n.get()).clamp(2, 8))
}

#[derive(Clone, Copy)]
enum Mode {
    Std,
    ZsyncOs,
    ZsyncGreen,
    ZsyncBusy,
    /// With the `hook` feature: the std compilation on a green thread, where libc's blocking
    /// calls under std's park the green thread. The hooks promise libc's answers.
    #[cfg(feature = "hook")]
    StdGreen,
}

impl Mode {
    #[cfg(not(feature = "hook"))]
    const ALL: &[Mode] = &[Mode::Std, Mode::ZsyncOs, Mode::ZsyncGreen, Mode::ZsyncBusy];
    #[cfg(feature = "hook")]
    const ALL: &[Mode] = &[
        Mode::Std,
        Mode::ZsyncOs,
        Mode::ZsyncGreen,
        Mode::ZsyncBusy,
        Mode::StdGreen,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Std => "std",
            Mode::ZsyncOs => "zsync-os",
            Mode::ZsyncGreen => "zsync-green",
            Mode::ZsyncBusy => "zsync-busy",
            #[cfg(feature = "hook")]
            Mode::StdGreen => "std-green",
        }
    }
}

/// `body`'s text, or the message it panicked with.
fn run_caught(body: fn() -> String) -> String {
    std::panic::catch_unwind(body)
        .unwrap_or_else(|panic| format!("PANIC({})", helpers::payload(&*panic)))
}

/// `body`'s text in `mode`: `with_std` is the std compilation, `with_zsync` zsync's.
fn run_in_mode(mode: Mode, with_std: fn() -> String, with_zsync: fn() -> String) -> String {
    match mode {
        Mode::Std => run_caught(with_std),
        Mode::ZsyncOs => run_caught(with_zsync),
        Mode::ZsyncGreen => zsync::run(move || run_caught(with_zsync)),
        #[cfg(feature = "hook")]
        Mode::StdGreen => zsync::run(move || run_caught(with_std)),
        Mode::ZsyncBusy => {
            // No stall warnings: some scenarios block their worker (std's own calls beside
            // zsync's), and the warnings would only add noise to the child's stderr.
            let runtime = zsync::runtime::Builder::new()
                .worker_threads(1)
                .stall_threshold(None)
                .build()
                .unwrap();
            runtime.block_on(move || {
                let stop = Arc::new(AtomicBool::new(false));
                let sibling = {
                    let stop = stop.clone();
                    zsync::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            zsync::thread::sleep(Duration::from_micros(500));
                        }
                    })
                };
                let text = run_caught(with_zsync);
                stop.store(true, Ordering::Relaxed);
                sibling.join().unwrap();
                text
            })
        }
    }
}

/// In a child: runs the scenario and mode that `spec` (`ZSYNC_TEST_CHILD`) names, prints its
/// text after [`MARKER`] and exits, leaving whatever the scenario left running to end with the
/// process.
fn run_as_child(spec: &str, with_std: &[Scenario], with_zsync: &[Scenario]) -> ! {
    let (name, mode) = spec
        .split_once(' ')
        .expect("ZSYNC_TEST_CHILD: <scenario> <mode>");
    let mode = Mode::ALL
        .iter()
        .copied()
        .find(|m| m.name() == mode)
        .unwrap_or_else(|| panic!("no mode {mode}"));
    let find = |list: &[Scenario]| {
        list.iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no scenario {name}"))
            .body
    };
    // The panics that scenarios provoke are part of their texts; the default hook's reports
    // would only fill the child's stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let text = run_in_mode(mode, find(with_std), find(with_zsync));
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{MARKER}{text}")
        .and_then(|()| stdout.flush())
        .expect("write the scenario's text");
    std::process::exit(0)
}

static RUNNING: Mutex<usize> = Mutex::new(0);
static A_CHILD_ENDED: Condvar = Condvar::new();

/// A place among the [`max_children`] children that may run at once.
struct ChildSlot;

impl ChildSlot {
    fn take() -> ChildSlot {
        let mut running = RUNNING.lock().unwrap();
        while *running >= max_children() {
            running = A_CHILD_ENDED.wait(running).unwrap();
        }
        *running += 1;
        ChildSlot
    }
}

impl Drop for ChildSlot {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap() -= 1;
        A_CHILD_ENDED.notify_one();
    }
}

/// The text a child printed after [`MARKER`], or what became of a child that printed none.
fn text_of(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.split_once(MARKER) {
        Some((_, text)) => text.to_string(),
        None => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            format!("{NO_TEXT} ({}), stderr: {}", out.status, stderr.trim_end())
        }
    }
}

/// Runs the scenario `name` in `mode` in a child that runs only the test `test`, and returns
/// its text, or [`HANG`] if it was not done within [`CHILD_DEADLINE`].
fn run_child(test: &str, name: &str, mode: Mode) -> String {
    let _slot = ChildSlot::take();
    let child = Command::new(std::env::current_exe().unwrap())
        // `--include-ignored`: the test may be the ignored one, of the known divergences.
        .args([
            test,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, format!("{name} {}", mode.name()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so that a hung child is killed with the processes it started
        // (which would otherwise hold its stdout open).
        .process_group(0)
        .spawn()
        .expect("re-execute the test binary");
    match common::output_within(child, CHILD_DEADLINE, true) {
        Ok(out) => text_of(&out),
        Err(_) => format!("{HANG} (killed after {CHILD_DEADLINE:?})"),
    }
}

/// The test `test`: runs each scenario in every mode (each in a child), and fails listing
/// the scenarios whose texts differ. `with_std` and `with_zsync` are one scenario file's two
/// compilations; `wanted` picks the scenarios to run. In a child, runs its scenario instead.
fn check(test: &str, with_std: &[Scenario], with_zsync: &[Scenario], wanted: fn(&str) -> bool) {
    if let Ok(spec) = std::env::var(CHILD) {
        run_as_child(&spec, with_std, with_zsync);
    }
    let names: Vec<&str> = with_std.iter().map(|s| s.name).collect();
    assert!(
        names.iter().eq(with_zsync.iter().map(|s| &s.name)),
        "the two compilations list different scenarios"
    );
    let names: Vec<&str> = names.into_iter().filter(|name| wanted(name)).collect();
    let jobs: Vec<(&str, Mode)> = names
        .iter()
        .flat_map(|&name| Mode::ALL.iter().map(move |&mode| (name, mode)))
        .collect();
    let texts: Vec<Mutex<String>> = jobs.iter().map(|_| Mutex::default()).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..max_children() {
            s.spawn(|| loop {
                let job = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(name, mode)) = jobs.get(job) else {
                    break;
                };
                *texts[job].lock().unwrap() = run_child(test, name, mode);
            });
        }
    });
    let texts: Vec<String> = texts.into_iter().map(|t| t.into_inner().unwrap()).collect();
    let show = std::env::var_os(SHOW).is_some();
    let mut differing = Vec::new();
    for (name, texts) in names.iter().zip(texts.chunks(Mode::ALL.len())) {
        if show {
            eprintln!("{name}: {}", texts[0]);
        }
        let unfinished = |text: &String| text.starts_with(HANG) || text.starts_with(NO_TEXT);
        if texts
            .iter()
            .any(|text| *text != texts[0] || unfinished(text))
        {
            let mut report = format!("{name}:");
            for (mode, text) in Mode::ALL.iter().zip(texts) {
                report += &format!("\n  {:<12}: {text}", mode.name());
            }
            differing.push(report);
        }
    }
    assert!(
        differing.is_empty(),
        "{} of the {} scenarios of {test} differ from std or did not finish:\n\n{}\n",
        differing.len(),
        names.len(),
        differing.join("\n\n")
    );
}

fn not_known(name: &str) -> bool {
    !KNOWN_DIVERGENCES.contains(&name)
}

/// Every scenario file's two compilations, for the checks across areas.
fn areas() -> [(&'static [Scenario], &'static [Scenario]); 6] {
    [
        (with_std::net::SCENARIOS, with_zsync::net::SCENARIOS),
        (with_std::fs::SCENARIOS, with_zsync::fs::SCENARIOS),
        (with_std::process::SCENARIOS, with_zsync::process::SCENARIOS),
        (with_std::sync::SCENARIOS, with_zsync::sync::SCENARIOS),
        (with_std::thread::SCENARIOS, with_zsync::thread::SCENARIOS),
        (with_std::misc::SCENARIOS, with_zsync::misc::SCENARIOS),
    ]
}

#[test]
fn net_behaves_as_std() {
    check(
        "net_behaves_as_std",
        with_std::net::SCENARIOS,
        with_zsync::net::SCENARIOS,
        not_known,
    );
}

#[test]
fn fs_behaves_as_std() {
    check(
        "fs_behaves_as_std",
        with_std::fs::SCENARIOS,
        with_zsync::fs::SCENARIOS,
        not_known,
    );
}

#[test]
fn process_behaves_as_std() {
    check(
        "process_behaves_as_std",
        with_std::process::SCENARIOS,
        with_zsync::process::SCENARIOS,
        not_known,
    );
}

#[test]
fn sync_behaves_as_std() {
    check(
        "sync_behaves_as_std",
        with_std::sync::SCENARIOS,
        with_zsync::sync::SCENARIOS,
        not_known,
    );
}

#[test]
fn thread_behaves_as_std() {
    check(
        "thread_behaves_as_std",
        with_std::thread::SCENARIOS,
        with_zsync::thread::SCENARIOS,
        not_known,
    );
}

#[test]
fn misc_behaves_as_std() {
    check(
        "misc_behaves_as_std",
        with_std::misc::SCENARIOS,
        with_zsync::misc::SCENARIOS,
        not_known,
    );
}

/// Scenario names are unique across the areas ([`KNOWN_DIVERGENCES`] names them without their
/// area), and each known divergence names a scenario.
#[test]
fn scenario_names_are_unique_and_known_divergences_exist() {
    let mut names: Vec<&str> = areas()
        .iter()
        .flat_map(|(with_std, _)| with_std.iter().map(|s| s.name))
        .collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "a scenario name is used twice");
    for known in KNOWN_DIVERGENCES {
        assert!(names.contains(known), "no scenario {known}");
    }
}

/// The known divergences, all areas together: fails while any of them still differs.
#[test]
#[ignore = "known divergences from std, not fixed yet"]
fn known_divergences_behave_as_std() {
    let with_std: Vec<Scenario> = areas().iter().flat_map(|a| a.0.iter().copied()).collect();
    let with_zsync: Vec<Scenario> = areas().iter().flat_map(|a| a.1.iter().copied()).collect();
    check(
        "known_divergences_behave_as_std",
        &with_std,
        &with_zsync,
        |name| KNOWN_DIVERGENCES.contains(&name),
    );
}
