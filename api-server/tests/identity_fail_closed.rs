//! When the audit log cannot record, every action fails with 503 and leaves nothing written:
//! the audit writer here appends to a database without the audit tables, while the action's
//! own database works.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use std::time::Duration;

use alexandria_api::auth::principal::Role;
use alexandria_api::entitlements::Entitlements;
use alexandria_api::postgres::TestDatabase;
use alexandria_api::state::AppState;
use harness::{PASSWORD, TestServer, parts, test_config};
use serde_json::{Value, json};

async fn server_with_broken_audit() -> (TestServer, TestDatabase) {
    let database = TestDatabase::create().await.unwrap();
    let broken = TestDatabase::create_empty().await.unwrap();
    let mut config = test_config(&database);
    config.audit.settings.record_timeout = Duration::from_secs(3);
    let pool = database.pool.clone();
    let audit_pool = broken.pool.clone();
    let state = tokio::task::spawn_blocking(move || {
        AppState::new(config, pool, audit_pool, Entitlements::none())
    })
    .await
    .unwrap()
    .unwrap();
    (TestServer::serve(database, state).await, broken)
}

async fn snapshot(server: &TestServer) -> Value {
    let pool = &server.database.pool;
    let count = |table: &'static str| async move {
        sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let users: Vec<(String, bool, i64)> =
        sqlx::query_as("SELECT username, disabled, token_generation FROM users ORDER BY username")
            .fetch_all(pool)
            .await
            .unwrap();
    json!({
        "users": format!("{users:?}"),
        "agents": count("agents").await,
        "tools": count("tools").await,
        "tenants": count("tenants").await,
        "revoked": count("revoked_tokens").await,
        "lockout": count("lockout_state").await,
        "audit": count("audit_log").await,
    })
}

#[tokio::test]
async fn every_action_fails_with_503_and_writes_nothing_when_the_audit_log_is_unavailable() {
    let (server, _broken) = server_with_broken_audit().await;
    let admin = server.user("adm", Role::Admin, "default", &[]).await;
    let user = server.user("usr", Role::User, "default", &[]).await;
    let admin_token = server.token_for(&admin).await;
    let user_token = server.token_for(&user).await;
    let before = snapshot(&server).await;

    let c = &server.client;
    let attempts: Vec<(&str, reqwest::RequestBuilder)> =
        vec![
        (
            "login success",
            c.post(server.url("/auth/login"))
                .json(&json!({"username": "usr", "password": PASSWORD})),
        ),
        (
            "login failure",
            c.post(server.url("/auth/login"))
                .json(&json!({"username": "usr", "password": "wrong wrong wrong"})),
        ),
        (
            "logout",
            c.post(server.url("/auth/logout")).bearer_auth(&user_token),
        ),
        (
            "create user",
            c.post(server.url("/admin/users"))
                .bearer_auth(&admin_token)
                .json(
                    &json!({"username": "new", "password": "long enough password", "role": "user"}),
                ),
        ),
        (
            "disable user",
            c.patch(server.url(&format!("/admin/users/{}", user.id)))
                .bearer_auth(&admin_token)
                .json(&json!({"disabled": true})),
        ),
        (
            "create agent",
            c.post(server.url("/admin/agents"))
                .bearer_auth(&admin_token)
                .json(&json!({"name": "bot"})),
        ),
        (
            "create tool",
            c.post(server.url("/admin/tools"))
                .bearer_auth(&admin_token)
                .json(&json!({"name": "search"})),
        ),
        (
            "create tenant",
            c.post(server.url("/admin/tenants"))
                .bearer_auth(&admin_token)
                .json(&json!({"id": "acme", "display_name": "Acme"})),
        ),
        (
            "authorize",
            c.post(server.url("/v1/tools/authorize"))
                .bearer_auth(&user_token)
                .json(&json!({"tool": "x"})),
        ),
        (
            "denied",
            c.get(server.url("/admin/users")).bearer_auth(&user_token),
        ),
        (
            "verify the audit chain",
            c.post(server.url("/admin/audit/verify")).bearer_auth(&admin_token),
        ),
        (
            "export denied for want of the entitlement",
            c.get(server.url("/admin/audit/export")).bearer_auth(&admin_token),
        ),
        (
            "no token",
            c.post(server.url("/admin/users")).json(&json!({})),
        ),
    ];
    for (name, request) in attempts {
        let (status, content_type, body) = parts(request.send().await.unwrap()).await;
        assert_eq!(status, 503, "{name}: {body}");
        assert_eq!(content_type, "application/problem+json", "{name}");
        assert_eq!(
            body["type"], "urn:alexandria:problem:audit-unavailable",
            "{name}"
        );
        assert!(body.get("access_token").is_none());
    }
    assert_eq!(
        snapshot(&server).await,
        before,
        "nothing of any action was written"
    );

    // Reads that need no audit row still work, and the un-logged-out token is still valid.
    let response = c
        .get(server.url("/auth/me"))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
