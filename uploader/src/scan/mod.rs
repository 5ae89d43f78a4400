//! The scan of a plugin zip (issue 15), shared by the service's scan worker, the dry-run
//! endpoint and `uploader check --scan`: the rule table, file analysis, and the reference's
//! tools (Bandit, detect-secrets) plus our Python checks run as sandboxed subprocesses on a
//! private extracted copy. Never executes plugin code. Blocking: call it off the runtime.

use std::path::PathBuf;
use std::time::Duration;

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
    /// The tool's own version (`bandit 1.9.4`), or ours for built-in checks.
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
        todo!("issue 15: scan engine")
    }
}

/// Scans `zip` (already accepted by the validator, or at least a zip): extracts a private
/// copy, runs file analysis and every tool, maps findings through the rule table. A tool
/// that crashes or times out makes the report `Incomplete`; `Err` only when the scan could
/// not run at all (scratch space, unreadable zip).
pub fn scan(zip: &[u8], options: &ScanOptions, tools: &Tools) -> anyhow::Result<ScanReport> {
    let _ = (zip, options, tools);
    todo!("issue 15: scan engine")
}
