//! Benchmarks of the quality bars (placeholder until the SMSC peer lands).

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {}
}
