//! Statements that change the catalog. Callers own the transaction; every function that
//! changes what a plugin's pages show bumps that plugin's `revision`.

use anyhow::{Context, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::fmt_time;
use chrono::{DateTime, Utc};

use super::VersionMetadata;
use crate::model::Icon;
use crate::names::{PackageName, PluginVersion, QgisVersion};

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub can_approve: bool,
}

/// Inserts a user and returns its id.
pub fn create_user(conn: &Connection, u: &NewUser, now: DateTime<Utc>) -> Result<i64> {
    conn.execute(
        "INSERT INTO users (username, email, password_hash, is_staff, is_superuser, can_approve,
                            created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            u.username,
            u.email,
            u.password_hash,
            u.is_staff,
            u.is_superuser,
            u.can_approve,
            fmt_time(now)
        ],
    )
    .with_context(|| format!("failed to create user `{}`", u.username))?;
    Ok(conn.last_insert_rowid())
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
    creator: i64,
    f: &PluginFields,
    now: DateTime<Utc>,
) -> Result<i64> {
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
    Ok(conn.last_insert_rowid())
}

/// Sets a plugin's current tags directly: its mirror (`plugin_tags`) and the tags of its
/// newest approved version, so the public site shows them. For seeders, tests and a new
/// plugin's first upload; uploads of existing plugins tag their version instead
/// (`insert_version_with_metadata`). `names` are already cleaned (trimmed, lower-case).
pub fn set_tags(conn: &Connection, plugin_id: i64, names: &[String]) -> Result<()> {
    conn.execute("DELETE FROM plugin_tags WHERE plugin_id = ?1", [plugin_id])?;
    for (pos, tag_id) in tag_ids(conn, names)?.into_iter().enumerate() {
        conn.execute(
            "INSERT OR IGNORE INTO plugin_tags (plugin_id, tag_id, position) VALUES (?1, ?2, ?3)",
            params![plugin_id, tag_id, pos as i64],
        )
        .with_context(|| format!("failed to tag plugin {plugin_id}"))?;
    }
    if let Some(version_id) = super::newest_approved_version(conn, plugin_id)? {
        set_version_tags(conn, version_id, names)?;
    }
    bump_revision(conn, plugin_id)
}

/// Replaces a version's tags with `names` (cleaned), creating missing tags.
pub fn set_version_tags(conn: &Connection, version_id: i64, names: &[String]) -> Result<()> {
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
            slug = format!("{slug}-{}", crate::fsutil::short_hash(name.as_bytes()));
        }
        conn.execute("INSERT INTO tags (name, slug) VALUES (?1, ?2)", params![name, slug])
            .with_context(|| format!("failed to create tag `{name}`"))?;
        ids.push(conn.last_insert_rowid());
    }
    Ok(ids)
}

/// Adds `owner` to a plugin's owners (editors beside the creator).
pub fn add_owner(conn: &Connection, plugin_id: i64, owner: i64) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO plugin_owners (plugin_id, user_id) VALUES (?1, ?2)",
        params![plugin_id, owner],
    )?;
    bump_revision(conn, plugin_id)
}

/// A version to insert; its zip must already be stored and synced at `package_path`.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub version: PluginVersion,
    pub created_by: i64,
    pub min_qgis: QgisVersion,
    pub max_qgis: QgisVersion,
    pub changelog: String,
    pub experimental: bool,
    pub approved: bool,
    pub external_deps: String,
    pub token_id: Option<i64>,
    pub package_path: String,
    pub package_sha256: String,
    pub package_size: i64,
    pub icon: Option<Icon>,
}

impl NewVersion {
    /// Parameters ?1..?18 of the version statements (insert and replace): `first` (the
    /// plugin id or the version id) then every column, in the order both statements use.
    pub(super) fn sql_values(&self, first: i64, now: DateTime<Utc>) -> Vec<Value> {
        vec![
            first.into(),
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
            self.token_id.into(),
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
    plugin_id: i64,
    v: &NewVersion,
    now: DateTime<Utc>,
) -> Result<i64> {
    let meta = super::plugin_metadata(conn, plugin_id)?;
    insert_version_with_metadata(conn, plugin_id, v, &meta, now)
}

/// Inserts a version with its own public metadata and returns its id. Only an approved
/// version changes what the public sees: then the plugin's `modified_on`, revision and
/// metadata mirror follow; an unapproved one leaves the plugin row untouched.
pub fn insert_version_with_metadata(
    conn: &Connection,
    plugin_id: i64,
    v: &NewVersion,
    meta: &VersionMetadata,
    now: DateTime<Utc>,
) -> Result<i64> {
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
            v.sql_values(plugin_id, now).into_iter().chain(meta.sql_values()),
        ),
    )
    .with_context(|| format!("failed to insert version {} of plugin {plugin_id}", v.version))?;
    let id = conn.last_insert_rowid();
    set_version_tags(conn, id, &meta.tags)?;
    if v.approved {
        conn.execute(
            "UPDATE plugins SET modified_on = ?2, revision = revision + 1 WHERE id = ?1",
            params![plugin_id, fmt_time(now)],
        )?;
        super::sync_public_metadata(conn, plugin_id)?;
    }
    Ok(id)
}

/// Sets a setting (e.g. `qgis_versions`).
pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .with_context(|| format!("failed to set setting `{key}`"))?;
    Ok(())
}

fn bump_revision(conn: &Connection, plugin_id: i64) -> Result<()> {
    conn.execute("UPDATE plugins SET revision = revision + 1 WHERE id = ?1", [plugin_id])?;
    Ok(())
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
        format!("tag-{}", crate::fsutil::short_hash(name.as_bytes()))
    } else {
        trimmed.to_owned()
    }
}
