//! Tenants (`tenants` table).

use serde::Serialize;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::error::Error;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Tenant {
    /// Id, e.g. `acme` (lowercase letters, digits, `-`).
    pub id: String,
    /// Human name.
    pub display_name: String,
    /// Tools any principal of the tenant may use at most (multi-tenant mode).
    pub tool_ceiling: Vec<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, display_name, tool_ceiling, created_at";

/// Checks a tenant id: 1–63 of `a-z 0-9 -`, starting with a letter or digit.
pub fn validate_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(
            "tenant: must be 1-63 characters of a-z 0-9 - starting with a letter or digit".into(),
        ))
    }
}

/// Checks a display name: 1–200 characters, no control characters.
pub fn validate_display_name(name: &str) -> Result<(), Error> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(
            "display_name: must be 1-200 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// Every tenant, or only `only` when given.
pub async fn list(conn: &mut PgConnection, only: Option<&str>) -> Result<Vec<Tenant>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE $1::text IS NULL OR id = $1 ORDER BY id"
    ))
    .bind(only)
    .fetch_all(conn)
    .await?)
}

/// One tenant.
pub async fn get(conn: &mut PgConnection, id: &str) -> Result<Option<Tenant>, Error> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Creates a tenant; `Conflict` if the id exists.
pub async fn create(
    conn: &mut PgConnection,
    id: &str,
    display_name: &str,
    tool_ceiling: &[String],
) -> Result<Tenant, Error> {
    sqlx::query_as(&format!(
        "INSERT INTO tenants (id, display_name, tool_ceiling) VALUES ($1, $2, $3)
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(display_name)
    .bind(tool_ceiling)
    .fetch_one(conn)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            Error::Conflict(format!("tenant {id:?} already exists"))
        } else {
            e.into()
        }
    })
}

/// Changes the given fields; `None` if there is no such tenant.
pub async fn update(
    conn: &mut PgConnection,
    id: &str,
    display_name: Option<&str>,
    tool_ceiling: Option<&[String]>,
) -> Result<Option<Tenant>, Error> {
    Ok(sqlx::query_as(&format!(
        "UPDATE tenants SET display_name = coalesce($2, display_name),
             tool_ceiling = coalesce($3, tool_ceiling), updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(display_name)
    .bind(tool_ceiling)
    .fetch_optional(conn)
    .await?)
}

/// Deletes a tenant with no users or agents left; whether it existed.
pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map_err(|e| {
            if super::is_foreign_key_violation(&e) {
                Error::Conflict(format!(
                    "tenant {id:?} still has users or agents; delete them first"
                ))
            } else {
                e.into()
            }
        })?;
    Ok(done.rows_affected() == 1)
}
