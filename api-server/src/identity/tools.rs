//! The server's tool catalog (`tools` table).

use serde::Serialize;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::error::Error;

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Tool {
    /// Unique name, e.g. `search` or `github:create_issue`.
    pub name: String,
    /// What the tool does.
    pub description: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// Checks a tool name: 1–128 of `A-Z a-z 0-9 . _ : -`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "tool name {:?} must be 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit",
            truncate(name)
        )))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Every tool, by name.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<Tool>, Error> {
    Ok(
        sqlx::query_as("SELECT name, description, created_at FROM tools ORDER BY name")
            .fetch_all(conn)
            .await?,
    )
}

/// Names of every tool.
pub async fn names(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar("SELECT name FROM tools ORDER BY name")
        .fetch_all(conn)
        .await?)
}

/// One tool.
pub async fn get(conn: &mut PgConnection, name: &str) -> Result<Option<Tool>, Error> {
    Ok(
        sqlx::query_as("SELECT name, description, created_at FROM tools WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

/// Adds a tool; `Conflict` if the name exists.
pub async fn create(conn: &mut PgConnection, name: &str, description: &str) -> Result<Tool, Error> {
    sqlx::query_as(
        "INSERT INTO tools (name, description) VALUES ($1, $2)
         RETURNING name, description, created_at",
    )
    .bind(name)
    .bind(description)
    .fetch_one(conn)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            Error::Conflict(format!("tool {name:?} already exists"))
        } else {
            e.into()
        }
    })
}

/// Changes a tool's description; `None` if there is no such tool.
pub async fn update(
    conn: &mut PgConnection,
    name: &str,
    description: &str,
) -> Result<Option<Tool>, Error> {
    Ok(sqlx::query_as(
        "UPDATE tools SET description = $2, updated_at = now() WHERE name = $1
         RETURNING name, description, created_at",
    )
    .bind(name)
    .bind(description)
    .fetch_optional(conn)
    .await?)
}

/// Removes a tool; whether it existed. Grants naming it stop mattering at once (the catalog is
/// part of every intersection).
pub async fn delete(conn: &mut PgConnection, name: &str) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM tools WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
