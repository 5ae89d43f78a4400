//! The demo catalog: 32 realistic plugins with several versions each (stable and
//! experimental, QGIS 2, 3 and 4 ranges, tags, icons), stored as real zips that QGIS can
//! install. Deterministic, so two seeds produce the same site.

use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, TimeZone, Utc};
use zip::write::SimpleFileOptions;

use catalog::accounts::NewUser;
use catalog::model::Icon;
use catalog::names::{PackageName, PluginVersion, QgisVersion};
use catalog::plugins::PluginFields;
use catalog::seed;
use catalog::store::Store;
use catalog::versions::NewVersion;

struct DemoPlugin {
    package: &'static str,
    name: &'static str,
    author: &'static str,
    description: &'static str,
    tags: &'static str,
    /// (version, min, max, experimental, approved)
    versions: &'static [(&'static str, &'static str, &'static str, bool, bool)],
    deprecated: bool,
    server: bool,
}

const fn p(
    package: &'static str,
    name: &'static str,
    author: &'static str,
    description: &'static str,
    tags: &'static str,
    versions: &'static [(&'static str, &'static str, &'static str, bool, bool)],
) -> DemoPlugin {
    DemoPlugin {
        package,
        name,
        author,
        description,
        tags,
        versions,
        deprecated: false,
        server: false,
    }
}

const S3: &str = "3.0";
const E3: &str = "3.99";

static PLUGINS: &[DemoPlugin] = &[
    p(
        "quick_map_tiles",
        "Quick Map Tiles",
        "Anna Kowalska",
        "Add XYZ and WMTS basemaps from a curated list in one click.",
        "basemap,web,xyz,tiles",
        &[
            ("1.0.0", S3, E3, false, true),
            ("1.1.0", "3.16", E3, false, true),
            ("1.2.0", "3.22", "4.99", false, true),
            ("2.0.0-beta", "3.28", "4.99", true, true),
        ],
    ),
    p(
        "contour_builder",
        "Contour Builder",
        "Jonas Berg",
        "Generate smooth contour lines and filled bands from any DEM.",
        "raster,dem,contour,terrain",
        &[
            ("0.9", S3, E3, false, true),
            ("1.0", S3, E3, false, true),
            ("1.1", "3.16", E3, false, true),
        ],
    ),
    p(
        "geocoder_nominatim",
        "Nominatim Geocoder",
        "Lucía Fernández",
        "Search addresses and places with Nominatim and zoom to the results.",
        "geocoding,search,osm",
        &[
            ("2.1.0", S3, E3, false, true),
            ("2.2.0", "3.10", E3, false, true),
            ("3.0.0", "3.34", "4.99", true, true),
        ],
    ),
    p(
        "attribute_painter",
        "Attribute Painter",
        "Tomás Novák",
        "Copy attribute values from one feature and paint them onto others.",
        "attributes,editing,digitizing",
        &[
            ("1.0", S3, E3, false, true),
            ("1.3", S3, E3, false, true),
            ("1.4", "3.22", "4.99", false, true),
        ],
    ),
    p(
        "profile_tool",
        "Profile Tool",
        "Marie Dubois",
        "Draw elevation profiles along lines across one or more rasters.",
        "profile,raster,dem,analysis",
        &[
            ("4.0.0", "2.0", "2.99", false, true),
            ("4.2.0", S3, E3, false, true),
            ("4.3.0", "3.16", "4.99", false, true),
        ],
    ),
    p(
        "topology_doctor",
        "Topology Doctor",
        "Kenji Watanabe",
        "Find and fix gaps, overlaps and dangles in polygon layers.",
        "topology,validation,vector,cleaning",
        &[
            ("0.5.0", "3.10", E3, false, true),
            ("0.6.0", "3.16", E3, false, true),
            ("0.7.0-rc1", "3.22", E3, true, true),
        ],
    ),
    p(
        "csv_importer_plus",
        "CSV Importer Plus",
        "Priya Raman",
        "Import delimited text with type detection, encodings and coordinate parsing.",
        "csv,import,vector",
        &[("1.0.0", S3, E3, false, true), ("1.0.1", S3, E3, false, true)],
    ),
    p(
        "sentinel_downloader",
        "Sentinel Downloader",
        "Marco Rossi",
        "Browse and download Sentinel-2 scenes for the current map extent.",
        "remote sensing,sentinel,satellite,download",
        &[
            ("0.3", "3.16", E3, false, true),
            ("0.4", "3.22", E3, false, true),
            ("0.5", "3.28", "4.99", true, true),
        ],
    ),
    p(
        "print_layout_tools",
        "Print Layout Tools",
        "Sofia Lindqvist",
        "Batch export print layouts and manage atlas settings.",
        "print,layout,atlas,export",
        &[("2.0", S3, E3, false, true), ("2.1", "3.10", E3, false, true)],
    ),
    p(
        "road_network_router",
        "Road Network Router",
        "Ahmed Hassan",
        "Shortest paths and service areas on any line network.",
        "network,routing,analysis",
        &[
            ("1.0.0", S3, E3, false, true),
            ("1.1.0", "3.16", E3, false, true),
            ("1.2.0", "3.22", "4.99", false, true),
        ],
    ),
    p(
        "heatmap_studio",
        "Heatmap Studio",
        "Emma Wilson",
        "Kernel density heatmaps with live preview and styling presets.",
        "heatmap,density,analysis,styling",
        &[("0.1.0", "3.22", E3, true, true), ("0.2.0", "3.22", E3, true, true)],
    ),
    p(
        "layer_board",
        "Layer Board",
        "Pierre Martin",
        "A table of all layers with their CRS, extent and source, editable in place.",
        "layers,management,crs",
        &[
            ("1.0", S3, E3, false, true),
            ("1.1", "3.16", E3, false, true),
            ("1.2", "3.28", "4.99", false, true),
        ],
    ),
    p(
        "gpx_tracker",
        "GPX Tracker",
        "Lena Fischer",
        "Load GPX tracks and waypoints with speed and elevation statistics.",
        "gpx,gps,tracks,import",
        &[("0.8", S3, E3, false, true), ("0.9", S3, E3, false, true)],
    ),
    p(
        "ortho_mosaic",
        "Ortho Mosaic",
        "Diego Alvarez",
        "Mosaic orthophotos with seamlines and colour balancing.",
        "raster,mosaic,orthophoto",
        &[("1.0", "3.10", E3, false, true), ("1.5", "3.22", E3, false, true)],
    ),
    p(
        "cadastre_fr",
        "Cadastre Explorer",
        "Camille Lefèvre",
        "Import and query cadastral parcels with owner and area reports.",
        "cadastre,parcels,import",
        &[
            ("1.8.0", S3, E3, false, true),
            ("1.9.0", "3.16", E3, false, true),
            ("2.0.0", "3.34", "4.99", true, true),
        ],
    ),
    p(
        "photo2shape",
        "Photo2Shape",
        "Oleksandr Shevchenko",
        "Create a point layer from geotagged photos.",
        "photos,exif,points,import",
        &[("1.0", S3, E3, false, true), ("1.1", "3.10", E3, false, true)],
    ),
    p(
        "data_plotly_demo",
        "Data Plots",
        "Chen Wei",
        "Interactive charts (histograms, scatter, box plots) from layer attributes.",
        "plots,charts,statistics",
        &[
            ("3.0", S3, E3, false, true),
            ("3.1", "3.16", E3, false, true),
            ("4.0", "4.0", "4.99", false, true),
        ],
    ),
    p(
        "qgis4_checker",
        "QGIS 4 Checker",
        "Ingrid Olsen",
        "Scan your plugins and projects for APIs removed in QGIS 4.",
        "qgis4,migration,qt6",
        &[("0.1", "3.34", "4.99", false, true), ("0.2", "4.0", "4.99", false, true)],
    ),
    p(
        "wfs_browser",
        "WFS Browser",
        "Hugo Santos",
        "Browse WFS services, preview features and load filtered layers.",
        "wfs,web,ogc",
        &[("1.0", S3, E3, false, true), ("1.1", S3, E3, false, true)],
    ),
    p(
        "buffer_by_percentage",
        "Buffer by Percentage",
        "Ruth Cohen",
        "Buffer polygons so their area grows by a given percentage.",
        "buffer,vector,processing",
        &[("0.2", S3, E3, false, true), ("0.3", "3.16", "4.99", false, true)],
    ),
    p(
        "lidar_viewer",
        "LiDAR Viewer",
        "Matteo Bianchi",
        "Point cloud cross-sections and classification statistics.",
        "lidar,point cloud,3d",
        &[
            ("0.4", "3.18", E3, false, true),
            ("0.5", "3.28", E3, false, true),
            ("0.6-dev", "3.34", "4.99", true, true),
        ],
    ),
    p(
        "flood_mapper",
        "Flood Mapper",
        "Grace Mwangi",
        "Simple bathtub flood extents from a DEM and a water level.",
        "flood,hydrology,dem,analysis",
        &[
            ("1.0", S3, E3, false, true),
            ("1.0.1", S3, E3, false, true),
            ("1.1", "3.22", E3, false, true),
        ],
    ),
    p(
        "qrcode_labels",
        "QR Code Labels",
        "Nils Johansson",
        "Label features with QR codes that encode any expression.",
        "labels,qrcode,print",
        &[("0.1", S3, E3, false, true)],
    ),
    p(
        "street_view_link",
        "Street View Link",
        "Ana Pereira",
        "Click the map to open the location in a street-level imagery service.",
        "web,navigation,imagery",
        &[("1.2", S3, E3, false, true), ("1.3", S3, E3, false, true)],
    ),
    p(
        "batch_reprojector",
        "Batch Reprojector",
        "Yusuf Demir",
        "Reproject many layers or files to one CRS at once.",
        "crs,reprojection,batch,processing",
        &[("2.0", S3, E3, false, true), ("2.1", "3.22", "4.99", false, true)],
    ),
    p(
        "legacy_table_manager",
        "Legacy Table Manager",
        "Stefan Braun",
        "Manage attribute table fields (superseded by the built-in field calculator).",
        "attributes,fields,legacy",
        &[("0.4", "1.8", "2.99", false, true), ("0.5", S3, E3, false, true)],
    ),
    p(
        "mapserver_export",
        "MapServer Export",
        "Olivier Girard",
        "Export the project as a MapServer mapfile.",
        "mapserver,export,web,server",
        &[("1.0", "2.0", "2.99", false, true), ("1.1", S3, E3, false, true)],
    ),
    p(
        "wps_server_tools",
        "WPS Server Tools",
        "Kaito Sato",
        "Publish Processing algorithms as WPS through QGIS Server.",
        "server,wps,processing",
        &[("0.9", S3, E3, false, true), ("1.0", "3.22", E3, false, true)],
    ),
    p(
        "selection_stats",
        "Selection Statistics",
        "Laura Costa",
        "Live statistics of the selected features in the status bar.",
        "statistics,selection,attributes",
        &[
            ("1.0", S3, E3, false, true),
            ("1.1", S3, E3, false, true),
            ("1.2", "3.16", E3, false, false),
        ],
    ),
    p(
        "bathymetry_tools",
        "Bathymetry Tools",
        "Finn Larsen",
        "Interpolate soundings into depth surfaces and contours.",
        "bathymetry,interpolation,marine",
        &[("0.1", "3.16", E3, true, true), ("0.2", "3.22", E3, false, true)],
    ),
    p(
        "tile_cache_seeder",
        "Tile Cache Seeder",
        "Mei Lin",
        "Pre-render XYZ tile caches for offline use.",
        "tiles,cache,offline,xyz",
        &[("1.0", S3, E3, false, true), ("1.1", "3.22", "4.99", false, true)],
    ),
    p(
        "geology_symbols",
        "Geology Symbols",
        "Rafael Moreno",
        "Standard geological map symbols and line styles.",
        "geology,symbols,styling",
        &[("2.3", S3, E3, false, true), ("2.4", S3, E3, false, true)],
    ),
];

fn flags(pkg: &str) -> (bool, bool) {
    // (deprecated, server)
    match pkg {
        "legacy_table_manager" => (true, false),
        "wps_server_tools" | "mapserver_export" => (false, true),
        _ => (false, false),
    }
}

/// Seeds the demo catalog into `data_dir`; returns the number of plugins it holds.
pub fn seed(data_dir: &Path, if_empty: bool) -> Result<usize> {
    let mut conn = catalog::open(data_dir)?;
    let existing = seed::plugin_count(&conn)?;
    if existing > 0 {
        anyhow::ensure!(
            if_empty,
            "the catalog in `{}` already has {existing} plugins; seed an empty data dir or pass --if-empty",
            data_dir.display()
        );
        return Ok(existing as usize);
    }
    let epoch = Utc.with_ymd_and_hms(2024, 1, 15, 9, 30, 0).single().context("bad epoch")?;
    let tx = conn.transaction()?;
    let admin = catalog::accounts::create_user(
        &tx,
        &NewUser {
            username: "admin".into(),
            email: "admin@example.org".into(),
            is_staff: true,
            is_superuser: true,
            can_approve: true,
            ..Default::default()
        },
        epoch,
    )?;
    let _ = admin;
    let mut users = std::collections::HashMap::new();
    for (i, d) in PLUGINS.iter().enumerate() {
        let (deprecated, server) = flags(d.package);
        let username = d
            .author
            .split_whitespace()
            .next()
            .unwrap_or("author")
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>();
        let user = match users.get(&username) {
            Some(id) => *id,
            None => {
                let id = catalog::accounts::create_user(
                    &tx,
                    &NewUser {
                        username: username.clone(),
                        email: format!("{username}@example.org"),
                        can_approve: i % 3 == 0,
                        ..Default::default()
                    },
                    epoch,
                )?;
                users.insert(username.clone(), id);
                id
            }
        };
        let package = PackageName::parse(d.package)?;
        let created = epoch + Duration::days(i as i64 * 11) + Duration::minutes(i as i64 * 7);
        let fields = PluginFields {
            name: d.name.into(),
            author: d.author.into(),
            email: format!("{username}@example.org"),
            homepage: Some(format!("https://example.org/{}/", d.package)),
            repository: Some(format!("https://git.example.org/{username}/{}", d.package)),
            tracker: Some(format!("https://git.example.org/{username}/{}/issues", d.package)),
            description: d.description.into(),
            about: about_text(d),
            deprecated: deprecated || d.deprecated,
            server: server || d.server,
        };
        let plugin_id = catalog::plugins::create_plugin(&tx, &package, user, &fields, created)?;
        let tags: Vec<String> =
            d.tags.split(',').map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect();
        catalog::tags::set_tags(&tx, plugin_id, &tags)?;
        for (j, (ver, min, max, experimental, approved)) in d.versions.iter().enumerate() {
            let when =
                created + Duration::days(j as i64 * 37 + 1) + Duration::seconds(j as i64 * 13 + 1);
            let icon = png_icon(i as u32, j as u32);
            let zip = plugin_zip(d, &fields, ver, min, max, *experimental, &icon, when)?;
            let sha = catalog::hash::sha256_hex(&zip);
            let rel = Store::relative_path(&package, &PluginVersion::parse(ver)?, &sha);
            catalog::fsutil::write_atomic(&data_dir.join(&rel), &zip)?;
            let min_q = QgisVersion::parse(min)?;
            let version = NewVersion {
                version: PluginVersion::parse(ver)?,
                created_by: user,
                min_qgis: min_q,
                max_qgis: QgisVersion::parse(max)?,
                changelog: format!("Version {ver}: improvements and fixes."),
                experimental: *experimental,
                approved: *approved,
                external_deps: String::new(),
                token_id: None,
                package_path: rel,
                package_sha256: sha,
                package_size: zip.len() as i64,
                icon: Some(Icon { ext: "png".into(), bytes: icon }),
            };
            let vid = catalog::versions::insert_version(&tx, plugin_id, &version, when)?;
            let downloads = 40 + ((i * 7919 + j * 104729) % 5000) as i64;
            seed::set_version_downloads(&tx, vid, downloads)?;
            seed::add_plugin_downloads(&tx, plugin_id, downloads)?;
        }
    }
    tx.commit()?;
    Ok(PLUGINS.len())
}

fn about_text(d: &DemoPlugin) -> String {
    format!(
        "{} This demo plugin belongs to the example catalog of the repository: it installs in QGIS and adds nothing but a log message.\n\nTags: {}.",
        d.description,
        d.tags.replace(',', ", ")
    )
}

#[allow(clippy::too_many_arguments)]
fn plugin_zip(
    d: &DemoPlugin,
    f: &PluginFields,
    ver: &str,
    min: &str,
    max: &str,
    experimental: bool,
    icon: &[u8],
    when: DateTime<Utc>,
) -> Result<Vec<u8>> {
    let pkg = d.package;
    let metadata = format!(
        "[general]\nname={name}\nqgisMinimumVersion={min}\nqgisMaximumVersion={max}\ndescription={desc}\nversion={ver}\nauthor={author}\nemail={email}\nabout={about}\ntracker={tracker}\nrepository={repo}\nhomepage={home}\ntags={tags}\nicon=icon.png\nexperimental={exp}\ndeprecated={dep}\nserver={server}\nchangelog=Version {ver}: improvements and fixes.\n",
        name = f.name,
        desc = f.description,
        author = f.author,
        email = f.email,
        about = f.about.replace("\n\n", "\n    .\n    "),
        tracker = f.tracker.as_deref().unwrap_or_default(),
        repo = f.repository.as_deref().unwrap_or_default(),
        home = f.homepage.as_deref().unwrap_or_default(),
        tags = d.tags,
        exp = if experimental { "True" } else { "False" },
        dep = if f.deprecated { "True" } else { "False" },
        server = if f.server { "True" } else { "False" },
    );
    let init = format!(
        "# {name} {ver}: demo plugin of the QGIS plugin repository.\n\ndef classFactory(iface):\n    from .plugin import DemoPlugin\n    return DemoPlugin(iface)\n",
        name = f.name
    );
    let plugin_py = format!(
        "from qgis.core import Qgis, QgsMessageLog\n\n\nclass DemoPlugin:\n    def __init__(self, iface):\n        self.iface = iface\n\n    def initGui(self):\n        QgsMessageLog.logMessage({msg:?}, {tag:?}, Qgis.Info)\n\n    def unload(self):\n        pass\n",
        msg = format!("{} {ver} loaded", f.name),
        tag = pkg
    );
    let license = "GNU GENERAL PUBLIC LICENSE\nVersion 2, June 1991\n\nThis demo plugin is free software; you can redistribute it and/or modify it under the terms of the GNU General Public License.\n";
    let mut buf = Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    let dt = zip::DateTime::from_date_and_time(
        when.format("%Y").to_string().parse()?,
        when.format("%m").to_string().parse()?,
        when.format("%d").to_string().parse()?,
        when.format("%H").to_string().parse()?,
        when.format("%M").to_string().parse()?,
        0,
    )
    .map_err(|e| anyhow::anyhow!("bad zip date: {e}"))?;
    let opts = SimpleFileOptions::default().last_modified_time(dt).unix_permissions(0o644);
    zip.add_directory(format!("{pkg}/"), opts)?;
    for (name, bytes) in [
        ("metadata.txt", metadata.as_bytes()),
        ("__init__.py", init.as_bytes()),
        ("plugin.py", plugin_py.as_bytes()),
        ("LICENSE", license.as_bytes()),
        ("icon.png", icon),
    ] {
        zip.start_file(format!("{pkg}/{name}"), opts)?;
        zip.write_all(bytes)?;
    }
    zip.finish()?;
    Ok(buf.into_inner())
}

/// A 32×32 PNG in a colour derived from the plugin and version numbers.
pub fn png_icon(seed: u32, variant: u32) -> Vec<u8> {
    let (w, h) = (32u32, 32u32);
    let hue = (seed * 47 + variant * 5) % 360;
    let (r, g, b) = hsv(hue as f32, 0.55, 0.85);
    let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
    for y in 0..h {
        raw.push(0);
        for x in 0..w {
            let ring = ((x as i32 - 16).pow(2) + (y as i32 - 16).pow(2)) < 100;
            let px = if ring { [255, 255, 255] } else { [r, g, b] };
            raw.extend_from_slice(&px);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = z.write_all(&raw);
    let idat = z.finish().unwrap_or_default();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr), (b"IDAT", &idat), (b"IEND", &Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    png
}

fn hsv(h: f32, s: f32, v: f32) -> (u8, u8, u8) {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match h as u32 / 60 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |f: f32| ((f + m) * 255.0).round() as u8;
    (to(r), to(g), to(b))
}
