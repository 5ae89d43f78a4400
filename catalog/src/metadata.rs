//! Per-version public metadata: each version keeps its own metadata.txt fields and tags; the
//! public plugin (and the `plugins` row's mirror of it) follows the newest approved version.
//! Callers own the transaction.

use anyhow::{Context, Result};
use rusqlite::types::{ToSql, Value};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::ids::{PluginId, VersionId};
use crate::plugins::PluginFields;

/// A version's public metadata: the fields of metadata.txt and its tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionMetadata {
    pub fields: PluginFields,
    /// Cleaned tag names (trimmed, lower-case), in metadata order.
    pub tags: Vec<String>,
}

impl VersionMetadata {
    /// Parameters ?19..?28 of the version insert and replace statements.
    pub(crate) fn sql_values(&self) -> Vec<Value> {
        let f = &self.fields;
        vec![
            f.name.clone().into(),
            f.author.clone().into(),
            f.email.clone().into(),
            f.homepage.clone().into(),
            f.repository.clone().into(),
            f.tracker.clone().into(),
            f.description.clone().into(),
            f.about.clone().into(),
            f.deprecated.into(),
            f.server.into(),
        ]
    }

    /// Fills what an upload left out from the plugin's current metadata, as uploads always
    /// have: a missing homepage, repository, tracker, an empty about or no tags keep the
    /// current value.
    pub fn inheriting(mut self, current: &VersionMetadata) -> VersionMetadata {
        let (f, c) = (&mut self.fields, &current.fields);
        f.homepage = f.homepage.take().or_else(|| c.homepage.clone());
        f.repository = f.repository.take().or_else(|| c.repository.clone());
        f.tracker = f.tracker.take().or_else(|| c.tracker.clone());
        if f.about.is_empty() {
            f.about = c.about.clone();
        }
        if self.tags.is_empty() {
            self.tags = current.tags.clone();
        }
        self
    }
}

/// The plugin's current metadata: its `plugins` row mirror (the newest approved version's
/// metadata, or the creating upload's while none is approved) and its tags. The deprecated
/// flag is left false: the row holds the editors' flag, which is not metadata.
pub fn plugin_metadata(conn: &Connection, plugin_id: PluginId) -> Result<VersionMetadata> {
    let fields = conn
        .query_row(
            "SELECT name, author, email, homepage, repository, tracker, description, about,
                    0, server
             FROM plugins WHERE id = ?1",
            [plugin_id],
            fields_from_row,
        )
        .with_context(|| format!("failed to read the metadata of plugin {plugin_id}"))?;
    let tags = tag_names(
        conn,
        "SELECT t.name FROM plugin_tags pt JOIN tags t ON t.id = pt.tag_id
         WHERE pt.plugin_id = ?1 ORDER BY pt.position",
        plugin_id,
    )
    .context("failed to read a plugin's tags")?;
    Ok(VersionMetadata { fields, tags })
}

/// Every version's own metadata, by version id, highest version first.
pub fn versions_metadata(
    conn: &Connection,
    plugin_id: PluginId,
) -> Result<Vec<(VersionId, VersionMetadata)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {VERSION_FIELDS}, id FROM plugin_versions WHERE plugin_id = ?1
         ORDER BY version_key DESC"
    ))?;
    let rows = stmt
        .query_map([plugin_id], |r| Ok((r.get(10)?, fields_from_row(r)?)))?
        .collect::<rusqlite::Result<Vec<(VersionId, PluginFields)>>>()
        .context("failed to read versions' metadata")?;
    rows.into_iter()
        .map(|(id, fields)| Ok((id, VersionMetadata { fields, tags: version_tags(conn, id)? })))
        .collect()
}

fn version_tags(conn: &Connection, version_id: VersionId) -> Result<Vec<String>> {
    tag_names(
        conn,
        "SELECT t.name FROM version_tags vt JOIN tags t ON t.id = vt.tag_id
         WHERE vt.version_id = ?1 ORDER BY vt.position",
        version_id,
    )
    .context("failed to read a version's tags")
}

/// The tag names a one-parameter query (`?1` = `id`) selects, in its order.
fn tag_names(conn: &Connection, sql: &str, id: impl ToSql) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let names = stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}

/// The version columns that make `PluginFields`, in `fields_from_row` order.
const VERSION_FIELDS: &str = "name, author, email, homepage, repository, tracker, description,
     about, meta_deprecated, server";

fn fields_from_row(r: &Row<'_>) -> rusqlite::Result<PluginFields> {
    Ok(PluginFields {
        name: r.get(0)?,
        author: r.get(1)?,
        email: r.get(2)?,
        homepage: r.get(3)?,
        repository: r.get(4)?,
        tracker: r.get(5)?,
        description: r.get(6)?,
        about: r.get(7)?,
        deprecated: r.get(8)?,
        server: r.get(9)?,
    })
}

/// Id of the plugin's newest approved version (highest version key), if any.
pub fn newest_approved_version(
    conn: &Connection,
    plugin_id: PluginId,
) -> Result<Option<VersionId>> {
    conn.query_row(
        "SELECT id FROM plugin_versions WHERE plugin_id = ?1 AND approved = 1
         ORDER BY version_key DESC LIMIT 1",
        [plugin_id],
        |r| r.get(0),
    )
    .optional()
    .with_context(|| format!("failed to find the newest approved version of plugin {plugin_id}"))
}

/// Rewrites the plugin's metadata mirror (`plugins` columns and `plugin_tags`) from its newest
/// approved version; with none approved, the mirror keeps its last value. Called by every
/// statement that changes which versions are approved.
pub fn sync_public_metadata(conn: &Connection, plugin_id: PluginId) -> Result<()> {
    let Some(version_id) = newest_approved_version(conn, plugin_id)? else { return Ok(()) };
    conn.execute(
        "UPDATE plugins SET (name, author, email, homepage, repository, tracker, description,
                             about, server) =
            (SELECT name, author, email, homepage, repository, tracker, description, about,
                    server
             FROM plugin_versions WHERE id = ?2)
         WHERE id = ?1",
        params![plugin_id, version_id],
    )
    .with_context(|| format!("failed to publish the metadata of plugin {plugin_id}"))?;
    conn.execute("DELETE FROM plugin_tags WHERE plugin_id = ?1", [plugin_id])?;
    conn.execute(
        "INSERT INTO plugin_tags (plugin_id, tag_id, position)
         SELECT ?1, tag_id, position FROM version_tags WHERE version_id = ?2",
        params![plugin_id, version_id],
    )?;
    Ok(())
}
