//! Loads the tera templates and static assets from the templates directory. Assets under
//! `static/` get a content hash in their published name (long caching); templates refer to
//! them with `{{ asset(path="css/site.css") }}`. The XSL stylesheet and its CSS keep their
//! fixed URLs because plugins.xml names them.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use tera::Tera;
use walkdir::WalkDir;

/// Compiled templates and the static files to publish.
pub struct Templates {
    pub tera: Tera,
    statics: Vec<(String, Vec<u8>)>,
    /// Digest of every template and asset: a change re-renders every page.
    pub fingerprint: String,
}

/// Static files published under their own name, not a hashed one.
const FIXED_NAMES: &[&str] =
    &["style/plugins.xsl", "style/plugins.css", "robots.txt", "favicon.ico"];

impl Templates {
    /// Loads `<dir>/**/*.html` as templates and `<dir>/static/**` as assets.
    pub fn load(dir: &Path) -> Result<Self> {
        let glob = format!("{}/**/*.html", dir.display());
        let mut tera = Tera::new(&glob)
            .with_context(|| format!("failed to load templates from `{}`", dir.display()))?;
        tera.autoescape_on(vec![".html"]);
        tera.set_escape_fn(escape_html);
        tera.register_filter("thousands", thousands);

        let mut sources: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in WalkDir::new(dir).sort_by_file_name() {
            let entry = entry.with_context(|| format!("failed to list `{}`", dir.display()))?;
            if entry.file_type().is_file() {
                let bytes = std::fs::read(entry.path())
                    .with_context(|| format!("failed to read `{}`", entry.path().display()))?;
                sources.push((entry.path().to_string_lossy().into_owned(), bytes));
            }
        }
        let fingerprint = catalog::hash::fingerprint(
            &sources
                .iter()
                .map(|(p, b)| (p.as_str(), catalog::hash::sha256_hex(b)))
                .collect::<Vec<_>>(),
        );
        let mut statics = Vec::new();
        let mut urls = HashMap::new();
        let static_dir = dir.join("static");
        if static_dir.is_dir() {
            for entry in WalkDir::new(&static_dir).sort_by_file_name() {
                let entry =
                    entry.with_context(|| format!("failed to list `{}`", static_dir.display()))?;
                if !entry.file_type().is_file() {
                    continue;
                }
                let rel =
                    entry.path().strip_prefix(&static_dir)?.to_string_lossy().replace('\\', "/");
                let bytes = std::fs::read(entry.path())
                    .with_context(|| format!("failed to read `{}`", entry.path().display()))?;
                let published = if FIXED_NAMES.contains(&rel.as_str()) {
                    rel.clone()
                } else {
                    hashed_name(&rel, &bytes)
                };
                urls.insert(rel, crate::urls::static_asset(&published));
                statics.push((crate::urls::static_file(&published), bytes));
            }
        }
        tera.register_function("asset", move |args: &HashMap<String, tera::Value>| {
            let path = args.get("path").and_then(|v| v.as_str()).ok_or("asset() needs path=")?;
            urls.get(path)
                .map(|u| tera::Value::String(u.clone()))
                .ok_or_else(|| format!("no static asset `{path}` in templates/static").into())
        });
        Ok(Self { tera, statics, fingerprint })
    }

    /// The static files to publish, as (site path, bytes).
    pub fn static_files(&self) -> &[(String, Vec<u8>)] {
        &self.statics
    }
}

fn hashed_name(rel: &str, bytes: &[u8]) -> String {
    let hash = catalog::hash::short_hash(bytes);
    match rel.rsplit_once('.') {
        Some((stem, ext)) if !stem.ends_with('/') => format!("{stem}-{hash}.{ext}"),
        _ => format!("{rel}-{hash}"),
    }
}

/// Django's escaping (`& < > " '`); unlike tera's default it leaves `/` alone so URLs stay
/// readable. Used for every value that reaches HTML.
pub fn escape_html(s: &str) -> String {
    // The same escaper as plugins.xml (it also drops characters XML cannot carry, which no
    // page needs either).
    crate::escape::esc(s)
}

/// `12345` → `12,345` (the reference shows downloads with thousands separators).
fn thousands(value: &tera::Value, _: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let n = value.as_i64().ok_or("thousands: expected an integer")?;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    Ok(tera::Value::String(if n < 0 { format!("-{out}") } else { out }))
}
