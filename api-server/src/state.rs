//! State shared by every request handler.

use sqlx::PgPool;

use crate::audit::Audit;

/// What handlers need: the database pool and the audit log (later also auth and config).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Pool for the application's database.
    pub db: PgPool,
    /// The audit log; every mutating action awaits its `record`.
    pub audit: Audit,
}
