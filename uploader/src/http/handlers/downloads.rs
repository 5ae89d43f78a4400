//! `GET /api/v1/download/<pkg>/<version>`: nginx asks here when the download URL has no
//! published zip (an unapproved version, or not yet rebuilt). Editors of the plugin and
//! staff (user JWT or HTTP Basic) get an empty 200 with `X-Accel-Redirect` to the stored
//! zip, which nginx then sends itself (these downloads are not counted: they are not in the
//! downloads log). The user of a workplace session cookie is accepted too (the review page
//! links here; a GET changes nothing, so no CSRF token is needed). Anyone else gets a 404, which does not reveal whether the version
//! exists; wrong credentials get a 401 before anything is looked up.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_DISPOSITION, HeaderValue};
use hyper::{Request, Response};

use catalog::accounts::User;

use super::{BasicAuth, basic_user, bearer_user};
use crate::app::App;
use crate::auth::{self, Credentials};
use crate::http::error::{ApiError, ApiResult};
use crate::services::accounts::blocked;
use crate::services::downloads::{self, PrivateFile};

/// Internal nginx location aliased to `<data>/packages/` (`location /_private/`).
pub(crate) const PRIVATE_PREFIX: &str = "/_private/";

/// The handler (see the module docs); `session_user` is the user of the request's session
/// cookie, if any.
pub(crate) async fn private_download(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
    session_user: Option<User>,
) -> ApiResult {
    let user = match auth::credentials(req.headers()) {
        Credentials::None => session_user.ok_or_else(downloads::not_found)?,
        Credentials::Bearer(_) => bearer_user(app, req.headers()).await?,
        _ => match basic_user(app, req.headers()).await? {
            BasicAuth::Ok(u) => u,
            BasicAuth::Blocked => return Err(blocked().into()),
            BasicAuth::Missing | BasicAuth::Wrong => {
                return Err(ApiError::BasicUnauthorized("Wrong user name or password.".into()));
            }
        },
    };
    let file = downloads::private_file(app, user, package, version).await?;
    redirect(&file)
}

/// The empty answer nginx turns into the file.
fn redirect(file: &PrivateFile) -> ApiResult {
    let mut resp = Response::new(Full::new(Bytes::new()));
    let h = resp.headers_mut();
    let value = |s: String| {
        HeaderValue::from_str(&s)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("bad header value: {e}")))
    };
    h.insert("x-accel-redirect", value(format!("{PRIVATE_PREFIX}{}", file.inner_path))?);
    h.insert(
        CONTENT_DISPOSITION,
        value(format!("attachment; filename={}-{}.zip", file.package, file.version))?,
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(resp)
}
