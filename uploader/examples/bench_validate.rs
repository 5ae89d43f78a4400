//! `cargo run --release -p uploader --example bench_validate [-- --runs N]`: times
//! `validate()` on generated 5 MB and 25 MB plugins against merely reading and CRC-checking
//! the same archive with the `zip` crate; prints medians.
//!
//! An example, not a subcommand, so the `zip` crate is only a dev-dependency of the
//! uploader: the service reads zips with the validator's own reader alone. The baseline is a
//! mainstream reader, not ours, so the ratio says what our extra checks cost.

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use uploader::validate::{Mode, Options, builder, validate};

/// Timed runs per measurement (the median is printed): `--runs N`, default 15.
fn runs_from_args() -> Result<usize, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(15),
        [flag, n] if flag == "--runs" => {
            n.parse().map_err(|_| format!("--runs takes a number, not `{n}`"))
        }
        _ => Err("usage: bench_validate [--runs N]".into()),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Reads every entry to its end with the `zip` crate, which checks each CRC.
fn read_and_crc(zip: &[u8]) -> Result<u64, String> {
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

fn main() -> ExitCode {
    let runs = match runs_from_args() {
        Ok(n) => n.max(1),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = Options::default();
    for (label, target) in [("5 MB", 5_000_000usize), ("25 MB", 24_500_000usize)] {
        let zip = builder::sized_plugin(target);
        if let Err(r) = validate(&zip, &Mode::New, &opts) {
            eprintln!("error: the generated {label} plugin is invalid: {r}");
            return ExitCode::FAILURE;
        }
        let time = |f: &dyn Fn() -> bool| -> Option<Duration> {
            let mut v = Vec::with_capacity(runs);
            for _ in 0..runs {
                let t = Instant::now();
                if !f() {
                    return None;
                }
                v.push(t.elapsed());
            }
            Some(median(v))
        };
        let (Some(val), Some(base)) = (
            time(&|| validate(&zip, &Mode::New, &opts).is_ok()),
            time(&|| read_and_crc(&zip).is_ok()),
        ) else {
            eprintln!("error: a run failed");
            return ExitCode::FAILURE;
        };
        println!(
            "{label} plugin ({} bytes): validate median {:.1} ms, read+CRC (zip crate) median {:.1} ms, ratio {:.2}x",
            zip.len(),
            val.as_secs_f64() * 1e3,
            base.as_secs_f64() * 1e3,
            val.as_secs_f64() / base.as_secs_f64()
        );
    }
    ExitCode::SUCCESS
}
