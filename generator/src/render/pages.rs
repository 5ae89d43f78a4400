//! A plugin's own HTML pages (plugin page, version pages) rendered with tera. Templates see borrowed view structs, never the model itself, so the model
//! can change without breaking templates.

use anyhow::Result;
use serde::Serialize;
use tera::Context as TeraContext;

use super::input::{RenderInput, render};
use super::links::{icon_url, plugin_page, version_download, version_file, version_page};
use crate::urls;
use catalog::ids::PluginId;
use catalog::model::{Plugin, Version};

#[derive(Serialize)]
pub(super) struct PluginView<'a> {
    id: PluginId,
    package: &'a str,
    name: &'a str,
    url: String,
    description: &'a str,
    about: &'a str,
    author: &'a str,
    author_url: Option<String>,
    homepage: Option<&'a str>,
    repository: Option<&'a str>,
    tracker: Option<&'a str>,
    tags: Vec<TagView<'a>>,
    owners: &'a [String],
    maintainer: &'a str,
    creator: Option<&'a str>,
    downloads: i64,
    deprecated: bool,
    server: bool,
    is_deleted: bool,
    qgis4_ready: bool,
    icon: Option<String>,
    created_on: String,
    latest_date: String,
    stable: Option<VersionView<'a>>,
    experimental: Option<VersionView<'a>>,
    versions: Vec<VersionView<'a>>,
    rating_votes: i64,
    average_vote: String,
}

#[derive(Serialize)]
struct SlimPlugin<'a> {
    name: &'a str,
    url: &'a str,
    description: &'a str,
}

#[derive(Serialize)]
pub(super) struct TagView<'a> {
    name: &'a str,
    slug: &'a str,
    url: String,
}

#[derive(Serialize)]
pub(super) struct VersionView<'a> {
    version: &'a str,
    url: String,
    download_url: String,
    experimental: bool,
    min_qgis: String,
    max_qgis: String,
    changelog: &'a str,
    external_deps: &'a str,
    downloads: i64,
    uploaded_by: Option<&'a str>,
    date: String,
    size: i64,
    size_text: String,
    sha256: &'a str,
    /// The scan finished `validated` (public pages show only this, not the findings).
    checked: bool,
    qgis4_ready: bool,
}

pub(super) fn version_view<'a>(p: &'a Plugin, v: &'a Version) -> VersionView<'a> {
    VersionView {
        version: v.version.as_str(),
        url: version_page(p, v),
        download_url: version_download(p, v),
        experimental: v.experimental,
        min_qgis: v.min_qgis.display3(),
        max_qgis: v.max_qgis.display3(),
        changelog: &v.changelog,
        external_deps: &v.external_deps,
        downloads: v.downloads,
        uploaded_by: v.uploaded_by.as_deref(),
        date: v.created_on.format("%Y-%m-%d").to_string(),
        size: v.package_size,
        size_text: human_size(v.package_size),
        sha256: &v.package_sha256,
        checked: v.checked,
        qgis4_ready: v.qgis4_ready(),
    }
}

pub(super) fn plugin_view(p: &Plugin) -> PluginView<'_> {
    PluginView {
        id: p.id,
        package: p.package.as_str(),
        name: &p.name,
        url: plugin_page(p),
        description: &p.description,
        about: &p.about,
        author: &p.author,
        author_url: urls::author_page(&p.author),
        homepage: web_url(p.homepage.as_deref()),
        repository: web_url(p.repository.as_deref()),
        tracker: web_url(p.tracker.as_deref()),
        tags: p
            .tags
            .iter()
            .map(|t| TagView { name: &t.name, slug: &t.slug, url: urls::tag_page(&t.slug) })
            .collect(),
        owners: &p.owners,
        maintainer: &p.maintainer,
        creator: p.display_created_by.then_some(p.creator.as_str()),
        downloads: p.downloads,
        deprecated: p.deprecated,
        server: p.server,
        is_deleted: p.is_deleted,
        qgis4_ready: p.qgis4_ready(),
        icon: p.icon.as_ref().map(|i| icon_url(p, i)),
        created_on: p.created_on.format("%Y-%m-%d").to_string(),
        latest_date: p
            .latest_version_date()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        stable: p.stable().map(|v| version_view(p, v)),
        experimental: p.experimental().map(|v| version_view(p, v)),
        versions: p.versions.iter().map(|v| version_view(p, v)).collect(),
        rating_votes: p.rating_votes,
        average_vote: format!("{:.1}", p.average_vote()),
    }
}

/// A plugin's own pages, relative to `plugins/<pkg>/`.
pub(super) fn render_plugin_pages(
    input: &RenderInput<'_>,
    p: &Plugin,
) -> Result<Vec<(String, Vec<u8>)>> {
    let view = plugin_view(p);
    let mut out = Vec::with_capacity(1 + p.versions.len());
    let mut ctx = TeraContext::new();
    ctx.insert("plugin", &view);
    out.push((urls::TREE_INDEX.into(), render(input, "plugin.html", &ctx)?));
    // Version pages need only a few plugin fields: a slim context keeps a plugin with many
    // versions from costing versions² serialization.
    let mut ctx = TeraContext::new();
    ctx.insert(
        "plugin",
        &SlimPlugin { name: &p.name, url: &view.url, description: &p.description },
    );
    for v in &p.versions {
        ctx.insert("version", &version_view(p, v));
        out.push((version_file(v, "html"), render(input, "version.html", &ctx)?));
    }
    Ok(out)
}

/// `12.3 kB`-style sizes (decimal units, as file managers show them).
fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b < 1000.0 {
        format!("{bytes} bytes")
    } else if b < 1_000_000.0 {
        format!("{:.1} kB", b / 1000.0)
    } else {
        format!("{:.1} MB", b / 1_000_000.0)
    }
}

/// Only http(s) URLs become links: a `javascript:` URL must never reach an `href`, whatever
/// the catalog holds (the validator refuses them too).
fn web_url(url: Option<&str>) -> Option<&str> {
    url.filter(|u| {
        let lower = u.trim_start().to_ascii_lowercase();
        lower.starts_with("https://") || lower.starts_with("http://")
    })
}
