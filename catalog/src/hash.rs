//! Content hashes: the SHA-256 that names stored zips, binds approvals and busts caches, and
//! the fingerprints of rendering inputs.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// First 10 hex digits of the SHA-256 of `bytes`: for cache-busting names and suffixes.
pub fn short_hash(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..10].to_owned()
}

/// A stable digest of a value's serialized form: equal digests mean equal rendering inputs.
pub fn fingerprint<T: Serialize + ?Sized>(parts: &T) -> String {
    // Streamed into the hash: a plugin serializes to hundreds of KB, a catalog to far more.
    struct Hasher(sha2::Sha256);
    impl std::io::Write for Hasher {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hasher(sha2::Sha256::new());
    // Serializing these types cannot fail, and the hasher never does.
    let _ = serde_json::to_writer(std::io::BufWriter::with_capacity(64 * 1024, &mut h), parts);
    hex::encode(h.0.finalize())[..32].to_owned()
}
