//! Publishing releases to an S3-compatible bucket (Garage in the cluster): after the local
//! publish, every object whose bytes changed is put, keyed by its public path
//! (`urls::object_key`), in the phases of `objects::Phase` (assets, pages, per-package
//! documents, site-wide documents last), and objects no release refers to are deleted
//! after a grace period. Only this module talks to the store.
//!
//! - `config` — the settings (`S3Args`, `S3Config`, credentials); a leaf.
//! - `objects` — a release's objects: keys, phases, Content-Type and Cache-Control.
//! - `state` — what the last complete sync put (`<site>/.s3/<target>.json`).
//! - `sync` — the sync itself (failpoint `s3.before_site_documents` documented there).
//!
//! Imports `urls`, `manifest` and `publish::current_release`; nothing imports it but `lib`.

pub mod config;
pub mod objects;
pub mod state;
mod sync;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt as _;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

pub use config::{CredentialSource, Credentials, S3Args, S3Config};
pub use sync::{FAILPOINT_BEFORE_SITE_DOCUMENTS, S3Report, SyncOptions, Target, sync_site};

/// The S3 client of `config`: path-style requests, plain http allowed (a loopback
/// Garage), the client's own retries bounded.
pub fn open_store(config: &S3Config) -> Result<Arc<dyn ObjectStore>> {
    // rustls needs a process-wide crypto provider (ring); installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let retry = object_store::RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    };
    let store = AmazonS3Builder::new()
        .with_endpoint(&config.endpoint)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region(&config.region)
        .with_bucket_name(&config.bucket)
        .with_access_key_id(&config.credentials.access_key_id)
        .with_secret_access_key(&config.credentials.secret)
        .with_retry(retry)
        .build()
        .with_context(|| format!("failed to set up the S3 client for {}", config.target_name()))?;
    Ok(Arc::new(store))
}

/// The target of `config` for the site in `site_dir`.
pub fn target(config: &S3Config, site_dir: &Path) -> Result<Target> {
    Ok(Target {
        store: open_store(config)?,
        name: config.target_name(),
        state_path: state::state_path(site_dir, &config.endpoint, &config.bucket),
    })
}

/// Publishes the current release of `site_dir` to the bucket of `config` (see `sync`).
pub fn publish(config: &S3Config, site_dir: &Path) -> Result<Option<S3Report>> {
    let target = target(config, site_dir)?;
    sync_site(site_dir, &target, &SyncOptions::new(config.grace))
}

/// Checks that the bucket answers with these credentials (one listing request).
pub fn check_bucket(config: &S3Config) -> Result<()> {
    let store = open_store(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the S3 runtime")?;
    runtime.block_on(async move { store.list(None).next().await.transpose() }).with_context(
        || {
            format!(
                "the S3 bucket {} does not answer (is the endpoint up, the bucket created, and \
                 the key allowed to write to it?)",
                config.target_name()
            )
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
