//! The mapping's unit tests: each Spacefile field's app.toml key, the attention lines, and
//! located errors. The golden files (tests/conformance/import/) show whole apps.

use std::path::Path;

use super::emit::{clean_src, python_module, slug};
use super::read::translate_interval;
use super::*;
use crate::manifest::{Auth, parse};

fn ok(yaml: &str) -> Imported {
    let i = import(Path::new("Spacefile"), yaml, "my-dir")
        .unwrap_or_else(|d| panic!("expected ok, got {d:#?}"));
    if let Err(e) = parse(Path::new("app.toml"), &i.app_toml) {
        panic!("the app.toml does not validate:\n{e}\n{}", i.app_toml);
    }
    i
}

fn manifest(yaml: &str) -> crate::manifest::Manifest {
    parse(Path::new("app.toml"), &ok(yaml).app_toml).unwrap()
}

/// `line:col: message` of each error.
fn errors(yaml: &str) -> Vec<String> {
    match import(Path::new("Spacefile"), yaml, "d") {
        Ok(i) => panic!("expected errors, got:\n{}", i.app_toml),
        Err(d) => d
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
            .collect(),
    }
}

const ONE: &str = "v: 0\nmicros:\n  - name: api\n    src: ./api/\n    engine: python3.9\n";

#[test]
fn a_single_python_micro_is_the_primary_built_by_componentize_py() {
    let i = ok(ONE);
    let m = manifest(ONE);
    assert_eq!(m.app.name, "my-dir", "no app_name: the directory's name");
    assert_eq!(m.app.auth, Auth::None);
    let api = &m.micros[0];
    assert!(api.primary);
    assert_eq!(api.path, "/");
    assert_eq!(api.src, m.dir.join("api"));
    assert_eq!(api.component, m.dir.join("api/api.wasm"));
    let build = api.build.as_deref().unwrap();
    assert!(build.contains("componentize main -o api.wasm"), "{build}");
    assert!(build.contains("-d ../wit"), "{build}");
    assert!(
        i.attention
            .iter()
            .any(|a| a.contains("space_wsgi.export(app)"))
    );
    assert!(i.attention.iter().any(|a| a.contains("owner's login")));
    assert!(i.app_toml.contains("# needs your attention: "));
}

#[test]
fn app_name_is_made_a_valid_name_and_kept_as_a_comment() {
    let y = format!("app_name: \"My Todo App!\"\n{ONE}");
    let i = ok(&y);
    assert!(i.app_toml.contains("name = \"my-todo-app\""));
    assert!(
        i.app_toml
            .contains("# Spacefile app_name: \"My Todo App!\"")
    );
    assert_eq!(slug("  ÄBC__x  "), "bc-x");
    assert_eq!(slug(&"a".repeat(40)).len(), 32);
}

#[test]
fn paths_public_and_public_routes_map_one_to_one() {
    let y = "v: 0\nmicros:\n  - name: web\n    src: web\n    engine: static\n    primary: true\n    public: true\n  - name: API\n    src: .\n    engine: nodejs16\n    path: api/\n    public_routes: [\"/share/*\", \"open\"]\n";
    let m = manifest(y);
    assert!(m.micros[0].public && m.micros[0].primary);
    let api = &m.micros[1];
    assert_eq!(api.name, "api", "lowercased");
    assert_eq!(api.path, "/api");
    assert_eq!(api.public_routes, ["/share/*", "/open"]);
    assert_eq!(api.component, m.dir.join("api.wasm"));
    assert_eq!(api.build.as_deref(), Some("node build.mjs"));
    let i = ok(y);
    assert!(i.app_toml.contains("# Spacefile name: \"API\""));
    assert!(i.attention.iter().any(|a| a.contains("space_static")));
}

#[test]
fn env_presets_become_micro_env_and_api_keys_the_app_auth() {
    let y = "v: 0\nmicros:\n  - name: api\n    src: api\n    engine: python3.9\n    presets:\n      api_keys: true\n      env:\n        - name: GREETING\n          description: \"what to say\\nsecond line\"\n          default: hi\n        - name: PORT_NO\n          default: 8080\n        - name: SECRET\n          description: no default\n";
    let m = manifest(y);
    assert_eq!(m.app.auth, Auth::ApiKey);
    assert_eq!(
        m.micros[0].env,
        [
            ("GREETING".to_string(), "hi".to_string()),
            ("PORT_NO".to_string(), "8080".to_string())
        ]
    );
    let i = ok(y);
    assert!(i.app_toml.contains("# what to say second line\n"));
    assert!(i.app_toml.contains("# SECRET = \"\""));
    assert!(
        i.attention
            .iter()
            .any(|a| a.contains("--env api.SECRET=VALUE"))
    );
    assert!(!i.attention.iter().any(|a| a.contains("owner's login")));
}

#[test]
fn actions_keep_their_fields_and_intervals_in_app_toml_grammar() {
    let y = "v: 0\nmicros:\n  - name: api\n    src: api\n    engine: python3.9\n    actions:\n      - id: cleanup\n        name: Clean Up\n        description: Drops stale rows\n        trigger: schedule\n        default_interval: \"0/15 * * * *\"\n      - id: weekly\n        name: Weekly\n        trigger: schedule\n        default_interval: \"0 10 ? * mon\"\n      - id: hourly\n        name: Hourly\n        trigger: schedule\n        default_interval: 1 hour\n";
    let m = manifest(y);
    let a = &m.micros[0].actions;
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].id, "cleanup");
    assert_eq!(a[0].description.as_deref(), Some("Drops stale rows"));
    assert_eq!(a[0].interval_text, "0/15 * * * *");
    assert_eq!(a[1].interval_text, "0 10 * * mon");
    assert_eq!(a[2].interval_text, "1 hour");
    assert!(
        ok(y)
            .app_toml
            .contains("# Spacefile default_interval: \"0 10 ? * mon\"")
    );
    assert_eq!(translate_interval("1  minute"), "1 minute");
}

#[test]
fn run_dev_commands_and_include_are_comments_needing_attention() {
    let y = "v: 0\nmicros:\n  - name: api\n    src: api\n    engine: custom\n    commands:\n      - go build main.go\n    include: [main]\n    run: ./main\n    dev: go run main.go\n";
    let i = ok(y);
    for needle in [
        "# Spacefile run: \"./main\"",
        "# Spacefile dev: \"go run main.go\"",
        "# Spacefile commands: [\"go build main.go\"]",
        "# Spacefile include: [\"main\"]",
    ] {
        assert!(i.app_toml.contains(needle), "{needle}:\n{}", i.app_toml);
    }
    assert_eq!(
        i.attention.iter().filter(|a| a.contains("`api`")).count(),
        5
    );
    assert!(!i.app_toml.contains("build ="), "no build for custom");
}

#[test]
fn the_python_module_comes_from_run_and_src_paths_are_cleaned() {
    assert_eq!(
        python_module(Some("uvicorn app.server:api --port 80")),
        "app.server"
    );
    assert_eq!(python_module(Some("gunicorn -b :8080 main:app")), "main");
    assert_eq!(python_module(None), "main");
    assert_eq!(clean_src("./"), ".");
    assert_eq!(clean_src("./src//python/"), "src/python");
    let y = "v: 0\nmicros:\n  - name: api\n    src: ./src/python\n    engine: python3.9\n    run: uvicorn web:app\n";
    let b = manifest(y).micros[0].build.clone().unwrap();
    assert!(
        b.contains("-d ../../wit") && b.contains("componentize web -o api.wasm"),
        "{b}"
    );
}

#[test]
fn every_error_is_reported_at_once_at_its_key_or_value() {
    let y = "v: 1\ncolour: red\nmicros:\n  - name: api\n    src: api\n    engine: rust\n    primary: yes\n    presets:\n      env:\n        - name: PORT\n    actions:\n      - id: a\n        name: A\n        trigger: webhook\n        default_interval: \"61 * * * *\"\n  - src: web\n    engine: static\n    pubic: true\n";
    assert_eq!(
        errors(y),
        [
            "1:4: Spacefile version `1` is not known; only 0 is",
            "2:1: unknown key `colour` in the Spacefile; expected one of: v, app_name, icon, micros, auto_pwa",
            "3:1: no micro is primary; with several micros exactly one needs `primary: true`",
            "6:13: unknown engine `rust`; Deta's engines: static, react, svelte, vue, next, nuxt, svelte-kit, python3.9, python3.8, nodejs16, custom",
            "7:14: `primary` in micro `api` must be a boolean (true or false), found a string",
            "10:17: env name `PORT` is reserved: the runtime sets it (SPEC §5)",
            "14:18: action trigger `webhook` is not known; it must be `schedule`",
            "15:27: default_interval `61 * * * *`: minute 61 out of range 0-59",
            "16:5: micro #2 is missing required key `name`",
            "18:5: unknown key `pubic` in micro #2; did you mean `public`?",
        ]
    );
}

#[test]
fn yaml_syntax_errors_are_located() {
    let e = errors("v: 0\nmicros:\n  - name: api\n   src: [oops\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("YAML syntax error"), "{e:?}");
    assert!(e[0].starts_with("4:") || e[0].starts_with("5:"), "{e:?}");
    assert_eq!(errors(""), ["1:1: the Spacefile is empty"]);
    assert_eq!(
        errors("- a\n"),
        ["1:1: the Spacefile must be a mapping of keys, found a list"]
    );
}

#[test]
fn six_micros_and_duplicates_are_refused() {
    let mut y = String::from("v: 0\nmicros:\n");
    for i in 0..6 {
        y += &format!(
            "  - name: m{i}\n    src: m{i}\n    engine: static\n    primary: {}\n",
            i == 0
        );
    }
    let e = errors(&y);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("23:5: micro #6 is one too many"), "{e:?}");
    let dup = "v: 0\nmicros:\n  - name: a\n    src: a\n    engine: static\n    primary: true\n  - name: A\n    src: b\n    engine: static\n    primary: true\n";
    assert_eq!(
        errors(dup),
        [
            "7:11: micro name `A` is used twice; names must be unique",
            "10:14: a second micro is primary; exactly one micro may be primary",
        ]
    );
}

#[test]
fn errors_render_with_the_file_the_line_and_a_caret() {
    let d = import(Path::new("app/Spacefile"), "v: 0\nmicros: 3\n", "d").unwrap_err();
    assert_eq!(
        d[0].to_string(),
        "app/Spacefile:2:9: `micros` in the Spacefile must be a list (lines starting with `- `), \
         found an integer\n  |\n2 | micros: 3\n  |         ^"
    );
}
