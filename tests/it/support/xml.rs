//! Reads a plugins.xml document strictly (quick-xml): well-formed, one `<plugins>` root whose
//! children are all `<pyqgis_plugin>`, and returns the entries' fields QGIS relies on.

use anyhow::{Context, Result, bail, ensure};
use quick_xml::Reader;
use quick_xml::events::Event;

/// One `<pyqgis_plugin>` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub version: String,
    pub file_name: String,
    pub download_url: String,
    pub experimental: String,
    pub qgis_minimum_version: String,
    pub qgis_maximum_version: String,
}

impl Entry {
    /// The plugin id QGIS derives: `file_name` up to its first dot.
    pub(crate) fn id(&self) -> &str {
        self.file_name.split('.').next().unwrap_or("")
    }

    pub(crate) fn is_experimental(&self) -> bool {
        self.experimental == "True"
    }
}

/// Parses a whole document; any XML error or an unexpected structure is an error.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Entry>> {
    let text = std::str::from_utf8(bytes).context("plugins.xml is not UTF-8")?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut entries = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut current: Option<Entry> = None;
    let mut field = String::new();
    loop {
        let event = reader
            .read_event()
            .with_context(|| format!("malformed XML at byte {}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec())?;
                match stack.len() {
                    0 => {
                        roots += 1;
                        ensure!(name == "plugins", "root element is <{name}>, not <plugins>");
                    }
                    1 => {
                        ensure!(name == "pyqgis_plugin", "<plugins> holds a <{name}>");
                        let mut entry = Entry::default();
                        for a in e.attributes() {
                            let a = a?;
                            let value = a.unescape_value()?.into_owned();
                            match a.key.as_ref() {
                                b"name" => entry.name = value,
                                b"version" => entry.version = value,
                                _ => {}
                            }
                        }
                        current = Some(entry);
                    }
                    _ => field.clear(),
                }
                stack.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec())?;
                if stack.is_empty() {
                    roots += 1;
                    ensure!(name == "plugins", "root element is <{name}/>, not <plugins>");
                } else {
                    ensure!(stack.len() >= 2, "<plugins> holds an empty <{name}/>");
                }
            }
            Event::End(_) => {
                let name = stack.pop().context("end tag without start")?;
                if stack.len() == 2 {
                    set_field(current.as_mut().context("field outside an entry")?, &name, &field);
                } else if stack.len() == 1 {
                    entries.push(current.take().context("entry end without start")?);
                }
            }
            Event::Text(t) => {
                let s = t.decode()?;
                if stack.len() <= 1 {
                    ensure!(s.trim().is_empty(), "text `{}` outside the entries", s.trim());
                } else {
                    field.push_str(&s);
                }
            }
            Event::CData(c) => field.push_str(&c.decode()?),
            Event::GeneralRef(r) => {
                let s = r.decode()?;
                field.push('&');
                field.push_str(&s);
                field.push(';');
            }
            Event::Eof => break,
            _ => {}
        }
    }
    ensure!(stack.is_empty(), "document ends inside <{}>", stack.join("><"));
    if roots != 1 {
        bail!("{roots} root elements");
    }
    Ok(entries)
}

fn set_field(e: &mut Entry, name: &str, value: &str) {
    let v = value.trim().to_owned();
    match name {
        "file_name" => e.file_name = v,
        "download_url" => e.download_url = v,
        "experimental" => e.experimental = v,
        "qgis_minimum_version" => e.qgis_minimum_version = v,
        "qgis_maximum_version" => e.qgis_maximum_version = v,
        _ => {}
    }
}
