//! The append path: one writer task per process drains a bounded queue into batched,
//! chain-locked transactions and acknowledges each event only after COMMIT.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool, Row as _};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::canonical::ChainRow;
use super::checkpoint::{self, HeadState, KIND_PERIODIC};
use super::event::{AuditEvent, AuditReceipt, ValidEvent};
use super::keys::{CheckpointSigner, HmacKeyRing};
use super::metrics::AuditMetrics;
use super::time_micros::{from_micros, micros};
use crate::error::Error;

/// Tuning of the writer; the defaults suit a single api-server replica and several together.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Most events in one transaction.
    pub max_batch: usize,
    /// How long a batch waits for more events once the queue is empty (0: no wait).
    pub linger: Duration,
    /// Events queued before `record` callers wait.
    pub queue_capacity: usize,
    /// Longest a `record` call waits for its commit before failing.
    pub record_timeout: Duration,
    /// A checkpoint is written once this many rows follow the previous one.
    pub checkpoint_every_rows: i64,
    /// … or once this much time has passed with new rows.
    pub checkpoint_interval: Duration,
    /// Months of partitions kept ahead of now.
    pub premake_months: i32,
    /// Where new rows get their time.
    pub clock: Clock,
}

/// Source of `created_at` for new rows: the system clock, or a manual one that tests (and
/// replays of history) move by hand.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system's UTC clock.
    #[default]
    System,
    /// A clock that reads what was last set, in microseconds since the epoch.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock reading `at`.
    pub fn manual(at: OffsetDateTime) -> Self {
        Self::Manual(Arc::new(AtomicI64::new(micros(at))))
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, at: OffsetDateTime) {
        if let Self::Manual(t) = self {
            t.store(micros(at), Ordering::SeqCst);
        }
    }

    /// Now, in microseconds since the epoch.
    pub fn now_micros(&self) -> i64 {
        match self {
            Self::System => micros(OffsetDateTime::now_utc()),
            Self::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            max_batch: 512,
            linger: Duration::from_millis(1),
            queue_capacity: 8192,
            record_timeout: Duration::from_secs(10),
            checkpoint_every_rows: 1000,
            checkpoint_interval: Duration::from_secs(300),
            premake_months: 3,
            clock: Clock::System,
        }
    }
}

/// Keys the writer needs.
#[derive(Debug, Clone)]
pub struct WriterKeys {
    /// MACs new rows with its active key.
    pub hmac: HmacKeyRing,
    /// Signs checkpoints.
    pub signer: CheckpointSigner,
}

struct Job {
    event: ValidEvent,
    ack: oneshot::Sender<Result<AuditReceipt, Error>>,
}

/// Handle to the audit log: cheap to clone, shared by every request handler.
#[derive(Clone)]
pub struct Audit {
    queue: mpsc::Sender<Job>,
    settings: Arc<WriterSettings>,
    metrics: AuditMetrics,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl Audit {
    /// Starts the writer task on the current runtime; it runs until every handle is dropped.
    pub fn start(pool: PgPool, keys: WriterKeys, settings: WriterSettings) -> Self {
        Self::start_with_metrics(pool, keys, settings, AuditMetrics::default())
    }

    /// Like [`Audit::start`], counting into `metrics`.
    pub fn start_with_metrics(
        pool: PgPool,
        keys: WriterKeys,
        settings: WriterSettings,
        metrics: AuditMetrics,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(settings.queue_capacity.max(1));
        let settings = Arc::new(settings);
        let writer = Writer {
            pool,
            keys,
            settings: settings.clone(),
            metrics: metrics.clone(),
        };
        tokio::spawn(writer.run(jobs));
        Self {
            queue,
            settings,
            metrics,
        }
    }

    /// Appends `event` and returns once its row is committed. Fails closed: an `Err` means the
    /// caller's action must not be reported as done.
    pub async fn record(&self, event: AuditEvent) -> Result<AuditReceipt, Error> {
        let event = event.validate()?;
        let started = Instant::now();
        let (ack, done) = oneshot::channel();
        let wait = async {
            self.queue
                .send(Job { event, ack })
                .await
                .map_err(|_| Error::AuditUnavailable("audit writer stopped".into()))?;
            done.await
                .map_err(|_| Error::AuditUnavailable("audit writer dropped the event".into()))?
        };
        let result = match tokio::time::timeout(self.settings.record_timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(Error::AuditUnavailable(format!(
                "audit event not committed within {:?}",
                self.settings.record_timeout
            ))),
        };
        self.metrics
            .observe_append(started.elapsed(), result.is_ok());
        result
    }
}

struct Writer {
    pool: PgPool,
    keys: WriterKeys,
    settings: Arc<WriterSettings>,
    metrics: AuditMetrics,
}

impl Writer {
    async fn run(self, mut jobs: mpsc::Receiver<Job>) {
        if let Err(e) = ensure_partitions(&self.pool, self.settings.premake_months).await {
            tracing::warn!(error = %e, "audit: cannot create partitions ahead (retention job must)");
        }
        let mut tick = tokio::time::interval(
            self.settings
                .checkpoint_interval
                .max(Duration::from_secs(1)),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch: Vec<Job> = Vec::with_capacity(self.settings.max_batch);
        loop {
            tokio::select! {
                job = jobs.recv() => match job {
                    Some(job) => batch.push(job),
                    None => break,
                },
                _ = tick.tick() => {
                    if let Err(e) = self.periodic_checkpoint().await {
                        tracing::warn!(error = %e, "audit: periodic checkpoint failed");
                    }
                    continue;
                }
            }
            self.fill(&mut jobs, &mut batch).await;
            self.commit(&mut batch).await;
        }
    }

    /// Takes what is queued, then waits up to `linger` for more, up to `max_batch`.
    async fn fill(&self, jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
        let max = self.settings.max_batch.max(1);
        while batch.len() < max {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.len() >= max || self.settings.linger.is_zero() {
            return;
        }
        let deadline = tokio::time::Instant::now() + self.settings.linger;
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, jobs.recv()).await {
                Ok(Some(job)) => batch.push(job),
                _ => break,
            }
        }
    }

    async fn commit(&self, batch: &mut Vec<Job>) {
        let events: Vec<&ValidEvent> = batch.iter().map(|j| &j.event).collect();
        let mut result = append(&self.pool, &self.keys, &self.settings, &events).await;
        if matches!(&result, Err(e) if is_missing_partition(e)) {
            // Clock moved past the premade months: make them and try once more.
            match ensure_partitions(&self.pool, self.settings.premake_months).await {
                Ok(_) => result = append(&self.pool, &self.keys, &self.settings, &events).await,
                Err(e) => {
                    tracing::error!(error = %e, "audit: no partition for now and cannot create one")
                }
            }
        }
        match result {
            Ok(receipts) => {
                self.metrics.observe_batch(batch.len());
                for (job, receipt) in batch.drain(..).zip(receipts) {
                    let _ = job.ack.send(Ok(receipt));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "audit: append failed; failing the requests");
                let message = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.ack.send(Err(Error::AuditUnavailable(message.clone())));
                }
            }
        }
    }

    async fn periodic_checkpoint(&self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let head = read_head(&mut tx, true).await?;
        let due = head.state.position > head.checkpoint_position
            && OffsetDateTime::now_utc() - head.checkpoint_at
                >= time::Duration::try_from(self.settings.checkpoint_interval)
                    .unwrap_or(time::Duration::MAX);
        if due {
            checkpoint::write(&mut tx, &self.keys.signer, KIND_PERIODIC, head.state, None).await?;
            mark_checkpoint(&mut tx, head.state.position).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The chain head row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub state: HeadState,
    pub checkpoint_position: i64,
    pub checkpoint_at: OffsetDateTime,
}

/// Reads the head, locking it for the rest of the transaction when `lock`.
pub(crate) async fn read_head(conn: &mut PgConnection, lock: bool) -> Result<Head, Error> {
    let sql = if lock {
        "SELECT position, head_hmac, head_created_at, checkpoint_position, checkpoint_at
         FROM audit_chain_head FOR UPDATE"
    } else {
        "SELECT position, head_hmac, head_created_at, checkpoint_position, checkpoint_at
         FROM audit_chain_head"
    };
    let row = sqlx::query(sql).fetch_one(conn).await?;
    let hmac: Vec<u8> = row.try_get("head_hmac")?;
    Ok(Head {
        state: HeadState {
            position: row.try_get("position")?,
            hmac: hmac
                .try_into()
                .map_err(|_| Error::AuditUnavailable("chain head hmac is not 32 bytes".into()))?,
            created_at_micros: micros(row.try_get("head_created_at")?),
        },
        checkpoint_position: row.try_get("checkpoint_position")?,
        checkpoint_at: row.try_get("checkpoint_at")?,
    })
}

async fn mark_checkpoint(conn: &mut PgConnection, position: i64) -> Result<(), Error> {
    sqlx::query("UPDATE audit_chain_head SET checkpoint_position = $1, checkpoint_at = now()")
        .bind(position)
        .execute(conn)
        .await?;
    Ok(())
}

/// One transaction: lock the head, chain and insert `events`, move the head, maybe checkpoint.
async fn append(
    pool: &PgPool,
    keys: &WriterKeys,
    settings: &WriterSettings,
    events: &[&ValidEvent],
) -> Result<Vec<AuditReceipt>, Error> {
    let mut tx = pool.begin().await?;
    let head = read_head(&mut tx, true).await?;
    // created_at never goes backwards along the chain, whatever the clock does.
    let created_at_micros = settings
        .clock
        .now_micros()
        .max(head.state.created_at_micros);
    let key_id = keys.hmac.active_id();

    let n = events.len();
    let mut ids = Vec::with_capacity(n);
    let mut principals = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n);
    let mut agents = Vec::with_capacity(n);
    let mut sessions = Vec::with_capacity(n);
    let mut tenants = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut prevs = Vec::with_capacity(n);
    let mut hmacs = Vec::with_capacity(n);
    let mut receipts = Vec::with_capacity(n);
    let mut prev = head.state.hmac;
    for (i, event) in events.iter().enumerate() {
        let mut row = ChainRow {
            id: head.state.position + 1 + i as i64,
            created_at_micros,
            key_id: key_id.to_owned(),
            principal: event.principal.clone(),
            action: event.action.clone(),
            agent: event.agent.clone(),
            session: event.session.clone(),
            tenant: event.tenant.clone(),
            metadata: event.metadata.clone(),
            prev_hmac: prev,
            hmac: [0; 32],
        };
        row.hmac = keys
            .hmac
            .mac(key_id, &row.mac_input())
            .ok_or_else(|| Error::AuditUnavailable("active HMAC key missing".into()))?;
        prev = row.hmac;
        receipts.push(AuditReceipt {
            id: row.id,
            hmac: hex::encode(row.hmac),
            created_at: from_micros(created_at_micros),
        });
        ids.push(row.id);
        principals.push(row.principal);
        actions.push(row.action);
        agents.push(row.agent);
        sessions.push(row.session);
        tenants.push(row.tenant);
        metadata.push(row.metadata);
        prevs.push(row.prev_hmac.to_vec());
        hmacs.push(row.hmac.to_vec());
    }
    let new_position = head.state.position + n as i64;
    let created_at = from_micros(created_at_micros);

    sqlx::query(
        "INSERT INTO audit_log (id, created_at, key_id, principal, action, agent, session, tenant,
             metadata, metadata_jsonb, prev_hmac, hmac)
         SELECT r.id, $2, $3, r.principal, r.action, r.agent, r.session, r.tenant,
             r.metadata, r.metadata::jsonb, r.prev_hmac, r.hmac
         FROM UNNEST($1::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
             $9::text[], $10::bytea[], $11::bytea[])
             AS r(id, principal, action, agent, session, tenant, metadata, prev_hmac, hmac)",
    )
    .bind(&ids)
    .bind(created_at)
    .bind(key_id)
    .bind(&principals)
    .bind(&actions)
    .bind(&agents)
    .bind(&sessions)
    .bind(&tenants)
    .bind(&metadata)
    .bind(&prevs)
    .bind(&hmacs)
    .execute(&mut *tx)
    .await?;

    sqlx::query("UPDATE audit_chain_head SET position = $1, head_hmac = $2, head_created_at = $3")
        .bind(new_position)
        .bind(&prev[..])
        .bind(created_at)
        .execute(&mut *tx)
        .await?;

    if new_position - head.checkpoint_position >= settings.checkpoint_every_rows.max(1) {
        let state = HeadState {
            position: new_position,
            hmac: prev,
            created_at_micros,
        };
        checkpoint::write(&mut tx, &keys.signer, KIND_PERIODIC, state, None).await?;
        mark_checkpoint(&mut tx, new_position).await?;
    }
    tx.commit().await?;
    Ok(receipts)
}

/// Creates this month's partition and `months` ahead, if missing.
pub async fn ensure_partitions(pool: &PgPool, months: i32) -> Result<Vec<String>, Error> {
    let created: Vec<String> = sqlx::query_scalar("SELECT audit_log_ensure_partitions(now(), $1)")
        .bind(months)
        .fetch_all(pool)
        .await?;
    for name in &created {
        tracing::info!(partition = %name, "audit: partition created");
    }
    Ok(created)
}

fn is_missing_partition(e: &Error) -> bool {
    matches!(e, Error::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23514")
        && db.message().contains("no partition"))
}
