//! Tests of the feedback statements: tasks, their summaries, queue states and places, and
//! the median time to approval.

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use super::*;
use crate::accounts::{NewUser, create_user};
use crate::ids::{PluginId, UserId, VersionId};
use crate::names::{PackageName, PluginVersion, QgisVersion};
use crate::plugins::{PluginFields, create_plugin};
use crate::versions::{NewVersion, insert_version};

struct Fixture {
    _dir: tempfile::TempDir,
    conn: Connection,
    user: UserId,
    plugin: PluginId,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::open(dir.path()).unwrap();
    let now = now_micros();
    let user =
        create_user(&conn, &NewUser { username: "rev".into(), ..NewUser::default() }, now).unwrap();
    let fields = PluginFields { name: "P".into(), ..PluginFields::default() };
    let plugin =
        create_plugin(&conn, &PackageName::parse("pkg").unwrap(), user, &fields, now).unwrap();
    Fixture { _dir: dir, conn, user, plugin }
}

impl Fixture {
    fn version(&self, v: &str, at: DateTime<Utc>) -> VersionId {
        let nv = NewVersion {
            version: PluginVersion::parse(v).unwrap(),
            created_by: self.user,
            min_qgis: QgisVersion::parse("3.0").unwrap(),
            max_qgis: QgisVersion::parse("3.99").unwrap(),
            changelog: String::new(),
            experimental: false,
            approved: false,
            external_deps: String::new(),
            token_id: None,
            package_path: format!("pkg/pkg.{v}.zip"),
            package_sha256: "00".into(),
            package_size: 1,
            icon: None,
        };
        insert_version(&self.conn, self.plugin, &nv, at).unwrap()
    }

    fn approve(&self, version: VersionId, at: DateTime<Utc>) {
        crate::review::set_version_approved(&self.conn, self.plugin, version, true, self.user, at)
            .unwrap();
    }
}

/// The clock at the catalog's precision (microseconds), so times compare after a round trip.
fn now_micros() -> DateTime<Utc> {
    crate::time::parse_time(&crate::time::fmt_time(crate::time::now())).unwrap()
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn tasks_are_added_listed_completed_answered_edited_and_deleted() {
    let f = fixture();
    let now = now_micros();
    let v = f.version("1.0", now);
    let ids = add_tasks(&f.conn, v, f.user, &texts(&["fix a", "fix b"]), now).unwrap();
    assert_eq!(ids.len(), 2);
    let tasks = tasks_of_version(&f.conn, v).unwrap();
    assert_eq!(tasks.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(), ["fix a", "fix b"]);
    assert_eq!(tasks[0].reviewer.as_deref(), Some("rev"));
    assert_eq!(open_count(&f.conn, v).unwrap(), 2);

    assert!(set_completed(&f.conn, ids[0], Some(f.user), now).unwrap());
    assert!(!set_completed(&f.conn, ids[0], Some(f.user), now).unwrap());
    let t = task_of_version(&f.conn, v, ids[0]).unwrap().unwrap();
    assert_eq!((t.completed_on, t.completed_by.as_deref()), (Some(now), Some("rev")));
    assert!(set_completed(&f.conn, ids[0], None, now).unwrap());
    assert!(!set_completed(&f.conn, ids[0], None, now).unwrap());
    assert_eq!(task_of_version(&f.conn, v, ids[0]).unwrap().unwrap().completed_on, None);

    assert!(set_answer(&f.conn, ids[1], "done in 1.1", now).unwrap());
    assert!(!set_answer(&f.conn, ids[1], "done in 1.1", now).unwrap());
    let t = task_of_version(&f.conn, v, ids[1]).unwrap().unwrap();
    assert_eq!((t.answer.as_str(), t.answered_on), ("done in 1.1", Some(now)));
    assert!(set_text(&f.conn, ids[1], "fix b better", now + Duration::seconds(1)).unwrap());
    let t = task_of_version(&f.conn, v, ids[1]).unwrap().unwrap();
    assert_eq!((t.text.as_str(), t.modified_on), ("fix b better", now + Duration::seconds(1)));

    assert!(delete_task(&f.conn, ids[1]).unwrap());
    assert!(!delete_task(&f.conn, ids[1]).unwrap());
    let other = f.version("2.0", now);
    assert!(
        task_of_version(&f.conn, other, ids[0]).unwrap().is_none(),
        "tasks belong to one version"
    );
}

#[test]
fn summaries_of_many_versions_come_from_one_statement_and_give_the_queue_state() {
    let f = fixture();
    let t0 = now_micros() - Duration::days(5);
    let (a, b, c) = (f.version("1.0", t0), f.version("1.1", t0), f.version("1.2", t0));
    let ids_b = add_tasks(&f.conn, b, f.user, &texts(&["x", "y"]), t0 + Duration::days(1)).unwrap();
    let ids_c = add_tasks(&f.conn, c, f.user, &texts(&["z"]), t0 + Duration::days(1)).unwrap();
    set_completed(&f.conn, ids_b[0], Some(f.user), t0 + Duration::days(2)).unwrap();
    set_completed(&f.conn, ids_c[0], Some(f.user), t0 + Duration::days(3)).unwrap();

    let s = task_summaries(&f.conn, &[a, b, c]).unwrap();
    assert!(!s.contains_key(&a));
    assert_eq!((s[&b].total, s[&b].open), (2, 1));
    assert_eq!((s[&c].total, s[&c].open), (1, 0));

    let state = |v| QueueStatus::of(t0, s.get(&v));
    assert_eq!(state(a), QueueStatus { state: QueueState::AwaitingReview, since: t0 });
    assert_eq!(
        state(b),
        QueueStatus { state: QueueState::ChangesRequested, since: t0 + Duration::days(1) }
    );
    assert_eq!(
        state(c),
        QueueStatus { state: QueueState::Resolved, since: t0 + Duration::days(3) }
    );
    for q in [QueueState::AwaitingReview, QueueState::ChangesRequested, QueueState::Resolved] {
        assert_eq!(QueueState::parse(q.as_str()), Some(q));
    }
    assert!(task_summaries(&f.conn, &[]).unwrap().is_empty());
}

#[test]
fn the_queue_place_counts_older_pending_versions_first() {
    let f = fixture();
    let t0 = now_micros() - Duration::days(5);
    let old = f.version("1.0", t0);
    let mid = f.version("1.1", t0 + Duration::days(1));
    let new = f.version("1.2", t0 + Duration::days(2));
    assert_eq!(queue_place(&f.conn, new).unwrap(), Some(QueuePlace { position: 3, length: 3 }));
    f.approve(old, t0 + Duration::days(3));
    assert_eq!(queue_place(&f.conn, old).unwrap(), None, "approved versions are not queued");
    assert_eq!(queue_place(&f.conn, mid).unwrap(), Some(QueuePlace { position: 1, length: 2 }));
    assert_eq!(queue_place(&f.conn, new).unwrap(), Some(QueuePlace { position: 2, length: 2 }));
}

#[test]
fn the_median_counts_only_reviewed_approvals_of_the_last_days() {
    let f = fixture();
    let now = now_micros();
    assert_eq!(median_time_to_approval(&f.conn, now, 30).unwrap(), None);
    let up = now - Duration::days(10);
    for (i, days) in [1, 2, 4].iter().enumerate() {
        let v = f.version(&format!("1.{i}"), up);
        f.approve(v, up + Duration::days(*days));
    }
    // Approved 40 days ago: outside the window.
    let v = f.version("0.1", now - Duration::days(50));
    f.approve(v, now - Duration::days(40));
    assert_eq!(median_time_to_approval(&f.conn, now, 30).unwrap(), Some(Duration::days(2)));
    let v = f.version("1.9", up);
    f.approve(v, up + Duration::days(6));
    assert_eq!(median_time_to_approval(&f.conn, now, 30).unwrap(), Some(Duration::days(3)));
}

#[test]
fn version_state_reads_approval_and_scan_status() {
    let f = fixture();
    let now = now_micros();
    let v = f.version("1.0", now);
    let s = version_state(&f.conn, v).unwrap().unwrap();
    assert!(!s.approved);
    assert_eq!(s.created_on, now);
    assert!(version_state(&f.conn, VersionId(999)).unwrap().is_none());
}
