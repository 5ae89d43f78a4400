//! Every public URL and every published file name of the site, and the map from a
//! published file back to where nginx answers it ([`public_address`]). The generator writes
//! every link and every file name through these functions; the end-to-end tests map files
//! to URLs with [`public_address`] and check each against the real nginx
//! (`tests/it/url_map.rs`); nginx's version captures (`VER_RE` in `nginx/patterns.env`,
//! [`NGINX_VERSION_PATTERN`]) accept exactly the decoded form. A leaf: imports nothing of
//! this crate.
//!
//! One rule for a plugin version (and any other name) in a URL path and in a file name:
//!
//! - **URL path segment**: every byte outside RFC 3986 unreserved (`A-Za-z0-9-._~`) is
//!   percent-encoded, so `1.2.0~rc1` stays as it is and `1.0+büld` is `1.0%2Bb%C3%BCld`.
//! - **File name**: the raw version text. nginx matches locations against the decoded,
//!   normalised `$uri`, and `try_files` looks up the decoded name, so the raw text is what
//!   nginx asks the file system for whatever escaping a client used (`%7E` or `~`). An
//!   encoded file name would need nginx to re-encode the URI, which it cannot. The raw text
//!   is always one safe file name: `names::PluginVersion::parse` refuses `/`, `\`,
//!   NUL and every control character, and a version starts with a letter or digit, so it is
//!   never `.` or `..` (the file names also carry a prefix: `version-<v>.html`,
//!   `<pkg>.<v>.zip`).
//!
//! The release is flat (a directory costs the file system an inode): a plugin's version,
//! stats and latest pages are files of its tree, list pages `page-N.html`, tag, author and
//! user lists `<kind>/p<N>/<name>.html`; their public URLs are those of the reference.

/// nginx's capture of a decoded version segment (`VER_RE` in `nginx/patterns.env`, checked
/// equal by `tests/it/nginx_conf.rs`): a
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

/// `/plugins/<pkg>/`: a plugin's page.
pub fn plugin_page(package: &str) -> String {
    format!("/plugins/{}/", segment(package))
}

/// `/plugins/<pkg>/feed.xml`: a plugin's versions feed.
pub fn plugin_feed(package: &str) -> String {
    format!("{}feed.xml", plugin_page(package))
}

/// `/plugins/<pkg>/stats/`: a plugin's download statistics.
pub fn plugin_stats(package: &str) -> String {
    format!("{}stats/", plugin_page(package))
}

/// `/plugins/<pkg>/stats/json`.
pub fn plugin_stats_json(package: &str) -> String {
    format!("{}json", plugin_stats(package))
}

/// `/plugins/<pkg>/icon-<hash>.<ext>`: a plugin's icon; the content hash in the name lets
/// it be cached forever.
pub fn icon(package: &str, hash: &str, ext: &str) -> String {
    format!("{}{}", plugin_page(package), icon_file(hash, ext))
}

/// The kinds of list with one list per name, published as `plugins/<kind>/p<N>/<name>.html`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedKind {
    /// `/plugins/tags/<slug>/`.
    Tag,
    /// `/plugins/author/<name>/` (metadata `author`).
    Author,
    /// `/plugins/user/<name>/` (accounts that created or own plugins).
    User,
}

impl NamedKind {
    /// The kind's segment in URLs and its directory under `plugins/`.
    pub fn segment(self) -> &'static str {
        match self {
            NamedKind::Tag => "tags",
            NamedKind::Author => "author",
            NamedKind::User => "user",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [NamedKind::Tag, NamedKind::Author, NamedKind::User].into_iter().find(|k| k.segment() == s)
    }
}

/// `/plugins/<kind>/<name>/`: the list of a tag (by slug), an author or a user.
pub fn named_list(kind: NamedKind, name: &str) -> String {
    format!("/plugins/{}/{}/", kind.segment(), segment(name))
}

/// `/plugins/tags/<slug>/`.
pub fn tag_page(slug: &str) -> String {
    named_list(NamedKind::Tag, slug)
}

/// `/plugins/tags/<slug>/feed.xml` (published as [`tag_feed_file`]).
pub fn tag_feed(slug: &str) -> String {
    format!("{}feed.xml", tag_page(slug))
}

/// `/plugins/author/<name>/`, or None when the name cannot be a file name ([`list_name`]).
pub fn author_page(name: &str) -> Option<String> {
    list_name(name).map(|n| named_list(NamedKind::Author, n))
}

/// The published name of an author's or user's list: nginx decodes the URI, so the file
/// name is the raw text. Names that cannot be one file name (`.`, `..`, control
/// characters, too long) get no list.
pub fn list_name(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 200
        && !s.contains(['/', '\\', '\0'])
        && !s.chars().any(char::is_control);
    ok.then_some(s)
}

/// `plugins/<slug>`: where a main list is published (`plugins` for "All plugins").
pub fn main_list_dir(slug: &str) -> String {
    if slug.is_empty() { "plugins".to_owned() } else { format!("plugins/{slug}") }
}

/// `/<dir>/`: a list (or any page) published under `dir` (`plugins/stable`).
pub fn list(dir: &str) -> String {
    format!("/{dir}/")
}

/// `<list>sort/<key>/`: a list in one of its alternative orders.
pub fn list_sorted(list: &str, key: &str) -> String {
    format!("{list}sort/{key}/")
}

/// Page `n` of the list at `list` (`<list>page/<n>/` from page 2 on).
pub fn list_page(list: &str, n: usize) -> String {
    if n == 1 { list.to_owned() } else { format!("{list}page/{n}/") }
}

/// The site-wide Atom feeds.
pub const NEW_FEED: &str = "/plugins/feeds/new.xml";
pub const UPDATED_FEED: &str = "/plugins/feeds/updated.xml";

/// The published file of a URL that names its file's path (`/plugins/feeds/new.xml`).
pub fn file_of(url: &str) -> String {
    url.trim_start_matches('/').to_owned()
}

/// `/static/<name>`: a static asset published as [`static_file`].
pub fn static_asset(name: &str) -> String {
    format!("/{}", static_file(name))
}

// ---- Published file names (relative to the release root, or to a plugin's tree).

/// The release manifest (`manifest`): private, nginx answers 404 for every dot file.
pub const MANIFEST_FILE: &str = ".manifest.json";
/// nginx's 404 page: the body of every 404, never served by itself.
pub const NOT_FOUND_PAGE: &str = "404.html";
/// The home page.
pub const HOME_PAGE: &str = "index.html";
/// The search index and page.
pub const SEARCH_INDEX: &str = "search/index.json";
pub const SEARCH_PAGE: &str = "search/index.html";
/// The docs' index.
pub const DOCS_INDEX: &str = "docs/index.html";
/// The site-wide download statistics.
pub const SITE_STATS_PAGE: &str = "plugins/stats/index.html";
pub const SITE_STATS_JSON: &str = "plugins/stats/json";
/// The empty plugins.xml: what a request for nothing known ends at.
pub const EMPTY_DOCUMENT: &str = "plugins/xml/empty.xml";
/// The indexes of tags, authors and users.
pub const TAGS_INDEX: &str = "plugins/tags/index.html";
pub const AUTHORS_INDEX: &str = "plugins/authors/index.html";
pub const USERS_INDEX: &str = "plugins/users/index.html";

/// Files of a plugin's tree (`plugins/<pkg>/`), besides versions, icons and documents.
pub const TREE_INDEX: &str = "index.html";
pub const TREE_JSON: &str = "json";
pub const TREE_FEED: &str = "feed.xml";
pub const TREE_STATS_HTML: &str = "stats.html";
pub const TREE_STATS_JSON: &str = "stats.json";
pub const TREE_LATEST_HTML: &str = "latest.html";
pub const TREE_LATEST_JSON: &str = "latest.json";

/// `docs/<page>/index.html`.
pub fn docs_page(page: &str) -> String {
    format!("docs/{page}/index.html")
}

/// `static/<name>`: a static asset (hashed or fixed name).
pub fn static_file(name: &str) -> String {
    format!("static/{name}")
}

/// `plugins/<pkg>`: where a plugin's tree is mounted in a release.
pub fn tree_mount(package: &str) -> String {
    format!("plugins/{package}")
}

/// `icon-<hash>.<ext>`: a plugin's icon in its tree.
pub fn icon_file(hash: &str, ext: &str) -> String {
    format!("icon-{hash}.{ext}")
}

/// `plugins/tags/feed/<slug>.xml`: a tag's feed (served for `urls::tag_feed`). Tag pages
/// and feeds live flat under `plugins/tags/` (see [`ListFiles::Named`]).
pub fn tag_feed_file(slug: &str) -> String {
    format!("plugins/tags/feed/{slug}.xml")
}

/// `plugins/xml/[stable_only/]<name>.xml`: a site-wide plugins.xml document, `name` a QGIS
/// version, a label, `major-<M>`, `newest` or a decade ([`decade_stem`]).
pub fn site_document(name: &str, stable_only: bool) -> String {
    let dir = if stable_only { "plugins/xml/stable_only" } else { "plugins/xml" };
    format!("{dir}/{name}.xml")
}

/// `plugins/xml/none/<name>.xml`: "this name is known, the package has nothing for it",
/// where a package's lookup ends when it has no file of its own.
pub fn known_name_document(name: &str) -> String {
    format!("plugins/xml/none/{name}.xml")
}

/// `xml-[stable_only-]<stem>.xml`: a plugin's own plugins.xml document in its tree.
pub fn package_document_file(stem: &str, stable_only: bool) -> String {
    let prefix = if stable_only { "xml-stable_only-" } else { "xml-" };
    format!("{prefix}{stem}.xml")
}

/// `d-<head>x`: the document name of the decade whose versions' text starts with `head`
/// (`3.3` for 3.30–3.39, `3.` for 3.0–3.9).
pub fn decade_stem(head: &str) -> String {
    format!("d-{head}x")
}

/// Where a list's pages are published.
#[derive(Clone, Copy, Debug)]
pub enum ListFiles<'a> {
    /// `<dir>[/sort/<key>]/index.html`, then `.../page-<N>.html` (nginx maps `/page/<N>/`
    /// and `?page=<N>` to it).
    Dir(&'a str),
    /// The thousands of tag, author and user lists: files `plugins/<kind>/p<N>/<name>.html`
    /// rather than a directory per name (nginx maps `/plugins/<kind>/<name>/` to them), so a
    /// release holds few directories.
    Named(NamedKind, &'a str),
}

impl ListFiles<'_> {
    /// The file of page `page` in order `key` (None: the default order).
    pub fn file(self, key: Option<&str>, page: usize) -> String {
        let dir = match self {
            ListFiles::Named(kind, name) => {
                return format!("plugins/{}/p{page}/{name}.html", kind.segment());
            }
            ListFiles::Dir(dir) => match key {
                None => dir.to_owned(),
                Some(k) => format!("{dir}/sort/{k}"),
            },
        };
        if page == 1 { format!("{dir}/index.html") } else { format!("{dir}/page-{page}.html") }
    }
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

// ---- The inverse map: where nginx (`nginx/*.conf`) answers each published file.

/// How a client reaches a published file (paths relative to the release root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicAddress {
    /// nginx answers the file at this URL path (percent-encoded, as a client sends it).
    Url(String),
    /// A pre-compressed sibling (`<file>.gz`): sent, compressed, for the plain file's
    /// address to a client that accepts gzip (`gzip_static`).
    Gzip(Box<PublicAddress>),
    /// A plugin's own plugins.xml document: the answer to this `plugins.xml` request.
    PackageRequest(String),
    /// The 404 page: nginx sends it as the body of every 404; asked for by itself at this
    /// URL it is a 404 too.
    NotFoundPage(String),
    /// Not public: nginx answers 404 at this URL (dot files such as the manifest).
    Private(String),
}

/// Where nginx answers the published file `rel` (relative to the release root,
/// `/`-separated).
///
/// - `plugins/<pkg>/version-<v>.html` → `/plugins/<pkg>/version/<v>/`, `.json` → `.../json`
/// - `plugins/<pkg>/stats.html`, `latest.html` → `/plugins/<pkg>/stats/`, `/latest/`; their
///   `.json` → `.../json`
/// - `plugins/<pkg>/<pkg>.<v>.zip` → `/plugins/<pkg>/version/<v>/download/`
/// - `plugins/<pkg>/xml-*.xml` → `/plugins/plugins.xml?...&package_name=<pkg>`
/// - `plugins/<kind>/p<N>/<name>.html` (tags, author, user) → `/plugins/<kind>/<name>/`,
///   from page 2 on `.../page/<N>/`
/// - `plugins/tags/feed/<slug>.xml` → `/plugins/tags/<slug>/feed.xml`
/// - `<dir>/page-<N>.html` → `/<dir>/page/<N>/`, `<dir>/index.html` → `/<dir>/`
/// - `<file>.gz` → its plain file's address, compressed; dot files → private; `404.html`
/// - anything else at its own path (`plugins/xml/3.34.xml`, `plugins/<pkg>/json`, ...).
pub fn public_address(rel: &str) -> PublicAddress {
    let own_path: String = rel.split('/').map(|s| format!("/{}", segment(s))).collect();
    if rel.split('/').any(|s| s.starts_with('.')) || rel == MANIFEST_FILE {
        return PublicAddress::Private(own_path);
    }
    if let Some(plain) = rel.strip_suffix(".gz") {
        return PublicAddress::Gzip(Box::new(public_address(plain)));
    }
    if rel == NOT_FOUND_PAGE {
        return PublicAddress::NotFoundPage(own_path);
    }
    if let Some((pkg, stable_only, stem)) = package_document(rel) {
        return PublicAddress::PackageRequest(package_request(pkg, stable_only, stem));
    }
    let segs: Vec<&str> = rel.split('/').collect();
    let url = match segs[..] {
        ["plugins", pkg, file] => tree_file_url(pkg, file),
        ["plugins", kind, dir, file] => named_list_file_url(kind, dir, file),
        _ => None,
    };
    PublicAddress::Url(url.unwrap_or_else(|| list_page_url(&segs).unwrap_or(own_path)))
}

/// A file of a plugin's flat tree whose URL is not its path.
fn tree_file_url(pkg: &str, file: &str) -> Option<String> {
    if let Some(v) = version_of_file(file, "html") {
        return Some(version_page(pkg, v));
    }
    if let Some(v) = version_of_file(file, "json") {
        return Some(version_json(pkg, v));
    }
    if let Some(v) = version_of_zip(pkg, file) {
        return Some(version_download(pkg, v));
    }
    let (page, ext) = file.rsplit_once('.')?;
    if !matches!(page, "stats" | "latest") {
        return None;
    }
    let page_url = format!("{}{page}/", plugin_page(pkg));
    match ext {
        "html" => Some(page_url),
        "json" => Some(format!("{page_url}json")),
        _ => None,
    }
}

/// Tag, author and user lists (`plugins/<kind>/p<N>/<name>.html`) and tag feeds
/// (`plugins/tags/feed/<slug>.xml`).
fn named_list_file_url(kind: &str, dir: &str, file: &str) -> Option<String> {
    let kind = NamedKind::parse(kind)?;
    if let (Some(n), Some(name)) =
        (dir.strip_prefix('p').and_then(page_number), file.strip_suffix(".html"))
    {
        return Some(list_page(&named_list(kind, name), n));
    }
    match (kind, dir, file.strip_suffix(".xml")) {
        (NamedKind::Tag, "feed", Some(slug)) => Some(tag_feed(slug)),
        _ => None,
    }
}

/// Any other list or directory page: `<dir>/index.html`, `<dir>/page-<N>.html`.
fn list_page_url(segs: &[&str]) -> Option<String> {
    let (name, dirs) = segs.split_last()?;
    let dir: String = dirs.iter().map(|s| format!("/{}", segment(s))).collect();
    let list_url = list(dir.trim_start_matches('/'));
    let list_url = if dir.is_empty() { "/".to_owned() } else { list_url };
    if *name == "index.html" {
        return Some(list_url);
    }
    let n = name.strip_prefix("page-")?.strip_suffix(".html").and_then(page_number)?;
    Some(list_page(&list_url, n))
}

/// The `plugins.xml` request a package document answers: its stem is a QGIS version or a
/// label (`?qgis=<stem>`), `newest` (no `qgis`), `major-<M>` (`?qgis=<M>.999`, above every
/// minor) or a decade `d-<head>x` (`?qgis=<head>0`, the decade's first minor, which never
/// has a document of its own: a decade's first version is published as the decade's).
fn package_request(pkg: &str, stable_only: bool, stem: &str) -> String {
    let qgis = if stem == "newest" {
        None
    } else if let Some(major) = stem.strip_prefix("major-") {
        Some(format!("{major}.999"))
    } else if let Some(head) = stem.strip_prefix("d-").and_then(|d| d.strip_suffix('x')) {
        Some(format!("{head}0"))
    } else {
        Some(stem.to_owned())
    };
    format!(
        "/plugins/plugins.xml?{}package_name={}{}",
        qgis.map(|q| format!("qgis={q}&")).unwrap_or_default(),
        segment(pkg),
        if stable_only { "&stable_only=1" } else { "" }
    )
}

/// A package's plugins.xml document `plugins/<pkg>/xml-[stable_only-]<stem>.xml`:
/// (package, stable_only, stem), the stem being what the site-wide document of the same
/// selection is called (`3.34`, `latest`, `d-3.3x`, `major-3`, `newest`).
pub fn package_document(rel: &str) -> Option<(&str, bool, &str)> {
    let ["plugins", pkg, file] = rel.split('/').collect::<Vec<_>>()[..] else { return None };
    let doc = file.strip_prefix("xml-")?.strip_suffix(".xml")?;
    Some(match doc.strip_prefix("stable_only-") {
        Some(stem) => (pkg, true, stem),
        None => (pkg, false, doc),
    })
}

// ---- Object keys: where a published file is stored in an S3 bucket (`s3`).

/// The object key of the published file `rel` (relative to a release, tree symlinks
/// resolved), or None for a private file (never uploaded). Zips, plugins.xml documents and
/// `404.html` keep their path (the edge maps requests to them, as nginx does to the files);
/// `X.gz` is `X`'s key plus `.gz`; every other file is stored at its public URL path,
/// decoded, with `index.html` appended to a directory URL (Garage's web endpoint answers
/// `/a/b/` with the object `a/b/index.html`).
pub fn object_key(rel: &str) -> Option<String> {
    match public_address(rel) {
        PublicAddress::Private(_) => None,
        PublicAddress::Gzip(_) => Some(format!("{}.gz", object_key(rel.strip_suffix(".gz")?)?)),
        PublicAddress::NotFoundPage(_) | PublicAddress::PackageRequest(_) => Some(rel.to_owned()),
        PublicAddress::Url(url) => {
            let is_zip = matches!(rel.split('/').collect::<Vec<_>>()[..],
                ["plugins", pkg, file] if version_of_zip(pkg, file).is_some());
            if is_zip {
                return Some(rel.to_owned());
            }
            let path = percent_decode(url.trim_start_matches('/'))?;
            Some(if path.is_empty() || path.ends_with('/') {
                format!("{path}index.html")
            } else {
                path
            })
        }
    }
}

/// Decodes `%XX` escapes (as [`segment`] writes them); None when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%').then(|| s.get(i + 1..i + 3)).flatten();
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A page number as the site writes it: digits, no leading zero, at least 1.
fn page_number(s: &str) -> Option<usize> {
    (!s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

#[cfg(test)]
mod tests;
