//! The generator: reads the catalog from SQLite, renders the whole static site in memory
//! (`render`), and publishes it atomically and incrementally into `site/` (`publish`).
//! The uploader links this crate for the schema (`db`), the identifier types (`names`) and
//! to trigger builds.
//!
//! Dependencies point one way (no module imports one that imports it back):
//!
//! ```text
//! lib (build) ──► render ──► plan ◄── publish ──► manifest ──► gzchunks
//!                   │  └──────────────────────────────┘ (memo_hash)
//!                   ├──► templates ──► escape
//!                   ├──► escape
//!                   └──► urls ◄── templates, manifest
//! render's children: pages, listings, feeds, stats, search, json, xml ──► input, links
//! (the leaves they share); none imports `render` itself or a sibling that imports it.
//! ```
//!
//! `urls` and `escape` are leaves; `plan` imports nothing of this crate; `manifest` only
//! `gzchunks` and `urls`.
//!
//! ```text
//! lib (build_live) ──► s3 ──► urls, manifest, publish (current_release)
//! ```
//!
//! `s3` publishes the current release to a bucket after the local publish; nothing but
//! `lib` (and `config`, for its settings type) imports it.

mod config;
pub mod demo;
mod escape;
mod fsutil;
mod gzchunks;
mod icons;
mod manifest;
mod plan;
pub mod publish;
pub mod render;
pub mod s3;
pub mod synth;
pub mod templates;
pub mod urls;
pub mod watch;

use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub use config::Config;

/// What one build did, with timings (a child build prints it for the upload service).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildReport {
    pub plugins: usize,
    pub files: usize,
    pub load_ms: u128,
    pub render_ms: u128,
    pub publish_ms: u128,
    pub publish: publish::PublishReport,
    /// The S3 publication (None without an S3 target).
    #[serde(default)]
    pub s3: Option<s3::S3Report>,
}

/// Loads the catalog and templates, renders everything, publishes.
pub fn build(config: &Config) -> Result<BuildReport> {
    let templates = templates::Templates::load(&config.templates_dir)?;
    build_with(config, &templates)
}

/// As `build`, with templates already loaded (the watcher keeps them).
pub fn build_with(config: &Config, templates: &templates::Templates) -> Result<BuildReport> {
    let report = build_live(config, templates)?;
    publish::collect_garbage(&config.site_dir)?;
    Ok(report)
}

/// Renders and publishes: when this returns, the new release is live, locally and (with an
/// S3 target) in the bucket. Old releases are left for `publish::collect_garbage`, so a
/// caller waiting for "live" does not wait for deletions.
pub fn build_live(config: &Config, templates: &templates::Templates) -> Result<BuildReport> {
    let mut report = build_local(config, templates)?;
    // Also when nothing was rendered: a previous build may have died mid-publication.
    if let Some(s3) = &config.s3 {
        let _lock = publish::lock(&config.site_dir)?;
        report.s3 = s3::publish(s3, &config.site_dir)?;
    }
    Ok(report)
}

/// Renders and publishes into the local site.
fn build_local(config: &Config, templates: &templates::Templates) -> Result<BuildReport> {
    let t0 = Instant::now();
    let conn = catalog::open(&config.data_dir)?;
    let mut catalog = catalog::public::load_catalog(&conn)?;
    drop(conn);
    // What the site publishes of each icon (SVG rasterised), before any digest is taken.
    icons::prepare_catalog(&mut catalog);
    // From here to the swap the site is ours: what we keep from the current release stays.
    let lock = publish::lock(&config.site_dir)?;
    let published = publish::published(&config.site_dir, &lock)?;
    let t1 = Instant::now();
    let input = render::RenderInput {
        catalog: &catalog,
        templates,
        base_url: &config.base_url,
        data_dir: &config.data_dir,
        now: chrono::Utc::now(),
        published: &published.files,
    };
    // Nothing changed since the published build: render nothing, write nothing.
    let tree_keys = render::tree_keys(&input);
    let fingerprint = render::site_fingerprint(&input, &tree_keys);
    if published.fingerprint.as_deref() == Some(fingerprint.as_str()) {
        let t2 = Instant::now();
        let release = publish::current_release(&config.site_dir)?
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        return Ok(BuildReport {
            plugins: catalog.plugins.len(),
            files: 0,
            load_ms: (t1 - t0).as_millis(),
            render_ms: (t2 - t1).as_millis(),
            publish_ms: 0,
            publish: publish::PublishReport { release, ..Default::default() },
            s3: None,
        });
    }
    let renderer = render::Renderer::new(&input, tree_keys);
    let plan = renderer.plan()?;
    let t2 = Instant::now();
    let publish = publish::publish(&plan, &config.site_dir, &renderer, &lock)?;
    let t3 = Instant::now();
    Ok(BuildReport {
        plugins: catalog.plugins.len(),
        files: plan.root.len() + publish.files_written + publish.files_linked,
        load_ms: (t1 - t0).as_millis(),
        render_ms: (t2 - t1).as_millis(),
        publish_ms: (t3 - t2).as_millis(),
        publish,
        s3: None,
    })
}

#[cfg(test)]
mod tests;
