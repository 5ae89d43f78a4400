//! Uploads: create a plugin or add a version to one the caller edits (web, XML-RPC), add or
//! replace a version with an upload token (token API).
//!
//! An upload is all or nothing: validate (blocking task) → `BEGIN IMMEDIATE` on the single
//! writer → permission and duplicate checks → store the zip (fsync file and directory) →
//! insert rows + event → COMMIT → keep the zip. Any failure before COMMIT removes the zip
//! (`store::Stored` guard) and rolls the transaction back. Of concurrent uploads of the same
//! version the writer lock orders them; the first commits, the others see the row.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction};

use catalog::accounts::User;
use catalog::events::{AuditEvent, UploadDetail, UploadVia};
use catalog::ids::{PluginId, TokenId, UserId, VersionId};
use catalog::metadata::VersionMetadata;
use catalog::names::{PackageName, PluginVersion};
use catalog::plugins::{PluginFields, PluginRow};
use catalog::store::Stored;
use catalog::versions::{NewVersion, VersionRow};

use super::change::{self, Live};
use super::{ServiceError, can_edit, db, immediate, now, uploads_auto_approved};
use crate::app::{self, App, AppState};
use crate::validate::{self, CheckedPlugin, Mode, Options, Problem, Rejection};

/// What an upload does to the catalog.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// Create the plugin named by the zip, or add a version to it if it exists (editors).
    AddOrCreate,
    /// Add a version to this plugin (token API; the zip must be for it).
    AddTo(PluginId),
    /// Replace this unapproved version of this plugin (token API update).
    Replace { plugin_id: PluginId, version_key: String },
}

/// One upload to perform.
#[derive(Debug, Clone)]
pub(crate) struct UploadRequest {
    pub zip: Bytes,
    /// Who uploads (for token uploads, the token's user).
    pub actor: User,
    pub target: Target,
    pub token_id: Option<TokenId>,
    /// Non-empty changelog from the form, overriding metadata.txt.
    pub changelog: Option<String>,
    pub via: UploadVia,
}

/// A committed upload.
#[derive(Debug, Clone)]
pub(crate) struct UploadOutcome {
    pub plugin_id: PluginId,
    pub version_id: VersionId,
    pub package: PackageName,
    pub version: PluginVersion,
    pub approved: bool,
    pub plugin_created: bool,
    pub warnings: Vec<Problem>,
    /// Rebuild ticket of this change.
    pub ticket: u64,
}

impl UploadOutcome {
    /// Waits (bounded) until an approved upload is live; a version awaiting review is not
    /// waited for.
    pub(crate) async fn live(&self, app: &App) -> Live {
        if self.approved { change::wait_live(app, self.ticket).await } else { Live::NOT_YET }
    }
}

/// Why an upload was refused; each entry point maps these to its own response format.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// The validator refused the zip.
    #[error("the plugin package is invalid")]
    Invalid(Rejection),
    /// Not allowed to upload to this plugin.
    #[error("{0}")]
    Forbidden(String),
    /// The version exists already.
    #[error("{0}")]
    Duplicate(String),
    /// The zip is for another plugin than the URL/token names.
    #[error("{0}")]
    WrongPlugin(String),
    /// Another conflict (name taken, plugin marked for deletion, reserved name).
    #[error("{0}")]
    Conflict(String),
    /// The version to replace does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The version to replace is approved (immutable, decisions §5).
    #[error("{APPROVED_IMMUTABLE}")]
    Approved,
    /// The zip exceeds the upload limit (bytes).
    #[error("The package is larger than the limit of {0} bytes.")]
    TooLarge(u64),
    /// Anything else (throttle, database, disk).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<anyhow::Error> for UploadError {
    fn from(e: anyhow::Error) -> Self {
        UploadError::Service(e.into())
    }
}

impl From<rusqlite::Error> for UploadError {
    fn from(e: rusqlite::Error) -> Self {
        UploadError::Service(e.into())
    }
}

impl From<crate::change_throttle::Throttled> for UploadError {
    fn from(e: crate::change_throttle::Throttled) -> Self {
        UploadError::Service(e.into())
    }
}

/// The reference's message for attempts to replace an approved version.
pub(crate) const APPROVED_IMMUTABLE: &str =
    "You cannot edit an approved version, please create a new version instead.";

type UploadResult<T> = Result<T, UploadError>;

/// Validates and commits one upload (see the module docs).
pub(crate) async fn perform(app: &App, req: UploadRequest) -> UploadResult<UploadOutcome> {
    let max = app.config.max_upload_bytes;
    if req.zip.len() as u64 > max {
        return Err(UploadError::TooLarge(max));
    }
    // Every upload may rebuild the site: throttled per user before any work. The token is
    // kept even if the upload is refused (validation costs CPU too).
    let _charge = app.throttle.take(req.actor.id)?;
    let mode = validation_mode(app, &req).await?;
    let opts = Options {
        limits: validate::Limits { max_upload_bytes: max, ..Default::default() },
        check_urls_online: app.config.check_urls_online,
    };
    let zip = req.zip.clone();
    let checked = AppState::blocking(move || validate::validate(&zip, &mode, &opts))
        .await?
        .map_err(UploadError::Invalid)?;
    let app2 = app.clone();
    app.db(move |conn| Ok::<_, UploadError>(commit(&app2, conn, req, checked))).await?
}

/// Which mode to validate in: the plugin's own name when it exists, else a new plugin.
async fn validation_mode(app: &App, req: &UploadRequest) -> UploadResult<Mode> {
    match &req.target {
        Target::AddOrCreate => {
            let peeked = req.zip.clone();
            let Some(folder) = AppState::blocking(move || peek_package(&peeked)).await? else {
                return Ok(Mode::New);
            };
            let existing =
                db(app, move |conn| Ok(catalog::plugins::plugin_by_package(conn, &folder)?))
                    .await?;
            Ok(match existing.map(|p| PackageName::parse(&p.package_name)) {
                Some(Ok(name)) => Mode::Existing(name),
                _ => Mode::New,
            })
        }
        Target::AddTo(plugin_id) | Target::Replace { plugin_id, .. } => {
            let id = *plugin_id;
            let plugin = db(app, move |conn| Ok(catalog::plugins::plugin_by_id(conn, id)?)).await?;
            let plugin = plugin.ok_or_else(plugin_gone)?;
            let name = PackageName::parse(&plugin.package_name)
                .map_err(|e| ServiceError::Internal(e.into()))?;
            Ok(Mode::Existing(name))
        }
    }
}

/// The top folder named by the first entry of a zip, read from its central directory
/// (only to choose the validator's mode; the validator checks everything again).
fn peek_package(zip: &[u8]) -> Option<String> {
    validate::top_folder(zip).filter(|folder| folder.len() <= 256)
}

fn plugin_gone() -> UploadError {
    UploadError::NotFound("The plugin no longer exists.".into())
}

/// Where the new version goes, decided inside the transaction.
struct Destination {
    plugin_id: PluginId,
    /// The version's metadata (the public plugin follows it once approved).
    meta: VersionMetadata,
    /// The unapproved version this upload replaces.
    replacing: Option<VersionRow>,
    plugin_created: bool,
}

/// The transactional part, on the writer connection.
fn commit(
    app: &App,
    conn: &mut Connection,
    req: UploadRequest,
    checked: CheckedPlugin,
) -> UploadResult<UploadOutcome> {
    let now = now();
    let tx = immediate(conn)?;
    let actor = active_actor(&tx, req.actor.id)?;
    let existing = plugin_of_target(&tx, &req.target, &checked.package)?;
    let dest = destination(&tx, existing, &actor, &req.target, &checked, now)?;
    refuse_duplicate(&tx, &dest, &checked)?;
    let approved = uploads_auto_approved(&actor);
    let (stored, new) = store_zip(app, &tx, &req, &checked, &actor, approved)?;
    let version_id = match &dest.replacing {
        Some(old) => {
            catalog::versions::replace_version(&tx, old.id, &new, &dest.meta, now)?;
            old.id
        }
        None => catalog::versions::insert_version_with_metadata(
            &tx,
            dest.plugin_id,
            &new,
            &dest.meta,
            now,
        )?,
    };
    if let Some(token) = req.token_id {
        catalog::tokens::touch_upload_token(&tx, token, now)?;
    }
    // Every new upload is scanned (issue 15); the worker is woken after COMMIT.
    catalog::checks::queue_scan(&tx, version_id, &checked.sha256, now)?;
    let event = upload_event(&dest, &req, &checked, approved);
    catalog::events::log_event(&tx, now, Some(actor.id), Some(dest.plugin_id), &event)?;
    queue_mail(app, &tx, &dest, version_id, actor.id, now)?;
    app::failpoint("upload.before_commit");
    tx.commit()?;
    app.mail_wake.notify_one();
    stored.keep();
    app.scan_wake.notify_one();
    app::failpoint("upload.after_commit");
    after_commit(app, conn, dest, &new, version_id, checked, approved)
}

/// The uploader, re-read inside the transaction: authority comes from the database.
fn active_actor(tx: &Transaction<'_>, id: UserId) -> UploadResult<User> {
    catalog::accounts::user_by_id(tx, id)?
        .filter(|u| u.is_active)
        .ok_or_else(|| UploadError::Forbidden("This account is blocked.".into()))
}

/// The plugin the upload goes to, if it exists; the zip must be for it.
fn plugin_of_target(
    tx: &Transaction<'_>,
    target: &Target,
    pkg: &PackageName,
) -> UploadResult<Option<PluginRow>> {
    match target {
        Target::AddOrCreate => {
            let p = catalog::plugins::plugin_by_package(tx, pkg.as_str())?;
            // Package names are unique without case; the folder must match exactly, or QGIS
            // would install this version into another folder than the plugin's.
            if let Some(p) = &p
                && p.package_name != pkg.as_str()
            {
                return Err(UploadError::WrongPlugin(format!(
                    "A plugin `{}` exists already: the zip's top folder must be named exactly `{}` (not `{pkg}`).",
                    p.package_name, p.package_name
                )));
            }
            Ok(p)
        }
        Target::AddTo(id) | Target::Replace { plugin_id: id, .. } => {
            let p = catalog::plugins::plugin_by_id(tx, *id)?.ok_or_else(plugin_gone)?;
            if !p.package_name.eq_ignore_ascii_case(pkg.as_str()) {
                return Err(UploadError::WrongPlugin(format!(
                    "The zip holds plugin `{pkg}` but this upload is for plugin `{}`: the zip's top folder must be named `{}`.",
                    p.package_name, p.package_name
                )));
            }
            Ok(Some(p))
        }
    }
}

/// The metadata the zip declares.
fn uploaded_metadata(checked: &CheckedPlugin) -> VersionMetadata {
    VersionMetadata {
        fields: PluginFields {
            name: checked.name.clone(),
            author: checked.author.clone(),
            email: checked.email.clone(),
            homepage: checked.homepage.clone(),
            repository: checked.repository.clone(),
            tracker: checked.tracker.clone(),
            description: checked.description.clone(),
            about: checked.about.clone(),
            deprecated: checked.deprecated,
            server: checked.server,
        },
        tags: checked.tags.clone(),
    }
}

/// Checks the upload against the existing plugin, or creates the plugin.
fn destination(
    tx: &Transaction<'_>,
    existing: Option<PluginRow>,
    actor: &User,
    target: &Target,
    checked: &CheckedPlugin,
    now: DateTime<Utc>,
) -> UploadResult<Destination> {
    let uploaded = uploaded_metadata(checked);
    match existing {
        Some(p) => {
            let (meta, replacing) = existing_plugin(tx, &p, actor, target, uploaded)?;
            Ok(Destination { plugin_id: p.id, meta, replacing, plugin_created: false })
        }
        None => {
            let plugin_id = create_plugin(tx, &checked.package, actor, &uploaded, now)?;
            Ok(Destination { plugin_id, meta: uploaded, replacing: None, plugin_created: true })
        }
    }
}

/// Creates the plugin a first upload names (its name must be free and not reserved).
fn create_plugin(
    tx: &Transaction<'_>,
    pkg: &PackageName,
    actor: &User,
    uploaded: &VersionMetadata,
    now: DateTime<Utc>,
) -> UploadResult<PluginId> {
    if pkg.is_reserved() {
        return Err(UploadError::Conflict(format!(
            "`{pkg}` is reserved for the site's own pages: rename the plugin folder."
        )));
    }
    check_name_free(tx, &uploaded.fields.name, None)?;
    // The zip's deprecated flag is the version's; the plugin's own is for editors.
    let row = PluginFields { deprecated: false, ..uploaded.fields.clone() };
    let id = catalog::plugins::create_plugin(tx, pkg, actor.id, &row, now)?;
    catalog::tags::set_tags(tx, id, &uploaded.tags)?;
    Ok(id)
}

/// A duplicate version is refused (the same row is fine when replacing it).
fn refuse_duplicate(
    tx: &Transaction<'_>,
    dest: &Destination,
    checked: &CheckedPlugin,
) -> UploadResult<()> {
    if let Some(existing) =
        catalog::versions::version_by_key(tx, dest.plugin_id, checked.version.key())?
        && dest.replacing.as_ref().is_none_or(|old| old.id != existing.id)
    {
        return Err(UploadError::Duplicate(format!(
            "Version {} of plugin `{}` already exists: set a higher `version=` in metadata.txt and upload again.",
            existing.version, checked.package
        )));
    }
    Ok(())
}

/// Stores the zip (on disk and synced before the row that points to it is committed) and
/// describes the version row.
fn store_zip(
    app: &App,
    tx: &Transaction<'_>,
    req: &UploadRequest,
    checked: &CheckedPlugin,
    actor: &User,
    approved: bool,
) -> UploadResult<(Stored, NewVersion)> {
    let relative =
        catalog::store::Store::relative_path(&checked.package, &checked.version, &checked.sha256);
    // A committed row may reference these bytes already (a replacement by the same zip): then
    // the file must survive a failure of this upload.
    let referenced = catalog::versions::package_path_in_use(tx, &relative)?;
    let stored = app.store.put(&relative, &req.zip, !referenced)?;
    let changelog = req
        .changelog
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| checked.changelog.clone());
    let new = NewVersion {
        version: checked.version.clone(),
        created_by: actor.id,
        min_qgis: checked.min_qgis,
        max_qgis: checked.max_qgis,
        changelog,
        experimental: checked.experimental,
        approved,
        external_deps: checked.external_deps.clone(),
        token_id: req.token_id,
        package_path: relative,
        package_sha256: checked.sha256.clone(),
        package_size: checked.size as i64,
        icon: checked.icon.clone(),
    };
    Ok((stored, new))
}

fn upload_event(
    dest: &Destination,
    req: &UploadRequest,
    checked: &CheckedPlugin,
    approved: bool,
) -> AuditEvent {
    let detail = UploadDetail {
        version: checked.version.as_str().to_owned(),
        replaced: dest.replacing.as_ref().map(|o| o.version.clone()),
        approved,
        via: req.via,
        token_id: req.token_id,
        sha256: checked.sha256.clone(),
    };
    match (&dest.replacing, dest.plugin_created) {
        (Some(_), _) => AuditEvent::VersionReplace(detail),
        (None, true) => AuditEvent::PluginCreate(detail),
        (None, false) => AuditEvent::VersionUpload(detail),
    }
}

/// The upload's mail, in its transaction: "new plugin" to the review group when the upload
/// created the plugin, "upload received" to the editors always.
fn queue_mail(
    app: &App,
    tx: &Transaction<'_>,
    dest: &Destination,
    version: VersionId,
    by: UserId,
    now: DateTime<Utc>,
) -> UploadResult<()> {
    use crate::mail::{MailEvent, notify};
    let (base, plugin) = (&app.config.site.base_url, dest.plugin_id);
    if dest.plugin_created {
        notify(tx, base, now, &MailEvent::PluginCreated { plugin, version, by })?;
    }
    notify(tx, base, now, &MailEvent::UploadReceived { plugin, version, by })?;
    Ok(())
}

/// After COMMIT: drops the replaced zip and requests the build of an approved version.
fn after_commit(
    app: &App,
    conn: &mut Connection,
    dest: Destination,
    new: &NewVersion,
    version_id: VersionId,
    checked: CheckedPlugin,
    approved: bool,
) -> UploadResult<UploadOutcome> {
    if let Some(old) = &dest.replacing
        && old.package_path != new.package_path
    {
        // Still on the single writer: no upload of the old bytes can interleave. The old
        // version was unapproved, so no build is publishing its zip.
        remove_unreferenced(app, conn, &old.package_path);
    }
    // Only an approved version changes the site: a version awaiting review requests no build
    // (its ticket is the last one requested, already covering everything public).
    let ticket = if approved { app.rebuild.request() } else { app.rebuild.status().requested };
    Ok(UploadOutcome {
        plugin_id: dest.plugin_id,
        version_id,
        package: checked.package,
        version: checked.version,
        approved,
        plugin_created: dest.plugin_created,
        warnings: checked.warnings,
        ticket,
    })
}

/// Removes a stored zip that no row references any more (a deleted or replaced version's),
/// deciding inside a transaction on the writer `conn`; failures are logged (the startup
/// sweep removes what is left).
pub(crate) fn remove_unreferenced(app: &App, conn: &mut Connection, relative: &str) {
    let removed = immediate(conn).map_err(anyhow::Error::from).and_then(|tx| {
        let removed = app.store.remove_unreferenced(&tx, relative)?;
        tx.commit()?;
        Ok(removed)
    });
    match removed {
        Ok(true) => tracing::debug!(file = relative, "removed an unreferenced zip"),
        Ok(false) => tracing::info!(file = relative, "kept a zip that a row references again"),
        Err(e) => tracing::warn!(
            file = relative,
            error = format!("{e:#}"),
            "failed to remove an unreferenced zip; the startup sweep will"
        ),
    }
}

/// The checks of an upload to an existing plugin `p`: editor, not deleted, the version to
/// replace (if any) unapproved, the display name free. Returns the new version's metadata:
/// the upload's, with the current name when the upload may not rename, and the plugin's
/// current values where the upload leaves a field out.
fn existing_plugin(
    tx: &Connection,
    p: &PluginRow,
    actor: &User,
    target: &Target,
    uploaded: VersionMetadata,
) -> UploadResult<(VersionMetadata, Option<VersionRow>)> {
    if !can_edit(tx, p, actor)? {
        return Err(UploadError::Forbidden(format!(
            "You cannot create or modify versions of plugin `{}`: only its creator, its owners and staff can.",
            p.package_name
        )));
    }
    if p.is_deleted {
        return Err(UploadError::Conflict(format!(
            "Plugin `{}` is marked for deletion; restore it (POST /api/v1/plugins/{}/restore) before uploading.",
            p.package_name, p.package_name
        )));
    }
    let replacing = version_to_replace(tx, p, target)?;
    let mut meta = uploaded.inheriting(&catalog::metadata::plugin_metadata(tx, p.id)?);
    // The token API keeps the display name unless the plugin allows renaming.
    let update_name =
        !matches!(target, Target::AddTo(_) | Target::Replace { .. }) || p.allow_update_name;
    if update_name {
        check_name_free(tx, &meta.fields.name, Some(p.id))?;
    } else {
        meta.fields.name = p.name.clone();
    }
    Ok((meta, replacing))
}

/// The unapproved version a token API update replaces.
fn version_to_replace(
    tx: &Connection,
    p: &PluginRow,
    target: &Target,
) -> UploadResult<Option<VersionRow>> {
    let Target::Replace { version_key, .. } = target else { return Ok(None) };
    let old = catalog::versions::version_by_key(tx, p.id, version_key)?.ok_or_else(|| {
        UploadError::NotFound(format!(
            "Plugin `{}` has no version to update with that number.",
            p.package_name
        ))
    })?;
    if old.approved {
        return Err(UploadError::Approved);
    }
    Ok(Some(old))
}

/// A display name belongs to one plugin: refused when another plugin has it, as its public
/// name or in any of its versions (so a name under review cannot be taken meanwhile).
fn check_name_free(tx: &Connection, name: &str, plugin: Option<PluginId>) -> UploadResult<()> {
    if catalog::plugins::plugin_with_name(tx, name, plugin)?.is_some() {
        return Err(UploadError::Conflict(format!(
            "Another plugin is already named \"{name}\": change `name=` in metadata.txt."
        )));
    }
    Ok(())
}
