//! Staff's page of a user (`/plugins/user/<u>/admin`: details, plugins, buttons) and its
//! trust / untrust / block / unblock actions (POST, redirecting back with the reference's
//! message). Anyone who is not staff gets a 404, signed out included.

use bytes::Bytes;
use hyper::{Request, StatusCode};
use serde::Serialize;

use catalog::accounts::User;
use catalog::plugins::UserPlugin;
use generator::urls;

use super::{
    PageError, PageResult, Visitor, checked_form, is_post, redirect, redirect_with, render,
};
use crate::app::App;
use crate::services::accounts::{self, UserAction};
use crate::services::api_time;

/// The staff member asking, or the 404 everyone else gets.
fn staff(v: &Visitor) -> Result<&User, PageError> {
    v.user()
        .filter(|u| u.is_staff || u.is_superuser)
        .ok_or_else(|| PageError::not_found("There is no such page."))
}

/// `/plugins/user/<u>/admin`.
fn admin_path(username: &str) -> String {
    format!("/plugins/user/{}/admin", urls::segment(username))
}

/// The target user as the page shows them.
#[derive(Serialize)]
struct UserDetails {
    username: String,
    email: String,
    is_staff: bool,
    trusted: bool,
    active: bool,
    joined: String,
    /// In the review notification group (mails about new plugins and versions to review).
    review_mail: bool,
    /// Action paths (`…/trust/`, …) of this user.
    action_base: String,
}

#[derive(Serialize)]
struct PluginItem {
    package: String,
    name: String,
    created: bool,
    deleted: bool,
    public: bool,
    url: String,
}

impl From<UserPlugin> for PluginItem {
    fn from(p: UserPlugin) -> Self {
        PluginItem {
            url: urls::plugin_page(&p.package_name),
            package: p.package_name,
            name: p.name,
            created: p.created,
            deleted: p.is_deleted,
            public: p.has_approved,
        }
    }
}

/// `/plugins/user/<u>/admin` (staff).
pub(crate) async fn admin(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    username: &str,
) -> PageResult {
    let actor = staff(v)?;
    if is_post(req) {
        return review_mail(app, v, req, actor, username).await;
    }
    let (profile, plugins) = accounts::user_admin_view(app, actor, username).await?;
    let u = profile.user;
    let details = UserDetails {
        action_base: format!("/plugins/user/{}/", urls::segment(&u.username)),
        trusted: u.can_approve,
        is_staff: u.is_staff || u.is_superuser,
        active: u.is_active,
        joined: api_time(profile.joined),
        review_mail: profile.review_mail,
        email: u.email,
        username: u.username,
    };
    let plugins: Vec<PluginItem> = plugins.into_iter().map(Into::into).collect();
    let mut ctx = tera::Context::new();
    ctx.insert("target", &details);
    ctx.insert("plugins", &plugins);
    render(app, v, "user_admin.html", ctx, StatusCode::OK)
}

/// POST `/plugins/user/<u>/admin` with `review_mail=on|off`: the review group toggle.
async fn review_mail(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    actor: &User,
    username: &str,
) -> PageResult {
    let form = checked_form(app, v, req)?;
    let on = match form.text("review_mail") {
        "on" => true,
        "off" => false,
        _ => return Err(PageError::bad_request("Say `review_mail=on` or `review_mail=off`.")),
    };
    accounts::set_review_mail(app, actor, username, on).await?;
    let text = if on {
        format!(
            "{username} now receives the mails about new plugins and versions ready for review."
        )
    } else {
        format!("{username} no longer receives the review mails.")
    };
    Ok(redirect_with(app, &admin_path(username), &text))
}

/// The reference's message after an action.
fn action_message(username: &str, action: UserAction) -> String {
    let state = match action {
        UserAction::Trust => "a trusted user",
        UserAction::Untrust => "an untrusted user",
        UserAction::Block => "blocked",
        UserAction::Unblock => "unblocked",
    };
    format!("The user {username} is now {state}.")
}

/// `/plugins/user/<u>/{trust,untrust,block,unblock}/` (POST, staff).
pub(crate) async fn action(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    username: &str,
    action: UserAction,
) -> PageResult {
    let actor = staff(v)?;
    if !is_post(req) {
        return Ok(redirect(&admin_path(username)));
    }
    checked_form(app, v, req)?;
    let applied = accounts::user_action(app, actor, username, Some(action)).await?;
    let name = &applied.value.username;
    let mut text = action_message(name, action);
    if !applied.live.live {
        text.push_str(" The site is being regenerated.");
    }
    Ok(redirect_with(app, &admin_path(name), &text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_references() {
        assert_eq!(action_message("ana", UserAction::Trust), "The user ana is now a trusted user.");
        assert_eq!(
            action_message("ana", UserAction::Untrust),
            "The user ana is now an untrusted user."
        );
        assert_eq!(action_message("ana", UserAction::Block), "The user ana is now blocked.");
        assert_eq!(action_message("ana", UserAction::Unblock), "The user ana is now unblocked.");
    }
}
