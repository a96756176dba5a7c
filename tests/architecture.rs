//! The shape of the code, checked: no import circles between the modules of
//! either crate, no file over 600 lines and no function over 80 lines
//! outside tests. A new circle or an overgrown function fails here with the
//! files named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The module path of a file: `src/run/executor.rs` -> ["run", "executor"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The code before the first `#[cfg(test)]` at the start of a line.
fn non_test_code(text: &str) -> &str {
    text.find("\n#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// The modules a file's code names through `crate::` or `super::` paths.
fn imported_modules(code: &str, own: &[String], modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", own[..own.len().saturating_sub(1)].to_vec())] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let preceded_by_ident = rest[..i].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            rest = &rest[i + prefix.len()..];
            if preceded_by_ident {
                continue;
            }
            let mut path = base.clone();
            for seg in rest.split("::") {
                let name: String = seg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if name.is_empty() {
                    break;
                }
                path.push(name.clone());
                if name.len() != seg.len() {
                    break;
                }
            }
            // The longest prefix of the path that is a module file.
            while !path.is_empty() && !modules.contains(&path) {
                path.pop();
            }
            if !path.is_empty() && path != own {
                found.insert(path);
            }
        }
    }
    found
}

/// The import circles among a crate's module files, each as a list of modules.
fn circles(src: &Path) -> Vec<Vec<String>> {
    let files = rust_files(src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &files {
        let own = module_of(src, f);
        let text = std::fs::read_to_string(f).unwrap();
        // Doc links name modules without importing them.
        let code: String = non_test_code(&text).lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        edges.entry(own.clone()).or_default().extend(imported_modules(&code, &own, &modules));
    }
    // A module is in a circle when it can reach itself.
    let mut found = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.join("::")])];
        let mut seen = BTreeSet::new();
        while let Some((m, trail)) = stack.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if next == start {
                    found.push(trail.clone());
                } else if seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.join("::"));
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    found
}

/// Functions longer than the limit, as `file:line name (N lines)`.
fn long_functions(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in rust_files(src) {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = non_test_code(&text).lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let is_fn = ["fn ", "pub fn ", "pub(crate) fn ", "const fn ", "pub const fn ", "unsafe fn ", "pub(super) fn "]
                .iter()
                .any(|p| trimmed.starts_with(p));
            if !is_fn || line.ends_with(';') {
                continue;
            }
            let close = format!("{indent}}}");
            if let Some(len) = lines[i..].iter().position(|l| *l == close)
                && len + 1 > MAX_FN_LINES
            {
                out.push(format!("{}:{} {} ({} lines)", f.display(), i + 1, trimmed.split('(').next().unwrap(), len + 1));
            }
        }
    }
    out
}

fn crate_dirs() -> [PathBuf; 2] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [root.join("src"), root.join("stages/src")]
}

#[test]
fn neither_crate_has_an_import_circle() {
    for src in crate_dirs() {
        let found = circles(&src);
        assert!(
            found.is_empty(),
            "import circles in {}:\n{}",
            src.display(),
            found.iter().map(|c| c.join(" -> ")).collect::<Vec<_>>().join("\n")
        );
    }
}

#[test]
fn no_file_is_over_600_lines() {
    for src in crate_dirs() {
        let long: Vec<String> = rust_files(&src)
            .into_iter()
            .filter_map(|f| {
                let n = std::fs::read_to_string(&f).unwrap().lines().count();
                (n > MAX_FILE_LINES).then(|| format!("{} ({n} lines)", f.display()))
            })
            .collect();
        assert!(long.is_empty(), "files over {MAX_FILE_LINES} lines:\n{}", long.join("\n"));
    }
}

#[test]
fn no_function_outside_tests_is_over_80_lines() {
    for src in crate_dirs() {
        let long = long_functions(&src);
        assert!(long.is_empty(), "functions over {MAX_FN_LINES} lines:\n{}", long.join("\n"));
    }
}

#[test]
fn the_circle_check_sees_a_circle() {
    let dir = lungflow_testkit::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "pub mod x;\n").unwrap();
    std::fs::write(src.join("a/x.rs"), "use crate::b::Thing;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::a::x::Other;\n#[cfg(test)]\nmod t { use crate::a::x; }\n").unwrap();
    assert_eq!(circles(src).len(), 2, "a::x -> b -> a::x, seen from both ends");
    std::fs::write(src.join("b.rs"), "pub struct Thing;\n#[cfg(test)]\nmod t { use crate::a::x::Other; }\n").unwrap();
    assert!(circles(src).is_empty(), "imports inside tests do not count");
}
