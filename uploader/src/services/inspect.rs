//! What a reviewer inspects of one version (the review page): the version with the newest
//! other approved version it is compared with, who uploaded it, whether the caller may
//! approve it; then, from the stored zips (read in a blocking task), the comparison of
//! `review_diff` and the validator's verdict on the stored bytes under today's rules.

use catalog::accounts::User;
use catalog::names::PackageName;
use catalog::plugins::PluginRow;
use catalog::versions::VersionRow;

use super::version_or_404;
use super::{ServiceError, ServiceResult, can_approve, can_edit, db, plugin_or_404};
use crate::app::{App, AppState};
use crate::review_diff::{self, DiffLimits, ReviewReport};
use crate::validate::{self, Mode, Options, Problem};

/// A version under review and what it is compared with.
#[derive(Debug, Clone)]
pub(crate) struct ReviewSubject {
    pub plugin: PluginRow,
    pub version: VersionRow,
    /// The newest approved version other than this one: the base of the diff.
    pub base: Option<VersionRow>,
    pub uploader: Option<String>,
    /// The uploader is trusted or staff.
    pub uploader_trusted: bool,
    /// The caller may approve and unapprove this version.
    pub may_approve: bool,
}

/// The version and its context for `user`: editors of the plugin and its approvers (staff,
/// trusted editors); anyone else gets a 403, an unknown plugin or version a 404.
pub(crate) async fn subject(
    app: &App,
    user: User,
    package: &str,
    version: &str,
) -> ServiceResult<ReviewSubject> {
    let (package, version) = (package.to_owned(), version.to_owned());
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        let may_approve = can_approve(conn, &plugin, &user)?;
        if !may_approve && !can_edit(conn, &plugin, &user)? {
            return Err(ServiceError::Forbidden(format!(
                "Only editors of `{}` and its approvers can review its versions.",
                plugin.package_name
            )));
        }
        let version = version_or_404(conn, &plugin, &version)?;
        let base = catalog::versions::versions_of_plugin(conn, plugin.id)?
            .into_iter()
            .find(|v| v.approved && v.id != version.id);
        let uploader = match version.created_by {
            Some(id) => catalog::accounts::user_by_id(conn, id)?,
            None => None,
        };
        let uploader_trusted =
            uploader.as_ref().is_some_and(|u| u.can_approve || u.is_staff || u.is_superuser);
        Ok(ReviewSubject {
            plugin,
            version,
            base,
            uploader: uploader.map(|u| u.username),
            uploader_trusted,
            may_approve,
        })
    })
    .await
}

/// What the stored zips say.
#[derive(Debug)]
pub(crate) struct Inspection {
    pub report: ReviewReport,
    /// The validator's warnings on the stored zip.
    pub warnings: Vec<Problem>,
    /// Errors under today's rules (empty unless the rules changed since the upload).
    pub errors: Vec<Problem>,
}

/// Reads the version's zip and its base's from the store, compares them and re-runs the
/// validator (URLs are not checked online: a page must not wait on the network).
pub(crate) async fn inspect(app: &App, subject: &ReviewSubject) -> ServiceResult<Inspection> {
    let store = app.store.clone();
    let max_upload_bytes = app.config.max_upload_bytes;
    let (plugin, version, base) =
        (subject.plugin.clone(), subject.version.clone(), subject.base.clone());
    AppState::blocking(move || {
        let pending = read_zip(&store, &plugin, &version)?;
        let approved = base.as_ref().map(|b| read_zip(&store, &plugin, b)).transpose()?;
        let report = review_diff::compare(&pending, approved.as_deref(), &DiffLimits::default())
            .map_err(|e| damaged(&plugin, &version, &e.to_string()))?;
        let opts = Options {
            limits: validate::Limits { max_upload_bytes, ..Default::default() },
            check_urls_online: false,
        };
        let mode = match PackageName::parse(&plugin.package_name) {
            Ok(name) => Mode::Existing(name),
            Err(_) => Mode::New,
        };
        let (warnings, errors) = match validate::validate(&pending, &mode, &opts) {
            Ok(checked) => (checked.warnings, Vec::new()),
            Err(rejection) => (rejection.warnings, rejection.errors),
        };
        Ok(Inspection { report, warnings, errors })
    })
    .await?
}

/// The stored bytes of `row`.
fn read_zip(
    store: &catalog::store::Store,
    plugin: &PluginRow,
    row: &VersionRow,
) -> ServiceResult<Vec<u8>> {
    std::fs::read(store.absolute(&row.package_path))
        .map_err(|e| damaged(plugin, row, &e.to_string()))
}

/// The 409 of a stored zip that cannot be read (the review page says so).
fn damaged(plugin: &PluginRow, row: &VersionRow, why: &str) -> ServiceError {
    tracing::error!(package = %plugin.package_name, version = %row.version, error = why, "stored zip unreadable");
    ServiceError::Conflict(format!(
        "The stored zip of {} {} is missing or damaged, so it cannot be reviewed. Upload the \
         version again.",
        plugin.package_name, row.version
    ))
}
