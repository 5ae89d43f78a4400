//! The `[general]` keys of both versions' metadata.txt, side by side.

use std::collections::HashMap;

use super::report::MetaRow;
use crate::validate::metadata::Field;

/// Rows in the order of the pending file, then the keys only the approved one has (in its
/// order). Keys match ignoring ASCII case, as QGIS lower-cases them.
pub(super) fn rows(new: &[Field], old: &[Field]) -> Vec<MetaRow> {
    let mut old_by_key: HashMap<String, &Field> =
        old.iter().map(|f| (f.key.to_ascii_lowercase(), f)).collect();
    let mut rows = Vec::with_capacity(new.len() + old.len());
    for f in new {
        let before = old_by_key.remove(&f.key.to_ascii_lowercase());
        rows.push(row(&f.key, before.map(|b| b.value.clone()), Some(f.value.clone())));
    }
    for f in old {
        if old_by_key.remove(&f.key.to_ascii_lowercase()).is_some() {
            rows.push(row(&f.key, Some(f.value.clone()), None));
        }
    }
    rows
}

fn row(key: &str, old: Option<String>, new: Option<String>) -> MetaRow {
    MetaRow { key: key.to_owned(), changed: old != new, old, new }
}
