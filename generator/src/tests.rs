//! Whole-build tests on the demo catalog: every template renders, unapproved versions never
//! reach the site, a second build is a no-op.

use std::path::PathBuf;

use super::*;

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
        "plugins/quick_map_tiles/version/1.2.0/index.html",
        "plugins/quick_map_tiles/latest/json",
        "plugins/quick_map_tiles/version/1.2.0/quick_map_tiles.1.2.0.zip",
    ] {
        assert!(cur.join(rel).is_file(), "{rel} published");
    }
    // selection_stats 1.2 is unapproved in the demo: no page, no zip, no XML entry.
    assert!(!cur.join("plugins/selection_stats/version/1.2").exists());
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
