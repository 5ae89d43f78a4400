//! Per-plugin upload tokens (decisions §6, reference §5.7): `POST` and `GET`
//! `/api/v1/plugins/<pkg>/tokens`, `DELETE /api/v1/plugins/<pkg>/tokens/<id>`; user JWT.
//!
//! A token is shown once, in the creation response; only its SHA-256 and `jti` are stored.
//! Editors and staff create tokens; staff and the plugin's creator list and revoke every live
//! token of the plugin, other editors only their own. Revocation is effective on the next
//! request (every upload checks the row).

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use hyper::{Request, StatusCode};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::json;

use catalog::accounts::User;
use catalog::plugins::PluginRow;
use catalog::tokens::NewUploadToken;
use catalog::tokens::UploadToken;

use super::{can_edit, fmt_api_time, immediate, now, parse_json, plugin_or_404, user_from_bearer};
use crate::app::App;
use crate::auth::{self, Keys};
use crate::error::{ApiError, ApiResult, json_response};

/// Longest token description (as the reference).
pub const MAX_DESCRIPTION: usize = 512;

/// A freshly minted token.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub id: i64,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Mints a token for `plugin` on behalf of `user` and records it (inside the caller's
/// transaction). Also used by `uploader token create`.
pub fn mint(
    conn: &Connection,
    keys: &Keys,
    plugin: &PluginRow,
    user: &User,
    description: &str,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<MintedToken> {
    let ttl = Duration::from_std(ttl)?;
    let expires_at = now + ttl;
    let jti = auth::new_jti();
    let token = keys.plugin_token(plugin.id, &jti, now.timestamp(), expires_at.timestamp())?;
    let id = catalog::tokens::insert_upload_token(
        conn,
        &NewUploadToken {
            jti,
            token_sha256: auth::token_hash(&token),
            plugin_id: plugin.id,
            user_id: user.id,
            description: description.to_owned(),
            expires_at,
        },
        now,
    )?;
    catalog::events::log_event(
        conn,
        now,
        Some(user.id),
        "token.create",
        Some(plugin.id),
        &json!({"token_id": id, "expires_at": fmt_api_time(expires_at)}).to_string(),
    )?;
    Ok(MintedToken { id, token, expires_at })
}

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
pub async fn create(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let body: CreateBody = parse_json(req.body())?;
    let description = body.description.trim().to_owned();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::BadRequest(format!(
            "The description is too long: at most {MAX_DESCRIPTION} characters."
        )));
    }
    let default_ttl = app.config.plugin_token_ttl;
    let ttl = match body.expires_in_days {
        Some(0) => {
            return Err(ApiError::BadRequest("`expires_in_days` must be at least 1.".into()));
        }
        Some(days) => default_ttl.min(std::time::Duration::from_secs(u64::from(days) * 86_400)),
        None => default_ttl,
    };
    let package = package.to_owned();
    let app2 = app.clone();
    let (plugin, minted) = app
        .db(move |conn| {
            let tx = immediate(conn)?;
            let plugin = plugin_or_404(&tx, &package)?;
            if !can_edit(&tx, &plugin, &user)? {
                return Err(ApiError::Forbidden(format!(
                    "Only editors of `{}` and staff can create its tokens.",
                    plugin.package_name
                )));
            }
            let minted = mint(&tx, &app2.keys, &plugin, &user, &description, ttl, now())?;
            tx.commit()?;
            Ok((plugin, minted))
        })
        .await?;
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

/// Staff and the plugin's creator manage every token; other editors their own.
fn sees_all(plugin: &PluginRow, user: &User) -> bool {
    user.is_staff || user.is_superuser || plugin.created_by == user.id
}

/// `GET /api/v1/plugins/<pkg>/tokens`: live tokens, newest first.
pub async fn list(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let package = package.to_owned();
    let tokens = app
        .db(move |conn| {
            let plugin = plugin_or_404(conn, &package)?;
            if !can_edit(conn, &plugin, &user)? {
                return Err(ApiError::Forbidden(format!(
                    "Only editors of `{}` and staff can see its tokens.",
                    plugin.package_name
                )));
            }
            let only = (!sees_all(&plugin, &user)).then_some(user.id);
            Ok(catalog::tokens::live_upload_tokens(conn, plugin.id, only, now())?)
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"tokens": tokens.iter().map(token_json).collect::<Vec<_>>()}),
    ))
}

/// `DELETE /api/v1/plugins/<pkg>/tokens/<id>`: revokes at once (no un-revoke).
pub async fn revoke(app: &App, req: &Request<Bytes>, package: &str, id: &str) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let not_found = || ApiError::NotFound("No such token.".into());
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let package = package.to_owned();
    let revoked = app
        .db(move |conn| {
            let tx = immediate(conn)?;
            let plugin = plugin_or_404(&tx, &package)?;
            if !can_edit(&tx, &plugin, &user)? {
                return Err(ApiError::Forbidden(format!(
                    "Only editors of `{}` and staff can revoke its tokens.",
                    plugin.package_name
                )));
            }
            let token =
                catalog::tokens::upload_token_by_id(&tx, plugin.id, id)?.ok_or_else(not_found)?;
            if !sees_all(&plugin, &user) && token.user_id != user.id {
                return Err(not_found());
            }
            let now = now();
            let changed = catalog::tokens::revoke_upload_token(&tx, token.id, now)?;
            if changed {
                catalog::events::log_event(
                    &tx,
                    now,
                    Some(user.id),
                    "token.revoke",
                    Some(plugin.id),
                    &json!({"token_id": token.id}).to_string(),
                )?;
            }
            tx.commit()?;
            Ok(token.id)
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"id": revoked, "revoked": true, "message": "The token has been revoked."}),
    ))
}
