//! The generated website as visitors and tools see it, on the shared demo site behind nginx:
//! every internal link resolves, every page passes the Nu HTML Checker (`vnu-jar`), every
//! Atom feed parses, a real headless Chromium searches, browses, pages and downloads, and
//! the reference's `?page=N` list URLs answer their pre-rendered page. The Node tools are
//! pinned in `tests/site/package-lock.json`; a missing Java, Node, npm package or chromium
//! fails these tests with the command that installs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::support::published::{percent_decode, percent_encode, public_url};
use crate::support::{self, http, served, workspace_root};

/// `tests/site/` with its `node_modules` installed from the lock file (`npm ci`) when
/// missing; once per test process.
pub(crate) fn node_tools() -> PathBuf {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = READY.get_or_init(|| {
        let dir = workspace_root().join("tests/site");
        let modules = dir.join("node_modules");
        let complete = modules.join("vnu-jar/build/dist/vnu.jar").is_file()
            && modules.join("playwright-core/package.json").is_file()
            && modules.join("axe-core/axe.min.js").is_file();
        if !complete {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .output()
                .map_err(|e| {
                    format!("running npm ({e}): install Node.js (`make test` runs scripts/ensure-deps.sh test)")
                })?;
            if !out.status.success() {
                return Err(format!(
                    "`npm ci` in {} failed:\n{}",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(dir)
    });
    match r {
        Ok(d) => d.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Every `href` and `src` attribute value of an HTML text, entity-decoded.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=", "src="] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + attr.len()..];
            if !before.is_some_and(char::is_whitespace) {
                continue;
            }
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            let Some(end) = rest[1..].find(quote) else { continue };
            out.push(decode_entities(&rest[1..1 + end]));
            rest = &rest[1 + end..];
        }
    }
    out
}

fn decode_entities(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The site-internal target (path plus query, no fragment) of a link on the page at
/// `page_url`, or None for external links, `mailto:`, fragments and the like.
fn internal_target(link: &str, page_url: &str, base_url: &str) -> Option<String> {
    let link = link.trim();
    let link = match link.strip_prefix(base_url) {
        Some("") => "/",
        Some(rest) if rest.starts_with(['/', '?', '#']) => rest,
        _ => link,
    };
    let link = link.split('#').next().unwrap_or("");
    if link.is_empty() || link.starts_with("//") {
        return None;
    }
    // A scheme (http:, https:, mailto:, data:, ...) before any slash: not ours.
    if let Some(colon) = link.find(':')
        && !link[..colon].contains(['/', '?'])
    {
        return None;
    }
    let (path, query) = match link.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (link, None),
    };
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        let dir = &page_url[..page_url.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{path}")
    };
    // Normalise `.` and `..` segments, keeping a trailing slash.
    let mut segs: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let trailing = joined.ends_with('/') || joined.ends_with("/.") || joined.ends_with("/..");
    let mut out = format!("/{}", segs.join("/"));
    if trailing && out != "/" {
        out.push('/');
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// A link target as a browser puts it on the request line: the bytes a URL cannot hold
/// literally (controls, space, non-ASCII, `"<>`{}`) percent-encoded, the rest unchanged.
fn browser_encoded(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for b in target.bytes() {
        if b <= b' ' || b >= 0x7f || b"\"<>`{}".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// A decoded path with each segment percent-encoded as `public_url` does (a canonical form
/// to compare links however their hrefs are encoded).
fn percent_encode_path(path: &str) -> String {
    path.split('/').map(percent_encode).collect::<Vec<_>>().join("/")
}

/// Whether nginx answers a path (no query) with the published file of the same name
/// (`/x/`: `x/index.html`), that file's public URL. Paths the flat layout maps to another
/// file (version, stats and latest pages, tag, author and user lists, `page/N/`, downloads)
/// are not: the link checker asks nginx for those.
fn is_published_file(root: &Path, path: &str) -> bool {
    let rel = percent_decode(path.trim_start_matches('/'));
    let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel };
    root.join(&rel).is_file()
        && public_url(&rel).is_some_and(|url| percent_decode(&url) == percent_decode(path))
}

/// The public URL of the published file a path (no query) names by its file name, when
/// that is not the path itself: a link to the layout's internal name of a page
/// (`/plugins/p/version-1.0.html` rather than `/plugins/p/version/1.0/`).
fn internal_file_name(root: &Path, path: &str) -> Option<String> {
    let rel = percent_decode(path.trim_start_matches('/'));
    let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel };
    if !root.join(&rel).is_file() {
        return None;
    }
    match public_url(&rel) {
        Some(url) if percent_decode(&url) == percent_decode(path) => None,
        Some(url) => Some(url),
        None => Some(format!("none (`{rel}` is not served by a URL of its own)")),
    }
}

#[test]
fn the_link_checker_extracts_and_resolves_links_as_a_browser_does() {
    let html = r#"<a href="/a/">x</a><img class="i" src='b.png' alt=""><a data-href="/no/">
        <a href="../c/?x=1&amp;y=2#top">c</a><a href="mailto:a@example.org">m</a>"#;
    assert_eq!(links(html), ["/a/", "../c/?x=1&y=2#top", "mailto:a@example.org", "b.png"]);
    let base = "http://127.0.0.1:1";
    let t = |l: &str| internal_target(l, "/plugins/p/", base);
    assert_eq!(t("/a/").as_deref(), Some("/a/"));
    assert_eq!(t("b.png").as_deref(), Some("/plugins/p/b.png"));
    assert_eq!(t("../c/?x=1&y=2#top").as_deref(), Some("/plugins/c/?x=1&y=2"));
    assert_eq!(t("http://127.0.0.1:1/plugins/").as_deref(), Some("/plugins/"));
    assert_eq!(t("http://127.0.0.1:1").as_deref(), Some("/"));
    for external in ["mailto:a@example.org", "https://example.org/", "//cdn.example/x", "#top"] {
        assert_eq!(t(external), None, "{external}");
    }
    // A port that merely starts like the base URL's is another site.
    assert_eq!(t("http://127.0.0.1:10/x"), None);
    let root = served().site.root();
    assert!(is_published_file(&root, "/"));
    assert!(is_published_file(&root, "/plugins/"));
    assert!(is_published_file(&root, "/plugins/xml/3.34.xml"));
    assert_eq!(browser_encoded("/a/Zoë b/?q=\"x\""), "/a/Zo%C3%AB%20b/?q=%22x%22");
    assert!(!is_published_file(&root, "/plugins/no_such_plugin/"));
    // Pages of the flat layout are asked of nginx; their file names are no public URL.
    let (pkg, ver) = (support::DEV_ONLY_PLUGIN, support::DEV_ONLY_VERSION);
    for mapped in [
        format!("/plugins/{pkg}/version/{ver}/"),
        format!("/plugins/{pkg}/stats/"),
        "/plugins/page/2/".to_owned(),
        format!("/plugins/tags/{}/", support::PAGED_TAG_SLUG),
    ] {
        assert!(!is_published_file(&root, &mapped), "{mapped}");
        assert_eq!(internal_file_name(&root, &mapped), None, "{mapped}");
    }
    assert_eq!(
        internal_file_name(&root, &format!("/plugins/{pkg}/version-{ver}.html")).as_deref(),
        Some(format!("/plugins/{pkg}/version/{ver}/").as_str())
    );
    assert_eq!(
        internal_file_name(&root, "/plugins/page-2.html").as_deref(),
        Some("/plugins/page/2/")
    );
    assert_eq!(internal_file_name(&root, "/plugins/"), None);
}

#[test]
fn every_internal_link_and_asset_of_every_page_resolves() {
    let s = served();
    let root = s.site.root();
    let pages = s.site.files_ending_with(".html");
    assert!(pages.len() > 300, "only {} pages generated", pages.len());
    let mut checked = 0usize;
    // Targets that are no file of that name: asked of nginx, with the first page linking them.
    let mut via_nginx: BTreeMap<String, String> = BTreeMap::new();
    let mut broken = Vec::new();
    let mut mapped_pages = 0usize;
    for rel in &pages {
        let html = std::fs::read_to_string(root.join(rel)).expect("page is UTF-8");
        // Relative links resolve against the page's public URL, not its file name.
        let page_url = public_url(rel);
        mapped_pages +=
            usize::from(page_url.as_ref().is_some_and(|u| !is_published_file(&root, u)));
        for link in links(&html) {
            let Some(page_url) = &page_url else {
                // The 404 page answers any missing URL: a relative link would lead anywhere.
                let here = |u| internal_target(&link, u, &s.site.base_url);
                if here("/a/") != here("/b/c/") {
                    broken.push(format!("{rel}: relative link {link} on a page with no URL"));
                }
                continue;
            };
            let Some(target) = internal_target(&link, page_url, &s.site.base_url) else {
                continue;
            };
            checked += 1;
            let path = target.split('?').next().unwrap_or("");
            if let Some(url) = internal_file_name(&root, path) {
                broken.push(format!("{rel}: {target} names a file of the layout (its URL: {url})"));
                continue;
            }
            if !target.contains('?') && is_published_file(&root, path) {
                continue;
            }
            via_nginx.entry(target).or_insert_with(|| rel.clone());
        }
    }
    assert!(mapped_pages > 200, "only {mapped_pages} pages at URLs of the flat layout");
    let mut downloads = 0;
    for (target, from) in &via_nginx {
        downloads += usize::from(target.ends_with("/download/"));
        // Sent as a browser sends it (that hrefs need no such repair is vnu's check).
        match http::get(s.nginx.port, &browser_encoded(target), &[]) {
            // The (fake) upload service answers exactly the links into the workplace.
            Ok(r) if r.status == 200 => {
                let proxied = r.body.starts_with(b"upstream saw: ");
                if proxied != is_workplace_link(target) {
                    let to = if proxied { "the upload service" } else { "the static site" };
                    broken.push(format!("{from}: {target} is answered by {to}"));
                }
            }
            Ok(r) => broken.push(format!("{from}: {target} answers {}", r.status)),
            Err(e) => broken.push(format!("{from}: {target}: {e:#}")),
        }
    }
    assert!(
        broken.is_empty(),
        "{} broken internal links (of {checked} checked):\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(checked > 5000, "only {checked} internal links found: is the extraction broken?");
    assert!(downloads > 30, "only {downloads} download links were asked of nginx");
    // Links of each mapping of the flat layout were among them.
    let tag = format!("/plugins/tags/{}/", support::PAGED_TAG_SLUG);
    let author = format!("/plugins/author/{}/", percent_encode(support::PAGED_AUTHOR));
    let user = format!("/plugins/user/{}/", percent_encode(support::PAGED_USER));
    // Targets compared in one spelling, however their hrefs encode them.
    let asked: Vec<String> =
        via_nginx.keys().map(|t| percent_encode_path(&percent_decode(t))).collect();
    let asked_any = |what: &str, is: &dyn Fn(&str) -> bool| {
        assert!(asked.iter().any(|t| is(t)), "no {what} link was asked of nginx");
    };
    asked_any("version page", &|t| {
        t.contains("/version/") && t.ends_with('/') && !t.ends_with("/download/")
    });
    asked_any("version json", &|t| t.contains("/version/") && t.ends_with("/json"));
    asked_any("plugin stats", &|t| {
        t.starts_with("/plugins/") && t.ends_with("/stats/") && t != "/plugins/stats/"
    });
    asked_any("list page 2", &|t| t == "/plugins/page/2/");
    asked_any("tag list", &|t| t == tag);
    asked_any("tag feed", &|t| t == format!("{tag}feed.xml"));
    asked_any("author list page 2", &|t| t == format!("{author}page/2/"));
    asked_any("user list page 2", &|t| t == format!("{user}page/2/"));
    // The header's and the plugin pages' links into the workplace (the upload service).
    asked_any("sign-in link", &|t| t == "/accounts/login/");
    asked_any("upload link", &|t| t == "/plugins/add/");
    asked_any("manage link", &|t| t.starts_with("/plugins/") && t.ends_with("/update/"));
    asked_any("tokens link", &|t| t.starts_with("/plugins/") && t.ends_with("/tokens/"));
}

/// The static pages' links into the web workplace, answered by the upload service: the
/// header's "Sign in" and "Upload a plugin", a plugin page's "Manage" and "Tokens".
fn is_workplace_link(target: &str) -> bool {
    let plugin_page = |tail| {
        target
            .strip_prefix("/plugins/")
            .and_then(|t| t.strip_suffix(tail))
            .is_some_and(|p| !p.is_empty() && !p.contains('/'))
    };
    target == "/accounts/login/"
        || target == "/plugins/add/"
        || plugin_page("/update/")
        || plugin_page("/tokens/")
}

#[test]
fn every_generated_page_is_valid_html_for_the_nu_checker() {
    let s = served();
    let root = s.site.root();
    let vnu = node_tools().join("node_modules/vnu-jar/build/dist/vnu.jar");
    let pages = s.site.files_ending_with(".html");
    assert!(pages.iter().any(|p| p == "404.html"), "404.html was not generated");
    // Every kind of page, by the URL it answers at (the file is the flat layout's).
    let urls: Vec<String> = pages.iter().filter_map(|p| public_url(p)).collect();
    let (pkg, ver) = (support::DEV_ONLY_PLUGIN, support::DEV_ONLY_VERSION);
    let author = format!("/plugins/author/{}/", percent_encode(support::PAGED_AUTHOR));
    for kind in [
        "/",
        "/plugins/",
        "/plugins/page/2/",
        "/plugins/sort/name/",
        "/plugins/sort/name/page/2/",
        "/plugins/tags/",
        "/plugins/authors/",
        "/plugins/users/",
        "/plugins/stats/",
        "/search/",
        "/docs/",
        "/docs/publish/",
        "/docs/approval/",
        "/docs/faq/",
        &format!("/plugins/{pkg}/"),
        &format!("/plugins/{pkg}/version/{ver}/"),
        &format!("/plugins/{pkg}/stats/"),
        &format!("/plugins/{pkg}/latest/"),
        &format!("/plugins/tags/{}/", support::PAGED_TAG_SLUG),
        &format!("/plugins/tags/{}/page/2/", support::PAGED_TAG_SLUG),
        &author,
        &format!("{author}page/2/"),
        &format!("/plugins/user/{}/page/2/", support::PAGED_USER),
    ] {
        assert!(urls.iter().any(|u| u == kind), "no page answers {kind}");
    }
    for pattern in ["/plugins/tags/", "/plugins/author/", "/plugins/user/", "/version/", "/stats/"]
    {
        assert!(urls.iter().any(|u| u.contains(pattern)), "no page under {pattern}");
    }
    // All pages in one JVM run (about 15 s on a busy two-core machine for ~390 pages).
    let out = Command::new("java")
        .args(["-jar".as_ref(), vnu.as_os_str()])
        .args(["--errors-only", "--format", "json", "--stdout"])
        .args(&pages)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running java ({e}): install a JRE (`apt-get install -y openjdk-17-jre-headless`)"
            )
        });
    let report = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(report.trim()).unwrap_or_else(|e| {
        panic!(
            "vnu printed no JSON report ({e}):\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(json["version"].is_string(), "not a vnu report: {report}");
    let messages = json["messages"].as_array().expect("messages");
    let errors: Vec<String> = messages
        .iter()
        .map(|m| {
            format!(
                "{}:{}: {} {}",
                m["url"].as_str().unwrap_or("?").rsplit("/./").next().unwrap_or("?"),
                m["lastLine"],
                m["type"].as_str().unwrap_or("?"),
                m["message"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert!(errors.is_empty(), "{} HTML errors:\n{}", errors.len(), errors.join("\n"));
    assert!(out.status.success(), "vnu failed without messages: {report}");
}

/// What an Atom document holds, read strictly (well-formed, matching end tags).
#[derive(Default)]
struct Feed {
    title: bool,
    link: bool,
    updated: bool,
    id: bool,
    entries: usize,
    complete_entries: usize,
}

fn parse_feed(bytes: &[u8]) -> anyhow::Result<Feed> {
    let text = std::str::from_utf8(bytes)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut feed = Feed::default();
    let mut stack: Vec<String> = Vec::new();
    let mut entry: [bool; 4] = [false; 4];
    loop {
        let ev = reader.read_event()?;
        let (name, empty) = match &ev {
            Event::Start(e) => (String::from_utf8(e.name().as_ref().to_vec())?, false),
            Event::Empty(e) => (String::from_utf8(e.name().as_ref().to_vec())?, true),
            Event::End(_) => {
                if stack.pop().as_deref() == Some("entry") {
                    feed.complete_entries += usize::from(entry.iter().all(|b| *b));
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        match stack.len() {
            0 => {
                anyhow::ensure!(name == "feed", "root element <{name}>, not <feed>");
                if let Event::Start(e) = &ev {
                    let ns = e
                        .try_get_attribute("xmlns")?
                        .map(|a| a.unescape_value().map(|v| v.into_owned()))
                        .transpose()?;
                    anyhow::ensure!(
                        ns.as_deref() == Some("http://www.w3.org/2005/Atom"),
                        "not the Atom namespace: {ns:?}"
                    );
                }
            }
            1 => match name.as_str() {
                "title" => feed.title = true,
                "link" => feed.link = true,
                "updated" => feed.updated = true,
                "id" => feed.id = true,
                "entry" => {
                    feed.entries += 1;
                    entry = [false; 4];
                }
                _ => {}
            },
            2 if stack[1] == "entry" => match name.as_str() {
                "title" => entry[0] = true,
                "link" => entry[1] = true,
                "updated" => entry[2] = true,
                "id" => entry[3] = true,
                _ => {}
            },
            _ => {}
        }
        if !empty {
            stack.push(name);
        }
    }
    anyhow::ensure!(stack.is_empty(), "unclosed elements: {stack:?}");
    Ok(feed)
}

#[test]
fn every_atom_feed_parses_with_feed_and_entry_fields() {
    let s = served();
    // (file, URL) of every feed: `/plugins/feeds/*.xml` and `/plugins/.../feed.xml`.
    let feeds: Vec<(String, String)> = s
        .site
        .public_files()
        .into_iter()
        .filter(|(_, u)| u.ends_with("/feed.xml") || u.starts_with("/plugins/feeds/"))
        .collect();
    let catalog = s.site.catalog();
    for must in ["/plugins/feeds/new.xml", "/plugins/feeds/updated.xml"] {
        assert!(feeds.iter().any(|(_, u)| u == must), "{must} missing");
    }
    let tag_feeds = feeds.iter().filter(|(_, u)| u.starts_with("/plugins/tags/")).count();
    assert_eq!(feeds.len() - tag_feeds - 2, catalog.plugins.len(), "one feed per plugin");
    let tags: std::collections::BTreeSet<&str> =
        catalog.plugins.iter().flat_map(|p| p.tags.iter().map(|t| t.slug.as_str())).collect();
    assert_eq!(tag_feeds, tags.len(), "one feed per tag");
    for slug in &tags {
        let url = format!("/plugins/tags/{slug}/feed.xml");
        assert!(feeds.iter().any(|(_, u)| *u == url), "no feed answers {url}");
    }
    let mut problems = Vec::new();
    for (f, url) in &feeds {
        // nginx answers the feed's URL with it, as XML, and the feed names that URL itself.
        match http::get(s.nginx.port, url, &[]) {
            Ok(r)
                if r.status == 200 && r.body == s.site.file(f) && r.mime() == "application/xml" => {
            }
            Ok(r) => problems.push(format!("{url}: {} {} (not {f})", r.status, r.mime())),
            Err(e) => problems.push(format!("{url}: {e:#}")),
        }
        let self_link = format!("<link rel=\"self\" href=\"{}{url}\"/>", s.site.base_url);
        if !String::from_utf8_lossy(&s.site.file(f)).contains(&self_link) {
            problems.push(format!("{f}: its self link is not {url}"));
        }
        match parse_feed(&s.site.file(f)) {
            Err(e) => problems.push(format!("{f}: {e:#}")),
            Ok(feed) => {
                if !(feed.title && feed.link && feed.updated && feed.id) {
                    problems.push(format!("{f}: <feed> lacks title, link, updated or id"));
                }
                if feed.entries == 0 {
                    problems.push(format!("{f}: no <entry>"));
                }
                if feed.complete_entries != feed.entries {
                    problems.push(format!(
                        "{f}: {} of {} entries lack title, link, updated or id",
                        feed.entries - feed.complete_entries,
                        feed.entries
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // nginx serves them as XML.
    let r = http::get(s.nginx.port, "/plugins/feeds/new.xml", &[]).expect("GET new.xml");
    assert_eq!(r.status, 200);
    assert!(r.body == s.site.file("plugins/feeds/new.xml"));
}

#[test]
fn list_urls_with_the_references_page_query_answer_that_page() {
    let s = served();
    let get = |path: &str| {
        let r = http::get(s.nginx.port, path, &[]).unwrap_or_else(|e| panic!("{path}: {e:#}"));
        assert_eq!(r.status, 200, "{path}");
        r.body
    };
    let page2 = s.site.file("plugins/page-2.html");
    let page1 = s.site.file("plugins/index.html");
    assert!(page1 != page2);
    assert!(get("/plugins/?page=2") == page2, "/plugins/?page=2 is not page 2");
    assert!(get("/plugins/?page=02&x=1") == page2);
    assert!(get("/plugins/page/2/") == page2, "/plugins/page/2/ is not page 2");
    assert!(get("/plugins/sort/name/?page=2") == s.site.file("plugins/sort/name/page-2.html"));
    assert!(get("/plugins/sort/name/page/2/") == s.site.file("plugins/sort/name/page-2.html"));
    // Page 1, pages that do not exist and anything but digits: the list's first page.
    for q in ["", "?page=1", "?page=999", "?page=../../", "?page=2x", "?page="] {
        assert!(get(&format!("/plugins/{q}")) == page1, "/plugins/{q} is not page 1");
    }

    // Tag, author and user lists (`plugins/<kind>/p<N>/<name>.html`): the same forms.
    let slug = support::PAGED_TAG_SLUG;
    let author = percent_encode(support::PAGED_AUTHOR);
    let user = percent_encode(support::PAGED_USER);
    for (kind, url_name, file_name) in [
        ("tags", slug, slug),
        ("author", author.as_str(), support::PAGED_AUTHOR),
        ("user", user.as_str(), support::PAGED_USER),
    ] {
        let list = format!("/plugins/{kind}/{url_name}/");
        let page1 = s.site.file(&format!("plugins/{kind}/p1/{file_name}.html"));
        let page2 = s.site.file(&format!("plugins/{kind}/p2/{file_name}.html"));
        assert!(page1 != page2, "{list}");
        for q in ["", "?page=1", "?page=3", "?page=999", "?page=../../", "?page=2x", "?page="] {
            assert!(get(&format!("{list}{q}")) == page1, "{list}{q} is not page 1");
        }
        for q in ["?page=2", "?page=02&x=1"] {
            assert!(get(&format!("{list}{q}")) == page2, "{list}{q} is not page 2");
        }
        assert!(get(&format!("{list}page/2/")) == page2, "{list}page/2/ is not page 2");
        assert!(get(&format!("{list}page/2/?x=1")) == page2);
        // Page 2 lists the plugins page 1 does not: together, the whole list once.
        let cards = |html: &[u8]| String::from_utf8_lossy(html).matches("<li class=\"card").count();
        assert_eq!(cards(&page1) + cards(&page2), support::PAGED_LIST_LEN, "{list}");
    }

    // In the path form, a page that does not exist is a 404 (page 1 is the list's own URL).
    let tag = format!("/plugins/tags/{slug}/");
    for path in [
        "/plugins/page/1/".to_owned(),
        "/plugins/page/3/".to_owned(),
        "/plugins/page/999999/".to_owned(),
        "/plugins/sort/name/page/3/".to_owned(),
        format!("{tag}page/1/"),
        format!("{tag}page/3/"),
        format!("/plugins/author/{author}/page/3/"),
        format!("/plugins/user/{user}/page/3/"),
        "/plugins/tags/no-such-tag/".to_owned(),
        "/plugins/tags/no-such-tag/?page=2".to_owned(),
        "/plugins/tags/no-such-tag/page/2/".to_owned(),
        "/plugins/tags/no-such-tag/feed.xml".to_owned(),
        "/plugins/author/No%20Such%20Author/".to_owned(),
        "/plugins/user/no_such_user/".to_owned(),
    ] {
        let r = http::get(s.nginx.port, &path, &[]).unwrap_or_else(|e| panic!("{path}: {e:#}"));
        assert_eq!(r.status, 404, "{path}");
    }
}

#[test]
fn a_visitor_in_headless_chromium_searches_opens_a_plugin_follows_a_tag_pages_and_downloads() {
    let s = served();
    let tools = node_tools();
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium missing: `apt-get install -y chromium` (`make test` does)"
    );
    // A word of the most downloaded plugin's description, as a visitor would type it.
    let index: serde_json::Value =
        serde_json::from_slice(&s.site.file("search/index.json")).expect("search index");
    // The first (most downloaded) plugin with a stable version and a six-letter word.
    let word_of = |d: &serde_json::Value| {
        d["d"]
            .as_str()?
            .split(|c: char| !c.is_alphabetic())
            .find(|w| w.len() >= 6)
            .map(str::to_lowercase)
    };
    let (doc, word) = index
        .as_array()
        .expect("index is an array")
        .iter()
        .find_map(|d| d["v"].as_str().and(word_of(d)).map(|w| (d, w)))
        .expect("a stable plugin with a six-letter word in its description");
    let pkg = doc["p"].as_str().expect("package");
    let artifacts = workspace_root().join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).expect("tests/artifacts");
    let shots = ["home-desktop", "home-phone", "plugin-desktop", "plugin-phone"]
        .map(|n| artifacts.join(format!("{n}.png")));
    for shot in &shots {
        let _ = std::fs::remove_file(shot);
    }
    let out = Command::new("node")
        .arg(tools.join("browser.mjs"))
        .args([s.site.base_url.as_str(), word.as_str(), pkg])
        .arg(&artifacts)
        .output()
        .unwrap_or_else(|e| panic!("running node ({e}): install Node.js"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser.mjs failed:\n{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("browser.mjs printed no JSON ({e}):\n{stdout}\n{stderr}"));
    assert!(r["error"].is_null(), "the session stopped: {}\n{r:#}", r["error"]);
    for list in ["console_errors", "page_errors", "failed_requests", "http_errors"] {
        assert_eq!(r[list], serde_json::json!([]), "{list} during the session: {r:#}");
    }
    let st = &r["steps"];
    // Requests the browser cancelled itself: only the navigation that became the download
    // and icons still loading when the session left a listing.
    let download_url = st["download"]["url"].as_str().unwrap_or("-");
    for c in r["cancelled_requests"].as_array().expect("cancelled_requests") {
        let url = c.as_str().and_then(|c| c.split(": net::").next()).unwrap_or("");
        assert!(url == download_url || url.ends_with(".png"), "unexpected cancelled request {c}");
    }
    assert_eq!(st["home"]["status"], 200);
    assert!(
        st["search"]["url"].as_str().is_some_and(|u| u.contains(&format!("/search/?q={word}"))),
        "{r:#}"
    );
    assert!(st["search"]["results"].as_u64().is_some_and(|n| n >= 1), "{r:#}");
    assert_eq!(st["plugin"]["url"], format!("{}/plugins/{pkg}/", s.site.base_url));
    assert_eq!(st["plugin"]["h1"], doc["n"]);
    let account =
        serde_json::json!([["Upload a plugin", "/plugins/add/"], ["Sign in", "/accounts/login/"]]);
    assert_eq!(st["plugin"]["account_links"], account, "{r:#}");
    let manage = serde_json::json!([
        ["Manage", format!("/plugins/{pkg}/update/")],
        ["Tokens", format!("/plugins/{pkg}/tokens/")]
    ]);
    assert_eq!(st["plugin"]["manage_links"], manage, "{r:#}");
    let d = &st["download"];
    assert_eq!(d["status"], 200, "{r:#}");
    assert_eq!(d["content_type"], "application/zip");
    assert_eq!(d["zip_magic"], "504b0304", "not a zip");
    assert!(d["failure"].is_null(), "the browser's download failed: {r:#}");
    let version = doc["v"].as_str().expect("latest stable in the index");
    assert_eq!(d["suggested_filename"], format!("{pkg}-{version}.zip"));
    assert_eq!(d["url"], format!("{}/plugins/{pkg}/version/{version}/download/", s.site.base_url));
    assert!(st["tag"]["url"].as_str().is_some_and(|u| u.contains("/plugins/tags/")), "{r:#}");
    assert_eq!(st["tag"]["lists_plugin"], true, "the tag page does not list {pkg}");
    let l = &st["listing"];
    let total: u64 = l["count_text"]
        .as_str()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no plugin count on /plugins/: {r:#}"));
    assert!(total > 20 && total <= 40, "the demo catalog lists {total} plugins");
    assert_eq!(l["page1"], 20, "{r:#}");
    assert_eq!(l["page2"].as_u64(), Some(total - 20), "{r:#}");
    assert_eq!(l["page2_url"], format!("{}/plugins/page/2/", s.site.base_url));
    for shot in &shots {
        let png = std::fs::read(shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{}", shot.display());
    }
}
