//! Users (`users` table). Password hashes never leave this module except to the login check.

use serde::Serialize;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::principal::Role;
use crate::error::Error;

/// A user as the admin API shows it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant: String,
    /// Login name (unique on the server).
    pub username: String,
    /// Role: `super_admin`, `admin` or `user`.
    pub role: Role,
    /// Tools the user allows agents to use on their behalf.
    pub allowed_tools: Vec<String>,
    /// Disabled users cannot log in and their tokens stop working.
    pub disabled: bool,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    tenant: String,
    username: String,
    role: String,
    allowed_tools: Vec<String>,
    disabled: bool,
    created_at: OffsetDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = Error;
    fn try_from(row: UserRow) -> Result<Self, Error> {
        Ok(User {
            id: row.id,
            role: parse_role(&row.role)?,
            tenant: row.tenant,
            username: row.username,
            allowed_tools: row.allowed_tools,
            disabled: row.disabled,
            created_at: row.created_at,
        })
    }
}

fn parse_role(text: &str) -> Result<Role, Error> {
    Role::parse(text).ok_or_else(|| Error::Crypto(format!("users.role holds {text:?}")))
}

const COLUMNS: &str = "id, tenant, username, role, allowed_tools, disabled, created_at";

/// What the login check needs.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// Id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Tenant.
    pub tenant: String,
    /// Role.
    pub role: Role,
    /// bcrypt hash.
    pub password_hash: String,
    /// Disabled users fail login like a wrong password.
    pub disabled: bool,
    /// Current token generation.
    pub token_generation: i64,
}

/// What token validation needs, read on every request.
#[derive(Debug, Clone)]
pub struct AuthState {
    /// Login name.
    pub username: String,
    /// Current role.
    pub role: Role,
    /// Current tenant.
    pub tenant: String,
    /// Disabled?
    pub disabled: bool,
    /// Current token generation.
    pub token_generation: i64,
}

/// A new user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Tenant (must exist).
    pub tenant: &'a str,
    /// Login name.
    pub username: &'a str,
    /// bcrypt hash of the password.
    pub password_hash: &'a str,
    /// `super_admin`, `admin` or `user` (never `agent`).
    pub role: Role,
    /// Allowed tools.
    pub allowed_tools: &'a [String],
}

/// Inserts a user; `Conflict` for a taken username, `InvalidRequest` for an unknown tenant.
pub async fn create(conn: &mut PgConnection, new: &NewUser<'_>) -> Result<User, Error> {
    if new.role == Role::Agent {
        return Err(Error::InvalidRequest(
            "role: agents are created under /admin/agents".into(),
        ));
    }
    let row: UserRow = sqlx::query_as(&format!(
        "INSERT INTO users (tenant, username, password_hash, role, allowed_tools)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(new.tenant)
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(new.allowed_tools)
    .fetch_one(conn)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            Error::Conflict(format!("username {:?} is taken", new.username))
        } else if super::is_foreign_key_violation(&e) {
            Error::InvalidRequest(format!("tenant: no tenant {:?}", new.tenant))
        } else {
            e.into()
        }
    })?;
    row.try_into()
}

/// Users of `tenant` (every tenant when `None`).
pub async fn list(conn: &mut PgConnection, tenant: Option<&str>) -> Result<Vec<User>, Error> {
    let rows: Vec<UserRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE $1::text IS NULL OR tenant = $1 ORDER BY username"
    ))
    .bind(tenant)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// One user, whatever its tenant (callers check the tenant).
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<User>, Error> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(TryInto::try_into).transpose()
}

/// One user, locked for the rest of the transaction.
pub async fn get_for_update(conn: &mut PgConnection, id: Uuid) -> Result<Option<User>, Error> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges<'a> {
    /// New role.
    pub role: Option<Role>,
    /// New allowed tools.
    pub allowed_tools: Option<&'a [String]>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New bcrypt hash.
    pub password_hash: Option<&'a str>,
}

/// Applies `changes`. A change of role, password or disabled state bumps the token generation,
/// which revokes every token issued to the user before it.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    changes: &UserChanges<'_>,
) -> Result<Option<User>, Error> {
    let revoke =
        changes.role.is_some() || changes.disabled.is_some() || changes.password_hash.is_some();
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "UPDATE users SET
             role = coalesce($2, role),
             allowed_tools = coalesce($3, allowed_tools),
             disabled = coalesce($4, disabled),
             password_hash = coalesce($5, password_hash),
             token_generation = token_generation + CASE WHEN $6 THEN 1 ELSE 0 END,
             updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(changes.role.map(Role::as_str))
    .bind(changes.allowed_tools)
    .bind(changes.disabled)
    .bind(changes.password_hash)
    .bind(revoke)
    .fetch_optional(conn)
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// Deletes a user; whether it existed.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The login record of `username`, if any.
pub async fn find_for_login(
    conn: &mut PgConnection,
    username: &str,
) -> Result<Option<LoginRecord>, Error> {
    let row: Option<(Uuid, String, String, String, String, bool, i64)> = sqlx::query_as(
        "SELECT id, username, tenant, role, password_hash, disabled, token_generation
         FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(conn)
    .await?;
    row.map(
        |(id, username, tenant, role, password_hash, disabled, token_generation)| {
            Ok(LoginRecord {
                id,
                username,
                tenant,
                role: parse_role(&role)?,
                password_hash,
                disabled,
                token_generation,
            })
        },
    )
    .transpose()
}

/// The current state token validation checks, if the user exists.
pub async fn auth_state(conn: &mut PgConnection, id: Uuid) -> Result<Option<AuthState>, Error> {
    let row: Option<(String, String, String, bool, i64)> = sqlx::query_as(
        "SELECT username, role, tenant, disabled, token_generation FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|(username, role, tenant, disabled, token_generation)| {
        Ok(AuthState {
            username,
            role: parse_role(&role)?,
            tenant,
            disabled,
            token_generation,
        })
    })
    .transpose()
}

/// The user's allowed tools and tenant.
pub async fn allowed_tools(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(String, Role, Vec<String>)>, Error> {
    let row: Option<(String, String, Vec<String>, bool)> =
        sqlx::query_as("SELECT tenant, role, allowed_tools, disabled FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    match row {
        Some((tenant, role, tools, false)) => Ok(Some((tenant, parse_role(&role)?, tools))),
        _ => Ok(None),
    }
}
