//! Benchmark of the api-server's auth plane, over the real binary (`serve --dev`, so bcrypt at
//! the default cost 12 and a real audit write per request):
//!
//! 1. login storm: `/healthz` polled every 5 ms, while idle, then while 50 logins run
//!    concurrently; reports both p99s and their ratio (target ≤ 2: bcrypt must not starve the
//!    runtime);
//! 2. authorised requests: `POST /v1/tools/authorize` (token validation, intersection and its
//!    audit row) from 64 connections for a fixed time; reports throughput, p50 and p99.
//!
//! Run in release mode: `cargo run --release -p alexandria-e2e --bin bench_auth`.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alexandria_e2e::binaries::binary;
use alexandria_e2e::process::Running;
use anyhow::{Context as _, bail};
use serde_json::{Value, json};

const STORM_LOGINS: usize = 50;
const CONNECTIONS: usize = 64;
const AUTHORISED_SECONDS: u64 = 10;
const IDLE_PROBES: usize = 1000;
/// The polling client's pace, idle and during the storm alike.
const PROBE_INTERVAL: Duration = Duration::from_millis(5);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn probe(client: &reqwest::Client, base: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = client.get(format!("{base}/healthz")).send().await?;
    response.bytes().await?;
    Ok(started.elapsed())
}

async fn login(client: &reqwest::Client, base: &str, password: &str) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await?;
    if response.status() != 200 {
        bail!("login: {}", response.status());
    }
    let body: Value = response.json().await?;
    Ok(body["access_token"]
        .as_str()
        .context("no token")?
        .to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut command = Command::new(binary("alexandria-api", "alexandria-api"));
    command
        .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "error");
    let mut server = Running::spawn(command)?;
    let base = server.wait_for_line("listening: ", Duration::from_secs(120));
    let password = server.wait_for_line("admin password: ", Duration::from_secs(5));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS * 2)
        .build()?;

    // Warm-up and the tool the authorised requests ask about.
    let token = login(&client, &base, &password).await?;
    let created = client
        .post(format!("{base}/admin/tools"))
        .bearer_auth(&token)
        .json(&json!({"name": "search", "description": "benchmark tool"}))
        .send()
        .await?;
    if created.status() != 201 {
        bail!("create tool: {}", created.status());
    }
    for _ in 0..100 {
        probe(&client, &base).await?;
    }

    // 1. Login storm.
    let mut idle = Vec::with_capacity(IDLE_PROBES);
    let mut pace = tokio::time::interval(PROBE_INTERVAL);
    for _ in 0..IDLE_PROBES {
        pace.tick().await;
        idle.push(probe(&client, &base).await?);
    }
    idle.sort();
    let storming = Arc::new(AtomicBool::new(true));
    let poller = {
        let (client, base, storming) = (client.clone(), base.clone(), storming.clone());
        tokio::spawn(async move {
            let mut during = Vec::new();
            let mut pace = tokio::time::interval(PROBE_INTERVAL);
            while storming.load(Ordering::Relaxed) {
                pace.tick().await;
                if let Ok(latency) = probe(&client, &base).await {
                    during.push(latency);
                }
            }
            during
        })
    };
    let storm_started = Instant::now();
    let logins: Vec<_> = (0..STORM_LOGINS)
        .map(|_| {
            let (client, base, password) = (client.clone(), base.clone(), password.clone());
            tokio::spawn(async move { login(&client, &base, &password).await })
        })
        .collect();
    let mut failed_logins = 0;
    for handle in logins {
        if handle.await?.is_err() {
            failed_logins += 1;
        }
    }
    let storm_time = storm_started.elapsed();
    storming.store(false, Ordering::Relaxed);
    let mut during = poller.await?;
    during.sort();
    let (idle_p99, storm_p99) = (percentile(&idle, 99.0), percentile(&during, 99.0));

    // 2. Authorised requests with their audit write.
    let deadline = Instant::now() + Duration::from_secs(AUTHORISED_SECONDS);
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let ok = match client
                        .post(format!("{base}/v1/tools/authorize"))
                        .bearer_auth(&token)
                        .json(&json!({"tool": "search"}))
                        .send()
                        .await
                    {
                        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        latencies.push(started.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();

    println!("## results");
    println!(
        "login storm: {STORM_LOGINS} concurrent logins (bcrypt cost 12) took {:.1} s, {failed_logins} failed",
        storm_time.as_secs_f64()
    );
    println!(
        "/healthz p99 idle: {:.2} ms ({} probes); during the storm: {:.2} ms ({} probes); ratio {:.2}",
        ms(idle_p99),
        idle.len(),
        ms(storm_p99),
        during.len(),
        ms(storm_p99) / ms(idle_p99).max(f64::MIN_POSITIVE)
    );
    println!(
        "authorised POST /v1/tools/authorize, {CONNECTIONS} connections, {AUTHORISED_SECONDS} s: {} ok, {errors} errors, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / AUTHORISED_SECONDS as f64,
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
    );
    server.signal(nix::sys::signal::Signal::SIGINT);
    server.wait(Duration::from_secs(60));
    Ok(())
}
