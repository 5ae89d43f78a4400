//! The rule table: every finding id the scan can report (Bandit's test ids, detect-secrets'
//! plugin names, our file and Qt6 rules) with our severity and whether authors may waive
//! it. Critical rules are never waivable. An id missing from the table (a newer tool than
//! the pinned one) falls back to [`UNKNOWN`]: a waivable warning.
//!
//! Bandit's own severity varies per issue, so each test id gets the severity of its usual
//! issue: HIGH → warning, not waivable (a reviewer must look: `shell=True`, TLS checks off,
//! wildcard injection…); MEDIUM → warning, waivable (`eval`, `exec`, `pickle`…); LOW →
//! info, waivable. Bandit never blocks on its own: obfuscated `eval` is our PY_OBFUSCATED.

use catalog::checks::{ScanTool, Severity};

/// One rule of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub tool: ScanTool,
    pub severity: Severity,
    pub waivable: bool,
    pub summary: &'static str,
}

const fn r(
    id: &'static str,
    tool: ScanTool,
    severity: Severity,
    waivable: bool,
    summary: &'static str,
) -> Rule {
    Rule { id, tool, severity, waivable, summary }
}

use ScanTool::{Bandit as B, DetectSecrets as D, Files as F, Qt6 as Q};
use Severity::{Critical as C, Info as I, Warning as W};

/// Bandit HIGH: a warning nobody may waive.
const fn high(id: &'static str, summary: &'static str) -> Rule {
    r(id, B, W, false, summary)
}
/// Bandit MEDIUM: a waivable warning.
const fn medium(id: &'static str, summary: &'static str) -> Rule {
    r(id, B, W, true, summary)
}
/// Bandit LOW: waivable information.
const fn low(id: &'static str, summary: &'static str) -> Rule {
    r(id, B, I, true, summary)
}
/// An explicit credential format: blocks, never waivable.
const fn credential(id: &'static str, summary: &'static str) -> Rule {
    r(id, D, C, false, summary)
}
/// A heuristic secret detector: a waivable warning (false positives are common).
const fn heuristic(id: &'static str, summary: &'static str) -> Rule {
    r(id, D, W, true, summary)
}
/// A Qt6 / QGIS 4 readiness rule: information, nothing to waive.
const fn qt6(id: &'static str, summary: &'static str) -> Rule {
    r(id, Q, I, false, summary)
}

/// Every rule, Bandit's in test-id order, then detect-secrets', ours, the Qt6 ones.
pub static RULES: &[Rule] = &[
    low("B101", "assert used (removed when Python runs optimised)"),
    medium("B102", "exec used"),
    medium("B103", "file permissions set too wide (chmod)"),
    medium("B104", "binding to all network interfaces"),
    low("B105", "hard-coded password string"),
    low("B106", "hard-coded password passed as an argument"),
    low("B107", "hard-coded password as an argument default"),
    medium("B108", "hard-coded temporary file or folder"),
    low("B110", "try/except/pass hides errors"),
    low("B112", "try/except/continue hides errors"),
    medium("B113", "HTTP request without a timeout"),
    high("B201", "Flask app run with debug=True"),
    high("B202", "tarfile.extractall without member checks"),
    medium("B301", "pickle deserialisation of untrusted data"),
    medium("B302", "marshal deserialisation of untrusted data"),
    medium("B303", "insecure hash (MD5/SHA1) from a crypto library"),
    high("B304", "insecure cipher"),
    high("B305", "insecure cipher mode"),
    medium("B306", "insecure mktemp"),
    medium("B307", "eval used (ast.literal_eval is safer)"),
    medium("B308", "Django mark_safe"),
    medium("B310", "urlopen accepts file:// and custom schemes"),
    low("B311", "standard random used where security may matter"),
    high("B312", "telnet used"),
    medium("B313", "xml.etree.cElementTree parse of untrusted XML"),
    medium("B314", "xml.etree.ElementTree parse of untrusted XML"),
    medium("B315", "xml.sax.expatreader parse of untrusted XML"),
    medium("B316", "xml.dom.expatbuilder parse of untrusted XML"),
    medium("B317", "xml.sax parse of untrusted XML"),
    medium("B318", "xml.dom.minidom parse of untrusted XML"),
    medium("B319", "xml.dom.pulldom parse of untrusted XML"),
    high("B321", "FTP used"),
    medium("B323", "TLS context without certificate verification"),
    medium("B324", "insecure hash function in hashlib"),
    high("B401", "telnetlib imported"),
    high("B402", "ftplib imported"),
    low("B403", "pickle imported"),
    low("B404", "subprocess imported"),
    low("B405", "xml.etree imported"),
    low("B406", "xml.sax imported"),
    low("B407", "xml.dom.expatbuilder imported"),
    low("B408", "xml.dom.minidom imported"),
    low("B409", "xml.dom.pulldom imported"),
    high("B411", "xmlrpc imported"),
    high("B412", "wsgiref.handlers.CGIHandler imported (httpoxy)"),
    high("B413", "pyCrypto imported (unmaintained)"),
    high("B415", "pyghmi imported (IPMI)"),
    high("B501", "HTTPS request without certificate verification"),
    high("B502", "SSL/TLS with a known bad version"),
    medium("B503", "SSL/TLS with bad default versions"),
    low("B504", "SSL/TLS without an explicit version"),
    high("B505", "weak cryptographic key"),
    medium("B506", "yaml.load without a safe loader"),
    high("B507", "SSH host key verification off"),
    medium("B508", "insecure SNMP version"),
    medium("B509", "SNMP without encryption"),
    medium("B601", "paramiko exec_command (shell injection)"),
    high("B602", "subprocess with shell=True"),
    low("B603", "subprocess without a shell"),
    medium("B604", "function call with shell=True"),
    high("B605", "process started with a shell"),
    low("B606", "process started without a shell"),
    low("B607", "process started with a partial executable path"),
    medium("B608", "SQL built from strings (injection)"),
    high("B609", "wildcard in a shell command (injection)"),
    medium("B610", "Django extra used"),
    medium("B611", "Django RawSQL used"),
    medium("B612", "logging.config.listen (runs received code)"),
    high("B613", "Unicode bidirectional characters (trojan source)"),
    medium("B614", "torch.load of untrusted data"),
    medium("B615", "Hugging Face download without a pinned revision"),
    high("B701", "Jinja2 autoescape off"),
    medium("B702", "Mako templates (no autoescape)"),
    medium("B703", "Django mark_safe (XSS)"),
    medium("B704", "markupsafe.Markup of untrusted data (XSS)"),
    credential("ArtifactoryDetector", "Artifactory credentials"),
    credential("AWSKeyDetector", "AWS access key"),
    credential("AzureStorageKeyDetector", "Azure storage account key"),
    credential("BasicAuthDetector", "credentials in a URL (basic auth)"),
    credential("CloudantDetector", "Cloudant credentials"),
    credential("DiscordBotTokenDetector", "Discord bot token"),
    credential("GitHubTokenDetector", "GitHub token"),
    credential("GitLabTokenDetector", "GitLab token"),
    credential("IbmCloudIamDetector", "IBM Cloud IAM key"),
    credential("IbmCosHmacDetector", "IBM COS HMAC credentials"),
    credential("JwtTokenDetector", "JSON Web Token"),
    credential("MailchimpDetector", "Mailchimp access key"),
    credential("NpmDetector", "npm token"),
    credential("OpenAIDetector", "OpenAI token"),
    credential("PrivateKeyDetector", "private key"),
    credential("PypiTokenDetector", "PyPI token"),
    credential("SendGridDetector", "SendGrid API key"),
    credential("SlackDetector", "Slack token"),
    credential("SoftlayerDetector", "SoftLayer credentials"),
    credential("SquareOAuthDetector", "Square OAuth secret"),
    credential("StripeDetector", "Stripe access key"),
    credential("TelegramBotTokenDetector", "Telegram bot token"),
    credential("TwilioKeyDetector", "Twilio API key"),
    heuristic("Base64HighEntropyString", "random-looking base64 string (maybe a secret)"),
    heuristic("HexHighEntropyString", "random-looking hex string (maybe a secret)"),
    heuristic("IPPublicDetector", "public IPv4 address"),
    heuristic("KeywordDetector", "value of a password/secret/token variable"),
    r("FILE_BINARY", F, C, false, "compiled binary (.so .dll .exe .dylib, ELF/PE/Mach-O)"),
    r("FILE_SCRIPT", F, W, true, "shell script (.sh .bat .ps1 .cmd)"),
    r("FILE_HIDDEN", F, I, true, "hidden file or folder"),
    r("FILE_EXECUTABLE", F, I, true, "Python file with the executable bit"),
    r("PY_SYNTAX", F, W, true, "Python file that does not parse"),
    r("PY_OBFUSCATED", F, C, false, "exec/eval/compile of decoded or decompressed data"),
    r("CONFIG_IGNORED", F, I, true, "tool configuration found and not obeyed"),
    qt6("QT6_PYQT5_IMPORT", "imports PyQt5 directly (use qgis.PyQt)"),
    qt6("QT6_EXEC_UNDERSCORE", "calls exec_() (use exec())"),
    qt6("QT6_UNSCOPED_ENUM", "unscoped enum member (use the scoped name)"),
    qt6("QT6_REMOVED_API", "Qt API removed in Qt6"),
    qt6("QT6_QGIS_MAX_VERSION", "qgisMaximumVersion below 4"),
];

/// The fallback of an id the table does not know: a waivable warning.
pub static UNKNOWN: Rule = r("UNKNOWN", F, W, true, "rule unknown to this version of the service");

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// detect-secrets reports a secret's type (`"AWS Access Key"`); our ids are its plugin
/// names. Pairs from `detect_secrets.core.plugins.util` of the pinned 1.5.0.
pub static SECRET_TYPES: &[(&str, &str)] = &[
    ("Artifactory Credentials", "ArtifactoryDetector"),
    ("AWS Access Key", "AWSKeyDetector"),
    ("Azure Storage Account access key", "AzureStorageKeyDetector"),
    ("Base64 High Entropy String", "Base64HighEntropyString"),
    ("Basic Auth Credentials", "BasicAuthDetector"),
    ("Cloudant Credentials", "CloudantDetector"),
    ("Discord Bot Token", "DiscordBotTokenDetector"),
    ("GitHub Token", "GitHubTokenDetector"),
    ("GitLab Token", "GitLabTokenDetector"),
    ("Hex High Entropy String", "HexHighEntropyString"),
    ("Public IP (ipv4)", "IPPublicDetector"),
    ("IBM Cloud IAM Key", "IbmCloudIamDetector"),
    ("IBM COS HMAC Credentials", "IbmCosHmacDetector"),
    ("JSON Web Token", "JwtTokenDetector"),
    ("Secret Keyword", "KeywordDetector"),
    ("Mailchimp Access Key", "MailchimpDetector"),
    ("NPM tokens", "NpmDetector"),
    ("OpenAI Token", "OpenAIDetector"),
    ("Private Key", "PrivateKeyDetector"),
    ("PyPI Token", "PypiTokenDetector"),
    ("SendGrid API Key", "SendGridDetector"),
    ("Slack Token", "SlackDetector"),
    ("SoftLayer Credentials", "SoftlayerDetector"),
    ("Square OAuth Secret", "SquareOAuthDetector"),
    ("Stripe Access Key", "StripeDetector"),
    ("Telegram Bot Token", "TelegramBotTokenDetector"),
    ("Twilio API Key", "TwilioKeyDetector"),
];

/// Our id for a detect-secrets secret type; an unknown type is its own id (and then falls
/// back to [`UNKNOWN`]'s severity).
pub fn secret_rule_id(secret_type: &str) -> String {
    SECRET_TYPES
        .iter()
        .find(|(t, _)| *t == secret_type)
        .map_or_else(|| secret_type.to_owned(), |(_, id)| (*id).to_owned())
}

/// The rule of an id, or the fallback.
pub fn rule_or_unknown(id: &str) -> &'static Rule {
    rule(id).unwrap_or(&UNKNOWN)
}
