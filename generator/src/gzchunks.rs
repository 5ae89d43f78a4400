//! Chunked gzip for the large plugins.xml documents: one valid single-member gzip stream made
//! of independently deflated chunks cut at `<pyqgis_plugin ` entries, so a rebuild copies the
//! compressed bytes of unchanged chunks from the previous .gz instead of compressing again.
//!
//! Layout: a fixed 10-byte gzip header, then per chunk the raw deflate output of a fresh
//! compressor ended with a sync flush (byte-aligned, no final block, no back-references into
//! other chunks), then an empty final fixed-Huffman block (`03 00`), then CRC32 and ISIZE of
//! the whole document. Any concatenation of such chunks is therefore one valid deflate stream.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Index of a chunked gzip file: per chunk, the hash of its uncompressed bytes and where its
/// compressed bytes are in the .gz file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkIndex {
    pub chunks: Vec<ChunkRef>,
}

/// One chunk: `hash` is 16 hex digits, the CRC-32 of the chunk's uncompressed bytes followed
/// by the compression level, then their length mod 2^32; `offset`/`len` locate its deflate
/// bytes in the .gz. The hash only finds a candidate: reuse is decided by inflating it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub hash: String,
    pub offset: u64,
    pub len: u64,
}

/// Chunks are cut right before an entry.
const ENTRY_START: &[u8] = b"<pyqgis_plugin ";
/// Where the search looks first: `q` is rare in plugins.xml, so few blocks need a closer look.
const RARE_AT: usize = 3;
/// A chunk ends after an entry whose first-line hash has these bits clear: 1 entry in 32.
const BOUNDARY_MASK: u64 = 31;
/// Past this many uncompressed bytes a chunk ends after the current entry whatever its hash,
/// so a run of unlucky hashes cannot make one chunk (and its recompression) huge.
const MAX_CHUNK: usize = 256 * 1024;
/// Magic, deflate, no flags, mtime 0, no extra flags, OS unknown: the same bytes every build.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
/// An empty fixed-Huffman block with BFINAL set: BFINAL=1, BTYPE=01, end-of-block (7 zeros).
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Compresses `doc` as one gzip member made of chunks cut at entry boundaries. `previous`
/// is the previous build's .gz bytes and its index: chunks whose hash is in it are copied
/// instead of compressed. Returns the gzip bytes, the new index, and how many chunks were reused.
///
/// A copied chunk is first inflated and compared with the chunk it stands for, so a stale,
/// truncated or hostile `previous` costs time, never correctness: such chunks are compressed.
/// Builds share chunks through `gzip_chunked_shared`; the tests use this one-document form.
#[cfg(test)]
pub(crate) fn gzip_chunked(
    doc: &[u8],
    previous: Option<(&[u8], &ChunkIndex)>,
    level: u32,
) -> (Vec<u8>, ChunkIndex, usize) {
    gzip_chunked_shared(doc, previous, level, None)
}

/// Compressed chunks shared by the documents of one build, keyed by the SHA-256 of their
/// uncompressed bytes and the level: neighbouring QGIS versions list mostly the same
/// entries, and a document's stable-only variant is the first part of the full one, so most
/// chunks of one document are chunks of others. The key is strong, so a hit needs no check.
#[derive(Default)]
pub(crate) struct ChunkCache {
    map: Mutex<HashMap<CacheKey, Arc<Vec<u8>>>>,
}

/// SHA-256 of a chunk's uncompressed bytes, and the level.
type CacheKey = ([u8; 32], u32);

impl ChunkCache {
    fn get(&self, key: &CacheKey) -> Option<Arc<Vec<u8>>> {
        self.map.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: CacheKey, bytes: Arc<Vec<u8>>) {
        if let Ok(mut map) = self.map.lock() {
            map.entry(key).or_insert(bytes);
        }
    }
}

/// `gzip_chunked`, also taking chunks from (and adding them to) `cache`.
pub(crate) fn gzip_chunked_shared(
    doc: &[u8],
    previous: Option<(&[u8], &ChunkIndex)>,
    level: u32,
    cache: Option<&ChunkCache>,
) -> (Vec<u8>, ChunkIndex, usize) {
    let level = level.min(9);
    let ranges = chunk_ranges(doc);

    // First occurrence wins: one candidate per hash keeps the work on hostile input linear.
    let mut candidates: HashMap<&str, &ChunkRef> = HashMap::new();
    if let Some((_, index)) = previous {
        for chunk in &index.chunks {
            candidates.entry(chunk.hash.as_str()).or_insert(chunk);
        }
    }
    let prev_gz = previous.map(|(gz, _)| gz).unwrap_or_default();

    let parts: Vec<Part<'_>> = ranges
        .par_iter()
        .map(|range| {
            let data = doc.get(range.clone()).unwrap_or_default();
            let mut crc = Crc::new();
            crc.update(data);
            let hash = chunk_hash(&crc, data.len(), level);
            let key = cache.map(|_| (<[u8; 32]>::from(Sha256::digest(data)), level));
            if let (Some(cache), Some(key)) = (cache, &key)
                && let Some(bytes) = cache.get(key)
            {
                return Part { hash, crc, bytes: Chunk::Shared(bytes), compressed: false };
            }
            let reused = candidates
                .get(hash.as_str())
                .and_then(|c| slice_of(prev_gz, c))
                .filter(|bytes| bytes.len() <= deflate_bound(data.len()))
                .filter(|bytes| inflates_to(bytes, data));
            let bytes = match (reused, cache, key) {
                (Some(bytes), None, _) | (Some(bytes), _, None) => Chunk::Previous(bytes),
                (Some(bytes), Some(cache), Some(key)) => {
                    cache.put(key, Arc::new(bytes.to_vec()));
                    Chunk::Previous(bytes)
                }
                (None, Some(cache), Some(key)) => {
                    let bytes = Arc::new(deflate_chunk(data, level));
                    cache.put(key, Arc::clone(&bytes));
                    Chunk::Shared(bytes)
                }
                (None, _, _) => Chunk::Own(deflate_chunk(data, level)),
            };
            let compressed = reused.is_none();
            Part { hash, crc, bytes, compressed }
        })
        .collect();

    let body: usize = parts.iter().map(|p| p.bytes.len()).sum();
    let mut gz = Vec::with_capacity(GZIP_HEADER.len() + body + FINAL_BLOCK.len() + 8);
    gz.extend_from_slice(&GZIP_HEADER);
    let mut crc = Crc::new();
    let mut chunks = Vec::with_capacity(parts.len());
    let mut reused = 0;
    for part in parts {
        if !part.compressed {
            reused += 1;
        }
        chunks.push(ChunkRef {
            hash: part.hash,
            offset: gz.len() as u64,
            len: part.bytes.len() as u64,
        });
        gz.extend_from_slice(&part.bytes);
        crc.combine(&part.crc);
    }
    gz.extend_from_slice(&FINAL_BLOCK);
    gz.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32: the truncation is the format.
    gz.extend_from_slice(&(doc.len() as u32).to_le_bytes());
    (gz, ChunkIndex { chunks }, reused)
}

/// One chunk's output: its index hash, the CRC of its uncompressed bytes (combined into the
/// trailer), and its deflate bytes, borrowed from the previous .gz when reused.
struct Part<'a> {
    hash: String,
    crc: Crc,
    bytes: Chunk<'a>,
    /// Whether this call compressed it (else it was reused).
    compressed: bool,
}

/// Where a chunk's deflate bytes come from.
enum Chunk<'a> {
    /// The previous .gz (verified).
    Previous(&'a [u8]),
    /// The build's cache (compressed for this or another document).
    Shared(Arc<Vec<u8>>),
    /// Compressed for this document only.
    Own(Vec<u8>),
}

impl std::ops::Deref for Chunk<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Chunk::Previous(b) => b,
            Chunk::Shared(b) => b,
            Chunk::Own(b) => b,
        }
    }
}

/// Byte ranges of the chunks of `doc`, in order, covering it exactly; at least one (empty for
/// an empty document). Text before the first entry and after the last entry belongs to the
/// first and last chunk. Whether a chunk ends after an entry depends only on that entry's
/// first line (name and version), so editing one entry moves no boundary elsewhere.
fn chunk_ranges(doc: &[u8]) -> Vec<Range<usize>> {
    let starts = entry_starts(doc);
    let mut ranges = Vec::with_capacity(starts.len() / 16 + 1);
    let mut chunk_start = 0;
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(doc.len());
        if end == doc.len() {
            break;
        }
        let entry = doc.get(start..end).unwrap_or_default();
        let first_line = entry.split(|&b| b == b'\n').next().unwrap_or_default();
        if is_boundary(first_line) || end - chunk_start >= MAX_CHUNK {
            ranges.push(chunk_start..end);
            chunk_start = end;
        }
    }
    ranges.push(chunk_start..doc.len());
    ranges
}

/// Offsets of every `<pyqgis_plugin ` in `doc`, in order. std has no fast byte-substring
/// search (and this crate does not depend on memchr), so: find blocks holding a `q` with a
/// branch-free test the compiler vectorises, then check each `q` of those blocks.
fn entry_starts(doc: &[u8]) -> Vec<usize> {
    const BLOCK: usize = 32;
    let rare = ENTRY_START[RARE_AT];
    let (blocks, tail) = doc.as_chunks::<BLOCK>();
    let mut starts = Vec::new();
    let mut check = |at: usize, bytes: &[u8]| {
        for (i, _) in bytes.iter().enumerate().filter(|(_, b)| **b == rare) {
            if let Some(start) = (at + i).checked_sub(RARE_AT)
                && doc.get(start..start + ENTRY_START.len()) == Some(ENTRY_START)
            {
                starts.push(start);
            }
        }
    };
    for (n, block) in blocks.iter().enumerate() {
        if block.iter().fold(false, |hit, b| hit | (*b == rare)) {
            check(n * BLOCK, block);
        }
    }
    check(blocks.len() * BLOCK, tail);
    starts
}

/// Content-defined boundary test: FNV-1a of the line, then a multiply-xorshift finaliser so
/// the low bits depend on every byte. Fixed constants: boundaries are stable across builds.
fn is_boundary(first_line: &[u8]) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in first_line {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h & BOUNDARY_MASK == 0
}

/// The index key of a chunk, from the CRC already computed for the trailer: a lookup key
/// needs no strength, since a candidate is verified before it is used. The level is hashed
/// in so that a change of level recompresses.
fn chunk_hash(crc: &Crc, len: usize, level: u32) -> String {
    let mut key = Crc::new();
    key.combine(crc);
    key.update(&level.to_le_bytes());
    // The length mod 2^32 is enough to tell chunks apart alongside the CRC.
    format!("{:08x}{:08x}", key.sum(), len as u32)
}

/// The bytes `chunk` points at in `gz`, if they are all there.
fn slice_of<'a>(gz: &'a [u8], chunk: &ChunkRef) -> Option<&'a [u8]> {
    let start = usize::try_from(chunk.offset).ok()?;
    let end = start.checked_add(usize::try_from(chunk.len).ok()?)?;
    gz.get(start..end)
}

/// More than deflate ever needs for `n` bytes (stored blocks cost 5 bytes per 64 KiB, plus
/// the sync tail): a longer candidate is rejected before the work of inflating it.
fn deflate_bound(n: usize) -> usize {
    n + n / 8 + 64
}

/// Raw deflate of `data` by a fresh compressor, ended by a sync flush: byte-aligned, no final
/// block, no reference to anything before it.
fn deflate_chunk(data: &[u8], level: u32) -> Vec<u8> {
    let mut deflater = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 3 + 64);
    loop {
        let Some(rest) = usize::try_from(deflater.total_in()).ok().and_then(|n| data.get(n..))
        else {
            return stored_blocks(data);
        };
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(1024));
        }
        let before = (deflater.total_in(), deflater.total_out());
        if deflater.compress_vec(rest, &mut out, FlushCompress::Sync).is_err() {
            return stored_blocks(data);
        }
        // The flush is complete once all input is taken and the output was not filled up.
        if deflater.total_in() == data.len() as u64 && out.len() < out.capacity() {
            return out;
        }
        if (deflater.total_in(), deflater.total_out()) == before {
            return stored_blocks(data);
        }
    }
}

/// `data` as non-final stored blocks: the fallback should the compressor ever fail, valid
/// in the same places as `deflate_chunk`'s output.
fn stored_blocks(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 0xffff + 1));
    let mut pieces = data.chunks(0xffff).peekable();
    if pieces.peek().is_none() {
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
    }
    for piece in pieces {
        // At most 0xffff bytes by construction.
        let len = piece.len() as u16;
        out.push(0); // BFINAL=0, BTYPE=00, then padding to the byte boundary
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out
}

/// Whether `deflated` is a chunk that stands for `expected` anywhere in the stream: inflated
/// from a fresh state (so it refers to nothing before it) it yields exactly `expected`, and
/// then our final block ends the stream, which holds only if the chunk ended at a block
/// boundary on a byte boundary without a final block of its own.
fn inflates_to(deflated: &[u8], expected: &[u8]) -> bool {
    let mut inflater = Decompress::new(false);
    // Output is compared piece by piece through a small buffer that stays in cache.
    let mut buf = vec![0u8; 64 * 1024];
    let mut matched = 0;
    let mut ended = false;
    for (input, flush) in
        [(deflated, FlushDecompress::None), (&FINAL_BLOCK[..], FlushDecompress::Finish)]
    {
        if ended {
            // A final block inside the chunk would end the whole stream there.
            return false;
        }
        let mut taken = 0;
        loop {
            let before = (inflater.total_in(), inflater.total_out());
            let status =
                inflater.decompress(input.get(taken..).unwrap_or_default(), &mut buf, flush);
            let Ok(consumed) = usize::try_from(inflater.total_in() - before.0) else {
                return false;
            };
            let Ok(produced) = usize::try_from(inflater.total_out() - before.1) else {
                return false;
            };
            taken += consumed;
            let Some(want) = expected.get(matched..matched + produced) else { return false };
            if buf.get(..produced) != Some(want) {
                return false;
            }
            matched += produced;
            match status {
                Ok(Status::StreamEnd) => {
                    ended = true;
                    break;
                }
                Ok(_) if consumed == 0 && produced == 0 => break,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        if taken != input.len() {
            return false;
        }
    }
    ended && matched == expected.len()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use flate2::read::GzDecoder;
    use flate2::write::GzEncoder;

    use super::*;

    /// `n` plugins.xml-like entries with varied text, deterministic per `seed`.
    fn synthetic(n: usize, seed: u64) -> Vec<String> {
        use std::fmt::Write as _;
        const WORDS: &str = "layer raster vector processing tool map canvas export import \
            geometry buffer clip style symbol legend print layout database postgis spatialite \
            query filter attribute table field join network routing terrain elevation contour \
            tile server web service WMS WFS plugin QGIS survey";
        let words: Vec<&str> = WORDS.split_whitespace().collect();
        let mut state = seed | 1;
        let mut next = move |below: u64| {
            // xorshift64: varied but reproducible text.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let sentence = |next: &mut dyn FnMut(u64) -> u64, max_words: u64| {
            let mut s = String::new();
            for i in 0..3 + next(max_words) {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(words[next(words.len() as u64) as usize]);
                if next(9) == 0 {
                    let _ = write!(s, " {}", next(10_000));
                }
            }
            s
        };
        (0..n)
            .map(|i| {
                let description = sentence(&mut next, 12);
                let about = sentence(&mut next, 120);
                let tags = sentence(&mut next, 6).replace(' ', ",");
                let pkg = format!("pkg_{i}_{:x}", next(0xffff));
                let ver = format!("{}.{}.{}", next(4), next(20), next(30));
                let author = next(500);
                let mut e = String::new();
                let _ = writeln!(
                    e,
                    "<pyqgis_plugin name=\"Plugin {pkg}\" version=\"{ver}\" plugin_id=\"{i}\">"
                );
                let _ = writeln!(e, "        <description><![CDATA[{description}]]></description>");
                let _ = writeln!(e, "        <about><![CDATA[{about}]]></about>");
                let _ = writeln!(e, "        <trusted>False</trusted>");
                let _ = writeln!(
                    e,
                    "        <qgis_minimum_version>3.{}.0</qgis_minimum_version>",
                    next(40)
                );
                let _ = writeln!(e, "        <qgis_maximum_version>3.99.0</qgis_maximum_version>");
                let home = format!("https://github.com/author{author}/{pkg}");
                let _ = writeln!(e, "        <homepage><![CDATA[{home}]]></homepage>");
                let _ = writeln!(e, "        <file_name>{pkg}.{ver}.zip</file_name>");
                let _ = writeln!(e, "        <icon>https://example.org/icons/{pkg}.png</icon>");
                let _ = writeln!(e, "        <author_name><![CDATA[Author {author}]]></author_name>");
                let _ = writeln!(
                    e,
                    "        <download_url>https://example.org/plugins/{pkg}/version/{ver}/download/</download_url>"
                );
                let _ = writeln!(e, "        <uploaded_by><![CDATA[user{}]]></uploaded_by>", next(500));
                let _ = writeln!(
                    e,
                    "        <create_date>2023-0{}-1{}T10:27:30.123456</create_date>",
                    1 + next(9),
                    next(10)
                );
                let _ = writeln!(
                    e,
                    "        <update_date>2024-0{}-2{}T08:00:00.654321</update_date>",
                    1 + next(9),
                    next(10)
                );
                let _ = writeln!(e, "        <experimental>False</experimental>");
                let _ = writeln!(e, "        <deprecated>False</deprecated>");
                let _ = writeln!(e, "        <tracker><![CDATA[{home}/issues]]></tracker>");
                let _ = writeln!(e, "        <repository><![CDATA[{home}]]></repository>");
                let _ = writeln!(e, "        <tags><![CDATA[{tags}]]></tags>");
                let _ = writeln!(e, "        <downloads>{}</downloads>", next(200_000));
                let _ = writeln!(
                    e,
                    "        <average_vote>{}.{}</average_vote>",
                    next(5),
                    next(10)
                );
                let _ = writeln!(e, "        <rating_votes>{}</rating_votes>", next(300));
                let _ = writeln!(e, "        <external_dependencies></external_dependencies>");
                let _ = write!(e, "        <server>False</server>\n    </pyqgis_plugin>");
                e
            })
            .collect()
    }

    /// The entries joined the way render::xml joins them.
    fn document(entries: &[String]) -> Vec<u8> {
        let mut doc = String::from(
            "<?xml version = '1.0' encoding = 'UTF-8'?>\n<?xml-stylesheet type=\"text/xsl\" href=\"/static/style/plugins.xsl\" ?>\n<plugins>\n    ",
        );
        for e in entries {
            doc.push_str(e);
        }
        doc.push_str("\n</plugins>\n");
        doc.into_bytes()
    }

    /// Decodes with the single-member decoder, which checks CRC32 and ISIZE.
    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(gz).read_to_end(&mut out).expect("valid gzip");
        out
    }

    fn assert_round_trip(doc: &[u8], gz: &[u8], index: &ChunkIndex) {
        assert!(gunzip(gz) == doc, "decoded bytes differ from the document");
        // The index tiles the body exactly, between the header and the final block.
        let mut at = GZIP_HEADER.len() as u64;
        for c in &index.chunks {
            assert_eq!(c.offset, at);
            at += c.len;
        }
        assert_eq!(at as usize, gz.len() - FINAL_BLOCK.len() - 8);
        assert_eq!(index.chunks.len(), chunk_ranges(doc).len());
    }

    #[test]
    fn round_trip_empty_document() {
        let (gz, index, reused) = gzip_chunked(b"", None, 6);
        assert_round_trip(b"", &gz, &index);
        assert_eq!((index.chunks.len(), reused), (1, 0));
        assert_eq!(gz[..10], GZIP_HEADER);
    }

    #[test]
    fn round_trip_document_without_entries() {
        let doc = b"<?xml version = '1.0' encoding = 'UTF-8'?>\n<plugins>\n</plugins>\n";
        let (gz, index, _) = gzip_chunked(doc, None, 6);
        assert_round_trip(doc, &gz, &index);
        assert_eq!(index.chunks.len(), 1);
    }

    #[test]
    fn round_trip_one_entry() {
        let doc = document(&synthetic(1, 7));
        let (gz, index, _) = gzip_chunked(&doc, None, 3);
        assert_round_trip(&doc, &gz, &index);
        assert_eq!(index.chunks.len(), 1);
    }

    #[test]
    fn round_trip_non_utf8_bytes_around_entries() {
        let mut doc = b"\xff\xfe<pyqgis_plugin a>\n\x80x".to_vec();
        for i in 0..200 {
            doc.extend_from_slice(format!("<pyqgis_plugin n=\"{i}\">\n").as_bytes());
            doc.extend_from_slice(b"\xc3</x>");
        }
        assert_eq!(entry_starts(&doc).len(), 201);
        let (gz, index, _) = gzip_chunked(&doc, None, 1);
        assert_round_trip(&doc, &gz, &index);
    }

    #[test]
    fn round_trip_large_document_at_every_level() {
        let doc = document(&synthetic(3000, 1));
        for level in [0, 1, 3, 6, 9, 42] {
            let (gz, index, reused) = gzip_chunked(&doc, None, level);
            assert_round_trip(&doc, &gz, &index);
            assert_eq!(reused, 0);
        }
    }

    #[test]
    fn entry_search_finds_what_a_naive_search_finds() {
        let naive = |doc: &[u8]| -> Vec<usize> {
            (0..doc.len()).filter(|&i| doc[i..].starts_with(ENTRY_START)).collect()
        };
        let mut docs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"q".to_vec(),
            b"qq<pyqgis_plugin".to_vec(),
            ENTRY_START.to_vec(),
            [ENTRY_START, ENTRY_START].concat(),
            document(&synthetic(40, 12)),
        ];
        // An occurrence at every offset relative to the 32-byte blocks, and at the very end.
        for pad in 0..40 {
            let mut d = vec![b'q'; pad];
            d.extend_from_slice(ENTRY_START);
            d.extend_from_slice(b"q<pyqgis_pluginq ");
            d.extend_from_slice(&d.clone());
            d.extend_from_slice(ENTRY_START);
            docs.push(d);
        }
        for doc in &docs {
            assert_eq!(entry_starts(doc), naive(doc));
        }
    }

    #[test]
    fn a_new_level_recompresses_everything() {
        let doc = document(&synthetic(300, 13));
        let (gz, index, _) = gzip_chunked(&doc, None, 3);
        let (gz6, index6, reused) = gzip_chunked(&doc, Some((&gz, &index)), 6);
        assert_eq!(reused, 0);
        assert_round_trip(&doc, &gz6, &index6);
        assert!(gz6 == gzip_chunked(&doc, None, 6).0);
    }

    #[test]
    fn chunks_average_about_32_entries_and_respect_the_cap() {
        let entries = synthetic(3000, 2);
        let doc = document(&entries);
        let ranges = chunk_ranges(&doc);
        let per_chunk = entries.len() as f64 / ranges.len() as f64;
        assert!((16.0..64.0).contains(&per_chunk), "{per_chunk} entries per chunk");
        let biggest_entry = entries.iter().map(String::len).max().unwrap_or(0);
        for r in &ranges {
            assert!(r.len() < MAX_CHUNK + biggest_entry + 200, "chunk of {} bytes", r.len());
        }
        // Cuts are right before an entry.
        for r in &ranges[1..] {
            assert!(doc[r.start..].starts_with(ENTRY_START));
        }
    }

    #[test]
    fn one_huge_unbroken_run_is_capped() {
        // Entries that are never boundaries (same first line): only the cap cuts.
        let first_line = (0..)
            .map(|i| format!("<pyqgis_plugin name=\"x{i}\">"))
            .find(|l| !is_boundary(l.as_bytes()))
            .unwrap_or_default();
        let entry = format!("{first_line}\n{}\n", "y".repeat(4000));
        let doc = entry.repeat(200).into_bytes();
        let ranges = chunk_ranges(&doc);
        assert!(ranges.len() >= 3, "{} chunks", ranges.len());
        assert!(ranges.iter().all(|r| r.len() <= MAX_CHUNK + entry.len()));
        let (gz, index, _) = gzip_chunked(&doc, None, 3);
        assert_round_trip(&doc, &gz, &index);
    }

    #[test]
    fn same_input_gives_identical_bytes() {
        let doc = document(&synthetic(500, 3));
        let a = gzip_chunked(&doc, None, 6);
        let b = gzip_chunked(&doc, None, 6);
        assert!(a.0 == b.0);
        assert_eq!(a.1, b.1);
        // Reusing everything gives the same bytes as compressing everything.
        let c = gzip_chunked(&doc, Some((&a.0, &a.1)), 6);
        assert!(c.0 == a.0);
        assert_eq!(c.1, a.1);
        assert_eq!(c.2, a.1.chunks.len());
    }

    /// Compresses `before`, then `after` with `before`'s output as previous; checks the
    /// result and returns (chunks of `after`, chunks reused).
    fn rebuild(before: &[u8], after: &[u8]) -> (usize, usize) {
        let (gz, index, _) = gzip_chunked(before, None, 3);
        let (gz2, index2, reused) = gzip_chunked(after, Some((&gz, &index)), 3);
        assert_round_trip(after, &gz2, &index2);
        (index2.chunks.len(), reused)
    }

    #[test]
    fn editing_one_entry_recompresses_at_most_two_chunks() {
        let mut entries = synthetic(3000, 4);
        let before = document(&entries);
        // A change inside the entry leaves every boundary where it was.
        entries[1500] = entries[1500].replace("<trusted>False", "<trusted>True");
        let edited = document(&entries);
        let (chunks, reused) = rebuild(&before, &edited);
        assert!(chunks > 50, "{chunks} chunks");
        assert_eq!(chunks - reused, 1, "{reused} of {chunks} reused");
        // A new version changes the first line, which may move the boundary after it.
        for i in [1700, 1701, 1702, 1703] {
            let mut bumped = entries.clone();
            bumped[i] = bumped[i].replacen("version=\"", "version=\"9", 1);
            let (chunks, reused) = rebuild(&edited, &document(&bumped));
            assert!(chunks - reused <= 2, "{reused} of {chunks} reused");
        }
    }

    #[test]
    fn inserting_and_deleting_entries_reuses_most_chunks() {
        let entries = synthetic(3000, 5);
        let before = document(&entries);
        let extra = synthetic(1, 99).remove(0);

        let mut inserted = entries.clone();
        inserted.insert(1234, extra);
        let (chunks, reused) = rebuild(&before, &document(&inserted));
        assert!(chunks - reused <= 2, "insert: {reused} of {chunks} reused");

        let mut deleted = entries.clone();
        deleted.remove(2345);
        let (chunks, reused) = rebuild(&before, &document(&deleted));
        assert!(chunks - reused <= 2, "delete: {reused} of {chunks} reused");

        // First and last entries: the chunks holding the document's head and tail.
        let mut ends = entries.clone();
        ends.remove(0);
        ends.pop();
        let (chunks, reused) = rebuild(&before, &document(&ends));
        assert!(chunks - reused <= 4, "ends: {reused} of {chunks} reused");
    }

    #[test]
    fn corrupt_previous_still_gives_correct_output() {
        let doc = document(&synthetic(1000, 6));
        let (gz, index, _) = gzip_chunked(&doc, None, 3);
        let n = index.chunks.len();
        let check = |prev_gz: &[u8], prev_index: &ChunkIndex| {
            let (out, out_index, reused) = gzip_chunked(&doc, Some((prev_gz, prev_index)), 3);
            assert_round_trip(&doc, &out, &out_index);
            assert!(out == gz, "output differs from a fresh build");
            reused
        };

        // Truncated: the chunks still inside are reused, the rest compressed.
        let reused = check(&gz[..gz.len() / 2], &index);
        assert!(reused > 0 && reused < n, "{reused} of {n}");
        assert_eq!(check(&[], &index), 0);

        // Offsets and lengths beyond the file, or overflowing.
        let mut beyond = index.clone();
        for (i, c) in beyond.chunks.iter_mut().enumerate() {
            match i % 3 {
                0 => c.offset = gz.len() as u64 + 1,
                1 => c.len = u64::MAX,
                _ => c.offset = u64::MAX - 1,
            }
        }
        assert_eq!(check(&gz, &beyond), 0);

        // Hashes moved to their neighbours' bytes: every candidate fails verification.
        let mut shifted = index.clone();
        shifted.chunks.rotate_left(1);
        for (c, orig) in shifted.chunks.iter_mut().zip(&index.chunks) {
            c.hash.clone_from(&orig.hash);
        }
        assert_eq!(check(&gz, &shifted), 0);

        // Hashes that match nothing.
        let mut unknown = index.clone();
        unknown.chunks.iter_mut().for_each(|c| c.hash = "0123456789abcdef".into());
        assert_eq!(check(&gz, &unknown), 0);

        // Right index, damaged bytes: flipped bits inside every chunk.
        let mut damaged = gz.clone();
        for c in &index.chunks {
            damaged[(c.offset + c.len / 2) as usize] ^= 0x5a;
        }
        assert_eq!(check(&damaged, &index), 0);

        // An index from another build (stale for this .gz).
        let other = document(&synthetic(1000, 7));
        let (_, other_index, _) = gzip_chunked(&other, None, 3);
        let mut stale = other_index.clone();
        for (c, orig) in stale.chunks.iter_mut().zip(&index.chunks) {
            c.hash.clone_from(&orig.hash);
        }
        check(&gz, &stale);
    }

    #[test]
    fn chunks_that_would_break_the_stream_are_not_reused() {
        let data = document(&synthetic(3, 8));
        let good = deflate_chunk(&data, 6);
        assert!(inflates_to(&good, &data));
        assert!(good.ends_with(&[0, 0, 0xff, 0xff]));

        // Ends the stream itself (BFINAL set): everything after it would be ignored.
        let mut deflater = Compress::new(Compression::new(6), false);
        let mut finished = Vec::with_capacity(data.len() + 1024);
        let status = deflater.compress_vec(&data, &mut finished, FlushCompress::Finish);
        assert!(matches!(status, Ok(Status::StreamEnd)));
        assert!(!inflates_to(&finished, &data));

        // Stops mid-block (sync tail cut off): the next chunk would be read as its rest.
        assert!(!inflates_to(&good[..good.len() - 4], &data));
        assert!(!inflates_to(&good[..good.len() / 2], &data));

        // Yields more, or less, than the chunk.
        assert!(!inflates_to(&good, &data[..data.len() - 1]));
        let longer = [&data[..], b"x"].concat();
        assert!(!inflates_to(&good, &longer));

        // Refers back to bytes before it: valid only after the first half.
        let half = data.len() / 2;
        let mut deflater = Compress::new(Compression::new(6), false);
        let mut both = Vec::with_capacity(data.len() + 1024);
        let _ = deflater.compress_vec(&data[..half], &mut both, FlushCompress::Sync);
        let first_len = both.len();
        let _ = deflater.compress_vec(&data[half..], &mut both, FlushCompress::Sync);
        assert!(inflates_to(&both, &data));
        assert!(!inflates_to(&both[first_len..], &data[half..]));
    }

    #[test]
    fn hostile_previous_with_a_final_block_is_rejected() {
        // An index entry with the right hash pointing at a chunk that ends the stream.
        let doc = document(&synthetic(300, 9));
        let (gz, index, _) = gzip_chunked(&doc, None, 3);
        let first = chunk_ranges(&doc)[0].clone();
        let mut deflater = Compress::new(Compression::new(3), false);
        let mut finished = Vec::with_capacity(first.len() + 1024);
        let _ = deflater.compress_vec(&doc[first], &mut finished, FlushCompress::Finish);
        let mut hostile = index.clone();
        hostile.chunks[0].offset = gz.len() as u64;
        hostile.chunks[0].len = finished.len() as u64;
        let prev = [&gz[..], &finished].concat();
        let (out, out_index, reused) = gzip_chunked(&doc, Some((&prev, &hostile)), 3);
        assert_round_trip(&doc, &out, &out_index);
        assert_eq!(reused, index.chunks.len() - 1);
    }

    #[test]
    fn stored_fallback_is_a_valid_chunk() {
        for data in [&b""[..], b"abc", &vec![7u8; 200_000]] {
            let stored = stored_blocks(data);
            assert!(inflates_to(&stored, data));
        }
    }

    #[test]
    fn size_is_close_to_whole_document_gzip() {
        let doc = document(&synthetic(3000, 10));
        let (gz, _, _) = gzip_chunked(&doc, None, 6);
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(&doc).expect("write to Vec");
        let whole = enc.finish().expect("finish to Vec");
        assert!(
            (gz.len() as f64) < whole.len() as f64 * 1.15,
            "chunked {} bytes vs whole-document {} bytes ({} bytes uncompressed)",
            gz.len(),
            whole.len(),
            doc.len()
        );
    }

    /// Documents of one build share compressed chunks: a second document listing mostly the
    /// same entries (a neighbouring QGIS version, or the stable-only prefix) compresses only
    /// what differs, and both still decode to their own text.
    #[test]
    fn documents_of_one_build_share_chunks() {
        let entries = synthetic(3000, 7);
        let a = document(&entries);
        let mut fewer = entries.clone();
        fewer.remove(1000);
        fewer.remove(2000);
        let b = document(&fewer);
        let stable_only = document(&entries[..1800]);
        let cache = ChunkCache::default();
        let (gz_a, idx_a, shared_a) = gzip_chunked_shared(&a, None, 6, Some(&cache));
        assert_eq!(shared_a, 0, "nothing to share yet");
        assert_round_trip(&a, &gz_a, &idx_a);
        for doc in [&b, &stable_only] {
            let (gz, idx, shared) = gzip_chunked_shared(doc, None, 6, Some(&cache));
            assert_round_trip(doc, &gz, &idx);
            assert!(shared + 3 >= idx.chunks.len(), "{shared} of {} shared", idx.chunks.len());
            assert_eq!(gz, gzip_chunked(doc, None, 6).0, "same bytes as without the cache");
        }
    }
}
