//! The engine against the real pinned tools (target/scan-venv, made by
//! `scripts/scan-tools.sh`), on the shared fixture plugins; plus fake venvs whose tools
//! hang, crash or print garbage, which must make a scan incomplete, never validated.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use catalog::checks::{ScanStatus, ScanTool, Severity};

use super::fixtures::{ScanFixture, builder, executable_py, scan_fixture};
use super::rules::{RULES, SECRET_TYPES, rule};
use super::*;

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scan-venv")
}

fn tools_in(venv: PathBuf, scratch: &Path) -> Tools {
    Tools {
        venv,
        timeout: Duration::from_secs(60),
        memory_bytes: 1 << 30,
        scratch: scratch.to_path_buf(),
    }
}

fn scan_with(zip: &[u8], vendored: &[&str]) -> ScanReport {
    let dir = tempfile::tempdir().unwrap();
    let tools = tools_in(venv(), dir.path());
    tools.check().expect("scan tools installed: run scripts/scan-tools.sh");
    let opts = ScanOptions { vendored: vendored.iter().map(|s| (*s).to_owned()).collect() };
    let report = scan(zip, &opts, &tools).unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the scratch copy is removed after the scan");
    report
}

fn scan_kind(kind: ScanFixture) -> ScanReport {
    scan_with(&scan_fixture(kind, "scanned"), &[])
}

fn rules_of(r: &ScanReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule.as_str()).collect()
}

fn find<'a>(r: &'a ScanReport, rule: &str) -> &'a Finding {
    r.findings
        .iter()
        .chain(&r.qgis4.findings)
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} in {:#?}", r.findings))
}

fn assert_tools_ran(r: &ScanReport) {
    let tools: Vec<_> = r.tools.iter().map(|t| t.tool).collect();
    assert_eq!(tools, [ScanTool::Bandit, ScanTool::DetectSecrets, ScanTool::Files]);
    for t in &r.tools {
        assert_eq!(t.error, None, "{t:?}");
    }
    assert_eq!(r.tools[0].version, "1.9.4");
    assert_eq!(r.tools[1].version, "1.5.0");
}

#[test]
fn rule_table_is_consistent() {
    let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len(), "rule ids are unique");
    for r in RULES {
        assert!(!(r.severity == Severity::Critical && r.waivable), "{} critical+waivable", r.id);
        if r.tool == ScanTool::Qt6 {
            assert!(r.severity == Severity::Info && !r.waivable, "{}", r.id);
        }
    }
    for (_, id) in SECRET_TYPES {
        assert_eq!(rule(id).map(|r| r.tool), Some(ScanTool::DetectSecrets), "{id}");
    }
    assert!(rule("B999").is_none());
    let unknown = tool_finding(ScanTool::Bandit, "B999", "p/x.py", Some(1), String::new());
    assert_eq!(
        (unknown.severity, unknown.waivable, unknown.tool),
        (Severity::Warning, true, ScanTool::Bandit)
    );
}

/// Every id the pinned tools can emit, asked from the tools themselves.
#[test]
fn every_id_of_the_pinned_tools_is_in_the_table() {
    let py = "from bandit.core import extension_loader as el\n\
        m = el.MANAGER\n\
        print('\\n'.join(sorted(set(m.plugins_by_id) | set(m.blacklist_by_id))))\n\
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class as g\n\
        for t, c in g().items(): print('DS', t, '|', c.__name__)\n";
    let out = Command::new(venv().join("bin/python")).args(["-c", py]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = 0;
    for line in text.lines() {
        if let Some(ds) = line.strip_prefix("DS ") {
            let (kind, class) = ds.split_once(" | ").unwrap();
            assert_eq!(rules::secret_rule_id(kind), class, "detect-secrets type {kind}");
            assert!(rule(class).is_some(), "detect-secrets plugin {class} not in RULES");
        } else {
            assert_eq!(rule(line).map(|r| r.tool), Some(ScanTool::Bandit), "Bandit id {line}");
        }
        seen += 1;
    }
    assert!(seen > 90, "the tools listed their ids ({seen})");
}

#[test]
fn clean_plugin_is_validated_with_every_tool_run() {
    let r = scan_kind(ScanFixture::Clean);
    assert_tools_ran(&r);
    assert_eq!(r.status, ScanStatus::Validated, "{:#?}", r.findings);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    // No qgisMaximumVersion: QGIS takes 3.99.
    assert!(!r.qgis4.ready);
    assert_eq!(find(&r, "QT6_QGIS_MAX_VERSION").file, "scanned/metadata.txt");
}

#[test]
fn aws_key_blocks() {
    let r = scan_kind(ScanFixture::AwsKey);
    assert_eq!(r.status, ScanStatus::Blocked);
    let f = find(&r, "AWSKeyDetector");
    assert_eq!(
        (f.file.as_str(), f.line, f.severity, f.waivable),
        ("scanned/settings.py", Some(3), Severity::Critical, false)
    );
    assert_eq!(f.tool, ScanTool::DetectSecrets);
    assert!(f.message.contains("Revoke"), "{}", f.message);
}

#[test]
fn shell_true_is_a_warning_and_validated() {
    let r = scan_kind(ScanFixture::ShellTrue);
    assert_eq!(r.status, ScanStatus::Validated, "{:#?}", r.findings);
    let f = find(&r, "B602");
    assert_eq!(
        (f.file.as_str(), f.line, f.severity, f.waivable),
        ("scanned/run.py", Some(5), Severity::Warning, false)
    );
    assert!(rules_of(&r).contains(&"B404"));
}

#[test]
fn eval_of_decoded_data_is_obfuscated_and_blocks() {
    let r = scan_kind(ScanFixture::Obfuscated);
    assert_eq!(r.status, ScanStatus::Blocked);
    let f = find(&r, "PY_OBFUSCATED");
    assert_eq!(
        (f.file.as_str(), f.line, f.severity),
        ("scanned/loader.py", Some(5), Severity::Critical)
    );
    assert_eq!(find(&r, "B307").severity, Severity::Warning);
}

#[test]
fn native_library_blocks() {
    let r = scan_kind(ScanFixture::NativeLibrary);
    assert_eq!(r.status, ScanStatus::Blocked);
    assert_eq!(find(&r, "FILE_BINARY").file, "scanned/lib/native.so");
}

#[test]
fn binary_by_magic_script_hidden_and_executable_files() {
    let zip = builder(ScanFixture::Clean, "scanned")
        .stored("scanned/data/tool.bin", b"MZ\x90\x00\x03\x00\x00\x00")
        .file("scanned/install.sh", "#!/bin/sh\necho hi\n")
        .file("scanned/.env", "x=1\n")
        .file("scanned/.gitignore", "*.pyc\n")
        .entry(executable_py("scanned/cli.py", "print('hi')\n"))
        .build();
    let r = scan_with(&zip, &[]);
    assert_eq!(r.status, ScanStatus::Blocked);
    assert_eq!(find(&r, "FILE_BINARY").file, "scanned/data/tool.bin");
    assert_eq!(find(&r, "FILE_SCRIPT").severity, Severity::Warning);
    let hidden: Vec<_> =
        r.findings.iter().filter(|f| f.rule == "FILE_HIDDEN").map(|f| f.file.as_str()).collect();
    assert_eq!(hidden, ["scanned/.env"], ".gitignore is not reported");
    assert_eq!(find(&r, "FILE_EXECUTABLE").file, "scanned/cli.py");
}

#[test]
fn syntax_error_has_its_line() {
    let r = scan_kind(ScanFixture::SyntaxError);
    assert_eq!(r.status, ScanStatus::Validated);
    let f = find(&r, "PY_SYNTAX");
    assert_eq!((f.file.as_str(), f.line), ("scanned/broken.py", Some(3)));
}

#[test]
fn shipped_tool_config_is_reported_and_not_obeyed() {
    let r = scan_kind(ScanFixture::SteeringConfig);
    let ignored: Vec<_> =
        r.findings.iter().filter(|f| f.rule == "CONFIG_IGNORED").map(|f| f.file.as_str()).collect();
    assert_eq!(ignored, ["scanned/.bandit", "scanned/setup.cfg"]);
    // `.bandit` skips B102 and `# nosec` marks the line: Bandit reports it anyway.
    assert_eq!(find(&r, "B102").line, Some(2));
}

#[test]
fn vendored_findings_are_marked() {
    let zip = scan_fixture(ScanFixture::Vendored, "scanned");
    let r = scan_with(&zip, &["ext_libs"]);
    assert!(find(&r, "B602").vendored);
    assert_eq!(r.status, ScanStatus::Validated);
    let r = scan_with(&zip, &[]);
    assert!(!find(&r, "B602").vendored);
}

#[test]
fn vendored_secret_still_blocks() {
    let zip = builder(ScanFixture::Clean, "scanned")
        .file("scanned/ext_libs/keys.py", "KEY = 'AKIAZ7QGISPLUGINS4XQ'\n")
        .build();
    let r = scan_with(&zip, &["ext_libs/"]);
    assert_eq!(r.status, ScanStatus::Blocked);
    assert!(find(&r, "AWSKeyDetector").vendored);
}

#[test]
fn pyqt5_plugin_is_not_qgis4_ready() {
    let r = scan_kind(ScanFixture::PyQt5Only);
    assert!(!r.qgis4.ready);
    assert_eq!(r.status, ScanStatus::Validated);
    assert!(r.findings.iter().all(|f| f.tool != ScanTool::Qt6), "Qt6 findings are apart");
    let mut rules: Vec<_> = r.qgis4.findings.iter().map(|f| f.rule.as_str()).collect();
    rules.dedup();
    for want in [
        "QT6_PYQT5_IMPORT",
        "QT6_UNSCOPED_ENUM",
        "QT6_REMOVED_API",
        "QT6_EXEC_UNDERSCORE",
        "QT6_QGIS_MAX_VERSION",
    ] {
        assert!(rules.contains(&want), "{want} in {rules:?}");
    }
}

#[test]
fn qgis4_ready_plugin_is_ready() {
    let r = scan_kind(ScanFixture::Qgis4Ready);
    assert!(r.qgis4.ready, "{:#?}", r.qgis4.findings);
    assert_eq!(r.status, ScanStatus::Validated);
}

/// One Qt6 rule: `code` in `p/x.py` gives `rule` at line 1 whose message says `fix`.
fn qt6_case(code: &str, rule: &str, fix: &str) {
    let zip = builder(ScanFixture::Qgis4Ready, "scanned").file("scanned/x.py", code).build();
    let r = scan_with(&zip, &[]);
    let f = r.qgis4.findings.iter().find(|f| f.rule == rule && f.file == "scanned/x.py");
    let f = f.unwrap_or_else(|| panic!("{rule} for {code:?}: {:#?}", r.qgis4.findings));
    assert_eq!((f.line, f.severity, f.waivable), (Some(1), Severity::Info, false));
    assert!(f.message.contains(fix), "{}", f.message);
    assert!(!r.qgis4.ready);
}

#[test]
fn qt6_pyqt5_import() {
    qt6_case("from PyQt5.QtWidgets import QDialog\n", "QT6_PYQT5_IMPORT", "qgis.PyQt.QtWidgets");
}

#[test]
fn qt6_exec_underscore() {
    qt6_case("dialog.exec_()\n", "QT6_EXEC_UNDERSCORE", "exec()");
}

#[test]
fn qt6_unscoped_enum() {
    qt6_case("x = Qt.AlignLeft\n", "QT6_UNSCOPED_ENUM", "Qt.AlignmentFlag.AlignLeft");
    qt6_case("g = QgsWkbTypes.PointGeometry\n", "QT6_UNSCOPED_ENUM", "Qgis.GeometryType.Point");
}

#[test]
fn qt6_removed_api() {
    qt6_case("r = QRegExp('a')\n", "QT6_REMOVED_API", "QRegularExpression");
    qt6_case("from qgis.PyQt.QtWebKitWidgets import QWebView\n", "QT6_REMOVED_API", "QtWebEngine");
    qt6_case("w = QFontMetrics(font).width('abc')\n", "QT6_REMOVED_API", "horizontalAdvance");
    qt6_case("d = event.delta()\n", "QT6_REMOVED_API", "angleDelta");
    qt6_case("s = qApp.desktop()\n", "QT6_REMOVED_API", "primaryScreen");
}

#[test]
fn qt6_qgis_max_version() {
    let zip = builder(ScanFixture::PyQt5Only, "scanned").without("scanned/dialog.py").build();
    let r = scan_with(&zip, &[]);
    let f = find(&r, "QT6_QGIS_MAX_VERSION");
    assert_eq!((f.file.as_str(), f.tool), ("scanned/metadata.txt", ScanTool::Qt6));
    assert!(
        f.message.contains("qgisMaximumVersion=3.99") && f.message.contains("4.99"),
        "{}",
        f.message
    );
}

/// A venv whose `bandit` is `script` (detect-secrets and python are the real ones).
fn fake_venv(dir: &Path, script: &str) -> PathBuf {
    let v = dir.join("venv");
    std::fs::create_dir_all(v.join("bin")).unwrap();
    for real in ["detect-secrets", "python"] {
        std::os::unix::fs::symlink(venv().join("bin").join(real), v.join("bin").join(real))
            .unwrap();
    }
    std::os::unix::fs::symlink(venv().join("lib"), v.join("lib")).unwrap();
    let b = v.join("bin/bandit");
    std::fs::write(&b, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o755)).unwrap();
    v
}

fn scan_with_fake_bandit(script: &str, timeout: Duration) -> ScanReport {
    let dir = tempfile::tempdir().unwrap();
    let mut tools = tools_in(fake_venv(dir.path(), script), &dir.path().join("scratch"));
    tools.timeout = timeout;
    scan(&scan_fixture(ScanFixture::Clean, "scanned"), &ScanOptions::default(), &tools).unwrap()
}

#[test]
fn a_tool_that_hangs_is_killed_and_the_scan_incomplete() {
    let started = std::time::Instant::now();
    let r = scan_with_fake_bandit("sleep 300", Duration::from_secs(3));
    assert!(started.elapsed() < Duration::from_secs(30), "killed at the deadline");
    assert_eq!(r.status, ScanStatus::Incomplete);
    let err = r.tools[0].error.as_deref().unwrap();
    assert!(err.contains("timed out"), "{err}");
    assert!(!r.qgis4.ready || r.tools[2].error.is_none());
}

#[test]
fn a_tool_that_crashes_or_prints_garbage_makes_the_scan_incomplete() {
    let r = scan_with_fake_bandit("echo 'Traceback: boom' >&2; exit 2", Duration::from_secs(30));
    assert_eq!(r.status, ScanStatus::Incomplete);
    assert!(r.tools[0].error.as_deref().unwrap().contains("boom"));
    let r = scan_with_fake_bandit("echo 'not json'; exit 0", Duration::from_secs(30));
    assert_eq!(r.status, ScanStatus::Incomplete);
    assert!(r.tools[0].error.as_deref().unwrap().contains("not its JSON"));
    let r = scan_with_fake_bandit("echo '{\"results\": 3}'; exit 1", Duration::from_secs(30));
    assert_eq!(r.status, ScanStatus::Incomplete);
}

#[test]
fn a_tool_without_network_cannot_connect() {
    let r = scan_with_fake_bandit(
        "python -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\" && echo '{\"results\": []}'",
        Duration::from_secs(30),
    );
    assert_eq!(r.status, ScanStatus::Incomplete, "the connection must fail: {:?}", r.tools[0]);
}

#[test]
fn missing_tools_say_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let err = tools_in(dir.path().join("nope"), dir.path()).check().unwrap_err().to_string();
    assert!(
        err.contains("scripts/scan-tools.sh") && err.contains("bin/bandit is missing"),
        "{err}"
    );
}

#[test]
fn unreadable_zip_is_an_error_not_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let tools = tools_in(venv(), dir.path());
    assert!(scan(b"not a zip", &ScanOptions::default(), &tools).is_err());
}

/// README.md's rule table is `rules::markdown_table()`; `UPDATE_README=1` rewrites it.
#[test]
fn readme_rule_table_matches_rules() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- rules:begin -->\n", "<!-- rules:end -->");
    let start = readme.find(begin).expect("README has the rules:begin marker") + begin.len();
    let stop = readme.find(end).expect("README has the rules:end marker");
    let want = rules::markdown_table();
    if readme[start..stop] != want && std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &readme[..start], &readme[stop..])).unwrap();
        return;
    }
    assert_eq!(
        readme[start..stop],
        want,
        "README's rule table is stale: run this test with UPDATE_README=1"
    );
}

/// The default venv is relative (`target/scan-venv`); the tools run in the scratch folder.
#[test]
fn a_relative_venv_path_works() {
    let dir = tempfile::tempdir().unwrap();
    // Tests run in the crate's folder.
    let tools = tools_in(PathBuf::from("../target/scan-venv"), dir.path());
    let r = scan(&scan_fixture(ScanFixture::ShellTrue, "scanned"), &ScanOptions::default(), &tools)
        .unwrap();
    assert_tools_ran(&r);
}
