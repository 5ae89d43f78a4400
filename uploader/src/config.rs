//! Configuration of the upload service: paths, listen address, the JWT signing secret, token
//! lifetimes, body limits and timeouts. Built by the `serve` command or directly by tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

/// Smallest accepted signing secret (HS256 wants at least 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

use crate::validate::MAX_UPLOAD_BYTES;

/// Everything the service needs to run.
#[derive(Clone)]
pub struct ServiceConfig {
    /// Where the catalog, the stored zips and the site live, and the public base URL.
    pub site: generator::Config,
    /// Address to listen on (nginx proxies to it).
    pub listen: SocketAddr,
    /// HS256 signing secret for every JWT.
    pub jwt_secret: Vec<u8>,
    /// Lifetime of a user JWT from `POST /api/v1/token`.
    pub user_token_ttl: Duration,
    /// Lifetime of a per-plugin upload token (default one year).
    pub plugin_token_ttl: Duration,
    /// Largest accepted plugin zip.
    pub max_upload_bytes: u64,
    /// Largest accepted body of a JSON request.
    pub max_json_bytes: u64,
    /// Time allowed to receive the request headers.
    pub header_timeout: Duration,
    /// Time allowed between two chunks of a request body.
    pub body_idle_timeout: Duration,
    /// Time allowed to receive a whole request body.
    pub body_total_timeout: Duration,
    /// How long an approval response waits for the site to include the change.
    pub live_wait: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Most upload bodies received and validated at once (each up to the upload limit).
    pub max_concurrent_uploads: usize,
    /// Longest wait for a password-hashing slot before answering 503 `busy`.
    pub hash_wait: Duration,
    /// Password checks allowed per account name in `login_window` (then 429).
    pub login_attempts: u32,
    /// The per-account throttle's window.
    pub login_window: Duration,
    /// Whether uploads check that metadata URLs answer (outbound HEAD requests).
    pub check_urls_online: bool,
    /// Whether changes trigger site builds (tests of pure API behaviour switch it off).
    pub rebuild: bool,
    /// The `uploader` binary that runs builds (`uploader build-site`) in child processes;
    /// `None`: this process's own executable (tests, whose executable is a test harness,
    /// name the built binary).
    pub build_program: Option<PathBuf>,
    /// Download counting from nginx's downloads log (`None`: not counted by this process).
    pub downloads: Option<CounterConfig>,
    /// Per-user throttle of catalog changes (each triggers a site build).
    pub throttle: crate::change_throttle::ThrottleConfig,
    /// Lifetime of a browser session (the workplace's sign-in).
    pub session_ttl: Duration,
    /// Whether anyone may create an account at `/accounts/signup/` (off: staff invite).
    pub self_registration: bool,
    /// The scan of every uploaded version (issue 15).
    pub scan: ScanConfig,
    /// The mail outbox's delivery (issue 15).
    pub mail: MailConfig,
}

/// Settings of the scan worker and the dry-run endpoint.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// The pinned tools and each run's limits.
    pub tools: crate::scan::Tools,
    /// How long an approval waits for a version's running scan before answering 409.
    pub approval_wait: Duration,
    /// Incomplete runs retried before the scan stays `incomplete`.
    pub retries: u32,
}

impl ScanConfig {
    /// Defaults: the venv `scripts/scan-tools.sh` makes (`PLUGINS_SCAN_VENV` elsewhere), 60 s
    /// and 1 GiB per tool run, scratch space under the data dir.
    pub fn new(data_dir: &Path, venv: PathBuf) -> Self {
        ScanConfig {
            tools: crate::scan::Tools {
                venv,
                timeout: Duration::from_secs(60),
                memory_bytes: 1 << 30,
                scratch: data_dir.join("scans"),
            },
            approval_wait: Duration::from_secs(60),
            retries: 2,
        }
    }
}

/// The scan tools (shared by `serve` and `check --scan`).
#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// The venv holding the pinned scan tools (made by `scripts/scan-tools.sh`).
    #[arg(long, env = "PLUGINS_SCAN_VENV", default_value = crate::scan::DEFAULT_VENV)]
    pub scan_venv: PathBuf,
    /// Seconds each scan tool may run before it is killed (the scan is then incomplete).
    #[arg(long, env = "PLUGINS_SCAN_TIMEOUT", default_value_t = 60)]
    pub scan_timeout: u64,
    /// Memory (address space) each scan tool may use, in MiB.
    #[arg(long, env = "PLUGINS_SCAN_MEMORY_MB", default_value_t = 1024)]
    pub scan_memory_mb: u64,
}

impl ScanArgs {
    /// The tools with these limits, scratch space under `data_dir`.
    pub fn scan_config(&self, data_dir: &std::path::Path) -> ScanConfig {
        let mut c = ScanConfig::new(data_dir, self.scan_venv.clone());
        c.tools.timeout = Duration::from_secs(self.scan_timeout.max(1));
        c.tools.memory_bytes = self.scan_memory_mb.max(64) << 20;
        c
    }
}

/// Settings of the mail sender.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (or `smtps://`, with `user:password@`); `None`: mail stays in the
    /// outbox (`uploader mail list` shows it).
    pub smtp_url: Option<String>,
    /// The From address (reference: `no-reply-plugins@qgis.org`).
    pub from: String,
    /// First wait after a failed delivery; doubled per attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "QGIS Plugins <no-reply-plugins@qgis.org>".into(),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(15 * 60),
        }
    }
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("ServiceConfig")
            .field("site", &self.site)
            .field("listen", &self.listen)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .finish_non_exhaustive()
    }
}

impl ServiceConfig {
    /// Defaults for everything but paths and the secret.
    pub fn new(site: generator::Config, jwt_secret: Vec<u8>) -> Result<Self> {
        ensure!(
            jwt_secret.len() >= MIN_SECRET_BYTES,
            "the JWT secret is too short ({} bytes): use at least {MIN_SECRET_BYTES} random bytes, e.g. `head -c 48 /dev/urandom | base64 > data/jwt-secret`",
            jwt_secret.len()
        );
        let data_dir = site.data_dir.clone();
        Ok(Self {
            site,
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            jwt_secret,
            user_token_ttl: Duration::from_secs(3600),
            plugin_token_ttl: Duration::from_secs(365 * 24 * 3600),
            max_upload_bytes: MAX_UPLOAD_BYTES,
            max_json_bytes: 64 * 1024,
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            body_total_timeout: Duration::from_secs(300),
            live_wait: Duration::from_secs(10),
            max_connections: 256,
            max_concurrent_uploads: 8,
            hash_wait: Duration::from_millis(200),
            login_attempts: 10,
            login_window: Duration::from_secs(300),
            check_urls_online: false,
            rebuild: true,
            build_program: None,
            downloads: None,
            throttle: crate::change_throttle::ThrottleConfig::default(),
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            self_registration: false,
            scan: ScanConfig::new(&data_dir, PathBuf::from(crate::scan::DEFAULT_VENV)),
            mail: MailConfig::default(),
        })
    }

    /// Whether cookies carry `Secure` (the public base URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.site.base_url.starts_with("https://")
    }

    /// Largest body accepted on a route taking a zip as multipart or raw bytes.
    pub fn max_multipart_bytes(&self) -> u64 {
        self.max_upload_bytes + 256 * 1024
    }

    /// Largest XML-RPC body: base64 with line breaks is about 1.37 times the zip.
    pub fn max_xmlrpc_bytes(&self) -> u64 {
        self.max_upload_bytes / 100 * 140 + 64 * 1024
    }
}

/// Reads the signing secret from a file (trimmed; may be text or raw bytes). A file that
/// group or others may access is refused: whoever reads the key can mint any token.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("failed to read the JWT secret file `{}`", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    ensure!(
        mode & 0o077 == 0,
        "the JWT secret file `{}` is accessible to group or others (mode {mode:o}): run `chmod 600 {}` (and check who could have read it)",
        path.display(),
        path.display()
    );
    let bytes = std::fs::read(path)
        .with_context(|| format!("failed to read the JWT secret file `{}`", path.display()))?;
    Ok(trim_secret(bytes))
}

/// Takes the secret from `--secret-file`, else from `PLUGINS_JWT_SECRET` (passed in), else
/// from `<data>/jwt-secret`, which `generate` creates (mode 0600) on first run when allowed.
pub fn load_secret(
    file: Option<&Path>,
    env: Option<&str>,
    data_dir: &Path,
    generate: bool,
) -> Result<Vec<u8>> {
    if let Some(path) = file {
        return read_secret_file(path);
    }
    if let Some(value) = env.filter(|v| !v.trim().is_empty()) {
        return Ok(trim_secret(value.as_bytes().to_vec()));
    }
    let default = data_dir.join("jwt-secret");
    if default.exists() {
        return read_secret_file(&default);
    }
    ensure!(
        generate,
        "no JWT secret: pass --secret-file FILE, set PLUGINS_JWT_SECRET, or create `{}` (or pass --generate-secret)",
        default.display()
    );
    generate_secret_file(&default)?;
    read_secret_file(&default)
}

fn trim_secret(bytes: Vec<u8>) -> Vec<u8> {
    match std::str::from_utf8(&bytes) {
        Ok(s) => s.trim().as_bytes().to_vec(),
        Err(_) => bytes,
    }
}

/// Writes 48 random bytes, base64-encoded, to `path` with mode 0600.
pub fn generate_secret_file(path: &Path) -> Result<PathBuf> {
    use base64::Engine as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut raw = [0u8; 48];
    rand::fill(&mut raw);
    let text = base64::engine::general_purpose::STANDARD.encode(raw);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create `{}`", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to create the JWT secret file `{}`", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn generated_secret_is_owner_only_and_others_access_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = load_secret(None, None, dir.path(), true).unwrap();
        assert!(secret.len() >= MIN_SECRET_BYTES);
        let file = dir.path().join("jwt-secret");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = format!("{:#}", load_secret(None, None, dir.path(), true).unwrap_err());
        assert!(err.contains(&format!("chmod 600 {}", file.display())), "{err}");
    }
}

/// Settings of the background download counter of `uploader serve` (`downloads`).
#[derive(Debug, Clone)]
pub struct CounterConfig {
    /// Every downloads log counted (one per nginx edge), each from its own position.
    pub logs: Vec<PathBuf>,
    /// Pause between two ingest passes.
    pub interval: Duration,
    /// Least time between two rebuilds caused by new counts.
    pub refresh: Duration,
}
