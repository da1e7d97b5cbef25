//! Route-level access control: one table of routes and the roles allowed on each
//! ([`routes::ROUTES`]), enforced by one middleware ([`enforce::enforce`]) that the router puts
//! on every route of the table. The exhaustive RBAC test iterates the same table.

pub mod enforce;
pub mod routes;

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::audit::AuditEvent;
use crate::auth::principal::{Principal, Role};
use crate::error::Error;

/// HTTP method of a route (a plain enum so the table can be a `static`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Verb {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    /// Whether requests with this method change state (and so are audited when they succeed).
    pub fn is_mutating(self) -> bool {
        !matches!(self, Verb::Get)
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no token (probes, metrics, the API description, login).
    Public,
    /// Any principal with a valid token.
    Authenticated,
    /// Principals with one of these roles.
    Roles(&'static [Role]),
}

/// Whether a route touches one tenant's objects or the whole server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Objects of a tenant: admins are confined to their own tenant in multi-tenant mode.
    Tenant,
    /// Server-wide state (tool catalog, tenants): in multi-tenant mode only `super_admin`.
    Server,
}

/// Administrators: `admin` and `super_admin`.
pub const ADMINS: &[Role] = &[Role::SuperAdmin, Role::Admin];

/// The authenticated caller of a request and its client IP, put in by the middleware. As an
/// extractor it fails closed (401) if a route was mounted without the middleware.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// From where.
    pub ip: IpAddr,
}

impl Caller {
    /// An audit event by this caller: principal (the delegating user for agent tokens), agent,
    /// session (`jti`) and tenant filled in.
    pub fn audit_event(&self, action: &str) -> AuditEvent {
        let p = &self.principal;
        let event = match (&p.role, &p.on_behalf_of) {
            (Role::Agent, Some(user)) => {
                AuditEvent::new(user.username.clone(), action).with_agent(p.name.clone())
            }
            (Role::Agent, None) => {
                AuditEvent::new(p.name.clone(), action).with_agent(p.name.clone())
            }
            _ => AuditEvent::new(p.name.clone(), action),
        };
        event
            .with_session(p.jti.to_string())
            .with_tenant(p.tenant.clone())
    }

    /// The tenant an admin is confined to: `None` (every tenant) for a super_admin or in
    /// single-tenant mode.
    pub fn tenant_scope(&self, multi_tenant: bool) -> Option<&str> {
        (multi_tenant && !self.principal.is_super_admin()).then_some(self.principal.tenant.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(Error::Unauthenticated {
                reason: "no_rbac_layer",
            })
    }
}

/// The client IP of any request (public routes too).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .ok_or(Error::Unauthenticated {
                reason: "no_rbac_layer",
            })
    }
}
