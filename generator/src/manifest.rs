//! The published manifest (`<release>/.manifest.json`): what a release was built from (the
//! plan's fingerprint, the content hash of every site-wide file, the key of every plugin
//! tree, the chunk index of every large .gz), read by the next build to keep what did not
//! change and written by `publish` into each new release. Also the manifest hash of a
//! memoised page, which `render` compares to decide whether to render it again.
//! Imports only `gzchunks` (the chunk index type) and `urls` (the file's name).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::gzchunks::ChunkIndex;
use crate::urls::MANIFEST_FILE;

/// A release's manifest.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// The plan's fingerprint: equal means nothing to render or write.
    #[serde(default)]
    pub fingerprint: String,
    /// Site-wide file (relative to the release) → content hash ([`memo_hash`] for pages).
    pub files: BTreeMap<String, String>,
    /// Tree mount (`plugins/<pkg>`) → tree key.
    pub trees: BTreeMap<String, String>,
    /// Chunk index of each large document's .gz (`gzchunks`), so the next build copies the
    /// compressed bytes of unchanged chunks. Derived from `files`: not part of equality.
    #[serde(default)]
    pub gz_chunks: BTreeMap<String, ChunkIndex>,
}

impl PartialEq for Manifest {
    fn eq(&self, other: &Self) -> bool {
        (&self.fingerprint, &self.files, &self.trees)
            == (&other.fingerprint, &other.files, &other.trees)
    }
}

/// What the current release was built from, as rendering needs it.
#[derive(Debug, Default)]
pub struct Published {
    /// The plan fingerprint (`None` before the first build).
    pub fingerprint: Option<String>,
    /// The content hash of every site-wide file, so rendering can keep pages whose inputs
    /// did not change.
    pub files: BTreeMap<String, String>,
}

impl From<Manifest> for Published {
    fn from(m: Manifest) -> Self {
        Self { fingerprint: Some(m.fingerprint).filter(|f| !f.is_empty()), files: m.files }
    }
}

/// The manifest hash of a memoised page with input digest `key`.
pub(crate) fn memo_hash(key: &str) -> String {
    format!("memo:{key}")
}

/// The manifest of the release in `dir` (empty when it has none).
pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("failed to parse `{}`", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(e).with_context(|| format!("failed to read `{}`", path.display())),
    }
}

/// Writes `manifest` into the release being assembled in `dir`; with `sync`, makes it
/// durable too.
pub(crate) fn write_manifest(dir: &Path, manifest: &Manifest, sync: bool) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    fs::write(&path, serde_json::to_vec(manifest)?)
        .context("failed to write the release manifest")?;
    if sync {
        fs::File::open(&path).and_then(|f| f.sync_all()).context("failed to sync the manifest")?;
    }
    Ok(())
}
