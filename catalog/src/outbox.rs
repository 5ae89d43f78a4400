//! The mail outbox: every statement on `outbox` (rows are written in the transaction of the
//! event they tell of, and marked sent by the sender), the kinds of mail, and who receives
//! each (editors of a plugin, the review group, the reviewers of a version, one user).
//! Callers own the transaction.

use std::fmt;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::ids::{MailId, PluginId, UserId, VersionId};
use crate::time::{fmt_time, parse_time};

/// `outbox.event`: which notification of reference §3.8 a mail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    PluginCreated,
    UploadReceived,
    ScanFinished,
    ReadyForReview,
    Approved,
    Unapproved,
    FeedbackGiven,
    FeedbackResolved,
    TrustChanged,
    Invitation,
}

impl MailKind {
    pub const ALL: [MailKind; 10] = [
        MailKind::PluginCreated,
        MailKind::UploadReceived,
        MailKind::ScanFinished,
        MailKind::ReadyForReview,
        MailKind::Approved,
        MailKind::Unapproved,
        MailKind::FeedbackGiven,
        MailKind::FeedbackResolved,
        MailKind::TrustChanged,
        MailKind::Invitation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::PluginCreated => "plugin_created",
            MailKind::UploadReceived => "upload_received",
            MailKind::ScanFinished => "scan_finished",
            MailKind::ReadyForReview => "ready_for_review",
            MailKind::Approved => "approved",
            MailKind::Unapproved => "unapproved",
            MailKind::FeedbackGiven => "feedback_given",
            MailKind::FeedbackResolved => "feedback_resolved",
            MailKind::TrustChanged => "trust_changed",
            MailKind::Invitation => "invitation",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A composed mail to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub kind: MailKind,
    /// Addresses, without duplicates; never empty.
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// A row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub id: MailId,
    /// Without the angle brackets; the same on every delivery attempt.
    pub message_id: String,
    /// `None` for a code this build does not know (a newer version wrote it).
    pub kind: Option<MailKind>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub created_on: DateTime<Utc>,
    pub attempts: u32,
    pub next_attempt_on: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_on: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, message_id, event, recipients, subject, body, created_on, attempts,
                       next_attempt_on, last_error, sent_on";

fn mail_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxMail> {
    let recipients: String = r.get(3)?;
    let recipients = serde_json::from_str(&recipients).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(OutboxMail {
        id: r.get(0)?,
        message_id: r.get(1)?,
        kind: MailKind::parse(&r.get::<_, String>(2)?),
        recipients,
        subject: r.get(4)?,
        body: r.get(5)?,
        created_on: parse_time(&r.get::<_, String>(6)?)?,
        attempts: r.get(7)?,
        next_attempt_on: parse_time(&r.get::<_, String>(8)?)?,
        last_error: r.get(9)?,
        sent_on: r.get::<_, Option<String>>(10)?.map(|t| parse_time(&t)).transpose()?,
    })
}

/// Queues `mail` under `message_id` (fresh, unique; without angle brackets), due at once.
pub fn enqueue(
    conn: &Connection,
    message_id: &str,
    mail: &NewMail,
    now: DateTime<Utc>,
) -> Result<MailId> {
    let recipients = serde_json::to_string(&mail.recipients)?;
    conn.execute(
        "INSERT INTO outbox (message_id, event, recipients, subject, body, created_on,
                             next_attempt_on)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![message_id, mail.kind.as_str(), recipients, mail.subject, mail.body, fmt_time(now)],
    )
    .with_context(|| format!("failed to queue the {} mail", mail.kind))?;
    Ok(MailId(conn.last_insert_rowid()))
}

/// Unsent mail due at `now`, oldest first, at most `limit`.
pub fn due(conn: &Connection, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxMail>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE sent_on IS NULL AND next_attempt_on <= ?1
         ORDER BY next_attempt_on, id LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![fmt_time(now), limit], mail_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to read the due mail")?;
    Ok(rows)
}

/// When the next unsent mail is due (`None`: nothing to send).
pub fn next_due(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    let next: Option<String> = conn
        .query_row("SELECT MIN(next_attempt_on) FROM outbox WHERE sent_on IS NULL", [], |r| {
            r.get(0)
        })
        .context("failed to read when mail is next due")?;
    next.map(|t| parse_time(&t)).transpose().context("bad time in the outbox")
}

/// Marks a mail delivered (the SMTP server accepted it).
pub fn mark_sent(conn: &Connection, id: MailId, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET sent_on = ?2, last_error = NULL WHERE id = ?1",
        params![id, fmt_time(now)],
    )
    .with_context(|| format!("failed to mark mail {id} sent"))?;
    Ok(())
}

/// Records a failed delivery: one more attempt, its error, and when to try again.
pub fn record_failure(
    conn: &Connection,
    id: MailId,
    error: &str,
    next_attempt_on: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_on = ?3
         WHERE id = ?1",
        params![id, error, fmt_time(next_attempt_on)],
    )
    .with_context(|| format!("failed to record the failed delivery of mail {id}"))?;
    Ok(())
}

/// The outbox for `uploader mail list`: unsent mail only, or (`all`) every row; oldest first.
pub fn list(conn: &Connection, all: bool) -> Result<Vec<OutboxMail>> {
    let filter = if all { "" } else { "WHERE sent_on IS NULL" };
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM outbox {filter} ORDER BY id"))?;
    let rows = stmt
        .query_map([], mail_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to read the outbox")?;
    Ok(rows)
}

/// One mail by id.
pub fn mail_by_id(conn: &Connection, id: MailId) -> Result<Option<OutboxMail>> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"), [id], mail_from_row)
        .optional()
        .with_context(|| format!("failed to read mail {id}"))
}

fn addresses(conn: &Connection, sql: &str, key: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt
        .query_map(key, |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()
        .context("failed to read the recipients")?;
    Ok(rows)
}

/// Addresses of a plugin's editors: creator, owners and maintainer, active, with an address.
pub fn editor_addresses(conn: &Connection, plugin: PluginId) -> Result<Vec<String>> {
    addresses(
        conn,
        "SELECT DISTINCT u.email FROM users u
         WHERE u.is_active AND u.email <> '' AND u.id IN (
             SELECT created_by FROM plugins WHERE id = ?1
             UNION SELECT maintainer FROM plugins WHERE id = ?1
             UNION SELECT user_id FROM plugin_owners WHERE plugin_id = ?1)
         ORDER BY u.email",
        [plugin],
    )
}

/// Addresses of the review group: active staff with `review_mail` and an address.
pub fn review_group_addresses(conn: &Connection) -> Result<Vec<String>> {
    addresses(
        conn,
        "SELECT DISTINCT email FROM users
         WHERE review_mail AND (is_staff OR is_superuser) AND is_active AND email <> ''
         ORDER BY email",
        [],
    )
}

/// Addresses of the reviewers who wrote tasks on a version (active, with an address).
pub fn reviewer_addresses(conn: &Connection, version: VersionId) -> Result<Vec<String>> {
    addresses(
        conn,
        "SELECT DISTINCT u.email FROM users u
         WHERE u.is_active AND u.email <> ''
           AND u.id IN (SELECT reviewer_id FROM feedback_tasks WHERE version_id = ?1)
         ORDER BY u.email",
        [version],
    )
}

/// A user's address, if the account is active and has one.
pub fn user_address(conn: &Connection, user: UserId) -> Result<Option<String>> {
    Ok(addresses(
        conn,
        "SELECT email FROM users WHERE id = ?1 AND is_active AND email <> ''",
        [user],
    )?
    .pop())
}

/// What a mail about a version names: the plugin's package and display name, the version,
/// and its scan state (`plugin_versions.validation_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNames {
    pub package: String,
    pub name: String,
    pub version: String,
    pub validation_status: String,
    pub approved: bool,
}

/// The names a mail about `version` of `plugin` needs (`None`: no such version).
pub fn version_names(
    conn: &Connection,
    plugin: PluginId,
    version: VersionId,
) -> Result<Option<VersionNames>> {
    conn.query_row(
        "SELECT p.package_name, p.name, v.version, v.validation_status, v.approved
         FROM plugin_versions v JOIN plugins p ON p.id = v.plugin_id
         WHERE v.id = ?2 AND p.id = ?1",
        params![plugin, version],
        |r| {
            Ok(VersionNames {
                package: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                validation_status: r.get(3)?,
                approved: r.get(4)?,
            })
        },
    )
    .optional()
    .with_context(|| format!("failed to read the names of version {version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> NewMail {
        NewMail {
            kind: MailKind::Approved,
            recipients: vec!["a@example.org".into(), "b@example.org".into()],
            subject: "[QGIS Plugins] s".into(),
            body: "b".into(),
        }
    }

    #[test]
    fn kinds_round_trip() {
        for k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MailKind::parse("nope"), None);
    }

    #[test]
    fn queue_fail_retry_and_send() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(dir.path()).unwrap();
        let t0 = crate::time::now();
        let id = enqueue(&conn, "abc@example.org", &mail(), t0).unwrap();
        assert_eq!(due(&conn, t0, 10).unwrap().len(), 1);
        let later = t0 + chrono::Duration::seconds(30);
        record_failure(&conn, id, "connection refused", later).unwrap();
        assert!(due(&conn, t0, 10).unwrap().is_empty());
        assert_eq!(next_due(&conn).unwrap(), Some(parse_time(&fmt_time(later)).unwrap()));
        let row = &due(&conn, later, 10).unwrap()[0];
        assert_eq!((row.attempts, row.last_error.as_deref()), (1, Some("connection refused")));
        assert_eq!(row.recipients, mail().recipients);
        mark_sent(&conn, id, later).unwrap();
        assert!(due(&conn, later, 10).unwrap().is_empty());
        assert_eq!(next_due(&conn).unwrap(), None);
        assert!(list(&conn, false).unwrap().is_empty());
        assert_eq!(list(&conn, true).unwrap()[0].message_id, "abc@example.org");
    }
}
