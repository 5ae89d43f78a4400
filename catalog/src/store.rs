//! The zip store under `<data>/packages/<pkg>/<pkg>.<version>-<sha12>.zip`. A zip is written
//! with `fsutil::write_atomic` and its directory synced **before** the row that points to it
//! is committed; `Stored` removes the file again unless the commit succeeded. At startup,
//! files no row points to (a crash between store and commit) and temporary files are swept.
//!
//! Paths are content-named, so a deleted version re-uploaded with the same bytes reuses the
//! path: a zip is removed only when no row references it, decided inside a transaction on the
//! single writer and removed before that writer is released (`remove_unreferenced`), so no
//! upload of the same bytes can interleave.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::names::{PackageName, PluginVersion};
use anyhow::{Context, Result};

/// Directory of the store inside the data dir.
pub const PACKAGES_DIR: &str = "packages";

/// The zip store of one data dir.
#[derive(Debug, Clone)]
pub struct Store {
    data_dir: PathBuf,
}

/// A zip just written; removed on drop unless `keep` was called (after COMMIT).
#[derive(Debug)]
#[must_use]
pub struct Stored {
    path: Option<PathBuf>,
    pub relative: String,
}

impl Stored {
    /// The row pointing to the file is committed: keep it.
    pub fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            match fs::remove_file(&path) {
                Ok(()) => {
                    if let Some(dir) = path.parent() {
                        let _ = fsutil::sync_dir(dir);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::error!(
                    path = %path.display(),
                    error = %e,
                    "failed to remove an uncommitted zip; the startup sweep will"
                ),
            }
        }
    }
}

impl Store {
    pub fn new(data_dir: &Path) -> Self {
        Self { data_dir: data_dir.to_path_buf() }
    }

    /// `packages/<pkg>/<pkg>.<version>-<sha12>.zip`, relative to the data dir. Built only from
    /// validated identifiers and a hex digest.
    pub fn relative_path(package: &PackageName, version: &PluginVersion, sha256: &str) -> String {
        let short = sha256.get(..12).unwrap_or(sha256);
        format!("{PACKAGES_DIR}/{package}/{package}.{version}-{short}.zip")
    }

    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.data_dir.join(relative)
    }

    /// Writes `bytes` at `relative` (temp file, fsync, rename, fsync of the directory).
    /// When `remove_on_drop` is false (the file is already referenced by a committed row,
    /// same content), the guard never removes it.
    pub fn put(&self, relative: &str, bytes: &[u8], remove_on_drop: bool) -> Result<Stored> {
        let path = self.absolute(relative);
        let dir = path.parent().context("store path has no directory")?.to_path_buf();
        let created_dir = !dir.exists();
        fsutil::write_atomic(&path, bytes)?;
        let guard =
            Stored { path: remove_on_drop.then(|| path.clone()), relative: relative.to_owned() };
        fsutil::sync_dir(&dir)?;
        if created_dir && let Some(parent) = dir.parent() {
            fsutil::sync_dir(parent)?;
        }
        Ok(guard)
    }

    /// Removes the zip at `relative` unless a row references it; `tx` is a transaction on the
    /// single writer, held across the removal. Returns whether the file was removed.
    pub fn remove_unreferenced(
        &self,
        tx: &rusqlite::Transaction<'_>,
        relative: &str,
    ) -> Result<bool> {
        if crate::versions::package_path_in_use(tx, relative)? {
            return Ok(false);
        }
        self.remove(relative)?;
        Ok(true)
    }

    /// Removes a zip (a missing file is fine). Callers decide first that no row references it.
    fn remove(&self, relative: &str) -> Result<()> {
        let path = self.absolute(relative);
        match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    fsutil::sync_dir(dir)?;
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("failed to remove `{}`", path.display())),
        }
    }

    /// True when the stored file exists with the recorded size and SHA-256.
    pub fn verify(&self, relative: &str, sha256: &str, size: i64) -> bool {
        let path = self.absolute(relative);
        match fs::read(&path) {
            Ok(bytes) => bytes.len() as i64 == size && crate::hash::sha256_hex(&bytes) == sha256,
            Err(_) => false,
        }
    }

    /// Deletes temporary files and zips that no row references (`keep`); returns how many.
    /// Run at startup, before serving, when no upload can be in flight.
    pub fn sweep_orphans(&self, keep: &HashSet<String>) -> Result<usize> {
        let root = self.data_dir.join(PACKAGES_DIR);
        let Ok(dirs) = fs::read_dir(&root) else { return Ok(0) };
        let mut removed = 0;
        for dir in dirs {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            let dir_name = dir.file_name().to_string_lossy().into_owned();
            let mut changed = false;
            for entry in fs::read_dir(dir.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let relative = format!("{PACKAGES_DIR}/{dir_name}/{name}");
                let is_tmp = name.starts_with(".tmp-");
                if (is_tmp || !keep.contains(&relative)) && entry.file_type()?.is_file() {
                    fs::remove_file(entry.path()).with_context(|| {
                        format!("failed to remove orphan `{}`", entry.path().display())
                    })?;
                    tracing::warn!(file = %relative, "removed an orphan file from the store");
                    removed += 1;
                    changed = true;
                }
            }
            if changed {
                fsutil::sync_dir(&dir.path())?;
            }
        }
        Ok(removed)
    }
}
