//! Statements of the upload service for plugins and versions: look-ups, editor checks,
//! version replacement, and the list of stored zips.
//! Callers own the transaction.

use std::collections::HashSet;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{NewVersion, VersionMetadata, fmt_time, parse_time};

/// A plugin row as the service needs it (all plugins, approved or not, deleted or not).
#[derive(Debug, Clone)]
pub struct PluginRow {
    pub id: i64,
    pub package_name: String,
    pub name: String,
    pub created_by: i64,
    pub maintainer: Option<i64>,
    pub deprecated: bool,
    pub allow_update_name: bool,
    pub is_deleted: bool,
    pub deleted_on: Option<DateTime<Utc>>,
    pub revision: i64,
}

const PLUGIN_COLUMNS: &str = "id, package_name, name, created_by, maintainer, deprecated,
     allow_update_name, is_deleted, deleted_on, revision";

fn plugin_from_row(r: &Row<'_>) -> rusqlite::Result<PluginRow> {
    Ok(PluginRow {
        id: r.get(0)?,
        package_name: r.get(1)?,
        name: r.get(2)?,
        created_by: r.get(3)?,
        maintainer: r.get(4)?,
        deprecated: r.get(5)?,
        allow_update_name: r.get(6)?,
        is_deleted: r.get(7)?,
        deleted_on: r.get::<_, Option<String>>(8)?.as_deref().map(parse_time).transpose()?,
        revision: r.get(9)?,
    })
}

/// Finds a plugin by package name (case-insensitive). Takes a plain string so that a URL
/// segment can be looked up before it is known to be a valid name.
pub fn plugin_by_package(conn: &Connection, package: &str) -> Result<Option<PluginRow>> {
    conn.query_row(
        &format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE package_name = ?1"),
        [package],
        plugin_from_row,
    )
    .optional()
    .with_context(|| format!("failed to look up plugin `{package}`"))
}

/// Finds a plugin by id.
pub fn plugin_by_id(conn: &Connection, id: i64) -> Result<Option<PluginRow>> {
    conn.query_row(
        &format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id = ?1"),
        [id],
        plugin_from_row,
    )
    .optional()
    .with_context(|| format!("failed to look up plugin {id}"))
}

/// True when `user_id` created the plugin or is one of its owners.
pub fn is_editor(conn: &Connection, plugin_id: i64, user_id: i64) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM plugins WHERE id = ?1 AND created_by = ?2)
             OR EXISTS (SELECT 1 FROM plugin_owners WHERE plugin_id = ?1 AND user_id = ?2)",
        params![plugin_id, user_id],
        |r| r.get(0),
    )
    .context("failed to check editors")
}

/// Owners (editors beside the creator) of a plugin: `(user id, username)`, by name.
pub fn plugin_owners(conn: &Connection, plugin_id: i64) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare(
        "SELECT u.id, u.username FROM plugin_owners o JOIN users u ON u.id = o.user_id
         WHERE o.plugin_id = ?1 ORDER BY u.username",
    )?;
    let rows = stmt
        .query_map([plugin_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to read owners")?;
    Ok(rows)
}

/// A version row as the service needs it.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub id: i64,
    pub plugin_id: i64,
    pub version: String,
    pub version_key: String,
    pub created_on: DateTime<Utc>,
    pub created_by: Option<i64>,
    pub approved: bool,
    pub experimental: bool,
    pub package_path: String,
    pub package_sha256: String,
    pub package_size: i64,
    /// When the zip was last replaced (`None`: it is the one first uploaded).
    pub replaced_on: Option<DateTime<Utc>>,
}

const VERSION_COLUMNS: &str = "id, plugin_id, version, version_key, created_on, created_by,
     approved, experimental, package_path, package_sha256, package_size, replaced_on";

fn version_from_row(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        id: r.get(0)?,
        plugin_id: r.get(1)?,
        version: r.get(2)?,
        version_key: r.get(3)?,
        created_on: parse_time(&r.get::<_, String>(4)?)?,
        created_by: r.get(5)?,
        approved: r.get(6)?,
        experimental: r.get(7)?,
        package_path: r.get(8)?,
        package_sha256: r.get(9)?,
        package_size: r.get(10)?,
        replaced_on: r.get::<_, Option<String>>(11)?.as_deref().map(parse_time).transpose()?,
    })
}

/// Finds a version of a plugin by its padded key (`PluginVersion::key`).
pub fn version_by_key(
    conn: &Connection,
    plugin_id: i64,
    version_key: &str,
) -> Result<Option<VersionRow>> {
    conn.query_row(
        &format!(
            "SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE plugin_id = ?1 AND version_key = ?2"
        ),
        params![plugin_id, version_key],
        version_from_row,
    )
    .optional()
    .context("failed to look up a version")
}

/// Every version of a plugin, highest first.
pub fn versions_of_plugin(conn: &Connection, plugin_id: i64) -> Result<Vec<VersionRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE plugin_id = ?1
         ORDER BY version_key DESC"
    ))?;
    let rows = stmt
        .query_map([plugin_id], version_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to read versions")?;
    Ok(rows)
}

/// Replaces version `version_id` (an unapproved one) with a new upload and its metadata,
/// keeping its id; the new zip must already be stored and synced. Only an approved
/// replacement changes the public plugin (revision, `modified_on`, metadata mirror).
pub fn replace_version(
    conn: &Connection,
    version_id: i64,
    v: &NewVersion,
    meta: &VersionMetadata,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE plugin_versions SET version = ?2, version_key = ?3, created_on = ?4,
                created_by = ?5, min_qgis = ?6, max_qgis = ?7, changelog = ?8,
                experimental = ?9, approved = ?10,
                approved_by = CASE WHEN ?10 THEN ?5 END, approved_on = CASE WHEN ?10 THEN ?4 END,
                external_deps = ?11, is_from_token = ?12, token_id = ?13, package_path = ?14,
                package_sha256 = ?15, package_size = ?16, icon = ?17, icon_ext = ?18,
                name = ?19, author = ?20, email = ?21, homepage = ?22, repository = ?23,
                tracker = ?24, description = ?25, about = ?26, meta_deprecated = ?27,
                server = ?28
             WHERE id = ?1",
            rusqlite::params_from_iter(
                v.sql_values(version_id, now).into_iter().chain(meta.sql_values()),
            ),
        )
        .with_context(|| format!("failed to replace version {version_id}"))?;
    anyhow::ensure!(n == 1, "version {version_id} vanished");
    conn.execute(
        "UPDATE plugin_versions SET replaced_on = ?2 WHERE id = ?1",
        params![version_id, fmt_time(now)],
    )?;
    super::set_version_tags(conn, version_id, &meta.tags)?;
    if v.approved {
        let plugin_id: i64 = conn.query_row(
            "SELECT plugin_id FROM plugin_versions WHERE id = ?1",
            [version_id],
            |r| r.get(0),
        )?;
        conn.execute(
            "UPDATE plugins SET modified_on = ?2, revision = revision + 1 WHERE id = ?1",
            params![plugin_id, fmt_time(now)],
        )?;
        super::sync_public_metadata(conn, plugin_id)?;
    }
    Ok(())
}

/// `package_path` of every version: the zips the store must keep.
pub fn all_package_paths(conn: &Connection) -> Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT package_path FROM plugin_versions")?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<HashSet<String>>>()
        .context("failed to list stored packages")?;
    Ok(rows)
}

/// True when a version row references the stored zip `package_path`. Asked inside the
/// writer's transaction before a zip is removed: the path is content-named, so a re-upload of
/// the same bytes reuses it.
pub fn package_path_in_use(conn: &Connection, package_path: &str) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM plugin_versions WHERE package_path = ?1)",
        [package_path],
        |r| r.get(0),
    )
    .with_context(|| format!("failed to check the references to `{package_path}`"))
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
