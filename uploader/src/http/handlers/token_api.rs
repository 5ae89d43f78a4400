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

use catalog::events::UploadVia;
use catalog::ids::PluginId;
use catalog::names::PluginVersion;

use super::upload::{FormError, problem_json, problem_text, read_form};
use super::with_live;
use crate::app::App;
use crate::auth::{self, Credentials};
use crate::http::error::{ApiError, HttpResponse, json_response, text_response};
use crate::services::ServiceError;
use crate::services::tokens::{self, TokenAuth};
use crate::services::uploads::{self, APPROVED_IMMUTABLE, Target, UploadError, UploadRequest};

/// The upload token of the request, checked for `package`; `None` = refuse.
async fn token_auth(
    app: &App,
    headers: &HeaderMap,
    package: &str,
) -> Result<Option<TokenAuth>, ServiceError> {
    let Credentials::Bearer(token) = auth::credentials(headers) else { return Ok(None) };
    tokens::authenticate(app, &token, package).await
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
        UploadError::Service(e @ ServiceError::Throttled(_)) => ApiError::from(e).into_response(),
        UploadError::Service(e) => {
            let e = ApiError::from(e);
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
pub(crate) async fn add(app: &App, req: &Request<Bytes>, package: &str) -> HttpResponse {
    let auth = match token_auth(app, req.headers(), package).await {
        Ok(Some(auth)) => auth,
        Ok(None) => return invalid_token(),
        Err(e) => return error_response(e.into()),
    };
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    upload(app, req, auth, Target::AddTo).await
}

/// `POST /plugins/api/<pkg>/version/<v>/update/`.
pub(crate) async fn update(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> HttpResponse {
    let auth = match token_auth(app, req.headers(), package).await {
        Ok(Some(auth)) => auth,
        Ok(None) => return invalid_token(),
        Err(e) => return error_response(e.into()),
    };
    let not_found = || json_response(StatusCode::NOT_FOUND, &json!({"detail": "No such version."}));
    let Ok(version) = PluginVersion::from_stored(version) else { return not_found() };
    let plugin_id = auth.plugin.id;
    let key = version.key().to_owned();
    let existing = app
        .db(move |conn| {
            catalog::versions::version_by_key(conn, plugin_id, &key).map_err(UploadError::from)
        })
        .await;
    match existing {
        Ok(Some(v)) if v.approved => return approved_immutable(),
        Ok(Some(_)) => {}
        Ok(None) => return not_found(),
        Err(e) => return error_response(e),
    }
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    let key = version.key().to_owned();
    upload(app, req, auth, move |plugin_id| Target::Replace { plugin_id, version_key: key }).await
}

async fn upload(
    app: &App,
    req: &Request<Bytes>,
    auth: TokenAuth,
    target: impl FnOnce(PluginId) -> Target,
) -> HttpResponse {
    let form = match read_form(app, req).await {
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
        via: UploadVia::Token,
    };
    let outcome = match uploads::perform(app, request).await {
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
        // Every upload is scanned after this answer (issue 15): `GET versions/<v>` follows it.
        "validation_status": catalog::checks::ScanStatus::Validating,
        "approved": outcome.approved,
        "scan_url": format!("{}#security-tab", generator::urls::version_page(pkg, ver)),
    });
    if !outcome.approved {
        body["approval_message"] = json!(
            "Your plugin version is awaiting approval. It will be published as soon as a trusted reviewer approves it."
        );
    } else {
        body = with_live(body, outcome.live(app).await);
    }
    if !outcome.warnings.is_empty() {
        body["warnings"] = outcome.warnings.iter().map(problem_text).collect();
    }
    json_response(StatusCode::CREATED, &body)
}
