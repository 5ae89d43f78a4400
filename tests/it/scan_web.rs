//! The scan service's web side end to end, through nginx with the real scan tools: a
//! trusted upload with a secret is approved, then blocked and leaves plugins.xml; a clean
//! trusted upload gets its public "checked" badge; the dry run stores nothing and answers
//! `uploader check --scan --json`'s document; the review page's checks forms (override,
//! waiver, rescan) and their CSRF check.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::scan_service::{scanned, secret_zip, shell_zip, version_json};
use crate::support::deploy::*;
use crate::support::web::Browser;

const WAIT: Duration = Duration::from_secs(120);

fn count(d: &Deployment, sql: &str) -> i64 {
    d.db().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_trusted_upload_with_a_secret_is_approved_then_blocked_and_leaves_the_site() {
    let d = Deployment::start();
    d.user_add("tw_trusted", &["--trusted"]);
    let tina = d.user_token("tw_trusted");

    // A clean trusted upload: approved at once, `validating` in the answer, and once
    // scanned its public version page says "checked" (the revision bump rebuilt it).
    let r = d.upload("/plugins/add/", &tina, &plugin_zip("twclean", "1.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let j = json_of(&r);
    assert_eq!(
        (j["approved"].as_bool(), j["validation_status"].as_str()),
        (Some(true), Some("validating"))
    );
    assert_eq!(scanned(&d, "twclean", "1.0", &tina)["validation_status"], "validated");
    poll("the public badge", WAIT, || {
        let page = d.req("GET", "/plugins/twclean/version/1.0/", &[], b"").text();
        page.contains(">checked</span>").then_some(())
    });

    // A secret: approved at upload, then the scan blocks and unapproves it.
    let r = d.upload("/plugins/add/", &tina, &secret_zip("twleak", "1.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let j = json_of(&r);
    assert_eq!(
        (j["approved"].as_bool(), j["validation_status"].as_str()),
        (Some(true), Some("validating"))
    );
    assert_eq!(scanned(&d, "twleak", "1.0", &tina)["validation_status"], "blocked");
    assert_eq!(d.versions("twleak"), vec![("1.0".to_owned(), false)]);
    assert_eq!(count(&d, "SELECT count(*) FROM events WHERE action = 'scan.block'"), 1);
    poll("the blocked plugin to leave plugins.xml", WAIT, || {
        let xml = d.plugins_xml();
        (xml.contains("twclean") && !xml.contains("twleak")).then_some(())
    });
    let r = d.req("GET", &download_path("twleak", "1.0"), &[], b"");
    assert_ne!(r.status, 200, "a blocked zip was downloaded");
}

/// Keys and findings of a check document, without what varies between two runs.
fn comparable(doc: &Value) -> (Vec<String>, Value, Value) {
    let keys = doc.as_object().unwrap().keys().cloned().collect();
    let findings = doc["scan"]["findings"].clone();
    let tools: Vec<Value> = doc["scan"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!([t["tool"], t["version"], t["error"]]))
        .collect();
    (keys, findings, json!([doc["validation_status"], doc["qgis4_ready"], tools]))
}

#[test]
fn the_dry_run_stores_nothing_and_answers_the_check_commands_document() {
    let d = Deployment::start();
    d.user_add("dw_author", &[]);
    let ana = d.user_token("dw_author");
    let r = d.upload("/plugins/add/", &ana, &plugin_zip("dwplug", "1.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    scanned(&d, "dwplug", "1.0", &ana);
    let rows = |d: &Deployment| {
        (
            count(d, "SELECT count(*) FROM plugin_versions"),
            count(d, "SELECT count(*) FROM scans"),
            count(d, "SELECT count(*) FROM scan_findings"),
            d.stored_files("dwplug"),
        )
    };
    let before = rows(&d);
    let zip = secret_zip("dwplug", "2.0");
    let r = d.upload("/api/v1/plugins/dwplug/check", &ana, &zip, "p.zip").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let api = json_of(&r);
    assert_eq!(rows(&d), before, "the dry run stored something");
    assert_eq!(api["validation_status"], "blocked", "{api}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.zip");
    std::fs::write(&path, &zip).unwrap();
    let out = Command::new(uploader_binary())
        .args(["check", "--scan", "--json", "--existing", "dwplug", "--scan-venv"])
        .arg(scan_venv())
        .arg(&path)
        .env_remove("PLUGINS_SCAN_VENV")
        .output()
        .unwrap();
    let cli: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(comparable(&api), comparable(&cli), "API {api}\nCLI {cli}");
}

fn review(pkg: &str) -> String {
    format!("/plugins/{pkg}/version/1.0/review/")
}

#[test]
fn review_page_forms_override_a_block_waive_a_warning_and_rescan() {
    let d = Deployment::start();
    d.user_add("fw_author", &[]);
    d.user_add("fw_staff", &["--staff"]);
    let ana = d.user_token("fw_author");
    let r = d.upload("/plugins/add/", &ana, &secret_zip("fwleak", "1.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.upload("/plugins/add/", &ana, &shell_zip("fwshell", "1.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(scanned(&d, "fwleak", "1.0", &ana)["validation_status"], "blocked");
    assert_eq!(scanned(&d, "fwshell", "1.0", &ana)["validation_status"], "validated");

    // The blocked version's review page: the error box, no download link.
    let mut author = Browser::signed_in(&d, "fw_author");
    let page = author.get(&review("fwleak"));
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("Blocked by the security scan") && html.contains("AWSKeyDetector"));
    assert!(!html.contains("/api/v1/download/"), "a download link on a blocked version");

    // Staff override with a reason through the form; without the token nothing changes.
    let mut staff = Browser::signed_in(&d, "fw_staff");
    let token = staff.csrf_of(&review("fwleak"));
    let action = "/plugins/fwleak/version/1.0/override/";
    let reason = [("reason", "the documentation's example key")];
    assert_eq!(staff.post_form(action, &reason, None).status, 403);
    assert_eq!(version_json(&d, "fwleak", "1.0", &ana)["validation_status"], "blocked");
    let r = staff.post_form(action, &reason, Some(&token));
    assert_eq!(r.status, 303, "{}", r.text());
    let j = version_json(&d, "fwleak", "1.0", &ana);
    assert_eq!(j["validation_status"], "validated");
    assert_eq!(j["scan"]["override"]["reason"], "the documentation's example key");
    assert!(staff.get(&review("fwleak")).text().contains("the documentation&#x27;s example key"));

    // A waiver through the form beside the warning shows its reason.
    let token = author.csrf_of(&review("fwshell"));
    let fields = [
        ("action", "add"),
        ("rule", "B102"),
        ("file", "fwshell/run.py"),
        ("reason", "runs our own constant snippet"),
        ("version", "1.0"),
    ];
    assert_eq!(author.post_form("/plugins/fwshell/waivers/", &fields, None).status, 403);
    assert_eq!(d.api("GET", "/api/v1/plugins/fwshell/waivers", &ana, None).1["waivers"], json!([]));
    let r = author.post_form("/plugins/fwshell/waivers/", &fields, Some(&token));
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(author.get(&review("fwshell")).text().contains("runs our own constant snippet"));

    // A rescan through the form queues the version again; it passes again.
    let r = author.post_form("/plugins/fwshell/version/1.0/rescan/", &[], Some(&token));
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(count(&d, "SELECT count(*) FROM events WHERE action = 'scan.rescan'"), 1);
    let j = scanned(&d, "fwshell", "1.0", &ana);
    assert_eq!(j["validation_status"], "validated");
    let f = j["scan"]["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "B102").cloned();
    assert_eq!(f.unwrap()["waived"]["reason"], "runs our own constant snippet");
}
