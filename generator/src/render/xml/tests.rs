//! plugins.xml tests: selection (reference §4.2–4.3, §6.5), byte format (§4.4) and escaping
//! (§4.5), on catalogs built in memory.

use chrono::TimeZone;
use quick_xml::Reader;
use quick_xml::events::Event;

use super::*;
use catalog::ids::{PluginId, VersionId};
use catalog::model::{Plugin, Settings, Tag, Version};
use catalog::names::{PackageName, PluginVersion};

const BASE: &str = "http://repo.test:8080";

fn q(s: &str) -> QgisVersion {
    QgisVersion::parse(s).unwrap()
}

fn version(id: i64, v: &str, min: &str, max: Option<&str>, experimental: bool) -> Version {
    let min_v = q(min);
    Version {
        id: VersionId(id),
        version: PluginVersion::parse(v).unwrap(),
        created_on: Utc.with_ymd_and_hms(2024, 2, 20, 10, 27, 30).unwrap()
            + chrono::Duration::microseconds(123_456),
        uploaded_by: Some("uploader".into()),
        uploader_trusted: false,
        min_qgis: min_v,
        max_qgis: max.map(q).unwrap_or_else(|| QgisVersion::default_max(min_v)),
        changelog: String::new(),
        experimental,
        external_deps: String::new(),
        downloads: 0,
        package_path: format!("packages/x/{id}.zip"),
        package_sha256: String::new(),
        package_size: 0,
        checked: false,
        scan_qgis4_ready: None,
    }
}

fn plugin(id: i64, pkg: &str, mut versions: Vec<Version>) -> Plugin {
    versions.sort_by(|a, b| b.version.cmp(&a.version));
    Plugin {
        id: PluginId(id),
        package: PackageName::parse(pkg).unwrap(),
        name: format!("Plugin {pkg}"),
        created_on: Utc.with_ymd_and_hms(2023, 5, 1, 8, 0, 0).unwrap(),
        modified_on: Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap(),
        creator: "creator".into(),
        maintainer: "creator".into(),
        display_created_by: false,
        owners: vec![],
        author: "Author".into(),
        homepage: Some("https://example.org/home".into()),
        repository: Some("https://example.org/repo".into()),
        tracker: Some("https://example.org/issues".into()),
        description: "Description".into(),
        about: "About".into(),
        downloads: 42,
        featured: false,
        deprecated: false,
        server: false,
        is_deleted: false,
        deleted_on: None,
        rating_votes: 0,
        rating_score: 0,
        revision: 1,
        tags: vec![
            Tag { name: "a".into(), slug: "a".into() },
            Tag { name: "b c".into(), slug: "b-c".into() },
        ],
        versions,
        icon: None,
        daily_downloads: Vec::new(),
    }
}

fn catalog(plugins: Vec<Plugin>) -> Catalog {
    Catalog {
        settings: Settings { qgis_versions: vec![q("3.40"), q("4.0")], labels: vec![] },
        plugins,
    }
}

/// (plugin name, version, experimental) of every entry, in document order.
fn entries_of(doc: &str) -> Vec<(String, String, bool)> {
    let mut reader = Reader::from_str(doc);
    let mut out = Vec::new();
    let mut in_exp = false;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) if e.name().as_ref() == b"pyqgis_plugin" => {
                let attr = |n: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == n)
                        .map(|a| a.unescape_value().unwrap().into_owned())
                        .unwrap()
                };
                out.push((attr(b"name"), attr(b"version"), false));
            }
            Event::Start(e) if e.name().as_ref() == b"experimental" => in_exp = true,
            Event::Text(t) if in_exp => {
                out.last_mut().unwrap().2 = t.decode().unwrap() == "True";
                in_exp = false;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn names(doc: &str) -> Vec<String> {
    entries_of(doc).into_iter().map(|(n, v, _)| format!("{n} {v}")).collect()
}

#[test]
fn selection_by_qgis_version_follows_the_worked_examples() {
    // reference §6.5.1: A 3.0/none, B 3.16/3.16, C 3.22/4.99, D 4.0/4.99, E 1.8/2.999.
    let c = catalog(vec![
        plugin(1, "A_plugin", vec![version(1, "1.0", "3.0", None, false)]),
        plugin(2, "B_plugin", vec![version(2, "1.0", "3.16", Some("3.16"), false)]),
        plugin(3, "C_plugin", vec![version(3, "1.0", "3.22", Some("4.99"), false)]),
        plugin(4, "D_plugin", vec![version(4, "1.0", "4.0", Some("4.99"), false)]),
        plugin(5, "E_plugin", vec![version(5, "1.0", "1.8", Some("2.999"), false)]),
    ]);
    let e = Entries::new(&c, BASE);
    let render = |v: &str| names(&render_catalog(&c, &e, q(v), false));
    assert_eq!(render("3.16"), ["Plugin A_plugin 1.0", "Plugin B_plugin 1.0"]);
    assert_eq!(render("4.0"), ["Plugin C_plugin 1.0", "Plugin D_plugin 1.0"]);
    assert_eq!(render("3.16.2"), ["Plugin A_plugin 1.0"]);
    assert_eq!(render("3.40"), ["Plugin A_plugin 1.0", "Plugin C_plugin 1.0"]);
    assert_eq!(render("2.18"), ["Plugin E_plugin 1.0"]);
}

#[test]
fn newest_stable_then_newest_experimental_and_stable_only() {
    // reference §6.5.2 (the unapproved 3.0 never reaches the model, see db tests).
    let c = catalog(vec![plugin(
        1,
        "multi",
        vec![
            version(1, "1.2", "3.0", None, false),
            version(2, "1.10", "3.0", None, false),
            version(3, "2.0-beta", "3.0", None, true),
        ],
    )]);
    let e = Entries::new(&c, BASE);
    let all = entries_of(&render_catalog(&c, &e, q("3.34"), false));
    assert_eq!(
        all,
        [
            ("Plugin multi".into(), "1.10".into(), false),
            ("Plugin multi".into(), "2.0-beta".into(), true)
        ]
    );
    let stable = entries_of(&render_catalog(&c, &e, q("3.34"), true));
    assert_eq!(stable, [("Plugin multi".into(), "1.10".into(), false)]);
    // The package_name document lists every compatible version, stable ones first.
    let pkg = names(&render_package(&c.plugins[0], &e, q("3.34"), false));
    assert_eq!(pkg, ["Plugin multi 1.10", "Plugin multi 1.2", "Plugin multi 2.0-beta"]);
    let pkg_stable = names(&render_package(&c.plugins[0], &e, q("3.34"), true));
    assert_eq!(pkg_stable, ["Plugin multi 1.10", "Plugin multi 1.2"]);
}

#[test]
fn all_stable_entries_come_before_all_experimental_ones() {
    let c = catalog(vec![
        plugin(
            1,
            "one",
            vec![version(1, "1.0", "3.0", None, false), version(2, "2.0", "3.0", None, true)],
        ),
        plugin(
            2,
            "two",
            vec![version(3, "1.0", "3.0", None, false), version(4, "2.0", "3.0", None, true)],
        ),
        plugin(3, "three", vec![version(5, "0.1", "3.0", None, true)]),
    ]);
    let e = Entries::new(&c, BASE);
    let got = entries_of(&render_catalog(&c, &e, q("3.34"), false));
    let flags: Vec<bool> = got.iter().map(|(_, _, x)| *x).collect();
    assert_eq!(flags, [false, false, true, true, true]);
    let order: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(order, ["Plugin one", "Plugin two", "Plugin one", "Plugin two", "Plugin three"]);
}

#[test]
fn deprecated_and_deleted_plugins_stay_listed() {
    let mut dep = plugin(1, "dep", vec![version(1, "1.0", "3.0", None, false)]);
    dep.deprecated = true;
    let mut gone = plugin(2, "gone", vec![version(2, "1.0", "3.0", None, false)]);
    gone.is_deleted = true;
    let c = catalog(vec![dep, gone]);
    let e = Entries::new(&c, BASE);
    let doc = render_catalog(&c, &e, q("3.34"), false);
    assert_eq!(names(&doc), ["Plugin dep 1.0", "Plugin gone 1.0"]);
    assert!(doc.contains("<deprecated>True</deprecated>"));
    assert!(doc.contains("<deprecated>False</deprecated>"));
}

#[test]
fn byte_format_prefix_element_order_booleans_and_dates() {
    let c = catalog(vec![plugin(7, "fmt", vec![version(9, "0.1.0", "3.0", None, false)])]);
    let e = Entries::new(&c, BASE);
    let doc = render_catalog(&c, &e, q("3.34"), false);
    assert!(doc.starts_with(
        "<?xml version = '1.0' encoding = 'UTF-8'?>\n<?xml-stylesheet type=\"text/xsl\" href=\"/static/style/plugins.xsl\" ?>\n<plugins>\n    <pyqgis_plugin name=\"Plugin fmt\" version=\"0.1.0\" plugin_id=\"7\">\n"
    ));
    assert!(doc.ends_with("    </pyqgis_plugin>\n</plugins>\n"));
    let order = [
        "description",
        "about",
        "trusted",
        "qgis_minimum_version",
        "qgis_maximum_version",
        "homepage",
        "file_name",
        "icon",
        "author_name",
        "download_url",
        "uploaded_by",
        "create_date",
        "update_date",
        "experimental",
        "deprecated",
        "tracker",
        "repository",
        "tags",
        "downloads",
        "average_vote",
        "rating_votes",
        "external_dependencies",
        "server",
    ];
    let mut reader = Reader::from_str(&doc);
    let mut seen = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                seen.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(seen[0], "plugins");
    assert_eq!(seen[1], "pyqgis_plugin");
    assert_eq!(&seen[2..], order);
    for line in [
        "<trusted>False</trusted>",
        "<qgis_minimum_version>3.0.0</qgis_minimum_version>",
        "<qgis_maximum_version>3.99.0</qgis_maximum_version>",
        "<file_name>fmt.0.1.0.zip</file_name>",
        "<download_url>http://repo.test:8080/plugins/fmt/version/0.1.0/download/</download_url>",
        "<create_date>2023-05-01T08:00:00+00:00</create_date>",
        "<update_date>2024-02-20T10:27:30.123456+00:00</update_date>",
        "<experimental>False</experimental>",
        "<server>False</server>",
        "<tags><![CDATA[a,b c]]></tags>",
        "<downloads>42</downloads>",
        "<average_vote>0.0</average_vote>",
        "<icon></icon>",
    ] {
        assert!(doc.contains(line), "missing {line}");
    }
}

#[test]
fn escaping_inside_cdata_and_attributes() {
    let mut p = plugin(1, "esc", vec![version(1, "1.0", "3.0", None, false)]);
    p.name = "Roads & \"Rails\" <x>".into();
    p.description = "Roads & <Rails> it's ]]> done".into();
    p.homepage = Some("https://example.org/a/b?x=1&y=2".into());
    p.about = "bad\u{1}char\u{FFFE}".into();
    let c = catalog(vec![p]);
    let e = Entries::new(&c, BASE);
    let doc = render_catalog(&c, &e, q("3.34"), false);
    assert!(doc.contains(
        "<description><![CDATA[Roads &amp; &lt;Rails&gt; it&#x27;s ]]&gt; done]]></description>"
    ));
    assert!(doc.contains("name=\"Roads &amp; &quot;Rails&quot; &lt;x&gt;\""));
    assert!(doc.contains("<homepage><![CDATA[https://example.org/a/b?x=1&amp;y=2]]></homepage>"));
    assert!(doc.contains("<about><![CDATA[badchar]]></about>"), "XML-illegal characters dropped");
    assert_eq!(doc.matches("]]>").count(), doc.matches("<![CDATA[").count());
    assert_eq!(entries_of(&doc).len(), 1, "still well-formed");
}

#[test]
fn empty_fields_fall_back_as_the_reference_does() {
    let mut p = plugin(3, "fallback", vec![version(1, "1.0", "3.0", None, false)]);
    p.homepage = None;
    p.about = String::new();
    p.tracker = None;
    let c = catalog(vec![p]);
    let e = Entries::new(&c, BASE);
    let doc = render_catalog(&c, &e, q("3.34"), false);
    assert!(
        doc.contains("<homepage><![CDATA[http://repo.test:8080/plugins/fallback/]]></homepage>")
    );
    assert!(doc.contains("<about></about>"));
    assert!(doc.contains("<tracker><![CDATA[None]]></tracker>"));
    assert_eq!(render_empty(), format!("{XML_PREFIX}\n</plugins>\n"));
}

#[test]
fn every_minor_of_every_major_is_generated() {
    let got = expand_versions(&[q("1.8"), q("2.18"), q("2.99"), q("3.44"), q("4.0")]);
    let labels: Vec<String> = got.iter().map(|v| v.minor_label()).collect();
    assert_eq!(labels.first().map(String::as_str), Some("1.8"));
    assert!(labels.contains(&"2.0".to_owned()) && labels.contains(&"2.18".to_owned()));
    assert!(labels.contains(&"2.99".to_owned()) && !labels.contains(&"2.19".to_owned()));
    assert!((0..=44).all(|m| labels.contains(&format!("3.{m}"))));
    assert_eq!(labels.last().map(String::as_str), Some("4.0"));
    assert_eq!(labels.len(), 1 + 19 + 1 + 45 + 1);
    let req = crate::render::xml_requests(&got, &[("ltr".into(), q("3.40"))]);
    let find = |n: &str| req.iter().find(|(name, _)| name == n).map(|(_, v)| v.minor_label());
    assert_eq!(find("major-2").as_deref(), Some("2.18"), "2.99 is not a release");
    assert_eq!(find("major-3").as_deref(), Some("3.44"));
    assert_eq!(find("newest").as_deref(), Some("4.0"));
    assert_eq!(find("ltr").as_deref(), Some("3.40"));
}

/// XML 1.0 `Char` production: what `esc` keeps.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// The byte-run escaper agrees with the definition (escape the five markup characters, drop
/// what is not an XML 1.0 `Char`) on every kind of character.
#[test]
fn esc_matches_the_char_by_char_definition() {
    let reference = |s: &str| -> String {
        s.chars()
            .filter_map(|c| match c {
                '&' => Some("&amp;".to_owned()),
                '<' => Some("&lt;".to_owned()),
                '>' => Some("&gt;".to_owned()),
                '"' => Some("&quot;".to_owned()),
                '\'' => Some("&#x27;".to_owned()),
                c if is_xml_char(c) => Some(c.to_string()),
                _ => None,
            })
            .collect()
    };
    let samples = [
        "",
        "plain text",
        "a & b < c > d \" e ' f",
        "tab\tnl\ncr\r bell\u{7} nul\u{0} esc\u{1b} del\u{7f}",
        "é ü 漢字 😀 \u{fffd} \u{fffe} \u{ffff} \u{effe} \u{fefe} end",
        "\u{fffe}\u{ffff}&\u{1}",
    ];
    for s in samples {
        assert_eq!(esc(s), reference(s), "{s:?}");
    }
    // Every char of the BMP edges and a spread of the rest.
    let all: String = (0u32..0x11_0000).step_by(97).filter_map(char::from_u32).collect();
    assert_eq!(esc(&all), reference(&all));
}
