//! QGIS's own plugin installer, headless: Debian's python3-qgis drives `pyplugin_installer`
//! through `tests/qgis/installer_probe.py` against a repository URL (qgis-clients.md §2).
//! Shared by the single-machine tests (`qgis.rs`, `versions.rs`) and the cluster's.

use std::process::Command;

use serde_json::Value;

/// The Python QGIS's bindings are installed for (Debian's).
pub(crate) const PYTHON: &str = "/usr/bin/python3";

/// Fails (never skips) when QGIS's Python bindings are missing.
pub(crate) fn require_qgis() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import qgis.core, sys; sys.path.insert(0, '/usr/share/qgis/python'); import pyplugin_installer.installer_data"])
        .env("QT_QPA_PLATFORM", "offscreen")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "QGIS's Python bindings are missing ({PYTHON} cannot import qgis.core and pyplugin_installer): \
         run `make test` (it installs them) or `apt-get install -y --no-install-recommends python3-qgis`"
    );
}

/// The probe against the repository `repo_url` (another site than the demo's).
pub(crate) fn run_probe_at(
    repo_url: &str,
    pretend: Option<&str>,
    install: Option<(&str, bool)>,
) -> (Value, tempfile::TempDir) {
    require_qgis();
    let profile = tempfile::Builder::new().prefix("qgis-profile-").tempdir().expect("profile dir");
    let script = super::workspace_root().join("tests/qgis/installer_probe.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(&script)
        .arg("--repo-url")
        .arg(repo_url)
        .arg("--profile")
        .arg(profile.path())
        .env("QT_QPA_PLATFORM", "offscreen")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME");
    if let Some(v) = pretend {
        cmd.args(["--pretend-version", v]);
    }
    if let Some((id, experimental)) = install {
        cmd.args(["--install", id]);
        if experimental {
            cmd.arg("--experimental");
        }
    }
    let out = cmd.output().expect("running the QGIS installer probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "installer probe failed ({}):\n{stdout}\n{stderr}", out.status);
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("probe output is not JSON ({e}):\n{stdout}\n{stderr}"));
    (json, profile)
}
