//! The one skeleton of every change to a plugin: throttle → `BEGIN IMMEDIATE` → plugin or
//! 404 → permission → the change → audit event → COMMIT → build request → wait (bounded)
//! until the change is live. A change that turns out to change nothing writes no event,
//! requests no build and gives its throttle token back.

use rusqlite::Transaction;

use catalog::accounts::User;
use catalog::events::AuditEvent;
use catalog::plugins::PluginRow;

use super::{ServiceError, ServiceResult, can_approve, db, forbid_non_editor, immediate, now};
use crate::app::App;
use crate::change_throttle::Charge;

/// The right a change needs on its plugin.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Permission {
    /// Editors and staff; `what` completes "Only editors of `pkg` and staff can ...".
    Edit { what: &'static str },
    /// Staff and trusted editors.
    Approve,
}

/// Whether a change shows on the public site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Throttled per user; a change requests a build, and the caller waits until it is live.
    Site,
    /// Not on the site (upload tokens): neither throttled nor built.
    Private,
}

/// What the change function did.
#[derive(Debug)]
pub(crate) enum Changed<T> {
    /// Something changed: `event` is logged.
    Yes(T, AuditEvent),
    /// Nothing changed: no event, no build, the throttle token back.
    No(T),
}

/// Whether what is committed is on the public site yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub live: bool,
    /// How long the wait for the build took.
    pub after_ms: Option<u64>,
}

impl Live {
    /// Not waited for.
    pub const NOT_YET: Live = Live { live: false, after_ms: None };
}

/// A committed change.
#[derive(Debug)]
pub struct Applied<T> {
    pub value: T,
    pub changed: bool,
    /// `NOT_YET` for private changes (nobody waits).
    pub live: Live,
}

/// Runs `change` on `package` for `actor` within the skeleton of the module docs.
pub(crate) async fn change_plugin<T, F>(
    app: &App,
    actor: &User,
    package: &str,
    permission: Permission,
    reach: Reach,
    change: F,
) -> ServiceResult<Applied<T>>
where
    T: Send + 'static,
    F: FnOnce(
            &Transaction<'_>,
            &PluginRow,
            chrono::DateTime<chrono::Utc>,
        ) -> ServiceResult<Changed<T>>
        + Send
        + 'static,
{
    let charge = match reach {
        Reach::Site => Some(app.throttle.take(actor.id)?),
        Reach::Private => None,
    };
    let (user, package) = (actor.clone(), package.to_owned());
    let outcome = db(app, move |conn| {
        let tx = immediate(conn)?;
        let plugin = super::plugin_or_404(&tx, &package)?;
        check_permission(&tx, &plugin, &user, permission)?;
        let now = now();
        let outcome = change(&tx, &plugin, now)?;
        if let Changed::Yes(_, event) = &outcome {
            catalog::events::log_event(&tx, now, Some(user.id), Some(plugin.id), event)?;
        }
        tx.commit()?;
        Ok(outcome)
    })
    .await?;
    let (value, changed) = match outcome {
        Changed::Yes(value, _) => (value, true),
        Changed::No(value) => (value, false),
    };
    let live = match reach {
        Reach::Site => publish(app, changed, charge).await,
        Reach::Private => Live::NOT_YET,
    };
    Ok(Applied { value, changed, live })
}

/// Runs `change` (not tied to one plugin: accounts) in a write transaction, logs its event,
/// and publishes it. Not throttled (staff only).
pub(crate) async fn change_catalog<T, F>(
    app: &App,
    actor: &User,
    change: F,
) -> ServiceResult<Applied<T>>
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> ServiceResult<(T, AuditEvent)> + Send + 'static,
{
    let actor_id = actor.id;
    let value = db(app, move |conn| {
        let tx = immediate(conn)?;
        let (value, event) = change(&tx)?;
        catalog::events::log_event(&tx, now(), Some(actor_id), None, &event)?;
        tx.commit()?;
        Ok(value)
    })
    .await?;
    let live = publish(app, true, None).await;
    Ok(Applied { value, changed: true, live })
}

fn check_permission(
    tx: &Transaction<'_>,
    plugin: &PluginRow,
    user: &User,
    permission: Permission,
) -> ServiceResult<()> {
    match permission {
        Permission::Edit { what } => forbid_non_editor(tx, plugin, user, what),
        Permission::Approve if can_approve(tx, plugin, user)? => Ok(()),
        Permission::Approve => {
            Err(ServiceError::Forbidden("You do not have approval rights for this plugin.".into()))
        }
    }
}

/// After a commit: a change requests a build; a no-op requests none and gives its throttle
/// token back. Either way, waits (bounded) until what is committed is live.
pub(crate) async fn publish(app: &App, changed: bool, charge: Option<Charge>) -> Live {
    let ticket = if changed {
        app.rebuild.request()
    } else {
        if let Some(charge) = charge {
            app.throttle.refund(charge);
        }
        app.rebuild.status().requested
    };
    wait_live(app, ticket).await
}

/// Waits (bounded) for the build that includes `ticket`.
pub(crate) async fn wait_live(app: &App, ticket: u64) -> Live {
    match app.rebuild.wait_for(ticket, app.config.live_wait).await {
        Some(waited) => Live { live: true, after_ms: Some(waited.as_millis() as u64) },
        None => Live::NOT_YET,
    }
}
