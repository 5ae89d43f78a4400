//! The scan of a plugin zip (issue 15), shared by the service's scan worker, the dry-run
//! endpoint and `uploader check --scan`: the rule table, file analysis, and the reference's
//! tools (Bandit, detect-secrets) plus our Python checks run as sandboxed subprocesses on a
//! private extracted copy. Never executes plugin code. Blocking: call it off the runtime.

mod extract;
mod files;
pub mod fixtures;
pub mod rules;
mod sandbox;
mod tools;
mod versions;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use catalog::checks::{ScanStatus, ScanTool, Severity};

/// Where the pinned tools live and how much each run may take.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The venv `scripts/scan-tools.sh` creates (`bin/bandit`, `bin/detect-secrets`,
    /// `bin/python`).
    pub venv: PathBuf,
    /// Wall-clock limit of each tool run; a run past it is killed and the scan incomplete.
    pub timeout: Duration,
    /// Address-space limit of each tool run, in bytes.
    pub memory_bytes: u64,
    /// Private scratch space for extracted copies (a fresh subfolder per scan).
    pub scratch: PathBuf,
}

/// What a scan is told beside the zip.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Folders of vendored code declared by the authors, relative to the plugin folder.
    pub vendored: Vec<String>,
}

/// One finding, as stored, shown and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub tool: ScanTool,
    pub severity: Severity,
    /// Path inside the zip ("" for the package as a whole).
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
    pub waivable: bool,
    /// Under a vendored folder: listed apart.
    pub vendored: bool,
}

/// How one tool's run went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolRun {
    pub tool: ScanTool,
    /// The tool's own version (`1.9.4`), or the uploader's for our checks.
    pub version: String,
    /// `None`: ran to the end; else why the scan is incomplete (crash, timeout, bad output).
    pub error: Option<String>,
    pub millis: u64,
}

/// The result of one scan.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// `Validated`, `Incomplete` or `Blocked` (never `Validating`).
    pub status: ScanStatus,
    /// Every finding but the Qt6 ones, sorted by file, line, rule.
    pub findings: Vec<Finding>,
    pub tools: Vec<ToolRun>,
    pub qgis4: Qgis4Readiness,
}

/// QGIS 4 readiness: the Qt6 rules' findings, and whether there are none.
#[derive(Debug, Clone, Serialize)]
pub struct Qgis4Readiness {
    pub ready: bool,
    pub findings: Vec<Finding>,
}

/// Where `scripts/scan-tools.sh` puts the venv, relative to the working directory (the
/// repository root for `make serve` and the tests); `PLUGINS_SCAN_VENV` overrides it.
pub const DEFAULT_VENV: &str = "target/scan-venv";

impl Tools {
    /// Checks that every pinned tool is installed (the service refuses to start without
    /// them; `check --scan` fails with this message).
    pub fn check(&self) -> anyhow::Result<()> {
        versions::check(&self.venv)?;
        sandbox::probe(&self.scratch).map_err(|e| {
            anyhow::anyhow!("the scan sandbox does not work here: {e} (util-linux's prlimit and unshare, and user namespaces, are needed)")
        })
    }
}

/// Scans `zip` (already accepted by the validator, or at least a zip): extracts a private
/// copy, runs file analysis and every tool, maps findings through the rule table. A tool
/// that crashes or times out makes the report `Incomplete`; `Err` only when the scan could
/// not run at all (scratch space, unreadable zip).
pub fn scan(zip: &[u8], options: &ScanOptions, tools: &Tools) -> anyhow::Result<ScanReport> {
    // The tools run in the scratch folder: relative paths (the default venv is
    // `target/scan-venv`) must not be resolved from there.
    let tools = &Tools {
        venv: std::path::absolute(&tools.venv).context("the scan venv's path")?,
        scratch: std::path::absolute(&tools.scratch).context("the scan scratch's path")?,
        ..tools.clone()
    };
    std::fs::create_dir_all(&tools.scratch)
        .with_context(|| format!("cannot create scan scratch {}", tools.scratch.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("scan-")
        .tempdir_in(&tools.scratch)
        .with_context(|| format!("cannot create a folder in {}", tools.scratch.display()))?;
    // tempfile makes it 0700; the copy goes one level down so its name is ours.
    let result = scan_in(zip, options, tools, dir.path());
    extract::remove(dir.path());
    result
}

/// The steps of a scan inside its private scratch folder.
fn scan_in(
    zip: &[u8],
    options: &ScanOptions,
    tools: &Tools,
    scratch: &std::path::Path,
) -> anyhow::Result<ScanReport> {
    let got = extract::extract(zip, &scratch.join(tools::PLUGIN_DIR))?;
    let installed = versions::installed(&tools.venv);
    let (mut runs, mut findings) = (Vec::new(), files::analyse(&got.files));
    findings.extend(qgis_max_version(got.metadata.as_ref()));
    let ran = std::thread::scope(|s| {
        let b = s.spawn(|| tools::bandit(tools, scratch, installed.label("bandit")));
        let d =
            s.spawn(|| tools::detect_secrets(tools, scratch, installed.label("detect-secrets")));
        let p = tools::pyscan(tools, scratch, versions::ours());
        [b.join(), d.join(), Ok(p)]
    });
    for r in ran {
        let (run, found) = r.map_err(|_| anyhow::anyhow!("a scan tool thread panicked"))?;
        runs.push(run);
        findings.extend(found);
    }
    Ok(assemble(findings, runs, &vendored_prefixes(zip, options)))
}

/// Status, vendored marks, sorting, and the Qt6 findings apart.
fn assemble(mut findings: Vec<Finding>, tools: Vec<ToolRun>, vendored: &[String]) -> ScanReport {
    for f in &mut findings {
        f.vendored = vendored.iter().any(|v| f.file.starts_with(v.as_str()));
    }
    findings.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
    findings.dedup();
    let (qt6, findings): (Vec<_>, Vec<_>) =
        findings.into_iter().partition(|f| f.tool == ScanTool::Qt6);
    let failed = tools.iter().any(|t| t.error.is_some());
    // A secret is a secret: vendored findings block too.
    let status = if findings.iter().any(|f| f.severity == Severity::Critical) {
        ScanStatus::Blocked
    } else if failed {
        ScanStatus::Incomplete
    } else {
        ScanStatus::Validated
    };
    let ready = qt6.is_empty() && !failed;
    ScanReport { status, findings, tools, qgis4: Qgis4Readiness { ready, findings: qt6 } }
}

/// `<folder>/<path>/` of each declared vendored folder (paths relative to the plugin folder).
fn vendored_prefixes(zip: &[u8], options: &ScanOptions) -> Vec<String> {
    let Some(folder) = crate::validate::top_folder(zip) else { return Vec::new() };
    options
        .vendored
        .iter()
        .map(|v| v.trim_matches('/'))
        .filter(|v| !v.is_empty())
        .map(|v| format!("{folder}/{v}/"))
        .collect()
}

/// QT6_QGIS_MAX_VERSION from metadata.txt (read with the validator's parser): QGIS 4 only
/// loads plugins whose qgisMaximumVersion is 4 or more (unset: the minimum's major.99).
fn qgis_max_version(metadata: Option<&(String, Vec<u8>)>) -> Option<Finding> {
    let (file, bytes) = metadata?;
    let fields = crate::validate::metadata::parse(bytes, 1 << 20).ok()?;
    let get =
        |k: &str| fields.iter().find(|f| f.key.eq_ignore_ascii_case(k)).map(|f| f.value.trim());
    let major = |v: &str| v.split('.').next().and_then(|m| m.trim().parse::<u32>().ok());
    let message = match get("qgisMaximumVersion") {
        Some(max) if major(max)? >= 4 => return None,
        Some(max) => format!(
            "qgisMaximumVersion={max}: QGIS 4 will not offer the plugin. Once it works with Qt6 and QGIS 4, set qgisMaximumVersion=4.99."
        ),
        None if get("qgisMinimumVersion").and_then(major).is_some_and(|m| m >= 4) => return None,
        None => "qgisMaximumVersion is not set, so QGIS takes the minimum's major version .99 (3.99): QGIS 4 will not offer the plugin. Once it works with Qt6 and QGIS 4, set qgisMaximumVersion=4.99.".to_owned(),
    };
    Some(finding("QT6_QGIS_MAX_VERSION", file, None, message))
}

/// A finding of one of our rules (the id must be in the table).
pub(crate) fn finding(id: &str, file: &str, line: Option<u32>, message: String) -> Finding {
    tool_finding(rules::rule_or_unknown(id).tool, id, file, line, message)
}

/// A finding a tool reported: severity and waivability from the table; an unknown id keeps
/// the reporting tool and gets the fallback's.
pub(crate) fn tool_finding(
    tool: ScanTool,
    id: &str,
    file: &str,
    line: Option<u32>,
    message: String,
) -> Finding {
    let rule = rules::rule(id);
    let fallback = &rules::UNKNOWN;
    let r = rule.unwrap_or(fallback);
    Finding {
        rule: id.to_owned(),
        tool: rule.map_or(tool, |r| r.tool),
        severity: r.severity,
        file: file.to_owned(),
        line,
        message: if message.is_empty() { r.summary.to_owned() } else { message },
        waivable: r.waivable,
        vendored: false,
    }
}
