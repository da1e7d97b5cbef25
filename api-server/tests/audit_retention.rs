//! Retention: partitions ahead, signed anchors at the boundary, pruning that verification
//! survives, and runs that are idempotent and safe to overlap.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod support;

use alexandria_api::audit::retention::{self, RetentionMode, RetentionOptions};
use alexandria_api::audit::{Clock, WriterSettings};
use support::AuditFixture;
use time::OffsetDateTime;

/// Five rows 400 days ago, five 200 days ago, five now.
async fn history() -> AuditFixture {
    let now = OffsetDateTime::now_utc();
    let clock = Clock::manual(now - time::Duration::days(400));
    let fx = AuditFixture::with_settings(WriterSettings {
        clock: clock.clone(),
        checkpoint_every_rows: 1000,
        ..Default::default()
    })
    .await;
    sqlx::query("SELECT audit_log_ensure_partitions(now() - interval '400 days', 14)")
        .execute(&fx.database.pool)
        .await
        .unwrap();
    fx.record_n(5).await;
    clock.set(now - time::Duration::days(200));
    fx.record_n(5).await;
    clock.set(now);
    fx.record_n(5).await;
    fx
}

fn options(mode: RetentionMode) -> RetentionOptions {
    RetentionOptions {
        retain: retention::parse_retain("365d").unwrap(),
        mode,
        premake: 3,
        dry_run: false,
    }
}

async fn partitions(fx: &AuditFixture) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM audit_log_partitions ORDER BY range_start")
        .fetch_all(&fx.database.pool)
        .await
        .unwrap()
}

async fn ids(fx: &AuditFixture) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
        .fetch_all(&fx.database.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn partitions_exist_ahead_of_time_and_premake_extends_them() {
    let fx = AuditFixture::new().await;
    let month = |offset: i32| {
        let now = OffsetDateTime::now_utc();
        let total = now.year() * 12 + (now.month() as i32 - 1) + offset;
        format!(
            "audit_log_p{:04}{:02}",
            total.div_euclid(12),
            total.rem_euclid(12) + 1
        )
    };
    let names = partitions(&fx).await;
    for offset in 0..=3 {
        assert!(
            names.contains(&month(offset)),
            "{} in {names:?}",
            month(offset)
        );
    }
    let report = retention::run(
        &fx.database.pool,
        &fx.signer,
        &RetentionOptions {
            premake: 6,
            ..options(RetentionMode::Partition)
        },
    )
    .await
    .unwrap();
    assert_eq!(report.partitions_created, [month(4), month(5), month(6)]);
    let default: Option<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid
         WHERE p.partrelid = 'audit_log'::regclass",
    )
    .fetch_optional(&fx.database.pool)
    .await
    .unwrap();
    assert_eq!(default, None, "no DEFAULT partition");
}

#[tokio::test]
async fn partition_pruning_anchors_the_boundary_and_verification_still_proves_the_rest() {
    let fx = history().await;
    let before = partitions(&fx).await;
    let report = retention::run(
        &fx.database.pool,
        &fx.signer,
        &options(RetentionMode::Partition),
    )
    .await
    .unwrap();
    assert_eq!(report.boundary, Some(5));
    let anchor = report.anchor_checkpoint.clone().unwrap();
    assert_eq!(anchor.kind, "retention");
    assert_eq!(anchor.anchor.unwrap().position, 5);
    anchor.verify_signature(&fx.public_keys()).unwrap();
    assert_eq!(ids(&fx).await, (6..=15).collect::<Vec<_>>());
    assert!(report.partitions_dropped.iter().any(|p| p.rows == 5));
    let after = partitions(&fx).await;
    assert!(after.len() < before.len());
    assert!(
        report
            .summary()
            .iter()
            .any(|l| l.starts_with("dropped partition")),
        "{:?}",
        report.summary()
    );

    let verified = fx.verify().await;
    assert!(verified.verified, "{verified:?}");
    assert_eq!(verified.anchor.as_ref().map(|a| a.position), Some(5));
    assert_eq!(
        (verified.first_id, verified.last_id, verified.rows_checked),
        (Some(6), Some(15), 10)
    );

    // Appends continue on top of a pruned chain.
    fx.record_n(2).await;
    assert!(fx.verify().await.verified);
}

#[tokio::test]
async fn pruning_twice_is_a_no_op() {
    let fx = history().await;
    retention::run(
        &fx.database.pool,
        &fx.signer,
        &options(RetentionMode::Partition),
    )
    .await
    .unwrap();
    let anchors = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM audit_checkpoint WHERE kind = 'retention'",
        )
        .fetch_one(&fx.database.pool)
        .await
        .unwrap()
    };
    let (rows, parts, anchor_count) = (ids(&fx).await, partitions(&fx).await, anchors().await);
    let second = retention::run(
        &fx.database.pool,
        &fx.signer,
        &options(RetentionMode::Partition),
    )
    .await
    .unwrap();
    assert!(second.anchor_checkpoint.is_none());
    assert!(second.partitions_dropped.is_empty());
    assert_eq!(
        second.summary().last().map(String::as_str),
        Some("nothing to do")
    );
    assert_eq!(
        (ids(&fx).await, partitions(&fx).await, anchors().await),
        (rows, parts, anchor_count)
    );
}

#[tokio::test]
async fn two_runs_at_once_anchor_once_and_both_succeed() {
    let fx = history().await;
    let opts = options(RetentionMode::Partition);
    let (a, b) = tokio::join!(
        retention::run(&fx.database.pool, &fx.signer, &opts),
        retention::run(&fx.database.pool, &fx.signer, &opts)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        [a.anchor_checkpoint.is_some(), b.anchor_checkpoint.is_some()]
            .iter()
            .filter(|x| **x)
            .count(),
        1
    );
    assert!(fx.verify().await.verified);
}

#[tokio::test]
async fn delete_mode_removes_exactly_the_expired_rows_with_the_same_anchor_semantics() {
    let fx = history().await;
    let parts = partitions(&fx).await;
    let report = retention::run(
        &fx.database.pool,
        &fx.signer,
        &options(RetentionMode::Delete),
    )
    .await
    .unwrap();
    assert_eq!((report.boundary, report.rows_deleted), (Some(5), 5));
    assert_eq!(ids(&fx).await, (6..=15).collect::<Vec<_>>());
    // Expired partitions emptied by the delete are dropped as well.
    assert!(partitions(&fx).await.len() < parts.len());
    let verified = fx.verify().await;
    assert!(verified.verified, "{verified:?}");
    assert_eq!(verified.first_id, Some(6));
    let again = retention::run(
        &fx.database.pool,
        &fx.signer,
        &options(RetentionMode::Delete),
    )
    .await
    .unwrap();
    assert_eq!(
        (again.rows_deleted, again.anchor_checkpoint.is_none()),
        (0, true)
    );
}

#[tokio::test]
async fn dry_run_reports_the_plan_and_changes_nothing() {
    let fx = history().await;
    let (rows, parts) = (ids(&fx).await, partitions(&fx).await);
    let report = retention::run(
        &fx.database.pool,
        &fx.signer,
        &RetentionOptions {
            dry_run: true,
            premake: 5,
            ..options(RetentionMode::Partition)
        },
    )
    .await
    .unwrap();
    assert_eq!(report.boundary, Some(5));
    assert!(report.anchor_checkpoint.is_none());
    assert!(!report.partitions_dropped.is_empty());
    assert!(!report.partitions_created.is_empty());
    assert!(
        report
            .summary()
            .iter()
            .any(|l| l.starts_with("would drop partition"))
    );
    assert_eq!((ids(&fx).await, partitions(&fx).await), (rows, parts));
    let anchors: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_checkpoint WHERE kind = 'retention'")
            .fetch_one(&fx.database.pool)
            .await
            .unwrap();
    assert_eq!(anchors, 0);
}

#[tokio::test]
async fn nothing_expires_within_the_retention_period() {
    let fx = AuditFixture::new().await;
    fx.record_n(3).await;
    let report = retention::run(
        &fx.database.pool,
        &fx.signer,
        &options(RetentionMode::Partition),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.boundary, report.partitions_dropped.len()),
        (None, 0)
    );
    assert_eq!(ids(&fx).await, [1, 2, 3]);
}
