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
            // Batches form by themselves while the previous transaction commits; waiting for
            // more only adds latency.
            linger: Duration::ZERO,
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
            cached: None,
        };
        tokio::spawn(writer.run(jobs));
        Self {
            queue,
            settings,
            metrics,
        }
    }

    /// The writer's metrics (verification outcomes are counted here too).
    pub fn metrics(&self) -> &AuditMetrics {
        &self.metrics
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
    /// The head as this writer last left it. While no other process appends, the next batch
    /// goes out as one statement that checks and locks this head; otherwise it is re-read.
    cached: Option<Head>,
}

impl Writer {
    async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
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
                        self.cached = None;
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

    async fn commit(&mut self, batch: &mut Vec<Job>) {
        let events: Vec<&ValidEvent> = batch.iter().map(|j| &j.event).collect();
        let mut result = self.append(&events).await;
        if matches!(&result, Err(e) if is_missing_partition(e)) {
            // Clock moved past the premade months: make them and try once more.
            match ensure_partitions(&self.pool, self.settings.premake_months).await {
                Ok(_) => result = self.append(&events).await,
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
                // Whether the transaction committed is unknown: forget the cached head.
                self.cached = None;
                tracing::error!(error = %e, events = batch.len(), "audit: append failed; failing the requests");
                let message = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.ack.send(Err(Error::AuditUnavailable(message.clone())));
                }
            }
        }
    }

    /// Appends `events`: one statement against the cached head when it is still current and no
    /// checkpoint is due, else a transaction that locks and reads the head first.
    async fn append(&mut self, events: &[&ValidEvent]) -> Result<Vec<AuditReceipt>, Error> {
        if let Some(head) = self.cached
            && !self.checkpoint_due(&head, events.len())
        {
            let batch = Batch::chain(&head, events, &self.keys.hmac, &self.settings.clock)?;
            let applied = sqlx::query(APPEND)
                .bind(head.state.position)
                .bind(&head.state.hmac[..]);
            if batch
                .bind(applied)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1
            {
                self.cached = Some(batch.head_after(&head));
                return Ok(batch.receipts);
            }
            // Another process appended meanwhile: nothing was written; take the locked path.
        }
        let mut tx = self.pool.begin().await?;
        let head = read_head(&mut tx, true).await?;
        let batch = Batch::chain(&head, events, &self.keys.hmac, &self.settings.clock)?;
        let applied = sqlx::query(APPEND)
            .bind(head.state.position)
            .bind(&head.state.hmac[..]);
        if batch.bind(applied).execute(&mut *tx).await?.rows_affected() != 1 {
            return Err(Error::AuditUnavailable(
                "chain head moved while locked".into(),
            ));
        }
        let mut after = batch.head_after(&head);
        if self.checkpoint_due(&head, events.len()) {
            checkpoint::write(&mut tx, &self.keys.signer, KIND_PERIODIC, after.state, None).await?;
            mark_checkpoint(&mut tx, after.state.position).await?;
            after.checkpoint_position = after.state.position;
            after.checkpoint_at = OffsetDateTime::now_utc();
        }
        tx.commit().await?;
        self.cached = Some(after);
        Ok(batch.receipts)
    }

    fn checkpoint_due(&self, head: &Head, adding: usize) -> bool {
        head.state.position + adding as i64 - head.checkpoint_position
            >= self.settings.checkpoint_every_rows.max(1)
    }

    async fn periodic_checkpoint(&mut self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let mut head = read_head(&mut tx, true).await?;
        let due = head.state.position > head.checkpoint_position
            && OffsetDateTime::now_utc() - head.checkpoint_at
                >= time::Duration::try_from(self.settings.checkpoint_interval)
                    .unwrap_or(time::Duration::MAX);
        if due {
            checkpoint::write(&mut tx, &self.keys.signer, KIND_PERIODIC, head.state, None).await?;
            mark_checkpoint(&mut tx, head.state.position).await?;
            head.checkpoint_position = head.state.position;
            head.checkpoint_at = OffsetDateTime::now_utc();
        }
        tx.commit().await?;
        self.cached = Some(head);
        Ok(())
    }
}

/// Appends a batch if (and only if) the head is still at `$1` with hmac `$2`: the head row is
/// locked first (`FOR UPDATE`, re-checked after waiting), rows are inserted only when it
/// matched, and the head moves in the same statement. Affects one row on success, none if
/// another writer got there first.
const APPEND: &str = "WITH head AS (
        SELECT position FROM audit_chain_head
        WHERE position = $1 AND head_hmac = $2 FOR UPDATE),
    appended AS (
        INSERT INTO audit_log (id, created_at, key_id, principal, action, agent, session, tenant,
            metadata, prev_hmac, hmac)
        SELECT r.id, $3, $4, r.principal, r.action, r.agent, r.session, r.tenant,
            r.metadata, r.prev_hmac, r.hmac
        FROM UNNEST($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
            $11::text[], $12::bytea[], $13::bytea[])
            AS r(id, principal, action, agent, session, tenant, metadata, prev_hmac, hmac)
        WHERE EXISTS (SELECT 1 FROM head)
        RETURNING 1)
    UPDATE audit_chain_head SET position = $14, head_hmac = $15, head_created_at = $3
    WHERE EXISTS (SELECT 1 FROM head) AND (SELECT count(*) FROM appended) = $16";

/// A batch of rows chained onto a head, as the arrays the append statement binds.
struct Batch {
    created_at_micros: i64,
    key_id: String,
    ids: Vec<i64>,
    principals: Vec<String>,
    actions: Vec<String>,
    agents: Vec<Option<String>>,
    sessions: Vec<Option<String>>,
    tenants: Vec<Option<String>>,
    metadata: Vec<String>,
    prevs: Vec<Vec<u8>>,
    hmacs: Vec<Vec<u8>>,
    last_hmac: [u8; 32],
    receipts: Vec<AuditReceipt>,
}

impl Batch {
    /// Numbers, stamps and MACs `events` after `head`.
    fn chain(
        head: &Head,
        events: &[&ValidEvent],
        ring: &HmacKeyRing,
        clock: &Clock,
    ) -> Result<Self, Error> {
        // created_at never goes backwards along the chain, whatever the clock does.
        let created_at_micros = clock.now_micros().max(head.state.created_at_micros);
        let key_id = ring.active_id().to_owned();
        let n = events.len();
        let mut batch = Self {
            created_at_micros,
            key_id,
            ids: Vec::with_capacity(n),
            principals: Vec::with_capacity(n),
            actions: Vec::with_capacity(n),
            agents: Vec::with_capacity(n),
            sessions: Vec::with_capacity(n),
            tenants: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            prevs: Vec::with_capacity(n),
            hmacs: Vec::with_capacity(n),
            last_hmac: head.state.hmac,
            receipts: Vec::with_capacity(n),
        };
        for (i, event) in events.iter().enumerate() {
            let mut row = ChainRow {
                id: head.state.position + 1 + i as i64,
                created_at_micros,
                key_id: batch.key_id.clone(),
                principal: event.principal.clone(),
                action: event.action.clone(),
                agent: event.agent.clone(),
                session: event.session.clone(),
                tenant: event.tenant.clone(),
                metadata: event.metadata.clone(),
                prev_hmac: batch.last_hmac,
                hmac: [0; 32],
            };
            row.hmac = ring
                .mac(&batch.key_id, &row.mac_input())
                .ok_or_else(|| Error::AuditUnavailable("active HMAC key missing".into()))?;
            batch.last_hmac = row.hmac;
            batch.receipts.push(AuditReceipt {
                id: row.id,
                hmac: hex::encode(row.hmac),
                created_at: from_micros(created_at_micros),
            });
            batch.ids.push(row.id);
            batch.principals.push(row.principal);
            batch.actions.push(row.action);
            batch.agents.push(row.agent);
            batch.sessions.push(row.session);
            batch.tenants.push(row.tenant);
            batch.metadata.push(row.metadata);
            batch.prevs.push(row.prev_hmac.to_vec());
            batch.hmacs.push(row.hmac.to_vec());
        }
        Ok(batch)
    }

    /// Binds parameters `$3…$16` of [`APPEND`] (`$1`, `$2` are the expected head).
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(from_micros(self.created_at_micros))
            .bind(&self.key_id)
            .bind(&self.ids)
            .bind(&self.principals)
            .bind(&self.actions)
            .bind(&self.agents)
            .bind(&self.sessions)
            .bind(&self.tenants)
            .bind(&self.metadata)
            .bind(&self.prevs)
            .bind(&self.hmacs)
            .bind(self.ids.last().copied().unwrap_or_default())
            .bind(&self.last_hmac[..])
            .bind(self.ids.len() as i64)
    }

    /// The head once this batch is in.
    fn head_after(&self, before: &Head) -> Head {
        Head {
            state: HeadState {
                position: before.state.position + self.ids.len() as i64,
                hmac: self.last_hmac,
                created_at_micros: self.created_at_micros,
            },
            ..*before
        }
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
