//! Publishing tests: atomic swap, write-only-what-changed, tree reuse, crash leftovers, GC.

use std::os::unix::fs::MetadataExt;

use super::*;
use crate::plan::{Content, Plan, TreeSource};

/// A plan and the trees it names.
struct Fx {
    plan: Plan,
    trees: BTreeMap<String, BTreeMap<String, Content>>,
}

impl TreeSource for Fx {
    fn render_tree(&self, mount: &str) -> Result<BTreeMap<String, Content>> {
        Ok(self.trees[mount].clone())
    }
}

fn plan(files: &[(&str, &str)], trees: &[(&str, &[(&str, &str)])]) -> Fx {
    let mut fx = Fx { plan: Plan::default(), trees: BTreeMap::new() };
    for (path, body) in files {
        fx.plan.root.insert((*path).into(), Content::Bytes(body.as_bytes().to_vec()));
    }
    for (mount, tfiles) in trees {
        let mut files = BTreeMap::new();
        for (path, body) in *tfiles {
            files.insert((*path).into(), Content::Bytes(body.as_bytes().to_vec()));
        }
        fx.plan.trees.insert((*mount).into(), catalog::hash::fingerprint(tfiles));
        fx.trees.insert((*mount).into(), files);
    }
    fx
}

/// Publishes, then collects garbage, as a build does.
fn go(fx: &Fx, site: &Path) -> Result<PublishReport> {
    let report = publish(&fx.plan, site, fx, &lock(site)?)?;
    collect_garbage(site)?;
    Ok(report)
}

fn read(site: &Path, rel: &str) -> String {
    fs::read_to_string(site.join("current").join(rel)).unwrap()
}

fn inode(site: &Path, rel: &str) -> u64 {
    fs::metadata(site.join("current").join(rel)).unwrap().ino()
}

#[test]
fn first_publish_then_nothing_changed_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    let big = "x".repeat(10_000);
    let p = plan(
        &[("index.html", &big), ("small.html", "tiny"), ("plugins/xml/3.34.xml", "<plugins/>")],
        &[("plugins/foo", &[("index.html", "foo page")])],
    );
    let r1 = go(&p, site).unwrap();
    assert!(r1.changed);
    assert_eq!(r1.release, "r-000001");
    assert_eq!(read(site, "index.html"), big);
    assert_eq!(read(site, "plugins/foo/index.html"), "foo page");
    assert!(site.join("current/index.html.gz").is_file(), "large HTML gets a .gz");
    assert!(site.join("current/plugins/xml/3.34.xml.gz").is_file(), "every plugins.xml has a .gz");
    assert!(!site.join("current/small.html.gz").exists(), "tiny pages are not compressed");
    let mode = fs::metadata(site.join("current/index.html")).unwrap().mode() & 0o777;
    assert_eq!(mode & 0o044, 0o044, "readable by nginx");

    let r2 = go(&p, site).unwrap();
    assert!(!r2.changed);
    assert_eq!(r2.release, "r-000001");
    assert_eq!(r2.files_written, 0);
}

#[test]
fn one_change_writes_one_file_and_links_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    let p1 = plan(
        &[("a.html", "A1"), ("b.html", "B")],
        &[("plugins/foo", &[("index.html", "foo")]), ("plugins/bar", &[("index.html", "bar")])],
    );
    go(&p1, site).unwrap();
    let (b_before, foo_before) =
        (inode(site, "b.html"), fs::canonicalize(site.join("current/plugins/foo")).unwrap());
    let p2 = plan(
        &[("a.html", "A2"), ("b.html", "B")],
        &[("plugins/foo", &[("index.html", "foo")]), ("plugins/bar", &[("index.html", "bar2")])],
    );
    let r = go(&p2, site).unwrap();
    assert_eq!(r.release, "r-000002");
    assert_eq!(
        (r.files_written, r.files_linked),
        (2, 1),
        "a.html and bar's page written, b.html linked"
    );
    assert_eq!((r.trees_written, r.trees_reused), (1, 1));
    assert_eq!(inode(site, "b.html"), b_before, "unchanged file is the same inode (hard link)");
    assert_eq!(
        fs::canonicalize(site.join("current/plugins/foo")).unwrap(),
        foo_before,
        "unchanged tree reused"
    );
    assert_eq!(read(site, "a.html"), "A2");
    assert_eq!(read(site, "plugins/bar/index.html"), "bar2");
}

#[test]
fn aliases_share_bytes_and_removed_files_disappear() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    let mut p = plan(&[("xml/3.0.xml", "doc"), ("old.html", "old")], &[]);
    p.plan.root.insert("xml/3.1.xml".into(), Content::Same("xml/3.0.xml".into()));
    go(&p, site).unwrap();
    assert_eq!(inode(site, "xml/3.0.xml"), inode(site, "xml/3.1.xml"));
    p.plan.root.remove("old.html");
    go(&p, site).unwrap();
    assert!(!site.join("current/old.html").exists());
    assert_eq!(read(site, "xml/3.1.xml"), "doc");
}

#[test]
fn crash_leftovers_do_not_disturb_the_next_publish() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    go(&plan(&[("a.html", "1")], &[("plugins/foo", &[("index.html", "f")])]), site).unwrap();
    // A build that died mid-way leaves temporary directories and a stray link behind.
    fs::create_dir_all(site.join("releases/.tmp-r-000002/partial")).unwrap();
    fs::write(site.join("releases/.tmp-r-000002/a.html"), "half").unwrap();
    fs::create_dir_all(site.join("trees/foo/.tmp-deadbeef")).unwrap();
    symlink("releases/nowhere", site.join(".current.tmp")).unwrap();
    assert_eq!(read(site, "a.html"), "1", "the previous site is still served");
    let r =
        go(&plan(&[("a.html", "2")], &[("plugins/foo", &[("index.html", "g")])]), site).unwrap();
    assert!(r.changed);
    assert_eq!(read(site, "a.html"), "2");
    assert_eq!(read(site, "plugins/foo/index.html"), "g");
    assert!(!site.join("releases/.tmp-r-000002").exists());
    assert!(!site.join("trees/foo/.tmp-deadbeef").exists());
}

#[test]
fn old_releases_and_unreferenced_trees_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    for i in 0..6 {
        let body = format!("v{i}");
        go(&plan(&[("a.html", &body)], &[("plugins/foo", &[("index.html", &body)])]), site)
            .unwrap();
    }
    let releases: Vec<_> = fs::read_dir(site.join("releases")).unwrap().flatten().collect();
    assert_eq!(releases.len(), KEEP_RELEASES + 1);
    let trees: Vec<_> = fs::read_dir(site.join("trees/foo")).unwrap().flatten().collect();
    assert_eq!(trees.len(), KEEP_RELEASES + 1);
    // Every kept release still resolves completely.
    for r in releases {
        let page = r.path().join("plugins/foo/index.html");
        assert!(page.is_file(), "{} resolves", page.display());
    }
}

#[test]
fn a_plugin_tree_may_not_shadow_a_site_wide_page() {
    let dir = tempfile::tempdir().unwrap();
    let p =
        plan(&[("plugins/tags/index.html", "tags")], &[("plugins/tags", &[("index.html", "x")])]);
    let err = go(&p, dir.path()).unwrap_err();
    assert!(format!("{err:#}").contains("collides"));
}

/// A large plugins.xml gets a chunked .gz: after one entry changes, the new .gz holds the new
/// document and most of its chunks were copied from the previous one (same bytes, found
/// through the index the manifest keeps).
#[test]
fn large_documents_reuse_unchanged_gzip_chunks() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    let doc = |changed: &str| {
        let mut s = String::from("<?xml version=\"1.0\"?>\n<plugins>\n");
        for i in 0..3000 {
            let about =
                if i == 1500 { changed.to_owned() } else { format!("about {i} {}", i * 7919) };
            s.push_str(&format!(
                "<pyqgis_plugin name=\"p{i}\" version=\"1.{i}\">\n<about>{about}</about>\n{}\n</pyqgis_plugin>\n",
                "text ".repeat(60 + i % 50)
            ));
        }
        s.push_str("</plugins>\n");
        s
    };
    let gunzip = |rel: &str| {
        let mut out = String::new();
        flate2::read::GzDecoder::new(fs::File::open(site.join("current").join(rel)).unwrap())
            .read_to_string(&mut out)
            .unwrap();
        out
    };
    let (a, b) = (doc("first"), doc("second"));
    assert!(a.len() > FAST_GZIP_ABOVE);
    go(&plan(&[("plugins/xml/3.34.xml", &a)], &[]), site).unwrap();
    assert_eq!(gunzip("plugins/xml/3.34.xml.gz"), a);
    let first_gz = fs::read(site.join("current/plugins/xml/3.34.xml.gz")).unwrap();
    let first = read_manifest(&current_release(site).unwrap().unwrap()).unwrap();
    let chunks = &first.gz_chunks["plugins/xml/3.34.xml"].chunks;
    assert!(chunks.len() > 10, "{} chunks", chunks.len());

    go(&plan(&[("plugins/xml/3.34.xml", &b)], &[]), site).unwrap();
    assert_eq!(gunzip("plugins/xml/3.34.xml.gz"), b);
    let second_gz = fs::read(site.join("current/plugins/xml/3.34.xml.gz")).unwrap();
    let second = read_manifest(&current_release(site).unwrap().unwrap()).unwrap();
    let copied = second.gz_chunks["plugins/xml/3.34.xml"]
        .chunks
        .iter()
        .filter(|c| {
            chunks.iter().any(|o| {
                o.hash == c.hash
                    && first_gz[o.offset as usize..(o.offset + o.len) as usize]
                        == second_gz[c.offset as usize..(c.offset + c.len) as usize]
            })
        })
        .count();
    assert!(copied + 2 >= chunks.len(), "only {copied} of {} chunks kept", chunks.len());
}
