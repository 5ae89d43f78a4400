//! Test plugins for the scan (issue 15), shared by the engine's unit tests, the `check
//! --scan` process tests, the service's e2e tests and the scan benchmark: each kind is a
//! valid plugin (passes the validator) with one thing for the scan to find.

use crate::validate::builder::{ZipBuilder, ZipEntry, metadata_txt, plugin_with_metadata};

/// What a fixture plugin carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFixture {
    /// Nothing to report but the Qt6 readiness of a plain plugin (no qgisMaximumVersion).
    Clean,
    /// An AWS access key in a Python file: blocked.
    AwsKey,
    /// `subprocess.call(cmd, shell=True)`: B602 warning, still validated.
    ShellTrue,
    /// `eval(base64.b64decode(...))`: PY_OBFUSCATED (critical) and B307: blocked.
    Obfuscated,
    /// A native library `lib/native.so`: FILE_BINARY, blocked.
    NativeLibrary,
    /// `broken.py` with a syntax error on line 3: PY_SYNTAX.
    SyntaxError,
    /// `.bandit` and `setup.cfg [bandit]` that would skip every test, plus `exec(code)`:
    /// CONFIG_IGNORED twice and Bandit's B102 still reported.
    SteeringConfig,
    /// B602 inside `ext_libs/` (declare `ext_libs` vendored to see it marked).
    Vendored,
    /// Qt5-only code: PyQt5 imports, exec_(), unscoped enums, QRegExp, qgisMaximumVersion=3.99.
    PyQt5Only,
    /// QGIS 4 ready: qgis.PyQt imports, scoped enums, exec(), qgisMaximumVersion=4.99.
    Qgis4Ready,
}

impl ScanFixture {
    pub const ALL: [ScanFixture; 10] = [
        ScanFixture::Clean,
        ScanFixture::AwsKey,
        ScanFixture::ShellTrue,
        ScanFixture::Obfuscated,
        ScanFixture::NativeLibrary,
        ScanFixture::SyntaxError,
        ScanFixture::SteeringConfig,
        ScanFixture::Vendored,
        ScanFixture::PyQt5Only,
        ScanFixture::Qgis4Ready,
    ];
}

/// The zip of a fixture kind for plugin `pkg` (version 0.0.1).
pub fn scan_fixture(kind: ScanFixture, pkg: &str) -> Vec<u8> {
    builder(kind, pkg).build()
}

/// A valid plugin with `qgisMaximumVersion` set (`None`: left out).
fn base(pkg: &str, max: Option<&str>) -> ZipBuilder {
    let extra = max.map(|m| format!("qgisMaximumVersion={m}\n")).unwrap_or_default();
    plugin_with_metadata(pkg, &metadata_txt(&extra))
}

const ELF_HEAD: &[u8] = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00";

/// The builder of a fixture (to add files before building).
pub fn builder(kind: ScanFixture, pkg: &str) -> ZipBuilder {
    let f = |name: &str| format!("{pkg}/{name}");
    match kind {
        ScanFixture::Clean => base(pkg, None),
        ScanFixture::AwsKey => base(pkg, None).file(
            f("settings.py"),
            "# Upload settings\nREGION = 'eu-west-1'\nACCESS_KEY_ID = 'AKIAZ7QGISPLUGINS4XQ'\n",
        ),
        ScanFixture::ShellTrue => base(pkg, None).file(f("run.py"), SHELL_TRUE),
        ScanFixture::Obfuscated => base(pkg, None).file(
            f("loader.py"),
            "import base64\n\n\ndef load():\n    eval(base64.b64decode('cHJpbnQoImhpIik='))\n",
        ),
        ScanFixture::NativeLibrary => {
            base(pkg, None).stored(f("lib/native.so"), [ELF_HEAD, &[0u8; 64]].concat())
        }
        ScanFixture::SyntaxError => base(pkg, None)
            .file(f("broken.py"), "def ok():\n    return 1\ndef broken(:\n    pass\n"),
        ScanFixture::SteeringConfig => base(pkg, None)
            .file(f(".bandit"), "[bandit]\nskips = B101,B102,B307,B602\nexclude = .\n")
            .file(f("setup.cfg"), "[metadata]\nname = x\n\n[bandit]\nskips = B102\n")
            .file(f("dyn.py"), "def run(code):\n    exec(code)  # nosec\n"),
        ScanFixture::Vendored => base(pkg, None).file(f("ext_libs/helper.py"), SHELL_TRUE),
        ScanFixture::PyQt5Only => base(pkg, Some("3.99")).file(f("dialog.py"), PYQT5_CODE),
        ScanFixture::Qgis4Ready => base(pkg, Some("4.99")).file(f("dialog.py"), QGIS4_CODE),
    }
}

/// A `.py` entry with the exec bit (for FILE_EXECUTABLE).
pub fn executable_py(name: &str, body: &str) -> ZipEntry {
    let mut e = ZipEntry::new(name, body);
    e.external_attr = 0o100_755 << 16;
    e
}

const SHELL_TRUE: &str =
    "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n";

const PYQT5_CODE: &str = "\
from PyQt5.QtCore import Qt, QRegExp
from PyQt5.QtWidgets import QDialog, QMessageBox


class Dialog(QDialog):
    def ask(self):
        self.setWindowFlags(Qt.WindowStaysOnTopHint)
        if QMessageBox.question(self, 'Sure?', 'Sure?') == QMessageBox.Yes:
            return QRegExp('[a-z]+')
        return self.exec_()
";

const QGIS4_CODE: &str = "\
from qgis.PyQt.QtCore import Qt, QRegularExpression
from qgis.PyQt.QtWidgets import QDialog, QMessageBox


class Dialog(QDialog):
    def ask(self):
        self.setWindowFlags(Qt.WindowType.WindowStaysOnTopHint)
        answer = QMessageBox.question(self, 'Sure?', 'Sure?')
        if answer == QMessageBox.StandardButton.Yes:
            return QRegularExpression('[a-z]+')
        return self.exec()
";
