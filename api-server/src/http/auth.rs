//! `/auth/login`, `/auth/logout`, `/auth/me`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::json::ApiJson;
use super::problem::Problem;
use crate::audited::commit_with_audit;
use crate::auth::principal::Role;
use crate::auth::{login as login_check, revocation};
use crate::error::Error;
use crate::rbac::{Caller, ClientIp};
use crate::state::AppState;

/// Longest username accepted at login (longer ones cannot exist).
const MAX_LOGIN_NAME: usize = 256;
/// Longest password accepted at login.
const MAX_LOGIN_PASSWORD: usize = 1024;

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// An issued access token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// `GET /auth/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// User or agent id.
    pub id: Uuid,
    /// Username, or `agent:<name>`.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Tenant.
    pub tenant: String,
    /// Token expiry (Unix seconds).
    pub expires_at: i64,
    /// The user an agent token acts for.
    pub on_behalf_of: Option<String>,
}

/// Logs in with a username and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong credentials, unknown user, disabled or locked (indistinguishable)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, Error> {
    if body.username.is_empty()
        || body.username.len() > MAX_LOGIN_NAME
        || body.username.chars().any(char::is_control)
    {
        return Err(Error::InvalidRequest(format!(
            "username: must be 1-{MAX_LOGIN_NAME} bytes without control characters"
        )));
    }
    if body.password.len() > MAX_LOGIN_PASSWORD {
        return Err(Error::InvalidRequest(format!(
            "password: at most {MAX_LOGIN_PASSWORD} bytes"
        )));
    }
    let success = login_check::login(&state, &body.username, &body.password, ip).await?;
    Ok(Json(TokenResponse {
        access_token: success.token,
        token_type: "Bearer".into(),
        expires_in: u64::try_from(success.claims.exp - success.claims.iat).unwrap_or(0),
    }))
}

/// Revokes the presented token (every replica refuses it from now on).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Token revoked"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Audit log unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<StatusCode, Error> {
    let p = &caller.principal;
    let expires_at = time::OffsetDateTime::from_unix_timestamp(p.exp)
        .map_err(|e| Error::InvalidRequest(format!("token exp: {e}")))?;
    let mut tx = state.db.begin().await?;
    revocation::revoke(&mut tx, p.jti, expires_at).await?;
    let event = caller
        .audit_event("auth.logout")
        .with_metadata(json!({ "peer_ip": caller.ip.to_string() }));
    commit_with_audit(tx, &state.audit, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the presented token belongs to.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(caller: Caller) -> Json<MeResponse> {
    let p = caller.principal;
    Json(MeResponse {
        id: p.id,
        name: p.name,
        role: p.role,
        tenant: p.tenant,
        expires_at: p.exp,
        on_behalf_of: p.on_behalf_of.map(|d| d.username),
    })
}
