//! The hyper 1 HTTP/1.1 server: bounded connections, header read timeout, bounded body size
//! (413 from `Content-Length` before reading, or as soon as the limit is crossed), body idle
//! and total timeouts (408), graceful shutdown on SIGTERM or Ctrl-C. Requests on
//! authenticated routes without a token that could pass are answered without reading their
//! body.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::error::{ApiError, HttpResponse};
use super::handlers::xmlrpc;
use super::route::{Endpoint, Route};
use crate::app::App;
use crate::auth::{self, Credentials, TokenType};

/// How long shutdown waits for open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `listener` until `shutdown` resolves, then drains connections (bounded).
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let config = &app.config;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .keep_alive(true)
        .max_buf_size(64 * 1024);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.context("connection limiter closed")?,
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let service = service_fn(move |req: Request<Incoming>| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(handle_incoming(&app, req).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    // Finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    tracing::info!("shutting down: no new connections; waiting for open ones");
    let _ = stop_tx.send(true);
    let all = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("some connections did not finish within the grace period");
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// False when the request carries no Bearer token that could pass (missing, malformed, bad
/// signature, expired): the handler will refuse it whatever the body holds. Signature only;
/// the database is consulted by the handler.
fn bearer_may_be_valid(app: &App, headers: &hyper::HeaderMap) -> bool {
    match auth::credentials(headers) {
        Credentials::Bearer(token) => {
            let now = chrono::Utc::now().timestamp();
            app.keys.verify(&token, TokenType::User, now).is_ok()
                || app.keys.verify(&token, TokenType::Upload, now).is_ok()
        }
        _ => false,
    }
}

async fn handle_incoming(app: &App, req: Request<Incoming>) -> HttpResponse {
    let started = Instant::now();
    let method = req.method().clone();
    // Log the path only: a query string could carry a secret.
    let path = req.uri().path().to_owned();
    let route = Route::parse(&method, &path);
    let (mut parts, body) = req.into_parts();
    let mut limit = route.body_limit(&app.config);
    let declared = match parts.headers.get(CONTENT_LENGTH) {
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => {
                return finish(
                    ApiError::BadRequest("Invalid Content-Length header.".into()).into_response(),
                    true,
                    &method,
                    &path,
                    started,
                );
            }
        },
        None => None,
    };
    let has_body =
        declared.is_some_and(|n| n > 0) || parts.headers.contains_key("transfer-encoding");
    // XML-RPC: credentials first; its body is read only for an authenticated caller, or up
    // to a small limit without credentials (so a wrong password costs no parsing).
    let mut anonymous_rpc = false;
    if route.authenticates_before_body() {
        match xmlrpc::authenticate(app, &parts.headers).await {
            Ok(Some(user)) => {
                parts.extensions.insert(xmlrpc::Caller(user));
            }
            Ok(None) => {
                anonymous_rpc = true;
                limit = xmlrpc::ANONYMOUS_BODY_BYTES;
            }
            Err(e) => {
                // Read and drop the body unparsed (no memory held): closing with it unread
                // would reset the connection under nginx, which would then answer 502.
                let drained = !has_body || discard_body(app, body, limit.saturating_mul(2)).await;
                return finish(e.into_response(), !drained, &method, &path, started);
            }
        }
    }
    let mut close = false;
    let resp = if declared.is_some_and(|n| n > limit) {
        close = true;
        if anonymous_rpc {
            let full = route.body_limit(&app.config).saturating_mul(2);
            close = !discard_body(app, body, full).await;
            xmlrpc::anonymous_too_large().into_response()
        } else {
            ApiError::TooLarge { limit }.into_response()
        }
    } else if route.needs_credentials()
        && !bearer_may_be_valid(app, &parts.headers)
        // A forged session cookie costs no body either.
        && super::pages::session_user(app, &parts.headers).await.is_none()
    {
        // The handler refuses it anyway; do not read (possibly 25 MB of) body for that.
        close = has_body;
        dispatch(app, route.endpoint, Request::from_parts(parts, Bytes::new())).await
    } else {
        // Zip bodies wait for an upload slot (bounded memory), then are read and handled.
        let slot = if route.takes_upload_slot() && !anonymous_rpc {
            app.upload_slots.acquire().await.ok()
        } else {
            None
        };
        let holds_zips = route.holds_zips();
        let resp = match read_body(app, body, limit, declared).await {
            Ok(bytes) => dispatch(app, route.endpoint, Request::from_parts(parts, bytes)).await,
            Err(ApiError::TooLarge { .. }) if anonymous_rpc => {
                close = true;
                xmlrpc::anonymous_too_large().into_response()
            }
            Err(e) => {
                close = true;
                e.into_response()
            }
        };
        drop(slot);
        if holds_zips
            && app.upload_slots.available_permits() == app.config.max_concurrent_uploads.max(1)
        {
            // The last zip-holding request in flight ended: give its memory back.
            let _ = tokio::task::spawn_blocking(crate::memory::release_freed).await;
        }
        resp
    };
    finish(resp, close, &method, &path, started)
}

/// Runs the handler in its own task: should a bug ever panic inside it, this request gets a
/// 500 and the connection and every other request carry on.
async fn dispatch(app: &App, endpoint: Endpoint, req: Request<Bytes>) -> HttpResponse {
    let app = Arc::clone(app);
    match tokio::spawn(async move { super::handle_route(&app, endpoint, req).await }).await {
        Ok(resp) => resp,
        Err(e) => {
            ApiError::Internal(anyhow::anyhow!("request handler failed: {e}")).into_response()
        }
    }
}

fn finish(
    mut resp: HttpResponse,
    close: bool,
    method: &hyper::Method,
    path: &str,
    started: Instant,
) -> HttpResponse {
    if close {
        resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    super::error::add_security_headers(resp.headers_mut());
    let status = resp.status();
    let ms = started.elapsed().as_millis() as u64;
    if status.is_server_error() {
        tracing::warn!(%method, path, status = status.as_u16(), ms, "request");
    } else {
        tracing::info!(%method, path, status = status.as_u16(), ms, "request");
    }
    resp
}

/// Reads the whole body: at most `limit` bytes, no pause longer than the idle timeout, all
/// of it within the total timeout. A declared length (at most `limit`) is allocated at once:
/// growing by doubling would copy a 25 MB zip several times and hold up to twice its size.
async fn read_body(
    app: &App,
    mut body: Incoming,
    limit: u64,
    declared: Option<u64>,
) -> Result<Bytes, ApiError> {
    let idle = app.config.body_idle_timeout;
    let deadline = tokio::time::Instant::now() + app.config.body_total_timeout;
    let capacity = usize::try_from(declared.unwrap_or(0).min(limit)).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(capacity);
    loop {
        let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(ApiError::Timeout),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::BadRequest(format!(
                    "The request body could not be read: {e}"
                )));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > limit {
                return Err(ApiError::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Reads a body to its end without keeping it (at most `limit` bytes, within the body
/// timeouts); false when it was cut short.
async fn discard_body(app: &App, mut body: Incoming, limit: u64) -> bool {
    let idle = app.config.body_idle_timeout;
    let deadline = tokio::time::Instant::now() + app.config.body_total_timeout;
    let mut seen = 0u64;
    loop {
        let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(wait, body.frame()).await {
            Ok(None) => return true,
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if seen > limit {
                    return false;
                }
            }
            Err(_) | Ok(Some(Err(_))) => return false,
        }
    }
}

/// Builds the application, binds the listener and serves until SIGTERM or Ctrl-C.
pub async fn run(config: crate::config::ServiceConfig) -> Result<()> {
    run_until(config, shutdown_signal()).await
}

/// The whole service on its own runtime in the calling thread, until `stop` receives or its
/// sender is dropped (end-to-end tests run it behind nginx this way).
pub fn run_blocking(
    config: crate::config::ServiceConfig,
    stop: std::sync::mpsc::Receiver<()>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    rt.block_on(run_until(config, async move {
        let _ = tokio::task::spawn_blocking(move || stop.recv()).await;
    }))
}

/// Builds the application, binds the listener and serves until `shutdown` resolves.
pub async fn run_until(
    config: crate::config::ServiceConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    tracing::info!(sqlite = rusqlite::version(), "starting the upload service");
    let rebuild = if config.rebuild {
        // Fail fast on broken templates; builds load them again in their child process, so
        // they are not kept here.
        drop(generator::templates::Templates::load(&config.site.templates_dir)?);
        let program = match &config.build_program {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .context("failed to locate this program (it runs the site builds)")?,
        };
        crate::rebuild::Rebuilder::start(crate::rebuild::BuildCommand {
            program,
            config: config.site.clone(),
        })
    } else {
        crate::rebuild::Rebuilder::disabled()
    };
    let listen = config.listen;
    let counter = config.downloads.clone();
    let app = crate::app::AppState::open(config, rebuild)?;
    crate::mail::sender::start(&app)?;
    if let Some(counter) = counter {
        let logs: Vec<String> = counter.logs.iter().map(|l| l.display().to_string()).collect();
        tracing::info!(logs = %logs.join(", "), "counting downloads");
        tokio::spawn(crate::downloads::run_counter(counter, Arc::clone(&app)));
    }
    tokio::spawn(crate::scan_worker::run(Arc::clone(&app)));
    let listener =
        TcpListener::bind(listen).await.with_context(|| format!("failed to listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let served = serve(Arc::clone(&app), listener, shutdown).await;
    // Let a running build finish (bounded) and reap it: no orphan or zombie child.
    app.rebuild.shutdown().await;
    served
}
