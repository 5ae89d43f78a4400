//! `generator synth`: a synthetic catalog the size of plugins.qgis.org for benchmarks, built
//! as performance.md §1–§2.1 describes (real names, authors, downloads and votes from the 2025
//! listing in `shared/data/`, about 10 versions per plugin, 0.75 accounts per plugin,
//! stable/experimental and QGIS range shares of the real site). Every row is one the
//! uploader could have written: each version has a valid stand-in zip with its checksum.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Duration, TimeZone, Utc};
use zip::write::SimpleFileOptions;

use catalog::accounts::NewUser;
use catalog::model::Icon;
use catalog::names::{PackageName, PluginVersion, QgisVersion};
use catalog::plugins::PluginFields;
use catalog::seed;
use catalog::store::Store;
use catalog::versions::NewVersion;

/// A small deterministic generator (splitmix64): the same seed gives the same catalog.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Log-normal with the given median (sigma 0.8).
    fn lognormal(&mut self, median: f64) -> usize {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (median * (0.8 * normal).exp()).round().max(1.0) as usize
    }
}

const WORDS: &[&str] = &[
    "layer",
    "raster",
    "vector",
    "map",
    "tool",
    "export",
    "import",
    "analysis",
    "network",
    "style",
    "label",
    "print",
    "query",
    "service",
    "web",
    "tile",
    "terrain",
    "hydrology",
    "survey",
    "point",
    "line",
    "polygon",
    "grid",
    "cluster",
    "buffer",
    "route",
    "geometry",
    "attribute",
    "table",
    "field",
    "feature",
    "selection",
    "projection",
    "coordinate",
    "elevation",
    "profile",
    "contour",
    "satellite",
    "image",
    "classification",
    "statistics",
    "heatmap",
    "density",
    "catalog",
    "metadata",
    "database",
    "spatial",
    "index",
    "cache",
    "processing",
    "algorithm",
    "model",
    "plot",
    "chart",
    "report",
    "atlas",
    "legend",
    "symbol",
    "digitize",
    "snap",
    "topology",
    "validate",
    "clean",
    "merge",
    "split",
    "dissolve",
    "clip",
    "intersect",
    "join",
    "lookup",
    "geocode",
    "address",
    "place",
    "search",
];

fn sentence(rng: &mut Rng, chars: usize) -> String {
    let mut s = String::with_capacity(chars + 16);
    while s.len() < chars {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => s,
    }
}

/// One plugin of the real 2025 listing.
struct Listed {
    package: String,
    author: String,
    downloads: i64,
    votes: i64,
}

fn read_listing(path: &Path) -> Result<Vec<Listed>> {
    let bytes = fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("failed to parse `{}`", path.display()))?;
    let mut out = Vec::new();
    if let Some(map) = doc.as_object() {
        for (key, v) in map {
            let Some(obj) = v.as_object() else { continue };
            let num = |k: &str| {
                obj.get(k).and_then(|x| x.as_str()).and_then(|s| s.parse().ok()).unwrap_or(0)
            };
            out.push(Listed {
                package: key.clone(),
                author: obj.get("author").and_then(|a| a.as_str()).unwrap_or("").to_owned(),
                downloads: num("downloads"),
                votes: num("stars"),
            });
        }
    }
    Ok(out)
}

/// A package name for a listing key: invalid characters become `_`, a leading digit gets a
/// `p` (the real site has such legacy names; new uploads must be identifiers).
fn package_for(key: &str, i: usize) -> PackageName {
    let mut s: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 'p');
    }
    PackageName::parse(&s)
        .ok()
        .filter(|p| !p.is_reserved())
        .unwrap_or_else(|| PackageName::parse(&format!("plugin_{i}")).expect("valid name"))
}

/// What `synth` wrote.
#[derive(Debug, serde::Serialize)]
pub struct SynthReport {
    pub plugins: usize,
    pub versions: usize,
    pub users: usize,
    pub approved: usize,
}

/// Writes a synthetic catalog of `n` plugins into an empty data dir.
pub fn synth(data_dir: &Path, n: usize, listing: Option<&Path>) -> Result<SynthReport> {
    let mut conn = catalog::open(data_dir)?;
    let existing = seed::plugin_count(&conn)?;
    anyhow::ensure!(
        existing == 0,
        "`{}` already holds a catalog; synth needs an empty data dir",
        data_dir.display()
    );
    let listed = match listing {
        Some(p) => read_listing(p)?,
        None => Vec::new(),
    };
    let mut rng = Rng(0x5EED_2500);
    let epoch = Utc.with_ymd_and_hms(2012, 1, 1, 0, 0, 0).single().context("bad epoch")?;
    let tx = conn.transaction()?;

    // Accounts: 0.75 per plugin, 20 of them trusted, one staff.
    let n_users = (n * 3 / 4).max(2);
    let mut users = Vec::with_capacity(n_users);
    for u in 0..n_users {
        let id = catalog::accounts::create_user(
            &tx,
            &NewUser {
                username: format!("user{u}"),
                email: format!("user{u}@example.org"),
                is_staff: u == 0,
                can_approve: u < 20,
                ..Default::default()
            },
            epoch,
        )?;
        users.push(id);
    }
    let vocabulary: Vec<String> =
        (0..2000).map(|i| format!("{}{}", WORDS[i % WORDS.len()], i / WORDS.len())).collect();

    let mut seen_packages: HashMap<String, usize> = HashMap::new();
    let (mut versions_total, mut approved_total) = (0, 0);
    for i in 0..n {
        let real = listed.get(i);
        let mut package = match real {
            Some(l) => package_for(&l.package, i),
            None => PackageName::parse(&format!("synthetic_plugin_{i}")).expect("valid name"),
        };
        let lower = package.as_str().to_lowercase();
        if let Some(k) = seen_packages.get_mut(&lower) {
            *k += 1;
            package = PackageName::parse(&format!("{}_{k}", package.as_str())).expect("valid name");
        } else {
            seen_packages.insert(lower, 0);
        }
        let name = package.as_str().replace('_', " ");
        let author = real
            .map(|l| l.author.clone())
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .unwrap_or_else(|| format!("Author {}", rng.below(1600)));
        let creator = users[rng.below(users.len() as u64) as usize];
        let created = epoch
            + Duration::days(rng.below(5000) as i64)
            + Duration::seconds(rng.below(86_400) as i64);
        let (desc_len, about_len) = (rng_len(&mut rng, 86), rng_len(&mut rng, 220));
        let fields = PluginFields {
            name: name.clone(),
            author: author.clone(),
            email: format!("{}@example.org", package.as_str().to_lowercase()),
            homepage: rng.chance(0.8).then(|| format!("https://example.org/{}/", package)),
            repository: Some(format!("https://git.example.org/{}", package)),
            tracker: Some(format!("https://git.example.org/{}/issues", package)),
            description: sentence(&mut rng, desc_len),
            about: sentence(&mut rng, about_len),
            deprecated: rng.chance(0.03),
            server: rng.chance(0.04),
        };
        let plugin_id = catalog::plugins::create_plugin(&tx, &package, creator, &fields, created)?;
        let ntags = rng.lognormal(4.0).min(15);
        let mut tags: Vec<String> =
            (0..ntags).map(|_| vocabulary[rng.below(2000) as usize].clone()).collect();
        tags.sort();
        tags.dedup();
        catalog::tags::set_tags(&tx, plugin_id, &tags)?;

        // Versions: exponential count around 10, one plugin with 82.
        let count = if i == 7 {
            82
        } else {
            ((-rng.unit().max(1e-9).ln()) * 10.0).round().clamp(1.0, 60.0) as usize
        };
        let kind = rng.unit(); // < 0.25 experimental-only, < 0.47 mixed, else stable-only
        let qgis2_only = rng.chance(0.12);
        let base_min = if qgis2_only {
            QgisVersion::new(2, rng.below(10) as u16 * 2)
        } else {
            QgisVersion::new(3, rng.below(11) as u16 * 4)
        };
        let icon = rng.chance(0.8).then(|| crate::demo::png_icon(i as u32, 0));
        let changelog_len = rng_len(&mut rng, 300);
        for j in 0..count {
            let ver = format!("{}.{}.{}", j / 20, (j / 5) % 4, j % 5);
            let experimental = if kind < 0.25 {
                true
            } else if kind < 0.47 {
                j % 3 == 2
            } else {
                false
            };
            let last = j + 1 == count;
            let max = if qgis2_only {
                QgisVersion::new(2, 99)
            } else if last && rng.chance(0.2) {
                QgisVersion::new(4, 99)
            } else {
                QgisVersion::new(3, 99)
            };
            let min = if qgis2_only {
                base_min
            } else {
                QgisVersion::new(3, (base_min.minor + (j as u16 / 4) * 2).min(40))
            };
            let approved = rng.chance(0.95);
            let when = created
                + Duration::days(j as i64 * 30 + 1)
                + Duration::seconds(rng.below(86_400) as i64);
            let zip = stand_in_zip(&package, &fields, &ver, min, max, experimental)?;
            let sha = catalog::hash::sha256_hex(&zip);
            let rel = Store::relative_path(&package, &PluginVersion::parse(&ver)?, &sha);
            let path = data_dir.join(&rel);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)
                    .with_context(|| format!("failed to create `{}`", dir.display()))?;
            }
            // One syncfs at the end instead of an fsync per file: this is bulk test data.
            File::create(&path)
                .and_then(|mut f| f.write_all(&zip))
                .with_context(|| format!("failed to write `{}`", path.display()))?;
            let version = NewVersion {
                version: PluginVersion::parse(&ver)?,
                created_by: creator,
                min_qgis: min,
                max_qgis: max,
                changelog: sentence(&mut rng, changelog_len),
                experimental,
                approved,
                external_deps: String::new(),
                token_id: None,
                package_path: rel,
                package_sha256: sha,
                package_size: zip.len() as i64,
                icon: icon
                    .as_ref()
                    .filter(|_| last || j == 0)
                    .map(|b| Icon { ext: "png".into(), bytes: b.clone() }),
            };
            let vid = catalog::versions::insert_version(&tx, plugin_id, &version, when)?;
            let share = real.map(|l| l.downloads).unwrap_or_else(|| rng.lognormal(5520.0) as i64)
                / count as i64;
            seed::set_version_downloads(&tx, vid, share)?;
            versions_total += 1;
            approved_total += usize::from(approved);
        }
        let downloads = real.map(|l| l.downloads).unwrap_or_else(|| rng.lognormal(5520.0) as i64);
        let votes = real.map(|l| l.votes).unwrap_or_else(|| rng.lognormal(8.0) as i64);
        let score = votes * (3 + rng.below(3) as i64);
        seed::set_plugin_popularity(&tx, plugin_id, downloads, votes, score)?;
    }
    tx.commit()?;
    let dir =
        File::open(data_dir).with_context(|| format!("failed to open `{}`", data_dir.display()))?;
    rustix::fs::syncfs(&dir).context("failed to sync the data dir")?;
    Ok(SynthReport {
        plugins: n,
        versions: versions_total,
        users: n_users,
        approved: approved_total,
    })
}

fn rng_len(rng: &mut Rng, median: usize) -> usize {
    rng.lognormal(median as f64).min(4000)
}

fn stand_in_zip(
    package: &PackageName,
    f: &PluginFields,
    ver: &str,
    min: QgisVersion,
    max: QgisVersion,
    experimental: bool,
) -> Result<Vec<u8>> {
    let metadata = format!(
        "[general]\nname={}\nqgisMinimumVersion={}\nqgisMaximumVersion={}\ndescription={}\nversion={ver}\nauthor={}\nemail={}\nabout={}\ntracker={}\nrepository={}\nexperimental={experimental}\n",
        f.name,
        min.minor_label(),
        max.minor_label(),
        f.description,
        f.author.replace('%', "%%"),
        f.email,
        f.about,
        f.tracker.as_deref().unwrap_or_default(),
        f.repository.as_deref().unwrap_or_default(),
    );
    let mut buf = Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    let opts = SimpleFileOptions::default().unix_permissions(0o644);
    for (name, bytes) in [
        ("metadata.txt", metadata.as_bytes()),
        ("__init__.py", b"def classFactory(iface):\n    from .plugin import Plugin\n    return Plugin(iface)\n".as_slice()),
        ("plugin.py", b"class Plugin:\n    def __init__(self, iface):\n        self.iface = iface\n\n    def initGui(self):\n        pass\n\n    def unload(self):\n        pass\n".as_slice()),
        ("LICENSE", b"GPL-2.0-or-later\n".as_slice()),
    ] {
        zip.start_file(format!("{package}/{name}"), opts)?;
        zip.write_all(bytes)?;
    }
    zip.finish()?;
    Ok(buf.into_inner())
}
