//! The authors' pages: `/plugins/my`, the upload forms (`/plugins/add/`, a plugin's
//! `version/add/` and `version/<v>/update/`, in `upload`), version deletion, and the plugin's
//! settings, deletion and restoration. Permissions are the services' (editors and staff);
//! this module only adds the page's own 403 text before showing a form.

mod upload;

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::{Request, StatusCode};
use serde::Serialize;

use catalog::accounts::User;
use catalog::checks::ScanStatus;
use catalog::feedback::{QueuePlace, QueueStatus, TaskSummary};
use catalog::ids::VersionId;
use catalog::plugins::PluginRow;
use catalog::versions::{EditorPlugin, VersionRow};
use generator::urls;

use super::{
    PageError, PageResult, Visitor, checked_form, feedback, is_post, redirect_with, render,
};
use crate::app::App;
use crate::services::review::{self, PluginPatch};
use crate::services::scans;
use crate::services::version_or_404;
use crate::services::{ServiceError, can_edit, db, plugin_or_404};

pub(crate) use upload::{add_plugin, version_add, version_update};

/// Where the author pages send you after a change.
const MY_PLUGINS: &str = "/plugins/my";
/// The 403 text of the version pages for a non-editor.
const NOT_EDITOR_VERSIONS: &str = "You cannot create or modify versions of this plugin.";
/// The 403 text of the plugin pages for a non-editor.
const NOT_EDITOR_PLUGIN: &str = "You cannot modify this plugin: only its editors and staff can.";

/// The plugin named in the URL, for an editor or staff (404 when unknown; 403 page with
/// `refusal` for anyone else).
fn editor_plugin(
    conn: &rusqlite::Connection,
    user: &User,
    package: &str,
    refusal: &'static str,
) -> Result<PluginRow, ServiceError> {
    let plugin = plugin_or_404(conn, package)?;
    if !can_edit(conn, &plugin, user)? {
        return Err(ServiceError::Forbidden(refusal.into()));
    }
    Ok(plugin)
}

/// A plugin the user may edit, or the 404/403 page.
async fn editable(
    app: &App,
    user: &User,
    package: &str,
    refusal: &'static str,
) -> Result<PluginRow, ServiceError> {
    let (user, package) = (user.clone(), package.to_owned());
    db(app, move |conn| editor_plugin(conn, &user, &package, refusal)).await
}

/// A version of a plugin the user may edit, or the 404/403 page.
async fn editable_version(
    app: &App,
    user: &User,
    package: &str,
    version: &str,
    refusal: &'static str,
) -> Result<(PluginRow, VersionRow), ServiceError> {
    let (user, package, version) = (user.clone(), package.to_owned(), version.to_owned());
    db(app, move |conn| {
        let plugin = editor_plugin(conn, &user, &package, refusal)?;
        let row = version_or_404(conn, &plugin, &version)?;
        Ok((plugin, row))
    })
    .await
}

/// `/plugins/<pkg>/<action>/`.
fn plugin_path(package: &str, action: &str) -> String {
    format!("{}{action}/", urls::plugin_page(package))
}

/// `/plugins/<pkg>/version/<v>/<action>/`.
fn version_path(package: &str, version: &str, action: &str) -> String {
    format!("{}{action}/", urls::version_page(package, version))
}

/// What a change's flash adds about the public site.
fn live_note(changed: bool, live: bool) -> &'static str {
    match (changed, live) {
        (false, _) => " Nothing needed to change.",
        (true, true) => " The public site shows it now.",
        (true, false) => " The public site is being regenerated.",
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A version's state as its authors see it (serialized as the badge's class).
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum VersionState {
    #[serde(rename = "pending")]
    AwaitingReview,
    Approved,
    /// Unapproved, and its zip was replaced since the first upload.
    Replaced,
}

impl VersionState {
    fn of(v: &VersionRow) -> Self {
        match (v.approved, v.replaced_on) {
            (true, _) => VersionState::Approved,
            (false, Some(_)) => VersionState::Replaced,
            (false, None) => VersionState::AwaitingReview,
        }
    }

    fn label(self) -> &'static str {
        match self {
            VersionState::AwaitingReview => "awaiting review",
            VersionState::Approved => "approved",
            VersionState::Replaced => "replaced",
        }
    }
}

#[derive(Serialize)]
struct VersionView {
    version: String,
    state: VersionState,
    label: &'static str,
    uploaded: String,
    review_url: String,
    /// Only unapproved versions can be replaced.
    update_url: Option<String>,
    delete_url: String,
    /// Review feedback still to do.
    open_tasks: u32,
    /// Where a pending version stands in review ("Waiting for review for 3 days; 2nd of 7").
    queue_line: Option<String>,
    /// The scan's badge: its words and CSS class.
    scan: ScanBadge,
}

/// A version's scan status as `/plugins/my` shows it, linking to the review page's checks.
#[derive(Serialize)]
struct ScanBadge {
    label: &'static str,
    class: &'static str,
}

impl ScanBadge {
    /// `None`: no scan row (uploaded before scans existed).
    fn of(status: Option<ScanStatus>) -> Self {
        let (label, class) = match status {
            None => ("not scanned", "not-scanned"),
            Some(ScanStatus::Validating) => ("validating", "pending"),
            Some(ScanStatus::Validated) => ("checked", "approved"),
            Some(ScanStatus::Incomplete) => ("scan incomplete", "warn"),
            Some(ScanStatus::Blocked) => ("blocked", "blocked"),
        };
        ScanBadge { label, class }
    }
}

/// What `/plugins/my` adds to each version from its feedback, the review queue and its scan.
struct QueueInfo {
    tasks: HashMap<VersionId, TaskSummary>,
    scans: HashMap<VersionId, Option<ScanStatus>>,
    places: HashMap<VersionId, QueuePlace>,
    now: DateTime<Utc>,
}

impl QueueInfo {
    /// Three statements for every version of every plugin shown.
    fn read(conn: &rusqlite::Connection, mine: &[EditorPlugin]) -> anyhow::Result<Self> {
        let ids: Vec<VersionId> =
            mine.iter().flat_map(|p| p.versions.iter().map(|v| v.id)).collect();
        Ok(QueueInfo {
            tasks: catalog::feedback::task_summaries(conn, &ids)?,
            places: catalog::feedback::queue_places(conn, &ids)?,
            scans: catalog::checks::scan_badges(conn, &ids)?,
            now: crate::services::now(),
        })
    }

    fn line(&self, v: &VersionRow) -> Option<String> {
        let status = QueueStatus::of(v.created_on, self.tasks.get(&v.id));
        let place = self.places.get(&v.id).copied();
        (!v.approved).then(|| feedback::status_line(status, place, self.now))
    }
}

#[derive(Serialize)]
struct PluginView {
    package: String,
    name: String,
    deleted: bool,
    deprecated: bool,
    changed: String,
    /// The public page, when a version is approved and the plugin is not deleted.
    public_url: Option<String>,
    manage_url: String,
    tokens_url: String,
    add_version_url: String,
    delete_url: String,
    restore_url: String,
    versions: Vec<VersionView>,
}

fn version_view(package: &str, v: &VersionRow, q: &QueueInfo) -> VersionView {
    let state = VersionState::of(v);
    VersionView {
        open_tasks: feedback::open_tasks(q.tasks.get(&v.id)),
        queue_line: q.line(v),
        scan: ScanBadge::of(q.scans.get(&v.id).copied().flatten()),
        version: v.version.clone(),
        state,
        label: state.label(),
        uploaded: when(v.replaced_on.unwrap_or(v.created_on)),
        review_url: version_path(package, &v.version, "review"),
        update_url: (!v.approved).then(|| version_path(package, &v.version, "update")),
        delete_url: version_path(package, &v.version, "delete"),
    }
}

fn plugin_view(p: &EditorPlugin, q: &QueueInfo) -> PluginView {
    let pkg = p.plugin.package_name.as_str();
    let public = !p.plugin.is_deleted && p.versions.iter().any(|v| v.approved);
    PluginView {
        package: pkg.to_owned(),
        name: p.plugin.name.clone(),
        deleted: p.plugin.is_deleted,
        deprecated: p.plugin.deprecated,
        changed: when(p.changed_on),
        public_url: public.then(|| urls::plugin_page(pkg)),
        manage_url: plugin_path(pkg, "update"),
        tokens_url: plugin_path(pkg, "tokens"),
        add_version_url: format!("{}version/add/", urls::plugin_page(pkg)),
        delete_url: plugin_path(pkg, "delete"),
        restore_url: plugin_path(pkg, "restore"),
        versions: p.versions.iter().map(|v| version_view(pkg, v, q)).collect(),
    }
}

/// `/plugins/my`: every plugin the user created or co-owns, in any state.
pub(crate) async fn my_plugins(app: &App, v: &Visitor, req: &Request<Bytes>) -> PageResult {
    let user_id = v.require_user(req)?.id;
    let (mine, queue) = db(app, move |conn| {
        let mine = catalog::versions::plugins_of_editor(conn, user_id)?;
        let queue = QueueInfo::read(conn, &mine)?;
        Ok((mine, queue))
    })
    .await?;
    let mut ctx = tera::Context::new();
    ctx.insert("plugins", &mine.iter().map(|p| plugin_view(p, &queue)).collect::<Vec<_>>());
    render(app, v, "my.html", ctx, StatusCode::OK)
}

/// What a confirmation page asks.
struct Confirm<'a> {
    heading: String,
    question: String,
    action: String,
    /// The name of the submit button the POST must carry.
    field: &'a str,
    button: &'a str,
    danger: bool,
}

fn confirm_page(app: &App, v: &Visitor, c: &Confirm<'_>, status: StatusCode) -> PageResult {
    let mut ctx = tera::Context::new();
    ctx.insert("heading", &c.heading);
    ctx.insert("question", &c.question);
    ctx.insert("action", &c.action);
    ctx.insert("field", c.field);
    ctx.insert("button", c.button);
    ctx.insert("danger", &c.danger);
    if status != StatusCode::OK {
        ctx.insert("error", "Press the confirmation button to go ahead; nothing was changed.");
    }
    render(app, v, "confirm.html", ctx, status)
}

/// GET shows the confirmation; POST goes ahead only with the confirmation field and a valid
/// CSRF token. `Ok(None)`: the page to answer was rendered in place of acting.
fn confirmed(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    c: &Confirm<'_>,
) -> Result<Option<PageResult>, PageError> {
    if !is_post(req) {
        return Ok(Some(confirm_page(app, v, c, StatusCode::OK)));
    }
    let form = checked_form(app, v, req)?;
    if !form.has(c.field) {
        return Ok(Some(confirm_page(app, v, c, StatusCode::BAD_REQUEST)));
    }
    Ok(None)
}

/// `/plugins/<pkg>/version/<v>/delete/`.
pub(crate) async fn version_delete(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    let (plugin, row) = editable_version(app, user, package, version, NOT_EDITOR_VERSIONS).await?;
    let state = VersionState::of(&row).label();
    let confirm = Confirm {
        heading: format!("Delete version {} of {}", row.version, plugin.name),
        question: format!(
            "Delete version {} ({state}) of the plugin {} ({})? Its zip is removed; this cannot be undone.",
            row.version, plugin.name, plugin.package_name
        ),
        action: version_path(&plugin.package_name, &row.version, "delete"),
        field: "delete_confirm",
        button: "Delete this version",
        danger: true,
    };
    if let Some(page) = confirmed(app, v, req, &confirm)? {
        return page;
    }
    let applied = review::delete_version(app, user, &plugin.package_name, &row.version).await?;
    let text = format!(
        "Version {} of {} was deleted.{}",
        row.version,
        plugin.name,
        live_note(applied.changed, applied.live.live)
    );
    Ok(redirect_with(app, MY_PLUGINS, &text))
}

/// `/plugins/<pkg>/delete/` (soft deletion) and `/plugins/<pkg>/restore/`.
async fn plugin_mark(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    delete: bool,
) -> PageResult {
    let user = v.require_user(req)?;
    let plugin = editable(app, user, package, NOT_EDITOR_PLUGIN).await?;
    let (pkg, name) = (plugin.package_name.as_str(), plugin.name.as_str());
    let confirm = if delete {
        Confirm {
            heading: format!("Delete the plugin {name}"),
            question: format!(
                "Delete the plugin {name} ({pkg})? It disappears from the public site and from QGIS; its versions are kept so that you can restore it from My plugins."
            ),
            action: plugin_path(pkg, "delete"),
            field: "delete_confirm",
            button: "Delete the plugin",
            danger: true,
        }
    } else {
        Confirm {
            heading: format!("Restore the plugin {name}"),
            question: format!(
                "Restore the plugin {name} ({pkg})? Its approved versions are published again."
            ),
            action: plugin_path(pkg, "restore"),
            field: "restore_confirm",
            button: "Restore the plugin",
            danger: false,
        }
    };
    if let Some(page) = confirmed(app, v, req, &confirm)? {
        return page;
    }
    let applied = review::set_deleted(app, user, pkg, delete).await?;
    let what = if delete { "deleted" } else { "restored" };
    let note = live_note(applied.changed, applied.live.live);
    Ok(redirect_with(app, MY_PLUGINS, &format!("The plugin {name} was {what}.{note}")))
}

/// `/plugins/<pkg>/delete/`.
pub(crate) async fn plugin_delete(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
) -> PageResult {
    plugin_mark(app, v, req, package, true).await
}

/// `/plugins/<pkg>/restore/`.
pub(crate) async fn plugin_restore(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
) -> PageResult {
    plugin_mark(app, v, req, package, false).await
}

/// The settings form's values.
#[derive(Serialize, Default)]
struct Settings {
    owners: String,
    maintainer: String,
    deprecated: bool,
    /// The vendored folders, one per line (the scan lists their findings apart).
    vendored: String,
}

/// The vendored folders of the form's textarea, one per line; an error names the line.
fn vendored_lines(text: &str) -> Result<Vec<String>, String> {
    let message = |e: ServiceError| match e {
        ServiceError::BadRequest(m) => m,
        other => other.to_string(),
    };
    let lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    for (n, line) in &lines {
        scans::check_vendored(std::slice::from_ref(line))
            .map_err(|e| format!("Vendored folders, line {n}: {}", message(e)))?;
    }
    let all: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    scans::check_vendored(&all).map_err(|e| format!("Vendored folders: {}", message(e)))
}

fn settings_page(
    app: &App,
    v: &Visitor,
    plugin: &PluginRow,
    creator: Option<&str>,
    values: &Settings,
    error: Option<String>,
) -> PageResult {
    let mut ctx = tera::Context::new();
    ctx.insert("package", &plugin.package_name);
    ctx.insert("name", &plugin.name);
    ctx.insert("creator", &creator.unwrap_or(""));
    ctx.insert("action", &plugin_path(&plugin.package_name, "update"));
    ctx.insert("values", values);
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    if let Some(error) = error {
        ctx.insert("error", &error);
    }
    render(app, v, "plugin_update.html", ctx, status)
}

/// The patch a submitted settings form asks for (every field is always sent).
fn patch_of(form: &super::Form) -> (PluginPatch, Settings) {
    let owners: Vec<String> = form
        .text("owners")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    let maintainer = form.text("maintainer").to_owned();
    let deprecated = form.has("deprecated");
    let vendored = form.text("vendored").to_owned();
    let values = Settings {
        owners: owners.join(", "),
        maintainer: maintainer.clone(),
        deprecated,
        vendored,
    };
    let patch = PluginPatch {
        owners: Some(owners),
        maintainer: (!maintainer.is_empty()).then_some(maintainer),
        deprecated: Some(deprecated),
    };
    (patch, values)
}

/// `/plugins/<pkg>/update/`: owners, maintainer, deprecated, vendored folders.
pub(crate) async fn plugin_update(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    let plugin = editable(app, user, package, NOT_EDITOR_PLUGIN).await?;
    if !is_post(req) {
        let state = review::plugin_state(app, user.clone(), &plugin.package_name).await?;
        let values = Settings {
            owners: state.owners.join(", "),
            maintainer: state
                .maintainer
                .clone()
                .or_else(|| state.creator.clone())
                .unwrap_or_default(),
            deprecated: state.plugin.deprecated,
            vendored: scans::plugin_summary(app, state.plugin.id).await?.1.join("\n"),
        };
        return settings_page(app, v, &state.plugin, state.creator.as_deref(), &values, None);
    }
    let form = checked_form(app, v, req)?;
    let (patch, values) = patch_of(&form);
    // Checked first, so that a wrong line changes nothing.
    let vendored = match vendored_lines(&values.vendored) {
        Ok(paths) => paths,
        Err(m) => return settings_page(app, v, &plugin, None, &values, Some(m)),
    };
    match review::patch_plugin(app, user, &plugin.package_name, patch).await {
        Ok(applied) => {
            scans::set_vendored(app, user, &plugin.package_name, &vendored).await?;
            let note = live_note(applied.changed, applied.live.live);
            let text = format!("The settings of {} were saved.{note}", plugin.name);
            Ok(redirect_with(app, MY_PLUGINS, &text))
        }
        Err(ServiceError::BadRequest(m)) => settings_page(app, v, &plugin, None, &values, Some(m)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
#[path = "tests_author.rs"]
mod tests_author;
