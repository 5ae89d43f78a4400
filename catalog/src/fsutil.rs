//! Durable writes with path context: atomic writes (temp file in the same directory, fsync,
//! rename, mode 0644 so nginx can read) and directory syncs.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically: a reader sees the old file or the whole new one.
/// The file is synced before the rename; the directory is not (callers batch that).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("failed to write `{}`", path.display()))?;
    // tempfile creates 0600 files; nginx (another user) must be able to read them.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .with_context(|| format!("failed to set permissions of `{}`", path.display()))?;
    tmp.as_file().sync_all().with_context(|| format!("failed to sync `{}`", path.display()))?;
    tmp.persist(path).with_context(|| format!("failed to rename into `{}`", path.display()))?;
    Ok(())
}

/// Fsyncs a directory so that renames and links inside it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("failed to sync directory `{}`", dir.display()))
}
