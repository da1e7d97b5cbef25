//! `audit-load`: one process of many concurrent audit producers against a database, used by the
//! two-process chain test (each process has its own writer, as api-server replicas do).

use std::path::PathBuf;

use alexandria_api::audit::{
    Audit, AuditEvent, CheckpointSigner, HmacKeyRing, WriterKeys, WriterSettings,
};
use clap::Parser;
use serde_json::json;

/// Appends events from many concurrent producers and prints how many were committed.
#[derive(Debug, Parser)]
struct Args {
    /// Database to append to.
    #[arg(long)]
    database_url: String,
    /// HMAC key ring file.
    #[arg(long)]
    hmac_keys_file: PathBuf,
    /// Checkpoint signing key file.
    #[arg(long)]
    signing_key_file: PathBuf,
    /// Concurrent producers.
    #[arg(long, default_value_t = 64)]
    producers: usize,
    /// Events per producer.
    #[arg(long, default_value_t = 20)]
    events: usize,
    /// Label recorded as the principal.
    #[arg(long, default_value = "load")]
    principal: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pool = alexandria_api::db::connect(&args.database_url, 4).await?;
    let keys = WriterKeys {
        hmac: HmacKeyRing::from_file(&args.hmac_keys_file)?,
        signer: CheckpointSigner::from_file(&args.signing_key_file)?,
    };
    let audit = Audit::start(pool, keys, WriterSettings::default());
    let mut tasks = Vec::new();
    for producer in 0..args.producers {
        let (audit, principal, events) = (audit.clone(), args.principal.clone(), args.events);
        tasks.push(tokio::spawn(async move {
            for i in 0..events {
                audit
                    .record(
                        AuditEvent::new(principal.clone(), "load.event")
                            .with_metadata(json!({"p": producer, "i": i})),
                    )
                    .await?;
            }
            Ok::<_, alexandria_api::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    println!("appended {}", args.producers * args.events);
    Ok(())
}
