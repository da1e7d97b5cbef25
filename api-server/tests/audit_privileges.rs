//! Least privilege in the database: the api-server's role appends and reads the audit log but
//! can never change or remove rows; the retention role prunes only through the guarded
//! functions.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod support;

use alexandria_api::audit::retention::{self, RetentionMode, RetentionOptions};
use alexandria_api::audit::{CheckpointSigner, HmacKeyRing, WriterSettings};
use alexandria_api::db;
use alexandria_api::postgres::TestDatabase;
use support::{event, writer};

/// A login role that is a member of `group`, and a pool connected as it.
async fn login_as(database: &TestDatabase, group: &str) -> (String, sqlx::PgPool) {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!(
        "CREATE ROLE {name} LOGIN PASSWORD 'pw' IN ROLE {group}"
    ))
    .execute(&database.pool)
    .await
    .unwrap();
    let mut url = url::Url::parse(&database.url).unwrap();
    url.set_username(&name).unwrap();
    url.set_password(Some("pw")).unwrap();
    (name, db::connect(url.as_str(), 4).await.unwrap())
}

async fn drop_role(database: &TestDatabase, name: &str, pool: sqlx::PgPool) {
    pool.close().await;
    sqlx::query(&format!("DROP ROLE {name}"))
        .execute(&database.pool)
        .await
        .unwrap();
}

fn denied(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> bool {
    matches!(result, Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501"))
}

#[tokio::test]
async fn the_app_role_appends_but_cannot_update_delete_or_truncate() {
    let database = TestDatabase::create().await.unwrap();
    let (role, app) = login_as(&database, "alexandria_app").await;
    let hmac = HmacKeyRing::generate("k1");
    let signer = CheckpointSigner::generate("s1");
    let audit = writer(
        &app,
        &hmac,
        &signer,
        WriterSettings {
            checkpoint_every_rows: 2,
            ..Default::default()
        },
    );
    for i in 0..3 {
        audit.record(event(i)).await.unwrap();
    }
    for sql in [
        "UPDATE audit_log SET principal = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_checkpoint SET position = 0",
        "DELETE FROM audit_checkpoint",
        "SELECT audit_log_prune_rows(1, 10)",
        "SELECT audit_log_drop_partition('audit_log_p200001')",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
    ] {
        assert!(
            denied(sqlx::query(sql).execute(&app).await),
            "{sql} must be denied to the app role"
        );
    }
    drop(audit);
    drop_role(&database, &role, app).await;
}

#[tokio::test]
async fn the_retention_role_prunes_through_the_functions_and_cannot_touch_rows_directly() {
    let database = TestDatabase::create().await.unwrap();
    let hmac = HmacKeyRing::generate("k1");
    let signer = CheckpointSigner::generate("s1");
    let clock = alexandria_api::audit::Clock::manual(
        time::OffsetDateTime::now_utc() - time::Duration::days(400),
    );
    sqlx::query("SELECT audit_log_ensure_partitions(now() - interval '400 days', 14)")
        .execute(&database.pool)
        .await
        .unwrap();
    let audit = writer(
        &database.pool,
        &hmac,
        &signer,
        WriterSettings {
            clock: clock.clone(),
            ..Default::default()
        },
    );
    for i in 0..3 {
        audit.record(event(i)).await.unwrap();
    }
    clock.set(time::OffsetDateTime::now_utc());
    audit.record(event(9)).await.unwrap();

    let (role, retention_pool) = login_as(&database, "alexandria_retention").await;
    for sql in [
        "UPDATE audit_log SET principal = 'x'",
        "DELETE FROM audit_log",
        "INSERT INTO audit_log (id, created_at, key_id, principal, action, metadata, prev_hmac, hmac)
         SELECT id + 100, created_at, key_id, principal, action, metadata, prev_hmac, hmac FROM audit_log",
    ] {
        assert!(
            denied(sqlx::query(sql).execute(&retention_pool).await),
            "{sql}"
        );
    }
    let options = RetentionOptions {
        retain: retention::parse_retain("365d").unwrap(),
        mode: RetentionMode::Partition,
        premake: 3,
        dry_run: false,
    };
    let report = retention::run(&retention_pool, &signer, &options)
        .await
        .unwrap();
    assert_eq!(report.boundary, Some(3));
    let remaining: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
        .fetch_all(&database.pool)
        .await
        .unwrap();
    assert_eq!(remaining, [4]);
    drop_role(&database, &role, retention_pool).await;
}
