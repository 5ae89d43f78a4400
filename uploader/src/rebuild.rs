//! The one coalescing rebuild worker. Every committed change calls `request`, which returns
//! a ticket; the worker reads the newest ticket before it starts a build, so that build
//! includes every change committed before it started. Any number of requests during a build
//! cause exactly one more build. `wait_for(ticket)` resolves when a build that includes the
//! ticket has been published, which lets an approval answer "live after N ms".
//!
//! A failed build is retried with a growing pause (1 s up to 60 s); the previous site keeps
//! being served meanwhile (publishing is atomic).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, watch};

use generator::templates::Templates;

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
    /// Duration of the last successful build.
    pub last_build_ms: Option<u64>,
    /// Error of the last build, if it failed (for operators; never sent to clients).
    #[serde(skip)]
    pub last_error: Option<String>,
}

/// Handle to the rebuild worker.
pub struct Rebuilder {
    requested: AtomicU64,
    notify: Notify,
    status: watch::Sender<BuildStatus>,
    enabled: bool,
}

impl Rebuilder {
    /// A rebuilder that never builds (tests of pure API behaviour).
    pub fn disabled() -> Arc<Self> {
        Arc::new(Self {
            requested: AtomicU64::new(0),
            notify: Notify::new(),
            status: watch::Sender::new(BuildStatus::default()),
            enabled: false,
        })
    }

    /// Starts the worker on the current tokio runtime and requests a first build (the
    /// database may be ahead of the published site after a crash).
    pub fn start(config: generator::Config, templates: Templates) -> Arc<Self> {
        let this = Arc::new(Self {
            requested: AtomicU64::new(0),
            notify: Notify::new(),
            status: watch::Sender::new(BuildStatus::default()),
            enabled: true,
        });
        let worker = Arc::clone(&this);
        let config = Arc::new(config);
        let templates = Arc::new(templates);
        tokio::spawn(async move { worker.run(config, templates).await });
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

    async fn run(self: Arc<Self>, config: Arc<generator::Config>, templates: Arc<Templates>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            self.notify.notified().await;
            loop {
                let target = self.requested.load(Ordering::SeqCst);
                if target <= self.status.borrow().completed {
                    break;
                }
                self.status.send_modify(|s| s.building = true);
                let started = Instant::now();
                let (c, t) = (Arc::clone(&config), Arc::clone(&templates));
                let result = tokio::task::spawn_blocking(move || generator::build_with(&c, &t))
                    .await
                    .map_err(|e| anyhow::anyhow!("build task panicked: {e}"))
                    .and_then(|r| r);
                let ms = started.elapsed().as_millis() as u64;
                match result {
                    Ok(report) => {
                        tracing::info!(
                            ticket = target,
                            files = report.files,
                            written = report.publish.files_written,
                            load_ms = report.load_ms as u64,
                            render_ms = report.render_ms as u64,
                            publish_ms = report.publish_ms as u64,
                            ms,
                            "site rebuilt"
                        );
                        backoff = Duration::from_secs(1);
                        self.status.send_modify(|s| {
                            s.completed = s.completed.max(target);
                            s.builds += 1;
                            s.building = false;
                            s.last_build_ms = Some(ms);
                            s.last_error = None;
                        });
                    }
                    Err(e) => {
                        let text = format!("{e:#}");
                        tracing::error!(ticket = target, error = %text, "site build failed; will retry");
                        self.status.send_modify(|s| {
                            s.failures += 1;
                            s.building = false;
                            s.last_error = Some(text);
                        });
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                }
            }
        }
    }
}
