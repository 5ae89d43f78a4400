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

use crate::support::{http, served, workspace_root};

/// `tests/site/` with its `node_modules` installed from the lock file (`npm ci`) when
/// missing; once per test process.
fn node_tools() -> PathBuf {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = READY.get_or_init(|| {
        let dir = workspace_root().join("tests/site");
        let modules = dir.join("node_modules");
        let complete = modules.join("vnu-jar/build/dist/vnu.jar").is_file()
            && modules.join("playwright-core/package.json").is_file();
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

/// The URL path a published file answers at (`a/index.html` → `/a/`).
fn url_of(rel: &str) -> String {
    match rel.strip_suffix("index.html") {
        Some(dir) => format!("/{dir}"),
        None => format!("/{rel}"),
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

fn percent_decode(s: &str) -> String {
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

/// Whether a path (no query) names a published file: `/x/` → `x/index.html`.
fn is_published_file(root: &Path, path: &str) -> bool {
    let rel = percent_decode(path.trim_start_matches('/'));
    let file = if rel.is_empty() || rel.ends_with('/') {
        root.join(&rel).join("index.html")
    } else {
        root.join(&rel)
    };
    file.is_file()
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
    assert!(!is_published_file(&root, "/plugins/no_such_plugin/"));
}

#[test]
fn every_internal_link_and_asset_of_every_page_resolves() {
    let s = served();
    let root = s.site.root();
    let pages = s.site.files_ending_with(".html");
    assert!(pages.len() > 300, "only {} pages generated", pages.len());
    let mut checked = 0usize;
    // Targets that are no file: asked of nginx, with the first page linking them.
    let mut via_nginx: BTreeMap<String, String> = BTreeMap::new();
    for rel in &pages {
        let html = std::fs::read_to_string(root.join(rel)).expect("page is UTF-8");
        let page_url = url_of(rel);
        for link in links(&html) {
            let Some(target) = internal_target(&link, &page_url, &s.site.base_url) else {
                continue;
            };
            checked += 1;
            let path = target.split('?').next().unwrap_or("");
            if !target.contains('?') && is_published_file(&root, path) {
                continue;
            }
            via_nginx.entry(target).or_insert_with(|| rel.clone());
        }
    }
    let mut broken = Vec::new();
    let mut downloads = 0;
    for (target, from) in &via_nginx {
        downloads += usize::from(target.ends_with("/download/"));
        match http::get(s.nginx.port, target, &[]) {
            Ok(r) if r.status == 200 => {}
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
}

#[test]
fn every_generated_page_is_valid_html_for_the_nu_checker() {
    let s = served();
    let root = s.site.root();
    let vnu = node_tools().join("node_modules/vnu-jar/build/dist/vnu.jar");
    let pages = s.site.files_ending_with(".html");
    for kind in [
        "index.html",
        "404.html",
        "plugins/index.html",
        "plugins/page/2/index.html",
        "plugins/sort/name/index.html",
        "plugins/tags/index.html",
        "plugins/authors/index.html",
        "plugins/users/index.html",
        "plugins/stats/index.html",
        "search/index.html",
        "docs/index.html",
        "docs/publish/index.html",
        "docs/approval/index.html",
        "docs/faq/index.html",
    ] {
        assert!(pages.iter().any(|p| p == kind), "{kind} was not generated");
    }
    for pattern in ["plugins/tags/", "plugins/author/", "plugins/user/", "/version/", "/stats/"] {
        assert!(pages.iter().any(|p| p.contains(pattern)), "no page under {pattern}");
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
    let feeds: Vec<String> = s
        .site
        .files_ending_with(".xml")
        .into_iter()
        .filter(|p| p.ends_with("/feed.xml") || p.starts_with("plugins/feeds/"))
        .collect();
    let catalog = s.site.catalog();
    for must in ["plugins/feeds/new.xml", "plugins/feeds/updated.xml"] {
        assert!(feeds.iter().any(|f| f == must), "{must} missing");
    }
    let plugin_feeds = feeds.iter().filter(|f| !f.starts_with("plugins/tags/")).count() - 2;
    assert_eq!(plugin_feeds, catalog.plugins.len(), "one feed per plugin");
    assert!(feeds.iter().any(|f| f.starts_with("plugins/tags/")), "no tag feed");
    let mut problems = Vec::new();
    for f in &feeds {
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
    let page2 = s.site.file("plugins/page/2/index.html");
    let page1 = s.site.file("plugins/index.html");
    assert!(page1 != page2);
    assert!(get("/plugins/?page=2") == page2, "/plugins/?page=2 is not page 2");
    assert!(get("/plugins/?page=02&x=1") == page2);
    assert!(
        get("/plugins/sort/name/?page=2") == s.site.file("plugins/sort/name/page/2/index.html")
    );
    // Page 1, pages that do not exist and anything but digits: the list's first page.
    for q in ["", "?page=1", "?page=999", "?page=../../", "?page=2x", "?page="] {
        assert!(get(&format!("/plugins/{q}")) == page1, "/plugins/{q} is not page 1");
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
