//! Plugin icons as the site publishes them: an SVG is rasterised to a PNG (so nothing in it
//! can script, load or link anything on our origin), a PNG, JPEG, GIF or WebP passes through
//! only when its magic bytes say so. Pure CPU, no I/O; hostile SVGs are bounded in size,
//! nesting, expansion (`<use>`, markers, entities) and time, and a failure drops the icon.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use rayon::prelude::*;
use resvg::tiny_skia;
use resvg::usvg;
use usvg::roxmltree;

use catalog::model::{Catalog, Icon};

/// The longest side of a rasterised icon, in pixels (pages show icons at 64 CSS px or less,
/// so this is sharp at 2× density; the brief's cap is 256).
pub(crate) const SIDE: u32 = 128;
/// Larger SVGs are not icons (the validator's limit too).
pub(crate) const MAX_SVG_BYTES: usize = 1024 * 1024;
/// XML nodes the parser may create (a real icon has hundreds).
const MAX_NODES: u32 = 20_000;
/// Elements after `<use>` and markers are expanded: what usvg would build and resvg draw.
const MAX_EXPANDED: u64 = 20_000;
/// Element nesting, `<use>` chains included (usvg and resvg recurse over it).
const MAX_DEPTH: usize = 64;
/// A rasterisation that takes longer is abandoned (its thread ends with the build process).
const TIME_LIMIT: Duration = Duration::from_secs(2);

/// Why an icon is not published.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum IconError {
    #[error("the SVG is larger than {MAX_SVG_BYTES} bytes")]
    TooLarge,
    #[error("the SVG is not UTF-8 text")]
    NotUtf8,
    #[error("the SVG is not well-formed XML: {0}")]
    Xml(String),
    #[error("the SVG defines entities that refer to other entities")]
    NestedEntities,
    #[error("the SVG nests elements deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the SVG expands to more than {MAX_EXPANDED} elements")]
    TooComplex,
    #[error("the SVG cannot be drawn: {0}")]
    Svg(String),
    #[error("drawing the SVG took longer than {} s", TIME_LIMIT.as_secs())]
    TimedOut,
    #[error("the icon's bytes are not a {0} image")]
    NotRaster(String),
}

/// Replaces every plugin's icon by what the site publishes (a PNG for an SVG), or drops it
/// with a warning. Runs on every build, so old catalogs need no data migration.
pub(crate) fn prepare_catalog(catalog: &mut Catalog) {
    catalog.plugins.par_iter_mut().for_each(|p| {
        let Some(icon) = p.icon.take() else { return };
        match publishable(icon) {
            Ok(icon) => p.icon = Some(icon),
            Err(e) => tracing::warn!(package = %p.package, error = %e, "icon not published"),
        }
    });
}

/// The icon as published: SVG rasterised to PNG, raster formats checked by magic bytes.
pub(crate) fn publishable(icon: Icon) -> Result<Icon, IconError> {
    if icon.ext == "svg" {
        let png = rasterise_bounded(icon.bytes)?;
        return Ok(Icon { ext: "png".into(), bytes: png });
    }
    if raster_ext(&icon.bytes) == Some(icon.ext.as_str()) {
        Ok(icon)
    } else {
        Err(IconError::NotRaster(icon.ext))
    }
}

/// The raster type of `b` from its magic bytes, as the validator names it.
pub(crate) fn raster_ext(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("gif")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// `rasterise` on its own thread, abandoned after `TIME_LIMIT` (a thread cannot be killed;
/// builds run in a child process that exits when done, which ends it). A panic inside
/// resvg drops the icon too.
fn rasterise_bounded(svg: Vec<u8>) -> Result<Vec<u8>, IconError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("icon-raster".into())
        .stack_size(16 << 20)
        .spawn(move || {
            let _ = tx.send(rasterise(&svg));
        })
        .map_err(|e| IconError::Svg(e.to_string()))?;
    match rx.recv_timeout(TIME_LIMIT) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(IconError::TimedOut),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(IconError::Svg("the renderer failed".into()))
        }
    }
}

/// Draws an SVG into a PNG whose longest side is `SIDE`, loading nothing: no files, no
/// URLs, no embedded images, no fonts (text is not drawn).
pub(crate) fn rasterise(svg: &[u8]) -> Result<Vec<u8>, IconError> {
    if svg.len() > MAX_SVG_BYTES {
        return Err(IconError::TooLarge);
    }
    let text = std::str::from_utf8(svg).map_err(|_| IconError::NotUtf8)?;
    if has_nested_entities(text) {
        return Err(IconError::NestedEntities);
    }
    let options =
        roxmltree::ParsingOptions { allow_dtd: true, nodes_limit: MAX_NODES, ..Default::default() };
    let xml = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| IconError::Xml(e.to_string()))?;
    if expanded_size(&xml)? > MAX_EXPANDED {
        return Err(IconError::TooComplex);
    }
    let tree = usvg::Tree::from_xmltree(&xml, &usvg_options())
        .map_err(|e| IconError::Svg(e.to_string()))?;
    let size = tree.size();
    let scale = SIDE as f32 / size.width().max(size.height());
    let side = |v: f32| ((v * scale).round() as u32).clamp(1, SIDE);
    let mut pixmap = tiny_skia::Pixmap::new(side(size.width()), side(size.height()))
        .ok_or_else(|| IconError::Svg("no pixels".into()))?;
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| IconError::Svg(e.to_string()))
}

/// usvg with every external resource refused: `<image href>` (files, URLs, and data URLs,
/// whose decoders would be more attack surface) resolves to nothing.
fn usvg_options() -> usvg::Options<'static> {
    usvg::Options {
        resources_dir: None,
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    }
}

/// Entities whose value refers to another entity are how "billion laughs" grows; real
/// icons (Illustrator's `ns_svg` and friends) declare plain values.
fn has_nested_entities(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("<!entity").any(|(at, _)| {
        let decl = &lower[at..];
        let end = decl.find('>').unwrap_or(decl.len());
        decl[..end].contains('&') || decl[..end].contains('%')
    })
}

/// How many elements the SVG becomes once `<use>` references and markers are expanded
/// (usvg copies them), stopping early past `MAX_EXPANDED`; deeper than `MAX_DEPTH` is an
/// error. Markers are counted as if every vertex of every shape carried the largest one.
fn expanded_size(doc: &roxmltree::Document<'_>) -> Result<u64, IconError> {
    let ids: HashMap<&str, roxmltree::Node<'_, '_>> =
        doc.descendants().filter_map(|n| Some((n.attribute("id")?, n))).collect();
    let mut counter = Expansion { ids, memo: HashMap::new(), marker: 0 };
    let mut marker = 0;
    for m in doc.descendants().filter(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "marker")))
    {
        marker = marker.max(counter.size(m, 0)?);
    }
    counter.marker = marker;
    counter.memo.clear();
    counter.size(doc.root_element(), 0)
}

struct Expansion<'a, 'input> {
    ids: HashMap<&'a str, roxmltree::Node<'a, 'input>>,
    memo: HashMap<roxmltree::NodeId, u64>,
    /// Expanded size of the largest marker (0 while markers themselves are measured).
    marker: u64,
}

impl<'a, 'input> Expansion<'a, 'input> {
    fn size(&mut self, n: roxmltree::Node<'a, 'input>, depth: usize) -> Result<u64, IconError> {
        if depth > MAX_DEPTH {
            return Err(IconError::TooDeep);
        }
        if let Some(&s) = self.memo.get(&n.id()) {
            return Ok(s);
        }
        // A cycle (a `<use>` of an ancestor) counts once; usvg refuses to follow it.
        self.memo.insert(n.id(), 1);
        let mut total: u64 = 1;
        for c in n.children().filter(|c| c.is_element()) {
            total = total.saturating_add(self.size(c, depth + 1)?);
            if total > MAX_EXPANDED {
                return Ok(total);
            }
        }
        if n.tag_name().name() == "use" {
            let href = n.attributes().find(|a| a.name() == "href").map(|a| a.value());
            if let Some(target) =
                href.and_then(|h| h.strip_prefix('#')).and_then(|id| self.ids.get(id))
            {
                total = total.saturating_add(self.size(*target, depth + 1)?);
            }
        }
        if self.marker > 0 {
            total = total.saturating_add(self.marker.saturating_mul(vertices(n)));
        }
        self.memo.insert(n.id(), total);
        Ok(total)
    }
}

/// An upper bound of a shape's vertices (the numbers in its geometry); 0 for other elements.
fn vertices(n: roxmltree::Node<'_, '_>) -> u64 {
    if !matches!(n.tag_name().name(), "path" | "line" | "polyline" | "polygon") {
        return 0;
    }
    ["d", "points", "x1", "x2"]
        .iter()
        .filter_map(|a| n.attribute(*a))
        .map(|v| {
            v.split(|c: char| !(c.is_ascii_digit() || c == '.')).filter(|s| !s.is_empty()).count()
                as u64
        })
        .sum::<u64>()
        .max(1)
}

#[cfg(test)]
mod tests;
