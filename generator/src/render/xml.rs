//! plugins.xml, byte-compatible with plugins.qgis.org (reference §4.4, decisions §3): one
//! document per QGIS version and variant, and per-plugin documents for `package_name`.
//!
//! Each version's `<pyqgis_plugin>` entry does not depend on the requested QGIS version, so
//! it is rendered once and documents are concatenations of entries.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::escape::esc;
use catalog::ids::VersionId;
use catalog::model::{Catalog, Plugin, Version};
use catalog::names::QgisVersion;

/// Exact first bytes of every document (declaration with spaces and single quotes, then
/// the stylesheet instruction), as the reference writes them.
pub const XML_PREFIX: &str = "<?xml version = '1.0' encoding = 'UTF-8'?>\n<?xml-stylesheet type=\"text/xsl\" href=\"/static/style/plugins.xsl\" ?>\n<plugins>\n    ";
const XML_SUFFIX: &str = "\n</plugins>\n";

/// Every QGIS version a plugins.xml is generated for: each minor of each major from the
/// oldest configured version up to the highest configured minor of that major (minor 99
/// only where configured), so odd development minors and every release are covered.
pub fn expand_versions(configured: &[QgisVersion]) -> Vec<QgisVersion> {
    let mut out: Vec<QgisVersion> = Vec::new();
    let Some(oldest) = configured.iter().min().copied() else { return out };
    let newest_major = configured.iter().map(|v| v.major).max().unwrap_or(oldest.major);
    for major in oldest.major..=newest_major {
        let in_major: Vec<u16> =
            configured.iter().filter(|v| v.major == major).map(|v| v.minor).collect();
        let top = in_major.iter().copied().filter(|m| *m < 99).max();
        let start = if major == oldest.major { oldest.minor.min(top.unwrap_or(0)) } else { 0 };
        if let Some(top) = top {
            out.extend((start..=top).map(|m| QgisVersion::new(major, m)));
        }
        out.extend(in_major.iter().filter(|m| **m >= 99).map(|m| QgisVersion::new(major, *m)));
    }
    out.sort();
    out.dedup();
    out
}

/// Pre-rendered `<pyqgis_plugin>` entries with a short digest each, keyed by version id.
pub struct Entries {
    by_version: HashMap<VersionId, (String, String)>,
}

impl Entries {
    /// Every version of the catalog.
    pub fn new(catalog: &Catalog, base_url: &str) -> Self {
        Self::where_id(catalog, base_url, |_| true)
    }

    /// The versions whose id passes `keep` (a build renders only the entries its documents
    /// list: the site-wide ones need ~1 version per plugin of ~10), on every core.
    pub fn where_id(
        catalog: &Catalog,
        base_url: &str,
        keep: impl Fn(VersionId) -> bool + Sync,
    ) -> Self {
        use rayon::prelude::*;
        let by_version = catalog
            .plugins
            .par_iter()
            .flat_map_iter(|p| p.versions.iter().filter(|v| keep(v.id)).map(move |v| (p, v)))
            .map(|(p, v)| (v.id, Self::render(p, v, base_url)))
            .collect();
        Self { by_version }
    }

    /// Every version of one plugin (its own `package_name` documents).
    pub fn for_plugin(p: &Plugin, base_url: &str) -> Self {
        let by_version = p.versions.iter().map(|v| (v.id, Self::render(p, v, base_url))).collect();
        Self { by_version }
    }

    fn render(p: &Plugin, v: &Version, base_url: &str) -> (String, String) {
        let text = entry(p, v, base_url);
        let digest = catalog::hash::short_hash(text.as_bytes());
        (text, digest)
    }

    fn text(&self, id: VersionId) -> &str {
        self.by_version.get(&id).map(|e| e.0.as_str()).unwrap_or_default()
    }

    /// A digest of the document made of these entries: equal digests, equal bytes.
    pub fn digest(&self, ids: &[VersionId]) -> String {
        let mut all = String::with_capacity(ids.len() * 11);
        for id in ids {
            all.push_str(self.by_version.get(id).map(|e| e.1.as_str()).unwrap_or("-"));
            all.push(',');
        }
        catalog::hash::sha256_hex(all.as_bytes())[..32].to_owned()
    }

    /// The document made of these entries, in this order.
    pub fn document(&self, ids: &[VersionId]) -> String {
        let parts: Vec<&str> = ids.iter().map(|id| self.text(*id)).collect();
        document(&parts)
    }
}

/// The versions listed for `?qgis=q`: every plugin's newest compatible stable version,
/// then (unless `stable_only`) every plugin's newest compatible experimental version, each
/// group in plugin id order (reference §4.2, §4.6).
pub fn select_catalog(catalog: &Catalog, q: QgisVersion, stable_only: bool) -> Vec<VersionId> {
    fn newest(p: &Plugin, q: QgisVersion, exp: bool) -> Option<&Version> {
        p.versions.iter().find(|v| v.experimental == exp && q.is_within(v.min_qgis, v.max_qgis))
    }
    let mut ids: Vec<VersionId> =
        catalog.plugins.iter().filter_map(|p| newest(p, q, false)).map(|v| v.id).collect();
    if !stable_only {
        ids.extend(catalog.plugins.iter().filter_map(|p| newest(p, q, true)).map(|v| v.id));
    }
    ids
}

/// The versions of the `package_name` document: all compatible approved versions of one
/// plugin, stable ones (highest first) then experimental ones (reference §4.1).
pub fn select_package(plugin: &Plugin, q: QgisVersion, stable_only: bool) -> Vec<VersionId> {
    let compatible = |exp: bool| {
        plugin
            .versions
            .iter()
            .filter(move |v| v.experimental == exp && q.is_within(v.min_qgis, v.max_qgis))
            .map(|v| v.id)
    };
    let mut ids: Vec<VersionId> = compatible(false).collect();
    if !stable_only {
        ids.extend(compatible(true));
    }
    ids
}

/// The document QGIS gets for `?qgis=q`.
pub fn render_catalog(
    catalog: &Catalog,
    entries: &Entries,
    q: QgisVersion,
    stable_only: bool,
) -> String {
    entries.document(&select_catalog(catalog, q, stable_only))
}

/// The `package_name` document of one plugin.
pub fn render_package(
    plugin: &Plugin,
    entries: &Entries,
    q: QgisVersion,
    stable_only: bool,
) -> String {
    entries.document(&select_package(plugin, q, stable_only))
}

/// An empty but valid document, served for unknown packages.
pub fn render_empty() -> String {
    document(&[])
}

fn document(parts: &[&str]) -> String {
    let len = parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = String::with_capacity(XML_PREFIX.len() + len + XML_SUFFIX.len());
    out.push_str(XML_PREFIX);
    for p in parts {
        out.push_str(p);
    }
    out.push_str(XML_SUFFIX);
    out
}

fn entry(p: &Plugin, v: &Version, base_url: &str) -> String {
    let pkg = p.package.as_str();
    let ver = v.version.as_str();
    let plugin_url = format!("{base_url}{}", crate::urls::plugin_page(pkg));
    let homepage = p.homepage.as_deref().filter(|h| !h.is_empty()).unwrap_or(&plugin_url);
    let icon = p
        .icon
        .as_ref()
        .map(|i| format!("{base_url}{}", super::links::icon_url(p, i)))
        .unwrap_or_default();
    let author = if p.author.is_empty() { p.creator.as_str() } else { p.author.as_str() };
    let tags = p.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(",");
    let mut s = String::with_capacity(2048 + p.about.len() + p.description.len());
    let _ = writeln!(
        s,
        "<pyqgis_plugin name=\"{}\" version=\"{}\" plugin_id=\"{}\">",
        esc(&p.name),
        esc(ver),
        p.id
    );
    let _ = writeln!(s, "        <description><![CDATA[{}]]></description>", esc(&p.description));
    if p.about.is_empty() {
        s.push_str("        <about></about>\n");
    } else {
        let _ = writeln!(s, "        <about><![CDATA[{}]]></about>", esc(&p.about));
    }
    let _ = writeln!(s, "        <trusted>{}</trusted>", py_bool(v.uploader_trusted));
    let _ = writeln!(
        s,
        "        <qgis_minimum_version>{}</qgis_minimum_version>",
        v.min_qgis.display3()
    );
    let _ = writeln!(
        s,
        "        <qgis_maximum_version>{}</qgis_maximum_version>",
        v.max_qgis.display3()
    );
    let _ = writeln!(s, "        <homepage><![CDATA[{}]]></homepage>", esc(homepage));
    let _ = writeln!(
        s,
        "        <file_name>{}</file_name>",
        esc(&crate::urls::zip_file_name(pkg, ver))
    );
    let _ = writeln!(s, "        <icon>{}</icon>", esc(&icon));
    let _ = writeln!(s, "        <author_name><![CDATA[{}]]></author_name>", esc(author));
    let _ = writeln!(
        s,
        "        <download_url>{}</download_url>",
        esc(&format!("{base_url}{}", crate::urls::version_download(pkg, ver)))
    );
    let _ = writeln!(
        s,
        "        <uploaded_by><![CDATA[{}]]></uploaded_by>",
        esc(v.uploaded_by.as_deref().unwrap_or("None"))
    );
    let _ = writeln!(s, "        <create_date>{}</create_date>", py_datetime(p.created_on));
    let _ = writeln!(s, "        <update_date>{}</update_date>", py_datetime(v.created_on));
    let _ = writeln!(s, "        <experimental>{}</experimental>", py_bool(v.experimental));
    let _ = writeln!(s, "        <deprecated>{}</deprecated>", py_bool(p.deprecated));
    let _ = writeln!(
        s,
        "        <tracker><![CDATA[{}]]></tracker>",
        esc(p.tracker.as_deref().unwrap_or("None"))
    );
    let _ = writeln!(
        s,
        "        <repository><![CDATA[{}]]></repository>",
        esc(p.repository.as_deref().unwrap_or("None"))
    );
    let _ = writeln!(s, "        <tags><![CDATA[{}]]></tags>", esc(&tags));
    let _ = writeln!(s, "        <downloads>{}</downloads>", p.downloads);
    let _ = writeln!(s, "        <average_vote>{}</average_vote>", py_float(p.average_vote()));
    let _ = writeln!(s, "        <rating_votes>{}</rating_votes>", p.rating_votes);
    let _ = writeln!(
        s,
        "        <external_dependencies>{}</external_dependencies>",
        esc(&v.external_deps)
    );
    let _ = write!(s, "        <server>{}</server>\n    </pyqgis_plugin>", py_bool(p.server));
    s
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Python's `datetime.isoformat()` of a UTC time: microseconds only when non-zero.
pub fn py_datetime(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// Python's `repr(float)` for the values we print (`0.0`, `4.349130...`).
fn py_float(f: f64) -> String {
    let s = format!("{f}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests;
