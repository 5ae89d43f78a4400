//! Public metadata passes review: an untrusted editor's upload whose every public field
//! differs leaves every published byte as it was and runs no build; once staff approve it,
//! each field shows in plugins.xml, the plugin page and JSON, the feeds, the search index and
//! the tag and author lists.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::deploy::{Deployment, json_of, plugin_files, stored_zip};
use crate::support::http;

const PKG: &str = "gpx_tracker";
const VERSION: &str = "9.0.0";
const NAME: &str = "Reviewed Later Tracker";
const DESCRIPTION: &str = "A description nobody has reviewed yet";
const ABOUT: &str = "An about text that waits for a reviewer before it is shown anywhere.";
const AUTHOR: &str = "Unreviewed Author";
const EMAIL: &str = "unreviewed@example.net";
const HOMEPAGE: &str = "https://home.example.net/unreviewed";
const REPOSITORY: &str = "https://repo.example.net/unreviewed";
const TRACKER: &str = "https://tracker.example.net/unreviewed/issues";
const TAG: &str = "unreviewedtag";
const CHANGELOG: &str = "Unreviewed changelog entry";

/// The new version's zip: every public field differs from the published plugin's.
fn changed_zip(icon: &[u8]) -> Vec<u8> {
    let metadata = format!(
        "[general]\nname={NAME}\nqgisMinimumVersion=3.0\ndescription={DESCRIPTION}\n\
         version={VERSION}\nauthor={AUTHOR}\nemail={EMAIL}\nabout={ABOUT}\ntracker={TRACKER}\n\
         repository={REPOSITORY}\nhomepage={HOMEPAGE}\ntags={TAG},pendingtag\nicon=icon.png\n\
         deprecated=True\nexperimental=True\nchangelog={CHANGELOG}\n"
    );
    let mut files = vec![(format!("{PKG}/"), Vec::new())];
    for (name, bytes) in plugin_files(PKG, VERSION) {
        let bytes =
            if name.ends_with("/metadata.txt") { metadata.clone().into_bytes() } else { bytes };
        files.push((name, bytes));
    }
    files.push((format!("{PKG}/icon.png"), icon.to_vec()));
    stored_zip(&files)
}

/// Every file under the published root (symlinks followed): path → SHA-256 of its bytes.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.metadata().expect("metadata").is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("under root").display().to_string();
                let bytes = std::fs::read(&path).expect("published file");
                out.insert(rel, catalog::hash::sha256_hex(&bytes));
            }
        }
    }
    out
}

/// The rebuild worker's counters from `/healthz` (the service's own port).
fn build_status(d: &Deployment) -> Value {
    let r = http::get(d.up_port, "/healthz", &[]).expect("/healthz");
    assert_eq!(r.status, 200, "{}", r.text());
    json_of(&r)["site"].clone()
}

fn get_text(d: &Deployment, path: &str) -> String {
    let r = d.req("GET", path, &[], b"");
    assert_eq!(r.status, 200, "GET {path}");
    r.text()
}

/// Makes `editor` (untrusted) an owner of `PKG` beside its current owners, as staff.
fn add_owner(d: &Deployment, staff: &str) {
    let (status, info) = d.api("GET", &format!("/api/v1/plugins/{PKG}"), staff, None);
    assert_eq!(status, 200, "{info}");
    let mut owners: Vec<Value> = info["owners"].as_array().cloned().unwrap_or_default();
    owners.push(json!("editor"));
    let (status, body) =
        d.api("PATCH", &format!("/api/v1/plugins/{PKG}"), staff, Some(json!({"owners": owners})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["live"], true, "{body}");
}

#[test]
fn unapproved_metadata_changes_nothing_published_until_approved() {
    let d = Deployment::start();
    d.user_add("boss", &["--staff"]);
    d.user_add("editor", &[]);
    let staff = d.user_token("boss");
    add_owner(&d, &staff);
    let editor = d.user_token("editor");

    let before = snapshot(&d.site.root());
    let status_before = build_status(&d);
    assert_eq!(status_before["building"], false, "{status_before}");
    let plugin_row = |d: &Deployment| -> Vec<String> {
        d.db()
            .query_row(
                "SELECT name, author, description, about, homepage, deprecated, revision,
                        modified_on FROM plugins WHERE package_name = ?1",
                [PKG],
                |r| (0..8).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect(),
            )
            .map(|v: Vec<_>| v.iter().map(|x| format!("{x:?}")).collect())
            .expect("plugin row")
    };
    let row_before = plugin_row(&d);

    let icon = generator::demo::png_icon(4242, 7);
    let r = d.upload("/plugins/add/", &editor, &changed_zip(&icon), "changed.zip").unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let body = json_of(&r);
    assert_eq!(body["approved"], false, "{body}");

    // The upload answered after its commit: a build it requested would show in the counters.
    let status_after = build_status(&d);
    for key in ["requested", "completed", "builds", "building"] {
        assert_eq!(status_after[key], status_before[key], "{key}: {status_after}");
    }
    assert_eq!(plugin_row(&d), row_before, "the plugin row (revision, modified_on) is unchanged");
    let after = snapshot(&d.site.root());
    assert_eq!(before.len(), after.len(), "the same published files");
    for (path, hash) in &before {
        assert_eq!(after.get(path), Some(hash), "{path} changed before review");
    }
    // The editor sees the draft's metadata in the private view.
    let (_, info) = d.api("GET", &format!("/api/v1/plugins/{PKG}"), &editor, None);
    let draft = info["versions"].as_array().unwrap().iter().find(|v| v["version"] == VERSION);
    assert_eq!(draft.expect("the draft")["metadata"]["name"], NAME, "{info}");
    assert_ne!(info["name"], NAME, "the plugin's name is the public one: {info}");

    let (status, body) = d.set_approved(PKG, VERSION, &staff, true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["live"], true, "{body}");
    assert_published(&d, &icon);
}

/// Every changed field shows where the public reads it.
fn assert_published(d: &Deployment, icon: &[u8]) {
    let icon_url = format!("/plugins/{PKG}/icon-{}.png", catalog::hash::short_hash(icon));
    assert_eq!(d.req("GET", &icon_url, &[], b"").body, icon, "the new icon is published");

    let xml = d.plugins_xml();
    let entry = xml
        .split("<pyqgis_plugin ")
        .find(|e| e.contains(&format!("version=\"{VERSION}\"")) && e.contains(PKG))
        .unwrap_or_else(|| panic!("no {PKG} {VERSION} entry in plugins.xml"));
    for expected in [
        format!("name=\"{NAME}\""),
        format!("<description><![CDATA[{DESCRIPTION}]]>"),
        format!("<about><![CDATA[{ABOUT}]]>"),
        format!("<author_name><![CDATA[{AUTHOR}]]>"),
        format!("<homepage><![CDATA[{HOMEPAGE}]]>"),
        format!("<repository><![CDATA[{REPOSITORY}]]>"),
        format!("<tracker><![CDATA[{TRACKER}]]>"),
        format!("<tags><![CDATA[{TAG},pendingtag]]>"),
        "<deprecated>True</deprecated>".into(),
        "<experimental>True</experimental>".into(),
        icon_url.clone(),
    ] {
        assert!(entry.contains(&expected), "plugins.xml lacks `{expected}`:\n{entry}");
    }

    let page = get_text(d, &format!("/plugins/{PKG}/"));
    for expected in [NAME, DESCRIPTION, AUTHOR, HOMEPAGE, REPOSITORY, TRACKER, TAG, &icon_url] {
        assert!(page.contains(expected), "the plugin page lacks `{expected}`");
    }
    assert!(page.contains("An about text that waits"), "the plugin page lacks the about");
    let version_page = get_text(d, &format!("/plugins/{PKG}/version/{VERSION}/"));
    assert!(version_page.contains(CHANGELOG), "the version page lacks the changelog");

    let j: Value = serde_json::from_str(&get_text(d, &format!("/plugins/{PKG}/json"))).unwrap();
    for (key, value) in [
        ("name", NAME),
        ("description", DESCRIPTION),
        ("about", ABOUT),
        ("author", AUTHOR),
        ("homepage", HOMEPAGE),
        ("repository", REPOSITORY),
        ("tracker", TRACKER),
    ] {
        assert_eq!(j[key], value, "plugin JSON `{key}`");
    }
    assert_eq!(j["tags"], json!([TAG, "pendingtag"]));
    let vj: Value =
        serde_json::from_str(&get_text(d, &format!("/plugins/{PKG}/version/{VERSION}/json")))
            .unwrap();
    assert_eq!((&vj["changelog"], &vj["experimental"]), (&json!(CHANGELOG), &json!(true)));

    let feed = get_text(d, &format!("/plugins/{PKG}/feed.xml"));
    for expected in [NAME, AUTHOR, CHANGELOG] {
        assert!(feed.contains(expected), "the plugin feed lacks `{expected}`");
    }
    let tag_feed = get_text(d, &format!("/plugins/tags/{TAG}/feed.xml"));
    assert!(tag_feed.contains(NAME), "the tag feed lacks the plugin");

    let index: Value = serde_json::from_str(&get_text(d, "/search/index.json")).unwrap();
    let doc = index.as_array().unwrap().iter().find(|e| e["p"] == PKG).expect("indexed");
    assert_eq!(
        (&doc["n"], &doc["d"], &doc["a"]),
        (&json!(NAME), &json!(DESCRIPTION), &json!(AUTHOR))
    );
    assert_eq!(doc["t"], json!([TAG, "pendingtag"]));
    assert_eq!(doc["i"], json!(icon_url));

    let tag_list = get_text(d, &format!("/plugins/tags/{TAG}/"));
    assert!(tag_list.contains(NAME), "the tag list lacks the plugin");
    let author_list = get_text(d, "/plugins/author/Unreviewed%20Author/");
    assert!(author_list.contains(NAME), "the author list lacks the plugin");
}
