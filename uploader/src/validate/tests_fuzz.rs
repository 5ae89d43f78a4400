//! Bounded fuzzing with proptest: random bytes, mutated valid plugins and truncations
//! never panic, and every refusal carries a code, a message and a hint.

use proptest::prelude::*;

use super::builder::{metadata_txt, valid_plugin};
use catalog::names::PackageName;

use super::*;

fn assert_well_formed(zip: &[u8]) {
    for mode in [Mode::New, Mode::Existing(PackageName::parse("test_modul").expect("name"))] {
        if let Err(r) = validate(zip, &mode, &Options::default()) {
            assert!(!r.errors.is_empty());
            for p in &r.errors {
                assert!(
                    p.code.as_str().contains('.') && !p.message.is_empty() && !p.hint.is_empty(),
                    "{p:?}"
                );
            }
        }
    }
}

fn base() -> Vec<u8> {
    valid_plugin("test_modul").file("test_modul/extra.py", "print('x')\n".repeat(20)).build()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        assert_well_formed(&bytes);
    }

    #[test]
    fn random_bytes_with_zip_signatures_never_panic(
        chunks in proptest::collection::vec((0usize..5, proptest::collection::vec(any::<u8>(), 0..64)), 0..16)
    ) {
        let sigs: [&[u8]; 5] = [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"];
        let mut bytes = Vec::new();
        for (s, tail) in chunks {
            bytes.extend_from_slice(sigs[s]);
            bytes.extend_from_slice(&tail);
        }
        assert_well_formed(&bytes);
    }

    #[test]
    fn mutated_valid_plugins_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut zip = base();
        for (i, b) in flips {
            let at = i.index(zip.len());
            zip[at] = b;
        }
        assert_well_formed(&zip);
    }

    #[test]
    fn truncated_and_extended_plugins_never_panic(cut in any::<prop::sample::Index>(), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let zip = base();
        let mut z = zip[..cut.index(zip.len())].to_vec();
        z.extend_from_slice(&tail);
        assert_well_formed(&z);
    }

    #[test]
    fn random_metadata_never_panics(text in proptest::collection::vec(any::<u8>(), 0..600), keep in any::<bool>()) {
        let md = if keep { [metadata_txt("").into_bytes(), text].concat() } else { text };
        let zip = valid_plugin("test_modul").edit("test_modul/metadata.txt", |e| e.data = md).build();
        assert_well_formed(&zip);
    }
}
