//! The one rule for how a plugin version (and any other name) appears in a URL path and in a
//! published file name. The generator writes every link and every version file name
//! through these functions, `tests/it/support/published.rs` maps files to URLs with them,
//! and nginx's version captures (`nginx/site.conf.in`, `VERSION` below) accept exactly the
//! decoded form.
//!
//! - **URL path segment**: every byte outside RFC 3986 unreserved (`A-Za-z0-9-._~`) is
//!   percent-encoded, so `1.2.0~rc1` stays as it is and `1.0+büld` is `1.0%2Bb%C3%BCld`.
//! - **File name**: the raw version text. nginx matches locations against the decoded,
//!   normalised `$uri`, and `try_files` looks up the decoded name, so the raw text is what
//!   nginx asks the file system for whatever escaping a client used (`%7E` or `~`). An
//!   encoded file name would need nginx to re-encode the URI, which it cannot. The raw text
//!   is always one safe file name: [`catalog::names::PluginVersion::parse`] refuses `/`, `\`,
//!   NUL and every control character, and a version starts with a letter or digit, so it is
//!   never `.` or `..` (the file names also carry a prefix: `version-<v>.html`,
//!   `<pkg>.<v>.zip`).

/// nginx's capture of a decoded version segment, as written in `nginx/site.conf.in`: a
/// letter or digit first, then the ASCII characters a version may hold, and any non-ASCII
/// byte (nginx matches bytes; non-ASCII text the validator refuses has no file, so it is a
/// 404). At most `MAX_VERSION_KEY_LEN` bytes: the padded key, checked in bytes, is never shorter
/// than the text.
pub const NGINX_VERSION_PATTERN: &str =
    r"[A-Za-z0-9\x80-\xff][A-Za-z0-9!$&'()+,;=@\[\]^_`{}~.\-\x80-\xff]{0,31}";

/// Percent-encodes everything but RFC 3986 unreserved characters: one URL path segment.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/plugins/<pkg>/version/<v>/`: a version's page (its JSON is `...json`, its zip
/// `...download/`).
pub fn version_page(package: &str, version: &str) -> String {
    format!("/plugins/{}/version/{}/", segment(package), segment(version))
}

/// `/plugins/<pkg>/version/<v>/json`.
pub fn version_json(package: &str, version: &str) -> String {
    format!("{}json", version_page(package, version))
}

/// `/plugins/<pkg>/version/<v>/download/`: the download URL of plugins.xml and the pages.
pub fn version_download(package: &str, version: &str) -> String {
    format!("{}download/", version_page(package, version))
}

/// A version's page (`html`) or JSON (`json`) in its plugin's flat tree: `version-<v>.<ext>`,
/// served for [`version_page`] and [`version_json`].
pub fn version_file(version: &str, ext: &str) -> String {
    format!("version-{version}.{ext}")
}

/// `<pkg>.<v>.zip`: the published zip (served for [`version_download`]) and plugins.xml's
/// `file_name`, from which QGIS takes the plugin id (the text before the first dot).
pub fn zip_file_name(package: &str, version: &str) -> String {
    format!("{package}.{version}.zip")
}

/// The version text of a file name written by [`version_file`] with `ext`.
pub fn version_of_file<'a>(file: &'a str, ext: &str) -> Option<&'a str> {
    file.strip_prefix("version-")?.strip_suffix(ext)?.strip_suffix('.')
}

/// The version text of a file name written by [`zip_file_name`] for `package`.
pub fn version_of_zip<'a>(package: &str, file: &'a str) -> Option<&'a str> {
    file.strip_prefix(package)?.strip_prefix('.')?.strip_suffix(".zip")
}

#[cfg(test)]
mod tests;
