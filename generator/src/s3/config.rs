//! The S3 settings (contract §4): the clap arguments `generator build`/`watch`, `uploader
//! serve` and `uploader build-site` flatten, the validated [`S3Config`], the credentials
//! (from a 0600 file or two environment variables) and how a build child receives them
//! (the file's path, or the two variables; never a secret on a command line).

use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// The environment variables holding the credentials when no file is named.
pub const ACCESS_KEY_ENV: &str = "PLUGINS_S3_ACCESS_KEY_ID";
pub const SECRET_KEY_ENV: &str = "PLUGINS_S3_SECRET_ACCESS_KEY";

/// The default grace period before an object no release refers to is deleted: a day,
/// longer than any edge cache keeps a document that names it.
pub const DEFAULT_GRACE_SECS: u64 = 86_400;

/// Publishing to an S3 bucket (all flags also read from the environment).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct S3Args {
    /// S3 API endpoint, e.g. http://127.0.0.1:3900; unset: no S3 publishing.
    #[arg(long = "s3-endpoint", env = "PLUGINS_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Bucket the site is published to (required with --s3-endpoint).
    #[arg(long = "s3-bucket", env = "PLUGINS_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Region name the endpoint expects.
    #[arg(long = "s3-region", env = "PLUGINS_S3_REGION", default_value = "garage")]
    pub s3_region: String,
    /// File with `access_key_id = ...` and `secret_access_key = ...` lines (mode 0600).
    /// Default: the PLUGINS_S3_ACCESS_KEY_ID and PLUGINS_S3_SECRET_ACCESS_KEY variables.
    #[arg(long = "s3-credentials-file", env = "PLUGINS_S3_CREDENTIALS_FILE")]
    pub s3_credentials_file: Option<PathBuf>,
    /// Seconds an object no release refers to is kept before it is deleted.
    #[arg(long = "s3-grace-secs", env = "PLUGINS_S3_GRACE_SECS", default_value_t = DEFAULT_GRACE_SECS)]
    pub s3_grace_secs: u64,
}

impl S3Args {
    /// The validated settings, None without an endpoint. Reads the credentials (file or
    /// environment) and checks them.
    pub fn config(&self) -> Result<Option<S3Config>> {
        let Some(endpoint) = self.s3_endpoint.as_deref().filter(|e| !e.trim().is_empty()) else {
            return Ok(None);
        };
        let bucket = self.s3_bucket.as_deref().filter(|b| !b.trim().is_empty()).context(
            "--s3-endpoint needs --s3-bucket (or PLUGINS_S3_BUCKET): the bucket to publish to",
        )?;
        let source = match &self.s3_credentials_file {
            Some(path) => CredentialSource::File(path.clone()),
            None => CredentialSource::Env,
        };
        let env = |k: &str| std::env::var(k).ok();
        let credentials = source.load(env(ACCESS_KEY_ENV), env(SECRET_KEY_ENV))?;
        S3Config::new(endpoint, bucket, &self.s3_region, source, credentials, self.s3_grace_secs)
            .map(Some)
    }
}

/// Where the credentials came from, which is what a build child is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// A file (its path is passed on, never its content).
    File(PathBuf),
    /// `PLUGINS_S3_ACCESS_KEY_ID` and `PLUGINS_S3_SECRET_ACCESS_KEY` (passed on as such).
    Env,
}

impl CredentialSource {
    /// Reads the credentials: the file, or the two variables' values given.
    pub fn load(&self, access: Option<String>, secret: Option<String>) -> Result<Credentials> {
        match self {
            CredentialSource::File(path) => read_credentials_file(path),
            CredentialSource::Env => match (access, secret) {
                (Some(a), Some(s)) if !a.trim().is_empty() && !s.trim().is_empty() => {
                    Ok(Credentials { access_key_id: a.trim().into(), secret: s.trim().into() })
                }
                _ => bail!(
                    "S3 publishing needs credentials: pass --s3-credentials-file FILE (lines \
                     `access_key_id = ...` and `secret_access_key = ...`, mode 0600) or set \
                     {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}"
                ),
            },
        }
    }
}

/// An access key and its secret. Debug shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// Reads a credentials file, refusing one that others may read.
pub fn read_credentials_file(path: &Path) -> Result<Credentials> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("failed to read the S3 credentials file `{}`", path.display()))?;
    let mode = meta.permissions().mode();
    ensure!(
        mode & 0o044 == 0,
        "the S3 credentials file `{}` is readable by other users (mode {:o}): run `chmod 600 {}`",
        path.display(),
        mode & 0o777,
        path.display()
    );
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the S3 credentials file `{}`", path.display()))?;
    parse_credentials(&text).with_context(|| format!("in `{}`", path.display()))
}

/// Parses `key = value` lines (`#` starts a comment).
pub fn parse_credentials(text: &str) -> Result<Credentials> {
    let (mut access, mut secret) = (None, None);
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected `name = value`", n + 1);
        };
        let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        match key.trim() {
            "access_key_id" => access = value,
            "secret_access_key" => secret = value,
            other => bail!(
                "line {}: unknown setting `{other}` (expected access_key_id, secret_access_key)",
                n + 1
            ),
        }
    }
    match (access, secret) {
        (Some(access_key_id), Some(secret)) => Ok(Credentials { access_key_id, secret }),
        _ => bail!("both `access_key_id = ...` and `secret_access_key = ...` are required"),
    }
}

/// Validated S3 settings of a generator run.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `http://` or `https://` URL of the S3 API, without a trailing slash.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub source: CredentialSource,
    pub credentials: Credentials,
    /// How long an unreferenced object is kept.
    pub grace: Duration,
}

impl S3Config {
    pub fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        source: CredentialSource,
        credentials: Credentials,
        grace_secs: u64,
    ) -> Result<Self> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
        ensure!(
            endpoint.starts_with("http://") || endpoint.starts_with("https://"),
            "S3 endpoint `{endpoint}` must start with http:// or https://, for example \
             http://127.0.0.1:3900"
        );
        let bucket = bucket.trim().to_owned();
        ensure!(
            !bucket.is_empty() && !bucket.contains(['/', ' ']),
            "S3 bucket `{bucket}` must be a plain bucket name"
        );
        Ok(Self {
            endpoint,
            bucket,
            region: region.trim().to_owned(),
            source,
            credentials,
            grace: Duration::from_secs(grace_secs),
        })
    }

    /// `endpoint/bucket`, how errors and logs name the target.
    pub fn target_name(&self) -> String {
        format!("{}/{}", self.endpoint, self.bucket)
    }

    /// The arguments that give a build child the same settings (no secret).
    pub fn child_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--s3-endpoint".into(),
            self.endpoint.clone().into(),
            "--s3-bucket".into(),
            self.bucket.clone().into(),
            "--s3-region".into(),
            self.region.clone().into(),
            "--s3-grace-secs".into(),
            self.grace.as_secs().to_string().into(),
        ];
        if let CredentialSource::File(path) = &self.source {
            args.push("--s3-credentials-file".into());
            args.push(path.clone().into());
        }
        args
    }

    /// The environment a build child needs besides its arguments: the two credential
    /// variables when the credentials came from the environment.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        match self.source {
            CredentialSource::Env => vec![
                (ACCESS_KEY_ENV, self.credentials.access_key_id.clone()),
                (SECRET_KEY_ENV, self.credentials.secret.clone()),
            ],
            CredentialSource::File(_) => Vec::new(),
        }
    }
}
