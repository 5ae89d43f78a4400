//! Hardened raw zip reading: walks every record of the archive itself (EOCD, ZIP64 records,
//! central directory, local headers) and inflates entries under hard limits, so framing
//! tricks that other zip readers tolerate (prefix/suffix data, header disagreement, overlaps,
//! data descriptors, ZIP64 confusion, ambiguous names) are refused before anything is trusted.
//!
//! The layout we accept is the one every mainstream writer produces: local headers with
//! their data back to back from offset 0, the central directory right after them, an
//! optional ZIP64 end record + locator, then the end record whose comment reaches the end of
//! the file. Anything else is a place where two unzip tools could see different files.

use super::code::ProblemCode;
use super::options::Limits;
use super::problem::Problem;

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_LOCATOR64: u32 = 0x0706_4b50;

const EOCD_LEN: usize = 22;
const LOCATOR64_LEN: usize = 20;
const EOCD64_LEN: usize = 56;
const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;

const FLAG_ENCRYPTED: u16 = 1 << 0;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const FLAG_UTF8: u16 = 1 << 11;
/// Flags whose disagreement between local header and central directory changes how an
/// entry is read.
const FLAGS_COMPARED: u16 =
    FLAG_ENCRYPTED | FLAG_DATA_DESCRIPTOR | FLAG_STRONG_ENCRYPTION | FLAG_UTF8;

const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
const METHOD_AES: u16 = 99;

const EXTRA_ZIP64: u16 = 0x0001;
const EXTRA_UNICODE_PATH: u16 = 0x7075;

/// Longest archive comment we keep (GitHub zipballs carry a 40-character commit id).
const MAX_ARCHIVE_COMMENT: usize = 1024;

/// One member as the central directory and its local header agree on it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The name decoded exactly as Python's zipfile decodes it (UTF-8 flag or ASCII only).
    pub(crate) name: String,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) uncompressed_size: u64,
    /// Offset of the first byte of compressed data.
    pub(crate) data_offset: u64,
    /// The Unix mode (type and permission bits) when the entry was made on Unix or macOS
    /// and carries one; the scan's file analysis reads the exec bit from it.
    pub(crate) unix_mode: Option<u32>,
}

/// A zip whose framing has been checked; entries are in central directory order.
#[derive(Debug)]
pub(crate) struct Archive<'a> {
    data: &'a [u8],
    pub(crate) entries: Vec<Entry>,
}

fn err(code: ProblemCode, message: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem::new(code, message, hint)
}

fn err_file(
    code: ProblemCode,
    file: &str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> Problem {
    Problem::new(code, message, hint).with_file(file)
}

const HINT_REZIP: &str = "Re-create the zip with a standard tool, for example `cd <parent folder> && zip -r plugin.zip <plugin folder>` or Python's `shutil.make_archive`.";

/// Little-endian reader over a byte slice that never panics: every read is bounds-checked.
struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn slice(&self, pos: usize, len: usize) -> Option<&'a [u8]> {
        self.data.get(pos..pos.checked_add(len)?)
    }
    fn u16(&self, pos: usize) -> Option<u16> {
        self.slice(pos, 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&self, pos: usize) -> Option<u32> {
        self.slice(pos, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, pos: usize) -> Option<u64> {
        self.slice(pos, 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    }
}

fn truncated(what: &str) -> Problem {
    err(
        ProblemCode::ArchiveTruncated,
        format!("The zip file is truncated or damaged: {what} runs past the end of the file."),
        "Upload the complete file; if it was downloaded or copied, do it again. ".to_owned()
            + HINT_REZIP,
    )
}

/// The end of central directory values that matter, ZIP64 values applied.
struct EndRecord {
    pos: usize,
    entries: u64,
    cd_size: u64,
    cd_offset: u64,
    /// Position of the ZIP64 end record when the archive uses one.
    eocd64_pos: Option<usize>,
}

/// Finds the end record whose comment reaches exactly the end of the file.
fn find_eocd(data: &[u8], limits: &Limits) -> Result<EndRecord, Problem> {
    let cur = Cursor { data };
    let pos = locate_eocd(&cur)?;
    let classic = ClassicEnd::read(&cur, pos);
    check_archive_comment(&cur, pos)?;
    let has_locator = pos >= LOCATOR64_LEN && cur.u32(pos - LOCATOR64_LEN) == Some(SIG_LOCATOR64);
    let mut rec = EndRecord {
        pos,
        entries: u64::from(classic.total),
        cd_size: u64::from(classic.cd_size),
        cd_offset: u64::from(classic.cd_offset),
        eocd64_pos: None,
    };
    if has_locator {
        let wide = read_zip64_end(&cur, pos - LOCATOR64_LEN)?;
        check_zip64_agrees(&classic, &wide)?;
        rec.entries = wide.total;
        rec.cd_size = wide.cd_size;
        rec.cd_offset = wide.cd_offset;
        rec.eocd64_pos = Some(wide.pos);
    } else if classic.zip64_marked() {
        if classic.disk == 0xFFFF || classic.cd_disk == 0xFFFF {
            return Err(multi_disk());
        }
        return Err(zip64_err("its end record says ZIP64 but there is no ZIP64 locator"));
    }
    if !has_locator && classic.is_multi_disk() {
        return Err(multi_disk());
    }
    if rec.entries > limits.max_entries as u64 {
        return Err(too_many_entries(rec.entries, limits));
    }
    Ok(rec)
}

/// The position of the end record whose comment reaches exactly the end of the file.
fn locate_eocd(cur: &Cursor<'_>) -> Result<usize, Problem> {
    let data = cur.data;
    if data.len() < EOCD_LEN {
        return Err(not_zip_or_truncated(data));
    }
    let lowest = data.len().saturating_sub(EOCD_LEN + u16::MAX as usize);
    let mut any_signature = false;
    for pos in (lowest..=data.len() - EOCD_LEN).rev() {
        if cur.u32(pos) != Some(SIG_EOCD) {
            continue;
        }
        any_signature = true;
        let comment_len = cur.u16(pos + 20).unwrap_or(0) as usize;
        if pos + EOCD_LEN + comment_len == data.len() {
            return Ok(pos);
        }
    }
    if any_signature {
        return Err(err(
            ProblemCode::ArchiveTrailingData,
            "The zip file has data after its end-of-central-directory record (two zips glued together, or bytes appended to the file).",
            "Remove the appended bytes: ".to_owned() + HINT_REZIP,
        ));
    }
    Err(not_zip_or_truncated(data))
}

/// The fields of the classic end record.
struct ClassicEnd {
    disk: u16,
    cd_disk: u16,
    on_disk: u16,
    total: u16,
    cd_size: u32,
    cd_offset: u32,
}

impl ClassicEnd {
    fn read(cur: &Cursor<'_>, pos: usize) -> Self {
        Self {
            disk: cur.u16(pos + 4).unwrap_or(0),
            cd_disk: cur.u16(pos + 6).unwrap_or(0),
            on_disk: cur.u16(pos + 8).unwrap_or(0),
            total: cur.u16(pos + 10).unwrap_or(0),
            cd_size: cur.u32(pos + 12).unwrap_or(0),
            cd_offset: cur.u32(pos + 16).unwrap_or(0),
        }
    }
    /// A field holds the sentinel that sends readers to the ZIP64 end record.
    fn zip64_marked(&self) -> bool {
        self.disk == 0xFFFF
            || self.cd_disk == 0xFFFF
            || self.on_disk == 0xFFFF
            || self.total == 0xFFFF
            || self.cd_size == 0xFFFF_FFFF
            || self.cd_offset == 0xFFFF_FFFF
    }
    fn is_multi_disk(&self) -> bool {
        self.disk != 0 || self.cd_disk != 0 || self.on_disk != self.total
    }
}

/// Only a short printable ASCII archive comment is accepted.
fn check_archive_comment(cur: &Cursor<'_>, pos: usize) -> Result<(), Problem> {
    let data = cur.data;
    let comment = cur.slice(pos + EOCD_LEN, data.len() - pos - EOCD_LEN).unwrap_or(&[]);
    let printable = |b: &u8| (0x20..0x7f).contains(b) || matches!(b, b'\n' | b'\r' | b'\t');
    if comment.len() <= MAX_ARCHIVE_COMMENT && comment.iter().all(printable) {
        return Ok(());
    }
    Err(err(
        ProblemCode::ArchiveComment,
        format!(
            "The zip file's archive comment is {} bytes long or contains non-ASCII or control bytes; only printable ASCII comments up to {MAX_ARCHIVE_COMMENT} bytes are accepted.",
            comment.len()
        ),
        "Remove the archive comment (`zip -z` lets you edit it) or re-create the zip.",
    ))
}

/// The ZIP64 end record's values that matter.
struct Zip64End {
    pos: usize,
    total: u64,
    cd_size: u64,
    cd_offset: u64,
}

/// Reads the ZIP64 end record through its locator at `loc`: one disk, placed right before
/// the locator, with no extensible data.
fn read_zip64_end(cur: &Cursor<'_>, loc: usize) -> Result<Zip64End, Problem> {
    let loc_disk = cur.u32(loc + 4).unwrap_or(1);
    let eocd64_off = cur.u64(loc + 8).unwrap_or(u64::MAX);
    let disks = cur.u32(loc + 16).unwrap_or(0);
    let expected = loc.checked_sub(EOCD64_LEN);
    // Name the real problem when the locator points at a ZIP64 end record that is
    // longer than the fixed 56 bytes (extensible data, which readers treat differently).
    let target = usize::try_from(eocd64_off).ok();
    if target.is_some_and(|t| t < loc && cur.u32(t) == Some(SIG_EOCD64))
        && target.and_then(|t| cur.u64(t + 4)) != Some((EOCD64_LEN - 12) as u64)
    {
        return Err(zip64_err("its ZIP64 end record carries extensible data"));
    }
    if loc_disk != 0 || disks != 1 || expected.map(|e| e as u64) != Some(eocd64_off) {
        return Err(zip64_err(
            "its ZIP64 locator does not point at a ZIP64 end record placed right before it",
        ));
    }
    let e = loc - EOCD64_LEN;
    if cur.u32(e) != Some(SIG_EOCD64) {
        return Err(zip64_err(
            "the ZIP64 locator points at something that is not a ZIP64 end record",
        ));
    }
    if cur.u64(e + 4).unwrap_or(0) != (EOCD64_LEN - 12) as u64 {
        return Err(zip64_err("its ZIP64 end record carries extensible data"));
    }
    let disk64 = cur.u32(e + 16).unwrap_or(1);
    let cd_disk64 = cur.u32(e + 20).unwrap_or(1);
    let on_disk64 = cur.u64(e + 24).unwrap_or(0);
    let total = cur.u64(e + 32).unwrap_or(0);
    if disk64 != 0 || cd_disk64 != 0 || on_disk64 != total {
        return Err(multi_disk());
    }
    let cd_size = cur.u64(e + 40).unwrap_or(0);
    let cd_offset = cur.u64(e + 48).unwrap_or(0);
    Ok(Zip64End { pos: e, total, cd_size, cd_offset })
}

/// A classic field that is not the ZIP64 sentinel must agree with the ZIP64 value,
/// otherwise readers that ignore ZIP64 see a different central directory.
fn check_zip64_agrees(classic: &ClassicEnd, wide: &Zip64End) -> Result<(), Problem> {
    let agrees = |classic: u64, sentinel: u64, wide: u64| classic == sentinel || classic == wide;
    if agrees(u64::from(classic.total), 0xFFFF, wide.total)
        && agrees(u64::from(classic.on_disk), 0xFFFF, wide.total)
        && agrees(u64::from(classic.cd_size), 0xFFFF_FFFF, wide.cd_size)
        && agrees(u64::from(classic.cd_offset), 0xFFFF_FFFF, wide.cd_offset)
    {
        return Ok(());
    }
    Err(zip64_err("its ZIP64 end record and its classic end record disagree"))
}

fn too_many_entries(n: u64, limits: &Limits) -> Problem {
    err(
        ProblemCode::ArchiveTooManyEntries,
        format!("The zip file has {n} entries; at most {} are allowed.", limits.max_entries),
        "Remove generated or vendored files from the plugin folder before zipping it.",
    )
}

fn not_zip_or_truncated(data: &[u8]) -> Problem {
    if data.starts_with(b"PK\x03\x04") {
        return truncated("the end-of-central-directory record is missing, so the file");
    }
    err(
        ProblemCode::ArchiveNotZip,
        "Could not unzip file: this is not a zip archive.",
        "Upload the plugin as a .zip file (not .tar.gz, .rar or .7z). ".to_owned() + HINT_REZIP,
    )
}

fn multi_disk() -> Problem {
    err(
        ProblemCode::ArchiveMultiDisk,
        "The zip file is a split (multi-disk) archive.",
        "Create a single-file zip: ".to_owned() + HINT_REZIP,
    )
}

fn zip64_err(what: &str) -> Problem {
    err(
        ProblemCode::ArchiveZip64,
        format!("The zip file's ZIP64 records are inconsistent: {what}."),
        HINT_REZIP,
    )
}

/// Sizes found in an entry's extra fields.
struct Extras {
    zip64: Option<Vec<u8>>,
    unicode_path: Option<Vec<u8>>,
}

/// Checks the extra-field framing: whole `(id, len, data)` records, no duplicate ZIP64 or
/// Unicode Path records (readers disagree about which one wins).
fn parse_extras(extra: &[u8], name: &str) -> Result<Extras, Problem> {
    let bad = |what: &str| {
        err_file(
            ProblemCode::ArchiveExtraField,
            name,
            format!("The extra field of zip entry '{name}' is malformed: {what}."),
            HINT_REZIP,
        )
    };
    let mut out = Extras { zip64: None, unicode_path: None };
    let mut rest = extra;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(bad("a record is shorter than its 4-byte header"));
        }
        let id = u16::from_le_bytes([rest[0], rest[1]]);
        let len = u16::from_le_bytes([rest[2], rest[3]]) as usize;
        let Some(body) = rest.get(4..4 + len) else {
            return Err(bad("a record is longer than the extra field"));
        };
        let slot = match id {
            EXTRA_ZIP64 => Some(&mut out.zip64),
            EXTRA_UNICODE_PATH => Some(&mut out.unicode_path),
            _ => None,
        };
        if let Some(slot) = slot {
            if slot.is_some() {
                return Err(bad(&format!("the record 0x{id:04x} appears twice")));
            }
            *slot = Some(body.to_vec());
        }
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// Decodes a raw entry name the way Python's zipfile does, refusing every case where
/// another reader could decode it differently.
fn decode_name(raw: &[u8], flags: u16, extras: &Extras) -> Result<String, Problem> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    let ambiguous = |what: &str| {
        err_file(
            ProblemCode::ArchiveNameEncoding,
            &shown,
            format!("The name of zip entry '{shown}' is ambiguous: {what}."),
            "Use ASCII file names, or a zip tool that marks names as UTF-8 (Info-ZIP zip 3, 7-Zip, Python's zipfile).",
        )
    };
    let name = if flags & FLAG_UTF8 != 0 {
        std::str::from_utf8(raw)
            .map_err(|_| ambiguous("it is marked UTF-8 but is not valid UTF-8"))?
            .to_owned()
    } else if raw.is_ascii() {
        String::from_utf8_lossy(raw).into_owned()
    } else {
        return Err(ambiguous(
            "it has non-ASCII bytes without the UTF-8 flag, so QGIS (Python) reads it as CP437 while other tools read it as UTF-8",
        ));
    };
    if let Some(up) = &extras.unicode_path {
        // Version 1, CRC of the header name, then the UTF-8 name. Python ≥ 3.12 prefers it.
        let same = up.len() >= 5
            && up[0] == 1
            && u32::from_le_bytes([up[1], up[2], up[3], up[4]]) == crc32fast::hash(raw)
            && &up[5..] == name.as_bytes();
        if !same {
            return Err(ambiguous("its Info-ZIP Unicode Path extra field names a different file"));
        }
    }
    Ok(name)
}

/// Values read from one local header.
struct Local {
    /// A ZIP64 extra is present: a data descriptor then has 8-byte sizes.
    zip64: bool,
    raw_name: Vec<u8>,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    uncompressed_size: u64,
    data_offset: usize,
}

fn parse_local(cur: &Cursor<'_>, pos: usize, limit: usize) -> Result<Local, Problem> {
    let header = cur.slice(pos, LOCAL_LEN).filter(|_| pos + LOCAL_LEN <= limit);
    let Some(_) = header else { return Err(truncated("a local file header")) };
    let flags = cur.u16(pos + 6).unwrap_or(0);
    let method = cur.u16(pos + 8).unwrap_or(0);
    let crc32 = cur.u32(pos + 14).unwrap_or(0);
    let csize = cur.u32(pos + 18).unwrap_or(0);
    let usize_ = cur.u32(pos + 22).unwrap_or(0);
    let nlen = cur.u16(pos + 26).unwrap_or(0) as usize;
    let xlen = cur.u16(pos + 28).unwrap_or(0) as usize;
    let name_pos = pos + LOCAL_LEN;
    let (Some(raw_name), Some(extra)) =
        (cur.slice(name_pos, nlen), cur.slice(name_pos + nlen, xlen))
    else {
        return Err(truncated("a local file header"));
    };
    if name_pos + nlen + xlen > limit {
        return Err(truncated("a local file header"));
    }
    let shown = String::from_utf8_lossy(raw_name).into_owned();
    let extras = parse_extras(extra, &shown)?;
    let (compressed_size, uncompressed_size) =
        local_zip64_sizes(&shown, extras.zip64.as_deref(), method, csize, usize_)?;
    let data_offset = name_pos + nlen + xlen;
    Ok(Local {
        zip64: extras.zip64.is_some(),
        raw_name: raw_name.to_vec(),
        flags,
        method,
        crc32,
        compressed_size,
        uncompressed_size,
        data_offset,
    })
}

/// Local ZIP64 extras follow PyPI's reading (warehouse utils/zipfiles.py): the local header
/// must carry both sizes unless the entry is stored. Returns (compressed, uncompressed).
fn local_zip64_sizes(
    shown: &str,
    zip64: Option<&[u8]>,
    method: u16,
    csize: u32,
    usize_: u32,
) -> Result<(u64, u64), Problem> {
    let mut compressed_size = u64::from(csize);
    let mut uncompressed_size = u64::from(usize_);
    match zip64 {
        None => {
            if csize == 0xFFFF_FFFF || usize_ == 0xFFFF_FFFF {
                return Err(zip64_entry_err(
                    shown,
                    "a size is 0xFFFFFFFF but there is no ZIP64 extra field",
                ));
            }
        }
        Some(z) => match z.len() {
            0 => {
                if csize == 0xFFFF_FFFF || usize_ == 0xFFFF_FFFF {
                    return Err(zip64_entry_err(shown, "its ZIP64 extra field is empty"));
                }
            }
            8 => {
                if method != METHOD_STORED {
                    return Err(zip64_entry_err(
                        shown,
                        "its local ZIP64 extra field lacks the compressed size",
                    ));
                }
                let u = cur_u64(z, 0);
                compressed_size = u;
                if usize_ == 0xFFFF_FFFF {
                    uncompressed_size = u;
                }
            }
            16 | 24 | 28 => {
                if usize_ == 0xFFFF_FFFF {
                    uncompressed_size = cur_u64(z, 0);
                }
                compressed_size = cur_u64(z, 8);
            }
            n => {
                return Err(zip64_entry_err(
                    shown,
                    &format!("its local ZIP64 extra field has {n} bytes"),
                ));
            }
        },
    }
    Ok((compressed_size, uncompressed_size))
}

fn cur_u64(b: &[u8], at: usize) -> u64 {
    Cursor { data: b }.u64(at).unwrap_or(u64::MAX)
}

fn zip64_entry_err(name: &str, what: &str) -> Problem {
    err_file(
        ProblemCode::ArchiveZip64,
        name,
        format!("Zip entry '{name}' has inconsistent ZIP64 information: {what}."),
        HINT_REZIP,
    )
}

fn mismatch(name: &str, what: &str) -> Problem {
    err_file(
        ProblemCode::ArchiveHeaderMismatch,
        name,
        format!(
            "The local header and the central directory of the zip file disagree about '{name}': {what}."
        ),
        "Zip readers would extract different files from this archive. ".to_owned() + HINT_REZIP,
    )
}

/// One central directory record, ZIP64 values applied.
struct Central {
    raw_name: Vec<u8>,
    name: String,
    made_by: u16,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    uncompressed_size: u64,
    offset: u64,
    external: u32,
}

const SIG_DESCRIPTOR: u32 = 0x0807_4b50;

fn overlapping(name: &str, what: &str) -> Problem {
    err_file(
        ProblemCode::ArchiveOverlappingEntries,
        name,
        format!("Zip entry '{name}' {what} (overlapping entries, as in non-recursive zip bombs)."),
        HINT_REZIP,
    )
}

fn descriptor_problem(name: &str, what: &str) -> Problem {
    err_file(
        ProblemCode::ArchiveDataDescriptor,
        name,
        format!(
            "The data descriptor of zip entry '{name}' (sizes written after the data by streaming zip tools) {what}."
        ),
        "Re-create the zip with a tool that writes sizes in the headers, for example `zip -r plugin.zip <plugin folder>` or Python's `shutil.make_archive`.",
    )
}

/// Reads the central directory records between `cd_offset` and `cd_end`.
fn parse_central(
    cur: &Cursor<'_>,
    cd_offset: usize,
    cd_end: usize,
    count: u64,
) -> Result<Vec<Central>, Problem> {
    let mut out = Vec::with_capacity(count.min(1 << 16) as usize);
    let mut pos = cd_offset;
    for _ in 0..count {
        if pos + CENTRAL_LEN > cd_end || cur.u32(pos) != Some(SIG_CENTRAL) {
            return Err(truncated("the central directory"));
        }
        let made_by = cur.u16(pos + 4).unwrap_or(0);
        let flags = cur.u16(pos + 8).unwrap_or(0);
        let method = cur.u16(pos + 10).unwrap_or(0);
        let crc32 = cur.u32(pos + 16).unwrap_or(0);
        let csize = cur.u32(pos + 20).unwrap_or(0);
        let usize_ = cur.u32(pos + 24).unwrap_or(0);
        let nlen = cur.u16(pos + 28).unwrap_or(0) as usize;
        let xlen = cur.u16(pos + 30).unwrap_or(0) as usize;
        let clen = cur.u16(pos + 32).unwrap_or(0) as usize;
        let disk = cur.u16(pos + 34).unwrap_or(0);
        let external = cur.u32(pos + 38).unwrap_or(0);
        let offset32 = cur.u32(pos + 42).unwrap_or(0);
        let name_pos = pos + CENTRAL_LEN;
        let rec_end = name_pos + nlen + xlen + clen;
        if rec_end > cd_end {
            return Err(truncated("a central directory entry"));
        }
        let raw_name = cur.slice(name_pos, nlen).unwrap_or(&[]);
        let extra = cur.slice(name_pos + nlen, xlen).unwrap_or(&[]);
        let shown = String::from_utf8_lossy(raw_name).into_owned();
        if clen != 0 {
            return Err(err_file(
                ProblemCode::ArchiveEntryComment,
                &shown,
                format!(
                    "Zip entry '{shown}' carries a file comment; comments on entries are not allowed."
                ),
                "Remove the entry comments (`zip -c` edits them) or re-create the zip.",
            ));
        }
        let extras = parse_extras(extra, &shown)?;
        let (uncompressed_size, compressed_size, offset) =
            central_zip64_values(&shown, extras.zip64.as_deref(), usize_, csize, offset32)?;
        if disk != 0 {
            return Err(multi_disk());
        }
        let name = decode_name(raw_name, flags, &extras)?;
        out.push(Central {
            raw_name: raw_name.to_vec(),
            name,
            made_by,
            flags,
            method,
            crc32,
            compressed_size,
            uncompressed_size,
            offset,
            external,
        });
        pos = rec_end;
    }
    if pos != cd_end {
        return Err(err(
            ProblemCode::ArchiveHeaderMismatch,
            "The central directory of the zip file is larger than its entries (hidden records).",
            HINT_REZIP,
        ));
    }
    Ok(out)
}

/// Central ZIP64 extras are read as Python reads them: only the fields whose classic value
/// is the sentinel, in order. Returns (uncompressed size, compressed size, offset).
fn central_zip64_values(
    shown: &str,
    zip64: Option<&[u8]>,
    usize_: u32,
    csize: u32,
    offset32: u32,
) -> Result<(u64, u64, u64), Problem> {
    let mut values = [u64::from(usize_), u64::from(csize), u64::from(offset32)];
    let needs = [usize_ == 0xFFFF_FFFF, csize == 0xFFFF_FFFF, offset32 == 0xFFFF_FFFF];
    if !needs.iter().any(|&n| n) {
        return Ok((values[0], values[1], values[2]));
    }
    let Some(z) = zip64 else {
        return Err(zip64_entry_err(
            shown,
            "a field is 0xFFFFFFFF but there is no ZIP64 extra field",
        ));
    };
    let mut at = 0;
    for (value, need) in values.iter_mut().zip(needs) {
        if !need {
            continue;
        }
        let Some(v) = (Cursor { data: z }).u64(at) else {
            return Err(zip64_entry_err(shown, "its ZIP64 extra field is too short"));
        };
        *value = v;
        at += 8;
    }
    Ok((values[0], values[1], values[2]))
}

/// Walks and cross-checks every record; refuses at the first framing problem.
pub(crate) fn parse<'a>(data: &'a [u8], limits: &Limits) -> Result<Archive<'a>, Problem> {
    if data.is_empty() {
        return Err(err(
            ProblemCode::ArchiveEmpty,
            "The uploaded file is empty (0 bytes).",
            "Upload the zip file of your plugin.",
        ));
    }
    let cur = Cursor { data };
    let end = find_eocd(data, limits)?;
    let cd = central_directory_span(&cur, &end)?;
    let centrals = parse_central(&cur, cd.offset, cd.end, end.entries)?;
    check_end_records_follow(&cd)?;
    let data_offsets = match_local_headers(&cur, &centrals, cd.offset)?;
    let entries = accepted_entries(centrals, data_offsets)?;
    check_names_unique(&entries)?;
    Ok(Archive { data, entries })
}

/// Where the central directory lies, and where the end records after it begin.
struct CentralSpan {
    offset: usize,
    end: usize,
    /// The ZIP64 end record, else the classic one.
    limit: usize,
}

/// The central directory's span from the end record: inside the file, before the end
/// records, and either at offset 0 (no entries) or after a first local header.
fn central_directory_span(cur: &Cursor<'_>, end: &EndRecord) -> Result<CentralSpan, Problem> {
    let offset = usize::try_from(end.cd_offset).unwrap_or(usize::MAX);
    let size = usize::try_from(end.cd_size).unwrap_or(usize::MAX);
    let span = CentralSpan {
        offset,
        end: offset.saturating_add(size),
        limit: end.eocd64_pos.unwrap_or(end.pos),
    };
    if span.end > span.limit {
        return Err(truncated("the central directory"));
    }
    let first = cur.u32(0);
    if first != Some(SIG_LOCAL) && offset != 0 {
        return Err(prefix_problem(first));
    }
    Ok(span)
}

/// What follows the central directory must be exactly the end records.
fn check_end_records_follow(cd: &CentralSpan) -> Result<(), Problem> {
    if cd.end == cd.limit {
        return Ok(());
    }
    Err(err(
        ProblemCode::ArchiveTrailingData,
        format!(
            "The zip file has {} unexpected bytes between its central directory and its end record.",
            cd.limit - cd.end
        ),
        HINT_REZIP,
    ))
}

/// Walks the local headers from offset 0, back to back, each matching the central entry
/// that points at it, up to the central directory; returns each central entry's data offset.
fn match_local_headers(
    cur: &Cursor<'_>,
    centrals: &[Central],
    cd_offset: usize,
) -> Result<Vec<u64>, Problem> {
    let by_offset = sorted_by_offset(centrals)?;
    let mut data_offsets = vec![0u64; centrals.len()];
    let mut next = 0usize;
    let mut pos = 0usize;
    while pos < cd_offset {
        if cur.u32(pos) != Some(SIG_LOCAL) {
            return Err(no_local_header_at(cur, pos, cd_offset));
        }
        let l = parse_local(cur, pos, cd_offset)?;
        let ci = central_at(&by_offset, next, pos, centrals, &l)?;
        next += 1;
        let c = &centrals[ci];
        check_local_agrees(&l, c)?;
        let data_end = (l.data_offset as u64)
            .checked_add(c.compressed_size)
            .filter(|e| *e <= cd_offset as u64)
            .ok_or_else(|| overlapping(&c.name, "has data running into the central directory"))?
            as usize;
        pos = if l.flags & FLAG_DATA_DESCRIPTOR != 0 {
            check_data_descriptor(cur, &l, c, data_end, cd_offset)?
        } else {
            check_local_sizes(&l, c)?;
            data_end
        };
        data_offsets[ci] = l.data_offset as u64;
    }
    check_every_central_matched(&by_offset, next, centrals, cd_offset)?;
    Ok(data_offsets)
}

/// Central entries as `(local header offset, index)`, sorted; two central entries pointing
/// at one local header would share its data.
fn sorted_by_offset(centrals: &[Central]) -> Result<Vec<(u64, usize)>, Problem> {
    let mut by_offset: Vec<(u64, usize)> =
        centrals.iter().enumerate().map(|(i, c)| (c.offset, i)).collect();
    by_offset.sort_unstable();
    if let Some(w) = by_offset.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(overlapping(&centrals[w[1].1].name, "shares its data with another entry"));
    }
    Ok(by_offset)
}

/// Bytes that are not a local header where the next one should start.
fn no_local_header_at(cur: &Cursor<'_>, pos: usize, cd_offset: usize) -> Problem {
    if pos == 0 {
        return prefix_problem(cur.u32(0));
    }
    err(
        ProblemCode::ArchiveTrailingData,
        format!(
            "The zip file has {} bytes between its last entry and its central directory that belong to no entry.",
            cd_offset - pos
        ),
        HINT_REZIP,
    )
}

/// The index of the central entry the `next` local header (at `pos`) must belong to.
fn central_at(
    by_offset: &[(u64, usize)],
    next: usize,
    pos: usize,
    centrals: &[Central],
    l: &Local,
) -> Result<usize, Problem> {
    if let Some(&(_, ci)) = by_offset.get(next).filter(|(o, _)| *o == pos as u64) {
        return Ok(ci);
    }
    Err(match by_offset.get(next) {
        Some(&(o, ci)) if o < pos as u64 => {
            overlapping(&centrals[ci].name, "points into the data of another entry")
        }
        _ => mismatch(
            &String::from_utf8_lossy(&l.raw_name),
            "it has a local header but no central directory entry",
        ),
    })
}

/// The local header names the entry as the central directory does, with the same flags
/// that change how it is read and the same method.
fn check_local_agrees(l: &Local, c: &Central) -> Result<(), Problem> {
    if l.raw_name != c.raw_name {
        let lname = String::from_utf8_lossy(&l.raw_name);
        return Err(mismatch(&c.name, &format!("the local header names it '{lname}'")));
    }
    if (l.flags ^ c.flags) & FLAGS_COMPARED != 0 {
        return Err(mismatch(&c.name, "their flags differ"));
    }
    if l.method != c.method {
        return Err(mismatch(&c.name, "their compression methods differ"));
    }
    Ok(())
}

/// Without a data descriptor, the local header's CRC and sizes are the central ones.
fn check_local_sizes(l: &Local, c: &Central) -> Result<(), Problem> {
    if l.crc32 != c.crc32 {
        return Err(mismatch(&c.name, "their CRC-32 values differ"));
    }
    if l.compressed_size != c.compressed_size {
        return Err(mismatch(&c.name, "their compressed sizes differ"));
    }
    if l.uncompressed_size != c.uncompressed_size {
        return Err(mismatch(&c.name, "their uncompressed sizes differ"));
    }
    Ok(())
}

/// An entry written by a streaming tool: zeros or the central values in the local header,
/// then a data descriptor that agrees with the central directory. Returns where the next
/// local header starts.
fn check_data_descriptor(
    cur: &Cursor<'_>,
    l: &Local,
    c: &Central,
    data_end: usize,
    cd_offset: usize,
) -> Result<usize, Problem> {
    if (l.crc32 != 0 && l.crc32 != c.crc32)
        || (l.compressed_size != 0 && l.compressed_size != c.compressed_size)
        || (l.uncompressed_size != 0 && l.uncompressed_size != c.uncompressed_size)
    {
        return Err(mismatch(&c.name, "the local header's sizes or CRC differ"));
    }
    // A stored entry ends where a streaming reader finds the descriptor signature.
    if c.method == METHOD_STORED
        && cur.data[l.data_offset..data_end].windows(4).any(|w| w == SIG_DESCRIPTOR.to_le_bytes())
    {
        return Err(descriptor_problem(
            &c.name,
            "is ambiguous: the stored data contains a descriptor signature",
        ));
    }
    let mut d = data_end;
    if cur.u32(d) == Some(SIG_DESCRIPTOR) {
        d += 4;
    }
    let w = if l.zip64 { 8 } else { 4 };
    let read = |at: usize| if w == 8 { cur.u64(at) } else { cur.u32(at).map(u64::from) };
    let agrees = cur.u32(d) == Some(c.crc32)
        && read(d + 4) == Some(c.compressed_size)
        && read(d + 4 + w) == Some(c.uncompressed_size)
        && d + 4 + 2 * w <= cd_offset;
    if !agrees {
        return Err(descriptor_problem(&c.name, "disagrees with the central directory"));
    }
    Ok(d + 4 + 2 * w)
}

/// After the walk, a central entry left over points to no local header of its own.
fn check_every_central_matched(
    by_offset: &[(u64, usize)],
    next: usize,
    centrals: &[Central],
    cd_offset: usize,
) -> Result<(), Problem> {
    let Some(&(o, ci)) = by_offset.get(next) else { return Ok(()) };
    Err(if o < cd_offset as u64 {
        overlapping(&centrals[ci].name, "points into the data of another entry")
    } else {
        mismatch(&centrals[ci].name, "its central directory entry points to no local header")
    })
}

/// The entries, refusing encryption, methods other than stored and deflate, and special
/// files; in central directory order.
fn accepted_entries(centrals: Vec<Central>, data_offsets: Vec<u64>) -> Result<Vec<Entry>, Problem> {
    let mut entries = Vec::with_capacity(centrals.len());
    for (c, data_offset) in centrals.into_iter().zip(data_offsets) {
        check_method(&c)?;
        check_mode(&c.name, c.made_by, c.external, c.uncompressed_size)?;
        entries.push(Entry {
            name: c.name,
            method: c.method,
            crc32: c.crc32,
            compressed_size: c.compressed_size,
            uncompressed_size: c.uncompressed_size,
            data_offset,
            unix_mode: unix_mode(c.made_by, c.external),
        });
    }
    Ok(entries)
}

/// The Unix mode of an entry made on Unix (3) or macOS (19), when it has one.
fn unix_mode(made_by: u16, external: u32) -> Option<u32> {
    let mode = external >> 16;
    (matches!(made_by >> 8, 3 | 19) && mode != 0).then_some(mode)
}

/// No encryption, and a method QGIS can unpack everywhere.
fn check_method(c: &Central) -> Result<(), Problem> {
    let name = &c.name;
    if c.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 || c.method == METHOD_AES {
        return Err(err_file(
            ProblemCode::ArchiveEncrypted,
            name,
            format!("Zip entry '{name}' is encrypted (password-protected)."),
            "Create the zip without a password.",
        ));
    }
    if c.method != METHOD_STORED && c.method != METHOD_DEFLATED {
        return Err(err_file(
            ProblemCode::ArchiveCompression,
            name,
            format!(
                "Zip entry '{name}' uses compression method {}; only stored (0) and deflate (8) are accepted, which are what QGIS can unpack everywhere.",
                c.method
            ),
            "Re-create the zip with the default deflate compression (for 7-Zip: `-mm=Deflate`).",
        ));
    }
    Ok(())
}

fn prefix_problem(first: Option<u32>) -> Problem {
    if first == Some(SIG_CENTRAL) {
        return mismatch("?", "a central directory entry has no local header");
    }
    err(
        ProblemCode::ArchivePrefixData,
        "The zip file does not start with a zip entry: data is prepended to it (a self-extractor stub, or a file that is both HTML and zip).",
        "Upload a plain zip file. ".to_owned() + HINT_REZIP,
    )
}

/// Refuses symlinks, devices, FIFOs, sockets, setuid/setgid bits and directories with data.
fn check_mode(name: &str, made_by: u16, external: u32, size: u64) -> Result<(), Problem> {
    const S_IFMT: u32 = 0o170_000;
    const S_IFLNK: u32 = 0o120_000;
    const S_IFREG: u32 = 0o100_000;
    const S_IFDIR: u32 = 0o040_000;
    if name.ends_with('/') && size != 0 {
        return Err(err_file(
            ProblemCode::ArchiveSpecialFile,
            name,
            format!("Zip entry '{name}' is a folder but carries data."),
            HINT_REZIP,
        ));
    }
    // Unix modes are only meaningful when the entry was made on Unix (3) or macOS (19).
    if !matches!(made_by >> 8, 3 | 19) {
        return Ok(());
    }
    let mode = external >> 16;
    let kind = mode & S_IFMT;
    if kind == S_IFLNK {
        return Err(err_file(
            ProblemCode::ArchiveSymlink,
            name,
            format!(
                "Zip entry '{name}' is a symbolic link; links are not allowed, even to files inside the plugin."
            ),
            "Replace the link by a copy of the file it points to (`zip -r` without `-y` does this).",
        ));
    }
    if kind != 0 && kind != S_IFREG && kind != S_IFDIR {
        return Err(err_file(
            ProblemCode::ArchiveSpecialFile,
            name,
            format!(
                "Zip entry '{name}' is a device, FIFO or socket (mode {mode:o}), not a file or folder."
            ),
            "Only regular files and folders may be in the plugin.",
        ));
    }
    if mode & 0o6000 != 0 {
        return Err(err_file(
            ProblemCode::ArchiveSpecialFile,
            name,
            format!("Zip entry '{name}' has the setuid or setgid bit set (mode {mode:o})."),
            "Clear the bits with `chmod u-s,g-s <file>` before zipping.",
        ));
    }
    Ok(())
}

fn check_names_unique(entries: &[Entry]) -> Result<(), Problem> {
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    for e in entries {
        if !seen.insert(e.name.as_str()) {
            return Err(err_file(
                ProblemCode::ArchiveDuplicateName,
                &e.name,
                format!(
                    "The zip file contains '{}' twice; unzip tools disagree about which copy wins.",
                    e.name
                ),
                "Keep one copy of the file. ".to_owned() + HINT_REZIP,
            ));
        }
    }
    Ok(())
}

/// Running totals across entries, so a bomb is stopped while it inflates.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) uncompressed: u64,
}

/// Size of the scratch buffer entries are inflated through; only kept files are copied out.
const CHUNK: usize = 64 * 1024;

impl Archive<'_> {
    /// Checks declared sizes against the limits before anything is inflated.
    pub(crate) fn check_declared(&self, limits: &Limits) -> Result<(), Problem> {
        let mut total: u64 = 0;
        for e in &self.entries {
            if e.uncompressed_size > limits.max_entry_uncompressed {
                return Err(entry_too_large(&e.name, limits));
            }
            total = total.saturating_add(e.uncompressed_size);
        }
        if total > limits.max_total_uncompressed {
            return Err(total_too_large(limits));
        }
        let zip_len = self.data.len().max(1) as u64;
        if total > limits.ratio_threshold && total / zip_len > limits.max_ratio {
            return Err(err(
                ProblemCode::ArchiveRatio,
                format!(
                    "The zip file expands from {zip_len} bytes to {total} bytes, a compression ratio above {}:1 (a zip bomb).",
                    limits.max_ratio
                ),
                "Remove the highly compressible bulk data from the plugin.",
            ));
        }
        Ok(())
    }

    /// Reads one entry to its end: inflates under the limits, checks the size and CRC, and
    /// returns the first `keep` bytes (plus whether the entry was longer than `keep`).
    pub(crate) fn read(
        &self,
        e: &Entry,
        keep: usize,
        totals: &mut Totals,
        limits: &Limits,
    ) -> Result<(Vec<u8>, bool), Problem> {
        let start = e.data_offset as usize;
        let comp = self
            .data
            .get(start..start.saturating_add(e.compressed_size as usize))
            .ok_or_else(|| truncated(&format!("the data of '{}'", e.name)))?;
        let mut kept = Vec::new();
        let mut longer = false;
        let mut hasher = crc32fast::Hasher::new();
        let mut produced: u64 = 0;
        let mut sink = |chunk: &[u8], totals: &mut Totals| -> Result<(), Problem> {
            produced += chunk.len() as u64;
            totals.uncompressed += chunk.len() as u64;
            if produced > e.uncompressed_size {
                return Err(size_lie(&e.name));
            }
            if produced > limits.max_entry_uncompressed {
                return Err(entry_too_large(&e.name, limits));
            }
            if totals.uncompressed > limits.max_total_uncompressed {
                return Err(total_too_large(limits));
            }
            hasher.update(chunk);
            let room = keep.saturating_sub(kept.len());
            if room > 0 {
                kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
            }
            if chunk.len() > room {
                longer = true;
            }
            Ok(())
        };
        match e.method {
            METHOD_STORED => {
                if e.compressed_size != e.uncompressed_size {
                    return Err(size_lie(&e.name));
                }
                for chunk in comp.chunks(CHUNK) {
                    sink(chunk, totals)?;
                }
            }
            _ => inflate(comp, &e.name, |c| sink(c, totals))?,
        }
        if produced != e.uncompressed_size {
            return Err(size_lie(&e.name));
        }
        if hasher.finalize() != e.crc32 {
            return Err(err_file(
                ProblemCode::ArchiveCrc,
                &e.name,
                format!("Bad zip (maybe a CRC error) on file {}", e.name),
                "The file is damaged: its content does not match its CRC-32. ".to_owned()
                    + HINT_REZIP,
            ));
        }
        Ok((kept, longer))
    }
}

/// Inflates a raw deflate stream that must end exactly at the end of `comp`.
fn inflate(
    comp: &[u8],
    name: &str,
    mut sink: impl FnMut(&[u8]) -> Result<(), Problem>,
) -> Result<(), Problem> {
    use flate2::{Decompress, FlushDecompress, Status};
    let corrupt = |what: &str| {
        err_file(
            ProblemCode::ArchiveCorruptData,
            name,
            format!("Bad zip (maybe a CRC error) on file {name}: {what}."),
            "The file is damaged. ".to_owned() + HINT_REZIP,
        )
    };
    let mut d = Decompress::new(false);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let in_before = d.total_in() as usize;
        let out_before = d.total_out();
        let status = d
            .decompress(&comp[in_before.min(comp.len())..], &mut buf, FlushDecompress::Finish)
            .map_err(|_| corrupt("invalid deflate data"))?;
        let produced = (d.total_out() - out_before) as usize;
        if produced > 0 {
            sink(&buf[..produced])?;
        }
        let consumed = d.total_in() as usize - in_before;
        match status {
            Status::StreamEnd => {
                if d.total_in() as usize != comp.len() {
                    return Err(corrupt("bytes follow the end of its deflate stream"));
                }
                return Ok(());
            }
            Status::Ok | Status::BufError => {
                if produced == 0 && consumed == 0 {
                    return Err(corrupt("its deflate stream is truncated"));
                }
            }
        }
    }
}

fn size_lie(name: &str) -> Problem {
    err_file(
        ProblemCode::ArchiveSizeMismatch,
        name,
        format!("Zip entry '{name}' does not contain the number of bytes its headers declare."),
        "The archive is damaged or forged. ".to_owned() + HINT_REZIP,
    )
}

fn entry_too_large(name: &str, limits: &Limits) -> Problem {
    err_file(
        ProblemCode::ArchiveEntryTooLarge,
        name,
        format!(
            "Zip entry '{name}' expands to more than {} bytes, the limit for one file.",
            limits.max_entry_uncompressed
        ),
        "Remove large data files from the plugin; download them at run time instead.",
    )
}

fn total_too_large(limits: &Limits) -> Problem {
    err(
        ProblemCode::ArchiveTooLargeUncompressed,
        format!(
            "The zip file expands to more than {} bytes in total, the limit for a plugin.",
            limits.max_total_uncompressed
        ),
        "Remove large data files from the plugin; download them at run time instead.",
    )
}
