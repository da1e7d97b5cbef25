//! `alexandria-operator`: reconciles Alexandria EE custom resources into Kubernetes objects.

use clap::Parser;

/// Alexandria EE Kubernetes operator.
#[derive(Debug, Parser)]
#[command(name = "alexandria-operator", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
