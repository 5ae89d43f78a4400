//! In-process tests of the authors' pages: each page for an editor, the 403 of non-editors,
//! the sign-in redirect, CSRF refusals that change nothing, every problem of a broken zip on
//! the form, and where successful changes lead.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::http::tests::{
    Env, PASSWORD, Resp, add_user, call, env, env_with_builds, multipart, plugin_zip,
    plugin_zip_with,
};
use crate::services::sessions;

/// A signed-in browser: its session cookie and its forms' CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn sign_in(env: &Env, name: &str) -> Self {
        let started = sessions::sign_in(&env.app, name.into(), PASSWORD.into()).await.unwrap();
        let cookie = format!("qgis_session={}", started.secret.expose());
        let page = get(env, &cookie, "/plugins/my").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let csrf = csrf_of(&page.text());
        Browser { cookie, csrf }
    }

    async fn get(&self, env: &Env, path: &str) -> Resp {
        get(env, &self.cookie, path).await
    }

    /// POSTs an urlencoded form with the CSRF token (`with_csrf`) and `fields`.
    async fn post(&self, env: &Env, path: &str, fields: &[(&str, &str)], with_csrf: bool) -> Resp {
        let mut body = form_urlencoded::Serializer::new(String::new());
        if with_csrf {
            body.append_pair("csrfmiddlewaretoken", &self.csrf);
        }
        for (k, v) in fields {
            body.append_pair(k, v);
        }
        let headers = [
            ("cookie", self.cookie.clone()),
            ("content-type", "application/x-www-form-urlencoded".to_owned()),
        ];
        call(&env.app, Method::POST, path, &headers, body.finish()).await
    }

    /// POSTs the multipart upload form with `zip`.
    async fn upload(&self, env: &Env, path: &str, zip: &[u8], with_csrf: bool) -> Resp {
        let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![];
        if with_csrf {
            parts.push(("csrfmiddlewaretoken", None, self.csrf.as_bytes()));
        }
        parts.push(("package", Some("plugin.zip"), zip));
        parts.push(("changelog", None, b""));
        let (ct, body) = multipart(&parts);
        call(&env.app, Method::POST, path, &[("cookie", self.cookie.clone()), ct], body).await
    }
}

async fn get(env: &Env, cookie: &str, path: &str) -> Resp {
    call(&env.app, Method::GET, path, &[("cookie", cookie.to_owned())], Bytes::new()).await
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = html.find(marker).expect("the page has a form") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn location(r: &Resp) -> &str {
    r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The one-shot message a response sets.
fn flash(r: &Resp) -> String {
    let set = r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok());
    let value = set
        .filter_map(|c| c.strip_prefix("qgis_flash="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    String::from_utf8(URL_SAFE_NO_PAD.decode(value).unwrap()).unwrap()
}

fn count(env: &Env, sql: &str) -> i64 {
    env.count(sql)
}

/// `ana` (untrusted) uploads `test_plugin` 0.0.1 through the form; `bob` exists too.
async fn ana_with_plugin(env: &Env) -> Browser {
    add_user(env, "ana", false, false);
    add_user(env, "bob", false, false);
    let ana = Browser::sign_in(env, "ana").await;
    let r = ana.upload(env, "/plugins/add/", &plugin_zip("test_plugin", "0.0.1"), true).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(location(&r), "/plugins/test_plugin/version/0.0.1/review/");
    assert!(flash(&r).contains("awaiting review"), "{}", flash(&r));
    ana
}

/// The pages of an existing plugin (brief pages 3–7), GET paths.
const PLUGIN_PAGES: [&str; 6] = [
    "/plugins/test_plugin/version/add/",
    "/plugins/test_plugin/version/0.0.1/update/",
    "/plugins/test_plugin/version/0.0.1/delete/",
    "/plugins/test_plugin/update/",
    "/plugins/test_plugin/delete/",
    "/plugins/test_plugin/restore/",
];

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let env = env();
    for path in ["/plugins/my", "/plugins/add/"].iter().chain(PLUGIN_PAGES.iter()) {
        let r = get(&env, "", path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(location(&r), format!("/accounts/login/?next={next}"), "{path}");
    }
}

#[tokio::test]
async fn an_editor_sees_every_page() {
    let env = env();
    let ana = ana_with_plugin(&env).await;
    let my = ana.get(&env, "/plugins/my").await;
    assert_eq!(my.status, StatusCode::OK);
    let html = my.text();
    for needle in [
        "test_plugin",
        "awaiting review",
        "/plugins/test_plugin/version/0.0.1/review/",
        "/plugins/test_plugin/version/0.0.1/update/",
        "/plugins/test_plugin/update/",
        "/plugins/test_plugin/tokens/",
    ] {
        assert!(html.contains(needle), "{needle} missing from /plugins/my");
    }
    assert!(!html.contains("Public page"), "nothing approved yet: no public page link");
    let add = ana.get(&env, "/plugins/add/").await;
    assert_eq!(add.status, StatusCode::OK);
    assert!(add.text().contains("enctype=\"multipart/form-data\""));
    for path in PLUGIN_PAGES {
        let r = ana.get(&env, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert!(r.text().contains("csrfmiddlewaretoken"), "{path}");
    }
    let settings = ana.get(&env, "/plugins/test_plugin/update/").await.text();
    assert!(settings.contains("value=\"ana\""), "the maintainer is prefilled");
}

#[tokio::test]
async fn a_new_user_sees_the_empty_state() {
    let env = env();
    add_user(&env, "cat", false, false);
    let cat = Browser::sign_in(&env, "cat").await;
    let html = cat.get(&env, "/plugins/my").await.text();
    assert!(html.contains("You have no plugins yet") && html.contains("href=\"/plugins/add/\""));
}

#[tokio::test]
async fn a_non_editor_gets_403_on_every_plugin_page() {
    let env = env();
    let _ana = ana_with_plugin(&env).await;
    let bob = Browser::sign_in(&env, "bob").await;
    for path in PLUGIN_PAGES {
        let r = bob.get(&env, path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "GET {path}");
        assert!(r.text().contains("You cannot"), "{path}: {}", r.text());
        let fields = [("delete_confirm", "1"), ("restore_confirm", "1"), ("owners", "bob")];
        let r = bob.post(&env, path, &fields, true).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "POST {path}");
    }
    let zip = plugin_zip("test_plugin", "0.0.2");
    let r = bob.upload(&env, "/plugins/test_plugin/version/add/", &zip, true).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&env, "SELECT count(*) FROM plugin_versions"), 1);
    assert_eq!(count(&env, "SELECT count(*) FROM plugins WHERE is_deleted"), 0);
    assert_eq!(count(&env, "SELECT count(*) FROM plugin_owners"), 0);
}

#[tokio::test]
async fn posts_without_the_csrf_token_change_nothing() {
    let env = env();
    let ana = ana_with_plugin(&env).await;
    let forms: [(&str, &[(&str, &str)]); 4] = [
        ("/plugins/test_plugin/version/0.0.1/delete/", &[("delete_confirm", "1")]),
        ("/plugins/test_plugin/delete/", &[("delete_confirm", "1")]),
        ("/plugins/test_plugin/update/", &[("owners", "bob"), ("deprecated", "1")]),
        ("/plugins/test_plugin/restore/", &[("restore_confirm", "1")]),
    ];
    for (path, fields) in forms {
        let r = ana.post(&env, path, fields, false).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(r.text().contains("The form has expired"), "{path}");
    }
    for path in ["/plugins/add/", "/plugins/test_plugin/version/add/"] {
        let r = ana.upload(&env, path, &plugin_zip("test_plugin", "0.0.2"), false).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let path = "/plugins/test_plugin/version/0.0.1/update/";
    let zip = plugin_zip_with("test_plugin", "0.0.1", "description=Another one entirely");
    assert_eq!(ana.upload(&env, path, &zip, false).await.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&env, "SELECT count(*) FROM plugin_versions WHERE replaced_on IS NULL"), 1);
    assert_eq!(count(&env, "SELECT count(*) FROM plugins WHERE is_deleted OR deprecated"), 0);
    assert_eq!(count(&env, "SELECT count(*) FROM plugin_owners"), 0);
}

#[tokio::test]
async fn a_broken_zip_shows_every_problem() {
    let env = env();
    add_user(&env, "ana", false, false);
    let ana = Browser::sign_in(&env, "ana").await;
    let extra = "email=\nauthor=\nqgisMinimumVersion=three\nrepository=not a url\nversion=";
    let zip = plugin_zip_with("broken_one", "1.0", extra);
    let expected = crate::validate::validate(
        &zip,
        &crate::validate::Mode::New,
        &crate::validate::Options::default(),
    )
    .unwrap_err();
    assert!(expected.errors.len() >= 4, "{expected:?}");
    let r = ana.upload(&env, "/plugins/add/", &zip, true).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let html = r.text();
    assert!(html.contains("<ul class=\"problems\">"));
    for p in &expected.errors {
        assert!(
            html.contains(&generator::templates::escape_html(&p.message)),
            "{} missing",
            p.message
        );
        if !p.hint.is_empty() {
            let hint = format!(
                "<span class=\"hint\">{}</span>",
                generator::templates::escape_html(&p.hint)
            );
            assert!(html.contains(&hint), "{hint} missing");
        }
    }
    assert_eq!(count(&env, "SELECT count(*) FROM plugins"), 0);
}

#[tokio::test]
async fn refusals_show_the_form_with_their_message() {
    let env = env();
    let ana = ana_with_plugin(&env).await;
    let again = ana.upload(&env, "/plugins/add/", &plugin_zip("test_plugin", "0.0.1"), true).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text().contains("id=\"upload-form\""));
    let other = plugin_zip("other_plugin", "1.0");
    let wrong = ana.upload(&env, "/plugins/test_plugin/version/add/", &other, true).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text());
    let bob = Browser::sign_in(&env, "bob").await;
    let theirs = bob.upload(&env, "/plugins/add/", &plugin_zip("test_plugin", "0.0.9"), true).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
    assert!(theirs.text().contains("id=\"upload-form\""));
}

#[tokio::test]
async fn versions_are_added_replaced_and_deleted() {
    let env = env();
    let ana = ana_with_plugin(&env).await;
    let zip = plugin_zip("test_plugin", "0.0.2");
    let r = ana.upload(&env, "/plugins/test_plugin/version/add/", &zip, true).await;
    assert_eq!(location(&r), "/plugins/test_plugin/version/0.0.2/review/");
    let path = "/plugins/test_plugin/version/0.0.2/update/";
    let zip = plugin_zip_with("test_plugin", "0.0.2", "description=A new description here");
    let r = ana.upload(&env, path, &zip, true).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let my = ana.get(&env, "/plugins/my").await.text();
    assert!(my.contains("badge replaced") && my.contains("badge pending"));

    let path = "/plugins/test_plugin/version/0.0.2/delete/";
    let page = ana.get(&env, path).await.text();
    assert!(page.contains("0.0.2") && page.contains("Test Plugin test_plugin"));
    let unconfirmed = ana.post(&env, path, &[], true).await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    assert_eq!(count(&env, "SELECT count(*) FROM plugin_versions"), 2);
    let r = ana.post(&env, path, &[("delete_confirm", "1")], true).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/plugins/my"));
    assert!(flash(&r).contains("0.0.2"), "{}", flash(&r));
    assert_eq!(count(&env, "SELECT count(*) FROM plugin_versions"), 1);
}

#[tokio::test]
async fn settings_are_saved_and_unknown_users_refused() {
    let env = env();
    let ana = ana_with_plugin(&env).await;
    let path = "/plugins/test_plugin/update/";
    let r = ana.post(&env, path, &[("owners", "bob, zed"), ("maintainer", "ana")], true).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("There is no user `zed`"), "{}", r.text());
    assert!(r.text().contains("value=\"bob, zed\""), "the form keeps what was typed");
    let fields = [("owners", "bob"), ("maintainer", "bob"), ("deprecated", "1")];
    let r = ana.post(&env, path, &fields, true).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/plugins/my"));
    assert_eq!(count(&env, "SELECT count(*) FROM plugin_owners"), 1);
    assert_eq!(count(&env, "SELECT count(*) FROM plugins WHERE deprecated"), 1);
    // The co-owner now sees it on their own list.
    let bob = Browser::sign_in(&env, "bob").await;
    assert!(bob.get(&env, "/plugins/my").await.text().contains("test_plugin"));
}

#[tokio::test]
async fn a_plugin_is_deleted_and_restored() {
    let env = env();
    let ana = ana_with_plugin(&env).await;
    let r = ana.post(&env, "/plugins/test_plugin/delete/", &[("delete_confirm", "1")], true).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/plugins/my"));
    let my = ana.get(&env, "/plugins/my").await.text();
    assert!(
        my.contains("badge deleted") && my.contains("action=\"/plugins/test_plugin/restore/\"")
    );
    let path = "/plugins/test_plugin/restore/";
    let r = ana.post(&env, path, &[("restore_confirm", "1")], true).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/plugins/my"));
    assert_eq!(count(&env, "SELECT count(*) FROM plugins WHERE is_deleted"), 0);
}

#[tokio::test]
async fn a_trusted_upload_goes_live_and_is_immutable() {
    let env = env_with_builds();
    add_user(&env, "tess", false, true);
    let tess = Browser::sign_in(&env, "tess").await;
    let r = tess.upload(&env, "/plugins/add/", &plugin_zip("live_plugin", "1.0"), true).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(location(&r), "/plugins/live_plugin/");
    assert!(flash(&r).contains("is approved and live"), "{}", flash(&r));
    assert!(env.site().join("current/plugins/live_plugin/index.html").exists());
    let my = tess.get(&env, "/plugins/my").await.text();
    assert!(my.contains("badge approved") && my.contains("href=\"/plugins/live_plugin/\""));
    let r = tess.get(&env, "/plugins/live_plugin/version/1.0/update/").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("You cannot edit an approved version"));
}
