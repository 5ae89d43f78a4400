//! The metadata.txt reader against Python's own configparser: every case is parsed by
//! `python3` both as the reference server does (`StringIO`, `optionxform = str`) and as QGIS
//! does (`codecs` reader, lower-cased keys). Whatever we accept, both must accept with the
//! same values; whatever we refuse for a parsing reason, at least one of them must refuse
//! or the two must disagree.

use std::io::Write;
use std::process::{Command, Stdio};

use super::metadata::{self, MetadataError};

const PYTHON: &str = r#"
import codecs, configparser, io, json, sys
out = []
for h in json.load(sys.stdin):
    raw = bytes.fromhex(h)
    res = {}
    try:
        p = configparser.ConfigParser()
        p.optionxform = str
        p.read_file(io.StringIO(codecs.decode(raw, "utf8")))
        if not p.has_section("general"):
            raise Exception("no general")
        res["server"] = {"ok": [[k, v] for k, v in p.items("general")]}
    except Exception as e:
        res["server"] = {"err": type(e).__name__}
    try:
        p = configparser.ConfigParser()
        p.read_file(codecs.getreader("utf8")(io.BytesIO(raw)))
        res["qgis"] = {"ok": [[k, p.get("general", k)] for k in p.options("general")]}
    except Exception as e:
        res["qgis"] = {"err": type(e).__name__}
    out.append(res)
json.dump(out, sys.stdout)
"#;

type Parsed = Result<Vec<(String, String)>, String>;

/// Runs every input through Python; returns (server, qgis) per input.
fn python(inputs: &[Vec<u8>]) -> Vec<(Parsed, Parsed)> {
    let hex: Vec<String> = inputs.iter().map(hex::encode).collect();
    let mut child = Command::new("python3")
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH for the configparser comparison");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(serde_json::to_string(&hex).expect("json").as_bytes()).expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("python3 ran");
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("python output");
    let conv = |r: &serde_json::Value| -> Parsed {
        match r.get("ok") {
            Some(ok) => Ok(ok
                .as_array()
                .into_iter()
                .flatten()
                .map(|kv| {
                    (
                        kv[0].as_str().unwrap_or("").to_owned(),
                        kv[1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()),
            None => Err(r["err"].as_str().unwrap_or("?").to_owned()),
        }
    };
    v.as_array().expect("array").iter().map(|r| (conv(&r["server"]), conv(&r["qgis"]))).collect()
}

/// Refusals that are our policy, not a Python parse failure.
fn policy_only(e: &MetadataError) -> bool {
    matches!(e, MetadataError::DefaultSection { .. } | MetadataError::Interpolation { .. })
}

/// Compares our verdict with Python's; returns a description of the disagreement.
fn compare(input: &[u8], server: &Parsed, qgis: &Parsed) -> Option<String> {
    match metadata::parse(input, 1 << 20) {
        Ok(fields) => {
            let ours: Vec<(String, String)> =
                fields.into_iter().map(|f| (f.key, f.value)).collect();
            let lower: Vec<(String, String)> =
                ours.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
            if server.as_ref() != Ok(&ours) {
                return Some(format!("we accept {ours:?}, server python gives {server:?}"));
            }
            if qgis.as_ref() != Ok(&lower) {
                return Some(format!("we accept {ours:?}, QGIS python gives {qgis:?}"));
            }
            None
        }
        Err(errors) => {
            if errors.iter().all(policy_only) {
                return None;
            }
            let python_refuses = server.is_err() || qgis.is_err();
            let disagree = match (server, qgis) {
                (Ok(s), Ok(q)) => {
                    s.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect::<Vec<_>>() != *q
                }
                _ => false,
            };
            (!python_refuses && !disagree).then(|| {
                format!("we refuse ({errors:?}) but both Python readers accept {server:?}")
            })
        }
    }
}

/// (input, expected: "ok" or the first error code).
fn table() -> Vec<(&'static [u8], &'static str)> {
    vec![
        (b"[general]\nname=x\n", "ok"),
        (b"[general]\nname = x \n", "ok"),
        (b"[general]\nname: x\n", "ok"),
        (b"[general]\nname=a=b:c\n", "ok"),
        (b"[general]\nname:a=b\n", "ok"),
        (b"[general]\nCategory of the plugin: Raster\n", "ok"),
        (b"[general]\nname=x ; c\n", "ok"),
        (b"[general]\nname=x # c\n", "ok"),
        (b"[general]\n# comment\n; comment\n  # indented comment\nname=x\n", "ok"),
        (b"[general]\nabout=a\n  b\n\n  c\n\n\n", "ok"),
        (b"[general]\nabout=a\n\tb\n        c\nname=x\n", "ok"),
        (b"[general]\nabout=a\n  # not a continuation\n  b\n", "ok"),
        (b"[general]\nabout=\n  starts on the next line\n", "ok"),
        (b"[general]\n  name=x\n    more\n  other=y\n", "ok"),
        (b"[general]\n  name=x\n other=y\n", "ok"),
        (b"[general]\r\nname=x\r\nabout=a\r\n  b\r\n", "ok"),
        (b"\n\n# leading comment\n[general]\nname=x", "ok"),
        (b"[general] trailing\nname=x\n", "ok"),
        (b"[other]\nname=y\n[general]\nname=x\n", "ok"),
        (b"[general]\nname=100%% sure\n", "ok"),
        (b"[general]\nname=caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x97\xba\n", "ok"),
        (b"[general]\nname=\xc2\xa0x\xc2\xa0\n", "ok"),
        (b"[general]\nname=x\x1f\n", "ok"),
        (b"[general]\nempty=\nname=x\n", "ok"),
        (b"[general]\nname=x\n[other]\nname=y\nname2=%\n", "ok"),
        (b"[general]\nname=x\n[general]\nother=y\n", "metadata.duplicate_section"),
        (b"[general]\nname=x\nname=y\n", "metadata.duplicate_key"),
        (b"[general]\nversion=1\nVersion=2\n", "metadata.duplicate_key"),
        (b"[general]\nname=100% free\n", "metadata.percent_sign"),
        (b"[general]\nname=50%\n", "metadata.percent_sign"),
        (b"[general]\nname=%(other)s\nother=x\n", "metadata.interpolation"),
        (b"[general]\nname=%(missing)s\n", "metadata.interpolation"),
        (b"[DEFAULT]\nemail=a@b.c\n[general]\nname=x\n", "metadata.default_section"),
        (b"[General]\nname=x\n", "metadata.no_general_section"),
        (b"[other]\nname=x\n", "metadata.no_general_section"),
        (b"", "metadata.no_general_section"),
        (b"name=x\n[general]\n", "metadata.missing_section_header"),
        (b"\xef\xbb\xbf[general]\nname=x\n", "metadata.bom"),
        (b"[general]\nname=caf\xe9\n", "metadata.not_utf8"),
        (b"[general]\nname=\xed\xa0\x80\n", "metadata.not_utf8"),
        (b"[general]\nname=\xc0\xaf\n", "metadata.not_utf8"),
        (b"[general]\rname=x\rabout=y\r", "metadata.line_separator"),
        (b"[general]\nname=x\rversion=2\n", "metadata.line_separator"),
        (
            b"[general]\ndescription=x\xe2\x80\xa8version=9.9\nversion=1\n",
            "metadata.line_separator",
        ),
        (b"[general]\ndescription=x\xe2\x80\xa9y\n", "metadata.line_separator"),
        (b"[general]\ndescription=x\xc2\x85y\n", "metadata.line_separator"),
        (b"[general]\ndescription=x\x0by\n", "metadata.line_separator"),
        (b"[general]\ndescription=x\x0cy\n", "metadata.line_separator"),
        (b"[general]\ndescription=x\x1cy\n", "metadata.line_separator"),
        (b"[general]\ndescription=x\x1dy\n", "metadata.line_separator"),
        (b"[general]\ndescription=x\x1ey\n", "metadata.line_separator"),
        (b"[general]\njust words\n", "metadata.bad_line"),
        (b"[general]\n=value\n", "metadata.empty_key"),
        (b"[general]\n : value\n", "metadata.empty_key"),
        (b"[]\nname=x\n", "metadata.missing_section_header"),
    ]
}

#[test]
fn metadata_reader_matches_python_configparser() {
    let cases = table();
    let inputs: Vec<Vec<u8>> = cases.iter().map(|(i, _)| i.to_vec()).collect();
    let py = python(&inputs);
    let mut failures = Vec::new();
    for ((input, expected), (server, qgis)) in cases.iter().zip(&py) {
        let shown = String::from_utf8_lossy(input).escape_debug().to_string();
        let got = match metadata::parse(input, 1 << 20) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e[0].code().as_str().to_owned(),
        };
        if got != *expected {
            failures.push(format!("{shown}: expected {expected}, got {got}"));
        }
        if let Some(d) = compare(input, server, qgis) {
            failures.push(format!("{shown}: {d}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Generated INI texts (deterministic), compared with Python the same way.
#[test]
fn generated_metadata_matches_python_configparser() {
    const PIECES: &[&str] = &[
        "[general]",
        "[other]",
        "[General]",
        "[DEFAULT]",
        "name=x",
        "Name=y",
        "name = spaced ",
        "about: a",
        "about=",
        "  continued",
        "\tcontinued tab",
        "    deeper",
        "",
        "   ",
        "# comment",
        "; comment",
        "  # indented comment",
        "version=1.0",
        "key=100%% ok",
        "key2=50%",
        "k=%(name)s",
        "=novalue",
        "just words",
        "tags=a, b ,c",
        "x=a=b",
        "y=a:b",
        "Category of the plugin: Raster",
        "[general] x",
        "[a]b]",
        "desc=caf\u{e9}",
        "z=\u{a0}nb\u{a0}",
        "w=a\u{2028}b",
        "v=a\u{b}b",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let inputs: Vec<Vec<u8>> = (0..400)
        .map(|_| {
            let mut s = String::new();
            if next(3) > 0 {
                s.push_str("[general]\n");
            }
            for _ in 0..next(9) {
                s.push_str(PIECES[next(PIECES.len())]);
                s.push_str(["\n", "\n", "\r\n"][next(3)]);
            }
            s.into_bytes()
        })
        .collect();
    let py = python(&inputs);
    let failures: Vec<String> = inputs
        .iter()
        .zip(&py)
        .filter_map(|(i, (s, q))| {
            compare(i, s, q).map(|d| format!("{}: {d}", String::from_utf8_lossy(i).escape_debug()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} disagree:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}
