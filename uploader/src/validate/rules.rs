//! The plugin-level rules of reference §2.2 (steps 5, 7–20) with decisions.md §4: folder,
//! plugin files, metadata keys and values, icon, URLs, LICENSE, author; plus the field
//! limits and character rules of reliability catalogue B. Metadata problems are collected
//! so an author sees all of them in one upload.

use generator::model::Icon;
use generator::names::{PackageName, PluginVersion, QgisVersion};

use super::archive::Archive;
use super::metadata::{self, py_strip};
use super::checked::CheckedPlugin;
use super::code::ProblemCode;
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
    fn warn(&mut self, code: ProblemCode, key: Option<&str>, message: String, hint: impl Into<String>) {
        let mut p = Problem::new(code, message, hint);
        p.key = key.map(str::to_owned);
        self.warnings.push(p);
    }
}

/// Steps 8–20 on an archive that passed the structural checks.
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
    let mut r = Report { errors: Vec::new(), warnings: Vec::new() };
    if opts.check_urls_online {
        r.warn(
            ProblemCode::MetadataOnlineCheckUnavailable,
            None,
            "Online URL reachability checks are not implemented; URLs were checked for syntax only.".into(),
            "",
        );
    }

    // 8. PEP 8 folder name for new plugins; the same package for updates.
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

    // 9. Plugin files present.
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
        return Err(Rejection { errors: r.errors, warnings: r.warnings });
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

    // 10. Read metadata.
    let init_text = files.init.as_deref().map(String::from_utf8_lossy);
    let (fields, source): (Option<Vec<(String, String)>>, &str) = if has_meta {
        let (bytes, longer) = files.metadata.unwrap_or_default();
        let parsed = if longer {
            Err(vec![metadata::MetadataError::TooLarge { limit: limits.max_metadata_bytes }])
        } else {
            metadata::parse(&bytes, limits.max_metadata_bytes)
        };
        match parsed {
            Ok(f) => (Some(f.into_iter().map(|f| (f.key, f.value)).collect()), "metadata.txt"),
            Err(errs) => {
                for e in errs {
                    let mut p = Problem::new(
                        e.code(),
                        format!("Errors parsing {meta_name}. {e}."),
                        e.hint(),
                    )
                    .with_file(&meta_name);
                    p.key = e.key();
                    r.errors.push(p);
                }
                (None, "metadata.txt")
            }
        }
    } else {
        let scraped = init_text.as_deref().map(metadata::scrape_init).unwrap_or_default();
        if scraped.is_empty() {
            r.error(
                ProblemCode::MetadataNotFound,
                None,
                Some(&init_name),
                format!("Cannot find valid metadata in {init_name}"),
                format!("Add {meta_name}. {DOCS}"),
            );
            (None, "__init__.py")
        } else {
            r.warn(
                ProblemCode::MetadataFromInit,
                None,
                "Your plugin does not contain a metadata.txt file, metadata have been read from the __init__.py file. This is deprecated and its support will eventually cease.".into(),
                format!("Add {meta_name}. {DOCS}"),
            );
            let f = scraped.into_iter().map(|(k, v)| (k, py_strip(&v).to_owned())).collect();
            (Some(f), "__init__.py")
        }
    };

    // Checks that need no metadata still run, so every problem is reported at once.
    let package = match PackageName::parse(folder) {
        Ok(p) => Some(p),
        Err(e) => {
            // 15. ASCII folder name.
            r.error(
                ProblemCode::PackageNotAscii,
                None,
                Some(folder),
                format!("The name of the top level directory inside the zip package must start with an ASCII letter and can only contain ASCII letters, digits and the signs '-' and '_' ({e})."),
                "Rename the folder with ASCII letters, digits and '_' only.",
            );
            None
        }
    };
    if let (Mode::New, Some(p)) = (mode, &package)
        && p.is_reserved()
    {
        r.error(
            ProblemCode::PackageReserved,
            None,
            Some(folder),
            format!("The package name '{p}' is reserved: it is a page of the plugin repository."),
            "Choose another name for the plugin folder.",
        );
    }
    // 18. LICENSE.
    let license = format!("{folder}/LICENSE");
    if !names.contains(&license.as_str()) {
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

    let Some(fields) = fields else {
        return Err(Rejection { errors: r.errors, warnings: r.warnings });
    };
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let meta_file = if source == "metadata.txt" { meta_name.clone() } else { init_name.clone() };

    // 11. Required keys (reported one problem per key).
    for k in REQUIRED {
        match get(k) {
            None => {
                let other = fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(k));
                let hint = match other {
                    Some((o, _)) => {
                        format!("Rename `{o}` to `{k}`: metadata keys are case-sensitive.")
                    }
                    None => format!("Add a line `{k}=...` under [general]. {DOCS}"),
                };
                r.error(
                    ProblemCode::MetadataMissingKey,
                    Some(k),
                    Some(&meta_file),
                    format!("Cannot find metadata {k} in metadata source {source}."),
                    hint,
                );
            }
            Some("") => r.error(
                ProblemCode::MetadataEmptyValue,
                Some(k),
                Some(&meta_file),
                format!("Metadata {k} is empty in {source}."),
                format!("Give `{k}` a value. {DOCS}"),
            ),
            Some(_) => {}
        }
    }

    // Values: characters, lines and lengths (every key, known or not).
    if fields.len() > limits.max_keys {
        r.error(
            ProblemCode::MetadataTooManyKeys,
            None,
            Some(&meta_file),
            format!(
                "{source} has {} keys in [general]; at most {} are allowed.",
                fields.len(),
                limits.max_keys
            ),
            "Remove keys QGIS does not use.",
        );
    }
    for (k, v) in &fields {
        check_value(&mut r, k, v, &meta_file, limits);
    }

    // 12. Icon (never an error: problems drop the icon with a warning).
    let icon = get("icon")
        .filter(|v| !v.is_empty())
        .and_then(|v| load_icon(&mut r, archive, folder, v, limits));

    // 13. supportsQt6.
    if get("supportsQt6").is_some() {
        r.warn(
            ProblemCode::MetadataSupportsQt6Deprecated,
            Some("supportsQt6"),
            "The supportsQt6 flag is deprecated and ignored.".into(),
            "Remove supportsQt6 and set qgisMaximumVersion to 4.99 if the plugin works with QGIS 4 (Qt 6).",
        );
    }

    // 14. Booleans.
    let mut flag = |k: &str| -> bool {
        let Some(v) = get(k) else { return false };
        match v.to_lowercase().as_str() {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" | "" => false,
            _ => {
                r.error(
                    ProblemCode::MetadataBadBoolean,
                    Some(k),
                    Some(&meta_file),
                    format!("Metadata {k} has the value `{v}`, which is not a boolean."),
                    format!("Write `{k}=True` or `{k}=False`."),
                );
                false
            }
        }
    };
    let experimental = flag("experimental");
    let deprecated = flag("deprecated");
    let server = flag("server");

    // Version and QGIS range.
    let version =
        get("version").filter(|v| !v.is_empty()).and_then(|v| match PluginVersion::parse(v) {
            Ok(v) => Some(v),
            Err(e) => {
                r.error(
                    ProblemCode::MetadataBadVersion,
                    Some("version"),
                    Some(&meta_file),
                    format!("Metadata version `{v}` is not usable: {e}."),
                    "Use a version such as `1.0.0`.",
                );
                None
            }
        });
    let min_raw = get("qgisMinimumVersion").filter(|v| !v.is_empty());
    let min_qgis = min_raw.and_then(|v| parse_qgis(&mut r, "qgisMinimumVersion", v, &meta_file));
    let max_qgis = match get("qgisMaximumVersion").filter(|v| !v.is_empty()) {
        Some(v) => parse_qgis(&mut r, "qgisMaximumVersion", v, &meta_file),
        None => min_qgis.map(QgisVersion::default_max),
    };
    if let (Some(min), Some(max)) = (min_qgis, max_qgis)
        && min > max
    {
        r.error(
            ProblemCode::MetadataQgisRange,
            Some("qgisMaximumVersion"),
            Some(&meta_file),
            format!("qgisMinimumVersion {min} is greater than qgisMaximumVersion {max}."),
            "Set qgisMaximumVersion to at least qgisMinimumVersion, or remove it (it defaults to <major>.99).",
        );
    }

    // 16. Legacy rule: below 1.8, QGIS read metadata from __init__.py too.
    if let Some(min) = min_raw
        && has_meta
        && min.split('.').collect::<Vec<_>>() < vec!["1", "8"]
    {
        let scraped = init_text.as_deref().map(metadata::scrape_init).unwrap_or_default();
        let missing: Vec<&str> =
            REQUIRED.iter().copied().filter(|k| !scraped.iter().any(|(s, _)| s == k)).collect();
        if !missing.is_empty() {
            r.error(
                ProblemCode::MetadataLegacyInit,
                Some("qgisMinimumVersion"),
                Some(&init_name),
                format!("qgisMinimumVersion is set to less than 1.8 ({min}) and there were errors reading metadata from the __init__.py file: cannot find {} there.", missing.join(", ")),
                "Set qgisMinimumVersion to 1.8 or later, or also define the metadata functions in __init__.py.",
            );
        }
    }

    // 17. URLs (syntax only; reachability is not checked).
    for (k, placeholder) in
        [("tracker", "http://bugs"), ("repository", "http://repo"), ("homepage", "http://homepage")]
    {
        if let Some(v) = get(k).filter(|v| !v.is_empty())
            && let Err(why) = check_url(v, placeholder)
        {
            r.error(
                ProblemCode::MetadataBadUrl,
                Some(k),
                Some(&meta_file),
                format!("Please provide valid url link for the following key(s) in the metadata source: {k}. `{v}` {why}."),
                format!("Write the full address of the plugin's {}, starting with https://.", match k { "tracker" => "issue tracker", "repository" => "source code repository", _ => "home page" }),
            );
        }
    }

    // 19. Author.
    if let Some(a) = get("author")
        && a.contains('/')
    {
        r.error(
            ProblemCode::MetadataAuthorSlash,
            Some("author"),
            Some(&meta_file),
            format!("Author name cannot contain slashes (found `{a}`)."),
            "Separate several authors with commas, for example `author=Jane Doe, John Roe`.",
        );
    }
    if let Some(e) = get("email").filter(|e| !e.is_empty())
        && !plausible_email(e)
    {
        r.error(
            ProblemCode::MetadataBadEmail,
            Some("email"),
            Some(&meta_file),
            format!("Metadata email `{e}` is not an e-mail address."),
            "Write one address such as `email=jane@example.org`; the repository never shows it publicly.",
        );
    }

    // Tags: trimmed, lower-case, non-empty, deduplicated.
    let mut tags: Vec<String> = Vec::new();
    for t in get("tags").unwrap_or("").split(',') {
        let t = py_strip(t).to_lowercase();
        if !t.is_empty() && !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > limits.max_tags {
        r.error(
            ProblemCode::MetadataTooManyTags,
            Some("tags"),
            Some(&meta_file),
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
            Some(&meta_file),
            format!("The tag `{t}` is longer than {} characters.", limits.max_tag_len),
            "Tags are single words or short phrases separated by commas.",
        );
    }

    let (Some(package), Some(version), Some(min_qgis), Some(max_qgis), true) =
        (package, version, min_qgis, max_qgis, r.errors.is_empty())
    else {
        return Err(Rejection { errors: r.errors, warnings: r.warnings });
    };
    // 20. Values are already trimmed as Python's str.strip() does.
    let owned = |k: &str| get(k).unwrap_or("").to_owned();
    let opt_url = |k: &str| get(k).filter(|v| !v.is_empty()).map(str::to_owned);
    let mut meta: Vec<(String, String)> = fields.clone();
    meta.push(("metadata_source".into(), source.into()));
    meta.push(("package_name".into(), package.to_string()));
    Ok(CheckedPlugin {
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
        package,
        version,
        min_qgis,
        max_qgis,
        tags,
        experimental,
        deprecated,
        server,
        icon,
        sha256: generator::fsutil::sha256_hex(zip),
        size: zip.len() as u64,
        metadata: meta,
        warnings: r.warnings,
    })
}

/// The version reaches URLs and file names: a conservative, path-safe alphabet
/// (reliability catalogue B12).
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
