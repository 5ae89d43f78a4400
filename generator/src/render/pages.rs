//! HTML pages rendered with tera: the home page, the "All plugins" listing, plugin pages and
//! version pages. Templates see borrowed view structs, never the model itself, so the model
//! can change without breaking templates.

use anyhow::{Context, Result};
use serde::Serialize;
use tera::Context as TeraContext;

use super::RenderInput;
use crate::model::{Plugin, Version};

#[derive(Serialize)]
struct PluginView<'a> {
    id: i64,
    package: &'a str,
    name: &'a str,
    url: String,
    description: &'a str,
    about: &'a str,
    author: &'a str,
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
struct TagView<'a> {
    name: &'a str,
    slug: &'a str,
}

#[derive(Serialize)]
struct VersionView<'a> {
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
    sha256: &'a str,
}

fn version_view<'a>(p: &'a Plugin, v: &'a Version) -> VersionView<'a> {
    let url = format!("/plugins/{}/version/{}/", p.package, v.version);
    VersionView {
        version: v.version.as_str(),
        download_url: format!("{url}download/"),
        url,
        experimental: v.experimental,
        min_qgis: v.min_qgis.display3(),
        max_qgis: v.max_qgis.display3(),
        changelog: &v.changelog,
        external_deps: &v.external_deps,
        downloads: v.downloads,
        uploaded_by: v.uploaded_by.as_deref(),
        date: v.created_on.format("%Y-%m-%d").to_string(),
        size: v.package_size,
        sha256: &v.package_sha256,
    }
}

fn plugin_view(p: &Plugin) -> PluginView<'_> {
    PluginView {
        id: p.id,
        package: p.package.as_str(),
        name: &p.name,
        url: format!("/plugins/{}/", p.package),
        description: &p.description,
        about: &p.about,
        author: &p.author,
        homepage: p.homepage.as_deref().filter(|s| !s.is_empty()),
        repository: p.repository.as_deref().filter(|s| !s.is_empty()),
        tracker: p.tracker.as_deref().filter(|s| !s.is_empty()),
        tags: p.tags.iter().map(|t| TagView { name: &t.name, slug: &t.slug }).collect(),
        owners: &p.owners,
        maintainer: &p.maintainer,
        creator: p.display_created_by.then_some(p.creator.as_str()),
        downloads: p.downloads,
        deprecated: p.deprecated,
        server: p.server,
        is_deleted: p.is_deleted,
        qgis4_ready: p.qgis4_ready(),
        icon: p.icon.as_ref().map(|i| super::icon_path(p, i)),
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

fn render(input: &RenderInput<'_>, template: &str, ctx: &TeraContext) -> Result<Vec<u8>> {
    let mut ctx = ctx.clone();
    ctx.insert("base_url", input.base_url);
    input
        .templates
        .tera
        .render(template, &ctx)
        .map(String::into_bytes)
        .with_context(|| format!("failed to render template `{template}`"))
}

/// Site-wide pages: home and the "All plugins" listing.
pub fn render_site_pages(input: &RenderInput<'_>) -> Result<Vec<(String, Vec<u8>)>> {
    let catalog = input.catalog;
    let mut by_name: Vec<&Plugin> = catalog.plugins.iter().collect();
    by_name.sort_by_key(|p| p.name.to_lowercase());
    let all: Vec<PluginView<'_>> = by_name.iter().map(|p| plugin_view(p)).collect();

    let mut updated: Vec<&Plugin> = catalog.plugins.iter().filter(|p| !p.deprecated).collect();
    updated.sort_by_key(|p| std::cmp::Reverse(p.latest_version_date()));
    let mut popular: Vec<&Plugin> = catalog.plugins.iter().filter(|p| !p.deprecated).collect();
    popular.sort_by(|a, b| b.popularity().total_cmp(&a.popularity()));

    let mut ctx = TeraContext::new();
    ctx.insert("plugins", &all);
    ctx.insert("count", &all.len());
    let list = render(input, "plugins.html", &ctx)?;

    let mut ctx = TeraContext::new();
    ctx.insert("updated", &updated.iter().take(5).map(|p| plugin_view(p)).collect::<Vec<_>>());
    ctx.insert("popular", &popular.iter().take(5).map(|p| plugin_view(p)).collect::<Vec<_>>());
    ctx.insert("count", &all.len());
    let home = render(input, "index.html", &ctx)?;
    Ok(vec![("index.html".into(), home), ("plugins/index.html".into(), list)])
}

/// A plugin's own pages, relative to `plugins/<pkg>/`.
pub fn render_plugin_pages(input: &RenderInput<'_>, p: &Plugin) -> Result<Vec<(String, Vec<u8>)>> {
    let view = plugin_view(p);
    let mut out = Vec::with_capacity(1 + p.versions.len());
    let mut ctx = TeraContext::new();
    ctx.insert("plugin", &view);
    out.push(("index.html".into(), render(input, "plugin.html", &ctx)?));
    for v in &p.versions {
        ctx.insert("version", &version_view(p, v));
        out.push((
            format!("version/{}/index.html", v.version),
            render(input, "version.html", &ctx)?,
        ));
    }
    Ok(out)
}
