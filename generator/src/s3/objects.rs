//! The objects of a release: every public file of the release directory (tree symlinks
//! followed) with its object key (`urls::object_key`), its publication phase (contract §3),
//! its metadata (contract §2) and the manifest identity it came from, so an entry whose
//! identity the last sync recorded is neither read nor hashed again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::urls;

/// Publication phases, in order: a phase starts once every put of the previous succeeded,
/// so no reader fetches a document naming an object not stored yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Zips, icons, `static/**`.
    Assets,
    /// Every other page, JSON and feed, and `404.html`.
    Pages,
    /// Per-package plugins.xml documents `plugins/<pkg>/xml-*.xml` (+ `.gz`).
    PackageDocuments,
    /// Site-wide plugins.xml documents `plugins/xml/**` (+ `.gz`), last.
    SiteDocuments,
}

impl Phase {
    pub const ALL: [Phase; 4] =
        [Phase::Assets, Phase::Pages, Phase::PackageDocuments, Phase::SiteDocuments];

    /// The phase of the published file `rel` (a `.gz` goes with its plain file).
    pub fn of(rel: &str) -> Phase {
        let plain = rel.strip_suffix(".gz").unwrap_or(rel);
        let segs: Vec<&str> = plain.split('/').collect();
        match segs[..] {
            ["static", ..] => Phase::Assets,
            ["plugins", "xml", ..] => Phase::SiteDocuments,
            ["plugins", pkg, file] if urls::version_of_zip(pkg, file).is_some() => Phase::Assets,
            ["plugins", _, file] if file.starts_with("icon-") => Phase::Assets,
            _ if urls::package_document(plain).is_some() => Phase::PackageDocuments,
            _ => Phase::Pages,
        }
    }
}

/// Headers stored with an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Metadata {
    pub content_type: &'static str,
    pub cache_control: &'static str,
    /// `gzip` for a `.gz` sibling.
    pub content_encoding: Option<&'static str>,
}

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const NO_CACHE: &str = "no-cache";

/// The metadata of the object `key`: the plain file's type, `gzip` for a `.gz`.
pub fn metadata(key: &str) -> Metadata {
    let (plain, gz) = match key.strip_suffix(".gz") {
        Some(plain) => (plain, true),
        None => (key, false),
    };
    Metadata {
        content_type: content_type(plain),
        cache_control: cache_control(plain),
        content_encoding: gz.then_some("gzip"),
    }
}

/// Content-Type by extension: the table of `nginx/site.conf.in`, with its charset.
pub fn content_type(key: &str) -> &'static str {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name == "json" {
        return "application/json; charset=utf-8";
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "xml" => "application/xml; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "application/javascript; charset=utf-8",
        "xsl" => "text/xsl; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Cache-Control: zips, icons and content-hashed assets never change under their name.
pub fn cache_control(key: &str) -> &'static str {
    let segs: Vec<&str> = key.split('/').collect();
    let immutable = match segs[..] {
        ["plugins", _, file] if file.starts_with("icon-") => true,
        _ => key.ends_with(".zip") || is_hashed_asset(key),
    };
    if immutable { IMMUTABLE } else { NO_CACHE }
}

/// `-[0-9a-f]{8,64}\.[A-Za-z0-9]+$`: a name carrying its content hash.
fn is_hashed_asset(key: &str) -> bool {
    let Some((stem, ext)) = key.rsplit_once('.') else { return false };
    let Some((_, hash)) = stem.rsplit_once('-') else { return false };
    !ext.is_empty()
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && (8..=64).contains(&hash.len())
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One object of a release.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: String,
    /// The file in the release (through the tree symlink).
    pub path: PathBuf,
    pub phase: Phase,
    /// What the manifest says the bytes came from (None: the bytes must be hashed).
    pub identity: Option<String>,
}

/// Every object of the release in `dir`, by key, but the site-wide plugins.xml documents
/// the edges' `?qgis=` walk resolves to identical bytes without them (`walk_aliases`).
/// Fails when two files map to one key.
pub fn list(dir: &Path, manifest: &Manifest) -> Result<BTreeMap<String, Object>> {
    let mut objects = list_all(dir, manifest)?;
    for key in walk_aliases(&objects) {
        objects.remove(&key);
    }
    Ok(objects)
}

/// Every object of the release in `dir`, by key.
fn list_all(dir: &Path, manifest: &Manifest) -> Result<BTreeMap<String, Object>> {
    let mut objects = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let entry = entry.with_context(|| format!("failed to list `{}`", dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let Some(rel) = rel.to_str() else {
            bail!("`{}` is not a UTF-8 file name", entry.path().display());
        };
        let Some(key) = urls::object_key(rel) else { continue };
        let object = Object {
            key: key.clone(),
            path: entry.path().to_path_buf(),
            phase: Phase::of(rel),
            identity: identity(rel, manifest),
        };
        if let Some(other) = objects.insert(key.clone(), object) {
            bail!("`{}` and `{rel}` would both be stored as `{key}`", other.path.display());
        }
    }
    Ok(objects)
}

/// The site-wide documents `plugins/xml/[stable_only/]<M>.<m>.xml` (and `.gz`) whose next
/// lower minor in the same decade (`3.34` → `3.33`; never below `<M>.<m>0`) holds the same
/// bytes. nginx's `?qgis=` chain (nginx/plugins-xml.conf) walks down the decade to the
/// nearest document there is, so an edge answers `?qgis=3.34` with `3.33.xml` when
/// `3.34.xml` is not stored: the same document. A release holds one document per minor,
/// most of them identical (86 site-wide documents, 34 distinct, at 2,500 plugins), and
/// every object an approval changes costs the store a quorum write; these need none.
/// Identical means the same file: publishing hard-links identical variants.
fn walk_aliases(objects: &BTreeMap<String, Object>) -> Vec<String> {
    objects
        .keys()
        .filter(|key| {
            lower_minor_key(key).and_then(|lower| objects.get(&lower)).is_some_and(|lower| {
                objects.get(*key).is_some_and(|o| same_file(&o.path, &lower.path))
            })
        })
        .cloned()
        .collect()
}

/// `plugins/xml/[stable_only/]<M>.<m>.xml[.gz]` → the same key one minor lower within
/// its decade (last digit of `<m>` above 0).
pub(super) fn lower_minor_key(key: &str) -> Option<String> {
    let (plain, gz) = match key.strip_suffix(".gz") {
        Some(p) => (p, ".gz"),
        None => (key, ""),
    };
    let rest = plain.strip_prefix("plugins/xml/")?;
    let (dir, file) = match rest.strip_prefix("stable_only/") {
        Some(f) => ("stable_only/", f),
        None => ("", rest),
    };
    let (major, minor) = file.strip_suffix(".xml")?.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    let (head, last) = minor.split_at(minor.len() - 1);
    let last = last.parse::<u8>().ok().filter(|d| *d > 0)?;
    Some(format!("plugins/xml/{dir}{major}.{head}{}.xml{gz}", last - 1))
}

/// Whether two paths are the same file (one inode: hard links).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// What the manifest says about `rel`'s bytes: a site-wide file's content hash (and its
/// `.gz`'s, derived from it), or the tree key plus the path in the (immutable) tree.
fn identity(rel: &str, manifest: &Manifest) -> Option<String> {
    if let Some(hash) = manifest.files.get(rel) {
        return Some(format!("file:{hash}"));
    }
    if let Some(hash) = rel.strip_suffix(".gz").and_then(|p| manifest.files.get(p)) {
        return Some(format!("gz:{hash}"));
    }
    let (mount, file) = rel.rsplit_once('/')?;
    let tree = manifest.trees.get(mount)?;
    Some(format!("tree:{tree}:{file}"))
}
