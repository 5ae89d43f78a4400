//! Tags: the tag table, a plugin's and a version's tag lists, and slugs.
//! Callers own the transaction.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::hash::short_hash;
use crate::ids::{PluginId, VersionId};
use crate::metadata::newest_approved_version;
use crate::plugins::bump_revision;

/// Sets a plugin's current tags directly: its mirror (`plugin_tags`) and the tags of its
/// newest approved version, so the public site shows them. For seeders, tests and a new
/// plugin's first upload; uploads of existing plugins tag their version instead
/// (`insert_version_with_metadata`). `names` are already cleaned (trimmed, lower-case).
pub fn set_tags(conn: &Connection, plugin_id: PluginId, names: &[String]) -> Result<()> {
    conn.execute("DELETE FROM plugin_tags WHERE plugin_id = ?1", [plugin_id])?;
    for (pos, tag_id) in tag_ids(conn, names)?.into_iter().enumerate() {
        conn.execute(
            "INSERT OR IGNORE INTO plugin_tags (plugin_id, tag_id, position) VALUES (?1, ?2, ?3)",
            params![plugin_id, tag_id, pos as i64],
        )
        .with_context(|| format!("failed to tag plugin {plugin_id}"))?;
    }
    if let Some(version_id) = newest_approved_version(conn, plugin_id)? {
        set_version_tags(conn, version_id, names)?;
    }
    bump_revision(conn, plugin_id)
}

/// Replaces a version's tags with `names` (cleaned), creating missing tags.
pub fn set_version_tags(conn: &Connection, version_id: VersionId, names: &[String]) -> Result<()> {
    conn.execute("DELETE FROM version_tags WHERE version_id = ?1", [version_id])?;
    for (pos, tag_id) in tag_ids(conn, names)?.into_iter().enumerate() {
        conn.execute(
            "INSERT OR IGNORE INTO version_tags (version_id, tag_id, position)
             VALUES (?1, ?2, ?3)",
            params![version_id, tag_id, pos as i64],
        )
        .with_context(|| format!("failed to tag version {version_id}"))?;
    }
    Ok(())
}

/// The ids of tags `names`, in order, creating the missing ones.
fn tag_ids(conn: &Connection, names: &[String]) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let existing: Option<i64> = conn
            .query_row("SELECT id FROM tags WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            ids.push(id);
            continue;
        }
        // Two names can share a slug ("a b", "a-b"); the later one gets a distinct suffix.
        let mut slug = slugify(name);
        let taken: bool =
            conn.query_row("SELECT EXISTS (SELECT 1 FROM tags WHERE slug = ?1)", [&slug], |r| {
                r.get(0)
            })?;
        if taken {
            slug = format!("{slug}-{}", short_hash(name.as_bytes()));
        }
        conn.execute("INSERT INTO tags (name, slug) VALUES (?1, ?2)", params![name, slug])
            .with_context(|| format!("failed to create tag `{name}`"))?;
        ids.push(conn.last_insert_rowid());
    }
    Ok(ids)
}

/// The URL slug of a tag name (`hello world` → `hello-world`): lower-case ASCII letters and
/// digits, every other run of characters becomes one `-`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        format!("tag-{}", short_hash(name.as_bytes()))
    } else {
        trimmed.to_owned()
    }
}

/// Every tag name of an approved version, alphabetically (XML-RPC `plugin.tags`): tags that
/// only unapproved uploads carry are not shown before review.
pub fn all_tag_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM tags WHERE id IN
            (SELECT vt.tag_id FROM version_tags vt
             JOIN plugin_versions v ON v.id = vt.version_id WHERE v.approved = 1)
         ORDER BY name",
    )?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()
        .context("failed to list tags")?;
    Ok(rows)
}
