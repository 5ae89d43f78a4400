//! `generator watch`: rebuilds the site whenever a file under the templates dir changes, so
//! whoever restyles the site sees the result on reload. Developer tool; the catalog's
//! changes arrive through the uploader's rebuild trigger instead.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};

use crate::Config;

/// Builds once, then after every burst of template changes, until interrupted.
pub fn run(config: &Config) -> Result<()> {
    rebuild(config);
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            let _ = tx.send(());
        }
    })
    .context("failed to start the file watcher")?;
    watcher
        .watch(&config.templates_dir, RecursiveMode::Recursive)
        .with_context(|| format!("failed to watch `{}`", config.templates_dir.display()))?;
    tracing::info!(dir = %config.templates_dir.display(), "watching templates; Ctrl-C to stop");
    while rx.recv().is_ok() {
        // Editors save in bursts (temp file, rename, chmod): wait for quiet, then build once.
        while rx.recv_timeout(Duration::from_millis(150)).is_ok() {}
        rebuild(config);
    }
    Ok(())
}

fn rebuild(config: &Config) {
    match crate::build(config) {
        Ok(r) => tracing::info!(
            files = r.files,
            written = r.publish.files_written,
            render_ms = r.render_ms as u64,
            publish_ms = r.publish_ms as u64,
            "site rebuilt"
        ),
        // A template error must not stop the watcher: show it and wait for the fix.
        Err(e) => tracing::error!("build failed: {e:#}"),
    }
}
