//! `audit-bench`: the audit log's performance, each figure next to a baseline measured in the
//! same run on the same server, printed as ratios. Figures go to `docs/benchmarks.md`.
//!
//! `cargo run --release -p alexandria-e2e --bin audit-bench -- --rows 1000000`

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alexandria_api::audit::{
    Audit, AuditEvent, CheckpointSigner, HmacKeyRing, VerifyOptions, WriterKeys, WriterSettings,
    verify_database,
};
use alexandria_api::postgres::{Durability, EphemeralPostgres, PgBinaries};
use alexandria_e2e::binaries::binary;
use anyhow::Context as _;
use clap::Parser;
use hmac::Mac as _;
use serde_json::json;
use sqlx::{Connection as _, Executor as _, PgPool};
use tokio::sync::{mpsc, oneshot};

/// Benchmarks of append, verify and export against same-run baselines.
#[derive(Debug, Parser)]
struct Args {
    /// Rows for the verify and export measurements.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Seconds each append variant runs for, per concurrency level.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Producer counts to measure appends at.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    producers: Vec<usize>,
    /// Skip the append section.
    #[arg(long)]
    skip_append: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Production settings (fsync on): batching pays for itself through fewer WAL flushes.
    let cluster = tokio::task::spawn_blocking(|| {
        EphemeralPostgres::start_with(PgBinaries::locate()?, Durability::Durable)
    })
    .await??;
    let hmac = HmacKeyRing::generate("k1");
    let signer = CheckpointSigner::generate("s1");
    println!(
        "# audit-bench (Postgres with fsync=on, {} cores)",
        num_cores()
    );

    if !args.skip_append {
        println!(
            "\n## append throughput (events/s, {} s per run)\n",
            args.seconds
        );
        println!(
            "| producers | unchained batch INSERT | naive locked chain | chained batched | vs unchained | vs naive |"
        );
        println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
        for &producers in &args.producers {
            let window = Duration::from_secs(args.seconds);
            let unchained = unchained_rate(&fresh(&cluster).await?, producers, window).await?;
            let naive = naive_rate(&fresh(&cluster).await?, &hmac, producers, window).await?;
            let chained =
                chained_rate(&fresh(&cluster).await?, &hmac, &signer, producers, window).await?;
            println!(
                "| {producers} | {unchained:.0} | {naive:.0} | {chained:.0} | {:.2}x | {:.1}x |",
                chained / unchained,
                chained / naive
            );
        }
    }

    println!("\n## verify and export at {} rows\n", args.rows);
    let (pool, url) = fresh_with_url(&cluster).await?;
    let started = Instant::now();
    fill(&pool, &hmac, &signer, args.rows).await?;
    println!(
        "filled in {:.1} s ({:.0} rows/s through the writer, 64 producers)\n",
        started.elapsed().as_secs_f64(),
        args.rows as f64 / started.elapsed().as_secs_f64()
    );
    sqlx::query("VACUUM ANALYZE audit_log")
        .execute(&pool)
        .await?;

    let columns = "id, created_at, key_id, principal, action, agent, session, tenant, metadata, prev_hmac, hmac";
    let copy = format!("COPY (SELECT {columns} FROM audit_log ORDER BY id) TO STDOUT");
    let (baseline, _) = timed_shell(&format!("psql '{url}' -Xqc \"{copy}\" | sha256sum"))?;
    let in_process = {
        let started = Instant::now();
        let report = verify_database(
            &pool,
            &hmac,
            &signer.public_keys(),
            &VerifyOptions::default(),
        )
        .await?;
        anyhow::ensure!(report.verified, "bench chain must verify: {report:?}");
        started.elapsed()
    };
    let dir = tempfile::tempdir()?;
    let hmac_file = dir.path().join("hmac.yaml");
    let signing_file = dir.path().join("signing.yaml");
    std::fs::write(&hmac_file, serde_yaml::to_string(&hmac.to_file())?)?;
    std::fs::write(&signing_file, serde_yaml::to_string(&signer.to_file())?)?;
    let api = binary("alexandria-api", "alexandria-api");
    let (cli, rss_kib) = timed_child(
        Command::new(&api)
            .args(["audit", "verify", "--database-url", &url])
            .arg("--hmac-keys-file")
            .arg(&hmac_file)
            .arg("--signing-key-file")
            .arg(&signing_file),
    )?;
    let rate = |d: Duration| args.rows as f64 / d.as_secs_f64();
    println!("| measurement | time | rows/s | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| baseline: psql COPY \\| sha256sum | {:.2} s | {:.0} | 1.00x |",
        baseline.as_secs_f64(),
        rate(baseline)
    );
    println!(
        "| verify (in process) | {:.2} s | {:.0} | {:.2}x |",
        in_process.as_secs_f64(),
        rate(in_process),
        baseline.as_secs_f64() / in_process.as_secs_f64()
    );
    println!(
        "| verify (`alexandria-api audit verify`) | {:.2} s | {:.0} | {:.2}x |",
        cli.as_secs_f64(),
        rate(cli),
        baseline.as_secs_f64() / cli.as_secs_f64()
    );
    println!(
        "\npeak RSS of `alexandria-api audit verify` at {} rows: {:.1} MiB\n",
        args.rows,
        rss_kib as f64 / 1024.0
    );

    let json_copy = "COPY (SELECT row_to_json(a) FROM (SELECT id, created_at, key_id, principal, action, agent, session, tenant, metadata, prev_hmac, hmac FROM audit_log ORDER BY id) a) TO STDOUT";
    let (copy_time, copy_bytes) =
        timed_shell(&format!("psql '{url}' -Xqc \"{json_copy}\" | wc -c"))?;
    let (export_time, export_bytes) = timed_shell(&format!(
        "'{}' audit export --database-url '{url}' | wc -c",
        api.display()
    ))?;
    let bps = |bytes: u64, d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    println!("| export | time | MB | MB/s | ratio |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| baseline: psql COPY row_to_json | {:.2} s | {:.1} | {:.1} | 1.00x |",
        copy_time.as_secs_f64(),
        copy_bytes as f64 / 1e6,
        bps(copy_bytes, copy_time)
    );
    println!(
        "| `alexandria-api audit export` | {:.2} s | {:.1} | {:.1} | {:.2}x |",
        export_time.as_secs_f64(),
        export_bytes as f64 / 1e6,
        bps(export_bytes, export_time),
        bps(export_bytes, export_time) / bps(copy_bytes, copy_time)
    );
    pool.close().await;
    Ok(())
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

async fn fresh(cluster: &EphemeralPostgres) -> anyhow::Result<PgPool> {
    Ok(fresh_with_url(cluster).await?.0)
}

async fn fresh_with_url(cluster: &EphemeralPostgres) -> anyhow::Result<(PgPool, String)> {
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&cluster.url()).await?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    let url = cluster.url_for(&name);
    let pool = alexandria_api::db::connect(&url, 80).await?;
    alexandria_api::db::migrate(&pool).await?;
    Ok((pool, url))
}

fn event(producer: usize, i: usize) -> AuditEvent {
    AuditEvent::new(format!("user-{producer}"), "tool.invoke")
        .with_agent("agent-1")
        .with_session(format!("sess-{producer}"))
        .with_metadata(json!({"tool": "search", "i": i, "outcome": "allowed", "peer": "10.0.0.1"}))
}

/// Runs `producers` loops of `step` for `window`; returns completed steps per second.
async fn run_for<F, Fut>(producers: usize, window: Duration, step: F) -> anyhow::Result<f64>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let step = Arc::new(step);
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..producers {
        let step = step.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                step(p, n).await?;
                n += 1;
            }
            Ok::<_, anyhow::Error>(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

async fn chained_rate(
    pool: &PgPool,
    hmac: &HmacKeyRing,
    signer: &CheckpointSigner,
    producers: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let audit = Audit::start(
        pool.clone(),
        WriterKeys {
            hmac: hmac.clone(),
            signer: signer.clone(),
        },
        WriterSettings::default(),
    );
    run_for(producers, window, move |p, i| {
        let audit = audit.clone();
        async move {
            audit.record(event(p, i)).await?;
            Ok(())
        }
    })
    .await
}

/// The same rows, batched the same way by one writer task, inserted without chain, lock or MAC.
async fn unchained_rate(pool: &PgPool, producers: usize, window: Duration) -> anyhow::Result<f64> {
    pool.execute("CREATE TABLE plain_log (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), principal text, action text, agent text, session text, metadata text, metadata_jsonb jsonb)").await?;
    type Job = (AuditEvent, oneshot::Sender<()>);
    let (tx, mut rx) = mpsc::channel::<Job>(8192);
    let writer_pool = pool.clone();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < 512 {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let metadata: Vec<String> = batch.iter().map(|(e, _)| e.metadata.to_string()).collect();
            let principals: Vec<String> = batch.iter().map(|(e, _)| e.principal.clone()).collect();
            let actions: Vec<String> = batch.iter().map(|(e, _)| e.action.clone()).collect();
            let agents: Vec<Option<String>> = batch.iter().map(|(e, _)| e.agent.clone()).collect();
            let sessions: Vec<Option<String>> =
                batch.iter().map(|(e, _)| e.session.clone()).collect();
            let result = sqlx::query("INSERT INTO plain_log (principal, action, agent, session, metadata, metadata_jsonb) SELECT p, a, g, s, m, m::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS r(p, a, g, s, m)")
                .bind(&principals).bind(&actions).bind(&agents).bind(&sessions).bind(&metadata)
                .execute(&writer_pool)
                .await;
            if result.is_ok() {
                for (_, ack) in batch {
                    let _ = ack.send(());
                }
            }
        }
    });
    run_for(producers, window, move |p, i| {
        let tx = tx.clone();
        async move {
            let (ack, done) = oneshot::channel();
            tx.send((event(p, i), ack)).await.context("writer gone")?;
            done.await.context("insert failed")?;
            Ok(())
        }
    })
    .await
}

/// One transaction per event: lock the head, MAC, insert, move the head, commit.
async fn naive_rate(
    pool: &PgPool,
    hmac: &HmacKeyRing,
    producers: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let key = hmac.to_file().keys["k1"].clone();
    let pool = pool.clone();
    run_for(producers, window, move |p, i| {
        let (pool, key) = (pool.clone(), key.clone());
        async move {
            let mut tx = pool.begin().await?;
            let (position, head): (i64, Vec<u8>) = sqlx::query_as("SELECT position, head_hmac FROM audit_chain_head FOR UPDATE").fetch_one(&mut *tx).await?;
            let e = event(p, i);
            let metadata = e.metadata.to_string();
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())?;
            mac.update(&position.to_be_bytes());
            mac.update(metadata.as_bytes());
            mac.update(&head);
            let tag = mac.finalize().into_bytes().to_vec();
            sqlx::query("INSERT INTO audit_log (id, created_at, key_id, principal, action, agent, session, metadata, prev_hmac, hmac) VALUES ($1, now(), 'k1', $2, $3, $4, $5, $6, $7, $8)")
                .bind(position + 1).bind(&e.principal).bind(&e.action).bind(&e.agent).bind(&e.session).bind(&metadata).bind(&head).bind(&tag)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE audit_chain_head SET position = $1, head_hmac = $2").bind(position + 1).bind(&tag).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await
}

async fn fill(
    pool: &PgPool,
    hmac: &HmacKeyRing,
    signer: &CheckpointSigner,
    rows: usize,
) -> anyhow::Result<()> {
    let audit = Audit::start(
        pool.clone(),
        WriterKeys {
            hmac: hmac.clone(),
            signer: signer.clone(),
        },
        WriterSettings::default(),
    );
    let producers = 64;
    let mut tasks = Vec::new();
    for p in 0..producers {
        let audit = audit.clone();
        let n = rows / producers + usize::from(p < rows % producers);
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                audit.record(event(p, i)).await?;
            }
            Ok::<_, alexandria_api::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Runs `script` with `sh -c`; returns its duration and its stdout parsed as a number (or 0).
fn timed_shell(script: &str) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("set -e; {script}"))
        .output()?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let first = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("0")
        .to_owned();
    Ok((elapsed, first.parse().unwrap_or(0)))
}

/// Runs `command` to completion; returns its duration and peak RSS in KiB (from `wait4`).
fn timed_child(command: &mut Command) -> anyhow::Result<(Duration, i64)> {
    let started = Instant::now();
    let child = command.stdout(Stdio::null()).spawn()?;
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; `usage` is a valid out-pointer.
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { nix::libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    anyhow::ensure!(
        pid > 0 && nix::libc::WIFEXITED(status) && nix::libc::WEXITSTATUS(status) == 0,
        "child failed: status {status}"
    );
    Ok((elapsed, usage.ru_maxrss))
}
