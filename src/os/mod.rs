//! Platform-specific parts, shaped like `std::os`.

pub mod unix;
