//! The exhaustive RBAC test: every route of `rbac::routes::ROUTES` × every role × {no token,
//! expired, revoked, other tenant}, over real HTTP, counting audit rows for every request.
//! Routes added to the table are covered automatically (by the generic case below).

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use alexandria_api::auth::principal::Role;
use alexandria_api::config::ToolCeiling;
use alexandria_api::identity::users::User;
use alexandria_api::rbac::routes::{ROUTES, RouteSpec};
use alexandria_api::rbac::{Access, Scope, Verb};
use harness::{PASSWORD, TestServer, parts};
use serde_json::{Value, json};
use uuid::Uuid;

/// The principals and objects of the matrix: everything in tenant `a`, an admin in tenant `b`.
struct World {
    server: TestServer,
    principals: Vec<(Role, User)>,
    agent_a: alexandria_api::identity::agents::Agent,
    admin_b: User,
    user_a: User,
    multi_tenant: bool,
}

impl World {
    async fn new(multi_tenant: bool) -> Self {
        let server = TestServer::start_with(|c| {
            c.multi_tenant = multi_tenant;
            c.tools.ceiling = ToolCeiling::Catalog;
        })
        .await;
        let (a, b) = if multi_tenant {
            ("a", "b")
        } else {
            ("default", "default")
        };
        if multi_tenant {
            server.tenant("a", &["t1"]).await;
            server.tenant("b", &["t1"]).await;
        }
        server.catalog(&["t1"]).await;
        let root = server.user("root", Role::SuperAdmin, a, &["t1"]).await;
        let admin = server.user("admin-a", Role::Admin, a, &["t1"]).await;
        let user = server.user("user-a", Role::User, a, &["t1"]).await;
        let agent = server.agent("agent-a", a, &["t1"]).await;
        let admin_b = server.user("admin-b", Role::Admin, b, &["t1"]).await;
        // The agent principal: a user row stands in for its id in the principal list; tokens
        // for it are minted by `token`.
        let principals = vec![
            (Role::SuperAdmin, root),
            (Role::Admin, admin),
            (Role::User, user.clone()),
            (Role::Agent, user.clone()),
        ];
        Self {
            server,
            principals,
            agent_a: agent,
            admin_b,
            user_a: user,
            multi_tenant,
        }
    }

    fn tenant_a(&self) -> &str {
        if self.multi_tenant { "a" } else { "default" }
    }

    async fn token(&self, role: Role) -> String {
        let (_, user) = self.principals.iter().find(|(r, _)| *r == role).unwrap();
        if role == Role::Agent {
            self.server
                .agent_token(&self.agent_a, Some(&self.user_a))
                .await
        } else {
            self.server.token_for(user).await
        }
    }

    /// A path with its parameters filled and a body the route accepts; fresh objects for the
    /// routes that delete or create, so every allowed request succeeds.
    async fn request(&self, spec: &RouteSpec) -> (String, Option<Value>) {
        let s = &self.server;
        let tenant = self.tenant_a();
        let fresh = || format!("x{}", &Uuid::new_v4().simple().to_string()[..12]);
        let path = spec.path;
        match (spec.verb, path) {
            (Verb::Post, "/auth/login") => (
                path.into(),
                Some(json!({"username": "user-a", "password": PASSWORD})),
            ),
            (Verb::Post, "/v1/tools/authorize") => (path.into(), Some(json!({"tool": "t1"}))),
            (Verb::Post, "/admin/users") => (
                path.into(),
                Some(
                    json!({"username": fresh(), "password": "long enough password", "role": "user"}),
                ),
            ),
            (Verb::Patch, "/admin/users/{id}") => (
                format!("/admin/users/{}", self.user_a.id),
                Some(json!({"allowed_tools": ["t1"]})),
            ),
            (Verb::Delete, "/admin/users/{id}") => {
                let victim = s.user(&fresh(), Role::User, tenant, &[]).await;
                (format!("/admin/users/{}", victim.id), None)
            }
            (_, "/admin/users/{id}" | "/admin/users/{id}/unlock") => {
                (path.replace("{id}", &self.user_a.id.to_string()), None)
            }
            (Verb::Post, "/admin/agents") => (path.into(), Some(json!({"name": fresh()}))),
            (Verb::Patch, "/admin/agents/{id}") => (
                format!("/admin/agents/{}", self.agent_a.id),
                Some(json!({"allowed_tools": ["t1"]})),
            ),
            (Verb::Delete, "/admin/agents/{id}") => {
                let victim = s.agent(&fresh(), tenant, &[]).await;
                (format!("/admin/agents/{}", victim.id), None)
            }
            (Verb::Post, "/admin/agents/{id}/tokens") => (
                path.replace("{id}", &self.agent_a.id.to_string()),
                Some(json!({})),
            ),
            (_, "/admin/agents/{id}") => (path.replace("{id}", &self.agent_a.id.to_string()), None),
            (Verb::Post, "/admin/tenants") => (
                path.into(),
                Some(json!({"id": fresh(), "display_name": "Fresh"})),
            ),
            (Verb::Patch, "/admin/tenants/{id}") => (
                format!("/admin/tenants/{tenant}"),
                Some(json!({"display_name": "Tenant A"})),
            ),
            (Verb::Delete, "/admin/tenants/{id}") => {
                let id = fresh();
                s.tenant(&id, &[]).await;
                (format!("/admin/tenants/{id}"), None)
            }
            (_, "/admin/tenants/{id}") => (format!("/admin/tenants/{tenant}"), None),
            (Verb::Post, "/admin/tools") => (path.into(), Some(json!({"name": fresh()}))),
            (Verb::Put, "/admin/tools/{name}") => (
                "/admin/tools/t1".into(),
                Some(json!({"description": "the first tool"})),
            ),
            (Verb::Delete, "/admin/tools/{name}") => {
                let name = fresh();
                s.catalog(&[&name]).await;
                (format!("/admin/tools/{name}"), None)
            }
            (_, "/admin/tools/{name}") => ("/admin/tools/t1".into(), None),
            // Any other route (added to the table later): parameters get a random value and
            // mutating methods an empty object; RBAC and denial rows are still checked.
            _ => {
                let mut filled = String::new();
                for segment in path.split('/').filter(|s| !s.is_empty()) {
                    filled.push('/');
                    if segment.starts_with('{') {
                        filled.push_str(&Uuid::new_v4().to_string());
                    } else {
                        filled.push_str(segment);
                    }
                }
                let body = spec.verb.is_mutating().then(|| json!({}));
                (filled, body)
            }
        }
    }

    fn is_known(spec: &RouteSpec) -> bool {
        spec.access == Access::Public
            || spec.path.starts_with("/auth/")
            || spec.path == "/v1/tools/authorize"
            || [
                "/admin/users",
                "/admin/agents",
                "/admin/tenants",
                "/admin/tools",
            ]
            .iter()
            .any(|p| spec.path.starts_with(p))
    }

    /// Sends `spec`'s request with `token`; returns status, body and the audit rows it left.
    async fn send(&self, spec: &RouteSpec, token: Option<&str>) -> (u16, Value, usize) {
        let (path, body) = self.request(spec).await;
        let before = self.server.audit_position().await;
        let method = reqwest::Method::from_bytes(spec.verb.as_str().as_bytes()).unwrap();
        let mut request = self.server.client.request(method, self.server.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, _, body) = parts(request.send().await.unwrap()).await;
        let rows = self.server.audit_since(before).await.len();
        (status, body, rows)
    }
}

fn label(spec: &RouteSpec) -> String {
    format!("{} {}", spec.verb.as_str(), spec.path)
}

async fn revoked_token(world: &World) -> String {
    let token = world.token(Role::SuperAdmin).await;
    let response = world
        .server
        .client
        .post(world.server.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    token
}

async fn run_matrix(multi_tenant: bool) {
    let world = World::new(multi_tenant).await;
    let expired = world.server.expired_token_for(&world.principals[0].1).await;
    let revoked = revoked_token(&world).await;
    for spec in ROUTES {
        let name = label(spec);
        let known = World::is_known(spec);
        // No, expired and revoked tokens: 401 with one `auth.token.rejected` row (public routes
        // ignore the token).
        for (case, token) in [
            ("no token", None),
            ("expired", Some(expired.as_str())),
            ("revoked", Some(revoked.as_str())),
        ] {
            let (status, body, rows) = world.send(spec, token).await;
            if spec.access == Access::Public {
                assert!(status < 400, "{name} {case}: {status} {body}");
            } else {
                assert_eq!(status, 401, "{name} {case}: {body}");
                assert_eq!(body["type"], "urn:alexandria:problem:unauthenticated");
                assert_eq!(rows, 1, "{name} {case}: one audit row per refusal");
            }
        }
        // Every role with a valid token: the table decides.
        for role in Role::ALL {
            let token = world.token(role).await;
            let (status, body, rows) = world.send(spec, Some(&token)).await;
            let allowed = spec.permits(role, multi_tenant).is_ok();
            if allowed {
                assert!(
                    status != 401 && status != 403,
                    "{name} as {role} must be allowed: {status} {body}"
                );
                if known {
                    assert!(
                        (200..300).contains(&status),
                        "{name} as {role}: {status} {body}"
                    );
                    let expected = usize::from(spec.verb.is_mutating());
                    assert_eq!(rows, expected, "{name} as {role}: audit rows for a success");
                }
            } else {
                assert_eq!(status, 403, "{name} as {role} must be refused: {body}");
                assert_eq!(body["type"], "urn:alexandria:problem:forbidden");
                assert_eq!(rows, 1, "{name} as {role}: one audit row per refusal");
            }
        }
    }
}

#[tokio::test]
async fn every_route_times_every_role_and_bad_token_single_tenant() {
    run_matrix(false).await;
}

#[tokio::test]
async fn every_route_times_every_role_and_bad_token_multi_tenant() {
    run_matrix(true).await;
}

/// Snapshot of everything tenant `a` owns, to prove an admin of `b` changed nothing.
async fn tenant_a_state(server: &TestServer) -> Value {
    let pool = &server.database.pool;
    let users: Vec<(String, String, bool, Vec<String>, i64)> = sqlx::query_as(
        "SELECT username, role, disabled, allowed_tools, token_generation FROM users
         WHERE tenant = 'a' ORDER BY username",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let agents: Vec<(String, bool, Vec<String>)> = sqlx::query_as(
        "SELECT name, disabled, allowed_tools FROM agents WHERE tenant = 'a' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let tenant: (String, Vec<String>) =
        sqlx::query_as("SELECT display_name, tool_ceiling FROM tenants WHERE id = 'a'")
            .fetch_one(pool)
            .await
            .unwrap();
    json!({"users": format!("{users:?}"), "agents": format!("{agents:?}"), "tenant": format!("{tenant:?}")})
}

#[tokio::test]
async fn an_admin_of_another_tenant_can_neither_read_nor_change_anything_of_tenant_a() {
    let world = World::new(true).await;
    let token_b = world.server.token_for(&world.admin_b).await;
    for spec in ROUTES
        .iter()
        .filter(|s| s.path.starts_with("/admin/") || s.path == "/v1/tools/authorize")
    {
        let name = label(spec);
        if spec.path.starts_with("/admin/tools") && spec.verb == Verb::Get {
            // The catalog is server-wide and readable by every admin; it belongs to no tenant.
            let (status, _, _) = world.send(spec, Some(&token_b)).await;
            assert_eq!(status, 200, "{name}");
            continue;
        }
        if spec.scope == Scope::Server {
            // Server-wide routes are super_admin only in multi-tenant mode: covered by the
            // matrix; an admin of b is refused like any admin.
            let (status, _, rows) = world.send(spec, Some(&token_b)).await;
            assert_eq!((status, rows), (403, 1), "{name}");
            continue;
        }
        let (path, body) = world.request(spec).await;
        let has_param = spec.path.contains('{');
        let (path, body) = match (spec.verb, spec.path) {
            // Creating in tenant a: refused.
            (Verb::Post, "/admin/users" | "/admin/agents") => {
                let mut body = body.unwrap();
                body["tenant"] = json!("a");
                (path, Some(body))
            }
            (Verb::Post, "/v1/tools/authorize") => {
                (path, Some(json!({"tool": "t1", "agent": world.agent_a.id})))
            }
            _ => (path, body),
        };
        let before_state = tenant_a_state(&world.server).await;
        let before = world.server.audit_position().await;
        let method = reqwest::Method::from_bytes(spec.verb.as_str().as_bytes()).unwrap();
        let mut request = world
            .server
            .client
            .request(method, world.server.url(&path))
            .bearer_auth(&token_b);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let (status, _, response_body) = parts(request.send().await.unwrap()).await;
        let rows = world.server.audit_since(before).await;
        if has_param || spec.path == "/v1/tools/authorize" {
            assert_eq!(
                status, 404,
                "{name}: objects of tenant a do not exist for b: {response_body}"
            );
            assert_eq!(rows.len(), 1, "{name}: the attempt is recorded");
            assert_eq!(rows[0].1, "authz.denied");
            assert_eq!(rows[0].2["reason"], "other_tenant");
        } else if spec.verb == Verb::Get {
            assert_eq!(status, 200, "{name}");
            let listed = response_body.as_array().unwrap();
            assert!(
                listed.iter().all(|o| o["tenant"] != "a" && o["id"] != "a"),
                "{name} leaks tenant a: {response_body}"
            );
        } else {
            assert_eq!(status, 403, "{name}: {response_body}");
            assert_eq!(rows.len(), 1, "{name}");
        }
        assert_eq!(
            tenant_a_state(&world.server).await,
            before_state,
            "{name}: tenant a unchanged"
        );
    }
}
