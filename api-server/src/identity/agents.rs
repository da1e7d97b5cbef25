//! Agents (`agents` table): principals of their own, with the tools they may use.

use serde::Serialize;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Error;

/// An agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Agent {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant: String,
    /// Name, unique within the tenant.
    pub name: String,
    /// Tools the agent may use.
    pub allowed_tools: Vec<String>,
    /// Disabled agents' tokens stop working.
    pub disabled: bool,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// An agent plus its current token generation (token validation).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentAuthState {
    /// Name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// Disabled?
    pub disabled: bool,
    /// Current token generation.
    pub token_generation: i64,
}

const COLUMNS: &str = "id, tenant, name, allowed_tools, disabled, created_at";

/// Inserts an agent; `Conflict` for a taken name in the tenant.
pub async fn create(
    conn: &mut PgConnection,
    tenant: &str,
    name: &str,
    allowed_tools: &[String],
) -> Result<Agent, Error> {
    sqlx::query_as(&format!(
        "INSERT INTO agents (tenant, name, allowed_tools) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(tenant)
    .bind(name)
    .bind(allowed_tools)
    .fetch_one(conn)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            Error::Conflict(format!(
                "agent {name:?} already exists in tenant {tenant:?}"
            ))
        } else if super::is_foreign_key_violation(&e) {
            Error::InvalidRequest(format!("tenant: no tenant {tenant:?}"))
        } else {
            e.into()
        }
    })
}

/// Agents of `tenant` (every tenant when `None`).
pub async fn list(conn: &mut PgConnection, tenant: Option<&str>) -> Result<Vec<Agent>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM agents WHERE $1::text IS NULL OR tenant = $1 ORDER BY tenant, name"
    ))
    .bind(tenant)
    .fetch_all(conn)
    .await?)
}

/// One agent, whatever its tenant (callers check the tenant).
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Agent>, Error> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// One agent, locked for the rest of the transaction.
pub async fn get_for_update(conn: &mut PgConnection, id: Uuid) -> Result<Option<Agent>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM agents WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Changes tools and/or disabled state; disabling bumps the token generation (revokes tokens).
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    allowed_tools: Option<&[String]>,
    disabled: Option<bool>,
) -> Result<Option<Agent>, Error> {
    Ok(sqlx::query_as(&format!(
        "UPDATE agents SET allowed_tools = coalesce($2, allowed_tools),
             disabled = coalesce($3, disabled),
             token_generation = token_generation + CASE WHEN $3 IS NULL THEN 0 ELSE 1 END,
             updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(allowed_tools)
    .bind(disabled)
    .fetch_optional(conn)
    .await?)
}

/// Deletes an agent; whether it existed.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM agents WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What token validation checks, if the agent exists.
pub async fn auth_state(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<AgentAuthState>, Error> {
    Ok(
        sqlx::query_as("SELECT name, tenant, disabled, token_generation FROM agents WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The current token generation of an agent.
pub async fn token_generation(conn: &mut PgConnection, id: Uuid) -> Result<Option<i64>, Error> {
    Ok(
        sqlx::query_scalar("SELECT token_generation FROM agents WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}
