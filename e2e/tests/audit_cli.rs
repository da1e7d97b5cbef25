//! `alexandria-api audit …` as an operator, the retention CronJob and an auditor run it, plus
//! two writer processes on one database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use alexandria_api::audit::{
    Audit, AuditEvent, CheckpointSigner, HmacKeyRing, WriterKeys, WriterSettings,
};
use alexandria_api::postgres::TestDatabase;
use alexandria_e2e::binaries::binary;

fn api(args: &[&str]) -> Output {
    Command::new(binary("alexandria-api", "alexandria-api"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "status {}\nstdout: {}\nstderr: {}",
        output.status,
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

struct Keys {
    _dir: tempfile::TempDir,
    hmac: PathBuf,
    signing: PathBuf,
    public: PathBuf,
}

fn keygen() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let (hmac, signing, public) = (
        dir.path().join("hmac.yaml"),
        dir.path().join("signing.yaml"),
        dir.path().join("public.yaml"),
    );
    ok(api(&[
        "audit",
        "keygen",
        "--hmac-keys-file",
        hmac.to_str().unwrap(),
        "--signing-key-file",
        signing.to_str().unwrap(),
        "--public-keys-file",
        public.to_str().unwrap(),
    ]));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&hmac).unwrap().permissions().mode() & 0o777,
        0o600
    );
    Keys {
        _dir: dir,
        hmac,
        signing,
        public,
    }
}

async fn record(database: &TestDatabase, keys: &Keys, n: usize) {
    let writer_keys = WriterKeys {
        hmac: HmacKeyRing::from_file(&keys.hmac).unwrap(),
        signer: CheckpointSigner::from_file(&keys.signing).unwrap(),
    };
    let audit = Audit::start(
        database.pool.clone(),
        writer_keys,
        WriterSettings {
            checkpoint_every_rows: 5,
            ..Default::default()
        },
    );
    for i in 0..n {
        audit
            .record(AuditEvent::new("ops", "cli.test").with_metadata(serde_json::json!({"i": i})))
            .await
            .unwrap();
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_and_auditor_workflow_verify_export_verify_file_checkpoint() {
    let database = TestDatabase::create().await.unwrap();
    let keys = keygen();
    record(&database, &keys, 12).await;
    let url = database.url.as_str();

    let report: serde_json::Value = serde_json::from_str(&ok(api(&[
        "audit",
        "verify",
        "--database-url",
        url,
        "--hmac-keys-file",
        p(&keys.hmac),
        "--public-keys-file",
        p(&keys.public),
    ])))
    .unwrap();
    assert_eq!(
        (
            report["verified"].as_bool(),
            report["rows_checked"].as_u64()
        ),
        (Some(true), Some(12))
    );

    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("audit.ndjson");
    ok(api(&[
        "audit",
        "export",
        "--database-url",
        url,
        "--output",
        p(&export),
    ]));
    let text = std::fs::read_to_string(&export).unwrap();
    assert_eq!(text.lines().count(), 12);

    let checkpoint = dir.path().join("checkpoint.json");
    std::fs::write(
        &checkpoint,
        ok(api(&["audit", "checkpoint", "--database-url", url])),
    )
    .unwrap();

    ok(api(&[
        "audit",
        "verify-file",
        p(&export),
        "--key",
        p(&keys.hmac),
    ]));
    ok(api(&[
        "audit",
        "verify-checkpoint",
        p(&checkpoint),
        "--public-keys-file",
        p(&keys.public),
    ]));
    ok(api(&[
        "audit",
        "verify-checkpoint",
        p(&checkpoint),
        "--public-keys-file",
        p(&keys.public),
        "--file",
        p(&export),
    ]));

    let edited = dir.path().join("edited.ndjson");
    std::fs::write(
        &edited,
        text.replacen("\"principal\":\"ops\"", "\"principal\":\"eve\"", 1),
    )
    .unwrap();
    let failed = api(&["audit", "verify-file", p(&edited), "--key", p(&keys.hmac)]);
    assert_eq!(failed.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&failed)).unwrap();
    assert_eq!(report["failure"]["kind"], "modified");

    // Deleting the newest rows is caught against the externally kept checkpoint.
    let mut conn = database.pool.acquire().await.unwrap();
    sqlx::raw_sql(
        "SET session_replication_role = replica; DELETE FROM audit_log WHERE id > 8;
        DELETE FROM audit_checkpoint; UPDATE audit_chain_head SET position = 8,
        head_hmac = (SELECT hmac FROM audit_log WHERE id = 8)",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let truncated = api(&[
        "audit",
        "verify",
        "--database-url",
        url,
        "--hmac-keys-file",
        p(&keys.hmac),
        "--public-keys-file",
        p(&keys.public),
        "--checkpoint",
        p(&checkpoint),
    ]);
    assert_eq!(truncated.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&truncated)).unwrap();
    assert_eq!(report["failure"]["kind"], "truncated", "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_command_prints_what_it_did_and_is_a_no_op_the_second_time() {
    let database = TestDatabase::create().await.unwrap();
    let keys = keygen();
    record(&database, &keys, 3).await;
    let url = database.url.as_str();
    let retention = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "retention",
            "--database-url",
            url,
            "--retain",
            "365d",
        ];
        args.extend_from_slice(&["--premake", "5", "--signing-key-file", p(&keys.signing)]);
        args.extend_from_slice(extra);
        api(&args)
    };
    let dry = ok(retention(&["--dry-run"]));
    assert!(dry.contains("would create partition"), "{dry}");
    let first = ok(retention(&[]));
    assert!(first.contains("created partition"), "{first}");
    let second = ok(retention(&[]));
    assert!(second.trim_end().ends_with("nothing to do"), "{second}");

    let bad = api(&[
        "audit",
        "retention",
        "--database-url",
        url,
        "--retain",
        "12h",
        "--signing-key-file",
        p(&keys.signing),
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("retain"),
        "names the field"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_writer_processes_with_sixty_four_producers_each_keep_one_contiguous_chain() {
    let database = TestDatabase::create().await.unwrap();
    let keys = keygen();
    let load = binary("alexandria-e2e", "audit-load");
    let spawn = |principal: &str| {
        Command::new(&load)
            .args([
                "--database-url",
                &database.url,
                "--hmac-keys-file",
                p(&keys.hmac),
                "--signing-key-file",
                p(&keys.signing),
            ])
            .args([
                "--producers",
                "64",
                "--events",
                "10",
                "--principal",
                principal,
            ])
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("replica-a"), spawn("replica-b"));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let (count, min, max, writers): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), min(id), max(id), count(DISTINCT principal) FROM audit_log",
    )
    .fetch_one(&database.pool)
    .await
    .unwrap();
    assert_eq!((count, min, max, writers), (1280, 1, 1280, 2));
    let report: serde_json::Value = serde_json::from_str(&ok(api(&[
        "audit",
        "verify",
        "--database-url",
        &database.url,
        "--hmac-keys-file",
        p(&keys.hmac),
        "--signing-key-file",
        p(&keys.signing),
    ])))
    .unwrap();
    assert_eq!(report["verified"], true, "{report}");
}
