//! S3 publication against an in-memory store: phase order, puts only of changed bytes,
//! a failed phase leaving the state unadvanced, orphans deleted only after the grace,
//! metadata of `.gz` objects; the settings and the credentials file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt as _, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use super::objects::{IMMUTABLE, NO_CACHE, Phase};
use super::*;
use crate::plan::{Content, Plan, TreeSource};

// ---- A store that records every put and delete, and fails the puts it is told to.

#[derive(Default)]
struct Recording {
    inner: InMemory,
    /// ("put" | "delete", key), in the order the store saw them (a copy is a "put" of its
    /// destination).
    log: Arc<Mutex<Vec<(&'static str, String)>>>,
    /// Puts of keys starting with this prefix fail.
    fail_prefix: Mutex<Option<String>>,
}

impl Recording {
    fn take_log(&self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
    fn puts(&self) -> Vec<String> {
        self.take_log().into_iter().filter(|(op, _)| *op == "put").map(|(_, k)| k).collect()
    }
    fn fail_puts_under(&self, prefix: Option<&str>) {
        *self.fail_prefix.lock().unwrap() = prefix.map(str::to_owned);
    }
}

impl fmt::Display for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recording")
    }
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recording")
    }
}

#[async_trait]
impl ObjectStore for Recording {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let failing = self.fail_prefix.lock().unwrap().clone();
        if failing.is_some_and(|p| location.as_ref().starts_with(&p)) {
            return Err(object_store::Error::Generic {
                store: "Recording",
                source: "injected failure".into(),
            });
        }
        self.log.lock().unwrap().push(("put", location.to_string()));
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        let log = Arc::clone(&self.log);
        let locations = locations
            .inspect_ok(move |p| log.lock().unwrap().push(("delete", p.to_string())))
            .boxed();
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        // A copy stores an object as a put does (identical documents are copied).
        self.log.lock().unwrap().push(("put", to.to_string()));
        self.inner.copy_opts(from, to, options).await
    }
}

// ---- A small real site, published with `publish::publish`.

struct Site {
    plan: Plan,
    trees: BTreeMap<String, BTreeMap<String, Content>>,
}

impl TreeSource for Site {
    fn render_tree(&self, mount: &str) -> Result<BTreeMap<String, Content>> {
        Ok(self.trees[mount].clone())
    }
}

/// A site with plugins `foo` and `bar` at `foo_version`; `extra` adds one site-wide page.
fn site(foo_version: &str, extra: Option<&str>) -> Site {
    let doc = |v: &str| format!("<plugins><pyqgis_plugin name=\"foo\" version=\"{v}\"/></plugins>");
    let mut root: Vec<(String, String)> = vec![
        ("index.html".into(), "home".into()),
        ("404.html".into(), "not found".into()),
        ("static/style-0123abcd.css".into(), "body{}".repeat(100)),
        ("plugins/index.html".into(), "all plugins".into()),
        ("plugins/page-2.html".into(), "all plugins, page 2".into()),
        ("plugins/xml/3.34.xml".into(), doc(foo_version)),
    ];
    if let Some(page) = extra {
        root.push((page.into(), "extra".into()));
    }
    let tree = |pkg: &str, v: &str| -> Vec<(String, String)> {
        vec![
            ("index.html".into(), format!("{pkg} {v}")),
            (format!("version-{v}.html"), format!("{pkg} version {v}")),
            (format!("{pkg}.{v}.zip"), format!("PK zip of {pkg} {v}")),
            ("icon-89abcdef.png".into(), "png".into()),
            ("xml-3.34.xml".into(), doc(v)),
        ]
    };
    let mut s = Site { plan: Plan::default(), trees: BTreeMap::new() };
    for (path, body) in root {
        s.plan.root.insert(path, Content::Bytes(body.into_bytes()));
    }
    for (pkg, files) in [("foo", tree("foo", foo_version)), ("bar", tree("bar", "2.0"))] {
        let mount = format!("plugins/{pkg}");
        s.plan.trees.insert(mount.clone(), catalog::hash::fingerprint(&files));
        s.trees.insert(
            mount,
            files.into_iter().map(|(p, b)| (p, Content::Bytes(b.into_bytes()))).collect(),
        );
    }
    s
}

fn publish_locally(s: &Site, dir: &Path) {
    crate::publish::publish(&s.plan, dir, s, &crate::publish::lock(dir).unwrap()).unwrap();
}

struct Fx {
    _dir: tempfile::TempDir,
    site_dir: std::path::PathBuf,
    store: Arc<Recording>,
    target: Target,
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let site_dir = dir.path().join("site");
    let store = Arc::new(Recording::default());
    let target = Target {
        store: store.clone(),
        name: "http://s3.test/bucket".into(),
        state_path: state::state_path(&site_dir, "http://s3.test", "bucket"),
    };
    Fx { _dir: dir, site_dir, store, target }
}

fn opts(at_secs: u64) -> SyncOptions {
    SyncOptions {
        grace: Duration::from_secs(100),
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(at_secs),
        attempts: 2,
        backoff: Duration::from_millis(1),
        concurrency: 4,
    }
}

fn sync(fx: &Fx, at_secs: u64) -> Result<S3Report> {
    Ok(sync_site(&fx.site_dir, &fx.target, &opts(at_secs))?.expect("a release is published"))
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

fn stored(fx: &Fx, key: &str) -> Option<(Vec<u8>, object_store::Attributes)> {
    block_on(async {
        let r = fx.store.get(&ObjectPath::parse(key).unwrap()).await.ok()?;
        let attributes = r.attributes.clone();
        Some((r.bytes().await.unwrap().to_vec(), attributes))
    })
}

// ---- The tests.

#[test]
fn a_cold_sync_puts_every_object_in_phase_order_and_a_second_puts_nothing() {
    let fx = fixture();
    publish_locally(&site("1.0", None), &fx.site_dir);
    let report = sync(&fx, 1000).unwrap();
    let puts = fx.store.puts();
    assert_eq!(report.objects_put, puts.len());
    assert_eq!(report.objects, puts.len());
    let phases: Vec<Phase> = puts.iter().map(|k| key_phase(k)).collect();
    assert!(phases.is_sorted(), "puts in phase order: {puts:?}");
    for key in [
        "index.html",
        "404.html",
        "static/style-0123abcd.css",
        "static/style-0123abcd.css.gz",
        "plugins/index.html",
        "plugins/page/2/index.html",
        "plugins/xml/3.34.xml",
        "plugins/xml/3.34.xml.gz",
        "plugins/foo/index.html",
        "plugins/foo/version/1.0/index.html",
        "plugins/foo/foo.1.0.zip",
        "plugins/foo/icon-89abcdef.png",
        "plugins/foo/xml-3.34.xml",
    ] {
        assert!(puts.contains(&key.to_owned()), "{key} put: {puts:?}");
    }
    assert!(!puts.iter().any(|k| k.contains(".manifest")), "private files stay private");
    assert_eq!(puts.last().map(|k| key_phase(k)), Some(Phase::SiteDocuments));

    let again = sync(&fx, 1001).unwrap();
    assert!(!again.synced);
    assert_eq!(again.objects_put, 0);
    assert!(fx.store.take_log().is_empty(), "nothing put or deleted");
}

/// The phase of a stored key, read back the way `Phase::of` reads a file.
fn key_phase(key: &str) -> Phase {
    let plain = key.strip_suffix(".gz").unwrap_or(key);
    if plain.starts_with("plugins/xml/") {
        Phase::SiteDocuments
    } else if plain.contains("/xml-") {
        Phase::PackageDocuments
    } else if plain.starts_with("static/") || plain.ends_with(".zip") || plain.contains("/icon-") {
        Phase::Assets
    } else {
        Phase::Pages
    }
}

#[test]
fn an_approval_puts_only_the_plugins_objects_and_the_documents() {
    let fx = fixture();
    publish_locally(&site("1.0", None), &fx.site_dir);
    sync(&fx, 1000).unwrap();
    fx.store.take_log();
    publish_locally(&site("1.1", None), &fx.site_dir);
    let report = sync(&fx, 1010).unwrap();
    let mut puts = fx.store.puts();
    puts.sort();
    assert_eq!(
        puts,
        [
            "plugins/foo/foo.1.1.zip",
            "plugins/foo/index.html",
            "plugins/foo/version/1.1/index.html",
            "plugins/foo/xml-3.34.xml",
            "plugins/xml/3.34.xml",
            "plugins/xml/3.34.xml.gz",
        ]
    );
    assert_eq!(report.objects_put, 6);
    assert_eq!(report.objects_deleted, 0, "1.0's objects are orphans, kept for the grace");
    assert!(stored(&fx, "plugins/foo/foo.1.0.zip").is_some());
}

#[test]
fn a_failed_phase_leaves_the_state_and_the_next_sync_completes() {
    let fx = fixture();
    publish_locally(&site("1.0", None), &fx.site_dir);
    sync(&fx, 1000).unwrap();
    let before = state::load(&fx.target.state_path).unwrap();
    publish_locally(&site("1.1", None), &fx.site_dir);
    fx.store.take_log();
    fx.store.fail_puts_under(Some("plugins/xml/"));
    let err = format!("{:#}", sync(&fx, 1010).unwrap_err());
    assert!(err.contains("plugins/xml/3.34.xml"), "names the key: {err}");
    assert!(err.contains("http://s3.test/bucket"), "names the target: {err}");
    assert_eq!(state::load(&fx.target.state_path).unwrap(), before, "state not advanced");
    assert_eq!(
        stored(&fx, "plugins/xml/3.34.xml").unwrap().0,
        b"<plugins><pyqgis_plugin name=\"foo\" version=\"1.0\"/></plugins>",
        "readers still get the previous document"
    );

    fx.store.fail_puts_under(None);
    let report = sync(&fx, 1020).unwrap();
    assert!(report.synced);
    let puts = fx.store.puts();
    assert!(puts.contains(&"plugins/xml/3.34.xml".to_owned()), "{puts:?}");
    assert!(puts.contains(&"plugins/foo/foo.1.1.zip".to_owned()), "redone from phase 1");
    let after = state::load(&fx.target.state_path).unwrap();
    assert_eq!(after.release, "r-000002");
    assert!(sync(&fx, 1030).unwrap().objects_put == 0);
}

#[test]
fn a_sync_after_a_crashed_one_completes_without_a_new_local_release() {
    // The local release is live, the bucket has not got it (the writer died mid-sync):
    // the next sync (from a build that renders nothing) publishes it.
    let fx = fixture();
    publish_locally(&site("1.0", None), &fx.site_dir);
    fx.store.fail_puts_under(Some("plugins/"));
    assert!(sync(&fx, 1000).is_err());
    fx.store.fail_puts_under(None);
    let report = sync(&fx, 1001).unwrap();
    assert!(report.synced);
    assert!(stored(&fx, "plugins/xml/3.34.xml").is_some());
}

#[test]
fn orphans_are_deleted_only_after_the_grace_and_a_key_used_again_is_kept() {
    let fx = fixture();
    publish_locally(&site("1.0", Some("plugins/extra/index.html")), &fx.site_dir);
    sync(&fx, 1000).unwrap();
    publish_locally(&site("1.1", None), &fx.site_dir);
    sync(&fx, 1010).unwrap();
    let orphans = state::load(&fx.target.state_path).unwrap().orphans;
    assert_eq!(orphans.get("plugins/foo/foo.1.0.zip"), Some(&1010));
    assert_eq!(orphans.get("plugins/extra/index.html"), Some(&1010));
    // The extra page comes back: no longer an orphan.
    publish_locally(&site("1.1", Some("plugins/extra/index.html")), &fx.site_dir);
    fx.store.take_log();
    let r = sync(&fx, 1050).unwrap();
    assert_eq!(r.objects_deleted, 0, "within the grace");
    let orphans = state::load(&fx.target.state_path).unwrap().orphans;
    assert!(!orphans.contains_key("plugins/extra/index.html"));
    assert_eq!(orphans.get("plugins/foo/foo.1.0.zip"), Some(&1010), "first stamp kept");
    // Past the grace: deleted by the next sync, even with no new release.
    let r = sync(&fx, 1110).unwrap();
    assert!(r.objects_deleted >= 2, "{r:?}");
    let deleted: Vec<String> =
        fx.store.take_log().into_iter().filter(|(op, _)| *op == "delete").map(|(_, k)| k).collect();
    assert!(deleted.contains(&"plugins/foo/foo.1.0.zip".to_owned()), "{deleted:?}");
    assert!(!deleted.contains(&"plugins/extra/index.html".to_owned()));
    assert!(stored(&fx, "plugins/foo/foo.1.0.zip").is_none());
    assert!(stored(&fx, "plugins/extra/index.html").is_some());
    assert!(state::load(&fx.target.state_path).unwrap().orphans.is_empty());
}

#[test]
fn objects_carry_their_type_cache_policy_and_encoding() {
    let fx = fixture();
    publish_locally(&site("1.0", None), &fx.site_dir);
    sync(&fx, 1000).unwrap();
    let attr = |key: &str, a: Attribute| {
        stored(&fx, key).unwrap().1.get(&a).map(|v| v.as_ref().to_owned())
    };
    let gz = "plugins/xml/3.34.xml.gz";
    assert_eq!(attr(gz, Attribute::ContentEncoding).as_deref(), Some("gzip"));
    assert_eq!(attr(gz, Attribute::ContentType).as_deref(), Some("application/xml; charset=utf-8"));
    assert_eq!(attr(gz, Attribute::CacheControl).as_deref(), Some(NO_CACHE));
    let mut plain = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&stored(&fx, gz).unwrap().0[..]),
        &mut plain,
    )
    .unwrap();
    assert_eq!(plain.as_bytes(), stored(&fx, "plugins/xml/3.34.xml").unwrap().0);
    assert_eq!(attr("plugins/xml/3.34.xml", Attribute::ContentEncoding), None);
    let zip = "plugins/foo/foo.1.0.zip";
    assert_eq!(attr(zip, Attribute::ContentType).as_deref(), Some("application/zip"));
    assert_eq!(attr(zip, Attribute::CacheControl).as_deref(), Some(IMMUTABLE));
    let css = "static/style-0123abcd.css.gz";
    assert_eq!(attr(css, Attribute::CacheControl).as_deref(), Some(IMMUTABLE));
    assert_eq!(attr(css, Attribute::ContentType).as_deref(), Some("text/css; charset=utf-8"));
    assert_eq!(
        attr("plugins/foo/version/1.0/index.html", Attribute::ContentType).as_deref(),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn metadata_follows_the_contract_tables() {
    use objects::{cache_control, content_type};
    assert_eq!(content_type("plugins/foo/version/1.0/json"), "application/json; charset=utf-8");
    assert_eq!(content_type("plugins/stats/json"), "application/json; charset=utf-8");
    assert_eq!(content_type("static/x.svg"), "image/svg+xml; charset=utf-8");
    assert_eq!(content_type("static/x.woff2"), "font/woff2");
    assert_eq!(content_type("static/LICENSE"), "application/octet-stream");
    assert_eq!(cache_control("plugins/foo/icon-0123abcd.png"), IMMUTABLE);
    assert_eq!(cache_control("static/app-0123abcdef.js"), IMMUTABLE);
    assert_eq!(cache_control("static/app-0123abc.js"), NO_CACHE, "too short for a hash");
    assert_eq!(cache_control("static/style/plugins.xsl"), NO_CACHE);
    assert_eq!(cache_control("plugins/foo/index.html"), NO_CACHE);
    assert_eq!(Phase::of("plugins/foo/xml-stable_only-newest.xml.gz"), Phase::PackageDocuments);
    assert_eq!(Phase::of("plugins/xml/none/3.34.xml"), Phase::SiteDocuments);
    assert_eq!(Phase::of("plugins/foo/foo.1.0.zip"), Phase::Assets);
    assert_eq!(Phase::of("404.html"), Phase::Pages);
    assert_eq!(Phase::of("plugins/foo/feed.xml"), Phase::Pages);
}

#[test]
fn credentials_come_from_a_private_file_or_the_environment() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("creds");
    std::fs::write(&file, "# garage key\naccess_key_id = GK123\nsecret_access_key = s3cr3t # x\n")
        .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = format!("{:#}", config::read_credentials_file(&file).unwrap_err());
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = config::read_credentials_file(&file).unwrap();
    assert_eq!((c.access_key_id.as_str(), c.secret.as_str()), ("GK123", "s3cr3t"));
    assert!(!format!("{c:?}").contains("s3cr3t"), "Debug hides the secret");
    assert!(config::parse_credentials("access_key_id = GK1\n").is_err());
    assert!(config::parse_credentials("region = x\n").is_err());

    let env = CredentialSource::Env;
    assert!(env.load(Some("GK1".into()), None).is_err());
    let c = env.load(Some("GK1".into()), Some("s".into())).unwrap();
    let cfg = S3Config::new("http://127.0.0.1:3900/", "site", "garage", env, c, 60).unwrap();
    assert_eq!(cfg.endpoint, "http://127.0.0.1:3900");
    let args: Vec<String> =
        cfg.child_args().iter().map(|a| a.to_string_lossy().into_owned()).collect();
    assert!(!args.iter().any(|a| a == "s"), "no secret on a command line");
    assert_eq!(cfg.child_env().len(), 2);
    let from_file = S3Config::new(
        "http://h:1",
        "b",
        "garage",
        CredentialSource::File(file.clone()),
        c_of(&file),
        60,
    )
    .unwrap();
    assert!(from_file.child_env().is_empty());
    assert!(from_file.child_args().contains(&file.clone().into_os_string()));
    assert!(S3Config::new("ftp://x", "b", "r", CredentialSource::Env, c_of(&file), 1).is_err());
}

fn c_of(file: &Path) -> Credentials {
    config::read_credentials_file(file).unwrap()
}

#[test]
fn the_walk_down_a_decade_names_the_next_lower_minor() {
    use super::objects::lower_minor_key;
    let cases = [
        ("plugins/xml/3.34.xml", Some("plugins/xml/3.33.xml")),
        ("plugins/xml/3.34.xml.gz", Some("plugins/xml/3.33.xml.gz")),
        ("plugins/xml/stable_only/3.31.xml", Some("plugins/xml/stable_only/3.30.xml")),
        ("plugins/xml/3.4.xml", Some("plugins/xml/3.3.xml")),
        // A decade's first minor has nothing below it in the walk.
        ("plugins/xml/3.30.xml", None),
        ("plugins/xml/3.0.xml", None),
        ("plugins/xml/3.10.xml", None),
        // Labels, majors, the empty documents and package documents are never skipped.
        ("plugins/xml/ltr.xml", None),
        ("plugins/xml/major-3.xml", None),
        ("plugins/xml/none/3.34.xml", None),
        ("plugins/foo/xml-3.34.xml", None),
    ];
    for (key, lower) in cases {
        assert_eq!(lower_minor_key(key).as_deref(), lower, "{key}");
    }
}
