//! THE route table: every route of the api-server with who may call it. The router is built
//! from it (`http::router`), the RBAC middleware enforces it, and the exhaustive RBAC and
//! OpenAPI tests iterate it. Adding a route is one line here (plus its handler).

use std::sync::Arc;

use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::{ADMINS, Access, Scope, Verb};
use crate::auth::principal::Role;
use crate::http::{admin, auth, health, metrics, openapi, tools};
use crate::state::AppState;

/// One route: method, path template, access, scope and its handler.
#[derive(Debug)]
pub struct RouteSpec {
    /// Method.
    pub verb: Verb,
    /// Path template (axum syntax, `{id}` for parameters; OpenAPI uses the same).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Tenant objects or server-wide state.
    pub scope: Scope,
    /// The handler, as a method router.
    pub handler: fn() -> MethodRouter<Arc<AppState>>,
}

impl RouteSpec {
    /// Whether a principal with `role` may call this route; `Err` carries the refusal reason.
    pub fn permits(&self, role: Role, multi_tenant: bool) -> Result<(), &'static str> {
        match self.access {
            Access::Public | Access::Authenticated => {}
            Access::Roles(roles) if roles.contains(&role) => {}
            Access::Roles(_) => return Err("role_not_allowed"),
        }
        if self.scope == Scope::Server && multi_tenant && role != Role::SuperAdmin {
            return Err("server_scope_requires_super_admin");
        }
        Ok(())
    }
}

const fn route(
    verb: Verb,
    path: &'static str,
    access: Access,
    scope: Scope,
    handler: fn() -> MethodRouter<Arc<AppState>>,
) -> RouteSpec {
    RouteSpec {
        verb,
        path,
        access,
        scope,
        handler,
    }
}

use Access::{Authenticated, Public, Roles};
use Scope::{Server, Tenant};
use Verb::{Delete, Get, Patch, Post, Put};

/// Every route of the api-server.
pub static ROUTES: &[RouteSpec] = &[
    route(Get, "/healthz", Public, Tenant, || get(health::healthz)),
    route(Get, "/readyz", Public, Tenant, || get(health::readyz)),
    route(Get, "/metrics", Public, Tenant, || get(metrics::scrape)),
    route(Get, "/openapi.json", Public, Tenant, || {
        get(openapi::document)
    }),
    route(Post, "/auth/login", Public, Tenant, || post(auth::login)),
    route(Post, "/auth/logout", Authenticated, Tenant, || {
        post(auth::logout)
    }),
    route(Get, "/auth/me", Authenticated, Tenant, || get(auth::me)),
    route(Post, "/v1/tools/authorize", Authenticated, Tenant, || {
        post(tools::authorize)
    }),
    route(Get, "/admin/users", Roles(ADMINS), Tenant, || {
        get(admin::users::list)
    }),
    route(Post, "/admin/users", Roles(ADMINS), Tenant, || {
        post(admin::users::create)
    }),
    route(Get, "/admin/users/{id}", Roles(ADMINS), Tenant, || {
        get(admin::users::get)
    }),
    route(Patch, "/admin/users/{id}", Roles(ADMINS), Tenant, || {
        patch(admin::users::update)
    }),
    route(Delete, "/admin/users/{id}", Roles(ADMINS), Tenant, || {
        delete(admin::users::delete)
    }),
    route(
        Post,
        "/admin/users/{id}/unlock",
        Roles(ADMINS),
        Tenant,
        || post(admin::users::unlock),
    ),
    route(Get, "/admin/agents", Roles(ADMINS), Tenant, || {
        get(admin::agents::list)
    }),
    route(Post, "/admin/agents", Roles(ADMINS), Tenant, || {
        post(admin::agents::create)
    }),
    route(Get, "/admin/agents/{id}", Roles(ADMINS), Tenant, || {
        get(admin::agents::get)
    }),
    route(Patch, "/admin/agents/{id}", Roles(ADMINS), Tenant, || {
        patch(admin::agents::update)
    }),
    route(Delete, "/admin/agents/{id}", Roles(ADMINS), Tenant, || {
        delete(admin::agents::delete)
    }),
    route(
        Post,
        "/admin/agents/{id}/tokens",
        Roles(ADMINS),
        Tenant,
        || post(admin::agents::issue_token),
    ),
    route(Get, "/admin/tenants", Roles(ADMINS), Tenant, || {
        get(admin::tenants::list)
    }),
    route(Post, "/admin/tenants", Roles(ADMINS), Server, || {
        post(admin::tenants::create)
    }),
    route(Get, "/admin/tenants/{id}", Roles(ADMINS), Tenant, || {
        get(admin::tenants::get)
    }),
    route(Patch, "/admin/tenants/{id}", Roles(ADMINS), Server, || {
        patch(admin::tenants::update)
    }),
    route(Delete, "/admin/tenants/{id}", Roles(ADMINS), Server, || {
        delete(admin::tenants::delete)
    }),
    route(Get, "/admin/tools", Roles(ADMINS), Tenant, || {
        get(admin::tools::list)
    }),
    route(Post, "/admin/tools", Roles(ADMINS), Server, || {
        post(admin::tools::create)
    }),
    route(Get, "/admin/tools/{name}", Roles(ADMINS), Tenant, || {
        get(admin::tools::get)
    }),
    route(Put, "/admin/tools/{name}", Roles(ADMINS), Server, || {
        put(admin::tools::update)
    }),
    route(Delete, "/admin/tools/{name}", Roles(ADMINS), Server, || {
        delete(admin::tools::delete)
    }),
    route(Post, "/admin/audit/verify", Roles(ADMINS), Server, || {
        post(admin::audit::verify)
    }),
    route(
        Get,
        "/admin/audit/checkpoints/latest",
        Roles(ADMINS),
        Server,
        || get(admin::audit::latest_checkpoint),
    ),
    route(Get, "/admin/audit/export", Roles(ADMINS), Server, || {
        get(admin::audit::export).layer(tower_http::compression::CompressionLayer::new())
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_route_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for spec in ROUTES {
            assert!(
                seen.insert((spec.verb, spec.path)),
                "{:?} {}",
                spec.verb,
                spec.path
            );
        }
    }

    #[test]
    fn admin_routes_refuse_users_and_agents_and_server_routes_need_super_admin_when_multi_tenant() {
        for spec in ROUTES.iter().filter(|s| s.path.starts_with("/admin/")) {
            assert!(spec.permits(Role::User, false).is_err(), "{}", spec.path);
            assert!(spec.permits(Role::Agent, false).is_err(), "{}", spec.path);
            assert!(
                spec.permits(Role::SuperAdmin, true).is_ok(),
                "{}",
                spec.path
            );
            if spec.scope == Scope::Server {
                assert!(spec.permits(Role::Admin, false).is_ok(), "{}", spec.path);
                assert!(spec.permits(Role::Admin, true).is_err(), "{}", spec.path);
            }
        }
    }
}
