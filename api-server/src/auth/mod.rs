//! Authentication: passwords, tokens, revocation, lockout, and turning a request's bearer token
//! into a [`principal::Principal`].

pub mod client_ip;
pub mod jwt;
pub mod lockout;
pub mod login;
pub mod password;
pub mod principal;
pub mod revocation;

use axum::http::{HeaderMap, header};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Error;
use crate::identity::{agents, users};
use jwt::{Claims, TokenKeys};
use principal::{Delegation, Principal, Role};

/// Longest bearer token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Why a request's credentials were refused (logged, counted, audited; never shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// Metrics label: `missing_token`, `expired`, `revoked`, `bad_signature`, ….
    pub reason: &'static str,
    /// The token's subject when its signature verified, for the log line.
    pub subject: Option<String>,
}

impl AuthFailure {
    fn new(reason: &'static str, subject: Option<String>) -> Self {
        Self { reason, subject }
    }
}

/// The bearer token of `headers`, if it has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Validates the request's bearer token and the principal's current state in the database
/// (exists, enabled, same role, tenant and token generation, token not revoked).
pub async fn authenticate(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    headers: &HeaderMap,
) -> Result<Result<Principal, AuthFailure>, Error> {
    let Some(token) = bearer_token(headers) else {
        let reason = if headers.contains_key(header::AUTHORIZATION) {
            "malformed_header"
        } else {
            "missing_token"
        };
        return Ok(Err(AuthFailure::new(reason, None)));
    };
    if token.len() > MAX_TOKEN_BYTES {
        return Ok(Err(AuthFailure::new("malformed_token", None)));
    }
    let claims = match keys.validate(token) {
        Ok(claims) => claims,
        Err(rejection) => {
            return Ok(Err(AuthFailure::new(
                rejection.label(),
                keys.verified_subject(token),
            )));
        }
    };
    principal_of(conn, claims).await
}

/// Checks verified `claims` against the database.
pub async fn principal_of(
    conn: &mut PgConnection,
    claims: Claims,
) -> Result<Result<Principal, AuthFailure>, Error> {
    let subject = Some(claims.sub.clone());
    let fail = |reason| Ok(Err(AuthFailure::new(reason, subject.clone())));
    let (Ok(id), Ok(jti)) = (Uuid::parse_str(&claims.sub), Uuid::parse_str(&claims.jti)) else {
        return fail("malformed_token");
    };
    if revocation::is_revoked(conn, jti).await? {
        return fail("revoked");
    }
    let (name, on_behalf_of) = if claims.role == Role::Agent {
        let Some(agent) = agents::auth_state(conn, id).await? else {
            return fail("unknown_subject");
        };
        if agent.disabled {
            return fail("disabled");
        }
        if agent.token_generation != claims.tgen || agent.tenant != claims.tenant {
            return fail("revoked");
        }
        let delegation = match (&claims.obo, claims.obo_tgen) {
            (None, None) => None,
            (Some(user), Some(tgen)) => {
                let Ok(user_id) = Uuid::parse_str(user) else {
                    return fail("malformed_token");
                };
                let Some(user) = users::auth_state(conn, user_id).await? else {
                    return fail("unknown_subject");
                };
                if user.disabled {
                    return fail("disabled");
                }
                if user.token_generation != tgen || user.tenant != claims.tenant {
                    return fail("revoked");
                }
                Some(Delegation {
                    user_id,
                    username: user.username,
                    role: user.role,
                })
            }
            _ => return fail("malformed_token"),
        };
        (format!("agent:{}", agent.name), delegation)
    } else {
        let Some(user) = users::auth_state(conn, id).await? else {
            return fail("unknown_subject");
        };
        if user.disabled {
            return fail("disabled");
        }
        if user.token_generation != claims.tgen
            || user.role != claims.role
            || user.tenant != claims.tenant
        {
            return fail("revoked");
        }
        if claims.obo.is_some() {
            return fail("malformed_token");
        }
        (user.username, None)
    };
    Ok(Ok(Principal {
        id,
        name,
        role: claims.role,
        tenant: claims.tenant,
        jti,
        exp: claims.exp,
        on_behalf_of,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_bearer_headers_yield_a_token() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
    }
}
