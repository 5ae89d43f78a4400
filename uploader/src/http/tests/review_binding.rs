//! In-process tests of review binding: approval names the reviewed bytes, the queue and the
//! version's private JSON show them, no-op requests write nothing and request no build, the
//! per-user throttle answers 429 before writing, and zips survive delete/re-upload,
//! replacement by the same bytes and soft deletion.

use super::*;

fn events(env: &Env) -> i64 {
    env.count("SELECT count(*) FROM events")
}

fn requested(env: &Env) -> u64 {
    env.app.rebuild.status().requested
}

async fn post_approve(env: &Env, token: &str, v: &str, body: &str) -> Resp {
    call(
        &env.app,
        Method::POST,
        &format!("/api/v1/plugins/test_plugin/versions/{v}/approve"),
        &[bearer(token)],
        body.to_owned(),
    )
    .await
}

#[tokio::test]
async fn approval_requires_the_reviewed_sha256() {
    let env = env();
    let (_, plugin_token) = plugin_with_token(&env, "author").await;
    add_user(&env, "staff", true, false);
    let staff = login(&env, "staff").await;
    let sha = stored_sha256(&env, "test_plugin", "0.0.1");
    let (events0, requested0) = (events(&env), requested(&env));
    // Missing body, missing field, not hex, wrong length, unknown field: 400, nothing changed.
    for body in ["", "{}", r#"{"sha256": null}"#, r#"{"sha256": "xyz"}"#, r#"{"sha256": 5}"#]
        .into_iter()
        .map(str::to_owned)
        .chain([json!({"sha256": &sha[..63]}).to_string(), json!({"sha": sha}).to_string()])
    {
        let r = post_approve(&env, &staff, "0.0.1", &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        let detail = r.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("sha256") && detail.contains("Nothing was changed"), "{detail}");
    }
    assert_eq!((events(&env), requested(&env)), (events0, requested0), "a 400 writes nothing");
    // The author replaces the zip after the review: the reviewed sha256 is stale.
    let replaced = plugin_zip_with("test_plugin", "0.0.1", "changelog=swapped after review");
    let r = token_upload(
        &env,
        &plugin_token,
        "/plugins/api/test_plugin/version/0.0.1/update/",
        &replaced,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let current = stored_sha256(&env, "test_plugin", "0.0.1");
    assert_ne!(current, sha);
    let (events1, requested1) = (events(&env), requested(&env));
    assert!(events1 > events0);
    let r = post_approve(&env, &staff, "0.0.1", &json!({"sha256": sha}).to_string()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let j = r.json();
    assert_eq!(j["code"], "changed_since_review");
    let detail = j["detail"].as_str().unwrap();
    assert!(detail.contains(&current) && detail.contains("changed since it was reviewed"), "{j}");
    assert!(!approved(&env, "0.0.1"));
    assert_eq!((events(&env), requested(&env)), (events1, requested1), "a 409 writes nothing");
    // The queue and the private JSON show the bytes and the replacement.
    let q = call(&env.app, Method::GET, "/api/v1/review", &[bearer(&staff)], "").await.json();
    let item = &q["versions"][0];
    assert_eq!(item["sha256"], current.as_str());
    assert_eq!(item["size"], replaced.len());
    assert_eq!(item["replaced"], true, "{item}");
    assert!(item["replaced_at"].is_string(), "{item}");
    let r = call(
        &env.app,
        Method::GET,
        "/api/v1/plugins/test_plugin/versions/0.0.1",
        &[bearer(&staff)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["sha256"].as_str(), v["replaced"].as_bool()),
        (Some(current.as_str()), Some(true))
    );
    // The right sha256, in upper case: approved.
    let r =
        post_approve(&env, &staff, "0.0.1", &json!({"sha256": current.to_uppercase()}).to_string())
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(approved(&env, "0.0.1"));
    assert_eq!(events(&env), events1 + 1);
    // Unapproval needs no sha256.
    let r = call(
        &env.app,
        Method::POST,
        "/api/v1/plugins/test_plugin/versions/0.0.1/unapprove",
        &[bearer(&staff)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!approved(&env, "0.0.1"));
}

#[tokio::test]
async fn version_json_is_for_editors_staff_and_trusted_users() {
    let env = env();
    add_user(&env, "author", false, false);
    add_user(&env, "stranger", false, false);
    add_user(&env, "trusted", false, true);
    let author = login(&env, "author").await;
    assert_eq!(web_upload(&env, &author, &plugin_zip("test_plugin", "1.0")).await.status, 201);
    let path = "/api/v1/plugins/test_plugin/versions/1.0";
    for (who, expected) in [
        ("author", StatusCode::OK),
        ("trusted", StatusCode::OK),
        ("stranger", StatusCode::FORBIDDEN),
    ] {
        let t = login(&env, who).await;
        let r = call(&env.app, Method::GET, path, &[bearer(&t)], "").await;
        assert_eq!(r.status, expected, "{who}: {}", r.text());
    }
    let r = call(&env.app, Method::GET, path, &[], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(
        &env.app,
        Method::GET,
        "/api/v1/plugins/test_plugin/versions/9.9",
        &[bearer(&author)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let v = call(&env.app, Method::GET, path, &[bearer(&author)], "").await.json();
    assert_eq!(v["sha256"], stored_sha256(&env, "test_plugin", "1.0"));
    assert_eq!(v["replaced"], false);
    assert!(v["replaced_at"].is_null());
}

#[tokio::test]
async fn requests_that_change_nothing_write_no_event_and_request_no_build() {
    let env = env();
    add_user(&env, "author", false, false);
    add_user(&env, "helper", false, false);
    add_user(&env, "staff", true, false);
    let author = login(&env, "author").await;
    let staff = login(&env, "staff").await;
    assert_eq!(web_upload(&env, &author, &plugin_zip("test_plugin", "1.0")).await.status, 201);
    assert_eq!(web_upload(&env, &author, &plugin_zip("test_plugin", "1.1")).await.status, 201);
    assert_eq!(approve(&env, &staff, "test_plugin", "1.0").await.status, StatusCode::OK);
    let patch = |body: &str| {
        let (app, auth, body) = (env.app.clone(), bearer(&author), body.to_owned());
        async move { call(&app, Method::PATCH, "/api/v1/plugins/test_plugin", &[auth], body).await }
    };
    let r = patch(r#"{"owners": ["helper"], "maintainer": "helper"}"#).await;
    assert_eq!(r.json()["changed"], true, "{}", r.text());
    let before = (events(&env), requested(&env), env.count("SELECT revision FROM plugins"));
    let unapprove = || {
        let (app, auth) = (env.app.clone(), bearer(&staff));
        async move {
            call(
                &app,
                Method::POST,
                "/api/v1/plugins/test_plugin/versions/1.1/unapprove",
                &[auth],
                "",
            )
            .await
        }
    };
    let noops: Vec<(&str, Resp)> = vec![
        ("empty PATCH", patch("").await),
        ("PATCH {}", patch("{}").await),
        (
            "PATCH with the current values",
            patch(
                r#"{"owners": ["helper", "author"], "maintainer": "helper", "deprecated": false}"#,
            )
            .await,
        ),
        ("approve an approved version", approve(&env, &staff, "test_plugin", "1.0").await),
        ("unapprove an unapproved version", unapprove().await),
    ];
    for (what, r) in noops {
        assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text());
        assert_eq!(r.json()["changed"], false, "{what}: {}", r.text());
        let now = (events(&env), requested(&env), env.count("SELECT revision FROM plugins"));
        assert_eq!(now, before, "{what} wrote an event, a revision or requested a build");
    }
    // A real change still does all three.
    let r = patch(r#"{"deprecated": true}"#).await;
    assert_eq!(r.json()["changed"], true);
    assert_eq!(events(&env), before.0 + 1);
    assert_eq!(requested(&env), before.1 + 1);
}

#[tokio::test]
async fn a_low_throttle_answers_429_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.rebuild = false;
    config.throttle = crate::change_throttle::ThrottleConfig { burst: 3, per_minute: 1 };
    let app = AppState::open(config, Rebuilder::disabled()).unwrap();
    crate::http::tests::fake_scanner(&app);
    let env = Env { dir, app };
    add_user(&env, "author", false, false);
    add_user(&env, "staff", true, false);
    let author = login(&env, "author").await;
    let staff = login(&env, "staff").await;
    assert_eq!(web_upload(&env, &author, &plugin_zip("test_plugin", "1.0")).await.status, 201);
    // Staff: two changes and a no-op (its token comes back), then the third change is the last.
    assert_eq!(approve(&env, &staff, "test_plugin", "1.0").await.json()["changed"], true);
    assert_eq!(approve(&env, &staff, "test_plugin", "1.0").await.json()["changed"], false);
    let unapprove = || {
        let (app, auth) = (env.app.clone(), bearer(&staff));
        async move {
            call(
                &app,
                Method::POST,
                "/api/v1/plugins/test_plugin/versions/1.0/unapprove",
                &[auth],
                "",
            )
            .await
        }
    };
    assert_eq!(unapprove().await.json()["changed"], true);
    assert_eq!(approve(&env, &staff, "test_plugin", "1.0").await.json()["changed"], true);
    let before = (events(&env), requested(&env), approved(&env, "1.0"));
    let r = unapprove().await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(r.json()["code"], "throttled");
    assert!(r.json()["detail"].as_str().unwrap().contains("Nothing was changed"));
    let r = call(
        &env.app,
        Method::PATCH,
        "/api/v1/plugins/test_plugin",
        &[bearer(&staff)],
        r#"{"deprecated": true}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!((events(&env), requested(&env), approved(&env, "1.0")), before, "429 wrote");
    assert_eq!(env.count("SELECT deprecated FROM plugins"), 0);
    // Uploads are throttled per user too (the author has two uploads left).
    for v in ["1.1", "1.2"] {
        assert_eq!(web_upload(&env, &author, &plugin_zip("test_plugin", v)).await.status, 201);
    }
    let files = env.stored_files();
    let r = web_upload(&env, &author, &plugin_zip("test_plugin", "1.3")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.headers.contains_key("retry-after"));
    assert!(!version_exists(&env, "1.3"));
    assert_eq!(env.stored_files(), files);
}

#[tokio::test]
async fn zips_survive_reupload_replacement_by_the_same_bytes_and_soft_deletion() {
    let env = env();
    let (jwt, plugin_token) = plugin_with_token(&env, "author").await;
    let zip = plugin_zip("test_plugin", "0.0.2");
    assert_eq!(web_upload(&env, &jwt, &zip).await.status, 201);
    let files = env.stored_files();
    // Delete, then the same bytes again: the same content-named path, kept.
    let r = call(
        &env.app,
        Method::DELETE,
        "/api/v1/plugins/test_plugin/versions/0.0.2",
        &[bearer(&jwt)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(env.stored_files().len(), files.len() - 1, "the deleted version's zip is removed");
    assert_eq!(web_upload(&env, &jwt, &zip).await.status, 201);
    assert_eq!(env.stored_files(), files);
    // Replacing a version by the same bytes keeps its file.
    let url = "/plugins/api/test_plugin/version/0.0.2/update/";
    assert_eq!(token_upload(&env, &plugin_token, url, &zip).await.status, StatusCode::CREATED);
    assert_eq!(env.stored_files(), files);
    // A failed replacement (another plugin's zip) leaves the referenced file alone.
    let r = token_upload(&env, &plugin_token, url, &plugin_zip("other_plugin", "0.0.2")).await;
    assert!(r.status.is_client_error(), "{}", r.text());
    assert_eq!(env.stored_files(), files);
    // Soft deletion and restore keep every zip.
    for (method, path) in [
        (Method::DELETE, "/api/v1/plugins/test_plugin"),
        (Method::POST, "/api/v1/plugins/test_plugin/restore"),
    ] {
        let r = call(&env.app, method, path, &[bearer(&jwt)], "").await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert_eq!(env.stored_files(), files, "{path}");
    }
    for f in &files {
        assert!(env.data().join("packages").join(f).is_file(), "{f}");
    }
}
