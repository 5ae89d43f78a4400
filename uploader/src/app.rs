//! The application: shared state (configuration, keys, the single writer connection, the
//! store, the rebuild worker) and the router from `(method, path)` to the handlers in
//! `routes`. Requests arrive here with their body already read and bounded (`server`), so
//! tests call `handle` in-process with a `Request<Bytes>`.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use rusqlite::Connection;

use crate::auth::Keys;
use crate::change_throttle::ChangeThrottle;
use crate::config::ServiceConfig;
use crate::error::{ApiError, ApiResult, HttpResponse, json_response};
use crate::rebuild::Rebuilder;
use crate::routes;
use catalog::store::Store;

/// State shared by every request.
pub struct AppState {
    pub config: ServiceConfig,
    pub keys: Keys,
    /// The one writer connection (decisions §7); every statement runs behind this mutex in a
    /// blocking task, writes inside `BEGIN IMMEDIATE`.
    db: Mutex<Connection>,
    pub store: Store,
    pub rebuild: Arc<Rebuilder>,
    /// Bounds the memory of concurrent large bodies (zips held in memory while validated).
    pub upload_slots: tokio::sync::Semaphore,
    /// Bounds concurrent argon2 verifications (19 MiB and a core each): half the cores, so
    /// requests with a token always find a core free.
    pub hash_slots: tokio::sync::Semaphore,
    /// Per-user throttle of requests that change the catalog (and so rebuild the site).
    pub throttle: ChangeThrottle,
    /// Password attempts per account name.
    pub login_throttle: crate::login_throttle::Throttle,
    /// Password hashes verified since start (shown in `/healthz`; the abuse benchmark reads it).
    pub password_checks: std::sync::atomic::AtomicU64,
}

/// Handle to the shared state.
pub type App = Arc<AppState>;

impl AppState {
    /// Opens the catalog, sweeps orphan zips, and wires the rebuild worker (which must have
    /// been started on the runtime that will serve, unless building is disabled).
    pub fn open(config: ServiceConfig, rebuild: Arc<Rebuilder>) -> anyhow::Result<App> {
        let conn = catalog::open(&config.site.data_dir)?;
        let store = Store::new(&config.site.data_dir);
        let keep = catalog::versions::all_package_paths(&conn)?;
        let removed = store.sweep_orphans(&keep).context("failed to sweep the zip store")?;
        if removed > 0 {
            tracing::warn!(removed, "removed orphan files left by an interrupted upload");
        }
        let keys = Keys::new(&config.jwt_secret);
        let upload_slots = tokio::sync::Semaphore::new(config.max_concurrent_uploads.max(1));
        let hash_slots = tokio::sync::Semaphore::new(
            (std::thread::available_parallelism().map_or(2, |n| n.get()) / 2).clamp(1, 8),
        );
        let throttle = ChangeThrottle::new(config.throttle);
        let login_throttle =
            crate::login_throttle::Throttle::new(config.login_attempts, config.login_window);
        Ok(Arc::new(AppState {
            throttle,
            login_throttle,
            config,
            keys,
            db: Mutex::new(conn),
            store,
            rebuild,
            upload_slots,
            hash_slots,
            password_checks: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Runs `f` with the writer connection in a blocking task.
    pub async fn db<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier closure rolled its transaction back while unwinding; the
            // connection itself is fine.
            let mut conn = this.db.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("database task failed: {e}")))?
    }

    /// Runs CPU-heavy work (validation, password hashing) in a blocking task.
    pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("worker task failed: {e}")))
    }
}

/// Crash-test hook (reliability §6 H4): when `PLUGINS_FAILPOINT` names this point, the
/// process aborts here, as a `kill -9` would stop it. Points: `upload.before_commit` (zip
/// stored and synced, row not committed), `upload.after_commit` (committed, no response).
pub fn failpoint(name: &str) {
    if std::env::var_os("PLUGINS_FAILPOINT").is_some_and(|v| v == name) {
        tracing::error!(failpoint = name, "failpoint hit: aborting");
        std::process::abort();
    }
}

/// True for routes whose bodies carry zips (they take an upload slot while read).
pub fn is_upload_path(path: &str) -> bool {
    path.starts_with("/plugins/RPC2")
        || path.starts_with("/plugins/add")
        || path.starts_with("/plugins/api/")
}

/// True for the XML-RPC endpoint (authenticated before its body is read).
pub fn is_xmlrpc_path(path: &str) -> bool {
    path.starts_with("/plugins/RPC2")
}

/// Which body limit applies to a path (checked before the body is read).
pub fn body_limit(config: &ServiceConfig, path: &str) -> u64 {
    if path.starts_with("/plugins/RPC2") {
        config.max_xmlrpc_bytes()
    } else if path.starts_with("/plugins/add") || path.starts_with("/plugins/api/") {
        config.max_multipart_bytes()
    } else {
        config.max_json_bytes
    }
}

/// Splits a path into percent-decoded segments, ignoring one trailing slash.
/// `None` when a segment is not valid percent-encoded UTF-8 or is empty inside the path.
pub fn segments(path: &str) -> Option<Vec<String>> {
    let trimmed = path.strip_prefix('/')?;
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Some(Vec::new());
    }
    trimmed.split('/').map(percent_decode).collect()
}

fn percent_decode(seg: &str) -> Option<String> {
    if seg.is_empty() {
        return None;
    }
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = seg.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.contains(['/', '\0'])).then_some(s)
}

/// Routes one request (body already read) to its handler.
pub async fn handle(app: &App, req: Request<Bytes>) -> HttpResponse {
    match route(app, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn route(app: &App, req: Request<Bytes>) -> ApiResult {
    let Some(segs) = segments(req.uri().path()) else {
        return Err(ApiError::NotFound("No such resource.".into()));
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = req.method().clone();
    use routes::*;
    match segs.as_slice() {
        ["healthz"] => {
            only(&method, &[Method::GET, Method::HEAD], "GET, HEAD")?;
            health(app)
        }
        ["api", "v1", "token"] => {
            only(&method, &[Method::POST], "POST")?;
            accounts::token(app, req).await
        }
        ["api", "v1", "users", name, action] => {
            only(&method, &[Method::POST], "POST")?;
            accounts::user_action(app, &req, name, action).await
        }
        ["api", "v1", "review"] => {
            only(&method, &[Method::GET], "GET")?;
            review::queue(app, &req).await
        }
        ["api", "v1", "plugins", pkg] => match method {
            Method::GET => review::plugin_info(app, &req, pkg).await,
            Method::PATCH => review::patch_plugin(app, &req, pkg).await,
            Method::DELETE => review::delete_plugin(app, &req, pkg).await,
            _ => Err(ApiError::MethodNotAllowed { allow: "GET, PATCH, DELETE" }),
        },
        ["api", "v1", "plugins", pkg, "restore"] => {
            only(&method, &[Method::POST], "POST")?;
            review::restore_plugin(app, &req, pkg).await
        }
        ["api", "v1", "plugins", pkg, "tokens"] => match method {
            Method::GET => tokens::list(app, &req, pkg).await,
            Method::POST => tokens::create(app, &req, pkg).await,
            _ => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
        },
        ["api", "v1", "plugins", pkg, "tokens", id] => {
            only(&method, &[Method::DELETE], "DELETE")?;
            tokens::revoke(app, &req, pkg, id).await
        }
        ["api", "v1", "plugins", pkg, "versions", version] => match method {
            Method::GET => review::version_info(app, &req, pkg, version).await,
            Method::DELETE => review::delete_version(app, &req, pkg, version).await,
            _ => Err(ApiError::MethodNotAllowed { allow: "GET, DELETE" }),
        },
        ["api", "v1", "plugins", pkg, "versions", version, action @ ("approve" | "unapprove")] => {
            only(&method, &[Method::POST], "POST")?;
            review::set_approval(app, &req, pkg, version, *action == "approve").await
        }
        ["api", "v1", "download", pkg, version] => {
            only(&method, &[Method::GET, Method::HEAD], "GET")?;
            crate::downloads::private_download(app, &req, pkg, version).await
        }
        ["plugins", "add"] => {
            only(&method, &[Method::POST], "POST")?;
            upload::add(app, req).await
        }
        ["plugins", "api", pkg, "version", "add"] => Ok(token_api::add(app, req, pkg).await),
        ["plugins", "api", pkg, "version", version, "update"] => {
            Ok(token_api::update(app, req, pkg, version).await)
        }
        ["plugins", "RPC2"] => xmlrpc::handle(app, req).await,
        _ => Err(ApiError::NotFound("No such resource.".into())),
    }
}

/// Ok when `method` is allowed, else a 405 naming `allow`.
fn only(method: &Method, allowed: &[Method], allow: &'static str) -> Result<(), ApiError> {
    if allowed.contains(method) { Ok(()) } else { Err(ApiError::MethodNotAllowed { allow }) }
}

fn health(app: &App) -> ApiResult {
    let status = app.rebuild.status();
    let ready = !app.rebuild.is_enabled() || status.completed >= 1;
    Ok(json_response(
        if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE },
        &serde_json::json!({
            "status": if ready { "ok" } else { "starting" },
            "site": status,
            "password_checks": app.password_checks.load(std::sync::atomic::Ordering::Relaxed),
        }),
    ))
}
