//! Shared set-up of the audit tests: a migrated database, keys and a running writer.

#![allow(dead_code)] // each test binary uses a different subset

use alexandria_api::audit::{
    Audit, CheckpointKeys, CheckpointSigner, HmacKeyRing, VerifyOptions, VerifyReport, WriterKeys,
    WriterSettings, verify_database,
};
use alexandria_api::postgres::TestDatabase;
use serde_json::json;

/// A database with a writer and the keys to verify it.
pub struct AuditFixture {
    pub database: TestDatabase,
    pub hmac: HmacKeyRing,
    pub signer: CheckpointSigner,
    pub audit: Audit,
}

impl AuditFixture {
    pub async fn new() -> Self {
        Self::with_settings(WriterSettings::default()).await
    }

    pub async fn with_settings(settings: WriterSettings) -> Self {
        Self::with_ring(settings, two_key_ring()).await
    }

    pub async fn with_ring(settings: WriterSettings, hmac: HmacKeyRing) -> Self {
        let database = TestDatabase::create().await.unwrap();
        let signer = CheckpointSigner::generate("s1");
        let audit = Audit::start(database.pool.clone(), keys(&hmac, &signer), settings);
        Self {
            database,
            hmac,
            signer,
            audit,
        }
    }

    pub fn public_keys(&self) -> CheckpointKeys {
        self.signer.public_keys()
    }

    /// Records `n` events `e1..en` by `alice`.
    pub async fn record_n(&self, n: usize) {
        for i in 1..=n {
            self.audit.record(event(i)).await.unwrap();
        }
    }

    pub async fn verify(&self) -> VerifyReport {
        self.verify_with(&VerifyOptions::default()).await
    }

    pub async fn verify_with(&self, options: &VerifyOptions) -> VerifyReport {
        verify_database(
            &self.database.pool,
            &self.hmac,
            &self.public_keys(),
            options,
        )
        .await
        .unwrap()
    }

    /// Runs `sql` as an attacker with superuser rights would: triggers off.
    pub async fn tamper(&self, sql: &str) {
        let mut conn = self.database.pool.acquire().await.unwrap();
        sqlx::raw_sql(&format!(
            "SET session_replication_role = replica; {sql}; RESET session_replication_role"
        ))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
}

/// Active `k1`, retired `k0`.
pub fn two_key_ring() -> HmacKeyRing {
    use std::collections::BTreeMap;
    HmacKeyRing::new(
        "k1",
        BTreeMap::from([
            ("k0".to_owned(), vec![7u8; 32]),
            ("k1".to_owned(), vec![9u8; 32]),
        ]),
    )
    .unwrap()
}

/// A writer on `pool` that MACs with `hmac`'s active key and signs with `signer`.
pub fn writer(
    pool: &sqlx::PgPool,
    hmac: &HmacKeyRing,
    signer: &CheckpointSigner,
    settings: WriterSettings,
) -> Audit {
    Audit::start(pool.clone(), keys(hmac, signer), settings)
}

pub fn keys(hmac: &HmacKeyRing, signer: &CheckpointSigner) -> WriterKeys {
    WriterKeys {
        hmac: hmac.clone(),
        signer: signer.clone(),
    }
}

pub fn event(i: usize) -> alexandria_api::audit::AuditEvent {
    alexandria_api::audit::AuditEvent::new("alice", "test.event")
        .with_session(format!("s{i}"))
        .with_metadata(json!({"n": i, "z": "last", "a": "first"}))
}
