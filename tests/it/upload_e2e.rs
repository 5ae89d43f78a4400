//! The upload service end to end: the real `uploader serve` binary (a child process) behind
//! the real nginx, on a private copy of the demo catalog per test. Accounts from the CLI,
//! user and per-plugin tokens, uploads, approval to live and QGIS's own installer; the real
//! `qgis-plugin-ci release` over XML-RPC; `kill -9` during an upload and during a build
//! (failpoints and SIGKILL), then a restart that must leave the store and the site matching
//! the database; twenty concurrent uploads of one version.
//!
//! The binary is taken from the target dir of this test's own profile (`make test` builds
//! the workspace first); a missing one fails with the command that builds it.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::support::http::{self, Response};
use crate::support::{self, Nginx, Site};

/// JWT signing secret of the services under test (at least 32 bytes).
const SECRET: &str = "end-to-end-upload-secret-0123456789abcdef";
const PASSWORD: &str = "a long e2e password";
const QGIS_PYTHON: &str = "/usr/bin/python3";
const QPC_VERSION: &str = "2.10.0";

/// `<target>/<profile>/uploader` of the profile this test binary was built with.
fn uploader_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/it-<hash>
    let profile_dir =
        exe.parent().and_then(Path::parent).expect("test binary in <target>/<profile>/deps");
    let bin = profile_dir.join("uploader");
    assert!(
        bin.is_file(),
        "the upload service binary {} is missing: run `make test`, or `cargo build --workspace{}` first",
        bin.display(),
        if profile_dir.ends_with("release") { " --release" } else { "" }
    );
    bin
}

/// Polls `f` until it returns `Some`, at most `limit`; panics with `what` otherwise.
fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// One private deployment: demo data and site, nginx, and the service (restartable).
struct Deployment {
    child: Option<Child>,
    nginx: Nginx,
    up_port: u16,
    site: Site,
    log: PathBuf,
}

impl Deployment {
    /// Seeds and builds the demo site, starts nginx and the service (no failpoint).
    fn start() -> Self {
        let port = support::free_port();
        let site = Site::build(&format!("http://127.0.0.1:{port}")).expect("demo site");
        let up_port = support::free_port();
        let nginx =
            Nginx::start_on(&site.root(), SocketAddr::from((Ipv4Addr::LOCALHOST, up_port)), port)
                .expect("nginx");
        let log = site.data.parent().expect("temp dir").join("uploader.log");
        let mut d = Self { child: None, nginx, up_port, site, log };
        d.start_service(None);
        d
    }

    fn data(&self) -> &Path {
        &self.site.data
    }

    /// Starts `uploader serve` (with `PLUGINS_FAILPOINT=failpoint` if given) and waits
    /// (bounded) until /healthz says its startup build is done.
    fn start_service(&mut self, failpoint: Option<&str>) {
        assert!(self.child.is_none(), "the service is already running");
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log");
        let mut cmd = Command::new(uploader_binary());
        cmd.arg("serve")
            .arg("--data")
            .arg(&self.site.data)
            .arg("--site")
            .arg(&self.site.site)
            .arg("--templates")
            .arg(support::workspace_root().join("templates"))
            .args(["--base-url", &self.site.base_url])
            .args(["--listen", &format!("127.0.0.1:{}", self.up_port)])
            .env("PLUGINS_JWT_SECRET", SECRET)
            .env("PLUGINS_LOG", "info")
            .env_remove("PLUGINS_JWT_SECRET_FILE")
            .env_remove("PLUGINS_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(fp) = failpoint {
            cmd.env("PLUGINS_FAILPOINT", fp);
        }
        self.child = Some(cmd.spawn().expect("spawning uploader serve"));
        let port = self.up_port;
        poll("the service's /healthz", Duration::from_secs(60), || {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("uploader serve exited at startup ({status}):\n{}", self.log_text());
            }
            match http::get(port, "/healthz", &[]) {
                Ok(r) if r.status == 200 => Some(()),
                _ => None,
            }
        });
    }

    /// Resident memory of the running service (`VmRSS` in /proc), in kB.
    fn rss_kb(&self) -> u64 {
        let pid = self.child.as_ref().expect("a running service").id();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs the service and reaps it.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits (bounded) until the service exits by itself (a failpoint); returns its status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a running service");
        poll("the service to die at its failpoint", Duration::from_secs(20), || {
            child.try_wait().expect("try_wait")
        })
    }

    fn user_add(&self, name: &str, flags: &[&str]) {
        let mut child = Command::new(uploader_binary())
            .args(["user", "add", name, "--email", &format!("{name}@example.org")])
            .args(flags)
            .arg("--password-stdin")
            .arg("--data")
            .arg(self.data())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("uploader user add");
        child.stdin.take().expect("stdin").write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
        let out = child.wait_with_output().expect("uploader user add");
        assert!(
            out.status.success(),
            "uploader user add {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A request through nginx.
    fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        http::request(self.nginx.port, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
    }

    /// A JSON API call through nginx with a bearer token; status and parsed body.
    fn api(&self, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {bearer}");
        let mut headers = vec![("Authorization", auth.as_str())];
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        if !bytes.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        let r = self.req(method, path, &headers, bytes.as_bytes());
        (r.status, json_of(&r))
    }

    /// `POST /api/v1/token` through nginx.
    fn user_token(&self, name: &str) -> String {
        let body = json!({"username": name, "password": PASSWORD}).to_string();
        let r = self.req(
            "POST",
            "/api/v1/token",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "POST /api/v1/token for {name}: {}", r.text());
        json_of(&r)["token"].as_str().expect("token").to_owned()
    }

    /// A multipart upload through nginx.
    fn upload(&self, path: &str, bearer: &str, zip: &[u8], file: &str) -> anyhow::Result<Response> {
        upload_to(self.nginx.port, path, bearer, zip, file)
    }

    fn plugins_xml(&self) -> String {
        self.req("GET", "/plugins/plugins.xml?qgis=3.34", &[], b"").text()
    }

    fn db(&self) -> Connection {
        Connection::open_with_flags(
            self.data().join("catalog.sqlite3"),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("open catalog read-only")
    }

    /// `(version, approved)` rows of a plugin.
    fn versions(&self, pkg: &str) -> Vec<(String, bool)> {
        let conn = self.db();
        let mut st = conn
            .prepare(
                "SELECT v.version, v.approved FROM plugin_versions v JOIN plugins p
                 ON p.id = v.plugin_id WHERE p.package_name = ?1 ORDER BY v.id",
            )
            .unwrap();
        st.query_map([pkg], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? == 1)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// No row without its file, no file without its row, no temporary file in the store.
    fn assert_store_matches_db(&self) {
        let conn = self.db();
        let mut st = conn.prepare("SELECT package_path FROM plugin_versions").unwrap();
        let rows: std::collections::BTreeSet<String> =
            st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        for rel in &rows {
            assert!(self.data().join(rel).is_file(), "row without its file: {rel}");
        }
        let root = self.data().join("packages");
        for dir in fs::read_dir(&root).expect("packages dir") {
            let dir = dir.unwrap();
            if !dir.file_type().unwrap().is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path()).unwrap() {
                let f = f.unwrap();
                let rel = format!(
                    "packages/{}/{}",
                    dir.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                );
                assert!(rows.contains(&rel), "orphan file in the store: {rel}");
            }
        }
    }

    /// Stored files of one plugin.
    fn stored_files(&self, pkg: &str) -> Vec<String> {
        let dir = self.data().join("packages").join(pkg);
        let mut out: Vec<String> = fs::read_dir(&dir)
            .map(|it| it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The published site agrees with the database for `pkg`: each approved version is in
    /// plugins.xml and has its page, each unapproved one is in neither.
    fn assert_site_matches_db(&self, pkg: &str) {
        let xml = self.plugins_xml();
        let versions = self.versions(pkg);
        assert!(!versions.is_empty(), "no versions of {pkg} in the database");
        for (v, approved) in versions {
            let listed = xml.contains(&download_path(pkg, &v));
            assert_eq!(listed, approved, "{pkg} {v}: approved={approved} but listed={listed}");
            let page = self.req("GET", &format!("/plugins/{pkg}/version/{v}/"), &[], b"");
            assert_eq!(page.status == 200, approved, "{pkg} {v} page: {}", page.status);
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.kill();
    }
}

fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn download_path(pkg: &str, v: &str) -> String {
    format!("/plugins/{pkg}/version/{v}/download/")
}

/// A multipart `package` upload to `port`.
fn upload_to(
    port: u16,
    path: &str,
    bearer: &str,
    zip: &[u8],
    file: &str,
) -> anyhow::Result<Response> {
    let boundary = "----e2e-boundary-7d9f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"{file}\"\r\n\
         Content-Type: application/zip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(zip);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let auth = format!("Bearer {bearer}");
    http::request(port, "POST", path, &[("Authorization", &auth), ("Content-Type", &ct)], &body)
}

/// `metadata.txt` of a valid plugin.
fn metadata(pkg: &str, version: &str) -> String {
    format!(
        "[general]\nname=E2E {pkg}\nqgisMinimumVersion=3.0\n\
         description=An end-to-end test plugin\nversion={version}\nauthor=Jane Doe\n\
         email=jane@example.org\nabout=It is uploaded by the end-to-end tests and does nothing else.\n\
         tracker=https://github.com/example/{pkg}/issues\n\
         repository=https://github.com/example/{pkg}\nhomepage=https://example.org/{pkg}\n\
         tags=test,e2e\n"
    )
}

/// The files of a valid plugin (`<pkg>/...`).
fn plugin_files(pkg: &str, version: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        (format!("{pkg}/metadata.txt"), metadata(pkg, version).into_bytes()),
        (
            format!("{pkg}/__init__.py"),
            b"def classFactory(iface):\n    from .plugin import P\n    return P(iface)\n".to_vec(),
        ),
        (
            format!("{pkg}/plugin.py"),
            b"class P:\n    def __init__(self, iface):\n        self.iface = iface\n\n    def initGui(self):\n        pass\n\n    def unload(self):\n        pass\n"
                .to_vec(),
        ),
        (format!("{pkg}/LICENSE"), b"GNU GENERAL PUBLIC LICENSE Version 2\n".to_vec()),
    ]
}

/// A valid plugin zip: a top folder `<pkg>/` and the files of `plugin_files`.
fn plugin_zip(pkg: &str, version: &str) -> Vec<u8> {
    let mut files = vec![(format!("{pkg}/"), Vec::new())];
    files.extend(plugin_files(pkg, version));
    stored_zip(&files)
}

/// A zip archive with uncompressed (stored) entries; names ending in `/` are directories.
fn stored_zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let size = u32::try_from(data.len()).expect("small file");
        let name_len = u16::try_from(name.len()).expect("short name");
        let offset = u32::try_from(out.len()).expect("small zip");
        let is_dir = name.ends_with('/');
        let (time, date) = (0u16, (46u16 << 9) | (1 << 5) | 1); // 2026-01-01 00:00
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        for v in [20u16, 0, 0, time, date] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, size, size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central directory entry (made by Unix, version 2.0).
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for v in [(3u16 << 8) | 20, 20, 0, 0, time, date] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, size, size] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        for v in [name_len, 0, 0, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        let mode: u32 = if is_dir { 0o040_755 } else { 0o100_644 };
        let external = (mode << 16) | (u32::from(is_dir) * 0x10);
        central.extend_from_slice(&external.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).expect("small zip");
    let cd_size = u32::try_from(central.len()).expect("small zip");
    let n = u16::try_from(files.len()).expect("few files");
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// `version` of `[general]` in a metadata.txt.
fn metadata_version(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "version")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no version in {}", path.display()))
}

#[test]
fn upload_e2e_new_plugin_token_version_approval_and_qgis_install() {
    let d = Deployment::start();
    let pkg = "e2e_hello";
    d.user_add("jane", &[]);
    d.user_add("boss", &["--staff"]);
    let jane = d.user_token("jane");

    // A new plugin from a non-trusted user: created, awaiting review.
    let r = d.upload("/plugins/add/", &jane, &plugin_zip(pkg, "1.0.0"), "e2e_hello.zip").unwrap();
    assert_eq!(r.status, 201, "new plugin: {}", r.text());
    assert!(!d.plugins_xml().contains(&format!("/plugins/{pkg}/")), "unapproved plugin listed");

    // A per-plugin token, then a new version with it.
    let (status, body) = d.api(
        "POST",
        &format!("/api/v1/plugins/{pkg}/tokens"),
        &jane,
        Some(json!({"description": "CI"})),
    );
    assert_eq!(status, 201, "token creation: {body}");
    let plugin_token = body["token"].as_str().expect("token shown once").to_owned();
    // The new version with curl, as the README tells CI to.
    let work = tempfile::Builder::new().prefix("curl-upload-").tempdir().unwrap();
    let zip_path = work.path().join("e2e_hello.1.1.0.zip");
    fs::write(&zip_path, plugin_zip(pkg, "1.1.0")).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "-o"])
        .arg(work.path().join("body"))
        .args(["-w", "%{http_code}", "-X", "POST"])
        .arg(format!("{}/plugins/api/{pkg}/version/add/", d.nginx.base_url()))
        .args(["-H", &format!("Authorization: Bearer {plugin_token}")])
        .arg("-F")
        .arg(format!("package=@{}", zip_path.display()))
        .output()
        .expect("curl is missing: apt-get install -y curl");
    let body = fs::read_to_string(work.path().join("body")).unwrap_or_default();
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "201", "token upload with curl: {body}");
    let body: Value = serde_json::from_str(&body).expect("JSON answer");
    assert!(body.to_string().contains("1.1.0"), "the answer names the version: {body}");
    assert_eq!(d.versions(pkg), vec![("1.0.0".into(), false), ("1.1.0".into(), false)]);
    assert!(!d.plugins_xml().contains(&download_path(pkg, "1.1.0")));
    let filtered =
        d.req("GET", &format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}"), &[], b"");
    assert_eq!(filtered.status, 200);
    assert!(!filtered.text().contains(&download_path(pkg, "1.1.0")));

    // Staff approves: the answer says live, and nginx serves it at once.
    let boss = d.user_token("boss");
    let started = Instant::now();
    let (status, body) =
        d.api("POST", &format!("/api/v1/plugins/{pkg}/versions/1.1.0/approve"), &boss, None);
    assert_eq!(status, 200, "approve: {body}");
    assert_eq!(body["live"], true, "approve: {body}");
    let xml = d.plugins_xml();
    let approval_to_live = started.elapsed();
    assert!(xml.contains(&download_path(pkg, "1.1.0")), "approved version not in plugins.xml");
    assert!(!xml.contains(&download_path(pkg, "1.0.0")), "unapproved 1.0.0 listed");
    let filtered =
        d.req("GET", &format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}"), &[], b"");
    assert!(filtered.text().contains(&download_path(pkg, "1.1.0")));
    eprintln!(
        "upload_e2e: approval to live through nginx: {approval_to_live:?} (service says {} ms)",
        body["live_after_ms"]
    );

    // Repeated unapprove/approve: each answer comes when nginx already serves the change.
    let mut latencies = vec![approval_to_live];
    for _ in 0..4 {
        for action in ["unapprove", "approve"] {
            let started = Instant::now();
            let (status, body) = d.api(
                "POST",
                &format!("/api/v1/plugins/{pkg}/versions/1.1.0/{action}"),
                &boss,
                None,
            );
            assert_eq!(status, 200, "{action}: {body}");
            assert_eq!(body["live"], true, "{action}: {body}");
            let listed = d.plugins_xml().contains(&download_path(pkg, "1.1.0"));
            assert_eq!(listed, action == "approve", "after {action}, listed={listed}");
            if action == "approve" {
                latencies.push(started.elapsed());
            }
        }
    }
    // Builds run in child processes: the service itself stays small after a dozen of them.
    let rss = d.rss_kb();
    eprintln!("upload_e2e: service VmRSS after the builds: {rss} kB");
    assert!(rss < 30 * 1024, "uploader serve holds {rss} kB after builds (limit 30 MB)");
    latencies.sort();
    eprintln!(
        "upload_e2e: approval to live through nginx, median of {}: {:?} (min {:?}, max {:?})",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[0],
        latencies[latencies.len() - 1]
    );

    // QGIS's own installer offers and installs the new version.
    let profile = tempfile::Builder::new().prefix("qgis-profile-").tempdir().unwrap();
    let out = Command::new(QGIS_PYTHON)
        .arg(support::workspace_root().join("tests/qgis/installer_probe.py"))
        .arg("--repo-url")
        .arg(format!("{}/plugins/plugins.xml", d.nginx.base_url()))
        .arg("--profile")
        .arg(profile.path())
        .args(["--pretend-version", "3.34.0", "--install", pkg])
        .env("QT_QPA_PLATFORM", "offscreen")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {QGIS_PYTHON} (QGIS's Python bindings): {e}; run `make test` \
                 or `apt-get install -y --no-install-recommends python3-qgis`"
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "installer probe failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe: Value = serde_json::from_str(&stdout).expect("probe JSON");
    assert_eq!(probe["repository"]["state"], 2, "{probe:#}");
    assert_eq!(probe["plugins"][pkg]["stable"], "1.1.0", "{probe:#}");
    assert_eq!(
        probe["plugins"][pkg]["download_url_stable"],
        format!("{}{}", d.site.base_url, download_path(pkg, "1.1.0"))
    );
    let inst = &probe["install"];
    assert_eq!(inst["dialog_result"], "", "install failed: {inst:#}");
    assert_eq!(inst["offered_version"], "1.1.0");
    let folder = PathBuf::from(inst["folder"].as_str().expect("folder"));
    assert!(folder.starts_with(profile.path()) && folder.is_dir(), "{inst:#}");
    assert_eq!(metadata_version(&folder.join("metadata.txt")), "1.1.0");
    assert_eq!(inst["error"], "", "{inst:#}");
    assert_eq!(inst["class_factory"], true, "{inst:#}");
    // Download lines are buffered by nginx (flush=1s).
    let line = format!("GET {} HTTP/1.1\" 200 ", download_path(pkg, "1.1.0"));
    poll("nginx's log line of the zip QGIS downloaded", Duration::from_secs(10), || {
        d.nginx.access_log().contains(&line).then_some(())
    });
}

/// `target/venv-qpc/bin/qgis-plugin-ci`, installed on first use (under a lock) with the
/// `python3` on PATH when `scripts/ensure-deps.sh test` has not already done it.
fn qgis_plugin_ci() -> PathBuf {
    let venv = support::workspace_root().join("target/venv-qpc");
    let bin = venv.join("bin/qgis-plugin-ci");
    if bin.is_file() {
        return bin;
    }
    fs::create_dir_all(support::workspace_root().join("target")).unwrap();
    let lock = fs::File::create(support::workspace_root().join("target/venv-qpc.lock")).unwrap();
    lock.lock().expect("locking target/venv-qpc.lock");
    if !bin.is_file() {
        let run = |cmd: &mut Command| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
            assert!(
                out.status.success(),
                "{cmd:?} failed (install qgis-plugin-ci with `scripts/ensure-deps.sh test`):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(venv.join("bin/pip")).args([
            "install",
            "-q",
            &format!("qgis-plugin-ci=={QPC_VERSION}"),
        ]));
    }
    assert!(bin.is_file(), "{} missing after the install", bin.display());
    bin
}

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git").arg("-C").arg(repo).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn upload_e2e_qgis_plugin_ci_release_publishes_over_xmlrpc() {
    let qpc = qgis_plugin_ci();
    let d = Deployment::start();
    let pkg = "qpc_hello";
    d.user_add("ci_user", &[]);

    let repo = tempfile::Builder::new().prefix("qpc-repo-").tempdir().unwrap();
    for (name, bytes) in plugin_files(pkg, "0.0.1") {
        let path = repo.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
    fs::write(
        repo.path().join(".qgis-plugin-ci"),
        format!("plugin_path: {pkg}\ngithub_organization_slug: example\nproject_slug: qpc-hello\n"),
    )
    .unwrap();
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["config", "user.name", "E2E"]);
    git(repo.path(), &["config", "user.email", "e2e@example.org"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "plugin"]);

    let url = format!("{}/plugins/RPC2/", d.nginx.base_url());
    let out = Command::new(&qpc)
        .current_dir(repo.path())
        .args(["release", "1.0.1", "--osgeo-username", "ci_user", "--osgeo-password", PASSWORD])
        .args(["--alternative-repo-url", &url])
        .output()
        .expect("running qgis-plugin-ci");
    assert!(
        out.status.success(),
        "qgis-plugin-ci release failed ({}):\n{}\n{}\nservice log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log_text()
    );
    assert_eq!(d.versions(pkg), vec![("1.0.1".to_owned(), false)]);
    assert_eq!(d.stored_files(pkg).len(), 1);
    // nginx buffers this log file (flush=1s): poll.
    poll("the XML-RPC upload in nginx's access log", Duration::from_secs(10), || {
        d.nginx.access_log().contains("\"POST /plugins/RPC2/ HTTP/1.1\" 200 ").then_some(())
    });
}

/// A failpoint aborts the service in the middle of an upload; after a restart the store,
/// the database and the site agree.
fn crash_during_upload(failpoint: &str, pkg: &str) -> Deployment {
    let mut d = Deployment::start();
    d.user_add("tina", &["--trusted"]);
    let tina = d.user_token("tina");
    d.kill();
    d.start_service(Some(failpoint));
    let zip = plugin_zip(pkg, "1.0.0");
    let r = upload_to(d.up_port, "/plugins/add/", &tina, &zip, "p.zip");
    assert!(
        r.is_err(),
        "the service answered at its failpoint {failpoint}: {:?}",
        r.map(|r| r.status)
    );
    let status = d.wait_exit();
    assert!(!status.success(), "{failpoint}: the service exited cleanly");
    assert!(d.log_text().contains(failpoint), "the service did not report its failpoint");
    // Both failpoints come after the zip was stored and synced.
    let stored_at_crash = d.stored_files(pkg);
    assert_eq!(stored_at_crash.len(), 1, "{failpoint}: stored zips at the crash");
    d.start_service(None);
    d.assert_store_matches_db();
    d
}

#[test]
fn upload_e2e_kill_before_commit_leaves_no_trace() {
    let pkg = "crash_before";
    let d = crash_during_upload("upload.before_commit", pkg);
    assert!(d.versions(pkg).is_empty(), "a row survived the crash: {:?}", d.versions(pkg));
    assert!(d.stored_files(pkg).is_empty(), "orphan files: {:?}", d.stored_files(pkg));
    assert!(d.log_text().contains("orphan"), "the startup sweep reported nothing");
    assert!(!d.plugins_xml().contains(&format!("/plugins/{pkg}/")));
    // The retry succeeds and is published (trusted user: approved at once).
    let tina = d.user_token("tina");
    let r = d.upload("/plugins/add/", &tina, &plugin_zip(pkg, "1.0.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "retry: {}", r.text());
    assert_eq!(d.versions(pkg), vec![("1.0.0".to_owned(), true)]);
    assert_eq!(d.stored_files(pkg).len(), 1);
    poll("the retried upload in plugins.xml", Duration::from_secs(20), || {
        d.plugins_xml().contains(&download_path(pkg, "1.0.0")).then_some(())
    });
    d.assert_site_matches_db(pkg);
    d.assert_store_matches_db();
}

#[test]
fn upload_e2e_kill_after_commit_is_published_by_the_startup_build() {
    let pkg = "crash_after";
    let d = crash_during_upload("upload.after_commit", pkg);
    assert_eq!(d.versions(pkg), vec![("1.0.0".to_owned(), true)], "the committed row");
    assert_eq!(d.stored_files(pkg).len(), 1);
    // /healthz answered only after the startup build: the site already matches.
    d.assert_site_matches_db(pkg);
    let json = d.req("GET", &format!("/plugins/{pkg}/version/1.0.0/json"), &[], b"");
    assert_eq!(json.status, 200);
    // The same version again is refused, and leaves one file.
    let tina = d.user_token("tina");
    let r = d.upload("/plugins/add/", &tina, &plugin_zip(pkg, "1.0.0"), "p.zip").unwrap();
    assert!((400..500).contains(&r.status), "duplicate upload: {} {}", r.status, r.text());
    assert_eq!(d.stored_files(pkg).len(), 1);
}

#[test]
fn upload_e2e_kill_during_the_build_of_an_approval() {
    let pkg = "crash_build";
    let mut d = Deployment::start();
    d.user_add("jane", &[]);
    d.user_add("boss", &["--staff"]);
    let jane = d.user_token("jane");
    let r = d.upload("/plugins/add/", &jane, &plugin_zip(pkg, "1.0.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let boss = d.user_token("boss");

    // Send the approval, wait for its commit, and SIGKILL before the response (the service
    // answers only once the rebuild that includes it is live).
    let mut stream =
        TcpStream::connect((Ipv4Addr::LOCALHOST, d.up_port)).expect("connect to the service");
    write!(
        stream,
        "POST /api/v1/plugins/{pkg}/versions/1.0.0/approve HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {boss}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let committed = Instant::now();
    poll("the approval to commit", Duration::from_secs(20), || {
        d.versions(pkg).first().is_some_and(|(_, approved)| *approved).then_some(())
    });
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let answered_before_kill = matches!(stream.read(&mut buf), Ok(n) if n > 0);
    d.kill();
    eprintln!(
        "upload_e2e: killed {:?} after sending the approval (answered before the kill: \
         {answered_before_kill})",
        committed.elapsed()
    );
    // Whatever the build had done, nginx still serves a complete site.
    let r = d.req("GET", "/plugins/plugins.xml?qgis=3.34", &[], b"");
    assert_eq!(r.status, 200);

    d.start_service(None);
    d.assert_site_matches_db(pkg);
    assert!(d.plugins_xml().contains(&download_path(pkg, "1.0.0")));
    d.assert_store_matches_db();
    assert!(d.site.root().join("plugins/index.html").is_file(), "`current` is not a complete site");
}

#[test]
fn upload_e2e_twenty_concurrent_uploads_of_one_version_through_nginx() {
    let pkg = "conc_hello";
    let d = Arc::new(Deployment::start());
    d.user_add("tina", &["--trusted"]);
    let tina = Arc::new(d.user_token("tina"));
    let zip = Arc::new(plugin_zip(pkg, "1.0.0"));
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (d, tina, zip, barrier) =
                (Arc::clone(&d), Arc::clone(&tina), Arc::clone(&zip), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let r = d.upload("/plugins/add/", &tina, &zip, "p.zip").expect("upload");
                (r.status, r.text())
            })
        })
        .collect();
    let results: Vec<(u16, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "201s: {created}; all: {results:?}");
    for (s, body) in &results {
        assert!(*s == 201 || (400..500).contains(s), "unexpected answer {s}: {body}");
    }
    assert_eq!(d.versions(pkg), vec![("1.0.0".to_owned(), true)]);
    assert_eq!(d.stored_files(pkg).len(), 1, "{:?}", d.stored_files(pkg));
    d.assert_store_matches_db();
}
