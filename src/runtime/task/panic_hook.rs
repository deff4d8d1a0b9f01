//! The panic hook zsync installs when its first runtime starts. It does two things:
//!
//! - records that the running green thread (or OS thread) started a panic, for
//!   `zsync::thread::panicking` and lock poisoning (see `cancel`);
//! - names the *green thread* in the report. std's default hook names
//!   `std::thread::current()`, which on a green thread is its worker (`zsync-worker-0`), so
//!   while std's default hook is in place, a panic on a green thread is reported here in std's
//!   format with the green thread's name and id (`thread 'name' (green thread 7)`). A hook the program set
//!   itself before the runtime started is kept and called as before, for every thread.

use std::io::Write;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Installs the hook (once). The previous hook still runs for OS threads, and for green threads
/// too unless it is std's default one.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        // `take_hook` leaves std's default hook in place: taking again yields it, so comparing
        // the two boxes (data pointer and vtable) says whether `previous` is the default one.
        let default = std::panic::take_hook();
        let previous_is_default = std::ptr::eq(&*previous, &*default);
        drop(default);
        let watch = Watch;
        std::panic::set_hook(Box::new(move |info| {
            let _ = &watch;
            hook(&previous, previous_is_default, info)
        }));
        INSTALLED.store(true, Ordering::Release);
    });
}

/// True once the hook is installed, until std drops it.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Whether the hook sees every panic that starts, so that a green thread's `panic_started`
/// (see `cancel`) is exact: it is installed, and std has not dropped it (a program that sets a
/// hook of its own replaces ours, and std drops the old one, unless the program took it with
/// `take_hook` to call it from its own, as the usual wrapping does). A program that takes ours
/// and keeps it without calling it is not seen: its green threads' panics then go unrecorded
/// while it keeps ours aside.
pub(crate) fn sees_every_panic() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

/// Owned by the installed hook: its drop says that std (or the program) dropped the hook.
struct Watch;

impl Drop for Watch {
    fn drop(&mut self) {
        INSTALLED.store(false, Ordering::Release);
    }
}

fn hook(previous: &Hook, previous_is_default: bool, info: &PanicHookInfo<'_>) {
    let green = crate::runtime::context::current().task();
    match green {
        // SAFETY: the hook runs on the panicking green thread itself, which is running. (Its
        // state is there while its closure runs: a panic outside it has no park point to mark.)
        Some(task) => {
            if let Some(local) = unsafe { task.try_local() } {
                local.park_point.panic_starts();
            }
        }
        None => crate::runtime::park::note_os_thread_panic(),
    }
    match green {
        Some(task) if previous_is_default => report(task.name.as_deref(), task.id, info),
        _ => previous(info),
    }
}

/// std's default report (`thread '..' panicked at ..`, the message, the backtrace or the note
/// on how to get one), naming the green thread.
fn report(name: Option<&str>, id: super::id::ThreadId, info: &PanicHookInfo<'_>) {
    static NOTE_GIVEN: AtomicBool = AtomicBool::new(false);
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    // std writes `thread '<name>' (<OS thread id>)`; the id here is the green thread's.
    let mut text = format!(
        "thread '{}' (green thread {})",
        name.unwrap_or("<unnamed>"),
        id.as_u64()
    );
    match info.location() {
        Some(at) => text.push_str(&format!(" panicked at {at}:\n{message}\n")),
        None => text.push_str(&format!(" panicked:\n{message}\n")),
    }
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        text.push_str(&format!("stack backtrace:\n{backtrace}\n"));
    } else if !NOTE_GIVEN.swap(true, Ordering::Relaxed) {
        text.push_str(
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        );
    }
    // One write, so that reports of panics on other workers do not interleave with it.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
