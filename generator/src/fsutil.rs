//! Small file-system helpers with path context: atomic writes (temp file in the same
//! directory, fsync, rename, mode 0644 so nginx can read), hashing, directory syncing.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// First 10 hex digits of the SHA-256 of `bytes`: for cache-busting names and suffixes.
pub fn short_hash(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..10].to_owned()
}

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

/// Fsyncs many directories. Many fsyncs waiting at once are merged by the file system and
/// the block layer into fewer writes, where one after another would each wait for the disk.
pub fn sync_dirs(dirs: &[PathBuf]) -> Result<()> {
    const THREADS: usize = 32;
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS.min(dirs.len()))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    while let Some(d) = dirs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        sync_dir(d)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a directory sync thread panicked")))
        })
    })
}

/// Hard-links `from` to `to` (creating `to`'s directory if needed), falling back to a copy
/// across file systems.
pub fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && from.exists() => {
            let dir = to.parent().context("path has no parent directory")?;
            fs::create_dir_all(dir)
                .with_context(|| format!("failed to create `{}`", dir.display()))?;
            fs::hard_link(from, to).or_else(|_| {
                let bytes = fs::read(from)
                    .with_context(|| format!("failed to read `{}`", from.display()))?;
                write_atomic(to, &bytes)
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::remove_file(to).with_context(|| format!("failed to replace `{}`", to.display()))?;
            link_or_copy(from, to)
        }
        Err(_) => {
            let bytes =
                fs::read(from).with_context(|| format!("failed to read `{}`", from.display()))?;
            write_atomic(to, &bytes)
        }
    }
}
