//! The audit log: one row per change, with its actor and plugin.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use crate::time::fmt_time;

/// Appends a row to the audit log.
pub fn log_event(
    conn: &Connection,
    now: DateTime<Utc>,
    actor_id: Option<i64>,
    action: &str,
    plugin_id: Option<i64>,
    detail: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO events (at, actor_id, action, plugin_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![fmt_time(now), actor_id, action, plugin_id, detail],
    )
    .with_context(|| format!("failed to log event `{action}`"))?;
    Ok(())
}

/// One audit-log row.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    pub action: String,
    pub plugin_id: Option<i64>,
    pub detail: String,
}

/// The newest `limit` audit-log rows, newest first.
pub fn recent_events(conn: &Connection, limit: i64) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor_id, action, plugin_id, detail FROM events ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit], |r| {
            Ok(Event {
                id: r.get(0)?,
                at: r.get(1)?,
                actor_id: r.get(2)?,
                action: r.get(3)?,
                plugin_id: r.get(4)?,
                detail: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to read events")?;
    Ok(rows)
}
