//! The append path under load and failure: one line of contiguous ids across writers, and no
//! acknowledged event lost when Postgres dies mid-flight.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alexandria_api::audit::{
    AuditReceipt, CheckpointSigner, HmacKeyRing, VerifyOptions, WriterSettings, verify_database,
};
use alexandria_api::db;
use alexandria_api::postgres::{EphemeralPostgres, TestDatabase};
use sqlx::{Connection as _, Executor as _};
use support::{event, writer};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_producers_on_each_of_two_writers_form_one_contiguous_chain() {
    let database = TestDatabase::create().await.unwrap();
    let hmac = HmacKeyRing::generate("k1");
    let signer = CheckpointSigner::generate("s1");
    // Two writers with separate pools behave like two api-server replicas: they only share the
    // database, and the chain-head lock is what keeps them in one line.
    let second_pool = db::connect(&database.url, 8).await.unwrap();
    let settings = WriterSettings {
        checkpoint_every_rows: 100,
        ..Default::default()
    };
    let writers = [
        writer(&database.pool, &hmac, &signer, settings.clone()),
        writer(&second_pool, &hmac, &signer, settings),
    ];
    const PER_PRODUCER: usize = 15;
    let mut tasks = Vec::new();
    for w in &writers {
        for p in 0..64 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                let mut receipts = Vec::new();
                for i in 0..PER_PRODUCER {
                    receipts.push(w.record(event(p * 1000 + i)).await.unwrap());
                }
                receipts
            }));
        }
    }
    let mut ids: Vec<i64> = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap().into_iter().map(|r| r.id));
    }
    ids.sort_unstable();
    let total = 2 * 64 * PER_PRODUCER as i64;
    assert_eq!(
        ids,
        (1..=total).collect::<Vec<_>>(),
        "every receipt is a distinct position"
    );

    let (count, min, max): (i64, i64, i64) =
        sqlx::query_as("SELECT count(*), min(id), max(id) FROM audit_log")
            .fetch_one(&database.pool)
            .await
            .unwrap();
    assert_eq!((count, min, max), (total, 1, total), "contiguous ids");
    let batches: i64 = sqlx::query_scalar("SELECT count(DISTINCT created_at) FROM audit_log")
        .fetch_one(&database.pool)
        .await
        .unwrap();
    assert!(
        batches < total,
        "events were batched ({batches} transactions for {total} rows)"
    );
    let report = verify_database(
        &database.pool,
        &hmac,
        &signer.public_keys(),
        &VerifyOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.verified, "{report:?}");
    assert_eq!(report.rows_checked, total as u64);
    assert!(report.truncation_protected_through.unwrap() >= total - 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_crash_mid_flight_loses_no_acknowledged_event_and_the_writer_recovers() {
    let cluster = Arc::new(
        tokio::task::spawn_blocking(EphemeralPostgres::start)
            .await
            .unwrap()
            .unwrap(),
    );
    let mut admin = sqlx::PgConnection::connect(&cluster.url()).await.unwrap();
    admin.execute("CREATE DATABASE app").await.unwrap();
    admin.close().await.unwrap();
    let pool = db::connect(&cluster.url_for("app"), 8).await.unwrap();
    db::migrate(&pool).await.unwrap();
    let hmac = HmacKeyRing::generate("k1");
    let signer = CheckpointSigner::generate("s1");
    let audit = writer(
        &pool,
        &hmac,
        &signer,
        WriterSettings {
            // Shorter than the outage below, so requests made while Postgres is down fail.
            record_timeout: Duration::from_secs(1),
            ..Default::default()
        },
    );

    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..32 {
        let (audit, stop) = (audit.clone(), stop.clone());
        producers.push(tokio::spawn(async move {
            let (mut ok, mut failed): (Vec<AuditReceipt>, usize) = (Vec::new(), 0);
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                match audit.record(event(p * 100_000 + i)).await {
                    Ok(receipt) => ok.push(receipt),
                    Err(e) => {
                        assert!(e.to_string().contains("audit log unavailable"), "{e}");
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                i += 1;
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.crash().unwrap())
        .await
        .unwrap();
    // Down for longer than record_timeout: the pool's reconnect attempts cannot hide it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart().unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);

    let (mut acknowledged, mut failures) = (Vec::new(), 0);
    for producer in producers {
        let (ok, failed) = producer.await.unwrap();
        acknowledged.extend(ok);
        failures += failed;
    }
    assert!(!acknowledged.is_empty());
    assert!(failures > 0, "the crash must have failed some requests");

    // Every acknowledged event is there, with the MAC its receipt named.
    for receipt in &acknowledged {
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT hmac FROM audit_log WHERE id = $1")
                .bind(receipt.id)
                .fetch_optional(&pool)
                .await
                .unwrap();
        assert_eq!(
            stored.map(hex::encode),
            Some(receipt.hmac.clone()),
            "receipt {}",
            receipt.id
        );
    }
    // The writer recovered by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match audit.record(event(0)).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "writer did not recover: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = verify_database(
        &pool,
        &hmac,
        &signer.public_keys(),
        &VerifyOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.verified, "{report:?}");
    pool.close().await;
}
