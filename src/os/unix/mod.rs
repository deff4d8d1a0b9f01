//! Unix-specific parts, shaped like `std::os::unix`.

pub mod net;
