//! The model's names spelled as `urls` spells them: a plugin's icon URL, a version's file
//! names. A leaf of `render`: its siblings import it, it imports none of them.

use crate::urls;
use catalog::hash::short_hash;
use catalog::model::{Icon, Plugin, Version};

/// Absolute path of a plugin's icon; the content hash in the name lets it be cached forever.
pub(super) fn icon_url(p: &Plugin, icon: &Icon) -> String {
    urls::icon(p.package.as_str(), &short_hash(&icon.bytes), &icon.ext)
}

/// The icon's file in its plugin's tree (served at [`icon_url`]).
pub(super) fn icon_file(icon: &Icon) -> String {
    urls::icon_file(&short_hash(&icon.bytes), &icon.ext)
}

/// A version's page (`html`) or JSON (`json`) in its plugin's tree: `version-<v>.<ext>`.
/// Trees are flat: a directory per version would cost the file system far more than its
/// two files.
pub(super) fn version_file(v: &Version, ext: &str) -> String {
    urls::version_file(v.version.as_str(), ext)
}

/// `<pkg>.<version>.zip`: the name QGIS derives the plugin id from (text before the first dot).
pub(super) fn zip_file_name(p: &Plugin, v: &Version) -> String {
    urls::zip_file_name(p.package.as_str(), v.version.as_str())
}

/// `/plugins/<pkg>/`.
pub(super) fn plugin_page(p: &Plugin) -> String {
    urls::plugin_page(p.package.as_str())
}

/// `/plugins/<pkg>/version/<v>/`.
pub(super) fn version_page(p: &Plugin, v: &Version) -> String {
    urls::version_page(p.package.as_str(), v.version.as_str())
}

/// `/plugins/<pkg>/version/<v>/download/`.
pub(super) fn version_download(p: &Plugin, v: &Version) -> String {
    urls::version_download(p.package.as_str(), v.version.as_str())
}
