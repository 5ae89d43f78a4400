//! Tests of the identifier newtypes against the reference's tables.

use super::*;

#[test]
fn version_keys_match_reference_table() {
    // reference.md §1.4: input, stored key, reference display.
    let table = [
        ("0.0.1", "000.000.001.###", "0.0.1"),
        ("1.0", "001.000.###.###", "1.0"),
        ("1.10", "001.010.###.###", "1.10"),
        ("1.2.3.4.5", "001.002.003.004", "1.2.3.4"),
        ("1.0.0-beta", "001.000.0-beta.###", "1.0.0-beta"),
        ("1.0a", "001.00a.###.###", "1.a"),
        ("2.0.0rc1", "002.000.0rc1.###", "2.0.rc1"),
        ("1.01", "001.001.###.###", "1.1"),
        ("1000.1", "1000.001.###.###", "1000.1"),
        ("20240101", "20240101.###.###.###", "20240101"),
    ];
    for (input, key, display) in table {
        assert_eq!(version_key(input), key, "key of {input}");
        assert_eq!(version_key_display(key), display, "display of {input}");
    }
}

#[test]
fn version_ordering_follows_padded_keys() {
    let v = |s: &str| PluginVersion::parse(s).unwrap();
    assert!(v("1.10") > v("1.9"));
    assert!(v("1.0.0") > v("1.0"));
    assert_eq!(v("1.01"), v("1.1"));
    assert!(v("2.3.e9f6b2a") > v("2.3.1.2bbe09c"));
    assert!(v("2.0-beta") > v("1.10"));
    assert!(v("0.0.2") > v("0.0.1"));
}

#[test]
fn version_cleaning_and_limits() {
    assert_eq!(PluginVersion::parse("Version 1.2").unwrap().as_str(), "1.2");
    assert_eq!(PluginVersion::parse(" 1.0 ").unwrap().as_str(), "1.0");
    assert_eq!(PluginVersion::parse(""), Err(NameError::EmptyVersion));
    assert_eq!(
        PluginVersion::parse("1.2.3.4.5"),
        Err(NameError::TooManyVersionParts("1.2.3.4.5".into()))
    );
    assert!(matches!(
        PluginVersion::parse("123456789012345678901234567890.1"),
        Err(NameError::VersionTooLong(_))
    ));
    assert!(matches!(PluginVersion::parse("1.0/../x"), Err(NameError::VersionCharacters(_))));
}

#[test]
fn qgis_keys_and_display() {
    let q = |s: &str| QgisVersion::parse(s).unwrap();
    assert_eq!(q("3.0").key(), "003.000.000");
    assert_eq!(q("3.0").display3(), "3.0.0");
    assert_eq!(q("3.99").key(), "003.099.000");
    assert_eq!(q("2.999").display3(), "2.999.0");
    assert_eq!(q("3.16.2").key(), "003.016.002");
    assert_eq!(q("3").display3(), "3.0.0");
    assert_eq!(QgisVersion::default_max(q("3.16")).display3(), "3.99.0");
    assert_eq!(QgisVersion::default_max(q("10.0")).display3(), "10.99.0");
    assert!(q("2.999") < q("3.0"));
    for bad in ["", "a.b", "3.", "3.0.0.1", "1000.0", "-1.0", "3..1"] {
        assert!(QgisVersion::parse(bad).is_err(), "{bad} must be refused");
    }
}

#[test]
fn qgis_compatibility_worked_examples() {
    // reference.md §4.3 worked examples: (min, max) → listed for 3.16, 3.40, 4.0, 3.16.2.
    let q = |s: &str| QgisVersion::parse(s).unwrap();
    let cases = [
        ("3.0", None, [true, true, false, true]),
        ("3.16", Some("3.16"), [true, false, false, false]),
        ("3.22", Some("4.99"), [false, true, true, false]),
        ("4.0", Some("4.99"), [false, false, true, false]),
        ("1.8", Some("2.999"), [false, false, false, false]),
        ("3.16.5", Some("3.99"), [true, true, false, false]),
    ];
    let requests = ["3.16", "3.40", "4.0", "3.16.2"];
    for (min, max, expected) in cases {
        let min_v = q(min);
        let max_v = max.map(q).unwrap_or_else(|| QgisVersion::default_max(min_v));
        for (req, want) in requests.iter().zip(expected) {
            assert_eq!(q(req).is_within(min_v, max_v), want, "{min}/{max:?} for {req}");
        }
    }
}

#[test]
fn package_names() {
    assert!(PackageName::parse("test_modul").is_ok());
    assert!(PackageName::parse("test-modul").is_ok());
    assert!(!PackageName::parse("test-modul").unwrap().is_python_identifier());
    for bad in ["", "a", "1abc", "_abc", "ab/c", "ab..", "àbc", "a b"] {
        assert!(PackageName::parse(bad).is_err(), "{bad} must be refused");
    }
    assert!(PackageName::parse("RPC2").unwrap().is_reserved());
    assert!(PackageName::parse("Latest").unwrap().is_reserved());
    assert!(!PackageName::parse("latest_tools").unwrap().is_reserved());
}

#[test]
fn versions_refuse_only_what_qgis_or_a_url_segment_cannot_take() {
    let ok = |s: &str| PluginVersion::parse(s).map(|v| v.as_str().to_owned());
    for good in ["1.2.0~rc1", "1.0+build.5", "v1.0", "2.0-été", "1.0;x=(y)", "R2", "1.0.", "A"] {
        assert_eq!(ok(good).as_deref(), Ok(good), "{good}");
    }
    for (bad, want) in [
        ("..", NameError::VersionStart("..".into())),
        (".", NameError::VersionStart(".".into())),
        (".5", NameError::VersionStart(".5".into())),
        ("-1", NameError::VersionStart("-1".into())),
        ("~1", NameError::VersionStart("~1".into())),
        ("1:2", NameError::VersionCharacters("1:2".into())),
        ("1*", NameError::VersionCharacters("1*".into())),
        ("1|2", NameError::VersionCharacters("1|2".into())),
        ("1\"", NameError::VersionCharacters("1\"".into())),
        ("1<2>", NameError::VersionCharacters("1<2>".into())),
        ("1%41", NameError::VersionCharacters("1%41".into())),
        ("1.\u{b2}", NameError::VersionNumeral("1.\u{b2}".into(), '\u{b2}')),
        ("1.\u{2160}", NameError::VersionNumeral("1.\u{2160}".into(), '\u{2160}')),
        ("1.\u{4e00}", NameError::VersionNumeral("1.\u{4e00}".into(), '\u{4e00}')),
        ("\u{661}", NameError::VersionNumeral("\u{661}".into(), '\u{661}')),
        ("v", NameError::VersionNoNumber("v".into())),
        ("Rev", NameError::VersionNoNumber("Rev".into())),
        ("version", NameError::VersionNoNumber("version".into())),
        ("VR", NameError::VersionNoNumber("VR".into())),
    ] {
        assert_eq!(PluginVersion::parse(bad), Err(want), "{bad}");
    }
    // Every message names the fix.
    let msg = PluginVersion::parse(".5").unwrap_err().to_string();
    assert!(msg.contains("must start with a letter or digit"), "{msg}");
}

#[test]
fn qgis_normalisation_matches_its_installer() {
    // Values from python/pyplugin_installer/version_compare.py's normalizeVersion (3.22).
    assert_eq!(qgis_normalized_version("v1.0"), "1.0");
    assert_eq!(qgis_normalized_version("rc1"), "C1");
    assert_eq!(qgis_normalized_version("Version2"), "2");
    assert_eq!(qgis_normalized_version("VR"), "");
}

#[test]
fn stored_versions_of_earlier_rules_still_load() {
    assert_eq!(PluginVersion::from_stored(".5").unwrap().as_str(), ".5");
    assert_eq!(PluginVersion::from_stored("1:2").unwrap().as_str(), "1:2");
    assert!(PluginVersion::from_stored("..").is_err());
    assert!(PluginVersion::from_stored("a/b").is_err());
}
