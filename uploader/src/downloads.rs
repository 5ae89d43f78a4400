//! Download counting from nginx's downloads log (issue 7). nginx serves every zip itself and
//! writes one line per download URL served (`log_format downloads` in nginx/trees-http.conf):
//!
//! ```text
//! $msec $pkg $ver $status c=$request_completion $request_method $body_bytes_sent
//! 1763740000.123 my_plugin 1.2.0 200 c=OK GET 12345
//! ```
//!
//! A pass reads the log from the committed position, counts complete `GET` answers with
//! status 200 (a 206 range, a 304, an aborted transfer or a HEAD do not count) per version
//! and UTC day, and commits the counts together with the new position in one transaction
//! (`catalog::downloads::commit_download_counts`): a crash before the commit counts the batch again from the
//! old position, a crash after it never does. A torn last line (no `\n` yet) waits for the
//! next pass. A new inode or a file shorter than the position (rotated or truncated) is
//! read from its start; the rest of a rotated file still named `<log>.1` is counted first.
//! Downloads keep being logged while the service is down and are counted when it is back.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::config::CounterConfig;
use catalog::downloads::CountsApplied;
use catalog::downloads::DownloadCount;
use catalog::downloads::LogPosition;

/// Most bytes of log read (and held in memory) per committed batch.
pub const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// One counted download read from a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download<'a> {
    pub package: &'a str,
    pub version: &'a str,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
}

/// Parses one log line (without its `\n`). `None` for lines that do not count: another
/// status (206 range, 304, 404), an incomplete transfer, a method other than GET, or a
/// malformed line.
pub fn parse_line(line: &str) -> Option<Download<'_>> {
    let mut f = line.split_ascii_whitespace();
    let (msec, package, version, status, completion, method) =
        (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    if status != "200" || completion != "c=OK" || method != "GET" {
        return None;
    }
    let secs: i64 = msec.split('.').next()?.parse().ok()?;
    let day = chrono::DateTime::from_timestamp(secs, 0)?.format("%Y-%m-%d").to_string();
    Some(Download { package, version, day })
}

/// Counts per (package, version, day) of the complete lines in `bytes`; returns them with
/// the number of bytes consumed (up to and including the last `\n`).
pub fn aggregate(bytes: &[u8]) -> (Vec<DownloadCount>, usize) {
    let consumed = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut map: HashMap<(&str, &str, String), u64> = HashMap::new();
    for line in bytes[..consumed].split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else { continue };
        if let Some(d) = parse_line(line) {
            *map.entry((d.package, d.version, d.day)).or_default() += 1;
        }
    }
    let mut counts: Vec<DownloadCount> = map
        .into_iter()
        .map(|((package, version, day), count)| DownloadCount {
            package: package.to_owned(),
            version: version.to_owned(),
            day,
            count,
        })
        .collect();
    counts.sort_by(|a, b| (&a.package, &a.version, &a.day).cmp(&(&b.package, &b.version, &b.day)));
    (counts, consumed)
}

/// What one ingest pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Downloads added to the catalog.
    pub counted: u64,
    /// Downloads of versions the catalog does not know: dropped.
    pub unknown: u64,
    /// Log bytes consumed.
    pub bytes: u64,
    /// Whether the log was found rotated or truncated (read from its start).
    pub restarted: bool,
}

impl IngestReport {
    fn add(&mut self, a: CountsApplied, bytes: u64) {
        self.counted += a.counted;
        self.unknown += a.unknown;
        self.bytes += bytes;
    }
}

/// Reads at most `BATCH_BYTES` of `file` from `offset`.
fn read_batch(file: &mut File, offset: u64) -> Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.take(BATCH_BYTES as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Counts the complete lines of `file` from `from` to its end, batch by batch, each batch
/// committed with the position it reaches under the key `key`. `expected` is the committed
/// position before the first batch. Returns the last committed position, or `None` when
/// another ingester moved the position meanwhile (the caller starts over).
fn drain(
    conn: &mut Connection,
    key: &str,
    file: &mut File,
    inode: u64,
    mut expected: Option<LogPosition>,
    from: u64,
    report: &mut IngestReport,
) -> Result<Option<Option<LogPosition>>> {
    let mut offset = from;
    loop {
        let buf = read_batch(file, offset)?;
        let (counts, consumed) = aggregate(&buf);
        if consumed == 0 && expected.is_some_and(|p| p.inode == inode && p.offset == offset) {
            return Ok(Some(expected));
        }
        if consumed == 0 && buf.len() >= BATCH_BYTES {
            anyhow::bail!("a line of the downloads log is longer than {BATCH_BYTES} bytes");
        }
        let new = LogPosition { inode, offset: offset + consumed as u64 };
        let Some(applied) = catalog::downloads::commit_download_counts(
            conn,
            key,
            expected,
            new,
            &counts,
            catalog::time::now(),
        )?
        else {
            return Ok(None);
        };
        report.add(applied, consumed as u64);
        expected = Some(new);
        offset = new.offset;
        if buf.len() < BATCH_BYTES {
            return Ok(Some(expected));
        }
    }
}

/// The rotated copy logrotate leaves beside the log (`downloads.log.1`).
fn rotated_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// One ingest pass over every log (one per nginx edge), each from its own committed
/// position: the sum of their reports.
pub fn ingest_all(conn: &mut Connection, logs: &[PathBuf]) -> Result<IngestReport> {
    let mut total = IngestReport::default();
    for log in logs {
        let r = ingest(conn, log).with_context(|| format!("counting `{}`", log.display()))?;
        total.counted += r.counted;
        total.unknown += r.unknown;
        total.bytes += r.bytes;
        total.restarted |= r.restarted;
    }
    Ok(total)
}

/// One ingest pass over the log at `log`: counts everything complete that was logged since
/// the committed position. A missing log counts nothing.
pub fn ingest(conn: &mut Connection, log: &Path) -> Result<IngestReport> {
    let key = log.to_string_lossy().into_owned();
    let mut report = IngestReport::default();
    // Bounded: a retry only happens when another ingester committed in between.
    for _ in 0..8 {
        let mut file = match File::open(log) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("failed to open the downloads log `{}`", log.display())
                });
            }
        };
        let meta = file.metadata()?;
        let (inode, len) = (meta.ino(), meta.len());
        let mut expected = catalog::downloads::download_log_position(conn, &key)?;
        let from = match expected {
            Some(p) if p.inode == inode && p.offset <= len => p.offset,
            Some(p) => {
                report.restarted = true;
                // Rotated: finish the previous file if it is still beside the log.
                if p.inode != inode
                    && let Ok(mut old) = File::open(rotated_path(log))
                    && old.metadata()?.ino() == p.inode
                {
                    match drain(conn, &key, &mut old, p.inode, expected, p.offset, &mut report)? {
                        Some(pos) => expected = pos,
                        None => continue,
                    }
                }
                0
            }
            None => 0,
        };
        match drain(conn, &key, &mut file, inode, expected, from, &mut report)? {
            Some(_) => return Ok(report),
            None => continue,
        }
    }
    anyhow::bail!("the downloads log position kept moving under this ingester (another one runs?)")
}

/// Decides when new counts cause a site rebuild: at once for the first, then at most once
/// per `refresh` (what has been counted meanwhile waits for the next one).
#[derive(Debug, Clone)]
pub struct RefreshGate {
    refresh: Duration,
    pending: bool,
    last: Option<Instant>,
}

impl RefreshGate {
    pub fn new(refresh: Duration) -> Self {
        Self { refresh, pending: false, last: None }
    }

    /// Records a pass that counted `counted` downloads.
    pub fn counted(&mut self, counted: u64) {
        self.pending |= counted > 0;
    }

    /// True (once) when a rebuild is due at `now`.
    pub fn due(&mut self, now: Instant) -> bool {
        let due = self.pending
            && self.last.is_none_or(|t| now.saturating_duration_since(t) >= self.refresh);
        if due {
            self.pending = false;
            self.last = Some(now);
        }
        due
    }
}

/// Runs forever: an ingest pass every `interval` (in a blocking task), and a site rebuild when counts changed and the last one it asked for is at least
/// `refresh` old. Errors are logged and retried at the next tick.
pub async fn run_counter(config: CounterConfig, app: crate::app::App) {
    let mut gate = RefreshGate::new(config.refresh);
    let mut tick = tokio::time::interval(config.interval.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let logs = config.logs.clone();
        // On the service's one writer connection (decisions §7), like every request.
        match app.db(move |conn| ingest_all(conn, &logs)).await {
            Ok(rep) => {
                if rep.counted > 0 || rep.unknown > 0 {
                    tracing::info!(
                        counted = rep.counted,
                        unknown = rep.unknown,
                        bytes = rep.bytes,
                        restarted = rep.restarted,
                        "downloads counted"
                    );
                }
                gate.counted(rep.counted);
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "download counting failed"),
        }
        if gate.due(Instant::now()) && app.rebuild.is_enabled() {
            let ticket = app.rebuild.request();
            tracing::info!(ticket, "rebuilding the site for new download counts");
        }
    }
}

#[cfg(test)]
mod tests;
