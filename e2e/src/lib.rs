//! Helpers for black-box tests and benchmarks over the built binaries.

pub mod binaries;
pub mod process;
