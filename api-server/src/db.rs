//! Connection pool, embedded migrations and the migration state readiness depends on.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::Error;

/// The schema migrations, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Statements slower than this are logged at WARN. Streaming a large audit log for verify or
/// export legitimately takes seconds, so the threshold sits well above request latencies.
const SLOW_STATEMENT: Duration = Duration::from_secs(10);

/// Opens a pool of at most `max_connections` to `url`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, Error> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| Error::InvalidDatabaseUrl(e.to_string()))?
        .log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Applies every pending migration; a no-op when the schema is current.
pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Versions of embedded migrations that the database has not applied successfully.
pub async fn pending_migrations(pool: &PgPool) -> Result<Vec<i64>, Error> {
    let applied: Vec<i64> =
        match sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
        {
            Ok(versions) => versions,
            // No migration table: nothing applied yet.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(e.into()),
        };
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect())
}
