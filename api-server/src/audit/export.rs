//! NDJSON export for SIEM ingestion, and offline verification of an exported file.

use std::io::BufRead;

use futures::{Stream, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::{PgPool, Row as _};
use time::OffsetDateTime;

use super::canonical::{ChainRow, canonical_json};
use super::checkpoint::{Checkpoint, decode_hex_32};
use super::keys::{CheckpointKeys, HmacKeyRing};
use super::time_micros::{from_micros, micros};
use super::verify::{ChainVerifier, FailureKind, RowToCheck, Start, VerifyReport, check_signature};
use crate::error::Error;

/// Most rows in one export page.
pub const MAX_PAGE: i64 = 10_000;
/// Rows in a page when no limit is given.
pub const DEFAULT_PAGE: i64 = 1_000;

/// One exported event: everything needed to check its MAC and link offline.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportLine<M = Box<RawValue>, S = String> {
    /// Position in the chain.
    pub id: i64,
    /// When it was written (RFC 3339, microseconds).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// HMAC key id.
    pub key_id: S,
    /// Who acted.
    pub principal: S,
    /// What was done.
    pub action: S,
    /// Acting agent.
    pub agent: Option<S>,
    /// Session or token id.
    pub session: Option<S>,
    /// Tenant.
    pub tenant: Option<S>,
    /// The metadata object (its RFC 8785 form is what was MACed).
    pub metadata: M,
    /// Previous row's MAC, hex.
    pub prev_hmac: String,
    /// This row's MAC, hex.
    pub hmac: String,
}

/// Which rows to export: a keyset cursor.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only rows with a larger id (0: from the start).
    pub after_id: Option<i64>,
    /// Page size (default 1000, at most 10000).
    pub limit: Option<i64>,
    /// Only rows written at or after this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
}

impl ExportQuery {
    /// The effective page size, or an error naming `limit`.
    pub fn page_size(&self) -> Result<i64, Error> {
        match self.limit {
            None => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(n) => Err(Error::InvalidRequest(format!(
                "limit must be between 1 and {MAX_PAGE}, got {n}"
            ))),
        }
    }

    /// The effective cursor, or an error naming `after_id`.
    pub fn cursor(&self) -> Result<i64, Error> {
        match self.after_id {
            None => Ok(0),
            Some(n) if n >= 0 => Ok(n),
            Some(n) => Err(Error::InvalidRequest(format!(
                "after_id must be >= 0, got {n}"
            ))),
        }
    }
}

/// A page about to be streamed: its bounds are fixed before the first byte goes out, so the
/// `Link: rel="next"` header can be sent up front.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Exclusive lower bound.
    pub after_id: i64,
    /// Inclusive upper bound (`after_id` when the page is empty).
    pub last_id: i64,
    /// Rows in the page.
    pub rows: i64,
    /// The `since` filter.
    pub since: Option<OffsetDateTime>,
}

/// Fixes the page for `query`. Ids are committed in order (the chain head lock), so once a row
/// is visible every smaller id is too, and the page is stable.
pub async fn plan_page(pool: &PgPool, query: &ExportQuery) -> Result<Page, Error> {
    let after_id = query.cursor()?;
    let limit = query.page_size()?;
    let row = sqlx::query(
        "SELECT max(id) AS last_id, count(*) AS rows FROM (
             SELECT id FROM audit_log
             WHERE id > $1 AND ($2::timestamptz IS NULL OR created_at >= $2)
             ORDER BY id LIMIT $3) page",
    )
    .bind(after_id)
    .bind(query.since)
    .bind(limit)
    .fetch_one(pool)
    .await?;
    Ok(Page {
        after_id,
        last_id: row
            .try_get::<Option<i64>, _>("last_id")?
            .unwrap_or(after_id),
        rows: row.try_get("rows")?,
        since: query.since,
    })
}

/// Bytes gathered before a chunk of lines is handed on (fewer, larger writes and HTTP frames).
const CHUNK_BYTES: usize = 64 * 1024;

/// The page's rows as NDJSON (each line ending in `\n`), streamed from the database in chunks
/// of whole lines.
pub fn stream_page(
    pool: PgPool,
    page: Page,
) -> impl Stream<Item = Result<Vec<u8>, Error>> + Send + 'static {
    async_stream::try_stream! {
        let mut rows = sqlx::query(
            "SELECT id, created_at, key_id, principal, action, agent, session, tenant, metadata,
                 prev_hmac, hmac
             FROM audit_log
             WHERE id > $1 AND id <= $2 AND ($3::timestamptz IS NULL OR created_at >= $3)
             ORDER BY id",
        )
        .bind(page.after_id)
        .bind(page.last_id)
        .bind(page.since)
        .fetch(&pool);
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 4096);
        while let Some(row) = rows.try_next().await? {
            write_line(&row, &mut chunk)?;
            if chunk.len() >= CHUNK_BYTES {
                yield std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 4096));
            }
        }
        if !chunk.is_empty() {
            yield chunk;
        }
    }
}

/// Appends the NDJSON line of `row` (columns in the order of the export query) to `out`.
fn write_line(row: &sqlx::postgres::PgRow, out: &mut Vec<u8>) -> Result<(), Error> {
    let metadata: &str = row.try_get(8)?;
    let prev: &[u8] = row.try_get(9)?;
    let hmac: &[u8] = row.try_get(10)?;
    let line = ExportLine {
        id: row.try_get(0)?,
        created_at: from_micros(micros(row.try_get(1)?)),
        key_id: row.try_get::<&str, _>(2)?,
        principal: row.try_get::<&str, _>(3)?,
        action: row.try_get::<&str, _>(4)?,
        agent: row.try_get::<Option<&str>, _>(5)?,
        session: row.try_get::<Option<&str>, _>(6)?,
        tenant: row.try_get::<Option<&str>, _>(7)?,
        metadata: serde_json::from_str::<&RawValue>(metadata)
            .map_err(|e| Error::AuditUnavailable(format!("stored metadata is not JSON: {e}")))?,
        prev_hmac: hex::encode(prev),
        hmac: hex::encode(hmac),
    };
    serde_json::to_writer(&mut *out, &line)
        .map_err(|e| Error::AuditUnavailable(format!("serialise export line: {e}")))?;
    out.push(b'\n');
    Ok(())
}

/// Parses one export line back into a chain row (metadata re-canonicalised).
pub fn parse_line(line: &str) -> Result<ChainRow, String> {
    let parsed: ExportLine<serde_json::Value> =
        serde_json::from_str(line).map_err(|e| format!("not an export line: {e}"))?;
    let hex32 = |name: &str, text: &str| {
        decode_hex_32(text).ok_or_else(|| format!("{name} is not 32 bytes of hex"))
    };
    Ok(ChainRow {
        id: parsed.id,
        created_at_micros: micros(parsed.created_at),
        key_id: parsed.key_id,
        principal: parsed.principal,
        action: parsed.action,
        agent: parsed.agent,
        session: parsed.session,
        tenant: parsed.tenant,
        metadata: canonical_json(&parsed.metadata).map_err(|e| e.to_string())?,
        prev_hmac: hex32("prev_hmac", &parsed.prev_hmac)?,
        hmac: hex32("hmac", &parsed.hmac)?,
    })
}

/// Offline check of an exported file.
#[derive(Debug, Default)]
pub struct FileCheck<'a> {
    /// HMAC keys: with them every MAC is checked; without, only links and checkpoints.
    pub hmac_keys: Option<&'a HmacKeyRing>,
    /// Signed checkpoints the file must reach, with the keys to check them.
    pub checkpoints: Vec<Checkpoint>,
    /// Ed25519 public keys for `checkpoints`.
    pub checkpoint_keys: Option<&'a CheckpointKeys>,
}

/// Verifies an NDJSON export read from `input`, streaming.
///
/// A file that starts at row 1 must start from the genesis link; one that starts later is
/// checked from its first row on (the report's `first_id` says where proof begins).
pub fn verify_file(input: impl BufRead, check: &FileCheck<'_>) -> Result<VerifyReport, Error> {
    if !check.checkpoints.is_empty() && check.checkpoint_keys.is_none() {
        return Err(Error::InvalidCheckpoint(
            "checkpoints given without public keys".into(),
        ));
    }
    // Started at the first row, whose id says where the proof begins.
    let mut verifier: Option<ChainVerifier<'_>> = None;
    for (number, line) in input.lines().enumerate() {
        let line = line.map_err(|source| Error::Io {
            context: "read export file".into(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let row = parse_line(&line);
        let first = row.as_ref().map_or(1, |r| r.id);
        let v = verifier.get_or_insert_with(|| file_verifier(check, first));
        match row {
            Ok(row) => v.push(RowToCheck {
                row,
                jsonb_matches: true,
            }),
            Err(e) => v.fail(
                0,
                FailureKind::Modified,
                format!("line {}: {e}", number + 1),
            ),
        }
        if v.failed() {
            break;
        }
    }
    let verifier = verifier.unwrap_or_else(|| file_verifier(check, 1));
    Ok(verifier.finish(None))
}

/// A verifier for a file whose first row is `first`: from the genesis link if that is row 1,
/// else from whatever the first row links to; with every checkpoint at or after `first` as a
/// target once its signature holds.
fn file_verifier<'a>(check: &FileCheck<'a>, first: i64) -> ChainVerifier<'a> {
    let start = if first == 1 {
        Start::genesis()
    } else {
        Start {
            first_id: first,
            prev_hmac: None,
        }
    };
    let mut v = ChainVerifier::new(check.hmac_keys, start);
    let Some(keys) = check.checkpoint_keys else {
        return v;
    };
    for checkpoint in &check.checkpoints {
        if !check_signature(&mut v, checkpoint, keys, "the checkpoint") {
            continue;
        }
        match checkpoint.head_hmac_bytes() {
            Ok(hmac) if checkpoint.position >= first => v.expect_checkpoint(
                format!("checkpoint {}", checkpoint.id),
                checkpoint.position,
                hmac,
            ),
            Ok(_) => {}
            Err(e) => v.fail(checkpoint.position, FailureKind::Forged, e),
        }
    }
    v
}
