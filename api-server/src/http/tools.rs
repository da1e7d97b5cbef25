//! `POST /v1/tools/authorize`: may this agent use this tool on this user's behalf?

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::json::ApiJson;
use super::problem::Problem;
use crate::auth::principal::Role;
use crate::authz::tools::{Decision, Grants, decide};
use crate::error::Error;
use crate::identity::{agents, tenants, tools, users};
use crate::rbac::Caller;
use crate::rbac::enforce::deny_other_tenant;
use crate::state::AppState;

/// `POST /v1/tools/authorize` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The tool to use.
    pub tool: String,
    /// The agent that would use it (agents: themselves, implied).
    #[serde(default)]
    pub agent: Option<Uuid>,
    /// The user it would act for (users: themselves; agent tokens: their delegating user).
    #[serde(default)]
    pub user: Option<Uuid>,
}

/// The decision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthorizeResponse {
    /// Whether the tool may be used.
    pub allowed: bool,
    /// Every tool allowed for this agent and user.
    pub effective_tools: Vec<String>,
    /// Why.
    pub reason: String,
    /// A super_admin's bypass of the intersection decided it (recorded as `authz.bypass`).
    pub bypass: bool,
}

/// Decides and records whether a tool may be used: `agent ∩ user ∩ server ceiling` (`∩ tenant
/// ceiling` in multi-tenant mode); a super_admin user bypasses the intersection, recorded.
#[utoipa::path(post, path = "/v1/tools/authorize", tag = "tools", security(("bearer" = [])),
    request_body = AuthorizeRequest,
    responses(
        (status = 200, description = "The decision (recorded in the audit log)", body = AuthorizeResponse),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Asking for another principal than allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Agent or user not found (in the caller's tenant)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn authorize(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<AuthorizeRequest>,
) -> Result<Json<AuthorizeResponse>, Error> {
    tools::validate_name(&body.tool)?;
    let p = &caller.principal;
    let multi_tenant = state.config.multi_tenant;
    let (agent_id, user_id) = match p.role {
        Role::Agent => {
            let delegated = p.on_behalf_of.as_ref().map(|d| d.user_id);
            if body.agent.is_some_and(|a| a != p.id)
                || body.user.is_some_and(|u| Some(u) != delegated)
            {
                return Err(forbid(
                    &state,
                    &caller,
                    &body.tool,
                    "an agent token authorizes only for its own agent and delegating user",
                )
                .await);
            }
            (Some(p.id), delegated)
        }
        Role::User => {
            if body.user.is_some_and(|u| u != p.id) {
                return Err(forbid(
                    &state,
                    &caller,
                    &body.tool,
                    "a user authorizes only for themselves",
                )
                .await);
            }
            (body.agent, Some(p.id))
        }
        Role::Admin | Role::SuperAdmin => (body.agent, Some(body.user.unwrap_or(p.id))),
    };

    let mut conn = state.db.acquire().await?;
    let scope = caller.tenant_scope(multi_tenant);
    let agent = match agent_id {
        None => None,
        Some(id) => match agents::get(&mut conn, id).await? {
            None => return Err(Error::NotFound("agent not found".into())),
            Some(a) if scope.is_some_and(|t| t != a.tenant) => {
                return Err(deny_other_tenant(&state, &caller, "agent", &a.tenant).await);
            }
            Some(a) => Some(a),
        },
    };
    let user = match user_id {
        None => None,
        Some(id) => match users::get(&mut conn, id).await? {
            None => return Err(Error::NotFound("user not found".into())),
            Some(u) if scope.is_some_and(|t| t != u.tenant) => {
                return Err(deny_other_tenant(&state, &caller, "user", &u.tenant).await);
            }
            Some(u) => Some(u),
        },
    };
    let tenant = agent
        .as_ref()
        .map(|a| a.tenant.clone())
        .or_else(|| user.as_ref().map(|u| u.tenant.clone()))
        .unwrap_or_else(|| p.tenant.clone());
    let catalog: BTreeSet<String> = tools::names(&mut conn).await?.into_iter().collect();
    let tenant_ceiling: Option<BTreeSet<String>> = if multi_tenant {
        Some(
            tenants::get(&mut conn, &tenant)
                .await?
                .map(|t| t.tool_ceiling.into_iter().collect())
                .unwrap_or_default(),
        )
    } else {
        None
    };
    drop(conn);
    let agent_tools: Option<BTreeSet<String>> = agent
        .as_ref()
        .map(|a| a.allowed_tools.iter().cloned().collect());
    let user_tools: Option<BTreeSet<String>> = user
        .as_ref()
        .map(|u| u.allowed_tools.iter().cloned().collect());
    let grants = Grants {
        catalog: &catalog,
        server_ceiling: &state.config.tools.ceiling,
        tenant_ceiling: tenant_ceiling.as_ref(),
        agent: agent_tools.as_ref(),
        user: user_tools.as_ref(),
    };
    let mut decision = decide(&body.tool, &grants);
    // Principals that cannot act make nothing allowed, whatever the sets say.
    let inactive = if agent.as_ref().is_some_and(|a| a.disabled) {
        Some("the agent is disabled")
    } else if user.as_ref().is_some_and(|u| u.disabled) {
        Some("the user is disabled")
    } else if multi_tenant
        && agent
            .as_ref()
            .zip(user.as_ref())
            .is_some_and(|(a, u)| a.tenant != u.tenant)
    {
        Some("the agent and the user are in different tenants")
    } else {
        None
    };
    if let Some(reason) = inactive {
        decision = Decision {
            allowed: false,
            effective_tools: BTreeSet::new(),
            reason: reason.into(),
        };
    }
    let bypass = inactive.is_none()
        && user.as_ref().is_some_and(|u| u.role == Role::SuperAdmin)
        && catalog.contains(&body.tool);

    let agent_name = agent.as_ref().map(|a| format!("agent:{}", a.name));
    let user_name = user.as_ref().map(|u| u.username.clone());
    let (action, response) = if bypass {
        tracing::warn!(
            identity = %p.name, peer_ip = %caller.ip, tool = %body.tool,
            intersection_allowed = decision.allowed,
            "super_admin bypassed the tool permission intersection"
        );
        (
            "authz.bypass",
            AuthorizeResponse {
                allowed: true,
                effective_tools: catalog.iter().cloned().collect(),
                reason: format!(
                    "super_admin bypass of the intersection (which would have said: {})",
                    decision.reason
                ),
                bypass: true,
            },
        )
    } else {
        (
            "authz.decision",
            AuthorizeResponse {
                allowed: decision.allowed,
                effective_tools: decision.effective_tools.iter().cloned().collect(),
                reason: decision.reason.clone(),
                bypass: false,
            },
        )
    };
    let event = caller.audit_event(action).with_metadata(json!({
        "tool": body.tool,
        "allowed": response.allowed,
        "intersection_allowed": decision.allowed,
        "reason": response.reason,
        "agent": agent_name,
        "user": user_name,
        "tenant": tenant,
        "peer_ip": caller.ip.to_string(),
    }));
    state.audit.record(event).await?;
    state.metrics.authz_decision(if bypass {
        "bypass"
    } else if response.allowed {
        "allowed"
    } else {
        "denied"
    });
    Ok(Json(response))
}

async fn forbid(state: &AppState, caller: &Caller, tool: &str, reason: &str) -> Error {
    tracing::warn!(identity = %caller.principal.name, peer_ip = %caller.ip, tool, reason, "authorisation denied");
    state.metrics.auth_failure("authorize_other_principal");
    let event = caller.audit_event("authz.denied").with_metadata(json!({
        "tool": tool,
        "reason": reason,
        "peer_ip": caller.ip.to_string(),
    }));
    match state.audit.record(event).await {
        Ok(_) => Error::Forbidden(reason.to_owned()),
        Err(e) => e,
    }
}
