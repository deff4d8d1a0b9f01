//! The behaviours std's own standard-stream and pipe tests check
//! (library/std/src/io/stdio/tests.rs, library/std/src/io/pipe/tests.rs), restated for
//! `zsync::io`. Each body runs on a plain OS thread, inside a green-thread runtime and inside
//! an OS-threads runtime. (What the streams carry is tested in tests/io.rs, in child
//! processes whose streams are pipes.)
//!
//! On green threads the locks matter more than on OS threads: every green thread of a worker
//! shares its OS thread, so a lock owned "by the current thread" must mean the green thread,
//! or two green threads of one worker would both hold it.

use std::any::Any;
use std::io::{Read, Write};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{Arc, Mutex};
use zsync::io::{pipe, stderr, stdin, stdout, Stderr, StderrLock, Stdin, Stdout, StdoutLock};
use zsync::sync::mpsc::sync_channel;
use zsync::thread;

mod common;
use common::on_each_model;

fn assert_unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

/// `stdout_unwind_safe`, `stdoutlock_unwind_safe`, `stderr_unwind_safe`,
/// `stderrlock_unwind_safe`: the handles and their locks may cross `catch_unwind`.
#[test]
fn handles_and_locks_are_unwind_safe() {
    assert_unwind_safe::<Stdout>();
    assert_unwind_safe::<StdoutLock<'_>>();
    assert_unwind_safe::<StdoutLock<'static>>();
    assert_unwind_safe::<Stderr>();
    assert_unwind_safe::<StderrLock<'_>>();
    assert_unwind_safe::<StderrLock<'static>>();
}

/// `panic_doesnt_poison`: a thread that panics holding all three locks leaves them usable.
#[test]
fn a_panic_holding_the_locks_does_not_poison_them() {
    on_each_model(|| {
        let panicked = thread::spawn(|| {
            let _in = stdin().lock();
            let _out = stdout().lock();
            let _err = stderr().lock();
            panic!("holding the standard streams' locks");
        })
        .join();
        assert!(panicked.is_err());
        let _in = stdin().lock();
        let _out = stdout().lock();
        let _err = stderr().lock();
    });
}

/// A standard stream's handle, generic over the three (as std's test helper): `hold` takes
/// its lock.
trait Handle {
    fn hold(&self) -> Box<dyn Any>;
}

impl Handle for Stdin {
    fn hold(&self) -> Box<dyn Any> {
        Box::new(self.lock())
    }
}

impl Handle for Stdout {
    fn hold(&self) -> Box<dyn Any> {
        Box::new(self.lock())
    }
}

impl Handle for Stderr {
    fn hold(&self) -> Box<dyn Any> {
        Box::new(self.lock())
    }
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Step {
    Start1,
    Acquire1,
    Start2,
    Release1,
    Acquire2,
    Release2,
}

/// `test_lock_stdin`, `test_lock_stdout`, `test_lock_stderr`: two threads take the stream's
/// lock in turn, each blocking the other while it holds it. The first takes it through a
/// handle, the second as an owned lock; the log shows the order, which a lock that let both
/// in at once (two green threads of one worker look like one OS thread) would break. The
/// tests run it on each model and on one worker, where both green threads share it.
fn locks_exclude<H: Handle + 'static>(handle: fn() -> H, owned_lock: fn() -> Box<dyn Any>) {
    use Step::*;
    let log = Arc::new(Mutex::new(Vec::new()));
    let ((tx1, rx1), (tx2, rx2)) = (sync_channel(0), sync_channel(0));
    let first = {
        let log = log.clone();
        thread::spawn(move || {
            log.lock().unwrap().push(Start1);
            let h = handle();
            {
                let _held = h.hold();
                log.lock().unwrap().push(Acquire1);
                tx1.send(Acquire1).unwrap(); // acquired
                tx1.send(Release1).unwrap(); // wait for the order to release
                log.lock().unwrap().push(Release1);
            }
            tx1.send(Acquire1).unwrap(); // wait until the second holds it
            {
                let _held = h.hold();
                log.lock().unwrap().push(Acquire1);
            }
            log.lock().unwrap().push(Release1);
        })
    };
    let second = {
        let log = log.clone();
        thread::spawn(move || {
            tx2.send(Start2).unwrap(); // wait for the order to start
            let _held = owned_lock();
            log.lock().unwrap().push(Acquire2);
            tx2.send(Acquire2).unwrap(); // acquired
            tx2.send(Release2).unwrap(); // wait for the order to release
            log.lock().unwrap().push(Release2);
        })
    };
    assert_eq!(rx1.recv().unwrap(), Acquire1);
    log.lock().unwrap().push(Start2);
    assert_eq!(rx2.recv().unwrap(), Start2); // the second now waits for the lock
    assert_eq!(rx1.recv().unwrap(), Release1);
    assert_eq!(rx2.recv().unwrap(), Acquire2);
    assert_eq!(rx1.recv().unwrap(), Acquire1); // the first now waits for the lock
    assert_eq!(rx2.recv().unwrap(), Release2);
    second.join().unwrap();
    first.join().unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [Start1, Acquire1, Start2, Release1, Acquire2, Release2, Acquire1, Release1]
    );
}

#[test]
fn stdin_lock_excludes() {
    on_each_model(|| locks_exclude(stdin, || Box::new(stdin().lock())));
    common::runtime(1).block_on(|| locks_exclude(stdin, || Box::new(stdin().lock())));
}

#[test]
fn stdout_lock_excludes() {
    on_each_model(|| locks_exclude(stdout, || Box::new(stdout().lock())));
    common::runtime(1).block_on(|| locks_exclude(stdout, || Box::new(stdout().lock())));
}

#[test]
fn stderr_lock_excludes() {
    on_each_model(|| locks_exclude(stderr, || Box::new(stderr().lock())));
    common::runtime(1).block_on(|| locks_exclude(stderr, || Box::new(stderr().lock())));
}

/// Held locks are re-entrant for their holder, as std's: a thread holding the lock takes it
/// again (through a new handle) without waiting for itself.
#[test]
fn a_holder_takes_its_lock_again() {
    on_each_model(|| {
        let _out = stdout().lock();
        let _again = stdout().lock();
        let _err = stderr().lock();
        let _err_again = stderr().lock();
    });
}

/// `pipe_creation_clone_and_rw`: a clone of the write end writes, a clone of the read end
/// reads it all once every write end is closed.
#[test]
fn pipe_clones_write_and_read() {
    on_each_model(|| {
        let (reader, writer) = pipe().unwrap();
        writer.try_clone().unwrap().write_all(b"12345").unwrap();
        drop(writer);
        let mut reader2 = reader.try_clone().unwrap();
        drop(reader);
        let mut s = String::new();
        reader2.read_to_string(&mut s).unwrap();
        assert_eq!(s, "12345");
    });
}
