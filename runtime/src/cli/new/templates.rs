//! What `micro-wasm new` writes for each `--lang`: the guest's files in `main/`, how app.toml
//! builds it, and what to install first. The Python and JavaScript guests reuse the SDKs
//! in the repo's `sdk/` (`space.py`; `space.js`, `build.mjs`, its lock file and `js.wit`) and
//! its `wit/`, compiled in here, so none of them is written twice by hand. In a file's text
//! `{{app}}` and `{{micro}}` become the app's and its Micro's names.

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
    /// Whether the app gets `wit/`: the repo's `wit/` ([`WIT`]), which the build reads.
    pub wit: bool,
}

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
        (
            "main/space.py",
            include_str!("../../../../sdk/python/space.py"),
        ),
    ],
};

/// `app.js` on `space.js`, built by `build.mjs` (componentize-js) against the app's `wit/`:
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
        (
            "main/space.js",
            include_str!("../../../../sdk/js/space.js"),
        ),
        (
            "main/build.mjs",
            include_str!("../../../../sdk/js/build.mjs"),
        ),
        (
            "main/package-lock.json",
            include_str!("../../../../sdk/js/package-lock.json"),
        ),
        (
            "main/wit/js.wit",
            include_str!("../../../../sdk/js/wit/js.wit"),
        ),
    ],
};

/// The repo's `wit/`: `micro:space` and the WASI packages it uses, as `NAME/wit/`.
pub const WIT: [(&str, &str); 8] = [
    ("wit/space.wit", include_str!("../../../../wit/space.wit")),
    (
        "wit/deps/cli.wit",
        include_str!("../../../../wit/deps/cli.wit"),
    ),
    (
        "wit/deps/clocks.wit",
        include_str!("../../../../wit/deps/clocks.wit"),
    ),
    (
        "wit/deps/filesystem.wit",
        include_str!("../../../../wit/deps/filesystem.wit"),
    ),
    (
        "wit/deps/http.wit",
        include_str!("../../../../wit/deps/http.wit"),
    ),
    (
        "wit/deps/io.wit",
        include_str!("../../../../wit/deps/io.wit"),
    ),
    (
        "wit/deps/random.wit",
        include_str!("../../../../wit/deps/random.wit"),
    ),
    (
        "wit/deps/sockets.wit",
        include_str!("../../../../wit/deps/sockets.wit"),
    ),
];
