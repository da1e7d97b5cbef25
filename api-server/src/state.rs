//! State shared by every request handler.

use sqlx::PgPool;

/// What handlers need: the database pool (later also auth, audit and config).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Pool for the application's database.
    pub db: PgPool,
}
