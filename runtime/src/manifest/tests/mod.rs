//! Tests of `app.toml` parsing and validation: whole manifests, defaults, S1 and S2 (named
//! `s1_…`/`s2_…`), rendering and loading. Per-rule failing cases are in `rules`.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod rules;

use super::*;
use crate::manifest::interval::{Interval, RateUnit};

const BASE: &str = "[app]\nname = \"a\"\n\n[[micro]]\nname = \"api\"\ncomponent = \"api.wasm\"\n";

fn ok(text: &str) -> Manifest {
    parse(Path::new("app/app.toml"), text).unwrap_or_else(|e| panic!("expected valid:\n{e}"))
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse(Path::new("app.toml"), text) {
        Ok(m) => panic!("expected errors, got {m:?}"),
        Err(ManifestError::Invalid(d)) => d,
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Asserts that `text` fails with exactly one error, at `line:col`, containing `needle`.
#[track_caller]
fn fails(text: &str, line: usize, col: usize, needle: &str) {
    let d = errors(text);
    let all: Vec<String> = d
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
        .collect();
    assert_eq!(d.len(), 1, "expected one error, got {all:#?}");
    assert_eq!((d[0].line, d[0].col), (line, col), "{all:#?}");
    assert!(
        d[0].message.contains(needle),
        "{:?} lacks {needle:?}",
        d[0].message
    );
}

/// Two micros, `web` primary; `extra` is appended to the second micro (`b`, no path).
fn two(extra: &str) -> String {
    format!(
        "[app]\nname = \"a\"\n[[micro]]\nname = \"web\"\ncomponent = \"w.wasm\"\nprimary = true\n\
         [[micro]]\nname = \"b\"\ncomponent = \"b.wasm\"\n{extra}"
    )
}

#[test]
fn full_example_parses_to_expected_values() {
    let m = ok(include_str!("../testdata/full.toml"));
    assert_eq!(m.path, PathBuf::from("app/app.toml"));
    assert_eq!(m.dir, PathBuf::from("app"));
    let app = AppSection {
        name: "notes".into(),
        version: "1.2.0".into(),
        hostname: Some("notes.example".into()),
        auth: Auth::ApiKey,
        store: None,
    };
    assert_eq!(m.app, app);
    assert_eq!(m.micros.len(), 2);
    let api = &m.micros[0];
    assert_eq!(api.name, "api");
    assert_eq!(api.component, PathBuf::from("app/api/api.wasm"));
    assert_eq!(api.src, PathBuf::from("app/api"));
    assert!(!api.primary);
    assert_eq!(api.path, "/api");
    assert!(!api.public);
    assert_eq!(api.public_routes, ["/share/*"]);
    assert_eq!(
        api.build.as_deref(),
        Some("cargo build --release --target wasm32-wasip2")
    );
    assert_eq!(
        api.outbound,
        ["https://api.example.com", "postgres://db.internal:5432"]
    );
    assert!(!api.reuse);
    let env = [("GREETING", "hello"), ("ALPHA", "first")].map(|(k, v)| (k.into(), v.into()));
    assert_eq!(api.env, env, "file order, not sorted");
    let limits = Limits {
        timeout: Duration::from_secs(5),
        memory: 1 << 20,
        tmp: 256 << 20,
        payload: 5_500_000,
        instances: 1024,
        concurrency: 100,
        sleep_after: Duration::from_secs(90),
        warm_memory: 1 << 30,
        open_files: 256,
        micro_open_files: 1024,
    };
    assert_eq!(api.limits, limits);
    assert_eq!(api.actions.len(), 2);
    let a = &api.actions[0];
    assert_eq!((a.id.as_str(), a.name.as_str()), ("cleanup", "Clean up"));
    assert_eq!(a.description.as_deref(), Some("Drops stale rows"));
    assert_eq!(a.interval_text, "0/15 * * * *");
    assert_eq!(
        a.interval,
        Interval::parse("0,15,30,45 * * * *").expect("cron")
    );
    let d = &api.actions[1];
    assert_eq!(
        d.interval,
        Interval::Rate {
            every: 1,
            unit: RateUnit::Day
        }
    );
    assert_eq!(d.description, None);

    let web = &m.micros[1];
    assert_eq!(web.name, "web");
    assert!(web.primary && web.public && web.reuse);
    assert_eq!(web.path, "/");
    assert_eq!(web.component, PathBuf::from("app/web.wasm"));
    assert_eq!(
        web.src,
        PathBuf::from("app"),
        "default src is the component's dir"
    );
    assert_eq!(
        (web.limits.timeout, web.limits.memory),
        (Duration::from_secs(20), 512 << 20)
    );
    assert!(web.env.is_empty() && web.actions.is_empty() && web.outbound.is_empty());
}

#[test]
fn spec_example_verbatim_only_fails_on_primary_path() {
    // SPEC §3's example sets `path = "/api"` on its only (hence primary) micro.
    fails(
        include_str!("../testdata/spec_example.toml"),
        21,
        8,
        "micro `api` is the primary, served at `/`",
    );
}

#[test]
fn minimal_app_gets_defaults() {
    let m = parse(Path::new("app.toml"), BASE).expect("valid");
    assert_eq!(m.dir, PathBuf::from("."));
    assert_eq!(m.app.version, "0.0.0");
    assert_eq!((m.app.hostname.clone(), m.app.auth), (None, Auth::None));
    let api = &m.micros[0];
    assert!(api.primary && api.reuse && !api.public);
    assert_eq!(api.path, "/");
    assert_eq!(api.component, PathBuf::from("./api.wasm"));
    assert_eq!(api.src, PathBuf::from("."));
    assert_eq!(api.limits, Limits::SEED);
}

#[test]
fn limits_resolve_micro_over_app_over_seed() {
    let app = LimitsSection {
        timeout: Some(Duration::from_secs(3)),
        memory: Some(7 << 20),
        ..Default::default()
    };
    let micro = LimitsSection {
        memory: Some(9 << 20),
        instances: Some(2),
        ..Default::default()
    };
    let l = micro.resolve(&app);
    assert_eq!(
        (l.timeout, l.memory, l.instances),
        (Duration::from_secs(3), 9 << 20, 2)
    );
    assert_eq!(
        (l.tmp, l.payload, l.concurrency),
        (512 << 20, 5_500_000, 1024)
    );
    assert_eq!(
        LimitsSection::default().resolve(&LimitsSection::default()),
        Limits::SEED
    );
}

fn micros(n: usize) -> String {
    let mut s = String::from("[app]\nname = \"a\"\n");
    for i in 0..n {
        let primary = if i == 0 { "primary = true\n" } else { "" };
        s += &format!(
            "\n[[micro]]\nname = \"{}\"\ncomponent = \"m.wasm\"\n{primary}",
            (b'a' + i as u8) as char
        );
    }
    s
}

#[test]
fn s1_six_micros_name_the_file_and_the_sixth() {
    assert_eq!(ok(&micros(5)).micros.len(), 5);
    let text = micros(6);
    fails(
        &text,
        25,
        1,
        "app has 6 micros; at most 5 are allowed (S1): `f` is the 6th",
    );
    let shown = parse(Path::new("some/app.toml"), &text)
        .expect_err("six")
        .to_string();
    assert!(
        shown.starts_with("some/app.toml:25:1: app has 6 micros"),
        "{shown}"
    );
}

#[test]
fn s1_zero_micros() {
    fails(
        "[app]\nname = \"a\"\n",
        3,
        1,
        "app has no [[micro]]; at least 1 is required",
    );
    fails(
        "micro = []\n[app]\nname = \"a\"\n",
        1,
        9,
        "app has no [[micro]]",
    );
}

fn actions(n: usize) -> String {
    let mut s = BASE.to_string();
    for i in 0..n {
        s += &format!("[[micro.action]]\nid = \"a{i}\"\nname = \"A{i}\"\ninterval = \"1 hour\"\n");
    }
    s
}

#[test]
fn s2_six_actions_name_the_micro_and_the_sixth() {
    assert_eq!(ok(&actions(5)).micros[0].actions.len(), 5);
    fails(
        &actions(6),
        27,
        1,
        "micro `api` has 6 actions; at most 5 are allowed (S2): `a5` is the 6th",
    );
}

#[test]
fn golden_many_errors() {
    let got = parse(
        Path::new("testdata/many_errors.toml"),
        include_str!("../testdata/many_errors.toml"),
    )
    .expect_err("invalid")
    .to_string();
    assert_eq!(
        got.trim_end(),
        include_str!("../testdata/many_errors.stderr").trim_end(),
        "\n{got}"
    );
}

#[test]
fn diagnostic_display_has_source_line_and_caret() {
    let e = parse(Path::new("x/app.toml"), &format!("{BASE}\tbogus = 1\n")).expect_err("bad");
    let want = "x/app.toml:7:2: unknown key `bogus` in [[micro]] `api`; expected one of: \
                name, component, src, primary, path, public, public_routes, build, outbound, reuse, env, limits, action\n  |\n7 | \tbogus = 1\n  | \t^";
    assert_eq!(e.to_string(), want);
}

#[test]
fn load_reads_the_file_or_says_why_not() {
    let missing = load(Path::new("/nonexistent/app.toml")).expect_err("missing");
    assert!(matches!(missing, ManifestError::Read { .. }));
    assert!(
        missing
            .to_string()
            .starts_with("cannot read /nonexistent/app.toml: "),
        "{missing}"
    );

    let dir = std::env::temp_dir().join(format!("micro-wasm-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("app.toml");
    std::fs::write(&path, include_str!("../testdata/full.toml")).expect("write");
    let loaded = load(&path);
    std::fs::remove_dir_all(&dir).expect("clean up");
    let m = loaded.expect("full.toml");
    assert_eq!((m.path, m.dir.clone()), (path, dir.clone()));
    assert_eq!(m.micros[0].component, dir.join("api/api.wasm"));
}

#[test]
fn columns_count_characters_and_crlf_is_trimmed() {
    let text = format!("{BASE}env = {{ \"é\" = \"1\", PORT = \"2\" }}\n").replace('\n', "\r\n");
    let d = errors(&text);
    assert_eq!(
        (d.len(), d[0].line, d[0].col),
        (1, 7, 20),
        "20 chars, 21 bytes: {d:?}"
    );
    assert_eq!(d[0].source_line, "env = { \"é\" = \"1\", PORT = \"2\" }");
}

#[test]
fn inline_tables_are_the_same_manifest() {
    let text = "app = { name = \"a\" }\n\
                micro = [{ name = \"x\", component = \"x.wasm\", action = [{ id = \"i\", \
                name = \"n\", interval = \"1 day\" }] }]\n";
    let m = ok(text);
    assert_eq!(
        (m.micros[0].name.as_str(), m.micros[0].actions.len()),
        ("x", 1)
    );
}

#[test]
fn open_file_caps_resolve_per_micro_and_must_be_positive() {
    let m = ok(&format!(
        "[limits]\nopen_files = 8\nmicro_open_files = 20\n\n{BASE}\n[micro.limits]\nopen_files = 4\n"
    ));
    let l = &m.micros[0].limits;
    assert_eq!((l.open_files, l.micro_open_files), (4, 20));
    let m = ok(BASE);
    let l = &m.micros[0].limits;
    assert_eq!((l.open_files, l.micro_open_files), (256, 1024), "defaults");
    fails(
        &format!("[limits]\nopen_files = 0\n\n{BASE}"),
        2,
        14,
        "`open_files` in [limits] must be between 1",
    );
}

#[test]
fn warm_memory_is_an_app_budget_and_each_micros_default() {
    let m = ok(BASE);
    assert_eq!(m.warm_memory, 1 << 30);
    assert_eq!(m.micros[0].limits.warm_memory, 1 << 30);
    let m = ok(&format!(
        "[limits]\nwarm_memory = \"256MiB\"\n\n{BASE}\n[micro.limits]\nwarm_memory = \"64MiB\"\n"
    ));
    assert_eq!(m.warm_memory, 256 << 20);
    assert_eq!(m.micros[0].limits.warm_memory, 64 << 20);
    let m = ok(&format!("[limits]\nwarm_memory = 0\n\n{BASE}"));
    assert_eq!(m.micros[0].limits.warm_memory, 0, "0: nothing kept warm");
}
