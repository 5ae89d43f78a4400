//! In-process tests of the checks forms on the review page: the blocked page (error box, no
//! download link), waive and remove a waiver, a staff override with a reason, a rescan, and
//! a form without its CSRF token changing nothing.

use hyper::{Method, StatusCode};

use catalog::checks::{FindingRow, FinishedScan, ScanStatus, ScanTool, Severity};

use crate::http::tests::{Env, PASSWORD, Resp, add_user, call, env, login, plugin_zip, web_upload};
use crate::services::sessions;

async fn session(env: &Env, name: &str) -> String {
    let started = sessions::sign_in(&env.app, name.into(), PASSWORD.into()).await.unwrap();
    format!("qgis_session={}", started.secret.expose())
}

async fn get(env: &Env, cookie: &str, path: &str) -> Resp {
    call(&env.app, Method::GET, path, &[("cookie", cookie.to_owned())], "").await
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

fn csrf_of(page: &Resp) -> String {
    let html = page.text();
    let key = "name=\"csrfmiddlewaretoken\" value=\"";
    let at = html.find(key).expect("a form with a token") + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

fn location(r: &Resp) -> &str {
    r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn finding(rule: &str, severity: Severity, waivable: bool, tool: ScanTool) -> FindingRow {
    FindingRow {
        rule: rule.into(),
        tool,
        severity,
        waivable,
        file: "scanned/a.py".into(),
        line: Some(3),
        message: format!("{rule} <found>"),
        vendored: false,
    }
}

/// Waits (on `scan_done`) until the fake scanner passed the upload's scan, so that its
/// (non-transactional) writes cannot interleave with `store_blocked_scan`'s.
async fn upload_scanned(env: &Env) {
    let mut done = env.app.scan_done.subscribe();
    while status(env) != ScanStatus::Validated {
        done.changed().await.unwrap();
    }
}

/// Stores a finished scan of `scanned` 1.0 with a secret (critical) and an `exec` (a
/// waivable warning), as the worker would: blocked.
fn store_blocked_scan(env: &Env) {
    let mut conn = env.conn();
    let tx = conn.transaction().unwrap();
    let plugin = catalog::plugins::plugin_by_package(&tx, "scanned").unwrap().unwrap();
    let v = catalog::versions::versions_of_plugin(&tx, plugin.id).unwrap().remove(0);
    let now = catalog::time::now();
    catalog::checks::queue_scan(&tx, v.id, &v.package_sha256, now).unwrap();
    let findings = [
        finding("AWSKeyDetector", Severity::Critical, false, ScanTool::DetectSecrets),
        finding("B102", Severity::Warning, true, ScanTool::Bandit),
    ];
    let done = FinishedScan {
        status: ScanStatus::Blocked,
        findings: &findings,
        tools_json: "[]",
        qgis4_ready: true,
    };
    assert!(catalog::checks::finish_scan(&tx, v.id, &v.package_sha256, &done, now).unwrap());
    tx.commit().unwrap();
}

fn status(env: &Env) -> ScanStatus {
    let conn = env.conn();
    let plugin = catalog::plugins::plugin_by_package(&conn, "scanned").unwrap().unwrap();
    catalog::checks::status_of_named(&conn, plugin.id, "1.0").unwrap().unwrap()
}

const REVIEW: &str = "/plugins/scanned/version/1.0/review/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_forms_waive_override_and_rescan_from_the_review_page() {
    let env = env();
    add_user(&env, "ana", false, false);
    add_user(&env, "boss", true, false);
    let jwt = login(&env, "ana").await;
    let r = web_upload(&env, &jwt, &plugin_zip("scanned", "1.0")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    upload_scanned(&env).await;
    store_blocked_scan(&env);
    let (ana, boss) = (session(&env, "ana").await, session(&env, "boss").await);

    // Blocked: the error box lists the secret (escaped), no download link, a waive form for
    // the warning only, and no override form for an editor.
    let page = get(&env, &ana, REVIEW).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("Blocked by the security scan"), "{html}");
    assert!(html.contains("AWSKeyDetector &lt;found&gt;"), "{html}");
    assert!(!html.contains("/api/v1/download/"), "a download link on a blocked version");
    assert_eq!(html.matches("name=\"action\" value=\"add\"").count(), 1, "{html}");
    assert!(!html.contains("/override/"), "an editor is offered the override");
    let csrf = csrf_of(&page);

    // A waiver without a token changes nothing; with it, its reason shows.
    let waive = [("action", "add"), ("rule", "B102"), ("file", "scanned/a.py")];
    let fields = [&waive[..], &[("reason", "the code is a constant"), ("version", "1.0")]].concat();
    let r = post(&env, &ana, "/plugins/scanned/waivers/", &fields).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(env.count("SELECT count(*) FROM scan_waivers"), 0);
    let with = [&fields[..], &[("csrfmiddlewaretoken", csrf.as_str())]].concat();
    let r = post(&env, &ana, "/plugins/scanned/waivers/", &with).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(location(&r), "/plugins/scanned/version/1.0/review/#checks");
    let html = get(&env, &ana, REVIEW).await.text();
    assert!(html.contains("the code is a constant"), "{html}");
    assert!(html.contains("name=\"action\" value=\"remove\""), "{html}");

    // A reason too short is a clear 400 page; a critical rule cannot be waived.
    let short =
        [("action", "add"), ("rule", "B102"), ("reason", "no"), ("csrfmiddlewaretoken", &csrf)];
    let r = post(&env, &ana, "/plugins/scanned/waivers/", &short).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("3 to 500 characters"), "{}", r.text());

    // Removing the waiver.
    let remove = [
        ("action", "remove"),
        ("rule", "B102"),
        ("file", "scanned/a.py"),
        ("version", "1.0"),
        ("csrfmiddlewaretoken", &csrf),
    ];
    assert_eq!(post(&env, &ana, "/plugins/scanned/waivers/", &remove).await.status, 303);
    assert_eq!(env.count("SELECT count(*) FROM scan_waivers"), 0);

    // Only staff override, and only with a reason.
    let path = "/plugins/scanned/version/1.0/override/";
    let reason = [("reason", "the AWS documentation's key"), ("csrfmiddlewaretoken", &csrf)];
    assert_eq!(post(&env, &ana, path, &reason).await.status, StatusCode::FORBIDDEN);
    let page = get(&env, &boss, REVIEW).await;
    assert!(page.text().contains(path), "no override form for staff");
    let staff_csrf = csrf_of(&page);
    let empty = [("reason", ""), ("csrfmiddlewaretoken", staff_csrf.as_str())];
    assert_eq!(post(&env, &boss, path, &empty).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(status(&env), ScanStatus::Blocked);
    let reason = [("reason", "the AWS documentation's key"), ("csrfmiddlewaretoken", &staff_csrf)];
    assert_eq!(post(&env, &boss, path, &reason).await.status, StatusCode::SEE_OTHER);
    assert_eq!(status(&env), ScanStatus::Validated);
    let html = get(&env, &ana, REVIEW).await.text();
    assert!(html.contains("the AWS documentation&#x27;s key"), "{html}");
    assert!(html.contains("/api/v1/download/"), "no download link once overridden");

    // A rescan queues the version again (the fake scanner passes it).
    let path = "/plugins/scanned/version/1.0/rescan/";
    assert_eq!(post(&env, &ana, path, &[]).await.status, StatusCode::FORBIDDEN);
    let r = post(&env, &ana, path, &[("csrfmiddlewaretoken", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(env.count("SELECT count(*) FROM events WHERE action = 'scan.rescan'"), 1);
    assert!(get(&env, &ana, REVIEW).await.text().contains("Automated checks"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_plugins_shows_scan_badges_and_settings_take_vendored_folders_by_line() {
    let env = env();
    add_user(&env, "ana", false, false);
    let jwt = login(&env, "ana").await;
    let r = web_upload(&env, &jwt, &plugin_zip("scanned", "1.0")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    upload_scanned(&env).await;
    store_blocked_scan(&env);
    let ana = session(&env, "ana").await;

    let html = get(&env, &ana, "/plugins/my").await.text();
    assert!(html.contains("class=\"badge scan-badge blocked\">blocked"), "{html}");
    assert!(html.contains("/plugins/scanned/version/1.0/review/#checks"), "{html}");

    let page = get(&env, &ana, "/plugins/scanned/update/").await;
    let csrf = csrf_of(&page);
    let path = "/plugins/scanned/update/";
    let fields = |vendored: &'static str| {
        vec![("owners", ""), ("maintainer", "ana"), ("vendored", vendored)]
    };
    let mut bad = fields("ext_libs\n\n../up");
    bad.push(("csrfmiddlewaretoken", &csrf));
    let r = post(&env, &ana, path, &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("Vendored folders, line 3"), "{}", r.text());
    let mut good = fields("ext_libs/\r\nvendor/six\n");
    good.push(("csrfmiddlewaretoken", &csrf));
    assert_eq!(post(&env, &ana, path, &good).await.status, StatusCode::SEE_OTHER);
    let html = get(&env, &ana, path).await.text();
    assert!(html.contains(">ext_libs\nvendor/six</textarea>"), "{html}");
}
