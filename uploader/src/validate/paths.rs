//! Checks on the raw entry names of a zip (reference §2.2 steps 3 and 6, plus the hardening
//! of reliability catalogue A13–A20 and A32): never normalised first, so `a/../b` or
//! `/etc/x` are seen for what they are.

use std::collections::HashMap;

use super::code::ProblemCode;
use super::options::Limits;
use super::problem::Problem;

/// Folders the reference refuses anywhere in a path (exact component match).
const FORBIDDEN_DIRS: [&str; 3] = ["__MACOSX", ".git", "__pycache__"];

/// Windows device names: a file called `con.py` cannot be created on Windows.
const WINDOWS_DEVICES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

const HINT_PATHS: &str = "Zip the plugin folder itself with relative paths, for example `cd <parent folder> && zip -r plugin.zip <plugin folder>`.";

fn problem(code: ProblemCode, name: &str, message: String, hint: &str) -> Problem {
    Problem::new(code, message, hint).with_file(name)
}

fn path_information(name: &str, code: ProblemCode) -> Problem {
    problem(
        code,
        name,
        format!("For security reasons, zip file cannot contain path information (found '{name}')"),
        HINT_PATHS,
    )
}

/// Reference step 3, entry by entry: absolute paths and `..`, compiled Python, junk folders.
pub(crate) fn check_step3(names: &[&str]) -> Result<(), Problem> {
    for &name in names {
        if name.starts_with('/') {
            return Err(path_information(name, ProblemCode::ArchiveAbsolutePath));
        }
        if name.split('/').any(|c| c == "..") {
            return Err(path_information(name, ProblemCode::ArchiveTraversal));
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".pyc") || lower.ends_with(".pyo") {
            return Err(problem(
                ProblemCode::ArchivePyc,
                name,
                "For security reasons, zip file cannot contain .pyc file".to_owned(),
                "Remove compiled Python files (*.pyc, *.pyo) and __pycache__ folders before zipping; QGIS compiles the plugin itself.",
            ));
        }
        let parts: Vec<&str> = name.split('/').collect();
        for dir in FORBIDDEN_DIRS {
            if let Some(i) = parts.iter().position(|p| *p == dir) {
                let message = if i == 0 {
                    format!(
                        "For security reasons, zip file cannot contain <strong> '{dir}' </strong> directory. However, there is one present at the root of the archive."
                    )
                } else {
                    format!(
                        "For security reasons, zip file cannot contain <strong> '{dir}' </strong> directory. However, it has been found at <strong> '{name}' </strong>."
                    )
                };
                return Err(problem(
                    ProblemCode::ArchiveForbiddenDir,
                    name,
                    message,
                    "Remove __MACOSX, .git and __pycache__ folders before zipping (`zip -r plugin.zip <folder> -x '*/.git/*' '*/__pycache__/*'`, or `git archive`).",
                ));
            }
        }
    }
    Ok(())
}

/// Reference step 6: backslashes and drive letters.
pub(crate) fn check_step6(names: &[&str]) -> Result<(), Problem> {
    for &name in names {
        if name.contains('\\') {
            return Err(problem(
                ProblemCode::ArchiveBackslash,
                name,
                format!(
                    "Your archive does not conform to the ZIP specification, it cannot contain backslashes in file names (found '{name}'). Please try again with a valid ZIP file (or use a different archiving tool)."
                ),
                "Use a zip tool that writes `/` as the path separator (7-Zip, Info-ZIP zip, Python's zipfile, or Windows' \"Send to → Compressed folder\" on Windows 10 or later).",
            ));
        }
        let b = name.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            return Err(problem(
                ProblemCode::ArchiveDriveLetter,
                name,
                format!(
                    "Your archive does not conform to the ZIP specification, it cannot contain drive letters in file names (found '{name}'). Please try again with a valid ZIP file (or use a different archiving tool)."
                ),
                HINT_PATHS,
            ));
        }
    }
    Ok(())
}

/// Characters that must not appear in a name: C0/C1 controls, DEL, Unicode line and
/// paragraph separators, bidi overrides and invisible format characters.
pub(crate) fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Hardening beyond the reference: control characters, non-canonical and unportable
/// names, lengths, depth, junk files, case collisions and file/folder clashes.
pub(crate) fn check_hardening(names: &[&str], limits: &Limits) -> Result<(), Problem> {
    for &name in names {
        check_name(name, limits)?;
    }
    check_case_collisions(names)
}

/// One name: visible characters, length, depth, canonical form, then each component.
fn check_name(name: &str, limits: &Limits) -> Result<(), Problem> {
    if let Some(c) = name.chars().find(|&c| is_unprintable(c)) {
        return Err(problem(
            ProblemCode::ArchiveControlChar,
            name,
            format!(
                "Zip entry '{}' contains the invisible or control character U+{:04X} in its name.",
                name.escape_default(),
                c as u32
            ),
            "Rename the file using visible characters only.",
        ));
    }
    if name.len() > limits.max_name_len {
        return Err(problem(
            ProblemCode::ArchiveNameTooLong,
            name,
            format!(
                "Zip entry name '{name}' is {} bytes long; at most {} are allowed.",
                name.len(),
                limits.max_name_len
            ),
            "Use shorter file and folder names.",
        ));
    }
    let body = name.strip_suffix('/').unwrap_or(name);
    let parts: Vec<&str> = body.split('/').collect();
    if parts.len() > limits.max_path_depth {
        return Err(problem(
            ProblemCode::ArchivePathTooDeep,
            name,
            format!(
                "Zip entry '{name}' is nested {} folders deep; at most {} levels are allowed.",
                parts.len(),
                limits.max_path_depth
            ),
            "Flatten the folder structure of the plugin.",
        ));
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return Err(problem(
            ProblemCode::ArchiveNonCanonicalPath,
            name,
            format!(
                "Zip entry '{name}' has an empty or `.` path component; unzip tools normalise such paths differently."
            ),
            HINT_PATHS,
        ));
    }
    for part in &parts {
        check_component(name, part)?;
    }
    Ok(())
}

/// One path component: portable to Windows, and not an operating-system junk file.
fn check_component(name: &str, part: &str) -> Result<(), Problem> {
    if let Some(why) = unportable(part) {
        return Err(problem(
            ProblemCode::ArchiveUnportableName,
            name,
            format!("Zip entry '{name}' cannot be unpacked on Windows: '{part}' {why}."),
            "Rename the file or folder; QGIS users on Windows could not install the plugin.",
        ));
    }
    if part == ".DS_Store" || part.eq_ignore_ascii_case("Thumbs.db") {
        return Err(problem(
            ProblemCode::ArchiveJunkFile,
            name,
            format!("Zip entry '{name}' is an operating-system junk file."),
            "Remove .DS_Store and Thumbs.db files before zipping (`zip -r plugin.zip <folder> -x '*.DS_Store'`).",
        ));
    }
    Ok(())
}

/// Case-insensitive file systems (Windows, macOS) would merge names that differ only in
/// case, or a file and a folder of the same name.
fn check_case_collisions(names: &[&str]) -> Result<(), Problem> {
    let mut files: HashMap<String, &str> = HashMap::new();
    let mut dirs: HashMap<String, String> = HashMap::new();
    for &name in names {
        let body = name.strip_suffix('/').unwrap_or(name);
        let parts: Vec<&str> = body.split('/').collect();
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            if let Some(other) = dirs.get(&dir.to_lowercase()) {
                if *other != dir {
                    return Err(case_clash(name, other, &dir));
                }
            } else {
                dirs.insert(dir.to_lowercase(), dir);
            }
        }
        if name.ends_with('/') {
            if let Some(other) = dirs.get(&body.to_lowercase())
                && *other != body
            {
                return Err(case_clash(name, other, body));
            }
            dirs.insert(body.to_lowercase(), body.to_owned());
        } else if let Some(other) = files.insert(body.to_lowercase(), name) {
            return Err(case_clash(name, other, body));
        }
    }
    for (lower, file) in &files {
        if let Some(dir) = dirs.get(lower) {
            return Err(problem(
                ProblemCode::ArchiveDuplicateName,
                file,
                format!("The zip file has both a file '{file}' and a folder '{dir}/'."),
                "Rename one of them.",
            ));
        }
    }
    Ok(())
}

fn case_clash(name: &str, other: &str, this: &str) -> Problem {
    problem(
        ProblemCode::ArchiveCaseCollision,
        name,
        format!(
            "Zip entries '{other}' and '{this}' differ only in upper/lower case; on Windows and macOS one would overwrite the other."
        ),
        "Rename one of them so that the names differ by more than case.",
    )
}

fn unportable(part: &str) -> Option<&'static str> {
    if part.ends_with('.') || part.ends_with(' ') {
        return Some("ends with a dot or a space");
    }
    if part.contains(['<', '>', ':', '"', '|', '?', '*']) {
        return Some("contains one of the characters < > : \" | ? *");
    }
    let stem = part.split('.').next().unwrap_or(part);
    if WINDOWS_DEVICES.iter().any(|d| d.eq_ignore_ascii_case(stem.trim_end())) {
        return Some("is a reserved device name");
    }
    None
}
