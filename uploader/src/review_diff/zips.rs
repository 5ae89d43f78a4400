//! One version's zip opened with the validator's hardened reader: its files by path, and
//! their bytes inflated (size and CRC checked) on demand.

use std::collections::BTreeMap;

use super::report::{DiffError, Side};
use crate::validate::archive::{self, Archive, Entry, Totals};
use crate::validate::metadata::{self, Field};
use crate::validate::{Limits, Problem};

/// A parsed zip whose files (not folders) are indexed by name.
pub(super) struct Snapshot<'a> {
    side: Side,
    archive: Archive<'a>,
    /// Entry name → index into `archive.entries`; sorted, so paths come out in order.
    files: BTreeMap<String, usize>,
    totals: Totals,
    limits: Limits,
}

impl<'a> Snapshot<'a> {
    /// Parses the framing and checks declared sizes against the validator's limits.
    pub(super) fn open(zip: &'a [u8], side: Side) -> Result<Self, DiffError> {
        let limits = Limits::default();
        let archive = archive::parse(zip, &limits).map_err(|p| unreadable(side, p))?;
        archive.check_declared(&limits).map_err(|p| unreadable(side, p))?;
        let files = archive
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.name.ends_with('/'))
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Ok(Self { side, archive, files, totals: Totals::default(), limits })
    }

    /// Every file's path, sorted.
    pub(super) fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The central directory's record of a file, if the zip has it.
    pub(super) fn entry(&self, path: &str) -> Option<&Entry> {
        self.files.get(path).map(|&i| &self.archive.entries[i])
    }

    /// Sum of the files' declared (and, once read, checked) sizes.
    pub(super) fn uncompressed_size(&self) -> u64 {
        self.files.values().map(|&i| self.archive.entries[i].uncompressed_size).sum()
    }

    /// The whole content of a file, inflated under the limits with its CRC checked.
    pub(super) fn read(&mut self, path: &str) -> Result<Vec<u8>, DiffError> {
        let Some(&i) = self.files.get(path) else { return Ok(Vec::new()) };
        let e = &self.archive.entries[i];
        let keep = usize::try_from(e.uncompressed_size).unwrap_or(usize::MAX);
        let (bytes, _) = self
            .archive
            .read(e, keep, &mut self.totals, &self.limits)
            .map_err(|p| unreadable(self.side, p))?;
        Ok(bytes)
    }

    /// The `[general]` fields of `<top folder>/metadata.txt`, read by the validator's own
    /// configparser; `Err` says in a sentence why they cannot be shown.
    pub(super) fn metadata(&self) -> Result<Vec<Field>, String> {
        let folder = self.archive.entries.first().and_then(|e| e.name.split('/').next());
        let path = format!("{}/metadata.txt", folder.unwrap_or_default());
        let Some(e) = self.entry(&path) else {
            return Err(format!("the {} version has no {path}", self.side));
        };
        let max = self.limits.max_metadata_bytes;
        let (bytes, _) =
            self.archive.read(e, max + 1, &mut Totals::default(), &self.limits).map_err(|p| {
                format!("the {} version's {path} cannot be read: {}", self.side, p.message)
            })?;
        metadata::parse(&bytes, max).map_err(|errors| {
            let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("the {} version's {path} cannot be parsed: {}", self.side, why.join("; "))
        })
    }
}

fn unreadable(side: Side, p: Problem) -> DiffError {
    DiffError::Unreadable { side, reason: p.message }
}
