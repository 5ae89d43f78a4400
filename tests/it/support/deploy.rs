//! The upload service deployed for end-to-end tests: the real `uploader serve` binary (a
//! child process) behind the real nginx on a private copy of the demo catalog, with helpers
//! to create accounts, call the API, upload zips and compare the store and the site with
//! the database. Shared by every test that needs the real service.
//!
//! The binary is taken from the target dir of this test's own profile (`make test` builds
//! the workspace first); a missing one fails with the command that builds it.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use super::http::{self, Response};
use super::{Nginx, Site};

/// JWT signing secret of the services under test (at least 32 bytes).
pub(crate) const SECRET: &str = "end-to-end-upload-secret-0123456789abcdef";
pub(crate) const PASSWORD: &str = "a long e2e password";
pub(crate) const QGIS_PYTHON: &str = "/usr/bin/python3";
pub(crate) const QPC_VERSION: &str = "2.10.0";

/// `<target>/<profile>/uploader` of the profile this test binary was built with.
pub(crate) fn uploader_binary() -> PathBuf {
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

/// The pinned scan tools (`scripts/ensure-deps.sh test` installs them; a missing venv makes
/// `uploader serve` refuse to start, which fails the test with its message).
pub(crate) fn scan_venv() -> PathBuf {
    super::workspace_root().join("target/scan-venv")
}

/// Polls `f` until it returns `Some`, at most `limit`; panics with `what` otherwise.
pub(crate) fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
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
pub(crate) struct Deployment {
    pub child: Option<Child>,
    pub nginx: Nginx,
    pub up_port: u16,
    pub site: Site,
    pub log: PathBuf,
    /// Extra `uploader serve` flags (e.g. a generous `--changes-burst`).
    pub serve_args: Vec<String>,
}

impl Deployment {
    /// Seeds and builds the demo site, starts nginx and the service (no failpoint).
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// As `start`, with extra `uploader serve` flags.
    pub(crate) fn start_with(serve_args: &[&str]) -> Self {
        let port = super::free_port();
        let site = Site::build(&format!("http://127.0.0.1:{port}")).expect("demo site");
        let up_port = super::free_port();
        let nginx =
            Nginx::start_on(&site.root(), SocketAddr::from((Ipv4Addr::LOCALHOST, up_port)), port)
                .expect("nginx");
        let log = site.data.parent().expect("temp dir").join("uploader.log");
        let serve_args = serve_args.iter().map(|a| (*a).to_owned()).collect();
        let mut d = Self { child: None, nginx, up_port, site, log, serve_args };
        d.start_service(None);
        d
    }

    pub(crate) fn data(&self) -> &Path {
        &self.site.data
    }

    /// Starts `uploader serve` (with `PLUGINS_FAILPOINT=failpoint` if given) and waits
    /// (bounded) until /healthz says its startup build is done.
    pub(crate) fn start_service(&mut self, failpoint: Option<&str>) {
        assert!(self.child.is_none(), "the service is already running");
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log");
        let mut cmd = Command::new(uploader_binary());
        cmd.arg("serve")
            .arg("--data")
            .arg(&self.site.data)
            .arg("--site")
            .arg(&self.site.site)
            .arg("--templates")
            .arg(super::workspace_root().join("templates"))
            .args(["--base-url", &self.site.base_url])
            .args(["--listen", &format!("127.0.0.1:{}", self.up_port)])
            .arg("--scan-venv")
            .arg(scan_venv())
            .args(&self.serve_args)
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
    pub(crate) fn rss_kb(&self) -> u64 {
        let pid = self.child.as_ref().expect("a running service").id();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    pub(crate) fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs the service and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits (bounded) until the service exits by itself (a failpoint); returns its status.
    pub(crate) fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a running service");
        poll("the service to die at its failpoint", Duration::from_secs(20), || {
            child.try_wait().expect("try_wait")
        })
    }

    pub(crate) fn user_add(&self, name: &str, flags: &[&str]) {
        user_add_to(self.data(), name, flags);
    }

    /// A request through nginx.
    pub(crate) fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        http::request(self.nginx.port, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
    }

    /// A JSON API call through nginx with a bearer token; status and parsed body.
    pub(crate) fn api(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let auth = format!("Bearer {bearer}");
        let mut headers = vec![("Authorization", auth.as_str())];
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        if !bytes.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        let r = self.req(method, path, &headers, bytes.as_bytes());
        (r.status, json_of(&r))
    }

    /// SHA-256 of the stored zip of `pkg` `version` (what a reviewer downloaded).
    pub(crate) fn stored_sha256(&self, pkg: &str, version: &str) -> String {
        self.db()
            .query_row(
                "SELECT v.package_sha256 FROM plugin_versions v JOIN plugins p
                 ON p.id = v.plugin_id WHERE p.package_name = ?1 AND v.version = ?2",
                [pkg, version],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("sha256 of {pkg} {version}: {e}"))
    }

    /// Approves (or unapproves) `pkg` `version` as `bearer`, naming the stored zip's SHA-256
    /// as a reviewer does; status and parsed body.
    pub(crate) fn set_approved(
        &self,
        pkg: &str,
        version: &str,
        bearer: &str,
        approve: bool,
    ) -> (u16, Value) {
        let action = if approve { "approve" } else { "unapprove" };
        let body = json!({"sha256": self.stored_sha256(pkg, version)});
        self.api(
            "POST",
            &format!("/api/v1/plugins/{pkg}/versions/{version}/{action}"),
            bearer,
            Some(body),
        )
    }

    /// `POST /api/v1/token` through nginx.
    pub(crate) fn user_token(&self, name: &str) -> String {
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
    pub(crate) fn upload(
        &self,
        path: &str,
        bearer: &str,
        zip: &[u8],
        file: &str,
    ) -> anyhow::Result<Response> {
        upload_to(self.nginx.port, path, bearer, zip, file)
    }

    pub(crate) fn plugins_xml(&self) -> String {
        self.req("GET", "/plugins/plugins.xml?qgis=3.34", &[], b"").text()
    }

    pub(crate) fn db(&self) -> Connection {
        Connection::open_with_flags(
            self.data().join("catalog.sqlite3"),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("open catalog read-only")
    }

    /// `(version, approved)` rows of a plugin.
    pub(crate) fn versions(&self, pkg: &str) -> Vec<(String, bool)> {
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
    pub(crate) fn assert_store_matches_db(&self) {
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
    pub(crate) fn stored_files(&self, pkg: &str) -> Vec<String> {
        let dir = self.data().join("packages").join(pkg);
        let mut out: Vec<String> = fs::read_dir(&dir)
            .map(|it| it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The published site agrees with the database for `pkg`: each approved version is in
    /// plugins.xml and has its page, each unapproved one is in neither.
    pub(crate) fn assert_site_matches_db(&self, pkg: &str) {
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

/// `uploader user add <name> <flags>` on the catalog in `data` (password `PASSWORD`).
pub(crate) fn user_add_to(data: &Path, name: &str, flags: &[&str]) {
    let mut child = Command::new(uploader_binary())
        .args(["user", "add", name, "--email", &format!("{name}@example.org")])
        .args(flags)
        .arg("--password-stdin")
        .arg("--data")
        .arg(data)
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

pub(crate) fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

pub(crate) fn download_path(pkg: &str, v: &str) -> String {
    format!("/plugins/{pkg}/version/{v}/download/")
}

/// A multipart `package` upload to `port`.
pub(crate) fn upload_to(
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
pub(crate) fn metadata(pkg: &str, version: &str) -> String {
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
pub(crate) fn plugin_files(pkg: &str, version: &str) -> Vec<(String, Vec<u8>)> {
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
pub(crate) fn plugin_zip(pkg: &str, version: &str) -> Vec<u8> {
    let mut files = vec![(format!("{pkg}/"), Vec::new())];
    files.extend(plugin_files(pkg, version));
    stored_zip(&files)
}

/// A zip archive with uncompressed (stored) entries; names ending in `/` are directories.
pub(crate) fn stored_zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
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
pub(crate) fn metadata_version(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "version")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no version in {}", path.display()))
}
