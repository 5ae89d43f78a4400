//! Scan handlers (issue 15), under `/api/v1/plugins/<pkg>/`: the dry run (`POST check`),
//! waivers, vendored folders, a staff override and a rescan; and the JSON of a version's scan
//! that `GET versions/<v>` shows.

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use catalog::checks::{ScanTool, StoredFinding, Waiver};

use super::upload::read_form;
use super::{bearer_user, parse_json};
use crate::app::App;
use crate::auth::{self, Credentials};
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::services::api_time;
use crate::services::scans::{self, VersionChecks, WaiverInput, WaiverKey};

fn waiver_json(w: &Waiver) -> Value {
    json!({"rule": w.rule, "file": w.file, "reason": w.reason, "by": w.by, "on": api_time(w.on)})
}

fn finding_json(f: &StoredFinding) -> Value {
    let x = &f.finding;
    json!({
        "rule": x.rule,
        "tool": x.tool,
        "severity": x.severity,
        "file": x.file,
        "line": x.line,
        "message": x.message,
        "waivable": x.waivable,
        "vendored": x.vendored,
        "waived": f.waived.as_ref().map(|w| json!({
            "reason": w.reason, "by": w.by, "on": api_time(w.on),
        })),
    })
}

/// The contract's fields of a version's scan: `validation_status`, `scan`, `qgis4_ready`,
/// `qgis4_findings` (merged into the version's JSON).
pub(crate) fn checks_fields(checks: &VersionChecks) -> serde_json::Map<String, Value> {
    let (qt6, others): (Vec<&StoredFinding>, Vec<&StoredFinding>) =
        checks.findings.iter().partition(|f| f.finding.tool == ScanTool::Qt6);
    let scan = checks.scan.as_ref().map(|s| {
        json!({
            "status": checks.status,
            "queued_on": api_time(s.queued_on),
            "finished_on": s.finished_on.map(api_time),
            "attempts": s.attempts,
            "tools": serde_json::from_str::<Value>(&s.tools).unwrap_or_else(|_| json!([])),
            "findings": others.iter().map(|f| finding_json(f)).collect::<Vec<_>>(),
            "override": s.override_.as_ref().map(|o| json!({
                "by": o.by, "on": api_time(o.on), "reason": o.reason,
            })),
        })
    });
    let mut m = serde_json::Map::new();
    m.insert("validation_status".into(), json!(checks.status));
    m.insert("scan".into(), scan.unwrap_or(Value::Null));
    m.insert("qgis4_ready".into(), json!(checks.scan.as_ref().and_then(|s| s.qgis4_ready)));
    m.insert("qgis4_findings".into(), qt6.iter().map(|f| finding_json(f)).collect());
    m
}

/// `POST check`: a dry run with the editor's user JWT or the plugin's upload token; the zip
/// in the multipart field `package`. Stores nothing.
pub(crate) async fn check(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let plugin = match auth::credentials(req.headers()) {
        Credentials::Bearer(token) => {
            match crate::services::tokens::authenticate(app, &token, package).await? {
                Some(auth) => auth.plugin,
                None => {
                    scans::check_editor(app, bearer_user(app, req.headers()).await?, package)
                        .await?
                }
            }
        }
        _ => {
            return Err(bearer_user(app, req.headers()).await.err().unwrap_or_else(|| {
                ApiError::Unauthorized("Send a user token or the plugin's upload token.".into())
            }));
        }
    };
    let form = read_form(app, req).await.map_err(|e| e.into_api())?;
    let Some(zip) = form.package else {
        return Err(ApiError::BadRequest(
            "Send the zip to check in the multipart field `package`.".into(),
        ));
    };
    let doc = scans::dry_run(app, &plugin, zip).await?;
    Ok(json_response(StatusCode::OK, &doc))
}

/// `GET`, `POST` and `DELETE waivers`.
pub(crate) async fn waivers(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    match *req.method() {
        Method::POST => {
            let input: WaiverInput = parse_json(req.body())?;
            let w = scans::add_waiver(app, &user, package, input).await?;
            Ok(json_response(StatusCode::CREATED, &waiver_json(&w)))
        }
        Method::DELETE => {
            let key: WaiverKey = parse_json(req.body())?;
            scans::remove_waiver(app, &user, package, key).await?;
            let mut resp = hyper::Response::new(http_body_util::Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok(resp)
        }
        _ => {
            let list = scans::waivers(app, user, package).await?;
            let items: Vec<Value> = list.iter().map(waiver_json).collect();
            Ok(json_response(StatusCode::OK, &json!({"waivers": items})))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VendoredBody {
    paths: Vec<String>,
}

/// `PUT vendored` `{"paths": [...]}`.
pub(crate) async fn set_vendored(app: &App, req: &Request<Bytes>, package: &str) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let body: VendoredBody = parse_json(req.body())?;
    let paths = scans::set_vendored(app, &user, package, &body.paths).await?;
    Ok(json_response(StatusCode::OK, &json!({"package": package, "vendored": paths})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    #[serde(default)]
    reason: String,
}

/// `POST versions/<v>/override` `{"reason"}` (staff).
pub(crate) async fn override_block(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    let body: OverrideBody = parse_json(req.body())?;
    scans::override_block(app, &user, package, version, &body.reason).await?;
    let (_, row, checks) = scans::results(app, user, package, version).await?;
    let mut j = json!({"package": package, "version": row.version});
    if let Some(m) = j.as_object_mut() {
        m.extend(checks_fields(&checks));
    }
    Ok(json_response(StatusCode::OK, &j))
}

/// `POST versions/<v>/rescan` (editors and staff): 202, the scan is queued.
pub(crate) async fn rescan(
    app: &App,
    req: &Request<Bytes>,
    package: &str,
    version: &str,
) -> ApiResult {
    let user = bearer_user(app, req.headers()).await?;
    scans::rescan(app, &user, package, version).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({"package": package, "version": version, "validation_status": "validating"}),
    ))
}
