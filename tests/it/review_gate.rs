//! Review binding end to end, through nginx with the real service: approval names the
//! reviewed bytes (stale sha256 → 409 and nothing published, missing → 400, right → live);
//! requests that change nothing request no build; the per-user throttle answers 429 before
//! writing; no stored zip is lost when a version is deleted while the same bytes are
//! uploaded again; and readers of plugins.xml only ever see complete documents whose every
//! download answers a zip while a version is unapproved and approved 200 times.
//!
//! An unapproval takes effect at once, so a reader that fetched a document just before it
//! may find that version's zip gone a moment later. Such a failed download is checked
//! against the document served now: a broken document is one that is still served and
//! still lists a zip that does not answer (checked five times in a row); a document
//! superseded by a newer release is counted, and printed, not failed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::deploy::*;
use crate::support::{http, xml};

/// The service's `/healthz` build status (`requested`, `completed`, `builds`, `failures`,
/// `building`); nginx does not proxy it.
fn site_status(d: &Deployment) -> Value {
    let r = http::get(d.up_port, "/healthz", &[]).expect("/healthz");
    assert_eq!(r.status, 200, "/healthz: {}", r.text());
    json_of(&r)["site"].clone()
}

/// Waits (bounded) until no build is pending or running.
fn wait_idle(d: &Deployment) -> Value {
    poll("the builder to be idle", Duration::from_secs(60), || {
        let s = site_status(d);
        (s["completed"] == s["requested"] && s["building"] == false).then_some(s)
    })
}

fn events(d: &Deployment) -> i64 {
    d.db().query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap()
}

fn current_release(d: &Deployment) -> std::path::PathBuf {
    std::fs::read_link(d.site.site.join("current")).expect("site/current")
}

fn approve_with(d: &Deployment, pkg: &str, v: &str, bearer: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {bearer}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    let path = format!("/api/v1/plugins/{pkg}/versions/{v}/approve");
    let r = d.req("POST", &path, &headers, body.as_bytes());
    (r.status, json_of(&r))
}

/// The public zip of `pkg` `v` through nginx.
fn download(d: &Deployment, pkg: &str, v: &str) -> http::Response {
    d.req("GET", &download_path(pkg, v), &[], b"")
}

#[test]
fn review_gate_stale_sha256_is_refused_missing_is_400_right_is_live() {
    let d = Deployment::start_with(&["--changes-burst", "8", "--changes-per-minute", "1"]);
    let pkg = "gate_bytes";
    d.user_add("jane", &[]);
    d.user_add("boss", &["--staff"]);
    let (jane, boss) = (d.user_token("jane"), d.user_token("boss"));
    let r = d.upload("/plugins/add/", &jane, &plugin_zip(pkg, "1.0.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());

    // The reviewer reviews these bytes; the queue names their sha256 and size.
    let reviewed_zip = plugin_zip(pkg, "1.0.0");
    let reviewed = catalog::hash::sha256_hex(&reviewed_zip);
    let (status, queue) = d.api("GET", "/api/v1/review", &boss, None);
    assert_eq!(status, 200);
    let item = queue["versions"].as_array().unwrap().iter().find(|v| v["package"] == pkg).cloned();
    let item = item.expect("the upload is in the review queue");
    assert_eq!(item["sha256"], reviewed.as_str());
    assert_eq!(item["size"], reviewed_zip.len());
    assert_eq!(item["replaced"], false);

    // The author swaps the zip after the review (token API update).
    let (status, body) =
        d.api("POST", &format!("/api/v1/plugins/{pkg}/tokens"), &jane, Some(json!({})));
    assert_eq!(status, 201, "{body}");
    let plugin_token = body["token"].as_str().unwrap().to_owned();
    let mut files = vec![(format!("{pkg}/"), Vec::new())];
    files.extend(plugin_files(pkg, "1.0.0"));
    files.push((format!("{pkg}/payload.py"), b"print('not what was reviewed')\n".to_vec()));
    let swapped = stored_zip(&files);
    let r = d
        .upload(
            &format!("/plugins/api/{pkg}/version/1.0.0/update/"),
            &plugin_token,
            &swapped,
            "p.zip",
        )
        .unwrap();
    assert_eq!(r.status, 201, "replacement: {}", r.text());
    let current = catalog::hash::sha256_hex(&swapped);
    assert_ne!(current, reviewed);

    // Stale sha256: 409 naming the current one; nothing approved, written or published.
    let before = (wait_idle(&d)["requested"].clone(), events(&d), current_release(&d));
    let xml_before = d.plugins_xml();
    let (status, body) =
        approve_with(&d, pkg, "1.0.0", &boss, &json!({"sha256": reviewed}).to_string());
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "changed_since_review", "{body}");
    assert!(body["detail"].as_str().unwrap().contains(&current), "{body}");
    // Missing body, missing field, not hex: 400, nothing written.
    for bad in ["", "{}", r#"{"sha256": "not-hex"}"#] {
        let (status, body) = approve_with(&d, pkg, "1.0.0", &boss, bad);
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("sha256"), "{body}");
    }
    assert_eq!(d.versions(pkg), vec![("1.0.0".to_owned(), false)]);
    let after = (site_status(&d)["requested"].clone(), events(&d), current_release(&d));
    assert_eq!(after, before, "a refused approval requested a build, wrote or published");
    assert_eq!(d.plugins_xml(), xml_before);
    assert_eq!(download(&d, pkg, "1.0.0").status, 404, "published without approval");

    // The queue and the version's JSON now show the replacement and its sha256.
    let (status, v) = d.api("GET", &format!("/api/v1/plugins/{pkg}/versions/1.0.0"), &boss, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["sha256"].as_str(), v["replaced"].as_bool()),
        (Some(current.as_str()), Some(true))
    );
    assert!(v["replaced_at"].is_string(), "{v}");

    // The right sha256: live when answered, and the public zip is the approved bytes.
    let (status, body) = approve_with(
        &d,
        pkg,
        "1.0.0",
        &boss,
        &json!({"sha256": current.to_uppercase()}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["live"], true, "{body}");
    assert!(d.plugins_xml().contains(&download_path(pkg, "1.0.0")));
    let public = download(&d, pkg, "1.0.0");
    assert_eq!(public.status, 200);
    assert_eq!(catalog::hash::sha256_hex(&public.body), current);

    // Requests that change nothing: no event, no build requested.
    let idle = wait_idle(&d);
    let (events0, builds0) = (events(&d), idle["builds"].clone());
    for (method, path, body) in [
        ("PATCH", format!("/api/v1/plugins/{pkg}"), None),
        ("PATCH", format!("/api/v1/plugins/{pkg}"), Some(json!({}))),
        (
            "PATCH",
            format!("/api/v1/plugins/{pkg}"),
            Some(json!({"deprecated": false, "owners": []})),
        ),
        (
            "POST",
            format!("/api/v1/plugins/{pkg}/versions/1.0.0/approve"),
            Some(json!({"sha256": current})),
        ),
    ] {
        let (status, answer) = d.api(method, &path, &boss, body.clone());
        assert_eq!(status, 200, "{method} {path} {body:?}: {answer}");
        assert_eq!(answer["changed"], false, "{method} {path} {body:?}: {answer}");
    }
    let s = site_status(&d);
    assert_eq!(
        (events(&d), &s["requested"], &s["builds"]),
        (events0, &idle["requested"], &builds0)
    );

    // The throttle (8 at once, then 1 per minute): a 429 with Retry-After, nothing written.
    let mut throttled = None;
    let auth = format!("Bearer {boss}");
    for i in 0..12 {
        let approve = i % 2 == 1;
        let state = (events(&d), site_status(&d)["requested"].clone(), d.versions(pkg));
        let r = d.req(
            "POST",
            &format!(
                "/api/v1/plugins/{pkg}/versions/1.0.0/{}",
                if approve { "approve" } else { "unapprove" }
            ),
            &[("Authorization", auth.as_str()), ("Content-Type", "application/json")],
            json!({"sha256": current}).to_string().as_bytes(),
        );
        if r.status == 429 {
            throttled = Some((r, state));
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (r, state) = throttled.expect("no 429 within 12 changes with a burst of 8");
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body = json_of(&r);
    assert_eq!(body["code"], "throttled", "{body}");
    assert!(body["detail"].as_str().is_some_and(|t| t.contains("per minute")), "{body}");
    assert_eq!((events(&d), site_status(&d)["requested"].clone(), d.versions(pkg)), state);
    d.assert_store_matches_db();
}

#[test]
fn review_gate_delete_then_same_bytes_reupload_during_the_wait_keeps_the_zip() {
    let d = Deployment::start_with(&["--changes-burst", "200"]);
    let pkg = "gate_reupload";
    d.user_add("jane", &[]);
    d.user_add("boss", &["--staff"]);
    let (jane, boss) = (d.user_token("jane"), d.user_token("boss"));
    let zip = plugin_zip(pkg, "1.0.0");
    let r = d.upload("/plugins/add/", &jane, &zip, "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let mut overlapped = 0;
    for round in 0..4 {
        // An approved version: its delete waits for the build that drops it.
        let (status, body) = d.set_approved(pkg, "1.0.0", &boss, true);
        assert_eq!(status, 200, "round {round}: {body}");
        let port = d.nginx.port;
        let auth = format!("Bearer {jane}");
        let deleting = thread::spawn(move || {
            let r = http::request(
                port,
                "DELETE",
                &format!("/api/v1/plugins/{pkg}/versions/1.0.0"),
                &[("Authorization", &auth)],
                b"",
            )
            .expect("DELETE");
            (r.status, Instant::now())
        });
        poll("the delete to commit", Duration::from_secs(30), || {
            d.versions(pkg).is_empty().then_some(())
        });
        // The same bytes again, while the delete still waits for its build.
        let r = d.upload("/plugins/add/", &jane, &zip, "p.zip").unwrap();
        let uploaded = Instant::now();
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        let (status, deleted) = deleting.join().unwrap();
        assert_eq!(status, 200, "round {round}");
        if uploaded < deleted {
            overlapped += 1;
        }
        d.assert_store_matches_db();
    }
    assert!(overlapped > 0, "no re-upload landed inside a delete's wait: the race was not tested");
    // Approve the re-uploaded bytes: live, the zip downloads, builds keep working.
    let (status, body) = d.set_approved(pkg, "1.0.0", &boss, true);
    assert_eq!((status, &body["live"]), (200, &json!(true)), "{body}");
    let r = download(&d, pkg, "1.0.0");
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"PK"), "not a zip");
    assert_eq!(r.body, zip);
    let (status, body) = d.set_approved(pkg, "1.0.0", &boss, false);
    assert_eq!((status, &body["live"]), (200, &json!(true)), "a later build: {body}");
    assert_eq!(wait_idle(&d)["failures"], 0, "a build failed:\n{}", d.log_text());
    d.assert_store_matches_db();
}

#[test]
fn review_gate_concurrent_delete_and_upload_of_the_same_bytes_lose_no_zip() {
    let d = Deployment::start_with(&["--changes-burst", "500"]);
    let pkg = "gate_race";
    d.user_add("jane", &[]);
    let jane = d.user_token("jane");
    let zip = Arc::new(plugin_zip(pkg, "1.0.0"));
    let (mut uploaded_after, mut refused) = (0, 0);
    for round in 0..12 {
        if d.versions(pkg).is_empty() {
            let r = d.upload("/plugins/add/", &jane, &zip, "p.zip").unwrap();
            assert_eq!(r.status, 201, "round {round}: {}", r.text());
        }
        let barrier = Arc::new(Barrier::new(2));
        let port = d.nginx.port;
        let deleter = {
            let (barrier, auth) = (barrier.clone(), format!("Bearer {jane}"));
            thread::spawn(move || {
                barrier.wait();
                let path = format!("/api/v1/plugins/{pkg}/versions/1.0.0");
                http::request(port, "DELETE", &path, &[("Authorization", &auth)], b"")
                    .unwrap()
                    .status
            })
        };
        let uploader = {
            let (barrier, jane, zip) = (barrier.clone(), jane.clone(), zip.clone());
            thread::spawn(move || {
                barrier.wait();
                upload_to(port, "/plugins/add/", &jane, &zip, "p.zip").unwrap()
            })
        };
        assert_eq!(deleter.join().unwrap(), 200, "round {round}");
        let r = uploader.join().unwrap();
        match r.status {
            201 => uploaded_after += 1,
            409 => refused += 1,
            s => panic!("round {round}: upload answered {s}: {}", r.text()),
        }
        d.assert_store_matches_db();
    }
    eprintln!("review_gate: {uploaded_after} uploads landed after the delete, {refused} before it");
    assert!(
        uploaded_after > 0,
        "no round had the upload after the delete: the race was not tested"
    );
    assert_eq!(wait_idle(&d)["failures"], 0, "a build failed:\n{}", d.log_text());
}

/// What the readers saw.
#[derive(Default)]
struct Reads {
    documents: AtomicU64,
    downloads: AtomicU64,
    /// Downloads that failed because a newer release had dropped the version meanwhile (the
    /// document then served no longer lists it): the unapproval taking effect, not a broken
    /// document.
    superseded: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// Fetches a plugins.xml: it must be a complete document with entries.
fn fetch_document(port: u16, path: &str) -> Result<Vec<xml::Entry>, String> {
    let r = http::get(port, path, &[]).map_err(|e| format!("{path}: {e:#}"))?;
    if r.status != 200 {
        return Err(format!("{path}: status {}", r.status));
    }
    let entries = xml::parse(&r.body).map_err(|e| format!("{path}: incomplete document: {e:#}"))?;
    if entries.is_empty() {
        return Err(format!("{path}: no entries"));
    }
    Ok(entries)
}

fn is_zip(port: u16, url: &str) -> Result<bool, String> {
    let z = http::get(port, url, &[]).map_err(|err| format!("{url}: {err:#}"))?;
    Ok(z.status == 200 && z.body.starts_with(b"PK"))
}

/// Fetches `path`, checks it is a complete plugins.xml whose every download answers a zip.
/// A download that fails is checked against the document served now: if that one still
/// lists it (five times in a row), the document links to a missing zip.
fn check_document(port: u16, base: &str, path: &str, reads: &Reads) -> Result<(), String> {
    let entries = fetch_document(port, path)?;
    reads.documents.fetch_add(1, Ordering::Relaxed);
    for e in &entries {
        let Some(url) = e.download_url.strip_prefix(base) else {
            return Err(format!("{path}: download_url {} is not on {base}", e.download_url));
        };
        if is_zip(port, url)? {
            reads.downloads.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut still_listed = 0;
        for _ in 0..5 {
            let now = fetch_document(port, path)?;
            if !now.iter().any(|n| n.download_url == e.download_url) {
                break;
            }
            if is_zip(port, url)? {
                break;
            }
            still_listed += 1;
        }
        if still_listed == 5 {
            return Err(format!("{path} lists {url}, which does not answer a zip"));
        }
        reads.superseded.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

#[test]
fn review_gate_readers_never_see_a_broken_document_during_200_approval_cycles() {
    // 400 changes by one reviewer: a generous throttle.
    let d = Deployment::start_with(&["--changes-burst", "1000", "--no-count"]);
    let pkg = "gate_readers";
    d.user_add("boss", &["--staff"]);
    let boss = d.user_token("boss");
    // 1.0.0 stays approved (the plugin's own document is never empty); 1.1.0 cycles.
    for v in ["1.0.0", "1.1.0"] {
        let r = d.upload("/plugins/add/", &boss, &plugin_zip(pkg, v), "p.zip").unwrap();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    wait_idle(&d);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(Reads::default());
    let (port, base) = (d.nginx.port, d.site.base_url.clone());
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let (stop, reads, base) = (stop.clone(), reads.clone(), base.clone());
            thread::spawn(move || {
                let paths = [
                    "/plugins/plugins.xml?qgis=3.34".to_owned(),
                    format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}"),
                ];
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = check_document(port, &base, &paths[n % 2], &reads) {
                        reads.failures.lock().unwrap().push(e);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    let deadline = Duration::from_secs(1500);
    let own = format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}");
    let mut cycles = 0;
    for cycle in 0..200 {
        if started.elapsed() > deadline || !reads.failures.lock().unwrap().is_empty() {
            break;
        }
        for approve in [false, true] {
            let (status, body) = d.set_approved(pkg, "1.1.0", &boss, approve);
            assert_eq!((status, &body["live"]), (200, &json!(true)), "cycle {cycle}: {body}");
            let listed = d.req("GET", &own, &[], b"").text().contains(&download_path(pkg, "1.1.0"));
            assert_eq!(listed, approve, "cycle {cycle}: live but not served");
        }
        cycles += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader thread");
    }
    let elapsed = started.elapsed();
    let failures = reads.failures.lock().unwrap();
    let (documents, downloads) =
        (reads.documents.load(Ordering::Relaxed), reads.downloads.load(Ordering::Relaxed));
    let superseded = reads.superseded.load(Ordering::Relaxed);
    eprintln!(
        "review_gate: {cycles} unapprove/approve cycles in {elapsed:?}; readers checked \
         {documents} documents and {downloads} downloads ({superseded} zips dropped by a newer \
         release between a document and its download); {} failures",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "readers saw {} broken answers, first: {}",
        failures.len(),
        failures[0]
    );
    assert_eq!(cycles, 200, "only {cycles} cycles within {deadline:?}");
    assert!(documents >= 400, "only {documents} documents read during {cycles} cycles");
    assert_eq!(wait_idle(&d)["failures"], 0, "a build failed:\n{}", d.log_text());
    d.assert_store_matches_db();
}
