//! `/admin/tenants`: tenants and their tool ceilings (server-wide: super_admin only in
//! multi-tenant mode, except reading one's own tenant).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::ensure_tenant;
use crate::audited::commit_with_audit;
use crate::error::Error;
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::identity::tenants::{self, Tenant};
use crate::identity::{DEFAULT_TENANT, validate_tool_list};
use crate::rbac::Caller;
use crate::state::AppState;

/// `POST /admin/tenants` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Id: 1–63 of `a-z 0-9 -`.
    pub id: String,
    /// Human name.
    pub display_name: String,
    /// The most the tenant's principals may use.
    #[serde(default)]
    pub tool_ceiling: Vec<String>,
}

/// `PATCH /admin/tenants/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// New human name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New tool ceiling.
    #[serde(default)]
    pub tool_ceiling: Option<Vec<String>>,
}

/// Lists tenants (only their own for a tenant admin).
#[utoipa::path(get, path = "/admin/tenants", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Tenants", body = Vec<Tenant>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<Tenant>>, Error> {
    let mut conn = state.db.acquire().await?;
    let scope = caller.tenant_scope(state.config.multi_tenant);
    Ok(Json(tenants::list(&mut conn, scope).await?))
}

/// Creates a tenant.
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", security(("bearer" = [])),
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created", body = Tenant),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a super_admin (multi-tenant mode)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Id taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>), Error> {
    tenants::validate_id(&body.id)?;
    tenants::validate_display_name(&body.display_name)?;
    let ceiling = validate_tool_list("tool_ceiling", &body.tool_ceiling)?;
    let mut tx = state.db.begin().await?;
    let tenant = tenants::create(&mut tx, &body.id, &body.display_name, &ceiling).await?;
    let event = caller
        .audit_event("admin.tenant.create")
        .with_metadata(json!({
            "target_tenant": tenant.id,
            "tool_ceiling": tenant.tool_ceiling,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// Reads a tenant.
#[utoipa::path(get, path = "/admin/tenants/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant (or not the caller's)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, Error> {
    let mut conn = state.db.acquire().await?;
    let tenant = tenants::get(&mut conn, &id)
        .await?
        .ok_or_else(|| Error::NotFound("tenant not found".into()))?;
    drop(conn);
    ensure_tenant(&state, &caller, "tenant", &tenant.id).await?;
    Ok(Json(tenant))
}

/// Changes a tenant's name or tool ceiling.
#[utoipa::path(patch, path = "/admin/tenants/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = UpdateTenant,
    responses(
        (status = 200, description = "Changed", body = Tenant),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a super_admin (multi-tenant mode)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateTenant>,
) -> Result<Json<Tenant>, Error> {
    if body.display_name.is_none() && body.tool_ceiling.is_none() {
        return Err(Error::InvalidRequest(
            "request body: name at least one of display_name, tool_ceiling".into(),
        ));
    }
    if let Some(name) = &body.display_name {
        tenants::validate_display_name(name)?;
    }
    let ceiling = body
        .tool_ceiling
        .as_deref()
        .map(|t| validate_tool_list("tool_ceiling", t))
        .transpose()?;
    let mut tx = state.db.begin().await?;
    let tenant = tenants::update(
        &mut tx,
        &id,
        body.display_name.as_deref(),
        ceiling.as_deref(),
    )
    .await?
    .ok_or_else(|| Error::NotFound("tenant not found".into()))?;
    let event = caller
        .audit_event("admin.tenant.update")
        .with_metadata(json!({
            "target_tenant": tenant.id,
            "display_name": tenant.display_name,
            "tool_ceiling": tenant.tool_ceiling,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(Json(tenant))
}

/// Deletes a tenant that has no users or agents left (never `default`).
#[utoipa::path(delete, path = "/admin/tenants/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a super_admin (multi-tenant mode)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Tenant still has users or agents, or is `default`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    if id == DEFAULT_TENANT {
        return Err(Error::Conflict(
            "the default tenant cannot be deleted".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    if !tenants::delete(&mut tx, &id).await? {
        return Err(Error::NotFound("tenant not found".into()));
    }
    let event = caller
        .audit_event("admin.tenant.delete")
        .with_metadata(json!({
            "target_tenant": id,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(StatusCode::NO_CONTENT)
}
