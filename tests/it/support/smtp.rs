//! The tests' SMTP server: `tests/mail/smtp_sink.py` (aiosmtpd, in `target/mail-venv`) as a
//! child process writing each accepted message to `<n>.eml` in a temp dir; helpers to stop
//! it (the server is down), restart it accepting or refusing (451), wait for N messages and
//! read their headers.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::deploy::poll;

/// The venv `scripts/ensure-deps.sh test` installs aiosmtpd into.
fn python() -> PathBuf {
    let py = super::workspace_root().join("target/mail-venv/bin/python");
    assert!(py.is_file(), "{} is missing: run `scripts/ensure-deps.sh test`", py.display());
    py
}

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// The envelope's recipients (RCPT TO).
    pub rcpt: Vec<String>,
    pub from: String,
    /// Without angle brackets.
    pub message_id: String,
    pub subject: String,
    pub body: String,
}

/// A running (or stopped) sink on a fixed port.
pub(crate) struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    _dir: tempfile::TempDir,
    pub dir: PathBuf,
}

impl SmtpSink {
    /// Starts an accepting server on a free port.
    pub(crate) fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("smtp-sink-").tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        let mut sink = SmtpSink { child: None, port: super::free_port(), _dir: dir, dir: path };
        sink.up(false);
        sink
    }

    /// `smtp://127.0.0.1:<port>` for `--smtp-url`.
    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port; `refuse`: it answers 451 to every recipient.
    pub(crate) fn up(&mut self, refuse: bool) {
        self.down();
        let mut cmd = Command::new(python());
        cmd.arg(super::workspace_root().join("tests/mail/smtp_sink.py"))
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if refuse {
            cmd.arg("--refuse");
        }
        let mut child = cmd.spawn().expect("starting tests/mail/smtp_sink.py");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("reading the sink's stdout");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        self.child = Some(child);
    }

    /// Stops the server: connections are refused until `up`.
    pub(crate) fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every message received so far, in order.
    pub(crate) fn messages(&self) -> Vec<Received> {
        let mut files: Vec<(u64, PathBuf)> = fs::read_dir(&self.dir)
            .expect("sink dir")
            .filter_map(|e| {
                let path = e.ok()?.path();
                let n = path.file_name()?.to_str()?.strip_suffix(".eml")?.parse().ok()?;
                Some((n, path))
            })
            .collect();
        files.sort();
        files.iter().map(|(_, p)| parse(&fs::read_to_string(p).expect("message"))).collect()
    }

    /// Waits (bounded) until at least `n` messages arrived; returns them all.
    pub(crate) fn wait_for(&self, n: usize) -> Vec<Received> {
        poll(&format!("{n} mails at the SMTP sink"), Duration::from_secs(30), || {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.down();
    }
}

/// Headers (unfolded) and body of a message file (the sink's `X-Sink-Rcpt-To` first).
fn parse(text: &str) -> Received {
    let (head, body) =
        text.split_once("\r\n\r\n").or_else(|| text.split_once("\n\n")).unwrap_or((text, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let get =
        |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    Received {
        rcpt: get("x-sink-rcpt-to")
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        from: get("from"),
        message_id: get("message-id").trim_matches(['<', '>']).to_owned(),
        subject: get("subject"),
        body: body.replace("=\r\n", "").replace("\r\n", "\n"),
    }
}
