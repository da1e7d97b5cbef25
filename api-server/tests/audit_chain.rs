//! The audit chain against a real Postgres: appends, checkpoints, and the tamper matrix.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod support;

use alexandria_api::audit::AuditEvent;
use serde_json::json;
use support::AuditFixture;

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
