//! Alexandria EE api-server: the auth and audit plane.
//!
//! The binary (`alexandria-api`) is a thin CLI over this library; tests drive the same code.

pub mod audit;
pub mod db;
pub mod error;
pub mod http;
pub mod postgres;
pub mod server;
pub mod state;

pub use error::Error;
