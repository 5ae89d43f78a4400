//! Test harness: a generated demo site in a temp dir, served by the real nginx with the
//! configuration rendered by `nginx/render.sh`, a fake upload service behind it, and a small
//! HTTP/1.1 client that shows the exact bytes and headers nginx sends (no implicit
//! decompression, redirects or Accept-Encoding).

pub(crate) mod deploy;
pub(crate) mod http;
pub(crate) mod plugins;
pub(crate) mod probe;
pub(crate) mod published;
pub(crate) mod smtp;
pub(crate) mod web;
pub(crate) mod xml;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use catalog::ids::{PluginId, UserId};
use catalog::model::Catalog;
use catalog::names::{PluginVersion, QgisVersion};

/// The workspace root (this crate lives in `<root>/tests`).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A port nobody listens on right now (the OS picks it).
pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The demo plugin given a version listed only for QGIS 3.39 (a development minor), so
/// that `plugins/xml/3.39.xml` differs from its neighbours and a request served from the
/// wrong file is caught.
pub(crate) const DEV_ONLY_PLUGIN: &str = "selection_stats";
pub(crate) const DEV_ONLY_VERSION: &str = "7.3.9";
/// The demo plugin with an unapproved version that must never be published.
pub(crate) const UNAPPROVED_PLUGIN: &str = "selection_stats";
pub(crate) const UNAPPROVED_VERSION: &str = "1.2";
/// A tag (name; its slug is `PAGED_TAG_SLUG`), an author and a user (an owner beside each
/// plugin's creator) that list `PAGED_LIST_LEN` plugins, more than one list page holds: the
/// demo's own have a single page, so without them no `/plugins/<kind>/<name>/page/2/` (file
/// `plugins/<kind>/p2/<name>.html`) would exist to be served and linked. The author's name
/// needs percent-encoding in URLs (a space, a non-ASCII letter).
pub(crate) const PAGED_TAG: &str = "paged fixture";
pub(crate) const PAGED_TAG_SLUG: &str = "paged-fixture";
pub(crate) const PAGED_AUTHOR: &str = "Zoë van Paged";
pub(crate) const PAGED_USER: &str = "paged_owner";
pub(crate) const PAGED_LIST_LEN: usize = generator::render::listings::PAGE_SIZE + 2;

/// A generated site in a temp dir.
pub(crate) struct Site {
    _dir: tempfile::TempDir,
    pub data: PathBuf,
    /// The site dir (`current`, `releases/`, `trees/`).
    pub site: PathBuf,
    pub base_url: String,
}

impl Site {
    /// Seeds the demo catalog (plus the 3.39-only version) and builds the site for
    /// `base_url` through the generator's library API.
    pub(crate) fn build(base_url: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("plugins-e2e-").tempdir()?;
        // nginx's workers may run as another user: let them traverse to the site.
        set_mode(dir.path(), 0o755)?;
        let data = dir.path().join("data");
        let site = dir.path().join("site");
        generator::demo::seed(&data, false).context("seeding the demo catalog")?;
        add_dev_only_version(&data)?;
        add_paged_lists(&data)?;
        let config = generator::Config::new(
            data.clone(),
            site.clone(),
            workspace_root().join("templates"),
            base_url,
        )?;
        generator::build(&config).context("generator build")?;
        ensure!(site.join("current").is_dir(), "the build published no `current`");
        Ok(Self { _dir: dir, data, site, base_url: base_url.to_owned() })
    }

    /// Builds the site of a catalog already seeded in `data` (inside `dir`) for `base_url`.
    pub(crate) fn from_data(dir: tempfile::TempDir, data: PathBuf, base_url: &str) -> Result<Self> {
        set_mode(dir.path(), 0o755)?;
        let site = dir.path().join("site");
        let templates = workspace_root().join("templates");
        let config = generator::Config::new(data.clone(), site.clone(), templates, base_url)?;
        generator::build(&config).context("generator build")?;
        ensure!(site.join("current").is_dir(), "the build published no `current`");
        Ok(Self { _dir: dir, data, site, base_url: base_url.to_owned() })
    }

    /// The published root nginx serves.
    pub(crate) fn root(&self) -> PathBuf {
        self.site.join("current")
    }

    /// Bytes of a published file (`rel` relative to the root, symlinks followed).
    pub(crate) fn file(&self, rel: &str) -> Vec<u8> {
        let path = self.root().join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// The catalog as the generator sees it (approved versions only).
    pub(crate) fn catalog(&self) -> Catalog {
        let conn = catalog::open(&self.data).expect("open catalog");
        catalog::public::load_catalog(&conn).expect("load catalog")
    }

    /// Every published file with a public URL: (path relative to the root, the URL path
    /// nginx answers it at, see `published::public_url`), sorted by path.
    pub(crate) fn public_files(&self) -> Vec<(String, String)> {
        self.files_ending_with("")
            .into_iter()
            .filter_map(|rel| published::public_url(&rel).map(|url| (rel, url)))
            .collect()
    }

    /// Every published file path (relative to the root) whose name ends with `suffix`.
    pub(crate) fn files_ending_with(&self, suffix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.root();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read_dir") {
                let path = entry.expect("dir entry").path();
                // metadata() follows the plugin-tree symlinks.
                if path.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                    stack.push(path);
                } else if path.to_string_lossy().ends_with(suffix) {
                    out.push(path.strip_prefix(&root).expect("under root").display().to_string());
                }
            }
        }
        out.sort();
        out
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Inserts an approved stable version of `DEV_ONLY_PLUGIN` with min = max = 3.39.
fn add_dev_only_version(data: &Path) -> Result<()> {
    let conn = catalog::open(data)?;
    let (plugin_id, created_by, path, sha, size): (PluginId, UserId, String, String, i64) = conn
        .query_row(
            "SELECT v.plugin_id, v.created_by, v.package_path, v.package_sha256, v.package_size
             FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
             WHERE p.package_name = ?1 AND v.approved = 1 LIMIT 1",
            [DEV_ONLY_PLUGIN],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .with_context(|| format!("demo plugin `{DEV_ONLY_PLUGIN}` not found"))?;
    // Each version owns its stored file: give this one a copy.
    let dev_path = format!("{path}.dev-only.zip");
    std::fs::copy(data.join(&path), data.join(&dev_path)).context("copying the stored zip")?;
    let v = catalog::versions::NewVersion {
        version: PluginVersion::parse(DEV_ONLY_VERSION)?,
        created_by,
        min_qgis: QgisVersion::new(3, 39),
        max_qgis: QgisVersion::new(3, 39),
        changelog: "Only for the 3.39 development build (end-to-end fixture).".into(),
        experimental: false,
        approved: true,
        external_deps: String::new(),
        token_id: None,
        package_path: dev_path,
        package_sha256: sha,
        package_size: size,
        icon: None,
    };
    catalog::versions::insert_version(&conn, plugin_id, &v, catalog::time::now())?;
    Ok(())
}

/// Gives `PAGED_LIST_LEN` published plugins the tag `PAGED_TAG` (after their own tags, so
/// that a plugin's first tag stays its own), the author `PAGED_AUTHOR` (plugins whose
/// author's name is ASCII: the demo's accented names keep their own lists) and the owner
/// `PAGED_USER`.
fn add_paged_lists(data: &Path) -> Result<()> {
    let conn = catalog::open(data)?;
    let mut stmt = conn.prepare(
        "SELECT p.id, p.author FROM plugins p WHERE p.is_deleted = 0
         AND EXISTS (SELECT 1 FROM plugin_versions v WHERE v.plugin_id = p.id AND v.approved = 1)
         ORDER BY p.id",
    )?;
    let plugins: Vec<(PluginId, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let ascii: Vec<PluginId> = plugins
        .iter()
        .filter(|(_, a)| a.is_ascii())
        .map(|(id, _)| *id)
        .take(PAGED_LIST_LEN)
        .collect();
    ensure!(
        ascii.len() == PAGED_LIST_LEN,
        "the demo has only {} plugins for the paged lists",
        ascii.len()
    );
    let owner = catalog::accounts::create_user(
        &conn,
        &catalog::accounts::NewUser { username: PAGED_USER.into(), ..Default::default() },
        catalog::time::now(),
    )?;
    for id in ascii {
        let tags: Vec<String> = conn
            .prepare(
                "SELECT t.name FROM plugin_tags pt JOIN tags t ON t.id = pt.tag_id
                 WHERE pt.plugin_id = ?1 ORDER BY pt.position",
            )?
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        catalog::tags::set_tags(&conn, id, &[tags, vec![PAGED_TAG.to_owned()]].concat())?;
        // The public author is the versions' (the plugin row only mirrors it).
        for table in [
            "UPDATE plugins SET author = ?1 WHERE id = ?2",
            "UPDATE plugin_versions SET author = ?1 WHERE plugin_id = ?2",
        ] {
            conn.execute(table, rusqlite::params![PAGED_AUTHOR, id])?;
        }
        catalog::plugins::add_owner(&conn, id, owner)?;
    }
    let slug: String =
        conn.query_row("SELECT slug FROM tags WHERE name = ?1", [PAGED_TAG], |r| r.get(0))?;
    ensure!(slug == PAGED_TAG_SLUG, "the paged tag's slug is `{slug}`");
    Ok(())
}

/// The nginx binary; a missing one fails the tests with the fix.
pub(crate) fn nginx_binary() -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("nginx")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([PathBuf::from("/usr/sbin/nginx")]).find(|p| p.is_file()).context(
        "nginx is not installed: run `make test` (it installs it) or \
         `apt-get install -y --no-install-recommends nginx`",
    )
}

/// A running nginx with our rendered configuration; stopped on drop.
///
/// nginx runs under a tiny `sh` watchdog that stops it (SIGTERM, nginx's fast shutdown)
/// as soon as its stdin closes: when this guard drops, or when the test process dies
/// without running destructors (statics), so no nginx outlives the tests.
pub(crate) struct Nginx {
    watchdog: Option<Child>,
    pub port: u16,
    pub prefix: PathBuf,
    _prefix_dir: tempfile::TempDir,
}

impl Nginx {
    /// Renders the configuration for `site_root` and starts nginx on `port`, proxying the
    /// upload service's paths to `uploader`.
    pub(crate) fn start_on(site_root: &Path, uploader: SocketAddr, port: u16) -> Result<Self> {
        let prefix_dir = tempfile::Builder::new().prefix("plugins-nginx-").tempdir()?;
        set_mode(prefix_dir.path(), 0o755)?;
        let prefix = prefix_dir.path().to_path_buf();
        let nginx = nginx_binary()?;
        let render = Command::new("bash")
            .arg(workspace_root().join("nginx/render.sh"))
            .args(["--prefix".as_ref(), prefix.as_os_str()])
            .args(["--site-root".as_ref(), site_root.as_os_str()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--uploader", &uploader.to_string()])
            .args(["--workers", "2", "--daemon", "off"])
            .output()
            .context("running nginx/render.sh")?;
        ensure!(
            render.status.success(),
            "nginx/render.sh failed: {}",
            String::from_utf8_lossy(&render.stderr)
        );
        let conf = PathBuf::from(String::from_utf8(render.stdout)?.trim());
        let error_log = prefix.join("logs/error.log");
        let mut args: Vec<std::ffi::OsString> = vec!["-p".into(), prefix.clone().into()];
        args.extend(["-e".into(), error_log.clone().into(), "-c".into(), conf.clone().into()]);

        let test = Command::new(&nginx).args(&args).arg("-t").output()?;
        ensure!(
            test.status.success(),
            "nginx -t rejects the rendered {}:\n{}",
            conf.display(),
            String::from_utf8_lossy(&test.stderr)
        );

        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" & pid=$!; read _ignored; kill -TERM "$pid" 2>/dev/null; wait "$pid""#)
            .arg(&nginx)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let mut me = Self { watchdog: Some(watchdog), port, prefix, _prefix_dir: prefix_dir };
        me.wait_ready().with_context(|| {
            format!(
                "nginx did not start; its error log says:\n{}",
                std::fs::read_to_string(&error_log).unwrap_or_default()
            )
        })?;
        Ok(me)
    }

    /// Polls until nginx accepts connections and answers as nginx (bounded).
    fn wait_ready(&mut self) -> Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(w) = self.watchdog.as_mut()
                && let Some(status) = w.try_wait()?
            {
                bail!("the nginx watchdog exited early ({status})");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let r = http::get(self.port, "/", &[])?;
                ensure!(
                    r.header("server") == Some("nginx"),
                    "port {} answers, but not as our nginx: {:?}",
                    self.port,
                    r.headers
                );
                return Ok(());
            }
            ensure!(Instant::now() < deadline, "nobody listens on {addr} after 15 s");
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The access log so far.
    pub(crate) fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/access.log")).unwrap_or_default()
    }

    /// The downloads log so far (one line per zip served from a download URL).
    pub(crate) fn downloads_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/downloads.log")).unwrap_or_default()
    }

    /// Stops nginx and waits (bounded) until it is gone.
    pub(crate) fn stop(&mut self) {
        let Some(mut w) = self.watchdog.take() else { return };
        drop(w.stdin.take()); // the watchdog sends SIGTERM to nginx and waits for it
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(w.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        // Last resort: nginx's own signal via its pid file, then the watchdog.
        if let Ok(nginx) = nginx_binary() {
            let _ = Command::new(nginx)
                .arg("-p")
                .arg(&self.prefix)
                .arg("-c")
                .arg(self.prefix.join("nginx.conf"))
                .args(["-s", "stop"])
                .output();
        }
        let _ = w.kill();
        let _ = w.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A stand-in for the upload service: answers every request with
/// `upstream saw: <METHOD> <target>` and records the request heads it got.
pub(crate) struct FakeUploader {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl FakeUploader {
    pub(crate) fn start() -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                thread::spawn(move || {
                    let _ = serve_fake(stream, &log);
                });
            }
        });
        Ok(Self { addr, seen })
    }
}

fn serve_fake(stream: TcpStream, log: &Mutex<Vec<String>>) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        // One request per iteration (nginx keeps upstream connections alive).
        let mut head = String::new();
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            head.push_str(&line);
        }
        let mut body = vec![0u8; content_length];
        std::io::Read::read_exact(&mut reader, &mut body)?;
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        log.lock().expect("log lock").push(head);
        let target = request_line.split(' ').take(2).collect::<Vec<_>>().join(" ");
        let reply = format!("upstream saw: {target}");
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        )?;
        out.flush()?;
    }
}

/// The site, nginx and the fake upload service shared by the end-to-end tests: built once
/// per test process (a build and an nginx start cost about a second).
pub(crate) struct Served {
    pub site: Site,
    pub nginx: Nginx,
    pub uploader: FakeUploader,
}

/// The shared fixture; a failed set-up fails every test that uses it, with its cause.
pub(crate) fn served() -> &'static Served {
    static SERVED: OnceLock<Result<Served, String>> = OnceLock::new();
    let r = SERVED.get_or_init(|| {
        (|| -> Result<Served> {
            let uploader = FakeUploader::start()?;
            // The base URL must name nginx's port, which is only known once nginx runs
            // on the site: pick the port first, then render and start on exactly it.
            let port = free_port();
            let site = Site::build(&format!("http://127.0.0.1:{port}"))?;
            let nginx = Nginx::start_on(&site.root(), uploader.addr, port)?;
            Ok(Served { site, nginx, uploader })
        })()
        .map_err(|e| format!("{e:#}"))
    });
    match r {
        Ok(s) => s,
        Err(e) => panic!("end-to-end fixture failed: {e}"),
    }
}
