//! Reviewer feedback (reference §5.4): every statement on `feedback_tasks`, the queue state
//! of pending versions (awaiting review, changes requested, resolved), a pending version's
//! place in the review queue, and the median time from upload to approval.
//! Callers own the transaction.

use std::collections::HashMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::ids::{TaskId, UserId, VersionId};
use crate::time::{fmt_time, parse_time};

/// One task of a version, with the names of the people around it.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: TaskId,
    pub version_id: VersionId,
    pub reviewer_id: Option<UserId>,
    /// `None` once the reviewer's account is gone.
    pub reviewer: Option<String>,
    pub text: String,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
    pub completed_on: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
    /// The author's reply ('' : none).
    pub answer: String,
    pub answered_on: Option<DateTime<Utc>>,
}

const TASK_SELECT: &str = "SELECT t.id, t.version_id, t.reviewer_id, r.username, t.task,
        t.created_on, t.modified_on, t.completed_on, c.username, t.answer, t.answered_on
     FROM feedback_tasks t
     LEFT JOIN users r ON r.id = t.reviewer_id
     LEFT JOIN users c ON c.id = t.completed_by";

fn opt_time(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    r.get::<_, Option<String>>(i)?.as_deref().map(parse_time).transpose()
}

fn task_from_row(r: &Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: r.get(0)?,
        version_id: r.get(1)?,
        reviewer_id: r.get(2)?,
        reviewer: r.get(3)?,
        text: r.get(4)?,
        created_on: parse_time(&r.get::<_, String>(5)?)?,
        modified_on: parse_time(&r.get::<_, String>(6)?)?,
        completed_on: opt_time(r, 7)?,
        completed_by: r.get(8)?,
        answer: r.get(9)?,
        answered_on: opt_time(r, 10)?,
    })
}

/// Adds one task per text, in order; returns their ids.
pub fn add_tasks(
    conn: &Connection,
    version_id: VersionId,
    reviewer: UserId,
    texts: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<TaskId>> {
    let mut stmt = conn.prepare(
        "INSERT INTO feedback_tasks (version_id, reviewer_id, task, created_on, modified_on)
         VALUES (?1, ?2, ?3, ?4, ?4) RETURNING id",
    )?;
    texts
        .iter()
        .map(|text| {
            stmt.query_row(params![version_id, reviewer, text, fmt_time(now)], |r| r.get(0))
                .context("failed to add a feedback task")
        })
        .collect()
}

/// A version's tasks, oldest first.
pub fn tasks_of_version(conn: &Connection, version_id: VersionId) -> Result<Vec<Task>> {
    let mut stmt = conn.prepare(&format!("{TASK_SELECT} WHERE t.version_id = ?1 ORDER BY t.id"))?;
    let rows = stmt
        .query_map([version_id], task_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to read the feedback of a version")?;
    Ok(rows)
}

/// One task of a version (`None`: no such task on that version).
pub fn task_of_version(
    conn: &Connection,
    version_id: VersionId,
    task_id: TaskId,
) -> Result<Option<Task>> {
    conn.query_row(
        &format!("{TASK_SELECT} WHERE t.version_id = ?1 AND t.id = ?2"),
        params![version_id, task_id],
        task_from_row,
    )
    .optional()
    .context("failed to read a feedback task")
}

/// Marks a task done by `by`, or (`by` = `None`) open again. False when it already was.
pub fn set_completed(
    conn: &Connection,
    task_id: TaskId,
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE feedback_tasks
             SET completed_on = CASE WHEN ?2 IS NULL THEN NULL ELSE ?3 END, completed_by = ?2
             WHERE id = ?1 AND (completed_on IS NULL) = (?2 IS NOT NULL)",
            params![task_id, by, fmt_time(now)],
        )
        .context("failed to complete or reopen a feedback task")?;
    Ok(n == 1)
}

/// Sets the author's answer ('' removes it). False when it was already that text.
pub fn set_answer(
    conn: &Connection,
    task_id: TaskId,
    answer: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE feedback_tasks
             SET answer = ?2, answered_on = CASE WHEN ?2 = '' THEN NULL ELSE ?3 END
             WHERE id = ?1 AND answer <> ?2",
            params![task_id, answer, fmt_time(now)],
        )
        .context("failed to answer a feedback task")?;
    Ok(n == 1)
}

/// Changes a task's text. False when it was already that text.
pub fn set_text(
    conn: &Connection,
    task_id: TaskId,
    text: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE feedback_tasks SET task = ?2, modified_on = ?3 WHERE id = ?1 AND task <> ?2",
            params![task_id, text, fmt_time(now)],
        )
        .context("failed to edit a feedback task")?;
    Ok(n == 1)
}

/// Deletes a task. False when it was not there.
pub fn delete_task(conn: &Connection, task_id: TaskId) -> Result<bool> {
    let n = conn
        .execute("DELETE FROM feedback_tasks WHERE id = ?1", [task_id])
        .context("failed to delete a feedback task")?;
    Ok(n == 1)
}

/// The number of a version's tasks still open.
pub fn open_count(conn: &Connection, version_id: VersionId) -> Result<u32> {
    conn.query_row(
        "SELECT COUNT(*) FROM feedback_tasks WHERE version_id = ?1 AND completed_on IS NULL",
        [version_id],
        |r| r.get(0),
    )
    .context("failed to count open feedback tasks")
}

/// What the tasks of one version add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskSummary {
    pub total: u32,
    pub open: u32,
    /// When the newest task was written.
    pub last_feedback_on: Option<DateTime<Utc>>,
    /// When a task was last completed.
    pub last_completed_on: Option<DateTime<Utc>>,
}

/// The task summaries of many versions in one statement; versions without tasks are absent.
pub fn task_summaries(
    conn: &Connection,
    versions: &[VersionId],
) -> Result<HashMap<VersionId, TaskSummary>> {
    let ids = serde_json::to_string(versions).context("failed to list version ids")?;
    let mut stmt = conn.prepare(
        "SELECT version_id, COUNT(*), COUNT(*) - COUNT(completed_on), MAX(created_on),
                MAX(completed_on)
         FROM feedback_tasks
         WHERE version_id IN (SELECT value FROM json_each(?1))
         GROUP BY version_id",
    )?;
    let rows = stmt
        .query_map([ids], |r| {
            let summary = TaskSummary {
                total: r.get(1)?,
                open: r.get(2)?,
                last_feedback_on: opt_time(r, 3)?,
                last_completed_on: opt_time(r, 4)?,
            };
            Ok((r.get(0)?, summary))
        })?
        .collect::<rusqlite::Result<HashMap<_, _>>>()
        .context("failed to count feedback tasks")?;
    Ok(rows)
}

/// Where a pending version stands between reviewer and author (reference §5.4's queues).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueState {
    /// No feedback yet: the reviewers' turn.
    AwaitingReview,
    /// Open tasks: the author's turn.
    ChangesRequested,
    /// Every task done: the reviewers' turn again.
    Resolved,
}

impl QueueState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::AwaitingReview => "awaiting_review",
            QueueState::ChangesRequested => "changes_requested",
            QueueState::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "awaiting_review" => QueueState::AwaitingReview,
            "changes_requested" => QueueState::ChangesRequested,
            "resolved" => QueueState::Resolved,
            _ => return None,
        })
    }

    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            QueueState::AwaitingReview => "Awaiting review",
            QueueState::ChangesRequested => "Changes requested",
            QueueState::Resolved => "Resolved",
        }
    }
}

/// A pending version's queue state and since when it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStatus {
    pub state: QueueState,
    /// The upload (awaiting review), the newest feedback (changes requested), the last
    /// completion (resolved).
    pub since: DateTime<Utc>,
}

impl QueueStatus {
    /// The state of a version uploaded at `uploaded` whose tasks add up to `tasks`.
    pub fn of(uploaded: DateTime<Utc>, tasks: Option<&TaskSummary>) -> Self {
        match tasks {
            Some(t) if t.open > 0 => QueueStatus {
                state: QueueState::ChangesRequested,
                since: t.last_feedback_on.unwrap_or(uploaded),
            },
            Some(t) if t.total > 0 => QueueStatus {
                state: QueueState::Resolved,
                since: t.last_completed_on.unwrap_or(uploaded),
            },
            _ => QueueStatus { state: QueueState::AwaitingReview, since: uploaded },
        }
    }
}

/// A pending version's place in the review queue (the order of `review::pending_versions`:
/// oldest upload first, every unapproved version of a plugin not marked for deletion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePlace {
    /// 1-based.
    pub position: u32,
    pub length: u32,
}

/// The place of `version_id` in the review queue; `None` when it is not in it.
pub fn queue_place(conn: &Connection, version_id: VersionId) -> Result<Option<QueuePlace>> {
    Ok(queue_places(conn, &[version_id])?.remove(&version_id))
}

/// The places of many versions in the review queue in one statement; versions not in it
/// are absent.
pub fn queue_places(
    conn: &Connection,
    versions: &[VersionId],
) -> Result<HashMap<VersionId, QueuePlace>> {
    let ids = serde_json::to_string(versions).context("failed to list version ids")?;
    let mut stmt = conn.prepare(
        "SELECT id, position, length FROM (
             SELECT v.id, ROW_NUMBER() OVER (ORDER BY v.created_on, v.id) AS position,
                    COUNT(*) OVER () AS length
             FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
             WHERE v.approved = 0 AND p.is_deleted = 0)
         WHERE id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt
        .query_map([ids], |r| {
            Ok((r.get(0)?, QueuePlace { position: r.get(1)?, length: r.get(2)? }))
        })?
        .collect::<rusqlite::Result<HashMap<_, _>>>()
        .context("failed to find versions' places in the review queue")?;
    Ok(rows)
}

/// The median time from upload to approval of the versions a reviewer approved (not those
/// approved at upload) during the `days` before `now`; `None` when there were none.
pub fn median_time_to_approval(
    conn: &Connection,
    now: DateTime<Utc>,
    days: i64,
) -> Result<Option<Duration>> {
    let since = fmt_time(now - Duration::days(days));
    let mut stmt = conn.prepare(
        "SELECT created_on, approved_on FROM plugin_versions
         WHERE approved = 1 AND approved_on >= ?1 AND approved_on > created_on",
    )?;
    let mut waits = stmt
        .query_map([since], |r| {
            let created = parse_time(&r.get::<_, String>(0)?)?;
            let approved = parse_time(&r.get::<_, String>(1)?)?;
            Ok(approved - created)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to read approval times")?;
    Ok(median(&mut waits))
}

fn median(values: &mut [Duration]) -> Option<Duration> {
    values.sort();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// What the public status of a version needs from its row.
#[derive(Debug, Clone)]
pub struct VersionState {
    pub approved: bool,
    /// `plugin_versions.validation_status` as stored (a `checks::ScanStatus` code).
    pub validation_status: String,
    pub created_on: DateTime<Utc>,
}

/// The approval, scan state and upload time of a version.
pub fn version_state(conn: &Connection, version_id: VersionId) -> Result<Option<VersionState>> {
    conn.query_row(
        "SELECT approved, validation_status, created_on FROM plugin_versions WHERE id = ?1",
        [version_id],
        |r| {
            Ok(VersionState {
                approved: r.get(0)?,
                validation_status: r.get(1)?,
                created_on: parse_time(&r.get::<_, String>(2)?)?,
            })
        },
    )
    .optional()
    .context("failed to read a version's state")
}

#[cfg(test)]
mod tests;
