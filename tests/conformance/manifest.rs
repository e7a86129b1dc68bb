//! SPEC §3 and S1/S2: `micro-wasm validate` and `run` on good and broken manifests.

use crate::harness::AppDir;

fn micros(n: usize) -> String {
    let mut s = String::from("[app]\nname = \"big\"\n");
    for i in 0..n {
        s += &format!(
            "\n[[micro]]\nname = \"m{i}\"\ncomponent = \"m{i}.wasm\"\nprimary = {}\n",
            i == 0
        );
    }
    s
}

#[test]
fn s1_six_micros_are_refused_naming_the_file_and_the_sixth() {
    let app = AppDir::new(&micros(6));
    for cmd in [
        &["validate", "app.toml"][..],
        &["run", "app.toml", "--listen", "127.0.0.1:0"],
    ] {
        let out = app.cli(cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(err.contains("app.toml"), "{err}");
        assert!(err.contains("m5"), "the 6th micro is named: {err}");
    }
    let ok = AppDir::new(&micros(5));
    let out = ok.cli(&["validate", "app.toml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn s2_six_actions_are_refused_naming_the_micro_and_the_sixth() {
    let mut s = String::from(
        "[app]\nname = \"acts\"\n\n[[micro]]\nname = \"api\"\ncomponent = \"api.wasm\"\n",
    );
    for i in 0..6 {
        s += &format!(
            "\n[[micro.action]]\nid = \"a{i}\"\nname = \"Action {i}\"\ninterval = \"{} minutes\"\n",
            i + 2
        );
    }
    let out = AppDir::new(&s).cli(&["validate", "app.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("api") && err.contains("a5"), "{err}");
}

#[test]
fn validate_reports_every_error_with_line_and_column() {
    let text = "[app]\nname = \"Bad Name\"\ncolour = \"red\"\n\n[limits]\ntimeout = \"soon\"\n\n[[micro]]\nname = \"api\"\ncomponent = \"api.wasm\"\n\n[[micro.action]]\nid = \"x\"\nname = \"X\"\ninterval = \"61 * * * *\"\n\n[micro.env]\nPORT = \"1\"\n";
    let out = AppDir::new(text).cli(&["validate", "app.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for (line, what) in [
        (2, "name"),
        (3, "colour"),
        (6, "timeout"),
        (15, "61"),
        (18, "PORT"),
    ] {
        // The message line itself names what is wrong.
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("app.toml:{line}:")) && l.contains(what)),
            "no error at line {line} naming {what:?} in:\n{err}"
        );
    }
}

#[test]
fn a_valid_manifest_validates() {
    let text = "[app]\nname = \"notes\"\n\n[[micro]]\nname = \"api\"\ncomponent = \"api.wasm\"\n\n[[micro.action]]\nid = \"tick\"\nname = \"Tick\"\ninterval = \"0/15 * * * *\"\n";
    let out = AppDir::new(text).cli(&["validate", "app.toml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
}

/// The first ```toml block after `heading` in the repo file `doc`.
fn toml_example(doc: &str, heading: &str) -> String {
    let text = std::fs::read_to_string(crate::harness::repo().join(doc)).unwrap();
    let at = text
        .find(heading)
        .unwrap_or_else(|| panic!("{doc} has no heading {heading:?}"));
    text[at..]
        .split("\n```toml\n")
        .nth(1)
        .and_then(|block| block.split("\n```\n").next())
        .unwrap_or_else(|| panic!("{doc} has no ```toml block after {heading:?}"))
        .to_string()
}

/// The `app.toml` examples users copy from — the README's and the spec's — are valid.
#[test]
fn the_documented_app_toml_examples_validate() {
    for (doc, heading) in [
        ("README.md", "## `app.toml` in brief"),
        ("docs/spec.md", "## §3 `app.toml`"),
    ] {
        let app = AppDir::new(&toml_example(doc, heading));
        let out = app.cli(&["validate"]);
        assert!(
            out.status.success(),
            "{doc}'s example: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));
    }
}
