//! Postgres for development and tests: locate server binaries, run a throwaway cluster, and hand
//! out one fresh database per test.
//!
//! The binary's `serve --dev` and every test in the workspace go through this module, so the
//! database they talk to is always a real PostgreSQL server.

mod binaries;
mod ephemeral;
mod spawn;
mod test_database;

pub use binaries::PgBinaries;
pub use ephemeral::{Durability, EphemeralPostgres, shared_cluster};
pub use test_database::TestDatabase;
