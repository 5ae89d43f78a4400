//! Where nginx (`nginx/site.conf.in`) answers each published file. The release is flat (a
//! directory costs the file system an inode): a plugin's version, stats and latest pages are
//! files of its tree, list pages `page-N.html`, tag, author and user lists
//! `<kind>/p<N>/<name>.html`; their public URLs are those of the reference. Every test that
//! walks the published tree maps a file to its URL with [`public_url`], never by hand.

/// The public URL path (percent-encoded, as a client sends it) that nginx answers with the
/// published file `rel` (relative to the site root, `/`-separated), or None when no URL
/// names the file by itself: `.gz` siblings (gzip_static sends them for the plain file's
/// URL), dot files (the release manifest), the internal `404.html`, and a package's
/// plugins.xml documents `plugins/<pkg>/xml-*.xml` (answered by
/// `/plugins/plugins.xml?package_name=<pkg>&qgis=...`, see [`package_document`]).
///
/// - `plugins/<pkg>/version-<v>.html` → `/plugins/<pkg>/version/<v>/`, `.json` → `.../json`
/// - `plugins/<pkg>/stats.html`, `latest.html` → `/plugins/<pkg>/stats/`, `/latest/`; their
///   `.json` → `.../json`
/// - `plugins/<pkg>/<pkg>.<v>.zip` → `/plugins/<pkg>/version/<v>/download/`
/// - `plugins/<kind>/p<N>/<name>.html` (tags, author, user) → `/plugins/<kind>/<name>/`,
///   from page 2 on `.../page/<N>/`
/// - `plugins/tags/feed/<slug>.xml` → `/plugins/tags/<slug>/feed.xml`
/// - `<dir>/page-<N>.html` → `/<dir>/page/<N>/`, `<dir>/index.html` → `/<dir>/`
/// - anything else at its own path (`plugins/xml/3.34.xml`, `plugins/<pkg>/json`, ...).
pub fn public_url(rel: &str) -> Option<String> {
    use generator::urls;
    let segs: Vec<&str> = rel.split('/').collect();
    let name = *segs.last()?;
    if name.is_empty()
        || name.starts_with('.')
        || name.ends_with(".gz")
        || rel == "404.html"
        || package_document(rel).is_some()
    {
        return None;
    }
    let e = percent_encode;
    // A plugin's flat tree.
    if let ["plugins", pkg, file] = segs[..] {
        let tree = |rest: &str| Some(format!("/plugins/{}/{rest}", e(pkg)));
        if let Some(v) = urls::version_of_file(file, "html") {
            return Some(urls::version_page(pkg, v));
        }
        if let Some(v) = urls::version_of_file(file, "json") {
            return Some(urls::version_json(pkg, v));
        }
        for page in ["stats", "latest"] {
            if file == format!("{page}.html") {
                return tree(&format!("{page}/"));
            }
            if file == format!("{page}.json") {
                return tree(&format!("{page}/json"));
            }
        }
        if let Some(v) = urls::version_of_zip(pkg, file) {
            return Some(urls::version_download(pkg, v));
        }
    }
    // Tag, author and user lists, tag feeds.
    if let ["plugins", kind @ ("tags" | "author" | "user"), dir, file] = segs[..] {
        if let (Some(n), Some(list)) =
            (dir.strip_prefix('p').and_then(page_number), file.strip_suffix(".html"))
        {
            let url = format!("/plugins/{kind}/{}/", e(list));
            return Some(if n == 1 { url } else { format!("{url}page/{n}/") });
        }
        if let ("tags", "feed", Some(slug)) = (kind, dir, file.strip_suffix(".xml")) {
            return Some(format!("/plugins/tags/{}/feed.xml", e(slug)));
        }
    }
    // Any other list and directory page; every other file at its own path.
    let dir: String = segs[..segs.len() - 1].iter().map(|s| format!("/{}", e(s))).collect();
    if name == "index.html" {
        return Some(format!("{dir}/"));
    }
    if let Some(n) = name.strip_prefix("page-").and_then(|n| n.strip_suffix(".html"))
        && let Some(n) = page_number(n)
    {
        return Some(format!("{dir}/page/{n}/"));
    }
    Some(format!("{dir}/{}", e(name)))
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

/// A page number as the site writes it: digits, no leading zero, at least 1.
fn page_number(s: &str) -> Option<usize> {
    (!s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// Percent-encodes a URL path segment as the site's own links do.
pub use generator::urls::segment as percent_encode;

/// The inverse of [`percent_encode`] (any `%XX`; invalid escapes stay as they are).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn published_files_map_to_the_references_urls() {
    let cases = [
        ("index.html", Some("/")),
        ("plugins/index.html", Some("/plugins/")),
        ("plugins/page-2.html", Some("/plugins/page/2/")),
        ("plugins/sort/name/page-12.html", Some("/plugins/sort/name/page/12/")),
        ("plugins/stats/index.html", Some("/plugins/stats/")),
        ("plugins/stats/json", Some("/plugins/stats/json")),
        ("plugins/tags/index.html", Some("/plugins/tags/")),
        ("plugins/xml/3.34.xml", Some("/plugins/xml/3.34.xml")),
        ("plugins/xml/stable_only/3.34.xml", Some("/plugins/xml/stable_only/3.34.xml")),
        ("plugins/xml/3.34.xml.gz", None),
        ("plugins/feeds/new.xml", Some("/plugins/feeds/new.xml")),
        ("plugins/p_k/index.html", Some("/plugins/p_k/")),
        ("plugins/p_k/json", Some("/plugins/p_k/json")),
        ("plugins/p_k/feed.xml", Some("/plugins/p_k/feed.xml")),
        ("plugins/p_k/icon-0123abcd.png", Some("/plugins/p_k/icon-0123abcd.png")),
        ("plugins/p_k/version-1.2.0.html", Some("/plugins/p_k/version/1.2.0/")),
        ("plugins/p_k/version-1.2.0.json", Some("/plugins/p_k/version/1.2.0/json")),
        ("plugins/p_k/version-1.0+b.html", Some("/plugins/p_k/version/1.0%2Bb/")),
        ("plugins/p_k/stats.html", Some("/plugins/p_k/stats/")),
        ("plugins/p_k/stats.json", Some("/plugins/p_k/stats/json")),
        ("plugins/p_k/latest.html", Some("/plugins/p_k/latest/")),
        ("plugins/p_k/latest.json", Some("/plugins/p_k/latest/json")),
        ("plugins/p_k/p_k.1.2.0.zip", Some("/plugins/p_k/version/1.2.0/download/")),
        ("plugins/p_k/version-1.2.0~rc1.html", Some("/plugins/p_k/version/1.2.0~rc1/")),
        ("plugins/p_k/p_k.1.2.0~rc1.zip", Some("/plugins/p_k/version/1.2.0~rc1/download/")),
        ("plugins/p_k/version-2.0-été.json", Some("/plugins/p_k/version/2.0-%C3%A9t%C3%A9/json")),
        ("plugins/p_k/p_k.1.0;x=(y).zip", Some("/plugins/p_k/version/1.0%3Bx%3D%28y%29/download/")),
        ("plugins/p_k/xml-3.34.xml", None),
        ("plugins/p_k/xml-stable_only-d-3.3x.xml", None),
        ("plugins/tags/p1/gps.html", Some("/plugins/tags/gps/")),
        ("plugins/tags/p3/gps.html", Some("/plugins/tags/gps/page/3/")),
        ("plugins/tags/feed/gps.xml", Some("/plugins/tags/gps/feed.xml")),
        ("plugins/author/p1/Zoë van Dijk.html", Some("/plugins/author/Zo%C3%AB%20van%20Dijk/")),
        ("plugins/author/p2/Ana Pereira.html", Some("/plugins/author/Ana%20Pereira/page/2/")),
        ("plugins/user/p1/ana.html", Some("/plugins/user/ana/")),
        ("404.html", None),
        (".manifest.json", None),
    ];
    for (rel, url) in cases {
        assert_eq!(public_url(rel).as_deref(), url, "{rel}");
    }
    assert_eq!(package_document("plugins/p_k/xml-3.34.xml"), Some(("p_k", false, "3.34")));
    assert_eq!(
        package_document("plugins/p_k/xml-stable_only-major-3.xml"),
        Some(("p_k", true, "major-3"))
    );
    assert_eq!(package_document("plugins/xml/3.34.xml"), None);
    assert_eq!(
        percent_decode("/plugins/author/Zo%C3%AB%20van%20Dijk/"),
        "/plugins/author/Zoë van Dijk/"
    );
    assert_eq!(percent_decode("100%"), "100%");
}
