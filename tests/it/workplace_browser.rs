//! The web workplace in a real headless Chromium (`tests/site/workplace.mjs`), through nginx
//! and the real service: an author's and a reviewer's journeys, CSRF refusal, an outsider's
//! 403s, the session cookie's flags and its death at sign-out; axe-core on every page and
//! screenshots at 1280 and 390 px in `tests/artifacts/workplace/` (issue 14 item 6). This
//! file prepares the deployment, accounts and zips, runs the script and checks its summary.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::scan_service::{scanned, secret_zip, shell_zip};
use crate::site::node_tools;
use crate::support::deploy::{Deployment, PASSWORD, metadata, plugin_files, stored_zip};
use crate::support::workspace_root;

const PKG: &str = "wp_journey";
const FIRST: &str = "1.0";
const NEXT: &str = "1.1";
const REFUSED: &str = "1.2";
/// The line version `NEXT` adds to `plugin.py`: the review page's diff must show it.
const NEXT_LINE: &str = "        self.toolbar = None  # added in 1.1";
const OLD_HOMEPAGE: &str = "https://example.org/wp_journey";
const NEW_HOMEPAGE: &str = "https://example.org/wp_journey/home";
/// Plugins of the author scanned before the script runs: one blocked by a secret, one with
/// a waivable warning (their review pages are audited).
const SCAN_BLOCKED: &str = "wp_blocked";
const SCAN_WARNINGS: &str = "wp_warnings";

/// Uploads the scanned plugins as `ada` and waits for their scans.
fn scanned_plugins(d: &Deployment) {
    let ada = d.user_token("ada");
    for (pkg, zip, status) in [
        (SCAN_BLOCKED, secret_zip(SCAN_BLOCKED, "1.0"), "blocked"),
        (SCAN_WARNINGS, shell_zip(SCAN_WARNINGS, "1.0"), "validated"),
    ] {
        let r = d.upload("/plugins/add/", &ada, &zip, "p.zip").expect("upload");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(scanned(d, pkg, "1.0", &ada)["validation_status"], status);
    }
}

/// A zip of `files` with its top folder entry first.
fn zip_of(files: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut all = vec![(format!("{PKG}/"), Vec::new())];
    all.extend(files);
    stored_zip(&all)
}

/// A plugin whose metadata has several problems (no description, a bad version, a bad
/// e-mail, a tracker that is not a URL): the validator reports each of them at once.
fn broken_zip() -> Vec<u8> {
    let meta = metadata(PKG, FIRST)
        .replace("description=An end-to-end test plugin\n", "")
        .replace("version=1.0\n", "version=one point oh\n")
        .replace("email=jane@example.org\n", "email=not-an-address\n")
        .replace(
            &format!("tracker=https://github.com/example/{PKG}/issues\n"),
            "tracker=nowhere\n",
        );
    let files = plugin_files(PKG, FIRST)
        .into_iter()
        .map(
            |(n, b)| {
                if n.ends_with("metadata.txt") { (n, meta.clone().into_bytes()) } else { (n, b) }
            },
        )
        .collect();
    zip_of(files)
}

/// Version `NEXT`: one more line in `plugin.py` and another homepage.
fn next_zip() -> Vec<u8> {
    let files = plugin_files(PKG, NEXT)
        .into_iter()
        .map(|(n, b)| {
            let text = String::from_utf8(b).expect("text files");
            let text = if n.ends_with("plugin.py") {
                text.replace(
                    "        self.iface = iface\n",
                    &format!("        self.iface = iface\n{NEXT_LINE}\n"),
                )
            } else if n.ends_with("metadata.txt") {
                text.replace(
                    &format!("homepage={OLD_HOMEPAGE}\n"),
                    &format!("homepage={NEW_HOMEPAGE}\n"),
                )
            } else {
                text
            };
            (n, text.into_bytes())
        })
        .collect();
    zip_of(files)
}

/// The messages the validator gives for `zip` as a new plugin (what the form must list).
fn expected_problems(zip: &[u8]) -> Vec<String> {
    use uploader::validate::{Mode, Options, validate};
    let rejection = validate(zip, &Mode::New, &Options::default()).expect_err("a broken zip");
    rejection.errors.into_iter().map(|p| p.message).collect()
}

/// Writes the zips and the script's configuration into `dir`.
fn config(d: &Deployment, dir: &Path, artifacts: &Path) -> Value {
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("writing a test zip");
        path.to_str().expect("utf-8 temp path").to_owned()
    };
    json!({
        "base": d.site.base_url,
        "artifacts": artifacts,
        "password": PASSWORD,
        "author": "ada", "reviewer": "rita", "outsider": "otto",
        "pkg": PKG,
        "zips": {
            "broken": write("broken.zip", broken_zip()),
            "first": write("first.zip", zip_of(plugin_files(PKG, FIRST))),
            "next": write("next.zip", next_zip()),
            "refused": write("refused.zip", zip_of(plugin_files(PKG, REFUSED))),
        },
        "versions": {"first": FIRST, "next": NEXT, "refused": REFUSED},
        "scan": {"blocked": SCAN_BLOCKED, "warnings": SCAN_WARNINGS, "version": "1.0"},
        "next_line": NEXT_LINE,
        "old_homepage": OLD_HOMEPAGE,
        "new_homepage": NEW_HOMEPAGE,
    })
}

/// Runs `workplace.mjs` on `cfg`; its JSON summary (the run must succeed).
fn run_script(cfg: &Value, dir: &Path) -> Value {
    let cfg_path = dir.join("workplace.json");
    std::fs::write(&cfg_path, cfg.to_string()).expect("writing the script's config");
    let out = Command::new("node")
        .arg(node_tools().join("workplace.mjs"))
        .arg(&cfg_path)
        .output()
        .unwrap_or_else(|e| panic!("running node ({e}): install Node.js"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("workplace.mjs printed no JSON ({e}):\n{stdout}\n{stderr}"));
    assert!(
        out.status.success() && summary["error"].is_null(),
        "workplace.mjs failed: {}\n{summary:#}\n{stderr}",
        summary["error"]
    );
    summary
}

#[test]
fn author_and_reviewer_journeys_in_headless_chromium_pass_axe_and_the_security_checks() {
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium missing: `apt-get install -y chromium` (`make test` does)"
    );
    let d = Deployment::start();
    d.user_add("ada", &[]); // "ana" is a demo account
    d.user_add("rita", &["--staff"]);
    d.user_add("otto", &[]);
    scanned_plugins(&d);
    let dir = tempfile::tempdir().expect("temp dir");
    let artifacts = workspace_root().join("tests/artifacts/workplace");
    let _ = std::fs::remove_dir_all(&artifacts);
    let r = run_script(&config(&d, dir.path(), &artifacts), dir.path());

    assert_clean_session(&r);
    assert_accessible(&r, &artifacts);
    let st = &r["steps"];
    assert_every_problem_listed(&st["broken_upload"]["problems"]);
    assert_eq!(st["curl_with_token"]["status"], 201, "{r:#}");
    assert_eq!(st["curl_after_revoke"]["status"], 403, "{r:#}");
    assert_eq!(st["curl_after_revoke"]["body"], "Invalid token", "{r:#}");
    assert_eq!(st["csrf"]["missing"], 403);
    assert_eq!(st["csrf"]["wrong"], 403);
    for (what, status) in st["outsider_forbidden"]["statuses"].as_object().expect("statuses") {
        assert_eq!(status, 403, "{what} for a non-editor");
    }
    assert_review_and_live(&st["approve_first"], &st["approve_next"]);
    let f = &st["feedback_round"];
    assert_eq!(f["tasks"], 2, "two `- [ ]` lines make two tasks: {f:#}");
    assert_eq!(f["done"], 1, "{f:#}");
    assert_eq!(f["answer"], "Answer: Added in 1.1.1.", "{f:#}");
    let c = &st["session_cookie"];
    assert_eq!(c["http_only"], true, "{c:#}");
    assert_eq!(c["same_site"], "Lax", "{c:#}");
    assert_eq!(c["document_cookie_has_session"], false);
    assert_eq!(c["replay"]["status"], 303, "the old cookie after sign-out: {c:#}");
    let versions = d.versions(PKG);
    assert_eq!(
        versions,
        vec![(FIRST.to_owned(), true), (NEXT.to_owned(), true)],
        "the refused curl must add no version"
    );
}

/// No console error, script error or failed subresource in the whole session.
fn assert_clean_session(r: &Value) {
    for list in ["console_errors", "page_errors", "http_errors"] {
        assert_eq!(r[list], json!([]), "{list} during the session: {r:#}");
    }
}

/// axe-core found no serious or critical violation on any page, and both screenshots of
/// every page are there.
fn assert_accessible(r: &Value, artifacts: &Path) {
    let pages = r["pages"].as_array().expect("pages");
    assert!(pages.len() >= 29, "only {} pages audited: {r:#}", pages.len());
    for name in [
        "user-admin",
        "plugin-update",
        "version-delete",
        "token-edit",
        "review-next",
        "review-feedback",
        "author-feedback",
        "review-blocked",
        "review-blocked-staff",
        "review-warnings",
    ] {
        assert!(pages.iter().any(|p| p["name"] == name), "page {name} not audited: {r:#}");
    }
    let failing: Vec<&Value> = pages
        .iter()
        .filter(|p| p["violations"].as_array().is_some_and(|v| !v.is_empty()))
        .collect();
    assert!(failing.is_empty(), "axe-core: serious or critical violations:\n{failing:#?}");
    for p in pages {
        let name = p["name"].as_str().expect("page name");
        for suffix in ["desktop", "phone"] {
            let shot = artifacts.join(format!("{name}-{suffix}.png"));
            assert!(shot.is_file(), "no screenshot {}", shot.display());
        }
    }
}

/// The form listed each of the validator's problems, with a hint.
fn assert_every_problem_listed(listed: &Value) {
    let expected = expected_problems(&broken_zip());
    assert!(expected.len() >= 2, "the broken zip should have several problems: {expected:?}");
    let listed = listed.as_array().expect("problems");
    assert_eq!(listed.len(), expected.len(), "listed {listed:#?}, validator {expected:#?}");
    for message in &expected {
        assert!(
            listed.iter().any(|p| p["text"].as_str().is_some_and(|t| t.contains(message.as_str()))),
            "the form does not list {message:?}: {listed:#?}"
        );
    }
}

/// The second review showed the diff line and both homepages; both approvals were live on
/// the public page within 1 s of their answer.
fn assert_review_and_live(first: &Value, next: &Value) {
    assert_eq!(next["shows_next_line"], true, "{next:#}");
    assert_eq!(next["has_sha256"], true, "{next:#}");
    for a in [first, next] {
        let ms = a["live_after_ms"].as_u64().expect("live_after_ms");
        assert!(ms <= 1000, "the public page listed the approved version {ms} ms after the answer");
    }
}
