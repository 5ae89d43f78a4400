//! The shared conformance data (`../shared/conformance` from the workspace root): the
//! reference's own fixtures with their expected verdicts, and PyPI's malformed-zip corpus.

use std::path::PathBuf;

use catalog::names::PackageName;

use super::*;

fn conformance() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    assert!(dir.is_dir(), "conformance data missing: {} must exist", dir.display());
    dir
}

fn zips_in(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("dir entry").path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (name, std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display())))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{} is empty", dir.display());
    out
}

#[test]
fn pypi_reject_corpus_is_refused_as_archive_problems() {
    let dir = conformance().join("pypi-zipdata/reject");
    let mut failures = Vec::new();
    for (name, bytes) in zips_in(&dir) {
        match validate(&bytes, &Mode::New, &Options::default()) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(r) if !r.errors.iter().all(|p| p.code.as_str().starts_with("archive.")) => failures
                .push(format!(
                    "{name}: {:?}",
                    r.errors.iter().map(|p| &p.code).collect::<Vec<_>>()
                )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pypi_accept_corpus_is_refused_only_as_not_a_plugin() {
    let dir = conformance().join("pypi-zipdata/accept");
    let mut failures = Vec::new();
    for (name, bytes) in zips_in(&dir) {
        match validate(&bytes, &Mode::New, &Options::default()) {
            Ok(_) => failures.push(format!("{name}: accepted as a plugin")),
            Err(r) => {
                let codes: Vec<&str> = r.errors.iter().map(|p| p.code.as_str()).collect();
                if !codes
                    .iter()
                    .all(|c| matches!(*c, "package.no_folder" | "package.missing_plugin_files"))
                {
                    failures.push(format!("{name}: {codes:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reference_fixtures_match_expected_verdicts() {
    let dir = conformance();
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
    let mut n = 0;
    let mut failures = Vec::new();
    for line in tsv.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut cols = line.split('\t');
        let (Some(file), Some(expected)) = (cols.next(), cols.next()) else { continue };
        let bytes = std::fs::read(dir.join("zips").join(file)).expect("fixture");
        let got = validate(&bytes, &Mode::New, &Options::default());
        n += 1;
        match (expected, &got) {
            ("valid", Ok(_)) | ("invalid", Err(_)) => {}
            _ => failures
                .push(format!("{file}: expected {expected}, got {:?}", got.map(|p| p.package))),
        }
    }
    assert_eq!(n, 13, "expected.tsv rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reference_fixtures_fail_for_the_documented_reasons() {
    let dir = conformance().join("zips");
    let codes = |f: &str, mode: &Mode| -> Vec<String> {
        let bytes = std::fs::read(dir.join(f)).expect("fixture");
        validate(&bytes, mode, &Options::default())
            .err()
            .map(|r| r.errors.into_iter().map(|p| p.code.as_str().to_owned()).collect())
            .unwrap_or_default()
    };
    assert_eq!(codes("invalid_package_name.zip", &Mode::New), vec!["package.not_identifier"]);
    let existing = Mode::Existing(PackageName::parse("test-modul").expect("name"));
    assert_eq!(codes("invalid_package_name.zip", &existing), Vec::<String>::new());
    assert_eq!(codes("plugin_without_license.zip", &Mode::New), vec!["license.missing"]);
    assert_eq!(codes("path_with_backslash.zip", &Mode::New), vec!["archive.backslash"]);
    assert_eq!(codes("multi_parents_plugin.zip", &Mode::New), vec!["package.multiple_roots"]);
    for (f, key) in [
        ("invalid_metadata_link.zip", "tracker"),
        ("invalid_url_scheme.zip", "tracker"),
        ("web_not_exist.zip", "homepage"),
    ] {
        let c = codes(f, &Mode::New);
        assert!(
            c.contains(&"metadata.bad_url".to_owned()) && c.contains(&"license.missing".to_owned()),
            "{f}: {c:?} ({key})"
        );
    }
    // A new version of an existing plugin: folder must match.
    let other = Mode::Existing(PackageName::parse("other").expect("name"));
    assert_eq!(codes("valid_plugin_0.0.2.zip", &other), vec!["package.mismatch"]);
    let bytes = std::fs::read(dir.join("change_metadata.zip")).expect("fixture");
    let p = validate(&bytes, &Mode::New, &Options::default()).expect("valid");
    assert_eq!(p.tracker.as_deref(), Some("https://github.com/"));
    assert_eq!(p.version.as_str(), "0.0.2");
}
