//! The domain operations of the service, between the HTTP edge (`http`) and the catalog:
//! each takes typed inputs and returns a typed outcome or a `ServiceError`, whatever the
//! transport. Never imports `http`; `cli` calls these too.
//!
//! Shared here: the clock, `BEGIN IMMEDIATE` transactions on the writer, the permission
//! checks of reference §3.2 with decisions §5, and the error type.

pub mod accounts;
pub(crate) mod change;
pub(crate) mod downloads;
pub(crate) mod feedback;
pub(crate) mod inspect;
pub(crate) mod review;
pub(crate) mod scans;
pub mod sessions;
pub(crate) mod tokens;
pub(crate) mod uploads;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use catalog::accounts::User;
use catalog::names::PluginVersion;
use catalog::plugins::PluginRow;
use catalog::versions::VersionRow;

use crate::app::App;
use crate::change_throttle::Throttled;
use crate::login_throttle::RetryAfter;

/// Why a service refused or failed; the edge maps each variant to one status code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is malformed or invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing, bad or expired user token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials without the right, or a blocked account (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource, or one the caller may not know of (404).
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The zip to approve is not the one the reviewer names (409).
    #[error("{0}")]
    ChangedSinceReview(String),
    /// This user's catalog changes come too fast (429).
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// Too many password attempts for this account (429).
    #[error("too many password attempts")]
    TooManyAttempts(RetryAfter),
    /// Every password-hashing slot stayed taken for the whole short wait (503).
    #[error("password checks are busy")]
    Busy,
    /// Temporarily unable: database busy, disk full, shutting down (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an environment failure; details go to the log only (500).
    #[error("internal error")]
    Internal(anyhow::Error),
}

/// Result of a service.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// The server's fault (5xx), not the request's.
    pub fn is_server_error(&self) -> bool {
        matches!(
            self,
            ServiceError::Busy | ServiceError::Unavailable(_) | ServiceError::Internal(_)
        )
    }
}

impl From<anyhow::Error> for ServiceError {
    fn from(e: anyhow::Error) -> Self {
        classify(e)
    }
}

impl From<rusqlite::Error> for ServiceError {
    fn from(e: rusqlite::Error) -> Self {
        classify(e.into())
    }
}

/// Environment failures a retry may cure are 503s (database busy, disk full, read-only
/// store); anything else is internal.
fn classify(e: anyhow::Error) -> ServiceError {
    for cause in e.chain() {
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = cause.downcast_ref::<rusqlite::Error>()
        {
            match f.code {
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    return ServiceError::Unavailable(
                        "The catalog is busy; try again in a few seconds.".into(),
                    );
                }
                rusqlite::ErrorCode::DiskFull => {
                    return ServiceError::Unavailable("The server is out of disk space.".into());
                }
                _ => {}
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull {
                return ServiceError::Unavailable("The server is out of disk space.".into());
            }
            if io.kind() == std::io::ErrorKind::ReadOnlyFilesystem {
                return ServiceError::Unavailable("The store is read-only.".into());
            }
        }
    }
    ServiceError::Internal(e)
}

/// The service clock.
pub fn now() -> DateTime<Utc> {
    catalog::time::now()
}

/// Formats a time as the API shows it (RFC 3339, UTC, seconds).
pub fn api_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs `f` on the writer connection in a blocking task.
pub(crate) async fn db<T, F>(app: &App, f: F) -> ServiceResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> ServiceResult<T> + Send + 'static,
{
    app.db(f).await
}

/// Starts a write transaction that takes the write lock at once (decisions §7).
pub(crate) fn immediate(conn: &mut Connection) -> ServiceResult<Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

/// The plugin named in the URL, or 404.
pub(crate) fn plugin_or_404(conn: &Connection, package: &str) -> ServiceResult<PluginRow> {
    catalog::plugins::plugin_by_package(conn, package)?
        .ok_or_else(|| ServiceError::NotFound(format!("There is no plugin `{package}`.")))
}

/// Editor of the plugin (creator or owner), or staff (reference §3.1).
pub(crate) fn can_edit(conn: &Connection, plugin: &PluginRow, user: &User) -> ServiceResult<bool> {
    Ok(user.is_staff || user.is_superuser || catalog::plugins::is_editor(conn, plugin.id, user.id)?)
}

/// Approver of the plugin: staff, or a trusted editor (decisions §5).
pub(crate) fn can_approve(
    conn: &Connection,
    plugin: &PluginRow,
    user: &User,
) -> ServiceResult<bool> {
    Ok(user.is_staff
        || user.is_superuser
        || (user.can_approve && catalog::plugins::is_editor(conn, plugin.id, user.id)?))
}

/// Whether uploads of `user` are approved at once (decisions §5: trusted users and staff).
pub(crate) fn uploads_auto_approved(user: &User) -> bool {
    user.can_approve || user.is_staff || user.is_superuser
}

/// The 403 of a caller who does not edit `plugin`: "Only editors of `pkg` and staff can
/// {what}."
pub(crate) fn forbid_non_editor(
    conn: &Connection,
    plugin: &PluginRow,
    user: &User,
    what: &str,
) -> ServiceResult<()> {
    if can_edit(conn, plugin, user)? {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "Only editors of `{}` and staff can {what}.",
            plugin.package_name
        )))
    }
}

/// The version named in the URL (any stored spelling), or 404.
pub(crate) fn version_or_404(
    conn: &Connection,
    plugin: &PluginRow,
    version: &str,
) -> ServiceResult<VersionRow> {
    let not_found = || {
        ServiceError::NotFound(format!(
            "Plugin `{}` has no version `{version}`.",
            plugin.package_name
        ))
    };
    // A look-up, not a new version: rows stored under older rules stay reachable.
    let v = PluginVersion::from_stored(version).map_err(|_| not_found())?;
    catalog::versions::version_by_key(conn, plugin.id, v.key())?.ok_or_else(not_found)
}

/// One version's private view (editors, staff and trusted users).
pub(crate) async fn version_info(
    app: &App,
    user: User,
    package: &str,
    version: &str,
) -> ServiceResult<(PluginRow, VersionRow)> {
    let (package, version) = (package.to_owned(), version.to_owned());
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        if !user.can_approve {
            forbid_non_editor(conn, &plugin, &user, "see its versions")?;
        }
        let row = version_or_404(conn, &plugin, &version)?;
        Ok((plugin, row))
    })
    .await
}
