//! Tests of schema migration and catalog loading.

use rusqlite::Connection;

use super::*;
use crate::public::load_catalog;

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

/// A catalog at schema version 2 (before per-version metadata) with data: every version gets
/// its plugin's values and tags, nothing in the old tables changes, and the public model
/// shows what it showed before.
#[test]
fn migration_3_copies_plugin_metadata_into_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    for (_, sql) in &MIGRATIONS[..2] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", 2).unwrap();
    conn.execute_batch(V2_DATA).unwrap();
    let before_plugins = dump(&conn, "SELECT * FROM plugins ORDER BY id");
    let before_tags = dump(&conn, "SELECT * FROM plugin_tags ORDER BY plugin_id, position");
    migrate(&mut conn).unwrap();

    assert_eq!(dump(&conn, "SELECT * FROM plugins ORDER BY id"), before_plugins);
    assert_eq!(dump(&conn, "SELECT * FROM plugin_tags ORDER BY plugin_id, position"), before_tags);
    let copied = dump(
        &conn,
        "SELECT v.id, v.name = p.name, v.author = p.author, v.email = p.email,
                v.homepage IS p.homepage, v.repository IS p.repository, v.tracker IS p.tracker,
                v.description = p.description, v.about = p.about, v.server = p.server,
                v.meta_deprecated
         FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id ORDER BY v.id",
    );
    assert_eq!(copied.len(), 3);
    for row in &copied {
        assert_eq!(&row[1..], ["1", "1", "1", "1", "1", "1", "1", "1", "1", "0"], "{row:?}");
    }
    let tags = dump(
        &conn,
        "SELECT vt.version_id, t.name FROM version_tags vt JOIN tags t ON t.id = vt.tag_id
         ORDER BY vt.version_id, vt.position",
    );
    let expect = [["1", "gpx"], ["1", "hiking"], ["2", "gpx"], ["2", "hiking"], ["3", "raster"]];
    assert_eq!(tags, expect.map(|r| r.map(String::from).to_vec()).to_vec());

    let catalog = load_catalog(&conn).unwrap();
    let p = &catalog.plugins[0];
    assert_eq!((p.name.as_str(), p.author.as_str()), ("GPX Tracker", "Jane"));
    assert_eq!(p.homepage.as_deref(), Some("https://example.org/gpx"));
    assert_eq!(p.repository, None);
    assert_eq!((p.description.as_str(), p.about.as_str()), ("Tracks", "About GPX"));
    assert!(p.deprecated && !p.server, "the merged flag is kept");
    assert_eq!(p.tags.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(), ["gpx", "hiking"]);
    let q = &catalog.plugins[1];
    assert_eq!((q.name.as_str(), q.tracker.as_deref()), ("Raster Fun", Some("https://t.example")));
    assert!(!q.deprecated && q.server);
    assert_eq!(q.tags[0].name, "raster");
}

const V2_DATA: &str = "
INSERT INTO users (id, username, created_at) VALUES (1, 'jane', '2024-01-01T00:00:00.000000Z');
INSERT INTO plugins (id, package_name, name, created_on, modified_on, created_by, author, email,
                     homepage, repository, tracker, description, about, deprecated, server)
VALUES (1, 'gpx_tracker', 'GPX Tracker', '2024-01-01T00:00:00.000000Z',
        '2024-02-01T00:00:00.000000Z', 1, 'Jane', 'jane@example.org', 'https://example.org/gpx',
        NULL, NULL, 'Tracks', 'About GPX', 1, 0),
       (2, 'raster_fun', 'Raster Fun', '2024-01-01T00:00:00.000000Z',
        '2024-02-01T00:00:00.000000Z', 1, 'Jane', 'j@example.org', NULL,
        'https://git.example', 'https://t.example', 'Rasters', '', 0, 1);
INSERT INTO tags (id, name, slug) VALUES (1, 'gpx', 'gpx'), (2, 'hiking', 'hiking'),
                                          (3, 'raster', 'raster');
INSERT INTO plugin_tags (plugin_id, tag_id, position) VALUES (1, 1, 0), (1, 2, 1), (2, 3, 0);
INSERT INTO plugin_versions (id, plugin_id, version, version_key, created_on, created_by,
                             min_qgis, max_qgis, approved, package_path, package_sha256,
                             package_size)
VALUES (1, 1, '1.0', '1.0', '2024-01-01T00:00:00.000000Z', 1, '003.000.000', '003.099.000', 1,
        'a.zip', 'aa', 1),
       (2, 1, '1.1', '1.1', '2024-01-02T00:00:00.000000Z', 1, '003.000.000', '003.099.000', 0,
        'b.zip', 'bb', 1),
       (3, 2, '2.0', '2.0', '2024-01-03T00:00:00.000000Z', 1, '003.000.000', '003.099.000', 1,
        'c.zip', 'cc', 1);
";

/// Every row of `sql`, each value as text (NULL as `NULL`).
fn dump(conn: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(b) => hex::encode(b),
                })
            })
            .collect()
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}
