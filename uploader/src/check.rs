//! `uploader check FILE.zip [--json] [--existing PACKAGE]`: validates a plugin zip offline
//! with exactly the rules of an upload and reports every problem; exit 0 valid, 1 invalid,
//! 2 usage error (bad arguments, unreadable file).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use catalog::names::PackageName;

use crate::validate::{self, Mode, Options, Problem};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The plugin zip to check.
    pub file: PathBuf,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Check as a new version of this existing plugin (folder must match; PEP 8 name rule off).
    #[arg(long, value_name = "PACKAGE")]
    pub existing: Option<String>,
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
        },
        Err(r) => Report {
            valid: false,
            package_name: None,
            version: None,
            metadata: serde_json::Map::new(),
            warnings: r.warnings,
            errors: r.errors,
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
    let rep = report(&bytes, &mode, &opts);
    if args.json {
        match serde_json::to_string_pretty(&rep) {
            Ok(s) => println!("{s}"),
            Err(e) => return usage_error(&format!("cannot encode the report: {e}")),
        }
    } else {
        print_text(&args.file.display().to_string(), &rep);
    }
    if rep.valid { ExitCode::SUCCESS } else { ExitCode::from(1) }
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
