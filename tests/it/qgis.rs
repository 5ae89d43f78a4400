//! QGIS's own plugin installer against the nginx-served demo site: Debian's python3-qgis
//! (QGIS 3.22) drives `pyplugin_installer` headless through `tests/qgis/installer_probe.py`
//! (qgis-clients.md §2), pretending to be other QGIS versions where asked. What it offers
//! must be what the catalog says for that version; one plugin is installed for real.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use catalog::model::Catalog;
use catalog::names::QgisVersion;
use serde_json::Value;

use crate::support::served;

use crate::support::probe::{PYTHON, require_qgis, run_probe_at};

/// What QGIS shows for one plugin: stable and experimental versions ("" for none).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    stable: String,
    experimental: String,
    deprecated: bool,
}

/// The version of the installed QGIS, e.g. `3.22.16-Białowieża`.
fn real_qgis_version() -> String {
    require_qgis();
    let out = Command::new(PYTHON)
        .args(["-c", "from qgis.core import Qgis; print(Qgis.QGIS_VERSION)"])
        .output()
        .expect("asking QGIS its version");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The probe's JSON, and the throw-away profile it used.
fn run_probe(pretend: Option<&str>, install: Option<(&str, bool)>) -> (Value, tempfile::TempDir) {
    run_probe_at(&format!("{}/plugins/plugins.xml", served().nginx.base_url()), pretend, install)
}

/// Parses `X.Y.Z` (anything after a `-` ignored), e.g. QGIS's `3.22.16-Białowieża`.
fn triple(v: &str) -> (u16, u16, u16) {
    let core = v.split('-').next().unwrap_or(v);
    let n: Vec<u16> = core.split('.').map(|p| p.parse().expect("numeric version")).collect();
    (n[0], n[1], n.get(2).copied().unwrap_or(0))
}

/// What QGIS `x.y.z` must offer, from the catalog: the server lists a version when its
/// range covers `x.y` (two-part semantics, reference.md §4.3); QGIS re-checks min/max
/// against its full `x.y.z`; for each plugin it keeps the newest stable and the newest
/// experimental entry and drops the experimental one when the stable one is newer
/// (qgis-clients.md §1.3).
fn expected_offers(catalog: &Catalog, (x, y, z): (u16, u16, u16)) -> BTreeMap<String, Offer> {
    let server = QgisVersion::new(x, y);
    let client = QgisVersion { major: x, minor: y, patch: Some(z) };
    let mut out = BTreeMap::new();
    for p in &catalog.plugins {
        let listed = |experimental: bool| {
            p.versions.iter().find(|v| {
                v.experimental == experimental
                    && server.is_within(v.min_qgis, v.max_qgis)
                    && client.is_within(v.min_qgis, v.max_qgis)
            })
        };
        let (stable, experimental) = (listed(false), listed(true));
        if stable.is_none() && experimental.is_none() {
            continue;
        }
        let experimental = match (stable, experimental) {
            (Some(s), Some(e)) if s.version > e.version => None,
            (_, e) => e,
        };
        let text = |v: Option<&catalog::model::Version>| {
            v.map(|v| v.version.to_string()).unwrap_or_default()
        };
        out.insert(
            p.package.to_string(),
            Offer {
                stable: text(stable),
                experimental: text(experimental),
                deprecated: p.deprecated,
            },
        );
    }
    out
}

fn offered(probe: &Value) -> BTreeMap<String, Offer> {
    probe["plugins"]
        .as_object()
        .expect("plugins in the probe output")
        .iter()
        .map(|(id, p)| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (
                id.clone(),
                Offer {
                    stable: s("stable"),
                    experimental: s("experimental"),
                    deprecated: p["deprecated"].as_bool().unwrap_or(false),
                },
            )
        })
        .collect()
}

/// `version` from the `[general]` section of an installed plugin's metadata.txt.
pub(crate) fn metadata_version(folder: &Path) -> String {
    let text = std::fs::read_to_string(folder.join("metadata.txt")).expect("metadata.txt");
    let mut in_general = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_general = t == "[general]";
        } else if in_general
            && let Some((k, v)) = t.split_once(['=', ':'])
            && k.trim() == "version"
        {
            return v.trim().to_owned();
        }
    }
    panic!("no version in {}", folder.join("metadata.txt").display());
}

/// Runs QGIS as `pretend` (or as itself), checks every offer against the catalog, then
/// installs one plugin chosen from the expected offers, and checks the installed folder.
fn check_qgis(pretend: Option<&str>, install_experimental: bool) {
    let s = served();
    let catalog = s.site.catalog();
    // The plugin to install is picked from what the catalog says QGIS must offer.
    let version = match pretend {
        Some(v) => triple(v),
        None => triple(&real_qgis_version()),
    };
    let expected = expected_offers(&catalog, version);
    assert!(expected.len() >= 5, "the demo offers only {} plugins to {version:?}", expected.len());
    let pick =
        expected
            .iter()
            .find(|(_, o)| {
                if install_experimental { !o.experimental.is_empty() } else { !o.stable.is_empty() }
            })
            .map(|(id, o)| {
                (
                    id.clone(),
                    if install_experimental { o.experimental.clone() } else { o.stable.clone() },
                )
            })
            .expect("a plugin to install");

    let (probe, profile) = run_probe(pretend, Some((&pick.0, install_experimental)));
    let label = format!("QGIS {}.{}.{}", version.0, version.1, version.2);
    assert_eq!(probe["repository"]["state"], 2, "{label}: repository not loaded: {probe:#}");
    assert_eq!(probe["enabled_repositories"], serde_json::json!(["Repository under test"]));
    assert_eq!(probe["qgis_version"], format!("{}.{}.{}", version.0, version.1, version.2));
    let sent = format!("?qgis={}.{}", version.0, version.1);
    assert_eq!(probe["url_params"], sent.as_str());

    // Offers: exactly the catalog's, plugin by plugin.
    let got = offered(&probe);
    let missing: Vec<_> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{label}: missing {missing:?}, unexpected {extra:?}"
    );
    for (id, want) in &expected {
        assert_eq!(&got[id], want, "{label}: offer of {id}");
        let p = &probe["plugins"][id];
        for (kind, v) in [("stable", &want.stable), ("experimental", &want.experimental)] {
            if !v.is_empty() {
                assert_eq!(
                    p[format!("download_url_{kind}")],
                    format!("{}/plugins/{id}/version/{v}/download/", s.site.base_url),
                    "{label}: {kind} download URL of {id}"
                );
            }
        }
    }
    // nginx saw QGIS's own request for this version.
    let log = s.nginx.access_log();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("\"GET /plugins/plugins.xml{sent} HTTP/1.1\" 200 "))
                && l.contains("QGIS/")),
        "{label}: no QGIS request for plugins.xml{sent} in the access log"
    );

    // The install, checked as QGIS's installPlugin would.
    let (id, version_offered) = pick;
    let inst = &probe["install"];
    assert_eq!(inst["dialog_result"], "", "{label}: install of {id} failed: {inst:#}");
    assert_eq!(inst["offered_version"], version_offered.as_str());
    let folder = PathBuf::from(inst["folder"].as_str().expect("folder"));
    assert!(
        folder.starts_with(profile.path()),
        "installed outside the profile: {}",
        folder.display()
    );
    assert!(folder.is_dir(), "{label}: {} not installed", folder.display());
    assert_eq!(folder.file_name().and_then(|n| n.to_str()), Some(id.as_str()));
    assert!(folder.join("__init__.py").is_file());
    assert_eq!(metadata_version(&folder), version_offered, "{label}: metadata.txt version of {id}");
    assert_eq!(inst["error"], "", "{label}: QGIS marks {id} broken/incompatible: {inst:#}");
    assert_eq!(inst["version_installed"], version_offered.as_str());
    assert_eq!(inst["status"], "installed", "{label}: {inst:#}");
    assert_eq!(
        inst["class_factory"], true,
        "{label}: {id} has no importable classFactory: {inst:#}"
    );
    assert!(
        log_has_download(&id, &version_offered),
        "{label}: nginx served no zip of {id} {version_offered}"
    );
}

fn log_has_download(id: &str, version: &str) -> bool {
    served().nginx.access_log().lines().any(|l| {
        l.contains(&format!("GET /plugins/{id}/version/{version}/download/ HTTP/1.1\" 200 "))
    })
}

#[test]
fn qgis_installer_as_3_34_offers_the_catalog_and_installs_a_stable_plugin() {
    check_qgis(Some("3.34.0"), false);
}

#[test]
fn qgis_installer_as_4_0_offers_the_catalog_and_installs_an_experimental_plugin() {
    check_qgis(Some("4.0.0"), true);
}

#[test]
fn qgis_installer_as_itself_offers_the_catalog_and_installs() {
    check_qgis(None, false);
}
