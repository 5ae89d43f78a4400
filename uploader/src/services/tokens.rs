//! Per-plugin upload tokens (decisions §6, reference §5.7): mint, list, revoke, and the
//! check of a token presented to the token API (reference §5.9 plus the recommended checks).
//!
//! A token is shown once, when minted; only its SHA-256 and `jti` are stored. Editors and
//! staff create tokens; staff and the plugin's creator list and revoke every live token of
//! the plugin, other editors only their own. Revocation is effective on the next request
//! (every upload checks the row).

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use catalog::accounts::User;
use catalog::events::AuditEvent;
use catalog::ids::TokenId;
use catalog::plugins::PluginRow;
use catalog::tokens::{NewUploadToken, UploadToken};

use super::change::{self, Changed, Permission, Reach};
use super::{
    ServiceError, ServiceResult, api_time, can_edit, db, forbid_non_editor, now, plugin_or_404,
};
use crate::app::App;
use crate::auth::{self, Keys, TokenKind, TokenType};

/// Longest token description (as the reference).
pub(crate) const MAX_DESCRIPTION: usize = 512;

/// A freshly minted token.
#[derive(Debug, Clone)]
pub(crate) struct MintedToken {
    pub id: TokenId,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Mints a token for `plugin` on behalf of `user` and records it, with its event (inside the
/// caller's transaction).
fn mint(
    conn: &Connection,
    keys: &Keys,
    plugin: &PluginRow,
    user: &User,
    description: &str,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<(MintedToken, AuditEvent)> {
    let expires_at = now + Duration::from_std(ttl)?;
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
    let event = AuditEvent::TokenCreate { token_id: id, expires_at: api_time(expires_at) };
    Ok((MintedToken { id, token, expires_at }, event))
}

/// A description trimmed and at most `MAX_DESCRIPTION` characters long.
fn checked_description(description: &str) -> ServiceResult<String> {
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ServiceError::BadRequest(format!(
            "The description is too long: at most {MAX_DESCRIPTION} characters."
        )));
    }
    Ok(description.to_owned())
}

/// What to mint: a description and a lifetime (at most the configured one).
#[derive(Debug, Clone)]
pub(crate) struct TokenRequest {
    pub description: String,
    /// Days asked for; `None` for the default (one year).
    pub expires_in_days: Option<u32>,
}

impl TokenRequest {
    /// The checked description and lifetime.
    fn checked(
        self,
        default_ttl: std::time::Duration,
    ) -> ServiceResult<(String, std::time::Duration)> {
        let description = checked_description(&self.description)?;
        let ttl = match self.expires_in_days {
            Some(0) => {
                return Err(ServiceError::BadRequest(
                    "`expires_in_days` must be at least 1.".into(),
                ));
            }
            Some(days) => default_ttl.min(std::time::Duration::from_secs(u64::from(days) * 86_400)),
            None => default_ttl,
        };
        Ok((description, ttl))
    }
}

/// Mints a token of `package` for `user` (editors and staff); the token is shown once.
pub(crate) async fn create(
    app: &App,
    user: &User,
    package: &str,
    request: TokenRequest,
) -> ServiceResult<(PluginRow, MintedToken)> {
    let (description, ttl) = request.checked(app.config.plugin_token_ttl)?;
    let (app2, owner) = (app.clone(), user.clone());
    let edit = Permission::Edit { what: "create its tokens" };
    let applied =
        change::change_plugin(app, user, package, edit, Reach::Private, move |tx, plugin, now| {
            let (minted, event) = mint(tx, &app2.keys, plugin, &owner, &description, ttl, now)?;
            Ok(Changed::Yes((plugin.clone(), minted), event))
        })
        .await?;
    Ok(applied.value)
}

/// Mints a token for `uploader token create`: the user must be active and edit the plugin.
/// Returns the token, the plugin and the user.
pub(crate) fn create_offline(
    conn: &mut Connection,
    keys: &Keys,
    username: &str,
    package: &str,
    description: &str,
    ttl: std::time::Duration,
) -> anyhow::Result<(MintedToken, PluginRow, User)> {
    use anyhow::Context as _;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let user = catalog::accounts::user_by_name(&tx, username)?
        .with_context(|| format!("there is no user `{username}`"))?;
    anyhow::ensure!(user.is_active, "user `{username}` is blocked");
    let plugin = catalog::plugins::plugin_by_package(&tx, package)?
        .with_context(|| format!("there is no plugin `{package}`"))?;
    anyhow::ensure!(
        user.is_staff || user.is_superuser || catalog::plugins::is_editor(&tx, plugin.id, user.id)?,
        "user `{username}` is not an editor of `{}`: the token would be refused",
        plugin.package_name
    );
    let now = now();
    let (minted, event) = mint(&tx, keys, &plugin, &user, description, ttl, now)?;
    catalog::events::log_event(&tx, now, Some(user.id), Some(plugin.id), &event)?;
    tx.commit()?;
    Ok((minted, plugin, user))
}

/// Staff and the plugin's creator manage every token; other editors their own.
fn sees_all(plugin: &PluginRow, user: &User) -> bool {
    user.is_staff || user.is_superuser || plugin.created_by == user.id
}

/// Live tokens of `package` the user may see, newest first.
pub(crate) async fn list(app: &App, user: User, package: &str) -> ServiceResult<Vec<UploadToken>> {
    let package = package.to_owned();
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        forbid_non_editor(conn, &plugin, &user, "see its tokens")?;
        let only = (!sees_all(&plugin, &user)).then_some(user.id);
        Ok(catalog::tokens::live_upload_tokens(conn, plugin.id, only, now())?)
    })
    .await
}

fn no_such_token() -> ServiceError {
    ServiceError::NotFound("There is no such token of this plugin.".into())
}

/// Token `id` of `plugin` when `user` may manage it, else `NotFound` (a token the user may
/// not see is as unknown as one that does not exist). Revoked ones too: revoking is idempotent.
fn managed_token(
    conn: &Connection,
    plugin: &PluginRow,
    user: &User,
    id: TokenId,
) -> ServiceResult<UploadToken> {
    let token =
        catalog::tokens::upload_token_by_id(conn, plugin.id, id)?.ok_or_else(no_such_token)?;
    if !sees_all(plugin, user) && token.user_id != user.id {
        return Err(no_such_token());
    }
    Ok(token)
}

/// As `managed_token`, but a revoked token is gone.
fn live_managed_token(
    conn: &Connection,
    plugin: &PluginRow,
    user: &User,
    id: TokenId,
) -> ServiceResult<UploadToken> {
    let token = managed_token(conn, plugin, user, id)?;
    if token.revoked_at.is_some() {
        return Err(no_such_token());
    }
    Ok(token)
}

/// Token `id` of `package` (never the token itself), for a user who may manage it.
pub(crate) async fn token(
    app: &App,
    user: User,
    package: &str,
    id: TokenId,
) -> ServiceResult<UploadToken> {
    let package = package.to_owned();
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        forbid_non_editor(conn, &plugin, &user, "see its tokens")?;
        live_managed_token(conn, &plugin, &user, id)
    })
    .await
}

/// Sets the description of token `id` of `package`; returns whether it changed.
pub(crate) async fn describe(
    app: &App,
    user: &User,
    package: &str,
    id: TokenId,
    description: &str,
) -> ServiceResult<bool> {
    let description = checked_description(description)?;
    let owner = user.clone();
    let edit = Permission::Edit { what: "change its tokens" };
    let applied =
        change::change_plugin(app, user, package, edit, Reach::Private, move |tx, plugin, _now| {
            let token = live_managed_token(tx, plugin, &owner, id)?;
            Ok(if catalog::tokens::set_upload_token_description(tx, token.id, &description)? {
                Changed::Yes(true, AuditEvent::TokenDescribe { token_id: token.id })
            } else {
                Changed::No(false)
            })
        })
        .await?;
    Ok(applied.value)
}

/// Revokes token `id` of `package` at once (no un-revoke); returns its id.
pub(crate) async fn revoke(
    app: &App,
    user: &User,
    package: &str,
    id: TokenId,
) -> ServiceResult<TokenId> {
    let owner = user.clone();
    let edit = Permission::Edit { what: "revoke its tokens" };
    let applied =
        change::change_plugin(app, user, package, edit, Reach::Private, move |tx, plugin, now| {
            let token = managed_token(tx, plugin, &owner, id)?;
            Ok(if catalog::tokens::revoke_upload_token(tx, token.id, now)? {
                Changed::Yes(token.id, AuditEvent::TokenRevoke { token_id: token.id })
            } else {
                Changed::No(token.id)
            })
        })
        .await?;
    Ok(applied.value)
}

/// An upload authenticated by an upload token.
#[derive(Debug, Clone)]
pub(crate) struct TokenAuth {
    pub token_id: TokenId,
    pub user: User,
    pub plugin: PluginRow,
}

/// Checks an upload token for the plugin named in the URL: signature and claims first, then
/// the row (live, of this plugin, this token), its user (active, still an editor) and the
/// plugin (not deleted). `None` = refuse. Marks the token used.
pub(crate) async fn authenticate(
    app: &App,
    token: &str,
    package: &str,
) -> ServiceResult<Option<TokenAuth>> {
    let now = now();
    let Ok(TokenKind::Upload { plugin_id, refresh_jti }) =
        app.keys.verify(token, TokenType::Upload, now.timestamp())
    else {
        return Ok(None);
    };
    let package = package.to_owned();
    let hash = auth::token_hash(token);
    db(app, move |conn| {
        let Some(plugin) = catalog::plugins::plugin_by_package(conn, &package)? else {
            return Ok(None);
        };
        let Some(row) = catalog::tokens::upload_token_by_jti(conn, &refresh_jti)? else {
            return Ok(None);
        };
        let Some(user) = catalog::accounts::user_by_id(conn, row.user_id)? else { return Ok(None) };
        let valid = row.revoked_at.is_none()
            && row.expires_at > now
            && row.plugin_id == plugin.id
            && plugin_id == plugin.id
            && (row.token_sha256.is_empty() || row.token_sha256 == hash)
            && user.is_active
            && !plugin.is_deleted
            && can_edit(conn, &plugin, &user)?;
        if !valid {
            return Ok(None);
        }
        catalog::tokens::touch_upload_token(conn, row.id, now)?;
        Ok(Some(TokenAuth { token_id: row.id, user, plugin }))
    })
    .await
}
