//! The several-machine deployment for end-to-end tests: `scripts/cluster.sh up` (three Garage
//! nodes, the writer, two nginx edges) in a private state dir on free loopback ports, with
//! helpers to stop and start its processes by name, create accounts on the writer, and read
//! through either edge. Stopped (SIGTERM to the script, which stops what it started) on drop.

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::deploy::{PASSWORD, json_of, poll, user_add_to};
use crate::support::http::{self, Response};

/// How long `cluster.sh up` may take to answer (Garage's layout, the first build and its
/// cold publication, two nginx).
const START_LIMIT: Duration = Duration::from_secs(240);

/// A running cluster.
pub(crate) struct Cluster {
    script: Child,
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
    pub edges: [u16; 2],
    pub writer_port: u16,
    pub garage_base: u16,
}

impl Cluster {
    /// Starts `scripts/cluster.sh up` with the demo catalog and waits for its `ready` file.
    pub(crate) fn start() -> Self {
        let tmp = tempfile::Builder::new().prefix("plugins-cluster-").tempdir().expect("tmp");
        let dir = tmp.path().join("cluster");
        let edges = [crate::support::free_port(), crate::support::free_port()];
        let writer_port = crate::support::free_port();
        let garage_base = free_port_block(24);
        let log = fs::File::create(tmp.path().join("cluster.log")).expect("cluster log");
        let ports = Ports { edges, writer: writer_port, garage_base };
        let script = cluster_script(&dir, ports, &["up"])
            .env("CLUSTER_BUILD", "0")
            .env("CLUSTER_SEED", "demo")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("starting scripts/cluster.sh up");
        let mut c = Self { script, dir, _tmp: tmp, edges, writer_port, garage_base };
        let ready = c.dir.join("ready");
        poll("scripts/cluster.sh up to write its ready file", START_LIMIT, || {
            if let Ok(Some(status)) = c.script.try_wait() {
                panic!("scripts/cluster.sh up exited ({status}):\n{}", c.log_text());
            }
            ready.is_file().then_some(())
        });
        c
    }

    pub(crate) fn log_text(&self) -> String {
        let mut text = fs::read_to_string(self._tmp.path().join("cluster.log")).unwrap_or_default();
        let writer = self.dir.join("writer/writer.log");
        text.push_str(&format!("\n--- {} ---\n", writer.display()));
        text.push_str(&fs::read_to_string(writer).unwrap_or_default());
        text
    }

    /// The writer's data dir (catalog and stored zips).
    pub(crate) fn writer_data(&self) -> PathBuf {
        self.dir.join("writer/data")
    }

    /// The pid in `<name>.pid` (garage-1, edge-2, writer, ...).
    pub(crate) fn pid(&self, name: &str) -> i32 {
        let path = self.dir.join(format!("{name}.pid"));
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.trim().parse().unwrap_or_else(|e| panic!("{}: `{text}`: {e}", path.display()))
    }

    /// SIGKILLs the process `name` (and, for the writer, its build child: its whole process
    /// group) and waits until it is gone.
    pub(crate) fn kill9(&self, name: &str) {
        let pid = self.pid(name);
        let target = if name == "writer" { -pid } else { pid };
        signal("KILL", target);
        poll(&format!("{name} ({pid}) to die"), Duration::from_secs(20), || {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie its parent has not reaped yet.
            (stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z")).then_some(())
        });
    }

    /// `scripts/cluster.sh start <name>` with extra environment (e.g. a failpoint).
    pub(crate) fn start_process(&self, name: &str, env: &[(&str, &str)]) {
        let ports =
            Ports { edges: self.edges, writer: self.writer_port, garage_base: self.garage_base };
        let out = cluster_script(&self.dir, ports, &["start", name])
            .envs(env.iter().copied())
            .output()
            .expect("scripts/cluster.sh start");
        assert!(
            out.status.success(),
            "scripts/cluster.sh start {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if name == "writer" {
            // Answering at all: /healthz says 503 until a first build is live, which a
            // writer started with a publishing failpoint never reaches.
            let port = self.writer_port;
            poll("the writer to answer", Duration::from_secs(60), || {
                http::get(port, "/healthz", &[]).ok().map(|_| ())
            });
        }
    }

    /// `garage status` as node 1 sees it (or another node if given).
    pub(crate) fn garage(&self, node: u8, args: &[&str]) -> String {
        let conf = self.dir.join(format!("garage-{node}/garage.toml"));
        let out =
            Command::new(garage_binary()).arg("-c").arg(conf).args(args).output().expect("garage");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    /// A request through edge `i` (0 or 1).
    pub(crate) fn edge(&self, i: usize, path: &str, headers: &[(&str, &str)]) -> Response {
        http::get(self.edges[i], path, headers)
            .unwrap_or_else(|e| panic!("GET {path} on edge {}: {e:#}", i + 1))
    }

    /// An account on the writer (`uploader user add` on its catalog).
    pub(crate) fn user_add(&self, name: &str, flags: &[&str]) {
        user_add_to(&self.writer_data(), name, flags);
    }

    /// A bearer token for `name`, asked through edge 1 (the service's paths are proxied).
    pub(crate) fn token(&self, name: &str) -> String {
        let body = json!({"username": name, "password": PASSWORD}).to_string();
        let r = http::request(
            self.edges[0],
            "POST",
            "/api/v1/token",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .expect("POST /api/v1/token");
        assert_eq!(r.status, 200, "token for {name}: {}", r.text());
        json_of(&r)["token"].as_str().expect("token").to_owned()
    }

    /// Approves or unapproves `pkg` `version` through edge `i`, naming the stored bytes.
    pub(crate) fn set_approved(
        &self,
        i: usize,
        bearer: &str,
        (pkg, version): (&str, &str),
        approve: bool,
    ) -> (u16, Value) {
        let sha = stored_sha256(&self.writer_data(), pkg, version);
        let action = if approve { "approve" } else { "unapprove" };
        let auth = format!("Bearer {bearer}");
        let r = http::request(
            self.edges[i],
            "POST",
            &format!("/api/v1/plugins/{pkg}/versions/{version}/{action}"),
            &[("Authorization", auth.as_str()), ("Content-Type", "application/json")],
            json!({"sha256": sha}).to_string().as_bytes(),
        )
        .expect("approve request");
        (r.status, json_of(&r))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGTERM to the script: its trap stops every process it started, then it exits.
        signal("TERM", self.script.id() as i32);
        let _ = poll("scripts/cluster.sh to stop", Duration::from_secs(60), || {
            self.script.try_wait().ok().flatten()
        });
    }
}

/// The cluster's ports.
#[derive(Clone, Copy)]
struct Ports {
    edges: [u16; 2],
    writer: u16,
    garage_base: u16,
}

/// `scripts/cluster.sh <args>` for the cluster in `dir` on `ports`, with the change throttle
/// opened (the tests approve and unapprove many times in a row) and no failpoint unless
/// the caller sets one.
fn cluster_script(dir: &Path, ports: Ports, args: &[&str]) -> Command {
    let root = crate::support::workspace_root();
    let mut cmd = Command::new(root.join("scripts/cluster.sh"));
    cmd.args(args)
        .current_dir(&root)
        .env("CLUSTER_DIR", dir)
        .env("EDGE1_PORT", ports.edges[0].to_string())
        .env("EDGE2_PORT", ports.edges[1].to_string())
        .env("WRITER_PORT", ports.writer.to_string())
        .env("GARAGE_PORT_BASE", ports.garage_base.to_string())
        .env("PLUGINS_CHANGES_BURST", "1000")
        .env("PLUGINS_CHANGES_PER_MINUTE", "1000")
        .env_remove("PLUGINS_FAILPOINT");
    cmd
}

/// The pinned Garage, as `scripts/garage.sh` (which `cluster.sh up` ran) prints its path.
fn garage_binary() -> PathBuf {
    let out = Command::new(crate::support::workspace_root().join("scripts/garage.sh"))
        .output()
        .expect("scripts/garage.sh");
    assert!(out.status.success(), "scripts/garage.sh: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `kill -<sig> -- <pid>` (a negative pid: the process group).
fn signal(sig: &str, pid: i32) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg("--").arg(pid.to_string()).status();
}

fn stored_sha256(data: &Path, pkg: &str, version: &str) -> String {
    let conn = rusqlite::Connection::open(data.join("catalog.sqlite3")).expect("catalog");
    conn.query_row(
        "SELECT v.package_sha256 FROM plugin_versions v JOIN plugins p
         ON p.id = v.plugin_id WHERE p.package_name = ?1 AND v.version = ?2",
        [pkg, version],
        |r| r.get(0),
    )
    .unwrap_or_else(|e| panic!("sha256 of {pkg} {version}: {e}"))
}

/// The first of `n` consecutive free ports (Garage's three nodes take base..base+23), below
/// the kernel's ephemeral range (32768 up), where an outgoing connection's source port
/// could take one of them between this check and Garage's bind.
fn free_port_block(n: u16) -> u16 {
    let seed = std::process::id() as u16;
    (0..400u16)
        .map(|i| 10000 + (seed.wrapping_mul(7).wrapping_add(i * 97)) % 22000)
        .find(|&base| (base..base + n).all(|p| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok()))
        .expect("no block of free ports")
}

/// Reads a whole response's status through edge `port` (download URLs of plugins.xml).
pub(crate) fn status_of(port: u16, path: &str) -> u16 {
    http::request(port, "GET", path, &[], b"").map(|r| r.status).unwrap_or(0)
}
