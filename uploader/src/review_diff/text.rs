//! Text detection and the unified line diff (via `similar`) of one file, as typed lines.

use similar::{Algorithm, ChangeTag, DiffOp, TextDiff, udiff::UnifiedHunkHeader};

use super::report::{DiffLimits, DiffLine, LineKind};

/// The file as text, or `None` when it is binary: a NUL byte in the first `sniff` bytes,
/// or not valid UTF-8 anywhere.
pub(super) fn as_text(bytes: &[u8], sniff: usize) -> Option<&str> {
    if bytes[..bytes.len().min(sniff)].contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// Why a diff was not built: its number of lines, over the limit it broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TooLong {
    /// Over `max_lines_per_file`.
    File,
    /// Over what is left of the report's total.
    Total,
}

/// The unified diff of `old` → `new` with `limits.context_lines` of context, or why it is
/// too long to show (`budget` is what is left of the report's total).
pub(super) fn unified(
    old: &str,
    new: &str,
    limits: &DiffLimits,
    budget: usize,
) -> Result<Vec<DiffLine>, TooLong> {
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(limits.diff_timeout)
        .diff_lines(old, new);
    let groups = diff.grouped_ops(limits.context_lines);
    let count = line_count(&groups);
    if count > limits.max_lines_per_file {
        return Err(TooLong::File);
    }
    if count > budget {
        return Err(TooLong::Total);
    }
    let mut lines = Vec::with_capacity(count);
    for group in groups.iter().filter(|g| !g.is_empty()) {
        lines.push(hunk_line(group));
        for op in group {
            lines.extend(diff.iter_changes(op).map(|c| {
                let (kind, text) = match c.tag() {
                    ChangeTag::Equal => (LineKind::Context, c.value()),
                    ChangeTag::Delete => (LineKind::Removed, c.value()),
                    ChangeTag::Insert => (LineKind::Added, c.value()),
                };
                typed_line(kind, text, c.old_index(), c.new_index())
            }));
        }
    }
    Ok(lines)
}

/// Lines the groups will produce: one hunk header each plus the lines of every op.
fn line_count(groups: &[Vec<DiffOp>]) -> usize {
    let op_lines = |op: &DiffOp| match *op {
        DiffOp::Equal { len, .. } => len,
        DiffOp::Delete { old_len, .. } => old_len,
        DiffOp::Insert { new_len, .. } => new_len,
        DiffOp::Replace { old_len, new_len, .. } => old_len + new_len,
    };
    groups.iter().filter(|g| !g.is_empty()).map(|g| 1 + g.iter().map(op_lines).sum::<usize>()).sum()
}

/// `@@ -a,b +c,d @@`, exactly as `diff -u` writes it.
fn hunk_line(group: &[DiffOp]) -> DiffLine {
    DiffLine {
        kind: LineKind::Hunk,
        text: UnifiedHunkHeader::new(group).to_string(),
        old: None,
        new: None,
        no_newline: false,
    }
}

/// A changed or context line, its ending removed and its indexes made 1-based.
fn typed_line(kind: LineKind, raw: &str, old: Option<usize>, new: Option<usize>) -> DiffLine {
    let no_newline = !raw.ends_with('\n');
    let text = raw.strip_suffix('\n').unwrap_or(raw);
    let text = text.strip_suffix('\r').unwrap_or(text);
    DiffLine {
        kind,
        text: text.to_owned(),
        old: old.map(|i| i + 1),
        new: new.map(|i| i + 1),
        no_newline,
    }
}
