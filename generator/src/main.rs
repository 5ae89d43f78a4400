//! The `generator` command: `build` renders the catalog into the site, `watch` re-renders as
//! templates change, `demo` seeds the demo catalog.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use generator::Config;

#[derive(Parser)]
#[command(
    name = "generator",
    version,
    about = "Static site generator of the QGIS plugin repository"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Paths {
    /// Data dir holding catalog.sqlite3 and the stored zips.
    #[arg(long, env = "PLUGINS_DATA_DIR", default_value = "data")]
    data: PathBuf,
    /// Site dir that nginx serves (through its `current` symlink).
    #[arg(long, env = "PLUGINS_SITE_DIR", default_value = "site")]
    site: PathBuf,
    /// Templates dir (tera templates and static assets).
    #[arg(long, env = "PLUGINS_TEMPLATES_DIR", default_value = "templates")]
    templates: PathBuf,
    /// Public base URL written into plugins.xml, JSON and feeds.
    #[arg(long, env = "PLUGINS_BASE_URL", default_value = "http://127.0.0.1:8080")]
    base_url: String,
    #[command(flatten)]
    s3: generator::s3::S3Args,
}

impl Paths {
    fn config(&self) -> Result<Config> {
        let mut config = Config::new(
            self.data.clone(),
            self.site.clone(),
            self.templates.clone(),
            &self.base_url,
        )?;
        config.s3 = self.s3.config()?;
        Ok(config)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Render the catalog and publish it into the site dir (only changed files are written).
    Build {
        #[command(flatten)]
        paths: Paths,
    },
    /// Build, then rebuild whenever a template or static asset changes (for designers).
    Watch {
        #[command(flatten)]
        paths: Paths,
    },
    /// Write a synthetic catalog the size of plugins.qgis.org into an empty data dir.
    Synth {
        /// Number of plugins (about 10 versions each).
        #[arg(long, default_value_t = 2500)]
        plugins: usize,
        /// Data dir to fill (must hold no catalog yet).
        #[arg(long, env = "PLUGINS_DATA_DIR", default_value = "data")]
        data: PathBuf,
        /// The real 2025 listing whose names, authors, downloads and votes are used.
        #[arg(long, default_value = "../shared/data/qgis_plugins_listing_2025-02-10.json")]
        listing: PathBuf,
    },
    /// Seed the demo catalog (30+ plugins with real zips) into an empty data dir.
    Demo {
        /// Data dir to seed.
        #[arg(long, env = "PLUGINS_DATA_DIR", default_value = "data")]
        data: PathBuf,
        /// Do nothing (successfully) when the catalog already has plugins.
        #[arg(long)]
        if_empty: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PLUGINS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs redirected to a file stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Build { paths } => {
            let report = generator::build(&paths.config()?)?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Watch { paths } => generator::watch::run(&paths.config()?)?,
        Command::Synth { plugins, data, listing } => {
            let listing = listing.is_file().then_some(listing.as_path());
            if listing.is_none() {
                eprintln!("note: no listing file; names and download counts are synthetic");
            }
            let report = generator::synth::synth(&data, plugins, listing)?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Demo { data, if_empty } => {
            let n = generator::demo::seed(&data, if_empty)?;
            eprintln!("demo catalog: {n} plugins in `{}`", data.display());
        }
    }
    Ok(())
}
