//! The outbox's sender: a task of the service that delivers due mail over SMTP, marks it
//! sent, and retries failures with exponential backoff (`retry_base` doubled per attempt, at
//! most `retry_max`). It sleeps until `app.mail_wake` (a transaction queued mail) or the next
//! due time. Without `smtp_url` it does not run and mail stays in the outbox.
//!
//! Delivery is at least once, never lost: a mail is marked sent only after the SMTP server
//! accepted it. A crash between that acceptance and the mark sends it again after restart,
//! with the SAME `Message-ID` (stored with the row since it was queued), so receivers and
//! mail clients that deduplicate on Message-ID show it once. Bodies are never logged (an
//! invitation carries a one-time link): logs name mail ids, kinds and recipient counts.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use catalog::outbox::OutboxMail;

use crate::app::{self, App};
use crate::config::MailConfig;

/// Mails taken from the outbox per pass.
const BATCH: u32 = 50;
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The SMTP side of the sender.
struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    fn new(config: &MailConfig, url: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("the SMTP URL (PLUGINS_SMTP_URL) is not valid: use smtp://host:port, or smtps://user:password@host for TLS")?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = config.from.parse::<Mailbox>().with_context(|| {
            format!("the From address (PLUGINS_MAIL_FROM) `{}` is not valid", config.from)
        })?;
        Ok(Smtp { transport, from })
    }
}

/// Starts the sender on the current runtime when `smtp_url` is set; fails on a bad URL or
/// From address (the service should not start and lose no mail silently).
pub fn start(app: &App) -> Result<()> {
    let Some(url) = app.config.mail.smtp_url.as_deref() else {
        tracing::info!(
            "no SMTP server configured: mail stays in the outbox (`uploader mail list`)"
        );
        return Ok(());
    };
    let smtp = Smtp::new(&app.config.mail, url)?;
    tracing::info!("mail sender started");
    tokio::spawn(run(app.clone(), smtp));
    Ok(())
}

async fn run(app: App, smtp: Smtp) {
    loop {
        let next = match deliver_due(&app, &smtp).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "mail sender pass failed");
                Some(Utc::now() + app.config.mail.retry_base)
            }
        };
        wait(&app, next).await;
    }
}

/// Sleeps until woken or `next` (forever without one).
async fn wait(app: &App, next: Option<DateTime<Utc>>) {
    let sleep = next.map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO));
    match sleep {
        Some(d) => {
            tokio::select! {
                () = app.mail_wake.notified() => {},
                () = tokio::time::sleep(d) => {},
            }
        }
        None => app.mail_wake.notified().await,
    }
}

/// Delivers every due mail; returns when the next one is due.
async fn deliver_due(app: &App, smtp: &Smtp) -> Result<Option<DateTime<Utc>>> {
    loop {
        let batch = app
            .db(|conn| catalog::outbox::due(conn, Utc::now(), BATCH))
            .await
            .context("failed to read the outbox")?;
        let full = batch.len() == BATCH as usize;
        for mail in batch {
            deliver(app, smtp, mail).await?;
        }
        if !full {
            break;
        }
    }
    app.db(|conn| catalog::outbox::next_due(conn)).await
}

/// One delivery attempt, and its outcome recorded.
async fn deliver(app: &App, smtp: &Smtp, mail: OutboxMail) -> Result<()> {
    let id = mail.id;
    let outcome = match message(&smtp.from, &mail) {
        Ok(message) => smtp.transport.send(message).await.map(drop).map_err(|e| e.to_string()),
        Err(e) => Err(format!("{e:#}")),
    };
    match outcome {
        Ok(()) => {
            // Accepted by the server, not yet marked: a crash here resends with this same
            // Message-ID after restart (see the module docs).
            app::failpoint("mail.after_send");
            app.db(move |conn| catalog::outbox::mark_sent(conn, id, Utc::now())).await?;
            tracing::info!(mail = %id, kind = ?mail.kind, recipients = mail.recipients.len(), "mail sent");
        }
        Err(error) => {
            let wait = backoff(&app.config.mail, mail.attempts);
            let next = Utc::now() + wait;
            tracing::warn!(mail = %id, attempts = mail.attempts + 1, retry_in_s = wait.as_secs(), %error, "mail delivery failed");
            app.db(move |conn| catalog::outbox::record_failure(conn, id, &error, next)).await?;
        }
    }
    Ok(())
}

/// The wait after the `attempts + 1`-th failure: `retry_base · 2^attempts`, at most
/// `retry_max`.
pub fn backoff(config: &MailConfig, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX);
    config.retry_base.saturating_mul(factor).min(config.retry_max.max(config.retry_base))
}

/// The message of an outbox row, with its stored Message-ID.
fn message(from: &Mailbox, mail: &OutboxMail) -> Result<Message> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}>", mail.message_id)))
        .date(mail.created_on.into())
        .header(ContentType::TEXT_PLAIN);
    for to in &mail.recipients {
        let to = to.parse::<Mailbox>().with_context(|| format!("bad recipient address `{to}`"))?;
        builder = builder.to(to);
    }
    builder.body(mail.body.clone()).context("failed to build the message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let c = MailConfig {
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(60),
            ..MailConfig::default()
        };
        let waits: Vec<u64> = (0..6).map(|a| backoff(&c, a).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff(&c, u32::MAX).as_secs(), 60);
    }

    #[test]
    fn the_message_carries_the_stored_message_id() {
        let from: Mailbox = MailConfig::default().from.parse().unwrap();
        let mail = OutboxMail {
            id: catalog::ids::MailId(1),
            message_id: "abc123@p.example".into(),
            kind: Some(catalog::outbox::MailKind::Approved),
            recipients: vec!["a@example.org".into(), "b@example.org".into()],
            subject: "[QGIS Plugins] Plugin Demo approval notification.".into(),
            body: "Approved.".into(),
            created_on: Utc::now(),
            attempts: 0,
            next_attempt_on: Utc::now(),
            last_error: None,
            sent_on: None,
        };
        let text = String::from_utf8(message(&from, &mail).unwrap().formatted()).unwrap();
        assert!(text.contains("Message-ID: <abc123@p.example>"), "{text}");
        assert!(text.contains("From: \"QGIS Plugins\" <no-reply-plugins@qgis.org>"), "{text}");
        assert_eq!(message(&from, &mail).unwrap().envelope().to().len(), 2);
        let bad = OutboxMail { recipients: vec!["TBD".into()], ..mail };
        assert!(message(&from, &bad).is_err());
    }
}
