//! Rendering: turns a `Catalog` into a `Plan`, the complete list of files of the site.
//! Pure: nothing here touches the disk (templates are loaded beforehand, zips are referred
//! to by path and linked by `publish`).

pub mod feeds;
pub mod json;
pub mod listings;
pub mod pages;
pub mod search;
pub mod xml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rayon::prelude::*;

use crate::model::{Catalog, Icon, Plugin};
use crate::names::QgisVersion;
use crate::templates::Templates;

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Rendered bytes.
    Bytes(Vec<u8>),
    /// An existing file (a stored zip), hard-linked into the site.
    File(PathBuf),
    /// The same bytes as another path of the same tree (identical plugins.xml variants).
    Same(String),
}

/// A plugin's own subtree (`plugins/<pkg>/`): published as one unit, reused unchanged
/// between builds when its content is identical.
#[derive(Debug, Default)]
pub struct Tree {
    /// Paths relative to the tree's mount point.
    pub files: BTreeMap<String, Content>,
}

/// Everything a build publishes.
#[derive(Debug, Default)]
pub struct Plan {
    /// Site-wide files (listings, plugins.xml, static assets), relative to the site root.
    pub root: BTreeMap<String, Content>,
    /// Per-plugin trees, keyed by mount path (`plugins/<pkg>`).
    pub trees: BTreeMap<String, Tree>,
}

impl Plan {
    /// Number of files the plan describes, trees included.
    pub fn file_count(&self) -> usize {
        self.root.len() + self.trees.values().map(|t| t.files.len()).sum::<usize>()
    }
}

/// What a render needs besides the catalog.
pub struct RenderInput<'a> {
    pub catalog: &'a Catalog,
    pub templates: &'a Templates,
    /// Absolute base URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub base_url: &'a str,
    /// Where stored zips live (`package_path` is relative to it).
    pub data_dir: &'a Path,
    /// The build's clock, for the "new" and "updated" windows.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Renders the whole site.
pub fn render_all(input: &RenderInput<'_>) -> Result<Plan> {
    let catalog = input.catalog;
    let entries = xml::Entries::new(catalog, input.base_url);
    let versions = xml::expand_versions(&catalog.settings.qgis_versions);
    let requests = xml_requests(&versions, &catalog.settings.labels);

    let mut plan = Plan::default();
    // Site-wide plugins.xml: identical documents are emitted once and aliased.
    let docs: Vec<(String, String)> = requests
        .par_iter()
        .flat_map_iter(|(name, q)| {
            [false, true].map(|stable_only| {
                let dir = if stable_only { "plugins/xml/stable_only" } else { "plugins/xml" };
                (
                    format!("{dir}/{name}.xml"),
                    xml::render_catalog(catalog, &entries, *q, stable_only),
                )
            })
        })
        .collect();
    add_deduplicated(&mut plan.root, docs);
    plan.root
        .insert("plugins/xml/empty.xml".into(), Content::Bytes(xml::render_empty().into_bytes()));

    for (path, bytes) in listings::render_site_pages(input)? {
        plan.root.insert(path, Content::Bytes(bytes));
    }
    for (path, bytes) in feeds::site_feeds(catalog, input.base_url) {
        plan.root.insert(path, Content::Bytes(bytes));
    }
    plan.root.insert("search/index.json".into(), Content::Bytes(search::search_index(catalog)));
    for (path, bytes) in input.templates.static_files() {
        plan.root.insert(path.clone(), Content::Bytes(bytes.clone()));
    }

    let trees: Vec<(String, Tree)> = catalog
        .plugins
        .par_iter()
        .map(|p| {
            Ok((
                format!("plugins/{}", p.package),
                render_plugin_tree(input, p, &entries, &requests)?,
            ))
        })
        .collect::<Result<_>>()?;
    plan.trees.extend(trees);
    Ok(plan)
}

/// The file names under `plugins/xml/` and the version each answers: every expanded
/// version, the labels, `major-<M>` (newest of a major) and `newest` (the fallbacks nginx
/// uses for versions it has no file for).
pub fn xml_requests(
    versions: &[QgisVersion],
    labels: &[(String, QgisVersion)],
) -> Vec<(String, QgisVersion)> {
    let mut out: Vec<(String, QgisVersion)> =
        versions.iter().map(|v| (v.minor_label(), *v)).collect();
    out.extend(labels.iter().map(|(l, v)| (l.clone(), *v)));
    let mut majors: BTreeMap<u16, QgisVersion> = BTreeMap::new();
    for v in versions {
        let e = majors.entry(v.major).or_insert(*v);
        // Minor 99 is a development alias of the next major; the fallback is the newest release.
        if v.minor < 99 && (v > e || e.minor >= 99) {
            *e = *v;
        }
    }
    out.extend(majors.values().map(|v| (format!("major-{}", v.major), *v)));
    if let Some(newest) = versions.iter().filter(|v| v.minor < 99).max().or(versions.last()) {
        out.push(("newest".into(), *newest));
    }
    out
}

fn add_deduplicated(into: &mut BTreeMap<String, Content>, docs: Vec<(String, String)>) {
    let mut first_of: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for (path, doc) in &docs {
        match first_of.get(doc.as_str()) {
            Some(first) => {
                into.insert(path.clone(), Content::Same((*first).to_owned()));
            }
            None => {
                first_of.insert(doc, path);
                into.insert(path.clone(), Content::Bytes(doc.clone().into_bytes()));
            }
        }
    }
}

fn render_plugin_tree(
    input: &RenderInput<'_>,
    p: &Plugin,
    entries: &xml::Entries,
    requests: &[(String, QgisVersion)],
) -> Result<Tree> {
    let mut tree = Tree::default();
    for (path, bytes) in pages::render_plugin_pages(input, p)? {
        tree.files.insert(path, Content::Bytes(bytes));
    }
    tree.files.insert("json".into(), Content::Bytes(json::plugin_json(p)));
    tree.files.insert("feed.xml".into(), Content::Bytes(feeds::plugin_feed(p, input.base_url)));
    for v in &p.versions {
        let dir = format!("version/{}", v.version);
        tree.files.insert(
            format!("{dir}/json"),
            Content::Bytes(json::version_json(p, v, input.base_url)),
        );
        tree.files.insert(
            format!("{dir}/{}", zip_file_name(p, v)),
            Content::File(input.data_dir.join(&v.package_path)),
        );
    }
    if let Some(latest) = p.latest() {
        tree.files.insert(
            "latest/json".into(),
            Content::Same(format!("version/{}/json", latest.version)),
        );
        tree.files.insert(
            "latest/index.html".into(),
            Content::Same(format!("version/{}/index.html", latest.version)),
        );
    }
    if let Some(icon) = &p.icon {
        let path = icon_path(p, icon);
        let rel = path.trim_start_matches(&format!("/plugins/{}/", p.package)).to_owned();
        tree.files.insert(rel, Content::Bytes(icon.bytes.clone()));
    }
    let docs: Vec<(String, String)> = requests
        .iter()
        .flat_map(|(name, q)| {
            [false, true].map(|stable_only| {
                let dir = if stable_only { "xml/stable_only" } else { "xml" };
                (format!("{dir}/{name}.xml"), xml::render_package(p, entries, *q, stable_only))
            })
        })
        .collect();
    add_deduplicated(&mut tree.files, docs);
    Ok(tree)
}

/// `<pkg>.<version>.zip`: the name QGIS derives the plugin id from (text before the first dot).
pub fn zip_file_name(p: &Plugin, v: &crate::model::Version) -> String {
    format!("{}.{}.zip", p.package, v.version)
}

/// Absolute path of a plugin's icon; the content hash in the name lets it be cached forever.
pub fn icon_path(p: &Plugin, icon: &Icon) -> String {
    format!("/plugins/{}/icon-{}.{}", p.package, crate::fsutil::short_hash(&icon.bytes), icon.ext)
}
