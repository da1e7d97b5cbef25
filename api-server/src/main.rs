//! `alexandria-api`: the api-server binary and its operational commands.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use sqlx::{Connection as _, Executor as _};

use alexandria_api::auth::password::generate_password;
use alexandria_api::auth::principal::Role;
use alexandria_api::config::Config;
use alexandria_api::entitlements::Entitlements;
use alexandria_api::identity::DEFAULT_TENANT;
use alexandria_api::identity::provision::provision_user;
use alexandria_api::observability::telemetry;
use alexandria_api::postgres::EphemeralPostgres;
use alexandria_api::state::AppState;
use alexandria_api::{db, server};

/// Default log filter when `RUST_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";

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
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// User commands (bootstrap: the first super_admin).
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file (with the ALEXANDRIA_* overrides of this environment)
    /// without starting anything.
    Check {
        /// The YAML file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create a user; the password is read from the first line of standard input.
    Create {
        /// The server's configuration file (database and audit keys).
        #[arg(long)]
        config: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
        /// `user`, `admin` or `super_admin`.
        #[arg(long)]
        role: String,
        /// Tenant.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Development mode: a throwaway local Postgres, generated secrets and accounts, every
    /// entitlement. Never for production.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
    /// Configuration file (required unless --dev); see config/api-server.example.yaml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the configuration's `listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Audit(command) => {
                init_plain_logs();
                if alexandria_api::audit::cli::run(command).await? {
                    Ok(())
                } else {
                    Err(VerificationFailed.into())
                }
            }
            Command::Migrate { database_url } => {
                init_plain_logs();
                migrate(&database_url).await
            }
            Command::Config(ConfigCommand::Check { file }) => {
                let (config, report) = load_config(&file)?;
                for name in &report.unknown_variables {
                    eprintln!("warning: {name} names no configuration field (ignored)");
                }
                println!(
                    "config: {} is valid (listen {}, multi_tenant {}, otlp {})",
                    file.display(),
                    config.listen,
                    config.multi_tenant,
                    config
                        .otlp
                        .as_ref()
                        .map_or("off".to_owned(), |o| o.endpoint.to_string()),
                );
                Ok(())
            }
            Command::Users(UsersCommand::Create {
                config,
                username,
                role,
                tenant,
            }) => {
                init_plain_logs();
                create_user(&config, &username, &role, &tenant).await
            }
        }
    });
    match result {
        Ok(()) => Ok(std::process::ExitCode::SUCCESS),
        // The report on stdout says what failed; exit 1 without an error line.
        Err(e) if e.is::<VerificationFailed>() => Ok(std::process::ExitCode::FAILURE),
        Err(e) => Err(e),
    }
}

/// An `audit verify*` command ran and the evidence did not hold.
#[derive(Debug)]
struct VerificationFailed;

impl std::fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("verification failed")
    }
}

impl std::error::Error for VerificationFailed {}

fn init_plain_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

fn load_config(file: &Path) -> anyhow::Result<(Config, alexandria_api::config::LoadReport)> {
    Config::load(file, std::env::vars())
        .with_context(|| format!("invalid configuration {}", file.display()))
}

async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let pool = db::connect(database_url, 2)
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
    Ok(())
}

async fn create_user(file: &Path, username: &str, role: &str, tenant: &str) -> anyhow::Result<()> {
    let (config, _) = load_config(file)?;
    let role = Role::parse(role)
        .filter(|r| *r != Role::Agent)
        .with_context(|| format!("--role {role:?}: must be user, admin or super_admin"))?;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let state = build_state(config, Entitlements::none()).await?;
    let user = provision_user(&state, "cli", username, &password, role, tenant).await?;
    println!(
        "created user {} ({}) in tenant {}",
        user.username, user.id, user.tenant
    );
    Ok(())
}

async fn build_state(
    config: Config,
    entitlements: Entitlements,
) -> anyhow::Result<std::sync::Arc<AppState>> {
    let db = db::connect(config.database.url(), config.database.max_connections)
        .await
        .context("connect to database")?;
    let audit_pool = db::connect(config.database.url(), config.database.audit_max_connections)
        .await
        .context("connect to database (audit writer)")?;
    let state =
        tokio::task::spawn_blocking(move || AppState::new(config, db, audit_pool, entitlements))
            .await??;
    Ok(state)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut ephemeral = None;
    let (mut config, entitlements) = if args.dev {
        let cluster = tokio::task::spawn_blocking(EphemeralPostgres::start)
            .await?
            .context("start the ephemeral Postgres for --dev")?;
        let mut admin = sqlx::PgConnection::connect(&cluster.url()).await?;
        admin.execute(r#"CREATE DATABASE "alexandria""#).await?;
        let url = cluster.url_for("alexandria");
        ephemeral = Some(cluster);
        let listen = args
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        (Config::dev(&url, listen), Entitlements::development())
    } else {
        let Some(file) = &args.config else {
            bail!(
                "serve: --config FILE is required unless --dev (see config/api-server.example.yaml)"
            );
        };
        let (config, report) = load_config(file)?;
        for name in report.unknown_variables {
            eprintln!("warning: {name} names no configuration field (ignored)");
        }
        (config, Entitlements::none())
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let telemetry = telemetry::init(
        config.otlp.as_ref(),
        std::io::stderr,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        DEFAULT_LOG_FILTER,
    )?;
    if ephemeral.is_some() {
        tracing::warn!(
            "DEV MODE: throwaway Postgres, generated throwaway secrets and accounts, every \
             entitlement; everything is deleted on exit. NOT FOR PRODUCTION."
        );
        println!("database: {}", config.database.url());
        let pool = db::connect(config.database.url(), 2).await?;
        db::migrate(&pool).await?;
        pool.close().await;
    }

    let listen = config.listen;
    let state = build_state(config, entitlements).await?;
    if ephemeral.is_some() {
        for (username, role) in [("admin", Role::Admin), ("root", Role::SuperAdmin)] {
            let password = generate_password();
            provision_user(&state, "system", username, &password, role, DEFAULT_TENANT)
                .await
                .with_context(|| format!("create the dev user {username}"))?;
            println!("{username} password: {password}");
        }
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("listening: http://{addr}");
    tracing::info!(%addr, "api-server listening");

    let served = server::run(listener, state.clone(), server::shutdown_signal()).await;
    state.db.close().await;
    drop(state);
    telemetry.shutdown();
    if let Some(cluster) = ephemeral {
        tokio::task::spawn_blocking(move || drop(cluster)).await?;
        eprintln!("ephemeral Postgres stopped and deleted");
    }
    served?;
    Ok(())
}
