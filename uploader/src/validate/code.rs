//! `ProblemCode`: the closed set of stable codes a validator problem carries. The wire string
//! of each (`archive.crc`, `metadata.bad_url`, ...) is what clients see in JSON and in
//! `uploader check`; it never changes once published.

use std::fmt;
use std::str::FromStr;

/// Declares the enum, its list of every variant and the wire string of each, from one table,
/// so a variant cannot exist without a wire string.
macro_rules! problem_codes {
    ($($variant:ident => $wire:literal,)+) => {
        /// A problem's stable code, prefixed by what it concerns: `archive.*` (zip framing and
        /// names), `package.*` (plugin folder and files), `metadata.*`, `license.*`, `icon.*`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemCode {
            $($variant,)+
        }

        impl ProblemCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant,)+];

            /// The wire string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $wire,)+
                }
            }
        }
    };
}

problem_codes! {
    ArchiveAbsolutePath => "archive.absolute_path",
    ArchiveBackslash => "archive.backslash",
    ArchiveCaseCollision => "archive.case_collision",
    ArchiveComment => "archive.comment",
    ArchiveCompression => "archive.compression",
    ArchiveControlChar => "archive.control_char",
    ArchiveCorruptData => "archive.corrupt_data",
    ArchiveCrc => "archive.crc",
    ArchiveDataDescriptor => "archive.data_descriptor",
    ArchiveDriveLetter => "archive.drive_letter",
    ArchiveDuplicateName => "archive.duplicate_name",
    ArchiveEmpty => "archive.empty",
    ArchiveEncrypted => "archive.encrypted",
    ArchiveEntryComment => "archive.entry_comment",
    ArchiveEntryTooLarge => "archive.entry_too_large",
    ArchiveExtraField => "archive.extra_field",
    ArchiveForbiddenDir => "archive.forbidden_dir",
    ArchiveHeaderMismatch => "archive.header_mismatch",
    ArchiveJunkFile => "archive.junk_file",
    ArchiveMultiDisk => "archive.multi_disk",
    ArchiveNameEncoding => "archive.name_encoding",
    ArchiveNameTooLong => "archive.name_too_long",
    ArchiveNonCanonicalPath => "archive.non_canonical_path",
    ArchiveNotZip => "archive.not_zip",
    ArchiveOverlappingEntries => "archive.overlapping_entries",
    ArchivePathTooDeep => "archive.path_too_deep",
    ArchivePrefixData => "archive.prefix_data",
    ArchivePyc => "archive.pyc",
    ArchiveRatio => "archive.ratio",
    ArchiveSizeMismatch => "archive.size_mismatch",
    ArchiveSpecialFile => "archive.special_file",
    ArchiveSymlink => "archive.symlink",
    ArchiveTooLarge => "archive.too_large",
    ArchiveTooLargeUncompressed => "archive.too_large_uncompressed",
    ArchiveTooManyEntries => "archive.too_many_entries",
    ArchiveTrailingData => "archive.trailing_data",
    ArchiveTraversal => "archive.traversal",
    ArchiveTruncated => "archive.truncated",
    ArchiveUnportableName => "archive.unportable_name",
    ArchiveZip64 => "archive.zip64",
    IconIgnored => "icon.ignored",
    LicenseMissing => "license.missing",
    MetadataAuthorSlash => "metadata.author_slash",
    MetadataBadBoolean => "metadata.bad_boolean",
    MetadataBadLine => "metadata.bad_line",
    MetadataBadQgisVersion => "metadata.bad_qgis_version",
    MetadataBadUrl => "metadata.bad_url",
    MetadataBadVersion => "metadata.bad_version",
    MetadataBom => "metadata.bom",
    MetadataDefaultSection => "metadata.default_section",
    MetadataDuplicateKey => "metadata.duplicate_key",
    MetadataDuplicateSection => "metadata.duplicate_section",
    MetadataEmailUnusual => "metadata.email_unusual",
    MetadataEmptyKey => "metadata.empty_key",
    MetadataEmptyValue => "metadata.empty_value",
    MetadataFieldTooLong => "metadata.field_too_long",
    MetadataFromInit => "metadata.from_init",
    MetadataInterpolation => "metadata.interpolation",
    MetadataInvalidCharacter => "metadata.invalid_character",
    MetadataInvisibleCharacter => "metadata.invisible_character",
    MetadataLegacyInit => "metadata.legacy_init",
    MetadataLineSeparator => "metadata.line_separator",
    MetadataMissingKey => "metadata.missing_key",
    MetadataMissingSectionHeader => "metadata.missing_section_header",
    MetadataMultilineValue => "metadata.multiline_value",
    MetadataNoGeneralSection => "metadata.no_general_section",
    MetadataNotFound => "metadata.not_found",
    MetadataNotUtf8 => "metadata.not_utf8",
    MetadataOnlineCheckUnavailable => "metadata.online_check_unavailable",
    MetadataPercentSign => "metadata.percent_sign",
    MetadataQgisRange => "metadata.qgis_range",
    MetadataSupportsQt6Deprecated => "metadata.supports_qt6_deprecated",
    MetadataTooLarge => "metadata.too_large",
    MetadataTooManyKeys => "metadata.too_many_keys",
    MetadataTooManyTags => "metadata.too_many_tags",
    PackageMismatch => "package.mismatch",
    PackageMissingInit => "package.missing_init",
    PackageMissingPluginFiles => "package.missing_plugin_files",
    PackageMultipleRoots => "package.multiple_roots",
    PackageNoFolder => "package.no_folder",
    PackageNotAscii => "package.not_ascii",
    PackageNotIdentifier => "package.not_identifier",
    PackageReserved => "package.reserved",
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ProblemCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A string that is not the wire string of any problem code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown problem code `{0}`")]
pub struct UnknownProblemCode(pub String);

impl FromStr for ProblemCode {
    type Err = UnknownProblemCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownProblemCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::ProblemCode;

    /// The wire strings the validator produced before codes became an enum (collected with
    /// grep over `validate/`): the set must stay exactly this.
    const WIRE: [&str; 83] = [
        "archive.absolute_path",
        "archive.backslash",
        "archive.case_collision",
        "archive.comment",
        "archive.compression",
        "archive.control_char",
        "archive.corrupt_data",
        "archive.crc",
        "archive.data_descriptor",
        "archive.drive_letter",
        "archive.duplicate_name",
        "archive.empty",
        "archive.encrypted",
        "archive.entry_comment",
        "archive.entry_too_large",
        "archive.extra_field",
        "archive.forbidden_dir",
        "archive.header_mismatch",
        "archive.junk_file",
        "archive.multi_disk",
        "archive.name_encoding",
        "archive.name_too_long",
        "archive.non_canonical_path",
        "archive.not_zip",
        "archive.overlapping_entries",
        "archive.path_too_deep",
        "archive.prefix_data",
        "archive.pyc",
        "archive.ratio",
        "archive.size_mismatch",
        "archive.special_file",
        "archive.symlink",
        "archive.too_large",
        "archive.too_large_uncompressed",
        "archive.too_many_entries",
        "archive.trailing_data",
        "archive.traversal",
        "archive.truncated",
        "archive.unportable_name",
        "archive.zip64",
        "icon.ignored",
        "license.missing",
        "metadata.author_slash",
        "metadata.bad_boolean",
        "metadata.bad_line",
        "metadata.bad_qgis_version",
        "metadata.bad_url",
        "metadata.bad_version",
        "metadata.bom",
        "metadata.default_section",
        "metadata.duplicate_key",
        "metadata.duplicate_section",
        "metadata.email_unusual",
        "metadata.empty_key",
        "metadata.empty_value",
        "metadata.field_too_long",
        "metadata.from_init",
        "metadata.interpolation",
        "metadata.invalid_character",
        "metadata.invisible_character",
        "metadata.legacy_init",
        "metadata.line_separator",
        "metadata.missing_key",
        "metadata.missing_section_header",
        "metadata.multiline_value",
        "metadata.no_general_section",
        "metadata.not_found",
        "metadata.not_utf8",
        "metadata.online_check_unavailable",
        "metadata.percent_sign",
        "metadata.qgis_range",
        "metadata.supports_qt6_deprecated",
        "metadata.too_large",
        "metadata.too_many_keys",
        "metadata.too_many_tags",
        "package.mismatch",
        "package.missing_init",
        "package.missing_plugin_files",
        "package.multiple_roots",
        "package.no_folder",
        "package.not_ascii",
        "package.not_identifier",
        "package.reserved",
    ];

    #[test]
    fn every_code_round_trips_through_its_wire_string() {
        for &code in ProblemCode::ALL {
            assert_eq!(code.as_str().parse::<ProblemCode>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert!("archive.nope".parse::<ProblemCode>().is_err());
    }

    #[test]
    fn wire_strings_are_unchanged() {
        let ours: BTreeSet<&str> = ProblemCode::ALL.iter().map(|c| c.as_str()).collect();
        let before: BTreeSet<&str> = WIRE.into_iter().collect();
        assert_eq!(ours, before);
        assert_eq!(ProblemCode::ALL.len(), WIRE.len(), "two variants share a wire string");
    }
}
