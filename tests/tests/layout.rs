//! The source layout `docs/architecture.md` describes: the modules of each crate form no
//! circle, and no source file is over 600 lines once its tests are set aside.
//!
//! Cargo already refuses a circle between crates; inside a crate only these tests look. A
//! module's dependencies are the `crate::NAME` paths its files name (comments and test
//! modules aside), counted at two levels: between the crate's top-level modules, and between
//! the children of each of them (`super::NAME`, `crate::PARENT::NAME`).

use gatehouse_e2e::repo_root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates whose modules are checked: every `src` folder of the workspace's Rust crates.
fn crate_roots() -> Vec<PathBuf> {
    let root = repo_root();
    let mut out = vec![root.join("proxy/src"), root.join("sdk/src")];
    for dir in ["crates", "benches", "tests"] {
        let base = root.join(dir);
        if base.join("src").is_dir() {
            out.push(base.join("src"));
        }
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                if e.path().join("src").is_dir() {
                    out.push(e.path().join("src"));
                }
            }
        }
    }
    out.sort();
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its comments and without its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The module path of a file below `src` (`pipeline/cache.rs` -> `["pipeline", "cache"]`);
/// empty for the crate root.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("below src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod")) {
        parts.pop();
    }
    if parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main") {
        parts.clear();
    }
    parts
}

/// Every path named after `prefix` (`crate::`, `super::`), with `{a, b::c}` groups expanded.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        out.extend(expand(rest));
    }
    out
}

/// The paths at the start of `s`: `a::b`, or each of `{a, b::{c, d}}`.
fn expand(s: &str) -> Vec<Vec<String>> {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&inner[start..i]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return items.into_iter().flat_map(expand).collect();
    }
    let ident: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        return Vec::new();
    }
    let after = &s[ident.len()..];
    match after.strip_prefix("::") {
        Some(more) => expand(more)
            .into_iter()
            .map(|mut p| {
                p.insert(0, ident.clone());
                p
            })
            .chain(std::iter::once(vec![ident.clone()]))
            .collect(),
        None => vec![vec![ident]],
    }
}

/// A module graph: name -> the names it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The graph of every crate's top-level modules and of the children of each.
fn graphs() -> Vec<(String, Graph)> {
    let mut out = Vec::new();
    for src in crate_roots() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        // scope ("" for the crate's top level, else the parent module) -> graph
        let mut scopes: BTreeMap<String, Graph> = BTreeMap::new();
        let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let m = module_path(&src, f);
            for depth in 0..m.len() {
                modules
                    .entry(m[..depth].join("::"))
                    .or_default()
                    .insert(m[depth].clone());
            }
        }
        for f in &files {
            let m = module_path(&src, f);
            if m.is_empty() || m.last().is_some_and(|n| n == "tests") {
                continue;
            }
            let text = code(&std::fs::read_to_string(f).expect("read"));
            let mut used: Vec<Vec<String>> = paths_after(&text, "crate::");
            // `super::x` from a/b.rs (module a::b) names a::x.
            for p in paths_after(&text, "super::") {
                let mut full: Vec<String> = m[..m.len() - 1].to_vec();
                full.extend(p);
                used.push(full);
            }
            for u in used {
                // The first level at which the two paths part is the edge.
                let common = m.iter().zip(&u).take_while(|(a, b)| a == b).count();
                if common >= m.len() || common >= u.len() {
                    continue; // itself, a descendant or an ancestor
                }
                let scope = m[..common].join("::");
                let (from, to) = (&m[common], &u[common]);
                if modules.get(&scope).is_some_and(|s| s.contains(to)) {
                    scopes
                        .entry(scope)
                        .or_default()
                        .entry(from.clone())
                        .or_default()
                        .insert(to.clone());
                }
            }
        }
        let name = src
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (scope, g) in scopes {
            let label = if scope.is_empty() {
                name.clone()
            } else {
                format!("{name}: {scope}")
            };
            out.push((label, g));
        }
    }
    out
}

/// A circle in `g`, as the modules along it, when there is one.
fn circle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &Graph,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_owned());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_owned());
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(n, g, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

/// The modules that lie on a circle with `n` (each can reach the other), `n` included.
fn reach(g: &Graph, n: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![n.to_owned()];
    while let Some(x) = todo.pop() {
        for next in g.get(&x).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

/// Groups of modules that use each other, directly or not, with the edges among them.
fn tangles(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    let mut placed = BTreeSet::new();
    for n in g.keys() {
        if placed.contains(n) || !reach(g, n).contains(n) {
            continue;
        }
        let group: BTreeSet<String> = reach(g, n)
            .into_iter()
            .filter(|m| reach(g, m).contains(n))
            .collect();
        let edges: Vec<String> = group
            .iter()
            .flat_map(|a| {
                g.get(a)
                    .into_iter()
                    .flatten()
                    .filter(|b| group.contains(*b))
                    .map(move |b| format!("{a} -> {b}"))
            })
            .collect();
        out.push(edges.join(", "));
        placed.extend(group);
    }
    out
}

#[test]
fn the_path_reader_sees_groups_and_nested_paths() {
    let code = "use crate::{a::{b, c::D}, e};\nlet x = crate::f::g(); super::h::i();";
    let all = paths_after(code, "crate::");
    for want in [
        vec!["a", "b"],
        vec!["a", "c", "D"],
        vec!["e"],
        vec!["f", "g"],
    ] {
        assert!(
            all.contains(&want.iter().map(|s| s.to_string()).collect()),
            "{want:?} in {all:?}"
        );
    }
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(circle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(circle(&g).map(|c| c.len()), Some(4));
}

#[test]
fn no_crate_has_modules_that_use_each_other() {
    let mut circles = Vec::new();
    for (label, g) in graphs() {
        if let Some(c) = circle(&g) {
            circles.push(format!("{label}: {}", c.join(" -> ")));
            for t in tangles(&g) {
                circles.push(format!("    tangled: {t}"));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "module circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_source_file_is_over_600_lines_without_its_tests() {
    let mut long = Vec::new();
    let mut sizes = Vec::new();
    for src in crate_roots() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            if f.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&f).expect("read");
            let lines = text
                .lines()
                .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
                .count();
            sizes.push(lines);
            if lines > 600 {
                long.push(format!("{} ({lines} lines)", f.display()));
            }
        }
    }
    assert!(sizes.len() > 50, "found only {} source files", sizes.len());
    assert!(long.is_empty(), "over 600 lines:\n{}", long.join("\n"));
}

/// The rows of the module table in `docs/architecture.md`: each module named in a row (the
/// first segment of a backticked path) with the row's index.
fn documented_layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(repo_root().join("docs/architecture.md")).expect("read");
    let table = doc
        .split("\n## ")
        .find(|s| s.starts_with("Modules of the `gatehouse` crate"))
        .expect("the module table section");
    let mut out = BTreeMap::new();
    let rows = table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| layer"));
    for (i, row) in rows.enumerate() {
        let modules = row.split('|').nth(2).unwrap_or("");
        for (j, quoted) in modules.split('`').enumerate() {
            if j % 2 == 1 {
                let name: String = quoted
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.entry(name).or_insert(i);
            }
        }
    }
    out
}

#[test]
fn the_gatehouse_crate_follows_the_documented_layers() {
    let layers = documented_layers();
    let src = repo_root().join("proxy/src");
    let (_, top) = graphs()
        .into_iter()
        .find(|(label, _)| label == "proxy")
        .expect("the proxy graph");
    let mut modules = BTreeSet::new();
    for e in std::fs::read_dir(&src).expect("read proxy/src").flatten() {
        let name = e
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if !matches!(name.as_str(), "lib" | "main" | "cli") {
            modules.insert(name);
        }
    }
    let missing: Vec<&String> = modules
        .iter()
        .filter(|m| !layers.contains_key(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "modules not in docs/architecture.md: {missing:?}"
    );
    let mut upward = Vec::new();
    for (from, tos) in &top {
        for to in tos {
            if let (Some(a), Some(b)) = (layers.get(from), layers.get(to)) {
                if a < b {
                    upward.push(format!("{from} (row {a}) uses {to} (row {b})"));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "uses a later layer:\n{}",
        upward.join("\n")
    );
}
