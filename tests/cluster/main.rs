//! Several machines on one (issue 16): `scripts/cluster.sh up` runs three Garage nodes
//! (replication factor 3), the writer publishing every release to the bucket, and two
//! stateless nginx edges. QGIS's own installer installs through each edge; an approval is
//! live on both edges within 3 s; a Garage node, an edge and the writer (mid-publish) are
//! lost and the edges keep serving complete documents; a reader through the edges during 50
//! approvals only ever sees complete plugins.xml documents whose every download answers.
//!
//! Its own test binary: cargo runs test binaries one after another, so the cluster's
//! timings (an approval live on both edges within 3 s) are not taken while the other
//! end-to-end tests load the machine's 2 cores.

// The shared harness (tests/it/support) has helpers only the single-machine tests use.
#![allow(dead_code, unused_imports)]

mod harness;
#[path = "../it/support/mod.rs"]
mod support;

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Cluster, status_of};
use crate::support::deploy::poll;
use crate::support::xml;

/// An unapproved demo version (QGIS 3.16 to 3.x) that the tests approve.
const PKG: &str = "selection_stats";
const VERSION: &str = "1.2";
/// A demo plugin QGIS installs.
const INSTALLED: &str = "selection_stats";
const XML: &str = "/plugins/plugins.xml?qgis=3.34";

#[test]
fn cluster_serves_through_both_edges_and_survives_losses() {
    let c = Cluster::start();
    c.user_add("boss", &["--staff"]);
    let boss = c.token("boss");

    qgis_installs_through_each_edge(&c);
    every_site_wide_document_is_the_writers(&c);
    an_approval_is_live_on_both_edges(&c, &boss);
    a_lost_garage_node_is_survived_and_catches_up(&c, &boss);
    a_lost_edge_is_survived(&c);
    a_writer_killed_mid_publish_is_completed_by_the_next_build(&c, &boss);
    readers_see_only_complete_documents_during_50_approvals(&c, &boss);
}

fn qgis_installs_through_each_edge(c: &Cluster) {
    for (i, port) in c.edges.iter().enumerate() {
        let repo = format!("http://127.0.0.1:{port}/plugins/plugins.xml");
        let (probe, profile) =
            crate::support::probe::run_probe_at(&repo, Some("3.34.0"), Some((INSTALLED, false)));
        assert_eq!(probe["repository"]["state"], 2, "edge {}: not loaded: {probe:#}", i + 1);
        let inst = &probe["install"];
        assert_eq!(inst["status"], "installed", "edge {}: {inst:#}", i + 1);
        let folder = std::path::PathBuf::from(inst["folder"].as_str().expect("folder"));
        assert!(folder.starts_with(profile.path()) && folder.is_dir(), "{inst:#}");
    }
}

/// Every `?qgis=X.Y[&stable_only=1]` answers, through both edges, exactly the writer's
/// document for X.Y: also the minors whose identical documents the bucket does not store
/// (the edges' walk down the decade finds the same bytes).
fn every_site_wide_document_is_the_writers(c: &Cluster) {
    let release = c.dir.join("writer/site/current/plugins/xml");
    let mut checked = 0;
    for (dir, query) in [("", ""), ("stable_only/", "&stable_only=1")] {
        for entry in std::fs::read_dir(release.join(dir)).expect("the writer's documents") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            let Some(minor) = name.strip_suffix(".xml").filter(|m| m.contains('.')) else {
                continue;
            };
            if !minor.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                continue;
            }
            let local = std::fs::read(release.join(dir).join(&name)).expect("document");
            for i in 0..2 {
                let r = c.edge(i, &format!("/plugins/plugins.xml?qgis={minor}{query}"), &[]);
                assert_eq!(r.status, 200, "edge {}: {minor}{query}", i + 1);
                assert!(r.body == local, "edge {}: ?qgis={minor}{query} differs", i + 1);
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} documents");
}

/// The entries of `XML` as edge `i` serves it now (fails on an incomplete document).
fn entries(c: &Cluster, i: usize) -> Vec<xml::Entry> {
    let r = c.edge(i, XML, &[]);
    assert_eq!(r.status, 200, "edge {}: {XML}: {}", i + 1, r.text());
    xml::parse(&r.body).unwrap_or_else(|e| panic!("edge {}: incomplete {XML}: {e:#}", i + 1))
}

fn lists(c: &Cluster, i: usize, version: &str) -> bool {
    entries(c, i).iter().any(|e| e.id() == PKG && e.version == version)
}

/// Approves (or unapproves) and returns how long until both edges show it.
fn approve_and_wait(c: &Cluster, boss: &str, approve: bool, limit: Duration) -> Duration {
    let t0 = Instant::now();
    let (status, body) = c.set_approved(0, boss, (PKG, VERSION), approve);
    assert_eq!(status, 200, "{body}");
    poll("the change on both edges", limit, || {
        (0..2).all(|i| lists(c, i, VERSION) == approve).then_some(())
    });
    t0.elapsed()
}

fn an_approval_is_live_on_both_edges(c: &Cluster, boss: &str) {
    assert!(!lists(c, 0, VERSION) && !lists(c, 1, VERSION));
    let took = approve_and_wait(c, boss, true, Duration::from_secs(3));
    eprintln!("approval live on both edges after {} ms", took.as_millis());
    let page = format!("/plugins/{PKG}/version/{VERSION}/");
    for i in 0..2 {
        assert_eq!(c.edge(i, &page, &[]).status, 200, "edge {}: {page}", i + 1);
    }
    approve_and_wait(c, boss, false, Duration::from_secs(3));
}

/// Every plugins.xml entry's download answers 200 through edge `i`.
fn every_download_answers(c: &Cluster, i: usize, docs: &[xml::Entry]) {
    assert!(!docs.is_empty(), "edge {}: an empty {XML}", i + 1);
    for e in docs {
        let path = path_of(&e.download_url);
        assert_eq!(status_of(c.edges[i], &path), 200, "edge {}: {path}", i + 1);
    }
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find('/').map(|p| rest[p..].to_owned()).unwrap_or_else(|| "/".into())
}

fn a_lost_garage_node_is_survived_and_catches_up(c: &Cluster, boss: &str) {
    c.kill9("garage-2");
    for i in 0..2 {
        every_download_answers(c, i, &entries(c, i));
    }
    // Writes still reach a quorum (2 of 3): an approval goes live on both edges.
    approve_and_wait(c, boss, true, Duration::from_secs(10));
    restart_node(c, "garage-2");
    // Node 2 is needed now: with node 3 gone, every quorum includes it. What was written
    // while it was down is served, and a change still goes live.
    c.kill9("garage-3");
    for i in 0..2 {
        assert!(lists(c, i, VERSION), "edge {}: the approval made without node 2", i + 1);
        every_download_answers(c, i, &entries(c, i));
    }
    approve_and_wait(c, boss, false, Duration::from_secs(10));
    restart_node(c, "garage-3");
}

/// Starts the Garage node `name` again and waits until node 1 sees no failed node.
fn restart_node(c: &Cluster, name: &str) {
    c.start_process(name, &[]);
    poll(&format!("{name} back in the cluster"), Duration::from_secs(60), || {
        let status = c.garage(1, &["status"]);
        (!status.contains("Failed nodes") && !status.contains("FAILED")).then_some(())
    });
}

fn a_lost_edge_is_survived(c: &Cluster) {
    c.kill9("edge-1");
    assert_eq!(status_of(c.edges[0], XML), 0, "edge 1 still answers");
    every_download_answers(c, 1, &entries(c, 1));
    c.start_process("edge-1", &[]);
    poll("edge 1 back", Duration::from_secs(30), || {
        (status_of(c.edges[0], XML) == 200).then_some(())
    });
}

fn a_writer_killed_mid_publish_is_completed_by_the_next_build(c: &Cluster, boss: &str) {
    let before: Vec<Vec<xml::Entry>> = (0..2).map(|i| entries(c, i)).collect();
    // The build child aborts (as a kill -9 would stop it) after the zips and pages are put,
    // before the site-wide plugins.xml documents.
    c.kill9("writer");
    c.start_process("writer", &[("PLUGINS_FAILPOINT", "s3.before_site_documents")]);
    let (status, body) = c.set_approved(0, boss, (PKG, VERSION), true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["live"], false, "live although the publication was cut: {body}");
    // The edges keep serving the previous, complete documents, and their downloads.
    for (i, doc) in before.iter().enumerate() {
        assert_eq!(&entries(c, i), doc, "edge {}: the document changed", i + 1);
        every_download_answers(c, i, doc);
    }
    c.kill9("writer");
    c.start_process("writer", &[]);
    poll("the next build to complete the publication", Duration::from_secs(60), || {
        (0..2).all(|i| lists(c, i, VERSION)).then_some(())
    });
    approve_and_wait(c, boss, false, Duration::from_secs(10));
}

fn readers_see_only_complete_documents_during_50_approvals(c: &Cluster, boss: &str) {
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let (stop, port) = (Arc::clone(&stop), c.edges[i]);
            thread::spawn(move || read_until(port, &stop))
        })
        .collect();
    let mut took = Vec::new();
    for round in 0..50 {
        took.push(approve_and_wait(c, boss, true, Duration::from_secs(10)));
        if round < 49 {
            approve_and_wait(c, boss, false, Duration::from_secs(10));
        }
    }
    stop.store(true, Ordering::SeqCst);
    for (i, r) in readers.into_iter().enumerate() {
        let (docs, distinct, downloads) = r.join().expect("reader panicked");
        // Both states of the document (listed, not listed), each checked in full.
        assert!(
            docs >= 50 && distinct >= 2,
            "edge {}: {docs} documents, {distinct} distinct",
            i + 1
        );
        eprintln!(
            "edge {}: {docs} complete documents ({distinct} distinct), {downloads} downloads checked",
            i + 1
        );
    }
    took.sort();
    eprintln!("approval → both edges: median {} ms", took[took.len() / 2].as_millis());
}

/// Reads `XML` through the edge on `port` (plain and gzip in turn) until `stop`: every
/// document must parse completely, and each download of every distinct document must answer
/// 200 with a zip (a document seen before was checked then). Returns (documents read,
/// distinct documents, downloads checked).
fn read_until(port: u16, stop: &AtomicBool) -> (usize, usize, usize) {
    let (mut docs, mut downloads) = (0, 0);
    let mut seen = std::collections::HashSet::new();
    while !stop.load(Ordering::SeqCst) {
        let gzip = docs % 2 == 1;
        let headers: &[(&str, &str)] = if gzip { &[("Accept-Encoding", "gzip")] } else { &[] };
        let r = crate::support::http::get(port, XML, headers).expect("GET plugins.xml");
        assert_eq!(r.status, 200, "{XML}: {}", r.text());
        let body = if r.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_end(&mut out)
                .expect("a complete gzip stream");
            out
        } else {
            r.body
        };
        let doc = xml::parse(&body).unwrap_or_else(|e| panic!("incomplete document: {e:#}"));
        docs += 1;
        if !seen.insert(body) {
            // Paced, not waiting for anything: a reader at full speed would take the 2
            // cores from the writer and Garage it is watching.
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        for e in &doc {
            let path = path_of(&e.download_url);
            let d = crate::support::http::get(port, &path, &[]).expect("GET download");
            assert_eq!(d.status, 200, "{path} named by a served document");
            assert!(d.body.starts_with(b"PK"), "{path} is not a zip");
            downloads += 1;
        }
    }
    (docs, seen.len(), downloads)
}
