//! One fresh database per test, on `DATABASE_URL` or on the process-wide throwaway cluster.

use sqlx::PgPool;
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};

use super::ephemeral::shared_cluster;
use crate::db;
use crate::error::Error;

/// A database created for one test and dropped (with `FORCE`) when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Pool connected to the database.
    pub pool: PgPool,
    /// Connection URL of the database (for child processes such as the binary under test).
    pub url: String,
    /// Name of the database.
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    /// A new database with every migration applied.
    pub async fn create() -> Result<Self, Error> {
        let database = Self::create_empty().await?;
        db::migrate(&database.pool).await?;
        Ok(database)
    }

    /// A new database with nothing in it.
    pub async fn create_empty() -> Result<Self, Error> {
        let admin_url = server_admin_url().await?;
        Self::create_on(&admin_url).await
    }

    /// A new empty database on the server that `admin_url` (a superuser or `CREATEDB` role)
    /// points at.
    pub async fn create_on(admin_url: &str) -> Result<Self, Error> {
        let name = format!("alexandria_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url).await?;
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await?;
        admin.close().await?;
        let url = database_url(admin_url, &name)?;
        let pool = db::connect(&url, 20).await?;
        Ok(Self {
            pool,
            url,
            name,
            admin_url: admin_url.to_owned(),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on a future: use a thread
        // with its own small runtime and wait for it, so the database is gone when we return.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| Error::Io {
                    context: "start a runtime to drop the test database".into(),
                    source,
                })?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin
                    .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await?;
                admin.close().await?;
                Ok::<_, Error>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            tracing::warn!(error = %e, database = %self.name, "dropping test database");
        }
    }
}

/// `DATABASE_URL` when set, else the shared throwaway cluster (started on first use).
async fn server_admin_url() -> Result<String, Error> {
    if let Some(url) = external_server(std::env::var("DATABASE_URL").ok()) {
        return Ok(url);
    }
    tokio::task::spawn_blocking(|| shared_cluster().map(|c| c.url()))
        .await
        .map_err(|e| Error::PostgresSetup {
            step: "start postgres",
            detail: e.to_string(),
        })?
}

/// The external server to use, if `DATABASE_URL` names one (empty counts as unset).
fn external_server(database_url: Option<String>) -> Option<String> {
    database_url.filter(|url| !url.trim().is_empty())
}

/// The same server URL with another database name.
fn database_url(server_url: &str, database: &str) -> Result<String, Error> {
    let mut url =
        url::Url::parse(server_url).map_err(|e| Error::InvalidDatabaseUrl(e.to_string()))?;
    url.set_path(database);
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_selects_the_external_server_and_empty_means_unset() {
        let url = "postgres://ci:pw@10.0.0.5:5432/postgres".to_owned();
        assert_eq!(external_server(Some(url.clone())), Some(url));
        assert_eq!(external_server(Some("  ".into())), None);
        assert_eq!(external_server(None), None);
    }

    #[test]
    fn database_url_replaces_only_the_database_name() {
        let url = database_url("postgres://u:p@db.example:5433/app?sslmode=require", "t1").unwrap();
        assert_eq!(url, "postgres://u:p@db.example:5433/t1?sslmode=require");
    }
}
