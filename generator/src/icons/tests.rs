//! Icon rasterisation: real icons become PNGs of the right size; hostile SVGs are refused
//! quickly or drawn harmlessly, never hang or exhaust memory.

use std::time::{Duration, Instant};

use super::*;

fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(raster_ext(png), Some("png"), "not a PNG");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (w, h)
}

const SIMPLE: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" r="10" fill="#589632"/></svg>"##;

#[test]
fn a_real_icon_becomes_a_png_of_the_longest_side() {
    assert_eq!(png_size(&rasterise(SIMPLE.as_bytes()).unwrap()), (SIDE, SIDE));
    let wide = r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="200" height="100"/></svg>"#;
    assert_eq!(png_size(&rasterise(wide.as_bytes()).unwrap()), (SIDE, SIDE / 2));
}

#[test]
fn publishable_converts_svg_and_checks_raster_magic() {
    let svg = Icon { ext: "svg".into(), bytes: SIMPLE.as_bytes().to_vec() };
    let out = publishable(svg).unwrap();
    assert_eq!(out.ext, "png");
    png_size(&out.bytes);
    let png = crate::demo::png_icon(1, 0);
    assert_eq!(publishable(Icon { ext: "png".into(), bytes: png.clone() }).unwrap().bytes, png);
    let html = Icon { ext: "png".into(), bytes: b"<html><script>alert(1)</script>".to_vec() };
    assert_eq!(publishable(html).unwrap_err(), IconError::NotRaster("png".into()));
    let lie = Icon { ext: "gif".into(), bytes: png };
    assert!(publishable(lie).is_err());
}

/// The shapes of the issue's hostile icons still draw: their scripts and links are inert.
#[test]
fn hostile_but_drawable_svgs_become_plain_pngs() {
    let cases = [
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:h="http://www.w3.org/1999/xhtml" viewBox="0 0 10 10"><h:script>alert(1)</h:script><rect width="10" height="10"/></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><foreignObject width="10" height="10"><body xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></body></foreignObject><rect width="5" height="5"/></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><set attributeName="&#111;nload" to="alert(1)"/><a href="&#106;avascript:alert(1)"><rect width="10" height="10"/></a></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10"><a xlink:href="javascript:alert(1)"><rect width="10" height="10"/></a></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><use href="http://127.0.0.1:9/x.svg#a"/><image href="http://127.0.0.1:9/i.png" width="10" height="10"/><image href="file:///etc/passwd" width="10" height="10"/><image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/></svg>"#,
    ];
    for svg in cases {
        let png = rasterise(svg.as_bytes()).unwrap_or_else(|e| panic!("{svg}: {e}"));
        png_size(&png);
    }
}

fn fast<T>(f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    assert!(t.elapsed() < Duration::from_secs(1), "took {:?}", t.elapsed());
    out
}

#[test]
fn billion_laughs_is_refused() {
    let mut dtd = String::from("<!DOCTYPE svg [<!ENTITY a0 \"lol\">");
    for i in 1..10 {
        let prev = format!("&a{};", i - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY a{i} \"{prev}\">"));
    }
    let svg = format!("{dtd}]><svg xmlns=\"http://www.w3.org/2000/svg\"><text>&a9;</text></svg>");
    assert_eq!(fast(|| rasterise(svg.as_bytes())).unwrap_err(), IconError::NestedEntities);
    // Illustrator's plain entities are fine.
    let plain = "<!DOCTYPE svg [<!ENTITY ns_svg \"http://www.w3.org/2000/svg\">]><svg xmlns=\"&ns_svg;\" viewBox=\"0 0 4 4\"><rect width=\"4\" height=\"4\"/></svg>";
    png_size(&rasterise(plain.as_bytes()).unwrap());
}

#[test]
fn exponential_use_is_refused() {
    let mut defs = String::from("<g id=\"u0\"><rect width=\"1\" height=\"1\"/></g>");
    for i in 1..30 {
        let p = i - 1;
        defs.push_str(&format!("<g id=\"u{i}\"><use href=\"#u{p}\"/><use href=\"#u{p}\"/></g>"));
    }
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 9 9\"><defs>{defs}</defs><use href=\"#u29\"/></svg>"
    );
    assert_eq!(fast(|| rasterise(svg.as_bytes())).unwrap_err(), IconError::TooComplex);
}

#[test]
fn marker_amplification_is_refused() {
    let marker = "<circle r=\"1\"/>".repeat(200);
    let d = "M0 0 ".to_string() + &"L1 1 ".repeat(5000);
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 9 9\"><marker id=\"m\">{marker}</marker><path d=\"{d}\" marker-mid=\"url(#m)\"/></svg>"
    );
    assert_eq!(fast(|| rasterise(svg.as_bytes())).unwrap_err(), IconError::TooComplex);
}

#[test]
fn deep_nesting_and_many_nodes_are_refused() {
    let deep = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 9 9\">{}{}</svg>",
        "<g>".repeat(5000),
        "</g>".repeat(5000)
    );
    assert!(fast(|| rasterise(deep.as_bytes())).is_err());
    let many = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 9 9\">{}</svg>",
        "<rect width=\"1\" height=\"1\"/>".repeat(30_000)
    );
    assert!(matches!(fast(|| rasterise(many.as_bytes())), Err(IconError::Xml(_))));
    assert_eq!(rasterise(&vec![b' '; MAX_SVG_BYTES + 1]).unwrap_err(), IconError::TooLarge);
}

#[test]
fn huge_canvases_and_filters_stay_small_and_fast() {
    let huge = r#"<svg xmlns="http://www.w3.org/2000/svg" width="100000000" height="100000000"><filter id="f" x="-1000" y="-1000" width="5000" height="5000"><feGaussianBlur stdDeviation="1000000"/><feTurbulence baseFrequency="0.5" numOctaves="10"/></filter><rect width="100000000" height="100000000" filter="url(#f)"/></svg>"#;
    // Big blurs and turbulence cost up to about a second here: drawn within the time limit,
    // or abandoned at it, never longer.
    let t = Instant::now();
    let out = publishable(Icon { ext: "svg".into(), bytes: huge.as_bytes().to_vec() });
    assert!(t.elapsed() < TIME_LIMIT + Duration::from_millis(500), "took {:?}", t.elapsed());
    match out {
        Ok(icon) => assert_eq!(png_size(&icon.bytes), (SIDE, SIDE)),
        Err(e) => assert_eq!(e, IconError::TimedOut),
    }
}

#[test]
fn garbage_is_refused_not_panicked_on() {
    for bad in [
        &b"\xff\xfe"[..],
        b"<svg",
        b"<html/>",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"0\" height=\"0\"/>",
    ] {
        assert!(rasterise(bad).is_err(), "{bad:?}");
    }
}
