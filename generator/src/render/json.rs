//! The public JSON documents of reference §5.11: `/plugins/<pkg>/json` and
//! `/plugins/<pkg>/version/<v>/json`. Times are UTC with an offset.

use serde_json::{Value, json};

use catalog::model::{Plugin, Version};

fn version_fields(v: &Version) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("version".into(), json!(v.version.as_str()));
    m.insert("experimental".into(), json!(v.experimental));
    m.insert("qgis_min".into(), json!(v.min_qgis.display3()));
    m.insert("qgis_max".into(), json!(v.max_qgis.display3()));
    m.insert("downloads".into(), json!(v.downloads));
    m.insert("uploaded_by".into(), json!(v.uploaded_by));
    m.insert("upload_datetime".into(), json!(super::xml::py_datetime(v.created_on)));
    m
}

/// `/plugins/<pkg>/json`.
pub(super) fn plugin_json(p: &Plugin) -> Vec<u8> {
    let doc = json!({
        "name": p.name,
        "package_name": p.package.as_str(),
        "description": p.description,
        "about": p.about,
        "homepage": p.homepage,
        "repository": p.repository,
        "tracker": p.tracker,
        "author": p.author,
        "tags": p.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        "downloads": p.downloads,
        "latest_version": p.latest().map(|v| v.version.as_str()),
        "versions": p.versions.iter().map(|v| Value::Object(version_fields(v))).collect::<Vec<_>>(),
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// `/plugins/<pkg>/version/<v>/json`.
pub(super) fn version_json(p: &Plugin, v: &Version, base_url: &str) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(p.name));
    m.insert("package_name".into(), json!(p.package.as_str()));
    m.extend(version_fields(v));
    m.insert("changelog".into(), json!(v.changelog));
    m.insert("external_deps".into(), json!(v.external_deps));
    m.insert(
        "download_url".into(),
        json!(format!("{base_url}{}", super::links::version_download(p, v))),
    );
    m.insert("sha256".into(), json!(v.package_sha256));
    m.insert("size".into(), json!(v.package_size));
    let mut out = serde_json::to_vec_pretty(&Value::Object(m)).unwrap_or_default();
    out.push(b'\n');
    out
}
