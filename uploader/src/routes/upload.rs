//! Uploads. `POST /plugins/add/` (multipart `package` or a raw `application/zip` body, user
//! JWT) creates a plugin or adds a version to one the caller edits; the shared `perform`
//! below also serves the token API and XML-RPC.
//!
//! An upload is all or nothing: validate (blocking task) → `BEGIN IMMEDIATE` on the single
//! writer → permission and duplicate checks → store the zip (fsync file and directory) →
//! insert rows + event → COMMIT → keep the zip. Any failure before COMMIT removes the zip
//! (`store::Stored` guard) and rolls the transaction back. Of concurrent uploads of the same
//! version the writer lock orders them; the first commits, the others see the row.

use bytes::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use serde_json::json;

use catalog::accounts::User;
use catalog::metadata::VersionMetadata;
use catalog::names::{PackageName, PluginVersion};
use catalog::plugins::PluginFields;
use catalog::versions::NewVersion;

use super::{can_edit, immediate, now, uploads_auto_approved, user_from_bearer};
use crate::app::{App, AppState};
use crate::error::{ApiError, ApiResult, json_response};
use crate::validate::{self, CheckedPlugin, Mode, Options, Problem, Rejection};

/// What an upload does to the catalog.
#[derive(Debug, Clone)]
pub enum Target {
    /// Create the plugin named by the zip, or add a version to it if it exists (editors).
    AddOrCreate,
    /// Add a version to this plugin (token API; the zip must be for it).
    AddTo(i64),
    /// Replace this unapproved version of this plugin (token API update).
    Replace { plugin_id: i64, version_key: String },
}

/// One upload to perform.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub zip: Bytes,
    /// Who uploads (for token uploads, the token's user).
    pub actor: User,
    pub target: Target,
    pub token_id: Option<i64>,
    /// Non-empty changelog from the form, overriding metadata.txt.
    pub changelog: Option<String>,
    /// `web`, `token` or `xmlrpc` (audit log).
    pub via: &'static str,
}

/// A committed upload.
#[derive(Debug, Clone)]
pub struct UploadOutcome {
    pub plugin_id: i64,
    pub version_id: i64,
    pub package: PackageName,
    pub version: PluginVersion,
    pub approved: bool,
    pub plugin_created: bool,
    pub warnings: Vec<Problem>,
    /// Rebuild ticket of this change.
    pub ticket: u64,
}

/// Why an upload was refused; each entry point maps these to its own response format.
#[derive(Debug)]
pub enum UploadError {
    /// The validator refused the zip.
    Invalid(Rejection),
    /// Not allowed to upload to this plugin.
    Forbidden(String),
    /// The version exists already.
    Duplicate(String),
    /// The zip is for another plugin than the URL/token names.
    WrongPlugin(String),
    /// Another conflict (name taken, plugin marked for deletion, reserved name).
    Conflict(String),
    /// The version to replace does not exist.
    NotFound(String),
    /// The version to replace is approved (immutable, decisions §5).
    Approved,
    /// The zip exceeds the upload limit.
    TooLarge(u64),
    /// Anything else (database, disk): mapped by `ApiError`.
    Api(ApiError),
}

impl From<ApiError> for UploadError {
    fn from(e: ApiError) -> Self {
        UploadError::Api(e)
    }
}

impl From<anyhow::Error> for UploadError {
    fn from(e: anyhow::Error) -> Self {
        UploadError::Api(e.into())
    }
}

impl UploadError {
    /// Human messages, for formats that only carry text.
    pub fn messages(&self) -> Vec<String> {
        match self {
            UploadError::Invalid(r) => r.errors.iter().map(problem_text).collect(),
            UploadError::Forbidden(m)
            | UploadError::Duplicate(m)
            | UploadError::WrongPlugin(m)
            | UploadError::Conflict(m)
            | UploadError::NotFound(m) => vec![m.clone()],
            UploadError::Approved => vec![APPROVED_IMMUTABLE.to_owned()],
            UploadError::TooLarge(limit) => vec![too_large_text(*limit)],
            UploadError::Api(e) => vec![e.detail()],
        }
    }

    /// The error in the service's own JSON format (`/plugins/add/`).
    pub fn into_api(self) -> ApiError {
        match self {
            UploadError::Invalid(r) => ApiError::Invalid {
                text: r.errors.iter().map(problem_text).collect(),
                errors: r.errors.iter().map(problem_json).collect(),
                warnings: r.warnings.iter().map(problem_json).collect(),
            },
            UploadError::Forbidden(m) => ApiError::Forbidden(m),
            UploadError::Duplicate(m) | UploadError::Conflict(m) => ApiError::Conflict(m),
            UploadError::WrongPlugin(m) => ApiError::BadRequest(m),
            UploadError::NotFound(m) => ApiError::NotFound(m),
            UploadError::Approved => ApiError::Conflict(APPROVED_IMMUTABLE.into()),
            UploadError::TooLarge(limit) => ApiError::TooLarge { limit },
            UploadError::Api(e) => e,
        }
    }
}

/// The reference's message for attempts to replace an approved version.
pub const APPROVED_IMMUTABLE: &str =
    "You cannot edit an approved version, please create a new version instead.";

fn too_large_text(limit: u64) -> String {
    format!("The package is larger than the limit of {limit} bytes.")
}

/// `message` plus the hint, as one line.
pub fn problem_text(p: &Problem) -> String {
    if p.hint.is_empty() { p.message.clone() } else { format!("{} ({})", p.message, p.hint) }
}

pub fn problem_json(p: &Problem) -> serde_json::Value {
    serde_json::to_value(p).unwrap_or_default()
}

/// The top folder named by the first entry of a zip, read from its central directory
/// (only to choose the validator's mode; the validator checks everything again).
fn peek_package(zip: &[u8]) -> Option<String> {
    validate::top_folder(zip).filter(|folder| folder.len() <= 256)
}

/// Validates and commits one upload (see the module docs).
pub async fn perform(app: &App, req: UploadRequest) -> Result<UploadOutcome, UploadError> {
    let max = app.config.max_upload_bytes;
    if req.zip.len() as u64 > max {
        return Err(UploadError::TooLarge(max));
    }
    // Every upload may rebuild the site: throttled per user before any work. The token is
    // kept even if the upload is refused (validation costs CPU too).
    let _charge = app.throttle.take(req.actor.id)?;
    // Which mode: the plugin's own name when it exists, else a new plugin.
    let mode = match &req.target {
        Target::AddOrCreate => {
            let peeked = req.zip.clone();
            let folder = AppState::blocking(move || peek_package(&peeked)).await?;
            match folder {
                Some(folder) => {
                    let existing = app
                        .db(move |conn| Ok(catalog::plugins::plugin_by_package(conn, &folder)?))
                        .await?;
                    match existing.map(|p| PackageName::parse(&p.package_name)) {
                        Some(Ok(name)) => Mode::Existing(name),
                        _ => Mode::New,
                    }
                }
                None => Mode::New,
            }
        }
        Target::AddTo(plugin_id) | Target::Replace { plugin_id, .. } => {
            let id = *plugin_id;
            let plugin = app.db(move |conn| Ok(catalog::plugins::plugin_by_id(conn, id)?)).await?;
            let plugin = plugin
                .ok_or_else(|| UploadError::NotFound("The plugin no longer exists.".into()))?;
            match PackageName::parse(&plugin.package_name) {
                Ok(name) => Mode::Existing(name),
                Err(e) => return Err(UploadError::Api(ApiError::Internal(e.into()))),
            }
        }
    };
    let opts = Options {
        limits: validate::Limits { max_upload_bytes: max, ..Default::default() },
        check_urls_online: app.config.check_urls_online,
    };
    let zip = req.zip.clone();
    let checked = AppState::blocking(move || validate::validate(&zip, &mode, &opts))
        .await?
        .map_err(UploadError::Invalid)?;

    let app2 = app.clone();
    let outcome = app
        .db(move |conn| Ok(commit(&app2, conn, req, checked)))
        .await
        .map_err(UploadError::Api)??;
    Ok(outcome)
}

/// The transactional part, on the writer connection.
fn commit(
    app: &App,
    conn: &mut rusqlite::Connection,
    req: UploadRequest,
    checked: CheckedPlugin,
) -> Result<UploadOutcome, UploadError> {
    let now = now();
    let tx = immediate(conn)?;
    // Authority from the database, inside the transaction.
    let actor = catalog::accounts::user_by_id(&tx, req.actor.id)?
        .filter(|u| u.is_active)
        .ok_or_else(|| UploadError::Forbidden("This account is blocked.".into()))?;
    let pkg = checked.package.clone();
    let mut plugin_created = false;
    let replacing;
    let plugin = match &req.target {
        Target::AddOrCreate => {
            let p = catalog::plugins::plugin_by_package(&tx, pkg.as_str())?;
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
            p
        }
        Target::AddTo(id) | Target::Replace { plugin_id: id, .. } => {
            let p = catalog::plugins::plugin_by_id(&tx, *id)?
                .ok_or_else(|| UploadError::NotFound("The plugin no longer exists.".into()))?;
            if !p.package_name.eq_ignore_ascii_case(pkg.as_str()) {
                return Err(UploadError::WrongPlugin(format!(
                    "The zip holds plugin `{pkg}` but this upload is for plugin `{}`: the zip's top folder must be named `{}`.",
                    p.package_name, p.package_name
                )));
            }
            Some(p)
        }
    };
    let uploaded = VersionMetadata {
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
    };
    // The metadata goes with the version only: the public plugin follows it once approved.
    let (plugin_id, meta) = match plugin {
        Some(p) => {
            let (meta, old) = existing_plugin(&tx, &p, &actor, &req.target, uploaded)?;
            replacing = old;
            (p.id, meta)
        }
        None => {
            if pkg.is_reserved() {
                return Err(UploadError::Conflict(format!(
                    "`{pkg}` is reserved for the site's own pages: rename the plugin folder."
                )));
            }
            check_name_free(&tx, &uploaded.fields.name, None)?;
            plugin_created = true;
            // The zip's deprecated flag is the version's; the plugin's own is for editors.
            let row = PluginFields { deprecated: false, ..uploaded.fields.clone() };
            let id = catalog::plugins::create_plugin(&tx, &pkg, actor.id, &row, now)?;
            catalog::tags::set_tags(&tx, id, &uploaded.tags)?;
            replacing = None;
            (id, uploaded)
        }
    };
    // Duplicate version (the same row is fine when replacing it).
    if let Some(existing) =
        catalog::versions::version_by_key(&tx, plugin_id, checked.version.key())?
        && replacing.as_ref().is_none_or(|old| old.id != existing.id)
    {
        return Err(UploadError::Duplicate(format!(
            "Version {} of plugin `{pkg}` already exists: set a higher `version=` in metadata.txt and upload again.",
            existing.version
        )));
    }
    let approved = uploads_auto_approved(&actor);
    let relative = catalog::store::Store::relative_path(&pkg, &checked.version, &checked.sha256);
    // A committed row may reference these bytes already (a replacement by the same zip): then
    // the file must survive a failure of this upload.
    let referenced = catalog::versions::package_path_in_use(&tx, &relative)?;
    // The zip is on disk and synced before the row that points to it is committed.
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
        package_path: relative.clone(),
        package_sha256: checked.sha256.clone(),
        package_size: checked.size as i64,
        icon: checked.icon.clone(),
    };
    let version_id = match &replacing {
        Some(old) => {
            catalog::versions::replace_version(&tx, old.id, &new, &meta, now)?;
            old.id
        }
        None => catalog::versions::insert_version_with_metadata(&tx, plugin_id, &new, &meta, now)?,
    };
    if let Some(token) = req.token_id {
        catalog::tokens::touch_upload_token(&tx, token, now)?;
    }
    let action = match (&replacing, plugin_created) {
        (Some(_), _) => "version.replace",
        (None, true) => "plugin.create",
        (None, false) => "version.upload",
    };
    let detail = json!({
        "version": checked.version.as_str(),
        "replaced": replacing.as_ref().map(|o| o.version.clone()),
        "approved": approved,
        "via": req.via,
        "token_id": req.token_id,
        "sha256": checked.sha256,
    });
    catalog::events::log_event(
        &tx,
        now,
        Some(actor.id),
        action,
        Some(plugin_id),
        &detail.to_string(),
    )?;
    crate::app::failpoint("upload.before_commit");
    tx.commit().map_err(ApiError::from)?;
    stored.keep();
    crate::app::failpoint("upload.after_commit");
    if let Some(old) = &replacing
        && old.package_path != relative
    {
        // Still on the single writer: no upload of the old bytes can interleave. The old
        // version was unapproved, so no build is publishing its zip.
        remove_unreferenced(app, conn, &old.package_path);
    }
    // Only an approved version changes the site: a version awaiting review requests no build
    // (its ticket is the last one requested, already covering everything public).
    let ticket = if approved { app.rebuild.request() } else { app.rebuild.status().requested };
    Ok(UploadOutcome {
        plugin_id,
        version_id,
        package: pkg,
        version: checked.version,
        approved,
        plugin_created,
        warnings: checked.warnings,
        ticket,
    })
}

/// Removes a stored zip that no row references any more (a deleted or replaced version's),
/// deciding inside a transaction on the writer `conn`; failures are logged (the startup
/// sweep removes what is left).
pub fn remove_unreferenced(app: &App, conn: &mut rusqlite::Connection, relative: &str) {
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
    tx: &rusqlite::Connection,
    p: &catalog::plugins::PluginRow,
    actor: &User,
    target: &Target,
    uploaded: VersionMetadata,
) -> Result<(VersionMetadata, Option<catalog::versions::VersionRow>), UploadError> {
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
    let mut replacing = None;
    if let Target::Replace { version_key, .. } = target {
        let old = catalog::versions::version_by_key(tx, p.id, version_key)?.ok_or_else(|| {
            UploadError::NotFound(format!(
                "Plugin `{}` has no version to update with that number.",
                p.package_name
            ))
        })?;
        if old.approved {
            return Err(UploadError::Approved);
        }
        replacing = Some(old);
    }
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

/// A display name belongs to one plugin: refused when another plugin has it, as its public
/// name or in any of its versions (so a name under review cannot be taken meanwhile).
fn check_name_free(
    tx: &rusqlite::Connection,
    name: &str,
    plugin: Option<i64>,
) -> Result<(), UploadError> {
    if catalog::plugins::plugin_with_name(tx, name, plugin)?.is_some() {
        return Err(UploadError::Conflict(format!(
            "Another plugin is already named \"{name}\": change `name=` in metadata.txt."
        )));
    }
    Ok(())
}

/// The fields of an upload form.
#[derive(Debug, Default)]
pub struct UploadForm {
    pub package: Option<Bytes>,
    pub changelog: Option<String>,
    pub auto_approve_after_scan: bool,
}

/// Why a form could not be read.
#[derive(Debug)]
pub enum FormError {
    /// Not multipart/form-data nor application/zip.
    UnsupportedType,
    /// Broken multipart, two `package` parts, oversized text field.
    Malformed(String),
    TooLarge(u64),
}

impl FormError {
    pub fn into_api(self) -> ApiError {
        match self {
            FormError::UnsupportedType => ApiError::UnsupportedMediaType(
                "Send the zip as multipart/form-data with a `package` file field, or as the raw body with `Content-Type: application/zip`.".into(),
            ),
            FormError::Malformed(m) => ApiError::BadRequest(m),
            FormError::TooLarge(limit) => ApiError::TooLarge { limit },
        }
    }
}

const MAX_TEXT_FIELD: u64 = 64 * 1024;

/// Django's idea of a true form value.
fn truthy(v: &str) -> bool {
    !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "false" | "0" | "off" | "no")
}

/// Reads the upload form: multipart (`package`, `changelog`, `auto_approve_after_scan`;
/// other fields ignored), a raw zip body, or an empty body (no package).
pub async fn read_form(app: &App, req: &Request<Bytes>) -> Result<UploadForm, FormError> {
    let ctype = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ctype.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let body = req.body().clone();
    match mime.as_str() {
        "multipart/form-data" => {}
        "application/zip" | "application/x-zip-compressed" | "application/octet-stream" => {
            return Ok(UploadForm {
                package: (!body.is_empty()).then_some(body),
                ..Default::default()
            });
        }
        "" | "application/x-www-form-urlencoded" if body.is_empty() => {
            return Ok(UploadForm::default());
        }
        _ => return Err(FormError::UnsupportedType),
    }
    let boundary = multer::parse_boundary(ctype)
        .map_err(|_| FormError::Malformed("The multipart body has no valid boundary.".into()))?;
    let limit = app.config.max_multipart_bytes();
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limit)
            .per_field(app.config.max_upload_bytes + 1)
            .for_field("changelog", MAX_TEXT_FIELD)
            .for_field("auto_approve_after_scan", 1024)
            .for_field("skip_security_rules", 1024),
    );
    let stream =
        futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut form = UploadForm::default();
    let malformed = |e: multer::Error| match e {
        multer::Error::FieldSizeExceeded { field_name, .. }
            if field_name.as_deref() == Some("package") =>
        {
            FormError::TooLarge(app.config.max_upload_bytes)
        }
        multer::Error::StreamSizeExceeded { .. } => FormError::TooLarge(limit),
        other => FormError::Malformed(format!("The multipart body is malformed: {other}")),
    };
    while let Some(field) = mp.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("package") => {
                if form.package.is_some() {
                    return Err(FormError::Malformed(
                        "The form has two `package` fields; send exactly one zip.".into(),
                    ));
                }
                let bytes = field_bytes(field).await.map_err(malformed)?;
                form.package = (!bytes.is_empty()).then_some(bytes);
            }
            Some("changelog") => {
                form.changelog = Some(field.text().await.map_err(malformed)?);
            }
            Some("auto_approve_after_scan") => {
                form.auto_approve_after_scan = truthy(&field.text().await.map_err(malformed)?);
            }
            _ => {
                // Ignored fields (skip_security_rules, csrf tokens, ...) are drained.
                field.bytes().await.map_err(malformed)?;
            }
        }
    }
    Ok(form)
}

/// A field's data. The body reaches multer as one buffer, so the field is usually one
/// chunk: keep it (a view into multer's copy of the body) instead of `Field::bytes`, which
/// would copy a 25 MB zip once more.
async fn field_bytes(mut field: multer::Field<'_>) -> Result<Bytes, multer::Error> {
    let Some(first) = field.chunk().await? else { return Ok(Bytes::new()) };
    let Some(second) = field.chunk().await? else { return Ok(first) };
    let mut all = bytes::BytesMut::with_capacity(first.len() + second.len());
    all.extend_from_slice(&first);
    all.extend_from_slice(&second);
    while let Some(chunk) = field.chunk().await? {
        all.extend_from_slice(&chunk);
    }
    Ok(all.freeze())
}

/// Waits (bounded) for the build that includes `ticket`; returns `(live, after_ms)`.
pub async fn wait_live(app: &App, ticket: u64) -> (bool, Option<u64>) {
    match app.rebuild.wait_for(ticket, app.config.live_wait).await {
        Some(waited) => (true, Some(waited.as_millis() as u64)),
        None => (false, None),
    }
}

/// `POST /plugins/add/`: multipart `package` (or a raw zip), user JWT.
pub async fn add(app: &App, req: Request<Bytes>) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let form = read_form(app, &req).await.map_err(FormError::into_api)?;
    let Some(zip) = form.package else {
        return Err(ApiError::BadRequest(
            "No package: send the plugin zip in the multipart field `package`.".into(),
        ));
    };
    let request = UploadRequest {
        zip,
        actor: user,
        target: Target::AddOrCreate,
        token_id: None,
        changelog: form.changelog,
        via: "web",
    };
    let outcome = perform(app, request).await.map_err(UploadError::into_api)?;
    let (live, live_after_ms) =
        if outcome.approved { wait_live(app, outcome.ticket).await } else { (false, None) };
    let base = &app.config.site.base_url;
    let body = json!({
        "success": true,
        "message": if outcome.approved {
            "The plugin version has been saved and approved."
        } else {
            "The plugin version has been saved; it is published once a trusted reviewer approves it."
        },
        "plugin_id": outcome.plugin_id,
        "version_id": outcome.version_id,
        "package": outcome.package.as_str(),
        "version": outcome.version.as_str(),
        "plugin_created": outcome.plugin_created,
        "approved": outcome.approved,
        "url": format!(
            "{base}{}",
            generator::urls::version_page(outcome.package.as_str(), outcome.version.as_str())
        ),
        "live": live,
        "live_after_ms": live_after_ms,
        "warnings": outcome.warnings.iter().map(problem_json).collect::<Vec<_>>(),
    });
    Ok(json_response(StatusCode::CREATED, &body))
}
