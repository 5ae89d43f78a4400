//! nginx's configuration against its single sources: the capture patterns of
//! `nginx/patterns.env` against the generator's URL and name rules, and the body limits
//! `nginx/render.sh` derives from `nginx/limits.env` against the upload service's. These
//! fail when one side changes without the other.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use catalog::names::PackageName;
use generator::urls::NGINX_VERSION_PATTERN;
use uploader::config::ServiceConfig;
use uploader::validate::MAX_UPLOAD_BYTES;

use crate::support;

/// A shell variable of an `nginx/*.env` file, as render.sh sees it once sourced.
fn env_value(file: &str, key: &str) -> String {
    let path = support::workspace_root().join("nginx").join(file);
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"set -eu; source "$1"; printf %s "${!2}""#)
        .arg("bash")
        .arg(&path)
        .arg(key)
        .output()
        .unwrap_or_else(|e| panic!("bash sourcing {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{key} in {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every nginx template: the main file and each include, with its file name.
fn templates() -> Vec<(String, String)> {
    let dir = support::workspace_root().join("nginx");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf" || x == "in"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The bytes of a regex character class body such as `A-Za-z0-9_\-` (ASCII only: `\xNN`
/// escapes are skipped).
fn class_bytes(class: &str) -> Vec<u8> {
    let b = class.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            i += 4;
            if b.get(i) == Some(&b'-') {
                i += 5;
            }
            continue;
        }
        let (c, next) = if b[i] == b'\\' { (b[i + 1], i + 2) } else { (b[i], i + 1) };
        if b.get(next) == Some(&b'-') && next + 1 < b.len() {
            out.extend(c..=b[next + 1]);
            i = next + 2;
        } else {
            out.push(c);
            i = next;
        }
    }
    out
}

#[test]
fn nginx_conf_version_pattern_is_the_generators() {
    assert_eq!(env_value("patterns.env", "VER_RE"), NGINX_VERSION_PATTERN);
}

#[test]
fn nginx_conf_package_pattern_is_what_package_names_accept() {
    let re = env_value("patterns.env", "PKG_RE");
    let (first, rest) = re
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix("]{1,255}"))
        .and_then(|r| r.split_once("]["))
        .unwrap_or_else(|| panic!("PKG_RE is not `[first][rest]{{1,255}}`: {re}"));
    let (first, rest) = (class_bytes(first), class_bytes(rest));
    for b in 0u8..0x80 {
        let c = b as char;
        assert_eq!(first.contains(&b), PackageName::parse(&format!("{c}a")).is_ok(), "first {c:?}");
        assert_eq!(rest.contains(&b), PackageName::parse(&format!("a{c}")).is_ok(), "later {c:?}");
    }
    // {1,255} after the first character: 2 to 256 characters.
    assert!(PackageName::parse("a").is_err());
    assert!(PackageName::parse(&"a".repeat(256)).is_ok());
    assert!(PackageName::parse(&"a".repeat(257)).is_err());
}

/// How many `capture`s `text` holds, each asserted to be `placeholder`.
fn captures_of(name: &str, text: &str, capture: &str, placeholder: &str) -> usize {
    let found: Vec<usize> = text.match_indices(capture).map(|(i, _)| i + capture.len()).collect();
    for &i in &found {
        assert!(text[i..].starts_with(placeholder), "{name}: {capture} is not {placeholder}");
    }
    found.len()
}

#[test]
fn nginx_conf_captures_use_the_patterns_and_never_spell_them() {
    let pkg = env_value("patterns.env", "PKG_RE");
    let ver = env_value("patterns.env", "VER_RE");
    let (mut packages, mut versions) = (0, 0);
    for (name, text) in templates() {
        assert!(!text.contains(&pkg) && !text.contains(&ver), "{name} spells a pattern itself");
        packages += captures_of(&name, &text, "(?<pkg>", "@PKG_RE@)");
        packages += captures_of(&name, &text, "(?<tp>", "@PKG_RE@)");
        versions += captures_of(&name, &text, "(?<ver>", "@VER_RE@)");
        versions += captures_of(&name, &text, "(?<tv>", "@VER_RE@)");
    }
    assert!(packages >= 6 && versions >= 4, "captures: {packages} packages, {versions} versions");
}

/// nginx's limits for an upload limit: `client_max_body_size` of the server (uploads) and of
/// XML-RPC, and the limit nginx's own 413 names; `nginx -t` accepts the rendered file.
struct Rendered {
    body: u64,
    rpc: u64,
    message: String,
}

fn render(max_upload: Option<u64>, env: Option<u64>) -> Result<Rendered> {
    let dir = tempfile::tempdir()?;
    let prefix = dir.path().join("rt");
    let mut cmd = Command::new("bash");
    cmd.arg(support::workspace_root().join("nginx/render.sh"))
        .args(["--prefix".as_ref(), prefix.as_os_str()])
        .args(["--site-root".as_ref(), dir.path().join("site/current").as_os_str()])
        .args(["--data-root".as_ref(), dir.path().join("data").as_os_str()])
        .env_remove("PLUGINS_MAX_UPLOAD_BYTES");
    if let Some(n) = max_upload {
        cmd.args(["--max-upload-bytes", &n.to_string()]);
    }
    if let Some(n) = env {
        cmd.env("PLUGINS_MAX_UPLOAD_BYTES", n.to_string());
    }
    let out = cmd.output().context("running nginx/render.sh")?;
    ensure!(out.status.success(), "render.sh: {}", String::from_utf8_lossy(&out.stderr));
    check_with_nginx(&prefix)?;
    let service = std::fs::read_to_string(prefix.join("service.conf"))?;
    let sizes: Vec<u64> = service
        .lines()
        .filter_map(|l| l.trim().strip_prefix("client_max_body_size "))
        .map(|v| v.trim_end_matches(';').parse().context("client_max_body_size"))
        .collect::<Result<_>>()?;
    ensure!(sizes.len() == 3, "client_max_body_size lines in service.conf: {sizes:?}");
    let message = service.lines().find(|l| l.contains("return 413")).context("413")?.to_owned();
    Ok(Rendered { body: sizes[0], rpc: sizes[1].max(sizes[2]), message })
}

fn check_with_nginx(prefix: &Path) -> Result<()> {
    let test = Command::new(support::nginx_binary()?)
        .arg("-p")
        .arg(prefix)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .arg("-t")
        .output()?;
    ensure!(test.status.success(), "nginx -t: {}", String::from_utf8_lossy(&test.stderr));
    Ok(())
}

fn service_limits(max_upload: u64) -> (u64, u64) {
    let site = generator::Config::new("d".into(), "s".into(), "t".into(), "http://x").unwrap();
    let mut config = ServiceConfig::new(site, vec![7; 32]).unwrap();
    config.max_upload_bytes = max_upload;
    (config.max_multipart_bytes(), config.max_xmlrpc_bytes())
}

#[test]
fn nginx_conf_upload_limit_is_the_services_default() {
    let file: u64 = env_value("limits.env", "MAX_UPLOAD_BYTES").parse().unwrap();
    assert_eq!(file, MAX_UPLOAD_BYTES, "nginx/limits.env and uploader::validate disagree");
    assert_eq!(uploader::validate::Limits::default().max_upload_bytes, MAX_UPLOAD_BYTES);
}

#[test]
fn nginx_conf_body_limits_are_as_before_by_default() {
    let r = render(None, None).unwrap();
    assert_eq!((r.body, r.rpc), (26_214_400, 36_700_160));
    assert!(r.message.contains("(25 MB per plugin zip)"), "{}", r.message);
}

#[test]
fn nginx_conf_body_limits_stay_above_the_services_for_any_upload_limit() {
    for max in [1, 1_048_576, MAX_UPLOAD_BYTES, 50_000_000, 123_456_789] {
        let (multipart, xmlrpc) = service_limits(max);
        for r in [render(Some(max), None).unwrap(), render(None, Some(max)).unwrap()] {
            assert!(r.body >= multipart, "{max}: nginx {} < service {multipart}", r.body);
            assert!(r.rpc >= xmlrpc, "{max}: nginx XML-RPC {} < service {xmlrpc}", r.rpc);
            // Not far above: one MiB of rounding, then base64's share of it.
            assert!(r.body < multipart + 1_048_576, "{max}: nginx {}", r.body);
        }
    }
}
