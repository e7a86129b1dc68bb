//! SPEC §8 `micro-wasm import`: the real binary turns each Spacefile under `import/CASE/` into
//! the golden `app.toml` (and `stdout`, the attention summary) beside it, which `validate`
//! accepts; a bad Spacefile gets the golden `stderr` (located, with carets) and exit 2; an
//! existing app.toml is never overwritten without `--force`.
//!
//! `MICRO_WASM_BLESS=1 cargo test --test conformance import::` rewrites the goldens from the
//! binary's output (then read the diff).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{BIN, repo};

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/conformance/import"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Spacefile").is_file())
        .collect();
    v.sort();
    v
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A scratch dir named like the case (the app's name when the Spacefile has no `app_name`)
/// holding a copy of its Spacefile.
fn scratch(case: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(case.file_name().unwrap());
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(case.join("Spacefile"), dir.join("Spacefile")).unwrap();
    (tmp, dir)
}

/// Compares `actual` with the golden file `case/name`, or rewrites it when blessing.
fn golden(case: &Path, name: &str, actual: &str, failures: &mut Vec<String>) {
    let path = case.join(name);
    if std::env::var_os("MICRO_WASM_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != actual {
        failures.push(format!(
            "{} differs from the output:\n--- want\n{want}\n--- got\n{actual}",
            path.display()
        ));
    }
}

#[test]
fn import_turns_each_spacefile_into_its_golden_app_toml_that_validates() {
    let mut failures = Vec::new();
    let mut seen = 0;
    for case in cases().iter().filter(|c| !is_error_case(c)) {
        seen += 1;
        let (_tmp, dir) = scratch(case);
        let out = run(&dir, &["import"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", case.display());
        let toml = std::fs::read_to_string(dir.join("app.toml")).unwrap();
        golden(case, "app.toml", &toml, &mut failures);
        golden(
            case,
            "stdout",
            &String::from_utf8_lossy(&out.stdout),
            &mut failures,
        );
        let v = run(&dir, &["validate", "app.toml"]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "{}: validate refused the imported app.toml:\n{}",
            case.display(),
            String::from_utf8_lossy(&v.stderr)
        );
    }
    assert!(seen >= 5, "the good cases are there ({seen})");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn is_error_case(case: &Path) -> bool {
    case.file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("err-")
}

#[test]
fn import_reports_every_error_of_a_bad_spacefile_with_carets_and_exits_2() {
    let mut failures = Vec::new();
    let mut seen = 0;
    for case in cases().iter().filter(|c| is_error_case(c)) {
        seen += 1;
        let (_tmp, dir) = scratch(case);
        let out = run(&dir, &["import", "Spacefile"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", case.display());
        assert!(
            !dir.join("app.toml").exists(),
            "nothing written for {case:?}"
        );
        golden(case, "stderr", &stderr, &mut failures);
    }
    assert!(seen >= 3, "the error cases are there ({seen})");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn import_never_overwrites_an_app_toml_without_force() {
    let case = repo().join("tests/conformance/import/single");
    let (_tmp, dir) = scratch(&case);
    std::fs::write(dir.join("app.toml"), "# mine\n").unwrap();
    let out = run(&dir, &["import"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("app.toml exists; pass --force"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("app.toml")).unwrap(),
        "# mine\n"
    );

    let out = run(&dir, &["import", "--force"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = std::fs::read_to_string(dir.join("app.toml")).unwrap();
    assert!(toml.contains("[[micro]]"), "{toml}");

    // --out names another file; it too is refused when it exists.
    let out = run(&dir, &["import", "Spacefile", "--out", "app.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&dir, &["import", "Spacefile", "--out", "other.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.join("other.toml").is_file());
}
