//! The plugin-level rules of reference §2.2 (steps 5, 7–20) with decisions.md §4: folder,
//! plugin files, metadata keys and values, icon, URLs, LICENSE, author; plus the field
//! limits and character rules of reliability catalogue B. Metadata problems are collected
//! so an author sees all of them in one upload.

use catalog::model::Icon;
use catalog::names::{PackageName, PluginVersion, QgisVersion};

use super::archive::Archive;
use super::checked::CheckedPlugin;
use super::code::ProblemCode;
use super::metadata::{self, py_strip};
use super::options::{Limits, Mode, Options};
use super::problem::{Problem, Rejection};

/// `PLUGIN_REQUIRED_METADATA` of the reference, in its order.
pub(crate) const REQUIRED: [&str; 9] = [
    "name",
    "description",
    "version",
    "qgisMinimumVersion",
    "author",
    "email",
    "about",
    "tracker",
    "repository",
];

/// Keys whose value must fit on one line (they reach XML attributes, titles, URLs).
const SINGLE_LINE: [&str; 11] = [
    "name",
    "version",
    "qgisMinimumVersion",
    "qgisMaximumVersion",
    "author",
    "email",
    "tracker",
    "repository",
    "homepage",
    "icon",
    "tags",
];

/// Keys that identify a plugin or a person: no invisible or bidi characters there.
const IDENTIFYING: [&str; 4] = ["name", "author", "email", "tags"];

const DOCS: &str = "See https://docs.qgis.org/latest/en/docs/pyqgis_developer_cookbook/plugins/plugins.html#metadata-txt";

/// Python's `str(float)` for the size message ("25.0").
pub(crate) fn py_float(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.1}") } else { format!("{v}") }
}

/// Reference steps 5 and 7 with decisions.md §4: one top-level folder, and the first entry
/// lies inside it.
pub(crate) fn plugin_folder(names: &[&str]) -> Result<String, Problem> {
    let mut roots: Vec<&str> = Vec::new();
    for n in names {
        let root = n.split('/').next().unwrap_or(n);
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    if roots.len() > 1 {
        let shown: Vec<String> = roots.iter().take(5).map(|r| format!("'{r}'")).collect::<Vec<_>>();
        return Err(Problem::new(
            ProblemCode::PackageMultipleRoots,
            format!(
                "Your plugin includes multiple parent folders or files at the root of the zip: {}{}. QGIS unpacks every one of them into the user's plugins folder, where they could overwrite other plugins.",
                shown.join(", "),
                if roots.len() > 5 { ", …" } else { "" }
            ),
            "Put everything inside one folder named after the plugin package and zip that folder: `zip -r plugin.zip <plugin folder>`.",
        ));
    }
    match names.first().and_then(|n| n.split_once('/')) {
        Some((folder, _)) if !folder.is_empty() => Ok(folder.to_owned()),
        _ => Err(Problem::new(
            ProblemCode::PackageNoFolder,
            "Cannot find a folder inside the compressed package: this does not seems a valid plugin",
            "The zip must contain one folder named after the plugin package (for example `my_plugin/`) holding `__init__.py`, `metadata.txt` and `LICENSE`.",
        )),
    }
}

/// The bytes of the files the rules parse, kept during the CRC pass.
#[derive(Debug, Default)]
pub(crate) struct PluginFiles {
    /// Bytes (capped) and whether the file was longer than the cap.
    pub(crate) metadata: Option<(Vec<u8>, bool)>,
    pub(crate) init: Option<Vec<u8>>,
}

/// Python's `str.isidentifier()` closely enough for folder names: a letter or `_`, then
/// letters, digits or `_` (non-ASCII letters pass here and fail the ASCII rule later).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Collected problems.
#[derive(Default)]
struct Report {
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Report {
    fn error(
        &mut self,
        code: ProblemCode,
        key: Option<&str>,
        file: Option<&str>,
        message: String,
        hint: impl Into<String>,
    ) {
        let mut p = Problem::new(code, message, hint);
        p.key = key.map(str::to_owned);
        p.file = file.map(str::to_owned);
        self.errors.push(p);
    }
    fn warn(
        &mut self,
        code: ProblemCode,
        key: Option<&str>,
        message: String,
        hint: impl Into<String>,
    ) {
        let mut p = Problem::new(code, message, hint);
        p.key = key.map(str::to_owned);
        self.warnings.push(p);
    }
    fn rejection(self) -> Rejection {
        Rejection { errors: self.errors, warnings: self.warnings }
    }
}

/// Where the plugin's own files are in the zip, and which of them exist.
struct Layout {
    init_name: String,
    meta_name: String,
    has_meta: bool,
}

/// Where the metadata was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    MetadataTxt,
    /// The legacy functions of `__init__.py` (no metadata.txt in the zip).
    InitPy,
}

impl Source {
    /// The name messages and `metadata_source` use.
    fn as_str(self) -> &'static str {
        match self {
            Source::MetadataTxt => "metadata.txt",
            Source::InitPy => "__init__.py",
        }
    }
}

/// The keys of [general] (or of `__init__.py`), values trimmed, in file order.
struct Metadata {
    fields: Vec<(String, String)>,
    source: Source,
    /// The file problems about a key point at.
    file: String,
}

impl Metadata {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }
    /// The value, when present and not empty.
    fn non_empty(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|v| !v.is_empty())
    }
}

/// The boolean keys of step 14.
struct Flags {
    experimental: bool,
    deprecated: bool,
    server: bool,
}

/// What names a plugin version, once every rule passed.
struct Identity {
    package: PackageName,
    version: PluginVersion,
    min_qgis: QgisVersion,
    max_qgis: QgisVersion,
}

/// Steps 8–20 on an archive that passed the structural checks. Every group of rules adds its
/// problems in the order they are listed here; that order is what authors see.
pub(crate) fn check_plugin(
    archive: &Archive<'_>,
    names: &[&str],
    folder: &str,
    files: PluginFiles,
    mode: &Mode,
    opts: &Options,
    zip: &[u8],
) -> Result<CheckedPlugin, Rejection> {
    let limits = &opts.limits;
    let mut r = Report::default();
    warn_online_checks_unavailable(&mut r, opts);
    check_folder_name(&mut r, folder, mode);
    let Some(layout) = check_plugin_files(&mut r, names, folder) else {
        return Err(r.rejection());
    };
    let init_text = files.init.as_deref().map(String::from_utf8_lossy);
    let meta = read_metadata(&mut r, &layout, files.metadata, init_text.as_deref(), limits);
    // Checks that need no metadata still run, so every problem is reported at once.
    let package = check_package_name(&mut r, folder, mode);
    check_licence(&mut r, names, folder);
    let Some(meta) = meta else { return Err(r.rejection()) };
    check_required_keys(&mut r, &meta);
    check_values(&mut r, &meta, limits);
    let icon = load_icon(&mut r, archive, folder, &meta, limits);
    warn_supports_qt6(&mut r, &meta);
    let flags = read_flags(&mut r, &meta);
    let version = check_version(&mut r, &meta);
    let (min_qgis, max_qgis) = check_qgis_range(&mut r, &meta);
    check_legacy_init(&mut r, &meta, &layout, init_text.as_deref());
    check_urls(&mut r, &meta);
    check_author(&mut r, &meta);
    check_email(&mut r, &meta);
    let tags = read_tags(&mut r, &meta, limits);
    let (Some(package), Some(version), Some(min_qgis), Some(max_qgis), true) =
        (package, version, min_qgis, max_qgis, r.errors.is_empty())
    else {
        return Err(r.rejection());
    };
    let identity = Identity { package, version, min_qgis, max_qgis };
    Ok(checked_plugin(meta, identity, tags, flags, icon, r.warnings, zip))
}

fn warn_online_checks_unavailable(r: &mut Report, opts: &Options) {
    if opts.check_urls_online {
        r.warn(
            ProblemCode::MetadataOnlineCheckUnavailable,
            None,
            "Online URL reachability checks are not implemented; URLs were checked for syntax only.".into(),
            "",
        );
    }
}

/// Step 8: a PEP 8 folder name for new plugins; the same package for updates.
fn check_folder_name(r: &mut Report, folder: &str, mode: &Mode) {
    match mode {
        Mode::New => {
            if !is_identifier(folder) {
                r.error(
                    ProblemCode::PackageNotIdentifier,
                    None,
                    Some(folder),
                    format!("The name of the top level directory inside the zip package must be PEP 8 compliant: a valid Python identifier, which means it must start with a letter or underscore, and can only contain letters, digits, and underscores (found '{folder}')."),
                    format!("Rename the folder, for example to '{}', and zip it again; QGIS imports the plugin under this name.", suggest_identifier(folder)),
                );
            }
        }
        Mode::Existing(pkg) => {
            if folder != pkg.as_str() {
                r.error(
                    ProblemCode::PackageMismatch,
                    None,
                    Some(folder),
                    format!("Plugin folder name mismatch: the plugin main folder name in the compressed file ({folder}) is different from the original plugin package name ({pkg})."),
                    format!("Name the top-level folder of the zip '{pkg}'."),
                );
            }
        }
    }
}

/// Step 9: `__init__.py` and metadata.txt in the folder. `None` when neither is there: the
/// zip is not a plugin and no further rule applies.
fn check_plugin_files(r: &mut Report, names: &[&str], folder: &str) -> Option<Layout> {
    let init_name = format!("{folder}/__init__.py");
    let meta_name = format!("{folder}/metadata.txt");
    let has_init = names.contains(&init_name.as_str());
    let has_meta = names.contains(&meta_name.as_str());
    if !has_init && !has_meta {
        r.error(
            ProblemCode::PackageMissingPluginFiles,
            None,
            None,
            format!("Cannot find __init__.py or metadata.txt in the compressed package: this does not seems a valid plugin (I searched for {init_name} and {meta_name})"),
            format!("Put __init__.py and metadata.txt directly inside the '{folder}/' folder."),
        );
        return None;
    }
    if !has_init {
        r.error(
            ProblemCode::PackageMissingInit,
            None,
            Some(&init_name),
            "Cannot find __init__.py in plugin package.".into(),
            format!("Add {init_name} with the plugin's classFactory(iface) function."),
        );
    }
    Some(Layout { init_name, meta_name, has_meta })
}

/// Step 10: the metadata, from metadata.txt or else from `__init__.py`; `None` when it
/// cannot be read (the problems say why).
fn read_metadata(
    r: &mut Report,
    layout: &Layout,
    metadata_txt: Option<(Vec<u8>, bool)>,
    init_text: Option<&str>,
    limits: &Limits,
) -> Option<Metadata> {
    let fields = if layout.has_meta {
        parse_metadata_txt(r, layout, metadata_txt.unwrap_or_default(), limits)?
    } else {
        scrape_init_metadata(r, layout, init_text)?
    };
    let (source, file) = if layout.has_meta {
        (Source::MetadataTxt, layout.meta_name.clone())
    } else {
        (Source::InitPy, layout.init_name.clone())
    };
    Some(Metadata { fields, source, file })
}

/// metadata.txt read as QGIS and the reference read it; every parse problem is reported.
fn parse_metadata_txt(
    r: &mut Report,
    layout: &Layout,
    (bytes, longer): (Vec<u8>, bool),
    limits: &Limits,
) -> Option<Vec<(String, String)>> {
    let parsed = if longer {
        Err(vec![metadata::MetadataError::TooLarge { limit: limits.max_metadata_bytes }])
    } else {
        metadata::parse(&bytes, limits.max_metadata_bytes)
    };
    match parsed {
        Ok(f) => Some(f.into_iter().map(|f| (f.key, f.value)).collect()),
        Err(errs) => {
            let meta_name = &layout.meta_name;
            for e in errs {
                let mut p =
                    Problem::new(e.code(), format!("Errors parsing {meta_name}. {e}."), e.hint())
                        .with_file(meta_name);
                p.key = e.key();
                r.errors.push(p);
            }
            None
        }
    }
}

/// The legacy metadata functions of `__init__.py`, read with a deprecation warning.
fn scrape_init_metadata(
    r: &mut Report,
    layout: &Layout,
    init_text: Option<&str>,
) -> Option<Vec<(String, String)>> {
    let (init_name, meta_name) = (&layout.init_name, &layout.meta_name);
    let scraped = init_text.map(metadata::scrape_init).unwrap_or_default();
    if scraped.is_empty() {
        r.error(
            ProblemCode::MetadataNotFound,
            None,
            Some(init_name),
            format!("Cannot find valid metadata in {init_name}"),
            format!("Add {meta_name}. {DOCS}"),
        );
        return None;
    }
    r.warn(
        ProblemCode::MetadataFromInit,
        None,
        "Your plugin does not contain a metadata.txt file, metadata have been read from the __init__.py file. This is deprecated and its support will eventually cease.".into(),
        format!("Add {meta_name}. {DOCS}"),
    );
    Some(scraped.into_iter().map(|(k, v)| (k, py_strip(&v).to_owned())).collect())
}

/// Step 15 (an ASCII folder name) and the names reserved for the repository's own pages.
fn check_package_name(r: &mut Report, folder: &str, mode: &Mode) -> Option<PackageName> {
    let package = match PackageName::parse(folder) {
        Ok(p) => p,
        Err(e) => {
            r.error(
                ProblemCode::PackageNotAscii,
                None,
                Some(folder),
                format!("The name of the top level directory inside the zip package must start with an ASCII letter and can only contain ASCII letters, digits and the signs '-' and '_' ({e})."),
                "Rename the folder with ASCII letters, digits and '_' only.",
            );
            return None;
        }
    };
    if matches!(mode, Mode::New) && package.is_reserved() {
        r.error(
            ProblemCode::PackageReserved,
            None,
            Some(folder),
            format!(
                "The package name '{package}' is reserved: it is a page of the plugin repository."
            ),
            "Choose another name for the plugin folder.",
        );
    }
    Some(package)
}

/// Step 18: `<folder>/LICENSE`, exactly; the hint names near misses.
fn check_licence(r: &mut Report, names: &[&str], folder: &str) {
    let license = format!("{folder}/LICENSE");
    if names.contains(&license.as_str()) {
        return;
    }
    let near: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            n.rsplit('/').next().is_some_and(|b| {
                let b = b.to_ascii_lowercase();
                b.starts_with("license") || b.starts_with("licence") || b.starts_with("copying")
            })
        })
        .take(3)
        .collect();
    let hint = if near.is_empty() {
        format!("Add the license text as {license} (exactly this name, no extension).")
    } else {
        format!("Rename {} to {license} (exactly this name, no extension).", near.join(", "))
    };
    r.error(
        ProblemCode::LicenseMissing,
        None,
        Some(&license),
        "Cannot find LICENSE in the plugin package. This file is required, please consider adding it to the plugin package.".into(),
        hint,
    );
}

/// Step 11: every required key present and not empty (one problem per key).
fn check_required_keys(r: &mut Report, meta: &Metadata) {
    let (source, file) = (meta.source.as_str(), meta.file.as_str());
    for k in REQUIRED {
        match meta.get(k) {
            None => {
                let other = meta.fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(k));
                let hint = match other {
                    Some((o, _)) => {
                        format!("Rename `{o}` to `{k}`: metadata keys are case-sensitive.")
                    }
                    None => format!("Add a line `{k}=...` under [general]. {DOCS}"),
                };
                r.error(
                    ProblemCode::MetadataMissingKey,
                    Some(k),
                    Some(file),
                    format!("Cannot find metadata {k} in metadata source {source}."),
                    hint,
                );
            }
            Some("") => r.error(
                ProblemCode::MetadataEmptyValue,
                Some(k),
                Some(file),
                format!("Metadata {k} is empty in {source}."),
                format!("Give `{k}` a value. {DOCS}"),
            ),
            Some(_) => {}
        }
    }
}

/// The number of keys, then characters, lines and lengths of every value (known key or not).
fn check_values(r: &mut Report, meta: &Metadata, limits: &Limits) {
    if meta.fields.len() > limits.max_keys {
        r.error(
            ProblemCode::MetadataTooManyKeys,
            None,
            Some(&meta.file),
            format!(
                "{} has {} keys in [general]; at most {} are allowed.",
                meta.source.as_str(),
                meta.fields.len(),
                limits.max_keys
            ),
            "Remove keys QGIS does not use.",
        );
    }
    for (k, v) in &meta.fields {
        check_value(r, k, v, &meta.file, limits);
    }
}

/// Step 13: `supportsQt6` is accepted but ignored.
fn warn_supports_qt6(r: &mut Report, meta: &Metadata) {
    if meta.get("supportsQt6").is_some() {
        r.warn(
            ProblemCode::MetadataSupportsQt6Deprecated,
            Some("supportsQt6"),
            "The supportsQt6 flag is deprecated and ignored.".into(),
            "Remove supportsQt6 and set qgisMaximumVersion to 4.99 if the plugin works with QGIS 4 (Qt 6).",
        );
    }
}

/// Step 14: the boolean keys, in this order.
fn read_flags(r: &mut Report, meta: &Metadata) -> Flags {
    Flags {
        experimental: read_flag(r, meta, "experimental"),
        deprecated: read_flag(r, meta, "deprecated"),
        server: read_flag(r, meta, "server"),
    }
}

/// A boolean key as QGIS reads it; absent or empty is false.
fn read_flag(r: &mut Report, meta: &Metadata, k: &str) -> bool {
    let Some(v) = meta.get(k) else { return false };
    match v.to_lowercase().as_str() {
        "true" | "yes" | "1" => true,
        "false" | "no" | "0" | "" => false,
        _ => {
            r.error(
                ProblemCode::MetadataBadBoolean,
                Some(k),
                Some(&meta.file),
                format!("Metadata {k} has the value `{v}`, which is not a boolean."),
                format!("Write `{k}=True` or `{k}=False`."),
            );
            false
        }
    }
}

/// The plugin version (its emptiness is the required-keys rule's problem).
fn check_version(r: &mut Report, meta: &Metadata) -> Option<PluginVersion> {
    let v = meta.non_empty("version")?;
    match PluginVersion::parse(v) {
        Ok(v) => Some(v),
        Err(e) => {
            r.error(
                ProblemCode::MetadataBadVersion,
                Some("version"),
                Some(&meta.file),
                format!("Metadata version `{v}` is not usable: {e}."),
                "Use a version such as `1.0.0`.",
            );
            None
        }
    }
}

/// `qgisMinimumVersion` and `qgisMaximumVersion` (defaulted to `<major>.99`), in order.
fn check_qgis_range(r: &mut Report, meta: &Metadata) -> (Option<QgisVersion>, Option<QgisVersion>) {
    let min_qgis = meta
        .non_empty("qgisMinimumVersion")
        .and_then(|v| parse_qgis(r, "qgisMinimumVersion", v, &meta.file));
    let max_qgis = match meta.non_empty("qgisMaximumVersion") {
        Some(v) => parse_qgis(r, "qgisMaximumVersion", v, &meta.file),
        None => min_qgis.map(QgisVersion::default_max),
    };
    if let (Some(min), Some(max)) = (min_qgis, max_qgis)
        && min > max
    {
        r.error(
            ProblemCode::MetadataQgisRange,
            Some("qgisMaximumVersion"),
            Some(&meta.file),
            format!("qgisMinimumVersion {min} is greater than qgisMaximumVersion {max}."),
            "Set qgisMaximumVersion to at least qgisMinimumVersion, or remove it (it defaults to <major>.99).",
        );
    }
    (min_qgis, max_qgis)
}

/// Step 16, the legacy rule: below 1.8, QGIS read metadata from `__init__.py` too, so a
/// metadata.txt plugin for such versions must define it there as well.
fn check_legacy_init(r: &mut Report, meta: &Metadata, layout: &Layout, init: Option<&str>) {
    let Some(min) = meta.non_empty("qgisMinimumVersion") else { return };
    if !layout.has_meta || min.split('.').collect::<Vec<_>>() >= vec!["1", "8"] {
        return;
    }
    let scraped = init.map(metadata::scrape_init).unwrap_or_default();
    let missing: Vec<&str> =
        REQUIRED.iter().copied().filter(|k| !scraped.iter().any(|(s, _)| s == k)).collect();
    if !missing.is_empty() {
        r.error(
            ProblemCode::MetadataLegacyInit,
            Some("qgisMinimumVersion"),
            Some(&layout.init_name),
            format!("qgisMinimumVersion is set to less than 1.8 ({min}) and there were errors reading metadata from the __init__.py file: cannot find {} there.", missing.join(", ")),
            "Set qgisMinimumVersion to 1.8 or later, or also define the metadata functions in __init__.py.",
        );
    }
}

/// Step 17: the URLs, syntax only (reachability is not checked).
fn check_urls(r: &mut Report, meta: &Metadata) {
    for (k, placeholder, what) in [
        ("tracker", "http://bugs", "issue tracker"),
        ("repository", "http://repo", "source code repository"),
        ("homepage", "http://homepage", "home page"),
    ] {
        if let Some(v) = meta.non_empty(k)
            && let Err(why) = check_url(v, placeholder)
        {
            r.error(
                ProblemCode::MetadataBadUrl,
                Some(k),
                Some(&meta.file),
                format!("Please provide valid url link for the following key(s) in the metadata source: {k}. `{v}` {why}."),
                format!("Write the full address of the plugin's {what}, starting with https://."),
            );
        }
    }
}

/// Step 19: no slash in the author.
fn check_author(r: &mut Report, meta: &Metadata) {
    if let Some(a) = meta.get("author")
        && a.contains('/')
    {
        r.error(
            ProblemCode::MetadataAuthorSlash,
            Some("author"),
            Some(&meta.file),
            format!("Author name cannot contain slashes (found `{a}`)."),
            "Separate several authors with commas, for example `author=Jane Doe, John Roe`.",
        );
    }
}

/// An address that does not look like one (`email=TBD`, seen in published plugins) is a
/// warning, not an error: the reference does not check its shape, but the reviewers see it
/// (its emptiness is the required-keys rule's error).
fn check_email(r: &mut Report, meta: &Metadata) {
    if let Some(e) = meta.non_empty("email")
        && !plausible_email(e)
    {
        r.warn(
            ProblemCode::MetadataEmailUnusual,
            Some("email"),
            format!(
                "Metadata email `{e}` does not look like an e-mail address; the reviewers will \
                 see this warning and may ask for a real one."
            ),
            "Write one address such as `email=jane@example.org` in metadata.txt so the \
             reviewers and users' bug reports can reach you; the repository never shows it \
             publicly.",
        );
    }
}

/// Tags: trimmed, lower-case, non-empty, deduplicated; then their number and lengths.
fn read_tags(r: &mut Report, meta: &Metadata, limits: &Limits) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for t in meta.get("tags").unwrap_or("").split(',') {
        let t = py_strip(t).to_lowercase();
        if !t.is_empty() && !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > limits.max_tags {
        r.error(
            ProblemCode::MetadataTooManyTags,
            Some("tags"),
            Some(&meta.file),
            format!(
                "Metadata tags lists {} tags; at most {} are allowed.",
                tags.len(),
                limits.max_tags
            ),
            "Keep the most relevant tags.",
        );
    }
    if let Some(t) = tags.iter().find(|t| t.chars().count() > limits.max_tag_len) {
        r.error(
            ProblemCode::MetadataFieldTooLong,
            Some("tags"),
            Some(&meta.file),
            format!("The tag `{t}` is longer than {} characters.", limits.max_tag_len),
            "Tags are single words or short phrases separated by commas.",
        );
    }
    tags
}

/// Step 20: the checked plugin (values are already trimmed as Python's `str.strip()` does).
fn checked_plugin(
    meta: Metadata,
    id: Identity,
    tags: Vec<String>,
    flags: Flags,
    icon: Option<Icon>,
    warnings: Vec<Problem>,
    zip: &[u8],
) -> CheckedPlugin {
    let owned = |k: &str| meta.get(k).unwrap_or("").to_owned();
    let opt_url = |k: &str| meta.non_empty(k).map(str::to_owned);
    CheckedPlugin {
        name: owned("name"),
        description: owned("description"),
        about: owned("about"),
        author: owned("author"),
        email: owned("email"),
        homepage: opt_url("homepage"),
        tracker: opt_url("tracker"),
        repository: opt_url("repository"),
        changelog: owned("changelog"),
        external_deps: owned("external_deps"),
        tags,
        experimental: flags.experimental,
        deprecated: flags.deprecated,
        server: flags.server,
        icon,
        sha256: catalog::hash::sha256_hex(zip),
        size: zip.len() as u64,
        metadata: metadata_with_origin(&meta, &id.package),
        warnings,
        package: id.package,
        version: id.version,
        min_qgis: id.min_qgis,
        max_qgis: id.max_qgis,
    }
}

/// Every key as written, then where it came from and the package name.
fn metadata_with_origin(meta: &Metadata, package: &PackageName) -> Vec<(String, String)> {
    let mut all = meta.fields.clone();
    all.push(("metadata_source".into(), meta.source.as_str().into()));
    all.push(("package_name".into(), package.to_string()));
    all
}

/// A valid Python identifier close to `s`, suggested in the hint of step 8.
fn suggest_identifier(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn parse_qgis(r: &mut Report, key: &str, v: &str, file: &str) -> Option<QgisVersion> {
    match QgisVersion::parse(v) {
        Ok(q) => Some(q),
        Err(e) => {
            r.error(
                ProblemCode::MetadataBadQgisVersion,
                Some(key),
                Some(file),
                format!("Metadata {key}: {e}."),
                format!("Write for example `{key}=3.22`."),
            );
            None
        }
    }
}

/// Characters, lines and lengths of one value.
fn check_value(r: &mut Report, k: &str, v: &str, file: &str, limits: &Limits) {
    if let Some((i, c)) = v.chars().enumerate().find(|(_, c)| !xml_char(*c)) {
        r.error(
            ProblemCode::MetadataInvalidCharacter,
            Some(k),
            Some(file),
            format!("Metadata {k} contains the character U+{:04X} at position {}, which cannot be stored in plugins.xml (XML 1.0).", c as u32, i + 1),
            "Remove control characters from the value (they are often pasted in invisibly from word processors).",
        );
        return;
    }
    if IDENTIFYING.contains(&k)
        && let Some(c) = v.chars().find(|&c| super::paths::is_unprintable(c) && c != '\n')
    {
        r.error(
            ProblemCode::MetadataInvisibleCharacter,
            Some(k),
            Some(file),
            format!("Metadata {k} contains the invisible or direction-changing character U+{:04X}.", c as u32),
            "Remove it: in names, authors and tags such characters can disguise one plugin or person as another.",
        );
        return;
    }
    if SINGLE_LINE.contains(&k) && v.contains('\n') {
        r.error(
            ProblemCode::MetadataMultilineValue,
            Some(k),
            Some(file),
            format!("Metadata {k} spans several lines; it must fit on one line."),
            format!("Write `{k}` on a single line (do not indent the line after it)."),
        );
        return;
    }
    let limit = match k {
        "name" => limits.max_plugin_name_len,
        "description" => limits.max_description_len,
        "about" | "changelog" => limits.max_long_text_len,
        "tags" => limits.max_tags * (limits.max_tag_len + 2),
        _ => limits.max_field_len,
    };
    let n = v.chars().count();
    if n > limit {
        r.error(
            ProblemCode::MetadataFieldTooLong,
            Some(k),
            Some(file),
            format!("Metadata {k} is {n} characters long; at most {limit} are allowed."),
            if k == "description" {
                "Keep description to one or two sentences and put the details in `about`."
                    .to_owned()
            } else {
                format!("Shorten `{k}`; put long documentation on the plugin's homepage.")
            },
        );
    }
}

/// XML 1.0 `Char`, minus the C1 controls (legal but invisible and never meant).
pub(crate) fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

fn plausible_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"' | '\''))
}

/// URL syntax: http or https, a host of non-empty labels with a dot (or an IP literal),
/// no credentials, not the reference's template placeholder.
pub(crate) fn check_url(url: &str, placeholder: &str) -> Result<(), String> {
    if url.eq_ignore_ascii_case(placeholder) {
        return Err("is the template placeholder, not a real address".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters".into());
    }
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err("does not start with http:// or https://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("contains a user name or password".into());
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let Some((ip, port)) = v6.split_once(']') else {
            return Err("has an unclosed IPv6 address".into());
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("has an invalid IPv6 address".into());
        }
        check_port(port.strip_prefix(':'), port.is_empty())?;
        return Ok(());
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) => {
                check_port(Some(port), false)?;
                h
            }
            None => authority,
        }
    };
    if host.is_empty() {
        return Err("has no host name".into());
    }
    if host.split('.').any(str::is_empty) {
        return Err(format!("has an empty label in its host name `{host}`"));
    }
    if !host.contains('.') {
        return Err(format!(
            "has the host name `{host}`, which is not a public address (a template placeholder?)"
        ));
    }
    if let Some(c) =
        host.chars().find(|&c| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
    {
        return Err(format!("has the character `{c}` in its host name"));
    }
    Ok(())
}

fn check_port(port: Option<&str>, absent_ok: bool) -> Result<(), String> {
    match port {
        None if absent_ok => Ok(()),
        Some(p)
            if p.parse::<u16>().is_ok_and(|n| n > 0) && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(())
        }
        _ => Err("has an invalid port".into()),
    }
}

/// Step 12: reads `<pkg>/<icon>` by exact name; any problem drops the icon with a warning.
fn load_icon(
    r: &mut Report,
    archive: &Archive<'_>,
    folder: &str,
    meta: &Metadata,
    limits: &Limits,
) -> Option<Icon> {
    let value = meta.non_empty("icon")?;
    read_icon(r, archive, folder, value, limits)
}

/// The icon file named by `value`, read and sniffed; `None` (with a warning) on any problem.
fn read_icon(
    r: &mut Report,
    archive: &Archive<'_>,
    folder: &str,
    value: &str,
    limits: &Limits,
) -> Option<Icon> {
    let path = value.strip_prefix("./").unwrap_or(value);
    let full = format!("{folder}/{path}");
    let drop = |r: &mut Report, why: String| {
        r.warn(ProblemCode::IconIgnored, Some("icon"), format!("The icon `{value}` was ignored: {why}."), "Point `icon` at a PNG, JPEG, GIF, WebP or SVG file inside the plugin folder, smaller than 1 MiB, for example `icon=icon.png`.");
        None
    };
    let Some(entry) = archive.entries.iter().find(|e| e.name == full) else {
        return drop(r, format!("there is no file {full} in the zip"));
    };
    let mut totals = super::archive::Totals::default();
    let (bytes, longer) = match archive.read(entry, limits.max_icon_bytes + 1, &mut totals, limits)
    {
        Ok(b) => b,
        Err(p) => return drop(r, p.message),
    };
    if longer || bytes.len() > limits.max_icon_bytes {
        return drop(r, format!("it is larger than {} bytes", limits.max_icon_bytes));
    }
    match sniff_image(&bytes) {
        Ok(ext) => Some(Icon { ext: ext.to_owned(), bytes }),
        Err(why) => drop(r, why.to_owned()),
    }
}

/// Image type from magic bytes (never from the file name); SVG only when passive.
fn sniff_image(b: &[u8]) -> Result<&'static str, &'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok("png");
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok("jpg");
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Ok("gif");
    }
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Ok("webp");
    }
    let Ok(text) = std::str::from_utf8(b) else {
        return Err("it is not a PNG, JPEG, GIF, WebP or SVG image");
    };
    let lower = text.to_ascii_lowercase();
    if !lower.contains("<svg") {
        return Err("it is not a PNG, JPEG, GIF, WebP or SVG image");
    }
    let active = [
        "<script",
        "javascript:",
        "<foreignobject",
        "<iframe",
        "<embed",
        "<object",
        "href=\"http",
        "href='http",
        "href=\"//",
        "@import",
        "<!entity",
    ];
    if active.iter().any(|a| lower.contains(a)) || has_event_handler(&lower) {
        return Err("the SVG contains scripts, event handlers or external references");
    }
    Ok("svg")
}

fn has_event_handler(lower: &str) -> bool {
    let b = lower.as_bytes();
    (0..b.len().saturating_sub(3)).any(|i| {
        (b[i].is_ascii_whitespace() || b[i] == b'/') && b[i + 1] == b'o' && b[i + 2] == b'n' && {
            let rest = &b[i + 3..];
            let n = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
            n > 0 && rest[n..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'=')
        }
    })
}
