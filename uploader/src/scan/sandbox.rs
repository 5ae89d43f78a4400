//! Runs one scan tool as a sandboxed subprocess: `prlimit` (address space, CPU seconds, open
//! files, file size, no core dumps) around `unshare -rn` (a new user namespace and an empty
//! network namespace: no network at all), a cleared environment (PATH, HOME in the
//! scratch folder, LANG), stdin closed, stdout/stderr captured up to a cap, its own process
//! group killed at the wall-clock deadline. No `unsafe`: the kill is `kill(1)`.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::Tools;

/// Output kept of each stream; the rest is read and dropped so the tool never blocks.
pub(super) const OUTPUT_CAP: usize = 16 << 20;
/// Largest file a tool may write.
const FSIZE: u64 = 64 << 20;

/// One command to run.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    /// Working directory (the scan's scratch folder).
    pub(super) cwd: PathBuf,
}

/// How a run ended.
#[derive(Debug)]
pub(super) struct Outcome {
    /// `None` when killed at the deadline.
    pub(super) status: Option<ExitStatus>,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    pub(super) millis: u64,
}

/// The full command line: limits, namespaces, then the tool.
fn command(job: &Job, tools: &Tools) -> Command {
    let cpu = tools.timeout.as_secs().max(1);
    let mut c = Command::new("prlimit");
    c.arg(format!("--as={}", tools.memory_bytes))
        .arg(format!("--cpu={cpu}"))
        .arg("--nofile=256")
        .arg(format!("--fsize={FSIZE}"))
        .arg("--core=0")
        .args(["--", "unshare", "-rn", "--"])
        .arg(&job.program)
        .args(&job.args)
        .current_dir(&job.cwd)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", tools.venv.join("bin").display()))
        .env("HOME", &job.cwd)
        .env("LANG", "C.UTF-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    c
}

/// Runs `job` to its end or to the deadline.
pub(super) fn run(job: &Job, tools: &Tools) -> std::io::Result<Outcome> {
    let start = Instant::now();
    let mut child = command(job, tools).spawn()?;
    let pid = child.id();
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    // The waiter owns the child; until it reaps it the pid cannot be reused, so the kill
    // below can never hit another process.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(tools.timeout) {
        Ok(status) => Some(status?),
        Err(_) => {
            kill_group(pid);
            rx.recv().map_err(std::io::Error::other)??;
            None
        }
    };
    // Pipes close when the group is gone; a straggler holding them cannot hold us.
    let stdout = collect(&out, status.is_none());
    let stderr = collect(&err, status.is_none());
    Ok(Outcome { status, stdout, stderr, millis: start.elapsed().as_millis() as u64 })
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut p) = pipe {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n) = p.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = OUTPUT_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

fn collect(rx: &mpsc::Receiver<Vec<u8>>, killed: bool) -> Vec<u8> {
    let wait = if killed { Duration::from_secs(2) } else { Duration::from_secs(10) };
    rx.recv_timeout(wait).unwrap_or_default()
}

/// SIGKILL to the tool's process group (it leads it: `process_group(0)`).
fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether the sandbox works here (`prlimit` and `unshare -rn` can run `true`).
pub(super) fn probe(scratch: &Path) -> Result<(), String> {
    let tools = Tools {
        venv: PathBuf::from("/nonexistent"),
        timeout: Duration::from_secs(10),
        memory_bytes: 256 << 20,
        scratch: scratch.to_path_buf(),
    };
    let job = Job { program: PathBuf::from("true"), args: Vec::new(), cwd: PathBuf::from("/") };
    match run(&job, &tools) {
        Ok(o) if o.status.is_some_and(|s| s.success()) => Ok(()),
        Ok(o) => Err(format!(
            "`prlimit … unshare -rn true` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run prlimit/unshare (util-linux): {e}")),
    }
}
