//! The middleware on every route of the table: authenticate, check the role and scope, record
//! and log every refusal, and hand the [`super::Caller`] to the handler.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde_json::json;

use super::routes::RouteSpec;
use super::{Access, Caller, ClientIp};
use crate::audit::AuditEvent;
use crate::auth::{self, AuthFailure};
use crate::error::Error;
use crate::state::AppState;

/// The per-route middleware state: the server state and the route's table entry.
pub type RouteState = (Arc<AppState>, &'static RouteSpec);

/// Enforces `spec` on one request.
pub async fn enforce(
    State((state, spec)): State<RouteState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let ip = auth::client_ip::client_ip(peer, request.headers(), &state.config.trusted_proxies);
    request.extensions_mut().insert(ClientIp(ip));
    if spec.access == Access::Public {
        return next.run(request).await;
    }
    let authenticated = match state.db.acquire().await {
        Ok(mut conn) => auth::authenticate(&mut conn, &state.tokens, request.headers()).await,
        Err(e) => Err(e.into()),
    };
    let principal = match authenticated {
        Ok(Ok(principal)) => principal,
        Ok(Err(failure)) => return refuse_unauthenticated(&state, spec, ip, failure).await,
        Err(e) => return e.into_response(),
    };
    let caller = Caller { principal, ip };
    if let Err(reason) = spec.permits(caller.principal.role, state.config.multi_tenant) {
        return refuse_forbidden(&state, spec, &caller, reason).await;
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

async fn refuse_unauthenticated(
    state: &AppState,
    spec: &RouteSpec,
    ip: IpAddr,
    failure: AuthFailure,
) -> Response {
    let identity = failure.subject.as_deref().unwrap_or("anonymous");
    tracing::warn!(
        identity, peer_ip = %ip, reason = failure.reason,
        method = spec.verb.as_str(), route = spec.path,
        "authentication failed"
    );
    state.metrics.auth_failure(failure.reason);
    let event = AuditEvent::new(identity, "auth.token.rejected").with_metadata(json!({
        "reason": failure.reason,
        "method": spec.verb.as_str(),
        "route": spec.path,
        "peer_ip": ip.to_string(),
    }));
    match state.audit.record(event).await {
        Ok(_) => Error::Unauthenticated {
            reason: failure.reason,
        }
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn refuse_forbidden(
    state: &AppState,
    spec: &RouteSpec,
    caller: &Caller,
    reason: &'static str,
) -> Response {
    let p = &caller.principal;
    tracing::warn!(
        identity = %p.name, role = %p.role, peer_ip = %caller.ip, reason,
        method = spec.verb.as_str(), route = spec.path,
        "authorisation denied"
    );
    state.metrics.auth_failure(reason);
    let event = caller.audit_event("authz.denied").with_metadata(json!({
        "reason": reason,
        "role": p.role.as_str(),
        "method": spec.verb.as_str(),
        "route": spec.path,
        "peer_ip": caller.ip.to_string(),
    }));
    match state.audit.record(event).await {
        Ok(_) => Error::Forbidden(format!(
            "role {} may not call {} {}",
            p.role,
            spec.verb.as_str(),
            spec.path
        ))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Records and logs a refusal decided inside a handler (an object of another tenant), then
/// returns the error the caller sees (`NotFound`: another tenant's objects are not shown to
/// exist).
pub async fn deny_other_tenant(
    state: &AppState,
    caller: &Caller,
    what: &str,
    target_tenant: &str,
) -> Error {
    tracing::warn!(
        identity = %caller.principal.name, peer_ip = %caller.ip, target = what,
        target_tenant, "authorisation denied: object of another tenant"
    );
    state.metrics.auth_failure("other_tenant");
    let event = caller.audit_event("authz.denied").with_metadata(json!({
        "reason": "other_tenant",
        "target": what,
        "target_tenant": target_tenant,
        "peer_ip": caller.ip.to_string(),
    }));
    match state.audit.record(event).await {
        Ok(_) => Error::NotFound(format!("{what} not found")),
        Err(e) => e,
    }
}

/// Records and logs a refusal decided inside a handler for a reason other than the tenant,
/// then returns the 403 the caller sees.
pub async fn deny_forbidden(
    state: &AppState,
    caller: &Caller,
    action: &str,
    reason: &str,
) -> Error {
    tracing::warn!(
        identity = %caller.principal.name, role = %caller.principal.role,
        peer_ip = %caller.ip, action, reason, "authorisation denied"
    );
    state.metrics.auth_failure("forbidden_action");
    let event = caller.audit_event("authz.denied").with_metadata(json!({
        "reason": reason,
        "attempted": action,
        "peer_ip": caller.ip.to_string(),
    }));
    match state.audit.record(event).await {
        Ok(_) => Error::Forbidden(reason.to_owned()),
        Err(e) => e,
    }
}
