//! Upload handlers: `POST /plugins/add/` (multipart `package` or a raw `application/zip`
//! body, user JWT), the upload form they share with the token API, and the formats of
//! upload errors (the validator's problems as text and JSON).

use bytes::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use serde_json::json;

use catalog::events::UploadVia;

use super::bearer_user;
use crate::app::App;
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::services::uploads::{self, APPROVED_IMMUTABLE, Target, UploadError, UploadRequest};
use crate::validate::Problem;

/// Human messages of an upload error, for formats that only carry text.
pub(crate) fn error_messages(e: UploadError) -> Vec<String> {
    match e {
        UploadError::Invalid(r) => r.errors.iter().map(problem_text).collect(),
        UploadError::Forbidden(m)
        | UploadError::Duplicate(m)
        | UploadError::WrongPlugin(m)
        | UploadError::Conflict(m)
        | UploadError::NotFound(m) => vec![m],
        UploadError::Approved => vec![APPROVED_IMMUTABLE.to_owned()],
        e @ UploadError::TooLarge(_) => vec![e.to_string()],
        UploadError::Service(e) => vec![ApiError::from(e).detail()],
    }
}

/// An upload error in the service's own JSON format (`/plugins/add/`).
pub(crate) fn into_api(e: UploadError) -> ApiError {
    match e {
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
        UploadError::Service(e) => e.into(),
    }
}

/// `message` plus the hint, as one line.
pub(crate) fn problem_text(p: &Problem) -> String {
    if p.hint.is_empty() { p.message.clone() } else { format!("{} ({})", p.message, p.hint) }
}

/// A problem as the JSON bodies show it.
pub(crate) fn problem_json(p: &Problem) -> serde_json::Value {
    serde_json::to_value(p).unwrap_or_default()
}

#[derive(Debug, Default)]
pub(crate) struct UploadForm {
    pub package: Option<Bytes>,
    pub changelog: Option<String>,
    pub auto_approve_after_scan: bool,
    /// The web form's CSRF field (`csrfmiddlewaretoken`), checked by the page handlers.
    pub csrf: Option<String>,
}

/// Why a form could not be read.
#[derive(Debug)]
pub(crate) enum FormError {
    /// Not multipart/form-data nor application/zip.
    UnsupportedType,
    /// Broken multipart, two `package` parts, oversized text field.
    Malformed(String),
    TooLarge(u64),
}

impl FormError {
    pub(crate) fn into_api(self) -> ApiError {
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
pub(crate) async fn read_form(app: &App, req: &Request<Bytes>) -> Result<UploadForm, FormError> {
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
            .for_field("skip_security_rules", 1024)
            .for_field("csrfmiddlewaretoken", 1024),
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
            Some("csrfmiddlewaretoken") => {
                form.csrf = Some(field.text().await.map_err(malformed)?);
            }
            Some("auto_approve_after_scan") => {
                form.auto_approve_after_scan = truthy(&field.text().await.map_err(malformed)?);
            }
            _ => {
                // Ignored fields (skip_security_rules, ...) are drained.
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
pub(crate) async fn add(app: &App, req: &Request<Bytes>) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let form = read_form(app, req).await.map_err(FormError::into_api)?;
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
        via: UploadVia::Web,
    };
    let outcome = uploads::perform(app, request).await.map_err(into_api)?;
    let live = outcome.live(app).await;
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
        // Set in the upload's transaction: the scan runs after the answer.
        "validation_status": catalog::checks::ScanStatus::Validating,
        "url": format!(
            "{base}{}",
            generator::urls::version_page(outcome.package.as_str(), outcome.version.as_str())
        ),
        "live": live.live,
        "live_after_ms": live.after_ms,
        "warnings": outcome.warnings.iter().map(problem_json).collect::<Vec<_>>(),
    });
    Ok(json_response(StatusCode::CREATED, &body))
}
