//! Review: approval and unapproval of versions, and the review queue.
//! Callers own the transaction; every change bumps the plugin's revision.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use crate::feedback::{QueueStatus, task_summaries};
use crate::ids::{PluginId, UserId, VersionId};
use crate::metadata::sync_public_metadata;
use crate::plugins::touch;
use crate::time::{fmt_time, parse_time};

/// Approves (recording who and when) or unapproves a version. Returns false when the
/// version already had that state (nothing changed).
pub fn set_version_approved(
    conn: &Connection,
    plugin_id: PluginId,
    version_id: VersionId,
    approved: bool,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE plugin_versions SET approved = ?3,
                approved_by = CASE WHEN ?3 THEN ?4 END,
                approved_on = CASE WHEN ?3 THEN ?5 END
             WHERE id = ?1 AND plugin_id = ?2 AND approved <> ?3",
            params![version_id, plugin_id, approved, by, fmt_time(now)],
        )
        .with_context(|| format!("failed to change the approval of version {version_id}"))?;
    if n == 1 {
        touch(conn, plugin_id, now)?;
        sync_public_metadata(conn, plugin_id)?;
    }
    Ok(n == 1)
}

/// A version waiting for review.
#[derive(Debug, Clone)]
pub struct PendingVersion {
    pub plugin_id: PluginId,
    pub package_name: String,
    pub plugin_name: String,
    pub version_id: VersionId,
    pub version: String,
    pub experimental: bool,
    pub created_on: DateTime<Utc>,
    pub uploaded_by: Option<String>,
    /// The uploader is trusted (`can_approve`) or staff.
    pub uploader_trusted: bool,
    pub is_from_token: bool,
    pub package_sha256: String,
    pub package_size: i64,
    /// When the zip was last replaced (`None`: the one first uploaded).
    pub replaced_on: Option<DateTime<Utc>>,
    /// Awaiting review, changes requested or resolved, and since when (its feedback tasks).
    pub queue: QueueStatus,
}

/// Unapproved versions of plugins not marked for deletion, oldest first; restricted to the
/// plugins `editor` edits when given.
pub fn pending_versions(conn: &Connection, editor: Option<UserId>) -> Result<Vec<PendingVersion>> {
    let mut stmt = conn.prepare(
        "SELECT p.id, p.package_name, p.name, v.id, v.version, v.experimental, v.created_on,
                u.username, v.is_from_token, v.package_sha256, v.package_size, v.replaced_on,
                COALESCE(u.can_approve OR u.is_staff OR u.is_superuser, 0)
         FROM plugin_versions v
         JOIN plugins p ON p.id = v.plugin_id
         LEFT JOIN users u ON u.id = v.created_by
         WHERE v.approved = 0 AND p.is_deleted = 0
           AND (?1 IS NULL OR p.created_by = ?1
                OR p.id IN (SELECT plugin_id FROM plugin_owners WHERE user_id = ?1))
         ORDER BY v.created_on, v.id",
    )?;
    let rows = stmt
        .query_map([editor], |r| {
            let created_on = parse_time(&r.get::<_, String>(6)?)?;
            Ok(PendingVersion {
                plugin_id: r.get(0)?,
                package_name: r.get(1)?,
                plugin_name: r.get(2)?,
                version_id: r.get(3)?,
                version: r.get(4)?,
                experimental: r.get(5)?,
                created_on,
                uploaded_by: r.get(7)?,
                is_from_token: r.get(8)?,
                package_sha256: r.get(9)?,
                package_size: r.get(10)?,
                replaced_on: r
                    .get::<_, Option<String>>(11)?
                    .as_deref()
                    .map(parse_time)
                    .transpose()?,
                uploader_trusted: r.get(12)?,
                queue: QueueStatus::of(created_on, None),
            })
        })?
        .collect::<rusqlite::Result<Vec<PendingVersion>>>()
        .context("failed to read the review queue")?;
    with_queue_states(conn, rows)
}

/// Sets each pending version's queue state from its feedback tasks (one statement for all).
fn with_queue_states(
    conn: &Connection,
    mut rows: Vec<PendingVersion>,
) -> Result<Vec<PendingVersion>> {
    let ids: Vec<VersionId> = rows.iter().map(|r| r.version_id).collect();
    let tasks = task_summaries(conn, &ids)?;
    for r in &mut rows {
        r.queue = QueueStatus::of(r.created_on, tasks.get(&r.version_id));
    }
    Ok(rows)
}
