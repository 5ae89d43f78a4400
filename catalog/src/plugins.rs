//! Plugins: creation, look-ups, editors and owners, maintainer, deprecation, soft deletion
//! and display names. Callers own the transaction; every change bumps the plugin's revision.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::ids::{PluginId, UserId};
use crate::names::PackageName;
use crate::time::{fmt_time, parse_time};

/// A plugin row as the service needs it (all plugins, approved or not, deleted or not).
#[derive(Debug, Clone)]
pub struct PluginRow {
    pub id: PluginId,
    pub package_name: String,
    pub name: String,
    pub created_by: UserId,
    pub maintainer: Option<UserId>,
    pub deprecated: bool,
    pub allow_update_name: bool,
    pub is_deleted: bool,
    pub deleted_on: Option<DateTime<Utc>>,
    pub revision: i64,
}

pub(crate) const PLUGIN_COLUMNS: &str =
    "id, package_name, name, created_by, maintainer, deprecated,
     allow_update_name, is_deleted, deleted_on, revision";

pub(crate) fn plugin_from_row(r: &Row<'_>) -> rusqlite::Result<PluginRow> {
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
pub fn plugin_by_id(conn: &Connection, id: PluginId) -> Result<Option<PluginRow>> {
    conn.query_row(
        &format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id = ?1"),
        [id],
        plugin_from_row,
    )
    .optional()
    .with_context(|| format!("failed to look up plugin {id}"))
}

/// True when `user_id` created the plugin or is one of its owners.
pub fn is_editor(conn: &Connection, plugin_id: PluginId, user_id: UserId) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM plugins WHERE id = ?1 AND created_by = ?2)
             OR EXISTS (SELECT 1 FROM plugin_owners WHERE plugin_id = ?1 AND user_id = ?2)",
        params![plugin_id, user_id],
        |r| r.get(0),
    )
    .context("failed to check editors")
}

/// Owners (editors beside the creator) of a plugin: `(user id, username)`, by name.
pub fn plugin_owners(conn: &Connection, plugin_id: PluginId) -> Result<Vec<(UserId, String)>> {
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

/// A plugin a user edits, as staff's page of that user lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPlugin {
    pub package_name: String,
    pub name: String,
    /// The user created it (else they co-own it).
    pub created: bool,
    pub is_deleted: bool,
    /// At least one version is approved (the plugin is public).
    pub has_approved: bool,
}

/// Every plugin `user_id` created or co-owns, any state, by display name.
pub fn plugins_of_user(conn: &Connection, user_id: UserId) -> Result<Vec<UserPlugin>> {
    let mut stmt = conn.prepare(
        "SELECT p.package_name, p.name, p.created_by = ?1, p.is_deleted,
                EXISTS (SELECT 1 FROM plugin_versions v WHERE v.plugin_id = p.id AND v.approved)
         FROM plugins p
         WHERE p.created_by = ?1
            OR p.id IN (SELECT plugin_id FROM plugin_owners WHERE user_id = ?1)
         ORDER BY p.name COLLATE NOCASE, p.id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(UserPlugin {
                package_name: r.get(0)?,
                name: r.get(1)?,
                created: r.get(2)?,
                is_deleted: r.get(3)?,
                has_approved: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .with_context(|| format!("failed to read the plugins of user {user_id}"))?;
    Ok(rows)
}

/// Id of a plugin by package name (case-insensitive), if it exists.
pub fn plugin_id(conn: &Connection, package: &PackageName) -> Result<Option<PluginId>> {
    conn.query_row("SELECT id FROM plugins WHERE package_name = ?1", [package.as_str()], |r| {
        r.get(0)
    })
    .optional()
    .with_context(|| format!("failed to look up plugin `{package}`"))
}

/// The public fields of metadata.txt: a version's own copy, and the plugin's mirror of its
/// newest approved version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginFields {
    pub name: String,
    pub author: String,
    pub email: String,
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub tracker: Option<String>,
    pub description: String,
    pub about: String,
    pub deprecated: bool,
    pub server: bool,
}

/// Creates a plugin owned by `creator` and returns its id. `f` fills the metadata mirror (what
/// versions inserted with `insert_version` inherit); `f.deprecated` sets the editors' flag.
pub fn create_plugin(
    conn: &Connection,
    package: &PackageName,
    creator: UserId,
    f: &PluginFields,
    now: DateTime<Utc>,
) -> Result<PluginId> {
    conn.execute(
        "INSERT INTO plugins (package_name, name, created_on, modified_on, created_by, maintainer,
                              author, email, homepage, repository, tracker, description, about,
                              deprecated, server)
         VALUES (?1, ?2, ?3, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            package.as_str(),
            f.name,
            fmt_time(now),
            creator,
            f.author,
            f.email,
            f.homepage,
            f.repository,
            f.tracker,
            f.description,
            f.about,
            f.deprecated,
            f.server
        ],
    )
    .with_context(|| format!("failed to create plugin `{package}`"))?;
    Ok(PluginId(conn.last_insert_rowid()))
}

/// Adds `owner` to a plugin's owners (editors beside the creator).
pub fn add_owner(conn: &Connection, plugin_id: PluginId, owner: UserId) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO plugin_owners (plugin_id, user_id) VALUES (?1, ?2)",
        params![plugin_id, owner],
    )?;
    bump_revision(conn, plugin_id)
}

/// Marks a plugin for deletion (`deleted = true`) or restores it.
pub fn set_plugin_deleted(
    conn: &Connection,
    plugin_id: PluginId,
    deleted: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE plugins SET is_deleted = ?2, deleted_on = CASE WHEN ?2 THEN ?3 END WHERE id = ?1",
        params![plugin_id, deleted, fmt_time(now)],
    )
    .with_context(|| format!("failed to change the deletion mark of plugin {plugin_id}"))?;
    touch(conn, plugin_id, now)
}

/// Replaces the owners of a plugin (the creator stays an editor regardless).
pub fn set_plugin_owners(
    conn: &Connection,
    plugin_id: PluginId,
    owners: &[UserId],
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute("DELETE FROM plugin_owners WHERE plugin_id = ?1", [plugin_id])?;
    for owner in owners {
        conn.execute(
            "INSERT OR IGNORE INTO plugin_owners (plugin_id, user_id) VALUES (?1, ?2)",
            params![plugin_id, owner],
        )
        .with_context(|| format!("failed to add owner {owner} to plugin {plugin_id}"))?;
    }
    touch(conn, plugin_id, now)
}

/// Sets the maintainer (a display role) of a plugin.
pub fn set_plugin_maintainer(
    conn: &Connection,
    plugin_id: PluginId,
    maintainer: UserId,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE plugins SET maintainer = ?2 WHERE id = ?1",
        params![plugin_id, maintainer],
    )?;
    touch(conn, plugin_id, now)
}

/// Sets the deprecated flag of a plugin.
pub fn set_plugin_deprecated(
    conn: &Connection,
    plugin_id: PluginId,
    deprecated: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE plugins SET deprecated = ?2 WHERE id = ?1",
        params![plugin_id, deprecated],
    )?;
    touch(conn, plugin_id, now)
}

/// Id of the plugin (other than `except`) that holds display name `name` (no case): as its
/// current name, or in any of its versions. A name belongs to one plugin from its first
/// upload on, so an unapproved version cannot be outrun by another plugin taking its name,
/// and the derived public names stay unique.
pub fn plugin_with_name(
    conn: &Connection,
    name: &str,
    except: Option<PluginId>,
) -> Result<Option<PluginId>> {
    conn.query_row(
        "SELECT id FROM plugins WHERE name = ?1 AND (?2 IS NULL OR id <> ?2)
         UNION ALL
         SELECT plugin_id FROM plugin_versions WHERE name = ?1 AND (?2 IS NULL OR plugin_id <> ?2)
         LIMIT 1",
        params![name, except],
        |r| r.get(0),
    )
    .optional()
    .context("failed to look up a plugin name")
}

/// Bumps a plugin's revision (its pages are rendered anew) without touching `modified_on`.
pub(crate) fn bump_revision(conn: &Connection, plugin_id: PluginId) -> Result<()> {
    conn.execute("UPDATE plugins SET revision = revision + 1 WHERE id = ?1", [plugin_id])?;
    Ok(())
}

/// Bumps a plugin's revision and sets its `modified_on`: what every editor change does.
pub(crate) fn touch(conn: &Connection, plugin_id: PluginId, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE plugins SET revision = revision + 1, modified_on = ?2 WHERE id = ?1",
        params![plugin_id, fmt_time(now)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{NewUser, create_user, user_profile};

    fn user(conn: &Connection, name: &str) -> UserId {
        let new = NewUser { username: name.into(), ..NewUser::default() };
        create_user(conn, &new, crate::time::now()).unwrap()
    }

    fn plugin(conn: &Connection, package: &str, name: &str, creator: UserId) -> PluginId {
        let f = PluginFields { name: name.into(), ..PluginFields::default() };
        let package = PackageName::parse(package).unwrap();
        create_plugin(conn, &package, creator, &f, crate::time::now()).unwrap()
    }

    #[test]
    fn a_users_plugins_are_those_they_create_or_co_own() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(dir.path()).unwrap();
        let (ana, bob) = (user(&conn, "ana"), user(&conn, "bob"));
        plugin(&conn, "zeta", "Zeta", ana);
        let shared = plugin(&conn, "alpha", "alpha tools", bob);
        plugin(&conn, "other", "Other", bob);
        add_owner(&conn, shared, ana).unwrap();
        let mine = plugins_of_user(&conn, ana).unwrap();
        let names: Vec<(&str, bool)> =
            mine.iter().map(|p| (p.package_name.as_str(), p.created)).collect();
        assert_eq!(names, [("alpha", false), ("zeta", true)]);
        assert!(mine.iter().all(|p| !p.has_approved && !p.is_deleted));
        let profile = user_profile(&conn, "ANA").unwrap().unwrap();
        assert_eq!((profile.user.id, profile.user.username.as_str()), (ana, "ana"));
        assert!(user_profile(&conn, "nobody").unwrap().is_none());
    }
}
