//! What a validation is asked to do: the resource limits, new plugin or new version, and
//! the optional checks.

use catalog::names::PackageName;

/// Default largest accepted plugin zip (the reference's 25 MB `PLUGIN_MAX_UPLOAD_SIZE`): the
/// one definition behind `--max-upload-bytes`, the validator's [`Limits`]
/// and nginx's body limits (`nginx/limits.env`, checked by `tests/it/nginx_conf.rs`).
pub const MAX_UPLOAD_BYTES: u64 = 25_000_000;

/// Resource limits, enforced while reading (never trusted from headers).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted upload (the reference's `PLUGIN_MAX_UPLOAD_SIZE`).
    pub max_upload_bytes: u64,
    pub max_entries: usize,
    pub max_total_uncompressed: u64,
    pub max_entry_uncompressed: u64,
    /// Largest accepted total/compressed ratio once the total exceeds `ratio_threshold`.
    pub max_ratio: u64,
    pub ratio_threshold: u64,
    /// Longest entry name, in bytes.
    pub max_name_len: usize,
    pub max_path_depth: usize,
    pub max_metadata_bytes: usize,
    /// Longest value of any metadata key without a specific limit, in characters.
    pub max_field_len: usize,
    pub max_plugin_name_len: usize,
    pub max_description_len: usize,
    /// `about` and `changelog`.
    pub max_long_text_len: usize,
    pub max_tags: usize,
    pub max_tag_len: usize,
    /// Keys in [general], known or not.
    pub max_keys: usize,
    pub max_icon_bytes: usize,
    /// How much of `__init__.py` is read for the legacy metadata scraper.
    pub max_init_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            max_upload_bytes: MAX_UPLOAD_BYTES,
            max_entries: 20_000,
            max_total_uncompressed: 256 * MIB,
            max_entry_uncompressed: 128 * MIB,
            max_ratio: 50,
            ratio_threshold: 64 * MIB,
            max_name_len: 512,
            max_path_depth: 32,
            max_metadata_bytes: 256 * 1024,
            max_field_len: 2048,
            max_plugin_name_len: 256,
            max_description_len: 2000,
            max_long_text_len: 64 * 1024,
            max_tags: 50,
            max_tag_len: 64,
            max_keys: 200,
            max_icon_bytes: 1024 * 1024,
            max_init_bytes: 1024 * 1024,
        }
    }
}

/// A new plugin, or a new version of an existing one.
#[derive(Debug, Clone)]
pub enum Mode {
    New,
    Existing(PackageName),
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    /// Outbound reachability checks of URLs. Not implemented: when set, a warning says so
    /// (uploads must never make the server fetch author-supplied URLs by default).
    pub check_urls_online: bool,
}
