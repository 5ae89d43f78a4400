//! In-process tests of the service: the router is called with `Request<Bytes>` (the server's
//! body reading is tested in `server_tests`). Covers reference §6.3 (test_token_auth,
//! test_plugin_upload, test_plugin_update), the permission matrix of reference §3.2 with
//! decisions §5, reliability catalogue C, concurrent uploads, all-or-nothing uploads,
//! XML-RPC, review, and the rebuild-to-live path.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::app::{App, AppState};
use crate::config::ServiceConfig;
use crate::rebuild::Rebuilder;

mod accounts_pages;
mod metadata_tests;
mod review_binding;
mod server_tests;
mod web;

pub(super) const PASSWORD: &str = "password123";
const SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123456789";

/// A service over a temporary data dir.
pub(super) struct Env {
    pub dir: tempfile::TempDir,
    pub app: App,
}

impl Env {
    pub(super) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub(super) fn site(&self) -> PathBuf {
        self.dir.path().join("site")
    }
    pub(super) fn conn(&self) -> rusqlite::Connection {
        catalog::open(&self.data()).unwrap()
    }
    pub(super) fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }
    /// Every file under data/packages (relative paths).
    pub(super) fn stored_files(&self) -> BTreeSet<String> {
        let root = self.data().join("packages");
        let mut out = BTreeSet::new();
        if let Ok(dirs) = std::fs::read_dir(&root) {
            for d in dirs.flatten() {
                for f in std::fs::read_dir(d.path()).unwrap().flatten() {
                    out.insert(format!(
                        "{}/{}",
                        d.file_name().to_string_lossy(),
                        f.file_name().to_string_lossy()
                    ));
                }
            }
        }
        out
    }
}

pub(super) fn test_config(root: &Path) -> ServiceConfig {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
    let site = generator::Config::new(
        root.join("data"),
        root.join("site"),
        templates,
        "http://127.0.0.1:8080",
    )
    .unwrap();
    let mut c = ServiceConfig::new(site, SECRET.to_vec()).unwrap();
    c.live_wait = std::time::Duration::from_secs(20);
    c
}

/// A service without site builds.
pub(super) fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.rebuild = false;
    let app = AppState::open(config, Rebuilder::disabled()).unwrap();
    fake_scanner(&app);
    Env { dir, app }
}

/// Stands in for the scan worker (the engine's tools are not run in unit tests): every
/// queued scan passes with no finding, as soon as an upload wakes it. Call inside a runtime.
pub(super) fn fake_scanner(app: &App) {
    let app = app.clone();
    tokio::spawn(async move {
        loop {
            let passed = app
                .db(|conn| {
                    let mut n = 0;
                    while let Some(job) = catalog::checks::next_queued(conn)? {
                        let done = catalog::checks::FinishedScan {
                            status: catalog::checks::ScanStatus::Validated,
                            findings: &[],
                            tools_json: "[]",
                            qgis4_ready: true,
                        };
                        let now = catalog::time::now();
                        catalog::checks::finish_scan(
                            conn,
                            job.version_id,
                            &job.sha256,
                            &done,
                            now,
                        )?;
                        n += 1;
                    }
                    anyhow::Ok(n)
                })
                .await
                .unwrap();
            if passed > 0 {
                app.scan_done.send_modify(|n| *n += passed);
            }
            app.scan_wake.notified().await;
        }
    });
}

/// The `uploader` binary that runs builds. Unit tests have no `CARGO_BIN_EXE_uploader`;
/// the binary sits beside `deps/` (cargo builds it for the package's integration tests).
pub(super) fn uploader_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_uploader") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("uploader");
    assert!(bin.is_file(), "{} is missing: run `cargo test -p uploader`", bin.display());
    bin
}

/// Starts the real rebuild worker for `config` (call inside a tokio runtime).
pub(super) fn start_builds(config: &ServiceConfig) -> Arc<Rebuilder> {
    Rebuilder::start(crate::rebuild::BuildCommand {
        program: uploader_bin(),
        config: config.site.clone(),
    })
}

/// A service with the real rebuild worker (call inside a tokio runtime).
pub(super) fn env_with_builds() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let rebuild = start_builds(&config);
    let app = AppState::open(config, rebuild).unwrap();
    fake_scanner(&app);
    Env { dir, app }
}

/// metadata.txt with every required key; `extra` lines override or add keys.
pub(super) fn metadata(name: &str, version: &str, extra: &str) -> String {
    let mut lines: Vec<(String, String)> = vec![
        ("name".into(), name.into()),
        ("qgisMinimumVersion".into(), "3.0".into()),
        ("description".into(), "I am here for testing purpose".into()),
        ("about".into(), "It does nothing useful, but it does it well.".into()),
        ("version".into(), version.into()),
        ("author".into(), "Jane Doe".into()),
        ("email".into(), "jane@example.org".into()),
        ("tracker".into(), "https://github.com/example/test_plugin/issues".into()),
        ("repository".into(), "https://github.com/example/test_plugin".into()),
        ("homepage".into(), "https://qgis.org/".into()),
        ("tags".into(), "python, Example,test".into()),
    ];
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once('=').unwrap();
        match lines.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.into(),
            None => lines.push((k.into(), v.into())),
        }
    }
    let mut out = String::from("[general]\n");
    for (k, v) in lines {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

/// A valid plugin zip: `<pkg>/metadata.txt`, `__init__.py`, `LICENSE`.
pub(super) fn plugin_zip_with(pkg: &str, version: &str, extra: &str) -> Vec<u8> {
    let name = format!("Test Plugin {pkg}");
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    w.add_directory(format!("{pkg}/"), opts).unwrap();
    for (file, content) in [
        ("metadata.txt", metadata(&name, version, extra)),
        (
            "__init__.py",
            "def classFactory(iface):\n    from .plugin import P\n    return P(iface)\n".into(),
        ),
        (
            "plugin.py",
            "class P:\n    def __init__(self, iface):\n        self.iface = iface\n".into(),
        ),
        ("LICENSE", "GNU GENERAL PUBLIC LICENSE Version 2\n".into()),
    ] {
        w.start_file(format!("{pkg}/{file}"), opts).unwrap();
        w.write_all(content.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub(super) fn plugin_zip(pkg: &str, version: &str) -> Vec<u8> {
    plugin_zip_with(pkg, version, "")
}

/// A response, decoded.
#[derive(Debug)]
pub(super) struct Resp {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(super) async fn call(
    app: &App,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: impl Into<Bytes>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = crate::http::handle(app, req.body(body.into()).unwrap()).await;
    let (parts, body) = resp.into_parts();
    let body = http_body_util::BodyExt::collect(body).await.unwrap().to_bytes();
    Resp { status: parts.status, headers: parts.headers, body }
}

pub(super) fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

pub(super) fn basic(user: &str, password: &str) -> (&'static str, String) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ("authorization", format!("Basic {b64}"))
}

/// A multipart/form-data body: `(name, filename, bytes)`.
pub(super) fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> ((&'static str, String), Bytes) {
    let boundary = "----testboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (("content-type", format!("multipart/form-data; boundary={boundary}")), Bytes::from(body))
}

/// Creates a user directly (as `uploader user add`).
pub(super) fn add_user(env: &Env, name: &str, staff: bool, trusted: bool) {
    let mut conn = env.conn();
    crate::services::accounts::add_user(&mut conn, name, "", Some(PASSWORD), staff, trusted)
        .unwrap();
}

/// Logs in through `POST /api/v1/token`.
pub(super) async fn login(env: &Env, name: &str) -> String {
    let r = call(
        &env.app,
        Method::POST,
        "/api/v1/token",
        &[("content-type", "application/json".into())],
        json!({"username": name, "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["token"].as_str().unwrap().to_owned()
}

pub(super) async fn web_upload(env: &Env, token: &str, zip: &[u8]) -> Resp {
    let (ct, body) = multipart(&[("package", Some("plugin.zip"), zip)]);
    call(&env.app, Method::POST, "/plugins/add/", &[bearer(token), ct], body).await
}

pub(super) async fn create_token(env: &Env, user_token: &str, pkg: &str) -> Resp {
    call(
        &env.app,
        Method::POST,
        &format!("/api/v1/plugins/{pkg}/tokens"),
        &[bearer(user_token)],
        json!({"description": "CI"}).to_string(),
    )
    .await
}

pub(super) async fn token_upload(env: &Env, token: &str, path: &str, zip: &[u8]) -> Resp {
    let (ct, body) = multipart(&[("package", Some("p.zip"), zip)]);
    call(&env.app, Method::POST, path, &[bearer(token), ct], body).await
}

/// The stored zip's SHA-256 of `pkg` `v` (what a reviewer downloaded), or zeros for a
/// version that does not exist.
pub(super) fn stored_sha256(env: &Env, pkg: &str, v: &str) -> String {
    env.conn()
        .query_row(
            "SELECT v.package_sha256 FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
             WHERE p.package_name = ?1 AND v.version = ?2",
            [pkg, v],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| "0".repeat(64))
}

/// Approves `pkg` `v`, naming the stored zip's SHA-256 as a reviewer does.
pub(super) async fn approve(env: &Env, token: &str, pkg: &str, v: &str) -> Resp {
    call(
        &env.app,
        Method::POST,
        &format!("/api/v1/plugins/{pkg}/versions/{v}/approve"),
        &[bearer(token)],
        json!({"sha256": stored_sha256(env, pkg, v)}).to_string(),
    )
    .await
}

/// `author` uploads `test_plugin` 0.0.1 and gets a plugin token; returns (user JWT, plugin token).
pub(super) async fn plugin_with_token(env: &Env, author: &str) -> (String, String) {
    add_user(env, author, false, false);
    let jwt = login(env, author).await;
    let r = web_upload(env, &jwt, &plugin_zip("test_plugin", "0.0.1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let t = create_token(env, &jwt, "test_plugin").await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.text());
    (jwt, t.json()["token"].as_str().unwrap().to_owned())
}

fn version_exists(env: &Env, v: &str) -> bool {
    env.conn()
        .query_row("SELECT count(*) FROM plugin_versions WHERE version = ?1", [v], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
        > 0
}

fn approved(env: &Env, v: &str) -> bool {
    env.conn()
        .query_row("SELECT approved FROM plugin_versions WHERE version = ?1", [v], |r| r.get(0))
        .unwrap()
}

const ADD: &str = "/plugins/api/test_plugin/version/add/";

// ---------------------------------------------------------------- accounts

#[tokio::test]
async fn token_endpoint_issues_user_tokens_and_refuses_bad_credentials() {
    let env = env();
    add_user(&env, "alice", false, false);
    let token = login(&env, "alice").await;
    assert_eq!(token.split('.').count(), 3);
    for (user, pw) in [("alice", "wrong-password"), ("nobody", PASSWORD), ("", "")] {
        let r = call(
            &env.app,
            Method::POST,
            "/api/v1/token",
            &[],
            json!({"username": user, "password": pw}).to_string(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.json()["detail"].is_string());
        assert!(!r.text().contains(pw) || pw.is_empty());
    }
    let r = call(&env.app, Method::POST, "/api/v1/token", &[], "not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(&env.app, Method::GET, "/api/v1/token", &[], "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "POST");
    // A blocked account cannot log in.
    add_user(&env, "staff", true, false);
    let staff = login(&env, "staff").await;
    let r = call(&env.app, Method::POST, "/api/v1/users/alice/block", &[bearer(&staff)], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(
        &env.app,
        Method::POST,
        "/api/v1/token",
        &[],
        json!({"username": "alice", "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // And a token issued before the block stops working.
    let r = web_upload(&env, &token, &plugin_zip("test_plugin", "0.0.1")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unknown_paths_and_garbage_get_json_errors() {
    let env = env();
    for path in ["/nope", "/api/v1/plugins/x/versions/1/explode", "/%zz", "/api/v1/plugins/%00"] {
        let r = call(&env.app, Method::GET, path, &[], "").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.json()["detail"].is_string());
    }
    let r = call(&env.app, Method::GET, "/healthz", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
}

// ---------------------------------------------------------------- test_plugin_upload

#[tokio::test]
async fn plugin_upload_creates_plugin_tags_version_and_stored_zip() {
    let env = env();
    add_user(&env, "testuser", false, false);
    let jwt = login(&env, "testuser").await;
    // Empty form: 400, nothing written.
    let (ct, body) = multipart(&[]);
    let r = call(&env.app, Method::POST, "/plugins/add/", &[bearer(&jwt), ct], body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = web_upload(&env, &jwt, &plugin_zip("test_plugin", "0.0.1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    assert_eq!(j["version"], "0.0.1");
    assert_eq!(j["package"], "test_plugin");
    assert_eq!(j["plugin_created"], true);
    assert_eq!(j["approved"], false, "untrusted uploads wait for review");
    let conn = env.conn();
    let name: String = conn
        .query_row("SELECT name FROM plugins WHERE package_name = 'test_plugin'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "Test Plugin test_plugin");
    let tags: BTreeSet<String> = conn
        .prepare("SELECT t.name FROM tags t JOIN plugin_tags pt ON pt.tag_id = t.id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(tags, ["example", "python", "test"].map(String::from).into());
    let (path, sha): (String, String) = conn
        .query_row("SELECT package_path, package_sha256 FROM plugin_versions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(path.starts_with("packages/test_plugin/test_plugin.0.0.1-"), "{path}");
    let bytes = std::fs::read(env.data().join(&path)).unwrap();
    assert_eq!(catalog::hash::sha256_hex(&bytes), sha);
    assert_eq!(env.count("SELECT count(*) FROM events WHERE action = 'plugin.create'"), 1);
    // No credentials: 401 with the RFC 6750 challenge; nothing written.
    let (ct, body) = multipart(&[("package", Some("p.zip"), &plugin_zip("other_plugin", "1.0"))]);
    let r = call(&env.app, Method::POST, "/plugins/add/", &[ct], body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(env.count("SELECT count(*) FROM plugins"), 1);
}

#[tokio::test]
async fn new_version_not_auto_approved_for_untrusted_user_on_approved_plugin() {
    let env = env();
    add_user(&env, "testuser", false, false);
    add_user(&env, "staff", true, false);
    let jwt = login(&env, "testuser").await;
    let staff = login(&env, "staff").await;
    assert_eq!(web_upload(&env, &jwt, &plugin_zip("test_plugin", "0.0.1")).await.status, 201);
    let r = approve(&env, &staff, "test_plugin", "0.0.1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(approved(&env, "0.0.1"));
    let r = web_upload(&env, &jwt, &plugin_zip("test_plugin", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["plugin_created"], false);
    assert!(!approved(&env, "0.0.2"), "only trust grants approval");
    assert!(approved(&env, "0.0.1"), "earlier approved versions stay approved");
}

#[tokio::test]
async fn trusted_and_staff_uploads_are_approved_at_once() {
    let env = env();
    add_user(&env, "trusted", false, true);
    add_user(&env, "staff", true, false);
    let t = login(&env, "trusted").await;
    let r = web_upload(&env, &t, &plugin_zip("trusted_plugin", "1.0")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["approved"], true);
    let s = login(&env, "staff").await;
    let r = web_upload(&env, &s, &plugin_zip("staff_plugin", "1.0")).await;
    assert_eq!(r.json()["approved"], true);
    let approved_by: i64 = env
        .conn()
        .query_row(
            "SELECT count(*) FROM plugin_versions WHERE approved = 1 AND approved_by = created_by",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(approved_by, 2);
}

#[tokio::test]
async fn non_editors_cannot_add_versions_and_failed_uploads_leave_no_trace() {
    let env = env();
    add_user(&env, "owner", false, false);
    add_user(&env, "mallory", false, true);
    let owner = login(&env, "owner").await;
    let mallory = login(&env, "mallory").await;
    assert_eq!(web_upload(&env, &owner, &plugin_zip("test_plugin", "0.0.1")).await.status, 201);
    let files = env.stored_files();
    let rows = env.count("SELECT count(*) FROM plugin_versions");
    let plugin_rev = env.count("SELECT revision FROM plugins");
    // A trusted user who does not edit the plugin: 403.
    let r = web_upload(&env, &mallory, &plugin_zip("test_plugin", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // Duplicate version: 409.
    let r = web_upload(&env, &owner, &plugin_zip("test_plugin", "0.0.1")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // Invalid zips: 400 with problems naming what to fix.
    let r = web_upload(&env, &owner, b"this is not a zip").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let j = r.json();
    assert_eq!(j["code"], "invalid_package");
    assert!(j["errors"].as_array().is_some_and(|e| !e.is_empty()), "{j}");
    let no_license = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        w.start_file("test_plugin/metadata.txt", o).unwrap();
        w.write_all(metadata("X", "0.0.3", "").as_bytes()).unwrap();
        w.start_file("test_plugin/__init__.py", o).unwrap();
        w.write_all(b"def classFactory(i): pass\n").unwrap();
        w.finish().unwrap().into_inner()
    };
    let r = web_upload(&env, &owner, &no_license).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // A new plugin whose display name is taken: 409.
    let r = web_upload(
        &env,
        &owner,
        &plugin_zip_with("copycat", "1.0", "name=Test Plugin test_plugin"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // Same package name in another case: refused, whoever uploads.
    let r = web_upload(&env, &owner, &plugin_zip("Test_Plugin", "0.0.9")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // A reserved package name.
    let r = web_upload(&env, &owner, &plugin_zip("latest", "1.0")).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(env.stored_files(), files, "no stored file left behind");
    assert_eq!(env.count("SELECT count(*) FROM plugin_versions"), rows);
    assert_eq!(env.count("SELECT count(*) FROM plugins"), 1);
    assert_eq!(env.count("SELECT revision FROM plugins"), plugin_rev, "nothing changed");
}

#[tokio::test]
async fn raw_zip_bodies_are_accepted_and_other_types_refused() {
    let env = env();
    add_user(&env, "a", false, false);
    let jwt = login(&env, "a").await;
    let r = call(
        &env.app,
        Method::POST,
        "/plugins/add/",
        &[bearer(&jwt), ("content-type", "application/zip".into())],
        plugin_zip("raw_plugin", "1.0"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = call(
        &env.app,
        Method::POST,
        "/plugins/add/",
        &[bearer(&jwt), ("content-type", "application/json".into())],
        "{}",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Two package parts.
    let zip = plugin_zip("raw_plugin", "2.0");
    let (ct, body) =
        multipart(&[("package", Some("a.zip"), &zip), ("package", Some("b.zip"), &zip)]);
    let r = call(&env.app, Method::POST, "/plugins/add/", &[bearer(&jwt), ct], body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Broken multipart.
    let r = call(
        &env.app,
        Method::POST,
        "/plugins/add/",
        &[bearer(&jwt), ("content-type", "multipart/form-data; boundary=xyz".into())],
        "--xyz\r\nContent-Disposition: form-data; name=\"package\"\r\n\r\nabc",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(!version_exists(&env, "2.0"));
}

// ---------------------------------------------------------------- test_token_auth

#[tokio::test]
async fn token_create_records_one_hashed_row_and_shows_the_token_once() {
    let env = env();
    let (jwt, token) = plugin_with_token(&env, "author").await;
    assert_eq!(env.count("SELECT count(*) FROM upload_tokens"), 1);
    let (stored_hash, exp): (String, String) = env
        .conn()
        .query_row("SELECT token_sha256, expires_at FROM upload_tokens", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(stored_hash, crate::auth::token_hash(&token));
    let exp = chrono::DateTime::parse_from_rfc3339(&exp).unwrap();
    let days = (exp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((364..=365).contains(&days), "default expiry one year, got {days} days");
    // The list never shows the token itself.
    let r = call(&env.app, Method::GET, "/api/v1/plugins/test_plugin/tokens", &[bearer(&jwt)], "")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["tokens"].as_array().unwrap().len(), 1);
    assert!(!r.text().contains(&token));
    assert_eq!(r.json()["tokens"][0]["description"], "CI");
}

#[tokio::test]
async fn upload_new_version_with_valid_token() {
    let env = env();
    let (_, token) = plugin_with_token(&env, "author").await;
    let r = token_upload(&env, &token, ADD, &plugin_zip("test_plugin", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    assert_eq!(j["success"], true);
    assert_eq!(j["message"], "The Plugin Version has been successfully saved.");
    assert_eq!(j["version"], "0.0.2");
    let plugin_id = env.count("SELECT id FROM plugins");
    assert_eq!(j["plugin_id"], plugin_id);
    let version_id = env.count("SELECT id FROM plugin_versions WHERE version = '0.0.2'");
    assert_eq!(j["version_id"], version_id);
    assert_eq!(j["approved"], false);
    assert!(j["approval_message"].is_string());
    assert_eq!(j["scan_url"], "/plugins/test_plugin/version/0.0.2/#security-tab");
    let (from_token, created_by): (bool, Option<i64>) = env
        .conn()
        .query_row(
            "SELECT is_from_token, created_by FROM plugin_versions WHERE version = '0.0.2'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(from_token);
    assert!(created_by.is_some(), "uploaded_by names the token's user");
    assert_eq!(env.count("SELECT count(*) FROM upload_tokens WHERE last_used_at IS NOT NULL"), 1);
}

#[tokio::test]
async fn upload_new_version_with_invalid_token() {
    let env = env();
    let _ = plugin_with_token(&env, "author").await;
    let r = token_upload(&env, "invalid_token", ADD, &plugin_zip("test_plugin", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.text(), "Invalid token");
    assert!(!version_exists(&env, "0.0.2"));
    // No header at all, and a user JWT instead of a plugin token: same.
    let (ct, body) = multipart(&[("package", Some("p.zip"), &plugin_zip("test_plugin", "0.0.2"))]);
    let r = call(&env.app, Method::POST, ADD, &[ct], body).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::FORBIDDEN, "Invalid token"));
    let jwt = login(&env, "author").await;
    let r = token_upload(&env, &jwt, ADD, &plugin_zip("test_plugin", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!version_exists(&env, "0.0.2"));
}

#[tokio::test]
async fn update_version_with_valid_token() {
    let env = env();
    let (_, token) = plugin_with_token(&env, "author").await;
    let before = env.stored_files();
    let r = token_upload(
        &env,
        &token,
        "/plugins/api/test_plugin/version/0.0.1/update/",
        &plugin_zip("test_plugin", "0.0.2"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["version"], "0.0.2");
    assert!(!version_exists(&env, "0.0.1"));
    assert!(version_exists(&env, "0.0.2"));
    let after = env.stored_files();
    assert_eq!(after.len(), 1, "the replaced zip is removed: {after:?}");
    assert_ne!(before, after);
    assert!(after.iter().all(|f| f.contains("0.0.2")));
}

#[tokio::test]
async fn update_approved_version_with_token_is_refused() {
    let env = env();
    let (_, token) = plugin_with_token(&env, "author").await;
    add_user(&env, "staff", true, false);
    let staff = login(&env, "staff").await;
    assert_eq!(approve(&env, &staff, "test_plugin", "0.0.1").await.status, StatusCode::OK);
    let url = "/plugins/api/test_plugin/version/0.0.1/update/";
    for method in [Method::GET, Method::POST] {
        let (ct, body) =
            multipart(&[("package", Some("p.zip"), &plugin_zip("test_plugin", "0.0.2"))]);
        let r = call(&env.app, method, url, &[bearer(&token), ct], body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.json()["detail"],
            "You cannot edit an approved version, please create a new version instead."
        );
    }
    assert!(version_exists(&env, "0.0.1") && !version_exists(&env, "0.0.2"));
    // Unknown version: 404.
    let r = token_upload(
        &env,
        &token,
        "/plugins/api/test_plugin/version/9.9/update/",
        &plugin_zip("test_plugin", "0.0.2"),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn update_version_with_invalid_token() {
    let env = env();
    let _ = plugin_with_token(&env, "author").await;
    let r = token_upload(
        &env,
        "invalid_token",
        "/plugins/api/test_plugin/version/0.0.1/update/",
        &plugin_zip("test_plugin", "0.0.2"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(version_exists(&env, "0.0.1") && !version_exists(&env, "0.0.2"));
}

#[tokio::test]
async fn token_user_trust_decides_approval() {
    let env = env();
    add_user(&env, "trusted", false, true);
    let jwt = login(&env, "trusted").await;
    assert_eq!(web_upload(&env, &jwt, &plugin_zip("test_plugin", "0.0.1")).await.status, 201);
    let token =
        create_token(&env, &jwt, "test_plugin").await.json()["token"].as_str().unwrap().to_owned();
    let r = token_upload(&env, &token, ADD, &plugin_zip("test_plugin", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["approved"], true);
    assert!(r.json().get("approval_message").is_none());
    assert!(approved(&env, "0.0.2"));
}

#[tokio::test]
async fn api_response_structures() {
    let env = env();
    let (_, token) = plugin_with_token(&env, "author").await;
    // Missing package.
    let (ct, body) = multipart(&[]);
    let r = call(&env.app, Method::POST, ADD, &[bearer(&token), ct], body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let j = r.json();
    assert_eq!(j["success"], false);
    assert_eq!(j["error"], "Validation failed");
    assert!(j["errors"]["package"].is_array());
    // Empty POST without content type.
    let r = call(&env.app, Method::POST, ADD, &[bearer(&token)], "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["errors"].is_object());
    // A text file as package.
    let (ct, body) = multipart(&[("package", Some("x.txt"), b"hello, I am text")]);
    let r = call(&env.app, Method::POST, ADD, &[bearer(&token), ct], body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["success"], false);
    assert!(r.json()["error"].is_string());
    // Duplicate: 201 then 400.
    let zip = plugin_zip("test_plugin", "0.0.2");
    assert_eq!(token_upload(&env, &token, ADD, &zip).await.status, StatusCode::CREATED);
    let r = token_upload(&env, &token, ADD, &zip).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["success"], false);
    // GET with a valid token: 405 JSON.
    let r = call(&env.app, Method::GET, ADD, &[bearer(&token)], "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.json()["error"].as_str().unwrap().contains("Method not allowed"));
    // GET with an invalid token: 403 first.
    let r = call(&env.app, Method::GET, ADD, &[bearer("x")], "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Update 0.0.2 with the 0.0.3 zip.
    let r = token_upload(
        &env,
        &token,
        "/plugins/api/test_plugin/version/0.0.2/update/",
        &plugin_zip("test_plugin", "0.0.3"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    for key in ["success", "message", "version", "plugin_id", "version_id"] {
        assert!(r.json().get(key).is_some(), "{key}");
    }
    assert_eq!(r.json()["version"], "0.0.3");
    // The form's changelog wins over metadata.txt.
    let (ct, body) = multipart(&[
        ("changelog", None, b"From the form"),
        (
            "package",
            Some("p.zip"),
            &plugin_zip_with("test_plugin", "0.0.4", "changelog=From metadata"),
        ),
    ]);
    let r = call(&env.app, Method::POST, ADD, &[bearer(&token), ct], body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let changelog: String = env
        .conn()
        .query_row("SELECT changelog FROM plugin_versions WHERE version = '0.0.4'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(changelog, "From the form");
}

#[tokio::test]
async fn mismatched_package_name_is_refused() {
    let env = env();
    let (_, token) = plugin_with_token(&env, "author").await;
    let r = token_upload(&env, &token, ADD, &plugin_zip("different_name", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json()["error"].is_string());
    assert_eq!(env.count("SELECT count(*) FROM plugin_versions"), 1);
    assert_eq!(env.count("SELECT count(*) FROM plugins"), 1);
}

// ---------------------------------------------------------------- catalogue C

/// Signs arbitrary claims with the service secret.
fn forge(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn catalogue_c_every_bad_token_is_refused_and_nothing_written() {
    let env = env();
    let (jwt, token) = plugin_with_token(&env, "author").await;
    let now = chrono::Utc::now().timestamp();
    assert!(
        crate::auth::Keys::new(SECRET).verify(&token, crate::auth::TokenType::Upload, now).is_ok()
    );
    // The claims as they travel (the token's middle part).
    let payload = token.split('.').nth(1).unwrap();
    let base: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    )
    .unwrap();
    let with = |patch: Value| {
        let mut c = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // A second plugin and its token (token for another plugin).
    add_user(&env, "other", false, false);
    let other = login(&env, "other").await;
    assert_eq!(web_upload(&env, &other, &plugin_zip("other_plugin", "1.0")).await.status, 201);
    let other_token = create_token(&env, &other, "other_plugin").await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let h = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none_token =
        format!("{}.{}.", h.encode(r#"{"alg":"none","typ":"JWT"}"#), h.encode(base.to_string()));
    let cases: Vec<(&str, String)> = vec![
        ("expired", forge(&with(json!({"exp": now - 3600})), SECRET)),
        ("not yet valid", forge(&with(json!({"nbf": now + 600})), SECRET)),
        ("issued in the future", forge(&with(json!({"iat": now + 600})), SECRET)),
        ("wrong signature", forge(&base, b"another-secret-another-secret-0123456789")),
        ("alg none", none_token),
        ("token for another plugin", other_token.clone()),
        ("plugin id of another plugin", forge(&with(json!({"plugin_id": 2})), SECRET)),
        ("plugin id as string", forge(&with(json!({"plugin_id": "1"})), SECRET)),
        ("exp as string", forge(&with(json!({"exp": (now + 600).to_string()})), SECRET)),
        ("unknown refresh jti", forge(&with(json!({"refresh_jti": "nope"})), SECRET)),
        ("user token", jwt.clone()),
        (
            "user token with a plugin id",
            forge(
                &json!({"token_type": "user", "exp": now + 600, "iat": now, "jti": "x", "user_id": 1, "plugin_id": 1, "refresh_jti": base["refresh_jti"]}),
                SECRET,
            ),
        ),
        ("garbage", "a.b.c".into()),
    ];
    let files = env.stored_files();
    for (what, t) in &cases {
        let r = token_upload(&env, t, ADD, &plugin_zip("test_plugin", "0.0.2")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}");
        assert_eq!(r.text(), "Invalid token", "{what}");
    }
    // A plugin token is not a user token: 401 on the service's own API.
    let r = call(&env.app, Method::GET, "/api/v1/plugins/test_plugin", &[bearer(&token)], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Sanity: the real token works (then its version is removed again for the next cases).
    let r = token_upload(&env, &token, ADD, &plugin_zip("test_plugin", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = call(
        &env.app,
        Method::DELETE,
        "/api/v1/plugins/test_plugin/versions/0.0.2",
        &[bearer(&jwt)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(env.stored_files(), files);

    // Revoked: effective on the next request.
    let id = env.count("SELECT id FROM upload_tokens WHERE plugin_id = 1");
    let r = call(
        &env.app,
        Method::DELETE,
        &format!("/api/v1/plugins/test_plugin/tokens/{id}"),
        &[bearer(&jwt)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let used_before: Option<String> = env
        .conn()
        .query_row("SELECT last_used_at FROM upload_tokens WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let r = token_upload(&env, &token, ADD, &plugin_zip("test_plugin", "0.0.2")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "revoked");
    let used_after: Option<String> = env
        .conn()
        .query_row("SELECT last_used_at FROM upload_tokens WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    assert_eq!(used_before, used_after, "rejected calls do not count as use");

    // Blocked user: their token stops working.
    add_user(&env, "staff", true, false);
    let staff = login(&env, "staff").await;
    let r = call(&env.app, Method::POST, "/api/v1/users/other/block", &[bearer(&staff)], "").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = token_upload(
        &env,
        &other_token,
        "/plugins/api/other_plugin/version/add/",
        &plugin_zip("other_plugin", "2.0"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "blocked user");
    assert!(!version_exists(&env, "2.0"));
    assert!(!version_exists(&env, "0.0.2"));
}

#[tokio::test]
async fn token_of_a_removed_editor_or_deleted_plugin_is_refused() {
    let env = env();
    add_user(&env, "creator", false, false);
    add_user(&env, "helper", false, false);
    let creator = login(&env, "creator").await;
    let helper = login(&env, "helper").await;
    assert_eq!(web_upload(&env, &creator, &plugin_zip("test_plugin", "0.0.1")).await.status, 201);
    let patch = |owners: Value| {
        let (app, auth) = (env.app.clone(), bearer(&creator));
        async move {
            call(
                &app,
                Method::PATCH,
                "/api/v1/plugins/test_plugin",
                &[auth],
                json!({"owners": owners}).to_string(),
            )
            .await
        }
    };
    assert_eq!(patch(json!(["helper"])).await.status, StatusCode::OK);
    let t = create_token(&env, &helper, "test_plugin").await;
    assert_eq!(t.status, StatusCode::CREATED, "an owner creates tokens");
    let token = t.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        token_upload(&env, &token, ADD, &plugin_zip("test_plugin", "0.0.2")).await.status,
        201
    );
    assert_eq!(patch(json!([])).await.status, StatusCode::OK);
    let r = token_upload(&env, &token, ADD, &plugin_zip("test_plugin", "0.0.3")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no longer an editor");
    // Soft-deleted plugin: tokens refused, uploads refused.
    let ctoken = create_token(&env, &creator, "test_plugin").await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(&env.app, Method::DELETE, "/api/v1/plugins/test_plugin", &[bearer(&creator)], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = token_upload(&env, &ctoken, ADD, &plugin_zip("test_plugin", "0.0.3")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = web_upload(&env, &creator, &plugin_zip("test_plugin", "0.0.3")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(
        &env.app,
        Method::POST,
        "/api/v1/plugins/test_plugin/restore",
        &[bearer(&creator)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &env.app,
        Method::POST,
        "/api/v1/plugins/test_plugin/restore",
        &[bearer(&creator)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "restore of a plugin not deleted");
    assert_eq!(
        token_upload(&env, &ctoken, ADD, &plugin_zip("test_plugin", "0.0.3")).await.status,
        201
    );
}

#[tokio::test]
async fn token_listing_and_revocation_follow_the_reference_rules() {
    let env = env();
    add_user(&env, "creator", false, false);
    add_user(&env, "owner", false, false);
    add_user(&env, "stranger", false, false);
    let creator = login(&env, "creator").await;
    let owner = login(&env, "owner").await;
    let stranger = login(&env, "stranger").await;
    assert_eq!(web_upload(&env, &creator, &plugin_zip("test_plugin", "0.0.1")).await.status, 201);
    let r = call(
        &env.app,
        Method::PATCH,
        "/api/v1/plugins/test_plugin",
        &[bearer(&creator)],
        json!({"owners": ["owner"]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let c_id = create_token(&env, &creator, "test_plugin").await.json()["id"].as_i64().unwrap();
    let o_id = create_token(&env, &owner, "test_plugin").await.json()["id"].as_i64().unwrap();
    assert_eq!(create_token(&env, &stranger, "test_plugin").await.status, StatusCode::FORBIDDEN);
    let list = |t: String| {
        let app = env.app.clone();
        async move {
            call(&app, Method::GET, "/api/v1/plugins/test_plugin/tokens", &[bearer(&t)], "").await
        }
    };
    assert_eq!(list(creator.clone()).await.json()["tokens"].as_array().unwrap().len(), 2);
    assert_eq!(list(owner.clone()).await.json()["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(list(stranger.clone()).await.status, StatusCode::FORBIDDEN);
    let revoke = |t: String, id: i64| {
        let app = env.app.clone();
        async move {
            call(
                &app,
                Method::DELETE,
                &format!("/api/v1/plugins/test_plugin/tokens/{id}"),
                &[bearer(&t)],
                "",
            )
            .await
        }
    };
    assert_eq!(revoke(owner.clone(), c_id).await.status, StatusCode::NOT_FOUND);
    assert_eq!(revoke(stranger.clone(), o_id).await.status, StatusCode::FORBIDDEN);
    assert_eq!(revoke(creator.clone(), o_id).await.status, StatusCode::OK);
    assert_eq!(list(creator.clone()).await.json()["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(revoke(creator.clone(), 999).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE action IN ('token.create', 'token.revoke')"),
        3
    );
}

// ---------------------------------------------------------------- permission matrix

/// Reference §3.2 with decisions §5, for every write path: anonymous, a non-editor, an editor
/// of another plugin, an editor, a trusted editor, staff.
#[tokio::test]
async fn permission_matrix() {
    let env = env();
    for (name, staff, trusted) in [
        ("editor", false, false),
        ("trusted_editor", false, true),
        ("stranger", false, false),
        ("trusted_stranger", false, true),
        ("other_editor", false, false),
        ("staff", true, false),
    ] {
        add_user(&env, name, staff, trusted);
    }
    let mut jwt = std::collections::HashMap::new();
    for name in
        ["editor", "trusted_editor", "stranger", "trusted_stranger", "other_editor", "staff"]
    {
        jwt.insert(name, login(&env, name).await);
    }
    assert_eq!(
        web_upload(&env, &jwt["editor"], &plugin_zip("test_plugin", "1.0")).await.status,
        201
    );
    assert_eq!(
        web_upload(&env, &jwt["other_editor"], &plugin_zip("other_plugin", "1.0")).await.status,
        201
    );
    let r = call(
        &env.app,
        Method::PATCH,
        "/api/v1/plugins/test_plugin",
        &[bearer(&jwt["editor"])],
        json!({"owners": ["trusted_editor"]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    type Case = (Method, &'static str, Option<String>);
    // (action, request) → expected status per caller.
    let reviewed = json!({"sha256": stored_sha256(&env, "test_plugin", "1.0")}).to_string();
    let actions: Vec<(&str, Case)> = vec![
        (
            "approve",
            (Method::POST, "/api/v1/plugins/test_plugin/versions/1.0/approve", Some(reviewed)),
        ),
        ("unapprove", (Method::POST, "/api/v1/plugins/test_plugin/versions/1.0/unapprove", None)),
        ("token create", (Method::POST, "/api/v1/plugins/test_plugin/tokens", Some("{}".into()))),
        ("token list", (Method::GET, "/api/v1/plugins/test_plugin/tokens", None)),
        (
            "edit",
            (Method::PATCH, "/api/v1/plugins/test_plugin", Some(r#"{"deprecated": false}"#.into())),
        ),
        ("drafts", (Method::GET, "/api/v1/plugins/test_plugin", None)),
    ];
    let callers = [
        ("anonymous", None),
        ("stranger", Some("stranger")),
        ("trusted_stranger", Some("trusted_stranger")),
        ("other_editor", Some("other_editor")),
        ("editor", Some("editor")),
        ("trusted_editor", Some("trusted_editor")),
        ("staff", Some("staff")),
    ];
    for (action, (method, path, body)) in &actions {
        for (who, user) in &callers {
            let headers: Vec<(&str, String)> = user.map(|u| bearer(&jwt[u])).into_iter().collect();
            let r =
                call(&env.app, method.clone(), path, &headers, body.clone().unwrap_or_default())
                    .await;
            let approval = action.contains("approve");
            let expected = match *who {
                "anonymous" => StatusCode::UNAUTHORIZED,
                "stranger" | "trusted_stranger" | "other_editor" => StatusCode::FORBIDDEN,
                "editor" if approval => StatusCode::FORBIDDEN,
                _ if *action == "token create" => StatusCode::CREATED,
                _ => StatusCode::OK,
            };
            assert_eq!(r.status, expected, "{action} by {who}: {}", r.text());
        }
    }
    // Uploading a version: editors and staff only.
    for (who, version, expected) in [
        ("stranger", "2.0", StatusCode::FORBIDDEN),
        ("trusted_stranger", "2.0", StatusCode::FORBIDDEN),
        ("other_editor", "2.0", StatusCode::FORBIDDEN),
        ("editor", "2.0", StatusCode::CREATED),
        ("trusted_editor", "2.1", StatusCode::CREATED),
        ("staff", "2.2", StatusCode::CREATED),
    ] {
        let r = web_upload(&env, &jwt[who], &plugin_zip("test_plugin", version)).await;
        assert_eq!(r.status, expected, "upload by {who}: {}", r.text());
    }
    // Deleting a version: editors and staff.
    for (who, version, expected) in [
        ("stranger", "2.0", StatusCode::FORBIDDEN),
        ("other_editor", "2.0", StatusCode::FORBIDDEN),
        ("editor", "2.0", StatusCode::OK),
        ("staff", "2.1", StatusCode::OK),
        ("staff", "9.9", StatusCode::NOT_FOUND),
    ] {
        let r = call(
            &env.app,
            Method::DELETE,
            &format!("/api/v1/plugins/test_plugin/versions/{version}"),
            &[bearer(&jwt[who])],
            "",
        )
        .await;
        assert_eq!(r.status, expected, "delete {version} by {who}: {}", r.text());
    }
    // Soft delete: editors and staff.
    for (who, expected) in
        [("stranger", StatusCode::FORBIDDEN), ("other_editor", StatusCode::FORBIDDEN)]
    {
        let r =
            call(&env.app, Method::DELETE, "/api/v1/plugins/test_plugin", &[bearer(&jwt[who])], "")
                .await;
        assert_eq!(r.status, expected, "soft delete by {who}");
    }
    // Review queue: staff all, trusted users their plugins, others 403.
    let queue = |who: &'static str| {
        let t = jwt[who].clone();
        let app = env.app.clone();
        async move { call(&app, Method::GET, "/api/v1/review", &[bearer(&t)], "").await }
    };
    assert_eq!(queue("editor").await.status, StatusCode::FORBIDDEN);
    let staff_q = queue("staff").await.json();
    let trusted_q = queue("trusted_editor").await.json();
    let ts_q = queue("trusted_stranger").await.json();
    assert!(staff_q["count"].as_u64().unwrap() >= 2, "{staff_q}");
    assert!(
        trusted_q["versions"].as_array().unwrap().iter().all(|v| v["package"] == "test_plugin")
    );
    assert_eq!(ts_q["count"], 0);
    // Trust administration: staff only; block/unblock of staff → 404.
    for (who, path, expected) in [
        ("editor", "/api/v1/users/stranger/trust", StatusCode::FORBIDDEN),
        ("trusted_editor", "/api/v1/users/stranger/block", StatusCode::FORBIDDEN),
        ("staff", "/api/v1/users/stranger/trust", StatusCode::OK),
        ("staff", "/api/v1/users/stranger/untrust", StatusCode::OK),
        ("staff", "/api/v1/users/staff/block", StatusCode::NOT_FOUND),
        ("staff", "/api/v1/users/nobody/trust", StatusCode::NOT_FOUND),
        ("staff", "/api/v1/users/stranger/explode", StatusCode::NOT_FOUND),
    ] {
        let r = call(&env.app, Method::POST, path, &[bearer(&jwt[who])], "").await;
        assert_eq!(r.status, expected, "{path} by {who}: {}", r.text());
    }
    let r = call(&env.app, Method::POST, "/api/v1/users/editor/trust", &[], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let trusted: bool = env
        .conn()
        .query_row("SELECT can_approve FROM users WHERE username = 'stranger'", [], |r| r.get(0))
        .unwrap();
    assert!(!trusted);
    assert!(env.count("SELECT count(*) FROM events WHERE action LIKE 'user.%trust'") >= 2);
}

#[tokio::test]
async fn approval_is_idempotent_and_checks_the_stored_zip() {
    let env = env();
    add_user(&env, "author", false, false);
    add_user(&env, "staff", true, false);
    let author = login(&env, "author").await;
    let staff = login(&env, "staff").await;
    assert_eq!(web_upload(&env, &author, &plugin_zip("test_plugin", "1.0")).await.status, 201);
    assert_eq!(web_upload(&env, &author, &plugin_zip("test_plugin", "1.1")).await.status, 201);
    let rev0 = env.count("SELECT revision FROM plugins");
    let r = approve(&env, &staff, "test_plugin", "1.0").await;
    assert_eq!(r.json()["changed"], true);
    let r = approve(&env, &staff, "test_plugin", "1.0").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["changed"], false);
    assert_eq!(env.count("SELECT revision FROM plugins"), rev0 + 1, "one change, one bump");
    assert_eq!(env.count("SELECT count(*) FROM events WHERE action = 'version.approve'"), 1);
    assert_eq!(approve(&env, &staff, "test_plugin", "7.0").await.status, StatusCode::NOT_FOUND);
    assert_eq!(approve(&env, &staff, "nope", "1.0").await.status, StatusCode::NOT_FOUND);
    // A damaged stored zip is never published.
    let path: String = env
        .conn()
        .query_row("SELECT package_path FROM plugin_versions WHERE version = '1.1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    std::fs::write(env.data().join(path), b"corrupted").unwrap();
    assert_eq!(approve(&env, &staff, "test_plugin", "1.1").await.status, StatusCode::CONFLICT);
    assert!(!approved(&env, "1.1"));
    let r = call(
        &env.app,
        Method::POST,
        "/api/v1/plugins/test_plugin/versions/1.0/unapprove",
        &[bearer(&staff)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!approved(&env, "1.0"));
}

#[tokio::test]
async fn patch_plugin_owners_maintainer_deprecated() {
    let env = env();
    add_user(&env, "creator", false, false);
    add_user(&env, "helper", false, false);
    let creator = login(&env, "creator").await;
    let helper = login(&env, "helper").await;
    assert_eq!(web_upload(&env, &creator, &plugin_zip("test_plugin", "1.0")).await.status, 201);
    let patch = |body: Value| {
        let (app, auth) = (env.app.clone(), bearer(&creator));
        async move {
            call(&app, Method::PATCH, "/api/v1/plugins/test_plugin", &[auth], body.to_string())
                .await
        }
    };
    assert_eq!(patch(json!({"maintainer": "helper"})).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(patch(json!({"owners": ["nobody"]})).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(patch(json!({"colour": "red"})).await.status, StatusCode::BAD_REQUEST);
    let r = patch(json!({"owners": ["helper"], "maintainer": "helper", "deprecated": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    assert_eq!(j["owners"], json!(["helper"]));
    assert_eq!(j["maintainer"], "helper");
    assert_eq!(j["deprecated"], true);
    // The new owner may upload.
    assert_eq!(web_upload(&env, &helper, &plugin_zip("test_plugin", "1.1")).await.status, 201);
    // Removing the owner resets the maintainer to the creator.
    let j = patch(json!({"owners": []})).await.json();
    assert_eq!(j["maintainer"], "creator");
    assert_eq!(web_upload(&env, &helper, &plugin_zip("test_plugin", "1.2")).await.status, 403);
}

// ---------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn twenty_concurrent_uploads_of_one_version_one_wins() {
    let env = env();
    let (_, token) = plugin_with_token(&env, "author").await;
    let zip = plugin_zip("test_plugin", "0.0.2");
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (app, token, barrier) = (env.app.clone(), token.clone(), barrier.clone());
        // Half identical bytes, half different bytes of the same version.
        let zip = if i % 2 == 0 {
            zip.clone()
        } else {
            plugin_zip_with("test_plugin", "0.0.2", &format!("changelog=variant {i}"))
        };
        tasks.push(tokio::spawn(async move {
            let (ct, body) = multipart(&[("package", Some("p.zip"), &zip)]);
            barrier.wait().await;
            call(&app, Method::POST, ADD, &[bearer(&token), ct], body).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::BAD_REQUEST));
    assert_eq!(env.count("SELECT count(*) FROM plugin_versions WHERE version = '0.0.2'"), 1);
    let files: Vec<_> = env.stored_files().into_iter().filter(|f| f.contains("0.0.2")).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let (path, sha): (String, String) = env
        .conn()
        .query_row(
            "SELECT package_path, package_sha256 FROM plugin_versions WHERE version = '0.0.2'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let bytes = std::fs::read(env.data().join(path)).unwrap();
    assert_eq!(catalog::hash::sha256_hex(&bytes), sha, "the file is the winner's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_different_versions_all_succeed() {
    let env = env();
    let (_, token) = plugin_with_token(&env, "author").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (app, token) = (env.app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let zip = plugin_zip("test_plugin", &format!("1.{i}"));
            let (ct, body) = multipart(&[("package", Some("p.zip"), &zip)]);
            call(&app, Method::POST, ADD, &[bearer(&token), ct], body).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    assert_eq!(env.count("SELECT count(*) FROM plugin_versions"), 9);
    assert_eq!(env.stored_files().len(), 9);
}

// ---------------------------------------------------------------- store

#[tokio::test]
async fn startup_sweeps_orphans_and_keeps_referenced_zips() {
    let env = env();
    let _ = plugin_with_token(&env, "author").await;
    let kept = env.stored_files();
    let dir = env.data().join("packages/test_plugin");
    std::fs::write(dir.join("test_plugin.9.9-deadbeef0000.zip"), b"orphan").unwrap();
    std::fs::write(dir.join(".tmp-abc"), b"partial").unwrap();
    std::fs::create_dir_all(env.data().join("packages/ghost")).unwrap();
    std::fs::write(env.data().join("packages/ghost/ghost.1.0-000000000000.zip"), b"x").unwrap();
    let mut config = test_config(env.dir.path());
    config.rebuild = false;
    let _again = AppState::open(config, Rebuilder::disabled()).unwrap();
    assert_eq!(env.stored_files(), kept);
}

// ---------------------------------------------------------------- XML-RPC

fn rpc_upload_body(zip: &[u8], extra: &str) -> String {
    // As Python's xmlrpc.client writes it: base64 with line breaks every 76 characters.
    let b64 = base64::engine::general_purpose::STANDARD.encode(zip);
    let wrapped: Vec<&str> =
        b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>plugin.upload</methodName>\n<params>\n<param>\n<value><base64>\n{}\n</base64></value>\n</param>\n{extra}</params>\n</methodCall>\n",
        wrapped.join("\n")
    )
}

async fn rpc(env: &Env, auth: Option<(&str, &str)>, body: String) -> Resp {
    let mut headers = vec![("content-type", "text/xml".to_owned())];
    if let Some((u, p)) = auth {
        headers.push(basic(u, p));
    }
    call(&env.app, Method::POST, "/plugins/RPC2/", &headers, body).await
}

#[tokio::test]
async fn xmlrpc_upload_tags_faults_and_editor_check() {
    let env = env();
    add_user(&env, "author", false, false);
    add_user(&env, "mallory", false, true);
    let zip = plugin_zip("rpc_plugin", "1.0.1");
    // Anonymous and wrong password: HTTP 401 with a Basic challenge.
    let r = rpc(&env, None, rpc_upload_body(&zip, "")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let r = rpc(&env, Some(("author", "nope")), rpc_upload_body(&zip, "")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Success: [plugin_id, version_id].
    let r = rpc(&env, Some(("author", PASSWORD)), rpc_upload_body(&zip, "")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/xml; charset=utf-8");
    let (method, params) = super::handlers::xmlrpc::parse_call(
        r.text()
            .replace("methodResponse", "methodCall")
            .replace("<params>", "<methodName>r</methodName><params>")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(method, "r");
    let plugin_id = env.count("SELECT id FROM plugins WHERE package_name = 'rpc_plugin'");
    let version_id = env.count("SELECT id FROM plugin_versions WHERE version = '1.0.1'");
    assert_eq!(
        params,
        vec![super::handlers::xmlrpc::Value::Array(vec![
            super::handlers::xmlrpc::Value::Int(plugin_id),
            super::handlers::xmlrpc::Value::Int(version_id)
        ])]
    );
    assert!(!approved(&env, "1.0.1"));
    // Duplicate: fault code 1.
    let r = rpc(&env, Some(("author", PASSWORD)), rpc_upload_body(&zip, "")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("<fault>") && r.text().contains("<int>1</int>"), "{}", r.text());
    // The editor check the reference forgets: a trusted non-editor gets a fault.
    let r = rpc(
        &env,
        Some(("mallory", PASSWORD)),
        rpc_upload_body(&plugin_zip("rpc_plugin", "6.6.6"), ""),
    )
    .await;
    assert!(r.text().contains("<fault>"), "{}", r.text());
    assert!(!version_exists(&env, "6.6.6"));
    // Invalid zip: the reference's prefix.
    let r = rpc(&env, Some(("author", PASSWORD)), rpc_upload_body(b"not a zip", "")).await;
    assert!(
        r.text().contains("File upload must be a valid QGIS Python plugin compressed archive.")
    );
    // Optional boolean second argument is accepted.
    let r = rpc(
        &env,
        Some(("author", PASSWORD)),
        rpc_upload_body(
            &plugin_zip("rpc_plugin", "1.0.2"),
            "<param><value><boolean>1</boolean></value></param>\n",
        ),
    )
    .await;
    assert!(!r.text().contains("<fault>"), "{}", r.text());
    // plugin.tags needs no login, and lists only tags of approved versions (it is public).
    let tags_call = || {
        rpc(
            &env,
            None,
            "<?xml version='1.0'?><methodCall><methodName>plugin.tags</methodName><params/></methodCall>"
                .into(),
        )
    };
    let r = tags_call().await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text().contains("<string>example</string>"), "unreviewed tags: {}", r.text());
    add_user(&env, "boss", true, false);
    let boss = login(&env, "boss").await;
    assert_eq!(approve(&env, &boss, "rpc_plugin", "1.0.1").await.status, StatusCode::OK);
    let t = tags_call().await.text();
    assert!(t.contains("<string>example</string>") && t.contains("<string>python</string>"), "{t}");
    // Garbage, DOCTYPE (no entity expansion), unknown methods: faults, never a panic.
    for body in [
        "garbage".to_owned(),
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><methodCall><methodName>&a;</methodName></methodCall>".into(),
        "<methodCall><methodName>plugin.vote</methodName></methodCall>".into(),
        "<methodCall><methodName>plugin.upload</methodName><params><param><value><int>x</int></value></param></params></methodCall>".into(),
        format!("{}<methodCall>", "<a>".repeat(100)),
    ] {
        let r = rpc(&env, Some(("author", PASSWORD)), body).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text().contains("<fault>"));
    }
    let r = call(&env.app, Method::GET, "/plugins/RPC2/", &[], "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

// ---------------------------------------------------------------- instant regeneration

fn published_xml_contains(env: &Env, needle: &str) -> bool {
    let dir = env.site().join("current/plugins/xml");
    std::fs::read_dir(&dir).into_iter().flatten().flatten().any(|e| {
        e.path().extension().is_some_and(|x| x == "xml")
            && std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(needle))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_is_live_when_the_response_arrives() {
    let env = env_with_builds();
    add_user(&env, "author", false, false);
    add_user(&env, "staff", true, false);
    let author = login(&env, "author").await;
    let staff = login(&env, "staff").await;
    assert_eq!(web_upload(&env, &author, &plugin_zip("live_plugin", "1.0")).await.status, 201);
    let needle = "live_plugin.1.0.zip";
    // Let the build of the upload finish: still not in plugins.xml (unapproved).
    let ticket = env.app.rebuild.request();
    assert!(env.app.rebuild.wait_for(ticket, std::time::Duration::from_secs(60)).await.is_some());
    assert!(!published_xml_contains(&env, needle));
    let r = approve(&env, &staff, "live_plugin", "1.0").await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["live"], true, "{j}");
    assert!(j["live_after_ms"].as_u64().is_some());
    assert!(published_xml_contains(&env, needle), "approved version published on response");
    let r = call(
        &env.app,
        Method::POST,
        "/api/v1/plugins/live_plugin/versions/1.0/unapprove",
        &[bearer(&staff)],
        "",
    )
    .await;
    assert_eq!(r.json()["live"], true);
    assert!(!published_xml_contains(&env, needle), "unapproval is live too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuilds_coalesce() {
    let env = env_with_builds();
    let first = env.app.rebuild.request();
    env.app.rebuild.wait_for(first, std::time::Duration::from_secs(60)).await.unwrap();
    let builds_before = env.app.rebuild.status().builds;
    let mut last = 0;
    for _ in 0..50 {
        last = env.app.rebuild.request();
    }
    env.app.rebuild.wait_for(last, std::time::Duration::from_secs(60)).await.unwrap();
    let builds = env.app.rebuild.status().builds - builds_before;
    assert!((1..=2).contains(&builds), "50 requests caused {builds} builds");
    let s = env.app.rebuild.status();
    assert_eq!(s.completed, s.requested);
}

/// Approval and unapproval on the demo catalog are live (in the published plugins.xml) when
/// their responses arrive, repeatedly. Timings are printed, not asserted (`--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_is_live_when_answered_on_the_demo_catalog() {
    let dir = tempfile::tempdir().unwrap();
    generator::demo::seed(&dir.path().join("data"), false).unwrap();
    let config = test_config(dir.path());
    let rebuild = start_builds(&config);
    let app = AppState::open(config, rebuild).unwrap();
    let env = Env { dir, app };
    let first = env.app.rebuild.request();
    env.app.rebuild.wait_for(first, std::time::Duration::from_secs(120)).await.unwrap();
    add_user(&env, "staff", true, false);
    let staff = login(&env, "staff").await;
    let (pkg, version): (String, String) = env
        .conn()
        .query_row(
            "SELECT p.package_name, v.version FROM plugin_versions v JOIN plugins p
             ON p.id = v.plugin_id WHERE v.approved = 0 LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let needle = format!("{pkg}.{version}.zip");
    let mut approve_ms = Vec::new();
    let mut live_ms = Vec::new();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let r = approve(&env, &staff, &pkg, &version).await;
        approve_ms.push(t.elapsed().as_millis() as u64);
        assert_eq!(r.json()["live"], true);
        live_ms.push(r.json()["live_after_ms"].as_u64().unwrap());
        assert!(published_xml_contains(&env, &needle));
        let r = call(
            &env.app,
            Method::POST,
            &format!("/api/v1/plugins/{pkg}/versions/{version}/unapprove"),
            &[bearer(&staff)],
            "",
        )
        .await;
        assert_eq!(r.json()["live"], true);
        assert!(!published_xml_contains(&env, &needle));
    }
    approve_ms.sort_unstable();
    live_ms.sort_unstable();
    println!(
        "approval of {pkg} {version}: response median {} ms (max {}), build wait median {} ms (max {})",
        approve_ms[approve_ms.len() / 2],
        approve_ms[approve_ms.len() - 1],
        live_ms[live_ms.len() / 2],
        live_ms[live_ms.len() - 1]
    );
}

// ---------------------------------------------------------------- never a panic

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    #[test]
    fn xmlrpc_parser_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let _ = super::handlers::xmlrpc::parse_call(&body);
    }

    #[test]
    fn xmlrpc_parser_never_panics_on_near_valid_calls(
        name in "[a-z.]{0,20}",
        value in "<(int|boolean|string|base64|array|struct|double|nil)>[^<]{0,20}</(int|boolean|string|base64|data|struct|double)>",
    ) {
        let body = format!(
            "<?xml version='1.0'?><methodCall><methodName>{name}</methodName><params><param><value>{value}</value></param></params></methodCall>"
        );
        let _ = super::handlers::xmlrpc::parse_call(body.as_bytes());
    }

    #[test]
    fn path_segments_never_panic(path in "/[a-zA-Z0-9%/._~-]{0,60}") {
        let _ = crate::http::route::Route::parse(&Method::GET, &path);
    }

    #[test]
    fn authorization_parsing_never_panics(value in "[ -~]{0,200}") {
        let mut h = hyper::HeaderMap::new();
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            h.insert(hyper::header::AUTHORIZATION, v);
        }
        if let crate::auth::Credentials::Bearer(t) = crate::auth::credentials(&h) {
            let _ = crate::auth::Keys::new(SECRET).verify(&t, crate::auth::TokenType::Upload, 0);
        }
    }
}

/// E5: a change committed before a crash (no build ran) is published by the startup build.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn startup_build_publishes_changes_committed_before_a_crash() {
    let env = env();
    add_user(&env, "trusted", false, true);
    let jwt = login(&env, "trusted").await;
    assert_eq!(
        web_upload(&env, &jwt, &plugin_zip("crash_plugin", "1.0")).await.json()["approved"],
        true
    );
    assert!(!published_xml_contains(&env, "crash_plugin.1.0.zip"), "no build ran");
    // "Restart" with the rebuild worker, as `uploader serve` does.
    let config = test_config(env.dir.path());
    let rebuild = start_builds(&config);
    let restarted = AppState::open(config, rebuild).unwrap();
    assert!(restarted.rebuild.wait_for(1, std::time::Duration::from_secs(60)).await.is_some());
    assert!(published_xml_contains(&env, "crash_plugin.1.0.zip"));
    let health = call(&restarted, Method::GET, "/healthz", &[], "").await;
    assert_eq!(health.status, StatusCode::OK);
}
