//! Feedback on the review page (`_feedback.html`, context key `feedback`): the tasks with
//! their reviewer, age, state and answer, and the forms (write feedback, done / reopen,
//! answer, delete), each a CSRF-checked POST that redirects back to the review page with a
//! flash. Also the queue status line `/plugins/my` shows per version.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::Request;
use serde::Serialize;

use catalog::accounts::User;
use catalog::feedback::{QueuePlace, QueueState, QueueStatus, Task, TaskSummary};
use catalog::ids::TaskId;
use generator::urls;

use super::{
    PageError, PageResult, Visitor, age, checked_form, is_post, redirect, redirect_with,
    review_path,
};
use crate::app::App;
use crate::http::route::TaskVerb;
use crate::services::feedback::{self, TaskAction, VersionFeedback, ordinal};
use crate::services::{ServiceResult, api_time, now};

/// `/plugins/<pkg>/version/<v>/feedback/`.
fn feedback_path(package: &str, version: &str) -> String {
    format!("{}feedback/", urls::version_page(package, version))
}

/// `/plugins/<pkg>/version/<v>/feedback/<id>/<verb>/`.
fn task_path(package: &str, version: &str, id: TaskId, verb: &str) -> String {
    format!("{}{id}/{verb}/", feedback_path(package, version))
}

/// One task as the review page shows it.
#[derive(Serialize)]
struct TaskView {
    id: TaskId,
    reviewer: String,
    text: String,
    age: String,
    created_on: String,
    done: bool,
    completed_by: Option<String>,
    answer: String,
    /// The caller wrote it: may delete it.
    mine: bool,
    complete_url: String,
    reopen_url: String,
    answer_url: String,
    delete_url: String,
}

/// The `feedback` context of the review page.
#[derive(Serialize)]
pub(crate) struct FeedbackView {
    /// `None` once approved.
    state: Option<&'static str>,
    state_label: Option<&'static str>,
    state_age: Option<String>,
    open: usize,
    tasks: Vec<TaskView>,
    may_give: bool,
    may_answer: bool,
    give_url: String,
}

fn task_view(t: &Task, user: &User, package: &str, version: &str, now: DateTime<Utc>) -> TaskView {
    let path = |verb| task_path(package, version, t.id, verb);
    TaskView {
        id: t.id,
        reviewer: t.reviewer.clone().unwrap_or_else(|| "a former reviewer".into()),
        text: t.text.clone(),
        age: age(t.created_on, now),
        created_on: api_time(t.created_on),
        done: t.completed_on.is_some(),
        completed_by: t.completed_by.clone(),
        answer: t.answer.clone(),
        mine: t.reviewer_id == Some(user.id),
        complete_url: path("complete"),
        reopen_url: path("reopen"),
        answer_url: path("answer"),
        delete_url: path("delete"),
    }
}

fn view(f: &VersionFeedback, user: &User) -> FeedbackView {
    let (package, version) = (&f.plugin.package_name, &f.version.version);
    let now = now();
    FeedbackView {
        state: f.queue.map(|q| q.state.as_str()),
        state_label: f.queue.map(|q| q.state.label()),
        state_age: f.queue.map(|q| age(q.since, now)),
        open: f.tasks.iter().filter(|t| t.completed_on.is_none()).count(),
        tasks: f.tasks.iter().map(|t| task_view(t, user, package, version, now)).collect(),
        may_give: f.may_give,
        may_answer: f.may_answer,
        give_url: feedback_path(package, version),
    }
}

/// The review page's `feedback` for `user`.
pub(crate) async fn context(
    app: &App,
    user: &User,
    package: &str,
    version: &str,
) -> ServiceResult<FeedbackView> {
    let f = feedback::feedback_of(app, user.clone(), package, version).await?;
    Ok(view(&f, user))
}

/// `/plugins/<pkg>/version/<v>/feedback/` (POST `text`, approvers); a GET goes to the
/// review page.
pub(crate) async fn give(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> PageResult {
    let user = v.require_user(req)?;
    let back = format!("{}#feedback", review_path(package, version));
    if !is_post(req) {
        return Ok(redirect(&back));
    }
    let form = checked_form(app, v, req)?;
    let tasks = feedback::give(app, user, package, version, form.text("text")).await?;
    let text = match tasks.len() {
        1 => "Your feedback was saved as 1 task; the authors were notified.".to_owned(),
        n => format!("Your feedback was saved as {n} tasks; the authors were notified."),
    };
    Ok(redirect_with(app, &back, &text))
}

/// `/plugins/<pkg>/version/<v>/feedback/<id>/{complete,reopen,answer,delete}/` (POST).
pub(crate) async fn task(
    app: &App,
    v: &Visitor,
    req: &Request<Bytes>,
    (package, version): (&str, &str),
    task: Option<TaskId>,
    verb: TaskVerb,
) -> PageResult {
    let user = v.require_user(req)?;
    let back = format!("{}#feedback", review_path(package, version));
    if !is_post(req) {
        return Ok(redirect(&back));
    }
    let form = checked_form(app, v, req)?;
    let task = task.ok_or_else(|| PageError::not_found("There is no such feedback task."))?;
    let (action, done) = match verb {
        TaskVerb::Complete => (TaskAction::Complete, "The task is marked done."),
        TaskVerb::Reopen => (TaskAction::Reopen, "The task is open again."),
        TaskVerb::Answer => {
            (TaskAction::Answer(form.text("answer").to_owned()), "Your answer was saved.")
        }
        TaskVerb::Edit => (TaskAction::Edit(form.text("text").to_owned()), "The task was changed."),
        TaskVerb::Delete => (TaskAction::Delete, "The task was deleted."),
    };
    feedback::act(app, user, package, version, task, action).await?;
    Ok(redirect_with(app, &back, done))
}

/// The line `/plugins/my` shows for a pending version: its queue state, age and place.
pub(crate) fn status_line(
    status: QueueStatus,
    place: Option<QueuePlace>,
    now: DateTime<Utc>,
) -> String {
    let since = age(status.since, now);
    let place = match place {
        Some(p) => format!("; {} of {} in the queue", ordinal(p.position), p.length),
        None => String::new(),
    };
    match status.state {
        QueueState::AwaitingReview => format!("Waiting for review for {since}{place}"),
        QueueState::ChangesRequested => format!("Changes requested {since} ago{place}"),
        QueueState::Resolved => format!("All tasks done {since} ago; waiting for review{place}"),
    }
}

/// The open tasks of a version, from its summary.
pub(crate) fn open_tasks(summary: Option<&TaskSummary>) -> u32 {
    summary.map_or(0, |s| s.open)
}
