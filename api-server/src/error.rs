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
    /// The configuration is invalid; the message names the field.
    #[error("{field}: {message}")]
    Config {
        /// Dotted path of the offending field, e.g. `auth.lockout.window`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request carries no valid credentials (401); `reason` is a metrics label, never shown.
    #[error("authentication required")]
    Unauthenticated {
        /// Why: `missing_token`, `invalid_token`, `expired`, `revoked`, `bad_credentials`, ….
        reason: &'static str,
    },
    /// The principal is authenticated but not allowed to do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist, or not in the caller's tenant (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state, e.g. a duplicate name (409).
    #[error("{0}")]
    Conflict(String),
    /// The request body is not acceptable JSON for this route (400/413/415/422).
    #[error("{detail}")]
    BadBody {
        /// HTTP status to answer with.
        status: u16,
        /// Problem slug, e.g. `malformed-json`.
        slug: &'static str,
        /// What is wrong, naming the field where one is known.
        detail: String,
    },
    /// Hashing or token signing failed unexpectedly.
    #[error("{0}")]
    Crypto(String),
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
