//! The public model: loads what the site shows (plugins with an approved version, their
//! approved versions, tags, owners, icons, daily downloads) for the renderer.

use std::collections::HashMap;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::ids::{PluginId, UserId};
use crate::model::{Catalog, Icon, Plugin, Tag, Version};
use crate::names::{PackageName, PluginVersion, QgisVersion};
use crate::settings::load_settings;
use crate::time::parse_time;

/// The id of plugin `p`'s newest approved version (highest version key): the version its
/// public metadata comes from.
const NEWEST_APPROVED: &str = "SELECT w.id FROM plugin_versions w
     WHERE w.plugin_id = p.id AND w.approved = 1 ORDER BY w.version_key DESC LIMIT 1";

/// Users by id: name, and whether their uploads count as trusted.
type Users = HashMap<UserId, (String, bool)>;

/// Loads every plugin with at least one approved version, with its approved versions only;
/// its metadata and tags are those of its newest approved version, its `deprecated` the
/// editors' flag or that version's.
pub fn load_catalog(conn: &Connection) -> Result<Catalog> {
    let settings = load_settings(conn)?;
    let users = users(conn)?;
    let name_of = |id: Option<UserId>| id.and_then(|i| users.get(&i)).map(|(n, _)| n.clone());
    let mut versions = approved_versions(conn, &users)?;
    let mut tags = public_tags(conn)?;
    let mut owners = owners(conn)?;

    // The plugin row gives what editors and the site set; the metadata comes from the newest
    // approved version (plugins without one are not public and drop out of the join).
    let mut plugins = Vec::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT p.id, p.package_name, v.name, p.created_on, p.modified_on, p.created_by,
                p.maintainer, p.display_created_by, v.author, v.homepage, v.repository,
                v.tracker, v.description, v.about, p.downloads, p.featured,
                p.deprecated OR v.meta_deprecated, v.server, p.is_deleted, p.deleted_on,
                p.rating_votes, p.rating_score, p.revision
         FROM plugins p JOIN plugin_versions v ON v.id = ({NEWEST_APPROVED})
         ORDER BY p.id"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: PluginId = r.get(0)?;
        let Some(vs) = versions.remove(&id) else { continue };
        plugins.push(plugin_from_row(r, vs, &name_of, &mut owners, &mut tags)?);
    }
    drop(rows);
    add_daily_downloads(conn, &mut plugins)?;
    add_icons(conn, &mut plugins)?;
    Ok(Catalog { settings, plugins })
}

fn users(conn: &Connection) -> Result<Users> {
    conn.prepare("SELECT id, username, can_approve OR is_superuser FROM users")?
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
        .collect::<rusqlite::Result<_>>()
        .context("failed to read users")
}

/// Every approved version, by plugin, highest first.
fn approved_versions(conn: &Connection, users: &Users) -> Result<HashMap<PluginId, Vec<Version>>> {
    let mut versions: HashMap<PluginId, Vec<Version>> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT v.id, v.plugin_id, v.version, v.created_on, v.created_by, v.min_qgis, v.max_qgis,
                v.changelog, v.experimental, v.external_deps, v.downloads, v.package_path,
                v.package_sha256, v.package_size,
                s.finished_on IS NOT NULL AND v.validation_status = 'validated', s.qgis4_ready
         FROM plugin_versions v LEFT JOIN scans s ON s.version_id = v.id AND s.finished_on IS NOT NULL
         WHERE v.approved = 1",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        versions.entry(r.get(1)?).or_default().push(version_from_row(r, users)?);
    }
    drop(rows);
    for list in versions.values_mut() {
        list.sort_by(|a, b| b.version.cmp(&a.version));
    }
    Ok(versions)
}

/// One public version from a row of `approved_versions`' query.
fn version_from_row(r: &rusqlite::Row<'_>, users: &Users) -> Result<Version> {
    let text: String = r.get(2)?;
    let created_by: Option<UserId> = r.get(4)?;
    let uploader = created_by.and_then(|i| users.get(&i));
    let min: String = r.get(5)?;
    let max: String = r.get(6)?;
    Ok(Version {
        id: r.get(0)?,
        version: PluginVersion::from_stored(&text)
            .with_context(|| format!("stored version `{text}` is invalid"))?,
        created_on: parse_time(&r.get::<_, String>(3)?)?,
        uploaded_by: uploader.map(|(n, _)| n.clone()),
        uploader_trusted: uploader.is_some_and(|u| u.1),
        min_qgis: QgisVersion::from_key(&min)
            .with_context(|| format!("stored QGIS version `{min}` is invalid"))?,
        max_qgis: QgisVersion::from_key(&max)
            .with_context(|| format!("stored QGIS version `{max}` is invalid"))?,
        changelog: r.get(7)?,
        experimental: r.get(8)?,
        external_deps: r.get(9)?,
        downloads: r.get(10)?,
        package_path: r.get(11)?,
        package_sha256: r.get(12)?,
        package_size: r.get(13)?,
        checked: r.get::<_, Option<bool>>(14)?.unwrap_or(false),
        scan_qgis4_ready: r.get(15)?,
    })
}

/// Public tags: those of each plugin's newest approved version, keyed by plugin.
fn public_tags(conn: &Connection) -> Result<HashMap<PluginId, Vec<Tag>>> {
    let mut tags: HashMap<PluginId, Vec<Tag>> = HashMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT v.plugin_id, t.name, t.slug FROM version_tags vt
         JOIN tags t ON t.id = vt.tag_id JOIN plugin_versions v ON v.id = vt.version_id
         WHERE v.id IN (SELECT ({NEWEST_APPROVED}) FROM plugins p)
         ORDER BY v.plugin_id, vt.position"
    ))?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, Tag { name: r.get(1)?, slug: r.get(2)? })))? {
        let (pid, tag): (PluginId, Tag) = row?;
        tags.entry(pid).or_default().push(tag);
    }
    Ok(tags)
}

/// Owners' names, by plugin, alphabetically.
fn owners(conn: &Connection) -> Result<HashMap<PluginId, Vec<String>>> {
    let mut owners: HashMap<PluginId, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT o.plugin_id, u.username FROM plugin_owners o JOIN users u ON u.id = o.user_id
         ORDER BY u.username",
    )?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let (pid, name): (PluginId, String) = row?;
        owners.entry(pid).or_default().push(name);
    }
    Ok(owners)
}

/// Downloads per plugin and day over the statistics window.
fn add_daily_downloads(conn: &Connection, plugins: &mut [Plugin]) -> Result<()> {
    let since = (chrono::Utc::now() - chrono::Duration::days(crate::model::STATS_DAYS))
        .format("%Y-%m-%d")
        .to_string();
    let mut daily: HashMap<PluginId, Vec<(String, i64)>> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT v.plugin_id, d.day, sum(d.count) FROM version_downloads d
         JOIN plugin_versions v ON v.id = d.version_id
         WHERE d.day >= ?1 GROUP BY v.plugin_id, d.day ORDER BY v.plugin_id, d.day",
    )?;
    for row in stmt.query_map([&since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
        let (pid, day, count): (PluginId, String, i64) = row?;
        daily.entry(pid).or_default().push((day, count));
    }
    for p in plugins {
        p.daily_downloads = daily.remove(&p.id).unwrap_or_default();
    }
    Ok(())
}

/// Icons: only the newest approved version that carries one, per plugin.
fn add_icons(conn: &Connection, plugins: &mut [Plugin]) -> Result<()> {
    let mut icon_stmt = conn.prepare_cached(
        "SELECT icon_ext, icon FROM plugin_versions
         WHERE plugin_id = ?1 AND approved = 1 AND icon IS NOT NULL
         ORDER BY version_key DESC LIMIT 1",
    )?;
    for p in plugins {
        p.icon = icon_stmt
            .query_row(params![p.id], |r| Ok(Icon { ext: r.get(0)?, bytes: r.get(1)? }))
            .optional()?;
    }
    Ok(())
}

/// One public plugin from a row of `load_catalog`'s plugin query.
fn plugin_from_row(
    r: &rusqlite::Row<'_>,
    versions: Vec<Version>,
    name_of: &dyn Fn(Option<UserId>) -> Option<String>,
    owners: &mut HashMap<PluginId, Vec<String>>,
    tags: &mut HashMap<PluginId, Vec<Tag>>,
) -> Result<Plugin> {
    let id: PluginId = r.get(0)?;
    let package: String = r.get(1)?;
    let creator: UserId = r.get(5)?;
    let maintainer: Option<UserId> = r.get(6)?;
    let deleted_on: Option<String> = r.get(19)?;
    Ok(Plugin {
        id,
        package: PackageName::parse(&package)
            .with_context(|| format!("stored package name `{package}` is invalid"))?,
        name: r.get(2)?,
        created_on: parse_time(&r.get::<_, String>(3)?)?,
        modified_on: parse_time(&r.get::<_, String>(4)?)?,
        creator: name_of(Some(creator)).unwrap_or_default(),
        maintainer: name_of(maintainer.or(Some(creator))).unwrap_or_default(),
        display_created_by: r.get(7)?,
        owners: owners.remove(&id).unwrap_or_default(),
        author: r.get(8)?,
        homepage: r.get(9)?,
        repository: r.get(10)?,
        tracker: r.get(11)?,
        description: r.get(12)?,
        about: r.get(13)?,
        downloads: r.get(14)?,
        featured: r.get(15)?,
        deprecated: r.get(16)?,
        server: r.get(17)?,
        is_deleted: r.get(18)?,
        deleted_on: deleted_on.as_deref().map(parse_time).transpose()?,
        rating_votes: r.get(20)?,
        rating_score: r.get(21)?,
        revision: r.get(22)?,
        tags: tags.remove(&id).unwrap_or_default(),
        versions,
        icon: None,
        daily_downloads: Vec::new(),
    })
}
