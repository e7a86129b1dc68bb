//! One failing case per rule of SPEC §3, each checked for its message and its line:col.

use super::*;

#[test]
fn toml_syntax_error_is_located() {
    fails("[app]\nname = \"a\"\nversion = \n", 3, 11, "invalid TOML");
    fails("[app]\nname = \"a\"\nname = \"b\"\n", 3, 1, "duplicate key");
}

#[test]
fn unknown_keys_are_named_with_suggestions() {
    fails(
        &format!("{BASE}compnent = \"x\"\n"),
        7,
        1,
        "unknown key `compnent` in [[micro]] `api`; did you mean `component`?",
    );
    fails(
        &format!("{BASE}[micro.limits]\ntimout = \"1s\"\n"),
        8,
        1,
        "did you mean `timeout`?",
    );
    fails(
        "apps = 1\n[app]\nname = \"a\"\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        1,
        1,
        "unknown key `apps` in the top level; did you mean `app`?",
    );
    fails(
        &format!("[app]\nname = \"a\"\n  nam = 2\n{}", &BASE[17..]),
        3,
        3,
        "did you mean `name`?",
    );
    fails(
        &format!("{BASE}[micro.presets]\n"),
        7,
        8,
        "unknown key `presets` in [[micro]] `api`; did you mean `env`?",
    );
    fails(
        &format!(
            "{BASE}[[micro.action]]\nid = \"x\"\nname = \"y\"\ninterval = \"1 day\"\nwhen = 1\n"
        ),
        11,
        1,
        "unknown key `when` in [[micro.action]] `x` of micro `api`; expected one of: id, name, description, interval",
    );
}

#[test]
fn wrong_types_name_key_and_expected_type() {
    fails(
        "[app]\nname = 1\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        2,
        8,
        "`name` in [app] must be a string, found integer",
    );
    fails(
        &format!("{BASE}public = \"yes\"\n"),
        7,
        10,
        "`public` in [[micro]] `api` must be a boolean (true or false), found string",
    );
    fails(
        &format!("{BASE}outbound = \"https://x\"\n"),
        7,
        12,
        "must be a list of strings, found string",
    );
    fails(
        &format!("{BASE}outbound = [\"a\", 2]\n"),
        7,
        18,
        "must be a list of strings, found an integer in it",
    );
    fails(
        &format!("{BASE}env = [1]\n"),
        7,
        7,
        "`env` in [[micro]] `api` must be a table, found array",
    );
    fails(
        "[app]\nname = \"a\"\n[micro]\nname = \"x\"\ncomponent = \"c\"\n",
        3,
        1,
        "`micro` in the top level must be an array of tables ([[micro]]), found table",
    );
    fails(
        &format!("{BASE}[micro.action]\nid = \"x\"\n"),
        7,
        1,
        "must be an array of tables ([[micro.action]])",
    );
    fails(
        "app = 3\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        1,
        7,
        "`app` in the top level must be a table",
    );
}

#[test]
fn app_name_and_auth() {
    fails(
        "[app]\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        1,
        1,
        "[app] is missing required key `name`",
    );
    fails(
        "[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        1,
        1,
        "missing [app] table",
    );
    fails(
        "[app]\nname = \"Notes\"\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        2,
        8,
        "app name `Notes` must be 1-32 characters",
    );
    fails(
        &format!(
            "[app]\nname = \"{}\"\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
            "a".repeat(33)
        ),
        2,
        8,
        "1-32 characters",
    );
    fails(
        "[app]\nname = \"\"\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        2,
        8,
        "`name` in [app] must not be empty",
    );
    fails(
        "[app]\nname = \"a\"\nauth = \"basic\"\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        3,
        8,
        "auth `basic` is not known; use \"none\" or \"api-key\"",
    );
    let m = ok(&BASE.replace(
        "name = \"a\"\n",
        "name = \"a-1\"\nauth = \"none\"\nversion = \"2\"\n",
    ));
    assert_eq!(
        (m.app.name.as_str(), m.app.auth, m.app.version.as_str()),
        ("a-1", Auth::None, "2")
    );
}

#[test]
fn micro_name_and_component() {
    fails(
        "[app]\nname = \"a\"\n[[micro]]\ncomponent = \"c\"\n",
        3,
        1,
        "[[micro]] #1 is missing required key `name`",
    );
    fails(
        "[app]\nname = \"a\"\n[[micro]]\nname = \"x\"\n",
        3,
        1,
        "[[micro]] `x` is missing required key `component`",
    );
    fails(
        &BASE.replace("\"api\"", "\"-api\""),
        5,
        8,
        "micro name `-api` must match ^[a-z0-9][a-z0-9-]{0,31}$",
    );
    fails(&BASE.replace("\"api\"", "\"API\""), 5, 8, "must match");
    fails(
        &two("").replace("\"b\"", "\"web\""),
        8,
        8,
        "micro name `web` is used twice",
    );
    fails(
        &BASE.replace("\"api.wasm\"", "\"\""),
        6,
        13,
        "`component` in [[micro]] `api` must not be empty",
    );
}

#[test]
fn primary_rules() {
    let m = ok(&two(""));
    assert_eq!((m.micros[0].primary, m.micros[1].primary), (true, false));
    assert_eq!(
        (m.micros[0].path.as_str(), m.micros[1].path.as_str()),
        ("/", "/b")
    );
    fails(
        &two("").replace("primary = true\n", ""),
        3,
        1,
        "no micro is primary",
    );
    fails(
        &two("primary = true\n"),
        10,
        11,
        "micro `b` is primary, and so is micro `web`",
    );
    fails(
        &format!("{BASE}primary = false\n"),
        7,
        11,
        "the app's only micro, so it is the primary",
    );
    fails(
        &format!("{BASE}path = \"/x\"\n"),
        7,
        8,
        "micro `api` is the primary, served at `/`; remove `path = \"/x\"`",
    );
    assert_eq!(ok(&format!("{BASE}path = \"/\"\n")).micros[0].path, "/");
}

#[test]
fn path_rules() {
    assert_eq!(ok(&two("path = \"/b/c\"\n")).micros[1].path, "/b/c");
    fails(
        &two("path = \"b\"\n"),
        10,
        8,
        "path `b` of micro `b` must start with `/`",
    );
    fails(&two("path = \"/b/\"\n"), 10, 8, "must not end with `/`");
    fails(
        &two("path = \"/\"\n"),
        10,
        8,
        "only the primary micro is served at `/`",
    );
    fails(&two("path = \"/__space/x\"\n"), 10, 8, "reserved");
    fails(&two("path = \"/__spaces\"\n"), 10, 8, "reserved");
    fails(&two("path = \"/a//b\"\n"), 10, 8, "empty segment");
    fails(&two("path = \"/a b\"\n"), 10, 8, "whitespace");
    let third = |p1: &str, p2: &str| {
        two(&format!(
            "path = \"{p1}\"\n[[micro]]\nname = \"c\"\ncomponent = \"c.wasm\"\npath = \"{p2}\"\n"
        ))
    };
    fails(
        &third("/api", "/api"),
        14,
        8,
        "path `/api` of micro `c` is already the path of micro `b`",
    );
    fails(
        &third("/api", "/api/v2"),
        14,
        8,
        "path `/api/v2` of micro `c` overlaps path `/api` of micro `b`",
    );
    fails(&third("/api/v2", "/api"), 14, 8, "overlaps");
    ok(&third("/api", "/apix"));
    // A default path collides with an explicit one: blamed on the later micro's name.
    fails(
        &third("/c", "/z").replace("path = \"/z\"\n", ""),
        12,
        8,
        "path `/c` of micro `c` is already the path of micro `b`",
    );
}

#[test]
fn public_routes_and_outbound() {
    let m = ok(&format!(
        "{BASE}public_routes = [\"/a\", \"/b/*\"]\noutbound = [\"https://x\"]\n"
    ));
    assert_eq!(m.micros[0].public_routes, ["/a", "/b/*"]);
    fails(
        &format!("{BASE}public_routes = [\"/a\", \"b\"]\n"),
        7,
        24,
        "public route `b` of micro `api` must start with `/`",
    );
    fails(
        &format!("{BASE}outbound = [\"\"]\n"),
        7,
        13,
        "`outbound` entries of micro `api` must not be empty",
    );
}

fn action(fields: &str) -> String {
    format!("{BASE}[[micro.action]]\n{fields}")
}

#[test]
fn action_rules() {
    fails(
        &action("name = \"n\"\ninterval = \"1 day\"\n"),
        7,
        1,
        "[[micro.action]] #1 of micro `api` is missing required key `id`",
    );
    fails(
        &action("id = \"i\"\ninterval = \"1 day\"\n"),
        7,
        1,
        "missing required key `name`",
    );
    fails(
        &action("id = \"i\"\nname = \"n\"\n"),
        7,
        1,
        "missing required key `interval`",
    );
    let long = "d".repeat(143);
    fails(
        &action(&format!(
            "id = \"i\"\nname = \"n\"\ninterval = \"1 day\"\ndescription = \"{long}\"\n"
        )),
        11,
        15,
        "`description` in [[micro.action]] `i` of micro `api` is 143 characters; at most 142",
    );
    let ok142 = action(&format!(
        "id = \"i\"\nname = \"n\"\ninterval = \"1 day\"\ndescription = \"{}\"\n",
        "é".repeat(142)
    ));
    assert_eq!(
        ok(&ok142).micros[0].actions[0]
            .description
            .as_ref()
            .map(|d| d.chars().count()),
        Some(142)
    );
    // The column points at the bad cron field inside the string.
    fails(
        &action("id = \"i\"\nname = \"n\"\ninterval = \"0 24 * * *\"\n"),
        10,
        15,
        "invalid interval \"0 24 * * *\" in [[micro.action]] `i` of micro `api`: hour 24 out of range 0-23",
    );
    fails(
        &action("id = \"i\"\nname = \"n\"\ninterval = \"1 minutes\"\n"),
        10,
        15,
        "write \"1 minute\", not \"1 minutes\"",
    );
    fails(
        &action("id = \"i\"\nname = \"n\"\ninterval = \"0 0 \\u0031 * mon\"\n"),
        10,
        12,
        "cannot both be restricted",
    );
}

#[test]
fn action_ids_and_names_are_unique_across_the_app() {
    let act = |id: &str, name: &str| {
        format!("[[micro.action]]\nid = \"{id}\"\nname = \"{name}\"\ninterval = \"1 day\"\n")
    };
    let text = two(&format!("{}{}", act("x", "X"), act("y", "Y")));
    assert_eq!(ok(&text).micros[1].actions.len(), 2);
    let text = format!("{}{}", two(&act("x", "X")), act("x", "Y"));
    fails(
        &text,
        15,
        6,
        "action id `x` is already used by an action of micro `b`",
    );
    let text = two(&format!("{}{}", act("x", "X"), act("y", "X")));
    fails(
        &text,
        16,
        8,
        "action name \"X\" is already used by an action of micro `b`",
    );
    let mut text = two("");
    text = text.replacen(
        "primary = true\n",
        &format!("primary = true\n{}", act("x", "X")),
        1,
    );
    fails(
        &format!("{text}{}", act("x", "Z")),
        15,
        6,
        "action id `x` is already used by an action of micro `web`",
    );
}

#[test]
fn env_rules() {
    fails(
        &format!("{BASE}[micro.env]\nPORT = \"1\"\n"),
        8,
        1,
        "env name `PORT` in [micro.env] of `api` is reserved",
    );
    for name in RESERVED_ENV {
        let d = errors(&format!("{BASE}[micro.env]\n{name} = \"1\"\n"));
        assert!(d[0].message.contains("reserved"), "{name}");
    }
    fails(
        &format!("{BASE}[micro.env]\nN = 1\n"),
        8,
        5,
        "env `N` in [micro.env] of `api` must be a string, found integer",
    );
    fails(
        &format!("{BASE}[micro.env]\n\"A=B\" = \"1\"\n"),
        8,
        1,
        "must be non-empty and contain no `=` or NUL",
    );
    fails(
        &format!("{BASE}[micro.env]\n\"\" = \"1\"\n"),
        8,
        1,
        "env name \"\"",
    );
    fails(
        &format!("{BASE}[micro.env]\n\"A\\u0000\" = \"1\"\n"),
        8,
        1,
        "contain no `=` or NUL",
    );
    let m = ok(&format!(
        "{BASE}env = {{ Z = \"1\", port = \"lower is fine\" }}\n"
    ));
    assert_eq!(m.micros[0].env.len(), 2);
}

#[test]
fn limits_rules() {
    let lim = |body: &str| format!("{BASE}[micro.limits]\n{body}\n");
    let m = ok(&lim(
        "memory = 2097152\ntmp = 0\ninstances = 1\nconcurrency = 1_000\npayload = \"1kB\"",
    ));
    let l = &m.micros[0].limits;
    assert_eq!(
        (l.memory, l.tmp, l.instances, l.concurrency, l.payload),
        (2 << 20, 0, 1, 1000, 1000)
    );
    fails(
        &lim("timeout = \"0s\""),
        8,
        11,
        "`timeout` in [micro.limits] of `api` must be more than 0",
    );
    fails(
        &lim("sleep_after = \"0ms\""),
        8,
        15,
        "`sleep_after` in [micro.limits] of `api` must be more than 0",
    );
    fails(
        &lim("timeout = 20"),
        8,
        11,
        "must be a duration string like \"20s\", found integer",
    );
    fails(
        &lim("timeout = \"20 sec\""),
        8,
        11,
        "unknown duration unit `sec`",
    );
    fails(
        &lim("memory = \"512KiB\""),
        8,
        10,
        "`memory` in [micro.limits] of `api` is 524288 bytes; at least 1MiB",
    );
    fails(
        &lim("memory = \"5 megs\""),
        8,
        10,
        "unknown size unit `megs`",
    );
    fails(
        &lim("tmp = -1"),
        8,
        7,
        "`tmp` in [micro.limits] of `api` must not be negative",
    );
    fails(
        &lim("tmp = 1.5"),
        8,
        7,
        "must be a size like \"512MiB\" or a number of bytes, found float",
    );
    fails(
        &lim("payload = \"0B\""),
        8,
        11,
        "`payload` in [micro.limits] of `api` must be more than 0",
    );
    fails(
        &lim("instances = 0"),
        8,
        13,
        "`instances` in [micro.limits] of `api` must be between 1 and 4294967295",
    );
    fails(&lim("concurrency = -3"), 8, 15, "must be between 1");
    fails(&lim("concurrency = 4294967296"), 8, 15, "must be between 1");
    fails(
        &lim("instances = \"8\""),
        8,
        13,
        "`instances` in [micro.limits] of `api` must be an integer, found string",
    );
    fails(
        "[app]\nname = \"a\"\n[limits]\nmemory = \"1B\"\n[[micro]]\nname = \"x\"\ncomponent = \"c\"\n",
        4,
        10,
        "`memory` in [limits] is 1 bytes",
    );
}

#[test]
fn all_errors_are_reported_together_in_source_order() {
    let text = "[app]\nname = \"Bad\"\ncolour = 1\n\n[[micro]]\nname = \"api\"\ncomponent = 3\n\
                [micro.env]\nTMPDIR = \"x\"\n[[micro.action]]\nid = \"i\"\nname = \"n\"\ninterval = \"* * * * * *\"\n";
    let got: Vec<(usize, usize)> = errors(text).iter().map(|d| (d.line, d.col)).collect();
    assert_eq!(got, [(2, 8), (3, 1), (7, 13), (9, 1), (13, 23)]);
}
