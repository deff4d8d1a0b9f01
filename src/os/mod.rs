//! Platform-specific parts, shaped like `std::os`.

pub mod unix;

/// std's own fd traits and types (`AsFd`, `AsRawFd`, `OwnedFd`, `BorrowedFd`, ...), re-exported
/// so that `std::os::fd` ports as `zsync::os::fd`: zsync's files, sockets and pipes implement
/// them.
pub use std::os::fd;
