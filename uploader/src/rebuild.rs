//! The one coalescing rebuild worker. Every committed change calls `request`, which returns
//! a ticket; the worker reads the newest ticket before it starts a build, so that build
//! includes every change committed before it started. Any number of requests during a build
//! cause exactly one more build. `wait_for(ticket)` resolves when a build that includes the
//! ticket has been published, which lets an approval answer "live after N ms".
//!
//! Each build runs in a child process (`uploader build-site`, see `run_child`): rendering a
//! large catalog takes hundreds of MB that the allocator would otherwise keep in the
//! long-lived service. The child prints `live <report JSON>` once the new release is live
//! (the ticket completes then), then deletes old releases and exits; the next build starts
//! only after it exited, so builds never overlap.
//!
//! A failed build (non-zero exit, or no `live` line) is retried with a growing pause (1 s up
//! to 60 s); the previous site keeps being served meanwhile (publishing is atomic).

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The hidden subcommand the worker runs in the child.
pub const SUBCOMMAND: &str = "build-site";

/// Prefix of the child's one stdout line, sent once the new release is live.
const LIVE_PREFIX: &str = "live ";

/// Environment variables the child keeps; everything else (the JWT secret above all) is
/// cleared, since the child needs nothing but its arguments (and, with S3 credentials from
/// the environment, those two variables: `generator::s3::S3Config::child_env`).
/// `PLUGINS_FAILPOINT` lets the crash tests stop a child mid-publish.
const CHILD_ENV: &[&str] = &[
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PLUGINS_LOG",
    "RAYON_NUM_THREADS",
    "PLUGINS_FAILPOINT",
];

/// How much of the child's stderr a failure keeps for `last_error`.
const STDERR_TAIL_LINES: usize = 20;
const STDERR_TAIL_BYTES: usize = 4096;

/// Longest stdout line read from the child (its report is a few hundred bytes).
const MAX_STDOUT_LINE: u64 = 1 << 20;

/// What the worker has done so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildStatus {
    /// Highest ticket included in a published build.
    pub completed: u64,
    /// Highest ticket requested.
    pub requested: u64,
    /// Builds published since start.
    pub builds: u64,
    /// Builds that failed since start.
    pub failures: u64,
    /// Whether a build is running now.
    pub building: bool,
    /// Duration of the last successful build (until its release was live).
    pub last_build_ms: Option<u64>,
    /// Error of the last build, if it failed (for operators; never sent to clients).
    #[serde(skip)]
    pub last_error: Option<String>,
}

/// How to run one build: this program with `build-site` and the generator's paths.
#[derive(Debug, Clone)]
pub struct BuildCommand {
    /// The `uploader` binary (`serve` passes `current_exe()`; tests the built binary).
    pub program: PathBuf,
    pub config: generator::Config,
}

impl BuildCommand {
    fn command(&self) -> Command {
        let c = &self.config;
        let mut cmd = Command::new(&self.program);
        cmd.arg(SUBCOMMAND)
            .arg("--data")
            .arg(&c.data_dir)
            .arg("--site")
            .arg(&c.site_dir)
            .arg("--templates")
            .arg(&c.templates_dir)
            .arg("--base-url")
            .arg(&c.base_url)
            .env_clear()
            .envs(CHILD_ENV.iter().filter_map(|k| std::env::var_os(k).map(|v| (k, v))))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal stops the service, which then
            // decides about the child (see `shutdown`), instead of killing it mid-build.
            .process_group(0)
            // Backstop should the worker be dropped without `shutdown` (runtime torn down):
            // killing mid-publish is safe, publishing is atomic and the next start rebuilds.
            .kill_on_drop(true);
        // The same S3 target: settings and a credentials file path as arguments, or the
        // two credential variables; never a secret on the command line.
        if let Some(s3) = &c.s3 {
            cmd.args(s3.child_args()).envs(s3.child_env());
        }
        cmd
    }
}

/// Handle to the rebuild worker.
pub struct Rebuilder {
    requested: AtomicU64,
    notify: Notify,
    status: watch::Sender<BuildStatus>,
    enabled: bool,
    stopping: watch::Sender<bool>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Rebuilder {
    fn new(enabled: bool) -> Self {
        Self {
            requested: AtomicU64::new(0),
            notify: Notify::new(),
            status: watch::Sender::new(BuildStatus::default()),
            enabled,
            stopping: watch::Sender::new(false),
            worker: Mutex::new(None),
        }
    }

    /// A rebuilder that never builds (tests of pure API behaviour).
    pub fn disabled() -> Arc<Self> {
        Arc::new(Self::new(false))
    }

    /// Starts the worker on the current tokio runtime and requests a first build (the
    /// database may be ahead of the published site after a crash).
    pub fn start(build: BuildCommand) -> Arc<Self> {
        let this = Arc::new(Self::new(true));
        let worker = Arc::clone(&this);
        let handle = tokio::spawn(async move { worker.run(build).await });
        *this.worker.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        this.request();
        this
    }

    /// Asks for a build that includes everything committed so far; returns the ticket.
    pub fn request(&self) -> u64 {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.status.send_modify(|s| s.requested = s.requested.max(ticket));
        self.notify.notify_one();
        ticket
    }

    /// Current status.
    pub fn status(&self) -> BuildStatus {
        self.status.borrow().clone()
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Waits until a build including `ticket` is published, at most `timeout`. Returns the
    /// time waited, or `None` on timeout (or when building is disabled).
    pub async fn wait_for(&self, ticket: u64, timeout: Duration) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        let start = Instant::now();
        let mut rx = self.status.subscribe();
        let done = tokio::time::timeout(timeout, rx.wait_for(|s| s.completed >= ticket)).await;
        match done {
            Ok(Ok(_)) => Some(start.elapsed()),
            _ => None,
        }
    }

    /// Waits for statuses until `pred` holds (tests and operators waiting on an event).
    pub async fn wait_status(&self, pred: impl FnMut(&BuildStatus) -> bool) -> BuildStatus {
        let mut rx = self.status.subscribe();
        match rx.wait_for(pred).await {
            Ok(s) => s.clone(),
            // The sender lives in `self`: it cannot be dropped while we borrow it.
            Err(_) => self.status(),
        }
    }

    /// Stops the worker: no new build starts; a running child gets `SHUTDOWN_GRACE` to
    /// finish (its release goes live, old ones are collected), then it is killed (publishing
    /// is atomic, so that is safe too) and reaped. Returns once the worker has ended.
    pub async fn shutdown(&self) {
        self.stopping.send_replace(true);
        let handle = self.worker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle {
            // The worker bounds its own wait; it only ends early if it panicked.
            let _ = handle.await;
        }
    }

    async fn run(self: Arc<Self>, build: BuildCommand) {
        let mut stop = self.stopping.subscribe();
        let mut backoff = Duration::from_secs(1);
        loop {
            tokio::select! {
                () = self.notify.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            loop {
                let target = self.requested.load(Ordering::SeqCst);
                if target <= self.status.borrow().completed || *stop.borrow() {
                    break;
                }
                self.status.send_modify(|s| s.building = true);
                let result = self.build_once(&build, target, &mut stop).await;
                self.status.send_modify(|s| s.building = false);
                match result {
                    Ok(()) => backoff = Duration::from_secs(1),
                    Err(e) => {
                        let text = format!("{e:#}");
                        tracing::error!(ticket = target, error = %text, "site build failed; will retry");
                        self.status.send_modify(|s| {
                            s.failures += 1;
                            s.last_error = Some(text);
                        });
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            _ = stop.wait_for(|s| *s) => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                }
            }
        }
    }

    /// Runs one child build for `target`; completes the ticket on its `live` line and
    /// returns once the child has exited.
    async fn build_once(
        &self,
        build: &BuildCommand,
        target: u64,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        let started = Instant::now();
        let mut child = build
            .command()
            .spawn()
            .with_context(|| format!("failed to start `{}`", build.program.display()))?;
        let stderr = child.stderr.take().context("the build's stderr is not piped")?;
        let stderr = tokio::spawn(forward_stderr(stderr));
        let stdout = child.stdout.take().context("the build's stdout is not piped")?;
        let mut live = false;
        let exit = {
            let watch_child = self.watch_child(stdout, &mut child, target, started, &mut live);
            tokio::pin!(watch_child);
            tokio::select! {
                r = &mut watch_child => Some(r),
                _ = stop.wait_for(|s| *s) => None,
            }
        };
        let exit = match exit {
            Some(r) => r,
            None => finish_on_shutdown(&mut child).await,
        };
        let tail = stderr.await.unwrap_or_default();
        let status = exit.context("failed to wait for the build process")?;
        match (live, status.success()) {
            (true, true) => Ok(()),
            (true, false) => Err(failure(
                "the release is live, but collecting old releases failed",
                status,
                &tail,
            )),
            (false, _) => Err(failure("the build published nothing", status, &tail)),
        }
    }

    /// Reads the child's stdout until it closes, completing `target` on the `live` line,
    /// then waits for the child's exit.
    async fn watch_child(
        &self,
        stdout: impl AsyncRead + Unpin,
        child: &mut Child,
        target: u64,
        started: Instant,
        live: &mut bool,
    ) -> std::io::Result<ExitStatus> {
        let mut lines = BufReader::new(stdout.take(MAX_STDOUT_LINE)).lines();
        while let Some(line) = lines.next_line().await? {
            match line.strip_prefix(LIVE_PREFIX) {
                Some(json) if !*live => {
                    *live = true;
                    self.mark_live(target, json, started.elapsed());
                }
                _ => tracing::warn!(line = %line, "unexpected output of the build process"),
            }
        }
        // Drain anything past the cap so the child never blocks on a full pipe.
        let mut rest = lines.into_inner().into_inner().into_inner();
        tokio::io::copy(&mut rest, &mut tokio::io::sink()).await?;
        child.wait().await
    }

    fn mark_live(&self, target: u64, json: &str, elapsed: Duration) {
        let ms = elapsed.as_millis() as u64;
        match serde_json::from_str::<generator::BuildReport>(json) {
            Ok(r) => tracing::info!(
                ticket = target,
                release = %r.publish.release,
                files = r.files,
                written = r.publish.files_written,
                load_ms = r.load_ms,
                render_ms = r.render_ms,
                publish_ms = r.publish_ms,
                // Objects and bytes put into the bucket, and the sync's time (S3 publishing).
                s3_objects = r.s3.as_ref().map(|s| s.objects_put),
                s3_bytes = r.s3.as_ref().map(|s| s.bytes_put),
                s3_ms = r.s3.as_ref().map(|s| s.total_ms),
                ms,
                "site rebuilt"
            ),
            // The child said the release is live; an unreadable report does not undo that.
            Err(e) => {
                tracing::warn!(ticket = target, ms, error = %e, "site rebuilt; unreadable report")
            }
        }
        self.status.send_modify(|s| {
            s.completed = s.completed.max(target);
            s.builds += 1;
            s.last_build_ms = Some(ms);
            s.last_error = None;
        });
    }
}

/// During shutdown: gives a running child `SHUTDOWN_GRACE` to finish on its own, then kills
/// it; reaps it either way (no zombie).
async fn finish_on_shutdown(child: &mut Child) -> std::io::Result<ExitStatus> {
    tracing::info!("shutting down: waiting for the running site build");
    match tokio::time::timeout(SHUTDOWN_GRACE, child.wait()).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!("the site build did not finish in time: stopping it");
            child.kill().await?;
            child.wait().await
        }
    }
}

/// How long shutdown lets a running build finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

fn failure(what: &str, status: ExitStatus, tail: &str) -> anyhow::Error {
    if tail.is_empty() {
        anyhow::anyhow!("{what} ({status})")
    } else {
        anyhow::anyhow!("{what} ({status}): {tail}")
    }
}

/// Forwards the child's stderr (its log lines) into this process's log and returns the
/// last lines, for `last_error`. The child holds no secret, so its log holds none.
async fn forward_stderr(stderr: impl AsyncRead + Unpin) -> String {
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line: String = line.chars().take(STDERR_TAIL_BYTES).collect();
        match line.split_whitespace().next() {
            Some("ERROR" | "error:") => tracing::error!(target: "uploader::build", "{line}"),
            Some("WARN") => tracing::warn!(target: "uploader::build", "{line}"),
            _ => tracing::info!(target: "uploader::build", "{line}"),
        }
        tail.push_back(line);
        while tail.len() > STDERR_TAIL_LINES
            || tail.iter().map(String::len).sum::<usize>() > STDERR_TAIL_BYTES
        {
            tail.pop_front();
        }
    }
    Vec::from(tail).join("\n")
}

/// `uploader build-site`, the child: renders and publishes, prints `live <report>` once
/// the release is live, then collects old releases. Errors go to stderr, exit non-zero.
pub fn run_child(config: &generator::Config) -> ExitCode {
    match child_build(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: it panics when the parent (stderr's reader) is gone.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn child_build(config: &generator::Config) -> Result<()> {
    let templates = generator::templates::Templates::load(&config.templates_dir)?;
    let report = generator::build_live(config, &templates)?;
    drop(templates);
    let line = serde_json::to_string(&report).context("failed to encode the build report")?;
    let mut out = std::io::stdout().lock();
    // A parent that died meanwhile cannot read this; the release is live all the same, so
    // old releases are still collected before the error is reported.
    let told = writeln!(out, "{LIVE_PREFIX}{line}").and_then(|()| out.flush());
    drop(out);
    generator::publish::collect_garbage(&config.site_dir)?;
    told.context("failed to report the live release to the service")
}

#[cfg(test)]
mod tests;
