//! Statements only the seeders (`generator demo`, `generator synth`) run: download and rating
//! figures that real catalogs accumulate over years, set directly.

use anyhow::{Context, Result};
use rusqlite::{Connection, params};

use crate::ids::{PluginId, VersionId};

/// Sets a version's download count.
pub fn set_version_downloads(
    conn: &Connection,
    version_id: VersionId,
    downloads: i64,
) -> Result<()> {
    conn.execute(
        "UPDATE plugin_versions SET downloads = ?2 WHERE id = ?1",
        params![version_id, downloads],
    )
    .with_context(|| format!("failed to set the downloads of version {version_id}"))?;
    Ok(())
}

/// Adds `downloads` to a plugin's download count.
pub fn add_plugin_downloads(conn: &Connection, plugin_id: PluginId, downloads: i64) -> Result<()> {
    conn.execute(
        "UPDATE plugins SET downloads = downloads + ?2 WHERE id = ?1",
        params![plugin_id, downloads],
    )
    .with_context(|| format!("failed to add downloads to plugin {plugin_id}"))?;
    Ok(())
}

/// Sets a plugin's download count and rating.
pub fn set_plugin_popularity(
    conn: &Connection,
    plugin_id: PluginId,
    downloads: i64,
    votes: i64,
    score: i64,
) -> Result<()> {
    conn.execute(
        "UPDATE plugins SET downloads = ?2, rating_votes = ?3, rating_score = ?4 WHERE id = ?1",
        params![plugin_id, downloads, votes, score],
    )
    .with_context(|| format!("failed to set the popularity of plugin {plugin_id}"))?;
    Ok(())
}

/// How many plugins the catalog holds (seeders refuse to seed over existing data).
pub fn plugin_count(conn: &Connection) -> Result<i64> {
    conn.query_row("SELECT count(*) FROM plugins", [], |r| r.get(0))
        .context("failed to count plugins")
}
