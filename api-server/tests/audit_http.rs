//! `/admin/audit/*` over real HTTP: verify (with an external checkpoint), the latest
//! checkpoint, and the NDJSON export with its cursor, gzip and the `audit_export` entitlement.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod harness;

use std::io::Read as _;

use alexandria_api::auth::principal::Role;
use alexandria_api::entitlements::Entitlements;
use alexandria_api::state::AppState;
use harness::{TestServer, parts, test_config};
use serde_json::{Value, json};

async fn admin(server: &TestServer) -> String {
    let user = server.user("auditor", Role::Admin, "default", &[]).await;
    server.token_for(&user).await
}

async fn fill(server: &TestServer, n: usize) {
    for i in 0..n {
        server
            .state
            .audit
            .record(
                alexandria_api::audit::AuditEvent::new("alice", "test.event")
                    .with_metadata(json!({"i": i})),
            )
            .await
            .unwrap();
    }
}

fn link_next(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?.to_owned();
    Some(link.strip_prefix('<')?.split('>').next()?.to_owned())
}

#[tokio::test]
async fn verify_reports_a_clean_chain_and_records_that_it_ran() {
    let server = TestServer::start().await;
    let token = admin(&server).await;
    fill(&server, 5).await;
    let before = server.audit_position().await;
    let response = server
        .client
        .post(server.url("/admin/audit/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verified"], true);
    assert_eq!(body["rows_checked"].as_u64().unwrap() as i64, before);
    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, "audit.verify");
    assert_eq!(rows[0].2["verified"], true);
}

#[tokio::test]
async fn verify_with_an_external_checkpoint_reports_truncation() {
    let server = TestServer::start_with(|c| c.audit.settings.checkpoint_every_rows = 5).await;
    let token = admin(&server).await;
    fill(&server, 10).await;
    let response = server
        .client
        .get(server.url("/admin/audit/checkpoints/latest"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, _, checkpoint) = parts(response).await;
    assert_eq!(status, 200, "{checkpoint}");
    assert_eq!(checkpoint["position"], 10);

    let mut conn = server.database.pool.acquire().await.unwrap();
    sqlx::raw_sql(
        "SET session_replication_role = replica; DELETE FROM audit_log WHERE id > 8;
         DELETE FROM audit_checkpoint; UPDATE audit_chain_head SET position = 8, checkpoint_position = 0,
         head_hmac = (SELECT hmac FROM audit_log WHERE id = 8); RESET session_replication_role",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let response = server
        .client
        .post(server.url("/admin/audit/verify"))
        .bearer_auth(&token)
        .json(&json!({"checkpoint": checkpoint}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["verified"].as_bool(), body["failure"]["kind"].as_str()),
        (Some(false), Some("truncated")),
        "{body}"
    );
    assert_eq!(body["failure"]["id"], 9);
}

#[tokio::test]
async fn a_malformed_verify_body_is_a_problem_naming_the_field() {
    let server = TestServer::start().await;
    let token = admin(&server).await;
    let response = server
        .client
        .post(server.url("/admin/audit/verify"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"checkpoint": {"position": "ten"}}"#)
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = parts(response).await;
    assert_eq!(
        (status, content_type.as_str()),
        (422, "application/problem+json")
    );
    assert!(
        body["detail"].as_str().unwrap().contains("checkpoint"),
        "{body}"
    );
}

#[tokio::test]
async fn latest_checkpoint_is_404_before_any_was_written() {
    let server = TestServer::start().await;
    let token = admin(&server).await;
    let response = server
        .client
        .get(server.url("/admin/audit/checkpoints/latest"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, content_type, _) = parts(response).await;
    assert_eq!(
        (status, content_type.as_str()),
        (404, "application/problem+json")
    );
}

#[tokio::test]
async fn export_pages_with_link_next_cover_every_row_exactly_once() {
    let server = TestServer::start().await;
    let token = admin(&server).await;
    fill(&server, 23).await;
    let mut url = server.url("/admin/audit/export?limit=5");
    let mut seen = Vec::new();
    for _ in 0..20 {
        let response = server
            .client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        let next = link_next(&response).expect("Link: rel=next");
        let text = response.text().await.unwrap();
        assert!(text.is_empty() || text.ends_with('\n'));
        let ids: Vec<i64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        if ids.is_empty() {
            break;
        }
        seen.extend(ids);
        url = server.url(&next);
    }
    // Each page request is itself recorded, so the log keeps growing while we read it.
    let expected: Vec<i64> = (1..=*seen.last().unwrap()).collect();
    assert_eq!(seen, expected, "no gaps, no duplicates");
    assert!(seen.len() >= 23);
}

#[tokio::test]
async fn export_is_gzipped_when_asked_and_verifies_offline() {
    let server = TestServer::start().await;
    let token = admin(&server).await;
    fill(&server, 30).await;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let response = raw
        .get(server.url("/admin/audit/export?limit=1000"))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.lines().count() >= 30);
    let check = alexandria_api::audit::export::FileCheck {
        hmac_keys: Some(&server.state.config.audit.keys.hmac),
        ..Default::default()
    };
    let report = alexandria_api::audit::export::verify_file(text.as_bytes(), &check).unwrap();
    assert!(report.verified, "{report:?}");
}

#[tokio::test]
async fn export_without_the_entitlement_is_403_naming_it_and_recorded() {
    let database = alexandria_api::postgres::TestDatabase::create()
        .await
        .unwrap();
    let config = test_config(&database);
    let audit_pool = alexandria_api::db::connect(&database.url, 2).await.unwrap();
    let pool = database.pool.clone();
    let state = tokio::task::spawn_blocking(move || {
        AppState::new(config, pool, audit_pool, Entitlements::none())
    })
    .await
    .unwrap()
    .unwrap();
    let server = TestServer::serve(database, state).await;
    let token = admin(&server).await;
    let before = server.audit_position().await;
    let response = server
        .client
        .get(server.url("/admin/audit/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = parts(response).await;
    assert_eq!(
        (status, content_type.as_str()),
        (403, "application/problem+json")
    );
    assert!(
        body["detail"].as_str().unwrap().contains("audit_export"),
        "{body}"
    );
    let rows = server.audit_since(before).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, "audit.export.denied");
}

#[tokio::test]
async fn audit_routes_refuse_missing_tokens_and_non_admins() {
    let server = TestServer::start().await;
    let user = server.user("bob", Role::User, "default", &[]).await;
    let user_token = server.token_for(&user).await;
    for (method, path) in [
        ("POST", "/admin/audit/verify"),
        ("GET", "/admin/audit/export"),
        ("GET", "/admin/audit/checkpoints/latest"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let anonymous = server
            .client
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
        let user = server
            .client
            .request(method, server.url(path))
            .bearer_auth(&user_token)
            .send()
            .await
            .unwrap();
        assert_eq!(user.status(), 403, "{path}");
    }
}

#[tokio::test]
async fn a_bad_cursor_is_a_problem_naming_the_parameter() {
    let server = TestServer::start().await;
    let token = admin(&server).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("after_id=-3", "after_id"),
        ("after_id=x", "after_id"),
        ("since=yesterday", "since"),
        ("bogus=1", "bogus"),
    ] {
        let response = server
            .client
            .get(server.url(&format!("/admin/audit/export?{query}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (status, content_type, body) = parts(response).await;
        assert_eq!(
            (status, content_type.as_str()),
            (422, "application/problem+json"),
            "{query}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains(field),
            "{query}: {body}"
        );
    }
}
