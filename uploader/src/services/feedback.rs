//! Reviewer feedback on a pending version (reference §5.4): approvers write feedback whose
//! `- [ ]` lines become tasks; editors and approvers tick tasks done or open them again;
//! editors answer; a task's reviewer edits or deletes it. Each change is one transaction
//! with its audit event and its mail (the outbox row); none is on the public site, so none
//! requests a build. Also the public status of a version ("waiting for review for 3 days;
//! 2nd of 7 in the queue").

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, Transaction};

use catalog::accounts::User;
use catalog::checks::ScanStatus;
use catalog::events::{AuditEvent, TaskChange};
use catalog::feedback::{QueuePlace, QueueState, QueueStatus, Task};
use catalog::ids::TaskId;
use catalog::plugins::PluginRow;
use catalog::versions::VersionRow;

use super::version_or_404;
use super::{
    ServiceError, ServiceResult, can_approve, can_edit, db, immediate, now, plugin_or_404,
};
use crate::app::App;
use crate::mail::{self, MailEvent};

mod message;
mod text;
pub(crate) use message::{days, ordinal};
pub(crate) use text::{MAX_ANSWER_CHARS, parse_tasks};

/// The window of the median time to approval.
pub(crate) const MEDIAN_DAYS: i64 = 30;

/// A version's feedback as its editors and approvers see it.
#[derive(Debug)]
pub(crate) struct VersionFeedback {
    pub plugin: PluginRow,
    pub version: VersionRow,
    pub tasks: Vec<Task>,
    /// `None` once approved (approved versions are not queued).
    pub queue: Option<QueueStatus>,
    /// The caller may write feedback (an approver, on an unapproved version).
    pub may_give: bool,
    /// The caller edits the plugin (may answer).
    pub may_answer: bool,
}

/// What one request does to one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TaskAction {
    Complete,
    Reopen,
    /// The author's answer ('' removes it).
    Answer(String),
    /// New task text (its reviewer).
    Edit(String),
    Delete,
}

impl TaskAction {
    fn change(&self) -> TaskChange {
        match self {
            TaskAction::Complete => TaskChange::Complete,
            TaskAction::Reopen => TaskChange::Reopen,
            TaskAction::Answer(_) => TaskChange::Answer,
            TaskAction::Edit(_) => TaskChange::Edit,
            TaskAction::Delete => TaskChange::Delete,
        }
    }
}

/// Editors of the plugin and its approvers see and tick its feedback; anyone else gets 403.
fn may_see(conn: &Connection, plugin: &PluginRow, user: &User) -> ServiceResult<()> {
    if can_edit(conn, plugin, user)? || can_approve(conn, plugin, user)? {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "Only editors of `{}` and its approvers can see and complete its review feedback.",
            plugin.package_name
        )))
    }
}

/// The feedback of a version (editors and approvers).
pub(crate) async fn feedback_of(
    app: &App,
    user: User,
    package: &str,
    version: &str,
) -> ServiceResult<VersionFeedback> {
    let (package, version) = (package.to_owned(), version.to_owned());
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        may_see(conn, &plugin, &user)?;
        let version = version_or_404(conn, &plugin, &version)?;
        read_feedback(conn, &user, plugin, version)
    })
    .await
}

fn read_feedback(
    conn: &Connection,
    user: &User,
    plugin: PluginRow,
    version: VersionRow,
) -> ServiceResult<VersionFeedback> {
    let tasks = catalog::feedback::tasks_of_version(conn, version.id)?;
    let summaries = catalog::feedback::task_summaries(conn, &[version.id])?;
    let queue = (!version.approved)
        .then(|| QueueStatus::of(version.created_on, summaries.get(&version.id)));
    let may_give = !version.approved && can_approve(conn, &plugin, user)?;
    let may_answer = can_edit(conn, &plugin, user)?;
    Ok(VersionFeedback { plugin, version, tasks, queue, may_give, may_answer })
}

/// Writes feedback on an unapproved version (approvers: staff and trusted editors); returns
/// the new tasks. The editors get a mail.
pub(crate) async fn give(
    app: &App,
    user: &User,
    package: &str,
    version: &str,
    text: &str,
) -> ServiceResult<Vec<Task>> {
    let texts = parse_tasks(text).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    let (package, version, user) = (package.to_owned(), version.to_owned(), user.clone());
    let base_url = app.config.site.base_url.clone();
    let tasks = db(app, move |conn| {
        let tx = immediate(conn)?;
        let plugin = plugin_or_404(&tx, &package)?;
        let row = version_or_404(&tx, &plugin, &version)?;
        if !can_approve(&tx, &plugin, &user)? {
            return Err(ServiceError::Forbidden(format!(
                "Only approvers of `{}` (staff and trusted editors) can write review feedback.",
                plugin.package_name
            )));
        }
        if row.approved {
            return Err(ServiceError::Conflict(format!(
                "{} {} is approved: feedback is for versions waiting for review. Unapprove it first, \
                 or write the feedback on a newer version.",
                plugin.package_name, row.version
            )));
        }
        let now = now();
        let ids = catalog::feedback::add_tasks(&tx, row.id, user.id, &texts, now)?;
        let event = AuditEvent::FeedbackGive { version: row.version.clone(), tasks: ids.clone() };
        catalog::events::log_event(&tx, now, Some(user.id), Some(plugin.id), &event)?;
        let mail = MailEvent::FeedbackGiven { plugin: plugin.id, version: row.id, by: user.id };
        mail::notify(&tx, &base_url, now, &mail)?;
        let tasks = catalog::feedback::tasks_of_version(&tx, row.id)?;
        tx.commit()?;
        Ok(tasks.into_iter().filter(|t| ids.contains(&t.id)).collect::<Vec<_>>())
    })
    .await?;
    app.mail_wake.notify_one();
    Ok(tasks)
}

/// Applies `action` to one task of a version; returns the task as it is now (`None` once
/// deleted). Completing the last open task mails its reviewers.
pub(crate) async fn act(
    app: &App,
    user: &User,
    package: &str,
    version: &str,
    task: TaskId,
    action: TaskAction,
) -> ServiceResult<Option<Task>> {
    check_action_text(&action)?;
    let (package, version, user) = (package.to_owned(), version.to_owned(), user.clone());
    let base_url = app.config.site.base_url.clone();
    let (task, mailed) = db(app, move |conn| {
        let tx = immediate(conn)?;
        let plugin = plugin_or_404(&tx, &package)?;
        may_see(&tx, &plugin, &user)?;
        let row = version_or_404(&tx, &plugin, &version)?;
        let current = task_or_404(&tx, &plugin, &row, task)?;
        check_actor(&tx, &plugin, &user, &current, &action)?;
        let now = now();
        let open_before = catalog::feedback::open_count(&tx, row.id)?;
        if apply(&tx, &user, &current, &action, now)? {
            let event = AuditEvent::FeedbackTask {
                version: row.version.clone(),
                task,
                change: action.change(),
            };
            catalog::events::log_event(&tx, now, Some(user.id), Some(plugin.id), &event)?;
        }
        let resolved = open_before > 0
            && action == TaskAction::Complete
            && catalog::feedback::open_count(&tx, row.id)? == 0;
        if resolved {
            let mail = MailEvent::FeedbackResolved { plugin: plugin.id, version: row.id };
            mail::notify(&tx, &base_url, now, &mail)?;
        }
        let after = catalog::feedback::task_of_version(&tx, row.id, task)?;
        tx.commit()?;
        Ok((after, resolved))
    })
    .await?;
    if mailed {
        app.mail_wake.notify_one();
    }
    Ok(task)
}

/// Answers and new texts are checked before anything is locked.
fn check_action_text(action: &TaskAction) -> ServiceResult<()> {
    match action {
        TaskAction::Answer(answer) if answer.chars().count() > MAX_ANSWER_CHARS => {
            Err(ServiceError::BadRequest(format!(
                "The answer is {} characters long; at most {MAX_ANSWER_CHARS} are accepted.",
                answer.chars().count()
            )))
        }
        TaskAction::Edit(text) => match parse_tasks(text) {
            Ok(tasks) if tasks.len() == 1 => Ok(()),
            Ok(_) => Err(ServiceError::BadRequest(
                "A task's new text must be one task: write at most one `- [ ]` line.".into(),
            )),
            Err(e) => Err(ServiceError::BadRequest(e.to_string())),
        },
        _ => Ok(()),
    }
}

fn task_or_404(
    conn: &Connection,
    plugin: &PluginRow,
    row: &VersionRow,
    task: TaskId,
) -> ServiceResult<Task> {
    catalog::feedback::task_of_version(conn, row.id, task)?.ok_or_else(|| {
        ServiceError::NotFound(format!(
            "{} {} has no feedback task {task}.",
            plugin.package_name, row.version
        ))
    })
}

/// Completing and reopening: editors and approvers (checked by `may_see`); answering:
/// editors; editing and deleting: the task's reviewer.
fn check_actor(
    conn: &Connection,
    plugin: &PluginRow,
    user: &User,
    task: &Task,
    action: &TaskAction,
) -> ServiceResult<()> {
    match action {
        TaskAction::Complete | TaskAction::Reopen => Ok(()),
        TaskAction::Answer(_) if can_edit(conn, plugin, user)? => Ok(()),
        TaskAction::Answer(_) => Err(ServiceError::Forbidden(format!(
            "Only editors of `{}` can answer its review feedback.",
            plugin.package_name
        ))),
        TaskAction::Edit(_) | TaskAction::Delete if task.reviewer_id == Some(user.id) => Ok(()),
        TaskAction::Edit(_) | TaskAction::Delete => Err(ServiceError::Forbidden(
            "Only the reviewer who wrote a task can edit or delete it.".into(),
        )),
    }
}

/// The change itself; false when it changed nothing.
fn apply(
    tx: &Transaction<'_>,
    user: &User,
    task: &Task,
    action: &TaskAction,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    use catalog::feedback as f;
    Ok(match action {
        TaskAction::Complete => f::set_completed(tx, task.id, Some(user.id), now)?,
        TaskAction::Reopen => f::set_completed(tx, task.id, None, now)?,
        TaskAction::Answer(answer) => f::set_answer(tx, task.id, answer.trim(), now)?,
        TaskAction::Edit(text) => {
            let text = parse_tasks(text).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
            f::set_text(tx, task.id, &text[0], now)?
        }
        TaskAction::Delete => f::delete_task(tx, task.id)?,
    })
}

/// Where a version stands, for anyone (the public status endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublicState {
    Validating,
    Blocked,
    Queued(QueueState),
    Approved,
}

impl PublicState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PublicState::Validating => "validating",
            PublicState::Blocked => "blocked",
            PublicState::Queued(q) => q.as_str(),
            PublicState::Approved => "approved",
        }
    }
}

/// The public status of a version.
#[derive(Debug, Clone)]
pub(crate) struct PublicStatus {
    pub package: String,
    pub version: String,
    pub state: PublicState,
    /// Since when the state holds (`None` once approved).
    pub waiting_since: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    pub place: Option<QueuePlace>,
    pub median: Option<Duration>,
}

/// The public status of a version of a plugin not marked for deletion (else 404).
pub(crate) async fn public_status(
    app: &App,
    package: &str,
    version: &str,
) -> ServiceResult<PublicStatus> {
    let (package, version) = (package.to_owned(), version.to_owned());
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        if plugin.is_deleted {
            return Err(ServiceError::NotFound(format!("There is no plugin `{package}`.")));
        }
        let row = version_or_404(conn, &plugin, &version)?;
        let now = now();
        let (state, waiting_since) = public_state(conn, &row)?;
        let place = match state {
            PublicState::Approved => None,
            _ => catalog::feedback::queue_place(conn, row.id)?,
        };
        let median = catalog::feedback::median_time_to_approval(conn, now, MEDIAN_DAYS)?;
        Ok(PublicStatus {
            package: plugin.package_name,
            version: row.version,
            state,
            waiting_since,
            now,
            place,
            median,
        })
    })
    .await
}

fn public_state(
    conn: &Connection,
    row: &VersionRow,
) -> ServiceResult<(PublicState, Option<DateTime<Utc>>)> {
    if row.approved {
        return Ok((PublicState::Approved, None));
    }
    let stored = catalog::feedback::version_state(conn, row.id)?
        .ok_or_else(|| ServiceError::NotFound("The version is gone.".into()))?;
    match ScanStatus::parse(&stored.validation_status) {
        Some(ScanStatus::Validating) => Ok((PublicState::Validating, Some(row.created_on))),
        Some(ScanStatus::Blocked) => Ok((PublicState::Blocked, Some(row.created_on))),
        _ => {
            let summaries = catalog::feedback::task_summaries(conn, &[row.id])?;
            let q = QueueStatus::of(row.created_on, summaries.get(&row.id));
            Ok((PublicState::Queued(q.state), Some(q.since)))
        }
    }
}
