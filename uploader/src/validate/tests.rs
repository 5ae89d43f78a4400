//! Validator unit tests: reference §6.3 test_validator cases, §6.2 fixture intents, and the
//! rules of decisions.md §4 on plugins built in code.

use super::builder::{ZipBuilder, metadata_txt, plugin_with_metadata, valid_plugin};
use catalog::names::PackageName;

use super::*;

fn new() -> Mode {
    Mode::New
}

fn check(zip: &[u8]) -> Result<CheckedPlugin, Rejection> {
    validate(zip, &Mode::New, &Options::default())
}

/// The codes of a rejection (panics with the problems if the zip was accepted).
fn codes(zip: &[u8], mode: &Mode) -> Vec<String> {
    match validate(zip, mode, &Options::default()) {
        Ok(p) => panic!("expected a rejection, got a valid plugin {} {}", p.package, p.version),
        Err(r) => r.errors.into_iter().map(|p| p.code.as_str().to_owned()).collect(),
    }
}

fn first_error(zip: &[u8]) -> Problem {
    check(zip).expect_err("expected a rejection").errors.remove(0)
}

fn meta_plugin(extra: &str) -> Vec<u8> {
    plugin_with_metadata("test_modul", &metadata_txt(extra)).build()
}

fn with_metadata(md: &str) -> Vec<u8> {
    plugin_with_metadata("test_modul", md).build()
}

/// metadata_txt with one line replaced (or removed when `new` is empty).
fn replace_line(key: &str, new: &str) -> String {
    metadata_txt("")
        .lines()
        .filter_map(|l| {
            if l.starts_with(&format!("{key}=")) {
                (!new.is_empty()).then(|| new.to_owned())
            } else {
                Some(l.to_owned())
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn valid_plugin_is_accepted_with_typed_metadata() {
    let zip = valid_plugin("test_modul").build();
    let p = check(&zip).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(p.package.as_str(), "test_modul");
    assert_eq!(p.version.as_str(), "0.0.1");
    assert_eq!(p.min_qgis.to_string(), "3.0");
    assert_eq!(p.max_qgis.display3(), "3.99.0");
    assert_eq!(p.name, "Test Plugin");
    assert_eq!(p.about, "It does nothing useful,\non two lines.");
    assert_eq!(p.tags, vec!["python", "example", "test"]);
    assert_eq!(p.homepage.as_deref(), Some("https://example.org/test_plugin"));
    assert_eq!(p.icon.as_ref().map(|i| i.ext.as_str()), Some("png"));
    assert_eq!(p.sha256, catalog::hash::sha256_hex(&zip));
    assert_eq!(p.size, zip.len() as u64);
    assert!(!p.experimental && !p.deprecated && !p.server);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert!(p.metadata.contains(&("metadata_source".into(), "metadata.txt".into())));
    assert!(p.metadata.contains(&("package_name".into(), "test_modul".into())));
}

// --- reference §6.3 test_validator -------------------------------------------------------

fn names_only(names: &[&str]) -> Vec<u8> {
    names.iter().fold(ZipBuilder::new(), |b, n| b.file(n, "x")).build()
}

#[test]
fn zipfile_with_pyc_file() {
    let p = first_error(&names_only(&[".pyc"]));
    assert_eq!(p.code.as_str(), "archive.pyc");
    assert_eq!(p.message, "For security reasons, zip file cannot contain .pyc file");
}

#[test]
fn zipfile_with_macosx() {
    let zip = ZipBuilder::new().dir("__MACOSX/").build();
    let p = first_error(&zip);
    assert_eq!(p.code.as_str(), "archive.forbidden_dir");
    assert_eq!(
        p.message,
        "For security reasons, zip file cannot contain <strong> '__MACOSX' </strong> directory. However, there is one present at the root of the archive."
    );
}

#[test]
fn zipfile_with_pycache() {
    let p = first_error(&ZipBuilder::new().dir("__pycache__/").build());
    assert_eq!(
        p.message,
        "For security reasons, zip file cannot contain <strong> '__pycache__' </strong> directory. However, there is one present at the root of the archive."
    );
}

#[test]
fn zipfile_with_pycache_in_children() {
    let p = first_error(&ZipBuilder::new().dir("path/to/__pycache__/").build());
    assert_eq!(
        p.message,
        "For security reasons, zip file cannot contain <strong> '__pycache__' </strong> directory. However, it has been found at <strong> 'path/to/__pycache__/' </strong>."
    );
}

#[test]
fn zipfile_with_git() {
    let p = first_error(&names_only(&[".git"]));
    assert_eq!(
        p.message,
        "For security reasons, zip file cannot contain <strong> '.git' </strong> directory. However, there is one present at the root of the archive."
    );
}

#[test]
fn zipfile_with_gitignore_fails_for_another_reason() {
    let p = first_error(&names_only(&[".gitignore"]));
    assert_eq!(p.code.as_str(), "package.no_folder");
    // .github and .gitattributes inside a plugin are fine.
    let zip = valid_plugin("test_modul")
        .file("test_modul/.gitignore", "*.pyc\n")
        .file("test_modul/.github/workflows/ci.yml", "on: push\n")
        .file("test_modul/.gitattributes", "* text=auto\n")
        .build();
    check(&zip).unwrap_or_else(|r| panic!("{r}"));
}

#[test]
fn invalid_package_name_for_new_plugins_only() {
    let zip = valid_plugin("test-modul").build();
    assert_eq!(codes(&zip, &new()), vec!["package.not_identifier"]);
    let existing = Mode::Existing(PackageName::parse("test-modul").unwrap());
    let p = validate(&zip, &existing, &Options::default()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(p.package.as_str(), "test-modul");
}

#[test]
fn plugin_without_license() {
    let zip = valid_plugin("test_modul").without("test_modul/LICENSE").build();
    assert_eq!(codes(&zip, &new()), vec!["license.missing"]);
    // Near misses are named in the hint.
    let zip = valid_plugin("test_modul")
        .without("test_modul/LICENSE")
        .file("test_modul/LICENSE.txt", "GPL")
        .build();
    let r = check(&zip).unwrap_err();
    assert!(r.errors[0].hint.contains("test_modul/LICENSE.txt"), "{}", r.errors[0].hint);
}

#[test]
fn multiple_parent_folders_are_refused() {
    let zip = valid_plugin("test_modul").file("other_folder/__init__.py", "").build();
    let p = first_error(&zip);
    assert_eq!(p.code.as_str(), "package.multiple_roots");
    assert!(p.message.contains("'test_modul'") && p.message.contains("'other_folder'"));
    // A loose file at the root counts as another parent.
    let zip = valid_plugin("test_modul").file("README.md", "hi").build();
    assert_eq!(first_error(&zip).code.as_str(), "package.multiple_roots");
}

#[test]
fn path_with_backslash() {
    let zip = ZipBuilder::new()
        .file("test_modul\\metadata.txt", metadata_txt(""))
        .file("test_modul\\__init__.py", "")
        .build();
    let p = first_error(&zip);
    assert_eq!(p.code.as_str(), "archive.backslash");
    assert!(p.message.contains("cannot contain backslashes"));
}

#[test]
fn url_checks_are_syntax_only_and_offline() {
    // invalid_metadata_link.zip: template placeholders.
    let md = replace_line("tracker", "tracker=http://bugs");
    let md = md
        .replace("repository=https://github.com/example/test_plugin\n", "repository=http://repo\n");
    let md = md.replace("homepage=https://example.org/test_plugin\n", "homepage=http://homepage\n");
    let r = check(&with_metadata(&md)).unwrap_err();
    let keys: Vec<_> = r
        .errors
        .iter()
        .filter(|p| p.code.as_str() == "metadata.bad_url")
        .filter_map(|p| p.key.clone())
        .collect();
    assert_eq!(keys, vec!["tracker", "repository", "homepage"]);
    // invalid_url_scheme.zip, web_not_exist.zip.
    for (key, bad) in [
        ("tracker", "https  ://www.example.com/invalid-url-scheme"),
        ("homepage", "http://.example.com"),
        ("homepage", "http://example..com/"),
        ("repository", "javascript:alert(1)"),
        ("repository", "JaVaScRiPt://%%0aalert(1)"),
        ("repository", "data:text/html,<script>"),
        ("repository", "file:///etc/passwd"),
        ("repository", "//evil.example"),
        ("repository", "https:evil"),
        ("repository", "ftp://example.org/x"),
        ("tracker", "https://user:pw@github.com/x"),
        ("tracker", "https://github.com:99999/x"),
        ("tracker", "http://localhost/"),
    ] {
        let md = replace_line(key, &format!("{key}={bad}"));
        let r = check(&with_metadata(&md)).unwrap_err();
        assert!(
            r.errors
                .iter()
                .any(|p| p.code.as_str() == "metadata.bad_url" && p.key.as_deref() == Some(key)),
            "{bad}: {r}"
        );
    }
    // timeout_plugin_link.zip: a port that never answers is fine offline.
    for good in [
        "http://www.google.com:81/",
        "https://[2001:db8::1]/x",
        "https://github.com/qgis/QGIS-Plugins-Website.git",
    ] {
        let md = replace_line("homepage", &format!("homepage={good}"));
        check(&with_metadata(&md)).unwrap_or_else(|r| panic!("{good}: {r}"));
    }
}

#[test]
fn homepage_is_optional() {
    let p = check(&with_metadata(&replace_line("homepage", ""))).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(p.homepage, None);
}

// --- reference §6.2 fixture intents -------------------------------------------------------

#[test]
fn legacy_init_only_metadata_with_version_prefix() {
    // `1.0`: metadata only in __init__.py, "Version 1.0" cleaned to 1.0.
    let init = "def name():\n    return \"Hello World\"\n\ndef description():\n  return 'Says hello'\n\ndef version():\n  return \"Version 1.0\"\n\ndef qgisMinimumVersion():\n  return \"1.0\"\n\ndef author():\n  return \"Jane\"\n\ndef email():\n  return \"jane@example.org\"\n\ndef about():\n  return \"About\"\n\ndef tracker():\n  return \"https://example.org/t\"\n\ndef repository():\n  return \"https://example.org/r\"\n\ndef classFactory(iface):\n  pass\n";
    let zip = ZipBuilder::new()
        .file("HelloWorld/__init__.py", init)
        .file("HelloWorld/LICENSE", "GPL")
        .build();
    let p = check(&zip).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(p.version.as_str(), "1.0");
    assert_eq!(p.name, "Hello World");
    assert!(p.warnings.iter().any(|w| w.code.as_str() == "metadata.from_init"));
    assert!(p.metadata.contains(&("metadata_source".into(), "__init__.py".into())));
    // `1.1`-like with nothing scrapable.
    let zip = ZipBuilder::new()
        .file("HelloWorld/__init__.py", "x = 1\n")
        .file("HelloWorld/LICENSE", "GPL")
        .build();
    assert_eq!(codes(&zip, &new()), vec!["metadata.not_found"]);
}

#[test]
fn spaced_folder_is_invalid() {
    // `1.0-spaced`: top folder "Hello World".
    let zip = valid_plugin("Hello World").build();
    let c = codes(&zip, &new());
    assert!(c.contains(&"package.not_identifier".to_owned()), "{c:?}");
    assert!(c.contains(&"package.not_ascii".to_owned()), "{c:?}");
}

#[test]
fn multiline_values_and_version_prefix() {
    // `1.2`: multi-line description and changelog, `version=version 1.2`.
    let md = replace_line("version", "version=version 1.2")
        + "changelog=1.2 fixed\n  <br/>1.1 first\n\n  1.0 initial\n\n";
    let p = check(&with_metadata(&md)).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(p.version.as_str(), "1.2");
    assert_eq!(p.changelog, "1.2 fixed\n<br/>1.1 first\n\n1.0 initial");
}

#[test]
fn booleans_and_init_metadata_does_not_win() {
    // `1.2-md-full`: experimental=True, deprecated=1; __init__.py metadata is ignored.
    let md = metadata_txt("experimental=True\ndeprecated=1\nserver=no\n");
    let zip = plugin_with_metadata("test_modul", &md)
        .edit("test_modul/__init__.py", |e| {
            e.data = b"def author():\n    return \"Alessandro Secondo\"\n".to_vec();
        })
        .build();
    let p = check(&zip).unwrap_or_else(|r| panic!("{r}"));
    assert!(p.experimental && p.deprecated && !p.server);
    assert_eq!(p.author, "Jane Doe");
    for v in ["yes", "YES", "true", "1"] {
        let p = check(&meta_plugin(&format!("experimental={v}\n"))).unwrap();
        assert!(p.experimental, "{v}");
    }
    for v in ["no", "False", "0", ""] {
        let p = check(&meta_plugin(&format!("experimental={v}\n"))).unwrap();
        assert!(!p.experimental, "{v}");
    }
    for v in ["maybe", "on", "t"] {
        assert_eq!(
            codes(&meta_plugin(&format!("server={v}\n")), &new()),
            vec!["metadata.bad_boolean"],
            "{v}"
        );
    }
}

#[test]
fn incomplete_metadata_lists_every_missing_key_at_once() {
    // `1.2-md-txt-incomplete`: only nodata=true.
    let r = check(&with_metadata("[general]\nnodata=true\n")).unwrap_err();
    let missing: Vec<_> = r
        .errors
        .iter()
        .filter(|p| p.code.as_str() == "metadata.missing_key")
        .filter_map(|p| p.key.clone())
        .collect();
    assert_eq!(missing, rules::REQUIRED.to_vec());
    // A key in the wrong case is named in the hint.
    let md = replace_line("qgisMinimumVersion", "qgisminimumversion=3.0");
    let r = check(&with_metadata(&md)).unwrap_err();
    assert_eq!(r.errors[0].key.as_deref(), Some("qgisMinimumVersion"));
    assert!(r.errors[0].hint.contains("Rename `qgisminimumversion`"), "{}", r.errors[0].hint);
}

#[test]
fn no_icon_and_subfolder_icon() {
    // `1.2-no-icon`.
    let p = check(&with_metadata(&replace_line("icon", ""))).unwrap();
    assert!(p.icon.is_none() && p.warnings.is_empty());
    // `1.7-full-md-no-init-subfolder-icon`: icons/icon.png, accented author.
    let md = replace_line("icon", "icon=./icons/icon.png")
        .replace("author=Jane Doe", "author=Jàne Dòe èàò");
    let zip = plugin_with_metadata("test_modul", &md)
        .stored("test_modul/icons/icon.png", builder::PNG_1X1)
        .build();
    let p = check(&zip).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(p.icon.map(|i| i.bytes), Some(builder::PNG_1X1.to_vec()));
    assert_eq!(p.author, "Jàne Dòe èàò");
    // A missing or non-image icon is dropped with a warning, never an error.
    for (icon, data) in [
        ("icon=missing.png", None),
        ("icon=fake.png", Some(&b"<html>hi</html>"[..])),
        ("icon=evil.svg", Some(&b"<svg onload=alert(1)></svg>"[..])),
    ] {
        let md = replace_line("icon", icon);
        let mut b = plugin_with_metadata("test_modul", &md);
        if let Some(d) = data {
            b = b.file(format!("test_modul/{}", &icon[5..]), d);
        }
        let p = check(&b.build()).unwrap_or_else(|r| panic!("{r}"));
        assert!(p.icon.is_none(), "{icon}");
        assert_eq!(p.warnings[0].code.as_str(), "icon.ignored", "{icon}");
    }
    let md = replace_line("icon", "icon=logo.svg");
    let zip = plugin_with_metadata("test_modul", &md)
        .file(
            "test_modul/logo.svg",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\"/></svg>",
        )
        .build();
    assert_eq!(check(&zip).unwrap().icon.map(|i| i.ext), Some("svg".to_owned()));
}

#[test]
fn legacy_minimum_below_1_8_needs_init_metadata() {
    // `1.2-qgs-1.6-no-init`: min 1.6, empty __init__.py → legacy-rule error.
    let md = replace_line("qgisMinimumVersion", "qgisMinimumVersion=1.6");
    let zip = plugin_with_metadata("test_modul", &md)
        .edit("test_modul/__init__.py", |e| e.data.clear())
        .build();
    assert_eq!(codes(&zip, &new()), vec!["metadata.legacy_init"]);
    // String-tuple comparison: 1.10 counts as below 1.8 (reference quirk kept).
    let md = replace_line("qgisMinimumVersion", "qgisMinimumVersion=1.10");
    assert_eq!(codes(&with_metadata(&md), &new()), vec!["metadata.legacy_init"]);
    // `1.2-qgs-1.6-md-init`: complete __init__.py satisfies it.
    let init: String =
        rules::REQUIRED.iter().map(|k| format!("def {k}():\n    return \"x\"\n\n")).collect();
    let md = replace_line("qgisMinimumVersion", "qgisMinimumVersion=1.6");
    let zip = plugin_with_metadata("test_modul", &md)
        .edit("test_modul/__init__.py", |e| e.data = init.into_bytes())
        .build();
    check(&zip).unwrap_or_else(|r| panic!("{r}"));
}

#[test]
fn comment_lines_and_messy_tags() {
    // `1.3`, `1.5`: comment lines, messy tags trimmed and lower-cased.
    let md = replace_line("tags", "tags=  wkt, raster,hello world, spaced tag , tag, WKT,,")
        + "; change icon...\n# another comment\nexperimental=True\n";
    let p = check(&with_metadata(&md)).unwrap();
    assert_eq!(p.tags, vec!["wkt", "raster", "hello world", "spaced tag", "tag"]);
    assert!(p.experimental);
}

#[test]
fn latin1_metadata_is_refused_with_offset() {
    // `1.6-full-md-no-init-unicode-error`.
    let mut md = metadata_txt("").into_bytes();
    let pos = md.windows(8).position(|w| w == b"Jane Doe").unwrap();
    md.splice(pos..pos + 4, [b'J', 0xF2, 0xEC]);
    let zip = plugin_with_metadata("test_modul", "")
        .edit("test_modul/metadata.txt", |e| e.data = md)
        .build();
    let p = first_error(&zip);
    assert_eq!(p.code.as_str(), "metadata.not_utf8");
    assert!(
        p.message.contains(&format!("offset {}", pos + 1)) && p.message.contains("line 8"),
        "{}",
        p.message
    );
}

#[test]
fn author_with_slash() {
    // `1.8-author-slashes-error`.
    let md = replace_line("author", "author=Alessandro/Pasotti èàò");
    let r = check(&with_metadata(&md)).unwrap_err();
    assert_eq!(r.errors[0].code.as_str(), "metadata.author_slash");
}

#[test]
fn qgis_maximum_rules() {
    // `1.9`: explicit max; `2.0`: default <major>.99; `2.1`: 2.999; `2.2`: category ignored.
    let p = check(&meta_plugin("qgisMaximumVersion=3.40\n")).unwrap();
    assert_eq!(p.max_qgis.display3(), "3.40.0");
    let md = replace_line("qgisMinimumVersion", "qgisMinimumVersion=2.0");
    assert_eq!(check(&with_metadata(&md)).unwrap().max_qgis.display3(), "2.99.0");
    let md = replace_line("qgisMinimumVersion", "qgisMinimumVersion=2.0")
        + "qgisMaximumVersion=2.999\ncategory=web\n";
    let p = check(&with_metadata(&md)).unwrap();
    assert_eq!(p.max_qgis.display3(), "2.999.0");
    assert!(p.metadata.contains(&("category".into(), "web".into())));
    assert_eq!(
        codes(&meta_plugin("qgisMaximumVersion=2.0\n"), &new()),
        vec!["metadata.qgis_range"]
    );
    for bad in ["abc", "3.x", "99.99.99.99"] {
        let md = replace_line("qgisMinimumVersion", &format!("qgisMinimumVersion={bad}"));
        assert_eq!(codes(&with_metadata(&md), &new()), vec!["metadata.bad_qgis_version"], "{bad}");
    }
}

#[test]
fn changed_repository_and_long_about() {
    // `2.3-full-changed-repository`.
    let about = "Long about. ".repeat(500);
    let md = replace_line("about", &format!("about={about}"))
        .replace("https://github.com/example/test_plugin", "https://gitlab.com/other/test_plugin");
    let p = check(&with_metadata(&md)).unwrap();
    assert_eq!(p.repository.as_deref(), Some("https://gitlab.com/other/test_plugin"));
    assert_eq!(p.about, format!("{}\non two lines.", about.trim()));
}

// --- decisions.md §4 and modes ------------------------------------------------------------

#[test]
fn existing_mode_requires_same_folder() {
    let zip = valid_plugin("test_modul").build();
    let other = Mode::Existing(PackageName::parse("other_plugin").unwrap());
    let r = validate(&zip, &other, &Options::default()).unwrap_err();
    assert_eq!(r.errors[0].code.as_str(), "package.mismatch");
    assert!(
        r.errors[0].message.contains("(test_modul)")
            && r.errors[0].message.contains("(other_plugin)")
    );
}

#[test]
fn reserved_names_are_refused_for_new_plugins() {
    let zip = valid_plugin("latest").build();
    assert_eq!(codes(&zip, &new()), vec!["package.reserved"]);
    let existing = Mode::Existing(PackageName::parse("latest").unwrap());
    validate(&zip, &existing, &Options::default()).unwrap_or_else(|r| panic!("{r}"));
}

#[test]
fn missing_plugin_files() {
    let zip = ZipBuilder::new().file("test_modul/readme.txt", "x").build();
    assert_eq!(codes(&zip, &new()), vec!["package.missing_plugin_files"]);
    let zip = valid_plugin("test_modul").without("test_modul/__init__.py").build();
    assert_eq!(codes(&zip, &new()), vec!["package.missing_init"]);
    // First entry at the root fails even if a folder follows (reference step 7)...
    // ...and is now also a second root.
    let zip = ZipBuilder::new().file("setup.py", "").file("test_modul/__init__.py", "").build();
    assert_eq!(first_error(&zip).code.as_str(), "package.multiple_roots");
}

#[test]
fn all_metadata_problems_are_reported_at_once() {
    let md = "[general]\nname=x\x01y\ndescription=\nversion=1.0/../x\nqgisMinimumVersion=3.0\nauthor=a/b\nemail=nope\nabout=ok\ntracker=http://bugs\nrepository=ftp://x.org\nexperimental=perhaps\n";
    let r = check(&with_metadata(md)).unwrap_err();
    let got: Vec<_> = r.errors.iter().map(|p| p.code.as_str()).collect();
    for want in [
        "metadata.empty_value",
        "metadata.invalid_character",
        "metadata.bad_boolean",
        "metadata.bad_version",
        "metadata.bad_url",
        "metadata.author_slash",
    ] {
        assert!(got.contains(&want), "{want} missing from {got:?}");
    }
    assert_eq!(got.iter().filter(|c| **c == "metadata.bad_url").count(), 2);
    assert!(!got.contains(&"metadata.email_unusual"), "an unusual address is only a warning");
    assert!(r.warnings.iter().any(|p| p.code.as_str() == "metadata.email_unusual"));
    for p in &r.errors {
        assert!(!p.hint.is_empty(), "{p:?}");
    }
}

#[test]
fn field_limits() {
    let limits = Limits::default();
    let long_name = "n".repeat(limits.max_plugin_name_len + 1);
    let md = replace_line("name", &format!("name={long_name}"));
    let r = check(&with_metadata(&md)).unwrap_err();
    assert_eq!(r.errors[0].code.as_str(), "metadata.field_too_long");
    assert_eq!(r.errors[0].key.as_deref(), Some("name"));
    let desc = "d".repeat(limits.max_description_len + 1);
    assert_eq!(
        codes(&with_metadata(&replace_line("description", &format!("description={desc}"))), &new()),
        vec!["metadata.field_too_long"]
    );
    let tags: Vec<String> = (0..=limits.max_tags).map(|i| format!("t{i}")).collect();
    assert_eq!(
        codes(&with_metadata(&replace_line("tags", &format!("tags={}", tags.join(",")))), &new()),
        vec!["metadata.too_many_tags"]
    );
    let many: String = (0..=limits.max_keys).map(|i| format!("k{i}=v\n")).collect();
    assert_eq!(codes(&meta_plugin(&many), &new()), vec!["metadata.too_many_keys"]);
}

#[test]
fn too_big_upload_message() {
    let opts = Options {
        limits: Limits { max_upload_bytes: 100, ..Limits::default() },
        ..Options::default()
    };
    let zip = valid_plugin("test_modul").build();
    let r = validate(&zip, &Mode::New, &opts).unwrap_err();
    assert_eq!(r.errors[0].code.as_str(), "archive.too_large");
    assert_eq!(r.errors[0].message, "File is too big. Max size is 0.0001 Megabytes");
    let r = validate(&vec![0u8; 25_000_001], &Mode::New, &Options::default()).unwrap_err();
    assert_eq!(r.errors[0].message, "File is too big. Max size is 25.0 Megabytes");
}

#[test]
fn online_flag_only_warns() {
    let opts = Options { check_urls_online: true, ..Options::default() };
    let p = validate(&valid_plugin("test_modul").build(), &Mode::New, &opts).unwrap();
    assert_eq!(p.warnings[0].code.as_str(), "metadata.online_check_unavailable");
}

#[test]
fn supports_qt6_warns() {
    let p = check(&meta_plugin("supportsQt6=True\n")).unwrap();
    assert_eq!(p.warnings[0].code.as_str(), "metadata.supports_qt6_deprecated");
}

#[test]
fn check_report_json_shape() {
    let zip = valid_plugin("test_modul").build();
    let rep = crate::check::report(&zip, &Mode::New, &Options::default());
    let v = serde_json::to_value(&rep).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["package_name"], "test_modul");
    assert_eq!(v["version"], "0.0.1");
    assert_eq!(v["metadata"]["name"], "Test Plugin");
    let zip = valid_plugin("test_modul").without("test_modul/LICENSE").build();
    let v =
        serde_json::to_value(crate::check::report(&zip, &Mode::New, &Options::default())).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["code"], "license.missing");
    assert_eq!(v["errors"][0]["file"], "test_modul/LICENSE");
    assert!(v["errors"][0].get("key").is_none());
    assert!(v["errors"][0]["hint"].is_string());
}

#[test]
fn an_email_that_is_not_an_address_is_a_warning_and_an_empty_one_an_error() {
    let base = "[general]\nname=x\ndescription=d\nversion=1.0\nqgisMinimumVersion=3.0\nauthor=a\nabout=ok\ntracker=https://t.org\nrepository=https://r.org\n";
    let ok = check(&with_metadata(&format!("{base}email=TBD\n"))).unwrap();
    let w: Vec<_> = ok.warnings.iter().map(|p| p.code.as_str()).collect();
    assert!(w.contains(&"metadata.email_unusual"), "{w:?}");
    let p = ok.warnings.iter().find(|p| p.code.as_str() == "metadata.email_unusual").unwrap();
    assert!(p.message.contains("`TBD`") && p.message.contains("reviewers"), "{}", p.message);
    assert!(p.hint.contains("jane@example.org"), "{}", p.hint);
    let empty = check(&with_metadata(&format!("{base}email=\n"))).unwrap_err();
    assert!(empty.errors.iter().any(|p| p.code.as_str() == "metadata.empty_value"));
}
