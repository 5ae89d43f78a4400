//! The one error type at the HTTP edge. Every failure becomes a JSON body
//! `{"detail": "...", "code": "..."}` with a fitting status; internal errors are logged and
//! answered with a generic message, so no path, SQL or secret ever reaches a client.
//! The reference-compatible endpoints (`/plugins/api/...`, `/plugins/RPC2/`) shape their own
//! bodies from these variants (see `handlers::token_api` and `handlers::xmlrpc`). Services
//! fail with `ServiceError`, mapped here one variant to one status.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::services::ServiceError;

/// The response type of every handler.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// A failure of a request, mapped to a status code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 400: the request is malformed or its content is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 400 with the validator's problems.
    #[error("the plugin package is invalid")]
    Invalid { errors: Vec<serde_json::Value>, warnings: Vec<serde_json::Value>, text: Vec<String> },
    /// 401: missing or bad credentials (Bearer).
    #[error("{0}")]
    Unauthorized(String),
    /// 401: missing or bad HTTP Basic credentials.
    #[error("{0}")]
    BasicUnauthorized(String),
    /// 403: valid credentials without the right.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405 with the allowed methods.
    #[error("method not allowed; use {allow}")]
    MethodNotAllowed { allow: &'static str },
    /// 408: the body did not arrive in time.
    #[error("the request body did not arrive in time")]
    Timeout,
    /// 409: the change conflicts with the current state (duplicate version, ...).
    #[error("{0}")]
    Conflict(String),
    /// 409: the zip to approve is not the one the reviewer names (`{"sha256"}`).
    #[error("{0}")]
    ChangedSinceReview(String),
    /// 413: body larger than `limit` bytes.
    #[error("request body too large: the limit is {limit} bytes")]
    TooLarge { limit: u64 },
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: this user's catalog changes come too fast (`throttle`); retry after `retry_after` s.
    #[error("{detail}")]
    Throttled { detail: String, retry_after: u64 },
    /// 503: temporarily unable (database busy, disk full).
    #[error("{0}")]
    Unavailable(String),
    /// 503: every password-hashing slot stayed taken for the whole short wait.
    #[error("The server is busy checking passwords; retry in a second, or use a token.")]
    Busy,
    /// 429: too many password attempts for this account (per-account throttle).
    #[error(
        "Too many password attempts for this account: retry in {} seconds (or use an existing token).",
        .0.secs()
    )]
    TooManyAttempts(crate::login_throttle::RetryAfter),
    /// 500: a bug or an environment failure; details go to the log only.
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::BadRequest(m) => ApiError::BadRequest(m),
            ServiceError::Unauthorized(m) => ApiError::Unauthorized(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::ChangedSinceReview(m) => ApiError::ChangedSinceReview(m),
            ServiceError::Throttled(t) => {
                ApiError::Throttled { detail: t.detail, retry_after: t.retry_after }
            }
            ServiceError::TooManyAttempts(retry) => ApiError::TooManyAttempts(retry),
            ServiceError::Busy => ApiError::Busy,
            ServiceError::Unavailable(m) => ApiError::Unavailable(m),
            ServiceError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// Failures of the edge's own work (building a response) are classified as the services'.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ServiceError::from(e).into()
    }
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::BasicUnauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) | ApiError::ChangedSinceReview(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Invalid { .. } => "invalid_package",
            ApiError::Unauthorized(_) | ApiError::BasicUnauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Timeout => "timeout",
            ApiError::Conflict(_) => "conflict",
            ApiError::ChangedSinceReview(_) => "changed_since_review",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Throttled { .. } => "throttled",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Busy => "busy",
            ApiError::TooManyAttempts(_) => "too_many_attempts",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The human message shown to clients (generic for internal errors).
    pub(crate) fn detail(&self) -> String {
        match self {
            ApiError::Invalid { text, .. } => {
                format!("The plugin package is invalid: {}", text.join(" "))
            }
            ApiError::Internal(_) => {
                "Internal server error; the request was not applied. Try again later.".into()
            }
            other => other.to_string(),
        }
    }

    /// Logs internal errors (with their cause chain) and builds the JSON response.
    pub(crate) fn into_response(self) -> HttpResponse {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
        let status = self.status();
        let mut body = serde_json::json!({ "detail": self.detail(), "code": self.code() });
        if let ApiError::TooLarge { .. } = &self {
            // The reference's body for oversized requests, kept for its clients.
            body["error"] = "Request data is too large. Please upload smaller files.".into();
        }
        if let ApiError::Invalid { errors, warnings, .. } = &self {
            body["errors"] = serde_json::Value::Array(errors.clone());
            body["warnings"] = serde_json::Value::Array(warnings.clone());
        }
        let mut resp = json_response(status, &body);
        match &self {
            ApiError::Unauthorized(_) => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ApiError::BasicUnauthorized(_) => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"QGIS plugins\", charset=\"UTF-8\""),
                );
            }
            ApiError::MethodNotAllowed { allow } => {
                resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::TooLarge { .. } | ApiError::Timeout => {
                resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::Unavailable(_) => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::Throttled { retry_after, .. } => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Busy => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::TooManyAttempts(retry) => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry.secs()));
            }
            _ => {}
        }
        resp
    }
}

/// The security headers of every response the service sends, pages and API alike: the
/// same values as nginx's `nginx/headers-page.conf` (which replaces them when proxying).
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

/// Adds the security headers a handler has not set itself.
pub(crate) fn add_security_headers(headers: &mut hyper::HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
}

/// A JSON response with `status`.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A plain-text response (the reference's `Invalid token`).
pub(crate) fn text_response(status: StatusCode, text: &'static str) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Result of a handler.
pub(crate) type ApiResult = Result<HttpResponse, ApiError>;
