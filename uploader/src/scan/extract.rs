//! The private extracted copy a scan runs its tools on: every entry read with the
//! validator's hardened reader (framing, sizes and CRC checked under the validator's
//! limits), regular files only, written with `create_new` under a fresh 0700 folder.
//! Tool configuration files are left out of the copy (the file analysis reports them).
//! Also returns what the file analysis needs of each entry (name, mode, first bytes).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::validate::Limits;
use crate::validate::archive::{self, Totals};

/// What the file analysis sees of one file of the zip.
#[derive(Debug, Clone)]
pub(super) struct FileInfo {
    /// Path inside the zip.
    pub(super) name: String,
    pub(super) unix_mode: Option<u32>,
    /// The first bytes (magic numbers).
    pub(super) head: Vec<u8>,
    /// The text of small files whose name may hold tool configuration.
    pub(super) config_text: Option<String>,
}

/// Bytes of each file kept for the magic-number checks.
const HEAD_LEN: usize = 8;
/// Files that may carry a tool section are read up to this size.
const CONFIG_TEXT_MAX: usize = 256 * 1024;

/// Files only tools read (Bandit's and detect-secrets' own configs): never copied, so they
/// cannot steer the scan.
pub(super) fn is_tool_config(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    matches!(
        base,
        ".bandit"
            | "bandit.yaml"
            | "bandit.yml"
            | ".bandit.yaml"
            | ".bandit.yml"
            | ".secrets.baseline"
            | ".flake8"
            | ".pre-commit-config.yaml"
    )
}

/// Shared files that may hold a tool section (`setup.cfg [bandit]`, `pyproject.toml
/// [tool.bandit]`): copied (secrets in them are still found), their text read.
fn may_hold_config(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    matches!(base, "setup.cfg" | "tox.ini" | "pyproject.toml")
}

/// What extraction saw.
#[derive(Debug, Default)]
pub(super) struct Extracted {
    pub(super) files: Vec<FileInfo>,
    /// `<folder>/metadata.txt`, when the zip has one.
    pub(super) metadata: Option<(String, Vec<u8>)>,
}

/// Extracts `zip` into `dest` (created 0700, must not exist). Errors when the zip cannot be
/// read under the validator's limits.
pub(super) fn extract(zip: &[u8], dest: &Path) -> Result<Extracted> {
    let limits = Limits::default();
    let archive = archive::parse(zip, &limits).map_err(|p| anyhow::anyhow!("{}", p.message))?;
    archive.check_declared(&limits).map_err(|p| anyhow::anyhow!("{}", p.message))?;
    private_dir(dest)?;
    let mut totals = Totals::default();
    let mut out = Extracted::default();
    for e in &archive.entries {
        let keep = usize::try_from(e.uncompressed_size).unwrap_or(usize::MAX);
        let (bytes, _) = archive
            .read(e, keep, &mut totals, &limits)
            .map_err(|p| anyhow::anyhow!("{}", p.message))?;
        if e.name.ends_with('/') || !is_regular(e.unix_mode) {
            continue;
        }
        let Some(target) = safe_join(dest, &e.name) else {
            bail!("zip entry name `{}` is not a safe relative path", e.name);
        };
        if !is_tool_config(&e.name) {
            write_new(&target, &bytes)?;
        }
        out.files.push(info(&e.name, e.unix_mode, &bytes));
        if e.name.matches('/').count() == 1 && e.name.ends_with("/metadata.txt") {
            out.metadata = Some((e.name.clone(), bytes));
        }
    }
    Ok(out)
}

fn is_regular(mode: Option<u32>) -> bool {
    mode.is_none_or(|m| m & 0o170_000 == 0 || m & 0o170_000 == 0o100_000)
}

fn info(name: &str, unix_mode: Option<u32>, bytes: &[u8]) -> FileInfo {
    let config_text = (may_hold_config(name) || is_tool_config(name))
        .then(|| String::from_utf8_lossy(&bytes[..bytes.len().min(CONFIG_TEXT_MAX)]).into_owned());
    FileInfo {
        name: name.to_owned(),
        unix_mode,
        head: bytes[..bytes.len().min(HEAD_LEN)].to_vec(),
        config_text,
    }
}

/// `dest/name` when every component of `name` is a plain name.
fn safe_join(dest: &Path, name: &str) -> Option<PathBuf> {
    let mut p = dest.to_path_buf();
    for part in name.split('/') {
        let bad = part.is_empty()
            || part == "."
            || part == ".."
            || part.contains('\\')
            || part.contains('\0');
        if bad {
            return None;
        }
        p.push(part);
    }
    Some(p)
}

/// A folder only we may enter.
pub(super) fn private_dir(path: &Path) -> Result<()> {
    DirBuilder::new()
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes a new file (never through an existing name), creating its folders.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Removes a scan's scratch folder (best effort: a leftover is only disk space).
pub(super) fn remove(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        tracing::warn!("cannot remove scan scratch {}: {e}", dir.display());
    }
}
