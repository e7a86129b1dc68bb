//! The Spacefile's rules (Deta Space, `v: 0`): reads the marked YAML into a [`Spacefile`],
//! reporting every violation at once at its key or value. Also refuses what app.toml cannot
//! hold (more than five Micros or five actions a Micro, names past 32 characters, intervals
//! micro-wasm's scheduler would not run), so the written app.toml validates.

use saphyr::Marker;

use super::yaml::{Ctx, Map, Node, scalar_text};
use crate::manifest::RESERVED_ENV;
use crate::manifest::interval::Interval;

const ROOT_KEYS: &[&str] = &["v", "app_name", "icon", "micros", "auto_pwa"];
const MICRO_KEYS: &[&str] = &[
    "name",
    "src",
    "engine",
    "primary",
    "path",
    "serve",
    "commands",
    "include",
    "run",
    "dev",
    "presets",
    "public_routes",
    "public",
    "actions",
];
const PRESET_KEYS: &[&str] = &["env", "api_keys"];
const ENV_KEYS: &[&str] = &["name", "description", "default"];
const ACTION_KEYS: &[&str] = &["id", "name", "description", "trigger", "default_interval"];
/// The engines of Deta's Spacefile reference.
pub(super) const ENGINES: &[&str] = &[
    "static",
    "react",
    "svelte",
    "vue",
    "next",
    "nuxt",
    "svelte-kit",
    "python3.9",
    "python3.8",
    "nodejs16",
    "custom",
];
const MAX_MICROS: usize = 5;
const MAX_ACTIONS: usize = 5;
const MAX_DESCRIPTION: usize = 142;
const MAX_NAME: usize = 32;

/// A Spacefile as read.
#[derive(Debug, Default)]
pub(super) struct Spacefile {
    pub app_name: Option<String>,
    pub icon: Option<String>,
    pub auto_pwa: Option<bool>,
    pub micros: Vec<Micro>,
}

#[derive(Debug, Default)]
pub(super) struct Micro {
    /// Lowercased: app.toml's names are `[a-z0-9-]`.
    pub name: String,
    /// As written, when lowercasing changed it.
    pub name_written: Option<String>,
    pub src: String,
    pub engine: String,
    pub primary: bool,
    pub path: Option<String>,
    pub public: bool,
    pub public_routes: Vec<String>,
    pub serve: Option<String>,
    pub commands: Vec<String>,
    pub include: Vec<String>,
    pub run: Option<String>,
    pub dev: Option<String>,
    pub env: Vec<EnvVar>,
    pub api_keys: bool,
    pub actions: Vec<Action>,
}

#[derive(Debug)]
pub(super) struct EnvVar {
    pub name: String,
    pub description: Option<String>,
    pub default: Option<String>,
}

#[derive(Debug)]
pub(super) struct Action {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// In app.toml's grammar.
    pub interval: String,
    /// `default_interval` as written, when the translation changed it.
    pub interval_written: Option<String>,
    pub id_at: Marker,
    pub name_at: Marker,
}

/// Reads the root node; the diagnostics are in `cx`.
pub(super) fn spacefile(cx: &mut Ctx, root: &Node) -> Spacefile {
    let mut out = Spacefile::default();
    let Some(map) = cx.map(root, "the Spacefile".into()) else {
        return out;
    };
    cx.check_keys(&map, ROOT_KEYS);
    match cx.required(&map, "v") {
        Some((v, _)) if v == "0" => {}
        Some((v, at)) => cx.error(
            at,
            format!("Spacefile version `{v}` is not known; only 0 is"),
        ),
        None => {}
    }
    out.app_name = cx.string(&map, "app_name").map(|(s, _)| s);
    out.icon = cx.string(&map, "icon").map(|(s, _)| s);
    out.auto_pwa = cx.boolean(&map, "auto_pwa").map(|(b, _)| b);
    if map.get("micros").is_none() {
        cx.error(map.at, "the Spacefile is missing required key `micros`");
        return out;
    }
    let Some(items) = cx.list(&map, "micros") else {
        return out;
    };
    let micros_at = map
        .entries
        .iter()
        .find(|(k, _, _)| *k == "micros")
        .map_or(map.at, |(_, at, _)| *at);
    if items.is_empty() {
        cx.error(micros_at, "`micros` lists no micro; an app has 1 to 5");
    }
    for (i, item) in items.iter().enumerate() {
        if i == MAX_MICROS {
            let msg = format!(
                "micro #{} is one too many: an app has at most {MAX_MICROS} micros",
                i + 1
            );
            cx.error(item.span.start, msg);
        }
        let primary_at = micro(cx, item, i, &mut out.micros);
        if let Some(at) = primary_at
            && out.micros.iter().filter(|m| m.primary).count() > 1
        {
            cx.error(
                at,
                "a second micro is primary; exactly one micro may be primary",
            );
        }
    }
    if out.micros.len() > 1 && !out.micros.iter().any(|m| m.primary) {
        cx.error(
            micros_at,
            "no micro is primary; with several micros exactly one needs `primary: true`",
        );
    }
    if let [only] = out.micros.as_mut_slice() {
        only.primary = true;
    }
    unique_actions(cx, &out.micros);
    out
}

/// Reads micro `i` into `micros`; returns where `primary: true` was written, if it was.
fn micro(cx: &mut Ctx, node: &Node, i: usize, micros: &mut Vec<Micro>) -> Option<Marker> {
    let map = cx.map(node, format!("micro #{}", i + 1))?;
    let name = cx.required(&map, "name");
    let label = name
        .as_ref()
        .map_or_else(|| map.what.clone(), |(n, _)| format!("micro `{n}`"));
    let map = Map { what: label, ..map };
    cx.check_keys(&map, MICRO_KEYS);
    let mut m = Micro::default();
    if let Some((n, at)) = name {
        m.name = micro_name(cx, &n, at, micros);
        m.name_written = (m.name != n).then_some(n);
    }
    m.src = cx.required(&map, "src").map(|(s, _)| s).unwrap_or_default();
    if let Some((e, at)) = cx.required(&map, "engine") {
        if !ENGINES.contains(&e.as_str()) {
            let msg = format!(
                "unknown engine `{e}`; Deta's engines: {}",
                ENGINES.join(", ")
            );
            cx.error(at, msg);
        }
        m.engine = e;
    }
    let primary = cx.boolean(&map, "primary");
    m.primary = primary.is_some_and(|(b, _)| b);
    m.path = cx
        .string(&map, "path")
        .map(|(s, at)| micro_path(cx, &s, at));
    m.public = cx.boolean(&map, "public").is_some_and(|(b, _)| b);
    m.public_routes = cx
        .strings(&map, "public_routes")
        .into_iter()
        .map(|(r, _)| {
            if r.starts_with('/') {
                r
            } else {
                format!("/{r}")
            }
        })
        .collect();
    m.serve = cx.string(&map, "serve").map(|(s, _)| s);
    m.commands = cx
        .strings(&map, "commands")
        .into_iter()
        .map(|s| s.0)
        .collect();
    m.include = cx
        .strings(&map, "include")
        .into_iter()
        .map(|s| s.0)
        .collect();
    m.run = cx.string(&map, "run").map(|(s, _)| s);
    m.dev = cx.string(&map, "dev").map(|(s, _)| s);
    if let Some(node) = map.get("presets") {
        presets(cx, node, &mut m, &map.what);
    }
    if let Some(list) = cx.list(&map, "actions") {
        for (j, a) in list.iter().enumerate() {
            if j == MAX_ACTIONS {
                let msg = format!("a micro has at most {MAX_ACTIONS} actions in micro-wasm");
                cx.error(a.span.start, msg);
            }
            if let Some(a) = action(cx, a, &map.what) {
                m.actions.push(a);
            }
        }
    }
    micros.push(m);
    primary.filter(|(b, _)| *b).map(|(_, at)| at)
}

/// Deta's rule (alphanumerics and `-`, starting alphanumeric), at most 32 characters,
/// unique; returned lowercased.
fn micro_name(cx: &mut Ctx, name: &str, at: Marker, micros: &[Micro]) -> String {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok_chars || name.starts_with('-') {
        let msg = format!(
            "micro name `{name}` may only hold letters, digits and `-`, and must start with a \
             letter or digit"
        );
        cx.error(at, msg);
    } else if name.len() > MAX_NAME {
        let msg = format!("micro name `{name}` is longer than micro-wasm's {MAX_NAME} characters");
        cx.error(at, msg);
    }
    let lower = name.to_ascii_lowercase();
    if micros.iter().any(|m| m.name == lower) {
        cx.error(
            at,
            format!("micro name `{name}` is used twice; names must be unique"),
        );
    }
    lower
}

/// `api`, `/api/` → `/api`; what app.toml's path rules refuse is reported here.
fn micro_path(cx: &mut Ctx, path: &str, at: Marker) -> String {
    let trimmed = path.trim().trim_matches('/');
    let p = format!("/{trimmed}");
    let bad = if trimmed.is_empty() {
        Some("is empty")
    } else if p.split('/').skip(1).any(str::is_empty) {
        Some("has an empty segment")
    } else if p.contains(|c: char| c == '?' || c == '#' || c.is_whitespace() || c.is_control()) {
        Some("holds `?`, `#`, whitespace or a control character")
    } else if p.starts_with("/__space") {
        Some("is under /__space, which belongs to the runtime")
    } else {
        None
    };
    if let Some(why) = bad {
        cx.error(at, format!("path `{path}` {why}"));
    }
    p
}

fn presets(cx: &mut Ctx, node: &Node, m: &mut Micro, label: &str) {
    let Some(map) = cx.map(node, format!("the presets of {label}")) else {
        return;
    };
    cx.check_keys(&map, PRESET_KEYS);
    m.api_keys = cx.boolean(&map, "api_keys").is_some_and(|(b, _)| b);
    for (k, item) in cx.list(&map, "env").unwrap_or_default().iter().enumerate() {
        let what = format!("env preset #{} of {label}", k + 1);
        let Some(e) = cx.map(item, what) else {
            continue;
        };
        cx.check_keys(&e, ENV_KEYS);
        let Some((name, at)) = cx.required(&e, "name") else {
            continue;
        };
        if name.contains(['=', '\0']) {
            cx.error(at, format!("env name `{name}` holds `=` or NUL"));
        } else if RESERVED_ENV.contains(&name.as_str()) {
            let msg = format!("env name `{name}` is reserved: the runtime sets it (SPEC §5)");
            cx.error(at, msg);
        }
        let default = match e.get("default") {
            Some(v) => match scalar_text(v, true) {
                Some(s) => Some(s),
                None => {
                    let msg = format!("`default` of env `{name}` must be a string");
                    cx.error(v.span.start, msg);
                    None
                }
            },
            None => None,
        };
        let description = cx.string(&e, "description").map(|(s, _)| s);
        m.env.push(EnvVar {
            name,
            description,
            default,
        });
    }
}

fn action(cx: &mut Ctx, node: &Node, label: &str) -> Option<Action> {
    let map = cx.map(node, format!("an action of {label}"))?;
    cx.check_keys(&map, ACTION_KEYS);
    let id = cx.required(&map, "id");
    let name = cx.required(&map, "name");
    let description = cx.string(&map, "description").map(|(s, at)| {
        if s.chars().count() > MAX_DESCRIPTION {
            let msg = format!("action description is longer than {MAX_DESCRIPTION} characters");
            cx.error(at, msg);
        }
        s
    });
    if let Some((t, at)) = cx.required(&map, "trigger")
        && t != "schedule"
    {
        cx.error(
            at,
            format!("action trigger `{t}` is not known; it must be `schedule`"),
        );
    }
    let (written, at) = cx.required(&map, "default_interval")?;
    let interval = translate_interval(&written);
    if let Err(e) = Interval::parse(&interval) {
        cx.error(at, format!("default_interval `{written}`: {e}"));
    }
    let ((id, id_at), (name, name_at)) = (id?, name?);
    Some(Action {
        id,
        name,
        id_at,
        name_at,
        description,
        interval_written: (interval != written).then_some(written),
        interval,
    })
}

/// Deta's interval in app.toml's grammar: the same rates and 5-field UTC crons, except that
/// Deta allowed `?` ("no specific value") in day-of-month or day-of-week, which is `*` here;
/// runs of spaces become one.
pub(super) fn translate_interval(s: &str) -> String {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return fields.join(" ");
    }
    fields
        .iter()
        .map(|f| if *f == "?" { "*" } else { f })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Action ids and names are unique across the app (Deta's rule and app.toml's).
fn unique_actions(cx: &mut Ctx, micros: &[Micro]) {
    let all: Vec<&Action> = micros.iter().flat_map(|m| &m.actions).collect();
    for (i, a) in all.iter().enumerate() {
        if all[..i].iter().any(|b| b.id == a.id) {
            cx.error(a.id_at, format!("action id `{}` is used twice", a.id));
        }
        if all[..i].iter().any(|b| b.name == a.name) {
            cx.error(a.name_at, format!("action name `{}` is used twice", a.name));
        }
    }
}
