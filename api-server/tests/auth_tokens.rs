//! Login, tokens, logout, revocation and delegation over real HTTP against a real Postgres.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use alexandria_api::auth::principal::Role;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harness::{PASSWORD, TestServer, parts};
use serde_json::{Value, json};

async fn me(server: &TestServer, token: &str) -> (u16, Value) {
    me_at(server, &server.base, token).await
}

async fn me_at(server: &TestServer, base: &str, token: &str) -> (u16, Value) {
    let response = server
        .client
        .get(format!("{base}/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(response).await;
    (status, body)
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn login_issues_a_bearer_token_with_the_documented_claims() {
    let server = TestServer::start().await;
    let alice = server.user("alice", Role::User, "default", &[]).await;
    let before = server.audit_position().await;
    let (status, _, body) = parts(server.login("alice", PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    for claim in ["sub", "role", "tenant", "jti", "iat", "exp", "iss", "aud"] {
        assert!(
            claims.get(claim).is_some(),
            "claim {claim} missing: {claims}"
        );
    }
    assert_eq!(claims["sub"], alice.id.to_string());
    assert_eq!(claims["role"], "user");
    assert_eq!(claims["iss"], "alexandria-api");
    assert_eq!(claims["aud"], "alexandria");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");

    let (status, me) = me(&server, token).await;
    assert_eq!(status, 200);
    assert_eq!(me["name"], "alice");
    assert_eq!(me["role"], "user");

    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("alice", "auth.login")
    );
    assert_eq!(rows[0].2["peer_ip"], "127.0.0.1");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_get_the_same_401() {
    let server = TestServer::start().await;
    let bob = server.user("bob", Role::User, "default", &[]).await;
    server.user("carol", Role::User, "default", &[]).await;
    let root = server.user("root", Role::SuperAdmin, "default", &[]).await;
    let root_token = server.token_for(&root).await;
    let response = server
        .client
        .patch(server.url(&format!("/admin/users/{}", bob.id)))
        .bearer_auth(&root_token)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let before = server.audit_position().await;
    let mut bodies = Vec::new();
    for (username, password) in [
        ("carol", "not the password"),
        ("nobody-here", PASSWORD),
        ("bob", PASSWORD),
    ] {
        let response = server.login(username, password).await;
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            "Bearer"
        );
        let (status, content_type, body) = parts(response).await;
        assert_eq!(status, 401, "{username}");
        assert_eq!(content_type, "application/problem+json");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let rows = server.audit_since(before).await;
    let actions: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(p, a, m)| (p.as_str(), a.as_str(), m["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("carol", "auth.login.failure", "wrong_password"),
            ("nobody-here", "auth.login.failure", "unknown_user"),
            ("bob", "auth.login.failure", "disabled"),
        ]
    );
}

#[tokio::test]
async fn logout_revokes_the_token_on_every_replica_sharing_the_database() {
    let server = TestServer::start().await;
    server.user("dave", Role::User, "default", &[]).await;
    let token = server.login_token("dave").await;
    let other_token = server.login_token("dave").await;
    // A second server (replica) on the same database.
    let replica = server.spawn_replica().await;
    assert_eq!(me_at(&server, &replica, &token).await.0, 200);

    let before = server.audit_position().await;
    let response = server
        .client
        .post(server.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(me(&server, &token).await.0, 401);
    assert_eq!(me_at(&server, &replica, &token).await.0, 401);
    assert_eq!(me(&server, &other_token).await.0, 200, "only that token");
    let rows = server.audit_since(before).await;
    assert_eq!(rows.iter().filter(|r| r.1 == "auth.logout").count(), 1);
    let revoked: i64 = sqlx::query_scalar("SELECT count(*) FROM revoked_tokens")
        .fetch_one(&server.database.pool)
        .await
        .unwrap();
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn disabling_a_user_revokes_their_tokens_at_once_and_enabling_does_not_revive_them() {
    let server = TestServer::start().await;
    let erin = server.user("erin", Role::User, "default", &[]).await;
    let admin = server.user("adm", Role::Admin, "default", &[]).await;
    let admin_token = server.token_for(&admin).await;
    let token = server.login_token("erin").await;
    assert_eq!(me(&server, &token).await.0, 200);
    let set_disabled = |disabled: bool| {
        server
            .client
            .patch(server.url(&format!("/admin/users/{}", erin.id)))
            .bearer_auth(&admin_token)
            .json(&json!({ "disabled": disabled }))
            .send()
    };
    assert_eq!(set_disabled(true).await.unwrap().status(), 200);
    assert_eq!(me(&server, &token).await.0, 401);
    assert_eq!(set_disabled(false).await.unwrap().status(), 200);
    assert_eq!(me(&server, &token).await.0, 401, "old tokens stay revoked");
    let fresh = server.login_token("erin").await;
    assert_eq!(me(&server, &fresh).await.0, 200);
}

#[tokio::test]
async fn forged_tampered_expired_and_foreign_tokens_are_refused_over_http() {
    let server = TestServer::start().await;
    let user = server.user("frank", Role::User, "default", &[]).await;
    let good = server.token_for(&user).await;
    let claims = claims_of(&good);
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signature = good.rsplit('.').next().unwrap();
    let mut escalated = claims.clone();
    escalated["role"] = json!("super_admin");
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!("someone-else");
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("another-api");
    let hs =
        |alg: &str, v: &Value| format!("{}.{}", b64(&json!({"alg": alg, "typ": "JWT"})), b64(v));
    let attacks = vec![
        ("alg none", format!("{}.", hs("none", &claims))),
        (
            "alg none, kept signature",
            format!("{}.{signature}", hs("none", &claims)),
        ),
        (
            "algorithm confusion RS256",
            format!("{}.{signature}", hs("RS256", &claims)),
        ),
        (
            "tampered role",
            format!("{}.{signature}", hs("HS256", &escalated)),
        ),
        (
            "wrong iss, old signature",
            format!("{}.{signature}", hs("HS256", &wrong_iss)),
        ),
        (
            "wrong aud, old signature",
            format!("{}.{signature}", hs("HS256", &wrong_aud)),
        ),
        ("expired", server.expired_token_for(&user).await),
        ("garbage", "not.a.token".to_owned()),
        ("empty signature", format!("{}.", hs("HS256", &claims))),
    ];
    // Correctly signed with our secret but wrong iss/aud.
    let mut resigned = Vec::new();
    for (name, mutate) in [("signed wrong iss", "iss"), ("signed wrong aud", "aud")] {
        let mut c: alexandria_api::auth::jwt::Claims =
            serde_json::from_value(claims.clone()).unwrap();
        if mutate == "iss" {
            c.iss = "evil".into();
        } else {
            c.aud = "evil".into();
        }
        resigned.push((name, server.state.tokens.sign(&c).unwrap()));
    }
    let before = server.audit_position().await;
    let count = attacks.len() + resigned.len();
    for (name, token) in attacks.into_iter().chain(resigned) {
        let (status, body) = me(&server, &token).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(
            body["type"], "urn:alexandria:problem:unauthenticated",
            "{name}"
        );
    }
    assert_eq!(me(&server, &good).await.0, 200);
    let rows = server.audit_since(before).await;
    assert_eq!(
        rows.len(),
        count,
        "one auth.token.rejected row per refused request"
    );
    assert!(rows.iter().all(|r| r.1 == "auth.token.rejected"));
}

#[tokio::test]
async fn agent_tokens_name_the_agent_and_the_user_they_act_for() {
    let server = TestServer::start().await;
    let admin = server.user("adm", Role::Admin, "default", &[]).await;
    let gina = server.user("gina", Role::User, "default", &[]).await;
    let admin_token = server.token_for(&admin).await;
    let (status, _, agent) = parts(
        server
            .client
            .post(server.url("/admin/agents"))
            .bearer_auth(&admin_token)
            .json(&json!({"name": "helper", "allowed_tools": ["search"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{agent}");
    let (status, _, issued) = parts(
        server
            .client
            .post(server.url(&format!(
                "/admin/agents/{}/tokens",
                agent["id"].as_str().unwrap()
            )))
            .bearer_auth(&admin_token)
            .json(&json!({"on_behalf_of": gina.id, "ttl": "10m"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["expires_in"], 600);
    let token = issued["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["role"], "agent");
    assert_eq!(claims["sub"], agent["id"]);
    assert_eq!(claims["obo"], gina.id.to_string());
    let (status, me_body) = me(&server, token).await;
    assert_eq!(status, 200);
    assert_eq!(me_body["name"], "agent:helper");
    assert_eq!(me_body["on_behalf_of"], "gina");

    // Disabling the delegating user stops the agent's delegated token too.
    let root = server.user("root", Role::SuperAdmin, "default", &[]).await;
    let root_token = server.token_for(&root).await;
    let response = server
        .client
        .patch(server.url(&format!("/admin/users/{}", gina.id)))
        .bearer_auth(&root_token)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(me(&server, token).await.0, 401);
}

#[tokio::test]
async fn an_admin_can_neither_create_nor_change_nor_impersonate_a_super_admin() {
    let server = TestServer::start().await;
    let admin = server.user("adm", Role::Admin, "default", &[]).await;
    let root = server.user("root", Role::SuperAdmin, "default", &[]).await;
    let token = server.token_for(&admin).await;
    let agent = server.agent("bot", "default", &[]).await;
    let before = server.audit_position().await;
    let attempts = [
        server.client.post(server.url("/admin/users")).json(
            &json!({"username": "evil", "password": "long enough password", "role": "super_admin"}),
        ),
        server
            .client
            .patch(server.url(&format!("/admin/users/{}", admin.id)))
            .json(&json!({"role": "super_admin"})),
        server
            .client
            .patch(server.url(&format!("/admin/users/{}", root.id)))
            .json(&json!({"password": "a new password for root"})),
        server
            .client
            .delete(server.url(&format!("/admin/users/{}", root.id))),
        server
            .client
            .post(server.url(&format!("/admin/agents/{}/tokens", agent.id)))
            .json(&json!({"on_behalf_of": root.id})),
    ];
    let n = attempts.len();
    for attempt in attempts {
        let (status, _, body) = parts(attempt.bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!(status, 403, "{body}");
    }
    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), n);
    assert!(rows.iter().all(|r| r.1 == "authz.denied"), "{rows:?}");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'super_admin'")
        .fetch_one(&server.database.pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
    assert_eq!(server.login("root", PASSWORD).await.status(), 200);
}
