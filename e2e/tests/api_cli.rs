//! The `alexandria-api` binary, driven as a user would.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use alexandria_api::db;
use alexandria_api::postgres::TestDatabase;
use alexandria_e2e::binaries::binary;
use alexandria_e2e::process::Running;
use nix::sys::signal::Signal;

fn api() -> Command {
    let mut command = Command::new(binary("alexandria-api", "alexandria-api"));
    command.env("RUST_LOG", "info");
    command
}

fn port_of(url: &str) -> u16 {
    url::Url::parse(url).unwrap().port().unwrap()
}

fn port_closes(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_dev_serves_probes_and_removes_its_database_on_ctrl_c() {
    let mut server = Running::spawn({
        let mut c = api();
        c.args(["serve", "--dev", "--listen", "127.0.0.1:0"]);
        c
    })
    .unwrap();
    let database = server.wait_for_line("database: ", Duration::from_secs(90));
    let base = server.wait_for_line("listening: ", Duration::from_secs(60));
    assert!(database.starts_with("postgres://"), "{database}");

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    // The generated accounts log in with the printed passwords and have their roles.
    let client = reqwest::Client::new();
    for (username, role) in [("admin", "admin"), ("root", "super_admin")] {
        let password =
            server.wait_for_line(&format!("{username} password: "), Duration::from_secs(5));
        assert!(password.len() >= 20, "{password}");
        let login: serde_json::Value = client
            .post(format!("{base}/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap();
        let me: serde_json::Value = client
            .get(format!("{base}/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], role);
    }
    let password_lines = server
        .lines_seen()
        .iter()
        .filter(|l| l.contains(" password: "))
        .count();
    assert_eq!(password_lines, 2, "each password is printed once");

    // The printed URL is usable (as with psql) and the schema is migrated.
    let pool = db::connect(&database, 1).await.unwrap();
    assert!(db::pending_migrations(&pool).await.unwrap().is_empty());
    pool.close().await;

    server.signal(Signal::SIGINT);
    let status = server.wait(Duration::from_secs(60));
    assert!(status.success(), "graceful exit, got {status}");
    assert!(
        port_closes(port_of(&database), Duration::from_secs(10)),
        "postgres stopped"
    );
}

#[test]
fn killed_serve_dev_takes_its_postgres_with_it() {
    let mut server = Running::spawn({
        let mut c = api();
        c.args(["serve", "--dev", "--listen", "127.0.0.1:0"]);
        c
    })
    .unwrap();
    let database = server.wait_for_line("database: ", Duration::from_secs(90));
    server.wait_for_line("listening: ", Duration::from_secs(60));
    server.signal(Signal::SIGKILL);
    server.wait(Duration::from_secs(10));
    assert!(
        port_closes(port_of(&database), Duration::from_secs(20)),
        "postgres must not outlive a killed parent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_twice_applies_once_and_then_is_a_no_op() {
    let database = TestDatabase::create_empty().await.unwrap();
    for run in 0..2 {
        let output = api()
            .args(["migrate", "--database-url", &database.url])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("schema is current"));
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&database.pool)
        .await
        .unwrap();
    assert_eq!(rows as usize, db::MIGRATOR.iter().count());
    assert!(
        db::pending_migrations(&database.pool)
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn serve_without_dev_or_config_names_the_missing_option() {
    let output = api().args(["serve"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--config"), "{stderr}");
}
