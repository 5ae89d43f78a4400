//! `cargo run --release -p uploader --example bench_review_diff [-- --runs N]`: times
//! `review_diff::compare` on two generated versions of a plugin (200 text files, a few
//! changed, one added, one removed, a changed 1 MiB binary) against merely inflating both
//! zips with the `zip` crate, the machine's floor measured in the same run; prints medians.
//! Two sizes: about 5 MB inflated, and about 5 MB zipped (about 23 MB inflated).

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use uploader::review_diff::{DiffKind, DiffLimits, FileDiff, compare};
use uploader::validate::builder::{metadata_txt, plugin_with_metadata};

const PKG: &str = "bench_plugin";
const TEXT_FILES: usize = 200;
/// (label, lines per text file): 62-byte lines, so every file stays diffable (< 512 KiB).
const SIZES: [(&str, usize); 2] = [("5 MB inflated", 330), ("5 MB zipped", 1_800)];

/// Timed runs per measurement (the median is printed): `--runs N`, default 15.
fn runs_from_args() -> Result<usize, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(15),
        [flag, n] if flag == "--runs" => {
            n.parse().map_err(|_| format!("--runs takes a number, not `{n}`"))
        }
        _ => Err("usage: bench_review_diff [--runs N]".into()),
    }
}

/// xorshift64: reproducible pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Python-looking lines of random identifiers: compresses about 3:1, like real source.
fn source_file(rng: &mut Rng, lines: usize) -> Vec<String> {
    (0..lines)
        .map(|_| {
            let (a, b, c) = (rng.next() % 100_000, rng.next() % 100_000, rng.next() % 1_000);
            format!("    value_{a:05} = compute_{b:05}(layer, feature, {c}) + offset\n")
        })
        .collect()
}

/// The approved and the pending zip.
fn versions(lines: usize) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let files: Vec<Vec<String>> = (0..TEXT_FILES).map(|_| source_file(&mut rng, lines)).collect();
    let binary: Vec<u8> = (0..1024 * 1024).map(|_| rng.next() as u8).collect();
    let mut old = plugin_with_metadata(PKG, &metadata_txt(""));
    let mut new = plugin_with_metadata(PKG, &metadata_txt("").replace("0.0.1", "0.0.2"));
    for (i, lines) in files.iter().enumerate() {
        let name = format!("{PKG}/module_{i:03}.py");
        old = old.file(&name, lines.concat());
        match i {
            0 => {} // removed in the new version
            // A few files with a handful of edited lines each.
            10 | 50 | 90 | 130 | 170 => new = new.file(&name, edited(lines, i).concat()),
            _ => new = new.file(&name, lines.concat()),
        }
    }
    new = new.file(format!("{PKG}/module_new.py"), "def added():\n    return 1\n");
    let mut changed_binary = binary.clone();
    changed_binary[1000] ^= 0xff;
    old = old.stored(format!("{PKG}/data.bin"), &binary);
    new = new.stored(format!("{PKG}/data.bin"), &changed_binary);
    (old.build(), new.build())
}

fn edited(lines: &[String], seed: usize) -> Vec<String> {
    let mut out = lines.to_vec();
    for k in 0..5 {
        let at = (seed * 7 + k * 211) % out.len();
        out[at] = format!("    edited_{seed}_{k} = True\n");
    }
    out.insert(lines.len() / 2, "    # a new comment\n".to_owned());
    out
}

/// Inflates every entry to its end with the `zip` crate, which checks each CRC.
fn inflate_all(zip: &[u8]) -> Result<u64, String> {
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| e.to_string())?;
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..a.len() {
        let mut f = a.by_index(i).map_err(|e| e.to_string())?;
        loop {
            let n = f.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(total)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, f: &dyn Fn() -> bool) -> Option<Duration> {
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        if !f() {
            return None;
        }
        v.push(t.elapsed());
    }
    Some(median(v))
}

fn main() -> ExitCode {
    let runs = match runs_from_args() {
        Ok(n) => n.max(1),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for (label, lines) in SIZES {
        if let Err(e) = bench(label, lines, runs) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Measures one size and prints its line.
fn bench(label: &str, lines: usize, runs: usize) -> Result<(), String> {
    let (old, new) = versions(lines);
    let limits = DiffLimits::default();
    let report = compare(&new, Some(&old), &limits)
        .map_err(|e| format!("the generated versions cannot be compared: {e}"))?;
    let (Some(diff), Some(floor)) = (
        time(runs, &|| compare(&new, Some(&old), &limits).is_ok()),
        time(runs, &|| inflate_all(&new).is_ok() && inflate_all(&old).is_ok()),
    ) else {
        return Err("a run failed".into());
    };
    let c = report.counts;
    println!(
        "{label}: approved zip {} B, pending zip {} B ({} B inflated); {} added, {} removed, {} changed, {} unchanged, {} diff lines",
        old.len(),
        new.len(),
        report.uncompressed_size,
        c.added,
        c.removed,
        c.changed,
        c.unchanged,
        report.diffs.iter().map(line_count).sum::<usize>()
    );
    println!(
        "{label}: compare median {:.1} ms, inflate both (zip crate) median {:.1} ms, ratio {:.2}x ({runs} runs)",
        diff.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e3,
        diff.as_secs_f64() / floor.as_secs_f64()
    );
    Ok(())
}

fn line_count(d: &FileDiff) -> usize {
    match &d.kind {
        DiffKind::Text { lines } => lines.len(),
        DiffKind::Skipped { .. } => 0,
    }
}
