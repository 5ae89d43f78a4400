//! The typed report a review page renders (serialized into a tera context), the limits that
//! bound it, and the one error `compare` can return.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// What a pending version contains and how it differs from the newest approved version.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewReport {
    /// Hex SHA-256 of the pending zip (what the approve form posts back).
    pub sha256: String,
    /// Size of the pending zip in bytes.
    pub total_size: u64,
    /// Sum of the pending files' uncompressed sizes.
    pub uncompressed_size: u64,
    /// No approved version to compare with: every file is `added`.
    pub first_version: bool,
    /// Every file of either version, sorted by path.
    pub files: Vec<FileRow>,
    /// One per added, removed or changed file, in the order of `files`.
    pub diffs: Vec<FileDiff>,
    /// `[general]` of metadata.txt, old and new side by side.
    pub metadata: Vec<MetaRow>,
    /// Why a side's metadata.txt could not be shown (it is then treated as empty).
    pub metadata_notes: Vec<String>,
    pub counts: Counts,
}

/// How a file differs between the approved and the pending version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Removed,
    Changed,
    Unchanged,
}

/// One file of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRow {
    /// The entry name, top folder included.
    pub path: String,
    /// Pending size, or the approved size for a removed file.
    pub size: u64,
    /// The approved size when the file exists there.
    pub old_size: Option<u64>,
    pub status: FileStatus,
}

/// The diff of one added, removed or changed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub status: FileStatus,
    /// `kind` = `text` with `lines`, or `skipped` with `reason`.
    #[serde(flatten)]
    pub kind: DiffKind,
}

/// A shown diff, or why none is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DiffKind {
    /// The unified diff, hunk headers included, as lines the page colours by `kind`.
    Text {
        lines: Vec<DiffLine>,
    },
    Skipped {
        reason: SkipReason,
    },
}

/// Why a file's diff is not shown; serialized as the sentence the page prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A NUL byte near the start, or not UTF-8, on either side.
    Binary,
    /// Either side is larger than the limit.
    TooLarge { max_kib: u64 },
    /// This file's diff alone has more lines than the limit.
    TooLong { max_lines: usize },
    /// The report already holds its total of diff lines.
    TotalTooLong { max_lines: usize },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Binary => f.write_str("binary file"),
            Self::TooLarge { max_kib } => write!(f, "file larger than {max_kib} KiB"),
            Self::TooLong { max_lines } => {
                write!(f, "diff too long (more than {max_lines} lines for this file)")
            }
            Self::TotalTooLong { max_lines } => write!(
                f,
                "diff too long (cut after {max_lines} lines in all: this and the remaining files are not shown)"
            ),
        }
    }
}

impl Serialize for SkipReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One line of a unified diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    pub kind: LineKind,
    /// The line without its line ending; for a hunk, `@@ -a,b +c,d @@`.
    pub text: String,
    /// 1-based line number in the approved file (context and removed lines).
    pub old: Option<usize>,
    /// 1-based line number in the pending file (context and added lines).
    pub new: Option<usize>,
    /// The last line of its file, without a final newline.
    pub no_newline: bool,
}

/// What a diff line is, for its CSS class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    Context,
    Added,
    Removed,
    Hunk,
}

/// One `[general]` key of metadata.txt in both versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetaRow {
    /// As written in the pending file (or the approved one for a removed key).
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub changed: bool,
}

/// How many files were added, removed, changed and left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

/// Bounds on what a report shows, so a huge or hostile version still renders quickly.
#[derive(Debug, Clone)]
pub struct DiffLimits {
    /// Files larger than this (either side) are listed but not diffed.
    pub max_file_bytes: u64,
    /// A NUL byte in this many first bytes makes a file binary.
    pub binary_sniff_bytes: usize,
    pub max_lines_per_file: usize,
    pub max_lines_total: usize,
    /// Unchanged lines shown around each change.
    pub context_lines: usize,
    /// After this long the diff of one file is approximated (still correct, maybe longer).
    pub diff_timeout: Duration,
}

impl Default for DiffLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 512 * 1024,
            binary_sniff_bytes: 8 * 1024,
            max_lines_per_file: 2_000,
            max_lines_total: 20_000,
            context_lines: 3,
            diff_timeout: Duration::from_millis(200),
        }
    }
}

/// Which of the two zips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Pending,
    Approved,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
        })
    }
}

/// A zip that cannot be read (stored zips were validated, so this means damage on disk).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    #[error("the {side} version's zip cannot be read: {reason}")]
    Unreadable { side: Side, reason: String },
}
