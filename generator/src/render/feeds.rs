//! Atom feeds (the reference has none): new plugins, updated plugins, one per tag and one per
//! plugin listing its versions. Text is escaped for XML; links are absolute.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::links::{plugin_page, version_page};
use crate::escape::esc;
use crate::urls;
use catalog::model::{Catalog, Plugin, Version};

/// Entries per feed.
pub(super) const FEED_LEN: usize = 50;

struct Entry {
    title: String,
    url: String,
    updated: DateTime<Utc>,
    summary: String,
    author: String,
}

fn atom(base_url: &str, path: &str, title: &str, entries: &[Entry]) -> Vec<u8> {
    let self_url = format!("{base_url}{path}");
    let updated = entries.iter().map(|e| e.updated).max().unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(s, "  <title>{}</title>", esc(title));
    let _ = writeln!(s, "  <id>{}</id>", esc(&self_url));
    let _ = writeln!(s, "  <link rel=\"self\" href=\"{}\"/>", esc(&self_url));
    let _ = writeln!(s, "  <link href=\"{}/\"/>", esc(base_url));
    let _ =
        writeln!(s, "  <updated>{}</updated>", updated.to_rfc3339_opts(SecondsFormat::Secs, true));
    s.push_str("  <generator>QGIS plugin repository</generator>\n");
    for e in entries {
        s.push_str("  <entry>\n");
        let _ = writeln!(s, "    <title>{}</title>", esc(&e.title));
        let _ = writeln!(s, "    <id>{}</id>", esc(&e.url));
        let _ = writeln!(s, "    <link href=\"{}\"/>", esc(&e.url));
        let _ = writeln!(
            s,
            "    <updated>{}</updated>",
            e.updated.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let _ = writeln!(s, "    <author><name>{}</name></author>", esc(&e.author));
        let _ = writeln!(s, "    <summary>{}</summary>", esc(&e.summary));
        s.push_str("  </entry>\n");
    }
    s.push_str("</feed>\n");
    s.into_bytes()
}

fn plugin_entry(base_url: &str, p: &Plugin, when: DateTime<Utc>) -> Entry {
    let version = p.stable().or(p.latest()).map(|v| v.version.as_str()).unwrap_or_default();
    Entry {
        title: format!("{} {version}", p.name),
        url: format!("{base_url}{}", plugin_page(p)),
        updated: when,
        summary: p.description.clone(),
        author: p.author.clone(),
    }
}

fn version_entry(base_url: &str, p: &Plugin, v: &Version) -> Entry {
    let kind = if v.experimental { " (experimental)" } else { "" };
    Entry {
        title: format!("{} {}{kind}", p.name, v.version),
        url: format!("{base_url}{}", version_page(p, v)),
        updated: v.created_on,
        summary: if v.changelog.is_empty() { p.description.clone() } else { v.changelog.clone() },
        author: p.author.clone(),
    }
}

/// Site-wide feeds: `plugins/feeds/new.xml`, `plugins/feeds/updated.xml` and one per tag.
pub(super) fn site_feeds(catalog: &Catalog, base_url: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut fresh: Vec<&Plugin> = catalog.plugins.iter().filter(|p| !p.deprecated).collect();
    fresh.sort_by_key(|p| (std::cmp::Reverse(p.created_on), p.id));
    let entries: Vec<Entry> =
        fresh.iter().take(FEED_LEN).map(|p| plugin_entry(base_url, p, p.created_on)).collect();
    let path = urls::NEW_FEED;
    out.push((urls::file_of(path), atom(base_url, path, "New QGIS plugins", &entries)));

    let mut versions: Vec<(&Plugin, &Version)> = catalog
        .plugins
        .iter()
        .filter(|p| !p.deprecated)
        .flat_map(|p| p.versions.iter().map(move |v| (p, v)))
        .collect();
    versions.sort_by_key(|(p, v)| (std::cmp::Reverse(v.created_on), p.id, v.id));
    let entries: Vec<Entry> =
        versions.iter().take(FEED_LEN).map(|(p, v)| version_entry(base_url, p, v)).collect();
    let path = urls::UPDATED_FEED;
    out.push((urls::file_of(path), atom(base_url, path, "Updated QGIS plugins", &entries)));

    let mut by_tag: std::collections::BTreeMap<&str, (&str, Vec<&Plugin>)> = Default::default();
    for p in &catalog.plugins {
        for t in &p.tags {
            by_tag.entry(&t.slug).or_insert_with(|| (&t.name, Vec::new())).1.push(p);
        }
    }
    for (slug, (name, mut list)) in by_tag {
        list.sort_by_key(|p| (std::cmp::Reverse(p.latest_version_date()), p.id));
        let entries: Vec<Entry> = list
            .iter()
            .take(FEED_LEN)
            .map(|p| plugin_entry(base_url, p, p.latest_version_date().unwrap_or(p.created_on)))
            .collect();
        let title = format!("QGIS plugins tagged {name}");
        out.push((
            urls::tag_feed_file(slug),
            atom(base_url, &urls::tag_feed(slug), &title, &entries),
        ));
    }
    out
}

/// A plugin's versions feed, relative to its tree (`feed.xml`).
pub(super) fn plugin_feed(p: &Plugin, base_url: &str) -> Vec<u8> {
    let mut versions: Vec<&Version> = p.versions.iter().collect();
    versions.sort_by_key(|v| (std::cmp::Reverse(v.created_on), v.id));
    let entries: Vec<Entry> =
        versions.iter().take(FEED_LEN).map(|v| version_entry(base_url, p, v)).collect();
    let path = urls::plugin_feed(p.package.as_str());
    atom(base_url, &path, &format!("{} versions", p.name), &entries)
}
