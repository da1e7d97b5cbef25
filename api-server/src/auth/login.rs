//! The login check: lockout, bcrypt, counters and the audit row, in an order that holds across
//! replicas and leaves nothing written when the audit log cannot record.

use std::net::IpAddr;

use serde_json::json;

use super::jwt::Claims;
use super::lockout::{self, Scope};
use crate::audit::AuditEvent;
use crate::audited::commit_with_audit;
use crate::error::Error;
use crate::identity::users;
use crate::state::AppState;

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginSuccess {
    /// The signed access token.
    pub token: String,
    /// Its claims.
    pub claims: Claims,
}

/// Why a login failed (the client only ever sees a generic 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    UnknownUser,
    WrongPassword,
    Disabled,
    Locked,
}

impl Failure {
    fn label(self) -> &'static str {
        match self {
            Failure::UnknownUser => "unknown_user",
            Failure::WrongPassword => "wrong_password",
            Failure::Disabled => "disabled",
            Failure::Locked => "locked",
        }
    }
}

/// Checks `username`/`password` from `ip`. Every outcome leaves exactly one audit row:
/// `auth.login`, `auth.login.failure`, or `auth.lockout` for the failure that starts a lock.
/// Failures are `Error::Unauthenticated` (one generic 401 whatever the reason).
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    ip: IpAddr,
) -> Result<LoginSuccess, Error> {
    let policy = state.config.auth.lockout;
    let ip_text = ip.to_string();
    let mut keys = vec![(Scope::User, username)];
    if policy.per_ip {
        keys.push((Scope::Ip, ip_text.as_str()));
    }

    let (record, locked) = {
        let mut conn = state.db.acquire().await?;
        let record = users::find_for_login(&mut conn, username).await?;
        let locked = lockout::is_locked(&mut conn, &keys).await?;
        (record, locked)
    };
    // Always one bcrypt check, whatever happens next: the time taken says nothing.
    let matched = state
        .passwords
        .verify(password, record.as_ref().map(|r| r.password_hash.as_str()))
        .await?;

    let mut tx = state.db.begin().await?;
    let failure = match &record {
        _ if locked => Some(Failure::Locked),
        None => Some(Failure::UnknownUser),
        Some(_) if !matched => Some(Failure::WrongPassword),
        Some(r) if r.disabled => Some(Failure::Disabled),
        Some(_) => {
            // Another replica may have locked the account since the first look.
            if lockout::is_locked_for_update(&mut tx, &keys).await? {
                Some(Failure::Locked)
            } else {
                None
            }
        }
    };

    let Some(failure) = failure else {
        let Some(user) = record else {
            return Err(Error::Unauthenticated {
                reason: "bad_credentials",
            });
        };
        lockout::clear(&mut tx, Scope::User, &user.username).await?;
        let claims = state.tokens.claims(
            user.id,
            user.role,
            &user.tenant,
            user.token_generation,
            state.tokens.ttl(),
        );
        let token = state.tokens.sign(&claims)?;
        let event = AuditEvent::new(user.username.clone(), "auth.login")
            .with_session(claims.jti.clone())
            .with_tenant(user.tenant.clone())
            .with_metadata(json!({ "peer_ip": ip_text, "role": user.role.as_str() }));
        commit_with_audit(tx, &state.audit, event).await?;
        tracing::info!(username = %user.username, peer_ip = %ip, "login succeeded");
        return Ok(LoginSuccess { token, claims });
    };

    let mut started_locks = Vec::new();
    let mut failures = 0;
    if failure != Failure::Locked {
        for (scope, key) in &keys {
            let outcome = lockout::record_failure(&mut tx, *scope, key, &policy).await?;
            if *scope == Scope::User {
                failures = outcome.failures;
            }
            if outcome.locked_now {
                started_locks.push((*scope, outcome.locked_until));
            }
        }
    }
    let tenant = record.as_ref().map(|r| r.tenant.clone());
    let event = if started_locks.is_empty() {
        AuditEvent::new(username, "auth.login.failure").with_metadata(json!({
            "reason": failure.label(),
            "peer_ip": ip_text,
            "failures": failures,
        }))
    } else {
        AuditEvent::new(username, "auth.lockout").with_metadata(json!({
            "reason": failure.label(),
            "peer_ip": ip_text,
            "scopes": started_locks.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
            "locked_until": started_locks.iter().filter_map(|(_, u)| *u)
                .map(|u| u.format(&time::format_description::well_known::Rfc3339).unwrap_or_default())
                .collect::<Vec<_>>(),
            "max_attempts": policy.max_attempts,
        }))
    };
    let event = match tenant {
        Some(t) => event.with_tenant(t),
        None => event,
    };
    commit_with_audit(tx, &state.audit, event).await?;

    tracing::warn!(
        identity = %username, peer_ip = %ip, reason = failure.label(),
        "authentication failed: login refused"
    );
    state.metrics.auth_failure(failure.label());
    for (scope, _) in &started_locks {
        tracing::warn!(
            identity = %username, peer_ip = %ip, scope = scope.as_str(),
            "lockout started after repeated login failures"
        );
        state.metrics.lockout(scope.as_str());
    }
    Err(Error::Unauthenticated {
        reason: "bad_credentials",
    })
}
