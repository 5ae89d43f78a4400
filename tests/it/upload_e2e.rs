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
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use crate::support::deploy::*;

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
    let (status, body) = d.set_approved(pkg, "1.1.0", &boss, true);
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
            let (status, body) = d.set_approved(pkg, "1.1.0", &boss, action == "approve");
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
    let reviewed = json!({"sha256": d.stored_sha256(pkg, "1.0.0")}).to_string();
    write!(
        stream,
        "POST /api/v1/plugins/{pkg}/versions/1.0.0/approve HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {boss}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{reviewed}",
        reviewed.len()
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
