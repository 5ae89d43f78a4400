//! Request handlers, one module per resource, and the helpers they share: authentication of
//! user JWTs and HTTP Basic, permission checks of reference §3.2 with decisions §5, JSON
//! parsing, and `BEGIN IMMEDIATE` transactions.

pub mod accounts;
pub mod review;
pub mod token_api;
pub mod tokens;
pub mod upload;
pub mod xmlrpc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::HeaderMap;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::de::DeserializeOwned;

use catalog::accounts::User;
use catalog::plugins::PluginRow;

use crate::app::{App, AppState};
use crate::auth::{self, Credentials, USER_TOKEN};
use crate::error::ApiError;

/// The service clock.
pub fn now() -> DateTime<Utc> {
    catalog::time::now()
}

/// Starts a write transaction that takes the write lock at once (decisions §7).
pub fn immediate(conn: &mut Connection) -> Result<Transaction<'_>, ApiError> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

const BAD_TOKEN: &str = "Missing, invalid or expired token: send `Authorization: Bearer <token>` with a token from POST /api/v1/token.";

/// The active user named by a user JWT in `Authorization: Bearer`. 401 for missing or bad
/// tokens (signature and claims are checked before any database access), 403 for blocked
/// accounts. Authority comes from the database row, not from the token.
pub async fn user_from_bearer(app: &App, headers: &HeaderMap) -> Result<User, ApiError> {
    let Credentials::Bearer(token) = auth::credentials(headers) else {
        return Err(ApiError::Unauthorized(BAD_TOKEN.into()));
    };
    let claims = app
        .keys
        .verify(&token, USER_TOKEN, now().timestamp())
        .map_err(|_| ApiError::Unauthorized(BAD_TOKEN.into()))?;
    let user_id = claims.user_id.ok_or_else(|| ApiError::Unauthorized(BAD_TOKEN.into()))?;
    let user = app.db(move |conn| Ok(catalog::accounts::user_by_id(conn, user_id)?)).await?;
    let user = user.ok_or_else(|| ApiError::Unauthorized(BAD_TOKEN.into()))?;
    if !user.is_active {
        return Err(ApiError::Forbidden("This account is blocked.".into()));
    }
    Ok(user)
}

/// Outcome of checking HTTP Basic credentials.
pub enum BasicAuth {
    Missing,
    Wrong,
    Blocked,
    Ok(User),
}

/// Checks HTTP Basic credentials (argon2id, in a blocking task, outside the writer lock).
pub async fn user_from_basic(app: &App, headers: &HeaderMap) -> Result<BasicAuth, ApiError> {
    let (username, password) = match auth::credentials(headers) {
        Credentials::Basic { username, password } => (username, password),
        Credentials::None => return Ok(BasicAuth::Missing),
        _ => return Ok(BasicAuth::Wrong),
    };
    check_password(app, username, password).await
}

/// Looks a user up and verifies the password; unknown users cost the same time. The account's
/// throttle is consulted first (429 without hashing), then a hashing slot is awaited for at
/// most `hash_wait` (503 `busy` after that): a flood never holds connections for long.
pub async fn check_password(
    app: &App,
    username: String,
    password: String,
) -> Result<BasicAuth, ApiError> {
    app.login_throttle
        .begin(&username, std::time::Instant::now())
        .map_err(ApiError::TooManyAttempts)?;
    let slot = match tokio::time::timeout(app.config.hash_wait, app.hash_slots.acquire()).await {
        Ok(Ok(slot)) => slot,
        Ok(Err(_)) => return Err(ApiError::Unavailable("The service is shutting down.".into())),
        Err(_) => {
            app.login_throttle.cancel(&username);
            return Err(ApiError::Busy);
        }
    };
    let name = username.clone();
    let user = if username.is_empty() || username.len() > 150 {
        None
    } else {
        app.db(move |conn| Ok(catalog::accounts::user_by_name(conn, &name)?)).await?
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    app.password_checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ok = AppState::blocking(move || auth::verify_password(hash.as_deref(), &password)).await?;
    drop(slot);
    if ok {
        app.login_throttle.succeeded(&username);
    }
    Ok(match user {
        Some(u) if ok && !u.is_active => BasicAuth::Blocked,
        Some(u) if ok => BasicAuth::Ok(u),
        _ => BasicAuth::Wrong,
    })
}

/// Parses a JSON body; an empty body parses as `{}` when `T` allows it.
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let bytes: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!("The request body is not the expected JSON: {e}"))
    })
}

/// The plugin named in the URL, or 404.
pub fn plugin_or_404(conn: &Connection, package: &str) -> Result<PluginRow, ApiError> {
    catalog::plugins::plugin_by_package(conn, package)?
        .ok_or_else(|| ApiError::NotFound(format!("There is no plugin `{package}`.")))
}

/// Editor of the plugin (creator or owner), or staff (reference §3.1).
pub fn can_edit(conn: &Connection, plugin: &PluginRow, user: &User) -> Result<bool, ApiError> {
    Ok(user.is_staff || user.is_superuser || catalog::plugins::is_editor(conn, plugin.id, user.id)?)
}

/// Approver of the plugin: staff, or a trusted editor (decisions §5).
pub fn can_approve(conn: &Connection, plugin: &PluginRow, user: &User) -> Result<bool, ApiError> {
    Ok(user.is_staff
        || user.is_superuser
        || (user.can_approve && catalog::plugins::is_editor(conn, plugin.id, user.id)?))
}

/// Whether uploads of `user` are approved at once (decisions §5: trusted users and staff).
pub fn uploads_auto_approved(user: &User) -> bool {
    user.can_approve || user.is_staff || user.is_superuser
}

/// Formats a time as the API shows it (RFC 3339, UTC, seconds).
pub fn fmt_api_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests;
