//! Verification: a streaming chain checker (pure, constant memory) and its database driver.

use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row as _};

use super::canonical::{ChainRow, GENESIS_HMAC};
use super::checkpoint::{self, Anchor, Checkpoint, SignatureProblem};
use super::keys::{CheckpointKeys, HmacKeyRing};
use super::time_micros::micros;
use super::writer::read_head;
use crate::error::Error;

/// How far around its own position a failing row's content is tried, to tell a moved row
/// (`reordered`) from an edited one (`modified`).
const REORDER_WINDOW: i64 = 16;

/// What a verification proved, or where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Every check held.
    pub verified: bool,
    /// Rows whose MAC and link were checked before any failure.
    pub rows_checked: u64,
    /// Oldest row checked.
    pub first_id: Option<i64>,
    /// Newest row checked.
    pub last_id: Option<i64>,
    /// The retention anchor verification started from, if any.
    pub anchor: Option<AnchorReport>,
    /// Highest position a valid signed checkpoint attests and the chain still reaches: rows up
    /// to here cannot have been truncated unnoticed.
    pub truncation_protected_through: Option<i64>,
    /// The first check that failed.
    pub failure: Option<Failure>,
}

/// The anchor in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnchorReport {
    /// Checkpoint that carries the anchor.
    pub checkpoint_id: i64,
    /// Last pruned position.
    pub position: i64,
    /// Its row's hmac, hex.
    pub hmac: String,
}

/// Kind of failure, as named in the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A row's content no longer matches its MAC.
    Modified,
    /// One or more positions are absent.
    Missing,
    /// Authentic content sits at the wrong position, or time runs backwards.
    Reordered,
    /// A row or checkpoint that the chain's keys did not produce, or that does not belong.
    Forged,
    /// The newest rows are gone: the chain stops short of its head or of a signed checkpoint.
    Truncated,
    /// A row or checkpoint names a key that is not configured.
    UnknownKey,
}

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    /// Position of the failing row (or first missing / first truncated position).
    pub id: i64,
    /// What went wrong.
    pub kind: FailureKind,
    /// Human-readable detail.
    pub detail: String,
}

/// A row as read for verification, with what only the database can say about it.
#[derive(Debug, Clone)]
pub struct RowToCheck {
    /// The MACed fields.
    pub row: ChainRow,
    /// The `jsonb` query copy equals the MACed metadata (always true outside the database).
    pub jsonb_matches: bool,
}

/// Where the chain under check starts.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    /// Position of the first row expected.
    pub first_id: i64,
    /// `prev_hmac` the first row must carry; `None` accepts whatever it carries (a file that
    /// starts mid-chain).
    pub prev_hmac: Option<[u8; 32]>,
}

impl Start {
    /// The beginning of a chain: row 1, genesis link.
    pub fn genesis() -> Self {
        Self {
            first_id: 1,
            prev_hmac: Some(GENESIS_HMAC),
        }
    }

    /// Right after a retention anchor.
    pub fn after(anchor: Anchor) -> Self {
        Self {
            first_id: anchor.position + 1,
            prev_hmac: Some(anchor.hmac),
        }
    }
}

/// Checks rows one at a time in id order; holds only the previous row's state.
#[derive(Debug)]
pub struct ChainVerifier<'k> {
    keys: Option<&'k HmacKeyRing>,
    expected_id: i64,
    expected_prev: Option<[u8; 32]>,
    /// Rows at or below this position are covered by the anchor and skipped.
    covered_through: i64,
    /// Rows above this position are beyond the recorded head.
    head_position: Option<i64>,
    last_created_at: i64,
    last_hmac: Option<[u8; 32]>,
    first_id: Option<i64>,
    last_id: Option<i64>,
    rows_checked: u64,
    /// Checkpoints whose position the stream must reach with the signed hmac.
    targets: Vec<Target>,
    failure: Option<Failure>,
    /// Reused MAC input buffer.
    scratch: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Target {
    label: String,
    position: i64,
    hmac: [u8; 32],
    reached: bool,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier MACing with `keys` (or, with `None`, only checking links and checkpoints:
    /// what an auditor without the secret can do).
    pub fn new(keys: Option<&'k HmacKeyRing>, start: Start) -> Self {
        Self {
            keys,
            expected_id: start.first_id,
            expected_prev: start.prev_hmac,
            covered_through: start.first_id - 1,
            head_position: None,
            last_created_at: i64::MIN,
            last_hmac: None,
            first_id: None,
            last_id: None,
            rows_checked: 0,
            targets: Vec::new(),
            failure: None,
            scratch: Vec::new(),
        }
    }

    /// The chain head as recorded; rows beyond it are forged, rows short of it truncated.
    pub fn expect_head(&mut self, position: i64) {
        self.head_position = Some(position);
    }

    /// A signed checkpoint the chain must reach (call after its signature was checked).
    pub fn expect_checkpoint(&mut self, label: impl Into<String>, position: i64, hmac: [u8; 32]) {
        let reached = position <= self.covered_through;
        self.targets.push(Target {
            label: label.into(),
            position,
            hmac,
            reached,
        });
    }

    /// Records a failure found outside the row stream (e.g. a bad checkpoint signature).
    pub fn fail(&mut self, id: i64, kind: FailureKind, detail: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                id,
                kind,
                detail: detail.into(),
            });
        }
    }

    /// Whether a failure was found (further rows are ignored).
    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Checks the next row.
    pub fn push(&mut self, item: RowToCheck) {
        if self.failure.is_some() {
            return;
        }
        let RowToCheck { row, jsonb_matches } = item;
        if row.id <= self.covered_through && self.last_id.is_none() {
            return; // pruned territory that retention has not removed yet
        }
        if Some(row.id) == self.last_id {
            return self.fail(
                row.id,
                FailureKind::Forged,
                "a second row claims this position",
            );
        }
        if row.id > self.expected_id {
            let detail = if self.last_id.is_none() && self.expected_id == 1 {
                format!(
                    "rows {}..{} are absent and no retention anchor covers them",
                    self.expected_id,
                    row.id - 1
                )
            } else {
                format!("rows {}..{} are absent", self.expected_id, row.id - 1)
            };
            return self.fail(self.expected_id, FailureKind::Missing, detail);
        }
        if let Some(head) = self.head_position
            && row.id > head
        {
            return self.fail(
                row.id,
                FailureKind::Forged,
                format!("row is beyond the chain head at position {head}"),
            );
        }
        if let Some(keys) = self.keys {
            row.write_mac_input(row.id, &mut self.scratch);
            match keys.verify(&row.key_id, &self.scratch, &row.hmac) {
                None => {
                    return self.fail(
                        row.id,
                        FailureKind::UnknownKey,
                        format!(
                            "row is MACed with key {:?}, which is not configured",
                            row.key_id
                        ),
                    );
                }
                Some(false) => return self.mac_mismatch(keys, &row),
                Some(true) => {}
            }
        }
        if let Some(expected) = self.expected_prev
            && row.prev_hmac != expected
        {
            let detail = if self.keys.is_some() {
                "authentic row does not link to its predecessor (a fork or a row from another chain)"
            } else {
                "prev_hmac does not match the previous row's hmac"
            };
            let kind = if self.keys.is_some() {
                FailureKind::Forged
            } else {
                FailureKind::Modified
            };
            return self.fail(row.id, kind, detail);
        }
        if row.created_at_micros < self.last_created_at {
            return self.fail(row.id, FailureKind::Reordered, "created_at goes backwards");
        }
        if !jsonb_matches {
            return self.fail(
                row.id,
                FailureKind::Modified,
                "the metadata_jsonb query copy differs from the MACed metadata",
            );
        }
        for target in &mut self.targets {
            if target.position == row.id {
                if target.hmac != row.hmac {
                    let label = target.label.clone();
                    return self.fail(
                        row.id,
                        FailureKind::Forged,
                        format!("row hmac differs from the one signed in {label}"),
                    );
                }
                target.reached = true;
            }
        }
        self.first_id.get_or_insert(row.id);
        self.last_id = Some(row.id);
        self.last_hmac = Some(row.hmac);
        self.last_created_at = row.created_at_micros;
        self.expected_id = row.id + 1;
        self.expected_prev = Some(row.hmac);
        self.rows_checked += 1;
    }

    fn mac_mismatch(&mut self, keys: &HmacKeyRing, row: &ChainRow) {
        let elsewhere = (row.id - REORDER_WINDOW..=row.id + REORDER_WINDOW)
            .filter(|&id| id != row.id && id > 0)
            .find(|&id| keys.verify(&row.key_id, &row.mac_input_at(id), &row.hmac) == Some(true));
        match elsewhere {
            Some(origin) => self.fail(
                row.id,
                FailureKind::Reordered,
                format!(
                    "the content of position {origin} sits at position {}",
                    row.id
                ),
            ),
            None => self.fail(
                row.id,
                FailureKind::Modified,
                "row content does not match its hmac",
            ),
        }
    }

    /// Ends the stream and reports.
    pub fn finish(mut self, anchor: Option<AnchorReport>) -> VerifyReport {
        let reached_through = self.last_id.unwrap_or(self.covered_through);
        if self.failure.is_none()
            && let Some(head) = self.head_position
            && reached_through < head
        {
            self.fail(
                reached_through + 1,
                FailureKind::Truncated,
                format!("the chain ends at {reached_through} but its head records {head}"),
            );
        }
        if self.failure.is_none()
            && let Some(target) = self.targets.iter().find(|t| !t.reached)
        {
            let (position, label) = (target.position, target.label.clone());
            self.fail(
                reached_through + 1,
                FailureKind::Truncated,
                format!(
                    "the chain ends at {reached_through} but {label} covers position {position}"
                ),
            );
        }
        let protected = if self.failure.is_none() {
            self.targets.iter().map(|t| t.position).max()
        } else {
            None
        };
        VerifyReport {
            verified: self.failure.is_none(),
            rows_checked: self.rows_checked,
            first_id: self.first_id,
            last_id: self.last_id,
            anchor,
            truncation_protected_through: protected,
            failure: self.failure,
        }
    }
}

/// Signature check of a checkpoint, turned into a verifier failure.
pub(crate) fn check_signature(
    verifier: &mut ChainVerifier<'_>,
    checkpoint: &Checkpoint,
    keys: &CheckpointKeys,
    label: &str,
) -> bool {
    match checkpoint.verify_signature(keys) {
        Ok(()) => true,
        Err(SignatureProblem::UnknownKey(key)) => {
            verifier.fail(
                checkpoint.position,
                FailureKind::UnknownKey,
                format!("{label} is signed with key {key:?}, which is not configured"),
            );
            false
        }
        Err(problem) => {
            verifier.fail(
                checkpoint.position,
                FailureKind::Forged,
                format!("{label}: {problem}"),
            );
            false
        }
    }
}

/// Options of a database verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A checkpoint kept outside the database (e.g. in the custom resource's status).
    pub external_checkpoint: Option<Checkpoint>,
}

/// Verifies the whole chain in the database, streaming (constant memory), in one snapshot.
pub async fn verify_database(
    pool: &PgPool,
    hmac_keys: &HmacKeyRing,
    checkpoint_keys: &CheckpointKeys,
    options: &VerifyOptions,
) -> Result<VerifyReport, Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let installation_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM installation")
        .fetch_one(&mut *tx)
        .await?;
    let head = read_head(&mut tx, false).await?;
    let retention = checkpoint::latest_retention(&mut tx).await?;
    let latest = checkpoint::latest(&mut tx).await?;

    let anchor = retention.as_ref().and_then(|c| c.anchor.map(|a| (c.id, a)));
    let start = anchor
        .map(|(_, a)| Start::after(a))
        .unwrap_or_else(Start::genesis);
    let mut verifier = ChainVerifier::new(Some(hmac_keys), start);
    verifier.expect_head(head.state.position);
    if let Some(retention) = &retention {
        check_signature(
            &mut verifier,
            retention,
            checkpoint_keys,
            "the retention anchor checkpoint",
        );
    }
    if let Some(latest) = &latest
        && check_signature(
            &mut verifier,
            latest,
            checkpoint_keys,
            "the latest stored checkpoint",
        )
    {
        expect(
            &mut verifier,
            latest,
            installation_id,
            &format!("stored checkpoint {}", latest.id),
        );
    }
    if let Some(external) = &options.external_checkpoint
        && check_signature(
            &mut verifier,
            external,
            checkpoint_keys,
            "the external checkpoint",
        )
    {
        expect(
            &mut verifier,
            external,
            installation_id,
            "the external checkpoint",
        );
    }

    if !verifier.failed() {
        // While the query copy is a generated column it cannot differ from the MACed text;
        // only if someone turned it into a plain column is it compared row by row.
        let sql = if jsonb_copy_is_generated(&mut tx).await? {
            ROWS_SQL
        } else {
            ROWS_WITH_JSONB_CHECK_SQL
        };
        let mut rows = sqlx::query(sql).bind(start.first_id - 1).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            verifier.push(row_to_check(&row)?);
            if verifier.failed() {
                break;
            }
        }
    }
    drop(tx);
    let anchor = anchor.map(|(checkpoint_id, a)| AnchorReport {
        checkpoint_id,
        position: a.position,
        hmac: hex::encode(a.hmac),
    });
    Ok(verifier.finish(anchor))
}

const ROWS_SQL: &str = "SELECT id, created_at, key_id, principal, action, agent, session,
        tenant, metadata, prev_hmac, hmac, true AS jsonb_matches
    FROM audit_log WHERE id > $1 ORDER BY id, created_at";

const ROWS_WITH_JSONB_CHECK_SQL: &str = "SELECT id, created_at, key_id, principal, action, agent,
        session, tenant, metadata, prev_hmac, hmac, metadata_jsonb = metadata::jsonb AS jsonb_matches
    FROM audit_log WHERE id > $1 ORDER BY id, created_at";

/// Whether `metadata_jsonb` is still generated from `metadata` on the table and every partition.
async fn jsonb_copy_is_generated(conn: &mut sqlx::PgConnection) -> Result<bool, Error> {
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_attribute a
         WHERE a.attname = 'metadata_jsonb' AND a.attgenerated <> 's'
           AND (a.attrelid = 'audit_log'::regclass
                OR a.attrelid IN (SELECT inhrelid FROM pg_inherits
                                  WHERE inhparent = 'audit_log'::regclass))",
    )
    .fetch_one(conn)
    .await?;
    Ok(plain == 0)
}

fn expect(
    verifier: &mut ChainVerifier<'_>,
    checkpoint: &Checkpoint,
    installation_id: uuid::Uuid,
    label: &str,
) {
    if checkpoint.installation_id != installation_id {
        return verifier.fail(
            checkpoint.position,
            FailureKind::Forged,
            format!(
                "{label} belongs to installation {}",
                checkpoint.installation_id
            ),
        );
    }
    match checkpoint.head_hmac_bytes() {
        Ok(hmac) => verifier.expect_checkpoint(label, checkpoint.position, hmac),
        Err(e) => verifier.fail(
            checkpoint.position,
            FailureKind::Forged,
            format!("{label}: {e}"),
        ),
    }
}

fn row_to_check(row: &sqlx::postgres::PgRow) -> Result<RowToCheck, Error> {
    // Columns by position (the order of ROWS_SQL): no name lookups on the hot path.
    let bytes32 = |index: usize| -> Result<[u8; 32], Error> {
        let v: &[u8] = row.try_get(index)?;
        // A wrong length cannot match any MAC; keep the row so it is reported as modified.
        let mut out = [0u8; 32];
        let n = v.len().min(32);
        out[..n].copy_from_slice(&v[..n]);
        Ok(out)
    };
    Ok(RowToCheck {
        row: ChainRow {
            id: row.try_get(0)?,
            created_at_micros: micros(row.try_get(1)?),
            key_id: row.try_get(2)?,
            principal: row.try_get(3)?,
            action: row.try_get(4)?,
            agent: row.try_get(5)?,
            session: row.try_get(6)?,
            tenant: row.try_get(7)?,
            metadata: row.try_get(8)?,
            prev_hmac: bytes32(9)?,
            hmac: bytes32(10)?,
        },
        jsonb_matches: row.try_get::<Option<bool>, _>(11)?.unwrap_or(false),
    })
}
