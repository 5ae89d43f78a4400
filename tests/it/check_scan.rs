//! `uploader check --scan` as a process, through the release binary and the pinned tools
//! (target/scan-venv): the exit status, the text (finding, rule, how to waive) and the JSON
//! document shared with the dry-run endpoint, for the scan's fixture plugins.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::deploy::{scan_venv, uploader_binary};
use crate::support::plugins::{ScanFixture, scan_fixture};

fn check(kind: ScanFixture, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("plugin.zip");
    std::fs::write(&zip, scan_fixture(kind, "scanned")).unwrap();
    run(&zip, extra, &scan_venv())
}

fn run(zip: &Path, extra: &[&str], venv: &Path) -> Output {
    Command::new(uploader_binary())
        .arg("check")
        .arg("--scan")
        .arg("--scan-venv")
        .arg(venv)
        .args(extra)
        .arg(zip)
        .env_remove("PLUGINS_SCAN_VENV")
        .output()
        .unwrap()
}

fn json(kind: ScanFixture) -> (i32, Value) {
    let out = check(kind, &["--json"]);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), doc)
}

fn text(kind: ScanFixture) -> (i32, String) {
    let out = check(kind, &[]);
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
}

fn rules(doc: &Value) -> Vec<&str> {
    doc["scan"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect()
}

#[test]
fn aws_key_is_blocked_exit_1_and_cannot_be_waived() {
    let (code, doc) = json(ScanFixture::AwsKey);
    assert_eq!(code, 1);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["validation_status"], "blocked");
    let f = &doc["scan"]["findings"][0];
    assert_eq!(f["rule"], "AWSKeyDetector");
    assert_eq!(f["tool"], "detect-secrets");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["file"], "scanned/settings.py");
    assert_eq!(f["line"], 3);
    assert_eq!((f["waivable"].as_bool(), f["vendored"].as_bool()), (Some(false), Some(false)));
    let tools: Vec<_> = doc["scan"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tool"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["bandit", "detect-secrets", "files"]);
    assert_eq!(doc["scan"]["tools"][0]["version"], "1.9.4");
    let (code, out) = text(ScanFixture::AwsKey);
    assert_eq!(code, 1);
    assert!(out.contains("scan: blocked"), "{out}");
    assert!(out.contains("critical[AWSKeyDetector] scanned/settings.py:3:"), "{out}");
    assert!(out.contains("cannot be waived"), "{out}");
}

#[test]
fn shell_true_is_validated_exit_0_with_how_to_waive() {
    let (code, doc) = json(ScanFixture::ShellTrue);
    assert_eq!(code, 0);
    assert_eq!(doc["validation_status"], "validated");
    assert!(rules(&doc).contains(&"B602"));
    let (code, out) = text(ScanFixture::ShellTrue);
    assert_eq!(code, 0);
    assert!(out.contains("warning[B602] scanned/run.py:5:"), "{out}");
    assert!(out.contains("cannot be waived: a reviewer looks at it"), "{out}");
    assert!(
        out.contains(r#"waive: POST /api/v1/plugins/scanned/waivers {"file":"scanned/run.py","reason":"…","rule":"B404"}"#),
        "{out}"
    );
}

#[test]
fn obfuscated_code_and_binaries_are_blocked() {
    for (kind, rule) in
        [(ScanFixture::Obfuscated, "PY_OBFUSCATED"), (ScanFixture::NativeLibrary, "FILE_BINARY")]
    {
        let (code, doc) = json(kind);
        assert_eq!((code, doc["validation_status"].as_str()), (1, Some("blocked")), "{kind:?}");
        assert!(rules(&doc).contains(&rule), "{kind:?}: {doc}");
    }
}

#[test]
fn syntax_error_and_ignored_config_are_listed() {
    let (code, doc) = json(ScanFixture::SyntaxError);
    assert_eq!(code, 0);
    let f = doc["scan"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "PY_SYNTAX")
        .unwrap();
    assert_eq!((f["file"].as_str(), f["line"].as_u64()), (Some("scanned/broken.py"), Some(3)));
    let (_, doc) = json(ScanFixture::SteeringConfig);
    let r = rules(&doc);
    assert!(r.contains(&"CONFIG_IGNORED") && r.contains(&"B102"), "{r:?}");
}

#[test]
fn vendored_folder_marks_findings() {
    let out = check(ScanFixture::Vendored, &["--json", "--vendored", "ext_libs"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f =
        doc["scan"]["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "B602").unwrap();
    assert_eq!(f["vendored"], true);
}

#[test]
fn qgis4_readiness() {
    let (_, doc) = json(ScanFixture::PyQt5Only);
    assert_eq!(doc["qgis4_ready"], false);
    let qt6: Vec<_> = doc["qgis4_findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(qt6.contains(&"QT6_PYQT5_IMPORT") && qt6.contains(&"QT6_QGIS_MAX_VERSION"), "{qt6:?}");
    let (code, doc) = json(ScanFixture::Qgis4Ready);
    assert_eq!((code, &doc["qgis4_ready"]), (0, &Value::Bool(true)));
    let (_, out) = text(ScanFixture::Qgis4Ready);
    assert!(out.contains("QGIS 4: ready"), "{out}");
}

#[test]
fn missing_tools_are_a_usage_error_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("plugin.zip");
    std::fs::write(&zip, scan_fixture(ScanFixture::Clean, "scanned")).unwrap();
    let out = run(&zip, &[], &dir.path().join("no-venv"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scripts/scan-tools.sh"), "{err}");
}

#[test]
fn a_hanging_tool_gives_exit_3_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let real = scan_venv();
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::os::unix::fs::symlink(real.join("lib"), venv.join("lib")).unwrap();
    for t in ["detect-secrets", "python"] {
        std::os::unix::fs::symlink(real.join("bin").join(t), venv.join("bin").join(t)).unwrap();
    }
    std::fs::write(venv.join("bin/bandit"), "#!/bin/sh\nsleep 300\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(venv.join("bin/bandit"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    let zip = dir.path().join("plugin.zip");
    std::fs::write(&zip, scan_fixture(ScanFixture::Clean, "scanned")).unwrap();
    let out = run(&zip, &["--json", "--scan-timeout", "2"], &venv);
    assert_eq!(out.status.code(), Some(3));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["validation_status"], "incomplete");
    assert!(doc["scan"]["tools"][0]["error"].as_str().unwrap().contains("timed out"));
}
