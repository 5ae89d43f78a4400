//! Versions: insertion, look-ups, replacement of an unapproved zip, deletion, the set of
//! stored zips the rows reference, and an editor's own list of plugins with all their
//! versions. Callers own the transaction.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::ids::{PluginId, TokenId, UserId, VersionId};
use crate::metadata::{VersionMetadata, plugin_metadata, sync_public_metadata};
use crate::model::Icon;
use crate::names::{PluginVersion, QgisVersion};
use crate::plugins::touch;
use crate::tags::set_version_tags;
use crate::time::{fmt_time, parse_time};

#[derive(Debug, Clone)]
pub struct VersionRow {
    pub id: VersionId,
    pub plugin_id: PluginId,
    pub version: String,
    pub version_key: String,
    pub created_on: DateTime<Utc>,
    pub created_by: Option<UserId>,
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
    plugin_id: PluginId,
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
pub fn versions_of_plugin(conn: &Connection, plugin_id: PluginId) -> Result<Vec<VersionRow>> {
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

/// Every version of the plugins `user_id` created or co-owns, by plugin, highest first.
pub fn versions_of_editor(
    conn: &Connection,
    user_id: UserId,
) -> Result<HashMap<PluginId, Vec<VersionRow>>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {VERSION_COLUMNS} FROM plugin_versions
         WHERE plugin_id IN (SELECT id FROM plugins WHERE created_by = ?1
                             UNION SELECT plugin_id FROM plugin_owners WHERE user_id = ?1)
         ORDER BY plugin_id, version_key DESC"
    ))?;
    let mut out: HashMap<PluginId, Vec<VersionRow>> = HashMap::new();
    for row in stmt.query_map([user_id], version_from_row)? {
        let row = row.context("failed to read the editor's versions")?;
        out.entry(row.plugin_id).or_default().push(row);
    }
    Ok(out)
}

/// A plugin as its editor's own list shows it: the row, its last change and every version.
#[derive(Debug, Clone)]
pub struct EditorPlugin {
    pub plugin: crate::plugins::PluginRow,
    /// The latest of: an approved change, an upload or replacement, the deletion.
    pub changed_on: DateTime<Utc>,
    /// Every version, approved or not, highest first.
    pub versions: Vec<VersionRow>,
}

/// Every plugin `user_id` created or co-owns, in any state (pending only, deleted), newest
/// change first, each with all its versions: two statements for the whole list.
pub fn plugins_of_editor(conn: &Connection, user_id: UserId) -> Result<Vec<EditorPlugin>> {
    let cols = crate::plugins::PLUGIN_COLUMNS;
    let mut stmt = conn.prepare(&format!(
        "SELECT {cols}, changed FROM (
             SELECT p.*, max(p.modified_on, coalesce(p.deleted_on, ''),
                        coalesce((SELECT max(max(v.created_on, coalesce(v.replaced_on, '')))
                                  FROM plugin_versions v WHERE v.plugin_id = p.id), '')) AS changed
             FROM plugins p
             WHERE p.created_by = ?1
                OR p.id IN (SELECT plugin_id FROM plugin_owners WHERE user_id = ?1))
         ORDER BY changed DESC, package_name"
    ))?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok((crate::plugins::plugin_from_row(r)?, parse_time(&r.get::<_, String>(10)?)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to read the editor's plugins")?;
    let mut versions = versions_of_editor(conn, user_id)?;
    Ok(rows
        .into_iter()
        .map(|(plugin, changed_on)| {
            let mine = versions.remove(&plugin.id).unwrap_or_default();
            EditorPlugin { plugin, changed_on, versions: mine }
        })
        .collect())
}

/// Replaces version `version_id` (an unapproved one) with a new upload and its metadata,
/// keeping its id; the new zip must already be stored and synced. Only an approved
/// replacement changes the public plugin (revision, `modified_on`, metadata mirror).
pub fn replace_version(
    conn: &Connection,
    version_id: VersionId,
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
                v.sql_values(version_id.into(), now).into_iter().chain(meta.sql_values()),
            ),
        )
        .with_context(|| format!("failed to replace version {version_id}"))?;
    anyhow::ensure!(n == 1, "version {version_id} vanished");
    conn.execute(
        "UPDATE plugin_versions SET replaced_on = ?2 WHERE id = ?1",
        params![version_id, fmt_time(now)],
    )?;
    set_version_tags(conn, version_id, &meta.tags)?;
    if v.approved {
        let plugin_id: PluginId = conn.query_row(
            "SELECT plugin_id FROM plugin_versions WHERE id = ?1",
            [version_id],
            |r| r.get(0),
        )?;
        conn.execute(
            "UPDATE plugins SET modified_on = ?2, revision = revision + 1 WHERE id = ?1",
            params![plugin_id, fmt_time(now)],
        )?;
        sync_public_metadata(conn, plugin_id)?;
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

/// A version to insert; its zip must already be stored and synced at `package_path`.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub version: PluginVersion,
    pub created_by: UserId,
    pub min_qgis: QgisVersion,
    pub max_qgis: QgisVersion,
    pub changelog: String,
    pub experimental: bool,
    pub approved: bool,
    pub external_deps: String,
    pub token_id: Option<TokenId>,
    pub package_path: String,
    pub package_sha256: String,
    pub package_size: i64,
    pub icon: Option<Icon>,
}

impl NewVersion {
    /// Parameters ?1..?18 of the version statements (insert and replace): `first` (the
    /// plugin id or the version id) then every column, in the order both statements use.
    pub(crate) fn sql_values(&self, first: Value, now: DateTime<Utc>) -> Vec<Value> {
        vec![
            first,
            self.version.as_str().to_owned().into(),
            self.version.key().to_owned().into(),
            fmt_time(now).into(),
            self.created_by.into(),
            self.min_qgis.key().into(),
            self.max_qgis.key().into(),
            self.changelog.clone().into(),
            self.experimental.into(),
            self.approved.into(),
            self.external_deps.clone().into(),
            self.token_id.is_some().into(),
            self.token_id.map(TokenId::get).into(),
            self.package_path.clone().into(),
            self.package_sha256.clone().into(),
            self.package_size.into(),
            self.icon.as_ref().map(|i| i.bytes.clone()).into(),
            self.icon.as_ref().map(|i| i.ext.clone()).into(),
        ]
    }
}

/// Inserts a version whose metadata is the plugin's current metadata (its `plugins` row and
/// tags, as `create_plugin` and `set_tags` left them): for seeders and tests. Uploads give the
/// zip's own metadata with `insert_version_with_metadata`.
pub fn insert_version(
    conn: &Connection,
    plugin_id: PluginId,
    v: &NewVersion,
    now: DateTime<Utc>,
) -> Result<VersionId> {
    let meta = plugin_metadata(conn, plugin_id)?;
    insert_version_with_metadata(conn, plugin_id, v, &meta, now)
}

/// Inserts a version with its own public metadata and returns its id. Only an approved
/// version changes what the public sees: then the plugin's `modified_on`, revision and
/// metadata mirror follow; an unapproved one leaves the plugin row untouched.
pub fn insert_version_with_metadata(
    conn: &Connection,
    plugin_id: PluginId,
    v: &NewVersion,
    meta: &VersionMetadata,
    now: DateTime<Utc>,
) -> Result<VersionId> {
    conn.execute(
        "INSERT INTO plugin_versions (plugin_id, version, version_key, created_on, created_by,
            min_qgis, max_qgis, changelog, experimental, approved, approved_by, approved_on,
            external_deps, is_from_token, token_id, package_path, package_sha256, package_size,
            icon, icon_ext, name, author, email, homepage, repository, tracker, description,
            about, meta_deprecated, server)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, CASE WHEN ?10 THEN ?5 END,
                 CASE WHEN ?10 THEN ?4 END, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                 ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)",
        rusqlite::params_from_iter(
            v.sql_values(plugin_id.into(), now).into_iter().chain(meta.sql_values()),
        ),
    )
    .with_context(|| format!("failed to insert version {} of plugin {plugin_id}", v.version))?;
    let id = VersionId(conn.last_insert_rowid());
    set_version_tags(conn, id, &meta.tags)?;
    if v.approved {
        conn.execute(
            "UPDATE plugins SET modified_on = ?2, revision = revision + 1 WHERE id = ?1",
            params![plugin_id, fmt_time(now)],
        )?;
        sync_public_metadata(conn, plugin_id)?;
    }
    Ok(id)
}

/// Deletes a version row (the caller removes its zip once no row references it).
pub fn delete_version(
    conn: &Connection,
    plugin_id: PluginId,
    version_id: VersionId,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "DELETE FROM plugin_versions WHERE id = ?1 AND plugin_id = ?2",
        params![version_id, plugin_id],
    )
    .with_context(|| format!("failed to delete version {version_id}"))?;
    sync_public_metadata(conn, plugin_id)?;
    touch(conn, plugin_id, now)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::accounts::{NewUser, create_user};
    use crate::names::{PackageName, PluginVersion, QgisVersion};
    use crate::plugins::{PluginFields, add_owner, create_plugin, set_plugin_deleted};

    fn user(conn: &Connection, name: &str) -> UserId {
        let u = NewUser { username: name.into(), ..NewUser::default() };
        create_user(conn, &u, crate::time::now()).unwrap()
    }

    fn plugin(conn: &Connection, pkg: &str, creator: UserId, at: DateTime<Utc>) -> PluginId {
        let f = PluginFields { name: format!("P {pkg}"), ..PluginFields::default() };
        create_plugin(conn, &PackageName::parse(pkg).unwrap(), creator, &f, at).unwrap()
    }

    fn version(conn: &Connection, id: PluginId, v: &str, by: UserId, at: DateTime<Utc>) {
        let nv = NewVersion {
            version: PluginVersion::parse(v).unwrap(),
            created_by: by,
            min_qgis: QgisVersion::new(3, 0),
            max_qgis: QgisVersion::new(3, 99),
            changelog: String::new(),
            experimental: false,
            approved: false,
            external_deps: String::new(),
            token_id: None,
            package_path: format!("packages/{id}/{v}.zip"),
            package_sha256: "0".repeat(64),
            package_size: 1,
            icon: None,
        };
        insert_version(conn, id, &nv, at).unwrap();
    }

    #[test]
    fn an_editor_sees_created_and_co_owned_plugins_newest_change_first() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(dir.path()).unwrap();
        let (ana, bob) = (user(&conn, "ana"), user(&conn, "bob"));
        let t0 = crate::time::now() - Duration::days(10);
        let old = plugin(&conn, "old_one", ana, t0);
        let shared = plugin(&conn, "shared", bob, t0 + Duration::days(1));
        add_owner(&conn, shared, ana).unwrap();
        let gone = plugin(&conn, "gone", ana, t0 + Duration::days(2));
        plugin(&conn, "bobs_own", bob, t0 + Duration::days(3));
        // An unapproved upload leaves `modified_on` alone but is still the newest change.
        version(&conn, old, "1.0", ana, t0);
        version(&conn, old, "2.0", ana, t0 + Duration::days(5));
        version(&conn, shared, "0.1", bob, t0 + Duration::days(1));
        set_plugin_deleted(&conn, gone, true, t0 + Duration::days(4)).unwrap();

        let mine = plugins_of_editor(&conn, ana).unwrap();
        let names: Vec<&str> = mine.iter().map(|p| p.plugin.package_name.as_str()).collect();
        assert_eq!(names, ["old_one", "gone", "shared"]);
        let versions: Vec<&str> = mine[0].versions.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(versions, ["2.0", "1.0"]);
        assert!(mine[1].plugin.is_deleted && mine[1].versions.is_empty());
        assert_eq!(mine[2].versions.len(), 1);
        assert_eq!(plugins_of_editor(&conn, bob).unwrap().len(), 2);
    }
}
