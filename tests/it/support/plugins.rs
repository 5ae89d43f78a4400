//! Plugin zips for the scan's tests (issue 15): the engine's fixture kinds (each a valid
//! plugin with one thing for the scan to find), re-exported for the e2e tests.

pub(crate) use uploader::scan::fixtures::ScanFixture;

/// The zip of a fixture kind for plugin `pkg`, version 0.0.1.
pub(crate) fn scan_fixture(kind: ScanFixture, pkg: &str) -> Vec<u8> {
    uploader::scan::fixtures::scan_fixture(kind, pkg)
}
