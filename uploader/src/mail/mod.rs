//! Mail (issue 15): the events that notify people (reference §3.8), composed and written to
//! the outbox inside the transaction of the change they tell of (`notify`), and the sender
//! that delivers the outbox over SMTP with retries (`sender`). The words are in `compose`.

pub mod compose;
pub mod sender;

use anyhow::Context as _;

use catalog::ids::{PluginId, UserId, VersionId};
use catalog::outbox::NewMail;

/// Everything that sends mail. Each service calls `notify` with one of these inside its
/// transaction; recipients are resolved there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailEvent {
    /// A first upload created a plugin: the review notification group.
    PluginCreated {
        plugin: PluginId,
        version: VersionId,
        by: UserId,
    },
    /// Any upload (new version or replacement): the plugin's editors.
    UploadReceived {
        plugin: PluginId,
        version: VersionId,
        by: UserId,
    },
    /// The scan finished (any outcome): the editors.
    ScanFinished {
        plugin: PluginId,
        version: VersionId,
    },
    /// The scan finished `validated` on an unapproved version: the review group.
    ReadyForReview {
        plugin: PluginId,
        version: VersionId,
    },
    Approved {
        plugin: PluginId,
        version: VersionId,
        by: UserId,
    },
    Unapproved {
        plugin: PluginId,
        version: VersionId,
        by: UserId,
    },
    /// A reviewer wrote feedback: the editors.
    FeedbackGiven {
        plugin: PluginId,
        version: VersionId,
        by: UserId,
    },
    /// Every task of a version is done: the reviewers who wrote them.
    FeedbackResolved {
        plugin: PluginId,
        version: VersionId,
    },
    /// Staff trusted or untrusted a user: that user.
    TrustChanged {
        user: UserId,
        trusted: bool,
        by: UserId,
    },
    /// Staff invited someone: the invitee's address, with the one-time link.
    Invitation {
        user: UserId,
        email: String,
        link: String,
        by: UserId,
    },
}

/// Composes the mail of `event` (recipients resolved on `conn`, the caller's transaction)
/// and writes it to the outbox; nothing when nobody with an address is concerned. Links are
/// built from `base_url`.
pub fn notify(
    conn: &rusqlite::Connection,
    base_url: &str,
    now: chrono::DateTime<chrono::Utc>,
    event: &MailEvent,
) -> anyhow::Result<()> {
    let base_url = base_url.trim_end_matches('/');
    let recipients = recipients(conn, event)?;
    if recipients.is_empty() {
        return Ok(());
    }
    let version = match event.version() {
        Some((plugin, version)) => Some(
            catalog::outbox::version_names(conn, plugin, version)?
                .with_context(|| format!("mail about version {version}, which is gone"))?,
        ),
        None => None,
    };
    let actor = username(conn, event.actor())?;
    let user = match event {
        MailEvent::TrustChanged { user, .. } | MailEvent::Invitation { user, .. } => {
            username(conn, Some(*user))?
        }
        _ => None,
    };
    let facts = compose::Facts {
        base_url,
        version: version.as_ref(),
        actor: actor.as_deref(),
        user: user.as_deref(),
    };
    let composed = compose::compose(event, &facts).context("a mail lacks the names it needs")?;
    let mail =
        NewMail { kind: composed.kind, recipients, subject: composed.subject, body: composed.body };
    let id = catalog::outbox::enqueue(conn, &message_id(base_url), &mail, now)?;
    tracing::debug!(mail = %id, kind = %mail.kind, recipients = mail.recipients.len(), "mail queued");
    Ok(())
}

impl MailEvent {
    /// The plugin and version a version event is about.
    fn version(&self) -> Option<(PluginId, VersionId)> {
        match *self {
            MailEvent::PluginCreated { plugin, version, .. }
            | MailEvent::UploadReceived { plugin, version, .. }
            | MailEvent::ScanFinished { plugin, version }
            | MailEvent::ReadyForReview { plugin, version }
            | MailEvent::Approved { plugin, version, .. }
            | MailEvent::Unapproved { plugin, version, .. }
            | MailEvent::FeedbackGiven { plugin, version, .. }
            | MailEvent::FeedbackResolved { plugin, version } => Some((plugin, version)),
            MailEvent::TrustChanged { .. } | MailEvent::Invitation { .. } => None,
        }
    }

    /// Who did it, when a person did.
    fn actor(&self) -> Option<UserId> {
        match *self {
            MailEvent::PluginCreated { by, .. }
            | MailEvent::UploadReceived { by, .. }
            | MailEvent::Approved { by, .. }
            | MailEvent::Unapproved { by, .. }
            | MailEvent::FeedbackGiven { by, .. }
            | MailEvent::TrustChanged { by, .. }
            | MailEvent::Invitation { by, .. } => Some(by),
            MailEvent::ScanFinished { .. }
            | MailEvent::ReadyForReview { .. }
            | MailEvent::FeedbackResolved { .. } => None,
        }
    }
}

/// Who receives the mail of `event` (contract: editors, the review group, the reviewers, or
/// one user); addresses without duplicates.
fn recipients(conn: &rusqlite::Connection, event: &MailEvent) -> anyhow::Result<Vec<String>> {
    use catalog::outbox as o;
    Ok(match event {
        MailEvent::PluginCreated { .. } | MailEvent::ReadyForReview { .. } => {
            o::review_group_addresses(conn)?
        }
        MailEvent::UploadReceived { plugin, .. }
        | MailEvent::ScanFinished { plugin, .. }
        | MailEvent::Approved { plugin, .. }
        | MailEvent::Unapproved { plugin, .. }
        | MailEvent::FeedbackGiven { plugin, .. } => o::editor_addresses(conn, *plugin)?,
        MailEvent::FeedbackResolved { version, .. } => o::reviewer_addresses(conn, *version)?,
        MailEvent::TrustChanged { user, .. } => o::user_address(conn, *user)?.into_iter().collect(),
        MailEvent::Invitation { email, .. } => {
            let email = email.trim();
            if email.is_empty() { Vec::new() } else { vec![email.to_owned()] }
        }
    })
}

fn username(conn: &rusqlite::Connection, id: Option<UserId>) -> anyhow::Result<Option<String>> {
    Ok(match id {
        Some(id) => catalog::accounts::user_by_id(conn, id)?.map(|u| u.username),
        None => None,
    })
}

/// A fresh Message-ID (without angle brackets): 128 random bits `@` the site's host. It is
/// stored with the mail, so every delivery attempt of that mail carries the same one.
fn message_id(base_url: &str) -> String {
    format!("{}@{}", hex::encode(rand::random::<[u8; 16]>()), host_of(base_url))
}

/// The host of a base URL (`https://plugins.qgis.org:443/x` → `plugins.qgis.org`).
fn host_of(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    if host.is_empty() { "localhost" } else { host }
}

/// A time as `mail list` shows it (RFC 3339, UTC, seconds, as the API). Not
/// `services::api_time`: the services import this module.
fn api_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The outbox as `uploader mail list --json` prints it: no bodies (an invitation's holds a
/// one-time link).
pub fn list_json(mails: &[catalog::outbox::OutboxMail]) -> serde_json::Value {
    mails
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "message_id": m.message_id,
                "created": api_time(m.created_on),
                "event": m.kind.map(|k| k.as_str()),
                "recipients": m.recipients,
                "subject": m.subject,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "next_attempt": api_time(m.next_attempt_on),
                "sent": m.sent_on.map(api_time),
            })
        })
        .collect()
}

/// The outbox as `uploader mail list` prints it: one block per mail, no bodies.
pub fn list_text(mails: &[catalog::outbox::OutboxMail]) -> String {
    use std::fmt::Write as _;
    if mails.is_empty() {
        return "no mail\n".to_owned();
    }
    let mut out = String::new();
    for m in mails {
        let state = match m.sent_on {
            Some(t) => format!("sent {}", api_time(t)),
            None => format!("pending, next attempt {}", api_time(m.next_attempt_on)),
        };
        let event = m.kind.map_or("unknown", |k| k.as_str());
        let _ = writeln!(out, "#{} {} {event} ({state})", m.id, api_time(m.created_on));
        let _ = writeln!(out, "  to: {}", m.recipients.join(", "));
        let _ = writeln!(out, "  subject: {}", m.subject);
        let _ = writeln!(out, "  attempts: {}", m.attempts);
        if let Some(e) = &m.last_error {
            let _ = writeln!(out, "  last error: {e}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_fresh_and_name_the_site() {
        assert_eq!(host_of("https://plugins.qgis.org"), "plugins.qgis.org");
        assert_eq!(host_of("http://127.0.0.1:8080/"), "127.0.0.1");
        assert_eq!(host_of("http://[::1]:80"), "::1");
        assert_eq!(host_of(""), "localhost");
        let (a, b) = (message_id("https://p.example"), message_id("https://p.example"));
        assert_ne!(a, b);
        assert!(a.ends_with("@p.example") && a.len() == 32 + "@p.example".len(), "{a}");
    }
}
