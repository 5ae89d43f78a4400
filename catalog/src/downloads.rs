//! Statements of download counting: the position reached in nginx's downloads log and the
//! counts it covers, committed together so that every logged download counts exactly once.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::ids::{PluginId, VersionId};
use crate::time::fmt_time;

/// How far a log file has been counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    pub inode: u64,
    pub offset: u64,
}

/// Downloads of one version on one UTC day, as read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadCount {
    pub package: String,
    pub version: String,
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub count: u64,
}

/// What a commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountsApplied {
    /// Downloads added to known versions.
    pub counted: u64,
    /// Downloads of versions the catalog does not know (deleted since): dropped.
    pub unknown: u64,
}

/// The committed position of the log at `path`, if it was ever counted.
pub fn download_log_position(conn: &Connection, path: &str) -> Result<Option<LogPosition>> {
    let row = conn
        .query_row("SELECT inode, offset FROM download_log_state WHERE path = ?1", [path], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?;
    Ok(row.map(|(inode, offset)| LogPosition { inode: inode as u64, offset: offset as u64 }))
}

/// Adds `counts` and moves the log position from `expected` to `new`, in one immediate
/// transaction. When the committed position is no longer `expected` (another ingester got
/// there first), nothing is written and `None` is returned: the caller re-reads the log.
pub fn commit_download_counts(
    conn: &mut Connection,
    path: &str,
    expected: Option<LogPosition>,
    new: LogPosition,
    counts: &[DownloadCount],
    now: DateTime<Utc>,
) -> Result<Option<CountsApplied>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if download_log_position(&tx, path)? != expected {
        return Ok(None);
    }
    let mut applied = CountsApplied::default();
    {
        let mut find = tx.prepare_cached(
            "SELECT v.id, v.plugin_id FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
             WHERE p.package_name = ?1 AND v.version = ?2",
        )?;
        let mut per_day = tx.prepare_cached(
            "INSERT INTO version_downloads (version_id, day, count) VALUES (?1, ?2, ?3)
             ON CONFLICT (version_id, day) DO UPDATE SET count = count + excluded.count",
        )?;
        let mut version = tx.prepare_cached(
            "UPDATE plugin_versions SET downloads = downloads + ?2 WHERE id = ?1",
        )?;
        let mut plugin =
            tx.prepare_cached("UPDATE plugins SET downloads = downloads + ?2 WHERE id = ?1")?;
        for c in counts {
            let n = i64::try_from(c.count).context("download count out of range")?;
            let ids: Option<(VersionId, PluginId)> = find
                .query_row(params![c.package, c.version], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((version_id, plugin_id)) = ids else {
                applied.unknown += c.count;
                continue;
            };
            per_day.execute(params![version_id, c.day, n])?;
            version.execute(params![version_id, n])?;
            plugin.execute(params![plugin_id, n])?;
            applied.counted += c.count;
        }
    }
    tx.execute(
        "INSERT INTO download_log_state (path, inode, offset, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, offset = excluded.offset,
             updated_at = excluded.updated_at",
        params![path, new.inode as i64, new.offset as i64, fmt_time(now)],
    )?;
    tx.commit().context("failed to commit download counts")?;
    Ok(Some(applied))
}

/// Downloads per UTC day of one version (`package`, `version`), oldest first.
pub fn version_downloads_per_day(
    conn: &Connection,
    package: &str,
    version: &str,
) -> Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT d.day, d.count FROM version_downloads d
         JOIN plugin_versions v ON v.id = d.version_id JOIN plugins p ON p.id = v.plugin_id
         WHERE p.package_name = ?1 AND v.version = ?2 ORDER BY d.day",
    )?;
    let rows = stmt.query_map(params![package, version], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The download counters of a version and of its plugin.
pub fn download_counters(
    conn: &Connection,
    package: &str,
    version: &str,
) -> Result<Option<(u64, u64)>> {
    Ok(conn
        .query_row(
            "SELECT v.downloads, p.downloads FROM plugin_versions v
             JOIN plugins p ON p.id = v.plugin_id WHERE p.package_name = ?1 AND v.version = ?2",
            params![package, version],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .optional()?)
}

/// Where the stored zip of a version is (relative to the data dir) and whether it is
/// approved, for the editors' download of unapproved versions.
#[derive(Debug, Clone)]
pub struct VersionFile {
    pub plugin_id: PluginId,
    pub version: String,
    pub approved: bool,
    pub package_path: String,
}

/// The version `version` of plugin `package` (not deleted), if any.
pub fn version_file(
    conn: &Connection,
    package: &str,
    version: &str,
) -> Result<Option<VersionFile>> {
    Ok(conn
        .query_row(
            "SELECT v.plugin_id, v.version, v.approved, v.package_path FROM plugin_versions v
             JOIN plugins p ON p.id = v.plugin_id
             WHERE p.package_name = ?1 AND v.version = ?2 AND p.is_deleted = 0",
            params![package, version],
            |r| {
                Ok(VersionFile {
                    plugin_id: r.get(0)?,
                    version: r.get(1)?,
                    approved: r.get(2)?,
                    package_path: r.get(3)?,
                })
            },
        )
        .optional()?)
}
