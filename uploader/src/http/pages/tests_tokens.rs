//! In-process tests of the tokens pages: who sees which tokens, the token shown once (in the
//! create response, on no later page), CSRF on every change, and revocation taking effect
//! at once.

use std::collections::BTreeMap;

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::http::tests::{
    Env, PASSWORD, Resp, add_user, bearer, call, env, login, plugin_zip, token_upload, web_upload,
};

const PKG: &str = "test_plugin";
const LIST: &str = "/plugins/test_plugin/tokens/";
const CREATE: &str = "/plugins/test_plugin/tokens/create/";
const API_ADD: &str = "/plugins/api/test_plugin/version/add/";

/// A browser: a cookie jar over the in-process service.
struct Web<'a> {
    env: &'a Env,
    cookies: BTreeMap<String, String>,
}

impl<'a> Web<'a> {
    fn anonymous(env: &'a Env) -> Self {
        Web { env, cookies: BTreeMap::new() }
    }

    async fn signed_in(env: &'a Env, name: &str) -> Self {
        let started = crate::services::sessions::sign_in(&env.app, name.into(), PASSWORD.into())
            .await
            .unwrap();
        let mut web = Self::anonymous(env);
        web.cookies.insert("qgis_session".into(), started.secret.expose().to_owned());
        web
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        ctype: Option<&str>,
        body: String,
    ) -> Resp {
        let mut headers = Vec::new();
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !jar.is_empty() {
            headers.push(("cookie", jar.join("; ")));
        }
        if let Some(ctype) = ctype {
            headers.push(("content-type", ctype.to_owned()));
        }
        let r = call(&self.env.app, method, path, &headers, body).await;
        for value in r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let Some((k, v)) = value.split(';').next().and_then(|kv| kv.split_once('=')) else {
                continue;
            };
            if value.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        r
    }

    async fn get(&mut self, path: &str) -> Resp {
        self.request(Method::GET, path, None, String::new()).await
    }

    /// The CSRF token of the forms on `page`.
    async fn csrf(&mut self, page: &str) -> String {
        let r = self.get(page).await;
        let html = r.text();
        let at = html.find("name=\"csrfmiddlewaretoken\" value=\"").unwrap_or_else(|| {
            panic!("no CSRF field on {page} ({}): {html}", r.status);
        });
        let rest = &html[at + "name=\"csrfmiddlewaretoken\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// Posts urlencoded `fields` (the CSRF token is one of them when the test wants it).
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.request(Method::POST, path, Some("application/x-www-form-urlencoded"), body).await
    }

    /// Opens `page` for its CSRF token, then posts `fields` with it to `action`.
    async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.csrf(page).await;
        let mut all = fields.to_vec();
        all.push(("csrfmiddlewaretoken", &token));
        self.post(action, &all).await
    }

    /// Creates a token through the page; returns (id, token).
    async fn create_token(&mut self, description: &str) -> (i64, String) {
        let r = self.submit(LIST, CREATE, &[("description", description)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let token = shown_token(&r.text()).expect("the create page shows the token");
        let id = self
            .env
            .conn()
            .query_row(
                "SELECT id FROM upload_tokens WHERE description = ?1 ORDER BY id DESC",
                [description],
                |row| row.get(0),
            )
            .unwrap();
        (id, token)
    }
}

/// The token in `<code id="new-token">`.
fn shown_token(html: &str) -> Option<String> {
    let start = html.find("<code id=\"new-token\">")? + "<code id=\"new-token\">".len();
    let len = html[start..].find("</code>")?;
    Some(html[start..start + len].to_owned())
}

fn location(r: &Resp) -> &str {
    r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// `ana` creates test_plugin with `bob` as co-owner; `eve` edits nothing; `sam` is staff.
async fn plugin_with_editors() -> Env {
    let env = env();
    for (name, staff) in [("ana", false), ("bob", false), ("eve", false), ("sam", true)] {
        add_user(&env, name, staff, false);
    }
    let ana = login(&env, "ana").await;
    assert_eq!(web_upload(&env, &ana, &plugin_zip(PKG, "0.0.1")).await.status, StatusCode::CREATED);
    let r = call(
        &env.app,
        Method::PATCH,
        "/api/v1/plugins/test_plugin",
        &[bearer(&ana)],
        json!({"owners": ["bob"]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    env
}

fn live_tokens(env: &Env) -> i64 {
    env.count("SELECT count(*) FROM upload_tokens WHERE revoked_at IS NULL")
}

#[tokio::test]
async fn each_viewer_sees_the_tokens_they_may_manage_newest_first() {
    let env = plugin_with_editors().await;
    let (mut ana, mut bob) = (Web::signed_in(&env, "ana").await, Web::signed_in(&env, "bob").await);
    ana.create_token("ana-ci").await;
    bob.create_token("bob-ci").await;

    let creator = ana.get(LIST).await.text();
    let (a, b) = (creator.find("ana-ci").unwrap(), creator.find("bob-ci").unwrap());
    assert!(b < a, "newest first");
    let other = bob.get(LIST).await.text();
    assert!(other.contains("bob-ci") && !other.contains("ana-ci"), "{other}");
    let staff = Web::signed_in(&env, "sam").await.get(LIST).await.text();
    assert!(staff.contains("bob-ci") && staff.contains("ana-ci"));

    let stranger = Web::signed_in(&env, "eve").await.get(LIST).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
    assert!(!stranger.text().contains("bob-ci"), "{}", stranger.text());
    let anonymous = Web::anonymous(&env).get(LIST).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous), "/accounts/login/?next=%2Fplugins%2Ftest_plugin%2Ftokens%2F");
    assert_eq!(Web::signed_in(&env, "ana").await.get("/plugins/nope/tokens/").await.status, 404);
}

#[tokio::test]
async fn the_token_is_shown_in_the_create_response_and_never_again() {
    let env = plugin_with_editors().await;
    let mut ana = Web::signed_in(&env, "ana").await;
    let r = ana.submit(LIST, CREATE, &[("description", "GitHub <Actions>")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["cache-control"], "no-store");
    let html = r.text();
    let token = shown_token(&html).unwrap();
    assert!(token.len() > 40, "{token}");
    assert!(html.contains("it will be displayed only once. Please ensure to save it in a secure location. If the token is lost, you can generate a new one at any time."));
    assert!(html.contains("data-copy-target=\"new-token\"") && html.contains("js/copy"));
    assert!(html.contains(&format!(
        "curl -H \"Authorization: Bearer {token}\" -F package=@plugin.zip http://127.0.0.1:8080{API_ADD}"
    )));
    assert!(html.contains(&format!("--qgis-token {token}")));
    assert!(html.contains("GitHub &lt;Actions&gt;") && !html.contains("<Actions>"), "escaped");

    let id: i64 = env.conn().query_row("SELECT id FROM upload_tokens", [], |r| r.get(0)).unwrap();
    let base = format!("/plugins/{PKG}/tokens/{id}");
    for page in
        [LIST.to_owned(), format!("{base}/"), format!("{base}/update"), format!("{base}/delete/")]
    {
        let r = ana.get(&page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.text());
        assert!(!r.text().contains(&token), "{page} shows the token again");
    }
    let again = ana.get(CREATE).await;
    assert_eq!((again.status, location(&again)), (StatusCode::SEE_OTHER, LIST));

    let upload = token_upload(&env, &token, API_ADD, &plugin_zip(PKG, "0.0.2")).await;
    assert_eq!(upload.status, StatusCode::CREATED, "{}", upload.text());
    let listed = ana.get(LIST).await.text();
    assert!(!listed.contains(">never<"), "last use shown: {listed}");
}

#[tokio::test]
async fn a_too_long_description_is_refused_with_the_form() {
    let env = plugin_with_editors().await;
    let mut ana = Web::signed_in(&env, "ana").await;
    let long = "x".repeat(513);
    let r = ana.submit(LIST, CREATE, &[("description", &long)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("at most 512 characters"), "{}", r.text());
    assert_eq!(live_tokens(&env), 0);
}

#[tokio::test]
async fn changes_need_the_csrf_token_and_change_nothing_without_it() {
    let env = plugin_with_editors().await;
    let mut ana = Web::signed_in(&env, "ana").await;
    let (id, token) = ana.create_token("CI").await;
    let (update, delete) = (
        format!("/plugins/{PKG}/tokens/{id}/update"),
        format!("/plugins/{PKG}/tokens/{id}/delete/"),
    );
    let forged = [("csrfmiddlewaretoken", "00ff")];

    for csrf in [&[][..], &forged[..]] {
        let mut fields = vec![("description", "changed"), ("delete_confirm", "1")];
        fields.extend_from_slice(csrf);
        assert_eq!(ana.post(&update, &fields).await.status, StatusCode::FORBIDDEN);
        assert_eq!(ana.post(&delete, &fields).await.status, StatusCode::FORBIDDEN);
        assert_eq!(ana.post(CREATE, &fields).await.status, StatusCode::FORBIDDEN);
    }
    let unconfirmed = ana.submit(&delete, &delete, &[]).await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    assert_eq!(live_tokens(&env), 1);
    assert_eq!(env.count("SELECT count(*) FROM upload_tokens WHERE description = 'CI'"), 1);

    let r = ana.submit(&update, &update, &[("description", "nightly build")]).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, LIST));
    let list = ana.get(LIST).await.text();
    assert!(list.contains("The token description has been successfully updated."), "{list}");
    assert!(list.contains("nightly build"));

    let r = ana.submit(&delete, &delete, &[("delete_confirm", "1")]).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, LIST));
    let list = ana.get(LIST).await.text();
    assert!(
        list.contains("The token has been successfully deleted.")
            && !list.contains("nightly build")
    );
    let refused = token_upload(&env, &token, API_ADD, &plugin_zip(PKG, "0.0.2")).await;
    assert_eq!((refused.status, refused.text().as_str()), (StatusCode::FORBIDDEN, "Invalid token"));
    assert_eq!(ana.get(&format!("/plugins/{PKG}/tokens/{id}/")).await.status, 404);
}

#[tokio::test]
async fn editors_manage_only_their_own_tokens_and_strangers_none() {
    let env = plugin_with_editors().await;
    let (ana_id, ana_token) = Web::signed_in(&env, "ana").await.create_token("ana-ci").await;
    let mut bob = Web::signed_in(&env, "bob").await;
    let (bob_id, _) = bob.create_token("bob-ci").await;
    let pages = |id: i64| {
        let base = format!("/plugins/{PKG}/tokens/{id}");
        [format!("{base}/"), format!("{base}/update"), format!("{base}/delete/")]
    };

    for page in pages(ana_id) {
        assert_eq!(bob.get(&page).await.status, StatusCode::NOT_FOUND, "{page}");
    }
    let bob_csrf = bob.csrf(LIST).await;
    let fields =
        [("delete_confirm", "1"), ("description", "mine"), ("csrfmiddlewaretoken", &bob_csrf)];
    for page in &pages(ana_id)[1..] {
        assert_eq!(bob.post(page, &fields).await.status, StatusCode::NOT_FOUND, "{page}");
    }
    assert_eq!(env.count("SELECT count(*) FROM upload_tokens WHERE description = 'ana-ci'"), 1);
    let upload = token_upload(&env, &ana_token, API_ADD, &plugin_zip(PKG, "0.0.2")).await;
    assert_eq!(upload.status, StatusCode::CREATED, "{}", upload.text());

    let mut eve = Web::signed_in(&env, "eve").await;
    for page in pages(bob_id) {
        assert_eq!(eve.get(&page).await.status, StatusCode::FORBIDDEN, "{page}");
    }
    let eve_csrf = eve.csrf("/accounts/password/change/").await;
    let fields =
        [("delete_confirm", "1"), ("description", "x"), ("csrfmiddlewaretoken", &eve_csrf)];
    assert_eq!(eve.post(&pages(bob_id)[2], &fields).await.status, StatusCode::FORBIDDEN);
    assert_eq!(eve.post(CREATE, &fields).await.status, StatusCode::FORBIDDEN);
    assert_eq!(live_tokens(&env), 2);

    for page in [format!("/plugins/{PKG}/tokens/abc/"), format!("/plugins/{PKG}/tokens/999/update")]
    {
        assert_eq!(bob.get(&page).await.status, StatusCode::NOT_FOUND, "{page}");
    }
    let mut sam = Web::signed_in(&env, "sam").await;
    let revoke = &pages(bob_id)[2];
    assert_eq!(sam.submit(revoke, revoke, &[("delete_confirm", "1")]).await.status, 303);
    assert_eq!(live_tokens(&env), 1);
}
