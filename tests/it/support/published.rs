//! Where nginx (`nginx/site.conf.in` and its includes) answers each published file: a thin
//! wrapper over `generator::urls::public_address`, the one map the generator, nginx's
//! locations and these tests share (`url_map.rs` checks every published file against nginx
//! with it). Every test that walks the published tree maps a file to its URL with
//! [`public_url`], never by hand.

use generator::urls::{self, PublicAddress};

/// The public URL path (percent-encoded, as a client sends it) that nginx answers with the
/// published file `rel` (relative to the site root, `/`-separated), or None when no URL
/// names the file by itself: `.gz` siblings, dot files (the release manifest), the
/// internal `404.html`, and a package's plugins.xml documents (see [`package_document`]).
pub(crate) fn public_url(rel: &str) -> Option<String> {
    match urls::public_address(rel) {
        PublicAddress::Url(url) => Some(url),
        _ => None,
    }
}

/// A package's plugins.xml document `plugins/<pkg>/xml-[stable_only-]<stem>.xml`:
/// (package, stable_only, stem).
pub(crate) use generator::urls::package_document;

/// Percent-encodes a URL path segment as the site's own links do.
pub(crate) use generator::urls::segment as percent_encode;

/// The inverse of [`percent_encode`] (any `%XX`; invalid escapes stay as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn percent_decode_reverses_percent_encode() {
    assert_eq!(
        percent_decode("/plugins/author/Zo%C3%AB%20van%20Dijk/"),
        "/plugins/author/Zoë van Dijk/"
    );
    assert_eq!(percent_decode("100%"), "100%");
}
