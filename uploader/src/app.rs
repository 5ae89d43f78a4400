//! The application's shared state: configuration, keys, the single writer connection, the
//! store, the rebuild worker, the throttles. Imported by the edge (`http`) and the services
//! alike; imports neither.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use rusqlite::Connection;

use crate::auth::Keys;
use crate::change_throttle::ChangeThrottle;
use crate::config::ServiceConfig;
use crate::rebuild::Rebuilder;
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
    /// The site's templates (the workplace's pages share `base.html` and the assets).
    pub templates: generator::templates::Templates,
    /// Wakes the scan worker (an upload queued a scan).
    pub scan_wake: tokio::sync::Notify,
    /// Counts finished scans; approvals of a version still being scanned wait on it.
    pub scan_done: tokio::sync::watch::Sender<u64>,
    /// Wakes the mail sender (a transaction wrote to the outbox).
    pub mail_wake: tokio::sync::Notify,
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
        let templates = generator::templates::Templates::load(&config.site.templates_dir)
            .context("failed to load the templates of the workplace pages")?;
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
            templates,
            scan_wake: tokio::sync::Notify::new(),
            scan_done: tokio::sync::watch::Sender::new(0),
            mail_wake: tokio::sync::Notify::new(),
        }))
    }

    /// Runs `f` with the writer connection in a blocking task.
    pub async fn db<T, E, F>(self: &Arc<Self>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier closure rolled its transaction back while unwinding; the
            // connection itself is fine.
            let mut conn = this.db.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(anyhow::anyhow!("database task failed: {e}")))?
    }

    /// Runs CPU-heavy work (validation, password hashing) in a blocking task.
    pub async fn blocking<T, F>(f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        tokio::task::spawn_blocking(f).await.map_err(|e| anyhow::anyhow!("worker task failed: {e}"))
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
