//! `/admin/tools`: the server's tool catalog (changes are server-wide: super_admin only in
//! multi-tenant mode).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::audited::commit_with_audit;
use crate::error::Error;
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::identity::tools::{self, Tool};
use crate::rbac::Caller;
use crate::state::AppState;

/// Longest tool description, in characters.
const MAX_DESCRIPTION: usize = 2000;

/// `POST /admin/tools` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTool {
    /// Name: 1–128 of `A-Z a-z 0-9 . _ : -`.
    pub name: String,
    /// What it does (at most 2000 characters).
    #[serde(default)]
    pub description: String,
}

/// `PUT /admin/tools/{name}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTool {
    /// What it does (at most 2000 characters).
    pub description: String,
}

fn validate_description(text: &str) -> Result<(), Error> {
    if text.chars().count() > MAX_DESCRIPTION || text.contains('\0') {
        return Err(Error::InvalidRequest(format!(
            "description: at most {MAX_DESCRIPTION} characters, no NUL"
        )));
    }
    Ok(())
}

/// Lists the catalog.
#[utoipa::path(get, path = "/admin/tools", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The catalog", body = Vec<Tool>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Vec<Tool>>, Error> {
    let mut conn = state.db.acquire().await?;
    Ok(Json(tools::list(&mut conn).await?))
}

/// Adds a tool to the catalog.
#[utoipa::path(post, path = "/admin/tools", tag = "admin", security(("bearer" = [])),
    request_body = CreateTool,
    responses(
        (status = 201, description = "Added", body = Tool),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (super_admin only in multi-tenant mode)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTool>,
) -> Result<(StatusCode, Json<Tool>), Error> {
    tools::validate_name(&body.name)?;
    validate_description(&body.description)?;
    let mut tx = state.db.begin().await?;
    let tool = tools::create(&mut tx, &body.name, &body.description).await?;
    let event = caller
        .audit_event("admin.tool.create")
        .with_metadata(json!({
            "tool": tool.name,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok((StatusCode::CREATED, Json(tool)))
}

/// Reads a tool.
#[utoipa::path(get, path = "/admin/tools/{name}", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "Tool name")),
    responses(
        (status = 200, description = "The tool", body = Tool),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tool", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Tool>, Error> {
    let mut conn = state.db.acquire().await?;
    tools::get(&mut conn, &name)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound("tool not found".into()))
}

/// Changes a tool's description.
#[utoipa::path(put, path = "/admin/tools/{name}", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "Tool name")),
    request_body = UpdateTool,
    responses(
        (status = 200, description = "Changed", body = Tool),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (super_admin only in multi-tenant mode)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tool", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<UpdateTool>,
) -> Result<Json<Tool>, Error> {
    validate_description(&body.description)?;
    let mut tx = state.db.begin().await?;
    let tool = tools::update(&mut tx, &name, &body.description)
        .await?
        .ok_or_else(|| Error::NotFound("tool not found".into()))?;
    let event = caller
        .audit_event("admin.tool.update")
        .with_metadata(json!({
            "tool": tool.name,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(Json(tool))
}

/// Removes a tool from the catalog (no intersection includes it any more).
#[utoipa::path(delete, path = "/admin/tools/{name}", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "Tool name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (super_admin only in multi-tenant mode)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tool", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Error> {
    let mut tx = state.db.begin().await?;
    if !tools::delete(&mut tx, &name).await? {
        return Err(Error::NotFound("tool not found".into()));
    }
    let event = caller
        .audit_event("admin.tool.delete")
        .with_metadata(json!({
            "tool": name,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(StatusCode::NO_CONTENT)
}
