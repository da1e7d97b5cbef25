//! Alexandria EE api-server: the auth and audit plane.
//!
//! The binary (`alexandria-api`) is a thin CLI over this library; tests drive the same code.

pub mod audit;
pub mod audited;
pub mod auth;
pub mod authz;
pub mod config;
pub mod db;
pub mod entitlements;
pub mod error;
pub mod http;
pub mod identity;
pub mod observability;
pub mod postgres;
pub mod rbac;
pub mod server;
pub mod state;

pub use error::Error;
