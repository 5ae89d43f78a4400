//! Tidy checks of the workspace's own source (rust-analyzer's idea): rules of the house that
//! a reader relies on and the compiler does not enforce. They read files; nothing runs.
//!
//! - every module file opens with a `//!` line saying what it owns;
//! - SQL statements appear only in the `catalog` crate (and in test code);
//! - no module imports a module that imports it back, directly or through others (a cycle
//!   between siblings, after lifting every reference to the children of the two modules'
//!   common ancestor; a module may use its ancestors and its own children).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates whose `src/` is checked.
const CRATES: &[&str] = &["catalog", "generator", "uploader"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A test-only file: `tests.rs`, `tests_*.rs`, anything under a `tests/` folder.
fn is_test_file(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "tests")
        || path.file_stem().is_some_and(|s| s.to_string_lossy().starts_with("tests"))
}

/// The module path of a file below `src/`: `render/mod.rs` → `["render"]`, `lib.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The source without `#[cfg(test)]` modules declared inline (`mod tests { ... }`).
fn without_inline_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests {").map_or(text, |i| &text[..i])
}

#[test]
fn every_module_opens_with_a_doc_line() {
    let mut missing = Vec::new();
    for krate in CRATES.iter().chain(&["tests"]) {
        for file in rust_files(&workspace().join(krate)) {
            if file
                .components()
                .any(|c| c.as_os_str() == "node_modules" || c.as_os_str() == "target")
            {
                continue;
            }
            let text = fs::read_to_string(&file).unwrap();
            if !text.trim_start().starts_with("//!") {
                missing.push(file.strip_prefix(workspace()).unwrap().display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "these files do not open with a `//!` line: {missing:#?}");
}

#[test]
fn sql_lives_only_in_the_catalog() {
    let statement = ["SELECT ", "INSERT INTO", "DELETE FROM", "UPDATE "];
    let mut found = Vec::new();
    for krate in CRATES.iter().filter(|c| **c != "catalog") {
        let src = workspace().join(krate).join("src");
        for file in rust_files(&src).into_iter().filter(|f| !is_test_file(f)) {
            let text = fs::read_to_string(&file).unwrap();
            for (n, line) in without_inline_tests(&text).lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                let sql = statement.iter().any(|s| code.contains(&format!("\"{s}")))
                    || (code.contains("UPDATE ") && code.contains(" SET "));
                if sql {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "SQL outside catalog/: {found:#?}");
}

/// The modules `file` (module `me`) refers to through `crate::` and `super::` paths,
/// brace groups (`use crate::{a, b::c}`) included.
fn references(text: &str, me: &[String], modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let text = without_inline_tests(text);
    let mut out = BTreeSet::new();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    for (i, _) in text.match_indices("crate::") {
        if !text[..i].ends_with(|c: char| is_ident(c) || c == '$') {
            resolve(Vec::new(), &text[i + "crate::".len()..], modules, &mut out);
        }
    }
    for (i, _) in text.match_indices("super::") {
        if text[..i].ends_with(|c: char| is_ident(c) || c == ':') {
            continue;
        }
        let mut base = me.to_vec();
        let mut rest = &text[i..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        resolve(base, rest, modules, &mut out);
    }
    out
}

/// Follows the path at the start of `rest` from module `base`, adding the longest module
/// prefix it names (each branch of a brace group separately).
fn resolve(
    mut base: Vec<String>,
    mut rest: &str,
    modules: &BTreeSet<Vec<String>>,
    out: &mut BTreeSet<Vec<String>>,
) {
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        resolve(base.clone(), group[start..i].trim(), modules, out);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        resolve(base.clone(), group[start..i].trim(), modules, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let seg: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if seg.is_empty() || seg == "self" {
            break;
        }
        base.push(seg.clone());
        match rest[seg.len()..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    // The longest prefix that is a module.
    while !base.is_empty() && !modules.contains(&base) {
        base.pop();
    }
    out.insert(base);
}

/// A module graph's edges lifted to siblings: for `a → b`, both become the child of their
/// common ancestor on their path; references to an ancestor or a descendant are not edges.
fn sibling_edges(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (from, tos) in edges {
        for to in tos {
            let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue;
            }
            let a = from[..=common].join("::");
            let b = to[..=common].join("::");
            out.insert((a, b));
        }
    }
    out
}

/// The shortest chain of edges from `from` to `to` (breadth first), if any.
fn path_between(edges: &BTreeSet<(String, String)>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut path = vec![to.to_owned()];
            let mut cur = to;
            while cur != from {
                cur = came_from[cur];
                path.push(cur.to_owned());
            }
            path.reverse();
            return Some(path);
        }
        for (_, next) in edges.range((at.to_owned(), String::new())..).take_while(|(a, _)| a == at)
        {
            if next != from && !came_from.contains_key(next.as_str()) {
                came_from.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut cycles = Vec::new();
    for krate in CRATES {
        let src = workspace().join(krate).join("src");
        let files: Vec<PathBuf> =
            rust_files(&src).into_iter().filter(|f| !is_test_file(f)).collect();
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
        let mut edges = BTreeMap::new();
        for file in &files {
            let me = module_of(&src, file);
            let text = fs::read_to_string(file).unwrap();
            edges.insert(me.clone(), references(&text, &me, &modules));
        }
        let lifted = sibling_edges(&edges);
        for (a, b) in &lifted {
            if let Some(back) = path_between(&lifted, b, a) {
                cycles.push(format!("{krate}: {a} → {}", back.join(" → ")));
            }
        }
    }
    assert!(cycles.is_empty(), "modules that import each other: {cycles:#?}");
}
