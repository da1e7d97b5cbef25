//! The audit chain against a real Postgres: appends, checkpoints, and the tamper matrix.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod support;

use std::collections::BTreeMap;

use alexandria_api::audit::{
    AuditEvent, Checkpoint, FailureKind, HmacKeyRing, VerifyOptions, VerifyReport, WriterSettings,
};
use serde_json::json;
use support::{AuditFixture, writer};

fn failure(report: &VerifyReport) -> (i64, FailureKind) {
    let f = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failure: {report:?}"));
    assert!(!report.verified);
    (f.id, f.kind)
}

/// Ten rows, a checkpoint every ten rows (so one at position 10).
async fn ten_rows() -> AuditFixture {
    let fx = AuditFixture::with_settings(WriterSettings {
        checkpoint_every_rows: 10,
        ..Default::default()
    })
    .await;
    for i in 1..=10 {
        let mut event = support::event(i);
        if i == 5 {
            event = event.with_agent("agent-7").with_tenant("acme");
        }
        fx.audit.record(event).await.unwrap();
    }
    let clean = fx.verify().await;
    assert!(clean.verified, "{clean:?}");
    fx
}

#[tokio::test]
async fn empty_log_verifies() {
    let fx = AuditFixture::new().await;
    let report = fx.verify().await;
    assert!(report.verified, "{report:?}");
    assert_eq!(report.rows_checked, 0);
    assert_eq!((report.first_id, report.last_id), (None, None));
}

#[tokio::test]
async fn one_row_verifies_and_its_receipt_matches_the_stored_row() {
    let fx = AuditFixture::new().await;
    let receipt = fx
        .audit
        .record(AuditEvent::new("alice", "auth.login").with_metadata(json!({"b": 1, "a": [true]})))
        .await
        .unwrap();
    assert_eq!(receipt.id, 1);
    let (hmac, metadata): (Vec<u8>, String) =
        sqlx::query_as("SELECT hmac, metadata FROM audit_log WHERE id = 1")
            .fetch_one(&fx.database.pool)
            .await
            .unwrap();
    assert_eq!(hex::encode(hmac), receipt.hmac);
    assert_eq!(
        metadata, r#"{"a":[true],"b":1}"#,
        "canonical text is stored"
    );
    let report = fx.verify().await;
    assert!(report.verified, "{report:?}");
    assert_eq!(
        (report.rows_checked, report.first_id, report.last_id),
        (1, Some(1), Some(1))
    );
}

#[tokio::test]
async fn checkpoint_every_k_rows_is_signed_and_protects_against_truncation() {
    let fx = ten_rows().await;
    let report = fx.verify().await;
    assert_eq!(report.truncation_protected_through, Some(10));
    let mut conn = fx.database.pool.acquire().await.unwrap();
    let latest = alexandria_api::audit::checkpoint::latest(&mut conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((latest.position, latest.kind.as_str()), (10, "periodic"));
    latest.verify_signature(&fx.public_keys()).unwrap();
    let (hmac10,): (Vec<u8>,) = sqlx::query_as("SELECT hmac FROM audit_log WHERE id = 10")
        .fetch_one(&fx.database.pool)
        .await
        .unwrap();
    assert_eq!(latest.head_hmac, hex::encode(hmac10));
}

#[tokio::test]
async fn a_checkpoint_is_also_written_after_t_when_fewer_than_k_rows_arrived() {
    let fx = AuditFixture::with_settings(WriterSettings {
        checkpoint_every_rows: 1000,
        checkpoint_interval: std::time::Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    fx.record_n(3).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let latest = loop {
        let mut conn = fx.database.pool.acquire().await.unwrap();
        if let Some(c) = alexandria_api::audit::checkpoint::latest(&mut conn)
            .await
            .unwrap()
        {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no time-based checkpoint"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!((latest.position, latest.kind.as_str()), (3, "periodic"));
    latest.verify_signature(&fx.public_keys()).unwrap();
    // Without new rows, no further checkpoints pile up.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_checkpoint")
        .fetch_one(&fx.database.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(fx.verify().await.truncation_protected_through, Some(3));
}

#[tokio::test]
async fn editing_any_mac_covered_column_of_a_middle_row_is_detected_as_modified() {
    let edits = [
        "principal = 'mallory'",
        "action = 'test.other'",
        "agent = NULL",
        "agent = 'agent-8'",
        "session = NULL",
        "tenant = 'evil'",
        "metadata = '{\"n\":5}'",
        "key_id = 'k0'",
        "created_at = created_at + interval '1 microsecond'",
        "prev_hmac = decode(repeat('ab', 32), 'hex')",
        "hmac = decode(repeat('cd', 32), 'hex')",
    ];
    for edit in edits {
        let fx = ten_rows().await;
        fx.tamper(&format!("UPDATE audit_log SET {edit} WHERE id = 5"))
            .await;
        let report = fx.verify().await;
        assert_eq!(
            failure(&report),
            (5, FailureKind::Modified),
            "edit {edit}: {report:?}"
        );
        assert_eq!(report.rows_checked, 4, "edit {edit}");
    }
}

#[tokio::test]
async fn the_jsonb_query_copy_cannot_be_written_and_a_detached_copy_is_checked_row_by_row() {
    let fx = ten_rows().await;
    let refused = sqlx::query("UPDATE audit_log SET metadata_jsonb = '{}' WHERE id = 5")
        .execute(&fx.database.pool)
        .await;
    assert!(refused.is_err(), "a generated column cannot be written");
    // Turning the copy into a plain column and editing it is caught at the row.
    fx.tamper(
        "ALTER TABLE audit_log ALTER COLUMN metadata_jsonb DROP EXPRESSION;
         UPDATE audit_log SET metadata_jsonb = '{\"n\":6}' WHERE id = 5",
    )
    .await;
    let report = fx.verify().await;
    assert_eq!(failure(&report), (5, FailureKind::Modified), "{report:?}");
    assert!(report.failure.unwrap().detail.contains("metadata_jsonb"));
}

#[tokio::test]
async fn moving_a_row_to_another_id_leaves_its_position_missing() {
    let fx = ten_rows().await;
    fx.tamper("UPDATE audit_log SET id = 1000 WHERE id = 5")
        .await;
    assert_eq!(failure(&fx.verify().await), (5, FailureKind::Missing));
}

#[tokio::test]
async fn deleting_a_middle_row_is_detected_as_missing() {
    let fx = ten_rows().await;
    fx.tamper("DELETE FROM audit_log WHERE id = 5").await;
    let report = fx.verify().await;
    assert_eq!(failure(&report), (5, FailureKind::Missing));
    assert!(report.failure.unwrap().detail.contains("5..5"));
}

#[tokio::test]
async fn deleting_the_newest_rows_is_detected_as_truncated() {
    let fx = ten_rows().await;
    fx.tamper("DELETE FROM audit_log WHERE id > 8").await;
    assert_eq!(failure(&fx.verify().await), (9, FailureKind::Truncated));
}

#[tokio::test]
async fn deleting_the_newest_rows_and_rewinding_the_head_is_caught_by_the_stored_checkpoint() {
    let fx = ten_rows().await;
    fx.tamper(
        "DELETE FROM audit_log WHERE id > 8;
         UPDATE audit_chain_head SET position = 8,
             head_hmac = (SELECT hmac FROM audit_log WHERE id = 8)",
    )
    .await;
    let report = fx.verify().await;
    assert_eq!(failure(&report), (9, FailureKind::Truncated));
    assert!(
        report
            .failure
            .unwrap()
            .detail
            .contains("covers position 10")
    );
}

#[tokio::test]
async fn truncation_with_every_trace_removed_is_caught_by_an_external_checkpoint() {
    let fx = ten_rows().await;
    let mut conn = fx.database.pool.acquire().await.unwrap();
    let kept: Checkpoint = alexandria_api::audit::checkpoint::latest(&mut conn)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    fx.tamper(
        "DELETE FROM audit_log WHERE id > 8;
         DELETE FROM audit_checkpoint;
         UPDATE audit_chain_head SET position = 8, checkpoint_position = 0,
             head_hmac = (SELECT hmac FROM audit_log WHERE id = 8)",
    )
    .await;
    let alone = fx.verify().await;
    assert!(
        alone.verified,
        "without outside evidence the cut is invisible: {alone:?}"
    );
    let options = VerifyOptions {
        external_checkpoint: Some(kept),
    };
    assert_eq!(
        failure(&fx.verify_with(&options).await),
        (9, FailureKind::Truncated)
    );
}

#[tokio::test]
async fn truncating_the_table_is_detected() {
    let fx = ten_rows().await;
    fx.tamper("TRUNCATE audit_log").await;
    assert_eq!(failure(&fx.verify().await), (1, FailureKind::Truncated));
}

#[tokio::test]
async fn swapping_two_rows_content_is_detected_as_reordered() {
    let fx = ten_rows().await;
    fx.tamper(
        "CREATE TEMP TABLE four AS SELECT * FROM audit_log WHERE id = 4;
         CREATE TEMP TABLE five AS SELECT * FROM audit_log WHERE id = 5;
         DELETE FROM audit_log WHERE id IN (4, 5);
         INSERT INTO audit_log (id, created_at, key_id, principal, action, agent, session, tenant, metadata, prev_hmac, hmac)
             SELECT 4, created_at, key_id, principal, action, agent, session,
             tenant, metadata, prev_hmac, hmac FROM five;
         INSERT INTO audit_log (id, created_at, key_id, principal, action, agent, session, tenant, metadata, prev_hmac, hmac)
             SELECT 5, created_at, key_id, principal, action, agent, session,
             tenant, metadata, prev_hmac, hmac FROM four",
    )
    .await;
    let report = fx.verify().await;
    assert_eq!(failure(&report), (4, FailureKind::Reordered));
    assert!(report.failure.unwrap().detail.contains("position 5"));
}

#[tokio::test]
async fn a_row_inserted_beyond_the_head_is_forged() {
    let fx = ten_rows().await;
    fx.tamper(
        "INSERT INTO audit_log (id, created_at, key_id, principal, action, agent, session, tenant, metadata, prev_hmac, hmac)
         SELECT 11, created_at, key_id, 'mallory', action, agent, session,
             tenant, metadata, hmac, decode(repeat('11', 32), 'hex')
         FROM audit_log WHERE id = 10",
    )
    .await;
    assert_eq!(failure(&fx.verify().await), (11, FailureKind::Forged));
}

#[tokio::test]
async fn a_second_row_claiming_a_position_is_forged() {
    let fx = ten_rows().await;
    fx.tamper(
        "INSERT INTO audit_log (id, created_at, key_id, principal, action, agent, session, tenant, metadata, prev_hmac, hmac)
         SELECT id, created_at + interval '1 second', key_id, 'mallory',
             action, agent, session, tenant, metadata, prev_hmac, hmac
         FROM audit_log WHERE id = 5",
    )
    .await;
    assert_eq!(failure(&fx.verify().await), (5, FailureKind::Forged));
}

#[tokio::test]
async fn dropping_a_partition_without_a_retention_anchor_is_detected_as_missing() {
    // Rows 1-5 two months ago, rows 6-10 now: two partitions.
    let now = time::OffsetDateTime::now_utc();
    let clock = alexandria_api::audit::Clock::manual(now - time::Duration::days(62));
    let fx = AuditFixture::with_settings(WriterSettings {
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    sqlx::query("SELECT audit_log_ensure_partitions(now() - interval '62 days', 3)")
        .execute(&fx.database.pool)
        .await
        .unwrap();
    fx.record_n(5).await;
    clock.set(now);
    fx.record_n(5).await;
    assert!(fx.verify().await.verified);
    let (old,): (String,) =
        sqlx::query_as("SELECT tableoid::regclass::text FROM audit_log WHERE id = 1")
            .fetch_one(&fx.database.pool)
            .await
            .unwrap();
    let (current,): (String,) =
        sqlx::query_as("SELECT tableoid::regclass::text FROM audit_log WHERE id = 10")
            .fetch_one(&fx.database.pool)
            .await
            .unwrap();
    assert_ne!(old, current);

    // The database refuses to drop it through the retention path: no anchor covers its rows…
    let refused = sqlx::query("SELECT audit_log_drop_partition($1)")
        .bind(&old)
        .execute(&fx.database.pool)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("beyond the retention anchor"),
        "{refused}"
    );
    // …so an attacker with owner rights drops it directly; verification notices.
    fx.tamper(&format!(
        "ALTER TABLE audit_log DETACH PARTITION {old}; DROP TABLE {old}"
    ))
    .await;
    let report = fx.verify().await;
    assert_eq!(failure(&report), (1, FailureKind::Missing));
    assert!(
        report
            .failure
            .unwrap()
            .detail
            .contains("no retention anchor covers them")
    );
}

#[tokio::test]
async fn a_current_partition_can_never_be_dropped_through_retention() {
    let fx = ten_rows().await;
    let (current,): (String,) =
        sqlx::query_as("SELECT tableoid::regclass::text FROM audit_log WHERE id = 1")
            .fetch_one(&fx.database.pool)
            .await
            .unwrap();
    let refused = sqlx::query("SELECT audit_log_drop_partition($1)")
        .bind(&current)
        .execute(&fx.database.pool)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("not entirely in the past"),
        "{refused}"
    );
}

#[tokio::test]
async fn rows_macced_with_a_key_no_longer_configured_are_reported_as_unknown_key() {
    let fx = AuditFixture::with_ring(WriterSettings::default(), HmacKeyRing::generate("old")).await;
    fx.record_n(3).await;
    let other = HmacKeyRing::generate("new");
    let report = alexandria_api::audit::verify_database(
        &fx.database.pool,
        &other,
        &fx.public_keys(),
        &VerifyOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(failure(&report), (1, FailureKind::UnknownKey));
}

#[tokio::test]
async fn rotation_keeps_old_rows_verifiable_while_new_rows_use_the_new_key() {
    let database = alexandria_api::postgres::TestDatabase::create()
        .await
        .unwrap();
    let signer = alexandria_api::audit::CheckpointSigner::generate("s1");
    let k_old = vec![1u8; 32];
    let k_new = vec![2u8; 32];
    let before = HmacKeyRing::new("old", BTreeMap::from([("old".into(), k_old.clone())])).unwrap();
    let audit = writer(&database.pool, &before, &signer, WriterSettings::default());
    for i in 0..3 {
        audit.record(support::event(i)).await.unwrap();
    }
    drop(audit);
    let after = HmacKeyRing::new(
        "new",
        BTreeMap::from([("old".into(), k_old), ("new".into(), k_new)]),
    )
    .unwrap();
    let audit = writer(&database.pool, &after, &signer, WriterSettings::default());
    for i in 3..6 {
        audit.record(support::event(i)).await.unwrap();
    }
    let key_ids: Vec<String> = sqlx::query_scalar("SELECT key_id FROM audit_log ORDER BY id")
        .fetch_all(&database.pool)
        .await
        .unwrap();
    assert_eq!(key_ids, ["old", "old", "old", "new", "new", "new"]);
    let report = alexandria_api::audit::verify_database(
        &database.pool,
        &after,
        &signer.public_keys(),
        &VerifyOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.verified, "{report:?}");
    assert_eq!(report.rows_checked, 6);
}

#[tokio::test]
async fn a_forged_or_foreign_checkpoint_is_rejected() {
    let fx = ten_rows().await;
    let mut conn = fx.database.pool.acquire().await.unwrap();
    let genuine = alexandria_api::audit::checkpoint::latest(&mut conn)
        .await
        .unwrap()
        .unwrap();
    drop(conn);

    let mut moved = genuine.clone();
    moved.position = 9;
    let report = fx
        .verify_with(&VerifyOptions {
            external_checkpoint: Some(moved),
        })
        .await;
    assert_eq!(
        failure(&report).1,
        FailureKind::Forged,
        "edited checkpoint: {report:?}"
    );

    let mut foreign = genuine.clone();
    foreign.installation_id = uuid::Uuid::new_v4();
    let report = fx
        .verify_with(&VerifyOptions {
            external_checkpoint: Some(foreign),
        })
        .await;
    assert_eq!(
        failure(&report).1,
        FailureKind::Forged,
        "foreign checkpoint: {report:?}"
    );

    let mut unknown = genuine;
    unknown.signing_key_id = "s9".into();
    let report = fx
        .verify_with(&VerifyOptions {
            external_checkpoint: Some(unknown),
        })
        .await;
    assert_eq!(failure(&report).1, FailureKind::UnknownKey);
}

#[tokio::test]
async fn the_database_refuses_updates_deletes_and_truncation_even_for_the_owner() {
    let fx = ten_rows().await;
    let pool = &fx.database.pool;
    for sql in [
        "UPDATE audit_log SET principal = 'x' WHERE id = 1",
        "DELETE FROM audit_log WHERE id = 1",
        "TRUNCATE audit_log",
        "UPDATE audit_checkpoint SET position = 1",
        "DELETE FROM audit_checkpoint",
    ] {
        let result = sqlx::query(sql).execute(pool).await;
        assert!(result.is_err(), "{sql} must be refused");
    }
    assert!(fx.verify().await.verified);
}

#[tokio::test]
async fn created_at_never_goes_backwards_even_when_the_clock_does() {
    let clock = alexandria_api::audit::Clock::manual(time::OffsetDateTime::now_utc());
    let fx = AuditFixture::with_settings(WriterSettings {
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    fx.record_n(2).await;
    clock.set(time::OffsetDateTime::now_utc() - time::Duration::hours(1));
    fx.record_n(2).await;
    let times: Vec<time::OffsetDateTime> =
        sqlx::query_scalar("SELECT created_at FROM audit_log ORDER BY id")
            .fetch_all(&fx.database.pool)
            .await
            .unwrap();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(fx.verify().await.verified);
}

#[tokio::test]
async fn invalid_events_are_rejected_before_anything_is_written() {
    let fx = AuditFixture::new().await;
    let err = fx
        .audit
        .record(AuditEvent::new("alice", "bad action"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("action"), "{err}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&fx.database.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}
