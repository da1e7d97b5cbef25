//! `/admin/users`: create, list, read, change, delete and unlock users.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ensure_tenant, tenant_for_new};
use crate::audited::commit_with_audit;
use crate::auth::lockout::{self, Scope};
use crate::auth::principal::Role;
use crate::error::Error;
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::identity::users::{self, NewUser, User, UserChanges};
use crate::identity::{validate_principal_name, validate_tool_list};
use crate::rbac::Caller;
use crate::rbac::enforce::deny_forbidden;
use crate::state::AppState;

/// `POST /admin/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name: 1–64 of `A-Z a-z 0-9 . _ @ -`.
    pub username: String,
    /// Initial password, 12–71 bytes (stored only as a bcrypt hash).
    pub password: String,
    /// `user`, `admin` or `super_admin` (only a super_admin creates super_admins).
    pub role: Role,
    /// Tenant (default: the caller's).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Tools the user allows agents to use for them.
    #[serde(default)]
    pub allowed_tools: Vec<String>,
}

/// `PATCH /admin/users/{id}` body: only the fields given change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New role (revokes the user's tokens).
    #[serde(default)]
    pub role: Option<Role>,
    /// New allowed tools.
    #[serde(default)]
    pub allowed_tools: Option<Vec<String>>,
    /// Disable (revokes the user's tokens at once) or enable.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// New password (revokes the user's tokens).
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /admin/users/{id}/unlock` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnlockResponse {
    /// Whether a lock was active.
    pub was_locked: bool,
}

fn touches_super_admin(target: Option<Role>, new_role: Option<Role>) -> bool {
    target == Some(Role::SuperAdmin) || new_role == Some(Role::SuperAdmin)
}

async fn load(state: &AppState, caller: &Caller, id: Uuid) -> Result<User, Error> {
    let mut conn = state.db.acquire().await?;
    let user = users::get(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound("user not found".into()))?;
    drop(conn);
    ensure_tenant(state, caller, "user", &user.tenant).await?;
    Ok(user)
}

/// Lists users (of the caller's tenant for a tenant admin).
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Users", body = Vec<User>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<User>>, Error> {
    let mut conn = state.db.acquire().await?;
    let scope = caller.tenant_scope(state.config.multi_tenant);
    Ok(Json(users::list(&mut conn, scope).await?))
}

/// Creates a user.
#[utoipa::path(post, path = "/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (role, tenant, super_admin escalation)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), Error> {
    validate_principal_name("username", &body.username)?;
    let allowed_tools = validate_tool_list("allowed_tools", &body.allowed_tools)?;
    if body.role == Role::Agent {
        return Err(Error::InvalidRequest(
            "role: agents are created under /admin/agents".into(),
        ));
    }
    crate::auth::password::validate_new_password(&body.password)?;
    if let Some(t) = &body.tenant {
        crate::identity::tenants::validate_id(t)?;
    }
    if body.role == Role::SuperAdmin && !caller.principal.is_super_admin() {
        return Err(deny_forbidden(
            &state,
            &caller,
            "admin.user.create",
            "only a super_admin creates super_admins",
        )
        .await);
    }
    let tenant =
        tenant_for_new(&state, &caller, "admin.user.create", body.tenant.as_deref()).await?;
    let hash = state.passwords.hash(&body.password).await?;
    let mut tx = state.db.begin().await?;
    let user = users::create(
        &mut tx,
        &NewUser {
            tenant: &tenant,
            username: &body.username,
            password_hash: &hash,
            role: body.role,
            allowed_tools: &allowed_tools,
        },
    )
    .await?;
    let event = caller
        .audit_event("admin.user.create")
        .with_metadata(json!({
            "user_id": user.id,
            "username": user.username,
            "role": user.role.as_str(),
            "target_tenant": user.tenant,
            "allowed_tools": user.allowed_tools,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Reads a user.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<User>, Error> {
    Ok(Json(load(&state, &caller, id).await?))
}

/// Changes a user; disabling, a new role or a new password revokes their tokens at once.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "Changed", body = User),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (role, super_admin escalation)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<User>, Error> {
    if body.role.is_none()
        && body.allowed_tools.is_none()
        && body.disabled.is_none()
        && body.password.is_none()
    {
        return Err(Error::InvalidRequest(
            "request body: name at least one of role, allowed_tools, disabled, password".into(),
        ));
    }
    if body.role == Some(Role::Agent) {
        return Err(Error::InvalidRequest(
            "role: a user cannot become an agent".into(),
        ));
    }
    let allowed_tools = body
        .allowed_tools
        .as_deref()
        .map(|t| validate_tool_list("allowed_tools", t))
        .transpose()?;
    let hash = match &body.password {
        Some(password) => Some(state.passwords.hash(password).await?),
        None => None,
    };
    let target = load(&state, &caller, id).await?;
    if touches_super_admin(Some(target.role), body.role) && !caller.principal.is_super_admin() {
        return Err(deny_forbidden(
            &state,
            &caller,
            "admin.user.update",
            "only a super_admin changes super_admins or grants the role",
        )
        .await);
    }
    let mut tx = state.db.begin().await?;
    let changes = UserChanges {
        role: body.role,
        allowed_tools: allowed_tools.as_deref(),
        disabled: body.disabled,
        password_hash: hash.as_deref(),
    };
    let user = users::update(&mut tx, id, &changes)
        .await?
        .ok_or_else(|| Error::NotFound("user not found".into()))?;
    let mut changed = Vec::new();
    for (name, given) in [
        ("role", body.role.is_some()),
        ("allowed_tools", body.allowed_tools.is_some()),
        ("disabled", body.disabled.is_some()),
        ("password", body.password.is_some()),
    ] {
        if given {
            changed.push(name);
        }
    }
    let event = caller.audit_event("admin.user.update").with_metadata(json!({
        "user_id": user.id,
        "username": user.username,
        "changed": changed,
        "role": user.role.as_str(),
        "disabled": user.disabled,
        "allowed_tools": user.allowed_tools,
        "tokens_revoked": body.role.is_some() || body.disabled.is_some() || body.password.is_some(),
        "peer_ip": caller.ip.to_string(),
    }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(Json(user))
}

/// Deletes a user (their tokens stop working: the subject no longer exists).
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    let target = load(&state, &caller, id).await?;
    if target.role == Role::SuperAdmin && !caller.principal.is_super_admin() {
        return Err(deny_forbidden(
            &state,
            &caller,
            "admin.user.delete",
            "only a super_admin deletes super_admins",
        )
        .await);
    }
    let mut tx = state.db.begin().await?;
    if !users::delete(&mut tx, id).await? {
        return Err(Error::NotFound("user not found".into()));
    }
    let event = caller
        .audit_event("admin.user.delete")
        .with_metadata(json!({
            "user_id": target.id,
            "username": target.username,
            "target_tenant": target.tenant,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a login lock of the user (and resets their failure counter).
#[utoipa::path(post, path = "/admin/users/{id}/unlock", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Unlocked", body = UnlockResponse),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unlock(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<UnlockResponse>, Error> {
    let target = load(&state, &caller, id).await?;
    let mut tx = state.db.begin().await?;
    let was_locked = lockout::clear(&mut tx, Scope::User, &target.username).await?;
    let event = caller
        .audit_event("admin.user.unlock")
        .with_metadata(json!({
            "user_id": target.id,
            "username": target.username,
            "was_locked": was_locked,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(Json(UnlockResponse { was_locked }))
}
