//! Tests through a real socket (127.0.0.1:0): body limits answered before the body is read,
//! a whole upload over HTTP/1.1, body timeouts, and graceful shutdown.

use std::time::Duration;

use std::io::{Read as _, Write as _};

use tokio::net::TcpListener;

use super::*;

struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(app: App) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(crate::http::server::serve(app, listener, async {
        let _ = rx.await;
    }));
    Running { addr, stop, task }
}

/// Sends raw bytes, returns everything the server answers until it closes (or 5 s pass).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let request = request.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The server may answer (and close) before it reads everything: ignore write errors.
        let _ = s.write_all(&request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_limits_uploads_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.rebuild = false;
    config.max_upload_bytes = 200_000;
    config.body_idle_timeout = Duration::from_millis(500);
    config.header_timeout = Duration::from_secs(1);
    let app = AppState::open(config, Rebuilder::disabled()).unwrap();
    let env = Env { dir, app: app.clone() };
    add_user(&env, "author", false, false);
    let jwt = login(&env, "author").await;
    let srv = start(app).await;

    // Health over the socket.
    let r = raw(srv.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");

    // Content-Length above the limit: 413 at once, without the body being sent.
    let req = format!(
        "POST /plugins/add/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {jwt}\r\nContent-Type: application/zip\r\nContent-Length: 30000000\r\n\r\n"
    );
    let r = raw(srv.addr, req.as_bytes()).await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    assert!(r.to_ascii_lowercase().contains("connection: close"));

    // Chunked body crossing the limit: 413.
    let mut req = format!(
        "POST /plugins/add/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {jwt}\r\nContent-Type: application/zip\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..60 {
        req.extend_from_slice(format!("{:x}\r\n", 10_000).as_bytes());
        req.extend_from_slice(&[b'a'; 10_000]);
        req.extend_from_slice(b"\r\n");
    }
    let r = raw(srv.addr, &req).await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");

    // Without credentials the body is not read: 401 straight away.
    let r = raw(
        srv.addr,
        b"POST /plugins/add/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/zip\r\nContent-Length: 100000\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");

    // A bad token: refused before the body is read (the body is never sent here).
    let r = raw(
        srv.addr,
        b"POST /plugins/api/x/version/add/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a.b.c\r\nContent-Type: application/zip\r\nContent-Length: 100000\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 403") && r.ends_with("Invalid token"), "{r}");

    // A body that stalls: 408 after the idle timeout.
    let req = format!(
        "POST /plugins/add/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {jwt}\r\nContent-Type: application/zip\r\nContent-Length: 1000\r\n\r\nPK"
    );
    let r = raw(srv.addr, req.as_bytes()).await;
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");

    // Slow headers: the connection is closed after the header timeout.
    let t = std::time::Instant::now();
    let r = raw(srv.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
    assert!(t.elapsed() < Duration::from_secs(4), "closed after {:?}: {r}", t.elapsed());
    assert!(!r.contains("200 OK"), "{r}");

    // A whole upload over the socket.
    let zip = plugin_zip("socket_plugin", "1.0");
    let mut req = format!(
        "POST /plugins/add/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {jwt}\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        zip.len()
    )
    .into_bytes();
    req.extend_from_slice(&zip);
    let r = raw(srv.addr, &req).await;
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
    assert_eq!(env.count("SELECT count(*) FROM plugin_versions"), 1);

    // Graceful shutdown: serve returns.
    srv.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), srv.task).await.unwrap().unwrap().unwrap();
    assert!(std::net::TcpStream::connect(srv.addr).is_err(), "no longer listening");
}
