//! Accounts: `POST /api/v1/token` (username and password → short-lived user JWT) and the
//! staff actions `POST /api/v1/users/<name>/trust|untrust|block|unblock` (reference §3.6).

use bytes::Bytes;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{bearer_user, parse_json};
use crate::app::App;
use crate::http::error::{ApiResult, json_response};
use crate::services::accounts::{self, UserAction};
use crate::services::api_time;

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /api/v1/token` with `{"username", "password"}` → `{"token", "expires_at"}`.
pub(crate) async fn login(app: &App, req: &Request<Bytes>) -> ApiResult {
    let login: Login = parse_json(req.body())?;
    let issued = accounts::login(app, login.username, login.password).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "token": issued.token,
            "token_type": "Bearer",
            "expires_at": issued.expires_at.map(api_time),
            "username": issued.user.username,
        }),
    ))
}

/// `POST /api/v1/users/<name>/<action>`: staff only.
pub(crate) async fn user_action(
    app: &App,
    req: &Request<Bytes>,
    name: &str,
    action: Option<UserAction>,
) -> ApiResult {
    let actor = bearer_user(app, req.headers()).await?;
    let applied = accounts::user_action(app, &actor, name, action).await?;
    let user = applied.value;
    let u = &user.username;
    let message = match action {
        Some(UserAction::Trust) => format!("The user {u} is now a trusted user."),
        Some(UserAction::Untrust) => format!("The user {u} is now an untrusted user."),
        Some(UserAction::Block) => format!("The user {u} is now blocked."),
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
            "live": applied.live.live,
            "live_after_ms": applied.live.after_ms,
        }),
    ))
}
