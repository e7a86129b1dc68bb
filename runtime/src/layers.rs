//! The crate's layers, checked: every top-level module uses (through `crate::` paths outside
//! its tests) only modules listed after it in the crate doc's layer list, so dependencies
//! point one way and the doc matches the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layer list of the crate doc (`lib.rs`), top first.
fn documented_layers(lib_rs: &str) -> Vec<String> {
    let block = lib_rs
        .split("//! ```text\n")
        .nth(1)
        .and_then(|rest| rest.split("//! ```\n").next())
        .expect("lib.rs has a ```text block");
    block
        .lines()
        .filter_map(|l| l.strip_prefix("//! ")?.split_whitespace().next())
        .map(|name| name.trim_end_matches('/').to_string())
        .collect()
}

/// Each top-level module's `crate::` dependencies, from its non-test code.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut deps = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if ["lib", "main", "layers", "proptests"].contains(&name.as_str()) {
            continue;
        }
        let mut found = BTreeSet::new();
        for file in rust_files(&path) {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for used in crate_paths(code) {
                if used != name {
                    found.insert(used);
                }
            }
        }
        deps.insert(name, found);
    }
    deps
}

/// `path` itself, or every `.rs` file under it that is not a test file.
fn rust_files(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let p = entry.unwrap().path();
        let is_test = p
            .file_name()
            .is_some_and(|n| n == "tests" || n == "tests.rs");
        if is_test {
            continue;
        }
        if p.is_dir() {
            files.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            files.push(p);
        }
    }
    files
}

/// The first segment after every `crate::`, and the names in `use crate::{a, b::c}`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            for item in group.split(',') {
                out.insert(ident(item.trim()));
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

#[test]
fn module_layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = documented_layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let deps = dependencies(&src);
    let documented: BTreeSet<&String> = layers.iter().collect();
    let actual: BTreeSet<&String> = deps.keys().collect();
    assert_eq!(
        documented, actual,
        "the crate doc's layer list and runtime/src's top-level modules differ"
    );
    let rank = |m: &str| layers.iter().position(|l| l == m);
    let mut wrong = Vec::new();
    for (module, used) in &deps {
        for u in used {
            if let (Some(a), Some(b)) = (rank(module), rank(u))
                && b <= a
            {
                wrong.push(format!("{module} uses {u}, which is listed above it"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies that point up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn crate_paths_are_read_from_uses_and_expressions() {
    let found = crate_paths("use crate::{app::App, micro};\nlet x = crate::keys::api::HEADER;");
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, ["app", "keys", "micro"]);
}
