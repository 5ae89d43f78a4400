//! The three upload forms (a new plugin or version, a version of a given plugin, the
//! replacement of an unapproved version's zip): the same multipart form, validated and
//! committed by `services::uploads` as the API's uploads; a refused zip re-shows the form
//! with every problem the validator found.

use bytes::Bytes;
use hyper::{Request, StatusCode};

use catalog::accounts::User;
use catalog::events::UploadVia;

use super::{NOT_EDITOR_VERSIONS, editable, editable_version, version_path};
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::handlers::upload::read_form;
use crate::http::pages::{PageError, PageResult, Visitor, is_post, redirect_with, render};
use crate::services::uploads::{
    self, APPROVED_IMMUTABLE, Target, UploadError, UploadOutcome, UploadRequest,
};
use crate::validate::Problem;

/// What one upload form shows and where it posts.
struct FormSpec {
    heading: String,
    /// The paragraph under the heading.
    intro: String,
    action: String,
}

/// Why a submitted form is shown again.
#[derive(Default)]
struct Refusal {
    status: Option<StatusCode>,
    /// One message (permission, duplicate, conflict, missing file).
    message: Option<String>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    changelog: String,
}

impl Refusal {
    fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal { status: Some(status), message: Some(message.into()), ..Refusal::default() }
    }
}

/// The upload limit as people read it.
fn size_limit(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB { format!("{} MB", (bytes + MB / 2) / MB) } else { format!("{bytes} bytes") }
}

fn form_page(app: &App, v: &Visitor, spec: &FormSpec, r: Refusal) -> PageResult {
    let mut ctx = tera::Context::new();
    ctx.insert("heading", &spec.heading);
    ctx.insert("intro", &spec.intro);
    ctx.insert("action", &spec.action);
    ctx.insert("size_limit", &size_limit(app.config.max_upload_bytes));
    ctx.insert("changelog", &r.changelog);
    ctx.insert("problems", &r.problems);
    ctx.insert("warnings", &r.warnings);
    if let Some(message) = &r.message {
        ctx.insert("error", message);
    }
    render(app, v, "upload.html", ctx, r.status.unwrap_or(StatusCode::OK))
}

/// The form again after a refused upload; failures of the service itself are error pages.
fn refused(e: UploadError, changelog: String) -> Result<Refusal, PageError> {
    let one =
        |status, m: String| Refusal { changelog: changelog.clone(), ..Refusal::message(status, m) };
    Ok(match e {
        UploadError::Invalid(r) => Refusal {
            status: Some(StatusCode::BAD_REQUEST),
            message: None,
            problems: r.errors,
            warnings: r.warnings,
            changelog: changelog.clone(),
        },
        UploadError::Forbidden(m) => one(StatusCode::FORBIDDEN, m),
        UploadError::Duplicate(m) | UploadError::Conflict(m) => one(StatusCode::CONFLICT, m),
        UploadError::WrongPlugin(m) => one(StatusCode::BAD_REQUEST, m),
        UploadError::NotFound(m) => one(StatusCode::NOT_FOUND, m),
        UploadError::Approved => one(StatusCode::CONFLICT, APPROVED_IMMUTABLE.into()),
        e @ UploadError::TooLarge(_) => one(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        UploadError::Service(e) => return Err(e.into()),
    })
}

/// The flash of a committed upload: what happened, whether it is public, any warnings.
fn success_text(o: &UploadOutcome, live: bool) -> String {
    let (pkg, ver) = (o.package.as_str(), o.version.as_str());
    let mut text = match (o.approved, live) {
        (true, true) => format!("{pkg} {ver} is approved and live."),
        (true, false) => {
            format!(
                "{pkg} {ver} is approved; the public site is being regenerated and shows it shortly."
            )
        }
        (false, _) => format!(
            "{pkg} {ver} was uploaded and is awaiting review: it is published once a trusted reviewer approves it."
        ),
    };
    if !o.warnings.is_empty() {
        let list: Vec<&str> = o.warnings.iter().map(|w| w.message.as_str()).collect();
        let mut warn = format!(" Warnings: {}", list.join(" "));
        if warn.len() > 600 {
            let cut = (0..=600).rev().find(|i| warn.is_char_boundary(*i)).unwrap_or(0);
            warn.truncate(cut);
            warn.push('…');
        }
        text.push_str(&warn);
    }
    text
}

/// After a committed upload: the public page once an approved version is live, else the
/// version's review page.
async fn uploaded(app: &App, outcome: UploadOutcome) -> PageResult {
    let (pkg, ver) = (outcome.package.as_str(), outcome.version.as_str());
    if outcome.approved {
        let live = outcome.live(app).await;
        let to = generator::urls::plugin_page(pkg);
        return Ok(redirect_with(app, &to, &success_text(&outcome, live.live)));
    }
    let to = version_path(pkg, ver, "review");
    Ok(redirect_with(app, &to, &success_text(&outcome, false)))
}

/// Reads the multipart form (CSRF first), uploads, and redirects or shows the form again.
async fn submit(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    user: &User,
    spec: &FormSpec,
    target: Target,
) -> PageResult {
    let form = read_form(app, req).await.map_err(|e| PageError::Api(e.into_api()))?;
    v.check_csrf(app, form.csrf.as_deref())?;
    let changelog = form.changelog.unwrap_or_default();
    let Some(zip) = form.package else {
        let missing = "Choose the plugin's zip file to upload.";
        let r = Refusal { changelog, ..Refusal::message(StatusCode::BAD_REQUEST, missing) };
        return form_page(app, v, spec, r);
    };
    let request = UploadRequest {
        zip,
        actor: user.clone(),
        target,
        token_id: None,
        changelog: Some(changelog.clone()).filter(|c| !c.trim().is_empty()),
        via: UploadVia::Web,
    };
    match uploads::perform(app, request).await {
        Ok(outcome) => uploaded(app, outcome).await,
        Err(e) => form_page(app, v, spec, refused(e, changelog)?),
    }
}

/// GET shows the form, POST uploads.
async fn form_or_submit(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    user: &User,
    spec: FormSpec,
    target: Target,
) -> PageResult {
    if is_post(req) {
        submit(app, v, req, user, &spec, target).await
    } else {
        form_page(app, v, &spec, Refusal::default())
    }
}

/// `/plugins/add/`: a new plugin, or a new version of one the user edits.
pub(crate) async fn add_plugin(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    let user = v.require_user(req)?;
    let spec = FormSpec {
        heading: "Upload a plugin".into(),
        intro: "Upload the zip of a new plugin, or of a new version of a plugin you edit: the \
                plugin is named by the zip's top folder and its metadata.txt."
            .into(),
        action: "/plugins/add/".into(),
    };
    form_or_submit(app, v, req, user, spec, Target::AddOrCreate).await
}

/// `/plugins/<pkg>/version/add/`: a new version of this plugin (editors and staff).
pub(crate) async fn version_add(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    let plugin = editable(app, user, package, NOT_EDITOR_VERSIONS).await?;
    let spec = FormSpec {
        heading: format!("Upload a new version of {}", plugin.name),
        intro: format!(
            "The zip must contain the folder `{}` with a metadata.txt naming a version that does not exist yet.",
            plugin.package_name
        ),
        action: format!("{}version/add/", generator::urls::plugin_page(&plugin.package_name)),
    };
    form_or_submit(app, v, req, user, spec, Target::AddTo(plugin.id)).await
}

/// `/plugins/<pkg>/version/<v>/update/`: replaces an unapproved version's zip.
pub(crate) async fn version_update(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    let (plugin, row) = editable_version(app, user, package, version, NOT_EDITOR_VERSIONS).await?;
    if row.approved {
        return Err(PageError::Api(ApiError::Conflict(APPROVED_IMMUTABLE.into())));
    }
    let spec = FormSpec {
        heading: format!("Replace version {} of {}", row.version, plugin.name),
        intro: format!(
            "The version awaits review; its zip can be replaced by one with the same folder `{}` and version {} in metadata.txt. Reviewers then see the new zip.",
            plugin.package_name, row.version
        ),
        action: version_path(&plugin.package_name, &row.version, "update"),
    };
    let target = Target::Replace { plugin_id: plugin.id, version_key: row.version_key.clone() };
    form_or_submit(app, v, req, user, spec, target).await
}
