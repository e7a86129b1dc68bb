//! What `micro-wasm new` writes for each `--lang`: the guest's files in `main/`, how app.toml
//! builds it, and what to install first. In a file's text `{{app}}` and `{{micro}}` become the
//! app's and its Micro's names.
//!
//! Every file is compiled in from `templates/` beside this file, inside the crate, so the
//! packaged crate has them all. The `*.tmpl` files exist only here. The others are copies of
//! files whose canonical copy is elsewhere in the repo: `templates/sdk/` of the Python and JS
//! SDKs (`sdk/python/space.py`; `sdk/js/space.js`, `deta.js`, `build.mjs`,
//! `package-lock.json`, `wit/js.wit`) and `templates/wit/` of the repo's `wit/` (`micro:space` and its WASI deps),
//! each at the same path under `templates/` as in the repo (`COPIES`). The tests below fail
//! when a copy differs from its original, when the crate is built in the repo.

use super::Lang;

/// One language's scaffold.
pub struct Guest {
    /// app.toml's `component`, relative to the app dir.
    pub component: &'static str,
    /// app.toml's `build` command, run in `main/` (a TOML basic string: no `"` or `\`).
    pub build: &'static str,
    /// The app.toml comment above `build` (each line after the first starts with `# `).
    pub needs: &'static str,
    /// The setup step printed before `cd NAME && micro-wasm run --build`.
    pub setup: &'static str,
    /// .gitignore lines for the build's outputs (`.micro-wasm/` is added to each).
    pub ignore: &'static str,
    /// (path relative to the app dir, text).
    pub files: &'static [(&'static str, &'static str)],
    /// Whether the app gets `wit/`: a copy of the repo's `wit/` ([`WIT`]), which the build reads.
    pub wit: bool,
}

/// `(path in the repo, text)` of a copy: the file at that path under `templates/`.
macro_rules! copy {
    ($path:literal) => {
        ($path, include_str!(concat!("templates/", $path)))
    };
}

const SPACE_PY: (&str, &str) = copy!("sdk/python/space.py");
const SPACE_JS: (&str, &str) = copy!("sdk/js/space.js");
const DETA_JS: (&str, &str) = copy!("sdk/js/deta.js");
const BUILD_MJS: (&str, &str) = copy!("sdk/js/build.mjs");
const PACKAGE_LOCK: (&str, &str) = copy!("sdk/js/package-lock.json");
const JS_WIT: (&str, &str) = copy!("sdk/js/wit/js.wit");

/// The repo's `wit/`: `micro:space` and the WASI packages it uses, written as `NAME/wit/`
/// (the same relative paths).
pub const WIT: [(&str, &str); 8] = [
    copy!("wit/space.wit"),
    copy!("wit/deps/cli.wit"),
    copy!("wit/deps/clocks.wit"),
    copy!("wit/deps/filesystem.wit"),
    copy!("wit/deps/http.wit"),
    copy!("wit/deps/io.wit"),
    copy!("wit/deps/random.wit"),
    copy!("wit/deps/sockets.wit"),
];

/// Every copy compiled in, as `(path in the repo and under templates/, text)`: what the tests
/// compare with the originals.
#[cfg(test)]
const COPIES: [(&str, &str); 14] = [
    SPACE_PY,
    SPACE_JS,
    DETA_JS,
    BUILD_MJS,
    PACKAGE_LOCK,
    JS_WIT,
    WIT[0],
    WIT[1],
    WIT[2],
    WIT[3],
    WIT[4],
    WIT[5],
    WIT[6],
    WIT[7],
];

pub const APP_TOML: &str = include_str!("templates/app.toml.tmpl");
pub const GITIGNORE: &str = include_str!("templates/gitignore.tmpl");

pub fn guest(lang: Lang) -> &'static Guest {
    match lang {
        Lang::Rust => &RUST,
        Lang::Python => &PYTHON,
        Lang::Js => &JS,
    }
}

const RUST: Guest = Guest {
    component: "main/target/wasm32-wasip2/release/main.wasm",
    build: "cargo build --release --target wasm32-wasip2",
    needs: "Needs Rust's wasm32-wasip2 target: rustup target add wasm32-wasip2",
    setup: "add Rust's wasm32-wasip2 target, if not yet: rustup target add wasm32-wasip2",
    ignore: "target/\n",
    wit: false,
    files: &[
        ("main/Cargo.toml", include_str!("templates/Cargo.toml.tmpl")),
        ("main/src/lib.rs", include_str!("templates/lib.rs.tmpl")),
    ],
};

/// `app.py` on `space.py`, built by componentize-py (its console script, called through
/// python3 so it need not be on PATH) against the app's `wit/`.
const PYTHON: Guest = Guest {
    component: "main/app.wasm",
    build: "python3 -c 'import componentize_py as c; c.script()' -q -d ../wit \
            -w micro:space/micro@0.1.0 componentize app -o app.wasm",
    needs: "Needs componentize-py 0.25.1 (python3 -m pip install componentize-py==0.25.1), \
            called\n# through python3 so it need not be on PATH; ../wit: micro:space and WASI.",
    setup: "install componentize-py, if not yet: python3 -m pip install componentize-py==0.25.1",
    ignore: "*.wasm\n__pycache__/\n.bindings/\n",
    wit: true,
    files: &[
        ("main/app.py", include_str!("templates/app.py.tmpl")),
        ("main/space.py", SPACE_PY.1),
    ],
};

/// `app.js` on `space.js` (and `deta.js` for Deta Base and Drive), built by `build.mjs` (componentize-js) against the app's `wit/`:
/// `package.json` says so, and pins the toolchain with the JS SDK's lock file.
const JS: Guest = Guest {
    component: "main/app.wasm",
    build: "node build.mjs",
    needs: "Needs Node.js 18+ and npm. The first build installs componentize-js (~390 MB, more \
            than a\n# code dir may hold) in ~/.cache/micro-wasm/; see main/build.mjs.",
    setup: "install Node.js 18+ with npm, if not yet; the first build fetches componentize-js \
            (~390 MB)",
    ignore: "*.wasm\nwit-gen/\nnode_modules/\n",
    wit: true,
    files: &[
        ("main/app.js", include_str!("templates/app.js.tmpl")),
        (
            "main/package.json",
            include_str!("templates/package.json.tmpl"),
        ),
        ("main/space.js", SPACE_JS.1),
        ("main/deta.js", DETA_JS.1),
        ("main/build.mjs", BUILD_MJS.1),
        ("main/package-lock.json", PACKAGE_LOCK.1),
        ("main/wit/js.wit", JS_WIT.1),
    ],
};

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// The repo's root when the crate is built in the repo; `None` in a packaged crate (then
    /// the originals are not there, and the copies are all there is).
    fn repo() -> Option<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
        let workspace = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
        (workspace.contains("[workspace]") && root.join("sdk").is_dir()).then(|| root.into())
    }

    #[test]
    fn every_copy_is_the_same_as_its_original_in_the_repo() {
        let Some(repo) = repo() else {
            eprintln!("not in the repo: no originals to compare the copies with");
            return;
        };
        let mut stale = Vec::new();
        for (path, text) in COPIES {
            match std::fs::read_to_string(repo.join(path)) {
                Ok(original) if original == text => {}
                Ok(_) => stale.push(format!("cp {path} runtime/src/cli/new/templates/{path}")),
                Err(e) => stale.push(format!("# {path}: {e} (moved? update templates.rs)")),
            }
        }
        assert!(
            stale.is_empty(),
            "`micro-wasm new` embeds copies that differ from their originals; from the repo's \
             root, then rebuild:\n{}",
            stale.join("\n")
        );
    }

    #[test]
    fn the_js_sdk_s_package_json_has_its_lock_file_s_dependencies() {
        let Some(repo) = repo() else {
            eprintln!("not in the repo: no sdk/js/package.json");
            return;
        };
        // npm ci (build.mjs's toolchain install) refuses a package.json whose dependencies
        // differ from the lock file's.
        let text = std::fs::read_to_string(repo.join("sdk/js/package.json")).unwrap();
        let pkg: serde_json::Value = serde_json::from_str(&text).unwrap();
        let lock: serde_json::Value = serde_json::from_str(PACKAGE_LOCK.1).unwrap();
        assert_eq!(pkg["dependencies"], lock["packages"][""]["dependencies"]);
    }

    #[test]
    fn the_scaffold_s_wit_is_the_whole_of_the_repo_s() {
        let Some(repo) = repo() else {
            eprintln!("not in the repo: no wit/ to compare with");
            return;
        };
        let mut on_disk = Vec::new();
        for dir in ["", "deps/"] {
            for entry in std::fs::read_dir(repo.join("wit").join(dir)).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".wit") {
                    on_disk.push(format!("wit/{dir}{name}"));
                }
            }
        }
        on_disk.sort();
        let mut compiled: Vec<_> = WIT.iter().map(|(rel, _)| *rel).collect();
        compiled.sort();
        assert_eq!(compiled, on_disk, "WIT lists every .wit file of wit/");
    }
}
