//! The scans of versions (issue 15): the codes stored for a scan's state, a finding's
//! severity and tool, and (below them) every statement on `scans`, `scan_findings`,
//! `scan_waivers` and `vendored_dirs`.

use std::collections::HashMap;
use std::fmt;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::ids::{PluginId, UserId, VersionId};
use crate::time::{fmt_time, parse_time};

/// `plugin_versions.validation_status`: where a version's scan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanStatus {
    /// Queued or running.
    Validating,
    /// Every tool ran; nothing critical.
    Validated,
    /// A tool crashed or timed out: never "passed".
    Incomplete,
    /// A critical finding: cannot be approved nor downloaded.
    Blocked,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Validating => "validating",
            ScanStatus::Validated => "validated",
            ScanStatus::Incomplete => "incomplete",
            ScanStatus::Blocked => "blocked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "validating" => ScanStatus::Validating,
            "validated" => ScanStatus::Validated,
            "incomplete" => ScanStatus::Incomplete,
            "blocked" => ScanStatus::Blocked,
            _ => return None,
        })
    }
}

impl fmt::Display for ScanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a finding matters. `Critical` blocks the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which check produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ScanTool {
    /// Bandit (PyPI), Python security rules B101…B704.
    #[serde(rename = "bandit")]
    Bandit,
    /// detect-secrets (PyPI), hard-coded credentials.
    #[serde(rename = "detect-secrets")]
    DetectSecrets,
    /// Our file analysis: binaries, scripts, hidden files, executable bits, syntax errors,
    /// obfuscated code.
    #[serde(rename = "files")]
    Files,
    /// Our Qt5 → Qt6 / QGIS 4 readiness rules.
    #[serde(rename = "qt6")]
    Qt6,
}

impl ScanTool {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanTool::Bandit => "bandit",
            ScanTool::DetectSecrets => "detect-secrets",
            ScanTool::Files => "files",
            ScanTool::Qt6 => "qt6",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "bandit" => ScanTool::Bandit,
            "detect-secrets" => ScanTool::DetectSecrets,
            "files" => ScanTool::Files,
            "qt6" => ScanTool::Qt6,
            _ => return None,
        })
    }
}

impl fmt::Display for ScanTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// Statements on scans, scan_findings, scan_waivers and vendored_dirs.

/// A finding as stored (and as the worker writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRow {
    pub rule: String,
    pub tool: ScanTool,
    pub severity: Severity,
    pub waivable: bool,
    /// Path inside the zip ("" for the package as a whole).
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
    pub vendored: bool,
}

/// An author's waiver of a waivable rule (for one file, or `file == ""`: the whole plugin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub rule: String,
    pub file: String,
    pub reason: String,
    /// User name of who waived it (`None`: the account is gone).
    pub by: Option<String>,
    pub on: DateTime<Utc>,
}

/// A stored finding with the waiver that covers it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    pub finding: FindingRow,
    pub waived: Option<Waiver>,
}

/// Staff's lifting of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub by: Option<String>,
    pub on: DateTime<Utc>,
    pub reason: String,
}

/// The scan row of a version.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRow {
    pub version_id: VersionId,
    pub sha256: String,
    pub queued_on: DateTime<Utc>,
    pub started_on: Option<DateTime<Utc>>,
    /// `None`: queued or running.
    pub finished_on: Option<DateTime<Utc>>,
    pub attempts: u32,
    /// JSON array: each tool's version and outcome.
    pub tools: String,
    pub qgis4_ready: Option<bool>,
    pub override_: Option<Override>,
}

/// The oldest unfinished scan: what the worker runs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedScan {
    pub version_id: VersionId,
    pub plugin_id: PluginId,
    pub sha256: String,
    /// The stored zip (`packages/...`).
    pub package_path: String,
    pub attempts: u32,
}

/// Queues a scan of `version_id`'s bytes `sha256` (a new upload, a replaced zip, a rescan):
/// the previous findings and override go, the version becomes `validating`.
pub fn queue_scan(
    conn: &Connection,
    version_id: VersionId,
    sha256: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO scans (version_id, sha256, queued_on) VALUES (?1, ?2, ?3)
         ON CONFLICT (version_id) DO UPDATE SET sha256 = ?2, queued_on = ?3, started_on = NULL,
            finished_on = NULL, attempts = 0, tools = '[]', qgis4_ready = NULL,
            override_by = NULL, override_on = NULL, override_reason = NULL",
        params![version_id, sha256, fmt_time(now)],
    )
    .with_context(|| format!("failed to queue the scan of version {version_id}"))?;
    conn.execute("DELETE FROM scan_findings WHERE version_id = ?1", [version_id])?;
    set_status(conn, version_id, ScanStatus::Validating)
}

fn set_status(conn: &Connection, version_id: VersionId, status: ScanStatus) -> Result<()> {
    conn.execute(
        "UPDATE plugin_versions SET validation_status = ?2 WHERE id = ?1",
        params![version_id, status.as_str()],
    )
    .with_context(|| format!("failed to set the scan status of version {version_id}"))?;
    Ok(())
}

/// The oldest unfinished scan (queued, or interrupted by a restart).
pub fn next_queued(conn: &Connection) -> Result<Option<QueuedScan>> {
    conn.query_row(
        "SELECT s.version_id, v.plugin_id, s.sha256, v.package_path, s.attempts
         FROM scans s JOIN plugin_versions v ON v.id = s.version_id
         WHERE s.finished_on IS NULL ORDER BY s.queued_on, s.version_id LIMIT 1",
        [],
        |r| {
            Ok(QueuedScan {
                version_id: r.get(0)?,
                plugin_id: r.get(1)?,
                sha256: r.get(2)?,
                package_path: r.get(3)?,
                attempts: r.get(4)?,
            })
        },
    )
    .optional()
    .context("failed to find the next scan")
}

/// Records that a run of `version_id`'s scan of `sha256` starts.
pub fn mark_started(
    conn: &Connection,
    version_id: VersionId,
    sha256: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE scans SET started_on = ?3 WHERE version_id = ?1 AND sha256 = ?2",
        params![version_id, sha256, fmt_time(now)],
    )?;
    Ok(())
}

/// Counts an incomplete run that will be retried; returns the attempts so far.
pub fn count_attempt(conn: &Connection, version_id: VersionId, sha256: &str) -> Result<u32> {
    conn.query_row(
        "UPDATE scans SET attempts = attempts + 1 WHERE version_id = ?1 AND sha256 = ?2
         RETURNING attempts",
        params![version_id, sha256],
        |r| r.get(0),
    )
    .optional()
    .map(Option::unwrap_or_default)
    .context("failed to count a scan attempt")
}

/// The outcome of a finished run, as `finish_scan` stores it.
#[derive(Debug, Clone)]
pub struct FinishedScan<'a> {
    pub status: ScanStatus,
    /// Every finding, the Qt6 ones included.
    pub findings: &'a [FindingRow],
    /// JSON array of the tool runs.
    pub tools_json: &'a str,
    pub qgis4_ready: bool,
}

/// Stores a finished scan of the bytes `sha256`: findings replaced, the scan row and the
/// version's status set. False (nothing written) when the version's scan is no longer of
/// these bytes or already finished (a replaced zip was queued meanwhile, or it was deleted).
pub fn finish_scan(
    conn: &Connection,
    version_id: VersionId,
    sha256: &str,
    done: &FinishedScan<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn.execute(
        "UPDATE scans SET finished_on = ?3, tools = ?4, qgis4_ready = ?5
         WHERE version_id = ?1 AND sha256 = ?2 AND finished_on IS NULL",
        params![version_id, sha256, fmt_time(now), done.tools_json, done.qgis4_ready],
    )?;
    if n == 0 {
        return Ok(false);
    }
    conn.execute("DELETE FROM scan_findings WHERE version_id = ?1", [version_id])?;
    let mut insert = conn.prepare(
        "INSERT INTO scan_findings (version_id, rule, tool, severity, waivable, file, line,
            message, vendored) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for f in done.findings {
        insert.execute(params![
            version_id,
            f.rule,
            f.tool.as_str(),
            f.severity.as_str(),
            f.waivable,
            f.file,
            f.line,
            f.message,
            f.vendored
        ])?;
    }
    set_status(conn, version_id, done.status)?;
    Ok(true)
}

fn time_opt(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    r.get::<_, Option<String>>(i)?.as_deref().map(parse_time).transpose()
}

/// The scan row of a version (`None`: never scanned, e.g. uploaded before scans existed).
pub fn scan_of(conn: &Connection, version_id: VersionId) -> Result<Option<ScanRow>> {
    conn.query_row(
        "SELECT s.version_id, s.sha256, s.queued_on, s.started_on, s.finished_on, s.attempts,
            s.tools, s.qgis4_ready, u.username, s.override_on, s.override_reason
         FROM scans s LEFT JOIN users u ON u.id = s.override_by WHERE s.version_id = ?1",
        [version_id],
        |r| {
            let override_ = match (time_opt(r, 9)?, r.get::<_, Option<String>>(10)?) {
                (Some(on), Some(reason)) => Some(Override { by: r.get(8)?, on, reason }),
                _ => None,
            };
            Ok(ScanRow {
                version_id: r.get(0)?,
                sha256: r.get(1)?,
                queued_on: parse_time(&r.get::<_, String>(2)?)?,
                started_on: time_opt(r, 3)?,
                finished_on: time_opt(r, 4)?,
                attempts: r.get(5)?,
                tools: r.get(6)?,
                qgis4_ready: r.get(7)?,
                override_,
            })
        },
    )
    .optional()
    .with_context(|| format!("failed to read the scan of version {version_id}"))
}

/// `plugin_versions.validation_status` of a version.
pub fn status_of(conn: &Connection, version_id: VersionId) -> Result<Option<ScanStatus>> {
    let text: Option<String> = conn
        .query_row(
            "SELECT validation_status FROM plugin_versions WHERE id = ?1",
            [version_id],
            |r| r.get(0),
        )
        .optional()?;
    text.map(|t| parse_status(&t)).transpose()
}

/// The status of version `version` (as stored) of a plugin.
pub fn status_of_named(
    conn: &Connection,
    plugin_id: PluginId,
    version: &str,
) -> Result<Option<ScanStatus>> {
    let text: Option<String> = conn
        .query_row(
            "SELECT validation_status FROM plugin_versions WHERE plugin_id = ?1 AND version = ?2",
            params![plugin_id, version],
            |r| r.get(0),
        )
        .optional()?;
    text.map(|t| parse_status(&t)).transpose()
}

fn parse_status(text: &str) -> Result<ScanStatus> {
    ScanStatus::parse(text).with_context(|| format!("unknown validation status `{text}`"))
}

/// The status of every version of a plugin.
pub fn statuses_of_plugin(
    conn: &Connection,
    plugin_id: PluginId,
) -> Result<HashMap<VersionId, ScanStatus>> {
    let mut stmt =
        conn.prepare("SELECT id, validation_status FROM plugin_versions WHERE plugin_id = ?1")?;
    let rows = stmt
        .query_map([plugin_id], |r| Ok((r.get::<_, VersionId>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|(id, s)| Ok((id, parse_status(&s)?))).collect()
}

fn finding_from_row(r: &Row<'_>) -> rusqlite::Result<FindingRow> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown {what}").into(),
        )
    };
    Ok(FindingRow {
        rule: r.get(0)?,
        tool: ScanTool::parse(&r.get::<_, String>(1)?).ok_or_else(|| bad(1, "scan tool"))?,
        severity: Severity::parse(&r.get::<_, String>(2)?).ok_or_else(|| bad(2, "severity"))?,
        waivable: r.get(3)?,
        file: r.get(4)?,
        line: r.get(5)?,
        message: r.get(6)?,
        vendored: r.get(7)?,
    })
}

/// The findings of a version's last finished scan, most severe first, each with the
/// plugin's waiver that covers it (a file's own waiver before a plugin-wide one; only
/// waivable findings can be waived).
pub fn findings_of(conn: &Connection, version_id: VersionId) -> Result<Vec<StoredFinding>> {
    let mut stmt = conn.prepare(
        "SELECT f.rule, f.tool, f.severity, f.waivable, f.file, f.line, f.message, f.vendored,
            w.rule, w.file, w.reason, u.username, w.created_on
         FROM scan_findings f JOIN plugin_versions v ON v.id = f.version_id
         LEFT JOIN scan_waivers w ON f.waivable = 1 AND w.rowid = (
             SELECT x.rowid FROM scan_waivers x WHERE x.plugin_id = v.plugin_id
                AND x.rule = f.rule AND x.file IN (f.file, '') ORDER BY x.file DESC LIMIT 1)
         LEFT JOIN users u ON u.id = w.created_by
         WHERE f.version_id = ?1
         ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
            f.file, f.line, f.rule, f.id",
    )?;
    let rows = stmt
        .query_map([version_id], |r| {
            let waived = match r.get::<_, Option<String>>(8)? {
                Some(rule) => Some(Waiver {
                    rule,
                    file: r.get(9)?,
                    reason: r.get(10)?,
                    by: r.get(11)?,
                    on: parse_time(&r.get::<_, String>(12)?)?,
                }),
                None => None,
            };
            Ok(StoredFinding { finding: finding_from_row(r)?, waived })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .with_context(|| format!("failed to read the findings of version {version_id}"))?;
    Ok(rows)
}

/// Adds (or rewrites the reason of) a waiver.
pub fn add_waiver(
    conn: &Connection,
    plugin_id: PluginId,
    rule: &str,
    file: &str,
    reason: &str,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO scan_waivers (plugin_id, rule, file, reason, created_by, created_on)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (plugin_id, rule, file) DO UPDATE SET reason = ?4, created_by = ?5,
            created_on = ?6",
        params![plugin_id, rule, file, reason, by, fmt_time(now)],
    )
    .context("failed to store a waiver")?;
    Ok(())
}

/// Removes a waiver; false when there was none.
pub fn remove_waiver(
    conn: &Connection,
    plugin_id: PluginId,
    rule: &str,
    file: &str,
) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM scan_waivers WHERE plugin_id = ?1 AND rule = ?2 AND file = ?3",
        params![plugin_id, rule, file],
    )?;
    Ok(n > 0)
}

/// The waivers of a plugin, by rule and file.
pub fn waivers_of(conn: &Connection, plugin_id: PluginId) -> Result<Vec<Waiver>> {
    let mut stmt = conn.prepare(
        "SELECT w.rule, w.file, w.reason, u.username, w.created_on
         FROM scan_waivers w LEFT JOIN users u ON u.id = w.created_by
         WHERE w.plugin_id = ?1 ORDER BY w.rule, w.file",
    )?;
    let rows = stmt
        .query_map([plugin_id], |r| {
            Ok(Waiver {
                rule: r.get(0)?,
                file: r.get(1)?,
                reason: r.get(2)?,
                by: r.get(3)?,
                on: parse_time(&r.get::<_, String>(4)?)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("failed to list waivers")?;
    Ok(rows)
}

/// The vendored folders a plugin's authors declared, sorted.
pub fn vendored_dirs(conn: &Connection, plugin_id: PluginId) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT path FROM vendored_dirs WHERE plugin_id = ?1 ORDER BY path")?;
    let rows = stmt
        .query_map([plugin_id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()
        .context("failed to list vendored folders")?;
    Ok(rows)
}

/// Replaces the vendored folders of a plugin (already checked by the caller).
pub fn set_vendored_dirs(conn: &Connection, plugin_id: PluginId, paths: &[String]) -> Result<()> {
    conn.execute("DELETE FROM vendored_dirs WHERE plugin_id = ?1", [plugin_id])?;
    let mut insert =
        conn.prepare("INSERT OR IGNORE INTO vendored_dirs (plugin_id, path) VALUES (?1, ?2)")?;
    for p in paths {
        insert.execute(params![plugin_id, p])?;
    }
    Ok(())
}

/// Staff lift the block of a finished scan: the version becomes `validated`, the findings
/// stay. False when the version is not blocked.
pub fn override_block(
    conn: &Connection,
    version_id: VersionId,
    by: UserId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    if status_of(conn, version_id)? != Some(ScanStatus::Blocked) {
        return Ok(false);
    }
    conn.execute(
        "UPDATE scans SET override_by = ?2, override_on = ?3, override_reason = ?4
         WHERE version_id = ?1",
        params![version_id, by, fmt_time(now), reason],
    )?;
    set_status(conn, version_id, ScanStatus::Validated)?;
    Ok(true)
}

/// How many versions are in each status (for the health and admin views).
pub fn status_counts(conn: &Connection) -> Result<Vec<(ScanStatus, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT validation_status, count(*) FROM plugin_versions
         GROUP BY validation_status ORDER BY validation_status",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|(s, n)| Ok((parse_status(&s)?, n.max(0) as u64))).collect()
}

/// A finished scan changed what the public pages of an approved version show ("checked",
/// "QGIS 4 ready"): bumps the plugin's revision so that the generator renders them anew.
pub fn scan_changed_public(conn: &Connection, plugin_id: PluginId) -> Result<()> {
    crate::plugins::bump_revision(conn, plugin_id)
}

/// The scan status of many versions at once (`/plugins/my`), `None` for a version that has
/// no scan row (uploaded before scans existed: "not scanned"). Versions not found are left out.
pub fn scan_badges(
    conn: &Connection,
    versions: &[VersionId],
) -> Result<HashMap<VersionId, Option<ScanStatus>>> {
    let ids = serde_json::to_string(versions).context("failed to list version ids")?;
    let mut stmt = conn.prepare(
        "SELECT v.id, v.validation_status, s.version_id IS NOT NULL
         FROM plugin_versions v LEFT JOIN scans s ON s.version_id = v.id
         WHERE v.id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt
        .query_map([ids], |r| {
            Ok((r.get::<_, VersionId>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, s, scanned)| Ok((id, if scanned { Some(parse_status(&s)?) } else { None })))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in [
            ScanStatus::Validating,
            ScanStatus::Validated,
            ScanStatus::Incomplete,
            ScanStatus::Blocked,
        ] {
            assert_eq!(ScanStatus::parse(s.as_str()), Some(s));
        }
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        for t in [ScanTool::Bandit, ScanTool::DetectSecrets, ScanTool::Files, ScanTool::Qt6] {
            assert_eq!(ScanTool::parse(t.as_str()), Some(t));
        }
        assert!(Severity::Critical > Severity::Warning && Severity::Warning > Severity::Info);
    }

    use crate::accounts::{NewUser, create_user};
    use crate::names::{PackageName, PluginVersion, QgisVersion};
    use crate::plugins::{PluginFields, create_plugin};
    use crate::versions::{NewVersion, insert_version};

    struct Fixture {
        _dir: tempfile::TempDir,
        conn: Connection,
        user: UserId,
        plugin: PluginId,
        version: VersionId,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(dir.path()).unwrap();
        let now = crate::time::now();
        let u = NewUser { username: "ana".into(), ..NewUser::default() };
        let user = create_user(&conn, &u, now).unwrap();
        let f = PluginFields { name: "P".into(), ..PluginFields::default() };
        let plugin =
            create_plugin(&conn, &PackageName::parse("scanned").unwrap(), user, &f, now).unwrap();
        let nv = NewVersion {
            version: PluginVersion::parse("1.0").unwrap(),
            created_by: user,
            min_qgis: QgisVersion::new(3, 0),
            max_qgis: QgisVersion::new(3, 99),
            changelog: String::new(),
            experimental: false,
            approved: false,
            external_deps: String::new(),
            token_id: None,
            package_path: "packages/p/p.1.0.zip".into(),
            package_sha256: "a".repeat(64),
            package_size: 1,
            icon: None,
        };
        let version = insert_version(&conn, plugin, &nv, now).unwrap();
        Fixture { _dir: dir, conn, user, plugin, version }
    }

    fn finding(rule: &str, severity: Severity, waivable: bool, file: &str) -> FindingRow {
        FindingRow {
            rule: rule.into(),
            tool: ScanTool::Bandit,
            severity,
            waivable,
            file: file.into(),
            line: Some(3),
            message: format!("{rule} here"),
            vendored: false,
        }
    }

    fn finish(fx: &Fixture, sha: &str, status: ScanStatus, findings: &[FindingRow]) -> bool {
        let done = FinishedScan { status, findings, tools_json: "[]", qgis4_ready: true };
        finish_scan(&fx.conn, fx.version, sha, &done, crate::time::now()).unwrap()
    }

    #[test]
    fn a_queued_scan_is_next_until_finished_and_a_replaced_zip_drops_the_old_result() {
        let fx = fixture();
        assert_eq!(status_of(&fx.conn, fx.version).unwrap(), Some(ScanStatus::Validated));
        assert!(next_queued(&fx.conn).unwrap().is_none());
        let (old, new) = ("a".repeat(64), "b".repeat(64));
        queue_scan(&fx.conn, fx.version, &old, crate::time::now()).unwrap();
        assert_eq!(status_of(&fx.conn, fx.version).unwrap(), Some(ScanStatus::Validating));
        let next = next_queued(&fx.conn).unwrap().unwrap();
        assert_eq!((next.version_id, next.plugin_id, next.attempts), (fx.version, fx.plugin, 0));
        assert_eq!(count_attempt(&fx.conn, fx.version, &old).unwrap(), 1);
        // The zip was replaced while the old bytes were scanned: their result is dropped.
        queue_scan(&fx.conn, fx.version, &new, crate::time::now()).unwrap();
        assert!(!finish(&fx, &old, ScanStatus::Validated, &[]));
        assert_eq!(next_queued(&fx.conn).unwrap().unwrap().attempts, 0);
        let crit = finding("AWSKeyDetector", Severity::Critical, false, "p/a.py");
        assert!(finish(&fx, &new, ScanStatus::Blocked, &[crit]));
        assert!(next_queued(&fx.conn).unwrap().is_none());
        assert!(!finish(&fx, &new, ScanStatus::Validated, &[]), "finished once");
        let scan = scan_of(&fx.conn, fx.version).unwrap().unwrap();
        assert!(scan.finished_on.is_some() && scan.qgis4_ready == Some(true));
        assert_eq!(status_of(&fx.conn, fx.version).unwrap(), Some(ScanStatus::Blocked));
        assert_eq!(status_counts(&fx.conn).unwrap(), vec![(ScanStatus::Blocked, 1)]);
    }

    #[test]
    fn waivers_cover_waivable_findings_by_file_or_plugin_wide() {
        let fx = fixture();
        let sha = "a".repeat(64);
        queue_scan(&fx.conn, fx.version, &sha, crate::time::now()).unwrap();
        let rows = [
            finding("B602", Severity::Warning, true, "p/a.py"),
            finding("B602", Severity::Warning, true, "p/b.py"),
            finding("PrivateKeyDetector", Severity::Critical, false, "p/a.py"),
            finding("FILE_HIDDEN", Severity::Info, true, "p/.x"),
        ];
        assert!(finish(&fx, &sha, ScanStatus::Blocked, &rows));
        let now = crate::time::now();
        add_waiver(&fx.conn, fx.plugin, "B602", "p/a.py", "fixed input", fx.user, now).unwrap();
        add_waiver(&fx.conn, fx.plugin, "B602", "", "all trusted", fx.user, now).unwrap();
        add_waiver(&fx.conn, fx.plugin, "PrivateKeyDetector", "", "no", fx.user, now).unwrap();
        let found = findings_of(&fx.conn, fx.version).unwrap();
        let summary: Vec<(&str, &str, Option<&str>)> = found
            .iter()
            .map(|f| {
                let w = f.waived.as_ref().map(|w| w.reason.as_str());
                (f.finding.rule.as_str(), f.finding.file.as_str(), w)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("PrivateKeyDetector", "p/a.py", None),
                ("B602", "p/a.py", Some("fixed input")),
                ("B602", "p/b.py", Some("all trusted")),
                ("FILE_HIDDEN", "p/.x", None),
            ]
        );
        assert_eq!(found[1].waived.as_ref().unwrap().by.as_deref(), Some("ana"));
        assert_eq!(waivers_of(&fx.conn, fx.plugin).unwrap().len(), 3);
        assert!(remove_waiver(&fx.conn, fx.plugin, "B602", "").unwrap());
        assert!(!remove_waiver(&fx.conn, fx.plugin, "B602", "").unwrap());
        assert!(findings_of(&fx.conn, fx.version).unwrap()[2].waived.is_none());
    }

    #[test]
    fn staff_override_a_block_and_vendored_folders_are_replaced() {
        let fx = fixture();
        let sha = "a".repeat(64);
        let now = crate::time::now();
        assert!(!override_block(&fx.conn, fx.version, fx.user, "why", now).unwrap());
        queue_scan(&fx.conn, fx.version, &sha, now).unwrap();
        let crit = finding("FILE_BINARY", Severity::Critical, false, "p/x.so");
        assert!(finish(&fx, &sha, ScanStatus::Blocked, &[crit]));
        assert!(override_block(&fx.conn, fx.version, fx.user, "a known library", now).unwrap());
        assert_eq!(status_of(&fx.conn, fx.version).unwrap(), Some(ScanStatus::Validated));
        let o = scan_of(&fx.conn, fx.version).unwrap().unwrap().override_.unwrap();
        assert_eq!((o.by.as_deref(), o.reason.as_str()), (Some("ana"), "a known library"));
        assert_eq!(findings_of(&fx.conn, fx.version).unwrap().len(), 1, "findings stay");
        // A rescan forgets the override: the new result decides.
        queue_scan(&fx.conn, fx.version, &sha, now).unwrap();
        assert!(scan_of(&fx.conn, fx.version).unwrap().unwrap().override_.is_none());

        set_vendored_dirs(&fx.conn, fx.plugin, &["ext_libs".into(), "a/b".into()]).unwrap();
        assert_eq!(vendored_dirs(&fx.conn, fx.plugin).unwrap(), ["a/b", "ext_libs"]);
        set_vendored_dirs(&fx.conn, fx.plugin, &[]).unwrap();
        assert!(vendored_dirs(&fx.conn, fx.plugin).unwrap().is_empty());
        let statuses = statuses_of_plugin(&fx.conn, fx.plugin).unwrap();
        assert_eq!(statuses[&fx.version], ScanStatus::Validating);
    }
}
