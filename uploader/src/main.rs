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
    /// Run the upload service (token API, XML-RPC, accounts, review) behind nginx.
    Serve(Box<uploader::cli::ServeArgs>),
    /// Manage accounts (`user add NAME [--email E] [--staff] [--trusted] --password-stdin`).
    User {
        #[command(subcommand)]
        command: uploader::cli::UserCommand,
    },
    /// Mint per-plugin upload tokens (`token create --user U --plugin PKG`).
    Token {
        #[command(subcommand)]
        command: uploader::cli::TokenCommand,
    },
    /// Show the mail outbox (`mail list [--all] [--json]`).
    Mail {
        #[command(subcommand)]
        command: uploader::cli::MailCommand,
    },
    /// Count downloads from nginx's downloads log once (the service does it every minute).
    CountDownloads(uploader::cli::CountArgs),
    /// One site build in a child process of `serve` (prints `live <report>` when live).
    #[command(hide = true, name = "build-site")]
    BuildSite(uploader::cli::BuildSiteArgs),
    /// Time argon2id password checks on one thread (prints checks per second).
    #[command(hide = true)]
    BenchHash(uploader::auth::BenchHashArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => uploader::check::run(&args),
        Command::Serve(args) => uploader::cli::run_serve(&args),
        Command::CountDownloads(args) => uploader::cli::run_count(&args),
        Command::User { command } => uploader::cli::run_user(&command),
        Command::Token { command } => uploader::cli::run_token(&command),
        Command::Mail { command } => uploader::cli::run_mail(&command),
        Command::BuildSite(args) => uploader::cli::run_build_site(&args),
        Command::BenchHash(args) => uploader::auth::bench_hash(&args),
    }
}
