//! Every version string the validator accepts is installable (decisions §9): generated
//! versions (`~`, `+`, `-`, other punctuation, non-ASCII, mixed case, up to the key limit)
//! are published in one site and fetched through nginx as plugins.xml lists them; QGIS's own
//! installer loads that site and installs a `~` version; the upload service accepts,
//! approves and serves `1.2.0~rc1` and refuses what QGIS cannot take with a clear message.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use catalog::names::{PackageName, PluginVersion, QgisVersion};
use generator::urls;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use crate::support::deploy::{Deployment, json_of, plugin_zip};
use crate::support::{self, FakeUploader, Nginx, Site, http, xml};

/// The generated catalog's plugins; versions are dealt round-robin.
const PLUGINS: [&str; 3] = ["vers_a", "vers_b", "vers_c"];
/// The plugin QGIS installs: its newest (stable) version has a `~`.
const TILDE_PLUGIN: &str = "tilde_probe";
const TILDE_VERSION: &str = "1.2.0~rc1";
/// Generated versions in the site (one build for all of them).
const GENERATED: usize = 60;

/// One version's part: a letter or digit, then what a version may hold.
fn part() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "[A-Za-z0-9éÅß][A-Za-z0-9~+_!$&'()+,;=@^`{}\\[\\]éüßÅ中-]{0,9}|[0-9]{1,3}|[a-zA-Z]{1,20}",
    )
    .expect("part regex")
}

/// Candidate versions: 1 to 4 parts joined with dots, some with a suffix `~rc1` or `+b7`.
fn candidate() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(part(), 1..=4),
        prop_oneof![Just(""), Just("~rc1"), Just("+b7"), Just("-Beta")],
    )
        .prop_map(|(parts, suffix)| format!("{}{suffix}", parts.join(".")))
}

/// `s` exactly as the validator keeps it (so that its text is what gets published).
fn accepted(s: &str) -> Option<PluginVersion> {
    PluginVersion::parse(s).ok().filter(|v| v.as_str() == s)
}

/// The longest accepted prefix of `s`: a version at the key limit.
fn longest(s: &str) -> String {
    let mut best = String::new();
    for (i, c) in s.char_indices() {
        let prefix = &s[..i + c.len_utf8()];
        if accepted(prefix).is_some() {
            best = prefix.to_owned();
        }
    }
    best
}

/// Fixed cases (the issue's, mixed case pairs, the key limit) then generated ones, one per
/// padded key (the catalog's uniqueness).
fn versions() -> Vec<String> {
    let fixed = [
        TILDE_VERSION.to_owned(),
        "1.0+build.7".into(),
        "2.0.0-Beta".into(),
        "3.0rc".into(),
        "3.0RC".into(),
        "v4.0-été".into(),
        "5.0;x=(y)&z@[w]".into(),
        longest("Zz9~+-_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        longest("1.éé~ü+ß-ÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅÅ.2.3"),
    ];
    let mut runner = TestRunner::default();
    let strategy = candidate();
    let mut keys = HashSet::new();
    let mut out = Vec::new();
    let mut tries = 0;
    for s in fixed.into_iter().chain(std::iter::from_fn(|| {
        tries += 1;
        (tries < 100_000).then(|| strategy.new_tree(&mut runner).expect("a candidate").current())
    })) {
        if out.len() == GENERATED {
            break;
        }
        if let Some(v) = accepted(&s)
            && keys.insert(v.key().to_owned())
        {
            out.push(s);
        }
    }
    assert_eq!(out.len(), GENERATED, "too few accepted versions generated: {out:?}");
    let key_limited = out.iter().filter(|v| PluginVersion::parse(v).unwrap().key().len() >= 30);
    assert!(key_limited.count() >= 2, "no version near the key limit: {out:?}");
    out
}

/// The generated site served by nginx, with every version's stored zip.
struct VersionSite {
    site: Site,
    nginx: Nginx,
    _uploader: FakeUploader,
    /// (package, version) → the stored zip's bytes.
    zips: BTreeMap<(String, String), Vec<u8>>,
}

fn version_site() -> &'static VersionSite {
    static SITE: OnceLock<Result<VersionSite, String>> = OnceLock::new();
    SITE.get_or_init(|| build_site().map_err(|e| format!("{e:#}")))
        .as_ref()
        .unwrap_or_else(|e| panic!("building the versions site failed: {e}"))
}

fn build_site() -> anyhow::Result<VersionSite> {
    let port = support::free_port();
    let base_url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::Builder::new().prefix("plugins-versions-").tempdir()?;
    let data = dir.path().join("data");
    let mut zips = BTreeMap::new();
    let mut list: Vec<(&str, String)> =
        versions().into_iter().enumerate().map(|(i, v)| (PLUGINS[i % PLUGINS.len()], v)).collect();
    list.extend([(TILDE_PLUGIN, "1.1".to_owned()), (TILDE_PLUGIN, TILDE_VERSION.to_owned())]);
    seed(&data, &list, &mut zips)?;
    let site = Site::from_data(dir, data, &base_url)?;
    let uploader = FakeUploader::start()?;
    let nginx = Nginx::start_on(&site.root(), uploader.addr, port)?;
    Ok(VersionSite { site, nginx, _uploader: uploader, zips })
}

/// A catalog of `list`'s (package, version) pairs, approved, each with its own zip
/// (`plugin_zip`, whose metadata.txt names the version); odd ones experimental except the
/// QGIS plugin's.
fn seed(
    data: &std::path::Path,
    list: &[(&str, String)],
    zips: &mut BTreeMap<(String, String), Vec<u8>>,
) -> anyhow::Result<()> {
    let conn = catalog::open(data)?;
    let user = catalog::accounts::create_user(
        &conn,
        &catalog::accounts::NewUser { username: "vera".into(), ..Default::default() },
        catalog::time::now(),
    )?;
    let mut ids = BTreeMap::new();
    for (i, (pkg, ver)) in list.iter().enumerate() {
        let plugin_id = match ids.get(pkg) {
            Some(id) => *id,
            None => {
                let fields = catalog::plugins::PluginFields {
                    name: format!("Versions {pkg}"),
                    author: "Vera".into(),
                    description: "Published versions of every accepted form".into(),
                    about: "An end-to-end fixture.".into(),
                    ..Default::default()
                };
                let id = catalog::plugins::create_plugin(
                    &conn,
                    &PackageName::parse(pkg)?,
                    user,
                    &fields,
                    catalog::time::now(),
                )?;
                ids.insert(*pkg, id);
                id
            }
        };
        let zip = plugin_zip(pkg, ver);
        let rel = format!("packages/{pkg}/{i}.zip");
        std::fs::create_dir_all(data.join("packages").join(pkg))?;
        std::fs::write(data.join(&rel), &zip)?;
        let v = catalog::versions::NewVersion {
            version: PluginVersion::parse(ver)?,
            created_by: user,
            min_qgis: QgisVersion::new(3, 0),
            max_qgis: QgisVersion::new(3, 99),
            changelog: format!("Version {ver}."),
            experimental: *pkg != TILDE_PLUGIN && i % 2 == 1,
            approved: true,
            external_deps: String::new(),
            token_id: None,
            package_path: rel,
            package_sha256: catalog::hash::sha256_hex(&zip),
            package_size: zip.len() as i64,
            icon: None,
        };
        catalog::versions::insert_version(&conn, plugin_id, &v, catalog::time::now())?;
        zips.insert((pkg.to_string(), ver.clone()), zip);
    }
    Ok(())
}

/// How the site escapes text in HTML.
use generator::templates::escape_html as html_escape;

/// Every byte `%XX`: what a client that escapes everything sends.
fn encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The Content-Disposition nginx sends: the reference's bare form for token characters.
fn disposition(pkg: &str, ver: &str) -> String {
    let token = ver.bytes().all(|b| b.is_ascii_alphanumeric() || b"!$&'+.^_`~-".contains(&b));
    if token {
        format!("attachment; filename={pkg}-{ver}.zip")
    } else {
        format!("attachment; filename=\"{pkg}-{ver}.zip\"")
    }
}

/// download_url of every entry of `pkg`'s plugins.xml, by version.
fn listed_downloads(s: &VersionSite, pkg: &str) -> BTreeMap<String, xml::Entry> {
    let path = format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}");
    let r = http::get(s.nginx.port, &path, &[]).expect("plugins.xml");
    assert_eq!(r.status, 200, "{path}");
    xml::parse(&r.body)
        .expect("plugins.xml parses")
        .into_iter()
        .map(|e| (e.version.clone(), e))
        .collect()
}

#[test]
fn every_accepted_version_has_its_page_json_and_download_through_nginx() {
    let s = version_site();
    let port = s.nginx.port;
    let get = |path: &str| http::get(port, path, &[]).unwrap_or_else(|e| panic!("{path}: {e:#}"));
    for pkg in PLUGINS.iter().chain([&TILDE_PLUGIN]) {
        let listed = listed_downloads(s, pkg);
        let ours: Vec<_> = s.zips.keys().filter(|(p, _)| p == pkg).collect();
        assert_eq!(listed.len(), ours.len(), "{pkg}: plugins.xml lists {:?}", listed.keys());
        for (_, ver) in ours {
            let what = format!("{pkg} version {ver:?}");
            let entry = listed.get(ver).unwrap_or_else(|| panic!("{what} not in plugins.xml"));
            // (The support parser keeps entity references as they are.)
            let file_name = entry.file_name.replace("&amp;", "&").replace("&#x27;", "'");
            assert_eq!(file_name, urls::zip_file_name(pkg, ver), "{what}");
            // The download, exactly as plugins.xml lists it.
            let dl = entry
                .download_url
                .strip_prefix(&s.site.base_url)
                .unwrap_or_else(|| panic!("{what}: download_url {}", entry.download_url));
            assert_eq!(dl, urls::version_download(pkg, ver), "{what}");
            let r = get(dl);
            assert_eq!(r.status, 200, "{what}: GET {dl}");
            assert_eq!(r.mime(), "application/zip", "{what}");
            assert!(
                r.body == s.zips[&(pkg.to_string(), ver.clone())],
                "{what}: not the stored zip"
            );
            assert_eq!(
                r.header("content-disposition"),
                Some(disposition(pkg, ver).as_str()),
                "{what}"
            );
            // However the client escapes the segment, nginx decodes it to the same file.
            let all = format!("/plugins/{pkg}/version/{}/download/", encode_all(ver));
            assert!(get(&all).body == r.body, "{what}: GET {all}");
            // The page and the JSON.
            let page = get(&urls::version_page(pkg, ver));
            assert_eq!((page.status, page.mime()), (200, "text/html"), "{what}: page");
            assert!(page.text().contains(&html_escape(ver)), "{what}: page without its version");
            assert!(
                page.text().contains(&html_escape(dl)),
                "{what}: page without its download link"
            );
            let json = get(&urls::version_json(pkg, ver));
            assert_eq!((json.status, json.mime()), (200, "application/json"), "{what}: json");
            let json = json_of(&json);
            assert_eq!(json["version"], ver.as_str(), "{what}: json");
            assert_eq!(json["download_url"], entry.download_url.as_str(), "{what}: json");
        }
    }
    // downloads.log names each version by its text (what the counter looks up).
    let log = s.nginx.downloads_log();
    for (pkg, ver) in s.zips.keys() {
        assert!(
            log.lines()
                .any(|l| l.split(' ').nth(1) == Some(pkg) && l.split(' ').nth(2) == Some(ver)),
            "downloads.log has no line for {pkg} {ver}:\n{log}"
        );
    }
}

#[test]
fn published_version_files_map_to_the_urls_that_serve_them() {
    let s = version_site();
    let files = s.site.public_files();
    let versioned: Vec<_> = files
        .iter()
        .filter(|(rel, _)| rel.contains("/version-") || rel.ends_with(".zip"))
        .collect();
    assert!(versioned.len() >= 3 * s.zips.len(), "{} version files", versioned.len());
    for (rel, url) in versioned {
        let r = http::get(s.nginx.port, url, &[]).expect("GET");
        assert_eq!(r.status, 200, "{rel} at {url}");
        assert!(r.body == s.site.file(rel), "{url} does not answer {rel}");
    }
}

/// Paths that try to leave a plugin's tree through the version segment: nginx resolves dot
/// segments (also percent-encoded ones) as every client does, so they answer what the
/// resolved path answers and never a version file; a version capture holds no `/`, so
/// `%2F` never crosses into another directory.
#[test]
fn a_version_segment_never_escapes_the_plugins_tree() {
    let s = version_site();
    let pkg = PLUGINS[0];
    let get = |path: &str| http::get(s.nginx.port, path, &[]).expect("GET");
    for tail in ["", "json", "download/"] {
        for (seg, resolved) in [
            ("..", format!("/plugins/{pkg}/{tail}")),
            ("%2E%2E", format!("/plugins/{pkg}/{tail}")),
            (".%2e", format!("/plugins/{pkg}/{tail}")),
            (".", format!("/plugins/{pkg}/version/{tail}")),
        ] {
            let path = format!("/plugins/{pkg}/version/{seg}/{tail}");
            let (r, want) = (get(&path), get(&resolved));
            assert_eq!((r.status, &r.body), (want.status, &want.body), "GET {path} vs {resolved}");
        }
        for seg in [
            "..%2F..%2Fxml%2Fnewest.xml",
            "..%2F..%2Fvers_b%2Fvers_b.1.0",
            "1.0%2F..%2F..%2Fvers_b",
            "%00",
            "1%0A2",
            ".hidden",
            "-1",
            "1.0%3F",
        ] {
            let path = format!("/plugins/{pkg}/version/{seg}/{tail}");
            let r = get(&path);
            assert!(
                matches!(r.status, 400 | 404),
                "GET {path} answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
            );
        }
    }
}

#[test]
fn qgis_installer_loads_every_accepted_version_and_installs_a_tilde_version() {
    let s = version_site();
    let repo = format!("{}/plugins/plugins.xml", s.nginx.base_url());
    let (probe, profile) =
        crate::support::probe::run_probe_at(&repo, Some("3.34.0"), Some((TILDE_PLUGIN, false)));
    assert_eq!(probe["repository"]["state"], 2, "repository not loaded: {probe:#}");
    // QGIS compared every plugin's stable and experimental versions without failing.
    for pkg in PLUGINS {
        assert!(probe["plugins"][pkg].is_object(), "{pkg} not offered: {probe:#}");
    }
    let offer = &probe["plugins"][TILDE_PLUGIN];
    assert_eq!(offer["stable"], TILDE_VERSION, "{probe:#}");
    // QGIS keeps an installed plugin's version in its normalizeVersion() form (upper case).
    let shown = catalog::names::qgis_normalized_version(TILDE_VERSION);
    assert_eq!(
        offer["download_url_stable"],
        format!("{}{}", s.site.base_url, urls::version_download(TILDE_PLUGIN, TILDE_VERSION))
    );
    let inst = &probe["install"];
    assert_eq!(inst["dialog_result"], "", "install failed: {inst:#}");
    let folder = std::path::PathBuf::from(inst["folder"].as_str().expect("folder"));
    assert!(folder.starts_with(profile.path()) && folder.is_dir(), "{inst:#}");
    assert_eq!(crate::qgis::metadata_version(&folder), TILDE_VERSION);
    assert_eq!(inst["error"], "", "QGIS marks it broken: {inst:#}");
    assert_eq!(inst["version_installed"], shown.as_str());
    assert_eq!(inst["status"], "installed", "{inst:#}");
    let served =
        format!("GET {} HTTP/1.1\" 200 ", urls::version_download(TILDE_PLUGIN, TILDE_VERSION));
    assert!(s.nginx.access_log().contains(&served), "nginx served no {TILDE_VERSION} zip");
}

/// The scenario through the real upload service: `1.2.0~rc1` is accepted,
/// approved, listed and downloadable; versions QGIS cannot take are refused with the fix.
#[test]
fn the_service_accepts_approves_and_serves_a_tilde_version_and_refuses_unusable_ones() {
    let d = Deployment::start();
    d.user_add("vic", &[]);
    d.user_add("boss", &["--staff"]);
    let (vic, boss) = (d.user_token("vic"), d.user_token("boss"));
    let pkg = "tilde_upload";
    let zip = plugin_zip(pkg, TILDE_VERSION);
    let r = d.upload("/plugins/add/", &vic, &zip, "tilde_upload.zip").expect("upload");
    assert!(matches!(r.status, 200 | 201), "upload: {} {}", r.status, r.text());
    let (status, body) = d.set_approved(pkg, TILDE_VERSION, &boss, true);
    assert_eq!(status, 200, "approve: {body}");
    let xml = d.req("GET", &format!("/plugins/plugins.xml?qgis=3.34&package_name={pkg}"), &[], b"");
    let entries = xml::parse(&xml.body).expect("plugins.xml");
    let entry = entries.iter().find(|e| e.version == TILDE_VERSION).expect("listed");
    let dl = entry.download_url.strip_prefix(&d.site.base_url).expect("same origin").to_owned();
    let r = d.req("GET", &dl, &[], b"");
    assert_eq!(r.status, 200, "GET {dl}");
    assert!(r.body == zip, "the download is not the uploaded zip");
    for path in [urls::version_page(pkg, TILDE_VERSION), urls::version_json(pkg, TILDE_VERSION)] {
        assert_eq!(d.req("GET", &path, &[], b"").status, 200, "GET {path}");
    }
    for (bad, says) in [
        (".5", "must start with a letter or digit"),
        ("1.0:2", "on Windows"),
        ("v", "has no number"),
        ("1.\u{b2}", "digits 0-9"),
    ] {
        let r = d.upload("/plugins/add/", &vic, &plugin_zip(pkg, bad), "x.zip").expect("upload");
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.text().contains(says), "{bad}: {}", r.text());
    }
}
