//! Retention: premake partitions, anchor the boundary with a signed checkpoint, then prune
//! whole partitions (or rows, in delete mode) that the anchor covers.

use std::time::Duration;

use serde::Serialize;
use sqlx::{PgPool, Row as _};
use time::OffsetDateTime;

use super::checkpoint::{self, Anchor, Checkpoint, KIND_RETENTION};
use super::keys::CheckpointSigner;
use super::writer::read_head;
use crate::error::Error;

/// Shortest retention accepted.
pub const MIN_RETAIN: Duration = Duration::from_secs(24 * 3600);
/// Rows deleted per statement in delete mode.
const DELETE_BATCH: i32 = 10_000;
/// Session advisory lock key that serialises retention runs ("alexandria.audit.retention").
const LOCK_KEY: i64 = 0x616c_6578_6175_6431;

/// How expired rows leave the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RetentionMode {
    /// Detach and drop whole monthly partitions (cheap; keeps up to a month beyond `retain`).
    Partition,
    /// Delete rows older than `retain` (exact; slower, leaves dead tuples to vacuum).
    Delete,
}

/// What to do.
#[derive(Debug, Clone)]
pub struct RetentionOptions {
    /// Keep rows younger than this.
    pub retain: Duration,
    /// Partition or row pruning.
    pub mode: RetentionMode,
    /// Months of partitions to keep ready ahead of now.
    pub premake: u32,
    /// Report the plan without changing anything.
    pub dry_run: bool,
}

/// What a run did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    /// The run changed nothing.
    pub dry_run: bool,
    /// Rows older than this are expired.
    #[serde(with = "time::serde::rfc3339::option")]
    pub cutoff: Option<OffsetDateTime>,
    /// Partitions created ahead of time.
    pub partitions_created: Vec<String>,
    /// The retention checkpoint written at the new boundary.
    pub anchor_checkpoint: Option<Checkpoint>,
    /// The boundary: the newest expired row's id.
    pub boundary: Option<i64>,
    /// Partitions dropped, with their row counts.
    pub partitions_dropped: Vec<DroppedPartition>,
    /// Rows deleted (delete mode).
    pub rows_deleted: i64,
}

/// One pruned partition.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedPartition {
    /// Partition table name.
    pub name: String,
    /// Rows it held.
    pub rows: i64,
}

impl RetentionReport {
    /// One line per action, for the CronJob's log.
    pub fn summary(&self) -> Vec<String> {
        let verb = |done: &str, planned: &str| {
            if self.dry_run {
                planned.to_owned()
            } else {
                done.to_owned()
            }
        };
        let mut lines = Vec::new();
        if let Some(cutoff) = self.cutoff {
            lines.push(format!("cutoff: rows before {cutoff} are expired"));
        }
        for name in &self.partitions_created {
            lines.push(format!(
                "{} partition {name}",
                verb("created", "would create")
            ));
        }
        if let Some(boundary) = self.boundary {
            match &self.anchor_checkpoint {
                Some(c) => lines.push(format!(
                    "anchored retention boundary at position {boundary} (checkpoint {}, key {})",
                    c.id, c.signing_key_id
                )),
                None => lines.push(format!(
                    "{} retention boundary at position {boundary}",
                    verb("kept", "would anchor")
                )),
            }
        }
        for p in &self.partitions_dropped {
            lines.push(format!(
                "{} partition {} ({} rows)",
                verb("dropped", "would drop"),
                p.name,
                p.rows
            ));
        }
        if self.rows_deleted > 0 {
            lines.push(format!(
                "{} {} rows",
                verb("deleted", "would delete"),
                self.rows_deleted
            ));
        }
        if self.partitions_created.is_empty()
            && self.partitions_dropped.is_empty()
            && self.rows_deleted == 0
            && self.anchor_checkpoint.is_none()
        {
            lines.push("nothing to do".into());
        }
        lines
    }
}

/// Parses a retention period such as `365d`, `52w` or `8760h`; at least one day.
pub fn parse_retain(text: &str) -> Result<Duration, Error> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| Error::InvalidRequest(format!("retain: {text:?} is not a duration ({e})")))?;
    if duration < MIN_RETAIN {
        return Err(Error::InvalidRequest(format!(
            "retain: {text:?} is shorter than the minimum of 1d"
        )));
    }
    Ok(duration)
}

/// Runs retention once; safe to run concurrently (runs queue on an advisory lock) and twice
/// (the second finds nothing to do).
pub async fn run(
    pool: &PgPool,
    signer: &CheckpointSigner,
    options: &RetentionOptions,
) -> Result<RetentionReport, Error> {
    let mut lock = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *lock)
        .await?;
    let result = run_locked(pool, signer, options).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *lock)
        .await;
    let report = result?;
    unlocked?;
    Ok(report)
}

async fn run_locked(
    pool: &PgPool,
    signer: &CheckpointSigner,
    options: &RetentionOptions,
) -> Result<RetentionReport, Error> {
    let now: OffsetDateTime = sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
    let retain = time::Duration::try_from(options.retain)
        .map_err(|_| Error::InvalidRequest("retain: too long".into()))?;
    let cutoff = now - retain;
    let mut report = RetentionReport {
        dry_run: options.dry_run,
        cutoff: Some(cutoff),
        ..Default::default()
    };
    let premake = i32::try_from(options.premake.min(120)).unwrap_or(120);

    // A dry run makes the partitions in a transaction it rolls back: the names come from the
    // same function, so the plan cannot drift from what a real run does.
    let mut tx = pool.begin().await?;
    report.partitions_created = sqlx::query_scalar("SELECT audit_log_ensure_partitions(now(), $1)")
        .bind(premake)
        .fetch_all(&mut *tx)
        .await?;
    if options.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }

    // Partitions entirely older than the cutoff, oldest first.
    let expired: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM audit_log_partitions WHERE range_end <= $1 ORDER BY range_start",
    )
    .bind(cutoff)
    .fetch_all(pool)
    .await?;
    // The boundary: in partition mode, the newest row in an expired partition; in delete mode,
    // the newest row older than the cutoff. created_at never decreases along the chain, so every
    // row up to the boundary is expired too.
    let boundary_ts = match options.mode {
        RetentionMode::Partition => {
            sqlx::query_scalar::<_, Option<OffsetDateTime>>(
                "SELECT max(range_end) FROM audit_log_partitions WHERE range_end <= $1",
            )
            .bind(cutoff)
            .fetch_one(pool)
            .await?
        }
        RetentionMode::Delete => Some(cutoff),
    };
    let boundary: Option<(i64, Vec<u8>, OffsetDateTime)> = match boundary_ts {
        Some(ts) => sqlx::query(
            "SELECT id, hmac, created_at FROM audit_log WHERE created_at < $1
             ORDER BY id DESC LIMIT 1",
        )
        .bind(ts)
        .fetch_optional(pool)
        .await?
        .map(|r| -> Result<_, sqlx::Error> {
            Ok((
                r.try_get("id")?,
                r.try_get("hmac")?,
                r.try_get("created_at")?,
            ))
        })
        .transpose()?,
        None => None,
    };
    let anchored_through: i64 = sqlx::query_scalar("SELECT audit_retention_anchor_position()")
        .fetch_one(pool)
        .await?;

    if let Some((position, hmac, _)) = &boundary {
        report.boundary = Some(*position);
        if *position > anchored_through && !options.dry_run {
            let hmac: [u8; 32] = hmac.clone().try_into().map_err(|_| {
                Error::AuditUnavailable(format!("row {position} hmac is not 32 bytes"))
            })?;
            let mut tx = pool.begin().await?;
            let head = read_head(&mut tx, false).await?;
            let anchor = Anchor {
                position: *position,
                hmac,
            };
            let cp = checkpoint::write(&mut tx, signer, KIND_RETENTION, head.state, Some(anchor))
                .await?;
            tx.commit().await?;
            report.anchor_checkpoint = Some(cp);
        }
    }

    let through = report.boundary.unwrap_or(0).max(anchored_through);
    match options.mode {
        RetentionMode::Partition => {
            for name in expired {
                let rows: i64 = if options.dry_run {
                    sqlx::query_scalar(&format!(
                        "SELECT count(*) FROM \"{}\"",
                        name.replace('"', "")
                    ))
                    .fetch_one(pool)
                    .await?
                } else {
                    sqlx::query_scalar("SELECT audit_log_drop_partition($1)")
                        .bind(&name)
                        .fetch_one(pool)
                        .await?
                };
                report
                    .partitions_dropped
                    .push(DroppedPartition { name, rows });
            }
        }
        RetentionMode::Delete => {
            if options.dry_run {
                report.rows_deleted =
                    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE id <= $1")
                        .bind(through)
                        .fetch_one(pool)
                        .await?;
            } else if through > 0 {
                loop {
                    let deleted: i64 = sqlx::query_scalar("SELECT audit_log_prune_rows($1, $2)")
                        .bind(through)
                        .bind(DELETE_BATCH)
                        .fetch_one(pool)
                        .await?;
                    report.rows_deleted += deleted;
                    if deleted < i64::from(DELETE_BATCH) {
                        break;
                    }
                }
            }
            // Expired partitions are empty now; drop them too.
            for name in expired {
                let empty: bool = sqlx::query_scalar(&format!(
                    "SELECT NOT EXISTS (SELECT 1 FROM \"{}\")",
                    name.replace('"', "")
                ))
                .fetch_one(pool)
                .await?;
                if empty {
                    if !options.dry_run {
                        sqlx::query("SELECT audit_log_drop_partition($1)")
                            .bind(&name)
                            .execute(pool)
                            .await?;
                    }
                    report
                        .partitions_dropped
                        .push(DroppedPartition { name, rows: 0 });
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_accepts_days_weeks_hours_and_rejects_less_than_a_day() {
        assert_eq!(
            parse_retain("365d").unwrap(),
            Duration::from_secs(365 * 86400)
        );
        assert_eq!(
            parse_retain("52w").unwrap(),
            Duration::from_secs(52 * 7 * 86400)
        );
        assert_eq!(parse_retain("24h").unwrap(), MIN_RETAIN);
        assert!(
            parse_retain("23h")
                .unwrap_err()
                .to_string()
                .contains("minimum of 1d")
        );
        assert!(
            parse_retain("forever")
                .unwrap_err()
                .to_string()
                .contains("retain")
        );
    }
}
