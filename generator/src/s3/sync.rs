//! One sync of the current release to one target: list the release's objects, find those
//! whose bytes differ from what the last complete sync put, put them phase by phase (a
//! phase starts once every put of the previous one succeeded), delete orphans past their
//! grace, then record the new state. A failed phase fails the sync and leaves the state as
//! it was, so the next sync puts the same objects again.
//!
//! Failpoint (crash tests): with `PLUGINS_FAILPOINT=s3.before_site_documents` the process
//! aborts right before the site-wide documents' phase, as a writer killed mid-publish.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt as _, PutOptions, PutPayload,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::objects::{self, Object, Phase};
use super::state::{self, StoredObject, SyncState};
use crate::manifest::read_manifest;
use crate::publish::current_release;

/// The failpoint that aborts before the last phase.
pub const FAILPOINT_BEFORE_SITE_DOCUMENTS: &str = "s3.before_site_documents";

/// Where a sync publishes.
pub struct Target {
    pub store: Arc<dyn ObjectStore>,
    /// `endpoint/bucket`: how errors name the target.
    pub name: String,
    /// Its state file (`state::state_path`).
    pub state_path: PathBuf,
}

/// How a sync behaves; tests shorten the waits and set the clock.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// How long an unreferenced object is kept.
    pub grace: Duration,
    /// The time orphans are stamped with and compared to.
    pub now: SystemTime,
    /// Tries of one put or delete (on top of the client's own retries).
    pub attempts: u32,
    /// Pause after the first failed try, doubled after each.
    pub backoff: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl SyncOptions {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            now: SystemTime::now(),
            attempts: 4,
            backoff: Duration::from_millis(250),
            concurrency: 16,
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Report {
    /// The release now published there.
    pub release: String,
    /// False when the target already held this release (nothing put).
    pub synced: bool,
    pub objects: usize,
    /// Objects stored: put, or copied inside the store from an object with the same bytes.
    pub objects_put: usize,
    /// Of those, the copies (`split_copies`).
    #[serde(default)]
    pub objects_copied: usize,
    pub bytes_put: u64,
    pub objects_deleted: usize,
    /// Milliseconds of each phase, in order (assets, pages, package documents, site
    /// documents), of deleting orphans, and of the whole sync (listing and hashing too).
    pub phase_ms: [u64; 4],
    pub delete_ms: u64,
    pub total_ms: u64,
}

/// Publishes the current release of `site_dir` to `target` unless the target already
/// holds it (orphans past their grace are deleted either way). None when nothing is
/// published locally yet.
pub fn sync_site(site_dir: &Path, target: &Target, opts: &SyncOptions) -> Result<Option<S3Report>> {
    let t0 = Instant::now();
    let Some(dir) = current_release(site_dir)? else { return Ok(None) };
    let release = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let old = state::load(&target.state_path)?;
    let now = unix_secs(opts.now);
    let mut report = S3Report { release: release.clone(), ..Default::default() };
    if old.release == release && !orphans_due(&old, now, opts.grace) {
        report.objects = old.objects.len();
        report.total_ms = t0.elapsed().as_millis() as u64;
        return Ok(Some(report));
    }
    let manifest = read_manifest(&dir)?;
    let listed = objects::list(&dir, &manifest)?;
    let planned = plan(&listed, &old)?;
    report.synced = true;
    report.objects = planned.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the S3 runtime")?;
    let new = runtime.block_on(publish(target, opts, &old, planned, &mut report))?;
    let new = SyncState { release, ..new };
    state::save(&target.state_path, &new)?;
    report.total_ms = t0.elapsed().as_millis() as u64;
    Ok(Some(report))
}

/// One object with the hash of its bytes and whether it must be put.
struct Planned {
    object: Object,
    sha256: String,
    put: bool,
}

/// Hashes what the state cannot vouch for (in parallel), and marks what changed.
fn plan(listed: &BTreeMap<String, Object>, old: &SyncState) -> Result<Vec<Planned>> {
    listed
        .par_iter()
        .map(|(key, object)| {
            let stored = old.objects.get(key);
            let known = stored
                .filter(|s| s.identity.is_some() && s.identity == object.identity)
                .map(|s| s.sha256.clone());
            let sha256 = match known {
                Some(sha) => sha,
                None => {
                    let bytes = std::fs::read(&object.path)
                        .with_context(|| format!("failed to read `{}`", object.path.display()))?;
                    catalog::hash::sha256_hex(&bytes)
                }
            };
            let put = stored.is_none_or(|s| s.sha256 != sha256);
            Ok(Planned { object: object.clone(), sha256, put })
        })
        .collect()
}

/// The phases, the orphans' deletion, and the state they leave.
async fn publish(
    target: &Target,
    opts: &SyncOptions,
    old: &SyncState,
    planned: Vec<Planned>,
    report: &mut S3Report,
) -> Result<SyncState> {
    for (i, phase) in Phase::ALL.into_iter().enumerate() {
        if phase == Phase::SiteDocuments {
            failpoint(FAILPOINT_BEFORE_SITE_DOCUMENTS);
        }
        let t = Instant::now();
        let changed: Vec<&Planned> =
            planned.iter().filter(|p| p.put && p.object.phase == phase).collect();
        let (puts, copies) = split_copies(&changed);
        let failed = || format!("S3 publication of {phase:?} to {} failed", target.name);
        let bytes = put_all(target, opts, &puts).await.with_context(failed)?;
        copy_all(target, opts, &copies).await.with_context(failed)?;
        report.objects_put += puts.len() + copies.len();
        report.objects_copied += copies.len();
        report.bytes_put += bytes;
        report.phase_ms[i] = t.elapsed().as_millis() as u64;
    }
    let objects: BTreeMap<String, StoredObject> = planned
        .into_iter()
        .map(|p| {
            let stored = StoredObject { sha256: p.sha256, identity: p.object.identity };
            (p.object.key, stored)
        })
        .collect();
    let t = Instant::now();
    let orphans = orphans(old, &objects, unix_secs(opts.now));
    let (orphans, deleted) = delete_due(target, opts, orphans).await;
    report.objects_deleted = deleted;
    report.delete_ms = t.elapsed().as_millis() as u64;
    Ok(SyncState { release: String::new(), objects, orphans })
}

/// Puts `objects`, `opts.concurrency` at a time; returns the bytes put. The first put that
/// still fails after its tries fails the phase (naming the key); the others in flight are
/// dropped, so an unreachable store fails a sync in seconds, not once per object.
async fn put_all(target: &Target, opts: &SyncOptions, objects: &[&Object]) -> Result<u64> {
    futures_util::stream::iter(objects.iter().copied())
        .map(|o| put_one(target, opts, o))
        .buffer_unordered(opts.concurrency.max(1))
        .try_fold(0u64, |total, bytes| async move { Ok(total + bytes) })
        .await
}

/// Splits a phase's changed objects into those to put and server-side copies: of several
/// objects with the same bytes and metadata (the identical plugins.xml variants of a
/// release: 86 documents, 34 distinct, at 2,500 plugins), the first is put and the others
/// are copied from it once it is stored, so their bytes cross the network once and the
/// store shares their blocks.
fn split_copies<'a>(changed: &[&'a Planned]) -> (Vec<&'a Object>, Vec<(&'a str, &'a Object)>) {
    let mut first: HashMap<(&str, objects::Metadata), &str> = HashMap::new();
    let (mut puts, mut copies) = (Vec::new(), Vec::new());
    for p in changed {
        let key = p.object.key.as_str();
        match first.entry((p.sha256.as_str(), objects::metadata(key))) {
            Entry::Occupied(e) => copies.push((*e.get(), &p.object)),
            Entry::Vacant(e) => {
                e.insert(key);
                puts.push(&p.object);
            }
        }
    }
    (puts, copies)
}

/// Copies each `(from, object)` inside the store, `opts.concurrency` at a time (the copy
/// keeps the source's metadata, which is the object's own by `split_copies`).
async fn copy_all(target: &Target, opts: &SyncOptions, copies: &[(&str, &Object)]) -> Result<()> {
    futures_util::stream::iter(copies.iter().copied())
        .map(|(from, object)| copy_one(target, opts, from, object))
        .buffer_unordered(opts.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await
        .map(drop)
}

async fn copy_one(target: &Target, opts: &SyncOptions, from: &str, object: &Object) -> Result<()> {
    let (from_path, to_path) = (object_path(from)?, object_path(&object.key)?);
    retry(opts, || target.store.copy(&from_path, &to_path))
        .await
        .with_context(|| format!("failed to copy `{from}` to `{}` in {}", object.key, target.name))
}

/// One put with its metadata, tried `opts.attempts` times.
async fn put_one(target: &Target, opts: &SyncOptions, object: &Object) -> Result<u64> {
    let bytes = tokio::fs::read(&object.path)
        .await
        .with_context(|| format!("failed to read `{}`", object.path.display()))?;
    let len = bytes.len() as u64;
    let payload = PutPayload::from(bytes);
    let path = object_path(&object.key)?;
    let options = PutOptions { attributes: attributes(&object.key), ..Default::default() };
    retry(opts, || target.store.put_opts(&path, payload.clone(), options.clone()))
        .await
        .with_context(|| format!("failed to put `{}` to {}", object.key, target.name))?;
    Ok(len)
}

/// Content-Type, Cache-Control and (for a `.gz`) Content-Encoding of `key`.
fn attributes(key: &str) -> Attributes {
    let meta = objects::metadata(key);
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, meta.content_type.into());
    attributes.insert(Attribute::CacheControl, meta.cache_control.into());
    if let Some(encoding) = meta.content_encoding {
        attributes.insert(Attribute::ContentEncoding, encoding.into());
    }
    attributes
}

/// The key as object_store spells it: exactly our text (no escaping of `~`, `+`, ...).
fn object_path(key: &str) -> Result<ObjectPath> {
    ObjectPath::parse(key).with_context(|| format!("`{key}` is not a valid object key"))
}

/// Runs `op` until it succeeds or `opts.attempts` tries failed, pausing in between.
async fn retry<T, F, Fut>(opts: &SyncOptions, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = object_store::Result<T>>,
{
    let mut pause = opts.backoff;
    let mut tries = 0;
    loop {
        tries += 1;
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if tries >= opts.attempts.max(1) => {
                return Err(anyhow!(e).context(format!("{tries} tries")));
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
}

/// The orphans after this sync: keys the old state referenced (or already held as
/// orphans) that the new release does not, stamped when first found unreferenced. A
/// plugins.xml document is stamped 0, so it is deleted at once (after the last phase): no
/// document names it, and an edge must not answer with it once the release no longer has it
/// (its `?qgis=` chain would find it before the document that replaces it).
fn orphans(
    old: &SyncState,
    objects: &BTreeMap<String, StoredObject>,
    now: u64,
) -> BTreeMap<String, u64> {
    let mut orphans: BTreeMap<String, u64> = old
        .orphans
        .iter()
        .filter(|(k, _)| !objects.contains_key(*k))
        .map(|(k, t)| (k.clone(), *t))
        .collect();
    for key in old.objects.keys().filter(|k| !objects.contains_key(*k)) {
        let document = matches!(Phase::of(key), Phase::PackageDocuments | Phase::SiteDocuments);
        orphans.entry(key.clone()).or_insert(if document { 0 } else { now });
    }
    orphans
}

fn orphans_due(state: &SyncState, now: u64, grace: Duration) -> bool {
    state.orphans.values().any(|t| t.saturating_add(grace.as_secs()) <= now)
}

/// Deletes the orphans older than the grace period; returns those kept (younger, or whose
/// deletion failed: tried again by the next sync) and how many were deleted.
async fn delete_due(
    target: &Target,
    opts: &SyncOptions,
    orphans: BTreeMap<String, u64>,
) -> (BTreeMap<String, u64>, usize) {
    let now = unix_secs(opts.now);
    let (due, mut kept): (BTreeMap<_, _>, BTreeMap<_, _>) =
        orphans.into_iter().partition(|(_, t)| t.saturating_add(opts.grace.as_secs()) <= now);
    let results: Vec<(String, u64, bool)> = futures_util::stream::iter(due)
        .map(|(key, t)| async move {
            let ok = match object_path(&key) {
                Ok(path) => retry(opts, || target.store.delete(&path)).await.is_ok(),
                Err(_) => false,
            };
            if !ok {
                tracing::warn!(key = %key, target = %target.name, "failed to delete an orphan; will retry");
            }
            (key, t, ok)
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut deleted = 0;
    for (key, t, ok) in results {
        if ok {
            deleted += 1;
        } else {
            kept.insert(key, t);
        }
    }
    (kept, deleted)
}

/// Aborts the process when the failpoint `name` is set (`PLUGINS_FAILPOINT`).
fn failpoint(name: &str) {
    if std::env::var_os("PLUGINS_FAILPOINT").is_some_and(|v| v == name) {
        tracing::error!(failpoint = name, "failpoint: aborting");
        std::process::abort();
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
