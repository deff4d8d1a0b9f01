//! Unix-specific parts, shaped like `std::os::unix`.

pub mod fs;
pub mod net;
pub mod process;
