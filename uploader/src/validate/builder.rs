//! Test-data builder: writes zip files record by record so tests (and the benchmark) can
//! build valid plugins and forge every hostile variant (lying sizes, foreign names in the
//! local header, overlaps, symlink modes, prefixes, comments, ...). Not used by `validate`.

use std::io::Write;

/// One member, with every field a test may want to forge.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: Vec<u8>,
    /// The uncompressed content (used for the CRC and, unless `raw` is set, the data).
    pub data: Vec<u8>,
    pub method: u16,
    pub flags: u16,
    pub made_by: u16,
    pub external_attr: u32,
    /// Compressed bytes written as-is instead of compressing `data`.
    pub raw: Option<Vec<u8>>,
    pub crc: Option<u32>,
    /// Declared uncompressed size in both headers (default: `data.len()`).
    pub usize: Option<u32>,
    /// Declared compressed size in both headers (default: the real one).
    pub csize: Option<u32>,
    /// Local-header-only overrides.
    pub local_name: Option<Vec<u8>>,
    pub local_usize: Option<u32>,
    pub local_csize: Option<u32>,
    /// Bytes written right after the data (a data descriptor).
    pub descriptor: Option<Vec<u8>>,
    pub local_crc: Option<u32>,
    pub local_extra: Vec<u8>,
    pub central_extra: Vec<u8>,
    pub comment: Vec<u8>,
    /// Leave out of the central directory / write no local header.
    pub skip_central: bool,
    pub skip_local: bool,
    /// Point the central entry at another entry's local header (overlap).
    pub central_offset_of: Option<usize>,
}

impl ZipEntry {
    pub fn new(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        Self {
            name: name.as_ref().to_vec(),
            data: data.as_ref().to_vec(),
            method: 8,
            flags: 0,
            made_by: 0x0314, // Unix, spec 2.0
            external_attr: 0o100_644 << 16,
            raw: None,
            crc: None,
            usize: None,
            csize: None,
            local_name: None,
            local_usize: None,
            local_csize: None,
            descriptor: None,
            local_crc: None,
            local_extra: Vec::new(),
            central_extra: Vec::new(),
            comment: Vec::new(),
            skip_central: false,
            skip_local: false,
            central_offset_of: None,
        }
    }
}

/// Builds a zip file from `ZipEntry`s, with archive-level forgeries.
#[derive(Debug, Clone, Default)]
pub struct ZipBuilder {
    pub entries: Vec<ZipEntry>,
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    pub comment: Vec<u8>,
    /// Entry count written in the end record (default: the real one).
    pub eocd_count: Option<u16>,
}

/// Raw deflate of `data` at the default level.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

impl ZipBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    /// A deflated file.
    pub fn file(mut self, name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        self.entries.push(ZipEntry::new(name, data));
        self
    }
    /// A stored (uncompressed) file.
    pub fn stored(mut self, name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        let mut e = ZipEntry::new(name, data);
        e.method = 0;
        self.entries.push(e);
        self
    }
    /// A folder entry.
    pub fn dir(mut self, name: &str) -> Self {
        let mut e = ZipEntry::new(name, b"");
        e.method = 0;
        e.external_attr = (0o040_755 << 16) | 0x10;
        self.entries.push(e);
        self
    }
    pub fn entry(mut self, e: ZipEntry) -> Self {
        self.entries.push(e);
        self
    }
    /// Changes the last entry added.
    pub fn edit_last(mut self, f: impl FnOnce(&mut ZipEntry)) -> Self {
        if let Some(e) = self.entries.last_mut() {
            f(e);
        }
        self
    }
    /// Changes the entry with this name.
    pub fn edit(mut self, name: &str, f: impl FnOnce(&mut ZipEntry)) -> Self {
        if let Some(e) = self.entries.iter_mut().find(|e| e.name == name.as_bytes()) {
            f(e);
        }
        self
    }
    /// Turns every deflated entry into a streamed one: zeros in the local header and a
    /// data descriptor (with signature) after the data, as streaming writers do.
    pub fn streamed(mut self) -> Self {
        for e in self.entries.iter_mut().filter(|e| e.method == 8) {
            let comp = e.raw.clone().unwrap_or_else(|| deflate(&e.data));
            let mut d = 0x0807_4b50u32.to_le_bytes().to_vec();
            d.extend_from_slice(&crc32fast::hash(&e.data).to_le_bytes());
            d.extend_from_slice(&(comp.len() as u32).to_le_bytes());
            d.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            e.flags |= 0x8;
            e.local_crc = Some(0);
            e.local_csize = Some(0);
            e.local_usize = Some(0);
            e.descriptor = Some(d);
        }
        self
    }
    pub fn without(mut self, name: &str) -> Self {
        self.entries.retain(|e| e.name != name.as_bytes());
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = self.prefix.clone();
        let mut offsets = Vec::with_capacity(self.entries.len());
        let mut payloads = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let comp = match (&e.raw, e.method) {
                (Some(r), _) => r.clone(),
                (None, 8) => deflate(&e.data),
                (None, _) => e.data.clone(),
            };
            let crc = e.crc.unwrap_or_else(|| crc32fast::hash(&e.data));
            let usize_ = e.usize.unwrap_or(e.data.len() as u32);
            let csize = e.csize.unwrap_or(comp.len() as u32);
            offsets.push(out.len() as u32);
            if !e.skip_local {
                let name = e.local_name.as_ref().unwrap_or(&e.name);
                put32(&mut out, 0x0403_4b50);
                put16(&mut out, 20);
                put16(&mut out, e.flags);
                put16(&mut out, e.method);
                put16(&mut out, 0);
                put16(&mut out, 0x21);
                put32(&mut out, e.local_crc.unwrap_or(crc));
                put32(&mut out, e.local_csize.unwrap_or(csize));
                put32(&mut out, e.local_usize.unwrap_or(usize_));
                put16(&mut out, name.len() as u16);
                put16(&mut out, e.local_extra.len() as u16);
                out.extend_from_slice(name);
                out.extend_from_slice(&e.local_extra);
                out.extend_from_slice(&comp);
                out.extend_from_slice(e.descriptor.as_deref().unwrap_or_default());
            }
            payloads.push((crc, usize_, csize));
        }
        let cd_start = out.len() as u32;
        let mut count = 0u16;
        for (i, e) in self.entries.iter().enumerate() {
            if e.skip_central {
                continue;
            }
            count += 1;
            let (crc, usize_, csize) = payloads[i];
            let offset = offsets[e.central_offset_of.unwrap_or(i)] - self.prefix.len() as u32;
            put32(&mut out, 0x0201_4b50);
            put16(&mut out, e.made_by);
            put16(&mut out, 20);
            put16(&mut out, e.flags);
            put16(&mut out, e.method);
            put16(&mut out, 0);
            put16(&mut out, 0x21);
            put32(&mut out, crc);
            put32(&mut out, csize);
            put32(&mut out, usize_);
            put16(&mut out, e.name.len() as u16);
            put16(&mut out, e.central_extra.len() as u16);
            put16(&mut out, e.comment.len() as u16);
            put16(&mut out, 0);
            put16(&mut out, 0);
            put32(&mut out, e.external_attr);
            put32(&mut out, offset);
            out.extend_from_slice(&e.name);
            out.extend_from_slice(&e.central_extra);
            out.extend_from_slice(&e.comment);
        }
        let cd_size = out.len() as u32 - cd_start;
        let count = self.eocd_count.unwrap_or(count);
        put32(&mut out, 0x0605_4b50);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, count);
        put16(&mut out, count);
        put32(&mut out, cd_size);
        put32(&mut out, cd_start - self.prefix.len() as u32);
        put16(&mut out, self.comment.len() as u16);
        out.extend_from_slice(&self.comment);
        out.extend_from_slice(&self.suffix);
        out
    }
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A metadata.txt with every required key, then `extra` lines appended.
pub fn metadata_txt(extra: &str) -> String {
    format!(
        "[general]\nname=Test Plugin\nqgisMinimumVersion=3.0\ndescription=A plugin for tests\nabout=It does nothing useful,\n  on two lines.\nversion=0.0.1\nauthor=Jane Doe\nemail=jane@example.org\ntracker=https://github.com/example/test_plugin/issues\nrepository=https://github.com/example/test_plugin\nhomepage=https://example.org/test_plugin\ntags=python, Example,test, python\nicon=icon.png\n{extra}"
    )
}

/// A smallest valid PNG (1×1).
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// A valid plugin `pkg` with the given metadata.txt.
pub fn plugin_with_metadata(pkg: &str, metadata: &str) -> ZipBuilder {
    ZipBuilder::new()
        .dir(&format!("{pkg}/"))
        .file(
            format!("{pkg}/__init__.py"),
            "def classFactory(iface):\n    from .plugin import P\n    return P(iface)\n",
        )
        .file(format!("{pkg}/metadata.txt"), metadata)
        .file(
            format!("{pkg}/plugin.py"),
            "class P:\n    def __init__(self, iface):\n        self.iface = iface\n",
        )
        .file(format!("{pkg}/LICENSE"), "GNU GENERAL PUBLIC LICENSE Version 2\n")
        .stored(format!("{pkg}/icon.png"), PNG_1X1)
}

/// The canonical valid plugin used by tests.
pub fn valid_plugin(pkg: &str) -> ZipBuilder {
    plugin_with_metadata(pkg, &metadata_txt(""))
}

/// A valid plugin padded with `data_files` pseudo-random files until the zip is about
/// `target` bytes (about 2:1 compressible, like source code and data).
pub fn sized_plugin(target: usize) -> Vec<u8> {
    let mut b = valid_plugin("sized_plugin");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i = 0;
    let mut approx = 0usize;
    while approx < target {
        let mut data = Vec::with_capacity(256 * 1024);
        while data.len() < 256 * 1024 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Half random bytes, half a repeated word: compresses about 2:1.
            data.extend_from_slice(&state.to_le_bytes());
            data.extend_from_slice(b"qgis_plg");
        }
        b = b.file(format!("sized_plugin/data/file_{i:04}.bin"), &data);
        approx += data.len() * 58 / 100;
        i += 1;
    }
    b.build()
}
