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

pub mod archive;
pub mod bench;
pub mod builder;
pub mod metadata;
mod paths;
mod rules;

use catalog::model::Icon;
use catalog::names::{PackageName, PluginVersion, QgisVersion};

/// Resource limits, enforced while reading (never trusted from headers).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted upload (the reference's `PLUGIN_MAX_UPLOAD_SIZE`).
    pub max_upload_bytes: u64,
    pub max_entries: usize,
    pub max_total_uncompressed: u64,
    pub max_entry_uncompressed: u64,
    /// Largest accepted total/compressed ratio once the total exceeds `ratio_threshold`.
    pub max_ratio: u64,
    pub ratio_threshold: u64,
    /// Longest entry name, in bytes.
    pub max_name_len: usize,
    pub max_path_depth: usize,
    pub max_metadata_bytes: usize,
    /// Longest value of any metadata key without a specific limit, in characters.
    pub max_field_len: usize,
    pub max_plugin_name_len: usize,
    pub max_description_len: usize,
    /// `about` and `changelog`.
    pub max_long_text_len: usize,
    pub max_tags: usize,
    pub max_tag_len: usize,
    /// Keys in [general], known or not.
    pub max_keys: usize,
    pub max_icon_bytes: usize,
    /// How much of `__init__.py` is read for the legacy metadata scraper.
    pub max_init_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            max_upload_bytes: crate::config::MAX_UPLOAD_BYTES,
            max_entries: 20_000,
            max_total_uncompressed: 256 * MIB,
            max_entry_uncompressed: 128 * MIB,
            max_ratio: 50,
            ratio_threshold: 64 * MIB,
            max_name_len: 512,
            max_path_depth: 32,
            max_metadata_bytes: 256 * 1024,
            max_field_len: 2048,
            max_plugin_name_len: 256,
            max_description_len: 2000,
            max_long_text_len: 64 * 1024,
            max_tags: 50,
            max_tag_len: 64,
            max_keys: 200,
            max_icon_bytes: 1024 * 1024,
            max_init_bytes: 1024 * 1024,
        }
    }
}

/// A new plugin, or a new version of an existing one.
#[derive(Debug, Clone)]
pub enum Mode {
    New,
    Existing(PackageName),
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    /// Outbound reachability checks of URLs. Not implemented: when set, a warning says so
    /// (uploads must never make the server fetch author-supplied URLs by default).
    pub check_urls_online: bool,
}

/// A plugin version that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedPlugin {
    pub package: PackageName,
    pub version: PluginVersion,
    pub min_qgis: QgisVersion,
    /// `qgisMaximumVersion`, defaulted to `<major>.99`.
    pub max_qgis: QgisVersion,
    pub name: String,
    pub description: String,
    pub about: String,
    pub author: String,
    pub email: String,
    pub homepage: Option<String>,
    pub tracker: Option<String>,
    pub repository: Option<String>,
    pub changelog: String,
    /// Trimmed, lower-case, non-empty, deduplicated, in order of appearance.
    pub tags: Vec<String>,
    pub experimental: bool,
    pub deprecated: bool,
    pub server: bool,
    pub external_deps: String,
    pub icon: Option<Icon>,
    pub sha256: String,
    pub size: u64,
    /// Every key of [general] as written, values trimmed (`%%` read as `%`), then
    /// `metadata_source` and `package_name`.
    pub metadata: Vec<(String, String)>,
    pub warnings: Vec<Problem>,
}

/// One problem (error or warning) with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `archive.*`, `package.*`, `metadata.*`, `license.*`, `icon.*`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What to do about it.
    pub hint: String,
}

impl Problem {
    pub fn new(code: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            file: None,
            key: None,
            hint: hint.into(),
        }
    }
    pub fn with_file(mut self, file: &str) -> Self {
        self.file = Some(file.to_owned());
        self
    }
    pub fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)?;
        if !self.hint.is_empty() {
            write!(f, " Hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Why an upload was refused: every error found (at least one), and the warnings so far.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the plugin package was refused ({} problem(s))", self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n- {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

impl Rejection {
    fn one(p: Problem) -> Self {
        Self { errors: vec![p], warnings: Vec::new() }
    }
}

/// Validates an uploaded plugin zip with exactly the rules of an upload.
pub fn validate(zip: &[u8], mode: &Mode, opts: &Options) -> Result<CheckedPlugin, Rejection> {
    let limits = &opts.limits;
    // 1. Size.
    if zip.len() as u64 > limits.max_upload_bytes {
        return Err(Rejection::one(Problem::new(
            "archive.too_large",
            format!(
                "File is too big. Max size is {} Megabytes",
                rules::py_float(limits.max_upload_bytes as f64 / 1_000_000.0)
            ),
            "Remove data files, test data and binaries that the plugin does not need at run time.",
        )));
    }
    // 2. Is a zip, with sound framing.
    let archive = archive::parse(zip, limits).map_err(Rejection::one)?;
    let names: Vec<&str> = archive.entries.iter().map(|e| e.name.as_str()).collect();
    // 3, 6 and hardening on raw names.
    paths::check_step3(&names).map_err(Rejection::one)?;
    paths::check_step6(&names).map_err(Rejection::one)?;
    paths::check_hardening(&names, limits).map_err(Rejection::one)?;
    // 5 and 7. Exactly one top-level folder, named by the first entry.
    let folder = rules::top_folder(&names).map_err(Rejection::one)?;
    // 4. Every entry read to its end: limits, sizes, CRC. Keeps the files we parse.
    archive.check_declared(limits).map_err(Rejection::one)?;
    let wanted_meta = format!("{folder}/metadata.txt");
    let wanted_init = format!("{folder}/__init__.py");
    let mut totals = archive::Totals::default();
    let mut files = rules::PluginFiles::default();
    for e in &archive.entries {
        let keep = if e.name == wanted_meta {
            limits.max_metadata_bytes + 1
        } else if e.name == wanted_init {
            limits.max_init_bytes
        } else {
            0
        };
        let (bytes, longer) = archive.read(e, keep, &mut totals, limits).map_err(Rejection::one)?;
        if e.name == wanted_meta {
            files.metadata = Some((bytes, longer));
        } else if e.name == wanted_init {
            files.init = Some(bytes);
        }
    }
    rules::check_plugin(&archive, &names, &folder, files, mode, opts, zip)
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
