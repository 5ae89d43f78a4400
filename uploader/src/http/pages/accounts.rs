//! The account pages: sign in and out, change password, sign out everywhere, staff
//! invitations (a one-time link to set a password) and optional self-registration.

use bytes::Bytes;
use hyper::{Request, StatusCode};

use super::{
    PageError, PageResult, Visitor, add_cookie, checked_form, cookies, is_post, redirect,
    redirect_with, render, safe_next,
};
use crate::app::App;
use crate::http::error::HttpResponse;
use crate::services::ServiceError;
use crate::services::sessions::{self, NewPassword, Secret, Started};

/// Where a signed-in user lands by default.
const HOME: &str = "/plugins/my";

/// The message of a refusal the form shows next to its fields (wrong input); anything else
/// (throttling, overload, bugs) becomes the error page.
fn form_message(e: ServiceError) -> Result<String, PageError> {
    match e {
        ServiceError::BadRequest(m) | ServiceError::Conflict(m) | ServiceError::Unauthorized(m) => {
            Ok(m)
        }
        other => Err(other.into()),
    }
}

/// Renders a form page, with `error` above the fields when set.
fn form_page(
    app: &App,
    v: &Visitor,
    name: &str,
    mut ctx: tera::Context,
    error: Option<String>,
) -> PageResult {
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    if let Some(error) = error {
        ctx.insert("error", &error);
    }
    render(app, v, name, ctx, status)
}

/// Redirects to `to` carrying the new session's cookie.
fn signed_in(app: &App, started: &Started, to: &str, flash: Option<&str>) -> HttpResponse {
    let mut resp = match flash {
        Some(text) => redirect_with(app, to, text),
        None => redirect(to),
    };
    let max_age = app.config.session_ttl.as_secs();
    let secure = app.config.secure_cookies();
    add_cookie(
        &mut resp,
        &cookies::set(cookies::SESSION, started.secret.expose(), max_age, secure),
    );
    resp
}

/// The response that ends the session cookie.
fn signed_out(app: &App, mut resp: HttpResponse) -> HttpResponse {
    add_cookie(&mut resp, &cookies::set(cookies::SESSION, "", 0, app.config.secure_cookies()));
    resp
}

fn next_of(req: &Request<Bytes>) -> String {
    let query = req.uri().query().unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `/accounts/login/`.
pub(crate) async fn login(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    if !is_post(req) {
        let next = next_of(req);
        if v.user().is_some() {
            return Ok(redirect(safe_next(&next, HOME)));
        }
        let mut ctx = tera::Context::new();
        ctx.insert("next", safe_next(&next, ""));
        return form_page(app, v, "login.html", ctx, None);
    }
    let form = checked_form(app, v, req)?;
    let next = safe_next(form.text("next"), HOME).to_owned();
    let username = form.text("username").to_owned();
    let password = form.get("password").unwrap_or("").to_owned();
    match sessions::sign_in(app, username.clone(), password).await {
        Ok(started) => Ok(signed_in(app, &started, &next, None)),
        Err(e) => {
            // Only the generic message: it must not tell which of the two was wrong.
            let message = form_message(e)?;
            let mut ctx = tera::Context::new();
            ctx.insert("next", &next);
            ctx.insert("username", &username);
            ctx.insert("error", &message);
            render(app, v, "login.html", ctx, StatusCode::OK)
        }
    }
}

/// `/accounts/logout/`: GET asks, POST signs out.
pub(crate) async fn logout(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    let Some(session) = v.session() else { return Ok(signed_out(app, redirect("/"))) };
    if !is_post(req) {
        return render(app, v, "logout.html", tera::Context::new(), StatusCode::OK);
    }
    checked_form(app, v, req)?;
    sessions::sign_out(app, session.id).await?;
    Ok(signed_out(app, redirect_with(app, "/accounts/login/", "You are signed out.")))
}

/// `/accounts/password/change/`.
pub(crate) async fn password_change(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    v.require_user(req)?;
    let Some(session) = v.session() else { return Err(PageError::forbidden("Sign in first.")) };
    if !is_post(req) {
        return form_page(app, v, "password.html", tera::Context::new(), None);
    }
    let form = checked_form(app, v, req)?;
    let new = NewPassword {
        password: form.get("new_password1").unwrap_or("").to_owned(),
        again: form.get("new_password2").unwrap_or("").to_owned(),
    };
    let old = form.get("old_password").unwrap_or("").to_owned();
    match sessions::change_password(app, session, old, new).await {
        Ok(()) => Ok(redirect_with(
            app,
            HOME,
            "Your password has been changed. Every other session of your account is signed out.",
        )),
        Err(e) => form_page(app, v, "password.html", tera::Context::new(), Some(form_message(e)?)),
    }
}

/// `/accounts/sessions/end/`: sign out everywhere (every browser, this one included).
pub(crate) async fn sessions_end(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    v.require_user(req)?;
    let Some(session) = v.session() else { return Err(PageError::forbidden("Sign in first.")) };
    if !is_post(req) {
        return render(app, v, "sessions_end.html", tera::Context::new(), StatusCode::OK);
    }
    checked_form(app, v, req)?;
    let count = sessions::sign_out_everywhere(app, session).await?;
    let text = format!("You are signed out everywhere ({count} sessions ended).");
    Ok(signed_out(app, redirect_with(app, "/accounts/login/", &text)))
}

/// `/accounts/invite/` (staff): creates an account and shows its one-time link.
pub(crate) async fn invite(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    let user = v.require_user(req)?;
    if !user.is_staff && !user.is_superuser {
        return Err(PageError::not_found("There is no such page."));
    }
    if !is_post(req) {
        return form_page(app, v, "invite.html", tera::Context::new(), None);
    }
    let form = checked_form(app, v, req)?;
    let mut ctx = tera::Context::new();
    ctx.insert("username", form.text("username"));
    ctx.insert("email", form.text("email"));
    match sessions::invite(app, user, form.text("username"), form.text("email")).await {
        Ok(invitation) => {
            ctx.insert("username", &invitation.username);
            ctx.insert("link", &invitation.link);
            ctx.insert("mailed", &invitation.mailed);
            ctx.insert("expires", &crate::services::api_time(invitation.expires));
            render(app, v, "invite_done.html", ctx, StatusCode::CREATED)
        }
        Err(e) => form_page(app, v, "invite.html", ctx, Some(form_message(e)?)),
    }
}

/// `/accounts/invitation/<token>/`: the invitee sets a password and is signed in.
pub(crate) async fn invitation(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    token: &str,
) -> PageResult {
    let gone = || {
        PageError::not_found(
            "This invitation link is unknown, already used or expired: ask a staff member for a new one.",
        )
    };
    let token = Secret::parse(token).ok_or_else(gone)?;
    let invited = sessions::invitation_user(app, &token).await?;
    let mut ctx = tera::Context::new();
    ctx.insert("username", &invited.username);
    if !is_post(req) {
        return form_page(app, v, "invitation.html", ctx, None);
    }
    let form = checked_form(app, v, req)?;
    let new = NewPassword {
        password: form.get("new_password1").unwrap_or("").to_owned(),
        again: form.get("new_password2").unwrap_or("").to_owned(),
    };
    match sessions::accept_invitation(app, &token, new).await {
        Ok(started) => {
            let welcome = format!("Welcome, {}: your password is set.", started.user.username);
            Ok(signed_in(app, &started, HOME, Some(&welcome)))
        }
        Err(e) => form_page(app, v, "invitation.html", ctx, Some(form_message(e)?)),
    }
}

/// `/accounts/signup/`: only when self-registration is on (else 404).
pub(crate) async fn signup(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    if !app.config.self_registration {
        return Err(PageError::not_found(
            "Self-registration is off on this site: ask a staff member for an invitation.",
        ));
    }
    if !is_post(req) {
        return form_page(app, v, "signup.html", tera::Context::new(), None);
    }
    let form = checked_form(app, v, req)?;
    let mut ctx = tera::Context::new();
    ctx.insert("username", form.text("username"));
    ctx.insert("email", form.text("email"));
    let new = NewPassword {
        password: form.get("new_password1").unwrap_or("").to_owned(),
        again: form.get("new_password2").unwrap_or("").to_owned(),
    };
    match sessions::sign_up(app, form.text("username"), form.text("email"), new).await {
        Ok(started) => Ok(signed_in(app, &started, HOME, Some("Your account is ready."))),
        Err(e) => form_page(app, v, "signup.html", ctx, Some(form_message(e)?)),
    }
}
