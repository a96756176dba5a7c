//! The shape of the code, checked: every crate's folders keep their layer
//! order (a folder imports only folders below it, per the tables here that
//! ARCHITECTURE.md draws), no module file is in an import circle, no file
//! is over 600 lines and no function over 80 lines outside tests. Test
//! code (`#[cfg(test)] mod ...` blocks and the files such a `mod` names)
//! does not count. A new arrow the wrong way fails here with the files named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// The engine's folders by layer: each may import only lower layers.
const ENGINE_LAYERS: &[(&str, u8)] =
    &[("store", 0), ("pipeline", 0), ("run", 1), ("slurm", 2), ("lineage", 2), ("maintenance", 3), ("report", 3), ("cli", 4)];

/// The stage kinds' folders and files by layer.
const STAGES_LAYERS: &[(&str, u8)] = &[
    ("formats", 0),
    ("limits", 0),
    ("logs", 0),
    ("params", 0),
    ("plot", 0),
    ("process_groups", 0),
    ("watchdog", 0),
    ("contract", 1),
    ("dicom", 1),
    ("models", 1),
    ("phantom", 1),
    ("segment", 1),
    ("supervised", 1),
    ("kinds", 2),
];

/// One crate's source folder and, where it has one, its layer table.
struct Crate {
    src: PathBuf,
    layers: Option<&'static [(&'static str, u8)]>,
}

fn crates() -> Vec<Crate> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![
        Crate { src: root.join("src"), layers: Some(ENGINE_LAYERS) },
        Crate { src: root.join("stages/src"), layers: Some(STAGES_LAYERS) },
        Crate { src: root.join("kernels/src"), layers: None },
        Crate { src: root.join("testkit/src"), layers: None },
    ]
}

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

/// The module path of a file: `src/run/driver.rs` -> ["run", "driver"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The folder a file's child modules live in.
fn child_dir(file: &Path) -> PathBuf {
    let dir = file.parent().unwrap();
    match file.file_stem().and_then(|s| s.to_str()) {
        Some("mod" | "lib" | "main") => dir.to_path_buf(),
        Some(stem) => dir.join(stem),
        None => dir.to_path_buf(),
    }
}

/// A file's code without its `#[cfg(test)] mod` blocks, and the files its
/// `#[cfg(test)] mod NAME;` lines name (test code too).
fn split_tests(file: &Path, text: &str) -> (String, Vec<PathBuf>) {
    let lines: Vec<&str> = text.lines().collect();
    let (mut code, mut test_files) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "#[cfg(test)]" {
            code.push(lines[i]);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        let mut path_attr = None;
        while j < lines.len() && lines[j].trim_start().starts_with("#[") {
            path_attr = lines[j].trim().strip_prefix("#[path = \"").and_then(|r| r.strip_suffix("\"]")).map(str::to_owned).or(path_attr);
            j += 1;
        }
        let item = lines.get(j).map_or("", |l| l.trim());
        let name = item.strip_prefix("pub ").unwrap_or(item).strip_prefix("mod ");
        match name {
            Some(rest) if rest.ends_with(';') => {
                let name = rest.trim_end_matches(';');
                let dir = child_dir(file);
                test_files.push(match path_attr {
                    Some(p) => file.parent().unwrap().join(p),
                    None if dir.join(format!("{name}.rs")).exists() => dir.join(format!("{name}.rs")),
                    None => dir.join(name).join("mod.rs"),
                });
                i = j + 1;
            }
            Some(_) => {
                let indent = &lines[j][..lines[j].len() - lines[j].trim_start().len()];
                let close = format!("{indent}}}");
                i = lines[j..].iter().position(|l| *l == close).map_or(lines.len(), |k| j + k + 1);
            }
            None => {
                code.push(lines[i]);
                i += 1;
            }
        }
    }
    (code.join("\n"), test_files)
}

/// Every non-test file of a crate with its module path and non-test code
/// (comment lines dropped: doc links name modules without importing them).
fn production_code(src: &Path) -> Vec<(PathBuf, Vec<String>, String)> {
    let files = rust_files(src);
    let mut parsed = Vec::new();
    let mut tests = BTreeSet::new();
    for f in &files {
        let (code, test_files) = split_tests(f, &std::fs::read_to_string(f).unwrap());
        tests.extend(test_files);
        parsed.push((f.clone(), code));
    }
    parsed
        .into_iter()
        .filter(|(f, _)| !tests.contains(f))
        .map(|(f, code)| {
            let code = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            (f.clone(), module_of(src, &f), code)
        })
        .collect()
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

/// Each module's imports, with the file it is in.
fn import_edges(src: &Path) -> BTreeMap<Vec<String>, (PathBuf, BTreeSet<Vec<String>>)> {
    let code = production_code(src);
    let modules: BTreeSet<Vec<String>> = code.iter().map(|(_, m, _)| m.clone()).collect();
    code.into_iter().map(|(f, own, text)| (own.clone(), (f, imported_modules(&text, &own, &modules)))).collect()
}

/// The import circles among a crate's module files, each as a list of modules.
fn circles(src: &Path) -> Vec<Vec<String>> {
    let edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = import_edges(src).into_iter().map(|(m, (_, to))| (m, to)).collect();
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

/// Imports from a folder to one at the same or a higher layer, as
/// `file: from -> to`; a top-level module missing from the table is one too.
fn layer_violations(src: &Path, layers: &[(&str, u8)]) -> Vec<String> {
    let layer: BTreeMap<&str, u8> = layers.iter().copied().collect();
    let mut out = Vec::new();
    for (module, (file, imports)) in import_edges(src) {
        let Some(from) = module.first() else { continue }; // the crate root may import anything
        let Some(&from_layer) = layer.get(from.as_str()) else {
            out.push(format!("{}: module {from} is in no layer of the table", file.display()));
            continue;
        };
        for to in imports.iter().filter_map(|m| m.first()).filter(|to| *to != from) {
            if layer.get(to.as_str()).is_none_or(|&l| l >= from_layer) {
                out.push(format!("{}: {from} (layer {from_layer}) imports {to} (layer {:?})", file.display(), layer.get(to.as_str())));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Functions longer than the limit, as `file:line name (N lines)`.
fn long_functions(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (f, _, code) in production_code(src) {
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let is_fn =
                ["fn ", "pub fn ", "pub(crate) fn ", "const fn ", "pub const fn ", "unsafe fn ", "pub unsafe fn ", "pub(super) fn "]
                    .iter()
                    .any(|p| trimmed.starts_with(p));
            if !is_fn || line.ends_with(';') {
                continue;
            }
            let close = format!("{indent}}}");
            if let Some(len) = lines[i..].iter().position(|l| *l == close)
                && len + 1 > MAX_FN_LINES
            {
                out.push(format!("{}: {} ({} lines)", f.display(), trimmed.split('(').next().unwrap(), len + 1));
            }
        }
    }
    out
}

#[test]
fn every_folder_imports_only_folders_below_it() {
    for c in crates() {
        let Some(layers) = c.layers else { continue };
        let found = layer_violations(&c.src, layers);
        assert!(found.is_empty(), "imports against the layer order in {}:\n{}", c.src.display(), found.join("\n"));
    }
}

#[test]
fn no_crate_has_an_import_circle() {
    for c in crates() {
        let found = circles(&c.src);
        assert!(
            found.is_empty(),
            "import circles in {}:\n{}",
            c.src.display(),
            found.iter().map(|c| c.join(" -> ")).collect::<Vec<_>>().join("\n")
        );
    }
}

#[test]
fn no_file_is_over_600_lines() {
    for c in crates() {
        let long: Vec<String> = rust_files(&c.src)
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
    for c in crates() {
        let long = long_functions(&c.src);
        assert!(long.is_empty(), "functions over {MAX_FN_LINES} lines:\n{}", long.join("\n"));
    }
}

/// A small crate in a temporary folder: `(path, text)` pairs.
fn planted(files: &[(&str, &str)]) -> lungflow_testkit::TempDir {
    let dir = lungflow_testkit::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn the_circle_check_sees_a_circle_and_ignores_test_modules() {
    let dir = planted(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a/mod.rs", "pub mod x;\n"),
        ("a/x.rs", "use crate::b::Thing;\n"),
        ("b.rs", "use crate::a::x::Other;\n#[cfg(test)]\nmod t { use crate::a::x; }\n"),
    ]);
    assert_eq!(circles(dir.path()).len(), 2, "a::x -> b -> a::x, seen from both ends");
    std::fs::write(dir.path().join("b.rs"), "pub struct Thing;\n#[cfg(test)]\nmod t { use crate::a::x::Other; }\n").unwrap();
    assert!(circles(dir.path()).is_empty(), "imports inside tests do not count");
}

#[test]
fn the_layer_check_sees_a_folder_that_imports_one_above_it() {
    const LAYERS: &[(&str, u8)] = &[("low", 0), ("high", 1)];
    let dir = planted(&[
        ("lib.rs", "pub mod low;\npub mod high;\n"),
        ("high/mod.rs", "pub mod top;\n"),
        ("high/top.rs", "use crate::low::base::Thing;\n"),
        ("low/mod.rs", "pub mod base;\npub mod other;\n"),
        ("low/base.rs", "pub struct Thing;\n#[cfg(test)]\nmod tests {\n    use crate::high::top;\n}\n"),
        ("low/other.rs", "#[cfg(test)]\nmod checks;\n\npub fn f() {}\n"),
        ("low/other/checks.rs", "use crate::high::top::X;\n"),
    ]);
    assert!(layer_violations(dir.path(), LAYERS).is_empty(), "downward imports and test code pass");
    assert!(circles(dir.path()).is_empty());
    // A planted violation in production code after a test block: low -> high.
    std::fs::write(dir.path().join("low/base.rs"), "#[cfg(test)]\nmod tests {\n}\n\npub fn g() { crate::high::top::run() }\n").unwrap();
    let found = layer_violations(dir.path(), LAYERS);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("low (layer 0) imports high"), "{found:?}");
    // A folder missing from the table is reported too.
    std::fs::write(dir.path().join("lib.rs"), "pub mod low;\npub mod high;\npub mod stray;\n").unwrap();
    std::fs::write(dir.path().join("stray.rs"), "pub fn s() {}\n").unwrap();
    assert!(layer_violations(dir.path(), LAYERS).iter().any(|v| v.contains("module stray is in no layer")));
}
