//! The HTML edge of the web workplace (reference §5.3, decisions §9): who the visitor is
//! (session cookie), CSRF tokens, forms, rendering `templates/workplace/*.html`, redirects
//! with a one-shot message, and the HTML error page. One module per group of pages; each
//! page parses its form, calls services (the JSON API's too) and renders or redirects.
//!
//! CSRF: every POST form carries `csrfmiddlewaretoken` = HMAC-SHA256(service secret,
//! "csrf:" + seed), the seed being the session secret when signed in, else the anonymous
//! `qgis_csrf` cookie. A cross-site page can neither read the cookie nor compute the token.

pub(crate) mod accounts;
pub(crate) mod author;
pub(crate) mod checks;
pub(crate) mod cookies;
pub(crate) mod feedback;
pub(crate) mod form;
pub(crate) mod review;
pub(crate) mod tokens;
pub(crate) mod users;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use sha2::Sha256;

use catalog::accounts::User;
use generator::urls;

use super::error::{ApiError, HttpResponse};
use super::route::Page;
use crate::app::App;
use crate::services::ServiceError;
use crate::services::sessions::{self, Secret, Session};
pub(crate) use form::Form;

/// Result of a page handler.
pub(crate) type PageResult = Result<HttpResponse, PageError>;

/// Why a page could not be shown as asked.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in: 303 to the login page, coming back to `next` after.
    SignIn { next: String },
    /// The form's CSRF token is missing or wrong (403).
    Csrf,
    /// Any other failure, with the status and message of the JSON API.
    Api(ApiError),
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        PageError::Api(e.into())
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl PageError {
    /// A 403 page with `message`.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        PageError::Api(ApiError::Forbidden(message.into()))
    }

    /// A 404 page with `message`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        PageError::Api(ApiError::NotFound(message.into()))
    }

    /// A 400 page with `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        PageError::Api(ApiError::BadRequest(message.into()))
    }
}

/// Who is asking: the session (if signed in) and the CSRF seed of their forms.
pub(crate) struct Visitor {
    session: Option<Session>,
    /// Session secret or anonymous cookie value.
    seed: String,
    /// The anonymous seed was made for this response: it must be set as a cookie.
    new_seed: bool,
    flash: Option<String>,
    csrf: String,
}

/// The user as every template sees it (`user`).
#[derive(Serialize)]
struct UserView<'a> {
    username: &'a str,
    is_staff: bool,
    can_approve: bool,
    /// Sees the review queue (staff, or trusted users for the plugins they edit).
    is_reviewer: bool,
}

impl Visitor {
    /// The signed-in user, if any.
    pub(crate) fn user(&self) -> Option<&User> {
        self.session.as_ref().map(|s| &s.user)
    }

    /// The live session, if any.
    pub(crate) fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The signed-in user, or a redirect to the login page that comes back here.
    pub(crate) fn require_user(&self, req: &Request<Bytes>) -> Result<&User, PageError> {
        self.user().ok_or_else(|| PageError::SignIn { next: local_target(req) })
    }

    /// The token every form of this visitor carries.
    pub(crate) fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Whether `sent` is this visitor's token (constant time).
    fn csrf_ok(&self, app: &App, sent: Option<&str>) -> bool {
        let Some(sent) = sent.and_then(|s| hex::decode(s.trim()).ok()) else { return false };
        csrf_mac(app, &self.seed).verify_slice(&sent).is_ok()
    }

    /// Checks a form's CSRF token (403 page when wrong).
    pub(crate) fn check_csrf(&self, app: &App, sent: Option<&str>) -> Result<(), PageError> {
        if self.csrf_ok(app, sent) { Ok(()) } else { Err(PageError::Csrf) }
    }
}

fn csrf_mac(app: &App, seed: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&app.config.jwt_secret)
        .expect("HMAC takes keys of any length");
    mac.update(b"csrf:");
    mac.update(seed.as_bytes());
    mac
}

/// Works out who is asking from the cookies (one catalog read when a session cookie is sent).
pub(crate) async fn visitor(app: &App, req: &Request<Bytes>) -> Result<Visitor, PageError> {
    let headers = req.headers();
    let session = match cookies::get(headers, cookies::SESSION).and_then(Secret::parse) {
        Some(secret) => sessions::session(app, &secret).await?.map(|s| (s, secret)),
        None => None,
    };
    let (session, seed, new_seed) = match session {
        Some((s, secret)) => (Some(s), secret.expose().to_owned(), false),
        None => match cookies::get(headers, cookies::CSRF).and_then(Secret::parse) {
            Some(seed) => (None, seed.expose().to_owned(), false),
            None => (None, Secret::random().expose().to_owned(), true),
        },
    };
    let flash = cookies::get(headers, cookies::FLASH)
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|m| m.len() <= 1000);
    let csrf = hex::encode(csrf_mac(app, &seed).finalize().into_bytes());
    Ok(Visitor { session, seed, new_seed, flash, csrf })
}

/// The user of the request's live session cookie, if any (the private download accepts it).
pub(crate) async fn session_user(app: &App, headers: &hyper::HeaderMap) -> Option<User> {
    let secret = cookies::get(headers, cookies::SESSION).and_then(Secret::parse)?;
    sessions::session(app, &secret).await.ok().flatten().map(|s| s.user)
}

/// Whether the request comes from a browser that opened a workplace page (it holds the
/// session or the anonymous CSRF cookie) and carries no API credentials.
pub(crate) fn is_browser(headers: &hyper::HeaderMap) -> bool {
    !headers.contains_key(header::AUTHORIZATION)
        && (cookies::get(headers, cookies::SESSION).is_some()
            || cookies::get(headers, cookies::CSRF).is_some())
}

/// The path and query of the request, for `?next=`.
fn local_target(req: &Request<Bytes>) -> String {
    req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned()
}

/// `next` when it is a path on this site (`/x`, not `//host` nor `/\host`), else `fallback`.
pub(crate) fn safe_next<'a>(next: &'a str, fallback: &'a str) -> &'a str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if local { next } else { fallback }
}

/// Whether the request submits a form (anything else shows the page).
pub(crate) fn is_post(req: &Request<Bytes>) -> bool {
    req.method() == Method::POST
}

/// Parses an urlencoded form and checks its CSRF token.
pub(crate) fn checked_form(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
) -> Result<Form, PageError> {
    let form = Form::parse(req).ok_or_else(|| {
        PageError::bad_request("This form must be sent as application/x-www-form-urlencoded.")
    })?;
    v.check_csrf(app, form.get("csrfmiddlewaretoken"))?;
    Ok(form)
}

/// Renders `templates/workplace/<name>` with `ctx` and the variables every page has.
pub(crate) fn render(
    app: &App,
    v: &Visitor,
    name: &str,
    mut ctx: tera::Context,
    status: StatusCode,
) -> PageResult {
    if let Some(user) = v.user() {
        ctx.insert(
            "user",
            &UserView {
                username: &user.username,
                is_staff: user.is_staff || user.is_superuser,
                can_approve: user.can_approve,
                is_reviewer: user.is_staff || user.is_superuser || user.can_approve,
            },
        );
    }
    ctx.insert("csrf_token", v.csrf_token());
    ctx.insert("base_url", &app.config.site.base_url);
    if let Some(flash) = &v.flash {
        ctx.insert("flash", flash);
    }
    let html = app.templates.tera.render(&format!("workplace/{name}"), &ctx).map_err(|e| {
        PageError::Api(ApiError::Internal(anyhow::anyhow!("template {name}: {e:?}")))
    })?;
    let mut resp = html_response(status, html);
    finish_cookies(app, v, &mut resp);
    Ok(resp)
}

/// Sets the anonymous CSRF cookie if it was made now, and clears a shown flash.
fn finish_cookies(app: &App, v: &Visitor, resp: &mut HttpResponse) {
    let secure = app.config.secure_cookies();
    if v.new_seed {
        let day = 24 * 3600;
        add_cookie(resp, &cookies::set(cookies::CSRF, &v.seed, day, secure));
    }
    if v.flash.is_some() {
        add_cookie(resp, &cookies::set(cookies::FLASH, "", 0, secure));
    }
}

/// Appends a `Set-Cookie` header.
pub(crate) fn add_cookie(resp: &mut HttpResponse, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn html_response(status: StatusCode, html: String) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(html)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 303 See Other to a local path.
pub(crate) fn redirect(to: &str) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let to = safe_next(to, "/");
    if let Ok(location) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 303 to a local path with a message shown once on the next page.
pub(crate) fn redirect_with(app: &App, to: &str, flash: &str) -> HttpResponse {
    let mut resp = redirect(to);
    let value = URL_SAFE_NO_PAD.encode(flash.as_bytes());
    add_cookie(&mut resp, &cookies::set(cookies::FLASH, &value, 60, app.config.secure_cookies()));
    resp
}

/// `/plugins/<pkg>/version/<v>/review/`.
pub(crate) fn review_path(package: &str, version: &str) -> String {
    format!("{}review/", urls::version_page(package, version))
}

/// "3 days", "5 hours", "12 minutes", "just now": how long a version has waited.
pub(crate) fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    let (n, unit) = match minutes {
        0 => return "just now".to_owned(),
        1..60 => (minutes, "minute"),
        60..1440 => (minutes / 60, "hour"),
        _ => (minutes / 1440, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Serves one workplace page: works out the visitor, runs the page, renders its error.
pub(crate) async fn handle(app: &App, page: Page, req: Request<Bytes>) -> HttpResponse {
    let v = match visitor(app, &req).await {
        Ok(v) => v,
        Err(e) => return error_page(app, None, e),
    };
    match dispatch(app, &v, page, &req).await {
        Ok(resp) => resp,
        Err(e) => error_page(app, Some(&v), e),
    }
}

async fn dispatch(app: &App, v: &Visitor, page: Page, req: &Request<Bytes>) -> PageResult {
    match page {
        Page::Login => accounts::login(app, v, req).await,
        Page::Logout => accounts::logout(app, v, req).await,
        Page::PasswordChange => accounts::password_change(app, v, req).await,
        Page::SessionsEnd => accounts::sessions_end(app, v, req).await,
        Page::Invite => accounts::invite(app, v, req).await,
        Page::Invitation { token } => accounts::invitation(app, v, req, &token).await,
        Page::Signup => accounts::signup(app, v, req).await,
        Page::MyPlugins => author::my_plugins(app, v, req).await,
        Page::AddPlugin => author::add_plugin(app, v, req).await,
        Page::PluginUpdate { package } => author::plugin_update(app, v, req, &package).await,
        Page::PluginDelete { package } => author::plugin_delete(app, v, req, &package).await,
        Page::PluginRestore { package } => author::plugin_restore(app, v, req, &package).await,
        Page::VersionAdd { package } => author::version_add(app, v, req, &package).await,
        Page::VersionUpdate { package, version } => {
            author::version_update(app, v, req, &package, &version).await
        }
        Page::VersionDelete { package, version } => {
            author::version_delete(app, v, req, &package, &version).await
        }
        Page::Tokens { package } => tokens::list(app, v, req, &package).await,
        Page::TokenCreate { package } => tokens::create(app, v, req, &package).await,
        Page::TokenShow { package, id } => tokens::show(app, v, req, &package, id).await,
        Page::TokenUpdate { package, id } => tokens::update(app, v, req, &package, id).await,
        Page::TokenDelete { package, id } => tokens::delete(app, v, req, &package, id).await,
        Page::ReviewQueue => review::queue(app, v, req).await,
        Page::VersionReview { package, version } => {
            review::review(app, v, req, &package, &version).await
        }
        Page::VersionApproval { package, version, approve } => {
            review::set_approval(app, v, req, &package, &version, approve).await
        }
        Page::FeedbackGive { package, version } => {
            feedback::give(app, v, req, &package, &version).await
        }
        Page::FeedbackTask { package, version, task, verb } => {
            feedback::task(app, v, req, (&package, &version), task, verb).await
        }
        Page::ScanRescan { package, version } => {
            checks::rescan(app, v, req, &package, &version).await
        }
        Page::ScanOverride { package, version } => {
            checks::override_block(app, v, req, &package, &version).await
        }
        Page::Waivers { package } => checks::waivers(app, v, req, &package).await,
        Page::UserAdmin { username } => users::admin(app, v, req, &username).await,
        Page::UserAction { username, action } => {
            users::action(app, v, req, &username, action).await
        }
    }
}

/// The HTML page of a failure (or the redirect to sign in).
fn error_page(app: &App, v: Option<&Visitor>, e: PageError) -> HttpResponse {
    let (status, message, retry_after) = match e {
        PageError::SignIn { next } => {
            let query: String =
                form_urlencoded::Serializer::new(String::new()).append_pair("next", &next).finish();
            return redirect(&format!("/accounts/login/?{query}"));
        }
        PageError::Csrf => (
            StatusCode::FORBIDDEN,
            "The form has expired or did not come from this site. Reload the page and try again."
                .to_owned(),
            None,
        ),
        PageError::Api(e) => {
            if let ApiError::Internal(cause) = &e {
                tracing::error!(error = format!("{cause:#}"), "page failed");
            }
            let retry = match &e {
                ApiError::TooManyAttempts(r) => Some(r.secs()),
                ApiError::Throttled { retry_after, .. } => Some(*retry_after),
                _ => None,
            };
            (e.status(), e.detail(), retry)
        }
    };
    let mut ctx = tera::Context::new();
    ctx.insert("status", &status.as_u16());
    ctx.insert("reason", status.canonical_reason().unwrap_or("Error"));
    ctx.insert("message", &message);
    let rendered = match v {
        Some(v) => render(app, v, "error.html", ctx, status).ok(),
        None => None,
    };
    let mut resp = rendered.unwrap_or_else(|| {
        html_response(
            status,
            format!("<!DOCTYPE html><title>{status}</title><p>{}</p>", escape(&message)),
        )
    });
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Minimal HTML escaping for the fallback error page (no template available).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(safe_next("/plugins/my", "/"), "/plugins/my");
        assert_eq!(safe_next("//evil.example/", "/"), "/");
        assert_eq!(safe_next("/\\evil.example", "/"), "/");
        assert_eq!(safe_next("https://evil.example/", "/x"), "/x");
        assert_eq!(safe_next("/a\r\nSet-Cookie: x", "/"), "/");
    }
}
