//! File-system helpers of publishing: many directory syncs at once, links with a copy
//! fallback. Atomic writes and single syncs are `catalog::fsutil`'s.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use catalog::fsutil::{sync_dir, write_atomic};

/// Fsyncs many directories. Many fsyncs waiting at once are merged by the file system and
/// the block layer into fewer writes, where one after another would each wait for the disk.
pub(crate) fn sync_dirs(dirs: &[PathBuf]) -> Result<()> {
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
pub(crate) fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
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
