//! No plugin content executes on our origin, and private files are never served: hostile
//! SVG icons (namespaced script, foreignObject, entity-encoded handlers, `javascript:`
//! links, external `<use>` and `<image>`) approved through the real service are published
//! as PNGs with the sandbox CSP, and a headless Chromium opening them directly and in the
//! pages that show them sees no dialog, no console message and makes no request to the
//! recording listener; every kind of response carries the security headers; dot-segments
//! are 404.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use catalog::ids::{PluginId, UserId};
use catalog::model::Icon;
use catalog::names::PluginVersion;

use crate::support::deploy::{Deployment, poll};
use crate::support::http::{self, Response};
use crate::support::workspace_root;

const FILE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
/// The version each fixture plugin gets, carrying its icon.
const ICON_VERSION: &str = "9.0.0";

/// The issue's hostile icons; `{port}` is the recording listener.
const HOSTILE: &[(&str, &str)] = &[
    (
        "namespaced script",
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:h="http://www.w3.org/1999/xhtml" viewBox="0 0 10 10"><h:script>alert('ns-script');console.log('ns-script')</h:script><rect width="10" height="10" fill="red"/></svg>"#,
    ),
    (
        "foreignObject",
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><foreignObject width="10" height="10"><body xmlns="http://www.w3.org/1999/xhtml"><script>alert('fo')</script><img src="http://127.0.0.1:{port}/fo.png"/></body></foreignObject><circle cx="5" cy="5" r="4"/></svg>"#,
    ),
    (
        "entity-encoded handlers",
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" onload="alert('onload')"><set attributeName="&#111;nload" to="alert('set')"/><a href="&#106;avascript:alert('entity')"><rect width="10" height="10" fill="blue"/></a></svg>"#,
    ),
    (
        "javascript link",
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10"><a xlink:href="javascript:alert('js')" href="javascript:alert('js2')"><rect width="10" height="10" fill="green"/></a></svg>"#,
    ),
    (
        "external use",
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10"><use href="http://127.0.0.1:{port}/x.svg#a"/><use xlink:href="http://127.0.0.1:{port}/y.svg#a"/><rect width="4" height="4"/></svg>"#,
    ),
    (
        "external image",
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10"><image href="http://127.0.0.1:{port}/i.png" width="10" height="10"/><image xlink:href="http://127.0.0.1:{port}/j.png" width="10" height="10"/><rect width="4" height="4"/></svg>"#,
    ),
];

/// A real-looking icon, for the screenshots.
const GOOD: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="4" y="4" width="56" height="56" rx="12" fill="#589632"/><circle cx="32" cy="28" r="14" fill="none" stroke="#fff" stroke-width="5"/><path d="M40 38 L52 52" stroke="#ee7913" stroke-width="7" stroke-linecap="round"/></svg>"##;

/// A listener that records every request line it receives and answers an SVG with a script.
fn recording_listener() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recording listener");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            log.lock().unwrap().push(head.lines().next().unwrap_or("").to_owned());
            let body = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"a\"><script>alert('fetched')</script></svg>";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: image/svg+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

/// Gives `pkg` an unapproved version `ICON_VERSION` whose icon is `svg` (as an SVG upload
/// of earlier releases was stored), with its own copy of an existing stored zip.
fn add_icon_version(d: &Deployment, pkg: &str, svg: &str) {
    let conn = catalog::open(d.data()).expect("open catalog");
    let (plugin_id, created_by, path, sha, size): (PluginId, UserId, String, String, i64) = conn
        .query_row(
            "SELECT v.plugin_id, v.created_by, v.package_path, v.package_sha256, v.package_size
             FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
             WHERE p.package_name = ?1 AND v.approved = 1 LIMIT 1",
            [pkg],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap_or_else(|e| panic!("an approved version of {pkg}: {e}"));
    let copy = format!("{path}.icon-fixture.zip");
    std::fs::copy(d.data().join(&path), d.data().join(&copy)).expect("copy the stored zip");
    let (min, max) =
        (catalog::names::QgisVersion::new(3, 0), catalog::names::QgisVersion::new(3, 99));
    let v = catalog::versions::NewVersion {
        version: PluginVersion::parse(ICON_VERSION).unwrap(),
        created_by,
        min_qgis: min,
        max_qgis: max,
        changelog: "Icon fixture.".into(),
        experimental: false,
        approved: false,
        external_deps: String::new(),
        token_id: None,
        package_path: copy,
        package_sha256: sha,
        package_size: size,
        icon: Some(Icon { ext: "svg".into(), bytes: svg.as_bytes().to_vec() }),
    };
    catalog::versions::insert_version(&conn, plugin_id, &v, catalog::time::now())
        .expect("insert the icon version");
}

/// The published icon URL of `pkg`, read from its page.
fn icon_url(d: &Deployment, pkg: &str) -> Option<String> {
    let page = d.req("GET", &format!("/plugins/{pkg}/"), &[], b"").text();
    let start = page.find(&format!("/plugins/{pkg}/icon-"))?;
    let end = start + page[start..].find('"')?;
    Some(page[start..end].to_owned())
}

fn assert_page_headers(what: &str, r: &Response) {
    let csp =
        r.header("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP: {r:?}"));
    for part in
        ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(part), "{what}: CSP `{csp}` lacks `{part}`");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: CSP `{csp}` allows inline code");
    assert_eq!(r.header("referrer-policy"), Some("strict-origin-when-cross-origin"), "{what}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{what}");
    let count = r.headers.iter().filter(|(n, _)| n == "content-security-policy").count();
    assert_eq!(count, 1, "{what}: {count} CSP headers");
}

fn assert_file_headers(what: &str, r: &Response) {
    assert_eq!(r.header("content-security-policy"), Some(FILE_CSP), "{what}: {r:?}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{what}");
    let count = r.headers.iter().filter(|(n, _)| n == "content-security-policy").count();
    assert_eq!(count, 1, "{what}: {count} CSP headers");
}

/// Approves every fixture version as staff; returns the packages (hostile first, then the
/// good icon's).
fn publish_fixtures(d: &Deployment, port: u16) -> Vec<String> {
    let mut catalog: Vec<String> =
        d.site.catalog().plugins.iter().map(|p| p.package.to_string()).collect();
    catalog.sort();
    let pkgs: Vec<String> = catalog.into_iter().take(HOSTILE.len() + 1).collect();
    for (pkg, (_, svg)) in pkgs.iter().zip(HOSTILE) {
        add_icon_version(d, pkg, &svg.replace("{port}", &port.to_string()));
    }
    add_icon_version(d, &pkgs[HOSTILE.len()], GOOD);
    d.user_add("iconboss", &["--staff"]);
    let staff = d.user_token("iconboss");
    for pkg in &pkgs {
        let (status, body) = d.set_approved(pkg, ICON_VERSION, &staff, true);
        assert_eq!(status, 200, "approving {pkg} {ICON_VERSION}: {body}");
    }
    pkgs
}

#[test]
fn hostile_svg_icons_never_run_on_our_origin() {
    let (port, seen) = recording_listener();
    let d = Deployment::start();
    let pkgs = publish_fixtures(&d, port);

    let mut paths = Vec::new();
    for (pkg, (name, _)) in pkgs.iter().zip(HOSTILE.iter().chain([&("good", GOOD)])) {
        let url = icon_url(&d, pkg).unwrap_or_else(|| panic!("{name}: {pkg}'s page shows no icon"));
        let r = d.req("GET", &url, &[], b"");
        assert_eq!(r.status, 200, "{name}: {url}");
        assert_eq!(r.mime(), "image/png", "{name}: {url} is not a PNG");
        assert!(r.body.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: {url} is not PNG bytes");
        assert!(url.ends_with(".png"), "{name}: {url}");
        assert_file_headers(name, &r);
        paths.push(url);
        paths.push(format!("/plugins/{pkg}/"));
        paths.push(format!("/plugins/{pkg}/version/{ICON_VERSION}/"));
    }
    // No SVG of a plugin is published anywhere (only the site's own logo).
    let svgs: Vec<String> = d
        .site
        .files_ending_with(".svg")
        .into_iter()
        .filter(|f| !f.starts_with("static/"))
        .collect();
    assert_eq!(svgs, Vec::<String>::new(), "plugin SVGs in the published site");
    paths.extend(["/plugins/".to_owned(), "/".to_owned(), "/plugins/fresh/".to_owned()]);

    let tools = crate::site::node_tools();
    let artifacts = workspace_root().join("target/screenshots");
    std::fs::create_dir_all(&artifacts).expect("screenshots dir");
    let shot = format!("/plugins/{}/", pkgs[HOSTILE.len()]);
    let out = Command::new("node")
        .current_dir(&tools)
        .arg(tools.join("hostile_icons.mjs"))
        .args([d.site.base_url.as_str(), shot.as_str()])
        .arg(&artifacts)
        .args(&paths)
        .output()
        .unwrap_or_else(|e| panic!("running node ({e}): install Node.js"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hostile_icons.mjs failed:\n{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("hostile_icons.mjs printed no JSON ({e}):\n{stdout}\n{stderr}"));
    assert!(r["error"].is_null(), "the session stopped: {}\n{r:#}", r["error"]);
    assert_eq!(r["opened"].as_array().map(Vec::len), Some(paths.len()), "{r:#}");
    for list in ["dialogs", "console", "page_errors", "foreign_requests"] {
        assert_eq!(r[list], serde_json::json!([]), "{list} while opening the icons: {r:#}");
    }
    // plugins.xml still renders through its XSL, styled by its (external) stylesheet.
    assert_eq!(r["xsl"]["h1"], "QGIS Plugins - Official Repository", "{r:#}");
    assert_eq!(r["xsl"]["body_display"], "flex", "plugins.css not applied: {r:#}");
    assert!(r["xsl"]["plugins"].as_u64() > Some(0), "{r:#}");
    for opened in r["opened"].as_array().unwrap() {
        assert_eq!(opened["status"], 200, "{opened}");
        let path = opened["path"].as_str().unwrap();
        if path.contains("/icon-") {
            assert_eq!(opened["content_type"], "image/png", "{opened}");
            assert_eq!(opened["csp"], FILE_CSP, "{opened}");
        }
    }
    // The plugin pages show their converted icons (the browser decoded them).
    for pkg in &pkgs {
        let page = r["opened"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["path"] == format!("/plugins/{pkg}/"));
        let images = page.map(|p| p["images"].clone()).unwrap_or_default();
        let shown = images.as_array().into_iter().flatten().any(|i| {
            i["src"].as_str().is_some_and(|s| s.contains("/icon-")) && i["width"].as_u64() > Some(0)
        });
        assert!(shown, "{pkg}'s page does not show its icon: {images}");
    }
    // Give a request the browser might still have sent a bounded chance to arrive.
    let _ = http::get(port, "/probe-end", &[]);
    poll("the listener to see its own probe", Duration::from_secs(5), || {
        seen.lock().unwrap().iter().any(|l| l.contains("/probe-end")).then_some(())
    });
    let foreign: Vec<String> =
        seen.lock().unwrap().iter().filter(|l| !l.contains("/probe-end")).cloned().collect();
    assert_eq!(foreign, Vec::<String>::new(), "requests caused by the icons");
    for s in r["screenshots"].as_array().unwrap() {
        let meta = std::fs::metadata(s.as_str().unwrap()).expect("screenshot written");
        assert!(meta.len() > 1000, "{s} is empty");
    }
}

#[test]
fn every_kind_of_response_carries_the_security_headers() {
    let (port, _seen) = recording_listener();
    let mut d = Deployment::start();
    let pkgs = publish_fixtures(&d, port);
    let pkg = &pkgs[0];
    let icon = icon_url(&d, pkg).expect("an icon");
    let tag = d.site.catalog().plugins.iter().find_map(|p| p.tags.first().cloned()).expect("a tag");
    let pages = [
        "/".to_owned(),
        "/plugins/".to_owned(),
        "/plugins/?page=2".to_owned(),
        "/plugins/page/2/".to_owned(),
        format!("/plugins/{pkg}/"),
        format!("/plugins/{pkg}/version/{ICON_VERSION}/"),
        format!("/plugins/{pkg}/stats/"),
        format!("/plugins/{pkg}/json"),
        format!("/plugins/{pkg}/version/{ICON_VERSION}/json"),
        format!("/plugins/{pkg}/feed.xml"),
        format!("/plugins/tags/{}/", crate::support::published::percent_encode(&tag.name)),
        "/plugins/plugins.xml?qgis=3.34".to_owned(),
        "/plugins/plugins.xml?qgis=3.34&package_name=nonexistent".to_owned(),
        "/static/style/plugins.xsl".to_owned(),
        "/static/style/plugins.css".to_owned(),
        "/search/index.json".to_owned(),
        "/no/such/page".to_owned(),
        format!("/plugins/{pkg}"),
    ];
    for path in &pages {
        let r = d.req("GET", path, &[], b"");
        assert!(matches!(r.status, 200 | 301 | 404), "{path}: {}", r.status);
        assert_page_headers(path, &r);
    }
    // Plugin-derived files: the icon, the zip (download URL and direct).
    for path in [
        icon,
        format!("/plugins/{pkg}/version/{ICON_VERSION}/download/"),
        format!("/plugins/{pkg}/{pkg}.{ICON_VERSION}.zip"),
    ] {
        let r = d.req("GET", &path, &[], b"");
        assert_eq!(r.status, 200, "{path}");
        assert_file_headers(&path, &r);
    }
    // The upload service's answers, through nginx (once each) and directly.
    let proxied = [
        ("GET", "/api/v1/review", &b""[..]),
        ("POST", "/api/v1/token", &b"{not json"[..]),
        ("POST", "/plugins/add/", &b""[..]),
    ];
    for (method, path, body) in proxied {
        let r = d.req(method, path, &[("Content-Type", "application/json")], body);
        assert!(r.status >= 400, "{method} {path}: {}", r.status);
        assert_page_headers(&format!("{method} {path} through nginx"), &r);
        let direct =
            http::request(d.up_port, method, path, &[("Content-Type", "application/json")], body)
                .expect("direct request");
        assert_page_headers(&format!("{method} {path} from the service"), &direct);
    }
    let health = http::get(d.up_port, "/healthz", &[]).expect("healthz");
    assert_page_headers("/healthz from the service", &health);
    // nginx's own answer while the service is down.
    d.kill();
    let down = d.req("GET", "/api/v1/review", &[], b"");
    assert_eq!(down.status, 503, "{down:?}");
    assert_page_headers("the service-down answer", &down);
}

#[test]
fn private_files_are_never_served() {
    let d = Deployment::start();
    // They exist: the 404s below are the configuration's doing.
    assert!(d.site.root().join(".manifest.json").is_file(), "no .manifest.json to hide");
    let tree = std::fs::read_dir(d.site.root().join("plugins"))
        .expect("plugins dir")
        .flatten()
        .find(|e| e.path().join("index.html").is_file() && e.file_name() != "xml")
        .expect("a plugin tree");
    let pkg = tree.file_name().to_string_lossy().into_owned();
    std::fs::write(d.site.root().join("plugins").join(".x"), b"secret").expect("plant a dotfile");
    for path in [
        "/.manifest.json".to_owned(),
        "/%2emanifest.json".to_owned(),
        "/plugins/.x".to_owned(),
        "/plugins/%2Ex".to_owned(),
        "/./.manifest.json".to_owned(),
        format!("/plugins/{pkg}/.manifest.json"),
        "/.lock".to_owned(),
        "/.git/config".to_owned(),
    ] {
        let r = d.req("GET", &path, &[], b"");
        assert_eq!(r.status, 404, "{path} is served");
        assert!(
            !r.text().contains("secret") && !r.text().contains("\"files\""),
            "{path}: {}",
            r.text()
        );
        assert_page_headers(&path, &r);
    }
}
