//! `/admin/agents`: agents and their tokens.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ensure_tenant, tenant_for_new};
use crate::audited::commit_with_audit;
use crate::auth::principal::Role;
use crate::config::parse_duration;
use crate::error::Error;
use crate::http::auth::TokenResponse;
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::identity::agents::{self, Agent};
use crate::identity::{users, validate_principal_name, validate_tool_list};
use crate::rbac::Caller;
use crate::rbac::enforce::deny_forbidden;
use crate::state::AppState;

/// `POST /admin/agents` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// Name, unique in the tenant: 1–64 of `A-Z a-z 0-9 . _ @ -`.
    pub name: String,
    /// Tenant (default: the caller's).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Tools the agent may use.
    #[serde(default)]
    pub allowed_tools: Vec<String>,
}

/// `PATCH /admin/agents/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    /// New allowed tools.
    #[serde(default)]
    pub allowed_tools: Option<Vec<String>>,
    /// Disable (revokes the agent's tokens) or enable.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// `POST /admin/agents/{id}/tokens` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueAgentToken {
    /// The user the agent acts for (delegation); the token names both.
    #[serde(default)]
    pub on_behalf_of: Option<Uuid>,
    /// Lifetime, e.g. `15m` (at most the server's `auth.jwt_ttl`, which is the default).
    #[serde(default)]
    pub ttl: Option<String>,
}

async fn load(state: &AppState, caller: &Caller, id: Uuid) -> Result<Agent, Error> {
    let mut conn = state.db.acquire().await?;
    let agent = agents::get(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound("agent not found".into()))?;
    drop(conn);
    ensure_tenant(state, caller, "agent", &agent.tenant).await?;
    Ok(agent)
}

/// Lists agents (of the caller's tenant for a tenant admin).
#[utoipa::path(get, path = "/admin/agents", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Agents", body = Vec<Agent>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<Agent>>, Error> {
    let mut conn = state.db.acquire().await?;
    let scope = caller.tenant_scope(state.config.multi_tenant);
    Ok(Json(agents::list(&mut conn, scope).await?))
}

/// Creates an agent with its allowed tools.
#[utoipa::path(post, path = "/admin/agents", tag = "admin", security(("bearer" = [])),
    request_body = CreateAgent,
    responses(
        (status = 201, description = "Created", body = Agent),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken in the tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<Agent>), Error> {
    validate_principal_name("name", &body.name)?;
    let allowed_tools = validate_tool_list("allowed_tools", &body.allowed_tools)?;
    if let Some(t) = &body.tenant {
        crate::identity::tenants::validate_id(t)?;
    }
    let tenant = tenant_for_new(
        &state,
        &caller,
        "admin.agent.create",
        body.tenant.as_deref(),
    )
    .await?;
    let mut tx = state.db.begin().await?;
    let agent = agents::create(&mut tx, &tenant, &body.name, &allowed_tools).await?;
    let event = caller
        .audit_event("admin.agent.create")
        .with_metadata(json!({
            "agent_id": agent.id,
            "name": agent.name,
            "target_tenant": agent.tenant,
            "allowed_tools": agent.allowed_tools,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Reads an agent.
#[utoipa::path(get, path = "/admin/agents/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Agent id")),
    responses(
        (status = 200, description = "The agent", body = Agent),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<Agent>, Error> {
    Ok(Json(load(&state, &caller, id).await?))
}

/// Changes an agent's tools or disables it (revoking its tokens).
#[utoipa::path(patch, path = "/admin/agents/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Agent id")),
    request_body = UpdateAgent,
    responses(
        (status = 200, description = "Changed", body = Agent),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<UpdateAgent>,
) -> Result<Json<Agent>, Error> {
    if body.allowed_tools.is_none() && body.disabled.is_none() {
        return Err(Error::InvalidRequest(
            "request body: name at least one of allowed_tools, disabled".into(),
        ));
    }
    let allowed_tools = body
        .allowed_tools
        .as_deref()
        .map(|t| validate_tool_list("allowed_tools", t))
        .transpose()?;
    load(&state, &caller, id).await?;
    let mut tx = state.db.begin().await?;
    let agent = agents::update(&mut tx, id, allowed_tools.as_deref(), body.disabled)
        .await?
        .ok_or_else(|| Error::NotFound("agent not found".into()))?;
    let event = caller
        .audit_event("admin.agent.update")
        .with_metadata(json!({
            "agent_id": agent.id,
            "name": agent.name,
            "allowed_tools": agent.allowed_tools,
            "disabled": agent.disabled,
            "tokens_revoked": body.disabled.is_some(),
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(Json(agent))
}

/// Deletes an agent (its tokens stop working).
#[utoipa::path(delete, path = "/admin/agents/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Agent id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    let agent = load(&state, &caller, id).await?;
    let mut tx = state.db.begin().await?;
    if !agents::delete(&mut tx, id).await? {
        return Err(Error::NotFound("agent not found".into()));
    }
    let event = caller
        .audit_event("admin.agent.delete")
        .with_metadata(json!({
            "agent_id": agent.id,
            "name": agent.name,
            "target_tenant": agent.tenant,
            "peer_ip": caller.ip.to_string(),
        }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a token for the agent, optionally acting on behalf of a user of its tenant.
#[utoipa::path(post, path = "/admin/agents/{id}/tokens", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Agent id")),
    request_body = IssueAgentToken,
    responses(
        (status = 200, description = "Issued", body = TokenResponse),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (e.g. delegation from a super_admin by an admin)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent or user in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Agent or user disabled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn issue_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<IssueAgentToken>,
) -> Result<Json<TokenResponse>, Error> {
    let ttl = match &body.ttl {
        None => state.tokens.ttl(),
        Some(text) => {
            let ttl =
                parse_duration("ttl", text).map_err(|e| Error::InvalidRequest(e.to_string()))?;
            if ttl.as_secs() < 1 || ttl > state.tokens.ttl() {
                return Err(Error::InvalidRequest(format!(
                    "ttl: must be between 1s and {}",
                    humantime::format_duration(state.tokens.ttl())
                )));
            }
            ttl
        }
    };
    let agent = load(&state, &caller, id).await?;
    if agent.disabled {
        return Err(Error::Conflict("agent is disabled".into()));
    }
    let mut conn = state.db.acquire().await?;
    let generation = agents::token_generation(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound("agent not found".into()))?;
    let delegation = match body.on_behalf_of {
        None => None,
        Some(user_id) => {
            let Some(user) = users::get(&mut conn, user_id).await? else {
                return Err(Error::NotFound("user not found".into()));
            };
            let Some(state_of_user) = users::auth_state(&mut conn, user_id).await? else {
                return Err(Error::NotFound("user not found".into()));
            };
            Some((user, state_of_user.token_generation))
        }
    };
    drop(conn);
    if let Some((user, _)) = &delegation {
        if user.tenant != agent.tenant {
            ensure_tenant(&state, &caller, "user", &user.tenant).await?;
            return Err(Error::InvalidRequest(
                "on_behalf_of: the user is not in the agent's tenant".into(),
            ));
        }
        if user.disabled {
            return Err(Error::Conflict("user is disabled".into()));
        }
        if user.role == Role::SuperAdmin && !caller.principal.is_super_admin() {
            return Err(deny_forbidden(
                &state,
                &caller,
                "admin.agent.token.issue",
                "only a super_admin issues tokens acting for a super_admin",
            )
            .await);
        }
    }
    let mut claims = state
        .tokens
        .claims(agent.id, Role::Agent, &agent.tenant, generation, ttl);
    if let Some((user, tgen)) = &delegation {
        claims.obo = Some(user.id.to_string());
        claims.obo_tgen = Some(*tgen);
    }
    let token = state.tokens.sign(&claims)?;
    let event = caller
        .audit_event("admin.agent.token.issue")
        .with_metadata(json!({
            "agent_id": agent.id,
            "agent": format!("agent:{}", agent.name),
            "token_jti": claims.jti,
            "on_behalf_of": delegation.as_ref().map(|(u, _)| u.username.clone()),
            "expires_at": claims.exp,
            "peer_ip": caller.ip.to_string(),
        }));
    state.audit.record(event).await?;
    Ok(Json(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: ttl.as_secs(),
    }))
}
