//! A plugin's upload tokens in the browser (reference §5.7): list, create (shown once),
//! details, edit the description, revoke.
//!
//! The token itself appears in exactly one response: the answer to the creating POST. It is
//! not stored (only its hash is), so no later page can show it; reloading that page sends the
//! POST again, which mints another token rather than showing this one.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::{Request, StatusCode};
use serde::Serialize;

use catalog::ids::TokenId;
use catalog::tokens::UploadToken;

use super::{
    PageError, PageResult, Visitor, checked_form, is_post, redirect, redirect_with, render,
};
use crate::app::App;
use crate::services::ServiceError;
use crate::services::api_time;
use crate::services::tokens::{self, MAX_DESCRIPTION, TokenRequest};

/// A token as the pages show it (never the secret).
#[derive(Serialize)]
struct TokenView {
    id: TokenId,
    description: String,
    creator: String,
    created: When,
    last_used: Option<When>,
    expires: When,
}

/// A time for `<time datetime="{{ iso }}">{{ text }}</time>`.
#[derive(Serialize)]
struct When {
    iso: String,
    text: String,
}

impl When {
    fn of(t: DateTime<Utc>) -> Self {
        When { iso: api_time(t), text: t.format("%Y-%m-%d %H:%M UTC").to_string() }
    }
}

impl From<&UploadToken> for TokenView {
    fn from(t: &UploadToken) -> Self {
        TokenView {
            id: t.id,
            description: t.description.clone(),
            creator: t.username.clone(),
            created: When::of(t.created_at),
            last_used: t.last_used_at.map(When::of),
            expires: When::of(t.expires_at),
        }
    }
}

fn list_path(package: &str) -> String {
    format!("/plugins/{package}/tokens/")
}

/// The context every token page starts from.
fn context(package: &str) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("package", package);
    ctx.insert("max_description", &MAX_DESCRIPTION);
    ctx
}

/// A token id from the path; a non-number is as unknown as a missing token.
fn known(id: Option<TokenId>) -> Result<TokenId, PageError> {
    id.ok_or_else(|| PageError::not_found("There is no such token of this plugin."))
}

/// `/plugins/<pkg>/tokens/`: the live tokens the visitor may manage, and the create form.
pub(crate) async fn list(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    list_page(app, v, user, package, None).await
}

/// The list page, with `error` (a refused description) above the create form.
async fn list_page(
    app: &App,
    v: &Visitor,
    user: &catalog::accounts::User,
    package: &str,
    error: Option<(String, String)>,
) -> PageResult {
    let live = tokens::list(app, user.clone(), package).await?;
    let mut ctx = context(package);
    ctx.insert("tokens", &live.iter().map(TokenView::from).collect::<Vec<_>>());
    let status = match &error {
        Some((message, description)) => {
            ctx.insert("error", message);
            ctx.insert("description", description);
            StatusCode::BAD_REQUEST
        }
        None => StatusCode::OK,
    };
    render(app, v, "tokens.html", ctx, status)
}

/// `/plugins/<pkg>/tokens/create/`: POST mints a token and shows it, once; GET goes back to
/// the list (there is nothing to show).
pub(crate) async fn create(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    if !is_post(req) {
        return Ok(redirect(&list_path(package)));
    }
    let form = checked_form(app, v, req)?;
    let description = form.text("description").to_owned();
    let request = TokenRequest { description: description.clone(), expires_in_days: None };
    let (plugin, minted) = match tokens::create(app, user, package, request).await {
        Ok(done) => done,
        Err(ServiceError::BadRequest(message)) => {
            return list_page(app, v, user, package, Some((message, description))).await;
        }
        Err(e) => return Err(e.into()),
    };
    let mut ctx = context(&plugin.package_name);
    ctx.insert("token", &minted.token);
    ctx.insert("token_id", &minted.id);
    ctx.insert("description", &description);
    ctx.insert("expires", &When::of(minted.expires_at));
    render(app, v, "token_created.html", ctx, StatusCode::OK)
}

/// The token `id` of `package` the visitor may manage, as the pages show it.
async fn managed(
    app: &App,
    user: &catalog::accounts::User,
    package: &str,
    id: Option<TokenId>,
) -> Result<TokenView, PageError> {
    let token = tokens::token(app, user.clone(), package, known(id)?).await?;
    Ok(TokenView::from(&token))
}

/// `/plugins/<pkg>/tokens/<id>/`: one token's details (the token itself is never shown again).
pub(crate) async fn show(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    id: Option<TokenId>,
) -> PageResult {
    let user = v.require_user(req)?;
    let token = managed(app, user, package, id).await?;
    let mut ctx = context(package);
    ctx.insert("token", &token);
    render(app, v, "token_show.html", ctx, StatusCode::OK)
}

/// `/plugins/<pkg>/tokens/<id>/update`: GET shows the description form, POST saves it.
pub(crate) async fn update(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    id: Option<TokenId>,
) -> PageResult {
    let user = v.require_user(req)?;
    if !is_post(req) {
        let token = managed(app, user, package, id).await?;
        let description = token.description.clone();
        return edit_page(app, v, package, token, &description, None);
    }
    let form = checked_form(app, v, req)?;
    let description = form.text("description");
    match tokens::describe(app, user, package, known(id)?, description).await {
        Ok(_) => Ok(redirect_with(
            app,
            &list_path(package),
            "The token description has been successfully updated.",
        )),
        Err(ServiceError::BadRequest(message)) => {
            let token = managed(app, user, package, id).await?;
            edit_page(app, v, package, token, description, Some(message))
        }
        Err(e) => Err(e.into()),
    }
}

/// The description form of `token`, showing `description` and, after a refusal, its reason.
fn edit_page(
    app: &App,
    v: &Visitor,
    package: &str,
    token: TokenView,
    description: &str,
    error: Option<String>,
) -> PageResult {
    let mut ctx = context(package);
    ctx.insert("description", description);
    ctx.insert("token", &token);
    let status = match error {
        Some(message) => {
            ctx.insert("error", &message);
            StatusCode::BAD_REQUEST
        }
        None => StatusCode::OK,
    };
    render(app, v, "token_edit.html", ctx, status)
}

/// `/plugins/<pkg>/tokens/<id>/delete/`: GET asks, POST with `delete_confirm` revokes.
pub(crate) async fn delete(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    id: Option<TokenId>,
) -> PageResult {
    let user = v.require_user(req)?;
    if !is_post(req) {
        let token = managed(app, user, package, id).await?;
        let mut ctx = context(package);
        ctx.insert("token", &token);
        return render(app, v, "token_delete.html", ctx, StatusCode::OK);
    }
    let form = checked_form(app, v, req)?;
    if !form.has("delete_confirm") {
        return Err(PageError::bad_request(
            "Nothing was revoked: confirm with the \"Revoke this token\" button.",
        ));
    }
    tokens::revoke(app, user, package, known(id)?).await?;
    Ok(redirect_with(app, &list_path(package), "The token has been successfully deleted."))
}

#[cfg(test)]
#[path = "tests_tokens.rs"]
mod tests_tokens;
