//! The rebuild worker's child process: a failed child is a failed build and the worker
//! retries; a ticket completes on the child's `live` line, before the child exits; builds
//! never overlap; the child gets no secret from the environment.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Request, StatusCode};
use uploader::rebuild::{BuildCommand, Rebuilder};

const WAIT: Duration = Duration::from_secs(60);

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates")
}

fn site_config(root: &Path, site: PathBuf) -> generator::Config {
    generator::Config::new(root.join("data"), site, templates(), "http://127.0.0.1:8080").unwrap()
}

fn real_build(config: generator::Config) -> BuildCommand {
    BuildCommand { program: PathBuf::from(env!("CARGO_BIN_EXE_uploader")), config }
}

async fn healthz(app: &uploader::app::App) -> StatusCode {
    let req = Request::get("/healthz").body(Bytes::new()).unwrap();
    uploader::http::handle(app, req).await.status()
}

/// The site dir cannot be created (its parent is a file): the child exits non-zero, the
/// worker counts a failure with the child's error, the service answers; once the obstacle
/// is gone the retry publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_child_is_a_failed_build_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "a file where the site's parent dir should be").unwrap();
    let config = site_config(dir.path(), blocker.join("site"));
    let rebuild = Rebuilder::start(real_build(config.clone()));
    let mut service = uploader::config::ServiceConfig::new(config, vec![7; 32]).unwrap();
    service.build_program = Some(PathBuf::from(env!("CARGO_BIN_EXE_uploader")));
    let app = uploader::app::AppState::open(service, Arc::clone(&rebuild)).unwrap();

    let failed = rebuild.wait_status(|s| s.failures >= 1 && !s.building).await;
    assert_eq!((failed.completed, failed.builds), (0, 0), "{failed:?}");
    let error = failed.last_error.clone().unwrap_or_default();
    assert!(error.contains("published nothing"), "{error}");
    assert!(error.contains("blocker"), "the child's error names the path: {error}");
    // The service keeps answering (not ready: nothing published yet).
    assert_eq!(healthz(&app).await, StatusCode::SERVICE_UNAVAILABLE);

    std::fs::remove_file(&blocker).unwrap();
    let done = rebuild.wait_status(|s| s.completed >= 1).await;
    assert_eq!(done.builds, 1);
    assert!(done.failures >= 1);
    assert!(blocker.join("site/current/plugins/index.html").is_file());
    assert_eq!(healthz(&app).await, StatusCode::OK);
    rebuild.shutdown().await;
}

/// Broken templates: the child fails to load them, every retry fails, nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_templates_fail_in_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = site_config(dir.path(), dir.path().join("site"));
    config.templates_dir = dir.path().join("no-templates");
    let rebuild = Rebuilder::start(real_build(config));
    let failed = rebuild.wait_status(|s| s.failures >= 1 && !s.building).await;
    assert_eq!(failed.completed, 0);
    assert!(failed.last_error.unwrap_or_default().contains("no-templates"));
    assert!(!dir.path().join("site/current").exists());
    rebuild.shutdown().await;
}

/// The real child: each ticket completes with `current` pointing at a new release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_child_publishes_and_completes_tickets() {
    let dir = tempfile::tempdir().unwrap();
    generator::demo::seed(&dir.path().join("data"), false).unwrap();
    let site = dir.path().join("site");
    let rebuild = Rebuilder::start(real_build(site_config(dir.path(), site.clone())));
    assert!(rebuild.wait_for(1, WAIT).await.is_some());
    let first = std::fs::read_link(site.join("current")).unwrap();
    assert!(site.join("current/plugins/index.html").is_file());
    // A change, then another build: live under a new release.
    let conn = catalog::open(&dir.path().join("data")).unwrap();
    conn.execute("UPDATE plugin_versions SET approved = 1 - approved", []).unwrap();
    drop(conn);
    let ticket = rebuild.request();
    assert!(rebuild.wait_for(ticket, WAIT).await.is_some());
    let second = std::fs::read_link(site.join("current")).unwrap();
    assert_ne!(first, second);
    let s = rebuild.wait_status(|s| !s.building).await;
    assert_eq!((s.builds, s.failures), (2, 0), "{s:?}");
    assert!(s.last_error.is_none());
    rebuild.shutdown().await;
}

/// A stand-in for `uploader build-site` (arguments: build-site --data D ...): logs its start,
/// dumps its environment, reports live, then waits at a FIFO gate before it exits.
const GATED_CHILD: &str = r#"#!/bin/sh
data="$3"
echo start >> "$data/log"
env > "$data/env"
echo 'live {"files":3,"publish":{"release":"r-000001"}}'
read line < "$data/gate"
echo end >> "$data/log"
"#;

fn open_gate(data: &Path) {
    // Opening a FIFO for writing waits for its reader: the gated child.
    let mut gate = std::fs::OpenOptions::new().write(true).open(data.join("gate")).unwrap();
    gate.write_all(b"go\n").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ticket_completes_on_the_live_line_and_builds_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let fifo = std::process::Command::new("mkfifo").arg(data.join("gate")).status().unwrap();
    assert!(fifo.success());
    let script = dir.path().join("child.sh");
    std::fs::write(&script, GATED_CHILD).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = site_config(dir.path(), dir.path().join("site"));
    let rebuild = Rebuilder::start(BuildCommand { program: script, config });
    let log = || std::fs::read_to_string(data.join("log")).unwrap_or_default();

    // Completed on the `live` line while the child still waits at its gate.
    assert!(rebuild.wait_for(1, WAIT).await.is_some());
    let s = rebuild.status();
    assert!(s.building, "the child has not exited: {s:?}");
    assert_eq!((s.completed, s.builds), (1, 1));
    assert_eq!(log(), "start\n");

    // A request during that build waits for the child's exit before the next one starts.
    let ticket = rebuild.request();
    let d = data.clone();
    tokio::task::spawn_blocking(move || open_gate(&d)).await.unwrap();
    assert!(rebuild.wait_for(ticket, WAIT).await.is_some());
    let d = data.clone();
    tokio::task::spawn_blocking(move || open_gate(&d)).await.unwrap();
    let s = rebuild.wait_status(|s| !s.building).await;
    assert_eq!((s.completed, s.builds, s.failures), (2, 2, 0), "{s:?}");
    assert_eq!(log(), "start\nend\nstart\nend\n");

    // Only the allowed variables reach the child (no JWT secret, no HOME, ...).
    let env = std::fs::read_to_string(data.join("env")).unwrap();
    let allowed = [
        "PATH",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "TMPDIR",
        "PLUGINS_LOG",
        "RAYON_NUM_THREADS",
        // Set by the shell itself.
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
    ];
    for line in env.lines() {
        let name = line.split('=').next().unwrap_or_default();
        assert!(allowed.contains(&name), "the child got `{name}`");
    }
    rebuild.shutdown().await;
}

/// A child that exits 0 without a `live` line published nothing: a failed build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_without_a_live_line_is_a_failed_build() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("child.sh");
    std::fs::write(&script, "#!/bin/sh\necho 'something else'\necho 'ERROR oops' >&2\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = site_config(dir.path(), dir.path().join("site"));
    let rebuild = Rebuilder::start(BuildCommand { program: script, config });
    let s = rebuild.wait_status(|s| s.failures >= 1 && !s.building).await;
    assert_eq!((s.completed, s.builds), (0, 0));
    let error = s.last_error.unwrap_or_default();
    assert!(error.contains("published nothing") && error.contains("ERROR oops"), "{error}");
    rebuild.shutdown().await;
}
