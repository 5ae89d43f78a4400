//! The plugin validator: takes the bytes of an uploaded zip and either returns the checked
//! plugin (typed metadata, package, version, QGIS range, icon, sha256, warnings) or every
//! problem found. Pure: no disk writes, no extraction, no network.
//!
//! Order (reference §2.2 with decisions.md §4; step numbers are the reference's):
//!
//! - 1 size; 2 zip framing (`archive`): EOCD, ZIP64, local headers vs central directory,
//!   extras, name encoding, data descriptors, encryption, methods, symlinks, duplicates;
//! - 3 names: absolute/`..`, `.pyc`, `__MACOSX`/`.git`/`__pycache__`;
//! - 6 backslashes, drive letters, then control characters, non-canonical and unportable
//!   names, length, depth, junk files, case collisions;
//! - 5/7 exactly one top-level folder, and the first entry is inside it;
//! - 4 every entry inflated to its end under the limits, sizes and CRC checked;
//! - 8 PEP 8 folder name (new) / folder equals the plugin being updated (existing);
//! - 9–20 plugin files, metadata.txt, required keys, icon, supportsQt6, booleans, ASCII
//!   folder name, legacy <1.8 rule, URLs, LICENSE, author, trimming; plus field limits and
//!   XML-illegal characters.
//!
//! Name-only checks (5–7) run before the CRC pass (4) so the expensive pass runs last and
//! a zip that is not a plugin is called that, not corrupt.
//!
//! Archive and structure problems fail fast; metadata problems are all collected.

// Lints that keep the validator's surface honest: what only the crate uses is not `pub`.
#![warn(unreachable_pub)]

pub(crate) mod archive;
pub mod builder;
mod checked;
mod code;
pub(crate) mod metadata;
mod options;
mod paths;
mod problem;
mod rules;

pub use checked::CheckedPlugin;
pub use code::{ProblemCode, UnknownProblemCode};
pub use options::{Limits, MAX_UPLOAD_BYTES, Mode, Options};
pub use problem::{Problem, Rejection};

use archive::Archive;
use rules::PluginFiles;

/// Validates an uploaded plugin zip with exactly the rules of an upload.
pub fn validate(zip: &[u8], mode: &Mode, opts: &Options) -> Result<CheckedPlugin, Rejection> {
    let limits = &opts.limits;
    check_size(zip, limits).map_err(Rejection::one)?;
    // 2. Is a zip, with sound framing.
    let archive = archive::parse(zip, limits).map_err(Rejection::one)?;
    let names: Vec<&str> = archive.entries.iter().map(|e| e.name.as_str()).collect();
    check_names(&names, limits).map_err(Rejection::one)?;
    // 5 and 7. Exactly one top-level folder, named by the first entry.
    let folder = rules::plugin_folder(&names).map_err(Rejection::one)?;
    let files = read_every_entry(&archive, &folder, limits).map_err(Rejection::one)?;
    rules::check_plugin(&archive, &names, &folder, files, mode, opts, zip)
}

/// The folder named by the first entry of a zip whose framing is sound, without reading any
/// entry: enough to tell which plugin an upload is for before validating it.
pub fn top_folder(zip: &[u8]) -> Option<String> {
    let archive = archive::parse(zip, &Limits::default()).ok()?;
    let first = archive.entries.first()?;
    let folder = first.name.split('/').next()?;
    (!folder.is_empty()).then(|| folder.to_owned())
}

/// Step 1: the upload size.
fn check_size(zip: &[u8], limits: &Limits) -> Result<(), Problem> {
    if zip.len() as u64 <= limits.max_upload_bytes {
        return Ok(());
    }
    Err(Problem::new(
        ProblemCode::ArchiveTooLarge,
        format!(
            "File is too big. Max size is {} Megabytes",
            rules::py_float(limits.max_upload_bytes as f64 / 1_000_000.0)
        ),
        "Remove data files, test data and binaries that the plugin does not need at run time.",
    ))
}

/// Steps 3, 6 and the hardening rules, on the raw entry names.
fn check_names(names: &[&str], limits: &Limits) -> Result<(), Problem> {
    paths::check_step3(names)?;
    paths::check_step6(names)?;
    paths::check_hardening(names, limits)
}

/// Step 4: every entry read to its end under the limits, sizes and CRC checked; keeps the
/// bytes of the files the rules parse (`metadata.txt`, `__init__.py`).
fn read_every_entry(
    archive: &Archive<'_>,
    folder: &str,
    limits: &Limits,
) -> Result<PluginFiles, Problem> {
    archive.check_declared(limits)?;
    let wanted_meta = format!("{folder}/metadata.txt");
    let wanted_init = format!("{folder}/__init__.py");
    let mut totals = archive::Totals::default();
    let mut files = PluginFiles::default();
    for e in &archive.entries {
        let keep = if e.name == wanted_meta {
            limits.max_metadata_bytes + 1
        } else if e.name == wanted_init {
            limits.max_init_bytes
        } else {
            0
        };
        let (bytes, longer) = archive.read(e, keep, &mut totals, limits)?;
        if e.name == wanted_meta {
            files.metadata = Some((bytes, longer));
        } else if e.name == wanted_init {
            files.init = Some(bytes);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_configparser;
#[cfg(test)]
mod tests_corpus;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_hostile;
