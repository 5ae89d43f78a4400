//! The sync state of one target (`<site>/.s3/<sha256 of endpoint and bucket>.json`): the
//! last release fully published there, each of its objects' content hash and manifest
//! identity, and the orphans (objects no longer referenced, with when they stopped being
//! referenced). Written atomically (temporary file, fsync, rename, directory fsync) and only
//! after the last phase of a sync succeeded.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// What one target holds, as far as the last complete sync knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// The release last published completely (empty before the first sync).
    pub release: String,
    /// Key → what was put there.
    pub objects: BTreeMap<String, StoredObject>,
    /// Key → unix seconds when it stopped being referenced.
    #[serde(default)]
    pub orphans: BTreeMap<String, u64>,
}

/// One object put by a complete sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    /// SHA-256 of its bytes (hex).
    pub sha256: String,
    /// The manifest identity its bytes came from (`objects::identity`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// The state file of the target `endpoint`/`bucket` under `site_dir`.
pub fn state_path(site_dir: &Path, endpoint: &str, bucket: &str) -> PathBuf {
    let id = catalog::hash::sha256_hex(format!("{endpoint}\n{bucket}").as_bytes());
    site_dir.join(".s3").join(format!("{id}.json"))
}

/// Reads the state (empty when there is none yet).
pub fn load(path: &Path) -> Result<SyncState> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("failed to parse the S3 sync state `{}`", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SyncState::default()),
        Err(e) => {
            Err(e).with_context(|| format!("failed to read the S3 sync state `{}`", path.display()))
        }
    }
}

/// Replaces the state durably: a reader (or a crash) sees the old state or the new one.
pub fn save(path: &Path, state: &SyncState) -> Result<()> {
    let dir = path.parent().context("the S3 sync state has no directory")?;
    fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(state).context("failed to encode the S3 sync state")?;
    let mut f =
        fs::File::create(&tmp).with_context(|| format!("failed to create `{}`", tmp.display()))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("failed to write `{}`", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("failed to rename `{}`", path.display()))?;
    catalog::fsutil::sync_dir(dir)
}
