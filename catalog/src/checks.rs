//! The scans of versions (issue 15): the codes stored for a scan's state, a finding's
//! severity and tool, and (below them) every statement on `scans`, `scan_findings`,
//! `scan_waivers` and `vendored_dirs`.

use std::fmt;

use serde::Serialize;

/// `plugin_versions.validation_status`: where a version's scan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanStatus {
    /// Queued or running.
    Validating,
    /// Every tool ran; nothing critical.
    Validated,
    /// A tool crashed or timed out: never "passed".
    Incomplete,
    /// A critical finding: cannot be approved nor downloaded.
    Blocked,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Validating => "validating",
            ScanStatus::Validated => "validated",
            ScanStatus::Incomplete => "incomplete",
            ScanStatus::Blocked => "blocked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "validating" => ScanStatus::Validating,
            "validated" => ScanStatus::Validated,
            "incomplete" => ScanStatus::Incomplete,
            "blocked" => ScanStatus::Blocked,
            _ => return None,
        })
    }
}

impl fmt::Display for ScanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a finding matters. `Critical` blocks the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which check produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ScanTool {
    /// Bandit (PyPI), Python security rules B101…B704.
    #[serde(rename = "bandit")]
    Bandit,
    /// detect-secrets (PyPI), hard-coded credentials.
    #[serde(rename = "detect-secrets")]
    DetectSecrets,
    /// Our file analysis: binaries, scripts, hidden files, executable bits, syntax errors,
    /// obfuscated code.
    #[serde(rename = "files")]
    Files,
    /// Our Qt5 → Qt6 / QGIS 4 readiness rules.
    #[serde(rename = "qt6")]
    Qt6,
}

impl ScanTool {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanTool::Bandit => "bandit",
            ScanTool::DetectSecrets => "detect-secrets",
            ScanTool::Files => "files",
            ScanTool::Qt6 => "qt6",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "bandit" => ScanTool::Bandit,
            "detect-secrets" => ScanTool::DetectSecrets,
            "files" => ScanTool::Files,
            "qt6" => ScanTool::Qt6,
            _ => return None,
        })
    }
}

impl fmt::Display for ScanTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in [
            ScanStatus::Validating,
            ScanStatus::Validated,
            ScanStatus::Incomplete,
            ScanStatus::Blocked,
        ] {
            assert_eq!(ScanStatus::parse(s.as_str()), Some(s));
        }
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        for t in [ScanTool::Bandit, ScanTool::DetectSecrets, ScanTool::Files, ScanTool::Qt6] {
            assert_eq!(ScanTool::parse(t.as_str()), Some(t));
        }
        assert!(Severity::Critical > Severity::Warning && Severity::Warning > Severity::Info);
    }
}
