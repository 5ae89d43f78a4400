//! nginx's locations checked against the generator's one file → URL map
//! (`generator::urls::public_address`): every file of the published demo release is fetched
//! through the real nginx at the address the map gives it and must come back whole (its
//! `.gz` siblings decompressed); the files the map calls private, and the 404 page itself,
//! must be 404s.

use std::collections::BTreeMap;
use std::io::Read;

use generator::urls::{PublicAddress, public_address};

use crate::support::http::{self, Response};
use crate::support::served;

fn get(path: &str, headers: &[(&str, &str)]) -> Response {
    http::get(served().nginx.port, path, headers).unwrap_or_else(|e| panic!("{path}: {e:#}"))
}

fn gunzip(bytes: &[u8], what: &str) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("{what}: not gzip: {e}"));
    out
}

/// The URL a client asks for a file the map says is served (`Url`, `PackageRequest`).
fn served_at(address: &PublicAddress) -> Option<&str> {
    match address {
        PublicAddress::Url(url) | PublicAddress::PackageRequest(url) => Some(url),
        _ => None,
    }
}

/// What is wrong with nginx's answer for the published file `rel` at `address`, if anything.
fn check(rel: &str, bytes: &[u8], address: &PublicAddress) -> Option<String> {
    match address {
        PublicAddress::Url(url) | PublicAddress::PackageRequest(url) => {
            let r = get(url, &[]);
            (r.status != 200 || r.body != bytes)
                .then(|| format!("{url}: {} and not the bytes of {rel}", r.status))
        }
        PublicAddress::Gzip(plain) => {
            let Some(url) = served_at(plain) else {
                return Some(format!("{rel}: a .gz of a file without a URL ({plain:?})"));
            };
            let r = get(url, &[("Accept-Encoding", "gzip")]);
            let sent = match r.header("content-encoding") {
                Some("gzip") => gunzip(&r.body, url),
                _ => r.body.clone(),
            };
            (r.status != 200 || sent != gunzip(bytes, rel))
                .then(|| format!("{url} (gzip): {} and not the bytes of {rel}", r.status))
        }
        PublicAddress::NotFoundPage(url) => {
            let r = get(url, &[]);
            (r.status != 404 || r.body != bytes)
                .then(|| format!("{url}: {} rather than a 404 with its own bytes", r.status))
        }
        PublicAddress::Private(url) => {
            let r = get(url, &[]);
            (r.status != 404 || r.body == bytes)
                .then(|| format!("{url}: {} rather than a 404 for private {rel}", r.status))
        }
    }
}

fn kind(address: &PublicAddress) -> &'static str {
    match address {
        PublicAddress::Url(_) => "url",
        PublicAddress::Gzip(_) => "gzip",
        PublicAddress::PackageRequest(_) => "package request",
        PublicAddress::NotFoundPage(_) => "404 page",
        PublicAddress::Private(_) => "private",
    }
}

/// Every file of the release, at the address `generator::urls` gives it.
#[test]
fn every_published_file_is_answered_by_nginx_where_the_url_map_says() {
    let site = &served().site;
    let files = site.files_ending_with("");
    assert!(files.len() > 1000, "only {} published files", files.len());
    let mut problems = Vec::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for rel in &files {
        let address = public_address(rel);
        *kinds.entry(kind(&address)).or_default() += 1;
        if let Some(problem) = check(rel, &site.file(rel), &address) {
            problems.push(problem);
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    for k in ["url", "gzip", "package request", "404 page", "private"] {
        assert!(kinds.contains_key(k), "no published file is a {k}: {kinds:?}");
    }
}
