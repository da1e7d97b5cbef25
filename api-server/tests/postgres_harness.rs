//! The throwaway Postgres facility: start, stop, parallel clusters, per-test databases.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

use std::path::PathBuf;

use alexandria_api::db;
use alexandria_api::postgres::{EphemeralPostgres, TestDatabase};
use sqlx::{Connection as _, Executor as _, PgConnection};

async fn start_cluster() -> EphemeralPostgres {
    tokio::task::spawn_blocking(EphemeralPostgres::start)
        .await
        .unwrap()
        .expect("ephemeral postgres starts")
}

async fn select_one(url: &str) -> Result<i32, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await?;
    conn.close().await?;
    Ok(one)
}

async fn database_exists(admin_url: &str, name: &str) -> bool {
    let mut conn = PgConnection::connect(admin_url).await.unwrap();
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn cluster_serves_queries_and_is_deleted_on_drop() {
    let cluster = start_cluster().await;
    assert_eq!(select_one(&cluster.url()).await.unwrap(), 1);
    let root: PathBuf = cluster.root().to_owned();
    let url = cluster.url();
    assert!(root.join("data").join("PG_VERSION").exists());

    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
    assert!(!root.exists(), "directory removed");
    assert!(select_one(&url).await.is_err(), "server stopped");
}

#[tokio::test]
async fn cluster_requires_the_generated_password() {
    let cluster = start_cluster().await;
    let wrong = format!(
        "postgres://postgres:wrong@127.0.0.1:{}/postgres",
        cluster.port()
    );
    assert!(select_one(&wrong).await.is_err());
    assert_eq!(select_one(&cluster.url()).await.unwrap(), 1);
}

#[tokio::test]
async fn two_clusters_run_side_by_side() {
    let (a, b) = tokio::join!(start_cluster(), start_cluster());
    assert_ne!(a.port(), b.port());
    assert_ne!(a.root(), b.root());
    let (url_a, url_b) = (a.url(), b.url());
    let (ra, rb) = tokio::join!(select_one(&url_a), select_one(&url_b));
    assert_eq!((ra.unwrap(), rb.unwrap()), (1, 1));
}

#[tokio::test]
async fn stopped_cluster_restarts_on_the_same_port_with_its_data() {
    let cluster = start_cluster().await;
    let url = cluster.url();
    {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
            .await
            .unwrap();
    }
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop().unwrap();
        cluster
    })
    .await
    .unwrap();
    assert!(!cluster.is_running());
    assert!(select_one(&url).await.is_err());

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart().unwrap();
        cluster
    })
    .await
    .unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let kept: i32 = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, 7);
    drop(cluster);
}

#[tokio::test]
async fn stale_cluster_directories_of_dead_processes_are_reaped() {
    // A directory named after a pid that cannot exist (above pid_max), as a killed run leaves it.
    let uid = nix::unistd::Uid::effective();
    let base = std::env::temp_dir().join(format!("alexandria-pg-{uid}"));
    std::fs::create_dir_all(&base).unwrap();
    let stale = base.join("2147483600-deadbeef");
    std::fs::create_dir_all(stale.join("data")).unwrap();
    std::fs::write(stale.join("data").join("postmaster.pid"), "2147483601\n").unwrap();

    let cluster = start_cluster().await;
    assert!(!stale.exists(), "stale directory reaped");
    assert!(cluster.root().exists(), "own directory kept");
}

#[tokio::test]
async fn each_test_database_is_fresh_migrated_and_dropped_afterwards() {
    let a = TestDatabase::create().await.unwrap();
    let b = TestDatabase::create().await.unwrap();
    assert_ne!(a.name, b.name);
    assert!(db::pending_migrations(&a.pool).await.unwrap().is_empty());

    sqlx::query("CREATE TABLE only_in_a (v int)")
        .execute(&a.pool)
        .await
        .unwrap();
    let in_b: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_in_a')::text")
        .fetch_one(&b.pool)
        .await
        .unwrap();
    assert_eq!(in_b, None, "databases are isolated");

    let admin = admin_url_of(&a.url);
    let name = a.name.clone();
    assert!(database_exists(&admin, &name).await);
    drop(a);
    assert!(
        !database_exists(&admin, &name).await,
        "dropped with the value"
    );
}

#[tokio::test]
async fn empty_test_database_has_every_migration_pending() {
    let database = TestDatabase::create_empty().await.unwrap();
    let pending = db::pending_migrations(&database.pool).await.unwrap();
    assert_eq!(pending.len(), db::MIGRATOR.iter().count());
    db::migrate(&database.pool).await.unwrap();
    assert!(
        db::pending_migrations(&database.pool)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The code path `DATABASE_URL` takes: databases on an externally managed server.
#[tokio::test]
async fn external_server_gets_one_database_per_test_and_loses_it_afterwards() {
    let external = start_cluster().await;
    let admin = external.url();
    let database = TestDatabase::create_on(&admin).await.unwrap();
    assert!(database.url.contains(&format!(":{}/", external.port())));
    assert_eq!(select_one(&database.url).await.unwrap(), 1);
    let name = database.name.clone();
    assert!(database_exists(&admin, &name).await);
    drop(database);
    assert!(!database_exists(&admin, &name).await);
}

fn admin_url_of(url: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_path("postgres");
    parsed.into()
}

/// Runs in two ways: as a normal test (no `DATABASE_URL`: the database is on the shared throwaway
/// cluster) and as the child of the test below (`DATABASE_URL` set: it is on that server).
#[tokio::test]
async fn test_database_lives_on_database_url_when_set_else_on_the_shared_cluster() {
    let database = TestDatabase::create().await.unwrap();
    let expected_port = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url::Url::parse(&url).unwrap().port().unwrap(),
        _ => tokio::task::spawn_blocking(|| {
            alexandria_api::postgres::shared_cluster().unwrap().port()
        })
        .await
        .unwrap(),
    };
    assert_eq!(
        url::Url::parse(&database.url).unwrap().port(),
        Some(expected_port)
    );
    assert!(
        db::pending_migrations(&database.pool)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn database_url_sends_a_whole_test_process_to_that_server() {
    let external = start_cluster().await;
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "test_database_lives_on_database_url_when_set_else_on_the_shared_cluster",
        ])
        .env("DATABASE_URL", external.url())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");

    // The child created its database there and dropped it when done.
    let mut conn = PgConnection::connect(&external.url()).await.unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'alexandria_test_%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(left, 0);
}
