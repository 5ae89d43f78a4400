//! The three sandboxed tool runs of a scan (Bandit, detect-secrets, our `pyscan.py`) and
//! the mapping of each tool's JSON output to findings through the rule table. Exit codes
//! that mean "findings" are not failures; a crash, a timeout or output that is not the
//! expected JSON is the run's `error` (the scan is then incomplete, never "passed").

use std::path::Path;

use catalog::checks::ScanTool;
use serde_json::Value;

use super::sandbox::{self, Job, Outcome};
use super::{Finding, ToolRun, Tools, tool_finding};

/// The folder (inside the scratch folder) the zip is extracted to.
pub(super) const PLUGIN_DIR: &str = "plugin";
/// Our checks, embedded so the binary and the script never disagree.
pub(super) const PYSCAN: &str = include_str!("../../scan-tools/pyscan.py");

/// One tool's run and findings.
pub(super) type Ran = (ToolRun, Vec<Finding>);

/// Bandit on every Python file; `# nosec` is not obeyed (`--ignore-nosec`): a plugin must
/// not switch the reviewer's checks off. Exit 1 with JSON means findings.
pub(super) fn bandit(tools: &Tools, scratch: &Path, version: String) -> Ran {
    let args = ["-r", PLUGIN_DIR, "-f", "json", "-q", "--ignore-nosec"];
    let job = job(tools.venv.join("bin/bandit"), &args, scratch);
    run(tools, &job, ScanTool::Bandit, version, &[0, 1], parse_bandit)
}

/// detect-secrets on every file, one process, no verification over the network, no
/// baseline, allowlist comments not obeyed.
pub(super) fn detect_secrets(tools: &Tools, scratch: &Path, version: String) -> Ran {
    let args = [
        "-c",
        "1",
        "scan",
        "-n",
        "--all-files",
        "--disable-filter",
        "detect_secrets.filters.allowlist.is_line_allowlisted",
        PLUGIN_DIR,
    ];
    let job = job(tools.venv.join("bin/detect-secrets"), &args, scratch);
    run(tools, &job, ScanTool::DetectSecrets, version, &[0], parse_secrets)
}

/// Our Python checks (syntax, obfuscation, Qt6), with the venv's isolated python.
pub(super) fn pyscan(tools: &Tools, scratch: &Path, version: String) -> Ran {
    let script = scratch.join("pyscan.py");
    if let Err(e) = std::fs::write(&script, PYSCAN) {
        return failed(ScanTool::Files, version, format!("cannot write pyscan.py: {e}"), 0);
    }
    let args = ["-I", "-S", "-B", "pyscan.py", PLUGIN_DIR];
    let job = job(tools.venv.join("bin/python"), &args, scratch);
    run(tools, &job, ScanTool::Files, version, &[0], parse_pyscan)
}

fn job(program: std::path::PathBuf, args: &[&str], scratch: &Path) -> Job {
    Job { program, args: args.iter().map(|s| (*s).to_owned()).collect(), cwd: scratch.into() }
}

fn failed(tool: ScanTool, version: String, error: String, millis: u64) -> Ran {
    (ToolRun { tool, version, error: Some(error), millis }, Vec::new())
}

/// Runs the job and parses its output when it ended with an accepted exit code.
fn run(
    tools: &Tools,
    job: &Job,
    tool: ScanTool,
    version: String,
    ok_codes: &[i32],
    parse: fn(&Value) -> Result<Vec<Finding>, String>,
) -> Ran {
    let out = match sandbox::run(job, tools) {
        Ok(o) => o,
        Err(e) => return failed(tool, version, format!("cannot start {tool}: {e}"), 0),
    };
    let millis = out.millis;
    let parsed = exit_error(&out, tools, ok_codes).and_then(|()| {
        let doc: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("{tool} printed something that is not its JSON report ({e})"))?;
        parse(&doc).map_err(|e| format!("{tool}'s JSON report is not as expected: {e}"))
    });
    match parsed {
        Ok(findings) => (ToolRun { tool, version, error: None, millis }, findings),
        Err(e) => failed(tool, version, e, millis),
    }
}

/// Why the run's end is a failure, if it is.
fn exit_error(out: &Outcome, tools: &Tools, ok_codes: &[i32]) -> Result<(), String> {
    let Some(status) = out.status else {
        return Err(format!("timed out after {} s and was killed", tools.timeout.as_secs()));
    };
    if status.code().is_some_and(|c| ok_codes.contains(&c)) {
        return Ok(());
    }
    let tail = String::from_utf8_lossy(&out.stderr);
    let tail: String =
        tail.trim().chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
    Err(format!("exited with {status} ({tail})"))
}

/// Path inside the zip of a path the tool printed (relative to the scratch folder).
fn zip_path(printed: &str) -> String {
    let p = printed.strip_prefix("./").unwrap_or(printed);
    p.strip_prefix(PLUGIN_DIR).and_then(|p| p.strip_prefix('/')).unwrap_or(p).to_owned()
}

fn line_of(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|&n| n > 0)
}

fn parse_bandit(doc: &Value) -> Result<Vec<Finding>, String> {
    let results = doc.get("results").and_then(Value::as_array).ok_or("no `results` array")?;
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        let id = r.get("test_id").and_then(Value::as_str).ok_or("a result has no test_id")?;
        let file = r.get("filename").and_then(Value::as_str).ok_or("a result has no filename")?;
        let text = r.get("issue_text").and_then(Value::as_str).unwrap_or("");
        let line = r.get("line_number").and_then(line_of);
        let more = r.get("more_info").and_then(Value::as_str).unwrap_or("");
        let message = if more.is_empty() { text.to_owned() } else { format!("{text} See {more}") };
        out.push(tool_finding(ScanTool::Bandit, id, &zip_path(file), line, message));
    }
    Ok(out)
}

fn parse_secrets(doc: &Value) -> Result<Vec<Finding>, String> {
    let results = doc.get("results").and_then(Value::as_object).ok_or("no `results` object")?;
    let mut out = Vec::new();
    for (file, list) in results {
        for s in list.as_array().ok_or("a file's results are not a list")? {
            let kind = s.get("type").and_then(Value::as_str).ok_or("a secret has no type")?;
            let id = super::rules::secret_rule_id(kind);
            let line = s.get("line_number").and_then(line_of);
            let f =
                tool_finding(ScanTool::DetectSecrets, &id, &zip_path(file), line, String::new());
            out.push(Finding { message: secret_message(kind, f.waivable), ..f });
        }
    }
    Ok(out)
}

fn secret_message(kind: &str, waivable: bool) -> String {
    if waivable {
        format!(
            "{kind}: if this is a secret, remove it and revoke it; if it is not, waive this finding with a reason."
        )
    } else {
        format!(
            "{kind}: a credential is in the plugin. Revoke it now (anyone who downloaded the zip has it), remove it, and let users enter their own through QGIS's authentication manager."
        )
    }
}

fn parse_pyscan(doc: &Value) -> Result<Vec<Finding>, String> {
    let list = doc.get("findings").and_then(Value::as_array).ok_or("no `findings` array")?;
    let mut out = Vec::with_capacity(list.len());
    for f in list {
        let id = f.get("rule").and_then(Value::as_str).ok_or("a finding has no rule")?;
        let file = f.get("file").and_then(Value::as_str).ok_or("a finding has no file")?;
        let message = f.get("message").and_then(Value::as_str).unwrap_or("").to_owned();
        let line = f.get("line").and_then(line_of);
        out.push(tool_finding(ScanTool::Files, id, file, line, message));
    }
    Ok(out)
}
