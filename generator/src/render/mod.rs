//! Rendering: turns a `Catalog` into a `Plan` (the site-wide files and the key of every
//! plugin tree) and renders plugin trees on demand, so `publish` can render, write and drop
//! one tree at a time and memory stays bounded. Pure: nothing here touches the disk
//! (templates are loaded beforehand, zips are referred to by path and linked by `publish`).

mod feeds;
mod input;
mod json;
mod links;
pub mod listings;
mod pages;
mod search;
mod stats;
pub mod xml;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use anyhow::Result;
use rayon::prelude::*;

pub use input::RenderInput;
use links::{icon_file, version_file, zip_file_name};

use crate::plan::{Content, Plan, TreeSource};
use crate::urls;
use catalog::ids::VersionId;
use catalog::model::Plugin;
use catalog::names::QgisVersion;

/// The digest of one plugin's tree: everything its files are rendered from.
pub fn tree_key(input: &RenderInput<'_>, p: &Plugin) -> String {
    catalog::hash::fingerprint(&(
        TREE_FORMAT,
        &input.templates.fingerprint,
        input.base_url,
        &input.catalog.settings,
        p,
    ))
}

/// The digest of the whole site: when it equals the published one, there is nothing to do.
/// The clock enters at day precision (the "new" and "updated" windows move daily).
pub fn site_fingerprint(input: &RenderInput<'_>, trees: &[String]) -> String {
    catalog::hash::fingerprint(&(
        TREE_FORMAT,
        &input.templates.fingerprint,
        input.base_url,
        &input.catalog.settings,
        trees,
        input.now.date_naive(),
    ))
}

/// Every plugin's tree key, in catalog order (computed once per build: it serializes and
/// hashes the whole catalog).
pub fn tree_keys(input: &RenderInput<'_>) -> Vec<String> {
    input.catalog.plugins.par_iter().map(|p| tree_key(input, p)).collect()
}

/// Bump when the generator's own output format changes, so old trees are not reused.
/// 3: SVG icons published as PNG (icons.rs); versions in URLs percent-encoded (`+` is
/// `%2B`, urls.rs).
const TREE_FORMAT: u32 = 3;

/// Renders a site: `plan` gives the site-wide files and the tree keys, `render_tree`
/// (through `TreeSource`) a plugin's files.
pub struct Renderer<'a> {
    input: &'a RenderInput<'a>,
    /// The entries of the site-wide documents (plugin trees render their own).
    entries: Arc<xml::Entries>,
    /// Every site-wide plugins.xml path with the versions it lists.
    selections: Vec<(String, Vec<VersionId>)>,
    /// Every expanded QGIS version, ascending.
    versions: Vec<QgisVersion>,
    requests: Vec<(String, QgisVersion)>,
    by_mount: HashMap<String, &'a Plugin>,
    /// `tree_keys(input)`.
    tree_keys: Vec<String>,
}

impl<'a> Renderer<'a> {
    /// `tree_keys` are `tree_keys(input)`, which the caller has already computed.
    pub fn new(input: &'a RenderInput<'a>, tree_keys: Vec<String>) -> Self {
        let catalog = input.catalog;
        let versions = xml::expand_versions(&catalog.settings.qgis_versions);
        let requests = xml_requests(&versions, &catalog.settings.labels);
        let selections = site_selections(catalog, &versions, &requests);
        let listed: HashSet<VersionId> =
            selections.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
        Self {
            input,
            entries: Arc::new(xml::Entries::where_id(catalog, input.base_url, |id| {
                listed.contains(&id)
            })),
            selections,
            requests,
            versions,
            by_mount: catalog
                .plugins
                .iter()
                .map(|p| (urls::tree_mount(p.package.as_str()), p))
                .collect(),
            tree_keys,
        }
    }

    /// The site-wide files and the key of every plugin tree.
    pub fn plan(&self) -> Result<Plan> {
        let input = self.input;
        let catalog = input.catalog;
        let mut plan =
            Plan { fingerprint: site_fingerprint(input, &self.tree_keys), ..Plan::default() };
        // Site-wide plugins.xml, deferred: identical selections are emitted once and aliased.
        add_documents(&mut plan.root, &self.entries, self.selections.clone());
        let empty = xml::render_empty().into_bytes();
        plan.root.insert(urls::EMPTY_DOCUMENT.into(), Content::Bytes(empty));
        // "This name is known, the plugin has nothing for it": where a package's lookup ends
        // when the package has no file of its own (see `package_documents`).
        let known = decade_starts(&self.versions)
            .map(|(head, _)| urls::decade_stem(&head))
            .chain(self.requests[self.versions.len()..].iter().map(|(name, _)| name.clone()));
        for name in known {
            plan.root.insert(
                urls::known_name_document(&name),
                Content::Same(urls::EMPTY_DOCUMENT.into()),
            );
        }
        for (path, content) in listings::render_site_pages(input)? {
            plan.root.insert(path, content);
        }
        for (path, bytes) in feeds::site_feeds(catalog, input.base_url) {
            plan.root.insert(path, Content::Bytes(bytes));
        }
        plan.root.insert(urls::SEARCH_INDEX.into(), Content::Bytes(search::search_index(catalog)));
        for (path, bytes) in stats::site_stats(input)? {
            plan.root.insert(path, Content::Bytes(bytes));
        }
        for (path, bytes) in input.templates.static_files() {
            plan.root.insert(path.clone(), Content::Bytes(bytes.clone()));
        }
        plan.trees = catalog
            .plugins
            .iter()
            .zip(&self.tree_keys)
            .map(|(p, key)| (urls::tree_mount(p.package.as_str()), key.clone()))
            .collect();
        Ok(plan)
    }
}

impl TreeSource for Renderer<'_> {
    fn render_tree(&self, mount: &str) -> Result<BTreeMap<String, Content>> {
        let p =
            self.by_mount.get(mount).ok_or_else(|| anyhow::anyhow!("no plugin at `{mount}`"))?;
        render_plugin_tree(self.input, p, &self.versions, &self.requests)
    }
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

/// Every site-wide plugins.xml path (`plugins/xml/[stable_only/]<name>.xml` for each
/// requested version or label, and each decade's `d-<decade>x.xml`) with what it lists.
fn site_selections(
    catalog: &catalog::model::Catalog,
    versions: &[QgisVersion],
    requests: &[(String, QgisVersion)],
) -> Vec<(String, Vec<VersionId>)> {
    let decades: Vec<(String, QgisVersion)> =
        decade_starts(versions).map(|(head, q)| (urls::decade_stem(&head), q)).collect();
    requests
        .par_iter()
        .chain(decades.par_iter())
        .flat_map_iter(|(name, q)| {
            [false, true].map(|stable_only| {
                (
                    urls::site_document(name, stable_only),
                    xml::select_catalog(catalog, *q, stable_only),
                )
            })
        })
        .collect()
}

/// Adds plugins.xml documents given by their selections; the first path of each distinct
/// selection gets a deferred document, the others an alias to it.
fn add_documents(
    into: &mut BTreeMap<String, Content>,
    entries: &Arc<xml::Entries>,
    selections: Vec<(String, Vec<VersionId>)>,
) {
    let mut first_of: HashMap<Vec<VersionId>, String> = HashMap::new();
    for (path, ids) in selections {
        if let Some(first) = first_of.get(&ids) {
            into.insert(path, Content::Same(first.clone()));
            continue;
        }
        let key = entries.digest(&ids);
        first_of.insert(ids.clone(), path.clone());
        let entries = Arc::clone(entries);
        let make = Arc::new(move || entries.document(&ids).into_bytes());
        into.insert(path, Content::Deferred { key, make });
    }
}

fn render_plugin_tree(
    input: &RenderInput<'_>,
    p: &Plugin,
    versions: &[QgisVersion],
    requests: &[(String, QgisVersion)],
) -> Result<BTreeMap<String, Content>> {
    let mut tree: BTreeMap<String, Content> = BTreeMap::new();
    for (path, bytes) in pages::render_plugin_pages(input, p)? {
        tree.insert(path, Content::Bytes(bytes));
    }
    tree.insert(urls::TREE_JSON.into(), Content::Bytes(json::plugin_json(p)));
    for (path, bytes) in stats::plugin_stats(input, p)? {
        tree.insert(path, Content::Bytes(bytes));
    }
    tree.insert(urls::TREE_FEED.into(), Content::Bytes(feeds::plugin_feed(p, input.base_url)));
    add_version_files(&mut tree, input, p);
    if let Some(icon) = &p.icon {
        tree.insert(icon_file(icon), Content::Bytes(icon.bytes.clone()));
    }
    let named = &requests[versions.len()..];
    let selections = [false, true]
        .into_iter()
        .flat_map(|stable_only| {
            package_documents(p, versions, named, stable_only)
                .into_iter()
                .map(move |(stem, ids)| (urls::package_document_file(&stem, stable_only), ids))
        })
        .collect();
    add_documents(&mut tree, &Arc::new(xml::Entries::for_plugin(p, input.base_url)), selections);
    Ok(tree)
}

/// Each version's JSON and zip in its plugin's tree, and the latest version's aliases.
fn add_version_files(tree: &mut BTreeMap<String, Content>, input: &RenderInput<'_>, p: &Plugin) {
    for v in &p.versions {
        tree.insert(
            version_file(v, "json"),
            Content::Bytes(json::version_json(p, v, input.base_url)),
        );
        tree.insert(zip_file_name(p, v), Content::File(input.data_dir.join(&v.package_path)));
    }
    if let Some(latest) = p.latest() {
        tree.insert(urls::TREE_LATEST_JSON.into(), Content::Same(version_file(latest, "json")));
        tree.insert(urls::TREE_LATEST_HTML.into(), Content::Same(version_file(latest, "html")));
    }
}

/// The decade a version belongs to as nginx names it: the version text without its last
/// digit (`3.34` → `3.3`, `3.4` → `3.`), so nginx can derive it with a regex.
fn decade_head(v: QgisVersion) -> String {
    let label = v.minor_label();
    label[..label.len() - 1].to_owned()
}

/// Each decade of `versions` (ascending) with its first version.
fn decade_starts(versions: &[QgisVersion]) -> impl Iterator<Item = (String, QgisVersion)> + '_ {
    versions.iter().enumerate().filter_map(|(i, v)| {
        let head = decade_head(*v);
        (i == 0 || decade_head(versions[i - 1]) != head).then_some((head, *v))
    })
}

/// A plugin's own plugins.xml documents (`?package_name=`), as few files as nginx needs to
/// answer every version. nginx looks for `<version>.xml`, then walks down the versions of the
/// same decade (`3.34`, `3.33` … `3.30`), then `d-<decade>x.xml`; so a decade gets its first
/// version's document, and a version only where its selection differs from the previous
/// version's in the decade. Empty selections get no file (nginx ends at the site-wide
/// `plugins/xml/none/` markers), except a change to empty inside a decade, which must stop
/// the walk. Labels, `major-<M>` and `newest` get a file when not empty. Returns each
/// document's stem (`urls::package_document_file`) with what it lists.
fn package_documents(
    p: &Plugin,
    versions: &[QgisVersion],
    named: &[(String, QgisVersion)],
    stable_only: bool,
) -> Vec<(String, Vec<VersionId>)> {
    let mut out = Vec::new();
    let mut prev: Option<(String, Vec<VersionId>)> = None;
    for v in versions {
        let head = decade_head(*v);
        let ids = xml::select_package(p, *v, stable_only);
        let same_decade = prev.as_ref().is_some_and(|(h, _)| *h == head);
        let changed = prev.as_ref().is_none_or(|(_, before)| *before != ids);
        if same_decade && changed {
            out.push((v.minor_label(), ids.clone()));
        } else if !same_decade && !ids.is_empty() {
            out.push((urls::decade_stem(&head), ids.clone()));
        }
        prev = Some((head, ids));
    }
    for (name, q) in named {
        let ids = xml::select_package(p, *q, stable_only);
        if !ids.is_empty() {
            out.push((name.clone(), ids));
        }
    }
    out
}
