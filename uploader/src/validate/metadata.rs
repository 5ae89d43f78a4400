//! A reader of `metadata.txt` that reproduces Python's `configparser` (3.11 defaults) as
//! both QGIS desktop (`codecs.open(…, "utf8")`, lower-cased keys) and the reference server
//! (`StringIO`, case-kept keys) read it, and refuses every file on which the two could
//! disagree or that either cannot read: BOM, non-UTF-8, Python-only line separators,
//! duplicate keys in any case, duplicate sections, `[DEFAULT]`, a lone `%`, `%(…)s`.

use std::collections::HashMap;

use super::code::ProblemCode;

/// Why a metadata.txt is refused. Every variant's message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MetadataError {
    #[error(
        "metadata.txt is not valid UTF-8: the byte at offset {offset} (line {line}, column {column}) cannot be decoded"
    )]
    NotUtf8 { offset: usize, line: usize, column: usize },
    #[error("metadata.txt starts with a UTF-8 byte order mark (BOM), which QGIS cannot read")]
    Bom,
    #[error(
        "metadata.txt line {line} ends with {what}; QGIS splits lines there but the server does not, so they would read different metadata"
    )]
    LineSeparator { line: usize, what: String },
    #[error(
        "metadata.txt line {line} (`{text}`) comes before any section header such as [general]"
    )]
    MissingSectionHeader { line: usize, text: String },
    #[error("metadata.txt has the section [{section}] twice (line {line})")]
    DuplicateSection { section: String, line: usize },
    #[error("{}", dup_message(.section, .first, .first_line, .second, .line))]
    DuplicateKey { section: String, first: String, first_line: usize, second: String, line: usize },
    #[error(
        "metadata.txt line {line} (`{text}`) is neither a section header, a `key = value` line, a comment nor an indented continuation"
    )]
    BadLine { line: usize, text: String },
    #[error("metadata.txt line {line} (`{text}`) has no key before its `=` or `:`")]
    EmptyKey { line: usize, text: String },
    #[error(
        "metadata.txt has a [DEFAULT] section (line {line}); Python copies its keys into [general]"
    )]
    DefaultSection { line: usize },
    #[error("{}", no_general_message(.found))]
    NoGeneral { found: Option<String> },
    #[error(
        "metadata key `{key}` has a single `%` in its value `{value}`; QGIS (Python configparser) cannot read it"
    )]
    Percent { key: String, value: String },
    #[error(
        "metadata key `{key}` uses `%(...)s` interpolation in `{value}`, which is not supported"
    )]
    Interpolation { key: String, value: String },
    #[error("metadata.txt is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

fn dup_message(
    section: &str,
    first: &str,
    first_line: &usize,
    second: &str,
    line: &usize,
) -> String {
    if first == second {
        format!(
            "metadata key `{first}` appears twice in [{section}] (lines {first_line} and {line})"
        )
    } else {
        format!(
            "metadata keys `{first}` (line {first_line}) and `{second}` (line {line}) in [{section}] differ only in case; QGIS ignores case, so it sees a duplicate key and fails"
        )
    }
}

fn no_general_message(found: &Option<String>) -> String {
    match found {
        Some(s) => format!(
            "Cannot find a section named 'general' in metadata.txt: found [{s}] instead (section names are case-sensitive)"
        ),
        None => "Cannot find a section named 'general' in metadata.txt".to_owned(),
    }
}

impl MetadataError {
    /// Stable problem code.
    pub(crate) fn code(&self) -> ProblemCode {
        match self {
            Self::NotUtf8 { .. } => ProblemCode::MetadataNotUtf8,
            Self::Bom => ProblemCode::MetadataBom,
            Self::LineSeparator { .. } => ProblemCode::MetadataLineSeparator,
            Self::MissingSectionHeader { .. } => ProblemCode::MetadataMissingSectionHeader,
            Self::DuplicateSection { .. } => ProblemCode::MetadataDuplicateSection,
            Self::DuplicateKey { .. } => ProblemCode::MetadataDuplicateKey,
            Self::BadLine { .. } => ProblemCode::MetadataBadLine,
            Self::EmptyKey { .. } => ProblemCode::MetadataEmptyKey,
            Self::DefaultSection { .. } => ProblemCode::MetadataDefaultSection,
            Self::NoGeneral { .. } => ProblemCode::MetadataNoGeneralSection,
            Self::Percent { .. } => ProblemCode::MetadataPercentSign,
            Self::Interpolation { .. } => ProblemCode::MetadataInterpolation,
            Self::TooLarge { .. } => ProblemCode::MetadataTooLarge,
        }
    }

    /// How to fix it.
    pub(crate) fn hint(&self) -> String {
        match self {
            Self::NotUtf8 { .. } => "Save metadata.txt as UTF-8 (in most editors: \"Save with encoding\" → UTF-8).".into(),
            Self::Bom => "Save metadata.txt as UTF-8 without BOM (\"UTF-8\", not \"UTF-8 with BOM\").".into(),
            Self::LineSeparator { .. } => "Use LF or CRLF line endings only, and remove form feeds, vertical tabs and Unicode line/paragraph separators (U+2028, U+2029, U+0085) from the file.".into(),
            Self::MissingSectionHeader { .. } => "Start metadata.txt with the line `[general]`.".into(),
            Self::DuplicateSection { section, .. } => format!("Merge the two [{section}] sections into one."),
            Self::DuplicateKey { .. } => "Keep only one of the two lines.".into(),
            Self::BadLine { .. } => "Write it as `key=value`, indent it to continue the previous value, or start it with `#` to make it a comment.".into(),
            Self::EmptyKey { .. } => "Put the key name before the `=`.".into(),
            Self::DefaultSection { .. } => "Move the keys of [DEFAULT] into [general] and remove the [DEFAULT] line.".into(),
            Self::NoGeneral { .. } => "Put the metadata under a line `[general]` (lower case).".into(),
            Self::Percent { .. } => "Write %% for a literal percent sign, for example `100%% free`.".into(),
            Self::Interpolation { .. } => "Write the value out in full, and write %% for a literal percent sign.".into(),
            Self::TooLarge { .. } => "Keep metadata.txt short: move long documentation to the plugin's homepage.".into(),
        }
    }

    /// The metadata key concerned, if any.
    pub(crate) fn key(&self) -> Option<String> {
        match self {
            Self::DuplicateKey { second, .. } => Some(second.clone()),
            Self::Percent { key, .. } | Self::Interpolation { key, .. } => Some(key.clone()),
            _ => None,
        }
    }
}

/// One `key = value` of [general], the key as written and the value as QGIS reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) line: usize,
}

/// Python's `str.isspace()` (and `\s` in `re`): Unicode White_Space plus U+001C..U+001F.
pub(crate) fn py_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(py_space)
}

/// Characters that end a line for `str.splitlines` (QGIS) but not for `StringIO` (server).
fn python_only_separator(c: char) -> Option<&'static str> {
    Some(match c {
        '\r' => "a lone carriage return (CR, old Mac line ending)",
        '\u{0b}' => "a vertical tab (U+000B)",
        '\u{0c}' => "a form feed (U+000C)",
        '\u{1c}' => "a file separator (U+001C)",
        '\u{1d}' => "a group separator (U+001D)",
        '\u{1e}' => "a record separator (U+001E)",
        '\u{85}' => "a next-line character (U+0085)",
        '\u{2028}' => "a line separator (U+2028)",
        '\u{2029}' => "a paragraph separator (U+2029)",
        _ => return None,
    })
}

/// Options of one section: key as written, value lines, line number.
type Options = Vec<(String, Vec<String>, usize)>;

/// Raw result of the configparser algorithm, before interpolation and policy.
#[derive(Debug, Default)]
struct Raw {
    /// Sections in order: name, first line, options (key as written, value lines, line).
    sections: Vec<(String, usize, Options)>,
    default_line: Option<usize>,
}

/// Parses metadata.txt and returns the [general] fields with `%%` turned into `%`, or
/// every problem found (a file that cannot be decoded stops at the first).
pub(crate) fn parse(bytes: &[u8], max_bytes: usize) -> Result<Vec<Field>, Vec<MetadataError>> {
    if bytes.len() > max_bytes {
        return Err(vec![MetadataError::TooLarge { limit: max_bytes }]);
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(vec![MetadataError::Bom]);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.valid_up_to();
            let before = &bytes[..offset];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
            return Err(vec![MetadataError::NotUtf8 { offset, line, column }]);
        }
    };

    // Only LF and CRLF are line ends both Python paths agree on.
    let mut errors = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        } else if c == '\r' && chars.peek() == Some(&'\n') {
        } else if let Some(what) = python_only_separator(c)
            && errors.len() < 10
        {
            errors.push(MetadataError::LineSeparator { line, what: what.to_owned() });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let raw = read(text, &mut errors);
    finish(raw, errors)
}

/// Python's `RawConfigParser._read` on lines split at `\n` (a trailing `\r` removed).
fn read(text: &str, errors: &mut Vec<MetadataError>) -> Raw {
    let mut raw = Raw::default();
    // Index into raw.sections of the current section; usize::MAX means [DEFAULT].
    let mut cursect: Option<usize> = None;
    let mut default_opts: Options = Vec::new();
    // Current option: index within the current section's options (or default_opts).
    let mut optidx: Option<usize> = None;
    let mut indent_level = 0usize;
    let mut seen_keys: HashMap<(String, String), (String, usize)> = HashMap::new();
    let mut missing_header_reported = false;

    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    for (i, line) in lines.iter().enumerate() {
        let lineno = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let stripped = py_strip(line);
        let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
        let value = if is_comment { "" } else { stripped };
        if value.is_empty() {
            // empty_lines_in_values: a blank (not comment) line is kept inside a value.
            if !is_comment && let Some(oi) = optidx {
                section_opts(&mut raw, &mut default_opts, cursect)[oi].1.push(String::new());
            }
            continue;
        }
        let cur_indent = line.chars().position(|c| !py_space(c)).unwrap_or(0);
        if cursect.is_some() && optidx.is_some() && cur_indent > indent_level {
            let oi = optidx.unwrap_or(0);
            section_opts(&mut raw, &mut default_opts, cursect)[oi].1.push(value.to_owned());
            continue;
        }
        indent_level = cur_indent;
        if let Some(header) = section_header(value) {
            optidx = None;
            if header == "DEFAULT" {
                raw.default_line.get_or_insert(lineno);
                cursect = Some(usize::MAX);
            } else if let Some(pos) = raw.sections.iter().position(|s| s.0 == header) {
                errors.push(MetadataError::DuplicateSection {
                    section: header.to_owned(),
                    line: lineno,
                });
                cursect = Some(pos);
            } else {
                raw.sections.push((header.to_owned(), lineno, Vec::new()));
                cursect = Some(raw.sections.len() - 1);
            }
            continue;
        }
        let Some(sect) = cursect else {
            if !missing_header_reported {
                errors.push(MetadataError::MissingSectionHeader { line: lineno, text: clip(line) });
                missing_header_reported = true;
            }
            continue;
        };
        let Some(d) = value.find(['=', ':']) else {
            // Python keeps going (and keeps the current option); the error is raised at the end.
            errors.push(MetadataError::BadLine { line: lineno, text: clip(line) });
            continue;
        };
        let key = py_rstrip(&value[..d]);
        let val = py_strip(&value[d + 1..]);
        if key.is_empty() {
            errors.push(MetadataError::EmptyKey { line: lineno, text: clip(line) });
            optidx = None;
            continue;
        }
        let sect_name =
            if sect == usize::MAX { "DEFAULT".to_owned() } else { raw.sections[sect].0.clone() };
        let folded = (sect_name.clone(), key.to_lowercase());
        if let Some((first, first_line)) = seen_keys.get(&folded) {
            errors.push(MetadataError::DuplicateKey {
                section: sect_name,
                first: first.clone(),
                first_line: *first_line,
                second: key.to_owned(),
                line: lineno,
            });
            // Python stops here; we keep reading to report later problems too, without
            // letting the duplicate's continuation lines attach to anything.
            optidx = None;
            continue;
        }
        seen_keys.insert(folded, (key.to_owned(), lineno));
        let opts = section_opts(&mut raw, &mut default_opts, cursect);
        opts.push((key.to_owned(), vec![val.to_owned()], lineno));
        optidx = Some(opts.len() - 1);
    }
    if raw.default_line.is_some() {
        raw.sections.push(("DEFAULT".to_owned(), raw.default_line.unwrap_or(0), default_opts));
    }
    raw
}

fn section_opts<'a>(
    raw: &'a mut Raw,
    default_opts: &'a mut Options,
    cursect: Option<usize>,
) -> &'a mut Options {
    match cursect {
        Some(i) if i != usize::MAX && i < raw.sections.len() => &mut raw.sections[i].2,
        _ => default_opts,
    }
}

/// Python's `SECTCRE.match`: `\[(?P<header>.+)\]` at the start; the header runs to the
/// last `]` (greedy) and text after it is ignored.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    (close >= 1).then(|| &rest[..close])
}

fn clip(s: &str) -> String {
    let t: String = s.chars().take(80).collect();
    if t.len() < s.len() { format!("{t}…") } else { t }
}

fn finish(raw: Raw, mut errors: Vec<MetadataError>) -> Result<Vec<Field>, Vec<MetadataError>> {
    if let Some(line) = raw.default_line {
        errors.push(MetadataError::DefaultSection { line });
    }
    let general = raw.sections.iter().find(|s| s.0 == "general");
    let Some(general) = general else {
        let found =
            raw.sections.iter().find(|s| s.0.eq_ignore_ascii_case("general")).map(|s| s.0.clone());
        errors.push(MetadataError::NoGeneral { found });
        return Err(errors);
    };
    let mut fields = Vec::with_capacity(general.2.len());
    for (key, lines, line) in &general.2 {
        let joined = lines.join("\n");
        let value = py_rstrip(&joined);
        match interpolate(value) {
            Ok(v) => fields.push(Field { key: key.clone(), value: v, line: *line }),
            Err(true) => {
                errors.push(MetadataError::Interpolation { key: key.clone(), value: clip(value) })
            }
            Err(false) => {
                errors.push(MetadataError::Percent { key: key.clone(), value: clip(value) })
            }
        }
    }
    if errors.is_empty() { Ok(fields) } else { Err(errors) }
}

/// `BasicInterpolation.before_get` without references: `%%` → `%`. `Err(true)` for
/// `%(`, `Err(false)` for any other `%`.
fn interpolate(value: &str) -> Result<String, bool> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        match rest[p + 1..].chars().next() {
            Some('%') => {
                out.push('%');
                rest = &rest[p + 2..];
            }
            Some('(') => return Err(true),
            _ => return Err(false),
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The reference's `__init__.py` scraper (reference §2.4): for each `def name(`, the first
/// `return value` before the next empty line gives `(name, value)`.
pub(crate) fn scrape_init(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(name) = def_name(lines[i]) {
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                if let Some(v) = return_value(lines[i]) {
                    out.push((name.to_owned(), v.to_owned()));
                    break;
                }
                i += 1;
            }
        }
        i += 1;
    }
    out
}

/// `re.search(r"def\s+([^\(]+)", line)`.
fn def_name(line: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(p) = line[from..].find("def") {
        let start = from + p + 3;
        let after = &line[start..];
        let ws = after.len() - after.trim_start_matches(py_space).len();
        if ws > 0 {
            let name_start = start + ws;
            let name_len = line[name_start..].find('(').unwrap_or(line.len() - name_start);
            if name_len > 0 {
                return Some(&line[name_start..name_start + name_len]);
            }
        }
        from = from + p + 1;
    }
    None
}

/// `re.search(r"return\s+[\"']?([^\"']+)[\"']?", line)`.
fn return_value(line: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(p) = line[from..].find("return") {
        let start = from + p + 6;
        let after = &line[start..];
        let ws = after.len() - after.trim_start_matches(py_space).len();
        if ws > 0 {
            let mut v = &after[ws..];
            if v.starts_with(['"', '\'']) {
                v = &v[1..];
            }
            let end = v.find(['"', '\'']).unwrap_or(v.len());
            if end > 0 {
                return Some(&v[..end]);
            }
        }
        from = from + p + 1;
    }
    None
}
