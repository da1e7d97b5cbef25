//! The crate's error type.

use std::path::PathBuf;

/// Everything that can fail in the api-server library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither `DATABASE_URL` nor PostgreSQL server binaries are available.
    #[error(
        "no PostgreSQL server binaries (initdb and postgres) found (searched: {}); install \
         PostgreSQL (Debian: `apt-get install postgresql`) or set DATABASE_URL to an existing server",
        display_paths(.searched)
    )]
    PostgresNotInstalled {
        /// Directories that were searched.
        searched: Vec<PathBuf>,
    },
    /// Running as root and no unprivileged user exists to run Postgres as.
    #[error(
        "postgres refuses to run as root and neither a `postgres` nor a `nobody` user exists; \
         create one or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    /// A step of setting up the throwaway cluster failed.
    #[error("ephemeral postgres: {step} failed: {detail}")]
    PostgresSetup {
        /// The step, e.g. `initdb`.
        step: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A database URL could not be parsed.
    #[error("invalid database URL: {0}")]
    InvalidDatabaseUrl(String),
    /// A query or connection failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An audit event was rejected before it reached the queue.
    #[error("invalid audit event: {0}")]
    InvalidAuditEvent(String),
    /// The audit log could not commit an event: the action it records must fail (fail closed).
    #[error("audit log unavailable: {0}")]
    AuditUnavailable(String),
    /// Key material is missing or malformed.
    #[error("{0}")]
    InvalidKey(String),
    /// A checkpoint cannot be read or used.
    #[error("invalid checkpoint: {0}")]
    InvalidCheckpoint(String),
    /// A request parameter is out of range or malformed; the message names it.
    #[error("{0}")]
    InvalidRequest(String),
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
