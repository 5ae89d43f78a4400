//! Handlers of per-plugin upload tokens (decisions §6, reference §5.7): `POST` and `GET`
//! `/api/v1/plugins/<pkg>/tokens`, `DELETE /api/v1/plugins/<pkg>/tokens/<id>`; user JWT.
//!
//! A token is shown once, in the creation response; only its SHA-256 and `jti` are stored.
//! Editors and staff create tokens; staff and the plugin's creator list and revoke every live
//! token of the plugin, other editors only their own. Revocation is effective on the next
//! request (every upload checks the row).

use bytes::Bytes;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use catalog::ids::TokenId;
use catalog::tokens::UploadToken;

use super::{bearer_user, parse_json};
use crate::app::App;
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::services::api_time as fmt_api_time;
use crate::services::tokens::{self, TokenRequest};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    description: String,
    /// Shorter lifetimes than the default (one year) may be asked for.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// `POST /api/v1/plugins/<pkg>/tokens` → `{"id", "token", "expires_at"}` (token shown once).
pub(crate) async fn create(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let body: CreateBody = parse_json(req.body())?;
    let request =
        TokenRequest { description: body.description, expires_in_days: body.expires_in_days };
    let (plugin, minted) = tokens::create(app, &user, package, request).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "id": minted.id,
            "token": minted.token,
            "expires_at": fmt_api_time(minted.expires_at),
            "plugin": plugin.package_name,
            "message": "This token is displayed only once: store it in a secure place (e.g. a CI secret). If it is lost, create a new one.",
        }),
    ))
}

fn token_json(t: &UploadToken) -> serde_json::Value {
    json!({
        "id": t.id,
        "description": t.description,
        "user": t.username,
        "created_at": fmt_api_time(t.created_at),
        "expires_at": fmt_api_time(t.expires_at),
        "last_used_at": t.last_used_at.map(fmt_api_time),
    })
}

/// `GET /api/v1/plugins/<pkg>/tokens`: live tokens, newest first.
pub(crate) async fn list(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let tokens = tokens::list(app, user, package).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"tokens": tokens.iter().map(token_json).collect::<Vec<_>>()}),
    ))
}

/// `DELETE /api/v1/plugins/<pkg>/tokens/<id>`: revokes at once (no un-revoke).
pub(crate) async fn revoke(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    id: Option<TokenId>,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let id = id.ok_or_else(|| ApiError::NotFound("No such token.".into()))?;
    let revoked = tokens::revoke(app, &user, package, id).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"id": revoked, "revoked": true, "message": "The token has been revoked."}),
    ))
}
