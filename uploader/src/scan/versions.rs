//! Which tool versions the venv holds, read from its `*.dist-info` folders (no process
//! started), and the check that they are exactly the pinned ones of
//! `uploader/scan-tools/requirements.txt`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};

/// The lock file, embedded: the versions this binary was built and tested with.
pub(super) const REQUIREMENTS: &str = include_str!("../../scan-tools/requirements.txt");
/// The tools a scan runs (the rest of the lock are their dependencies).
const TOOLS: &[&str] = &["bandit", "detect-secrets"];

/// Installed distributions: normalised name → version.
#[derive(Debug, Default)]
pub(super) struct Installed(BTreeMap<String, String>);

impl Installed {
    /// `bandit 1.9.4` (or `bandit ?` when not installed).
    pub(super) fn label(&self, tool: &str) -> String {
        format!("{tool} {}", self.0.get(&normalise(tool)).map_or("?", String::as_str))
    }
}

/// Our own checks' version: the uploader's.
pub(super) fn ours() -> String {
    format!("uploader {}", env!("CARGO_PKG_VERSION"))
}

/// PEP 503 normalisation, with `_` as the separator dist-info folders use.
fn normalise(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// What the venv's site-packages hold.
pub(super) fn installed(venv: &Path) -> Installed {
    let mut out = BTreeMap::new();
    let Ok(libs) = std::fs::read_dir(venv.join("lib")) else { return Installed(out) };
    for lib in libs.flatten() {
        let Ok(entries) = std::fs::read_dir(lib.path().join("site-packages")) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".dist-info") else { continue };
            if let Some((n, v)) = stem.rsplit_once('-') {
                out.insert(normalise(n), v.to_owned());
            }
        }
    }
    Installed(out)
}

/// `name==version` pins of the lock file.
pub(super) fn pinned() -> Vec<(String, String)> {
    REQUIREMENTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with("--"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (n.to_owned(), v.trim_end_matches('\\').to_owned()))
        .collect()
}

/// Errors unless every tool is executable and every pin installed at its version.
pub(super) fn check(venv: &Path) -> Result<()> {
    let fix = format!(
        "run scripts/scan-tools.sh (it installs uploader/scan-tools/requirements.txt into {}), or set PLUGINS_SCAN_VENV / --scan-venv to a venv it made",
        venv.display()
    );
    let mut problems = Vec::new();
    for exe in TOOLS.iter().chain(&["python"]) {
        let p = venv.join("bin").join(exe);
        if !is_executable(&p) {
            problems.push(format!("{} is missing", p.display()));
        }
    }
    let have = installed(venv);
    for (name, version) in pinned() {
        match have.0.get(&normalise(&name)) {
            Some(v) if *v == version => {}
            Some(v) => problems.push(format!("{name} is {v}, the pin is {version}")),
            None => problems.push(format!("{name}=={version} is not installed")),
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!("the scan tools are not ready: {}; {fix}", problems.join("; "))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
