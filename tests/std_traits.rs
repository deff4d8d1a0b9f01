//! Code written against std must still compile after `std::` becomes `zsync::`. Two things
//! decide that beyond method names: the auto traits of each public type (`Send`, `Sync`,
//! `Unpin`, `UnwindSafe`, `RefUnwindSafe`) and its variance (whether a guard of
//! `RwLock<&'static str>` may be used where a shorter lifetime is expected).
//!
//! The auto traits are compared with std's own types, not with a hand-written table: for every
//! pair (zsync type, std type) and a set of payload types chosen to switch each trait off in
//! turn, both answers are computed at compile time and must agree. Variance is checked by
//! functions that only compile if the coercion std allows is allowed here too.

#![allow(dead_code)]

use std::cell::Cell;
use std::marker::PhantomPinned;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::rc::Rc;

mod common;
use common::assert_not_impl;

/// `true` if `$t` implements `$tr`, decided at compile time: an inherent constant (which exists
/// only when the bound holds) shadows the trait's default one.
macro_rules! implements {
    ($t:ty: $tr:path) => {{
        struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
        trait No {
            const YES: bool = false;
        }
        impl<T: ?Sized> No for Probe<T> {}
        impl<T: ?Sized + $tr> Probe<T> {
            const YES: bool = true;
        }
        <Probe<$t>>::YES
    }};
}

/// Appends to `$out` every auto trait on which `$ours` and `$std` disagree.
macro_rules! compare {
    ($out:ident, $ours:ty, $std:ty) => {
        compare!($out, $ours, $std, "");
    };
    ($out:ident, $ours:ty, $std:ty, $label:expr) => {
        compare!(@one $out, $ours, $std, Send, $label);
        compare!(@one $out, $ours, $std, Sync, $label);
        compare!(@one $out, $ours, $std, Unpin, $label);
        compare!(@one $out, $ours, $std, UnwindSafe, $label);
        compare!(@one $out, $ours, $std, RefUnwindSafe, $label);
    };
    (@one $out:ident, $ours:ty, $std:ty, $tr:ident, $label:expr) => {
        let (ours, theirs) = (implements!($ours: $tr), implements!($std: $tr));
        if ours != theirs {
            $out.push(format!(
                "{}: {}{} is {}, std's {} is {}",
                stringify!($tr),
                stringify!($ours),
                $label,
                if ours { "implemented" } else { "missing" },
                stringify!($std),
                if theirs { "implemented" } else { "missing" },
            ));
        }
    };
}

/// Payload types, each switching off a different auto trait.
type Plain = u8; // everything
type NotSync = Cell<u8>; // Send, UnwindSafe; not Sync, not RefUnwindSafe
type NotSendNotSync = Rc<u8>; // neither Send nor Sync
type SyncNotSend = std::sync::MutexGuard<'static, u8>; // Sync but not Send
type NotUnpin = PhantomPinned;
type NotUnwindSafe = &'static mut u8; // RefUnwindSafe but not UnwindSafe
type RawPtr = *const u8; // neither Send nor Sync, but unwind safe

/// Compares a generic type constructor for every payload type.
macro_rules! compare_generic {
    ($out:ident, |$t:ident| $ours:ty, $std:ty) => {{
        {
            type $t = Plain;
            compare!($out, $ours, $std, " with T = Plain");
        }
        {
            type $t = NotSync;
            compare!($out, $ours, $std, " with T = NotSync");
        }
        {
            type $t = NotSendNotSync;
            compare!($out, $ours, $std, " with T = NotSendNotSync");
        }
        {
            type $t = SyncNotSend;
            compare!($out, $ours, $std, " with T = SyncNotSend");
        }
        {
            type $t = NotUnpin;
            compare!($out, $ours, $std, " with T = NotUnpin");
        }
        {
            type $t = NotUnwindSafe;
            compare!($out, $ours, $std, " with T = NotUnwindSafe");
        }
        {
            type $t = RawPtr;
            compare!($out, $ours, $std, " with T = RawPtr");
        }
    }};
}

#[test]
fn sync_types_have_std_auto_traits() {
    let mut diff = Vec::new();
    use std::sync as s;
    use zsync::sync as z;
    compare_generic!(diff, |T| z::Mutex<T>, s::Mutex<T>);
    compare_generic!(diff, |T| z::MutexGuard<'static, T>, s::MutexGuard<'static, T>);
    compare_generic!(diff, |T| z::RwLock<T>, s::RwLock<T>);
    compare_generic!(diff, |T| z::RwLockReadGuard<'static, T>, s::RwLockReadGuard<'static, T>);
    compare_generic!(diff, |T| z::RwLockWriteGuard<'static, T>, s::RwLockWriteGuard<'static, T>);
    compare!(diff, z::Condvar, s::Condvar);
    compare!(diff, z::WaitTimeoutResult, s::WaitTimeoutResult);
    compare!(diff, z::Barrier, s::Barrier);
    compare!(diff, z::BarrierWaitResult, s::BarrierWaitResult);
    assert!(
        diff.is_empty(),
        "auto traits differ from std:\n{}",
        diff.join("\n")
    );
}

#[test]
fn mpsc_types_have_std_auto_traits() {
    let mut diff = Vec::new();
    use std::sync::mpsc as s;
    use zsync::sync::mpsc as z;
    compare_generic!(diff, |T| z::Sender<T>, s::Sender<T>);
    compare_generic!(diff, |T| z::SyncSender<T>, s::SyncSender<T>);
    compare_generic!(diff, |T| z::Receiver<T>, s::Receiver<T>);
    compare_generic!(diff, |T| z::Iter<'static, T>, s::Iter<'static, T>);
    compare_generic!(diff, |T| z::TryIter<'static, T>, s::TryIter<'static, T>);
    compare_generic!(diff, |T| z::IntoIter<T>, s::IntoIter<T>);
    assert!(
        diff.is_empty(),
        "auto traits differ from std:\n{}",
        diff.join("\n")
    );
}

#[test]
fn thread_types_have_std_auto_traits() {
    let mut diff = Vec::new();
    use std::thread as s;
    use zsync::thread as z;
    compare_generic!(diff, |T| z::JoinHandle<T>, s::JoinHandle<T>);
    compare_generic!(diff, |T| z::ScopedJoinHandle<'static, T>, s::ScopedJoinHandle<'static, T>);
    compare!(diff, z::Scope<'static, 'static>, s::Scope<'static, 'static>);
    compare!(diff, z::Thread, s::Thread);
    compare!(diff, z::ThreadId, s::ThreadId);
    compare!(diff, z::Builder, s::Builder);
    assert!(
        diff.is_empty(),
        "auto traits differ from std:\n{}",
        diff.join("\n")
    );
}

#[test]
fn net_types_have_std_auto_traits() {
    let mut diff = Vec::new();
    use std::net as s;
    use zsync::net as z;
    compare!(diff, z::TcpStream, s::TcpStream);
    compare!(diff, z::TcpListener, s::TcpListener);
    compare!(diff, z::UdpSocket, s::UdpSocket);
    compare!(diff, z::Incoming<'static>, s::Incoming<'static>);
    use std::os::unix::net as su;
    use zsync::os::unix::net as zu;
    compare!(diff, zu::UnixStream, su::UnixStream);
    compare!(diff, zu::UnixListener, su::UnixListener);
    compare!(diff, zu::UnixDatagram, su::UnixDatagram);
    compare!(diff, zu::Incoming<'static>, su::Incoming<'static>);
    assert!(
        diff.is_empty(),
        "auto traits differ from std:\n{}",
        diff.join("\n")
    );
}

// ---- variance: coercions std allows must compile here too ----

/// std's read guard is covariant in `T`: a guard of `RwLock<&'static str>` may stand for a
/// guard of `&'a str`.
fn read_guard_payload_shortens<'a>(
    guard: zsync::sync::RwLockReadGuard<'a, &'static str>,
) -> zsync::sync::RwLockReadGuard<'a, &'a str> {
    guard
}

/// The same, through a function that ties the payload's lifetime to a shorter-lived borrow
/// (the shape of std's own covariance check).
fn takes_guard_and_ref<'a>(_: zsync::sync::RwLockReadGuard<'_, &'a u32>, _: &'a u32) {}

#[test]
fn read_guard_is_covariant_in_its_payload() {
    let long_lived = 7_u32;
    let lock = zsync::sync::RwLock::new(&long_lived);
    {
        let short_lived = 8_u32;
        takes_guard_and_ref(lock.read().unwrap(), &short_lived);
    }
    let text = zsync::sync::RwLock::new("static text");
    let shorter = read_guard_payload_shortens(text.read().unwrap());
    assert_eq!(*shorter, "static text");
    drop(shorter);
    // And a downgraded write guard is the same covariant type.
    let w = text.write().unwrap();
    let r = zsync::sync::RwLockWriteGuard::downgrade(w);
    assert_eq!(*read_guard_payload_shortens(r), "static text");
}

/// Every borrowing type is covariant in its borrow's lifetime, as std's are: each function
/// shortens `'long` to `'short`.
mod lifetimes_shorten {
    use zsync::sync::{self, mpsc};

    pub fn mutex_guard<'short, 'long: 'short, T>(
        g: sync::MutexGuard<'long, T>,
    ) -> sync::MutexGuard<'short, T> {
        g
    }
    pub fn read_guard<'short, 'long: 'short, T>(
        g: sync::RwLockReadGuard<'long, T>,
    ) -> sync::RwLockReadGuard<'short, T> {
        g
    }
    pub fn write_guard<'short, 'long: 'short, T>(
        g: sync::RwLockWriteGuard<'long, T>,
    ) -> sync::RwLockWriteGuard<'short, T> {
        g
    }
    pub fn iter<'short, 'long: 'short, T>(i: mpsc::Iter<'long, T>) -> mpsc::Iter<'short, T> {
        i
    }
    pub fn try_iter<'short, 'long: 'short, T>(
        i: mpsc::TryIter<'long, T>,
    ) -> mpsc::TryIter<'short, T> {
        i
    }
    pub fn semaphore_permit<'short, 'long: 'short>(
        p: sync::SemaphorePermit<'long>,
    ) -> sync::SemaphorePermit<'short> {
        p
    }
    pub fn scoped_join_handle<'short, 'long: 'short, T>(
        h: zsync::thread::ScopedJoinHandle<'long, T>,
    ) -> zsync::thread::ScopedJoinHandle<'short, T> {
        h
    }
    pub fn tcp_incoming<'short, 'long: 'short>(
        i: zsync::net::Incoming<'long>,
    ) -> zsync::net::Incoming<'short> {
        i
    }
    pub fn unix_incoming<'short, 'long: 'short>(
        i: zsync::os::unix::net::Incoming<'long>,
    ) -> zsync::os::unix::net::Incoming<'short> {
        i
    }
}

#[test]
fn borrowing_types_shorten_their_lifetime() {
    let m = zsync::sync::Mutex::new(1);
    assert_eq!(*lifetimes_shorten::mutex_guard(m.lock().unwrap()), 1);
    let l = zsync::sync::RwLock::new(2);
    assert_eq!(*lifetimes_shorten::read_guard(l.read().unwrap()), 2);
    assert_eq!(*lifetimes_shorten::write_guard(l.write().unwrap()), 2);
    let (tx, rx) = zsync::sync::mpsc::channel();
    tx.send(3).unwrap();
    assert_eq!(lifetimes_shorten::try_iter(rx.try_iter()).next(), Some(3));
    drop(tx);
    assert_eq!(lifetimes_shorten::iter(rx.iter()).next(), None);
    let sem = zsync::sync::Semaphore::new(1);
    drop(lifetimes_shorten::semaphore_permit(sem.acquire()));
    let value = 4;
    let got = zsync::thread::scope(|s| {
        let h = s.spawn(|| value);
        lifetimes_shorten::scoped_join_handle(h).join().unwrap()
    });
    assert_eq!(got, 4);
    let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _ = lifetimes_shorten::tcp_incoming(listener.incoming());
}

// ---- explicit assertions, for the record (the comparisons above are the complete check) ----

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
fn ref_unwind_safe<T: RefUnwindSafe>() {}

#[test]
fn guards_are_sync_but_never_send() {
    use zsync::sync::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};
    sync::<MutexGuard<'static, u8>>();
    sync::<RwLockReadGuard<'static, u8>>();
    sync::<RwLockWriteGuard<'static, u8>>();
    unpin::<MutexGuard<'static, PhantomPinned>>();
    unpin::<RwLockReadGuard<'static, PhantomPinned>>();
    assert_not_impl!(MutexGuard<'static, u8>: Send);
    assert_not_impl!(RwLockReadGuard<'static, u8>: Send);
    assert_not_impl!(RwLockWriteGuard<'static, u8>: Send);
    // A guard shares `&T`, so it is Sync only if T is.
    assert_not_impl!(MutexGuard<'static, Cell<u8>>: Sync);
    assert_not_impl!(RwLockReadGuard<'static, Cell<u8>>: Sync);
    assert_not_impl!(RwLockWriteGuard<'static, Cell<u8>>: Sync);
    // A read guard is unwind safe only if `T` is ref-unwind-safe, as in std.
    assert_not_impl!(RwLockReadGuard<'static, Cell<u8>>: UnwindSafe);
}

#[test]
fn locks_follow_their_payload() {
    use zsync::sync::{Mutex, RwLock};
    send::<Mutex<Cell<u8>>>();
    sync::<Mutex<Cell<u8>>>(); // a Mutex makes a Send type Sync
    assert_not_impl!(Mutex<Rc<u8>>: Send);
    assert_not_impl!(Mutex<Rc<u8>>: Sync);
    assert_not_impl!(RwLock<Cell<u8>>: Sync); // readers share &T: needs T: Sync
    assert_not_impl!(Mutex<PhantomPinned>: Unpin);
    unwind_safe::<Mutex<Cell<u8>>>();
    unwind_safe::<RwLock<Cell<u8>>>();
    unwind_safe::<zsync::sync::Barrier>();
    unwind_safe::<zsync::sync::Condvar>();
}

#[test]
fn channel_ends_follow_std() {
    use zsync::sync::mpsc::{Receiver, Sender, SyncSender};
    send::<Sender<Cell<u8>>>();
    sync::<Sender<Cell<u8>>>(); // Sender is Sync since Rust 1.72
    sync::<SyncSender<Cell<u8>>>();
    send::<Receiver<Cell<u8>>>();
    assert_not_impl!(Receiver<u8>: Sync);
    assert_not_impl!(Sender<Rc<u8>>: Send);
    assert_not_impl!(Receiver<Rc<u8>>: Send);
}

#[test]
fn thread_handles_follow_std() {
    use zsync::thread::{JoinHandle, Scope, ScopedJoinHandle, Thread};
    // std's JoinHandle is Send and Sync whatever T is (spawn already demanded T: Send).
    send::<JoinHandle<Rc<u8>>>();
    sync::<JoinHandle<Rc<u8>>>();
    send::<ScopedJoinHandle<'static, u8>>();
    assert_not_impl!(ScopedJoinHandle<'static, Rc<u8>>: Send);
    sync::<Scope<'static, 'static>>();
    // Scopes are used as `&Scope`: ref-unwind-safe (not `UnwindSafe`, as in std).
    ref_unwind_safe::<Scope<'static, 'static>>();
    assert_not_impl!(Scope<'static, 'static>: UnwindSafe);
    send::<Thread>();
    sync::<Thread>();
    unwind_safe::<Thread>();
}

/// The types std has no counterpart of, checked against what their peers would be.
#[test]
fn zsync_only_types() {
    use zsync::sync::{oneshot, Semaphore, SemaphorePermit, WaitGroup};
    send::<Semaphore>();
    sync::<Semaphore>();
    unwind_safe::<Semaphore>();
    // A permit, like a guard of a lock with no data, may be sent: releasing it from another
    // thread is fine.
    send::<SemaphorePermit<'static>>();
    sync::<SemaphorePermit<'static>>();
    send::<WaitGroup>();
    sync::<WaitGroup>();
    unwind_safe::<WaitGroup>();
    // oneshot's ends are mpsc's: the sender Send + Sync, the receiver Send only.
    send::<oneshot::Sender<Cell<u8>>>();
    sync::<oneshot::Sender<Cell<u8>>>();
    send::<oneshot::Receiver<Cell<u8>>>();
    assert_not_impl!(oneshot::Sender<Rc<u8>>: Send);
    assert_not_impl!(oneshot::Receiver<Rc<u8>>: Send);
}

/// std's names that a port writes as `zsync::...` after changing its imports: the re-exported
/// types and functions of std's thread, time, net and io modules resolve (and are std's own,
/// so values pass between the two), and the items zsync mirrors exist under std's names.
#[test]
fn std_names_resolve_under_zsync_paths() {
    use std::time::Duration;
    // time: std's clock types and constants.
    let now: std::time::SystemTime = zsync::time::SystemTime::now();
    let since = now.duration_since(zsync::time::UNIX_EPOCH).unwrap();
    assert!(since > Duration::from_secs(1_600_000_000));
    let err: zsync::time::SystemTimeError =
        zsync::time::UNIX_EPOCH.duration_since(now).unwrap_err();
    assert!(err.duration() > Duration::ZERO);
    let bad: zsync::time::TryFromFloatSecsError = Duration::try_from_secs_f64(-1.0).unwrap_err();
    assert!(!bad.to_string().is_empty());
    // net: std's address parse error.
    let parse: Result<zsync::net::IpAddr, zsync::net::AddrParseError> = "not an address".parse();
    assert!(parse.is_err());
    // thread: std's parallelism and thread-local key types.
    assert!(zsync::thread::available_parallelism().unwrap().get() >= 1);
    thread_local!(static COUNT: std::cell::Cell<u32> = const { std::cell::Cell::new(7) });
    let key: &'static zsync::thread::LocalKey<std::cell::Cell<u32>> = &COUNT;
    let read: Result<u32, zsync::thread::AccessError> = key.try_with(|c| c.get());
    assert_eq!(read.unwrap(), 7);
    // io: pipes and is_terminal, as std's.
    let (reader, writer) = zsync::io::pipe().unwrap();
    let _: (zsync::io::PipeReader, zsync::io::PipeWriter) = (reader, writer);
    let _: bool = zsync::io::stdout().is_terminal();
    // fs: std's try-lock error.
    let _: Option<zsync::fs::TryLockError> = None;
}

/// `std::os` paths a port writes as `zsync::os`: the fd module, `std::os::unix`'s `ffi`, `io`
/// and prelude (std's own), and `chroot`, which fails as std's does without the capability.
#[test]
fn std_os_names_resolve_under_zsync_paths() {
    use zsync::os::fd::{BorrowedFd, OwnedFd};
    use zsync::os::unix::io::RawFd;
    use zsync::os::unix::prelude::*; // AsFd, AsRawFd, OsStrExt, ...
    let file = zsync::fs::File::open("/dev/null").unwrap();
    let fd: BorrowedFd<'_> = file.as_fd();
    let raw: RawFd = fd.as_raw_fd();
    assert_eq!(raw, file.as_raw_fd());
    let owned: OwnedFd = file.into();
    assert!(owned.as_raw_fd() >= 0);
    assert_eq!(std::ffi::OsStr::new("abc").as_bytes(), b"abc");
    let name = std::ffi::OsStr::new("xyz");
    assert_eq!(zsync::os::unix::ffi::OsStrExt::as_bytes(name), b"xyz");
    let missing = std::env::temp_dir().join("zsync-chroot-test-missing");
    let ours = zsync::os::unix::fs::chroot(&missing).unwrap_err();
    let stds = std::os::unix::fs::chroot(&missing).unwrap_err();
    assert_eq!(ours.kind(), stds.kind());
}
