//! NDJSON export: keyset paging without gaps or duplicates, and offline verification of the
//! exported file with the HMAC key, or with only the checkpoint public key.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod support;

use alexandria_api::audit::export::{self, ExportQuery, FileCheck};
use alexandria_api::audit::{FailureKind, WriterSettings};
use futures::TryStreamExt as _;
use support::AuditFixture;

async fn page(fx: &AuditFixture, query: ExportQuery) -> (export::Page, String) {
    let page = export::plan_page(&fx.database.pool, &query).await.unwrap();
    let chunks: Vec<Vec<u8>> = export::stream_page(fx.database.pool.clone(), page)
        .try_collect()
        .await
        .unwrap();
    (page, String::from_utf8(chunks.concat()).unwrap())
}

async fn export_all(fx: &AuditFixture) -> String {
    page(
        fx,
        ExportQuery {
            limit: Some(10_000),
            ..Default::default()
        },
    )
    .await
    .1
}

fn ids(ndjson: &str) -> Vec<i64> {
    ndjson
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

async fn fixture(rows: usize) -> AuditFixture {
    let fx = AuditFixture::with_settings(WriterSettings {
        checkpoint_every_rows: 10,
        ..Default::default()
    })
    .await;
    fx.record_n(rows).await;
    fx
}

#[tokio::test]
async fn paging_with_after_id_returns_every_row_exactly_once() {
    let fx = fixture(25).await;
    let (mut after, mut seen) = (0, Vec::new());
    loop {
        let (p, body) = page(
            &fx,
            ExportQuery {
                after_id: Some(after),
                limit: Some(7),
                since: None,
            },
        )
        .await;
        assert!(body.is_empty() || body.ends_with('\n'), "trailing newline");
        if p.rows == 0 {
            break;
        }
        let got = ids(&body);
        assert_eq!(got.len() as i64, p.rows);
        assert_eq!(got.last().copied(), Some(p.last_id));
        seen.extend(got);
        after = p.last_id;
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
}

#[tokio::test]
async fn since_filters_by_time_and_lines_carry_the_chain_fields() {
    let fx = fixture(3).await;
    let cut = time::OffsetDateTime::now_utc();
    fx.record_n(2).await;
    let (_, body) = page(
        &fx,
        ExportQuery {
            since: Some(cut),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&body), [4, 5]);
    let line: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    for field in [
        "id",
        "hmac",
        "prev_hmac",
        "key_id",
        "created_at",
        "principal",
        "action",
        "metadata",
    ] {
        assert!(line.get(field).is_some(), "{field} in {line}");
    }
    assert!(
        line["metadata"].is_object(),
        "metadata is embedded as JSON, not a string"
    );
}

#[tokio::test]
async fn out_of_range_cursor_parameters_are_rejected_by_name() {
    let fx = fixture(1).await;
    let err = export::plan_page(
        &fx.database.pool,
        &ExportQuery {
            limit: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    let err = export::plan_page(
        &fx.database.pool,
        &ExportQuery {
            after_id: Some(-1),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("after_id"), "{err}");
}

#[tokio::test]
async fn an_exported_file_verifies_offline_with_the_hmac_key() {
    let fx = fixture(12).await;
    let file = export_all(&fx).await;
    let check = FileCheck {
        hmac_keys: Some(&fx.hmac),
        ..Default::default()
    };
    let report = export::verify_file(file.as_bytes(), &check).unwrap();
    assert!(report.verified, "{report:?}");
    assert_eq!(
        (report.rows_checked, report.first_id, report.last_id),
        (12, Some(1), Some(12))
    );
}

#[tokio::test]
async fn an_edited_line_in_an_export_fails_offline_verification() {
    let fx = fixture(12).await;
    let file = export_all(&fx).await;
    let edited = file.replacen("\"principal\":\"alice\"", "\"principal\":\"mallory\"", 7);
    let check = FileCheck {
        hmac_keys: Some(&fx.hmac),
        ..Default::default()
    };
    let report = export::verify_file(edited.as_bytes(), &check).unwrap();
    let failure = report.failure.unwrap();
    assert_eq!((failure.id, failure.kind), (1, FailureKind::Modified));

    let lines: Vec<&str> = file.lines().collect();
    let mut one_edit = lines.clone();
    let changed = lines[5].replace("\"action\":\"test.event\"", "\"action\":\"test.other\"");
    one_edit[5] = &changed;
    let report = export::verify_file(one_edit.join("\n").as_bytes(), &check).unwrap();
    assert_eq!(
        report.failure.map(|f| (f.id, f.kind)),
        Some((6, FailureKind::Modified))
    );

    let mut dropped = lines.clone();
    dropped.remove(3);
    let report = export::verify_file(dropped.join("\n").as_bytes(), &check).unwrap();
    assert_eq!(
        report.failure.map(|f| (f.id, f.kind)),
        Some((4, FailureKind::Missing))
    );
}

#[tokio::test]
async fn reformatting_a_line_keeps_it_verifiable_because_metadata_is_recanonicalised() {
    let fx = fixture(3).await;
    let file = export_all(&fx).await;
    let reformatted: String = file
        .lines()
        .map(|l| {
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(l).unwrap())
                .unwrap()
                .replace('\n', " ")
                + "\n"
        })
        .collect();
    let check = FileCheck {
        hmac_keys: Some(&fx.hmac),
        ..Default::default()
    };
    assert!(
        export::verify_file(reformatted.as_bytes(), &check)
            .unwrap()
            .verified
    );
}

#[tokio::test]
async fn with_only_the_public_key_an_auditor_checks_links_and_the_signed_checkpoint() {
    let fx = fixture(20).await;
    let file = export_all(&fx).await;
    let mut conn = fx.database.pool.acquire().await.unwrap();
    let checkpoint = alexandria_api::audit::checkpoint::latest(&mut conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.position, 20);
    let public = fx.public_keys();
    let check = FileCheck {
        hmac_keys: None,
        checkpoints: vec![checkpoint.clone()],
        checkpoint_keys: Some(&public),
    };
    let report = export::verify_file(file.as_bytes(), &check).unwrap();
    assert!(report.verified, "{report:?}");
    assert_eq!(report.truncation_protected_through, Some(20));

    // A file cut short of the checkpoint is truncated.
    let cut: String = file.lines().take(15).map(|l| format!("{l}\n")).collect();
    let report = export::verify_file(cut.as_bytes(), &check).unwrap();
    assert_eq!(
        report.failure.map(|f| (f.id, f.kind)),
        Some((16, FailureKind::Truncated))
    );

    // A broken link (a row's hmac replaced) shows without the secret.
    let lines: Vec<&str> = file.lines().collect();
    let original_hmac = serde_json::from_str::<serde_json::Value>(lines[9]).unwrap()["hmac"]
        .as_str()
        .unwrap()
        .to_owned();
    let relinked = file.replace(
        &format!("\"hmac\":\"{original_hmac}\""),
        &format!("\"hmac\":\"{}\"", "ab".repeat(32)),
    );
    let report = export::verify_file(relinked.as_bytes(), &check).unwrap();
    assert_eq!(
        report.failure.map(|f| (f.id, f.kind)),
        Some((11, FailureKind::Modified))
    );

    // An empty file cannot reach a checkpoint.
    let report = export::verify_file(&b""[..], &check).unwrap();
    assert_eq!(
        report.failure.map(|f| (f.id, f.kind)),
        Some((1, FailureKind::Truncated))
    );

    // A checkpoint whose signature does not hold is forged.
    let mut forged = checkpoint;
    forged.position = 19;
    let check = FileCheck {
        hmac_keys: None,
        checkpoints: vec![forged],
        checkpoint_keys: Some(&public),
    };
    let report = export::verify_file(file.as_bytes(), &check).unwrap();
    assert_eq!(report.failure.map(|f| f.kind), Some(FailureKind::Forged));
}
