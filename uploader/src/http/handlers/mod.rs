//! Thin handlers, one module per resource: each reads the request (credentials, JSON,
//! multipart), calls one service, and formats the outcome. Shared here: the credentials a
//! handler needs, JSON bodies, and `/healthz`.

pub(crate) mod accounts;
pub(crate) mod checks;
pub(crate) mod downloads;
pub(crate) mod feedback;
pub(crate) mod review;
pub(crate) mod token_api;
pub(crate) mod tokens;
pub(crate) mod upload;
pub(crate) mod xmlrpc;

use bytes::Bytes;
use hyper::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use catalog::accounts::User;

use super::error::{ApiError, ApiResult, json_response};
use crate::app::App;
use crate::auth::{self, Credentials};
use crate::services::accounts::{self as account_service, PasswordCheck};
use crate::services::change::Live;

/// The active user named by a user JWT in `Authorization: Bearer` (401 without one).
pub(crate) async fn bearer_user(app: &App, headers: &HeaderMap) -> Result<User, ApiError> {
    let Credentials::Bearer(token) = auth::credentials(headers) else {
        return Err(account_service::bad_token().into());
    };
    Ok(account_service::user_for_token(app, &token).await?)
}

/// What HTTP Basic credentials name.
pub(crate) enum BasicAuth {
    Missing,
    Wrong,
    Blocked,
    Ok(User),
}

/// Checks HTTP Basic credentials (argon2id, in a blocking task, outside the writer lock).
pub(crate) async fn basic_user(app: &App, headers: &HeaderMap) -> Result<BasicAuth, ApiError> {
    let (username, password) = match auth::credentials(headers) {
        Credentials::Basic { username, password } => (username, password),
        Credentials::None => return Ok(BasicAuth::Missing),
        _ => return Ok(BasicAuth::Wrong),
    };
    Ok(match account_service::check_password(app, username, password).await? {
        PasswordCheck::Ok(user) => BasicAuth::Ok(user),
        PasswordCheck::Blocked => BasicAuth::Blocked,
        PasswordCheck::Wrong => BasicAuth::Wrong,
    })
}

/// Parses a JSON body; an empty body parses as `{}` when `T` allows it.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let bytes: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!("The request body is not the expected JSON: {e}"))
    })
}

/// Sets `live` and `live_after_ms` of a response body.
pub(crate) fn with_live(mut body: serde_json::Value, live: Live) -> serde_json::Value {
    body["live"] = serde_json::json!(live.live);
    body["live_after_ms"] = serde_json::json!(live.after_ms);
    body
}

/// `GET /healthz`: ready once the first build is live (or building is off).
pub(crate) fn health(app: &App) -> ApiResult {
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
