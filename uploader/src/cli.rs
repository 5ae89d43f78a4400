//! The service's subcommands: `serve`, `user add`, `token create`, `mail list`, and the hidden
//! `build-site` the rebuild worker runs as a child. `main.rs` declares them beside `check`
//! and calls `run_*` here.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::config::{ScanArgs, ServiceConfig, load_secret};
use crate::validate::MAX_UPLOAD_BYTES;

/// Paths shared by every service subcommand.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data dir holding catalog.sqlite3 and the stored zips.
    #[arg(long, env = "PLUGINS_DATA_DIR", default_value = "data")]
    pub data: PathBuf,
}

/// `uploader serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Site dir that nginx serves (the service rebuilds it after every change).
    #[arg(long, env = "PLUGINS_SITE_DIR", default_value = "site")]
    pub site: PathBuf,
    /// Templates dir of the generator.
    #[arg(long, env = "PLUGINS_TEMPLATES_DIR", default_value = "templates")]
    pub templates: PathBuf,
    /// Public base URL (as in plugins.xml), e.g. http://127.0.0.1:8080.
    #[arg(long, env = "PLUGINS_BASE_URL", default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Address to listen on (nginx proxies to it).
    #[arg(long, env = "PLUGINS_UPLOADER_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// File holding the JWT signing secret (at least 32 bytes). Default: the
    /// PLUGINS_JWT_SECRET variable, else <data>/jwt-secret.
    #[arg(long, env = "PLUGINS_JWT_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// Create <data>/jwt-secret (mode 0600, random) when no secret is configured.
    #[arg(long)]
    pub generate_secret: bool,
    /// Largest accepted plugin zip, in bytes.
    #[arg(long, env = "PLUGINS_MAX_UPLOAD_BYTES", default_value_t = MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,
    /// Lifetime of user tokens from POST /api/v1/token, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub user_token_ttl: u64,
    /// Lifetime of per-plugin upload tokens, in days.
    #[arg(long, default_value_t = 365)]
    pub plugin_token_days: u64,
    /// Seconds allowed to receive request headers.
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds allowed between two chunks of a request body.
    #[arg(long, default_value_t = 30)]
    pub body_idle_timeout: u64,
    /// Most simultaneous connections.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Most uploads received and validated at once (memory: each up to the upload limit).
    #[arg(long, default_value_t = 8)]
    pub max_concurrent_uploads: usize,
    /// Password checks allowed per account name within --login-window (then 429 until the
    /// window ends, whatever the client address).
    #[arg(long, env = "PLUGINS_LOGIN_ATTEMPTS", default_value_t = 10)]
    pub login_attempts: u32,
    /// Seconds of the per-account password throttle's window.
    #[arg(long, env = "PLUGINS_LOGIN_WINDOW", default_value_t = 300)]
    pub login_window: u64,
    /// Milliseconds a password check waits for a hashing slot before answering 503 `busy`.
    #[arg(long, default_value_t = 200)]
    pub hash_wait_ms: u64,
    /// Do not rebuild the site after changes (API only; for debugging).
    #[arg(long)]
    pub no_rebuild: bool,
    #[command(flatten)]
    pub downloads: DownloadsLogArgs,
    /// Seconds between two passes over the downloads log.
    #[arg(long, env = "PLUGINS_COUNT_INTERVAL", default_value_t = 60)]
    pub count_interval: u64,
    /// Least seconds between two site rebuilds caused by new download counts.
    #[arg(long, env = "PLUGINS_STATS_REFRESH", default_value_t = 600)]
    pub stats_refresh: u64,
    /// Do not count downloads in this process (e.g. `count-downloads` runs from cron).
    #[arg(long)]
    pub no_count: bool,
    /// Catalog changes (approvals, edits, deletions, uploads) a user may make at once; each
    /// rebuilds the site.
    #[arg(long, env = "PLUGINS_CHANGES_BURST", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub changes_burst: u32,
    /// Catalog changes per minute a user may sustain after the burst (then 429).
    #[arg(long, env = "PLUGINS_CHANGES_PER_MINUTE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub changes_per_minute: u32,
    /// Days a browser session (web sign-in) lasts.
    #[arg(long, env = "PLUGINS_SESSION_DAYS", default_value_t = 14)]
    pub session_days: u64,
    /// Let anyone create an account at /accounts/signup/ (off: staff invite people).
    #[arg(long, env = "PLUGINS_SELF_REGISTRATION")]
    pub self_registration: bool,
    #[command(flatten)]
    pub scan: ScanArgs,
    #[command(flatten)]
    pub mail: MailArgs,
    #[command(flatten)]
    pub s3: generator::s3::S3Args,
}

/// Mail delivery.
#[derive(Debug, Clone, Args)]
pub struct MailArgs {
    /// SMTP server, `smtp://host:port` (`smtps://user:password@host` for TLS); unset: mail
    /// stays in the outbox (`uploader mail list`).
    #[arg(long, env = "PLUGINS_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From address of every mail.
    #[arg(
        long,
        env = "PLUGINS_MAIL_FROM",
        default_value = "QGIS Plugins <no-reply-plugins@qgis.org>"
    )]
    pub mail_from: String,
    /// Seconds before the first retry of a failed delivery (doubled per attempt, at most 15 min).
    #[arg(long, env = "PLUGINS_MAIL_RETRY", default_value_t = 5)]
    pub mail_retry: u64,
}

/// Where nginx writes the downloads log(s).
#[derive(Debug, Clone, Args)]
pub struct DownloadsLogArgs {
    /// nginx's downloads log (`log_format downloads` in nginx/trees-http.conf); the default is
    /// where `make serve` runs nginx. Repeat it (or separate with commas in the env variable)
    /// for several edges' logs: each is counted from its own committed position.
    #[arg(
        long = "downloads-log",
        visible_alias = "log",
        env = "PLUGINS_DOWNLOADS_LOG",
        value_delimiter = ',',
        default_value = "target/nginx/logs/downloads.log"
    )]
    pub logs: Vec<PathBuf>,
}

/// `uploader count-downloads`: one ingest pass (for cron and tests).
#[derive(Debug, Clone, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub downloads: DownloadsLogArgs,
}

impl ServeArgs {
    pub fn config(&self) -> Result<ServiceConfig> {
        let mut site = generator::Config::new(
            self.data.data.clone(),
            self.site.clone(),
            self.templates.clone(),
            &self.base_url,
        )?;
        site.s3 = self.s3.config()?;
        let env = std::env::var("PLUGINS_JWT_SECRET").ok();
        let secret = load_secret(
            self.secret_file.as_deref(),
            env.as_deref(),
            &self.data.data,
            self.generate_secret,
        )?;
        let mut c = ServiceConfig::new(site, secret)?;
        c.listen = self.listen;
        c.max_upload_bytes = self.max_upload_bytes;
        c.user_token_ttl = Duration::from_secs(self.user_token_ttl.max(60));
        c.plugin_token_ttl = Duration::from_secs(self.plugin_token_days.clamp(1, 3650) * 86_400);
        c.header_timeout = Duration::from_secs(self.header_timeout.max(1));
        c.body_idle_timeout = Duration::from_secs(self.body_idle_timeout.max(1));
        c.max_connections = self.max_connections.max(1);
        c.max_concurrent_uploads = self.max_concurrent_uploads.max(1);
        c.login_attempts = self.login_attempts.max(1);
        c.login_window = Duration::from_secs(self.login_window.max(1));
        c.hash_wait = Duration::from_millis(self.hash_wait_ms);
        c.rebuild = !self.no_rebuild;
        c.session_ttl = Duration::from_secs(self.session_days.clamp(1, 365) * 86_400);
        c.self_registration = self.self_registration;
        c.scan = self.scan.scan_config(&self.data.data);
        c.mail.smtp_url = self.mail.smtp_url.clone().filter(|u| !u.trim().is_empty());
        c.mail.from = self.mail.mail_from.clone();
        c.mail.retry_base = Duration::from_secs(self.mail.mail_retry.max(1));
        c.throttle = crate::change_throttle::ThrottleConfig {
            burst: self.changes_burst,
            per_minute: self.changes_per_minute,
        };
        c.downloads = (!self.no_count).then(|| crate::config::CounterConfig {
            logs: self.downloads.logs.clone(),
            interval: Duration::from_secs(self.count_interval.max(1)),
            refresh: Duration::from_secs(self.stats_refresh),
        });
        Ok(c)
    }
}

/// `uploader build-site` (hidden): one site build, run by the service's rebuild worker in a
/// child process. Every path is explicit (no environment, no defaults), so the child builds
/// exactly what the service would; the S3 credentials come as a file path or, when the
/// service read them from its environment, as the two `PLUGINS_S3_*` variables.
#[derive(Debug, Clone, Args)]
pub struct BuildSiteArgs {
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub site: PathBuf,
    #[arg(long)]
    pub templates: PathBuf,
    #[arg(long)]
    pub base_url: String,
    #[command(flatten)]
    pub s3: generator::s3::S3Args,
}

/// `uploader user ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Add(UserAddArgs),
}

#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// User name (letters, digits, @.+-_).
    pub name: String,
    #[arg(long, default_value = "")]
    pub email: String,
    /// Staff: approves everything, manages users.
    #[arg(long)]
    pub staff: bool,
    /// Trusted (can_approve): uploads are approved at once; approves plugins they edit.
    #[arg(long)]
    pub trusted: bool,
    /// In the review group (with --staff): mailed about new plugins and versions ready for
    /// review.
    #[arg(long, requires = "staff")]
    pub review_mail: bool,
    /// Read the password from standard input (first line). Without it the account has no
    /// password and cannot log in.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// `uploader mail ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum MailCommand {
    /// List the outbox: mail still to send (the default), or every mail with --all.
    List(MailListArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MailListArgs {
    /// Also the mail already sent.
    #[arg(long)]
    pub all: bool,
    /// One JSON array instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// `uploader token ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Mint a per-plugin upload token for a user (printed once on standard output).
    Create(TokenCreateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TokenCreateArgs {
    /// The user the token acts for (must be an editor of the plugin, or staff).
    #[arg(long)]
    pub user: String,
    /// Package name of the plugin.
    #[arg(long)]
    pub plugin: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Lifetime in days.
    #[arg(long, default_value_t = 365)]
    pub days: u64,
    /// File holding the JWT signing secret (default: PLUGINS_JWT_SECRET, else
    /// <data>/jwt-secret), the same the service uses.
    #[arg(long, env = "PLUGINS_JWT_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PLUGINS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs redirected to a file stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn report(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `uploader serve`.
pub fn run_serve(args: &ServeArgs) -> ExitCode {
    init_logging();
    report((|| {
        let config = args.config()?;
        if let Some(s3) = &config.site.s3 {
            generator::s3::check_bucket(s3).context(
                "refusing to start: every build publishes to this S3 bucket (check \
                 --s3-endpoint, --s3-bucket and the credentials, or unset --s3-endpoint)",
            )?;
        }
        // Every upload is scanned: without the pinned tools the service would only queue.
        config.scan.tools.check().context(
            "the scan tools are missing or broken: run `scripts/scan-tools.sh` (or pass \
             --scan-venv with the venv it made)",
        )?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?;
        rt.block_on(crate::http::server::run(config))
    })())
}

/// `uploader build-site`: see `crate::rebuild::run_child`. Logs go to stderr without time
/// or colour: the service forwards them into its own log.
pub fn run_build_site(args: &BuildSiteArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PLUGINS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init();
    let config = generator::Config::new(
        args.data.clone(),
        args.site.clone(),
        args.templates.clone(),
        &args.base_url,
    )
    .and_then(|mut config| {
        config.s3 = args.s3.config()?;
        Ok(config)
    });
    match config {
        Ok(config) => crate::rebuild::run_child(&config),
        Err(e) => report(Err(e)),
    }
}

/// `uploader count-downloads`: counts what nginx logged since the last pass, prints a
/// summary. The site shows the counts after its next build.
pub fn run_count(args: &CountArgs) -> ExitCode {
    init_logging();
    report((|| {
        let mut conn = catalog::open(&args.data.data)?;
        let r = crate::downloads::ingest_all(&mut conn, &args.downloads.logs)?;
        println!(
            "counted {} downloads ({} of unknown versions dropped, {} log bytes{})",
            r.counted,
            r.unknown,
            r.bytes,
            if r.restarted { ", log rotated or truncated: read from its start" } else { "" }
        );
        Ok(())
    })())
}

/// `uploader user add`.
pub fn run_user(cmd: &UserCommand) -> ExitCode {
    init_logging();
    report((|| match cmd {
        UserCommand::Add(a) => {
            let password = if a.password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .take(4096)
                    .read_to_string(&mut text)
                    .context("failed to read the password from standard input")?;
                let line = text.lines().next().unwrap_or("").to_owned();
                anyhow::ensure!(!line.is_empty(), "no password on standard input");
                Some(line)
            } else {
                None
            };
            let mut conn = catalog::open(&a.data.data)?;
            let id = crate::services::accounts::add_user(
                &mut conn,
                &a.name,
                &a.email,
                password.as_deref(),
                a.staff,
                a.trusted,
            )?;
            if a.review_mail {
                catalog::accounts::set_review_mail(&conn, id, true)?;
            }
            eprintln!(
                "created user `{}` (id {id}{}{}{})",
                a.name,
                if a.staff { ", staff" } else { "" },
                if a.trusted { ", trusted" } else { "" },
                if a.review_mail { ", review mails" } else { "" }
            );
            Ok(())
        }
    })())
}

/// `uploader mail list`: the outbox without bodies (an invitation's is a secret).
pub fn run_mail(cmd: &MailCommand) -> ExitCode {
    init_logging();
    report((|| match cmd {
        MailCommand::List(a) => {
            let conn = catalog::open(&a.data.data)?;
            let mails = catalog::outbox::list(&conn, a.all)?;
            let text = if a.json {
                serde_json::to_string_pretty(&crate::mail::list_json(&mails))? + "\n"
            } else {
                crate::mail::list_text(&mails)
            };
            print!("{text}");
            Ok(())
        }
    })())
}

/// `uploader token create`.
pub fn run_token(cmd: &TokenCommand) -> ExitCode {
    init_logging();
    report((|| match cmd {
        TokenCommand::Create(a) => {
            let env = std::env::var("PLUGINS_JWT_SECRET").ok();
            let secret =
                load_secret(a.secret_file.as_deref(), env.as_deref(), &a.data.data, false)?;
            anyhow::ensure!(
                secret.len() >= crate::config::MIN_SECRET_BYTES,
                "the JWT secret is too short"
            );
            let keys = crate::auth::Keys::new(&secret);
            let mut conn = catalog::open(&a.data.data)?;
            let (minted, plugin, user) = crate::services::tokens::create_offline(
                &mut conn,
                &keys,
                &a.user,
                &a.plugin,
                &a.description,
                Duration::from_secs(a.days.clamp(1, 3650) * 86_400),
            )?;
            eprintln!(
                "token {} for plugin `{}` acting as `{}`, expires {} (shown once):",
                minted.id,
                plugin.package_name,
                user.username,
                crate::services::api_time(minted.expires_at)
            );
            println!("{}", minted.token);
            Ok(())
        }
    })())
}
