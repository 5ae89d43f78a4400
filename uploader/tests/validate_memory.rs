//! Zip bombs are refused within fixed time and memory bounds. A separate test binary (one
//! test, its own process) so the peak resident set size (`VmHWM` in /proc/self/status) is
//! this validation's alone; the peak is reset before each case via /proc/self/clear_refs.

use std::io::Write;
use std::time::{Duration, Instant};

use uploader::validate::builder::{ZipBuilder, valid_plugin};
use uploader::validate::{Limits, Mode, Options, validate};

const MIB: usize = 1024 * 1024;

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// Resets the peak to the current RSS (Linux ≥ 4.0); returns the baseline to compare with.
fn reset_peak() -> u64 {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    if reset { vm_rss_kib() } else { vm_hwm_kib() }
}

/// `n` zero bytes, deflated without ever holding them in memory; also their CRC.
fn deflated_zeros(n: usize) -> (Vec<u8>, u32) {
    let chunk = vec![0u8; MIB];
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut crc = crc32fast::Hasher::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(MIB);
        enc.write_all(&chunk[..k]).expect("deflate");
        crc.update(&chunk[..k]);
        left -= k;
    }
    (enc.finish().expect("deflate"), crc.finalize())
}

struct Case {
    name: &'static str,
    zip: Vec<u8>,
    opts: Options,
    /// `None`: must be accepted.
    code: Option<&'static str>,
    max_time: Duration,
}

#[test]
fn zip_bombs_are_refused_in_bounded_time_and_memory() {
    let (z300, _) = deflated_zeros(300 * MIB);
    let (z200, crc200) = deflated_zeros(200 * MIB);
    let (z120, crc120) = deflated_zeros(120 * MIB);
    let bomb_entry = |name: &str, raw: &[u8], usize_: u32, crc: Option<u32>| {
        valid_plugin("test_modul").file(name, "x").edit_last(|e| {
            e.raw = Some(raw.to_vec());
            e.usize = Some(usize_);
            e.crc = crc;
        })
    };
    let no_ratio = Options {
        limits: Limits { max_ratio: u64::MAX, ..Limits::default() },
        ..Options::default()
    };
    let cases = vec![
        Case {
            name: "declared small, inflates to 300 MiB",
            zip: bomb_entry("test_modul/data.bin", &z300, 1000, None).build(),
            opts: Options::default(),
            code: Some("archive.size_mismatch"),
            max_time: Duration::from_secs(2),
        },
        Case {
            name: "metadata.txt declared small, inflates to 300 MiB",
            zip: valid_plugin("test_modul")
                .edit("test_modul/metadata.txt", |e| e.raw = Some(z300.clone()))
                .build(),
            opts: Options::default(),
            code: Some("archive.size_mismatch"),
            max_time: Duration::from_secs(2),
        },
        Case {
            name: "declared honestly at 300 MiB",
            zip: bomb_entry("test_modul/data.bin", &z300, 300 * MIB as u32, None).build(),
            opts: Options::default(),
            code: Some("archive.entry_too_large"),
            max_time: Duration::from_secs(2),
        },
        Case {
            name: "three honest 120 MiB entries",
            zip: (0..3)
                .fold(valid_plugin("test_modul"), |b, i| {
                    b.file(format!("test_modul/{i}.bin"), "x").edit_last(|e| {
                        e.raw = Some(z120.clone());
                        e.usize = Some(120 * MIB as u32);
                        e.crc = Some(crc120);
                    })
                })
                .build(),
            opts: Options::default(),
            code: Some("archive.too_large_uncompressed"),
            max_time: Duration::from_secs(2),
        },
        Case {
            name: "ratio 1000:1 at 200 MiB",
            zip: bomb_entry("test_modul/a.bin", &z200, 200 * MIB as u32, Some(crc200)).build(),
            opts: Options {
                limits: Limits { max_entry_uncompressed: 256 * MIB as u64, ..Limits::default() },
                ..Options::default()
            },
            code: Some("archive.ratio"),
            max_time: Duration::from_secs(2),
        },
        Case {
            name: "entry count in end record",
            zip: {
                let mut b = ZipBuilder::new();
                b.eocd_count = Some(65_000);
                b.build()
            },
            opts: Options::default(),
            code: Some("archive.too_many_entries"),
            max_time: Duration::from_secs(2),
        },
        Case {
            // Streams 200 MiB through the inflater and CRC: memory must not follow the size.
            name: "honest 200 MiB entry inflated to the end (ratio check off)",
            zip: bomb_entry("test_modul/a.bin", &z200, 200 * MIB as u32, Some(crc200)).build(),
            opts: Options {
                limits: Limits {
                    max_entry_uncompressed: 256 * MIB as u64,
                    ..no_ratio.limits.clone()
                },
                ..Options::default()
            },
            code: None,
            max_time: Duration::from_secs(30),
        },
    ];
    drop((z300, z200, z120));

    // The probe works: touching 64 MiB after a reset shows up in the peak.
    let base = reset_peak();
    let probe = vec![1u8; 64 * MIB];
    let seen = vm_hwm_kib().saturating_sub(base) / 1024;
    assert!(
        seen >= 60 && probe.iter().step_by(4096).all(|&b| b == 1),
        "VmHWM probe saw only {seen} MiB"
    );
    drop(probe);

    let mut failures = Vec::new();
    for c in &cases {
        let base = reset_peak();
        let t = Instant::now();
        let got = validate(&c.zip, &Mode::New, &c.opts);
        let took = t.elapsed();
        let peak_delta_mib = vm_hwm_kib().saturating_sub(base) / 1024;
        let outcome = match &got {
            Ok(_) => None,
            Err(r) => Some(r.errors[0].code.as_str()),
        };
        eprintln!("{}: {:?} in {took:?}, peak +{peak_delta_mib} MiB", c.name, outcome);
        if outcome != c.code {
            failures.push(format!("{}: expected {:?}, got {outcome:?}", c.name, c.code));
        }
        if took > c.max_time {
            failures.push(format!("{}: took {took:?} (limit {:?})", c.name, c.max_time));
        }
        // The zip itself is already resident; validation may add buffers, never the content.
        if peak_delta_mib > 32 {
            failures.push(format!(
                "{}: peak memory grew by {peak_delta_mib} MiB (limit 32 MiB)",
                c.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
