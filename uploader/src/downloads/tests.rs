//! Unit tests of download counting: the log line parser, aggregation, torn lines, ranges,
//! aborted transfers, unknown versions, rotation, truncation and the committed offset.

use std::io::Write as _;
use std::path::Path;

use catalog::ids::UserId;
use catalog::names::{PackageName, PluginVersion, QgisVersion};

use super::*;

/// 2026-11-21T12:00:00Z and the next day.
const DAY1: i64 = 1_795_262_400;
const DAY2: i64 = DAY1 + 86_400;

fn line(t: i64, pkg: &str, ver: &str, status: u16, complete: bool, method: &str) -> String {
    let c = if complete { "OK" } else { "" };
    format!("{t}.123 {pkg} {ver} {status} c={c} {method} 1000\n")
}

fn ok(t: i64, pkg: &str, ver: &str) -> String {
    line(t, pkg, ver, 200, true, "GET")
}

/// A catalog with plugin `alpha` (versions 1.0, 2.0) and `beta` (0.1), created by `jane`.
fn catalog(dir: &Path) -> Connection {
    let conn = catalog::open(dir).unwrap();
    let user = catalog::accounts::create_user(
        &conn,
        &catalog::accounts::NewUser { username: "jane".into(), ..Default::default() },
        catalog::time::now(),
    )
    .unwrap();
    add_plugins(&conn, user, false);
    conn
}

/// `alpha` 1.0 and 2.0, `beta` 0.1; 2.0 unapproved when `unapproved_two`.
fn add_plugins(conn: &Connection, user: UserId, unapproved_two: bool) {
    for (pkg, versions) in [("alpha", &["1.0", "2.0"][..]), ("beta", &["0.1"][..])] {
        let fields = catalog::plugins::PluginFields {
            name: format!("Plugin {pkg}"),
            author: "Jane".into(),
            email: "jane@example.org".into(),
            description: "d".into(),
            ..Default::default()
        };
        let id = catalog::plugins::create_plugin(
            conn,
            &PackageName::parse(pkg).unwrap(),
            user,
            &fields,
            catalog::time::now(),
        )
        .unwrap();
        for v in versions {
            let nv = catalog::versions::NewVersion {
                version: PluginVersion::parse(v).unwrap(),
                created_by: user,
                min_qgis: QgisVersion::new(3, 0),
                max_qgis: QgisVersion::new(3, 99),
                changelog: String::new(),
                experimental: false,
                approved: !(unapproved_two && *v == "2.0"),
                external_deps: String::new(),
                token_id: None,
                package_path: format!("packages/{pkg}/{pkg}.{v}.zip"),
                package_sha256: "0".repeat(64),
                package_size: 1,
                icon: None,
            };
            catalog::versions::insert_version(conn, id, &nv, catalog::time::now()).unwrap();
        }
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn counters(conn: &Connection, pkg: &str, ver: &str) -> (u64, u64) {
    catalog::downloads::download_counters(conn, pkg, ver).unwrap().unwrap()
}

#[test]
fn parser_counts_only_complete_200_gets() {
    let l = ok(DAY1, "alpha", "1.0");
    let d = parse_line(l.trim_end()).unwrap();
    assert_eq!((d.package, d.version, d.day.as_str()), ("alpha", "1.0", "2026-11-21"));
    assert!(parse_line(line(DAY1, "alpha", "1.0", 206, true, "GET").trim_end()).is_none());
    assert!(parse_line(line(DAY1, "alpha", "1.0", 304, true, "GET").trim_end()).is_none());
    assert!(parse_line(line(DAY1, "alpha", "1.0", 404, true, "GET").trim_end()).is_none());
    assert!(parse_line(line(DAY1, "alpha", "1.0", 200, false, "GET").trim_end()).is_none());
    assert!(parse_line(line(DAY1, "alpha", "1.0", 200, true, "HEAD").trim_end()).is_none());
    assert!(parse_line("garbage").is_none());
    assert!(parse_line("").is_none());
    // UTC day boundary: 23:59:59 and 00:00:00.
    let midnight = DAY1 + 12 * 3600;
    assert_eq!(parse_line(ok(midnight - 1, "a", "1").trim_end()).unwrap().day, "2026-11-21");
    assert_eq!(parse_line(ok(midnight, "a", "1").trim_end()).unwrap().day, "2026-11-22");
}

#[test]
fn aggregate_leaves_a_torn_last_line() {
    let full = format!("{}{}", ok(DAY1, "alpha", "1.0"), ok(DAY1, "alpha", "1.0"));
    let torn = format!("{full}{}", ok(DAY2, "beta", "0.1").trim_end());
    let (counts, consumed) = aggregate(torn.as_bytes());
    assert_eq!(consumed, full.len());
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].count, 2);
    assert_eq!(aggregate(b"no newline yet").1, 0);
}

#[test]
fn every_edge_log_is_counted_from_its_own_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = catalog(dir.path());
    let (edge1, edge2) = (dir.path().join("edge-1.log"), dir.path().join("edge-2.log"));
    append(&edge1, &ok(DAY1, "alpha", "1.0").repeat(2));
    append(&edge2, &ok(DAY1, "alpha", "1.0"));
    let logs = [edge1.clone(), edge2.clone()];
    assert_eq!(ingest_all(&mut conn, &logs).unwrap().counted, 3);
    // Only what each log gained since the pass counts, whichever edge logged it.
    append(&edge2, &ok(DAY1, "alpha", "1.0").repeat(4));
    assert_eq!(ingest_all(&mut conn, &logs).unwrap().counted, 4);
    assert_eq!(ingest_all(&mut conn, &logs).unwrap().counted, 0);
    assert_eq!(counters(&conn, "alpha", "1.0").0, 7);
}

#[test]
fn ingest_counts_exactly_once_and_keeps_the_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = catalog(dir.path());
    let log = dir.path().join("downloads.log");
    let mut text = String::new();
    for _ in 0..3 {
        text.push_str(&ok(DAY1, "alpha", "1.0"));
    }
    text.push_str(&ok(DAY2, "alpha", "1.0"));
    text.push_str(&ok(DAY1, "alpha", "2.0"));
    text.push_str(&ok(DAY1, "beta", "0.1"));
    text.push_str(&line(DAY1, "beta", "0.1", 206, true, "GET"));
    text.push_str(&line(DAY1, "beta", "0.1", 200, false, "GET"));
    text.push_str(&ok(DAY1, "gone", "9.9")); // unknown: ignored
    append(&log, &text);
    append(&log, ok(DAY1, "beta", "0.1").trim_end()); // torn

    let r = ingest(&mut conn, &log).unwrap();
    assert_eq!((r.counted, r.unknown, r.bytes), (6, 1, text.len() as u64));
    assert_eq!(counters(&conn, "alpha", "1.0"), (4, 5));
    assert_eq!(counters(&conn, "alpha", "2.0"), (1, 5));
    assert_eq!(counters(&conn, "beta", "0.1"), (1, 1));
    assert_eq!(
        catalog::downloads::version_downloads_per_day(&conn, "alpha", "1.0").unwrap(),
        vec![("2026-11-21".to_owned(), 3), ("2026-11-22".to_owned(), 1)]
    );
    let pos =
        catalog::downloads::download_log_position(&conn, &log.to_string_lossy()).unwrap().unwrap();
    assert_eq!(pos.offset, text.len() as u64);

    // A second pass adds nothing; completing the torn line counts it once.
    assert_eq!(ingest(&mut conn, &log).unwrap().counted, 0);
    append(&log, "\n");
    assert_eq!(ingest(&mut conn, &log).unwrap().counted, 1);
    assert_eq!(counters(&conn, "beta", "0.1"), (2, 2));
    assert_eq!(ingest(&mut conn, &log).unwrap().counted, 0);

    // The offset is persisted: a new connection (a restarted service) goes on from it.
    drop(conn);
    let mut conn = catalog::open(dir.path()).unwrap();
    assert_eq!(ingest(&mut conn, &log).unwrap().counted, 0);
    assert_eq!(counters(&conn, "alpha", "1.0"), (4, 5));
}

#[test]
fn a_stale_position_commits_nothing() {
    // The retry of a batch whose commit already happened (or a second ingester): refused.
    let dir = tempfile::tempdir().unwrap();
    let mut conn = catalog(dir.path());
    let counts = vec![catalog::downloads::DownloadCount {
        package: "alpha".into(),
        version: "1.0".into(),
        day: "2026-11-21".into(),
        count: 5,
    }];
    let new = catalog::downloads::LogPosition { inode: 7, offset: 100 };
    let first = catalog::downloads::commit_download_counts(
        &mut conn,
        "log",
        None,
        new,
        &counts,
        catalog::time::now(),
    )
    .unwrap();
    assert_eq!(first.unwrap().counted, 5);
    let again = catalog::downloads::commit_download_counts(
        &mut conn,
        "log",
        None,
        new,
        &counts,
        catalog::time::now(),
    )
    .unwrap();
    assert!(again.is_none());
    assert_eq!(counters(&conn, "alpha", "1.0"), (5, 5));
}

#[test]
fn truncation_and_rotation_restart_from_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = catalog(dir.path());
    let log = dir.path().join("downloads.log");
    append(&log, &ok(DAY1, "alpha", "1.0").repeat(4));
    assert_eq!(ingest(&mut conn, &log).unwrap().counted, 4);

    // Truncated in place (copytruncate): same inode, shorter than the offset.
    std::fs::OpenOptions::new().write(true).truncate(true).open(&log).unwrap();
    append(&log, &ok(DAY1, "alpha", "1.0"));
    let r = ingest(&mut conn, &log).unwrap();
    assert!(r.restarted);
    assert_eq!(r.counted, 1);
    assert_eq!(counters(&conn, "alpha", "1.0"), (5, 5));

    // Rotated (renamed to .1, lines still written to it before nginx reopens), new file.
    append(&log, &ok(DAY1, "beta", "0.1"));
    std::fs::rename(&log, dir.path().join("downloads.log.1")).unwrap();
    append(&dir.path().join("downloads.log.1"), &ok(DAY1, "beta", "0.1"));
    append(&log, &ok(DAY2, "beta", "0.1").repeat(3));
    let r = ingest(&mut conn, &log).unwrap();
    assert!(r.restarted);
    assert_eq!(r.counted, 5, "the rest of the rotated file and the whole new one");
    assert_eq!(counters(&conn, "beta", "0.1"), (5, 5));

    // Rotated away entirely (no .1 left): the new file from its start.
    std::fs::remove_file(dir.path().join("downloads.log.1")).unwrap();
    std::fs::rename(&log, dir.path().join("old")).unwrap();
    append(&log, &ok(DAY2, "alpha", "2.0"));
    assert_eq!(ingest(&mut conn, &log).unwrap().counted, 1);
    assert_eq!(ingest(&mut conn, &log).unwrap().counted, 0);
}

#[test]
fn a_missing_log_counts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = catalog(dir.path());
    let r = ingest(&mut conn, &dir.path().join("absent.log")).unwrap();
    assert_eq!(r, IngestReport::default());
}

mod private {
    use base64::Engine as _;
    use bytes::Bytes;
    use http_body_util::BodyExt as _;
    use hyper::{Request, StatusCode};

    use super::*;
    use crate::app::AppState;
    use crate::config::ServiceConfig;
    use crate::rebuild::Rebuilder;

    const PASSWORD: &str = "a long test password";

    async fn get(
        app: &crate::app::App,
        path: &str,
        auth: Option<String>,
    ) -> hyper::Response<Bytes> {
        let mut req = Request::builder().uri(path);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = crate::http::handle(app, req.body(Bytes::new()).unwrap()).await;
        let (parts, body) = resp.into_parts();
        hyper::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
    }

    fn basic(user: &str, password: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}")
    }

    #[tokio::test]
    async fn only_editors_and_staff_get_the_stored_zip_of_an_unapproved_version() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut conn = catalog::open(&data).unwrap();
        let jane = crate::services::accounts::add_user(
            &mut conn,
            "jane",
            "",
            Some(PASSWORD),
            false,
            false,
        )
        .unwrap();
        crate::services::accounts::add_user(&mut conn, "bob", "", Some(PASSWORD), false, false)
            .unwrap();
        let root =
            crate::services::accounts::add_user(&mut conn, "root", "", Some(PASSWORD), true, false)
                .unwrap();
        add_plugins(&conn, jane, true);
        drop(conn);
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let site =
            generator::Config::new(data.clone(), dir.path().join("site"), templates, "http://x")
                .unwrap();
        let mut config =
            ServiceConfig::new(site, b"0123456789abcdef0123456789abcdef-test".to_vec()).unwrap();
        config.rebuild = false;
        let app = AppState::open(config, Rebuilder::disabled()).unwrap();
        let path = "/api/v1/download/alpha/2.0";

        // Anonymous: 404 whether or not the version exists.
        assert_eq!(get(&app, path, None).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            get(&app, "/api/v1/download/alpha/9.9", None).await.status(),
            StatusCode::NOT_FOUND
        );
        // Wrong password: 401; a user who is no editor: 404.
        assert_eq!(
            get(&app, path, Some(basic("jane", "wrong"))).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            get(&app, path, Some(basic("bob", PASSWORD))).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&app, path, Some("Bearer not-a-token".into())).await.status(),
            StatusCode::UNAUTHORIZED
        );

        // The creator (HTTP Basic) and staff (user JWT): redirect to the stored zip.
        let now = catalog::time::now().timestamp();
        let (token, _) = app.keys.user_token(root, now, 600).unwrap();
        for auth in [basic("jane", PASSWORD), format!("Bearer {token}")] {
            let r = get(&app, path, Some(auth)).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["x-accel-redirect"], "/_private/alpha/alpha.2.0.zip");
            assert_eq!(r.headers()["content-disposition"], "attachment; filename=alpha-2.0.zip");
            assert_eq!(r.headers()["cache-control"], "private, no-store");
            assert!(r.body().is_empty());
        }
        // Unknown versions stay 404 for editors too.
        let r = get(&app, "/api/v1/download/alpha/9.9", Some(basic("jane", PASSWORD))).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}

#[test]
fn counts_rebuild_the_site_at_most_once_per_refresh() {
    let t0 = Instant::now();
    let refresh = Duration::from_secs(600);
    let mut gate = RefreshGate::new(refresh);
    assert!(!gate.due(t0), "nothing counted yet");
    gate.counted(0);
    assert!(!gate.due(t0), "a pass that counted nothing");
    gate.counted(3);
    assert!(gate.due(t0), "the first counts rebuild at once");
    assert!(!gate.due(t0), "once");
    gate.counted(2);
    assert!(!gate.due(t0 + Duration::from_secs(599)), "within the refresh period");
    assert!(gate.due(t0 + refresh), "then the counts waiting are published");
    assert!(!gate.due(t0 + refresh * 3), "nothing new since");
}

/// The service (no builds) over the data dir `data`.
fn service(data: &Path) -> crate::app::App {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
    let site = generator::Config::new(data.to_path_buf(), data.join("site"), templates, "http://x")
        .unwrap();
    let mut config =
        crate::config::ServiceConfig::new(site, b"0123456789abcdef0123456789abcdef-test".to_vec())
            .unwrap();
    config.rebuild = false;
    crate::app::AppState::open(config, crate::rebuild::Rebuilder::disabled()).unwrap()
}

#[tokio::test]
async fn the_background_counter_ingests_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let conn = catalog(dir.path());
    let log = dir.path().join("downloads.log");
    append(&log, &ok(DAY1, "alpha", "1.0").repeat(3));
    let config = CounterConfig {
        logs: vec![log.clone()],
        interval: Duration::from_secs(1),
        refresh: Duration::from_secs(600),
    };
    let task = tokio::spawn(run_counter(config, service(dir.path())));
    // The first pass runs at once; poll (bounded) until it has committed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while counters(&conn, "alpha", "1.0").0 < 3 {
        assert!(Instant::now() < deadline, "the counter did not count within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert_eq!(counters(&conn, "alpha", "1.0"), (3, 3));
}
