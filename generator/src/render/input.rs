//! What every renderer of `render` shares: the [`RenderInput`] of a build, and rendering a
//! tera template from it, memoised against the current release (a page whose input digest
//! is the one the release recorded is kept, not rendered). A leaf of `render`: its siblings
//! import it, it imports none of them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use tera::Context as TeraContext;

use crate::plan::Content;
use crate::templates::Templates;
use catalog::model::Catalog;

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
    /// Content hashes of the published site-wide files (`publish::published_files`): a page
    /// whose digest is among them is kept, not rendered again.
    pub published: &'a BTreeMap<String, String>,
}

/// Renders `template` with `ctx` and the base URL.
pub(super) fn render(
    input: &RenderInput<'_>,
    template: &str,
    ctx: &TeraContext,
) -> Result<Vec<u8>> {
    let mut ctx = ctx.clone();
    ctx.insert("base_url", input.base_url);
    input
        .templates
        .tera
        .render(template, &ctx)
        .map(String::into_bytes)
        .with_context(|| format!("failed to render template `{template}`"))
}

/// A site-wide page at `path` whose inputs have the digest `key`: kept from the current
/// release when it holds this page from the same digest, else rendered by `make`.
pub(super) fn memo(
    input: &RenderInput<'_>,
    path: String,
    key: String,
    make: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<(String, Content)> {
    if input.published.get(&path).is_some_and(|h| *h == crate::manifest::memo_hash(&key)) {
        return Ok((path, Content::Memo { key, bytes: None }));
    }
    let bytes = make()?;
    Ok((path, Content::Memo { key, bytes: Some(bytes) }))
}

/// `memo` for a page whose digest is that of its whole context (pages rendered once).
pub(super) fn render_memo(
    input: &RenderInput<'_>,
    path: String,
    template: &str,
    ctx: &TeraContext,
) -> Result<(String, Content)> {
    let key = catalog::hash::fingerprint(&(
        template,
        &input.templates.fingerprint,
        input.base_url,
        ctx.clone().into_json(),
    ));
    memo(input, path, key, || render(input, template, ctx))
}
