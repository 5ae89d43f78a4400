//! Newtypes for the identifiers that reach paths, URLs, SQL and XML: package names, plugin
//! versions and QGIS versions. Parse, don't validate: inner code only accepts these types.
//!
//! Ordering reproduces the reference's zero-padded string keys (reference §1.4) exactly, so
//! "latest", listings and QGIS compatibility agree with plugins.qgis.org.

use std::cmp::Ordering;
use std::fmt;

/// Longest stored plugin version key; longer keys are refused instead of truncated.
pub const MAX_VERSION_KEY_LEN: usize = 32;

/// List slugs and service paths under `/plugins/`: a plugin with one of these package names
/// would have an unreachable page, so such names are refused at creation (decisions §2).
pub const RESERVED_PACKAGE_NAMES: &[&str] = &[
    "add",
    "api",
    "page",
    "sort",
    "json",
    "RPC2",
    "fresh",
    "latest",
    "stable",
    "experimental",
    "server",
    "popular",
    "deprecated",
    "unapproved",
    "tags",
    "tag",
    "user",
    "users",
    "author",
    "authors",
    "my",
    "most_voted",
    "most_downloaded",
    "best_rated",
    "most_rated",
    "new_qgis_ready",
    "featured",
    "feedback_completed",
    "feedback_pending",
    "feedback_received",
    "awaiting_deletion",
    "confirm-email",
    "xml",
    "search",
    "static",
    "feeds",
    "docs",
    "rate",
    "packages",
    "stats",
    "plugins",
    "version",
];

/// Why a name or version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "package name `{0}` is invalid: it must start with an ASCII letter, be at least 2 characters long and contain only ASCII letters, digits, `-` and `_`"
    )]
    PackageName(String),
    #[error("package name `{0}` is too long: at most 256 characters")]
    PackageNameTooLong(String),
    #[error("version is empty: set `version=` in metadata.txt, for example `version=1.0.0`")]
    EmptyVersion,
    #[error(
        "version `{0}` has more than 4 dot-separated parts: use at most 4, for example `1.2.3.4`"
    )]
    TooManyVersionParts(String),
    #[error(
        "version `{0}` is too long: its padded form exceeds {MAX_VERSION_KEY_LEN} characters; use a shorter version such as `1.2.3`"
    )]
    VersionTooLong(String),
    #[error(
        "version `{0}` contains a character that is not allowed: `/`, `\\`, `?`, `#`, `%`, `:`, `*`, `\"`, `<`, `>`, `|`, whitespace and control characters cannot be part of a download URL or of the zip's file name that QGIS saves (on Windows too); use letters, digits and `.`, `-`, `_`, `+`, `~`"
    )]
    VersionCharacters(String),
    #[error(
        "version `{0}` must start with a letter or digit, for example `1.0` or `v1.0`: `.` and `..` cannot be a URL path segment, and QGIS compares a leading punctuation mark as a word (`.5` sorts below `0.1`)"
    )]
    VersionStart(String),
    #[error(
        "version `{0}` contains `{1}`, a numeral other than the digits 0-9: QGIS's Plugin Manager fails when it compares such versions; write numbers with the digits 0-9"
    )]
    VersionNumeral(String, char),
    #[error(
        "version `{0}` has no number: QGIS removes the prefixes `v`, `ver`, `version`, `r`, `rev` and `revision` before comparing versions and its Plugin Manager fails on what is left (nothing); add a number, for example `v1.0`"
    )]
    VersionNoNumber(String),
    #[error(
        "QGIS version `{0}` is invalid: use 2 or 3 numbers separated by dots, each from 0 to 999, for example `3.22` or `3.34.5`"
    )]
    QgisVersion(String),
}

/// A plugin's package name: the top folder of its zip and the `<pkg>` of every URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName(String);

impl PackageName {
    /// Accepts `^[A-Za-z][A-Za-z0-9_-]+$`, at most 256 characters (reference §1.2).
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok =
            s.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !first_ok || !rest_ok {
            return Err(NameError::PackageName(s.to_owned()));
        }
        if s.len() > 256 {
            return Err(NameError::PackageNameTooLong(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the name collides with a list page or service path (compared without case).
    pub fn is_reserved(&self) -> bool {
        RESERVED_PACKAGE_NAMES.iter().any(|r| r.eq_ignore_ascii_case(&self.0))
    }

    /// True for names QGIS can import as a Python package (new plugins, reference §2.2/8).
    pub fn is_python_identifier(&self) -> bool {
        self.0.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plugin version: the string as the author wrote it (after cleaning) plus the reference's
/// padded sort key. Equality and ordering use the key only, so `1.01` equals `1.1`.
#[derive(Debug, Clone)]
pub struct PluginVersion {
    text: String,
    key: String,
}

impl PluginVersion {
    /// Cleans and parses a metadata `version` value (reference §2.8): only the text after the
    /// last space is kept (`Version 1.2` → `1.2`); at most 4 parts; key at most 32 chars.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim();
        let cleaned = trimmed.rsplit(' ').next().unwrap_or("").trim();
        if cleaned.is_empty() {
            return Err(NameError::EmptyVersion);
        }
        check_version_text(cleaned)?;
        if cleaned.split('.').count() > 4 {
            return Err(NameError::TooManyVersionParts(cleaned.to_owned()));
        }
        let key = version_key(cleaned);
        if key.len() > MAX_VERSION_KEY_LEN {
            return Err(NameError::VersionTooLong(cleaned.to_owned()));
        }
        Ok(Self { text: cleaned.to_owned(), key })
    }

    /// Rebuilds a version read back from the catalog (text as stored). Rows written before
    /// the QGIS rules of [`check_version_text`] still load (a catalog never stops building),
    /// but a stored version must still be one safe file name.
    pub fn from_stored(text: &str) -> Result<Self, NameError> {
        let file_safe = !matches!(text, "" | "." | "..")
            && !text.contains(['/', '\\'])
            && !text.chars().any(char::is_control);
        match Self::parse(text) {
            Err(
                NameError::VersionCharacters(_)
                | NameError::VersionStart(_)
                | NameError::VersionNumeral(..)
                | NameError::VersionNoNumber(_),
            ) if file_safe => Ok(Self { text: text.to_owned(), key: version_key(text) }),
            r => r,
        }
    }

    /// The version as the author wrote it; used in URLs, file names and XML.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The reference's padded key (`1.10` → `001.010.###.###`).
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl PartialEq for PluginVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for PluginVersion {}
impl PartialOrd for PluginVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PluginVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}
impl fmt::Display for PluginVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Characters that cannot be in a version: they break a URL path segment (`/ ? # %`) or
/// the zip's file name QGIS saves (`\\`, and `: * " < > |`, which Windows file names cannot
/// hold: QGIS 3.22 writes the download to `<temp>/<file_name>`).
const VERSION_FORBIDDEN: &[char] = &['/', '\\', '?', '#', '%', ':', '*', '"', '<', '>', '|'];

/// Numerals Python's `str.isnumeric()` accepts that are not Unicode numbers (`Nd`, `Nl`,
/// `No`, which `char::is_numeric` covers): Han numerals. QGIS's `compareVersions` calls
/// `float()` on every numeric part, which fails on all of these (and on `²`, `½`, `Ⅻ`).
/// Listed with Python 3.11 (QGIS 3.22's) from `unicodedata`.
const HAN_NUMERALS: &str = "㐅㒃㠪㭍一七万三九二五亖亿什仟仨伍佰億兆兩八六十千卄卅卌叁参參叄四壱壹幺廾廿弌弍弎弐拾捌柒漆玖百肆萬貮貳贰阡陆陌陸零參拾兩零六陸什𠀁𠁤𠃢𠄡𠤪𠦃𠦌𠦜𠫪𠫽𠬙𢎐𢦘𣬛𦉭廾";

/// The character rules of a cleaned version: what QGIS's installer cannot handle and what
/// cannot be one URL path segment or file name (see `crate::urls`).
fn check_version_text(v: &str) -> Result<(), NameError> {
    if v.chars().any(|c| c.is_whitespace() || c.is_control() || VERSION_FORBIDDEN.contains(&c)) {
        return Err(NameError::VersionCharacters(v.to_owned()));
    }
    if let Some(c) =
        v.chars().find(|c| !c.is_ascii() && (c.is_numeric() || HAN_NUMERALS.contains(*c)))
    {
        return Err(NameError::VersionNumeral(v.to_owned(), c));
    }
    if !v.chars().next().is_some_and(char::is_alphanumeric) {
        return Err(NameError::VersionStart(v.to_owned()));
    }
    if qgis_normalized_version(v).is_empty() {
        return Err(NameError::VersionNoNumber(v.to_owned()));
    }
    Ok(())
}

/// QGIS's `version_compare.normalizeVersion`: upper case, then each prefix in this order,
/// when the text starts with it, is removed everywhere. `compareVersions` fails on an empty
/// result (`chopString` indexes its first character).
pub fn qgis_normalized_version(v: &str) -> String {
    const PREFIXES: [&str; 10] =
        ["VERSION", "VER.", "VER", "V.", "V", "REVISION", "REV.", "REV", "R.", "R"];
    let mut s = v.to_uppercase();
    for p in PREFIXES {
        if s.starts_with(p) {
            s = s.replace(p, "");
        }
    }
    s.trim().to_owned()
}

/// The reference's plugin version key: 4 segments, each left-padded with `0` to width 3,
/// empty segments as `###`, a 5th segment dropped (reference §1.4).
pub fn version_key(s: &str) -> String {
    let mut parts: Vec<&str> = s.split('.').collect();
    parts.resize(4.max(parts.len()), "");
    parts
        .iter()
        .take(4)
        .map(|p| if p.is_empty() { "###".to_owned() } else { format!("{p:0>3}") })
        .collect::<Vec<_>>()
        .join(".")
}

/// The reference's display form of a version key (used only to explain the quirk in tests
/// and docs; we display the author's own string).
pub fn version_key_display(key: &str) -> String {
    key.split('.')
        .filter(|seg| *seg != "###")
        .map(|seg| {
            let zeros = seg.len() - seg.trim_start_matches('0').len();
            if zeros == 0 {
                return seg.to_owned();
            }
            let rest = &seg[zeros..];
            // Keep a zero run that is followed by '-' or end of segment (reference: "0-beta").
            match rest.chars().next() {
                None => "0".to_owned(),
                Some('-') => seg[zeros - 1..].to_owned(),
                Some(_) => rest.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A QGIS version `X.Y.Z`. A two-part request (`3.34`) has `patch = None`: it matches every
/// patch release (reference §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QgisVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: Option<u16>,
}

impl QgisVersion {
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor, patch: None }
    }

    /// Parses `X`, `X.Y` or `X.Y.Z` with numbers 0..=999. A lone `X` means `X.0`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let err = || NameError::QgisVersion(s.to_owned());
        let t = s.trim();
        let parts: Vec<&str> = t.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(err());
        }
        let mut nums = [0u16; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            nums[i] = p.parse().map_err(|_| err())?;
        }
        Ok(Self { major: nums[0], minor: nums[1], patch: (parts.len() == 3).then_some(nums[2]) })
    }

    /// Parses a stored 3-part key such as `003.016.000`.
    pub fn from_key(key: &str) -> Result<Self, NameError> {
        Self::parse(key)
    }

    /// The reference's padded 3-segment key (`3.16` → `003.016.000`).
    pub fn key(&self) -> String {
        format!("{:03}.{:03}.{:03}", self.major, self.minor, self.patch.unwrap_or(0))
    }

    /// Three segments, as plugins.xml and JSON show min/max (`3.0` → `3.0.0`).
    pub fn display3(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch.unwrap_or(0))
    }

    /// `X.Y`, the form QGIS sends in `?qgis=` and our XML file names use.
    pub fn minor_label(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// The default maximum for a minimum: `<major>.99` (reference §1.4, without its 2-digit bug).
    pub fn default_max(min: QgisVersion) -> Self {
        Self { major: min.major, minor: 99, patch: Some(0) }
    }

    /// Full `(major, minor, patch)` tuple with a missing patch as 0.
    pub fn triple(&self) -> (u16, u16, u16) {
        (self.major, self.minor, self.patch.unwrap_or(0))
    }

    /// Is a plugin version with this `min`/`max` listed for the request `self`?
    /// Two-part requests ignore patches on both sides; three-part requests compare exactly.
    pub fn is_within(&self, min: QgisVersion, max: QgisVersion) -> bool {
        match self.patch {
            None => {
                let r = (self.major, self.minor);
                (min.major, min.minor) <= r && r <= (max.major, max.minor)
            }
            Some(_) => min.triple() <= self.triple() && self.triple() <= max.triple(),
        }
    }
}

impl fmt::Display for QgisVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{}", self.major, self.minor, p),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

impl PartialOrd for QgisVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for QgisVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.triple().cmp(&other.triple())
    }
}

#[cfg(test)]
mod tests;

impl serde::Serialize for PackageName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl serde::Serialize for PluginVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl serde::Serialize for QgisVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
