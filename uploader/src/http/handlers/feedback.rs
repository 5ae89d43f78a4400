//! Feedback handlers (user JWT): a version's tasks, writing feedback, completing, reopening,
//! answering, editing and deleting a task; and the public status of a version (no
//! credentials, cacheable for a minute).

use bytes::Bytes;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use catalog::feedback::Task;
use catalog::ids::TaskId;

use super::{bearer_user, parse_json};
use crate::app::App;
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::route::TaskVerb;
use crate::services::api_time;
use crate::services::feedback::{self, PublicStatus, TaskAction, VersionFeedback};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextBody {
    text: Option<String>,
}

/// The `text` of a body, or a 400 saying what to send.
fn text_of(body: &Bytes, what: &str) -> Result<String, ApiError> {
    parse_json::<TextBody>(body)?.text.ok_or_else(|| {
        ApiError::BadRequest(format!("Send the JSON body {{\"text\": \"…\"}}: {what}."))
    })
}

/// One task as the API shows it.
pub(crate) fn task_json(t: &Task) -> serde_json::Value {
    json!({
        "id": t.id,
        "reviewer": t.reviewer,
        "task": t.text,
        "created_on": api_time(t.created_on),
        "modified_on": api_time(t.modified_on),
        "completed": t.completed_on.is_some(),
        "completed_on": t.completed_on.map(api_time),
        "completed_by": t.completed_by,
        "answer": t.answer,
        "answered_on": t.answered_on.map(api_time),
    })
}

fn feedback_json(f: &VersionFeedback) -> serde_json::Value {
    json!({
        "package": f.plugin.package_name,
        "version": f.version.version,
        "state": f.queue.map_or("approved", |q| q.state.as_str()),
        "since": f.queue.map(|q| api_time(q.since)),
        "open": f.tasks.iter().filter(|t| t.completed_on.is_none()).count(),
        "tasks": f.tasks.iter().map(task_json).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/plugins/<pkg>/versions/<v>/feedback` (editors and approvers).
pub(crate) async fn list(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let f = feedback::feedback_of(app, user, package, version).await?;
    Ok(json_response(StatusCode::OK, &feedback_json(&f)))
}

/// `POST /api/v1/plugins/<pkg>/versions/<v>/feedback` `{"text"}` (approvers) → 201 with the
/// new tasks.
pub(crate) async fn give(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let text = text_of(req.body(), "the feedback; lines starting with `- [ ]` become tasks")?;
    let tasks = feedback::give(app, &user, package, version, &text).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"tasks": tasks.iter().map(task_json).collect::<Vec<_>>()}),
    ))
}

/// `POST …/feedback/<id>/{complete,reopen,answer}`, `PATCH …/feedback/<id>` and
/// `DELETE …/feedback/<id>`.
pub(crate) async fn task(
    app: &App,
    req: &Request<Bytes>,
    (package, version): (&str, &str),
    task: Option<TaskId>,
    verb: TaskVerb,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let Some(task) = task else {
        return Err(ApiError::NotFound(format!("{package} {version} has no such feedback task.")));
    };
    let action = match verb {
        TaskVerb::Complete => TaskAction::Complete,
        TaskVerb::Reopen => TaskAction::Reopen,
        TaskVerb::Delete => TaskAction::Delete,
        TaskVerb::Answer => TaskAction::Answer(text_of(req.body(), "your answer to the task")?),
        TaskVerb::Edit => TaskAction::Edit(text_of(req.body(), "the task's new text")?),
    };
    match feedback::act(app, &user, package, version, task, action).await? {
        Some(t) => Ok(json_response(StatusCode::OK, &task_json(&t))),
        None => Ok(no_content()),
    }
}

/// 204 with no body (a deleted task).
fn no_content() -> crate::http::error::HttpResponse {
    let mut resp = hyper::Response::new(http_body_util::Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn status_json(s: &PublicStatus) -> serde_json::Value {
    json!({
        "package": s.package,
        "version": s.version,
        "state": s.state.as_str(),
        "waiting_since": s.waiting_since.map(api_time),
        "waiting_days": s.age().map(feedback::days),
        "queue_position": s.place.map(|p| p.position),
        "queue_length": s.place.map(|p| p.length),
        "median_days_to_approval_30d": s.median.map(feedback::days),
        "message": s.message(),
    })
}

/// `GET /api/v1/plugins/<pkg>/versions/<v>/status`: public, `Cache-Control: public,
/// max-age=60`; 404 for unknown or deleted plugins and versions.
pub(crate) async fn status(app: &App, package: &str, version: &str) -> ApiResult {
    let s = feedback::public_status(app, package, version).await?;
    let mut resp = json_response(StatusCode::OK, &status_json(&s));
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    Ok(resp)
}
