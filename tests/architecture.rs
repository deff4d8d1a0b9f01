//! The crate's layering, checked: the top-level modules of `src/` must not depend on each other
//! in a cycle, and nothing may point at the seed documents outside this repository (the
//! `shared` folder beside it).
//!
//! A module is the first path component under `src/` (`src/runtime/task/mod.rs` is `runtime`;
//! `lib.rs` and the `loom/` shim are left out). Module A depends on B when a file of A names
//! `crate::B` (or `$crate::B`, or `crate::{B, ..}`) outside a `//` comment. The intended
//! direction: `thread`, `net`, `os`, `time`, `sync`, `blocking`, `future` -> `runtime` ->
//! `reactor`, `coro` (`net` and `os` may use `reactor` directly; `coro` and `reactor` are
//! leaves).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line: everything before a `//` that is not inside a string literal.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The top-level modules named by `crate::NAME` and `crate::{a, b::c}` in `code`.
fn crate_refs(code: &str, out: &mut BTreeSet<String>) {
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::") {
        let start = from + at;
        from = start + "crate::".len();
        // `crate` must be a whole word (`$crate` is fine: the `$` is not an identifier byte).
        if start > 0 && is_ident(bytes[start - 1]) {
            continue;
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d as e}`: the first component of each item (one level deep).
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .bytes()
                    .take_while(|&c| is_ident(c))
                    .map(char::from)
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .bytes()
                .take_while(|&c| is_ident(c))
                .map(char::from)
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
}

/// Module -> the other top-level modules it names.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules: BTreeSet<String> = BTreeSet::new();
    let mut refs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "loom" {
            continue;
        }
        modules.insert(module.clone());
        let text = fs::read_to_string(file).unwrap();
        let entry = refs.entry(module).or_default();
        for line in text.lines() {
            crate_refs(strip_comment(line), entry);
        }
    }
    refs.into_iter()
        .map(|(module, names)| {
            let deps = names
                .into_iter()
                .filter(|n| *n != module && modules.contains(n))
                .collect();
            (module, deps)
        })
        .collect()
}

/// A cycle in `graph`, as a path that starts and ends at the same module, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next.as_str()).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = path.iter().position(|n| n == next).unwrap();
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(next, graph, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node.as_str()).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

fn render(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(module, deps)| {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            format!("  {module} -> {}\n", deps.join(", "))
        })
        .collect()
}

#[test]
fn top_level_modules_depend_on_each_other_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = dependencies(&src);
    println!(
        "dependencies between the top-level modules of src/:\n{}",
        render(&graph)
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "the top-level modules of src/ depend on each other in a cycle: {}\n\
             (all edges:\n{})",
            cycle.join(" -> "),
            render(&graph)
        );
    }
    // The leaves stay leaves (naming at most the utilities below everything, which name
    // nothing), and the runtime stays below its fronts.
    let utilities: BTreeSet<String> = ["env_switch", "fork_generation"].map(String::from).into();
    for utility in &utilities {
        let deps = graph.get(utility).cloned().unwrap_or_default();
        assert!(
            deps.is_empty(),
            "{utility} is below everything, but it names {deps:?}"
        );
    }
    for leaf in ["coro", "reactor"] {
        let deps = graph.get(leaf).cloned().unwrap_or_default();
        assert!(
            deps.is_subset(&utilities),
            "{leaf} is a leaf below the runtime, but it names {:?}",
            deps.difference(&utilities).collect::<Vec<_>>()
        );
    }
    let runtime = graph.get("runtime").cloned().unwrap_or_default();
    let allowed: BTreeSet<String> = ["coro", "reactor", "env_switch", "fork_generation"]
        .map(String::from)
        .into();
    assert!(
        runtime.is_subset(&allowed),
        "runtime may depend only on coro and reactor, but names {:?}",
        runtime.difference(&allowed).collect::<Vec<_>>()
    );
}

#[test]
fn the_checker_finds_cycles_and_group_imports() {
    let mut names = BTreeSet::new();
    crate_refs(
        "use crate::{thread::Thread, time as t}; let x = $crate::sync::m(); mycrate::no",
        &mut names,
    );
    assert_eq!(names, ["sync", "thread", "time"].map(String::from).into());
    assert_eq!(
        strip_comment("let a = \"//\"; // crate::x"),
        "let a = \"//\"; "
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph).unwrap(),
        ["a", "b", "c", "a"].map(String::from).to_vec()
    );
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for dir in ["src", "benches", "docs"] {
        let dir = root.join(dir);
        if dir.is_dir() {
            all_files(&dir, &mut files);
        }
    }
    // Built, not written out, so that this file does not itself contain the reference.
    let outside = ["..", "shared"].join("/");
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue; // not text
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains(&outside) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references to {outside}, which is not part of this repository:\n{}",
        found.join("\n")
    );
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
