//! The disk-full and stuck-disk hook: md-core's [`WriteFault`], shared by every file writer.

pub use md_core::fault::write_all;
pub use md_core::WriteFault;
