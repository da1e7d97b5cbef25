//! `alexandria-operator`: reconciles Alexandria EE custom resources into Kubernetes objects.

mod crdgen;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Alexandria EE Kubernetes operator.
#[derive(Debug, Parser)]
#[command(name = "alexandria-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the AlexandriaInstance, RetentionPolicy and NetworkIsolation CRDs as one YAML stream.
    Crd {
        /// Write one file per CRD into this directory instead (how `crds/*.yaml` is refreshed).
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { output_dir: None } => {
            let stream = crdgen::yaml_stream().context("generating the CRDs")?;
            std::io::stdout()
                .lock()
                .write_all(stream.as_bytes())
                .context("writing the CRDs to stdout")?;
        }
        Command::Crd {
            output_dir: Some(dir),
        } => {
            for path in crdgen::write_files(&dir)? {
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
