//! `zsync::fs` on the worker's io_uring ring (`crate::reactor::uring`): submit, then wait on a green
//! thread. The wait is where the soundness rule of `crate::reactor::uring` is kept on this side: the
//! green thread does not return or unwind before its operation's completion has been reaped; a
//! cancellation or expired `timeout()` that arrives meanwhile wakes it without raising, cancels
//! the SQE (`IORING_OP_ASYNC_CANCEL`) and keeps waiting (shielded); it is raised afterwards.

use crate::reactor::uring::{Kind, Op, Submitted};
use crate::runtime::context::{self, Current};
use crate::runtime::park;
use crate::runtime::worker::Worker;
use std::fs::File;
use std::io;
use std::sync::Arc;

type Thread = crate::runtime::Thread;

/// Runs one operation on the calling green thread's ring and waits for its completion:
/// `before` fills the operation's buffer of `len` bytes (a write's data), `after` reads it
/// with the result (a read's data); the buffer is a spare one of the worker's. `None` if there
/// is no ring here: the caller uses the pool.
fn run<R>(
    file: &Arc<File>,
    len: usize,
    kind: Kind,
    before: impl FnOnce(&mut [u8]),
    after: impl FnOnce(&[u8], i32) -> R,
) -> Option<R> {
    let Current::Green { worker, .. } = context::current() else {
        return None;
    };
    if !worker.uring.available(worker.reactor()) {
        return None;
    }
    let mut buf = worker.uring.take_buf(len);
    before(&mut buf);
    let Submitted { op, user_data } =
        match worker
            .uring
            .submit(worker.reactor(), crate::runtime::current(), file, buf, kind)
        {
            Ok(submitted) => submitted,
            Err(buf) => {
                worker.uring.put_buf(buf);
                return None;
            }
        };
    let result = wait(worker, &op, user_data);
    let buf = op.take_buf().expect("the completion was reaped");
    let out = after(&buf, result);
    worker.uring.put_buf(buf);
    Some(out)
}

/// Parks until `op` completes. A cancellation or expired `timeout()` that arrives meanwhile
/// cancels the SQE and still waits for the completion; it is raised afterwards.
fn wait(worker: &Worker, op: &Op<Thread>, user_data: u64) -> i32 {
    let mut cancelled = false;
    let result = loop {
        if let Some(result) = op.result() {
            break result;
        }
        if !cancelled && park::request_due() {
            cancelled = true;
            // The cancellation (or the operation) may complete at once.
            worker.uring.cancel(user_data);
            continue;
        }
        let deadline = if cancelled {
            None
        } else {
            park::wake_deadline()
        };
        // Shielded: this park must not raise while the kernel owns the buffer. A cancellation
        // request still wakes it; the deadline covers `timeout()`.
        crate::thread::shield(|| park::park_until_woken(deadline, &park::WaitReason::File));
    };
    if cancelled {
        // The completion is in: raise what cancelled us.
        park::park_point();
    }
    result
}

fn to_io(result: i32) -> io::Result<usize> {
    if result < 0 {
        Err(io::Error::from_raw_os_error(-result))
    } else {
        Ok(result as usize)
    }
}

/// Reads into `dst` (at `offset`, or at the file position) through the ring. `None`: no
/// ring here, use the pool.
pub(crate) fn read(
    file: &Arc<File>,
    dst: &mut [u8],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    run(
        file,
        dst.len(),
        Kind::Read { offset },
        |_| {},
        |owned, result| {
            let result = to_io(result);
            if let Ok(n) = result {
                dst[..n].copy_from_slice(&owned[..n]);
            }
            result
        },
    )
}

/// Writes `src` (at `offset`, or at the file position) through the ring. `None`: no ring
/// here, use the pool.
pub(crate) fn write(
    file: &Arc<File>,
    src: &[u8],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    run(
        file,
        src.len(),
        Kind::Write { offset },
        |owned| owned.copy_from_slice(src),
        |_, result| to_io(result),
    )
}

/// `fsync` (or `fdatasync`) through the ring. `None`: no ring here, use the pool.
pub(crate) fn fsync(file: &Arc<File>, data_only: bool) -> Option<io::Result<()>> {
    run(
        file,
        0,
        Kind::Fsync { data_only },
        |_| {},
        |_, result| to_io(result).map(drop),
    )
}
