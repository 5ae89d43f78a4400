//! nginx's routing of the web workplace (issue 14) through the real nginx and `uploader
//! serve`: every workplace path of the design contract reaches the service, and every static
//! page beside one (a plugin's page, a version's page, a user's or a tag's list, lists named
//! like a workplace action) still comes from the published site. The upload forms answer
//! nginx's own 413 as JSON, and only the POSTs of the password forms count as guesses.
//!
//! "Reached the service" is what the service always does and nginx never does on a static
//! path: the answer carries exactly one `Cache-Control`, `no-store` (static pages are
//! `no-cache`), is not nginx's own 502/503/504 answer for a service that is down, and the
//! service logged the request. The security headers are nginx's, once each.

use crate::support::deploy::{Deployment, json_of};
use crate::support::http::Response;

/// Values of every `name` header of `r` (a header sent twice would conflict).
fn all(r: &Response, name: &str) -> Vec<String> {
    r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect()
}

/// The security headers nginx sets on every answer (headers-page.conf), once each.
fn assert_security_headers_once(what: &str, r: &Response) {
    for name in ["content-security-policy", "x-frame-options", "x-content-type-options"] {
        assert_eq!(all(r, name).len(), 1, "{what}: {name} not exactly once: {:?}", r.headers);
    }
}

fn assert_reaches_service(d: &Deployment, method: &str, path: &str) {
    let r = d.req(method, path, &[], b"");
    let what = format!("{method} {path}");
    assert!(!matches!(r.status, 502..=504), "{what}: {} from nginx: {}", r.status, r.text());
    assert_eq!(all(&r, "cache-control"), ["no-store"], "{what} ({}): {:?}", r.status, r.headers);
    assert_security_headers_once(&what, &r);
    let logged = format!("method={method} path=\"{path}\" ");
    assert!(d.log_text().contains(&logged), "{what}: the service logged no such request");
}

/// A static page: the published file's bytes (or the static 404 page), `no-cache`.
fn assert_static(d: &Deployment, path: &str, published: Option<&str>) {
    let r = d.req("GET", path, &[], b"");
    assert_eq!(
        all(&r, "cache-control"),
        ["no-cache"],
        "GET {path} ({}): {:?}",
        r.status,
        r.headers
    );
    assert_security_headers_once(path, &r);
    match published {
        Some(rel) => {
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            assert!(r.body == d.site.file(rel), "GET {path}: not the bytes of {rel}");
        }
        None => {
            assert_eq!(r.status, 404, "GET {path}: {}", r.text());
            assert!(r.body == d.site.file("404.html"), "GET {path}: not the static 404 page");
        }
    }
    let logged = format!("path=\"{path}\" ");
    assert!(!d.log_text().contains(&logged), "GET {path} reached the service");
}

/// The first published page whose URL matches `prefix` + one segment + `/` (+ `rest`):
/// (URL, published file, the segment).
fn page_under(d: &Deployment, prefix: &str, rest: &str) -> (String, String, String) {
    d.site
        .public_files()
        .into_iter()
        .find_map(|(rel, url)| {
            let seg = url.strip_prefix(prefix)?.strip_suffix(&format!("/{rest}"))?;
            plain(seg).then(|| (url.clone(), rel, seg.to_owned()))
        })
        .unwrap_or_else(|| panic!("no published page {prefix}<name>/{rest}"))
}

/// The demo site's names the paths are built from: a plugin and one of its versions (with
/// their published pages), a user's and a tag's list ((URL, file, name) each).
struct Names {
    pkg: String,
    ver: String,
    plugin_page: (String, String),
    version_page: (String, String),
    user: (String, String, String),
    tag: (String, String, String),
}

fn plain(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b))
}

fn names(d: &Deployment) -> Names {
    let files = d.site.public_files();
    let (version_page, pkg, ver) = files
        .iter()
        .find_map(|(rel, url)| {
            let rest = url.strip_prefix("/plugins/")?.strip_suffix('/')?;
            let (pkg, ver) = rest.split_once("/version/")?;
            (plain(pkg) && plain(ver))
                .then(|| ((url.clone(), rel.clone()), pkg.to_owned(), ver.to_owned()))
        })
        .expect("a published version page");
    let plugin_url = format!("/plugins/{pkg}/");
    let plugin_page = files
        .iter()
        .find(|(_, url)| *url == plugin_url)
        .map(|(rel, url)| (url.clone(), rel.clone()))
        .unwrap_or_else(|| panic!("no published page {plugin_url}"));
    Names {
        pkg,
        ver,
        plugin_page,
        version_page,
        user: page_under(d, "/plugins/user/", ""),
        tag: page_under(d, "/plugins/tags/", ""),
    }
}

/// Every workplace path of the contract's page table, as the lead's links spell them.
fn workplace_paths(n: &Names) -> Vec<String> {
    let (p, v, u) = (&n.pkg, &n.ver, &n.user.2);
    let mut paths: Vec<String> = [
        "/accounts/login/",
        "/accounts/logout/",
        "/accounts/password/change/",
        "/accounts/sessions/end/",
        "/accounts/invite/",
        "/accounts/invitation/abc123/",
        "/accounts/signup/",
        "/plugins/my",
        "/plugins/my/",
        "/plugins/add/",
        "/plugins/unapproved/",
        "/plugins/unapproved",
    ]
    .map(String::from)
    .to_vec();
    for tail in [
        "update/",
        "delete/",
        "restore/",
        "tokens/",
        "tokens/create/",
        "tokens/7/",
        "tokens/7/update",
        "tokens/7/delete/",
        "version/add/",
        "waivers/",
    ] {
        paths.push(format!("/plugins/{p}/{tail}"));
    }
    for action in ["update", "delete", "review", "approve", "unapprove", "rescan", "override"] {
        paths.push(format!("/plugins/{p}/version/{v}/{action}/"));
    }
    paths.push(format!("/plugins/user/{u}/admin"));
    for action in ["trust", "untrust", "block", "unblock"] {
        paths.push(format!("/plugins/user/{u}/{action}/"));
    }
    paths
}

#[test]
fn workplace_paths_reach_the_service_and_static_pages_stay_static() {
    let d = Deployment::start();
    let n = names(&d);
    for path in workplace_paths(&n) {
        assert_reaches_service(&d, "GET", &path);
        assert_reaches_service(&d, "POST", &path);
    }
    for (url, rel) in [&n.plugin_page, &n.version_page] {
        assert_static(&d, url, Some(rel));
    }
    for (url, rel, _) in [&n.user, &n.tag] {
        assert_static(&d, url, Some(rel));
    }
    // Lists named like a workplace action are lists (of a tag, an author, a user), and a
    // user's list is not their admin page.
    for path in [
        "/plugins/tags/update/",
        "/plugins/tags/tokens/",
        "/plugins/author/delete/",
        "/plugins/user/restore/",
        "/plugins/user/admin/",
        "/plugins/tags/add/",
    ] {
        assert_static(&d, path, None);
    }
    // Nearby paths that are no workplace page stay with the site (its 404).
    for path in [
        format!("/plugins/{}/tokens/7/revoke/", n.pkg),
        format!("/plugins/{}/version/{}/approved/", n.pkg, n.ver),
        format!("/plugins/{}/admin", n.pkg),
        "/plugins/mine/".to_owned(),
    ] {
        assert_static(&d, &path, None);
    }
}

#[test]
fn workplace_upload_forms_answer_nginx_413_as_json_and_only_password_posts_are_limited() {
    let d = Deployment::start();
    let n = names(&d);
    for path in [
        format!("/plugins/{}/version/add/", n.pkg),
        format!("/plugins/{}/version/{}/update/", n.pkg, n.ver),
    ] {
        let huge = [("Content-Length", "999999999"), ("Content-Type", "multipart/form-data")];
        let r = d.req("POST", &path, &huge, b"");
        assert_eq!(r.status, 413, "POST {path}: {}", r.text());
        assert!(r.text().contains("larger than this server accepts"), "{path}: {}", r.text());
    }
    // Reading the sign-in form is never limited; a flood of sign-in POSTs is.
    for _ in 0..40 {
        let r = d.req("GET", "/accounts/login/", &[], b"");
        assert_ne!(r.status, 429, "GET /accounts/login/ limited: {}", r.text());
    }
    let limited = (0..40)
        .map(|_| d.req("POST", "/accounts/login/", &[], b"username=a&password=b"))
        .filter(|r| r.status == 429 && json_of(r)["code"] == "rate_limited")
        .count();
    assert!(limited > 0, "40 sign-in POSTs at once and none limited by nginx");
}
