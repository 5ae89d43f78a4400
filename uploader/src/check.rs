//! `uploader check FILE.zip [--json] [--existing PACKAGE] [--scan]`: validates a plugin zip
//! offline with exactly the rules of an upload and reports every problem; with `--scan` also
//! runs exactly the service's scan (issue 15) with the same pinned tools. Exit 0 valid (and
//! validated), 1 invalid or blocked, 2 usage error (bad arguments, unreadable file, scan
//! tools missing), 3 valid but the scan incomplete (a tool failed: nothing was proven).
//! [`full_report`] is also the dry-run endpoint's document.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use catalog::names::PackageName;

use catalog::checks::{ScanStatus, Severity};

use crate::config::ScanArgs;
use crate::scan::{self, Finding, ScanOptions, ToolRun, Tools};
use crate::validate::{self, Mode, Options, Problem};

/// `uploader check`'s arguments.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 valid (with --scan: and validated), 1 invalid or blocked by a critical finding, 2 usage error or scan tools missing, 3 valid but the scan incomplete (a tool crashed or timed out)."
)]
pub struct CheckArgs {
    /// The plugin zip to check.
    pub file: PathBuf,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Check as a new version of this existing plugin (folder must match; PEP 8 name rule off).
    #[arg(long, value_name = "PACKAGE")]
    pub existing: Option<String>,
    /// Also run the service's scan (Bandit, detect-secrets, file and Qt6 checks) with the
    /// pinned tools of `scripts/scan-tools.sh`.
    #[arg(long)]
    pub scan: bool,
    /// Folders of vendored code (relative to the plugin folder), as declared on the site.
    #[arg(long, value_name = "PATH", requires = "scan")]
    pub vendored: Vec<String>,
    #[command(flatten)]
    pub tools: ScanArgs,
}

/// The stable `--json` document.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub valid: bool,
    pub package_name: Option<String>,
    pub version: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub warnings: Vec<Problem>,
    pub errors: Vec<Problem>,
    /// With a scan: its outcome (`blocked`, `validated`, `incomplete`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_status: Option<ScanStatus>,
    /// With a scan: the tools' runs and the findings (Qt6 ones apart, below).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qgis4_ready: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qgis4_findings: Option<Vec<Finding>>,
}

/// A scan as `check --scan --json` and the dry-run endpoint show it (the API's stored scans
/// add `queued_on`, `finished_on`, `override` and each finding's `waived`).
#[derive(Debug, serde::Serialize)]
pub struct ScanJson {
    pub status: ScanStatus,
    pub tools: Vec<ToolRun>,
    pub findings: Vec<Finding>,
}

/// The validator's report, then (when `scan` is given and the zip is readable) the scan's.
/// A scan that cannot run at all (scratch space) leaves `scan` out and is logged.
pub fn full_report(
    bytes: &[u8],
    mode: &Mode,
    opts: &Options,
    scan: Option<(&Tools, &ScanOptions)>,
) -> Report {
    let mut rep = report(bytes, mode, opts);
    let Some((tools, options)) = scan else { return rep };
    if validate::top_folder(bytes).is_none() {
        return rep;
    }
    match scan::scan(bytes, options, tools) {
        Ok(s) => {
            rep.validation_status = Some(s.status);
            rep.qgis4_ready = Some(s.qgis4.ready);
            rep.qgis4_findings = Some(s.qgis4.findings);
            rep.scan = Some(ScanJson { status: s.status, tools: s.tools, findings: s.findings });
        }
        Err(e) => tracing::warn!("the scan could not run: {e:#}"),
    }
    rep
}

/// Validates the bytes and builds the report (shared by the CLI and its tests).
pub fn report(bytes: &[u8], mode: &Mode, opts: &Options) -> Report {
    match validate::validate(bytes, mode, opts) {
        Ok(p) => Report {
            valid: true,
            package_name: Some(p.package.to_string()),
            version: Some(p.version.to_string()),
            metadata: p
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
            warnings: p.warnings,
            errors: Vec::new(),
            validation_status: None,
            scan: None,
            qgis4_ready: None,
            qgis4_findings: None,
        },
        Err(r) => Report {
            valid: false,
            package_name: None,
            version: None,
            metadata: serde_json::Map::new(),
            warnings: r.warnings,
            errors: r.errors,
            validation_status: None,
            scan: None,
            qgis4_ready: None,
            qgis4_findings: None,
        },
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let mode = match &args.existing {
        None => Mode::New,
        Some(p) => match PackageName::parse(p) {
            Ok(p) => Mode::Existing(p),
            Err(e) => return usage_error(&format!("--existing: {e}")),
        },
    };
    let opts = Options::default();
    // Read one byte more than the limit: enough to say "too big" without loading a huge file.
    let limit = opts.limits.max_upload_bytes.saturating_add(1);
    let mut bytes = Vec::new();
    let read = std::fs::File::open(&args.file).and_then(|f| f.take(limit).read_to_end(&mut bytes));
    if let Err(e) = read {
        return usage_error(&format!("cannot read `{}`: {e}", args.file.display()));
    }
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return usage_error(&format!("cannot create a scratch folder: {e}")),
    };
    let tools = args.tools.scan_config(scratch.path()).tools;
    if args.scan
        && let Err(e) = tools.check()
    {
        return usage_error(&format!("{e:#}"));
    }
    let options = ScanOptions { vendored: args.vendored.clone() };
    let rep = full_report(&bytes, &mode, &opts, args.scan.then_some((&tools, &options)));
    if args.json {
        match serde_json::to_string_pretty(&rep) {
            Ok(s) => println!("{s}"),
            Err(e) => return usage_error(&format!("cannot encode the report: {e}")),
        }
    } else {
        print_text(&args.file.display().to_string(), &rep);
        print_scan(&rep);
    }
    if args.scan && rep.scan.is_none() {
        eprintln!("error: the scan could not run (see the log above)");
        return ExitCode::from(3);
    }
    exit_code(&rep)
}

/// 0 valid and (if scanned) validated; 1 invalid or blocked; 3 incomplete.
fn exit_code(rep: &Report) -> ExitCode {
    match (rep.valid, rep.validation_status) {
        (false, _) | (_, Some(ScanStatus::Blocked)) => ExitCode::from(1),
        (true, Some(ScanStatus::Incomplete)) => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    }
}

/// The scan's part of the text output: every finding with how to waive it.
fn print_scan(rep: &Report) {
    let Some(scan) = &rep.scan else { return };
    let pkg = rep.package_name.clone().unwrap_or_else(|| "<package>".into());
    let mut out = format!("scan: {}\n", scan.status);
    for t in &scan.tools {
        match &t.error {
            None => out.push_str(&format!("  {} {}: ran in {} ms\n", t.tool, t.version, t.millis)),
            Some(e) => out.push_str(&format!(
                "  {} {}: FAILED, the scan is incomplete: {e}\n",
                t.tool, t.version
            )),
        }
    }
    for f in &scan.findings {
        out.push_str(&finding_text(f, &pkg));
    }
    let ready = rep.qgis4_ready.unwrap_or(false);
    out.push_str(&format!("QGIS 4: {}\n", if ready { "ready" } else { "not ready" }));
    for f in rep.qgis4_findings.iter().flatten() {
        out.push_str(&finding_text(f, &pkg));
    }
    print!("{out}");
}

fn finding_text(f: &Finding, pkg: &str) -> String {
    let at = match f.line {
        Some(l) => format!("{}:{l}", f.file),
        None => f.file.clone(),
    };
    let vendored = if f.vendored { " (vendored)" } else { "" };
    let mut s = format!("{}[{}] {at}{vendored}: {}\n", f.severity, f.rule, f.message);
    if f.waivable {
        let body = serde_json::json!({"rule": f.rule, "file": f.file, "reason": "…"});
        s.push_str(&format!("  waive: POST /api/v1/plugins/{pkg}/waivers {body}\n"));
    } else if f.severity == Severity::Critical {
        s.push_str("  cannot be waived: remove it and upload again\n");
    } else if f.tool != catalog::checks::ScanTool::Qt6 {
        s.push_str("  cannot be waived: a reviewer looks at it\n");
    }
    s
}

fn print_text(file: &str, rep: &Report) {
    let mut out = String::new();
    if rep.valid {
        out.push_str(&format!(
            "{file}: valid plugin {} {}\n",
            rep.package_name.as_deref().unwrap_or("?"),
            rep.version.as_deref().unwrap_or("?")
        ));
    } else {
        out.push_str(&format!("{file}: invalid ({} error(s))\n", rep.errors.len()));
    }
    for (label, list) in [("error", &rep.errors), ("warning", &rep.warnings)] {
        for p in list {
            out.push_str(&format!("{label}[{}]: {}\n", p.code, p.message));
            let mut at = Vec::new();
            if let Some(f) = &p.file {
                at.push(format!("file {f}"));
            }
            if let Some(k) = &p.key {
                at.push(format!("key {k}"));
            }
            if !at.is_empty() {
                out.push_str(&format!("  at: {}\n", at.join(", ")));
            }
            if !p.hint.is_empty() {
                out.push_str(&format!("  hint: {}\n", p.hint));
            }
        }
    }
    print!("{out}");
}
