//! `CheckedPlugin`: what the validator hands back for a zip that passed every check.

use catalog::model::Icon;
use catalog::names::{PackageName, PluginVersion, QgisVersion};

use super::problem::Problem;

/// A plugin version that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedPlugin {
    pub package: PackageName,
    pub version: PluginVersion,
    pub min_qgis: QgisVersion,
    /// `qgisMaximumVersion`, defaulted to `<major>.99`.
    pub max_qgis: QgisVersion,
    pub name: String,
    pub description: String,
    pub about: String,
    pub author: String,
    pub email: String,
    pub homepage: Option<String>,
    pub tracker: Option<String>,
    pub repository: Option<String>,
    pub changelog: String,
    /// Trimmed, lower-case, non-empty, deduplicated, in order of appearance.
    pub tags: Vec<String>,
    pub experimental: bool,
    pub deprecated: bool,
    pub server: bool,
    pub external_deps: String,
    pub icon: Option<Icon>,
    pub sha256: String,
    pub size: u64,
    /// Every key of [general] as written, values trimmed (`%%` read as `%`), then
    /// `metadata_source` and `package_name`.
    pub metadata: Vec<(String, String)>,
    pub warnings: Vec<Problem>,
}
