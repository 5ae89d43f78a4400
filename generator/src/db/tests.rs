//! Tests of schema migration and catalog loading.

use super::*;

#[test]
fn migrate_twice_is_a_no_op_and_pragmas_hold() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(dir.path()).unwrap();
    drop(conn);
    let conn = open(dir.path()).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
    assert_eq!(fk, 1);
}

#[test]
fn demo_catalog_loads_only_approved_versions() {
    let dir = tempfile::tempdir().unwrap();
    let n = crate::demo::seed(dir.path(), false).unwrap();
    assert!(n >= 30);
    let conn = open(dir.path()).unwrap();
    let catalog = load_catalog(&conn).unwrap();
    assert_eq!(catalog.plugins.len(), n);
    let unapproved: i64 = conn
        .query_row("SELECT count(*) FROM plugin_versions WHERE approved = 0", [], |r| r.get(0))
        .unwrap();
    assert!(unapproved > 0, "the demo has an unapproved version to prove it stays hidden");
    let loaded: usize = catalog.plugins.iter().map(|p| p.versions.len()).sum();
    let approved: i64 = conn
        .query_row("SELECT count(*) FROM plugin_versions WHERE approved = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(loaded as i64, approved);
    for p in &catalog.plugins {
        assert!(p.versions.windows(2).all(|w| w[0].version > w[1].version), "{} sorted", p.package);
    }
}
