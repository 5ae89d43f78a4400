//! Accounts: `POST /api/v1/token` (username and password → short-lived user JWT) and the
//! staff actions `POST /api/v1/users/<name>/trust|untrust|block|unblock` (reference §3.6).
//! Also the account creation used by `uploader user add`.

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use hyper::{Request, StatusCode};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::json;

use catalog::accounts::NewUser;

use super::{
    BasicAuth, check_password, fmt_api_time, immediate, now, parse_json, user_from_bearer,
};
use crate::app::App;
use crate::auth;
use crate::error::{ApiError, ApiResult, json_response};

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /api/v1/token` with `{"username", "password"}` → `{"token", "expires_at"}`.
pub async fn token(app: &App, req: Request<Bytes>) -> ApiResult {
    let login: Login = parse_json(req.body())?;
    let wrong = || ApiError::Unauthorized("Invalid username or password.".into());
    let user = match check_password(app, login.username, login.password).await? {
        BasicAuth::Ok(user) => user,
        BasicAuth::Blocked => return Err(ApiError::Forbidden("This account is blocked.".into())),
        BasicAuth::Missing | BasicAuth::Wrong => return Err(wrong()),
    };
    let ttl = app.config.user_token_ttl.as_secs() as i64;
    let (token, exp) = app.keys.user_token(user.id, now().timestamp(), ttl)?;
    let expires_at = Utc.timestamp_opt(exp, 0).single().map(fmt_api_time);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "token": token,
            "token_type": "Bearer",
            "expires_at": expires_at,
            "username": user.username,
        }),
    ))
}

/// `POST /api/v1/users/<name>/<action>`: staff only. Blocking and unblocking apply only to
/// non-staff users (404 otherwise, as the reference).
pub async fn user_action(app: &App, req: &Request<Bytes>, name: &str, action: &str) -> ApiResult {
    let actor = user_from_bearer(app, req.headers()).await?;
    if !(actor.is_staff || actor.is_superuser) {
        return Err(ApiError::Forbidden("Only staff can change trust and block users.".into()));
    }
    let action = match action {
        "trust" | "untrust" | "block" | "unblock" => action.to_owned(),
        _ => return Err(ApiError::NotFound("No such resource.".into())),
    };
    let name = name.to_owned();
    let done = action.clone();
    let user = app
        .db(move |conn| {
            let tx = immediate(conn)?;
            let not_found = || ApiError::NotFound(format!("There is no user `{name}`."));
            let target = catalog::accounts::user_by_name(&tx, &name)?.ok_or_else(not_found)?;
            let now = now();
            match action.as_str() {
                "trust" => catalog::accounts::set_user_trusted(&tx, target.id, true)?,
                "untrust" => catalog::accounts::set_user_trusted(&tx, target.id, false)?,
                _ if target.is_staff || target.is_superuser => return Err(not_found()),
                "block" => catalog::accounts::set_user_active(&tx, target.id, false)?,
                _ => catalog::accounts::set_user_active(&tx, target.id, true)?,
            }
            catalog::events::log_event(
                &tx,
                now,
                Some(actor.id),
                &format!("user.{action}"),
                None,
                &json!({"user": target.username}).to_string(),
            )?;
            let updated = catalog::accounts::user_by_id(&tx, target.id)?.ok_or_else(not_found)?;
            tx.commit()?;
            Ok(updated)
        })
        .await?;
    // Trust shows in plugins.xml (`trusted` of versions the user uploaded).
    let ticket = app.rebuild.request();
    let (live, live_after_ms) = super::upload::wait_live(app, ticket).await;
    let u = &user.username;
    let message = match done.as_str() {
        "trust" => format!("The user {u} is now a trusted user."),
        "untrust" => format!("The user {u} is now an untrusted user."),
        "block" => format!("The user {u} is now blocked."),
        _ => format!("The user {u} is now unblocked."),
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "username": user.username,
            "trusted": user.can_approve,
            "active": user.is_active,
            "staff": user.is_staff,
            "message": message,
            "live": live,
            "live_after_ms": live_after_ms,
        }),
    ))
}

/// Creates an account (`uploader user add`). The password is hashed with argon2id.
pub fn add_user(
    conn: &mut Connection,
    username: &str,
    email: &str,
    password: Option<&str>,
    staff: bool,
    trusted: bool,
) -> anyhow::Result<i64> {
    let name = username.trim();
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= 150
            && name.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)),
        "user name `{username}` is invalid: use at most 150 letters, digits and @.+-_"
    );
    if let Some(pw) = password {
        anyhow::ensure!(
            pw.chars().count() >= 8,
            "the password is too short: at least 8 characters"
        );
    }
    let hash = password.map(auth::hash_password).transpose()?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    anyhow::ensure!(
        catalog::accounts::user_by_name(&tx, name)?.is_none(),
        "user `{name}` already exists"
    );
    let now = now();
    let id = catalog::accounts::create_user(
        &tx,
        &NewUser {
            username: name.to_owned(),
            email: email.to_owned(),
            password_hash: hash,
            is_staff: staff,
            is_superuser: false,
            can_approve: trusted,
        },
        now,
    )?;
    catalog::events::log_event(
        &tx,
        now,
        None,
        "user.create",
        None,
        &json!({"user": name, "staff": staff, "trusted": trusted}).to_string(),
    )?;
    tx.commit()?;
    Ok(id)
}
