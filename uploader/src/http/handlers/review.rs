//! Review and plugin management handlers (user JWT): approve/unapprove a version, the review queue,
//! a version's private JSON, plugin edits (owners, maintainer, deprecated), version deletion,
//! soft deletion and restore. Permissions as reference §3.2 with decisions §5.
//!
//! Approval names the reviewed bytes (`{"sha256"}`, decisions §9). Responses say whether
//! the change is live yet (`services::change` waits, bounded, for its build).

use bytes::Bytes;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use catalog::versions::VersionRow;
use generator::urls;

use super::{bearer_user, parse_json, with_live};
use crate::app::App;
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::services::api_time as fmt_api_time;
use crate::services::review::{self, Approval, PluginPatch, PluginState, Sha256Hex};

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

/// `POST /api/v1/plugins/<pkg>/versions/<v>/approve` (body `{"sha256"}`) and
/// `.../unapprove` (no body needed).
pub(crate) async fn set_approval(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
    approve: bool,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let approval = if approve {
        Approval::Approve(reviewed_sha256(req.body(), package, version)?)
    } else {
        Approval::Unapprove
    };
    let applied = review::set_approval(app, &user, package, version, approval).await?;
    let (plugin, row) = &applied.value;
    let live = applied.live.live;
    let state = if approve { "approved" } else { "unapproved" };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "package": plugin.package_name,
            "version": row.version,
            "approved": approve,
            "sha256": row.package_sha256,
            "changed": applied.changed,
            "live": live,
            "live_after_ms": applied.live.after_ms,
            "message": format!(
                "The plugin version '{} {}' is now {state}.{}",
                plugin.name,
                row.version,
                if live { " The change is live." } else { " The site is being regenerated." }
            ),
        }),
    ))
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
pub(crate) async fn version_info(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let (plugin, row, checks) =
        crate::services::scans::results(app, user, package, version).await?;
    let mut body = version_json(&app.config.site.base_url, &plugin.package_name, &row);
    body["package"] = json!(plugin.package_name);
    body["name"] = json!(plugin.name);
    if let Some(m) = body.as_object_mut() {
        m.extend(super::checks::checks_fields(&checks));
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /api/v1/review`: versions awaiting review; staff see all, trusted users those of
/// plugins they edit.
pub(crate) async fn queue(app: &App, req: &Request<Bytes>) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let rows = review::queue(app, &user).await?;
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
                "state": r.queue.state.as_str(),
                "waiting_since": fmt_api_time(r.queue.since),
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
pub(crate) async fn plugin_info(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let state = review::plugin_state(app, user, package).await?;
    let mut body = plugin_json(&app.config.site.base_url, &state);
    let (statuses, vendored) = crate::services::scans::plugin_summary(app, state.plugin.id).await?;
    body["vendored"] = json!(vendored);
    if let Some(versions) = body["versions"].as_array_mut() {
        for (j, v) in versions.iter_mut().zip(&state.versions) {
            j["validation_status"] = json!(statuses.get(&v.id));
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn plugin_json(base: &str, state: &PluginState) -> serde_json::Value {
    let plugin = &state.plugin;
    json!({
        "id": plugin.id,
        "package": plugin.package_name,
        "name": plugin.name,
        "creator": state.creator,
        "maintainer": state.maintainer,
        "owners": state.owners,
        "deprecated": plugin.deprecated,
        "deleted": plugin.is_deleted,
        "deleted_on": plugin.deleted_on.map(fmt_api_time),
        "revision": plugin.revision,
        "versions": state.versions
            .iter()
            .map(|v| {
                let mut j = version_json(base, &plugin.package_name, v);
                j["metadata"] = state.metadata.get(&v.id).map(metadata_json).into();
                j
            })
            .collect::<Vec<_>>(),
    })
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

/// `PATCH /api/v1/plugins/<pkg>` with `{"owners"?, "maintainer"?, "deprecated"?}`. Only fields
/// whose value differs are written; a PATCH that changes nothing writes nothing.
pub(crate) async fn patch_plugin(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let patch: PluginPatch = parse_json(req.body())?;
    let applied = review::patch_plugin(app, &user, package, patch).await?;
    let state = review::plugin_state(app, user, package).await?;
    let mut body = plugin_json(&app.config.site.base_url, &state);
    body["changed"] = json!(applied.changed);
    Ok(json_response(StatusCode::OK, &with_live(body, applied.live)))
}

/// `DELETE /api/v1/plugins/<pkg>/versions/<v>`: editors and staff.
pub(crate) async fn delete_version(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let applied = review::delete_version(app, &user, package, version).await?;
    let (plugin, row) = &applied.value;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "package": plugin.package_name,
            "version": row.version,
            "deleted": true,
            "live": applied.live.live,
            "live_after_ms": applied.live.after_ms,
        }),
    ))
}

/// `DELETE /api/v1/plugins/<pkg>` (soft delete, `delete`) and
/// `POST /api/v1/plugins/<pkg>/restore`.
pub(crate) async fn set_deleted(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    delete: bool,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let applied = review::set_deleted(app, &user, package, delete).await?;
    let plugin = &applied.value;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "package": plugin.package_name,
            "deleted": delete,
            "changed": applied.changed,
            "live": applied.live.live,
            "live_after_ms": applied.live.after_ms,
            "message": if delete {
                format!("The plugin {} is marked for deletion; restore it with POST /api/v1/plugins/{}/restore.", plugin.name, plugin.package_name)
            } else {
                format!("The plugin {} has been restored.", plugin.name)
            },
        }),
    ))
}
