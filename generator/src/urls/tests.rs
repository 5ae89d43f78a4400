//! The URL and file-name rule, the file → URL map, and nginx's version captures agreeing
//! with the validator.

use super::*;
use catalog::names::PluginVersion;

#[test]
fn urls_encode_everything_but_unreserved_and_files_keep_the_text() {
    assert_eq!(segment("1.2.0~rc1"), "1.2.0~rc1");
    assert_eq!(segment("1.0+büld"), "1.0%2Bb%C3%BCld");
    assert_eq!(segment("A-z_9"), "A-z_9");
    assert_eq!(version_page("p_k", "1.0+b"), "/plugins/p_k/version/1.0%2Bb/");
    assert_eq!(version_json("p_k", "1.0"), "/plugins/p_k/version/1.0/json");
    assert_eq!(version_download("p_k", "1.0~rc1"), "/plugins/p_k/version/1.0~rc1/download/");
    assert_eq!(version_file("1.0+b", "html"), "version-1.0+b.html");
    assert_eq!(zip_file_name("p_k", "1.0+b"), "p_k.1.0+b.zip");
    assert_eq!(version_of_file("version-1.0.html.html", "html"), Some("1.0.html"));
    assert_eq!(version_of_file("version-1.0.json", "html"), None);
    assert_eq!(version_of_zip("p_k", "p_k.1.0.zip"), Some("1.0"));
    assert_eq!(version_of_zip("p_k", "p_kx.1.0.zip"), None);
}

/// The ASCII bytes of the two classes of `NGINX_VERSION_PATTERN` (first byte, the rest),
/// read from the pattern itself: ranges `a-b`, escapes `\x..` and `\c`.
fn pattern_classes() -> (Vec<u8>, Vec<u8>) {
    let mut classes: Vec<Vec<u8>> = Vec::new();
    let mut rest = NGINX_VERSION_PATTERN;
    while let Some(start) = rest.find('[') {
        let body = &rest[start + 1..];
        let mut items: Vec<u8> = Vec::new();
        let b = body.as_bytes();
        let mut i = 0;
        let atom = |i: &mut usize| -> u8 {
            if b[*i] == b'\\' && b[*i + 1] == b'x' {
                let v = u8::from_str_radix(&body[*i + 2..*i + 4], 16).unwrap();
                *i += 4;
                v
            } else if b[*i] == b'\\' {
                *i += 2;
                b[*i - 1]
            } else {
                *i += 1;
                b[*i - 1]
            }
        };
        while b[i] != b']' {
            let lo = atom(&mut i);
            if b[i] == b'-' && b[i + 1] != b']' {
                i += 1;
                let hi = atom(&mut i);
                items.extend(lo..=hi);
            } else {
                items.push(lo);
            }
        }
        classes.push(items.into_iter().filter(u8::is_ascii).collect());
        rest = &body[i + 1..];
    }
    assert_eq!(classes.len(), 2, "two classes in {NGINX_VERSION_PATTERN}");
    (classes[0].clone(), classes[1].clone())
}

#[test]
fn nginx_version_classes_are_exactly_what_the_validator_accepts() {
    let (first, rest) = pattern_classes();
    for b in 0u8..0x80 {
        let c = b as char;
        let as_first =
            PluginVersion::parse(&format!("{c}1")).is_ok_and(|v| v.as_str() == format!("{c}1"));
        let inside =
            PluginVersion::parse(&format!("1{c}1")).is_ok_and(|v| v.as_str() == format!("1{c}1"));
        assert_eq!(first.contains(&b), as_first, "first byte {c:?}");
        assert_eq!(rest.contains(&b), inside, "later byte {c:?}");
    }
}

#[test]
fn published_files_map_to_the_references_urls() {
    let public_url = |rel: &str| match public_address(rel) {
        PublicAddress::Url(url) => Some(url),
        _ => None,
    };
    let cases = [
        ("index.html", Some("/")),
        ("plugins/index.html", Some("/plugins/")),
        ("plugins/page-2.html", Some("/plugins/page/2/")),
        ("plugins/sort/name/page-12.html", Some("/plugins/sort/name/page/12/")),
        ("plugins/stats/index.html", Some("/plugins/stats/")),
        ("plugins/stats/json", Some("/plugins/stats/json")),
        ("plugins/tags/index.html", Some("/plugins/tags/")),
        ("plugins/xml/3.34.xml", Some("/plugins/xml/3.34.xml")),
        ("plugins/xml/stable_only/3.34.xml", Some("/plugins/xml/stable_only/3.34.xml")),
        ("plugins/xml/3.34.xml.gz", None),
        ("plugins/feeds/new.xml", Some("/plugins/feeds/new.xml")),
        ("plugins/p_k/index.html", Some("/plugins/p_k/")),
        ("plugins/p_k/json", Some("/plugins/p_k/json")),
        ("plugins/p_k/feed.xml", Some("/plugins/p_k/feed.xml")),
        ("plugins/p_k/icon-0123abcd.png", Some("/plugins/p_k/icon-0123abcd.png")),
        ("plugins/p_k/version-1.2.0.html", Some("/plugins/p_k/version/1.2.0/")),
        ("plugins/p_k/version-1.2.0.json", Some("/plugins/p_k/version/1.2.0/json")),
        ("plugins/p_k/version-1.0+b.html", Some("/plugins/p_k/version/1.0%2Bb/")),
        ("plugins/p_k/stats.html", Some("/plugins/p_k/stats/")),
        ("plugins/p_k/stats.json", Some("/plugins/p_k/stats/json")),
        ("plugins/p_k/latest.html", Some("/plugins/p_k/latest/")),
        ("plugins/p_k/latest.json", Some("/plugins/p_k/latest/json")),
        ("plugins/p_k/p_k.1.2.0.zip", Some("/plugins/p_k/version/1.2.0/download/")),
        ("plugins/p_k/version-1.2.0~rc1.html", Some("/plugins/p_k/version/1.2.0~rc1/")),
        ("plugins/p_k/p_k.1.2.0~rc1.zip", Some("/plugins/p_k/version/1.2.0~rc1/download/")),
        ("plugins/p_k/version-2.0-été.json", Some("/plugins/p_k/version/2.0-%C3%A9t%C3%A9/json")),
        ("plugins/p_k/p_k.1.0;x=(y).zip", Some("/plugins/p_k/version/1.0%3Bx%3D%28y%29/download/")),
        ("plugins/p_k/xml-3.34.xml", None),
        ("plugins/p_k/xml-stable_only-d-3.3x.xml", None),
        ("plugins/tags/p1/gps.html", Some("/plugins/tags/gps/")),
        ("plugins/tags/p3/gps.html", Some("/plugins/tags/gps/page/3/")),
        ("plugins/tags/feed/gps.xml", Some("/plugins/tags/gps/feed.xml")),
        ("plugins/author/p1/Zoë van Dijk.html", Some("/plugins/author/Zo%C3%AB%20van%20Dijk/")),
        ("plugins/author/p2/Ana Pereira.html", Some("/plugins/author/Ana%20Pereira/page/2/")),
        ("plugins/user/p1/ana.html", Some("/plugins/user/ana/")),
        ("404.html", None),
        (".manifest.json", None),
    ];
    for (rel, url) in cases {
        assert_eq!(public_url(rel).as_deref(), url, "{rel}");
    }
    assert_eq!(package_document("plugins/p_k/xml-3.34.xml"), Some(("p_k", false, "3.34")));
    assert_eq!(
        package_document("plugins/p_k/xml-stable_only-major-3.xml"),
        Some(("p_k", true, "major-3"))
    );
    assert_eq!(package_document("plugins/xml/3.34.xml"), None);
}

#[test]
fn files_without_a_url_of_their_own_say_how_they_are_reached() {
    let url = |u: &str| PublicAddress::Url(u.to_owned());
    assert_eq!(
        public_address("plugins/xml/3.34.xml.gz"),
        PublicAddress::Gzip(Box::new(url("/plugins/xml/3.34.xml")))
    );
    assert_eq!(public_address(".manifest.json"), PublicAddress::Private("/.manifest.json".into()));
    assert_eq!(
        public_address("plugins/.tmp-x/a.html"),
        PublicAddress::Private("/plugins/.tmp-x/a.html".into())
    );
    assert_eq!(public_address("404.html"), PublicAddress::NotFoundPage("/404.html".into()));
    let request = |rel: &str| match public_address(rel) {
        PublicAddress::PackageRequest(r) => r,
        other => panic!("{rel}: {other:?}"),
    };
    assert_eq!(
        request("plugins/p_k/xml-3.34.xml"),
        "/plugins/plugins.xml?qgis=3.34&package_name=p_k"
    );
    assert_eq!(
        request("plugins/p_k/xml-stable_only-d-3.3x.xml"),
        "/plugins/plugins.xml?qgis=3.30&package_name=p_k&stable_only=1"
    );
    assert_eq!(
        request("plugins/p_k/xml-major-3.xml"),
        "/plugins/plugins.xml?qgis=3.999&package_name=p_k"
    );
    assert_eq!(request("plugins/p_k/xml-newest.xml"), "/plugins/plugins.xml?package_name=p_k");
    assert_eq!(
        request("plugins/p_k/xml-ltr.xml"),
        "/plugins/plugins.xml?qgis=ltr&package_name=p_k"
    );
}

#[test]
fn urls_and_files_of_lists_and_trees() {
    assert_eq!(plugin_page("p_k"), "/plugins/p_k/");
    assert_eq!(plugin_stats_json("p_k"), "/plugins/p_k/stats/json");
    assert_eq!(icon("p_k", "0123abcd", "png"), "/plugins/p_k/icon-0123abcd.png");
    assert_eq!(tag_feed("gps"), "/plugins/tags/gps/feed.xml");
    assert_eq!(tag_feed_file("gps"), "plugins/tags/feed/gps.xml");
    assert_eq!(
        author_page("Zoë van Dijk").as_deref(),
        Some("/plugins/author/Zo%C3%AB%20van%20Dijk/")
    );
    assert_eq!(author_page(".."), None);
    assert_eq!(
        list_page(&list_sorted(&list("plugins/stable"), "name"), 3),
        "/plugins/stable/sort/name/page/3/"
    );
    assert_eq!(ListFiles::Dir("plugins").file(Some("name"), 2), "plugins/sort/name/page-2.html");
    assert_eq!(ListFiles::Dir("plugins").file(None, 1), "plugins/index.html");
    assert_eq!(ListFiles::Named(NamedKind::User, "ana").file(None, 2), "plugins/user/p2/ana.html");
    assert_eq!(site_document("d-3.3x", true), "plugins/xml/stable_only/d-3.3x.xml");
    assert_eq!(package_document_file("major-3", false), "xml-major-3.xml");
    assert_eq!(file_of(NEW_FEED), "plugins/feeds/new.xml");
}

#[test]
fn object_keys_are_public_paths_decoded_and_documents_keep_their_path() {
    let cases = [
        ("index.html", Some("index.html")),
        ("404.html", Some("404.html")),
        ("plugins/p_k/version-1.2.0.html", Some("plugins/p_k/version/1.2.0/index.html")),
        ("plugins/p_k/version-1.2.0.json", Some("plugins/p_k/version/1.2.0/json")),
        ("plugins/p_k/version-1.0+büld.html", Some("plugins/p_k/version/1.0+büld/index.html")),
        ("plugins/p_k/version-1.2.0~rc1.json", Some("plugins/p_k/version/1.2.0~rc1/json")),
        ("plugins/p_k/p_k.1.2.0.zip", Some("plugins/p_k/p_k.1.2.0.zip")),
        ("plugins/p_k/p_k.1.0+büld.zip", Some("plugins/p_k/p_k.1.0+büld.zip")),
        ("plugins/p_k/icon-0123abcd.png", Some("plugins/p_k/icon-0123abcd.png")),
        ("plugins/p_k/index.html", Some("plugins/p_k/index.html")),
        ("plugins/p_k/json", Some("plugins/p_k/json")),
        ("plugins/p_k/stats.json", Some("plugins/p_k/stats/json")),
        ("plugins/p_k/stats.html", Some("plugins/p_k/stats/index.html")),
        ("plugins/p_k/latest.json", Some("plugins/p_k/latest/json")),
        ("plugins/popular/page-3.html", Some("plugins/popular/page/3/index.html")),
        ("plugins/sort/name/page-2.html", Some("plugins/sort/name/page/2/index.html")),
        ("plugins/tags/p2/gis.html", Some("plugins/tags/gis/page/2/index.html")),
        ("plugins/tags/p1/gis.html", Some("plugins/tags/gis/index.html")),
        ("plugins/tags/feed/gis.xml", Some("plugins/tags/gis/feed.xml")),
        ("plugins/author/p1/Zoë van Dijk.html", Some("plugins/author/Zoë van Dijk/index.html")),
        ("plugins/xml/3.34.xml", Some("plugins/xml/3.34.xml")),
        ("plugins/xml/stable_only/d-3.3x.xml", Some("plugins/xml/stable_only/d-3.3x.xml")),
        ("plugins/xml/3.34.xml.gz", Some("plugins/xml/3.34.xml.gz")),
        ("plugins/p_k/xml-3.34.xml", Some("plugins/p_k/xml-3.34.xml")),
        (
            "plugins/p_k/xml-stable_only-newest.xml.gz",
            Some("plugins/p_k/xml-stable_only-newest.xml.gz"),
        ),
        ("plugins/index.html.gz", Some("plugins/index.html.gz")),
        ("plugins/page-2.html.gz", Some("plugins/page/2/index.html.gz")),
        ("plugins/stats/json", Some("plugins/stats/json")),
        ("static/style-0123abcd.css", Some("static/style-0123abcd.css")),
        (".manifest.json", None),
        ("plugins/.tmp-x/a.html", None),
        (".manifest.json.gz", None),
    ];
    for (rel, key) in cases {
        assert_eq!(object_key(rel).as_deref(), key, "{rel}");
    }
    assert_eq!(percent_decode("a%2Bb%C3%BC%7E"), Some("a+bü~".to_owned()));
    assert_eq!(percent_decode("100%"), Some("100%".to_owned()));
    assert_eq!(percent_decode("%FF"), None);
}
