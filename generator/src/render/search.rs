//! The search index: one static JSON file (`search/index.json`) over every plugin's name,
//! package name, description, tags and author, ordered by downloads; the search page
//! queries it in the browser as the user types.

use serde::Serialize;

use catalog::ids::PluginId;
use catalog::model::Catalog;

#[derive(Serialize)]
struct Doc<'a> {
    /// Name.
    n: &'a str,
    /// Package name.
    p: &'a str,
    /// Short description.
    d: &'a str,
    /// Tags.
    t: Vec<&'a str>,
    /// Author.
    a: &'a str,
    /// Downloads.
    c: i64,
    /// Icon URL, if any.
    i: Option<String>,
    /// Latest stable (or experimental) version.
    v: Option<&'a str>,
}

/// `search/index.json`, most downloaded first.
pub(super) fn search_index(catalog: &Catalog) -> Vec<u8> {
    let mut docs: Vec<(PluginId, Doc<'_>)> = catalog
        .plugins
        .iter()
        .map(|p| {
            let doc = Doc {
                n: &p.name,
                p: p.package.as_str(),
                d: &p.description,
                t: p.tags.iter().map(|t| t.name.as_str()).collect(),
                a: &p.author,
                c: p.downloads,
                i: p.icon.as_ref().map(|i| super::links::icon_url(p, i)),
                v: p.stable().or(p.latest()).map(|v| v.version.as_str()),
            };
            (p.id, doc)
        })
        .collect();
    docs.sort_by_key(|(id, d)| (std::cmp::Reverse(d.c), *id));
    let docs: Vec<Doc<'_>> = docs.into_iter().map(|(_, d)| d).collect();
    serde_json::to_vec(&docs).unwrap_or_else(|_| b"[]".to_vec())
}
