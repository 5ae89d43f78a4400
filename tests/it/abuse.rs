//! End-to-end abuse tests through the real nginx and `uploader serve`: nginx's JSON 429 for
//! password floods (static files never limited), the service's per-account throttle,
//! XML-RPC refusing wrong credentials before it reads or parses a body, the refusal of a
//! secret file others can read, and slowloris connections cut by nginx.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::deploy::{Deployment, PASSWORD, json_of, uploader_binary};
use crate::support::http::{self, Response};

fn token_attempt(d: &Deployment, user: &str, password: &str) -> Response {
    let body = json!({"username": user, "password": password}).to_string();
    d.req("POST", "/api/v1/token", &[("Content-Type", "application/json")], body.as_bytes())
}

/// `password_checks` of the service's /healthz (asked directly, not through nginx).
fn password_checks(d: &Deployment) -> u64 {
    let r = http::get(d.up_port, "/healthz", &[]).expect("healthz");
    json_of(&r)["password_checks"].as_u64().expect("password_checks in /healthz")
}

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

fn assert_rate_limited(r: &Response) {
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.mime(), "application/json", "{:?}", r.headers);
    assert_eq!(json_of(r)["code"], "rate_limited", "{}", r.text());
    assert!(r.header("retry-after").is_some(), "no Retry-After: {:?}", r.headers);
}

/// A published zip, a plugin page and plugins.xml of the demo site.
fn static_paths(d: &Deployment) -> Vec<String> {
    let xml = d.plugins_xml();
    let start = xml.find("<download_url>").expect("a download_url") + "<download_url>".len();
    let end = start + xml[start..].find("</download_url>").expect("its end");
    let url = &xml[start..end];
    let zip = url[url.find("/plugins/").expect("a path")..].to_owned();
    vec![zip, "/plugins/plugins.xml?qgis=3.34".into(), "/plugins/".into(), "/".into()]
}

#[test]
fn abuse_token_flood_gets_json_429_from_nginx_and_static_files_never_do() {
    let d = Deployment::start();
    let before = password_checks(&d);
    let started = Instant::now();
    let (mut passed, mut limited) = (0u64, 0u64);
    for i in 0..60 {
        // Rotating names: the per-account throttle never applies, only nginx's limit.
        let r = token_attempt(&d, &format!("nobody{i}"), "wrong");
        match r.status {
            401 => passed += 1,
            429 => {
                assert_rate_limited(&r);
                limited += 1;
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    let secs = started.elapsed().as_secs() + 1;
    assert!(limited >= 20, "only {limited} of 60 guesses were refused");
    // Burst 20, then one a second.
    assert!(passed <= 20 + secs, "{passed} guesses reached the service in {secs} s");
    let checks = password_checks(&d) - before;
    assert_eq!(checks, passed, "the service hashed {checks} passwords for {passed} requests");

    // Static files stay unlimited while the address is still limited (each static request
    // beside a guess, which keeps the address at its limit), with or without credentials.
    let wrong = basic("nobody", "wrong");
    let (mut guesses, mut refused) = (0u32, 0u32);
    for path in static_paths(&d) {
        for _ in 0..30 {
            let r = d.req("GET", &path, &[], b"");
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            let r = d.req("GET", &path, &[("Authorization", &wrong)], b"");
            assert_eq!(r.status, 200, "{path} with credentials: {}", r.text());
            guesses += 1;
            refused += u32::from(token_attempt(&d, "nobody", "wrong").status == 429);
        }
    }
    // One guess a second gets through; the rest are refused.
    assert!(refused * 2 > guesses, "only {refused} of {guesses} guesses were refused");
}

#[test]
fn abuse_per_account_throttle_refuses_fast_after_ten_failures_even_the_right_password() {
    let d = Deployment::start();
    d.user_add("jane", &[]);
    d.user_add("bob", &[]);
    for i in 0..10 {
        let r = token_attempt(&d, "jane", &format!("guess {i}"));
        assert_eq!(r.status, 401, "guess {i}: {}", r.text());
    }
    let before = password_checks(&d);
    let started = Instant::now();
    let r = token_attempt(&d, "JANE", "guess 10");
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(json_of(&r)["code"], "too_many_attempts", "{}", r.text());
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
    assert!(started.elapsed() < Duration::from_secs(2), "slow refusal: {:?}", started.elapsed());
    // The right password is refused the same way: the throttle is no oracle.
    let r = token_attempt(&d, "jane", PASSWORD);
    assert_eq!(r.status, 429, "{}", r.text());
    // HTTP Basic on another surface counts for the same account.
    let r =
        d.req("GET", "/api/v1/download/x/1.0", &[("Authorization", &basic("jane", PASSWORD))], b"");
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(password_checks(&d), before, "a locked account's attempts were hashed");
    // Other accounts are unaffected.
    assert!(!d.user_token("bob").is_empty());
}

fn rpc(d: &Deployment, auth: Option<&str>, body: &[u8]) -> Response {
    let mut headers = vec![("Content-Type", "text/xml")];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    d.req("POST", "/plugins/RPC2/", &headers, body)
}

#[test]
fn abuse_xmlrpc_refuses_wrong_credentials_before_reading_or_parsing_the_body() {
    let d = Deployment::start();
    d.user_add("jane", &[]);
    let wrong = basic("jane", "wrong");
    let garbage = vec![b'#'; 1 << 20];
    // Not XML: parsed, it would be a fault (HTTP 200).
    let r = rpc(&d, Some(&wrong), &garbage);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Basic")));
    // Larger than the service's XML-RPC limit (35 065 536 bytes; nginx allows 36 700 160):
    // 401, not 413.
    let huge = vec![b'#'; 35_500_000];
    let r = rpc(&d, Some(&wrong), &huge);
    assert_eq!(r.status, 401, "{}", r.text());
    // Without credentials, more than a method call's worth of body is an upload: 401.
    let r = rpc(&d, None, &garbage);
    assert_eq!(r.status, 401, "{}", r.text());
    // Small anonymous calls still work; the right password gets its body parsed.
    let call = b"<?xml version=\"1.0\"?><methodCall><methodName>system.listMethods</methodName></methodCall>";
    let r = rpc(&d, None, call);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("plugin.upload"), "{}", r.text());
    let r = rpc(&d, Some(&basic("jane", PASSWORD)), b"not xml");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Malformed XML-RPC request"), "{}", r.text());
}

#[test]
fn abuse_secret_file_readable_by_others_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("jwt-secret");
    std::fs::write(&secret, "a-secret-of-more-than-32-bytes-0123456789abcdef").expect("write");
    for mode in [0o640, 0o604] {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let log = dir.path().join(format!("serve-{mode:o}.log"));
        let mut child = Command::new(uploader_binary())
            .arg("serve")
            .arg("--data")
            .arg(dir.path().join("data"))
            .arg("--secret-file")
            .arg(&secret)
            .args(["--listen", "127.0.0.1:0", "--no-rebuild", "--no-count"])
            .env_remove("PLUGINS_JWT_SECRET")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("uploader serve");
        // A service that accepted the file would keep running: bounded wait, then kill.
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.is_some_and(|s| !s.success()), "mode {mode:o} accepted: {err}");
        assert!(err.contains(&secret.display().to_string()), "{err}");
        assert!(err.contains(&format!("chmod 600 {}", secret.display())), "{err}");
    }
}

/// True once the peer has closed `s` (EOF or reset); waits at most `wait` for that.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 1024];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => true, // nginx answered (408) and is closing
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

#[test]
fn abuse_slowloris_headers_are_cut_by_nginx_while_others_are_served() {
    let d = Deployment::start();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, d.nginx.port));
    let mut slow = TcpStream::connect(addr).expect("connect");
    let started = Instant::now();
    let head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".to_vec();
    let mut sent = 0;
    let mut closed = false;
    // One byte every 500 ms, watching for the close in between; bounded at 30 s.
    while started.elapsed() < Duration::from_secs(30) {
        let byte = head.get(sent).copied().unwrap_or(b'a');
        if slow.write_all(&[byte]).is_err() || closed_within(&mut slow, Duration::from_millis(500))
        {
            closed = true;
            break;
        }
        sent += 1;
        if sent == 4 {
            // Meanwhile a normal client is served at once.
            let t = Instant::now();
            let r = d.req("GET", "/", &[], b"");
            assert_eq!(r.status, 200);
            assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        }
    }
    let took = started.elapsed();
    assert!(closed, "nginx kept a slowloris connection open for {took:?}");
    assert!(took < Duration::from_secs(15), "closed only after {took:?}");
    let body: Value = json!({"sent_bytes": sent, "secs": took.as_secs()});
    assert!(sent > 5, "closed too early to be the header timeout: {body}");
}
