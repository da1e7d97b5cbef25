//! `alexandria-api audit …`: the engine driven directly on a database or on an export file, so
//! operators, the retention CronJob and auditors need no running server.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use futures::TryStreamExt as _;

use super::checkpoint::{self, Checkpoint};
use super::export::{self, ExportQuery, FileCheck};
use super::keys::{CheckpointKeys, CheckpointSigner, HmacKeyRing};
use super::retention::{self, RetentionMode, RetentionOptions};
use super::verify::{VerifyOptions, VerifyReport, verify_database};
use crate::db;
use crate::error::Error;

/// Audit log operations.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the chain in the database; prints a JSON report, exits 1 unless verified.
    Verify(VerifyArgs),
    /// Write rows as NDJSON (one event per line) to stdout or a file.
    Export(ExportArgs),
    /// Premake partitions, anchor and prune expired rows (what the retention CronJob runs).
    Retention(RetentionArgs),
    /// Verify an exported NDJSON file offline (with the HMAC keys, or links only).
    VerifyFile(VerifyFileArgs),
    /// Check a checkpoint's signature with the public key only, optionally against an export.
    VerifyCheckpoint(VerifyCheckpointArgs),
    /// Print the newest signed checkpoint as JSON (to keep outside the database).
    Checkpoint(DatabaseArgs),
    /// Generate an HMAC key ring, a checkpoint signing key and its public key file.
    Keygen(KeygenArgs),
}

/// The database to work on.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
}

/// Keys that prove checkpoints: a signing key (its public half is used) and/or public keys.
#[derive(Debug, Args)]
pub struct CheckpointKeyArgs {
    /// Checkpoint signing key file (its public half verifies).
    #[arg(long, env = "ALEXANDRIA_AUDIT_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Public keys file (current and retired checkpoint keys).
    #[arg(long, env = "ALEXANDRIA_AUDIT_PUBLIC_KEYS_FILE")]
    pub public_keys_file: Option<PathBuf>,
}

impl CheckpointKeyArgs {
    fn load(&self) -> Result<CheckpointKeys, Error> {
        let mut keys = CheckpointKeys::default();
        if let Some(path) = &self.signing_key_file {
            keys.extend(CheckpointSigner::from_file(path)?.public_keys());
        }
        if let Some(path) = &self.public_keys_file {
            keys.extend(CheckpointKeys::from_file(path)?);
        }
        if self.signing_key_file.is_none() && self.public_keys_file.is_none() {
            return Err(Error::InvalidKey(
                "checkpoint keys: pass --public-keys-file or --signing-key-file".into(),
            ));
        }
        Ok(keys)
    }
}

/// `audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// HMAC key ring file.
    #[arg(long, env = "ALEXANDRIA_AUDIT_HMAC_KEYS_FILE")]
    hmac_keys_file: PathBuf,
    #[command(flatten)]
    checkpoint_keys: CheckpointKeyArgs,
    /// A checkpoint kept outside the database; truncation before it is reported.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
}

/// `audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Only rows after this id.
    #[arg(long, default_value_t = 0)]
    after_id: i64,
    /// Only rows written at or after this RFC 3339 instant.
    #[arg(long, value_parser = parse_rfc3339)]
    since: Option<time::OffsetDateTime>,
    /// Output file (default: stdout).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// `audit retention`.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Keep rows younger than this (at least 1d), e.g. `365d`.
    #[arg(long, value_parser = parse_retain)]
    retain: std::time::Duration,
    /// Drop whole partitions, or delete rows.
    #[arg(long, value_enum, default_value_t = RetentionMode::Partition)]
    mode: RetentionMode,
    /// Months of partitions to create ahead.
    #[arg(long, default_value_t = 3)]
    premake: u32,
    /// Print the plan, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Key that signs the retention anchor.
    #[arg(long, env = "ALEXANDRIA_AUDIT_SIGNING_KEY_FILE")]
    signing_key_file: PathBuf,
    /// Print the report as JSON instead of lines.
    #[arg(long)]
    json: bool,
}

/// `audit verify-file`.
#[derive(Debug, Args)]
pub struct VerifyFileArgs {
    /// NDJSON export (`.gz` is decompressed).
    file: PathBuf,
    /// HMAC key ring file; without it only links and checkpoints are checked.
    #[arg(long, visible_alias = "hmac-keys-file")]
    key: Option<PathBuf>,
    /// Signed checkpoints the file must reach.
    #[arg(long)]
    checkpoint: Vec<PathBuf>,
    #[command(flatten)]
    checkpoint_keys: CheckpointKeyArgs,
}

/// `audit verify-checkpoint`.
#[derive(Debug, Args)]
pub struct VerifyCheckpointArgs {
    /// Checkpoint JSON file.
    checkpoint: PathBuf,
    /// Public keys file.
    #[arg(long, env = "ALEXANDRIA_AUDIT_PUBLIC_KEYS_FILE")]
    public_keys_file: PathBuf,
    /// An export that must reach the checkpoint (links checked, no secret needed).
    #[arg(long)]
    file: Option<PathBuf>,
}

/// `audit keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the HMAC key ring.
    #[arg(long)]
    hmac_keys_file: PathBuf,
    /// Where to write the checkpoint signing key.
    #[arg(long)]
    signing_key_file: PathBuf,
    /// Where to write the public key file for auditors.
    #[arg(long)]
    public_keys_file: PathBuf,
    /// Id of the new keys.
    #[arg(long, default_value = "k1")]
    key_id: String,
}

/// Runs one audit command; `Ok(false)` means a verification did not hold (exit status 1).
pub async fn run(command: AuditCommand) -> Result<bool, Error> {
    match command {
        AuditCommand::Verify(args) => {
            let pool = db::connect(&args.db.database_url, 2).await?;
            let hmac = HmacKeyRing::from_file(&args.hmac_keys_file)?;
            let keys = args.checkpoint_keys.load()?;
            let options = VerifyOptions {
                external_checkpoint: args
                    .checkpoint
                    .as_deref()
                    .map(Checkpoint::from_file)
                    .transpose()?,
            };
            let report = verify_database(&pool, &hmac, &keys, &options).await?;
            print_report(&report)
        }
        AuditCommand::Export(args) => {
            let pool = db::connect(&args.db.database_url, 2).await?;
            let mut out: Box<dyn Write> = match &args.output {
                Some(path) => Box::new(std::io::BufWriter::new(create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut after = args.after_id;
            loop {
                let query = ExportQuery {
                    after_id: Some(after),
                    limit: Some(export::MAX_PAGE),
                    since: args.since,
                };
                let page = export::plan_page(&pool, &query).await?;
                if page.rows == 0 {
                    break;
                }
                let mut lines = std::pin::pin!(export::stream_page(pool.clone(), page));
                while let Some(line) = lines.try_next().await? {
                    out.write_all(&line).map_err(|e| io("write export", e))?;
                }
                after = page.last_id;
            }
            out.flush().map_err(|e| io("write export", e))?;
            Ok(true)
        }
        AuditCommand::Retention(args) => {
            let pool = db::connect(&args.db.database_url, 2).await?;
            let signer = CheckpointSigner::from_file(&args.signing_key_file)?;
            let options = RetentionOptions {
                retain: args.retain,
                mode: args.mode,
                premake: args.premake,
                dry_run: args.dry_run,
            };
            let report = retention::run(&pool, &signer, &options).await?;
            if args.json {
                println!("{}", to_json(&report)?);
            } else {
                for line in report.summary() {
                    println!("{line}");
                }
            }
            Ok(true)
        }
        AuditCommand::VerifyFile(args) => {
            let hmac = args
                .key
                .as_deref()
                .map(HmacKeyRing::from_file)
                .transpose()?;
            let checkpoints = args
                .checkpoint
                .iter()
                .map(|p| Checkpoint::from_file(p))
                .collect::<Result<Vec<_>, _>>()?;
            let keys = if checkpoints.is_empty() {
                None
            } else {
                Some(args.checkpoint_keys.load()?)
            };
            if hmac.is_none() && checkpoints.is_empty() {
                return Err(Error::InvalidKey(
                    "verify-file: pass --key (HMAC keys) or --checkpoint with --public-keys-file"
                        .into(),
                ));
            }
            let check = FileCheck {
                hmac_keys: hmac.as_ref(),
                checkpoints,
                checkpoint_keys: keys.as_ref(),
            };
            let report = export::verify_file(open_export(&args.file)?, &check)?;
            print_report(&report)
        }
        AuditCommand::VerifyCheckpoint(args) => {
            let checkpoint = Checkpoint::from_file(&args.checkpoint)?;
            let keys = CheckpointKeys::from_file(&args.public_keys_file)?;
            if let Some(file) = &args.file {
                let check = FileCheck {
                    hmac_keys: None,
                    checkpoints: vec![checkpoint],
                    checkpoint_keys: Some(&keys),
                };
                let report = export::verify_file(open_export(file)?, &check)?;
                return print_report(&report);
            }
            let result = checkpoint.verify_signature(&keys);
            let report = serde_json::json!({
                "verified": result.is_ok(),
                "checkpoint_id": checkpoint.id,
                "position": checkpoint.position,
                "installation_id": checkpoint.installation_id,
                "failure": result.err().map(|e| e.to_string()),
            });
            println!("{}", to_json(&report)?);
            Ok(report["verified"] == true)
        }
        AuditCommand::Checkpoint(args) => {
            let pool = db::connect(&args.database_url, 1).await?;
            let mut conn = pool.acquire().await?;
            match checkpoint::latest(&mut conn).await? {
                Some(c) => println!("{}", to_json(&c)?),
                None => println!("null"),
            }
            Ok(true)
        }
        AuditCommand::Keygen(args) => {
            let ring = HmacKeyRing::generate(&args.key_id);
            let signer = CheckpointSigner::generate(&args.key_id);
            write_secret(&args.hmac_keys_file, &yaml(&ring.to_file())?)?;
            write_secret(&args.signing_key_file, &yaml(&signer.to_file())?)?;
            std::fs::write(
                &args.public_keys_file,
                yaml(&signer.public_keys().to_file())?,
            )
            .map_err(|e| io("write public keys", e))?;
            println!(
                "wrote {}, {} (secrets, mode 0600) and {}",
                args.hmac_keys_file.display(),
                args.signing_key_file.display(),
                args.public_keys_file.display()
            );
            Ok(true)
        }
    }
}

fn print_report(report: &VerifyReport) -> Result<bool, Error> {
    println!("{}", to_json(report)?);
    Ok(report.verified)
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Error::InvalidRequest(format!("serialise: {e}")))
}

fn yaml(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_yaml::to_string(value).map_err(|e| Error::InvalidRequest(format!("serialise: {e}")))
}

fn open_export(path: &Path) -> Result<Box<dyn BufRead>, Error> {
    let file = File::open(path).map_err(|e| io(&format!("open {}", path.display()), e))?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

fn create(path: &Path) -> Result<File, Error> {
    File::create(path).map_err(|e| io(&format!("create {}", path.display()), e))
}

fn write_secret(path: &Path, text: &str) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(&format!("create {} (it must not exist)", path.display()), e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| io(&format!("write {}", path.display()), e))
}

fn io(context: &str, source: std::io::Error) -> Error {
    Error::Io {
        context: context.to_owned(),
        source,
    }
}

fn parse_retain(text: &str) -> Result<std::time::Duration, String> {
    retention::parse_retain(text).map_err(|e| e.to_string())
}

fn parse_rfc3339(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp: {e}"))
}
