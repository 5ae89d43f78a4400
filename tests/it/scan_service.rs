//! The scan service end to end (issue 15), through nginx with the real service and the real
//! scan tools: an upload answers `validating` before its scan, a secret blocks the version
//! (no approval, no private download) until staff override it with a reason; a waivable
//! warning can be waived with a reason shown in the API.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::deploy::*;

/// A plugin whose code holds an AWS access key (detect-secrets: critical).
pub(crate) fn secret_zip(pkg: &str, version: &str) -> Vec<u8> {
    let mut files = vec![(format!("{pkg}/"), Vec::new())];
    files.extend(plugin_files(pkg, version));
    files.push((
        format!("{pkg}/keys.py"),
        b"AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"\n".to_vec(),
    ));
    stored_zip(&files)
}

/// A plugin calling `exec` (Bandit B102, medium: a waivable warning). (shell=True, B602, is
/// high in the engine's rule table: a warning that cannot be waived.)
pub(crate) fn shell_zip(pkg: &str, version: &str) -> Vec<u8> {
    let mut files = vec![(format!("{pkg}/"), Vec::new())];
    files.extend(plugin_files(pkg, version));
    files.push((format!("{pkg}/run.py"), b"def run(code):\n    exec(code)\n".to_vec()));
    stored_zip(&files)
}

pub(crate) fn version_json(d: &Deployment, pkg: &str, v: &str, bearer: &str) -> Value {
    let (status, body) = d.api("GET", &format!("/api/v1/plugins/{pkg}/versions/{v}"), bearer, None);
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits on the API until the scan of `pkg` `v` finished; its JSON.
pub(crate) fn scanned(d: &Deployment, pkg: &str, v: &str, bearer: &str) -> Value {
    poll("the scan to finish", Duration::from_secs(120), || {
        let j = version_json(d, pkg, v, bearer);
        (j["validation_status"] != "validating").then_some(j)
    })
}

#[test]
fn scan_service_blocks_a_secret_until_staff_override_and_waives_a_warning() {
    let d = Deployment::start();
    d.user_add("sc_author", &[]);
    d.user_add("sc_staff", &["--staff"]);
    let (ana, boss) = (d.user_token("sc_author"), d.user_token("sc_staff"));

    // The upload answers before the scan: its version is still being scanned.
    let r = d.upload("/plugins/add/", &ana, &secret_zip("leaky", "1.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let first = version_json(&d, "leaky", "1.0", &ana);
    assert!(
        first["validation_status"] == "validating" || first["scan"]["finished_on"].is_string(),
        "{first}"
    );
    let j = scanned(&d, "leaky", "1.0", &ana);
    assert_eq!(j["validation_status"], "blocked", "{j}");
    let findings = j["scan"]["findings"].as_array().unwrap();
    let secret = findings.iter().find(|f| f["rule"] == "AWSKeyDetector").expect("the key found");
    assert_eq!(secret["severity"], "critical");
    assert_eq!(secret["file"], "leaky/keys.py");
    assert!(j["scan"]["tools"].as_array().is_some_and(|t| !t.is_empty()), "{j}");
    assert!(j["qgis4_ready"].is_boolean(), "{j}");

    // Blocked: no approval (409 naming the finding), no private download (403 saying why).
    let (status, body) = d.set_approved("leaky", "1.0", &boss, true);
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("AWSKeyDetector"), "{body}");
    let auth = format!("Bearer {ana}");
    let r = d.req("GET", &download_path("leaky", "1.0"), &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("blocked"), "{}", r.text());

    // Only staff override, with a reason; then the version can be approved.
    let path = "/api/v1/plugins/leaky/versions/1.0/override";
    assert_eq!(d.api("POST", path, &ana, Some(json!({"reason": "ok"}))).0, 403);
    assert_eq!(d.api("POST", path, &boss, Some(json!({}))).0, 400);
    let (status, body) =
        d.api("POST", path, &boss, Some(json!({"reason": "the AWS documentation's example key"})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["validation_status"], "validated");
    assert_eq!(body["scan"]["override"]["by"], "sc_staff");
    assert_eq!(d.set_approved("leaky", "1.0", &boss, true).0, 200);

    // A shell=True call is a waivable warning; a waiver with its reason shows in the API.
    let r = d.upload("/plugins/add/", &ana, &shell_zip("shelly", "1.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let j = scanned(&d, "shelly", "1.0", &ana);
    assert_eq!(j["validation_status"], "validated", "{j}");
    let f = j["scan"]["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "B102").cloned();
    let f = f.expect("B602 found");
    assert_eq!((f["severity"].as_str(), f["waivable"].as_bool()), (Some("warning"), Some(true)));
    let waivers = "/api/v1/plugins/shelly/waivers";
    let short = json!({"rule": "B102", "file": "shelly/run.py", "reason": "no"});
    assert_eq!(d.api("POST", waivers, &ana, Some(short)).0, 400);
    let critical = json!({"rule": "AWSKeyDetector", "reason": "please"});
    assert_eq!(d.api("POST", waivers, &ana, Some(critical)).0, 400);
    let waiver = json!({"rule": "B102", "file": "shelly/run.py", "reason": "the command is fixed"});
    let (status, body) = d.api("POST", waivers, &ana, Some(waiver));
    assert_eq!(status, 201, "{body}");
    let j = version_json(&d, "shelly", "1.0", &ana);
    let f = j["scan"]["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "B102").cloned();
    assert_eq!(f.unwrap()["waived"]["reason"], "the command is fixed");
    assert_eq!(d.api("GET", waivers, &ana, None).1["waivers"].as_array().unwrap().len(), 1);

    // Vendored folders are declared per plugin and shown in its JSON.
    let (status, body) = d.api(
        "PUT",
        "/api/v1/plugins/shelly/vendored",
        &ana,
        Some(json!({"paths": ["ext_libs/"]})),
    );
    assert_eq!(status, 200, "{body}");
    let bad = json!({"paths": ["../x"]});
    assert_eq!(d.api("PUT", "/api/v1/plugins/shelly/vendored", &ana, Some(bad)).0, 400);
    let (_, info) = d.api("GET", "/api/v1/plugins/shelly", &ana, None);
    assert_eq!(info["vendored"], json!(["ext_libs"]));

    // A rescan queues the version again.
    let (status, _) = d.api("POST", "/api/v1/plugins/shelly/versions/1.0/rescan", &ana, None);
    assert_eq!(status, 202);
    assert_eq!(scanned(&d, "shelly", "1.0", &ana)["validation_status"], "validated");
}
