//! Custom resource types of the Alexandria EE platform (group `alexandria.io`).
//!
//! This crate holds only the types (spec, status, conditions) and their generated schemas; the
//! operator renders and reconciles them.
