//! The scan service's operations (issue 15), callable from the edge and the CLI: a version's
//! scan results, the gates of approval and private download, waivers, vendored folders,
//! staff overrides, rescans, and the dry run (validate + scan, store nothing).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::Connection;
use serde::Deserialize;

use catalog::accounts::User;
use catalog::checks::{ScanRow, ScanStatus, Severity, StoredFinding, Waiver};
use catalog::events::AuditEvent;
use catalog::ids::{PluginId, VersionId};
use catalog::names::PackageName;
use catalog::plugins::PluginRow;
use catalog::versions::VersionRow;

use super::change::{self, Changed, Permission, Reach};
use super::version_or_404;
use super::{ServiceError, ServiceResult, can_edit, db, forbid_non_editor, plugin_or_404};
use crate::app::{App, AppState};
use crate::scan::ScanOptions;
use crate::validate::{self, Mode, Options};

/// Everything the scan knows of one version.
#[derive(Debug, Clone)]
pub(crate) struct VersionChecks {
    pub status: ScanStatus,
    /// `None`: uploaded before scans existed ("not scanned").
    pub scan: Option<ScanRow>,
    /// Most severe first, with the waivers that cover them (Qt6 ones included).
    pub findings: Vec<StoredFinding>,
}

impl VersionChecks {
    /// The critical findings (what blocks the version).
    pub(crate) fn critical(&self) -> impl Iterator<Item = &StoredFinding> {
        self.findings.iter().filter(|f| f.finding.severity == Severity::Critical)
    }
}

/// Reads the checks of a version (any caller's transaction or connection).
pub(crate) fn version_checks(
    conn: &Connection,
    version_id: VersionId,
) -> ServiceResult<VersionChecks> {
    let status = catalog::checks::status_of(conn, version_id)?
        .ok_or_else(|| ServiceError::NotFound("The version no longer exists.".into()))?;
    Ok(VersionChecks {
        status,
        scan: catalog::checks::scan_of(conn, version_id)?,
        findings: catalog::checks::findings_of(conn, version_id)?,
    })
}

/// Editors, staff and trusted users may see a version's checks (like its private JSON).
fn forbid_non_viewer(conn: &Connection, plugin: &PluginRow, user: &User) -> ServiceResult<()> {
    if user.can_approve {
        return Ok(());
    }
    forbid_non_editor(conn, plugin, user, "see its versions")
}

/// The scan results of a version, for its editors and reviewers.
pub(crate) async fn results(
    app: &App,
    user: User,
    package: &str,
    version: &str,
) -> ServiceResult<(PluginRow, VersionRow, VersionChecks)> {
    let (plugin, row) = super::version_info(app, user, package, version).await?;
    let id = row.id;
    let checks = db(app, move |conn| version_checks(conn, id)).await?;
    Ok((plugin, row, checks))
}

/// Each version's status and the vendored folders of a plugin (its private JSON).
pub(crate) async fn plugin_summary(
    app: &App,
    plugin: PluginId,
) -> ServiceResult<(HashMap<VersionId, ScanStatus>, Vec<String>)> {
    db(app, move |conn| {
        Ok((catalog::checks::statuses_of_plugin(conn, plugin)?, vendored(conn, plugin)?))
    })
    .await
}

/// Waits (at most `config.scan.approval_wait`) while the version is being scanned; returns
/// its status then. Unknown versions return at once (the caller's own look-up answers 404).
pub(crate) async fn wait_scanned(
    app: &App,
    package: &str,
    version: &str,
) -> ServiceResult<Option<ScanStatus>> {
    // Subscribed before the first look, so a scan finishing in between is not missed.
    let mut done = app.scan_done.subscribe();
    let deadline = tokio::time::Instant::now() + app.config.scan.approval_wait;
    loop {
        let status = status_named(app, package, version).await?;
        if status != Some(ScanStatus::Validating) {
            return Ok(status);
        }
        match tokio::time::timeout_at(deadline, done.changed()).await {
            Ok(Ok(())) => {}
            // Timed out (or the service is stopping): the caller refuses.
            _ => return Ok(status),
        }
    }
}

async fn status_named(
    app: &App,
    package: &str,
    version: &str,
) -> ServiceResult<Option<ScanStatus>> {
    let (package, version) = (package.to_owned(), version.to_owned());
    db(app, move |conn| {
        let Some(plugin) = catalog::plugins::plugin_by_package(conn, &package)? else {
            return Ok(None);
        };
        match version_or_404(conn, &plugin, &version) {
            Ok(row) => Ok(catalog::checks::status_of(conn, row.id)?),
            Err(_) => Ok(None),
        }
    })
    .await
}

/// Inside an approval's transaction: a version still being scanned or blocked (without a
/// staff override) cannot be approved; `incomplete` can (the review page says so).
pub(crate) fn approval_gate(
    conn: &Connection,
    plugin: &PluginRow,
    row: &VersionRow,
) -> ServiceResult<()> {
    let checks = version_checks(conn, row.id)?;
    match checks.status {
        ScanStatus::Validating => Err(ServiceError::Conflict(format!(
            "{} {} is still being scanned; retry the approval in a minute.",
            plugin.package_name, row.version
        ))),
        ScanStatus::Blocked => Err(ServiceError::Conflict(format!(
            "{} {} is blocked by its scan and cannot be approved: {}. Nothing was approved. \
             The authors must upload a fixed version, or staff may override the block with a reason.",
            plugin.package_name,
            row.version,
            critical_list(&checks)
        ))),
        ScanStatus::Validated | ScanStatus::Incomplete => Ok(()),
    }
}

/// "AWSKeyDetector in p/a.py line 3, ..." (at most 10).
fn critical_list(checks: &VersionChecks) -> String {
    let mut parts: Vec<String> = checks
        .critical()
        .take(10)
        .map(|f| {
            let f = &f.finding;
            match f.line {
                Some(l) => format!("{} ({}) in {} line {l}", f.rule, f.message, f.file),
                None => format!("{} ({}) in {}", f.rule, f.message, f.file),
            }
        })
        .collect();
    if parts.is_empty() {
        parts.push("a critical finding".into());
    }
    parts.join("; ")
}

/// A blocked version cannot be downloaded by anyone: 403 saying why and what to do.
pub(crate) fn download_gate(
    conn: &Connection,
    plugin_id: PluginId,
    version: &str,
) -> ServiceResult<()> {
    if catalog::checks::status_of_named(conn, plugin_id, version)? == Some(ScanStatus::Blocked) {
        return Err(ServiceError::Forbidden(format!(
            "Version {version} is blocked by its security scan and cannot be downloaded. Its \
             review page lists the critical findings: upload a fixed version, or ask staff to \
             review the block."
        )));
    }
    Ok(())
}

/// `POST waivers`: `{"rule", "file"?, "reason"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaiverInput {
    pub rule: String,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub reason: String,
}

/// `DELETE waivers`: `{"rule", "file"?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaiverKey {
    pub rule: String,
    #[serde(default)]
    pub file: Option<String>,
}

fn bad(m: String) -> ServiceError {
    ServiceError::BadRequest(m)
}

/// A rule id: letters, digits and `_`, at most 64.
fn check_rule(rule: &str) -> ServiceResult<String> {
    let rule = rule.trim();
    if rule.is_empty()
        || rule.len() > 64
        || !rule.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(bad(format!(
            "`rule` must be a rule id such as B602 or FILE_SCRIPT, not `{}`.",
            rule.chars().take(64).collect::<String>()
        )));
    }
    Ok(rule.to_owned())
}

/// A path inside the zip ("" for the whole plugin): relative, no `..`.
fn check_file(file: Option<&str>) -> ServiceResult<String> {
    let file = file.unwrap_or("").trim();
    if file.len() > 500
        || file.starts_with('/')
        || file.contains('\\')
        || file.split('/').any(|s| s == "..")
    {
        return Err(bad("`file` must be a path inside the zip (e.g. `my_plugin/tools.py`), or left out to waive the rule for the whole plugin.".into()));
    }
    Ok(file.to_owned())
}

fn check_reason(reason: &str) -> ServiceResult<String> {
    let reason = reason.trim();
    let n = reason.chars().count();
    if !(3..=500).contains(&n) {
        return Err(bad(format!(
            "A waiver needs a reason of 3 to 500 characters (yours has {n}): say why the finding is safe."
        )));
    }
    Ok(reason.to_owned())
}

/// Only waivable rules of the rule table can be waived; critical ones never.
fn check_waivable(rule: &str) -> ServiceResult<()> {
    match crate::scan::rules::rule(rule) {
        Some(r) if r.waivable => Ok(()),
        Some(_) => Err(bad(format!(
            "Rule {rule} cannot be waived (critical findings and QGIS 4 notes never are): \
             remove the finding from the plugin."
        ))),
        None => Err(bad(format!(
            "There is no rule {rule}: use the `rule` of a finding the scan reported."
        ))),
    }
}

/// Adds (or rewrites) a waiver; editors and staff.
pub(crate) async fn add_waiver(
    app: &App,
    user: &User,
    package: &str,
    input: WaiverInput,
) -> ServiceResult<Waiver> {
    let rule = check_rule(&input.rule)?;
    let file = check_file(input.file.as_deref())?;
    let reason = check_reason(&input.reason)?;
    check_waivable(&rule)?;
    let edit = Permission::Edit { what: "waive its findings" };
    let user_id = user.id;
    let applied =
        change::change_plugin(app, user, package, edit, Reach::Private, move |tx, plugin, now| {
            catalog::checks::add_waiver(tx, plugin.id, &rule, &file, &reason, user_id, now)?;
            let waiver = catalog::checks::waivers_of(tx, plugin.id)?
                .into_iter()
                .find(|w| w.rule == rule && w.file == file)
                .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("waiver vanished")))?;
            Ok(Changed::Yes(waiver, AuditEvent::WaiverAdd { rule, file, reason }))
        })
        .await?;
    Ok(applied.value)
}

/// Removes a waiver (404 when there is none); editors and staff.
pub(crate) async fn remove_waiver(
    app: &App,
    user: &User,
    package: &str,
    key: WaiverKey,
) -> ServiceResult<()> {
    let rule = check_rule(&key.rule)?;
    let file = check_file(key.file.as_deref())?;
    let edit = Permission::Edit { what: "remove its waivers" };
    change::change_plugin(app, user, package, edit, Reach::Private, move |tx, plugin, _| {
        if !catalog::checks::remove_waiver(tx, plugin.id, &rule, &file)? {
            return Err(ServiceError::NotFound(format!(
                "`{}` has no waiver of rule {rule} for that file.",
                plugin.package_name
            )));
        }
        Ok(Changed::Yes((), AuditEvent::WaiverRemove { rule, file }))
    })
    .await?;
    Ok(())
}

/// The waivers of a plugin; editors and reviewers.
pub(crate) async fn waivers(app: &App, user: User, package: &str) -> ServiceResult<Vec<Waiver>> {
    let package = package.to_owned();
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        forbid_non_viewer(conn, &plugin, &user)?;
        Ok(catalog::checks::waivers_of(conn, plugin.id)?)
    })
    .await
}

/// Checks vendored folder paths: relative, no `..`, at most 20; returns them normalised.
pub(crate) fn check_vendored(paths: &[String]) -> ServiceResult<Vec<String>> {
    if paths.len() > 20 {
        return Err(bad("At most 20 vendored folders.".into()));
    }
    let mut out = Vec::new();
    for p in paths {
        let p = p.trim().trim_matches('/');
        let ok = !p.is_empty()
            && p.len() <= 200
            && !p.contains('\\')
            && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
            && p.chars().all(|c| !c.is_control());
        if !ok {
            return Err(bad(format!(
                "`{}` is not a folder path relative to the plugin folder (e.g. `ext_libs`; no `..`).",
                p.chars().take(200).collect::<String>()
            )));
        }
        out.push(p.to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Replaces the vendored folders; editors and staff. Later scans list findings there apart.
pub(crate) async fn set_vendored(
    app: &App,
    user: &User,
    package: &str,
    paths: &[String],
) -> ServiceResult<Vec<String>> {
    let paths = check_vendored(paths)?;
    let edit = Permission::Edit { what: "declare vendored folders" };
    let applied =
        change::change_plugin(app, user, package, edit, Reach::Private, move |tx, plugin, _| {
            if catalog::checks::vendored_dirs(tx, plugin.id)? == paths {
                return Ok(Changed::No(paths));
            }
            catalog::checks::set_vendored_dirs(tx, plugin.id, &paths)?;
            Ok(Changed::Yes(paths.clone(), AuditEvent::VendoredSet { paths }))
        })
        .await?;
    Ok(applied.value)
}

/// The vendored folders of a plugin (any reader of the plugin's private view).
pub(crate) fn vendored(conn: &Connection, plugin: PluginId) -> ServiceResult<Vec<String>> {
    Ok(catalog::checks::vendored_dirs(conn, plugin)?)
}

/// Staff lift a block, saying why: the version becomes `validated`, the findings stay.
pub(crate) async fn override_block(
    app: &App,
    user: &User,
    package: &str,
    version: &str,
    reason: &str,
) -> ServiceResult<()> {
    if !(user.is_staff || user.is_superuser) {
        return Err(ServiceError::Forbidden("Only staff can override a scan's block.".into()));
    }
    let reason = check_reason(reason)
        .map_err(|_| bad("An override needs a reason of 3 to 500 characters: say why the critical findings are safe.".into()))?;
    let (version, user_id) = (version.to_owned(), user.id);
    change::change_plugin(
        app,
        user,
        package,
        Permission::Approve,
        Reach::Private,
        move |tx, plugin, now| {
            let row = version_or_404(tx, plugin, &version)?;
            if !catalog::checks::override_block(tx, row.id, user_id, &reason, now)? {
                return Err(ServiceError::Conflict(format!(
                    "{} {} is not blocked: there is nothing to override.",
                    plugin.package_name, row.version
                )));
            }
            Ok(Changed::Yes((), AuditEvent::ScanOverride { version: row.version, reason }))
        },
    )
    .await?;
    app.scan_done.send_modify(|n| *n += 1);
    Ok(())
}

/// Queues a new scan of the version's current bytes; editors and staff.
pub(crate) async fn rescan(
    app: &App,
    user: &User,
    package: &str,
    version: &str,
) -> ServiceResult<()> {
    let version = version.to_owned();
    let edit = Permission::Edit { what: "rescan its versions" };
    change::change_plugin(app, user, package, edit, Reach::Private, move |tx, plugin, now| {
        let row = version_or_404(tx, plugin, &version)?;
        if catalog::checks::status_of(tx, row.id)? == Some(ScanStatus::Validating) {
            return Ok(Changed::No(()));
        }
        catalog::checks::queue_scan(tx, row.id, &row.package_sha256, now)?;
        Ok(Changed::Yes((), AuditEvent::ScanRescan { version: row.version }))
    })
    .await?;
    app.scan_wake.notify_one();
    Ok(())
}

/// One dry-run scan at a time beside the worker (2 cores).
static DRY_RUN: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// How long a dry run waits for the slot before answering busy.
const DRY_RUN_WAIT: Duration = Duration::from_secs(10);

/// Editors (user JWT) may dry-run; upload tokens are checked by the caller.
pub(crate) async fn check_editor(app: &App, user: User, package: &str) -> ServiceResult<PluginRow> {
    let package = package.to_owned();
    db(app, move |conn| {
        let plugin = plugin_or_404(conn, &package)?;
        if !can_edit(conn, &plugin, &user)? {
            return Err(ServiceError::Forbidden(format!(
                "Only editors of `{}` and staff can check packages for it.",
                plugin.package_name
            )));
        }
        Ok(plugin)
    })
    .await
}

/// Validates and scans `zip` as a new version of `plugin`; stores nothing. The document is
/// `uploader check --scan --json`'s.
pub(crate) async fn dry_run(
    app: &App,
    plugin: &PluginRow,
    zip: Bytes,
) -> ServiceResult<serde_json::Value> {
    let name =
        PackageName::parse(&plugin.package_name).map_err(|e| ServiceError::Internal(e.into()))?;
    let plugin_id = plugin.id;
    let vendored = db(app, move |conn| vendored(conn, plugin_id)).await?;
    let _slot = tokio::time::timeout(DRY_RUN_WAIT, DRY_RUN.acquire())
        .await
        .map_err(|_| {
            ServiceError::Unavailable(
                "Another package check is running; try again in a minute.".into(),
            )
        })?
        .map_err(|_| ServiceError::Unavailable("The service is stopping.".into()))?;
    let opts = Options {
        limits: validate::Limits {
            max_upload_bytes: app.config.max_upload_bytes,
            ..Default::default()
        },
        check_urls_online: app.config.check_urls_online,
    };
    let tools = app.config.scan.tools.clone();
    // The document of `uploader check --scan --json`, built by the same function.
    let report = AppState::blocking(move || {
        let scan = ScanOptions { vendored };
        crate::check::full_report(&zip, &Mode::Existing(name), &opts, Some((&tools, &scan)))
    })
    .await?;
    Ok(serde_json::to_value(&report).map_err(anyhow::Error::from)?)
}

/// A finding as the review page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FindingView {
    pub rule: String,
    pub tool: String,
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
    pub waivable: bool,
    pub waived_reason: Option<String>,
    pub waived_by: Option<String>,
    /// The waiver's file ("" when it covers the whole plugin): what "remove" names.
    pub waived_file: Option<String>,
}

/// A titled list of findings.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FindingGroup {
    pub title: &'static str,
    pub items: Vec<FindingView>,
}

/// The review page's `checks` context: status, grouped findings, tools, QGIS 4 readiness.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ChecksView {
    pub status: ScanStatus,
    pub scanned: bool,
    pub finished_on: Option<String>,
    pub critical: Vec<FindingView>,
    /// Warnings, information, vendored and waived findings, each with its heading (empty
    /// groups left out).
    pub groups: Vec<FindingGroup>,
    pub tools: serde_json::Value,
    pub qgis4_ready: Option<bool>,
    pub qgis4: Vec<FindingView>,
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    /// Staff: may override a block.
    pub may_override: bool,
    /// Editors and staff: may rescan and waive.
    pub may_edit: bool,
}

fn finding_view(f: &StoredFinding) -> FindingView {
    let x = &f.finding;
    FindingView {
        rule: x.rule.clone(),
        tool: x.tool.as_str().to_owned(),
        file: x.file.clone(),
        line: x.line,
        message: x.message.clone(),
        waivable: x.waivable,
        waived_reason: f.waived.as_ref().map(|w| w.reason.clone()),
        waived_by: f.waived.as_ref().and_then(|w| w.by.clone()),
        waived_file: f.waived.as_ref().map(|w| w.file.clone()),
    }
}

/// Groups a version's findings for the review page.
pub(crate) async fn checks_view(
    app: &App,
    user: User,
    row: &VersionRow,
) -> ServiceResult<ChecksView> {
    let (id, plugin_id) = (row.id, row.plugin_id);
    let staff = user.is_staff || user.is_superuser;
    let (checks, may_edit) = db(app, move |conn| {
        let plugin = catalog::plugins::plugin_by_id(conn, plugin_id)?
            .ok_or_else(|| ServiceError::NotFound("The plugin no longer exists.".into()))?;
        Ok((version_checks(conn, id)?, can_edit(conn, &plugin, &user)?))
    })
    .await?;
    let mut v = ChecksView {
        status: checks.status,
        scanned: checks.scan.is_some(),
        finished_on: checks.scan.as_ref().and_then(|s| s.finished_on).map(super::api_time),
        critical: Vec::new(),
        groups: Vec::new(),
        tools: checks
            .scan
            .as_ref()
            .and_then(|s| serde_json::from_str(&s.tools).ok())
            .unwrap_or_default(),
        qgis4_ready: checks.scan.as_ref().and_then(|s| s.qgis4_ready),
        qgis4: Vec::new(),
        override_reason: checks
            .scan
            .as_ref()
            .and_then(|s| s.override_.as_ref())
            .map(|o| o.reason.clone()),
        override_by: checks
            .scan
            .as_ref()
            .and_then(|s| s.override_.as_ref())
            .and_then(|o| o.by.clone()),
        may_override: staff && checks.status == ScanStatus::Blocked,
        may_edit,
    };
    let mut groups: [Vec<FindingView>; 4] = Default::default();
    for f in &checks.findings {
        let list = if f.finding.tool == catalog::checks::ScanTool::Qt6 {
            &mut v.qgis4
        } else if f.finding.severity == Severity::Critical {
            &mut v.critical
        } else if f.waived.is_some() {
            &mut groups[3]
        } else if f.finding.vendored {
            &mut groups[2]
        } else if f.finding.severity == Severity::Warning {
            &mut groups[0]
        } else {
            &mut groups[1]
        };
        list.push(finding_view(f));
    }
    let titles = ["Warnings", "Information", "In vendored folders", "Waived"];
    v.groups = titles
        .into_iter()
        .zip(groups)
        .filter(|(_, items)| !items.is_empty())
        .map(|(title, items)| FindingGroup { title, items })
        .collect();
    Ok(v)
}
