//! Settings: the QGIS versions that get a plugins.xml, and their labels.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};

use crate::model::Settings;
use crate::names::QgisVersion;

/// Reads the settings table (QGIS versions and labels).
pub(crate) fn load_settings(conn: &Connection) -> Result<Settings> {
    let get = |key: &str| -> Result<Option<String>> {
        conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .with_context(|| format!("failed to read setting `{key}`"))
    };
    let list = get("qgis_versions")?.unwrap_or_default();
    let mut qgis_versions = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let v = QgisVersion::parse(item)
            .with_context(|| format!("setting `qgis_versions` holds `{item}`"))?;
        qgis_versions.push(QgisVersion::new(v.major, v.minor));
    }
    anyhow::ensure!(
        !qgis_versions.is_empty(),
        "setting `qgis_versions` is empty: set it to a comma-separated list such as `3.40,4.0`"
    );
    let mut labels = Vec::new();
    for label in ["latest", "stable", "ltr"] {
        if let Some(v) = get(&format!("qgis_{label}"))? {
            let q = QgisVersion::parse(&v)
                .with_context(|| format!("setting `qgis_{label}` holds `{v}`"))?;
            labels.push((label.to_owned(), QgisVersion::new(q.major, q.minor)));
        }
    }
    Ok(Settings { qgis_versions, labels })
}
