//! The scan worker (issue 15): scans queued versions one at a time (2 cores: a scan uses
//! one, requests the other), in queue order from the catalog so a restart resumes where it
//! stopped. Each finished scan is stored in ONE transaction with its consequences: status,
//! findings, mail, and the unapproval of an approved version found critical.

use std::time::Duration;

use anyhow::Context;
use rusqlite::Connection;

use catalog::checks::{FindingRow, FinishedScan, QueuedScan, ScanStatus, ScanTool};
use catalog::events::AuditEvent;
use catalog::versions::VersionRow;

use crate::app::{App, AppState};
use crate::mail::MailEvent;
use crate::scan::{self, Finding, Qgis4Readiness, ScanOptions, ScanReport, ToolRun};
use crate::services::{immediate, now};

/// How often the queue is looked at without a wake-up (a safety net: uploads wake it).
const TICK: Duration = Duration::from_secs(30);

/// Runs forever on the service's runtime.
pub async fn run(app: App) {
    loop {
        match app.db(|conn| catalog::checks::next_queued(conn)).await {
            Ok(Some(job)) => run_job(&app, job).await,
            Ok(None) => idle(&app).await,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "failed to read the scan queue");
                idle(&app).await;
            }
        }
    }
}

/// Waits for an upload's wake-up (a permit stored meanwhile counts) or the tick.
async fn idle(app: &App) {
    tokio::select! {
        () = app.scan_wake.notified() => {}
        () = tokio::time::sleep(TICK) => {}
    }
}

/// Scans one version (retrying incomplete runs) and stores the outcome.
async fn run_job(app: &App, job: QueuedScan) {
    let started = std::time::Instant::now();
    let report = match scan_with_retries(app, &job).await {
        Ok(r) => r,
        Err(e) => {
            // Nothing could run (e.g. the zip vanished): stored as incomplete, never passed.
            tracing::warn!(version = %job.version_id, error = format!("{e:#}"), "scan failed");
            failed_report(format!("{e:#}"))
        }
    };
    let status = report.status;
    match store(app, &job, report).await {
        Ok(true) => tracing::info!(
            version = %job.version_id,
            status = %status,
            millis = started.elapsed().as_millis() as u64,
            "scan finished"
        ),
        Ok(false) => {
            tracing::info!(version = %job.version_id, "scan result dropped: the zip changed")
        }
        Err(e) => {
            // Unfinished rows are picked up again; wait so a broken catalog does not spin.
            tracing::error!(version = %job.version_id, error = format!("{e:#}"), "failed to store a scan");
            idle(app).await;
        }
    }
}

/// Runs the scan; an incomplete run is retried `config.scan.retries` times in all (counted
/// in the catalog, so a restart does not reset them), with a growing pause.
async fn scan_with_retries(app: &App, job: &QueuedScan) -> anyhow::Result<ScanReport> {
    let (zip, options) = inputs(app, job).await?;
    let mut attempts = job.attempts;
    loop {
        let report = scan_once(app, &zip, &options).await;
        if report.status != ScanStatus::Incomplete || attempts >= app.config.scan.retries {
            return Ok(report);
        }
        let (id, sha) = (job.version_id, job.sha256.clone());
        attempts = app.db(move |c| catalog::checks::count_attempt(c, id, &sha)).await?;
        let pause = Duration::from_secs(5u64 << attempts.min(6));
        tracing::warn!(version = %id, attempts, ?pause, "scan incomplete, retrying");
        tokio::time::sleep(pause).await;
    }
}

/// The stored zip and the plugin's vendored folders; marks the scan started.
async fn inputs(app: &App, job: &QueuedScan) -> anyhow::Result<(bytes::Bytes, ScanOptions)> {
    let (id, plugin, sha) = (job.version_id, job.plugin_id, job.sha256.clone());
    let vendored = app
        .db(move |c| {
            catalog::checks::mark_started(c, id, &sha, now())?;
            catalog::checks::vendored_dirs(c, plugin)
        })
        .await?;
    let path = app.store.absolute(&job.package_path);
    let zip = AppState::blocking(move || std::fs::read(&path).map(bytes::Bytes::from))
        .await?
        .with_context(|| format!("failed to read the stored zip {}", job.package_path))?;
    Ok((zip, ScanOptions { vendored }))
}

/// One run of the engine in a blocking task; a failure to run at all (or a panic) is an
/// incomplete report.
pub(crate) async fn scan_once(app: &App, zip: &bytes::Bytes, options: &ScanOptions) -> ScanReport {
    let (zip, options, tools) = (zip.clone(), options.clone(), app.config.scan.tools.clone());
    match tokio::task::spawn_blocking(move || scan::scan(&zip, &options, &tools)).await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => failed_report(format!("{e:#}")),
        Err(e) => failed_report(format!("the scan crashed: {e}")),
    }
}

/// An incomplete report for a scan that could not run.
fn failed_report(error: String) -> ScanReport {
    ScanReport {
        status: ScanStatus::Incomplete,
        findings: Vec::new(),
        tools: vec![ToolRun {
            tool: ScanTool::Files,
            version: String::new(),
            error: Some(error),
            millis: 0,
        }],
        qgis4: Qgis4Readiness { ready: false, findings: Vec::new() },
    }
}

fn finding_row(f: &Finding) -> FindingRow {
    FindingRow {
        rule: f.rule.clone(),
        tool: f.tool,
        severity: f.severity,
        waivable: f.waivable,
        file: f.file.clone(),
        line: f.line,
        message: f.message.clone(),
        vendored: f.vendored,
    }
}

/// What the finishing transaction did that needs work after COMMIT.
struct Stored {
    /// The public site changed: the version was approved (its badges, or its unapproval).
    rebuild: bool,
}

/// The finishing transaction, then the wake-ups. False: the result was dropped.
async fn store(app: &App, job: &QueuedScan, report: ScanReport) -> anyhow::Result<bool> {
    let (app2, job2) = (app.clone(), job.clone());
    let stored = app.db(move |conn| finish(&app2, conn, &job2, &report)).await?;
    let Some(stored) = stored else { return Ok(false) };
    if stored.rebuild {
        app.rebuild.request();
    }
    app.scan_done.send_modify(|n| *n += 1);
    app.mail_wake.notify_one();
    Ok(true)
}

/// Findings, status, mail, and for an approved version its public change (the unapproval
/// of a blocked one, else new badges: the revision is bumped), all or nothing.
fn finish(
    app: &App,
    conn: &mut Connection,
    job: &QueuedScan,
    report: &ScanReport,
) -> anyhow::Result<Option<Stored>> {
    let now = now();
    let tx = immediate(conn)?;
    let rows: Vec<FindingRow> =
        report.findings.iter().chain(&report.qgis4.findings).map(finding_row).collect();
    let tools_json = serde_json::to_string(&report.tools)?;
    let done = FinishedScan {
        status: report.status,
        findings: &rows,
        tools_json: &tools_json,
        qgis4_ready: report.qgis4.ready,
    };
    if !catalog::checks::finish_scan(&tx, job.version_id, &job.sha256, &done, now)? {
        return Ok(None);
    }
    let Some(version) = version_row(&tx, job)? else { return Ok(None) };
    let unapproved = report.status == ScanStatus::Blocked && version.approved;
    if unapproved {
        unapprove_blocked(&tx, &version, now)?;
    } else if version.approved {
        catalog::checks::scan_changed_public(&tx, version.plugin_id)?;
    }
    notify(app, &tx, job, &version, report.status, now)?;
    tx.commit()?;
    Ok(Some(Stored { rebuild: version.approved }))
}

fn version_row(conn: &Connection, job: &QueuedScan) -> anyhow::Result<Option<VersionRow>> {
    let versions = catalog::versions::versions_of_plugin(conn, job.plugin_id)?;
    Ok(versions.into_iter().find(|v| v.id == job.version_id))
}

/// A trusted upload was approved at once; a critical finding takes it off the site.
fn unapprove_blocked(
    conn: &Connection,
    v: &VersionRow,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let by = v.created_by.unwrap_or(catalog::ids::UserId(0));
    catalog::review::set_version_approved(conn, v.plugin_id, v.id, false, by, now)?;
    let event =
        AuditEvent::ScanBlock { version: v.version.clone(), sha256: v.package_sha256.clone() };
    catalog::events::log_event(conn, now, None, Some(v.plugin_id), &event)?;
    tracing::warn!(version = %v.id, "an approved version was blocked by its scan and unapproved");
    Ok(())
}

/// `ScanFinished` to the editors always; `ReadyForReview` to the review group when a
/// version awaiting review passed.
fn notify(
    app: &App,
    conn: &Connection,
    job: &QueuedScan,
    v: &VersionRow,
    status: ScanStatus,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let base = &app.config.site.base_url;
    let (plugin, version) = (job.plugin_id, job.version_id);
    crate::mail::notify(conn, base, now, &MailEvent::ScanFinished { plugin, version })?;
    if status == ScanStatus::Validated && !v.approved {
        crate::mail::notify(conn, base, now, &MailEvent::ReadyForReview { plugin, version })?;
    }
    Ok(())
}
