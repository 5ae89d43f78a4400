//! The `uploader` binary: subcommands of the upload service and the offline validator.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use uploader::check::CheckArgs;

#[derive(Debug, Parser)]
#[command(
    name = "uploader",
    version,
    about = "QGIS plugin repository: upload service and offline validator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a plugin zip offline with exactly the rules of an upload.
    Check(CheckArgs),
    /// Benchmark the validator against reading and CRC-checking (prints medians).
    #[command(hide = true)]
    BenchValidate(uploader::validate::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => uploader::check::run(&args),
        Command::BenchValidate(args) => uploader::validate::bench::run(&args),
    }
}
