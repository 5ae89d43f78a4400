//! The scan benchmark (issue 15; `scripts/bench-scan.sh`): medians of the full scan of a
//! ~107 KB and a ~5 MB plugin (built deterministically: Python modules plus data files),
//! each tool's share, printed beside the machine's floor measured in the same run: the
//! venv's python starting and importing Bandit / detect-secrets (no Bandit-based scan can
//! be faster) and unzipping the same zip. Never asserts on timings.
//!
//!   cargo run --release -p uploader --example bench_scan -- [--runs N] [--venv PATH]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use uploader::scan::{ScanOptions, Tools, scan};
use uploader::validate::builder::{deflate, valid_plugin};

fn main() -> anyhow::Result<()> {
    let (runs, venv) = args()?;
    let scratch = tempfile::tempdir()?;
    let tools = Tools {
        venv: venv.clone(),
        timeout: Duration::from_secs(120),
        memory_bytes: 1 << 30,
        scratch: scratch.path().join("scans"),
    };
    tools.check()?;
    for target in [107_000, 5_000_000] {
        let zip = plugin(target);
        bench_scan(&zip, &tools, runs)?;
        let unzip = median(runs, || unzip(&zip));
        println!("  floor: unzip of the same zip {unzip:.0} ms");
    }
    let py = venv.join("bin/python");
    for (what, code) in [
        ("python start", "pass"),
        ("python + import bandit", "import bandit.cli.main"),
        ("python + import detect_secrets", "import detect_secrets.main"),
    ] {
        let ms = median(runs, || {
            let ok = Command::new(&py).args(["-c", code]).status().is_ok_and(|s| s.success());
            assert!(ok, "{what} failed");
        });
        println!("floor: {what}: median {ms:.0} ms");
    }
    Ok(())
}

fn args() -> anyhow::Result<(usize, PathBuf)> {
    let mut runs = 5;
    let mut venv = PathBuf::from(uploader::scan::DEFAULT_VENV);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().unwrap_or_default().parse()?,
            "--venv" => venv = it.next().unwrap_or_default().into(),
            _ => anyhow::bail!("usage: bench_scan [--runs N] [--venv PATH]"),
        }
    }
    Ok((runs.max(1), venv))
}

/// Scans `zip` `runs` times; prints the median and each tool's median.
fn bench_scan(zip: &[u8], tools: &Tools, runs: usize) -> anyhow::Result<()> {
    let mut totals = Vec::new();
    let mut per_tool: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut status = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let r = scan(zip, &ScanOptions::default(), tools)?;
        totals.push(t.elapsed().as_secs_f64() * 1000.0);
        for (i, run) in r.tools.iter().enumerate().take(3) {
            per_tool[i].push(run.millis as f64);
        }
        status = format!("{} ({} findings)", r.status, r.findings.len());
    }
    let names = ["bandit", "detect-secrets", "pyscan"];
    let shares: Vec<String> =
        names.iter().zip(&mut per_tool).map(|(n, v)| format!("{n} {:.0}", mid(v))).collect();
    println!(
        "scan of a {:.0} KB plugin: median {:.0} ms over {runs} runs, {status}; tools in parallel, each (ms): {}",
        zip.len() as f64 / 1000.0,
        mid(&mut totals),
        shares.join(", ")
    );
    Ok(())
}

fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    mid(&mut v)
}

fn mid(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Extracts with the `zip` crate (the baseline reader) into a fresh folder.
fn unzip(zip: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("zip");
    a.extract(dir.path()).expect("extract");
}

/// A valid plugin of about `target` bytes: a third Python modules (what Bandit parses),
/// the rest data files; deterministic.
fn plugin(target: usize) -> Vec<u8> {
    let mut b = valid_plugin("bench_scan");
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut size = 0usize;
    let mut i = 0;
    while size < target / 3 {
        let module = python_module(i, &mut state);
        size += deflate(module.as_bytes()).len();
        b = b.file(format!("bench_scan/mod_{i:03}.py"), module);
        i += 1;
    }
    while size < target {
        let mut data = Vec::with_capacity(64 * 1024);
        while data.len() < 64 * 1024 {
            state = xorshift(state);
            data.extend_from_slice(
                format!("{},{:.6}\n", state % 100_000, (state % 1000) as f64 / 7.0).as_bytes(),
            );
        }
        size += deflate(&data).len();
        b = b.file(format!("bench_scan/data/table_{i:03}.csv"), data);
        i += 1;
    }
    b.build()
}

fn xorshift(mut s: u64) -> u64 {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    s
}

/// A module of plausible plugin code (classes, loops, string formatting, a subprocess call).
fn python_module(i: usize, state: &mut u64) -> String {
    let mut s = format!("\"\"\"Module {i}.\"\"\"\nimport os\nimport json\n\n\n");
    for f in 0..40 {
        *state = xorshift(*state);
        let n = *state % 1000;
        s.push_str(&format!(
            "class Tool{f}:\n    \"\"\"Does step {f}.\"\"\"\n\n    def __init__(self, iface):\n        self.iface = iface\n        self.count = {n}\n\n    def run(self, path):\n        out = []\n        for k in range(self.count):\n            if k % 3 == 0:\n                out.append('%s-%d' % (os.path.basename(path), k))\n        return json.dumps(out)\n\n\n"
        ));
    }
    s
}
