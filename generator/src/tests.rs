//! Whole-build tests on the demo catalog: every template renders, unapproved versions never
//! reach the site, a second build is a no-op.

use std::path::PathBuf;

use super::*;
use catalog::ids::UserId;

fn templates_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../templates")
}

#[test]
fn demo_site_builds_and_hides_unapproved_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (data, site) = (dir.path().join("data"), dir.path().join("site"));
    demo::seed(&data, false).unwrap();
    let config = Config::new(data, site.clone(), templates_dir(), "http://127.0.0.1:9").unwrap();
    let first = build(&config).unwrap();
    assert!(first.publish.changed);
    assert!(first.plugins >= 30);
    let cur = site.join("current");
    for rel in [
        "index.html",
        "plugins/index.html",
        "plugins/xml/3.34.xml",
        "plugins/xml/4.0.xml",
        "plugins/xml/newest.xml",
        "plugins/xml/empty.xml",
        "static/style/plugins.xsl",
        "plugins/quick_map_tiles/index.html",
        "plugins/quick_map_tiles/json",
        "plugins/quick_map_tiles/version-1.2.0.html",
        "plugins/quick_map_tiles/latest.json",
        "plugins/quick_map_tiles/version-1.2.0.json",
        "plugins/quick_map_tiles/quick_map_tiles.1.2.0.zip",
    ] {
        assert!(cur.join(rel).is_file(), "{rel} published");
    }
    // selection_stats 1.2 is unapproved in the demo: no page, no zip, no XML entry.
    assert!(!cur.join("plugins/selection_stats/version-1.2.html").exists());
    assert!(!cur.join("plugins/selection_stats/selection_stats.1.2.zip").exists());
    for entry in walkdir::WalkDir::new(cur.join("plugins/xml")).follow_links(true) {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "xml") {
            let doc = std::fs::read_to_string(entry.path()).unwrap();
            assert!(!doc.contains("selection_stats/version/1.2/"), "{}", entry.path().display());
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cur.join("plugins/selection_stats/json")).unwrap())
            .unwrap();
    assert_eq!(json["latest_version"], "1.1");
    let second = build(&config).unwrap();
    assert!(!second.publish.changed, "nothing changed, nothing written");
}

/// Markup and script in every metadata field render as text on every page, feed, XML and in
/// the search index (reliability catalogue B).
#[test]
fn hostile_metadata_is_escaped_everywhere() {
    use catalog::accounts::NewUser;
    use catalog::names::{PackageName, PluginVersion, QgisVersion};
    use catalog::plugins::PluginFields;
    use catalog::versions::NewVersion;

    const EVIL: &str = "\"><script>alert(1)</script><img src=x onerror=alert(2)>'&";
    let dir = tempfile::tempdir().unwrap();
    let (data, site) = (dir.path().join("data"), dir.path().join("site"));
    let conn = catalog::open(&data).unwrap();
    let now = catalog::time::now();
    let user = catalog::accounts::create_user(
        &conn,
        &NewUser { username: "mallory".into(), can_approve: true, ..Default::default() },
        now,
    )
    .unwrap();
    let fields = PluginFields {
        name: format!("Evil {EVIL}"),
        author: format!("Mal {EVIL}"),
        email: "m@example.org".into(),
        homepage: Some(format!("https://example.org/{EVIL}")),
        repository: Some(format!("javascript:alert(3)//{EVIL}")),
        tracker: Some(format!("https://example.org/t?{EVIL}")),
        description: format!("Desc {EVIL}"),
        about: format!("About {EVIL}\nsecond line {EVIL}"),
        deprecated: false,
        server: false,
    };
    let pkg = PackageName::parse("evil_plugin").unwrap();
    let pid = catalog::plugins::create_plugin(&conn, &pkg, user, &fields, now).unwrap();
    catalog::tags::set_tags(&conn, pid, &[format!("tag {EVIL}")]).unwrap();
    let rel = "packages/evil_plugin/evil_plugin.1.0.zip";
    catalog::fsutil::write_atomic(&data.join(rel), b"PK\x05\x06").unwrap();
    let v = NewVersion {
        version: PluginVersion::parse("1.0").unwrap(),
        created_by: user,
        min_qgis: QgisVersion::parse("3.0").unwrap(),
        max_qgis: QgisVersion::parse("3.99").unwrap(),
        changelog: format!("Changes {EVIL}"),
        experimental: false,
        approved: true,
        external_deps: format!("dep {EVIL}"),
        token_id: None,
        package_path: rel.into(),
        package_sha256: "0".repeat(64),
        package_size: 4,
        icon: None,
    };
    catalog::versions::insert_version(&conn, pid, &v, now).unwrap();
    drop(conn);
    let config = Config::new(data, site.clone(), templates_dir(), "http://127.0.0.1:9").unwrap();
    build(&config).unwrap();

    let mut checked = 0;
    for entry in walkdir::WalkDir::new(site.join("current")).follow_links(true) {
        let entry = entry.unwrap();
        let path = entry.path();
        let is_static = path.components().any(|c| c.as_os_str() == "static");
        if !entry.file_type().is_file()
            || is_static
            || path.extension().is_some_and(|e| e == "gz" || e == "zip")
        {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        if name == "json" || name.ends_with(".json") {
            // JSON carries the text as data; it must still parse.
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
            continue;
        }
        for raw in ["<script>alert", "<img src=x", "\"><script"] {
            assert!(!text.contains(raw), "{} contains raw `{raw}`", path.display());
        }
        if text.contains("alert(1)") {
            checked += 1;
        }
        if name.ends_with(".html") {
            assert!(
                !text.contains("href=\"javascript:"),
                "{} links to javascript:",
                path.display()
            );
        }
    }
    assert!(checked > 10, "the payload appeared (escaped) in {checked} files");
}

/// A change to one plugin renders that plugin's tree only; the others are reused as they are.
#[test]
fn one_plugin_change_renders_one_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (data, site) = (dir.path().join("data"), dir.path().join("site"));
    demo::seed(&data, false).unwrap();
    let config = Config::new(data.clone(), site, templates_dir(), "http://127.0.0.1:9").unwrap();
    let first = build(&config).unwrap();
    let conn = catalog::open(&data).unwrap();
    let pid = catalog::plugins::plugin_id(
        &conn,
        &catalog::names::PackageName::parse("gpx_tracker").unwrap(),
    )
    .unwrap()
    .unwrap();
    catalog::tags::set_tags(&conn, pid, &["gpx".into(), "tracks".into(), "hiking".into()]).unwrap();
    drop(conn);
    let second = build(&config).unwrap();
    assert!(second.publish.changed);
    assert_eq!(second.publish.trees_written, 1, "only gpx_tracker's tree is new");
    assert_eq!(second.publish.trees_reused, first.plugins - 1);
    assert!(
        second.publish.files_written * 5 < first.publish.files_written,
        "wrote {} files after one change, {} on the first build",
        second.publish.files_written,
        first.publish.files_written
    );
    let page =
        std::fs::read_to_string(config.site_dir.join("current/plugins/gpx_tracker/index.html"))
            .unwrap();
    assert!(page.contains("hiking"));
    assert!(config.site_dir.join("current/plugins/tags/p1/hiking.html").is_file());
}

/// Site-wide pages are memoised by the digest of what they show: after one plugin changes,
/// pages that do not list it are kept (the same file, linked), pages that list it are
/// rendered again and show the change.
#[test]
fn listing_pages_without_the_changed_plugin_are_kept() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let (data, site) = (dir.path().join("data"), dir.path().join("site"));
    demo::seed(&data, false).unwrap();
    let config =
        Config::new(data.clone(), site.clone(), templates_dir(), "http://127.0.0.1:9").unwrap();
    build(&config).unwrap();
    let old = std::fs::canonicalize(site.join("current")).unwrap();
    let conn = catalog::open(&data).unwrap();
    let pid = catalog::plugins::plugin_id(
        &conn,
        &catalog::names::PackageName::parse("gpx_tracker").unwrap(),
    )
    .unwrap()
    .unwrap();
    catalog::plugins::set_plugin_deprecated(&conn, pid, true, chrono::Utc::now()).unwrap();
    drop(conn);
    build(&config).unwrap();
    let new = std::fs::canonicalize(site.join("current")).unwrap();
    assert_ne!(old, new);
    let (mut kept, mut rerendered) = (0, 0);
    for entry in walkdir::WalkDir::new(new.join("plugins/tags")) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "html") {
            continue;
        }
        let rel = entry.path().strip_prefix(&new).unwrap();
        let Ok(before) = std::fs::read_to_string(old.join(rel)) else { continue };
        let after = std::fs::read_to_string(entry.path()).unwrap();
        let same_inode =
            std::fs::metadata(old.join(rel)).unwrap().ino() == entry.metadata().unwrap().ino();
        if before.contains("/plugins/gpx_tracker/")
            && rel != std::path::Path::new("plugins/tags/index.html")
        {
            assert!(!same_inode, "{} lists the changed plugin: rendered again", rel.display());
            assert_ne!(before, after, "{} shows the change", rel.display());
            rerendered += 1;
        } else if before == after {
            assert!(same_inode, "{} is unchanged: kept, not rewritten", rel.display());
            kept += 1;
        }
    }
    assert!(kept > 5 && rerendered >= 1, "kept {kept}, rendered again {rerendered}");
    let deprecated = std::fs::read_to_string(new.join("plugins/deprecated/index.html")).unwrap();
    assert!(deprecated.contains("/plugins/gpx_tracker/"));
}

/// An unapproved version whose metadata all differs changes nothing: the next build
/// publishes nothing. Approving it makes the plugin show its metadata; unapproving it
/// brings the previous version's back (reliability: metadata passes review).
#[test]
fn unapproved_metadata_stays_out_until_approved() {
    use catalog::metadata::VersionMetadata;
    use catalog::plugins::PluginFields;
    use catalog::versions::NewVersion;
    let dir = tempfile::tempdir().unwrap();
    let (data, site) = (dir.path().join("data"), dir.path().join("site"));
    demo::seed(&data, false).unwrap();
    let config = Config::new(data.clone(), site, templates_dir(), "http://127.0.0.1:9").unwrap();
    build(&config).unwrap();
    let conn = catalog::open(&data).unwrap();
    let pkg = catalog::names::PackageName::parse("gpx_tracker").unwrap();
    let pid = catalog::plugins::plugin_id(&conn, &pkg).unwrap().unwrap();
    let public = |conn: &rusqlite::Connection| {
        let catalog = catalog::public::load_catalog(conn).unwrap();
        catalog.plugins.into_iter().find(|p| p.id == pid).unwrap()
    };
    let old = public(&conn);
    let meta = VersionMetadata {
        fields: PluginFields {
            name: "Renamed Under Review".into(),
            author: "Someone Else".into(),
            email: "x@example.net".into(),
            homepage: Some("https://evil.example/".into()),
            repository: Some("https://evil.example/r".into()),
            tracker: Some("https://evil.example/t".into()),
            description: "New description".into(),
            about: "New about".into(),
            deprecated: true,
            server: true,
        },
        tags: vec!["pending".into()],
    };
    let template = demo_version(&conn, pid);
    let path = format!("{}.copy.zip", template.package_path);
    std::fs::copy(data.join(&template.package_path), data.join(&path)).unwrap();
    let v = NewVersion {
        version: catalog::names::PluginVersion::parse("5.0").unwrap(),
        approved: false,
        package_path: path,
        ..template
    };
    let vid = catalog::versions::insert_version_with_metadata(
        &conn,
        pid,
        &v,
        &meta,
        catalog::time::now(),
    )
    .unwrap();
    let unchanged = build(&config).unwrap();
    assert!(!unchanged.publish.changed, "an unapproved upload changes no published byte");

    catalog::review::set_version_approved(&conn, pid, vid, true, UserId(1), catalog::time::now())
        .unwrap();
    let new = public(&conn);
    assert_eq!((new.name.as_str(), new.author.as_str()), ("Renamed Under Review", "Someone Else"));
    assert_eq!(new.homepage.as_deref(), Some("https://evil.example/"));
    assert!(new.deprecated && new.server);
    assert_eq!(new.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["pending"]);
    assert!(build(&config).unwrap().publish.changed);

    catalog::review::set_version_approved(&conn, pid, vid, false, UserId(1), catalog::time::now())
        .unwrap();
    let back = public(&conn);
    assert_eq!((back.name, back.author, back.tags), (old.name, old.author, old.tags));
    assert_eq!((back.deprecated, back.server), (old.deprecated, old.server));
}

/// A copy of the plugin's newest stored version row, as a template for new versions.
fn demo_version(
    conn: &rusqlite::Connection,
    plugin_id: catalog::ids::PluginId,
) -> catalog::versions::NewVersion {
    let row = catalog::versions::versions_of_plugin(conn, plugin_id).unwrap().remove(0);
    catalog::versions::NewVersion {
        version: catalog::names::PluginVersion::parse(&row.version).unwrap(),
        created_by: row.created_by.unwrap(),
        min_qgis: catalog::names::QgisVersion::new(3, 0),
        max_qgis: catalog::names::QgisVersion::new(3, 99),
        changelog: String::new(),
        experimental: false,
        approved: true,
        external_deps: String::new(),
        token_id: None,
        package_path: row.package_path,
        package_sha256: row.package_sha256,
        package_size: row.package_size,
        icon: None,
    }
}

#[test]
fn demo_catalog_loads_only_approved_versions() {
    let dir = tempfile::tempdir().unwrap();
    let n = crate::demo::seed(dir.path(), false).unwrap();
    assert!(n >= 30);
    let conn = catalog::open(dir.path()).unwrap();
    let catalog = catalog::public::load_catalog(&conn).unwrap();
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
