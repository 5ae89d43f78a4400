//! Resolved configuration of a generator run: where the catalog, the templates and the site
//! live, the public base URL written into plugins.xml and JSON, and the S3 target.

use std::path::PathBuf;

use anyhow::{Result, ensure};

/// Validated settings; built from the command line (or by tests and the uploader directly).
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub site_dir: PathBuf,
    pub templates_dir: PathBuf,
    /// Absolute, without a trailing slash.
    pub base_url: String,
    /// Where each release is also published (None: the local site only).
    pub s3: Option<crate::s3::S3Config>,
}

impl Config {
    pub fn new(
        data_dir: PathBuf,
        site_dir: PathBuf,
        templates_dir: PathBuf,
        base_url: &str,
    ) -> Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        ensure!(
            base_url.starts_with("http://") || base_url.starts_with("https://"),
            "base URL `{base_url}` must start with http:// or https://, for example http://127.0.0.1:8080"
        );
        ensure!(
            !base_url.contains(['"', '<', '>', '\'', ' ', '?', '#']),
            "base URL `{base_url}` must be a plain URL without quotes, spaces, query or fragment"
        );
        Ok(Self { data_dir, site_dir, templates_dir, base_url, s3: None })
    }
}
