//! The URL and file-name rule, and nginx's version captures agreeing with the validator.

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
