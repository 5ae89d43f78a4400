//! Download counting end to end (issue 7): zips served by the real nginx, counted from its
//! downloads log by the ingester of the upload service (`uploader::downloads::ingest`, what
//! `uploader serve` runs every minute and `uploader count-downloads` runs once), and
//! unapproved versions sent by nginx to their editors only, through the real service
//! (in-process, behind nginx) and `X-Accel-Redirect`.
//!
//! One site, nginx and log for the three tests, which take turns (a mutex): each compares
//! the counters before and after its own downloads.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use catalog::ids::UserId;

use crate::support::http::{self, Response};
use crate::support::{self, Nginx, Site};

const PASSWORD: &str = "an e2e download password";
const SECRET: &str = "end-to-end-download-secret-0123456789abcdef";

/// Downloads of a version, of its plugin, and of the version per day.
type Counts = (u64, u64, Vec<(String, u64)>);

struct Fixture {
    site: Site,
    nginx: Nginx,
    /// Where nginx proxies the upload service (nobody listens unless `service()` runs).
    uploader: SocketAddr,
    log: PathBuf,
    /// Published (approved) versions: (package, version, zip bytes).
    zips: Vec<(String, String, Vec<u8>)>,
    /// User ids of an editor of the unapproved version's plugin and of a stranger.
    editor: UserId,
    stranger: UserId,
}

fn fixture() -> MutexGuard<'static, Fixture> {
    static F: OnceLock<Result<Mutex<Fixture>, String>> = OnceLock::new();
    let f = F.get_or_init(|| setup().map(Mutex::new).map_err(|e| format!("{e:#}")));
    match f {
        Ok(m) => m.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        Err(e) => panic!("download fixture failed: {e}"),
    }
}

fn setup() -> Result<Fixture> {
    let port = support::free_port();
    let uploader = SocketAddr::from((Ipv4Addr::LOCALHOST, support::free_port()));
    let site = Site::build(&format!("http://127.0.0.1:{port}"))?;
    let nginx = Nginx::start_on(&site.root(), uploader, port)?;
    // Render again with this site's data dir (for /_private/) and reload in place.
    let render = Command::new("bash")
        .arg(support::workspace_root().join("nginx/render.sh"))
        .args(["--prefix".as_ref(), nginx.prefix.as_os_str()])
        .args(["--site-root".as_ref(), site.root().as_os_str()])
        .args(["--data-root".as_ref(), site.data.as_os_str()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--uploader", &uploader.to_string()])
        .args(["--workers", "2", "--daemon", "off"])
        .output()?;
    ensure!(render.status.success(), "render.sh: {}", String::from_utf8_lossy(&render.stderr));
    let conf = PathBuf::from(String::from_utf8(render.stdout)?.trim());
    let reload = Command::new(support::nginx_binary()?)
        .arg("-p")
        .arg(&nginx.prefix)
        .arg("-c")
        .arg(&conf)
        .args(["-s", "reload"])
        .output()?;
    ensure!(reload.status.success(), "nginx reload: {}", String::from_utf8_lossy(&reload.stderr));
    // The reload is done when the new workers answer the private location's fallback: an
    // authenticated request for an unapproved version now reaches the (absent) service.
    let (pkg, ver) = (support::UNAPPROVED_PLUGIN, support::UNAPPROVED_VERSION);
    let path = format!("/plugins/{pkg}/version/{ver}/download/");
    poll("nginx reloaded with the private download location", || {
        let r = http::get(port, &path, &[("Authorization", "Bearer x")]).ok()?;
        (r.status == 503).then_some(())
    });

    let mut zips = Vec::new();
    for (f, url) in site.public_files() {
        // A published zip (`plugins/<pkg>/<pkg>.<v>.zip`) is served at its download URL.
        let parts: Vec<&str> = url.split('/').collect();
        if let ["", "plugins", pkg, "version", ver, "download", ""] = parts[..] {
            let ver = support::published::percent_decode(ver);
            zips.push((pkg.to_owned(), ver, site.file(&f)));
        }
        if zips.len() == 5 {
            break;
        }
    }
    ensure!(zips.len() >= 3, "the demo site publishes only {} zips", zips.len());

    // An editor (owner) of the plugin with the unapproved version, and a stranger.
    let mut conn = catalog::open(&site.data)?;
    let editor = uploader::services::accounts::add_user(
        &mut conn,
        "dl_editor",
        "",
        Some(PASSWORD),
        false,
        false,
    )?;
    let stranger = uploader::services::accounts::add_user(
        &mut conn,
        "dl_stranger",
        "",
        Some(PASSWORD),
        false,
        false,
    )?;
    let plugin =
        catalog::plugins::plugin_by_package(&conn, pkg)?.context("the demo's unapproved plugin")?;
    catalog::plugins::add_owner(&conn, plugin.id, editor)?;
    std::fs::write(site.data.join("jwt-secret"), SECRET)?;
    // The service refuses a secret file others could read.
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(site.data.join("jwt-secret"), owner_only)?;

    let log = nginx.prefix.join("logs/downloads.log");
    Ok(Fixture { site, nginx, uploader, log, zips, editor, stranger })
}

/// Polls `f` until it returns `Some` (at most 15 s).
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The real upload service behind nginx, in this process; stopped on drop.
struct Service {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<Result<()>>>,
}

impl Fixture {
    fn site_config(&self) -> generator::Config {
        generator::Config::new(
            self.site.data.clone(),
            self.site.site.clone(),
            support::workspace_root().join("templates"),
            &self.site.base_url,
        )
        .expect("config")
    }

    fn service(&self) -> Service {
        let site = self.site_config();
        let mut config =
            uploader::config::ServiceConfig::new(site, SECRET.as_bytes().to_vec()).expect("config");
        config.listen = self.uploader;
        config.rebuild = false;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = thread::spawn(move || uploader::http::server::run_blocking(config, rx));
        let addr = self.uploader;
        poll("the upload service to listen", || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok().map(|_| ())
        });
        Service { stop: Some(tx), thread: Some(thread) }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        http::get(self.nginx.port, path, headers).unwrap_or_else(|e| panic!("GET {path}: {e:#}"))
    }

    /// Waits until nginx has logged `lines` lines in total (it logs after sending).
    fn wait_for_log(&self, lines: usize) {
        poll("nginx to log every download", || {
            let n = std::fs::read(&self.log).map(|b| bytecount(&b)).unwrap_or(0);
            (n >= lines).then_some(())
        });
    }

    fn log_lines(&self) -> usize {
        std::fs::read(&self.log).map(|b| bytecount(&b)).unwrap_or(0)
    }

    fn ingest(&self) -> uploader::downloads::IngestReport {
        let mut conn = catalog::open(&self.site.data).expect("catalog");
        uploader::downloads::ingest(&mut conn, &self.log).expect("ingest")
    }

    /// (version downloads, plugin downloads, per day) of every fixture zip.
    fn counts(&self) -> BTreeMap<(String, String), Counts> {
        let conn = catalog::open(&self.site.data).expect("catalog");
        self.zips
            .iter()
            .map(|(p, v, _)| {
                let (vd, pd) =
                    catalog::downloads::download_counters(&conn, p, v).unwrap().expect("version");
                let days = catalog::downloads::version_downloads_per_day(&conn, p, v).unwrap();
                ((p.clone(), v.clone()), (vd, pd, days))
            })
            .collect()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bytecount(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn today() -> String {
    catalog::time::now().format("%Y-%m-%d").to_string()
}

/// `Authorization` value with a user JWT of `user_id` (what `POST /api/v1/token` mints).
fn bearer(user_id: UserId) -> String {
    let keys = uploader::auth::Keys::new(SECRET.as_bytes());
    let (token, _) =
        keys.user_token(user_id, catalog::time::now().timestamp(), 600).expect("token");
    format!("Bearer {token}")
}

fn download(f: &Fixture, pkg: &str, ver: &str, zip: &[u8]) {
    let r = f.get(&format!("/plugins/{pkg}/version/{ver}/download/"), &[]);
    assert_eq!(r.status, 200, "{pkg} {ver}");
    assert_eq!(r.mime(), "application/zip");
    assert!(r.body == zip, "{pkg} {ver}: not the published zip");
}

#[test]
fn a_thousand_downloads_are_counted_exactly_once_per_version_plugin_and_day() {
    let f = fixture();
    let _svc = f.service(); // counting never involves the service, but it may be up
    f.ingest();
    let before = f.counts();
    let day_before = today();
    let lines = f.log_lines();
    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    for i in 0..1000 {
        // Uneven counts per version: 0, 1, 2, 0, 1, 2, ... then by a second index.
        let (pkg, ver, zip) = &f.zips[(i * i / 7 + i) % f.zips.len()];
        download(&f, pkg, ver, zip);
        *expected.entry((pkg.clone(), ver.clone())).or_default() += 1;
    }
    // Neither a HEAD, a range request (206) nor a 404 counts.
    let (pkg, ver, _) = &f.zips[0];
    let path = format!("/plugins/{pkg}/version/{ver}/download/");
    assert_eq!(http::request(f.nginx.port, "HEAD", &path, &[], b"").unwrap().status, 200);
    assert_eq!(f.get(&path, &[("Range", "bytes=0-9")]).status, 206);
    assert_eq!(f.get(&format!("/plugins/{pkg}/version/0.0.0.0/download/"), &[]).status, 404);
    f.wait_for_log(lines + 1002);
    let day_after = today();

    let r = f.ingest();
    assert_eq!(r.counted, 1000);
    let after = f.counts();
    let mut plugin_total: BTreeMap<&str, u64> = BTreeMap::new();
    for ((p, _), n) in &expected {
        *plugin_total.entry(p).or_default() += n;
    }
    for (key, n) in &expected {
        let (v0, p0, d0) = &before[key];
        let (v1, p1, d1) = &after[key];
        assert_eq!(v1 - v0, *n, "{key:?} version counter");
        assert_eq!(p1 - p0, plugin_total[key.0.as_str()], "{key:?} plugin counter");
        let sum = |d: &Vec<(String, u64)>| d.iter().map(|(_, c)| c).sum::<u64>();
        assert_eq!(sum(d1) - sum(d0), *n, "{key:?} per-day rows");
        assert!(
            d1.iter().all(|(day, _)| d0.iter().any(|(d, _)| d == day)
                || (day_before.as_str()..=day_after.as_str()).contains(&day.as_str())),
            "{key:?}: a day other than today: {d1:?}"
        );
    }
    // A second pass adds nothing.
    assert_eq!(f.ingest().counted, 0);
    assert_eq!(f.counts(), after);

    // The refresh (a site build) publishes them: per plugin, per version and per day.
    generator::build(&f.site_config()).expect("build");
    for ((pkg, ver), (v1, p1, days)) in after.iter().filter(|(k, _)| expected.contains_key(*k)) {
        let r = f.get(&format!("/plugins/{pkg}/stats/json"), &[]);
        assert_eq!(r.status, 200, "{pkg} stats");
        let j: serde_json::Value = serde_json::from_slice(&r.body).expect("stats JSON");
        assert_eq!(j["downloads"], *p1, "{pkg}: {j}");
        let v = j["per_version"].as_array().expect("per_version");
        assert!(
            v.iter().any(|e| e["version"] == ver.as_str() && e["downloads"] == *v1),
            "{ver}: {j}"
        );
        let today = days.last().expect("a day");
        let d = j["per_day"].as_array().expect("per_day");
        assert!(d.iter().any(|e| e["day"] == today.0.as_str()), "{}: {j}", today.0);
    }
}

#[test]
fn downloads_work_without_the_upload_service_and_are_counted_later() {
    let f = fixture();
    f.ingest();
    let before = f.counts();
    let lines = f.log_lines();
    // The service is not running (nobody listens behind nginx): zips are still served.
    assert!(TcpStream::connect_timeout(&f.uploader, Duration::from_millis(200)).is_err());
    assert_eq!(f.get("/api/v1/review", &[]).status, 503, "the service is really down");
    let (pkg, ver, zip) = &f.zips[1];
    for _ in 0..20 {
        download(&f, pkg, ver, zip);
    }
    f.wait_for_log(lines + 20);
    // Back up: the next pass counts what was served meanwhile.
    let _svc = f.service();
    assert_eq!(f.ingest().counted, 20);
    let key = (pkg.clone(), ver.clone());
    assert_eq!(f.counts()[&key].0 - before[&key].0, 20);
}

#[test]
fn unapproved_versions_download_for_their_editors_only() {
    let f = fixture();
    let (pkg, ver) = (support::UNAPPROVED_PLUGIN, support::UNAPPROVED_VERSION);
    let path = format!("/plugins/{pkg}/version/{ver}/download/");
    let stored = {
        let conn = catalog::open(&f.site.data).unwrap();
        let v = catalog::downloads::version_file(&conn, pkg, ver)
            .unwrap()
            .expect("the unapproved version");
        assert!(!v.approved);
        std::fs::read(f.site.data.join(&v.package_path)).unwrap()
    };
    let _svc = f.service();
    f.ingest();
    let lines = f.log_lines();
    assert_eq!(f.get(&path, &[]).status, 404, "anonymous");
    let stranger = bearer(f.stranger);
    assert_eq!(f.get(&path, &[("Authorization", &stranger)]).status, 404, "not an editor");
    let editor = bearer(f.editor);
    let r = f.get(&path, &[("Authorization", &editor)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.mime(), "application/zip");
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    let disposition = format!("attachment; filename={pkg}-{ver}.zip");
    assert_eq!(r.header("content-disposition"), Some(disposition.as_str()));
    assert!(r.body == stored, "not the stored zip");
    // The stored zips are not reachable directly, and editors' downloads are not counted.
    assert_eq!(f.get("/_private/", &[]).status, 404);
    assert_eq!(f.log_lines(), lines);
    assert_eq!(f.ingest().counted, 0);
}
