//! Mail end to end (issue 15 item 4), through nginx with the real service and a real SMTP
//! server (`support::smtp`, aiosmtpd): each event of reference §3.8 reaches its recipients
//! exactly once (distinct Message-IDs, From = the configured address); an SMTP outage and a
//! refusing server delay delivery, then the mail arrives once; a kill -9 with mail pending
//! delivers after restart, once; a crash between the server's acceptance and the mark
//! (failpoint `mail.after_send`) redelivers the SAME Message-ID and nothing else twice.
//! Without `--smtp-url` the mail stays in the outbox and `uploader mail list` shows it.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::deploy::*;
use crate::support::smtp::{Received, SmtpSink};
use crate::support::web::Browser;

/// The default `--mail-from`, as lettre writes it.
const FROM: &str = "\"QGIS Plugins\" <no-reply-plugins@qgis.org>";

fn with_smtp(sink: &SmtpSink) -> Deployment {
    Deployment::start_with(&["--smtp-url", &sink.url(), "--mail-retry", "1"])
}

/// `(message_id, sent)` of every outbox row.
fn outbox(d: &Deployment) -> Vec<(String, bool)> {
    let conn = d.db();
    let mut st =
        conn.prepare("SELECT message_id, sent_on IS NOT NULL FROM outbox ORDER BY id").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// Waits (bounded) until the outbox holds nothing unsent.
fn wait_outbox_sent(d: &Deployment) -> Vec<(String, bool)> {
    poll("every outbox row to be sent", Duration::from_secs(30), || {
        let rows = outbox(d);
        rows.iter().all(|(_, sent)| *sent).then_some(rows)
    })
}

/// Waits (bounded) until the outbox's attempts add up to at least `n` (failed deliveries).
fn wait_attempts(d: &Deployment, n: i64) {
    poll(&format!("{n} failed delivery attempts"), Duration::from_secs(30), || {
        let sum: i64 = d
            .db()
            .query_row("SELECT coalesce(sum(attempts), 0) FROM outbox", [], |r| r.get(0))
            .unwrap();
        (sum >= n).then_some(())
    });
}

/// Waits (bounded) for the one mail whose subject ends with `subject`.
fn wait_subject(sink: &SmtpSink, subject: &str) -> Received {
    poll(&format!("the mail `{subject}`"), Duration::from_secs(30), || {
        sink.messages().into_iter().find(|m| m.subject.ends_with(subject))
    })
}

/// Every row sent is at the server exactly once, with its Message-ID, from the configured
/// address; nothing arrived that the outbox does not hold.
fn assert_exactly_once(d: &Deployment, sink: &SmtpSink) {
    let rows = wait_outbox_sent(d);
    let got = sink.messages();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in &got {
        assert_eq!(m.from, FROM, "From of {m:?}");
        *seen.entry(m.message_id.as_str()).or_default() += 1;
    }
    for (id, _) in &rows {
        assert_eq!(seen.get(id.as_str()), Some(&1), "mail {id} arrived once: {got:#?}");
    }
    assert_eq!(got.len(), rows.len(), "every message comes from the outbox: {got:#?}");
}

fn staff_action(d: &Deployment, bearer: &str, user: &str, action: &str) {
    let (status, body) = d.api("POST", &format!("/api/v1/users/{user}/{action}"), bearer, None);
    assert_eq!(status, 200, "{action} {user}: {body}");
}

#[test]
fn mail_every_event_reaches_its_recipients_exactly_once() {
    let sink = SmtpSink::start();
    let d = with_smtp(&sink);
    d.user_add("jane", &[]);
    d.user_add("revmail", &["--staff", "--review-mail"]);
    d.user_add("quietstaff", &["--staff"]);
    let (jane, quiet) = (d.user_token("jane"), d.user_token("quietstaff"));
    let pkg = "mail_events";
    let r = d.upload("/plugins/add/", &jane, &plugin_zip(pkg, "1.0.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());

    // A new plugin: the review group only (not other staff); the upload: the editors.
    let created = wait_subject(&sink, "A new plugin has been created by jane.");
    assert_eq!(created.rcpt, ["revmail@example.org"]);
    assert!(created.body.contains(&format!("/plugins/{pkg}/version/1.0.0/review/")));
    let received = wait_subject(&sink, &format!("Plugin Upload Confirmation: E2E {pkg} v1.0.0"));
    assert_eq!(received.rcpt, ["jane@example.org"]);
    assert!(received.subject.starts_with("[QGIS Plugins] "));

    // Approve and unapprove: the editors.
    let (status, body) = d.set_approved(pkg, "1.0.0", &quiet, true);
    assert_eq!(status, 200, "{body}");
    let approved = wait_subject(&sink, &format!("Plugin E2E {pkg} approval notification."));
    assert_eq!(approved.rcpt, ["jane@example.org"]);
    let (status, body) = d.set_approved(pkg, "1.0.0", &quiet, false);
    assert_eq!(status, 200, "{body}");
    let unapproved = wait_subject(&sink, &format!("Plugin E2E {pkg} unapproval notification."));
    assert_eq!(unapproved.rcpt, ["jane@example.org"]);

    // Trust and untrust: the user.
    staff_action(&d, &quiet, "jane", "trust");
    assert_eq!(wait_subject(&sink, "User trust notification.").rcpt, ["jane@example.org"]);
    staff_action(&d, &quiet, "jane", "untrust");
    assert_eq!(wait_subject(&sink, "User untrust notification.").rcpt, ["jane@example.org"]);

    // An invitation: the invitee, with the link the staff member saw.
    let mut staff = Browser::signed_in(&d, "revmail");
    let r = staff
        .submit("/accounts/invite/", &[("username", "newbie"), ("email", "newbie@example.org")]);
    assert_eq!(r.status, 201, "{}", r.text());
    let html = r.text();
    let at = html.find("/accounts/invitation/").expect("the link is shown");
    let path = html[at..].split('<').next().unwrap().to_owned();
    let invited = wait_subject(&sink, "Invitation to the QGIS plugin repository");
    assert_eq!(invited.rcpt, ["newbie@example.org"]);
    assert!(invited.body.contains(&format!("{}{path}", d.site.base_url)), "{}", invited.body);
    assert!(!d.log_text().contains(&path), "the invitation link is never logged");

    assert_exactly_once(&d, &sink);
}

/// The scan worker (scan service) sends these: the editors get the results, the review group
/// hears of a validated, unapproved version. Needs the scan worker merged.
#[test]
fn mail_scan_finished_and_ready_for_review_after_the_scan() {
    let sink = SmtpSink::start();
    let d = with_smtp(&sink);
    d.user_add("sam", &[]);
    d.user_add("revmail", &["--staff", "--review-mail"]);
    let sam = d.user_token("sam");
    let pkg = "mail_scanned";
    let r = d.upload("/plugins/add/", &sam, &plugin_zip(pkg, "1.0.0"), "p.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let results = wait_subject(&sink, &format!("Plugin Validation Results: E2E {pkg} v1.0.0"));
    assert_eq!(results.rcpt, ["sam@example.org"]);
    let ready =
        wait_subject(&sink, &format!("A new plugin version is ready for review: E2E {pkg} v1.0.0"));
    assert_eq!(ready.rcpt, ["revmail@example.org"]);
    assert_exactly_once(&d, &sink);
}

#[test]
fn mail_smtp_down_then_refusing_then_up_delivers_once() {
    let mut sink = SmtpSink::start();
    let d = with_smtp(&sink);
    d.user_add("ann", &[]);
    d.user_add("boss", &["--staff"]);
    let boss = d.user_token("boss");
    sink.down();
    staff_action(&d, &boss, "ann", "trust");
    wait_attempts(&d, 1);
    sink.up(true);
    wait_attempts(&d, 2);
    assert!(sink.messages().is_empty(), "a refused mail is not delivered");
    let last_error: Option<String> =
        d.db().query_row("SELECT last_error FROM outbox", [], |r| r.get(0)).unwrap();
    assert!(last_error.is_some_and(|e| e.contains("451")), "the refusal is recorded");
    sink.up(false);
    let m = wait_subject(&sink, "User trust notification.");
    assert_eq!(m.rcpt, ["ann@example.org"]);
    assert_exactly_once(&d, &sink);
}

#[test]
fn mail_pending_at_kill_9_is_delivered_after_restart_once() {
    let mut sink = SmtpSink::start();
    let mut d = with_smtp(&sink);
    d.user_add("ann", &[]);
    d.user_add("boss", &["--staff"]);
    let boss = d.user_token("boss");
    sink.down();
    staff_action(&d, &boss, "ann", "trust");
    wait_attempts(&d, 1);
    d.kill();
    sink.up(false);
    assert!(sink.messages().is_empty());
    d.start_service(None);
    wait_subject(&sink, "User trust notification.");
    assert_exactly_once(&d, &sink);
}

#[test]
fn mail_crash_between_send_and_mark_resends_the_same_message_id() {
    let sink = SmtpSink::start();
    let mut d = with_smtp(&sink);
    d.user_add("ann", &[]);
    d.user_add("boss", &["--staff"]);
    let boss = d.user_token("boss");
    d.kill();
    d.start_service(Some("mail.after_send"));
    // The service may die before it answers: the answer does not matter here.
    let auth = format!("Bearer {boss}");
    let _ = crate::support::http::request(
        d.nginx.port,
        "POST",
        "/api/v1/users/ann/trust",
        &[("Authorization", auth.as_str())],
        b"",
    );
    let first = wait_subject(&sink, "User trust notification.");
    assert!(!d.wait_exit().success(), "the failpoint aborted the service");
    assert_eq!(outbox(&d).len(), 1);
    assert!(!outbox(&d)[0].1, "accepted but not marked");
    d.start_service(None);
    let got = sink.wait_for(2);
    wait_outbox_sent(&d);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[1].message_id, first.message_id, "the resend carries the same Message-ID");
    assert_eq!(got[1].subject, first.subject);
    assert_eq!(outbox(&d), [(first.message_id.clone(), true)]);
}

#[test]
fn mail_without_smtp_stays_in_the_outbox_and_mail_list_shows_it() {
    let d = Deployment::start();
    d.user_add("ann", &[]);
    d.user_add("boss", &["--staff"]);
    let boss = d.user_token("boss");
    staff_action(&d, &boss, "ann", "trust");
    assert_eq!(outbox(&d).len(), 1);
    assert!(!outbox(&d)[0].1, "nothing sends it");
    let list = |extra: &[&str]| {
        let out = Command::new(uploader_binary())
            .args(["mail", "list", "--data"])
            .arg(d.data())
            .args(extra)
            .output()
            .expect("uploader mail list");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = list(&[]);
    assert!(text.contains("trust_changed"), "{text}");
    assert!(text.contains("to: ann@example.org"), "{text}");
    assert!(text.contains("subject: [QGIS Plugins] User trust notification."), "{text}");
    let json: Value = serde_json::from_str(&list(&["--json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["event"], "trust_changed");
    assert_eq!(rows[0]["recipients"][0], "ann@example.org");
    assert_eq!(rows[0]["sent"], Value::Null);
    assert!(rows[0].get("body").is_none(), "bodies are not listed");
}

#[test]
fn mail_review_group_is_set_by_staff_on_the_user_admin_page() {
    let d = Deployment::start();
    d.user_add("boss", &["--staff"]);
    d.user_add("rev", &["--staff"]);
    d.user_add("ann", &[]);
    let in_group = |u: &str| -> bool {
        d.db()
            .query_row("SELECT review_mail FROM users WHERE username = ?1", [u], |r| r.get(0))
            .unwrap()
    };
    let mut boss = Browser::signed_in(&d, "boss");
    let r = boss.submit("/plugins/user/rev/admin", &[("review_mail", "on")]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(in_group("rev"));
    assert!(boss.get("/plugins/user/rev/admin").text().contains("Stop review mails"));
    let r = boss.submit("/plugins/user/ann/admin", &[("review_mail", "on")]);
    assert_eq!(r.status, 409, "only staff can be in the review group: {}", r.text());
    assert!(!in_group("ann"));
    let r = boss.submit("/plugins/user/rev/admin", &[("review_mail", "off")]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(!in_group("rev"));
    let mut rev = Browser::signed_in(&d, "ann");
    assert_eq!(rev.get("/plugins/user/rev/admin").status, 404, "staff only");
}
