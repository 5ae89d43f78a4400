//! What a build publishes, as `render` hands it to `publish`: the site-wide files
//! ([`Content`] by path), the key of every plugin tree, and the [`TreeSource`] that renders
//! a tree when `publish` finds none with its key. A leaf: `render` produces these types and
//! `publish` consumes them, and neither is imported here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

/// One output file.
#[derive(Clone)]
pub enum Content {
    /// Rendered bytes.
    Bytes(Vec<u8>),
    /// An existing file (a stored zip), hard-linked into the site.
    File(PathBuf),
    /// The same bytes as another path of the same tree (identical plugins.xml variants).
    Same(String),
    /// Bytes produced only when publishing needs them (large plugins.xml documents), so a
    /// build never holds them all; `key` is a digest of exactly what `make` produces.
    Deferred { key: String, make: Arc<dyn Fn() -> Vec<u8> + Send + Sync> },
    /// A page identified by the digest of everything it is rendered from. `None`: the
    /// current release already has this page from the same digest, so it was not rendered
    /// and publishing links it.
    Memo { key: String, bytes: Option<Vec<u8>> },
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Content::File(p) => write!(f, "File({})", p.display()),
            Content::Same(p) => write!(f, "Same({p})"),
            Content::Deferred { key, .. } => write!(f, "Deferred({key})"),
            Content::Memo { key, bytes } => {
                write!(f, "Memo({key}, {})", if bytes.is_some() { "rendered" } else { "kept" })
            }
        }
    }
}

/// Renders a plugin's subtree (`plugins/<pkg>/`) when `publish` finds no tree with its key.
pub trait TreeSource: Sync {
    /// The files of the tree mounted at `mount`, relative to it.
    fn render_tree(&self, mount: &str) -> Result<BTreeMap<String, Content>>;
}

/// Everything a build publishes.
#[derive(Debug, Default)]
pub struct Plan {
    /// Digest of everything the site is rendered from; equal digests, equal sites.
    pub fingerprint: String,
    /// Site-wide files (listings, plugins.xml, static assets), relative to the site root.
    pub root: BTreeMap<String, Content>,
    /// Per-plugin trees: mount path (`plugins/<pkg>`) → digest of everything the tree is
    /// rendered from. A published tree with the same digest is reused without rendering.
    pub trees: BTreeMap<String, String>,
}
