//! The scenarios compiled against zsync's modules.
// Each scenario file is loaded twice, as a module here and as one in the other API's file: that
// is how a body written once is compiled against both.
#![allow(clippy::duplicate_mod)]

/// The API under the names the scenarios use: each scenario file imports it from here.
pub mod api {
    pub use zsync::os::unix::{fs as ufs, net as unet, process as uproc};
    pub use zsync::sync::mpsc;
    pub use zsync::{fs, net, process, sync, thread};
}

#[path = "fs.rs"]
pub mod fs;
#[path = "misc.rs"]
pub mod misc;
#[path = "net.rs"]
pub mod net;
#[path = "process.rs"]
pub mod process;
#[path = "sync.rs"]
pub mod sync;
#[path = "thread.rs"]
pub mod thread;
