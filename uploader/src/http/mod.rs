//! The HTTP edge: the server (`server`), the parsing of each request line into a `Route`
//! (`route`), thin JSON handlers per resource that parse the request, call one service and
//! format its outcome (`handlers`), the HTML pages of the web workplace (`pages`), and the
//! one HTTP error type (`error`). Requests reach
//! `handle` with their body already read and bounded, so tests call it in-process with a
//! `Request<Bytes>`.

pub(crate) mod error;
pub(crate) mod handlers;
pub(crate) mod pages;
pub(crate) mod route;
pub mod server;

use bytes::Bytes;
use hyper::Request;

use crate::app::App;
use error::{ApiError, ApiResult, HttpResponse};
use handlers::{accounts, checks, downloads, feedback, review, token_api, tokens, upload, xmlrpc};
use route::{Endpoint, Route};

/// Routes one request (body already read) to its handler.
pub async fn handle(app: &App, req: Request<Bytes>) -> HttpResponse {
    let route = Route::parse(req.method(), req.uri().path());
    handle_route(app, route.endpoint, req).await
}

/// Runs the handler of an already parsed route.
pub(crate) async fn handle_route(
    app: &App,
    endpoint: Endpoint,
    req: Request<Bytes>,
) -> HttpResponse {
    match dispatch(app, endpoint, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(app: &App, endpoint: Endpoint, req: Request<Bytes>) -> ApiResult {
    match endpoint {
        Endpoint::Health => handlers::health(app),
        Endpoint::Login => accounts::login(app, &req).await,
        Endpoint::UserAction { name, action } => {
            accounts::user_action(app, &req, &name, action).await
        }
        Endpoint::ReviewQueue => review::queue(app, &req).await,
        Endpoint::PluginInfo { package } => review::plugin_info(app, &req, &package).await,
        Endpoint::PatchPlugin { package } => review::patch_plugin(app, &req, &package).await,
        Endpoint::DeletePlugin { package } => review::set_deleted(app, &req, &package, true).await,
        Endpoint::RestorePlugin { package } => {
            review::set_deleted(app, &req, &package, false).await
        }
        Endpoint::ListTokens { package } => tokens::list(app, &req, &package).await,
        Endpoint::CreateToken { package } => tokens::create(app, &req, &package).await,
        Endpoint::RevokeToken { package, id } => tokens::revoke(app, &req, &package, id).await,
        Endpoint::VersionInfo { package, version } => {
            review::version_info(app, &req, &package, &version).await
        }
        Endpoint::DeleteVersion { package, version } => {
            review::delete_version(app, &req, &package, &version).await
        }
        Endpoint::SetApproval { package, version, approve } => {
            review::set_approval(app, &req, &package, &version, approve).await
        }
        Endpoint::CheckPackage { package } => checks::check(app, &req, &package).await,
        Endpoint::Waivers { package } => checks::waivers(app, &req, &package).await,
        Endpoint::SetVendored { package } => checks::set_vendored(app, &req, &package).await,
        Endpoint::ScanOverride { package, version } => {
            checks::override_block(app, &req, &package, &version).await
        }
        Endpoint::Rescan { package, version } => {
            checks::rescan(app, &req, &package, &version).await
        }
        Endpoint::PrivateDownload { package, version } => {
            let session_user = pages::session_user(app, req.headers()).await;
            downloads::private_download(app, &req, &package, &version, session_user).await
        }
        Endpoint::Feedback { package, version } => {
            feedback::list(app, &req, &package, &version).await
        }
        Endpoint::GiveFeedback { package, version } => {
            feedback::give(app, &req, &package, &version).await
        }
        Endpoint::FeedbackTask { package, version, task, verb } => {
            feedback::task(app, &req, (&package, &version), task, verb).await
        }
        Endpoint::VersionStatus { package, version } => {
            feedback::status(app, &package, &version).await
        }
        // A browser (it holds one of the workplace's cookies, set by the form page) posts the
        // form; any other client is the JSON API, with its 401 when credentials are missing.
        Endpoint::WebUpload if !pages::is_browser(req.headers()) => upload::add(app, &req).await,
        Endpoint::WebUpload => Ok(pages::handle(app, route::Page::AddPlugin, req).await),
        Endpoint::Page(page) => Ok(pages::handle(app, page, req).await),
        Endpoint::TokenApiAdd { package } => Ok(token_api::add(app, &req, &package).await),
        Endpoint::TokenApiUpdate { package, version } => {
            Ok(token_api::update(app, &req, &package, &version).await)
        }
        Endpoint::XmlRpc => xmlrpc::handle(app, &req).await,
        Endpoint::MethodNotAllowed { allow } => Err(ApiError::MethodNotAllowed { allow }),
        Endpoint::NotFound => Err(ApiError::NotFound("No such resource.".into())),
    }
}

#[cfg(test)]
mod tests;
