//! Behaviour of `compare`: statuses, diff lines, skips and limits, metadata rows, hostile
//! input.

use super::*;
use crate::validate::builder::{PNG_1X1, ZipBuilder, metadata_txt, plugin_with_metadata};

const PKG: &str = "demo_plugin";

fn path(file: &str) -> String {
    format!("{PKG}/{file}")
}

/// The canonical valid plugin as `demo_plugin`, with its metadata.txt.
fn plugin(metadata: &str) -> ZipBuilder {
    plugin_with_metadata(PKG, metadata)
}

fn base() -> ZipBuilder {
    plugin(&metadata_txt(""))
}

fn run(new: &ZipBuilder, old: Option<&ZipBuilder>) -> ReviewReport {
    let old = old.map(ZipBuilder::build);
    compare(&new.build(), old.as_deref(), &DiffLimits::default()).expect("both zips are readable")
}

fn status(r: &ReviewReport, file: &str) -> FileStatus {
    r.files.iter().find(|f| f.path == path(file)).map(|f| f.status).expect("file is listed")
}

fn diff<'r>(r: &'r ReviewReport, file: &str) -> &'r DiffKind {
    &r.diffs.iter().find(|d| d.path == path(file)).expect("file has a diff").kind
}

#[test]
fn files_are_added_removed_changed_or_unchanged_sorted_by_path() {
    let old = base().file(path("gone.py"), "x = 1\n");
    let new = base()
        .edit(&path("plugin.py"), |e| e.data = b"class P:\n    pass\n".to_vec())
        .file(path("added.py"), "y = 2\n");
    let r = run(&new, Some(&old));
    assert_eq!(status(&r, "added.py"), FileStatus::Added);
    assert_eq!(status(&r, "gone.py"), FileStatus::Removed);
    assert_eq!(status(&r, "plugin.py"), FileStatus::Changed);
    assert_eq!(status(&r, "LICENSE"), FileStatus::Unchanged);
    assert_eq!(status(&r, "metadata.txt"), FileStatus::Unchanged);
    let paths: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted);
    assert!(!paths.contains(&"demo_plugin/"), "folders are not files: {paths:?}");
    assert_eq!(r.counts, Counts { added: 1, removed: 1, changed: 1, unchanged: 4 });
    let diffed: Vec<&str> = r.diffs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(diffed, [path("added.py"), path("gone.py"), path("plugin.py")]);
    let gone = r.files.iter().find(|f| f.path == path("gone.py")).unwrap();
    assert_eq!((gone.size, gone.old_size), (6, Some(6)));
    assert!(!r.first_version);
}

#[test]
fn removed_file_diff_is_every_line_removed() {
    let old = base().file(path("gone.py"), "a\nb\n");
    let r = run(&base(), Some(&old));
    let DiffKind::Text { lines } = diff(&r, "gone.py") else { panic!("expected text") };
    let kinds: Vec<(LineKind, &str)> = lines.iter().map(|l| (l.kind, l.text.as_str())).collect();
    assert_eq!(
        kinds,
        [(LineKind::Hunk, "@@ -1,2 +0,0 @@"), (LineKind::Removed, "a"), (LineKind::Removed, "b")]
    );
}

#[test]
fn small_known_change_gives_exact_unified_lines() {
    let old = base().file(path("abc.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\n");
    let new = base().file(path("abc.txt"), "a\nb\nc\nd\nE\nf\ng\nh\ni\n");
    let r = run(&new, Some(&old));
    let DiffKind::Text { lines } = diff(&r, "abc.txt") else { panic!("expected text") };
    let line = |kind, text: &str, old, new| DiffLine {
        kind,
        text: text.to_owned(),
        old,
        new,
        no_newline: false,
    };
    use LineKind::*;
    assert_eq!(
        lines,
        &vec![
            line(Hunk, "@@ -2,7 +2,7 @@", None, None),
            line(Context, "b", Some(2), Some(2)),
            line(Context, "c", Some(3), Some(3)),
            line(Context, "d", Some(4), Some(4)),
            line(Removed, "e", Some(5), None),
            line(Added, "E", None, Some(5)),
            line(Context, "f", Some(6), Some(6)),
            line(Context, "g", Some(7), Some(7)),
            line(Context, "h", Some(8), Some(8)),
        ]
    );
}

#[test]
fn missing_final_newline_is_flagged() {
    let old = base().file(path("n.txt"), "a\nb");
    let new = base().file(path("n.txt"), "a\nb\n");
    let r = run(&new, Some(&old));
    let DiffKind::Text { lines } = diff(&r, "n.txt") else { panic!("expected text") };
    let ends: Vec<(LineKind, &str, bool)> =
        lines.iter().map(|l| (l.kind, l.text.as_str(), l.no_newline)).collect();
    assert_eq!(
        ends,
        [
            (LineKind::Hunk, "@@ -1,2 +1,2 @@", false),
            (LineKind::Context, "a", false),
            (LineKind::Removed, "b", true),
            (LineKind::Added, "b", false),
        ]
    );
}

#[test]
fn changed_homepage_is_flagged_and_keys_keep_the_pending_order() {
    let old_meta = metadata_txt("experimental=False\n");
    let new_meta =
        metadata_txt("").replace("https://example.org/test_plugin", "https://example.org/new");
    let r = run(&plugin(&new_meta), Some(&plugin(&old_meta)));
    let row = |k: &str| r.metadata.iter().find(|m| m.key == k).expect("key is listed");
    let home = row("homepage");
    assert!(home.changed);
    assert_eq!(home.old.as_deref(), Some("https://example.org/test_plugin"));
    assert_eq!(home.new.as_deref(), Some("https://example.org/new"));
    assert!(!row("name").changed);
    assert_eq!(row("about").new.as_deref(), Some("It does nothing useful,\non two lines."));
    let removed = row("experimental");
    assert_eq!((removed.old.as_deref(), removed.new.as_deref()), (Some("False"), None));
    assert!(removed.changed);
    let keys: Vec<&str> = r.metadata.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys.first(), Some(&"name"));
    assert_eq!(keys.last(), Some(&"experimental"), "removed keys come last");
    assert!(r.metadata_notes.is_empty());
}

#[test]
fn unreadable_metadata_is_a_note_not_an_error() {
    let old = plugin("not a config file\n");
    let r = run(&base(), Some(&old));
    assert_eq!(r.metadata_notes.len(), 1, "{:?}", r.metadata_notes);
    assert!(r.metadata_notes[0].contains("approved"), "{:?}", r.metadata_notes);
    assert!(r.metadata.iter().all(|m| m.old.is_none() && m.changed));
}

#[test]
fn binary_file_is_skipped_with_its_reason() {
    let mut png = PNG_1X1.to_vec();
    png.push(0);
    let new = base().edit(&path("icon.png"), |e| e.data = png);
    let r = run(&new, Some(&base()));
    assert_eq!(status(&r, "icon.png"), FileStatus::Changed);
    assert_eq!(diff(&r, "icon.png"), &DiffKind::Skipped { reason: SkipReason::Binary });
    let latin1 = base().file(path("latin1.txt"), b"caf\xe9\n");
    let r = run(&latin1, Some(&base()));
    assert_eq!(diff(&r, "latin1.txt"), &DiffKind::Skipped { reason: SkipReason::Binary });
}

#[test]
fn oversized_file_is_skipped_and_identical_one_is_unchanged() {
    let big = "x".repeat(600 * 1024);
    let old = base().file(path("big.txt"), &big).file(path("same.txt"), &big);
    let new = base().file(path("big.txt"), format!("{big}y")).file(path("same.txt"), &big);
    let r = run(&new, Some(&old));
    assert_eq!(status(&r, "big.txt"), FileStatus::Changed);
    let reason = SkipReason::TooLarge { max_kib: 512 };
    assert_eq!(diff(&r, "big.txt"), &DiffKind::Skipped { reason });
    assert_eq!(reason.to_string(), "file larger than 512 KiB");
    assert_eq!(status(&r, "same.txt"), FileStatus::Unchanged);
}

#[test]
fn same_size_and_crc_with_other_bytes_is_changed() {
    let old = b"x = 1\n####".to_vec();
    let new = forge_crc(b"x = 2\n", crc32fast::hash(&old));
    assert_eq!((old.len(), crc32fast::hash(&new)), (new.len(), crc32fast::hash(&old)));
    let r = run(&base().file(path("f.py"), new), Some(&base().file(path("f.py"), old)));
    assert_eq!(status(&r, "f.py"), FileStatus::Changed);
}

/// `prefix` plus 4 bytes chosen so the CRC-32 is `target` (CRC is affine over GF(2)).
fn forge_crc(prefix: &[u8], target: u32) -> Vec<u8> {
    let crc_with = |x: u32| {
        let mut v = prefix.to_vec();
        v.extend_from_slice(&x.to_le_bytes());
        crc32fast::hash(&v)
    };
    let base = crc_with(0);
    // Rows: (effect of bit i on the CRC, the bit itself); eliminate to solve for `target`.
    let mut rows: Vec<(u32, u32)> = (0..32).map(|i| (crc_with(1 << i) ^ base, 1 << i)).collect();
    let (mut want, mut x) = (target ^ base, 0u32);
    for bit in (0..32).rev() {
        let Some(p) = (0..rows.len()).find(|&r| rows[r].0 >> bit & 1 == 1) else { continue };
        let pivot = rows.swap_remove(p);
        for r in &mut rows {
            if r.0 >> bit & 1 == 1 {
                *r = (r.0 ^ pivot.0, r.1 ^ pivot.1);
            }
        }
        if want >> bit & 1 == 1 {
            want ^= pivot.0;
            x ^= pivot.1;
        }
    }
    let mut v = prefix.to_vec();
    v.extend_from_slice(&x.to_le_bytes());
    v
}

#[test]
fn first_version_lists_every_file_as_added() {
    let r = run(&base(), None);
    assert!(r.first_version);
    assert!(r.files.iter().all(|f| f.status == FileStatus::Added && f.old_size.is_none()));
    assert_eq!(r.counts.added, r.files.len());
    assert_eq!(r.diffs.len(), r.files.len());
    assert!(r.metadata.iter().all(|m| m.old.is_none() && m.changed));
    let zip = base().build();
    assert_eq!(r.sha256, catalog::hash::sha256_hex(&zip));
    assert_eq!(r.total_size, zip.len() as u64);
}

#[test]
fn long_diffs_are_cut_per_file_and_in_total() {
    let limits = DiffLimits { max_lines_per_file: 10, max_lines_total: 12, ..Default::default() };
    let long: String = (0..20).map(|i| format!("line {i}\n")).collect();
    let new = base()
        .file(path("a_long.txt"), &long)
        .file(path("b_fits.txt"), "1\n2\n3\n4\n5\n6\n7\n8\n")
        .file(path("c_over_total.txt"), "1\n2\n3\n4\n")
        .file(path("d_after.txt"), "1\n");
    let r = compare(&new.build(), Some(&base().build()), &limits).unwrap();
    let reason = |f| match diff(&r, f) {
        DiffKind::Skipped { reason } => Some(reason.to_string()),
        DiffKind::Text { .. } => None,
    };
    assert_eq!(
        reason("a_long.txt").as_deref(),
        Some("diff too long (more than 10 lines for this file)")
    );
    assert_eq!(reason("b_fits.txt"), None);
    let cut = Some(
        "diff too long (cut after 12 lines in all: this and the remaining files are not shown)",
    );
    assert_eq!(reason("c_over_total.txt").as_deref(), cut);
    assert_eq!(reason("d_after.txt").as_deref(), cut, "the rest is cut too");
}

#[test]
fn report_serializes_for_the_template() {
    let new = base()
        .edit(&path("icon.png"), |e| e.data = b"\x89PNG\0new".to_vec())
        .file(path("x.py"), "x\n");
    let r = run(&new, Some(&base()));
    let json = serde_json::to_value(&r).unwrap();
    let diffs = json["diffs"].as_array().unwrap();
    let icon = diffs.iter().find(|d| d["path"] == path("icon.png")).unwrap();
    assert_eq!(icon["kind"], "skipped");
    assert_eq!(icon["reason"], "binary file");
    assert_eq!(icon["status"], "changed");
    let x = diffs.iter().find(|d| d["path"] == path("x.py")).unwrap();
    assert_eq!(x["kind"], "text");
    assert_eq!(x["lines"][0]["kind"], "hunk");
    assert_eq!(
        x["lines"][1],
        serde_json::json!({"kind": "added", "text": "x", "old": null, "new": 1, "no_newline": false})
    );
    assert_eq!(json["files"][0]["status"], "unchanged");
    assert_eq!(json["counts"]["changed"], 1);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let good = base().build();
    let limits = DiffLimits::default();
    let pending = compare(b"not a zip at all", None, &limits).unwrap_err();
    assert!(matches!(pending, DiffError::Unreadable { side: Side::Pending, .. }), "{pending}");
    let approved = compare(&good, Some(b"PK\x03\x04garbage"), &limits).unwrap_err();
    assert!(matches!(approved, DiffError::Unreadable { side: Side::Approved, .. }), "{approved}");
    assert!(compare(&[], None, &limits).is_err());
    // Every truncation and a flipped byte at every position: errors or reports, never panics.
    for cut in 0..good.len() {
        let _ = compare(&good[..cut], Some(&good), &limits);
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        let _ = compare(&bad, Some(&bad), &limits);
    }
}

#[test]
fn corrupt_entry_data_is_an_error() {
    let mut zip = base().file(path("z.py"), "print('hello world')\n".repeat(20)).build();
    // Flip a byte inside the last entry's compressed data, right before the central
    // directory: inflating or the CRC check must catch it.
    let central = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    zip[central - 3] ^= 0xff;
    let err = compare(&zip, None, &DiffLimits::default()).unwrap_err();
    assert!(matches!(err, DiffError::Unreadable { side: Side::Pending, .. }), "{err}");
}
