//! Review feedback end to end, through nginx with the real service: a reviewer's feedback
//! with `- [ ]` lines becomes tasks, the author answers and completes them, the queue state
//! follows (changes requested → resolved), the public status answers anyone with a
//! cacheable JSON, and the permissions hold (strangers, authors, other reviewers). In the
//! browser: the reviewer writes feedback on the review page and the author ticks a task
//! there. And `email=TBD` is accepted with a warning.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::deploy::*;
use crate::support::web::{Browser, csrf_in};

fn feedback_path(pkg: &str, v: &str) -> String {
    format!("/api/v1/plugins/{pkg}/versions/{v}/feedback")
}

/// The public status, once the version is out of the scan (bounded poll).
fn settled_status(d: &Deployment, pkg: &str, v: &str) -> (Value, Option<String>) {
    let path = format!("/api/v1/plugins/{pkg}/versions/{v}/status");
    poll("the version's scan to finish", Duration::from_secs(60), || {
        let r = d.req("GET", &path, &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let body = json_of(&r);
        (body["state"] != "validating")
            .then(|| (body, r.header("cache-control").map(str::to_owned)))
    })
}

fn queue_state(d: &Deployment, bearer: &str, pkg: &str) -> Value {
    let (status, queue) = d.api("GET", "/api/v1/review", bearer, None);
    assert_eq!(status, 200, "{queue}");
    queue["versions"].as_array().unwrap().iter().find(|v| v["package"] == pkg).cloned().unwrap()
}

#[test]
fn feedback_round_trip_by_api_with_states_status_and_permissions() {
    let d = Deployment::start();
    let pkg = "feedback_api";
    d.user_add("jane", &[]);
    d.user_add("boss", &["--staff"]);
    d.user_add("rita", &["--staff"]);
    d.user_add("eve", &[]);
    let (jane, boss, rita, eve) =
        (d.user_token("jane"), d.user_token("boss"), d.user_token("rita"), d.user_token("eve"));
    let r = d.upload("/plugins/add/", &jane, &plugin_zip(pkg, "1.0.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let path = feedback_path(pkg, "1.0.0");

    let (status_body, cache) = settled_status(&d, pkg, "1.0.0");
    assert_eq!(status_body["state"], "awaiting_review", "{status_body}");
    assert_eq!(cache.as_deref(), Some("public, max-age=60"));
    // The newest upload is last in the queue (the deployment may hold other pending versions).
    assert_eq!(status_body["queue_position"], status_body["queue_length"], "{status_body}");
    assert!(status_body["message"].as_str().unwrap().starts_with("Waiting for review for"));
    assert_eq!(queue_state(&d, &boss, pkg)["state"], "awaiting_review");

    // The author and a stranger cannot give feedback; a stranger cannot read it.
    let text = json!({"text": "Thanks! Two things:\n- [ ] add a licence header\n  - [ ] remove print()\n"});
    assert_eq!(d.api("POST", &path, &jane, Some(text.clone())).0, 403);
    assert_eq!(d.api("POST", &path, &eve, Some(text.clone())).0, 403);
    assert_eq!(d.api("GET", &path, &eve, None).0, 403);
    assert_eq!(d.api("POST", &path, &boss, Some(json!({"text": "  "}))).0, 400);

    let (status, created) = d.api("POST", &path, &boss, Some(text));
    assert_eq!(status, 201, "{created}");
    let tasks = created["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["task"], "add a licence header");
    assert_eq!(tasks[1]["reviewer"], "boss");
    let ids: Vec<i64> = tasks.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    let (_, list) = d.api("GET", &path, &jane, None);
    assert_eq!(list["state"], "changes_requested", "{list}");
    assert_eq!(queue_state(&d, &boss, pkg)["state"], "changes_requested");
    assert_eq!(settled_status(&d, pkg, "1.0.0").0["state"], "changes_requested");

    // Only the task's writer deletes it; another reviewer cannot.
    let task0 = format!("{path}/{}", ids[0]);
    assert_eq!(d.api("DELETE", &task0, &rita, None).0, 403);
    assert_eq!(d.api("DELETE", &task0, &jane, None).0, 403);
    assert_eq!(d.api("POST", &format!("{path}/99999/complete"), &jane, None).0, 404);

    // The author answers and completes both.
    let (s, t) =
        d.api("POST", &format!("{task0}/answer"), &jane, Some(json!({"text": "Added in 1.0.1"})));
    assert_eq!((s, t["answer"].as_str()), (200, Some("Added in 1.0.1")), "{t}");
    for id in &ids {
        let (s, t) = d.api("POST", &format!("{path}/{id}/complete"), &jane, None);
        assert_eq!((s, &t["completed"]), (200, &json!(true)), "{t}");
    }
    let (_, list) = d.api("GET", &path, &boss, None);
    assert_eq!(list["state"], "resolved", "{list}");
    assert_eq!(queue_state(&d, &boss, pkg)["state"], "resolved");

    // Reopen, then the writer deletes.
    assert_eq!(d.api("POST", &format!("{task0}/reopen"), &boss, None).0, 200);
    assert_eq!(d.api("GET", &path, &jane, None).1["state"], "changes_requested");
    assert_eq!(
        d.req("DELETE", &task0, &[("Authorization", &format!("Bearer {boss}"))], b"").status,
        204
    );
    assert_eq!(d.api("GET", &path, &jane, None).1["state"], "resolved");

    // The author uploads a fix: a new version, awaiting review.
    let r = d.upload("/plugins/add/", &jane, &plugin_zip(pkg, "1.0.1"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let (fixed, _) = settled_status(&d, pkg, "1.0.1");
    assert_eq!(fixed["state"], "awaiting_review", "{fixed}");
    assert_eq!(fixed["queue_length"].as_i64(), status_body["queue_length"].as_i64().map(|n| n + 1));

    // Approved versions take no feedback; unknown and deleted plugins have no status.
    let sha = d.stored_sha256(pkg, "1.0.0");
    let approve = format!("/api/v1/plugins/{pkg}/versions/1.0.0/approve");
    assert_eq!(d.api("POST", &approve, &boss, Some(json!({"sha256": sha}))).0, 200);
    assert_eq!(d.api("POST", &path, &boss, Some(json!({"text": "late"}))).0, 409);
    assert_eq!(settled_status(&d, pkg, "1.0.0").0["state"], "approved");
    assert_eq!(d.req("GET", "/api/v1/plugins/nope/versions/1.0/status", &[], b"").status, 404);
    assert_eq!(d.api("DELETE", &format!("/api/v1/plugins/{pkg}"), &boss, None).0, 200);
    let gone = d.req("GET", &format!("/api/v1/plugins/{pkg}/versions/1.0.1/status"), &[], b"");
    assert_eq!(gone.status, 404, "{}", gone.text());
}

#[test]
fn feedback_in_the_browser_reviewer_writes_author_ticks() {
    let d = Deployment::start();
    let pkg = "feedback_web";
    d.user_add("jane", &[]);
    d.user_add("boss", &["--staff"]);
    let r = d
        .upload("/plugins/add/", &d.user_token("jane"), &plugin_zip(pkg, "1.0.0"), "p.zip")
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let review = format!("/plugins/{pkg}/version/1.0.0/review/");

    let mut reviewer = Browser::signed_in(&d, "boss");
    let page = reviewer.get(&review).text();
    assert!(page.contains("Write feedback") && page.contains("No feedback yet"), "{page}");
    let token = csrf_in(&page).unwrap();
    let give = format!("/plugins/{pkg}/version/1.0.0/feedback/");
    let r = reviewer.post_form(
        &give,
        &[("text", "- [ ] add a <b>licence</b>\n- [ ] fix the icon")],
        None,
    );
    assert_eq!(r.status, 403, "no CSRF token: refused");
    let r = reviewer.post_form(
        &give,
        &[("text", "- [ ] add a <b>licence</b>\n- [ ] fix the icon")],
        Some(&token),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let page = reviewer.get(&review).text();
    assert!(
        page.contains("add a &lt;b&gt;licence&lt;&#x2F;b&gt;")
            || page.contains("add a &lt;b&gt;licence&lt;/b&gt;"),
        "escaped: {page}"
    );
    assert!(page.contains("Changes requested"), "{page}");

    let mut author = Browser::signed_in(&d, "jane");
    let page = author.get(&review).text();
    assert!(!page.contains("Write feedback"), "authors cannot write feedback");
    let my = author.get("/plugins/my").text();
    assert!(my.contains("2 open tasks"), "{my}");
    let token = csrf_in(&page).unwrap();
    let id: i64 = d.db().query_row("SELECT min(id) FROM feedback_tasks", [], |r| r.get(0)).unwrap();
    let done = format!("/plugins/{pkg}/version/1.0.0/feedback/{id}/complete/");
    let r = author.post_form(&done, &[], Some(&token));
    assert_eq!(r.status, 303, "{}", r.text());
    let answer = format!("/plugins/{pkg}/version/1.0.0/feedback/{id}/answer/");
    assert_eq!(author.post_form(&answer, &[("answer", "Done in 1.0.1")], Some(&token)).status, 303);
    let page = author.get(&review).text();
    assert!(
        page.contains("The task is marked done") || page.contains("Your answer was saved"),
        "flash: {page}"
    );
    assert!(page.contains("Done in 1.0.1") && page.contains("1 open task"), "{page}");
    let my = author.get("/plugins/my").text();
    assert!(my.contains("1 open task") && my.contains("in the queue"), "{my}");
}

#[test]
fn an_email_of_another_shape_is_accepted_with_a_warning() {
    let d = Deployment::start();
    let pkg = "feedback_tbd";
    d.user_add("jane", &[]);
    let mut files = vec![(format!("{pkg}/"), Vec::new())];
    files.extend(plugin_files(pkg, "1.0.0"));
    let meta = metadata(pkg, "1.0.0").replace("email=jane@example.org", "email=TBD");
    files[1].1 = meta.into_bytes();
    let r = d.upload("/plugins/add/", &d.user_token("jane"), &stored_zip(&files), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let text = r.text();
    assert!(text.contains("metadata.email_unusual") && text.contains("TBD"), "{text}");
}
