//! The generated demo site behind the real nginx (`nginx/site.conf.in` rendered by
//! `nginx/render.sh`): plugins.xml routing and its never-404 fallback, `stable_only` and
//! `package_name`, gzip_static, revalidation headers, JSON types, download URLs, no
//! directory listing, unapproved versions, and the upload service's proxied paths.

use std::io::Read;

use catalog::names::QgisVersion;
use generator::render::xml::expand_versions;

use crate::support::http::{self, Response};
use crate::support::published::{package_document, percent_encode};
use crate::support::{self, Nginx, Site, served, xml};

fn get(path: &str) -> Response {
    get_with(path, &[])
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Response {
    let s = served();
    http::get(s.nginx.port, path, headers).unwrap_or_err(path)
}

trait UnwrapOrErr<T> {
    fn unwrap_or_err(self, what: &str) -> T;
}
impl<T> UnwrapOrErr<T> for anyhow::Result<T> {
    fn unwrap_or_err(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("{what}: {e:#}"))
    }
}

/// Every QGIS version the site has a plugins.xml for.
fn expanded() -> Vec<QgisVersion> {
    expand_versions(&served().site.catalog().settings.qgis_versions)
}

/// The file decisions.md §2 says answers `?qgis=q`: its own, else the newest generated
/// release (not a `.99` development alias) not newer than the request, else the newest.
fn expected_stem(q: Option<QgisVersion>, versions: &[QgisVersion]) -> String {
    let releases = versions.iter().filter(|v| v.minor < 99);
    let newest = releases.clone().max().expect("some QGIS versions").minor_label();
    let Some(q) = q else { return newest };
    let q = QgisVersion::new(q.major, q.minor);
    if versions.contains(&q) {
        return q.minor_label();
    }
    releases.filter(|v| **v <= q).max().map(|v| v.minor_label()).unwrap_or(newest)
}

fn assert_xml_answer(path: &str, expected_file: &str) -> Vec<xml::Entry> {
    let r = get(path);
    assert_eq!(r.status, 200, "{path}: status (body {})", r.text());
    assert!(
        matches!(r.mime(), "application/xml" | "text/xml"),
        "{path}: Content-Type {:?}",
        r.header("content-type")
    );
    let entries = xml::parse(&r.body).unwrap_or_else(|e| panic!("{path}: {e:#}"));
    let expected = served().site.file(expected_file);
    assert!(r.body == expected, "{path}: the body is not {expected_file}");
    entries
}

#[test]
fn plugins_xml_answers_the_named_qgis_versions_with_their_files() {
    let versions = expanded();
    let x = |q: &str| QgisVersion::parse(q).ok();
    let newest = expected_stem(None, &versions);
    let cases: Vec<(&str, String)> = vec![
        ("?qgis=3.34", "3.34".into()),
        ("?qgis=3.39", "3.39".into()),
        ("?qgis=4.0", "4.0".into()),
        ("?qgis=9.9", expected_stem(x("9.9"), &versions)),
        ("?qgis=3.34.1", "3.34".into()),
        ("?qgis=03.034", "3.34".into()),
        ("?qgis=3.22&other=1", "3.22".into()),
        ("?qgis=latest", "latest".into()),
        ("?qgis=stable", "stable".into()),
        ("?qgis=ltr", "ltr".into()),
        ("", newest.clone()),
        ("?qgis=", newest.clone()),
        ("?qgis=not-a-version", newest.clone()),
        ("?qgis=3.999", expected_stem(x("3.999"), &versions)),
        ("?qgis=2.50", expected_stem(x("2.50"), &versions)),
        ("?qgis=0.5", expected_stem(x("0.5"), &versions)),
    ];
    assert_eq!(expected_stem(x("9.9"), &versions), newest);
    for (query, stem) in &cases {
        assert_xml_answer(
            &format!("/plugins/plugins.xml{query}"),
            &format!("plugins/xml/{stem}.xml"),
        );
    }
    // The legacy spellings (reference.md §4.1) answer the same file.
    assert_xml_answer("/plugins/plugins_3.34.xml", "plugins/xml/3.34.xml");
    assert_xml_answer("/plugins/version_filtered/4.0.xml", "plugins/xml/4.0.xml");

    // The fixture's 3.39-only version makes 3.39.xml unique, so the check above would
    // have caught a 3.39 request served from a neighbouring file.
    let site = &served().site;
    let dev = xml::parse(&site.file("plugins/xml/3.39.xml")).expect("3.39.xml");
    assert!(
        dev.iter()
            .any(|e| e.id() == support::DEV_ONLY_PLUGIN && e.version == support::DEV_ONLY_VERSION),
        "3.39.xml lacks the 3.39-only version"
    );
    for other in ["3.38", "3.40", "3.34"] {
        assert_ne!(
            site.file(&format!("plugins/xml/{other}.xml")),
            site.file("plugins/xml/3.39.xml")
        );
    }
    // 4.0 and 3.x documents differ, so the 9.9 and fallback checks are discriminating.
    assert_ne!(site.file("plugins/xml/4.0.xml"), site.file("plugins/xml/3.34.xml"));
    assert_ne!(
        site.file(&format!("plugins/xml/{}.xml", expected_stem(x("3.999"), &versions))),
        site.file(&format!("plugins/xml/{newest}.xml"))
    );
}

#[test]
fn every_generated_qgis_version_is_served_never_404() {
    let versions = expanded();
    assert!(versions.len() > 60, "only {} QGIS versions expanded", versions.len());
    assert!(
        versions.contains(&QgisVersion::new(1, 8)) && versions.contains(&QgisVersion::new(4, 0))
    );
    for v in &versions {
        let label = v.minor_label();
        assert_xml_answer(
            &format!("/plugins/plugins.xml?qgis={label}"),
            &format!("plugins/xml/{label}.xml"),
        );
        assert_xml_answer(
            &format!("/plugins/plugins.xml?qgis={label}&stable_only=1"),
            &format!("plugins/xml/stable_only/{label}.xml"),
        );
    }
}

#[test]
fn stable_only_and_package_name_select_their_files() {
    let site = &served().site;
    let catalog = site.catalog();
    let q = QgisVersion::new(3, 34);

    let all = assert_xml_answer("/plugins/plugins.xml?qgis=3.34", "plugins/xml/3.34.xml");
    let stable = assert_xml_answer(
        "/plugins/plugins.xml?qgis=3.34&stable_only=1",
        "plugins/xml/stable_only/3.34.xml",
    );
    assert!(
        all.iter().any(xml::Entry::is_experimental),
        "the demo has experimental entries for 3.34"
    );
    assert!(
        stable.iter().all(|e| !e.is_experimental()),
        "stable_only=1 lists an experimental entry"
    );
    assert_eq!(stable.len(), all.iter().filter(|e| !e.is_experimental()).count());
    assert_xml_answer("/plugins/plugins.xml?qgis=3.34&stable_only=0", "plugins/xml/3.34.xml");

    // package_name: all compatible approved versions of that plugin (reference.md §4.1),
    // whatever the order of the parameters.
    let p = catalog
        .plugins
        .iter()
        .max_by_key(|p| p.versions.iter().filter(|v| q.is_within(v.min_qgis, v.max_qgis)).count())
        .expect("a demo plugin");
    let pkg = p.package.as_str();
    let want: Vec<String> = p
        .versions
        .iter()
        .filter(|v| q.is_within(v.min_qgis, v.max_qgis))
        .map(|v| v.version.to_string())
        .collect();
    assert!(want.len() >= 2, "{pkg} should have several versions for 3.34");
    for path in [
        format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}"),
        format!("/plugins/plugins.xml?package_name={pkg}&qgis=3.34"),
    ] {
        let entries = package_answer(&path, pkg);
        let mut got: Vec<String> = entries.iter().map(|e| e.version.clone()).collect();
        let mut want = want.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{path}: versions listed");
    }
    let stable = package_answer(
        &format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}&stable_only=1"),
        pkg,
    );
    assert!(!stable.is_empty() && stable.iter().all(|e| !e.is_experimental()));

    // Unknown or invalid package names: the valid empty document, never a 404.
    for bad in ["no_such_plugin", "..%2F..%2Fetc", "x", "a%20b", "_hidden"] {
        let entries = assert_xml_answer(
            &format!("/plugins/plugins.xml?qgis=3.34&package_name={bad}"),
            "plugins/xml/empty.xml",
        );
        assert!(entries.is_empty(), "package_name={bad} lists entries");
    }
}

/// A package document: 200, XML, only entries of `pkg`.
fn package_answer(path: &str, pkg: &str) -> Vec<xml::Entry> {
    let r = get(path);
    assert_eq!(r.status, 200, "{path}: status (body {})", r.text());
    assert!(matches!(r.mime(), "application/xml" | "text/xml"), "{path}: Content-Type");
    let entries = xml::parse(&r.body).unwrap_or_else(|e| panic!("{path}: {e:#}"));
    assert!(entries.iter().all(|e| e.id() == pkg), "{path}: another plugin listed");
    entries
}

/// Every plugin, every generated QGIS version, label and a few unknown versions, both
/// variants: the package document lists exactly the versions the selection rule gives for
/// the version decisions.md §2 says answers the request, although each plugin's directory
/// holds only the few files where its selection changes.
#[test]
fn package_name_answers_every_version_from_few_files() {
    use generator::render::xml::select_package;
    let site = &served().site;
    let catalog = site.catalog();
    let versions = expanded();
    let mut asks: Vec<(String, Option<QgisVersion>)> =
        versions.iter().map(|v| (v.minor_label(), Some(*v))).collect();
    for (label, v) in &catalog.settings.labels {
        asks.push((label.clone(), Some(*v)));
    }
    for unknown in ["3.45", "3.50", "4.7", "9.9"] {
        let q = QgisVersion::parse(unknown).ok();
        let stem = expected_stem(q, &versions);
        asks.push((unknown.into(), QgisVersion::parse(&stem).ok()));
    }
    asks.push((String::new(), QgisVersion::parse(&expected_stem(None, &versions)).ok()));
    let mut checked = 0;
    // The package documents of the flat trees, `plugins/<pkg>/xml-[stable_only-]<stem>.xml`.
    let documents: Vec<String> = site.files_ending_with(".xml");
    for p in &catalog.plugins {
        let pkg = p.package.as_str();
        let count = |stable_only: bool| {
            documents
                .iter()
                .filter_map(|f| package_document(f))
                .filter(|(of, s, _)| *of == pkg && *s == stable_only)
                .count()
        };
        let files = count(false) + count(true);
        assert!(
            files < versions.len(),
            "{pkg}: {files} package files for {} versions",
            versions.len()
        );
        // Each selection that lists something has its documents (else the walk below would
        // only ever reach the empty one).
        assert!(count(false) > 0, "{pkg}: no package document");
        let stable = p.versions.iter().any(|v| !v.experimental);
        assert_eq!(count(true) > 0, stable, "{pkg}: stable_only documents");
        for stable_only in [false, true] {
            for (ask, answer) in &asks {
                let q = answer.expect("every request has an answering version");
                let mut want: Vec<String> = select_package(p, q, stable_only)
                    .iter()
                    .filter_map(|id| p.versions.iter().find(|v| v.id == *id))
                    .map(|v| v.version.to_string())
                    .collect();
                let path = format!(
                    "/plugins/plugins.xml?qgis={ask}&package_name={pkg}{}",
                    if stable_only { "&stable_only=1" } else { "" }
                );
                let mut got: Vec<String> =
                    package_answer(&path, pkg).iter().map(|e| e.version.clone()).collect();
                got.sort();
                want.sort();
                assert_eq!(got, want, "{path}");
                checked += 1;
            }
        }
    }
    assert!(checked > 2000, "only {checked} requests checked");
}

/// Every package document of the flat trees (`plugins/<pkg>/xml-[stable_only-]<stem>.xml`,
/// the files `$xml_prefix` leads to) answers the plugins.xml request that names its stem: a
/// QGIS version or label (`?qgis=3.34`), the newest (no `qgis`), a major's newest
/// (`?qgis=<M>.999`, above every minor), a decade's (`?qgis=3.30` for `d-3.3x`, unless 3.30
/// has a document of its own).
#[test]
fn every_package_document_answers_the_request_that_names_it() {
    let site = &served().site;
    let files = site.files_ending_with(".xml");
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for file in &files {
        let Some((pkg, stable_only, stem)) = package_document(file) else { continue };
        let variant = if stable_only { "xml-stable_only-" } else { "xml-" };
        let (kind, qgis, answer) = if stem == "newest" {
            ("newest", None, file.clone())
        } else if let Some(major) = stem.strip_prefix("major-") {
            ("major", Some(format!("{major}.999")), file.clone())
        } else if let Some(decade) = stem.strip_prefix("d-").and_then(|d| d.strip_suffix('x')) {
            let first = format!("{decade}0");
            let own = format!("plugins/{pkg}/{variant}{first}.xml");
            let answer = if site.root().join(&own).is_file() { own } else { file.clone() };
            ("decade", Some(first), answer)
        } else if stem.starts_with(|c: char| c.is_ascii_digit()) {
            ("version", Some(stem.to_owned()), file.clone())
        } else {
            ("label", Some(stem.to_owned()), file.clone())
        };
        let path = format!(
            "/plugins/plugins.xml?{}package_name={pkg}{}",
            qgis.map(|q| format!("qgis={q}&")).unwrap_or_default(),
            if stable_only { "&stable_only=1" } else { "" }
        );
        let r = get(&path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body == site.file(&answer), "{path}: the body is not {answer}");
        *kinds.entry(kind).or_default() += 1;
    }
    for kind in ["version", "label", "newest", "major", "decade"] {
        assert!(kinds.get(kind).is_some_and(|n| *n > 0), "no {kind} package document: {kinds:?}");
    }
}

/// Every published file with a public URL (`support::published::public_url`: version, stats
/// and latest pages of the flat trees and their JSON, downloads, list pages `page/N/`, tag,
/// author and user lists and their pages, tag feeds, every other file at its own path) is
/// what nginx answers at that URL, with the type of its content; the catalog's versions
/// (and only they) have their pages, JSON and downloads.
#[test]
fn every_published_file_is_served_at_its_public_url() {
    let s = served();
    let files = s.site.public_files();
    assert!(files.len() > 700, "only {} published files with a URL", files.len());
    let mut problems = Vec::new();
    let mut kinds: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (rel, url) in &files {
        let r = get(url);
        if r.status != 200 || r.body != s.site.file(rel) {
            problems.push(format!("{url}: {} and not the body of {rel}", r.status));
            continue;
        }
        let mime = match rel.rsplit('.').next() {
            _ if rel.ends_with("/json") => "application/json",
            Some("html") => "text/html",
            Some("json") => "application/json",
            Some("xml") => "application/xml",
            Some("zip") => "application/zip",
            _ => r.mime(),
        };
        if r.mime() != mime {
            problems.push(format!("{url} ({rel}): Content-Type {} rather than {mime}", r.mime()));
        }
        let segs: Vec<&str> = url.split('/').collect();
        let kind = match segs[..] {
            ["", "plugins", k @ ("tags" | "author" | "user"), _, ""] => match k {
                "tags" => "tag list",
                "author" => "author list",
                _ => "user list",
            },
            ["", "plugins", k @ ("tags" | "author" | "user"), _, "page", _, ""] => match k {
                "tags" => "tag list page",
                "author" => "author list page",
                _ => "user list page",
            },
            ["", "plugins", "tags", _, "feed.xml"] => "tag feed",
            ["", "plugins", _, "version", _, ""] => "version page",
            ["", "plugins", _, "version", _, "json"] => "version json",
            ["", "plugins", _, "version", _, "download", ""] => "download",
            ["", "plugins", _, "stats", ""] => "plugin stats",
            ["", "plugins", _, "stats", "json"] => "plugin stats json",
            ["", "plugins", _, "latest", ""] => "latest page",
            ["", "plugins", _, "latest", "json"] => "latest json",
            [.., "page", _, ""] => "list page",
            _ => "other",
        };
        kinds.entry(kind).or_default().push(url.clone());
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    let count = |kind: &str| kinds.get(kind).map_or(0, Vec::len);
    for kind in [
        "plugin stats",
        "plugin stats json",
        "latest page",
        "latest json",
        "tag feed",
        "tag list",
        "author list",
        "user list",
        "tag list page",
        "author list page",
        "user list page",
        "list page",
    ] {
        assert!(count(kind) > 0, "no {kind} published: {:?}", kinds.keys().collect::<Vec<_>>());
    }
    // Exactly the catalog's versions, each with its page, JSON and download.
    let catalog = s.site.catalog();
    let mut want: Vec<String> = catalog
        .plugins
        .iter()
        .flat_map(|p| {
            p.versions.iter().map(move |v| {
                format!("/plugins/{}/version/{}/", p.package, percent_encode(v.version.as_str()))
            })
        })
        .collect();
    want.sort();
    for (kind, suffix) in
        [("version page", ""), ("version json", "json"), ("download", "download/")]
    {
        let mut got: Vec<String> = kinds
            .get(kind)
            .map(|urls| {
                urls.iter().map(|u| u.strip_suffix(suffix).unwrap_or(u).to_owned()).collect()
            })
            .unwrap_or_default();
        got.sort();
        assert_eq!(got, want, "{kind}s");
    }
    for kind in ["plugin stats", "plugin stats json", "latest page", "latest json"] {
        assert_eq!(count(kind), catalog.plugins.len(), "{kind}s");
    }
    // One list per tag, author and user of the catalog; page 2 of the paged fixture lists.
    let tags: std::collections::BTreeSet<&str> =
        catalog.plugins.iter().flat_map(|p| p.tags.iter().map(|t| t.slug.as_str())).collect();
    assert_eq!(count("tag list"), tags.len(), "tag lists");
    assert_eq!(count("tag feed"), tags.len(), "tag feeds");
    let authors: std::collections::BTreeSet<&str> =
        catalog.plugins.iter().map(|p| p.author.as_str()).collect();
    assert_eq!(count("author list"), authors.len(), "author lists");
    let users: std::collections::BTreeSet<&str> = catalog
        .plugins
        .iter()
        .flat_map(|p| std::iter::once(&p.creator).chain(&p.owners).map(String::as_str))
        .collect();
    assert_eq!(count("user list"), users.len(), "user lists");
    for (kind, name) in [
        ("tag list page", support::PAGED_TAG_SLUG),
        ("author list page", support::PAGED_AUTHOR),
        ("user list page", support::PAGED_USER),
    ] {
        let page2 = format!("/{}/page/2/", percent_encode(name));
        assert!(kinds[kind].iter().any(|u| u.ends_with(&page2)), "no {kind} {page2}");
    }
    // /latest/ and its JSON are the latest version's.
    for p in &catalog.plugins {
        let latest = p.latest().expect("a version");
        let base = format!("/plugins/{}/", p.package);
        let version = format!("{base}version/{}/", percent_encode(latest.version.as_str()));
        assert!(get(&format!("{base}latest/")).body == get(&version).body, "{base}latest/");
        assert!(
            get(&format!("{base}latest/json")).body == get(&format!("{version}json")).body,
            "{base}latest/json"
        );
    }
}

#[test]
fn gzip_static_is_served_to_clients_that_accept_gzip() {
    let site = &served().site;
    let (pkg, ver) = (support::DEV_ONLY_PLUGIN, support::DEV_ONLY_VERSION);
    let tag = support::PAGED_TAG_SLUG;
    // (path, file, must have a pre-compressed .gz): every site-wide plugins.xml has one;
    // elsewhere nginx may compress on the fly, and serves the .gz where the build made one.
    let plain_cases = [
        ("/plugins/plugins.xml?qgis=3.34", "plugins/xml/3.34.xml", true),
        ("/plugins/plugins.xml?qgis=4.0&stable_only=1", "plugins/xml/stable_only/4.0.xml", true),
        ("/plugins/plugins.xml", "plugins/xml/newest.xml", true),
        ("/plugins/selection_stats/json", "plugins/selection_stats/json", false),
        ("/plugins/plugins.xml?qgis=3.34&package_name=selection_stats", "", false),
        ("/plugins/", "plugins/index.html", false),
    ]
    .map(|(p, f, pre)| (p.to_owned(), f.to_owned(), pre, false));
    // URLs the flat layout maps to files of other names (nginx's try_files, then gzip_static).
    let flat_cases = [
        ("/plugins/page/2/".to_owned(), "plugins/page-2.html".to_owned()),
        ("/plugins/?page=2".to_owned(), "plugins/page-2.html".to_owned()),
        (format!("/plugins/{pkg}/version/{ver}/"), format!("plugins/{pkg}/version-{ver}.html")),
        (format!("/plugins/{pkg}/version/{ver}/json"), format!("plugins/{pkg}/version-{ver}.json")),
        (format!("/plugins/{pkg}/stats/json"), format!("plugins/{pkg}/stats.json")),
        (format!("/plugins/tags/{tag}/"), format!("plugins/tags/p1/{tag}.html")),
        (format!("/plugins/tags/{tag}/feed.xml"), format!("plugins/tags/feed/{tag}.xml")),
    ]
    .map(|(p, f)| (p, f, false, true));
    // Flat-layout URLs answered with the .gz of their file.
    let mut flat_from_gz = 0;
    for (path, file, pre, flat) in plain_cases.iter().chain(&flat_cases) {
        let (path, file, pre) = (path.as_str(), file.as_str(), *pre);
        // "": a document the site holds under another name; its identity body is the truth.
        let plain = if file.is_empty() { get(path).body } else { site.file(file) };
        let gz_file = site.root().join(format!("{file}.gz"));
        assert!(!pre || gz_file.is_file(), "{file}.gz is missing");
        let r = get_with(path, &[("Accept-Encoding", "gzip, deflate")]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{path}: not gzip-encoded");
        assert!(r.header("vary").is_some_and(|v| v.contains("Accept-Encoding")), "{path}: no Vary");
        if gz_file.is_file() {
            assert!(
                r.body == site.file(&format!("{file}.gz")),
                "{path}: not the pre-compressed {file}.gz"
            );
            flat_from_gz += usize::from(*flat);
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut out).expect("gunzip");
        assert!(out == plain, "{path}: decompresses to something other than {file}");

        let r = get(path);
        assert_eq!(r.header("content-encoding"), None, "{path}: gzip without Accept-Encoding");
        assert!(r.body == plain, "{path}: identity body");
    }
    assert!(flat_from_gz > 0, "no URL of the flat layout was answered from a .gz file");
}

#[test]
fn xml_revalidates_with_etag_and_last_modified() {
    for path in [
        "/plugins/plugins.xml?qgis=3.34",
        "/plugins/plugins.xml?qgis=3.34&package_name=selection_stats",
    ] {
        let r = get(path);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        let etag = r.header("etag").unwrap_or_else(|| panic!("{path}: no ETag")).to_owned();
        let lm = r
            .header("last-modified")
            .unwrap_or_else(|| panic!("{path}: no Last-Modified"))
            .to_owned();
        let r = get_with(path, &[("If-None-Match", &etag)]);
        assert_eq!(r.status, 304, "{path}: If-None-Match");
        assert!(r.body.is_empty());
        let r = get_with(path, &[("If-Modified-Since", &lm)]);
        assert_eq!(r.status, 304, "{path}: If-Modified-Since");
        let r = get_with(path, &[("If-None-Match", "\"something-else\"")]);
        assert_eq!(r.status, 200, "{path}: a stale ETag");
    }
    // The stylesheet the XML names is served too.
    let r = get("/static/style/plugins.xsl");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("xsl:stylesheet"), "plugins.xsl is not a stylesheet");
}

#[test]
fn json_is_served_as_application_json() {
    let catalog = served().site.catalog();
    let p = catalog.plugins.iter().find(|p| p.versions.len() >= 2).expect("a plugin with versions");
    let pkg = p.package.as_str();
    let latest = p.latest().expect("a latest version");
    let site = &served().site;
    // (URL, the file of the flat tree it answers).
    let paths = [
        (format!("/plugins/{pkg}/json"), format!("plugins/{pkg}/json")),
        (
            format!("/plugins/{pkg}/version/{}/json", latest.version),
            format!("plugins/{pkg}/version-{}.json", latest.version),
        ),
        (format!("/plugins/{pkg}/latest/json"), format!("plugins/{pkg}/latest.json")),
        (format!("/plugins/{pkg}/stats/json"), format!("plugins/{pkg}/stats.json")),
        ("/plugins/stats/json".to_owned(), "plugins/stats/json".to_owned()),
    ];
    let mut docs = Vec::new();
    for (path, file) in &paths {
        let r = get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body == site.file(file), "{path}: not {file}");
        assert_eq!(
            r.mime(),
            "application/json",
            "{path}: Content-Type {:?}",
            r.header("content-type")
        );
        let j: serde_json::Value =
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}"));
        if path.starts_with(&format!("/plugins/{pkg}/")) {
            assert_eq!(j["package_name"], pkg, "{path}");
        }
        docs.push(j);
    }
    assert_eq!(docs[0]["latest_version"], latest.version.as_str());
    let listed: Vec<&str> = docs[0]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    let approved: Vec<&str> = p.versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(listed, approved, "versions of /json");
    assert_eq!(docs[1], docs[2], "latest/json is not the latest version's json");
    assert!(docs[3]["downloads"].is_u64() && docs[3]["per_version"].is_array(), "stats/json");
    // Unknown plugin, version or page: a 404, not an empty JSON.
    for path in [
        "/plugins/no_such_plugin/json".to_owned(),
        "/plugins/no_such_plugin/version/1.0/json".to_owned(),
        "/plugins/no_such_plugin/latest/json".to_owned(),
        "/plugins/no_such_plugin/stats/json".to_owned(),
        format!("/plugins/{pkg}/version/0.0.0/json"),
    ] {
        assert_eq!(get(&path).status, 404, "{path}");
    }
}

#[test]
fn download_urls_answer_the_zip() {
    let s = served();
    let catalog = s.site.catalog();
    let p = &catalog.plugins[0];
    let v = p.latest().expect("a version");
    let (pkg, ver) = (p.package.as_str(), v.version.as_str());
    let path = format!("/plugins/{pkg}/version/{ver}/download/");
    let r = get(&path);
    assert_eq!(r.status, 200, "{path}");
    assert_eq!(r.mime(), "application/zip");
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename={pkg}-{ver}.zip").as_str())
    );
    assert!(r.header("cache-control").is_some_and(|c| c.contains("max-age=31536000")));
    let stored = std::fs::read(s.site.data.join(&v.package_path)).expect("stored zip");
    assert!(r.body == stored, "{path}: not the stored zip");
    // The published copy the download location sends: `<pkg>.<ver>.zip` in the flat tree.
    assert!(r.body == s.site.file(&format!("plugins/{pkg}/{pkg}.{ver}.zip")));
    assert!(r.body.starts_with(b"PK\x03\x04"));
    // Without the trailing slash too; unknown versions are 404.
    assert_eq!(get(&format!("/plugins/{pkg}/version/{ver}/download")).body, stored);
    assert_eq!(get(&format!("/plugins/{pkg}/version/0.0.0.0/download/")).status, 404);
    assert!(
        s.nginx.downloads_log().lines().any(|l| l.contains(&format!(" {pkg} {ver} 200 "))),
        "download not in downloads.log: {}",
        s.nginx.downloads_log()
    );

    // No plugins.xml points at a missing zip: every download_url of two documents answers.
    for doc in ["plugins/xml/3.34.xml", "plugins/xml/4.0.xml"] {
        for e in xml::parse(&s.site.file(doc)).expect(doc) {
            let path = e.download_url.strip_prefix(&s.site.base_url).unwrap_or_else(|| {
                panic!("{doc}: download_url {} is not on this site", e.download_url)
            });
            let r = http::request(s.nginx.port, "HEAD", path, &[], b"").unwrap_or_err(path);
            assert_eq!(r.status, 200, "{doc}: {path}");
            assert_eq!(r.mime(), "application/zip", "{doc}: {path}");
            assert_eq!(e.file_name, format!("{}.{}.zip", e.id(), e.version));
        }
    }
}

#[test]
fn no_directory_listing_anywhere() {
    for path in [
        "/plugins/xml/",
        "/plugins/xml/stable_only/",
        "/static/",
        "/static/css/",
        "/plugins/selection_stats/version/",
        // The flat layout's own directories.
        "/plugins/tags/p1/",
        "/plugins/tags/feed/",
        "/plugins/author/",
        "/plugins/author/p1/",
        "/plugins/user/p1/",
    ] {
        let r = get(path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("Index of"), "{path} lists a directory");
    }
    // A directory with a page: a relative redirect to the slash form, like APPEND_SLASH.
    let r = get("/plugins/selection_stats");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/plugins/selection_stats/"));
    assert_eq!(get("/plugins/xml").status, 404);
    // The same for the pages the flat layout keeps in files (`version-<v>.html`,
    // `stats.html`, `page-2.html`, `<kind>/p<N>/<name>.html`), the query kept; the Location
    // stays percent-encoded (no raw space or UTF-8 for `/plugins/author/Zoë van Paged`).
    let (pkg, ver) = (support::DEV_ONLY_PLUGIN, support::DEV_ONLY_VERSION);
    let tag = format!("/plugins/tags/{}", support::PAGED_TAG_SLUG);
    let author = format!("/plugins/author/{}", percent_encode(support::PAGED_AUTHOR));
    let user = format!("/plugins/user/{}", percent_encode(support::PAGED_USER));
    for path in [
        format!("/plugins/{pkg}/version/{ver}"),
        format!("/plugins/{pkg}/stats"),
        format!("/plugins/{pkg}/latest"),
        "/plugins/page/2".to_owned(),
        "/plugins/sort/name/page/2".to_owned(),
        "/plugins/stats".to_owned(),
        "/plugins/tags".to_owned(),
        tag.clone(),
        format!("{tag}/page/2"),
        author.clone(),
        format!("{author}/page/2"),
        user.clone(),
        format!("{user}/page/2"),
    ] {
        for query in ["", "?x=1&page=2"] {
            let r = get(&format!("{path}{query}"));
            assert_eq!(r.status, 301, "{path}{query}");
            assert_eq!(
                r.header("location"),
                Some(format!("{path}/{query}").as_str()),
                "{path}{query}"
            );
        }
        assert_eq!(get(&format!("{path}/")).status, 200, "{path}/");
    }
    // Nothing there: a 404, not a redirect.
    for path in [
        format!("/plugins/{pkg}/version/0.0.0"),
        format!("/plugins/{}/version/{}", support::UNAPPROVED_PLUGIN, support::UNAPPROVED_VERSION),
        format!("/plugins/{pkg}/version"),
        "/plugins/no_such_plugin/stats".to_owned(),
        "/plugins/no_such_plugin/latest".to_owned(),
        "/plugins/page/3".to_owned(),
        "/plugins/page/1".to_owned(),
        "/plugins/tags/no-such-tag".to_owned(),
        format!("{tag}/page/3"),
        format!("{tag}/page/1"),
        "/plugins/author/No%20Such%20Author".to_owned(),
        format!("{author}/page/3"),
    ] {
        assert_eq!(get(&path).status, 404, "{path}");
    }
    // Pages and friendly 404.
    let r = get("/plugins/selection_stats/");
    assert_eq!((r.status, r.mime()), (200, "text/html"));
    assert_eq!(r.header("server"), Some("nginx"), "server_tokens off");
    let r = get("/no/such/page");
    assert_eq!(r.status, 404);
    if served().site.root().join("404.html").is_file() {
        assert!(r.body == served().site.file("404.html"), "the friendly 404 page is not used");
    }
}

#[test]
fn unapproved_versions_are_never_published() {
    let s = served();
    let (pkg, ver) = (support::UNAPPROVED_PLUGIN, support::UNAPPROVED_VERSION);
    // The fixture really holds the unapproved version (else this test proves nothing).
    let conn = catalog::open(&s.site.data).expect("catalog");
    let approved: bool = conn
        .query_row(
            "SELECT v.approved FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
             WHERE p.package_name = ?1 AND v.version = ?2",
            [pkg, ver],
            |r| r.get(0),
        )
        .expect("the demo's unapproved version");
    assert!(!approved);

    let xmls = s.site.files_ending_with(".xml");
    assert!(xmls.len() > 1000, "only {} XML files", xmls.len());
    // Every plugins.xml document: site-wide (`plugins/xml/...`) and per plugin (the flat
    // trees' `plugins/<pkg>/xml-*.xml`); feeds are checked below.
    let is_plugins_xml = |f: &str| f.starts_with("plugins/xml/") || package_document(f).is_some();
    let (mut checked, mut packages) = (0, 0);
    for f in xmls.iter().filter(|f| is_plugins_xml(f)) {
        let entries = xml::parse(&s.site.file(f)).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        assert!(
            !entries.iter().any(|e| e.id() == pkg && e.version == ver),
            "{f} lists unapproved {pkg} {ver}"
        );
        checked += 1;
        packages += usize::from(package_document(f).is_some());
    }
    assert!(checked > 500, "only {checked} plugins.xml documents");
    assert!(packages > 300, "only {packages} package documents");
    for f in xmls.iter().filter(|f| !is_plugins_xml(f)) {
        let text = String::from_utf8(s.site.file(f)).expect("UTF-8 XML");
        assert!(
            !text.contains(&format!("/plugins/{pkg}/version/{ver}/")),
            "{f} links unapproved {pkg} {ver}"
        );
    }
    // No published file answers a URL of that version (its page, JSON or zip).
    let prefix = format!("/plugins/{pkg}/version/{ver}/");
    let leaked: Vec<String> = s
        .site
        .public_files()
        .into_iter()
        .filter(|(_, url)| url.starts_with(&prefix))
        .map(|(rel, _)| rel)
        .collect();
    assert!(leaked.is_empty(), "published for unapproved {pkg} {ver}: {leaked:?}");
    assert!(
        s.site
            .public_files()
            .iter()
            .any(|(_, url)| url.starts_with(&format!("/plugins/{pkg}/version/"))),
        "{pkg} has no published version at all: the check above proves nothing"
    );
    assert_eq!(get(&format!("/plugins/{pkg}/version/{ver}/download/")).status, 404);
    assert_eq!(get(&format!("/plugins/{pkg}/version/{ver}/json")).status, 404);
    assert_eq!(get(&format!("/plugins/{pkg}/version/{ver}/")).status, 404);
    let j: serde_json::Value =
        serde_json::from_slice(&get(&format!("/plugins/{pkg}/json")).body).expect("json");
    assert!(
        !j["versions"].as_array().expect("versions").iter().any(|v| v["version"] == ver),
        "/plugins/{pkg}/json lists {ver}"
    );
}

#[test]
fn upload_service_paths_are_proxied_and_others_are_not() {
    let s = served();
    for (method, path) in [
        ("POST", "/plugins/add/"),
        ("POST", "/plugins/add"),
        ("POST", "/plugins/api/selection_stats/version/add/"),
        ("POST", "/plugins/api/selection_stats/version/1.1/update/"),
        ("POST", "/plugins/RPC2/"),
        ("POST", "/plugins/RPC2"),
        ("POST", "/api/v1/token"),
        ("GET", "/api/v1/plugins/selection_stats/tokens?x=1"),
    ] {
        let r = http::request(s.nginx.port, method, path, &[], b"{}").unwrap_or_err(path);
        assert_eq!(r.status, 200, "{method} {path}");
        assert_eq!(r.text(), format!("upstream saw: {method} {path}"), "{method} {path}");
    }
    let seen = s.uploader.seen.lock().expect("lock").clone();
    let head = seen.iter().find(|h| h.starts_with("POST /api/v1/token ")).expect("token request");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("x-forwarded-for: 127.0.0.1"), "{head}");
    assert!(lower.contains(&format!("host: 127.0.0.1:{}", s.nginx.port)), "{head}");
    // Look-alike paths stay static.
    for path in ["/plugins/address_tools/", "/plugins/RPC2x/", "/apix/"] {
        let r = get(path);
        assert_eq!(r.status, 404, "{path} was not answered by the static site");
    }
    // Bodies above the limit are refused by nginx with a JSON message.
    let r = http::request(
        s.nginx.port,
        "POST",
        "/plugins/add/",
        &[("Content-Length", "30000000")],
        b"",
    )
    .unwrap_or_err("large body");
    assert_eq!(r.status, 413);
    assert_eq!(r.mime(), "application/json");
}

#[test]
fn uploader_down_answers_json_503_and_the_guard_stops_nginx() {
    let site: &Site = &served().site;
    // Nobody listens on the upload service's port.
    let port = support::free_port();
    let down = std::iter::repeat_with(support::free_port).find(|p| *p != port).expect("a port");
    let down = std::net::SocketAddr::from(([127, 0, 0, 1], down));
    let nginx = Nginx::start_on(&site.root(), down, port).expect("second nginx");
    let r = http::request(port, "POST", "/plugins/add/", &[], b"x").expect("request");
    assert_eq!(r.status, 503);
    assert_eq!(r.mime(), "application/json");
    let j: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON error");
    assert!(j["error"].as_str().is_some_and(|e| e.contains("upload service")));
    // Static files do not depend on the service.
    assert_eq!(http::get(port, "/plugins/plugins.xml?qgis=3.34", &[]).expect("xml").status, 200);

    drop(nginx);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let closed =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500)).is_err();
    assert!(closed, "nginx still listens on {port} after its guard dropped");
}

#[test]
fn hashed_assets_and_icons_are_cached_long_pages_revalidate() {
    let s = served();
    // Hashed stylesheets (plugins.xsl's own CSS keeps its fixed name, as the XSL does).
    let css: Vec<String> = s
        .site
        .files_ending_with(".css")
        .into_iter()
        .filter(|f| !f.starts_with("static/style/"))
        .collect();
    assert!(!css.is_empty(), "no stylesheet published");
    let page = get("/plugins/");
    assert_eq!(page.header("cache-control"), Some("no-cache"), "HTML pages revalidate");
    for f in &css {
        // The page links the stylesheet by its hashed name.
        assert!(page.text().contains(&format!("/{f}")), "/plugins/ does not link /{f}");
        let r = get(&format!("/{f}"));
        assert_eq!((r.status, r.mime()), (200, "text/css"), "/{f}");
        assert!(r.header("cache-control").is_some_and(|c| c.contains("immutable")), "/{f}");
    }
    // Icons, by the absolute URL plugins.xml gives QGIS.
    let doc = s.site.file("plugins/xml/3.34.xml");
    let text = String::from_utf8(doc).expect("UTF-8");
    let icons: Vec<&str> = text
        .split("<icon>")
        .skip(1)
        .filter_map(|t| t.split("</icon>").next())
        .filter(|u| !u.is_empty())
        .collect();
    assert!(!icons.is_empty(), "no icons in 3.34.xml");
    for url in icons {
        let path = url
            .strip_prefix(&s.site.base_url)
            .unwrap_or_else(|| panic!("icon {url} is not absolute"));
        let r = get(path);
        assert_eq!((r.status, r.mime()), (200, "image/png"), "{url}");
        assert!(r.header("cache-control").is_some_and(|c| c.contains("max-age=31536000")), "{url}");
    }
}

#[test]
fn a_new_build_is_served_at_once_without_reloading_nginx() {
    // A site of its own: this test changes the catalog.
    let port = support::free_port();
    let site = Site::build(&format!("http://127.0.0.1:{port}")).expect("site");
    let nginx = Nginx::start_on(&site.root(), served().uploader.addr, port).expect("nginx");
    let (pkg, ver) = (support::UNAPPROVED_PLUGIN, support::UNAPPROVED_VERSION);
    let path = format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}");
    let before = http::get(port, &path, &[]).expect("before");
    let listed = |r: &Response| {
        xml::parse(&r.body).expect("XML").iter().any(|e| e.id() == pkg && e.version == ver)
    };
    assert!(!listed(&before));
    assert_eq!(
        http::get(port, &format!("/plugins/{pkg}/version/{ver}/download/"), &[]).unwrap().status,
        404
    );

    // Approve the version and rebuild: the `current` symlink swaps to a new release.
    let release_before = std::fs::read_link(site.site.join("current")).expect("current");
    let conn = catalog::open(&site.data).expect("catalog");
    let n = conn
        .execute(
            "UPDATE plugin_versions SET approved = 1 WHERE version = ?2
             AND plugin_id = (SELECT id FROM plugins WHERE package_name = ?1)",
            [pkg, ver],
        )
        .expect("approve");
    assert_eq!(n, 1);
    drop(conn);
    let config = generator::Config::new(
        site.data.clone(),
        site.site.clone(),
        support::workspace_root().join("templates"),
        &site.base_url,
    )
    .expect("config");
    generator::build(&config).expect("rebuild");
    assert_ne!(std::fs::read_link(site.site.join("current")).expect("current"), release_before);

    let after = http::get(port, &path, &[]).expect("after");
    assert_eq!(after.status, 200);
    assert!(listed(&after), "the approved version is not served after the rebuild");
    assert_ne!(before.header("etag"), after.header("etag"), "the ETag did not change");
    // A client revalidating with the old ETag gets the new document, not a 304.
    let etag = before.header("etag").expect("etag");
    assert_eq!(http::get(port, &path, &[("If-None-Match", etag)]).expect("reval").status, 200);
    let zip =
        http::get(port, &format!("/plugins/{pkg}/version/{ver}/download/"), &[]).expect("zip");
    assert_eq!((zip.status, zip.mime()), (200, "application/zip"));
    drop(nginx);
}
