//! `/healthz` and `/readyz` over real HTTP against a real Postgres.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

use std::sync::Arc;
use std::time::{Duration, Instant};

use alexandria_api::config::Config;
use alexandria_api::entitlements::Entitlements;
use alexandria_api::postgres::{EphemeralPostgres, TestDatabase};
use alexandria_api::state::AppState;
use alexandria_api::{db, server};
use sqlx::{Connection as _, Executor as _};

/// Serves the router for `pool` on a free loopback port; returns its base URL.
async fn spawn_server(pool: sqlx::PgPool, url: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::dev(url, addr);
    config.auth.bcrypt_cost = alexandria_api::config::MIN_BCRYPT_COST;
    let audit_pool = pool.clone();
    let state: Arc<AppState> = tokio::task::spawn_blocking(move || {
        AppState::new(config, pool, audit_pool, Entitlements::none())
    })
    .await
    .unwrap()
    .unwrap();
    tokio::spawn(server::run(listener, state, std::future::pending()));
    format!("http://{addr}")
}

async fn get(url: &str) -> (u16, String, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.json().await.unwrap())
}

#[tokio::test]
async fn ready_when_migrated_and_healthy_always() {
    let database = TestDatabase::create().await.unwrap();
    let base = spawn_server(database.pool.clone(), &database.url).await;
    let (status, _, body) = get(&format!("{base}/healthz")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, _, body) = get(&format!("{base}/readyz")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
}

#[tokio::test]
async fn not_ready_while_migrations_are_pending() {
    let database = TestDatabase::create_empty().await.unwrap();
    let base = spawn_server(database.pool.clone(), &database.url).await;
    let (status, content_type, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["type"], "urn:alexandria:problem:migrations-pending");
    db::migrate(&database.pool).await.unwrap();
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200);
}

#[tokio::test]
async fn readiness_fails_while_the_database_is_down_and_recovers_when_it_returns() {
    let cluster = tokio::task::spawn_blocking(EphemeralPostgres::start)
        .await
        .unwrap()
        .unwrap();
    let mut admin = sqlx::PgConnection::connect(&cluster.url()).await.unwrap();
    admin.execute("CREATE DATABASE app").await.unwrap();
    admin.close().await.unwrap();
    let url = cluster.url_for("app");
    let pool = db::connect(&url, 4).await.unwrap();
    db::migrate(&pool).await.unwrap();
    let base = spawn_server(pool, &url).await;
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200);

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop().unwrap();
        cluster
    })
    .await
    .unwrap();
    let (status, content_type, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["type"], "urn:alexandria:problem:database-unavailable");
    assert_eq!(
        get(&format!("{base}/healthz")).await.0,
        200,
        "liveness is not readiness"
    );

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart().unwrap();
        cluster
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if get(&format!("{base}/readyz")).await.0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "readyz did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(cluster);
}
