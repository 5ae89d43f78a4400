//! The catalog as the renderer sees it: approved, public data only, loaded from SQLite by
//! `db::load_catalog`. Unapproved versions never enter this model, so they never reach `site/`.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::ids::{PluginId, VersionId};
use crate::names::{PackageName, PluginVersion, QgisVersion};

/// Everything the renderer needs, in memory.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub settings: Settings,
    /// Plugins with at least one approved version, ordered by id.
    pub plugins: Vec<Plugin>,
}

/// Site-wide settings stored in the `settings` table.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Known QGIS versions (configured list); the generator expands it to every minor.
    pub qgis_versions: Vec<QgisVersion>,
    /// `latest`, `stable`, `ltr` labels and the version each points at.
    pub labels: Vec<(String, QgisVersion)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plugin {
    pub id: PluginId,
    pub package: PackageName,
    pub name: String,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
    pub creator: String,
    pub maintainer: String,
    pub display_created_by: bool,
    pub owners: Vec<String>,
    pub author: String,
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub tracker: Option<String>,
    pub description: String,
    pub about: String,
    pub downloads: i64,
    pub featured: bool,
    pub deprecated: bool,
    pub server: bool,
    pub is_deleted: bool,
    pub deleted_on: Option<DateTime<Utc>>,
    pub rating_votes: i64,
    pub rating_score: i64,
    pub revision: i64,
    pub tags: Vec<Tag>,
    /// Approved versions, highest version key first.
    pub versions: Vec<Version>,
    /// Icon of the highest approved version that has one.
    pub icon: Option<Icon>,
    /// Downloads per UTC day (`YYYY-MM-DD`, ascending) over the last `STATS_DAYS` days,
    /// days without downloads left out.
    pub daily_downloads: Vec<(String, i64)>,
}

/// Days of history the statistics pages show.
pub const STATS_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub id: VersionId,
    pub version: PluginVersion,
    pub created_on: DateTime<Utc>,
    /// Username of the uploader (for token uploads, the token's user).
    pub uploaded_by: Option<String>,
    /// Whether the uploader was trusted (can approve) or superuser.
    pub uploader_trusted: bool,
    pub min_qgis: QgisVersion,
    pub max_qgis: QgisVersion,
    pub changelog: String,
    pub experimental: bool,
    pub external_deps: String,
    pub downloads: i64,
    /// Path of the stored zip, relative to the data dir.
    pub package_path: String,
    pub package_sha256: String,
    pub package_size: i64,
    /// Its scan finished `validated` (versions approved before scans existed: false).
    pub checked: bool,
    /// The scan's QGIS 4 verdict (Qt6 rules and the declared maximum): `Some(true)` ready,
    /// `Some(false)` not, `None` not scanned.
    pub scan_qgis4_ready: Option<bool>,
}

impl Version {
    /// Declares QGIS 4 (`qgisMaximumVersion` ≥ 4.0) and the scan found no Qt5-only code; a
    /// version never scanned counts by its declaration alone.
    pub fn qgis4_ready(&self) -> bool {
        self.max_qgis.major >= 4 && self.scan_qgis4_ready != Some(false)
    }
}

#[derive(Debug, Clone)]
pub struct Icon {
    pub ext: String,
    pub bytes: Vec<u8>,
}

impl Plugin {
    /// The approved non-experimental version with the highest key.
    pub fn stable(&self) -> Option<&Version> {
        self.versions.iter().find(|v| !v.experimental)
    }

    /// The approved experimental version with the highest key.
    pub fn experimental(&self) -> Option<&Version> {
        self.versions.iter().find(|v| v.experimental)
    }

    /// The highest approved version, stable or experimental.
    pub fn latest(&self) -> Option<&Version> {
        self.versions.first()
    }

    /// `rating_score / (rating_votes + 0.001)`, as the reference computes `average_vote`.
    pub fn average_vote(&self) -> f64 {
        self.rating_score as f64 / (self.rating_votes as f64 + 0.001)
    }

    /// Bayesian "best rated" score (reference §1.2).
    pub fn weighted_rating(&self) -> f64 {
        let v = self.rating_votes as f64;
        let s = self.rating_score as f64;
        (v / (v + 5.0)) * (s / (v + 0.001)) + (5.0 / (v + 5.0)) * 3.0
    }

    /// `downloads · (1 + (S/(v+0.01))/3)` (reference §1.2).
    pub fn popularity(&self) -> f64 {
        let v = self.rating_votes as f64;
        let s = self.rating_score as f64;
        self.downloads as f64 * (1.0 + (s / (v + 0.01)) / 3.0)
    }

    /// Date of the newest approved version.
    pub fn latest_version_date(&self) -> Option<DateTime<Utc>> {
        self.versions.iter().map(|v| v.created_on).max()
    }

    /// Has an approved version that is QGIS 4 ready (`Version::qgis4_ready`).
    pub fn qgis4_ready(&self) -> bool {
        self.versions.iter().any(Version::qgis4_ready)
    }
}

/// Fingerprints serialize an icon as the hash of its bytes, not the bytes.
impl Serialize for Icon {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}:{}", self.ext, crate::hash::sha256_hex(&self.bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(max: &str, scan: Option<bool>) -> Version {
        Version {
            id: VersionId(1),
            version: PluginVersion::from_stored("1.0").unwrap(),
            created_on: Utc::now(),
            uploaded_by: None,
            uploader_trusted: false,
            min_qgis: QgisVersion::parse("3.0").unwrap(),
            max_qgis: QgisVersion::parse(max).unwrap(),
            changelog: String::new(),
            experimental: false,
            external_deps: String::new(),
            downloads: 0,
            package_path: String::new(),
            package_sha256: String::new(),
            package_size: 0,
            checked: scan.is_some(),
            scan_qgis4_ready: scan,
        }
    }

    #[test]
    fn qgis4_ready_needs_the_declaration_and_no_contrary_scan() {
        assert!(version("4.99", Some(true)).qgis4_ready());
        assert!(version("4.99", None).qgis4_ready(), "never scanned: the declaration counts");
        assert!(!version("4.99", Some(false)).qgis4_ready(), "Qt5-only code found");
        assert!(!version("3.99", Some(true)).qgis4_ready(), "does not declare QGIS 4");
    }
}
