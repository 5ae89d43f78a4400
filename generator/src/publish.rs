//! Publishing: the only code that writes `site/`. A build becomes a new release directory
//! that nginx sees only when the `current` symlink is swapped to it, atomically:
//!
//! ```text
//! site/current -> releases/r-000042          nginx's root
//! site/releases/r-000042/...                 site-wide files; .manifest.json
//! site/releases/r-000042/plugins/<pkg> -> ../../../trees/<pkg>/<hash>
//! site/trees/<pkg>/<hash>/...                one immutable subtree per plugin content
//! ```
//!
//! Invariants: a reader sees the old release or the new one, never a mix, and never a
//! partial file; every byte of a release is on disk (syncfs) before the swap, so a crash
//! leaves the previous complete site served. Unchanged site-wide files are hard-linked from
//! the previous release and unchanged plugin trees are reused, so a build writes only the
//! bytes that changed. A build with nothing changed writes nothing.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::fsutil;
use crate::gzchunks::{ChunkCache, ChunkIndex, gzip_chunked_shared};
use crate::manifest::{Manifest, Published, memo_hash, read_manifest, write_manifest};
use crate::plan::{Content, Plan, TreeSource};
use catalog::hash::sha256_hex;

/// What a publish did.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct PublishReport {
    /// The release now served (unchanged when nothing changed).
    pub release: String,
    pub changed: bool,
    pub files_written: usize,
    pub files_linked: usize,
    pub bytes_written: u64,
    pub trees_written: usize,
    pub trees_reused: usize,
    /// Milliseconds spent writing new plugin trees, assembling the release (site-wide files,
    /// links, manifest), and making it durable before the swap.
    #[serde(default)]
    pub trees_ms: u128,
    #[serde(default)]
    pub release_ms: u128,
    #[serde(default)]
    pub sync_ms: u128,
}

/// Up to this many new files a build fsyncs each file and directory it writes; beyond, one
/// syncfs is cheaper.
const SYNC_EACH_LIMIT: usize = 2000;
/// Releases kept besides the current one, for readers still holding old paths.
const KEEP_RELEASES: usize = 2;

/// True for files nginx may serve pre-compressed (`gzip_static`). Pages inside plugin trees
/// are small and numerous; nginx compresses those on the fly instead.
fn compressible(path: &str, in_tree: bool) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if in_tree {
        // Plugin trees hold many small files: nginx compresses them on the fly, and a cold
        // build creates half as many inodes.
        return false;
    }
    name == "json"
        || [".xml", ".json", ".css", ".js", ".xsl", ".svg", ".txt"]
            .iter()
            .any(|e| name.ends_with(e))
}

/// Whether a site-wide file gets a `.gz`: every plugins.xml and asset; HTML only when large
/// enough to pay for an extra inode (list pages; not the thousands of small tag pages).
fn wants_gzip(path: &str, len: usize, in_tree: bool) -> bool {
    if path.ends_with(".html") && !in_tree {
        return len > 8 * 1024;
    }
    compressible(path, in_tree) && (len > 256 || path.ends_with(".xml"))
}

/// Above this size a document (the site-wide plugins.xml files, 4 MB at 2,500 plugins,
/// changed on every approval) is compressed in chunks (`gzchunks`): unchanged chunks are
/// copied from the previous .gz, new ones compressed at a faster level (half the time of 6
/// for ~12% more bytes; a cold build compresses them all).
const FAST_GZIP_ABOVE: usize = 1 << 20;
const FAST_GZIP_LEVEL: u32 = 3;

/// List pages (thousands, 20 KB each) are compressed at level 3: half the time of 6 for
/// about 6% more bytes; other text (assets, JSON, feeds) at 6.
fn gzip(path: &str, bytes: &[u8]) -> Vec<u8> {
    let level = if path.ends_with(".html") { 3 } else { 6 };
    let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::new(level));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Exclusive right to change `site_dir` (an advisory lock on `site/.lock`), held from reading
/// the published manifest through the swap, so a plan that reuses files of the current
/// release is published on top of that same release.
pub struct SiteLock {
    _file: File,
}

/// Waits for and takes the site lock.
pub fn lock(site_dir: &Path) -> Result<SiteLock> {
    fs::create_dir_all(site_dir)
        .with_context(|| format!("failed to create `{}`", site_dir.display()))?;
    let path = site_dir.join(".lock");
    let file =
        File::create(&path).with_context(|| format!("failed to open `{}`", path.display()))?;
    file.lock().with_context(|| format!("failed to lock `{}`", path.display()))?;
    Ok(SiteLock { _file: file })
}

/// Reads the current release's manifest.
pub fn published(site_dir: &Path, _lock: &SiteLock) -> Result<Published> {
    match current_release(site_dir)? {
        Some(dir) => Ok(read_manifest(&dir)?.into()),
        None => Ok(Published::default()),
    }
}

/// Publishes `plan` into `site_dir` and returns what was done: new plugin trees, then the
/// release (site-wide files, tree links, manifest), everything on disk, then the swap.
pub fn publish(
    plan: &Plan,
    site_dir: &Path,
    trees: &dyn TreeSource,
    _lock: &SiteLock,
) -> Result<PublishReport> {
    fs::create_dir_all(site_dir.join("releases"))
        .with_context(|| format!("failed to create `{}`", site_dir.display()))?;
    let current = current_release(site_dir)?;
    let previous: Manifest = match &current {
        Some(dir) => read_manifest(dir)?,
        None => Manifest::default(),
    };
    let mut manifest = planned_manifest(plan)?;
    if let Some(dir) = &current
        && manifest == previous
    {
        return Ok(PublishReport {
            release: release_name(dir),
            changed: false,
            ..Default::default()
        });
    }
    let mut report = PublishReport { changed: true, ..Default::default() };
    let ctx = Publishing {
        site_dir,
        current: current.as_deref(),
        previous: &previous,
        sync_each: syncs_each_file(plan, site_dir, &manifest, &previous),
        chunks: ChunkCache::default(),
    };

    let t_trees = Instant::now();
    let written_pkgs = write_new_trees(&ctx, plan, trees, &mut report)?;
    let t_release = Instant::now();
    report.trees_ms = (t_release - t_trees).as_millis();
    let early_sync = start_early_sync(&ctx, report.trees_written);
    let name = assemble_release(&ctx, plan, &mut manifest, &mut report)?;
    let t_sync = Instant::now();
    report.release_ms = (t_sync - t_release).as_millis();
    make_durable(&ctx, &written_pkgs, early_sync)?;
    report.sync_ms = t_sync.elapsed().as_millis();
    swap_current(site_dir, &name)?;
    report.release = name;
    Ok(report)
}

/// What every step of one publish shares.
struct Publishing<'a> {
    site_dir: &'a Path,
    /// The release `current` pointed at when the publish started.
    current: Option<&'a Path>,
    /// Its manifest (empty without one).
    previous: &'a Manifest,
    /// Durability: a small build syncs exactly what it writes (fast, and independent of
    /// whatever else is writing to the disk); a large one syncs the whole file system once.
    sync_each: bool,
    /// Compressed chunks of large documents, shared by all documents of this build.
    chunks: ChunkCache,
}

impl Publishing<'_> {
    fn trees_dir(&self) -> PathBuf {
        self.site_dir.join("trees")
    }
}

/// The manifest `plan` will publish: every site-wide file hashed (in parallel) to find what
/// changed. Fails when a site-wide file lies under a plugin tree's mount.
fn planned_manifest(plan: &Plan) -> Result<Manifest> {
    let files: BTreeMap<String, String> =
        plan.root.par_iter().map(|(p, c)| (p.clone(), content_hash(&plan.root, c))).collect();
    for mount in plan.trees.keys() {
        let prefix = format!("{mount}/");
        if plan.root.range(prefix.clone()..).next().is_some_and(|(p, _)| p.starts_with(&prefix)) {
            bail!(
                "site-wide file under plugin tree `{mount}`: a package name collides with a list page"
            );
        }
    }
    Ok(Manifest {
        fingerprint: plan.fingerprint.clone(),
        files,
        trees: plan.trees.clone(),
        gz_chunks: BTreeMap::new(),
    })
}

/// Whether this build syncs each file it writes (few changes) rather than the whole file
/// system once.
fn syncs_each_file(plan: &Plan, site_dir: &Path, manifest: &Manifest, previous: &Manifest) -> bool {
    let trees_dir = site_dir.join("trees");
    let new_trees = plan
        .trees
        .iter()
        .filter(|(mount, key)| !trees_dir.join(tree_package(mount)).join(key).is_dir())
        .count();
    let changed_root =
        manifest.files.iter().filter(|(p, h)| previous.files.get(*p) != Some(*h)).count();
    changed_root + new_trees * 60 <= SYNC_EACH_LIMIT
}

/// The package of a tree mount (`plugins/<pkg>`).
fn tree_package(mount: &str) -> &str {
    mount.rsplit('/').next().unwrap_or(mount)
}

/// Renders and writes every plugin tree that does not exist yet (`trees/<pkg>/<key>`, via a
/// temporary directory renamed into place); returns the packages written.
fn write_new_trees(
    ctx: &Publishing<'_>,
    plan: &Plan,
    trees: &dyn TreeSource,
    report: &mut PublishReport,
) -> Result<Vec<String>> {
    let results: Vec<Result<Option<(usize, u64)>>> =
        plan.trees.par_iter().map(|(mount, key)| write_tree(ctx, trees, mount, key)).collect();
    let mut written_pkgs = Vec::new();
    for (r, mount) in results.into_iter().zip(plan.trees.keys()) {
        match r? {
            Some((n, bytes)) => {
                written_pkgs.push(tree_package(mount).to_owned());
                report.trees_written += 1;
                report.files_written += n;
                report.bytes_written += bytes;
            }
            None => report.trees_reused += 1,
        }
    }
    Ok(written_pkgs)
}

/// One tree of `write_new_trees`: None when it exists already, else (files, bytes) written.
fn write_tree(
    ctx: &Publishing<'_>,
    trees: &dyn TreeSource,
    mount: &str,
    key: &str,
) -> Result<Option<(usize, u64)>> {
    let pkg_dir = ctx.trees_dir().join(tree_package(mount));
    let final_dir = pkg_dir.join(key);
    if final_dir.is_dir() {
        return Ok(None);
    }
    // Rendered here, written, dropped: one tree in memory per thread.
    let files = trees.render_tree(mount)?;
    let tmp = pkg_dir.join(format!(".tmp-{key}"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("failed to clear `{}`", tmp.display()))?;
    }
    let (written, _linked, bytes, _) =
        write_files(&tmp, &files, None, &BTreeMap::new(), true, ctx.sync_each, &ctx.chunks)?;
    fs::rename(&tmp, &final_dir)
        .with_context(|| format!("failed to rename `{}`", final_dir.display()))?;
    Ok(Some((written, bytes)))
}

/// A large build starts flushing the trees now, while it assembles the release, so the
/// final sync has less left to wait for.
fn start_early_sync(
    ctx: &Publishing<'_>,
    trees_written: usize,
) -> Option<std::thread::JoinHandle<rustix::io::Result<()>>> {
    (!ctx.sync_each && trees_written > 0)
        .then(|| File::open(ctx.site_dir).ok())
        .flatten()
        .map(|dir| std::thread::spawn(move || rustix::fs::syncfs(&dir)))
}

/// Assembles the next release in a temporary directory (site-wide files, unchanged ones
/// linked; tree symlinks; the manifest) and renames it into `releases/`; returns its name.
fn assemble_release(
    ctx: &Publishing<'_>,
    plan: &Plan,
    manifest: &mut Manifest,
    report: &mut PublishReport,
) -> Result<String> {
    let name = format!("r-{:06}", next_release_number(ctx.site_dir)?);
    let tmp = ctx.site_dir.join("releases").join(format!(".tmp-{name}"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("failed to clear `{}`", tmp.display()))?;
    }
    let reuse = ctx.current.map(|dir| Reuse { dir, previous: ctx.previous });
    let (written, linked, bytes, gz_chunks) =
        write_files(&tmp, &plan.root, reuse, &manifest.files, false, ctx.sync_each, &ctx.chunks)?;
    manifest.gz_chunks = gz_chunks;
    report.files_written += written;
    report.files_linked += linked;
    report.bytes_written += bytes;
    link_trees(ctx, &tmp, &manifest.trees)?;
    write_manifest(&tmp, manifest, ctx.sync_each)?;
    if ctx.sync_each {
        // The tree symlinks' directories.
        for mount in manifest.trees.keys() {
            if let Some(parent) = tmp.join(mount).parent() {
                catalog::fsutil::sync_dir(parent)?;
            }
        }
    }
    let release_dir = ctx.site_dir.join("releases").join(&name);
    fs::rename(&tmp, &release_dir)
        .with_context(|| format!("failed to rename `{}`", release_dir.display()))?;
    Ok(name)
}

/// Mounts every plugin tree in the release being assembled at `tmp`: a symlink to
/// `trees/<pkg>/<key>`.
fn link_trees(ctx: &Publishing<'_>, tmp: &Path, trees: &BTreeMap<String, String>) -> Result<()> {
    let mut parents: Vec<PathBuf> =
        trees.keys().filter_map(|m| tmp.join(m).parent().map(Path::to_path_buf)).collect();
    parents.dedup();
    for parent in &parents {
        fs::create_dir_all(parent)
            .with_context(|| format!("failed to create `{}`", parent.display()))?;
    }
    trees.par_iter().try_for_each(|(mount, hash)| -> Result<()> {
        let link = tmp.join(mount);
        // An unchanged tree keeps the previous release's symlink: a hard link to it is a
        // directory entry only, where a new symlink costs an inode (and deleting the old
        // release would free one), several times slower on ext4.
        if let Some(dir) = ctx.current
            && ctx.previous.trees.get(mount) == Some(hash)
            && fs::hard_link(dir.join(mount), &link).is_ok()
        {
            return Ok(());
        }
        let depth = mount.split('/').count();
        let target = PathBuf::from("../".repeat(depth + 1))
            .join("trees")
            .join(tree_package(mount))
            .join(hash);
        symlink(&target, &link).with_context(|| format!("failed to link `{}`", link.display()))
    })
}

/// Everything of the new release on disk before the swap: the directories written (few
/// changes) or the whole file system (many).
fn make_durable(
    ctx: &Publishing<'_>,
    written_pkgs: &[String],
    early_sync: Option<std::thread::JoinHandle<rustix::io::Result<()>>>,
) -> Result<()> {
    let site_dir = ctx.site_dir;
    if ctx.sync_each {
        catalog::fsutil::sync_dir(&site_dir.join("releases"))?;
        for pkg in written_pkgs {
            catalog::fsutil::sync_dir(&ctx.trees_dir().join(pkg))?;
        }
        return Ok(());
    }
    // Its outcome does not matter: the sync below covers everything either way.
    if let Some(early) = early_sync {
        let _ = early.join();
    }
    let dir =
        File::open(site_dir).with_context(|| format!("failed to open `{}`", site_dir.display()))?;
    rustix::fs::syncfs(&dir)
        .with_context(|| format!("failed to sync the file system of `{}`", site_dir.display()))
}

/// The atomic swap: `current` points at `releases/<name>` (a new symlink renamed over it).
fn swap_current(site_dir: &Path, name: &str) -> Result<()> {
    let tmp_link = site_dir.join(".current.tmp");
    let _ = fs::remove_file(&tmp_link);
    symlink(Path::new("releases").join(name), &tmp_link)
        .with_context(|| format!("failed to create `{}`", tmp_link.display()))?;
    fs::rename(&tmp_link, site_dir.join("current"))
        .context("failed to swap `current` to the new release")?;
    catalog::fsutil::sync_dir(site_dir)
}

/// The directory `current` points at, if any.
pub fn current_release(site_dir: &Path) -> Result<Option<PathBuf>> {
    let link = site_dir.join("current");
    match fs::read_link(&link) {
        Ok(target) => Ok(Some(site_dir.join(target))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("failed to read `{}`", link.display())),
    }
}

fn release_name(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn content_hash(files: &BTreeMap<String, Content>, c: &Content) -> String {
    match c {
        Content::Bytes(b) => sha256_hex(b),
        // Stored zips are immutable: a new upload always gets a new path.
        Content::File(p) => format!("file:{}", p.display()),
        Content::Same(other) => match files.get(other) {
            Some(Content::Same(_)) | None => format!("missing:{other}"),
            Some(target) => content_hash(files, target),
        },
        Content::Deferred { key, .. } => format!("deferred:{key}"),
        Content::Memo { key, .. } => memo_hash(key),
    }
}

/// The previous release, whose unchanged files are linked and whose large .gz files lend
/// their unchanged chunks.
#[derive(Clone, Copy)]
struct Reuse<'a> {
    dir: &'a Path,
    previous: &'a Manifest,
}

/// What writing one file did: written (else linked), bytes written, its .gz chunk index.
type Written = (bool, u64, Option<ChunkIndex>);

/// Writes `files` under `dir`. With `reuse`, files whose hash equals the previous
/// release's are hard-linked from it (with their `.gz`). Returns (written, linked, bytes,
/// the chunk index of every large .gz now under `dir`).
fn write_files(
    dir: &Path,
    files: &BTreeMap<String, Content>,
    reuse: Option<Reuse<'_>>,
    hashes: &BTreeMap<String, String>,
    in_tree: bool,
    sync: bool,
    chunks: &ChunkCache,
) -> Result<(usize, usize, u64, BTreeMap<String, ChunkIndex>)> {
    fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    let mut dirs: Vec<PathBuf> =
        files.keys().filter_map(|p| dir.join(p).parent().map(Path::to_path_buf)).collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        fs::create_dir_all(d).with_context(|| format!("failed to create `{}`", d.display()))?;
    }
    let results: Vec<(&String, Result<Written>)> = files
        .par_iter()
        .filter(|(_, c)| !matches!(c, Content::Same(_)))
        .map(|(path, content)| {
            (path, write_one(dir, path, content, reuse, hashes, (in_tree, sync), chunks))
        })
        .collect();
    let (mut written, mut linked, mut bytes) = (0, 0, 0);
    let mut gz_chunks = BTreeMap::new();
    for (path, r) in results {
        let (w, b, index) = r?;
        if w {
            written += 1;
        } else {
            linked += 1;
        }
        bytes += b;
        if let Some(index) = index {
            gz_chunks.insert(path.clone(), index);
        }
    }
    // Aliases last: their targets exist now.
    for (path, content) in files {
        if let Content::Same(target) = content {
            let src = dir.join(target);
            let dest = dir.join(path);
            fsutil::link_or_copy(&src, &dest)?;
            let gz = gz_path(&src);
            if gz.is_file() {
                fsutil::link_or_copy(&gz, &gz_path(&dest))?;
            }
            if let Some(index) = gz_chunks.get(target).cloned() {
                gz_chunks.insert(path.clone(), index);
            }
            linked += 1;
        }
    }
    if sync {
        // Links and new names live in directory entries: sync every directory written.
        dirs.push(dir.to_path_buf());
        fsutil::sync_dirs(&dirs)?;
    }
    Ok((written, linked, bytes, gz_chunks))
}

/// Writes (or links from the previous release) one file of `write_files`.
fn write_one(
    dir: &Path,
    path: &str,
    content: &Content,
    reuse: Option<Reuse<'_>>,
    hashes: &BTreeMap<String, String>,
    (in_tree, sync): (bool, bool),
    chunks: &ChunkCache,
) -> Result<Written> {
    let dest = dir.join(path);
    if let Some(Reuse { dir: prev_dir, previous }) = reuse
        && let (Some(old), Some(new)) = (previous.files.get(path), hashes.get(path))
        && old == new
    {
        // Linked without looking first (thousands of files on every build): a file
        // the previous release lacks is written below, a missing .gz is not needed.
        let src = prev_dir.join(path);
        match fs::hard_link(&src, &dest) {
            Ok(()) => {
                match fs::hard_link(gz_path(&src), gz_path(&dest)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e)
                            .with_context(|| format!("failed to link `{}.gz`", dest.display()));
                    }
                    _ => {}
                }
                return Ok((false, 0, previous.gz_chunks.get(path).cloned()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("failed to link `{}`", dest.display()));
            }
        }
    }
    // The bytes to write, if this content has any of its own.
    let made;
    let bytes: &[u8] = match content {
        Content::Bytes(b) | Content::Memo { bytes: Some(b), .. } => b,
        Content::Deferred { make, .. } => {
            made = make();
            &made
        }
        Content::Memo { bytes: None, .. } => bail!(
            "`{path}` was to be kept from the current release, which no longer has it; \
                     build again"
        ),
        Content::File(src) => {
            fsutil::link_or_copy(src, &dest)
                .with_context(|| format!("stored package `{}` is missing", src.display()))?;
            return Ok((false, 0, None));
        }
        Content::Same(_) => return Ok((false, 0, None)),
    };
    write_new(&dest, bytes, sync)?;
    let mut n = bytes.len() as u64;
    let mut index = None;
    // Every plugins.xml gets its .gz (nginx gzip_static); other text only when it pays.
    if wants_gzip(path, bytes.len(), in_tree) {
        let gz = if bytes.len() > FAST_GZIP_ABOVE {
            // A large document: unchanged chunks are copied from the previous .gz.
            let prev = reuse.and_then(|r| {
                let idx = r.previous.gz_chunks.get(path)?;
                Some((fs::read(gz_path(&r.dir.join(path))).ok()?, idx))
            });
            let (gz, idx, _reused) = gzip_chunked_shared(
                bytes,
                prev.as_ref().map(|(gz, idx)| (gz.as_slice(), *idx)),
                FAST_GZIP_LEVEL,
                Some(chunks),
            );
            index = Some(idx);
            gz
        } else {
            gzip(path, bytes)
        };
        n += gz.len() as u64;
        write_new(&gz_path(&dest), &gz, sync)?;
    }
    Ok((true, n, index))
}

fn gz_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".gz");
    PathBuf::from(s)
}

fn write_new(dest: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    // The release directory is private until renamed, so a plain write is atomic enough;
    // syncfs before the swap makes it durable.
    let mut f =
        File::create(dest).with_context(|| format!("failed to create `{}`", dest.display()))?;
    f.write_all(bytes).with_context(|| format!("failed to write `{}`", dest.display()))?;
    if sync {
        f.sync_all().with_context(|| format!("failed to sync `{}`", dest.display()))?;
    }
    Ok(())
}

fn next_release_number(site_dir: &Path) -> Result<u64> {
    let mut max = 0;
    let dir = site_dir.join("releases");
    for entry in
        fs::read_dir(&dir).with_context(|| format!("failed to list `{}`", dir.display()))?
    {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("r-").and_then(|n| n.parse::<u64>().ok()) {
            max = max.max(n);
        }
    }
    Ok(max + 1)
}

/// Removes releases beyond the newest few and plugin trees no kept release refers to. Runs
/// after a publish (not inside it), under the same lock, so the swap is not kept waiting.
pub fn collect_garbage(site_dir: &Path) -> Result<()> {
    let _lock = lock(site_dir)?;
    let dir = site_dir.join("releases");
    let mut releases: Vec<String> = fs::read_dir(&dir)
        .with_context(|| format!("failed to list `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    releases.sort();
    let (old, kept) = releases.split_at(releases.len().saturating_sub(KEEP_RELEASES + 1));
    for name in old {
        let path = dir.join(name);
        fs::remove_dir_all(&path)
            .with_context(|| format!("failed to remove `{}`", path.display()))?;
    }
    let mut live: HashMap<String, Vec<String>> = HashMap::new();
    for name in kept.iter().filter(|n| n.starts_with("r-")) {
        for (mount, hash) in read_manifest(&dir.join(name))?.trees {
            let pkg = mount.rsplit('/').next().unwrap_or(&mount).to_owned();
            live.entry(pkg).or_default().push(hash);
        }
    }
    let trees = site_dir.join("trees");
    let Ok(pkgs) = fs::read_dir(&trees) else { return Ok(()) };
    for pkg in pkgs {
        let pkg = pkg?;
        let name = pkg.file_name().to_string_lossy().into_owned();
        let keep = live.get(&name);
        for tree in fs::read_dir(pkg.path())? {
            let tree = tree?;
            let hash = tree.file_name().to_string_lossy().into_owned();
            if !keep.is_some_and(|k| k.contains(&hash)) {
                fs::remove_dir_all(tree.path())
                    .with_context(|| format!("failed to remove `{}`", tree.path().display()))?;
            }
        }
        if keep.is_none() {
            let _ = fs::remove_dir(pkg.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
