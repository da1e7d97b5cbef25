//! `alexandria-api`: the api-server binary and its operational commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use sqlx::{Connection as _, Executor as _};

use alexandria_api::audit::{Audit, CheckpointSigner, HmacKeyRing, WriterKeys, WriterSettings};
use alexandria_api::postgres::EphemeralPostgres;
use alexandria_api::state::AppState;
use alexandria_api::{db, server};

/// Alexandria EE api-server.
#[derive(Debug, Parser)]
#[command(name = "alexandria-api", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Audit log: verify, export, retention, offline verification, keys.
    #[command(subcommand)]
    Audit(alexandria_api::audit::cli::AuditCommand),
    /// Apply database migrations (idempotent).
    Migrate {
        /// Database to migrate.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Development mode: a throwaway local Postgres, generated secrets. Never for production.
    #[arg(long)]
    dev: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Database to use (required unless --dev).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Audit HMAC key ring (required unless --dev).
    #[arg(long, env = "ALEXANDRIA_AUDIT_HMAC_KEYS_FILE")]
    audit_hmac_keys_file: Option<PathBuf>,
    /// Ed25519 key that signs audit checkpoints (required unless --dev).
    #[arg(long, env = "ALEXANDRIA_AUDIT_SIGNING_KEY_FILE")]
    audit_signing_key_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    match Cli::parse().command {
        Command::Serve(args) => serve(args).await.map(|()| std::process::ExitCode::SUCCESS),
        Command::Audit(command) => Ok(if alexandria_api::audit::cli::run(command).await? {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }),
        Command::Migrate { database_url } => {
            let pool = db::connect(&database_url, 2)
                .await
                .context("connect to database")?;
            db::migrate(&pool).await?;
            let pending = db::pending_migrations(&pool).await?;
            if !pending.is_empty() {
                bail!("migrations still pending after migrate: {pending:?}");
            }
            let premade = alexandria_api::audit::ensure_partitions(&pool, 3).await?;
            println!(
                "migrations: {} applied, schema is current; {} audit partitions created ahead",
                db::MIGRATOR.iter().count(),
                premade.len()
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut ephemeral = None;
    let database_url = match (args.dev, args.database_url) {
        (true, _) => {
            tracing::warn!(
                "DEV MODE: throwaway Postgres and generated throwaway secrets; everything is \
                 deleted on exit. NOT FOR PRODUCTION."
            );
            let cluster = tokio::task::spawn_blocking(EphemeralPostgres::start)
                .await?
                .context("start the ephemeral Postgres for --dev")?;
            let mut admin = sqlx::PgConnection::connect(&cluster.url()).await?;
            admin.execute(r#"CREATE DATABASE "alexandria""#).await?;
            let url = cluster.url_for("alexandria");
            ephemeral = Some(cluster);
            url
        }
        (false, Some(url)) => url,
        (false, None) => bail!("serve: --database-url (or DATABASE_URL) is required unless --dev"),
    };
    if ephemeral.is_some() {
        println!("database: {database_url}");
    }

    let pool = db::connect(&database_url, 20)
        .await
        .context("connect to database")?;
    if ephemeral.is_some() {
        db::migrate(&pool).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("listening: http://{addr}");
    tracing::info!(%addr, "api-server listening");

    let keys = if args.dev {
        WriterKeys {
            hmac: HmacKeyRing::generate("dev"),
            signer: CheckpointSigner::generate("dev"),
        }
    } else {
        let hmac = args
            .audit_hmac_keys_file
            .as_deref()
            .context("serve: --audit-hmac-keys-file is required unless --dev")?;
        let signer = args
            .audit_signing_key_file
            .as_deref()
            .context("serve: --audit-signing-key-file is required unless --dev")?;
        WriterKeys {
            hmac: HmacKeyRing::from_file(hmac)?,
            signer: CheckpointSigner::from_file(signer)?,
        }
    };
    let audit = Audit::start(pool.clone(), keys, WriterSettings::default());
    let state = Arc::new(AppState {
        db: pool.clone(),
        audit,
    });
    let served = server::run(listener, state, server::shutdown_signal()).await;
    pool.close().await;
    if let Some(cluster) = ephemeral {
        tokio::task::spawn_blocking(move || drop(cluster)).await?;
        tracing::info!("ephemeral Postgres stopped and deleted");
    }
    served?;
    Ok(())
}
