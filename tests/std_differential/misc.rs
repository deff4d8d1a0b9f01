//! `zsync::fs::File` over what is not a regular file: FIFOs opened non-blocking, pipe ends and
//! sockets made files. Their non-blocking mode is theirs: a read that finds nothing is
//! `WouldBlock` at once, on every thread (io_uring would wait), and a blocking one waits.

use super::api::*;
use crate::helpers::*;
use crate::Scenario;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

pub const SCENARIOS: &[Scenario] = scenarios![
    fifo_nb_open,
    fifo_nb_read_no_writer,
    fifo_nb_read_writer_no_data,
    pipe_nb_via_file,
    pipe_nb_via_file_write,
    file_read_socket,
    file_read_blocking_socket_data_later,
];

/// A FIFO in a fresh directory, opened for reading with `O_NONBLOCK` (which returns at once
/// without a writer).
fn nonblocking_fifo(d: &TempDir) -> std::io::Result<fs::File> {
    let p = d.join("p");
    mkfifo(&p);
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&p)
}

fn fifo_nb_open() -> String {
    rk(nonblocking_fifo(&TempDir::new()))
}

/// No writer: the end of the data, `Ok(0)`.
fn fifo_nb_read_no_writer() -> String {
    let d = TempDir::new();
    let mut f = nonblocking_fifo(&d).unwrap();
    r(f.read(&mut [0u8; 4]))
}

/// A writer that wrote nothing: `WouldBlock`.
fn fifo_nb_read_writer_no_data() -> String {
    let d = TempDir::new();
    let mut f = nonblocking_fifo(&d).unwrap();
    let _writer = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join("p"))
        .unwrap();
    rk(f.read(&mut [0u8; 4]))
}

fn pipe_nb_via_file() -> String {
    let (read_end, _write_end) = nonblocking_pipe();
    let mut f = fs::File::from(read_end);
    rk(f.read(&mut [0u8; 4]))
}

/// Writes until the pipe is full: what fitted, then `WouldBlock`.
fn pipe_nb_via_file_write() -> String {
    let (_read_end, write_end) = nonblocking_pipe();
    let mut f = fs::File::from(write_end);
    let mut n = 0usize;
    let mut last = String::new();
    for _ in 0..100 {
        match f.write(&[0u8; 4096]) {
            Ok(k) => n += k,
            Err(er) => {
                last = e(&er);
                break;
            }
        }
    }
    format!("{n} {last}")
}

fn file_read_socket() -> String {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let mut f = fs::File::from(OwnedFd::from(a));
    rk(f.read(&mut [0u8; 4]))
}

/// A blocking socket made a file: the read waits for the data.
fn file_read_blocking_socket_data_later() -> String {
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut f = fs::File::from(OwnedFd::from(a));
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        b.write_all(b"hi").unwrap();
        b
    });
    let x = r(f.read(&mut [0u8; 4]));
    h.join().unwrap();
    x
}
