//! Escaping of text for HTML and XML: the one escaper behind tera's autoescape
//! (`templates`), plugins.xml, the Atom feeds and the SVG charts (`render`). A leaf: it
//! imports nothing of this crate.

/// Django's HTML escaping of the five characters `& < > " '` (reference §4.5), applied
/// inside CDATA too so a description cannot inject markup into QGIS's Plugin Manager and
/// `]]>` cannot occur. Characters that XML 1.0 cannot carry are dropped so the document
/// stays well-formed whatever the catalog holds.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let bytes = s.as_bytes();
    // Runs of bytes that need nothing are copied whole: every cut below is at an ASCII byte
    // or at the lead byte of a 3-byte sequence, so always at a char boundary.
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let (replacement, len) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' => ("&quot;", 1),
            b'\'' => ("&#x27;", 1),
            b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            // Not XML 1.0 `Char`s: other C0 controls, U+FFFE and U+FFFF (EF BF BE/BF).
            0..=0x1F => ("", 1),
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                ("", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        out.push_str(replacement);
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
    out
}
