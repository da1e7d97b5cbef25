//! Brute-force lockout holds across two `alexandria-api serve` processes on one database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use alexandria_api::audit::{CheckpointSigner, HmacKeyRing};
use alexandria_api::postgres::TestDatabase;
use alexandria_e2e::binaries::binary;
use alexandria_e2e::process::Running;
use serde_json::json;

const PASSWORD: &str = "the victim's password";

fn api() -> Command {
    let mut command = Command::new(binary("alexandria-api", "alexandria-api"));
    command.env("RUST_LOG", "warn");
    command
}

/// A configuration directory for `database_url`: secrets as files, three attempts lock.
fn config_dir(database_url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("database-url"), database_url).unwrap();
    std::fs::write(path("jwt-secret"), "j".repeat(40)).unwrap();
    std::fs::write(
        path("hmac.yaml"),
        serde_yaml::to_string(&HmacKeyRing::generate("k1").to_file()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        path("signing.yaml"),
        serde_yaml::to_string(&CheckpointSigner::generate("s1").to_file()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        path("api-server.yaml"),
        "listen: 127.0.0.1:0
database:
  url_file: database-url
auth:
  jwt_secret_file: jwt-secret
  bcrypt_cost: 10
  lockout:
    max_attempts: 3
    window: 15m
    duration: 15m
audit:
  hmac_keys_file: hmac.yaml
  signing_key_file: signing.yaml
",
    )
    .unwrap();
    dir
}

fn create_user(config: &Path, username: &str) {
    let mut child = api()
        .args([
            "users",
            "create",
            "--role",
            "user",
            "--username",
            username,
            "--config",
        ])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "users create failed");
    assert!(String::from_utf8_lossy(&output.stdout).contains("created user"));
}

fn serve(config: &Path) -> (Running, String) {
    let mut server = Running::spawn({
        let mut c = api();
        c.args(["serve", "--config"]).arg(config);
        c
    })
    .unwrap();
    let base = server.wait_for_line("listening: ", Duration::from_secs(60));
    (server, base)
}

async fn login(client: &reqwest::Client, base: &str, password: &str) -> u16 {
    client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "victim", "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn lockout_holds_across_two_replicas_on_one_database() {
    let database = TestDatabase::create().await.unwrap();
    let dir = config_dir(&database.url);
    let config = dir.path().join("api-server.yaml");
    create_user(&config, "victim");
    let (_a, base_a) = serve(&config);
    let (_b, base_b) = serve(&config);
    let client = reqwest::Client::new();

    assert_eq!(
        login(&client, &base_a, PASSWORD).await,
        200,
        "the account works"
    );
    // Failures alternate between the replicas; the third one (on A) locks.
    for base in [&base_a, &base_b, &base_a] {
        assert_eq!(login(&client, base, "a wrong password").await, 401);
    }
    // Locked on both replicas, even with the right password.
    assert_eq!(login(&client, &base_b, PASSWORD).await, 401);
    assert_eq!(login(&client, &base_a, PASSWORD).await, 401);

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE principal = 'victim' ORDER BY id")
            .fetch_all(&database.pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "auth.login",
            "auth.login.failure",
            "auth.login.failure",
            "auth.lockout",
            "auth.login.failure",
            "auth.login.failure",
        ],
        "one row per attempt from either replica, one lockout"
    );
}
