//! The reviewer's view of a pending version: every file of it (and of the newest approved
//! version) with its status, line diffs of what changed, and metadata.txt side by side.
//! Pure: bytes in, a `ReviewReport` out; zips are read with the validator's hardened reader.
//!
//! "Unchanged" is decided on the inflated bytes, never on CRC-32 alone: a CRC is trivial to
//! forge, and a change hidden behind a matching CRC would never reach the reviewer's eyes.

mod meta;
mod report;
mod text;
mod zips;

pub use report::{
    Counts, DiffError, DiffKind, DiffLimits, DiffLine, FileDiff, FileRow, FileStatus, LineKind,
    MetaRow, ReviewReport, Side, SkipReason,
};

use std::collections::BTreeSet;

use text::TooLong;
use zips::Snapshot;

/// Compares a pending version's zip with the newest approved one (`None` for a first
/// version). `Err` only when a zip cannot be read.
pub fn compare(
    pending: &[u8],
    approved: Option<&[u8]>,
    limits: &DiffLimits,
) -> Result<ReviewReport, DiffError> {
    let mut new = Snapshot::open(pending, Side::Pending)?;
    let mut old = approved.map(|z| Snapshot::open(z, Side::Approved)).transpose()?;
    let (metadata, metadata_notes) = metadata_rows(&new, old.as_ref());
    let mut walk = Walk::new(limits);
    for path in union_paths(&new, old.as_ref()) {
        walk.file(&path, &mut new, old.as_mut())?;
    }
    Ok(ReviewReport {
        sha256: catalog::hash::sha256_hex(pending),
        total_size: pending.len() as u64,
        uncompressed_size: new.uncompressed_size(),
        first_version: old.is_none(),
        files: walk.files,
        diffs: walk.diffs,
        metadata,
        metadata_notes,
        counts: walk.counts,
    })
}

/// Every file path of either version, sorted.
fn union_paths(new: &Snapshot<'_>, old: Option<&Snapshot<'_>>) -> BTreeSet<String> {
    let mut paths: BTreeSet<String> = new.paths().map(str::to_owned).collect();
    if let Some(old) = old {
        paths.extend(old.paths().map(str::to_owned));
    }
    paths
}

/// The metadata rows, plus a sentence per side whose metadata.txt cannot be shown.
fn metadata_rows(new: &Snapshot<'_>, old: Option<&Snapshot<'_>>) -> (Vec<MetaRow>, Vec<String>) {
    let mut notes = Vec::new();
    let mut fields = |r: Result<_, String>| {
        r.unwrap_or_else(|why| {
            notes.push(why);
            Vec::new()
        })
    };
    let new_fields = fields(new.metadata());
    let old_fields = old.map(|o| fields(o.metadata())).unwrap_or_default();
    (meta::rows(&new_fields, &old_fields), notes)
}

/// Size and CRC of one side of a file, from the central directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    size: u64,
    crc32: u32,
}

fn stat(s: Option<&Snapshot<'_>>, path: &str) -> Option<Stat> {
    let e = s?.entry(path)?;
    Some(Stat { size: e.uncompressed_size, crc32: e.crc32 })
}

/// The report being built, file by file in path order, with what is left of the line budget.
struct Walk<'l> {
    limits: &'l DiffLimits,
    budget: usize,
    /// A diff did not fit the budget: the remaining files are not diffed.
    exhausted: bool,
    files: Vec<FileRow>,
    diffs: Vec<FileDiff>,
    counts: Counts,
}

impl<'l> Walk<'l> {
    fn new(limits: &'l DiffLimits) -> Self {
        Self {
            limits,
            budget: limits.max_lines_total,
            exhausted: false,
            files: Vec::new(),
            diffs: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Lists one file and, unless it is unchanged, adds its diff.
    fn file(
        &mut self,
        path: &str,
        new: &mut Snapshot<'_>,
        old: Option<&mut Snapshot<'_>>,
    ) -> Result<(), DiffError> {
        let n = stat(Some(new), path);
        let o = stat(old.as_deref(), path);
        let max = self.limits.max_file_bytes;
        let too_large = n.is_some_and(|s| s.size > max) || o.is_some_and(|s| s.size > max);
        // Same size and CRC may still hide a change: only the bytes can say "unchanged".
        let maybe_same = n.is_some() && n == o;
        let (status, kind) = if too_large && !maybe_same {
            (status_of(n, o, false), skipped(SkipReason::TooLarge { max_kib: max / 1024 }))
        } else {
            let new_bytes = if n.is_some() { new.read(path)? } else { Vec::new() };
            let old_bytes = match (o, old) {
                (Some(_), Some(s)) => s.read(path)?,
                _ => Vec::new(),
            };
            let status = status_of(n, o, maybe_same && new_bytes == old_bytes);
            let kind = if status == FileStatus::Unchanged {
                None
            } else if too_large {
                skipped(SkipReason::TooLarge { max_kib: max / 1024 })
            } else {
                Some(self.diff(&old_bytes, &new_bytes))
            };
            (status, kind)
        };
        self.record(path, n, o, status, kind);
        Ok(())
    }

    /// The text diff of a file, or why it is skipped; spends the line budget.
    fn diff(&mut self, old: &[u8], new: &[u8]) -> DiffKind {
        let sniff = self.limits.binary_sniff_bytes;
        let (Some(old), Some(new)) = (text::as_text(old, sniff), text::as_text(new, sniff)) else {
            return DiffKind::Skipped { reason: SkipReason::Binary };
        };
        let total = SkipReason::TotalTooLong { max_lines: self.limits.max_lines_total };
        if self.exhausted {
            return DiffKind::Skipped { reason: total };
        }
        match text::unified(old, new, self.limits, self.budget) {
            Ok(lines) => {
                self.budget -= lines.len();
                DiffKind::Text { lines }
            }
            Err(TooLong::File) => DiffKind::Skipped {
                reason: SkipReason::TooLong { max_lines: self.limits.max_lines_per_file },
            },
            Err(TooLong::Total) => {
                self.exhausted = true;
                DiffKind::Skipped { reason: total }
            }
        }
    }

    fn record(
        &mut self,
        path: &str,
        n: Option<Stat>,
        o: Option<Stat>,
        status: FileStatus,
        kind: Option<DiffKind>,
    ) {
        let size = n.or(o).map_or(0, |s| s.size);
        let old_size = o.map(|s| s.size);
        self.files.push(FileRow { path: path.to_owned(), size, old_size, status });
        let count = match status {
            FileStatus::Added => &mut self.counts.added,
            FileStatus::Removed => &mut self.counts.removed,
            FileStatus::Changed => &mut self.counts.changed,
            FileStatus::Unchanged => &mut self.counts.unchanged,
        };
        *count += 1;
        if let Some(kind) = kind {
            self.diffs.push(FileDiff { path: path.to_owned(), status, kind });
        }
    }
}

fn status_of(new: Option<Stat>, old: Option<Stat>, same_bytes: bool) -> FileStatus {
    match (new, old) {
        (Some(_), None) | (None, None) => FileStatus::Added,
        (None, Some(_)) => FileStatus::Removed,
        (Some(_), Some(_)) if same_bytes => FileStatus::Unchanged,
        (Some(_), Some(_)) => FileStatus::Changed,
    }
}

/// A diff that is not shown, for this reason.
fn skipped(reason: SkipReason) -> Option<DiffKind> {
    Some(DiffKind::Skipped { reason })
}

#[cfg(test)]
mod tests;
