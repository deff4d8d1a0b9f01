//! Unix-specific parts, shaped like `std::os::unix`.

pub mod fs;
pub mod net;
pub mod process;
mod stream_connect;

/// std's own `std::os::unix` modules that hold no blocking call (`OsStrExt`, the fd traits, the
/// prelude), re-exported so that they port by changing the path.
pub use std::os::unix::{ffi, io, prelude};
