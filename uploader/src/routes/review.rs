//! Review and plugin management (user JWT): approve/unapprove a version, the review queue,
//! a version's private JSON, plugin edits (owners, maintainer, deprecated), version deletion,
//! soft deletion and restore. Permissions as reference §3.2 with decisions §5.
//!
//! Approval names the reviewed bytes (`{"sha256"}`, decisions §9), compared inside the
//! transaction. Every change writes an event, bumps the plugin's revision and triggers the
//! coalescing rebuild; a request that changes nothing writes no event, requests no build and
//! gives its throttle token back. Responses wait (bounded) for the build that includes the
//! change and say when it went live.

use bytes::Bytes;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use catalog::accounts::User;
use catalog::names::PluginVersion;
use catalog::plugins::PluginRow;
use catalog::versions::VersionRow;
use generator::urls;

use super::upload::{remove_unreferenced, wait_live};
use super::{
    can_approve, can_edit, fmt_api_time, immediate, now, parse_json, plugin_or_404,
    user_from_bearer,
};
use crate::app::App;
use crate::change_throttle::Charge;
use crate::error::{ApiError, ApiResult, json_response};

fn version_or_404(
    conn: &rusqlite::Connection,
    plugin: &PluginRow,
    version: &str,
) -> Result<VersionRow, ApiError> {
    let not_found = || {
        ApiError::NotFound(format!("Plugin `{}` has no version `{version}`.", plugin.package_name))
    };
    // A look-up, not a new version: rows stored under older rules stay reachable.
    let v = PluginVersion::from_stored(version).map_err(|_| not_found())?;
    catalog::versions::version_by_key(conn, plugin.id, v.key())?.ok_or_else(not_found)
}

fn forbid_non_editor(
    conn: &rusqlite::Connection,
    plugin: &PluginRow,
    user: &User,
    what: &str,
) -> Result<(), ApiError> {
    if can_edit(conn, plugin, user)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Only editors of `{}` and staff can {what}.",
            plugin.package_name
        )))
    }
}

/// A SHA-256 as a reviewer names it: 64 hex digits, kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sha256Hex(String);

impl Sha256Hex {
    fn parse(text: &str) -> Option<Self> {
        (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(text.to_ascii_lowercase()))
    }

    fn matches(&self, stored: &str) -> bool {
        self.0.eq_ignore_ascii_case(stored)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    sha256: Option<String>,
}

/// The reviewed zip's SHA-256 from an approval's body, or a 400 that says what to send.
fn reviewed_sha256(body: &Bytes, package: &str, version: &str) -> Result<Sha256Hex, ApiError> {
    let how = format!(
        "Approval names the bytes you reviewed: send the JSON body {{\"sha256\": \"<hex>\"}} \
         with the SHA-256 of the zip you reviewed (for example `curl -H 'Authorization: Bearer \
         <token>' <site>/plugins/{package}/version/{version}/download/ | sha256sum`; \
         GET /api/v1/review lists it too). Nothing was changed."
    );
    let parsed: ApproveBody =
        parse_json(body).map_err(|e| ApiError::BadRequest(format!("{} {how}", e.detail())))?;
    let Some(text) = parsed.sha256 else {
        return Err(ApiError::BadRequest(format!("The field `sha256` is missing. {how}")));
    };
    Sha256Hex::parse(text.trim()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`sha256` must be 64 hexadecimal digits, not `{}`. {how}",
            text.chars().take(80).collect::<String>()
        ))
    })
}

/// The 409 of an approval whose zip is not the reviewed one.
fn changed_since_review(plugin: &PluginRow, row: &VersionRow, sent: &Sha256Hex) -> ApiError {
    let replaced = match row.replaced_on {
        Some(t) => format!(", replaced at {}", fmt_api_time(t)),
        None => String::new(),
    };
    ApiError::ChangedSinceReview(format!(
        "The zip of {} {} changed since it was reviewed: you sent sha256 {}, the stored zip has \
         sha256 {} ({} bytes{replaced}). Nothing was approved. Download the version again, review \
         it, and approve with its sha256.",
        plugin.package_name, row.version, sent.0, row.package_sha256, row.package_size
    ))
}

/// `POST /api/v1/plugins/<pkg>/versions/<v>/approve` (body `{"sha256"}`) and
/// `.../unapprove` (no body needed).
pub async fn set_approval(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
    approve: bool,
) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let reviewed =
        if approve { Some(reviewed_sha256(req.body(), package, version)?) } else { None };
    let charge = app.throttle.take(user.id)?;
    let (package, version) = (package.to_owned(), version.to_owned());
    let app2 = app.clone();
    let (plugin, row, changed) = app
        .db(move |conn| {
            let tx = immediate(conn)?;
            let plugin = plugin_or_404(&tx, &package)?;
            if !can_approve(&tx, &plugin, &user)? {
                return Err(ApiError::Forbidden(
                    "You do not have approval rights for this plugin.".into(),
                ));
            }
            let row = version_or_404(&tx, &plugin, &version)?;
            if let Some(sent) = &reviewed
                && !sent.matches(&row.package_sha256)
            {
                return Err(changed_since_review(&plugin, &row, sent));
            }
            if approve
                && !row.approved
                && !app2.store.verify(&row.package_path, &row.package_sha256, row.package_size)
            {
                return Err(ApiError::Conflict(format!(
                    "The stored package of {} {} is missing or damaged; it cannot be published. Upload the version again.",
                    plugin.package_name, row.version
                )));
            }
            let now = now();
            let changed = catalog::review::set_version_approved(&tx, plugin.id, row.id, approve, user.id, now)?;
            if changed {
                catalog::events::log_event(
                    &tx,
                    now,
                    Some(user.id),
                    if approve { "version.approve" } else { "version.unapprove" },
                    Some(plugin.id),
                    &json!({"version": row.version, "sha256": row.package_sha256}).to_string(),
                )?;
            }
            tx.commit()?;
            Ok((plugin, row, changed))
        })
        .await?;
    let (live, live_after_ms) = after_change(app, changed, charge).await;
    let state = if approve { "approved" } else { "unapproved" };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "package": plugin.package_name,
            "version": row.version,
            "approved": approve,
            "sha256": row.package_sha256,
            "changed": changed,
            "live": live,
            "live_after_ms": live_after_ms,
            "message": format!(
                "The plugin version '{} {}' is now {state}.{}",
                plugin.name,
                row.version,
                if live { " The change is live." } else { " The site is being regenerated." }
            ),
        }),
    ))
}

/// After a committed request: a change requests a build; a no-op requests none and gives
/// its throttle token back. Either way, waits (bounded) until what is committed is live.
async fn after_change(app: &App, changed: bool, charge: Charge) -> (bool, Option<u64>) {
    let ticket = if changed {
        app.rebuild.request()
    } else {
        app.throttle.refund(charge);
        app.rebuild.status().requested
    };
    wait_live(app, ticket).await
}

/// A version as its editors and reviewers see it (never public).
fn version_json(base: &str, package: &str, v: &VersionRow) -> serde_json::Value {
    json!({
        "id": v.id,
        "version": v.version,
        "approved": v.approved,
        "experimental": v.experimental,
        "uploaded_at": fmt_api_time(v.created_on),
        "sha256": v.package_sha256,
        "size": v.package_size,
        "replaced": v.replaced_on.is_some(),
        "replaced_at": v.replaced_on.map(fmt_api_time),
        "download_url": format!("{base}{}", urls::version_download(package, &v.version)),
    })
}

/// `GET /api/v1/plugins/<pkg>/versions/<v>`: one version's private JSON (editors, staff and
/// trusted users), with the sha256 an approval must name.
pub async fn version_info(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let (package, version) = (package.to_owned(), version.to_owned());
    let (plugin, row) = app
        .db(move |conn| {
            let plugin = plugin_or_404(conn, &package)?;
            if !user.can_approve {
                forbid_non_editor(conn, &plugin, &user, "see its versions")?;
            }
            let row = version_or_404(conn, &plugin, &version)?;
            Ok((plugin, row))
        })
        .await?;
    let mut body = version_json(&app.config.site.base_url, &plugin.package_name, &row);
    body["package"] = json!(plugin.package_name);
    body["name"] = json!(plugin.name);
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /api/v1/review`: versions awaiting review; staff see all, trusted users those of
/// plugins they edit.
pub async fn queue(app: &App, req: &Request<Bytes>) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let filter = if user.is_staff || user.is_superuser {
        None
    } else if user.can_approve {
        Some(user.id)
    } else {
        return Err(ApiError::Forbidden(
            "Only staff and trusted users can see the review queue.".into(),
        ));
    };
    let rows = app.db(move |conn| Ok(catalog::review::pending_versions(conn, filter)?)).await?;
    let base = &app.config.site.base_url;
    let items: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "package": r.package_name,
                "name": r.plugin_name,
                "version": r.version,
                "version_id": r.version_id,
                "experimental": r.experimental,
                "uploaded_by": r.uploaded_by,
                "uploaded_at": fmt_api_time(r.created_on),
                "from_token": r.is_from_token,
                "sha256": r.package_sha256,
                "size": r.package_size,
                "replaced": r.replaced_on.is_some(),
                "replaced_at": r.replaced_on.map(fmt_api_time),
                "download_url": format!(
                    "{base}{}",
                    urls::version_download(&r.package_name, &r.version)
                ),
                "approve_url": format!(
                    "{base}/api/v1/plugins/{}/versions/{}/approve",
                    urls::segment(&r.package_name),
                    urls::segment(&r.version)
                ),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"count": items.len(), "versions": items})))
}

/// `GET /api/v1/plugins/<pkg>`: the plugin with every version, approved or not (editors and
/// staff; this is where authors see their drafts). The plugin-level `name` is the public
/// one; each version carries its own uploaded `metadata`.
pub async fn plugin_info(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let body = plugin_state(app, user, package.to_owned()).await?;
    Ok(json_response(StatusCode::OK, &body))
}

async fn plugin_state(
    app: &App,
    user: User,
    package: String,
) -> Result<serde_json::Value, ApiError> {
    let (plugin, owners, versions, metadata, creator, maintainer) = app
        .db(move |conn| {
            let plugin = plugin_or_404(conn, &package)?;
            forbid_non_editor(conn, &plugin, &user, "see its drafts")?;
            let owners = catalog::plugins::plugin_owners(conn, plugin.id)?;
            let versions = catalog::versions::versions_of_plugin(conn, plugin.id)?;
            let metadata: std::collections::HashMap<i64, catalog::metadata::VersionMetadata> =
                catalog::metadata::versions_metadata(conn, plugin.id)?.into_iter().collect();
            let name_of = |id: Option<i64>| -> Result<Option<String>, ApiError> {
                Ok(match id {
                    Some(id) => catalog::accounts::user_by_id(conn, id)?.map(|u| u.username),
                    None => None,
                })
            };
            let creator = name_of(Some(plugin.created_by))?;
            let maintainer = name_of(plugin.maintainer)?;
            Ok((plugin, owners, versions, metadata, creator, maintainer))
        })
        .await?;
    Ok(json!({
        "id": plugin.id,
        "package": plugin.package_name,
        "name": plugin.name,
        "creator": creator,
        "maintainer": maintainer,
        "owners": owners.iter().map(|(_, n)| n).collect::<Vec<_>>(),
        "deprecated": plugin.deprecated,
        "deleted": plugin.is_deleted,
        "deleted_on": plugin.deleted_on.map(fmt_api_time),
        "revision": plugin.revision,
        "versions": versions
            .iter()
            .map(|v| {
                let mut j = version_json(&app.config.site.base_url, &plugin.package_name, v);
                j["metadata"] = metadata.get(&v.id).map(metadata_json).into();
                j
            })
            .collect::<Vec<_>>(),
    }))
}

/// A version's own metadata in the private view: what the public plugin shows once this
/// version is the newest approved one.
fn metadata_json(m: &catalog::metadata::VersionMetadata) -> serde_json::Value {
    let f = &m.fields;
    json!({
        "name": f.name,
        "author": f.author,
        "email": f.email,
        "homepage": f.homepage,
        "repository": f.repository,
        "tracker": f.tracker,
        "description": f.description,
        "about": f.about,
        "tags": m.tags,
        "deprecated": f.deprecated,
        "server": f.server,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginPatch {
    /// Replaces the owners (editors beside the creator), by user name.
    owners: Option<Vec<String>>,
    /// User name of the maintainer (must be the creator or an owner).
    maintainer: Option<String>,
    deprecated: Option<bool>,
}

/// `PATCH /api/v1/plugins/<pkg>` with `{"owners"?, "maintainer"?, "deprecated"?}`. Only fields
/// whose value differs are written; a PATCH that changes nothing writes nothing.
pub async fn patch_plugin(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let patch: PluginPatch = parse_json(req.body())?;
    if patch.owners.as_ref().is_some_and(|o| o.len() > 100) {
        return Err(ApiError::BadRequest("At most 100 owners.".into()));
    }
    let charge = app.throttle.take(user.id)?;
    let package = package.to_owned();
    let (actor, pkg) = (user.clone(), package.clone());
    let changed = app
        .db(move |conn| {
            let tx = immediate(conn)?;
            let plugin = plugin_or_404(&tx, &package)?;
            forbid_non_editor(&tx, &plugin, &user, "edit it")?;
            let now = now();
            let fields = apply_patch(&tx, &plugin, &patch, now)?;
            if !fields.is_empty() {
                catalog::events::log_event(
                    &tx,
                    now,
                    Some(user.id),
                    "plugin.update",
                    Some(plugin.id),
                    &json!({
                        "changed": fields,
                        "owners": patch.owners,
                        "maintainer": patch.maintainer,
                        "deprecated": patch.deprecated,
                    })
                    .to_string(),
                )?;
            }
            tx.commit()?;
            Ok(!fields.is_empty())
        })
        .await?;
    let (live, live_after_ms) = after_change(app, changed, charge).await;
    let mut body = plugin_state(app, actor, pkg).await?;
    body["changed"] = json!(changed);
    body["live"] = json!(live);
    body["live_after_ms"] = json!(live_after_ms);
    Ok(json_response(StatusCode::OK, &body))
}

/// Writes the fields of `patch` that differ from `plugin`; returns their names.
fn apply_patch(
    tx: &rusqlite::Transaction<'_>,
    plugin: &PluginRow,
    patch: &PluginPatch,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<&'static str>, ApiError> {
    let lookup = |name: &str| -> Result<User, ApiError> {
        catalog::accounts::user_by_name(tx, name)?
            .ok_or_else(|| ApiError::BadRequest(format!("There is no user `{name}`.")))
    };
    let mut changed = Vec::new();
    let mut owner_ids: Vec<i64> =
        catalog::plugins::plugin_owners(tx, plugin.id)?.into_iter().map(|(id, _)| id).collect();
    owner_ids.sort_unstable();
    let mut maintainer = plugin.maintainer.unwrap_or(plugin.created_by);
    if let Some(owners) = &patch.owners {
        let mut ids =
            owners.iter().map(|n| lookup(n).map(|u| u.id)).collect::<Result<Vec<_>, _>>()?;
        ids.retain(|id| *id != plugin.created_by);
        ids.sort_unstable();
        ids.dedup();
        if ids != owner_ids {
            catalog::plugins::set_plugin_owners(tx, plugin.id, &ids, now)?;
            changed.push("owners");
            owner_ids = ids;
            // A maintainer who is no longer an editor falls back to the creator.
            if maintainer != plugin.created_by
                && !owner_ids.contains(&maintainer)
                && patch.maintainer.is_none()
            {
                catalog::plugins::set_plugin_maintainer(tx, plugin.id, plugin.created_by, now)?;
                maintainer = plugin.created_by;
                changed.push("maintainer");
            }
        }
    }
    if let Some(name) = &patch.maintainer {
        let m = lookup(name)?;
        if m.id != plugin.created_by && !owner_ids.contains(&m.id) {
            return Err(ApiError::BadRequest(format!(
                "`{name}` is not an editor of `{}`: add them to the owners first.",
                plugin.package_name
            )));
        }
        if m.id != maintainer {
            catalog::plugins::set_plugin_maintainer(tx, plugin.id, m.id, now)?;
            changed.push("maintainer");
        }
    }
    if let Some(deprecated) = patch.deprecated
        && deprecated != plugin.deprecated
    {
        catalog::plugins::set_plugin_deprecated(tx, plugin.id, deprecated, now)?;
        changed.push("deprecated");
    }
    Ok(changed)
}

/// `DELETE /api/v1/plugins/<pkg>/versions/<v>`: editors and staff. The zip is removed once
/// the build without the version is live, and only if no row references it by then.
pub async fn delete_version(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let _charge = app.throttle.take(user.id)?;
    let (package, version) = (package.to_owned(), version.to_owned());
    let (plugin, row) = app
        .db(move |conn| {
            let tx = immediate(conn)?;
            let plugin = plugin_or_404(&tx, &package)?;
            forbid_non_editor(&tx, &plugin, &user, "delete its versions")?;
            let row = version_or_404(&tx, &plugin, &version)?;
            let now = now();
            catalog::versions::delete_version(&tx, plugin.id, row.id, now)?;
            catalog::events::log_event(
                &tx,
                now,
                Some(user.id),
                "version.delete",
                Some(plugin.id),
                &json!({"version": row.version, "was_approved": row.approved}).to_string(),
            )?;
            tx.commit()?;
            Ok((plugin, row))
        })
        .await?;
    // The zip goes after the build that drops the version (a build already running may still
    // be publishing it). By then the same bytes may have been uploaded again (the path is
    // content-named): the writer decides, in a transaction, and removes it before releasing.
    let ticket = app.rebuild.request();
    let (live, live_after_ms) = wait_live(app, ticket).await;
    let (app2, path) = (app.clone(), row.package_path.clone());
    app.db(move |conn| {
        remove_unreferenced(&app2, conn, &path);
        Ok(())
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "package": plugin.package_name,
            "version": row.version,
            "deleted": true,
            "live": live,
            "live_after_ms": live_after_ms,
        }),
    ))
}

/// `DELETE /api/v1/plugins/<pkg>` (soft delete) and `POST /api/v1/plugins/<pkg>/restore`.
async fn set_deleted(app: &App, req: &Request<Bytes>, package: &str, delete: bool) -> ApiResult {
    let user = user_from_bearer(app, req.headers()).await?;
    let charge = app.throttle.take(user.id)?;
    let package = package.to_owned();
    // Soft deletion keeps the zips (a restore needs them); nothing is removed here.
    let (plugin, changed) = app
        .db(move |conn| {
            let tx = immediate(conn)?;
            let plugin = plugin_or_404(&tx, &package)?;
            forbid_non_editor(
                &tx,
                &plugin,
                &user,
                if delete { "delete it" } else { "restore it" },
            )?;
            if !delete && !plugin.is_deleted {
                return Err(ApiError::NotFound(format!(
                    "Plugin `{}` is not marked for deletion.",
                    plugin.package_name
                )));
            }
            let changed = plugin.is_deleted != delete;
            if changed {
                let now = now();
                catalog::plugins::set_plugin_deleted(&tx, plugin.id, delete, now)?;
                catalog::events::log_event(
                    &tx,
                    now,
                    Some(user.id),
                    if delete { "plugin.delete" } else { "plugin.restore" },
                    Some(plugin.id),
                    "{}",
                )?;
            }
            tx.commit()?;
            Ok((plugin, changed))
        })
        .await?;
    let (live, live_after_ms) = after_change(app, changed, charge).await;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "package": plugin.package_name,
            "deleted": delete,
            "changed": changed,
            "live": live,
            "live_after_ms": live_after_ms,
            "message": if delete {
                format!("The plugin {} is marked for deletion; restore it with POST /api/v1/plugins/{}/restore.", plugin.name, plugin.package_name)
            } else {
                format!("The plugin {} has been restored.", plugin.name)
            },
        }),
    ))
}

pub async fn delete_plugin(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    set_deleted(app, req, package, true).await
}

pub async fn restore_plugin(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    set_deleted(app, req, package, false).await
}
