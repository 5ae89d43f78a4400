//! File analysis in Rust, from the zip's own entries (names, Unix modes, magic bytes):
//! binaries, scripts, hidden files, executable Python files, and tool configuration that
//! was found and not obeyed. Pure: the entries come from [`super::extract`].

use super::extract::{FileInfo, is_tool_config};
use super::{Finding, finding};

/// Every file finding of these entries.
pub(super) fn analyse(files: &[FileInfo]) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in files {
        if let Some(what) = binary_kind(f) {
            out.push(finding("FILE_BINARY", &f.name, None, format!(
                "{what}: compiled code cannot be reviewed and is not accepted; ship Python source, or ask users to install the library (see the QGIS plugin guidelines)."
            )));
        }
        if let Some(ext) = script_ext(&f.name) {
            out.push(finding("FILE_SCRIPT", &f.name, None, format!(
                "Shell script (.{ext}): reviewers check what it runs; remove it if the plugin does not need it."
            )));
        }
        if is_hidden(&f.name) {
            out.push(finding("FILE_HIDDEN", &f.name, None,
                "Hidden file or folder: usually left over from development; remove it from the zip.".into()));
        }
        if f.name.ends_with(".py") && f.unix_mode.is_some_and(|m| m & 0o111 != 0) {
            out.push(finding("FILE_EXECUTABLE", &f.name, None,
                "Python file with the executable bit: plugin modules are imported, not run; `chmod -x` it.".into()));
        }
        if let Some(what) = ignored_config(f) {
            out.push(finding("CONFIG_IGNORED", &f.name, None, format!(
                "{what}: the service runs its checks with its own settings and does not obey configuration shipped in the plugin (nor `# nosec` / allowlist comments)."
            )));
        }
    }
    out
}

/// The kind of compiled binary a file is, by extension or magic number.
fn binary_kind(f: &FileInfo) -> Option<String> {
    let lower = f.name.to_ascii_lowercase();
    for ext in [".so", ".dll", ".exe", ".dylib", ".pyd"] {
        if lower.ends_with(ext) || (ext == ".so" && lower.contains(".so.")) {
            return Some(format!("Native library or program ({ext})"));
        }
    }
    let h = &f.head;
    if h.starts_with(b"\x7fELF") {
        return Some("ELF executable or library".into());
    }
    if h.starts_with(b"MZ") {
        return Some("Windows (PE) executable or library".into());
    }
    let macho: [[u8; 4]; 6] = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
        [0xca, 0xfe, 0xba, 0xbe],
        [0xbe, 0xba, 0xfe, 0xca],
    ];
    // 0xcafebabe is also a Java class file; both are compiled code nobody can review.
    if macho.iter().any(|m| h.starts_with(m)) {
        return Some("Mach-O (macOS) executable or library".into());
    }
    None
}

fn script_ext(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    ["sh", "bat", "ps1", "cmd"].into_iter().find(|ext| lower.ends_with(&format!(".{ext}")))
}

/// A component starting with a dot, except the git files nobody runs.
fn is_hidden(name: &str) -> bool {
    name.split('/').any(|p| p.starts_with('.') && p != ".gitignore" && p != ".gitattributes")
}

/// What tool configuration a file holds, if any.
fn ignored_config(f: &FileInfo) -> Option<String> {
    let base = f.name.rsplit('/').next().unwrap_or(&f.name);
    if is_tool_config(&f.name) {
        return Some(format!("Tool configuration `{base}` (left out of the scanned copy)"));
    }
    let text = f.config_text.as_deref()?;
    let sections: &[&str] = match base {
        "pyproject.toml" => &["[tool.bandit", "[tool.detect-secrets", "[tool.detect_secrets"],
        _ => &["[bandit", "[flake8", "[detect-secrets", "[detect_secrets"],
    };
    let found: Vec<&str> =
        text.lines().map(str::trim).filter(|l| sections.iter().any(|s| l.starts_with(s))).collect();
    (!found.is_empty()).then(|| format!("`{base}` section {}", found.join(", ")))
}
