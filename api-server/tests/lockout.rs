//! Brute-force lockout over real HTTP: counting, the generic 401 while locked, one
//! `auth.lockout` row, reset on success, admin unlock, per-IP locks, concurrent attempts.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use std::time::Duration;

use alexandria_api::auth::principal::Role;
use harness::{PASSWORD, TestServer, parts};

async fn policy_server(max_attempts: u32, per_ip: bool) -> TestServer {
    TestServer::start_with(|c| {
        c.auth.lockout.max_attempts = max_attempts;
        c.auth.lockout.window = Duration::from_secs(900);
        c.auth.lockout.duration = Duration::from_secs(900);
        c.auth.lockout.per_ip = per_ip;
    })
    .await
}

fn count(rows: &[(String, String, serde_json::Value)], action: &str) -> usize {
    rows.iter().filter(|r| r.1 == action).count()
}

#[tokio::test]
async fn max_attempts_failures_lock_the_account_even_against_the_right_password() {
    let server = policy_server(3, false).await;
    server.user("hank", Role::User, "default", &[]).await;
    let before = server.audit_position().await;
    let (_, _, wrong_body) = parts(server.login("hank", "wrong password 1").await).await;
    for i in 2..=3 {
        assert_eq!(
            server
                .login("hank", &format!("wrong password {i}"))
                .await
                .status(),
            401
        );
    }
    let (status, _, locked_body) = parts(server.login("hank", PASSWORD).await).await;
    assert_eq!(status, 401, "locked: the right password fails too");
    assert_eq!(locked_body, wrong_body, "same generic body: no enumeration");

    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 4, "one row per attempt: {rows:?}");
    assert_eq!(count(&rows, "auth.login.failure"), 3);
    assert_eq!(count(&rows, "auth.lockout"), 1);
    assert_eq!(
        rows[2].1, "auth.lockout",
        "the third failure starts the lock"
    );
    assert_eq!(rows[3].2["reason"], "locked");
}

#[tokio::test]
async fn a_successful_login_resets_the_counter() {
    let server = policy_server(3, false).await;
    server.user("ivy", Role::User, "default", &[]).await;
    for _ in 0..2 {
        assert_eq!(server.login("ivy", "wrong wrong wrong").await.status(), 401);
    }
    assert_eq!(server.login("ivy", PASSWORD).await.status(), 200);
    for _ in 0..2 {
        assert_eq!(server.login("ivy", "wrong wrong wrong").await.status(), 401);
    }
    assert_eq!(
        server.login("ivy", PASSWORD).await.status(),
        200,
        "two failures after the reset do not lock"
    );
}

#[tokio::test]
async fn unknown_usernames_lock_like_known_ones() {
    let server = policy_server(2, false).await;
    let before = server.audit_position().await;
    for _ in 0..3 {
        assert_eq!(server.login("ghost", "whatever it is").await.status(), 401);
    }
    let rows = server.audit_since(before).await;
    assert_eq!(count(&rows, "auth.lockout"), 1, "{rows:?}");
}

#[tokio::test]
async fn an_admin_unlocks_a_locked_account_and_the_unlock_is_recorded() {
    let server = policy_server(2, false).await;
    let jack = server.user("jack", Role::User, "default", &[]).await;
    let admin = server.user("adm", Role::Admin, "default", &[]).await;
    for _ in 0..2 {
        server.login("jack", "not it at all").await;
    }
    assert_eq!(server.login("jack", PASSWORD).await.status(), 401);
    let before = server.audit_position().await;
    let (status, _, body) = parts(
        server
            .client
            .post(server.url(&format!("/admin/users/{}/unlock", jack.id)))
            .bearer_auth(server.token_for(&admin).await)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["was_locked"], true);
    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, "admin.user.unlock");
    assert_eq!(server.login("jack", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn per_ip_lockout_blocks_every_username_from_that_address() {
    let server = policy_server(3, true).await;
    server.user("kim", Role::User, "default", &[]).await;
    for name in ["a1", "a2", "a3"] {
        assert_eq!(server.login(name, "spray spray spray").await.status(), 401);
    }
    assert_eq!(
        server.login("kim", PASSWORD).await.status(),
        401,
        "the source IP is locked"
    );
    let locks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lockout_state WHERE scope = 'ip' AND key = '127.0.0.1'
         AND locked_until > now()",
    )
    .fetch_one(&server.database.pool)
    .await
    .unwrap();
    assert_eq!(locks, 1);
}

#[tokio::test]
async fn concurrent_failures_start_exactly_one_lock() {
    let server = policy_server(5, false).await;
    server.user("lee", Role::User, "default", &[]).await;
    let before = server.audit_position().await;
    let attempts = (0..12).map(|i| {
        let client = server.client.clone();
        let url = server.url("/auth/login");
        async move {
            client
                .post(url)
                .json(&serde_json::json!({"username": "lee", "password": format!("guess number {i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 12);
    assert_eq!(count(&rows, "auth.lockout"), 1, "{rows:?}");
}
