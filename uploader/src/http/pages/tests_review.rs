//! In-process tests of the reviewers' pages and the user admin page: who sees the queue and
//! the review page, approval through the form (the sha256 binding, CSRF, live on answer),
//! and staff's trust action.

use hyper::{Method, StatusCode};

use crate::http::tests::{
    Env, PASSWORD, Resp, add_user, call, create_token, env, env_with_builds, login, plugin_zip,
    plugin_zip_with, stored_sha256, token_upload, web_upload,
};
use crate::services::sessions;

/// The `Cookie` header of a fresh session of `name`.
async fn session(env: &Env, name: &str) -> String {
    let started = sessions::sign_in(&env.app, name.into(), PASSWORD.into()).await.unwrap();
    format!("qgis_session={}", started.secret.expose())
}

async fn get(env: &Env, cookie: Option<&str>, path: &str) -> Resp {
    let headers: Vec<(&str, String)> =
        cookie.map(|c| ("cookie", c.to_owned())).into_iter().collect();
    call(&env.app, Method::GET, path, &headers, "").await
}

async fn post(env: &Env, cookie: &str, path: &str, fields: &[(&str, &str)]) -> Resp {
    let body: String =
        form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let headers = [
        ("cookie", cookie.to_owned()),
        ("content-type", "application/x-www-form-urlencoded".to_owned()),
    ];
    call(&env.app, Method::POST, path, &headers, body).await
}

/// The CSRF token of the forms of a page.
fn csrf_of(page: &Resp) -> String {
    let html = page.text();
    let at = html.find("name=\"csrfmiddlewaretoken\" value=\"").expect("a form with a token");
    let rest = &html[at + "name=\"csrfmiddlewaretoken\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The flash message a redirect sets.
fn flash_of(r: &Resp) -> String {
    use base64::Engine as _;
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("qgis_flash="))
        .expect("a flash cookie");
    let value = &cookie["qgis_flash=".len()..cookie.find(';').unwrap()];
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value).unwrap();
    String::from_utf8(bytes).unwrap()
}

fn location(r: &Resp) -> &str {
    r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// `ana` uploads `ana_tools` 1.0 and `bob` `bob_tools` 1.0 (both pending); `tina` (trusted)
/// co-owns `ana_tools`; `boss` is staff; `eve` is a plain user.
async fn two_pending_plugins(env: &Env) {
    for (name, staff, trusted) in [
        ("ana", false, false),
        ("bob", false, false),
        ("tina", false, true),
        ("boss", true, false),
        ("eve", false, false),
    ] {
        add_user(env, name, staff, trusted);
    }
    for (user, pkg) in [("ana", "ana_tools"), ("bob", "bob_tools")] {
        let jwt = login(env, user).await;
        let r = web_upload(env, &jwt, &plugin_zip(pkg, "1.0")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let conn = env.conn();
    let plugin = catalog::plugins::plugin_by_package(&conn, "ana_tools").unwrap().unwrap();
    let tina = catalog::accounts::user_by_name(&conn, "tina").unwrap().unwrap();
    catalog::plugins::add_owner(&conn, plugin.id, tina.id).unwrap();
}

fn approved(env: &Env, pkg: &str, v: &str) -> bool {
    env.conn()
        .query_row(
            "SELECT v.approved FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
             WHERE p.package_name = ?1 AND v.version = ?2",
            [pkg, v],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test]
async fn the_queue_is_for_reviewers_only_and_shows_their_share() {
    let env = env();
    two_pending_plugins(&env).await;
    let r = get(&env, None, "/plugins/unapproved/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "signed out: 404, not a login redirect");
    for plain in ["ana", "eve"] {
        let r = get(&env, Some(&session(&env, plain).await), "/plugins/unapproved/").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{plain}");
    }
    let staff = get(&env, Some(&session(&env, "boss").await), "/plugins/unapproved/").await;
    assert_eq!(staff.status, StatusCode::OK);
    let html = staff.text();
    let (a, b) = (html.find("ana_tools").unwrap(), html.find("bob_tools").unwrap());
    assert!(a < b, "oldest first");
    assert!(html.contains("/plugins/ana_tools/version/1.0/review/"));
    assert!(html.contains("not trusted") && html.contains("just now"));
    let tina = get(&env, Some(&session(&env, "tina").await), "/plugins/unapproved/").await;
    assert_eq!(tina.status, StatusCode::OK);
    assert!(tina.text().contains("ana_tools") && !tina.text().contains("bob_tools"));
}

#[tokio::test]
async fn the_review_page_is_for_editors_and_approvers() {
    let env = env();
    two_pending_plugins(&env).await;
    let path = "/plugins/ana_tools/version/1.0/review/";
    let r = get(&env, None, path).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/accounts/login/?next="));
    for outsider in ["bob", "eve"] {
        let r = get(&env, Some(&session(&env, outsider).await), path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{outsider}: {}", r.text());
    }
    let boss = session(&env, "boss").await;
    let r = get(&env, Some(&boss), "/plugins/ana_tools/version/9.9/review/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get(&env, Some(&boss), "/plugins/nothing_here/version/1.0/review/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The author sees the page without the approve form; staff and the trusted co-owner with it.
    let sha = stored_sha256(&env, "ana_tools", "1.0");
    let ana = get(&env, Some(&session(&env, "ana").await), path).await;
    assert_eq!(ana.status, StatusCode::OK, "{}", ana.text());
    assert!(ana.text().contains(&sha) && !ana.text().contains("approve-form"));
    assert!(ana.text().contains("/api/v1/download/ana_tools/1.0"));
    for approver in [boss, session(&env, "tina").await] {
        let r = get(&env, Some(&approver), path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text().contains(&format!("name=\"sha256\" value=\"{sha}\"")), "{}", r.text());
    }
}

#[tokio::test]
async fn the_session_cookie_opens_the_private_download() {
    let env = env();
    two_pending_plugins(&env).await;
    let path = "/api/v1/download/ana_tools/1.0";
    let r = get(&env, Some(&session(&env, "ana").await), path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("x-accel-redirect").is_some());
    for who in [None, Some(session(&env, "eve").await), Some("qgis_session=forged".into())] {
        let r = get(&env, who.as_deref(), path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who:?}");
        assert!(r.headers.get("x-accel-redirect").is_none());
    }
}

/// Whether any published plugins.xml names `needle`.
fn published_xml_contains(env: &Env, needle: &str) -> bool {
    let dir = env.site().join("current/plugins/xml");
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(needle)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_through_the_form_is_bound_to_the_shown_sha_and_live_on_answer() {
    let env = env_with_builds();
    two_pending_plugins(&env).await;
    let boss = session(&env, "boss").await;
    let review = "/plugins/ana_tools/version/1.0/review/";
    let page = get(&env, Some(&boss), review).await;
    let csrf = csrf_of(&page);
    let sha = stored_sha256(&env, "ana_tools", "1.0");
    let approve = "/plugins/ana_tools/version/1.0/approve/";
    // No CSRF token, or a wrong one: 403, nothing changes.
    for token in ["", "00"] {
        let r =
            post(&env, &boss, approve, &[("csrfmiddlewaretoken", token), ("sha256", &sha)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    // A sha256 that is not the stored zip's: 409 page with a reload link, nothing changes.
    let wrong = "ab".repeat(32);
    let r = post(&env, &boss, approve, &[("csrfmiddlewaretoken", &csrf), ("sha256", &wrong)]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains(&format!("href=\"{review}\"")), "{}", r.text());
    assert!(!approved(&env, "ana_tools", "1.0"));
    // GET does not approve.
    let r = get(&env, Some(&boss), approve).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, review));
    assert!(!approved(&env, "ana_tools", "1.0"));
    // The right sha: approved and published when the 303 arrives.
    let r = post(&env, &boss, approve, &[("csrfmiddlewaretoken", &csrf), ("sha256", &sha)]).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, review), "{}", r.text());
    assert_eq!(
        flash_of(&r),
        "The plugin version 'Test Plugin ana_tools 1.0' is now approved and live on the site."
    );
    assert!(approved(&env, "ana_tools", "1.0"));
    assert!(published_xml_contains(&env, "ana_tools.1.0.zip"));
    // Unapprove needs no sha.
    let unapprove = "/plugins/ana_tools/version/1.0/unapprove/";
    let r = post(&env, &boss, unapprove, &[("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(flash_of(&r).contains("is now unapproved"));
    assert!(!approved(&env, "ana_tools", "1.0"));
    assert!(!published_xml_contains(&env, "ana_tools.1.0.zip"));
    // An editor without approval rights: 403.
    let ana = session(&env, "ana").await;
    let csrf = csrf_of(&get(&env, Some(&ana), review).await);
    let r = post(&env, &ana, approve, &[("csrfmiddlewaretoken", &csrf), ("sha256", &sha)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!approved(&env, "ana_tools", "1.0"));
}

#[tokio::test]
async fn a_replaced_zip_is_not_approved_with_the_old_sha() {
    let env = env();
    two_pending_plugins(&env).await;
    let boss = session(&env, "boss").await;
    let page = get(&env, Some(&boss), "/plugins/ana_tools/version/1.0/review/").await;
    let (csrf, shown) = (csrf_of(&page), stored_sha256(&env, "ana_tools", "1.0"));
    let jwt = login(&env, "ana").await;
    let token =
        create_token(&env, &jwt, "ana_tools").await.json()["token"].as_str().unwrap().to_owned();
    let zip = plugin_zip_with("ana_tools", "1.0", "homepage=https://example.org/new");
    let r = token_upload(&env, &token, "/plugins/api/ana_tools/version/1.0/update/", &zip).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_ne!(stored_sha256(&env, "ana_tools", "1.0"), shown);
    let r = post(
        &env,
        &boss,
        "/plugins/ana_tools/version/1.0/approve/",
        &[("csrfmiddlewaretoken", &csrf), ("sha256", &shown)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("changed since"), "{}", r.text());
    assert!(!approved(&env, "ana_tools", "1.0"));
}

#[tokio::test]
async fn staff_trust_a_user_on_their_page() {
    let env = env();
    two_pending_plugins(&env).await;
    let page = "/plugins/user/ana/admin";
    assert_eq!(get(&env, None, page).await.status, StatusCode::NOT_FOUND);
    for plain in ["ana", "tina"] {
        let r = get(&env, Some(&session(&env, plain).await), page).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{plain}");
    }
    let boss = session(&env, "boss").await;
    let r = get(&env, Some(&boss), page).await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    assert!(html.contains("ana_tools") && html.contains("/plugins/user/ana/trust/"), "{html}");
    assert!(html.contains("/plugins/user/ana/block/"));
    let csrf = csrf_of(&r);
    // Without the token nothing changes.
    let r = post(&env, &boss, "/plugins/user/ana/trust/", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let trusted = |env: &Env| -> bool {
        env.conn()
            .query_row("SELECT can_approve FROM users WHERE username = 'ana'", [], |r| r.get(0))
            .unwrap()
    };
    assert!(!trusted(&env));
    // A non-staff user with a valid token of their own: 404.
    let eve = session(&env, "eve").await;
    let eve_csrf = csrf_of(&get(&env, Some(&eve), "/accounts/password/change/").await);
    let r =
        post(&env, &eve, "/plugins/user/ana/trust/", &[("csrfmiddlewaretoken", &eve_csrf)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!trusted(&env));
    let r = post(&env, &boss, "/plugins/user/ana/trust/", &[("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, page));
    // No site builds in this env: the message also says the site is not regenerated yet.
    assert!(flash_of(&r).starts_with("The user ana is now a trusted user."), "{}", flash_of(&r));
    assert!(trusted(&env));
    // Staff targets have no block button; blocking them is a 404.
    let r = get(&env, Some(&boss), "/plugins/user/boss/admin").await;
    assert!(!r.text().contains("/block/"));
    let r = post(&env, &boss, "/plugins/user/boss/block/", &[("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&env, Some(&boss), "/plugins/user/nobody/admin").await.status, 404);
}

#[tokio::test]
async fn the_review_page_shows_what_changed_since_the_approved_version() {
    let env = env();
    two_pending_plugins(&env).await;
    let boss = login(&env, "boss").await;
    let r = crate::http::tests::approve(&env, &boss, "ana_tools", "1.0").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let jwt = login(&env, "ana").await;
    let v2 = plugin_zip_with("ana_tools", "1.1", "homepage=https://changed.example.org/");
    assert_eq!(web_upload(&env, &jwt, &v2).await.status, StatusCode::CREATED);
    let page =
        get(&env, Some(&session(&env, "ana").await), "/plugins/ana_tools/version/1.1/review/")
            .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("version 1.0, the newest approved one"), "{html}");
    let homepage_changed = html.split("<tr class=\"changed\">").skip(1).any(|row| {
        let row = row.split("</tr>").next().unwrap_or("");
        row.contains("homepage")
            && row.contains("https://changed.example.org/")
            && row.contains("https://qgis.org/")
    });
    assert!(homepage_changed, "{html}");
    assert!(
        html.contains("<tr class=\"line added\">") && html.contains("<tr class=\"line removed\">")
    );
    assert!(html.contains("ana_tools/metadata.txt"));
}
