//! The tamper-evident audit log: an append-only, HMAC-SHA256-chained `audit_log` table with
//! Ed25519-signed checkpoints, streaming verification, NDJSON export and partition retention.
//!
//! The rest of the server calls [`Audit::record`], which returns only once the event's row is
//! committed. The byte layout of the chain is documented in `docs/audit-chain.md`.

pub mod canonical;
pub mod checkpoint;
pub mod cli;
mod event;
pub mod export;
pub mod keys;
mod metrics;
pub mod retention;
mod time_micros;
pub mod verify;
mod writer;

pub use checkpoint::{Anchor, Checkpoint};
pub use event::{AuditEvent, AuditReceipt, MAX_ACTION_BYTES, MAX_METADATA_BYTES, MAX_NAME_BYTES};
pub use keys::{CheckpointKeys, CheckpointSigner, HmacKeyRing};
pub use metrics::AuditMetrics;
pub use time_micros::{from_micros, micros};
pub use verify::{Failure, FailureKind, VerifyOptions, VerifyReport, verify_database};
pub use writer::{Audit, Clock, WriterKeys, WriterSettings, ensure_partitions};
