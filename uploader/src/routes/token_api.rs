//! The reference's token REST API (reference §5.8), byte-compatible for CI tools such as
//! qgis-plugin-ci: `POST /plugins/api/<pkg>/version/add/` and
//! `POST /plugins/api/<pkg>/version/<v>/update/` with `Authorization: Bearer <upload token>`.
//!
//! Statuses and bodies as the reference: 403 plain `Invalid token` for every token failure
//! (unknown plugin included), 405 JSON for other methods, 400 JSON `Validation failed` with
//! `errors`, 401 JSON `detail` when updating an approved version, 201 JSON on success.
//! Beyond the reference, the token's row must be live, its user active and still an editor.

use bytes::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use serde_json::json;

use catalog::accounts::User;
use catalog::names::PluginVersion;
use catalog::plugins::PluginRow;

use super::upload::{
    self, APPROVED_IMMUTABLE, FormError, Target, UploadError, UploadRequest, problem_json,
    problem_text,
};
use super::{can_edit, now};
use crate::app::App;
use crate::auth::{self, Credentials, PLUGIN_TOKEN};
use crate::error::{ApiError, HttpResponse, json_response, text_response};

/// A request authenticated by an upload token.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    pub token_id: i64,
    pub user: User,
    pub plugin: PluginRow,
}

/// Checks an upload token for the plugin named in the URL (reference §5.9 plus the
/// recommended checks). Signature and claims first, then the database. `None` = refuse.
pub async fn plugin_token(
    app: &App,
    headers: &HeaderMap,
    package: &str,
) -> Result<Option<TokenAuth>, ApiError> {
    let Credentials::Bearer(token) = auth::credentials(headers) else { return Ok(None) };
    let now = now();
    let Ok(claims) = app.keys.verify(&token, PLUGIN_TOKEN, now.timestamp()) else {
        return Ok(None);
    };
    let (Some(plugin_id), Some(refresh_jti)) = (claims.plugin_id, claims.refresh_jti) else {
        return Ok(None);
    };
    let package = package.to_owned();
    let hash = auth::token_hash(&token);
    app.db(move |conn| {
        let Some(plugin) = catalog::plugins::plugin_by_package(conn, &package)? else {
            return Ok(None);
        };
        let Some(row) = catalog::tokens::upload_token_by_jti(conn, &refresh_jti)? else {
            return Ok(None);
        };
        let Some(user) = catalog::accounts::user_by_id(conn, row.user_id)? else { return Ok(None) };
        let valid = row.revoked_at.is_none()
            && row.expires_at > now
            && row.plugin_id == plugin.id
            && plugin_id == plugin.id
            && (row.token_sha256.is_empty() || row.token_sha256 == hash)
            && user.is_active
            && !plugin.is_deleted
            && can_edit(conn, &plugin, &user)?;
        if !valid {
            return Ok(None);
        }
        catalog::tokens::touch_upload_token(conn, row.id, now)?;
        Ok(Some(TokenAuth { token_id: row.id, user, plugin }))
    })
    .await
}

fn invalid_token() -> HttpResponse {
    text_response(StatusCode::FORBIDDEN, "Invalid token")
}

fn method_not_allowed() -> HttpResponse {
    let mut resp = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"success": false, "error": "Method not allowed. Use POST to upload a package."}),
    );
    resp.headers_mut()
        .insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("POST"));
    resp
}

fn validation_failed(field: &str, messages: Vec<String>) -> HttpResponse {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"success": false, "error": "Validation failed", "errors": {field: messages}}),
    )
}

fn approved_immutable() -> HttpResponse {
    json_response(StatusCode::UNAUTHORIZED, &json!({"detail": APPROVED_IMMUTABLE}))
}

fn error_response(e: UploadError) -> HttpResponse {
    match e {
        UploadError::Invalid(r) => {
            let mut body = json!({
                "success": false,
                "error": "Validation failed",
                "errors": {"__all__": r.errors.iter().map(problem_text).collect::<Vec<_>>()},
                "problems": r.errors.iter().map(problem_json).collect::<Vec<_>>(),
            });
            if !r.warnings.is_empty() {
                body["warnings"] = r.warnings.iter().map(problem_text).collect();
            }
            json_response(StatusCode::BAD_REQUEST, &body)
        }
        UploadError::Duplicate(m) | UploadError::WrongPlugin(m) | UploadError::Conflict(m) => {
            validation_failed("__all__", vec![m])
        }
        UploadError::Forbidden(_) => invalid_token(),
        UploadError::NotFound(m) => json_response(StatusCode::NOT_FOUND, &json!({"detail": m})),
        UploadError::Approved => approved_immutable(),
        UploadError::TooLarge(_) => too_large(),
        // The throttle's 429 keeps its `Retry-After`.
        UploadError::Api(e @ ApiError::Throttled { .. }) => e.into_response(),
        UploadError::Api(e) => {
            let status = e.status();
            if status.is_server_error() {
                // Logs internal errors; the client only gets the generic text.
                let detail = e.detail();
                drop(e.into_response());
                json_response(status, &json!({"success": false, "error": detail}))
            } else {
                json_response(status, &json!({"success": false, "error": e.detail()}))
            }
        }
    }
}

fn too_large() -> HttpResponse {
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &json!({"success": false, "error": "Request data is too large. Please upload smaller files."}),
    )
}

fn form_error(e: FormError) -> HttpResponse {
    match e {
        FormError::TooLarge(_) => too_large(),
        FormError::UnsupportedType => json_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &json!({"success": false, "error": "Send the zip as multipart/form-data with a `package` file field (or as the raw body with Content-Type: application/zip)."}),
        ),
        FormError::Malformed(m) => {
            json_response(StatusCode::BAD_REQUEST, &json!({"success": false, "error": m}))
        }
    }
}

/// `POST /plugins/api/<pkg>/version/add/`.
pub async fn add(app: &App, req: Request<Bytes>, package: &str) -> HttpResponse {
    let auth = match plugin_token(app, req.headers(), package).await {
        Ok(Some(auth)) => auth,
        Ok(None) => return invalid_token(),
        Err(e) => return error_response(UploadError::Api(e)),
    };
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    upload(app, req, auth, Target::AddTo).await
}

/// `POST /plugins/api/<pkg>/version/<v>/update/`.
pub async fn update(app: &App, req: Request<Bytes>, package: &str, version: &str) -> HttpResponse {
    let auth = match plugin_token(app, req.headers(), package).await {
        Ok(Some(auth)) => auth,
        Ok(None) => return invalid_token(),
        Err(e) => return error_response(UploadError::Api(e)),
    };
    let not_found = || json_response(StatusCode::NOT_FOUND, &json!({"detail": "No such version."}));
    let Ok(version) = PluginVersion::from_stored(version) else { return not_found() };
    let plugin_id = auth.plugin.id;
    let key = version.key().to_owned();
    let existing =
        app.db(move |conn| Ok(catalog::versions::version_by_key(conn, plugin_id, &key)?)).await;
    match existing {
        Ok(Some(v)) if v.approved => return approved_immutable(),
        Ok(Some(_)) => {}
        Ok(None) => return not_found(),
        Err(e) => return error_response(UploadError::Api(e)),
    }
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    let key = version.key().to_owned();
    upload(app, req, auth, move |plugin_id| Target::Replace { plugin_id, version_key: key }).await
}

async fn upload(
    app: &App,
    req: Request<Bytes>,
    auth: TokenAuth,
    target: impl FnOnce(i64) -> Target,
) -> HttpResponse {
    let form = match upload::read_form(app, &req).await {
        Ok(f) => f,
        Err(e) => return form_error(e),
    };
    let Some(zip) = form.package else {
        return validation_failed("package", vec!["This field is required.".into()]);
    };
    let request = UploadRequest {
        zip,
        actor: auth.user.clone(),
        target: target(auth.plugin.id),
        token_id: Some(auth.token_id),
        changelog: form.changelog,
        via: "token",
    };
    let outcome = match upload::perform(app, request).await {
        Ok(o) => o,
        Err(e) => return error_response(e),
    };
    let pkg = outcome.package.as_str();
    let ver = outcome.version.as_str();
    let mut body = json!({
        "success": true,
        "message": "The Plugin Version has been successfully saved.",
        "version": ver,
        "plugin_id": outcome.plugin_id,
        "version_id": outcome.version_id,
        "validation_status": "validated",
        "approved": outcome.approved,
        "scan_url": format!("{}#security-tab", generator::urls::version_page(pkg, ver)),
    });
    if !outcome.approved {
        body["approval_message"] = json!(
            "Your plugin version is awaiting approval. It will be published as soon as a trusted reviewer approves it."
        );
    } else {
        let (live, after) = upload::wait_live(app, outcome.ticket).await;
        body["live"] = json!(live);
        body["live_after_ms"] = json!(after);
    }
    if !outcome.warnings.is_empty() {
        body["warnings"] = outcome.warnings.iter().map(problem_text).collect();
    }
    json_response(StatusCode::CREATED, &body)
}
