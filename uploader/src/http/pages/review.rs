//! The reviewers' pages: the queue (`/plugins/unapproved/`), a version's review page with
//! the diff against the newest approved version, and approve / unapprove (POST, naming the
//! sha256 shown on the review page, answered once the change is live).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::{Request, StatusCode};
use serde::Serialize;

use catalog::feedback::QueueState;
use catalog::review::PendingVersion;
use generator::urls;

use super::{
    PageError, PageResult, Visitor, age, checked_form, is_post, redirect, redirect_with, render,
    review_path,
};
use crate::app::App;
use crate::http::error::ApiError;
use crate::services::inspect::{self, Inspection, ReviewSubject};
use crate::services::review::{self as review_service, Approval, Sha256Hex};
use crate::services::{ServiceError, api_time, now};
use crate::validate::Problem;

/// The 404 of the queue for anyone who is not a reviewer (signed out included).
fn no_such_page() -> PageError {
    PageError::not_found("There is no such page.")
}

/// The private download of a version's stored zip (session cookie accepted; not counted).
fn private_download_path(package: &str, version: &str) -> String {
    format!("/api/v1/download/{}/{}", urls::segment(package), urls::segment(version))
}

/// One row of the queue.
#[derive(Serialize)]
struct QueueItem {
    package: String,
    name: String,
    version: String,
    age: String,
    uploaded_on: String,
    uploader: Option<String>,
    trusted: bool,
    from_token: bool,
    replaced: bool,
    review_url: String,
    /// `awaiting_review`, `changes_requested`, `resolved`, its label and age.
    state: &'static str,
    state_label: &'static str,
    state_age: String,
    state_since: String,
}

impl QueueItem {
    fn new(p: PendingVersion, now: DateTime<Utc>) -> Self {
        QueueItem {
            age: age(p.created_on, now),
            state: p.queue.state.as_str(),
            state_label: p.queue.state.label(),
            state_age: age(p.queue.since, now),
            state_since: api_time(p.queue.since),
            uploaded_on: api_time(p.created_on),
            review_url: review_path(&p.package_name, &p.version),
            trusted: p.uploader_trusted,
            from_token: p.is_from_token,
            replaced: p.replaced_on.is_some(),
            uploader: p.uploaded_by,
            package: p.package_name,
            name: p.plugin_name,
            version: p.version,
        }
    }
}

/// `/plugins/unapproved/`: staff see every pending version, trusted users those of the
/// plugins they edit; anyone else a 404.
/// Queue items per page: a page stays fast however long the queue grows.
const QUEUE_PAGE: usize = 100;

/// `?page=N` (1 when absent or not a positive number).
fn page_number(req: &Request<Bytes>) -> usize {
    query_value(req, "page").and_then(|v| v.parse::<usize>().ok()).filter(|n| *n >= 1).unwrap_or(1)
}

fn query_value(req: &Request<Bytes>, key: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `?state=awaiting_review|changes_requested|resolved` (anything else: every state).
fn state_filter(req: &Request<Bytes>) -> Option<QueueState> {
    query_value(req, "state").as_deref().and_then(QueueState::parse)
}

/// The filter links of the queue page: all, then each state, with the current one marked.
#[derive(Serialize)]
struct StateLink {
    label: &'static str,
    url: String,
    current: bool,
}

fn state_links(current: Option<QueueState>) -> Vec<StateLink> {
    let all =
        StateLink { label: "All", url: "/plugins/unapproved/".into(), current: current.is_none() };
    let states = [QueueState::AwaitingReview, QueueState::ChangesRequested, QueueState::Resolved];
    std::iter::once(all)
        .chain(states.into_iter().map(|s| StateLink {
            label: s.label(),
            url: format!("/plugins/unapproved/?state={}", s.as_str()),
            current: current == Some(s),
        }))
        .collect()
}

pub(crate) async fn queue(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    let user = v.user().ok_or_else(no_such_page)?;
    let rows = match review_service::queue(app, user).await {
        Ok(rows) => rows,
        Err(ServiceError::Forbidden(_)) => return Err(no_such_page()),
        Err(e) => return Err(e.into()),
    };
    let now = now();
    let filter = state_filter(req);
    let rows: Vec<PendingVersion> =
        rows.into_iter().filter(|r| filter.is_none_or(|f| r.queue.state == f)).collect();
    let total = rows.len();
    let pages = total.div_ceil(QUEUE_PAGE).max(1);
    let page = page_number(req).min(pages);
    let items: Vec<QueueItem> = rows
        .into_iter()
        .skip((page - 1) * QUEUE_PAGE)
        .take(QUEUE_PAGE)
        .map(|p| QueueItem::new(p, now))
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("items", &items);
    ctx.insert("total", &total);
    ctx.insert("page", &page);
    ctx.insert("pages", &pages);
    ctx.insert("all_plugins", &(user.is_staff || user.is_superuser));
    ctx.insert("state_links", &state_links(filter));
    ctx.insert("state", &filter.map(QueueState::as_str));
    render(app, v, "queue.html", ctx, StatusCode::OK)
}

/// The version as the review page shows it.
#[derive(Serialize)]
struct VersionView {
    version: String,
    approved: bool,
    /// `approved`, `awaiting review` or `replaced` (awaiting, zip replaced since upload).
    state: &'static str,
    experimental: bool,
    uploaded_on: String,
    replaced_on: Option<String>,
    uploader: Option<String>,
    uploader_trusted: bool,
    size: i64,
}

/// A validator problem as the page lists it.
#[derive(Serialize)]
struct ProblemView {
    message: String,
    hint: String,
    file: Option<String>,
}

impl From<Problem> for ProblemView {
    fn from(p: Problem) -> Self {
        ProblemView { message: p.message, hint: p.hint, file: p.file }
    }
}

fn version_view(s: &ReviewSubject) -> VersionView {
    let v = &s.version;
    let state = match (v.approved, v.replaced_on.is_some()) {
        (true, _) => "approved",
        (false, false) => "awaiting review",
        (false, true) => "replaced",
    };
    VersionView {
        version: v.version.clone(),
        approved: v.approved,
        state,
        experimental: v.experimental,
        uploaded_on: api_time(v.created_on),
        replaced_on: v.replaced_on.map(api_time),
        uploader: s.uploader.clone(),
        uploader_trusted: s.uploader_trusted,
        size: v.package_size,
    }
}

/// The review page's variables.
fn review_context(s: &ReviewSubject, found: Inspection) -> tera::Context {
    let (package, version) = (&s.plugin.package_name, &s.version.version);
    let mut ctx = tera::Context::new();
    ctx.insert("package", package);
    ctx.insert("plugin_name", &s.plugin.name);
    ctx.insert("plugin_url", &urls::plugin_page(package));
    ctx.insert("version", &version_view(s));
    ctx.insert("base_version", &s.base.as_ref().map(|b| b.version.clone()));
    ctx.insert("sha256", &found.report.sha256);
    ctx.insert("report", &found.report);
    let warnings: Vec<ProblemView> = found.warnings.into_iter().map(Into::into).collect();
    let errors: Vec<ProblemView> = found.errors.into_iter().map(Into::into).collect();
    ctx.insert("warnings", &warnings);
    ctx.insert("errors", &errors);
    ctx.insert("download_url", &private_download_path(package, version));
    ctx.insert("may_approve", &s.may_approve);
    ctx.insert("approve_url", &format!("{}approve/", urls::version_page(package, version)));
    ctx.insert("unapprove_url", &format!("{}unapprove/", urls::version_page(package, version)));
    ctx
}

/// `/plugins/<pkg>/version/<v>/review/`: editors of the plugin and its approvers.
pub(crate) async fn review(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    if is_post(req) {
        return Err(ApiError::MethodNotAllowed { allow: "GET" }.into());
    }
    let subject = inspect::subject(app, user.clone(), package, version).await?;
    let found = inspect::inspect(app, &subject).await?;
    let title = format!("Review {} {}", subject.plugin.name, subject.version.version);
    let mut ctx = review_context(&subject, found);
    ctx.insert("title", &title);
    let checks =
        super::checks::context(app, user.clone(), &subject.plugin.package_name, &subject.version)
            .await?;
    ctx.insert("checks", &checks);
    ctx.insert("feedback", &super::feedback::context(app, user, package, version).await?);
    render(app, v, "review.html", ctx, StatusCode::OK)
}

/// The message after an approval: what happened and whether it is live.
fn approval_message(name: &str, version: &str, approve: bool, live: bool) -> String {
    match (approve, live) {
        (true, true) => {
            format!("The plugin version '{name} {version}' is now approved and live on the site.")
        }
        (true, false) => format!(
            "The plugin version '{name} {version}' is now approved. The site is being \
             regenerated: it will show on the site in a moment."
        ),
        (false, true) => format!(
            "The plugin version '{name} {version}' is now unapproved and no longer on the site."
        ),
        (false, false) => format!(
            "The plugin version '{name} {version}' is now unapproved. The site is being \
             regenerated: it will leave the site in a moment."
        ),
    }
}

/// `/plugins/<pkg>/version/<v>/approve/` and `…/unapprove/` (POST, approvers). A GET goes
/// back to the review page.
pub(crate) async fn set_approval(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
    approve: bool,
) -> PageResult {
    let user = v.require_user(req)?;
    if !is_post(req) {
        return Ok(redirect(&review_path(package, version)));
    }
    let form = checked_form(app, v, req)?;
    let approval = if approve {
        let sent = form.text("sha256").trim();
        let sha = Sha256Hex::parse(sent).ok_or_else(|| {
            PageError::bad_request(
                "The form did not name the sha256 of the zip you reviewed. Reload the review \
                 page and approve from there.",
            )
        })?;
        Approval::Approve(sha)
    } else {
        Approval::Unapprove
    };
    match review_service::set_approval(app, user, package, version, approval).await {
        Ok(applied) => {
            let (plugin, row) = &applied.value;
            let text = approval_message(&plugin.name, &row.version, approve, applied.live.live);
            Ok(redirect_with(app, &review_path(&plugin.package_name, &row.version), &text))
        }
        Err(ServiceError::ChangedSinceReview(detail)) => {
            changed_since_loaded(app, v, package, version, &detail)
        }
        Err(e) => Err(e.into()),
    }
}

/// The 409 page of an approval whose zip was replaced after the review page was loaded.
fn changed_since_loaded(
    app: &App,
    v: &Visitor,
    package: &str,
    version: &str,
    detail: &str,
) -> PageResult {
    let mut ctx = tera::Context::new();
    ctx.insert("package", package);
    ctx.insert("version", version);
    ctx.insert("detail", detail);
    ctx.insert("review_url", &review_path(package, version));
    render(app, v, "review_changed.html", ctx, StatusCode::CONFLICT)
}

#[cfg(test)]
#[path = "tests_review.rs"]
mod tests_review;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_words() {
        let t = now();
        assert_eq!(age(t, t), "just now");
        assert_eq!(age(t - chrono::Duration::minutes(1), t), "1 minute");
        assert_eq!(age(t - chrono::Duration::minutes(150), t), "2 hours");
        assert_eq!(age(t - chrono::Duration::days(3), t), "3 days");
        assert_eq!(age(t + chrono::Duration::days(3), t), "just now");
    }
}
