//! The rules of `app.toml` (SPEC §3; S1, S2, and §5's reserved env names): reads the spanned
//! document into a [`Manifest`], reporting every violation at once at its key or value.
//! Resolves paths against the manifest's directory without touching the file system.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};

mod checks;

use super::read::{Ctx, Span, Table, integer};
use super::{
    Action, AppSection, Auth, LimitsSection, Manifest, ManifestError, MicroSection, RESERVED_ENV,
    parse_duration, parse_size,
};
use crate::manifest::interval::Interval;

const ROOT_KEYS: &[&str] = &["app", "limits", "micro"];
const APP_KEYS: &[&str] = &["name", "version", "hostname", "auth", "store"];
const LIMIT_KEYS: &[&str] = &[
    "timeout",
    "memory",
    "tmp",
    "payload",
    "instances",
    "concurrency",
    "sleep_after",
    "drive",
    "warm_memory",
    "open_files",
    "micro_open_files",
];
const MICRO_KEYS: &[&str] = &[
    "name",
    "component",
    "src",
    "primary",
    "path",
    "public",
    "public_routes",
    "build",
    "outbound",
    "reuse",
    "env",
    "limits",
    "action",
];
const ACTION_KEYS: &[&str] = &["id", "name", "description", "interval"];
const MAX_MICROS: usize = 5;
const MAX_ACTIONS: usize = 5;
const MAX_DESCRIPTION: usize = 142;

/// A micro as read, with the spans the cross-micro rules need.
struct Draft {
    header: Span,
    label: String,
    name: Option<(String, Span)>,
    primary: Option<(bool, Span)>,
    path: Option<(String, Span)>,
    actions: Vec<ReadAction>,
    section: MicroSection,
}

pub(super) fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
    let mut cx = Ctx::new(path, text);
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            cx.error(
                e.span().map_or(0, |s| s.start),
                format!("invalid TOML: {}", e.message()),
            );
        }
        return Err(ManifestError::Invalid(cx.finish()));
    }
    let root = Table {
        t: root.get_ref(),
        span: 0..0,
        what: "the top level".into(),
    };
    cx.check_keys(&root, ROOT_KEYS);

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let app = match cx.table(&root, "app", "[app]".into()) {
        Some(t) => read_app(&mut cx, &t),
        None => {
            if root.get("app").is_none() {
                cx.error(0, "missing [app] table; it needs at least `name`");
            }
            None
        }
    };
    let app_limits = match cx.table(&root, "limits", "[limits]".into()) {
        Some(t) => read_limits(&mut cx, &t),
        None => LimitsSection::default(),
    };

    let micro_tables = cx.tables(&root, "micro");
    let none = "app has no [[micro]]; at least 1 is required";
    match root.get("micro") {
        None => cx.error(text.len(), none),
        Some(v) if v.get_ref().as_array().is_some_and(|a| a.is_empty()) => {
            cx.error(v.span().start, none);
        }
        Some(_) => {} // micros, or a type error already reported
    }
    let mut drafts = Vec::new();
    for (i, (t, span)) in micro_tables.into_iter().enumerate() {
        drafts.push(read_micro(&mut cx, t, span, i, &dir, &app_limits));
    }
    if drafts.len() > MAX_MICROS {
        let sixth = &drafts[MAX_MICROS];
        cx.error(
            sixth.header.start,
            format!(
                "app has {} micros; at most {MAX_MICROS} are allowed (S1): {} is the 6th",
                drafts.len(),
                sixth.label
            ),
        );
    }
    checks::names(&mut cx, &drafts);
    checks::primary(&mut cx, &mut drafts);
    checks::paths(&mut cx, &mut drafts);
    checks::actions(&mut cx, &drafts);

    match app {
        Some(app) if !cx.has_errors() => Ok(Manifest {
            path: path.to_path_buf(),
            dir,
            app,
            micros: drafts.into_iter().map(|d| d.section).collect(),
            drive_cap: app_limits.drive.unwrap_or(super::DEFAULT_DRIVE_CAP),
            warm_memory: app_limits.warm_memory.unwrap_or(super::DEFAULT_WARM_MEMORY),
        }),
        _ => Err(ManifestError::Invalid(cx.finish())),
    }
}

fn valid_app_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_micro_name(s: &str) -> bool {
    valid_app_name(s) && s.as_bytes()[0] != b'-'
}

fn read_app(cx: &mut Ctx, t: &Table) -> Option<AppSection> {
    cx.check_keys(t, APP_KEYS);
    let name = cx.required_string(t, "name");
    if let Some((n, span)) = &name
        && !valid_app_name(n)
    {
        cx.error(
            span.start,
            format!("app name `{n}` must be 1-32 characters of lowercase letters, digits and `-`"),
        );
    }
    let version = cx
        .nonempty_string(t, "version")
        .map_or_else(|| "0.0.0".to_string(), |(v, _)| v);
    let hostname = cx.nonempty_string(t, "hostname").map(|(h, span)| {
        if h.chars().any(|c| c.is_whitespace() || c == '/') {
            cx.error(
                span.start,
                format!("hostname `{h}` must not contain whitespace or `/`"),
            );
        }
        h
    });
    let auth = match cx.string(t, "auth") {
        None => Auth::None,
        Some((a, _)) if a == "none" => Auth::None,
        Some((a, _)) if a == "api-key" => Auth::ApiKey,
        Some((a, span)) => {
            cx.error(
                span.start,
                format!("auth `{a}` is not known; use \"none\" or \"api-key\""),
            );
            Auth::None
        }
    };
    let store = cx.nonempty_string(t, "store").map(|(s, span)| {
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            cx.error(
                span.start,
                "store must be a postgres:// URL (leave it out for the embedded store)".to_string(),
            );
        }
        s
    });
    Some(AppSection {
        name: name?.0,
        version,
        hostname,
        auth,
        store,
    })
}

fn read_limits(cx: &mut Ctx, t: &Table) -> LimitsSection {
    cx.check_keys(t, LIMIT_KEYS);
    let what = t.what.clone();
    let mut out = LimitsSection::default();
    for (key, _, v) in t.entries() {
        let at = v.span().start;
        match key {
            "timeout" | "sleep_after" => {
                let DeValue::String(s) = v.get_ref() else {
                    cx.error(
                        at,
                        format!(
                            "`{key}` in {what} must be a duration string like \"20s\", found {}",
                            v.get_ref().type_str()
                        ),
                    );
                    continue;
                };
                match parse_duration(s) {
                    Ok(d) if d == Duration::ZERO => {
                        cx.error(at, format!("`{key}` in {what} must be more than 0"));
                    }
                    Ok(d) if key == "timeout" => out.timeout = Some(d),
                    Ok(d) => out.sleep_after = Some(d),
                    Err(e) => cx.error(at, format!("`{key}` in {what}: {e}")),
                }
            }
            "memory" | "tmp" | "payload" | "drive" | "warm_memory" => {
                let bytes = match v.get_ref() {
                    DeValue::String(s) => {
                        parse_size(s).map_err(|e| format!("`{key}` in {what}: {e}"))
                    }
                    DeValue::Integer(_) => match integer(v.get_ref()).map(u64::try_from) {
                        Some(Ok(b)) => Ok(b),
                        _ => Err(format!("`{key}` in {what} must not be negative")),
                    },
                    other => Err(format!(
                        "`{key}` in {what} must be a size like \"512MiB\" or a number of bytes, \
                         found {}",
                        other.type_str()
                    )),
                };
                match (key, bytes) {
                    (_, Err(e)) => cx.error(at, e),
                    ("memory", Ok(b)) if b < 1 << 20 => {
                        cx.error(
                            at,
                            format!("`memory` in {what} is {b} bytes; at least 1MiB is required"),
                        );
                    }
                    ("payload", Ok(0)) => {
                        cx.error(at, format!("`payload` in {what} must be more than 0"))
                    }
                    ("memory", Ok(b)) => out.memory = Some(b),
                    ("tmp", Ok(b)) => out.tmp = Some(b),
                    ("drive", Ok(b)) => out.drive = Some(b),
                    ("warm_memory", Ok(b)) => out.warm_memory = Some(b),
                    (_, Ok(b)) => out.payload = Some(b),
                }
            }
            "instances" | "concurrency" | "open_files" | "micro_open_files" => {
                match integer(v.get_ref()).map(u32::try_from) {
                    Some(Ok(n)) if n >= 1 => match key {
                        "instances" => out.instances = Some(n),
                        "concurrency" => out.concurrency = Some(n),
                        "open_files" => out.open_files = Some(n),
                        _ => out.micro_open_files = Some(n),
                    },
                    Some(_) => cx.error(
                        at,
                        format!("`{key}` in {what} must be between 1 and {}", u32::MAX),
                    ),
                    None if matches!(v.get_ref(), DeValue::Integer(_)) => {
                        cx.error(
                            at,
                            format!("`{key}` in {what} must be between 1 and {}", u32::MAX),
                        );
                    }
                    None => cx.error(
                        at,
                        format!(
                            "`{key}` in {what} must be an integer, found {}",
                            v.get_ref().type_str()
                        ),
                    ),
                }
            }
            _ => {} // reported by check_keys
        }
    }
    out
}

fn read_micro(
    cx: &mut Ctx,
    t: &DeTable,
    header: Span,
    index: usize,
    dir: &Path,
    app_limits: &LimitsSection,
) -> Draft {
    let name_value = t
        .get("name")
        .and_then(|v| v.get_ref().as_str().map(str::to_string));
    let label = match &name_value {
        Some(n) => format!("`{n}`"),
        None => format!("#{}", index + 1),
    };
    let t = Table {
        t,
        span: header.clone(),
        what: format!("[[micro]] {label}"),
    };
    cx.check_keys(&t, MICRO_KEYS);
    let name = cx.required_string(&t, "name");
    if let Some((n, span)) = &name
        && !valid_micro_name(n)
    {
        cx.error(
            span.start,
            format!(
                "micro name `{n}` must match ^[a-z0-9][a-z0-9-]{{0,31}}$ \
                 (lowercase letters, digits and `-`, at most 32)"
            ),
        );
    }
    let component = cx
        .required_string(&t, "component")
        .map(|(c, _)| dir.join(c));
    let src = match cx.nonempty_string(&t, "src") {
        Some((s, _)) => dir.join(s),
        None => component
            .as_ref()
            .and_then(|c| c.parent())
            .map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
    };
    let primary = cx.boolean(&t, "primary");
    let path = cx.string(&t, "path");
    let public = cx.boolean(&t, "public").is_some_and(|(b, _)| b);
    let mut public_routes = Vec::new();
    for (r, span) in cx.strings(&t, "public_routes") {
        if !r.starts_with('/') {
            cx.error(
                span.start,
                format!("public route `{r}` of micro {label} must start with `/`"),
            );
        }
        public_routes.push(r);
    }
    let build = cx.nonempty_string(&t, "build").map(|(b, _)| b);
    let mut outbound = Vec::new();
    for (o, span) in cx.strings(&t, "outbound") {
        if o.trim().is_empty() {
            cx.error(
                span.start,
                format!("`outbound` entries of micro {label} must not be empty"),
            );
        }
        outbound.push(o);
    }
    let reuse = cx.boolean(&t, "reuse").is_none_or(|(b, _)| b);
    let env = match cx.table(&t, "env", format!("[micro.env] of {label}")) {
        Some(e) => read_env(cx, &e),
        None => Vec::new(),
    };
    let limits = match cx.table(&t, "limits", format!("[micro.limits] of {label}")) {
        Some(l) => {
            if let Some(v) = l.get("drive") {
                cx.error(
                    v.span().start,
                    format!("`drive` in [micro.limits] of {label}: the Drive cap is app-wide; set it in [limits]"),
                );
            }
            read_limits(cx, &l)
        }
        None => LimitsSection::default(),
    };
    let action_tables = cx.tables(&t, "action");
    let mut actions = Vec::new();
    for (i, (a, span)) in action_tables.iter().enumerate() {
        let id = a.get("id").and_then(|v| v.get_ref().as_str());
        let action_label = id.map_or_else(|| format!("#{}", i + 1), |id| format!("`{id}`"));
        if i == MAX_ACTIONS {
            cx.error(
                span.start,
                format!(
                    "micro {label} has {} actions; at most {MAX_ACTIONS} are allowed (S2): \
                     {action_label} is the 6th",
                    action_tables.len()
                ),
            );
        }
        let what = format!("[[micro.action]] {action_label} of micro {label}");
        let at = Table {
            t: a,
            span: span.clone(),
            what,
        };
        actions.push(read_action(cx, &at));
    }
    let section = MicroSection {
        name: name.as_ref().map_or_else(String::new, |(n, _)| n.clone()),
        component: component.unwrap_or_default(),
        src,
        primary: primary.as_ref().is_some_and(|(p, _)| *p),
        path: String::new(), // set by checks::paths
        public,
        public_routes,
        build,
        outbound,
        reuse,
        env,
        limits: limits.resolve(app_limits),
        actions: actions.iter().filter_map(|a| a.action.clone()).collect(),
    };
    Draft {
        header,
        label,
        name,
        primary,
        path,
        actions,
        section,
    }
}

/// An action as read: its id and name with their spans (for the app-wide uniqueness check,
/// even when another field is invalid) and the action itself when every field is valid.
struct ReadAction {
    id: Option<(String, Span)>,
    name: Option<(String, Span)>,
    action: Option<Action>,
}

fn read_action(cx: &mut Ctx, t: &Table) -> ReadAction {
    cx.check_keys(t, ACTION_KEYS);
    let id = cx.required_string(t, "id");
    let name = cx.required_string(t, "name");
    let description = cx.string(t, "description").map(|(d, span)| {
        let n = d.chars().count();
        if n > MAX_DESCRIPTION {
            let what = &t.what;
            cx.error(
                span.start,
                format!(
                    "`description` in {what} is {n} characters; \
                     at most {MAX_DESCRIPTION} are allowed"
                ),
            );
        }
        d
    });
    let interval = cx.required_string(t, "interval").and_then(|(text, span)| {
        match Interval::parse_located(&text) {
            Ok(s) => Some((s, text)),
            Err(e) => {
                // Point into the string when it is written without escapes.
                let raw = cx.text_at(&span);
                let inner = raw.get(1..raw.len().saturating_sub(1));
                let at = if inner == Some(text.as_str()) {
                    span.start + 1 + e.offset
                } else {
                    span.start
                };
                cx.error(
                    at,
                    format!("invalid interval \"{text}\" in {}: {}", t.what, e.message),
                );
                None
            }
        }
    });
    let action = match (&id, &name, interval) {
        (Some((id, _)), Some((name, _)), Some((interval, interval_text))) => Some(Action {
            id: id.clone(),
            name: name.clone(),
            description,
            interval,
            interval_text,
        }),
        _ => None,
    };
    ReadAction { id, name, action }
}

fn read_env(cx: &mut Ctx, t: &Table) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, key_span, v) in t.entries() {
        if key.is_empty() || key.contains(['=', '\0']) {
            cx.error(
                key_span.start,
                format!(
                    "env name {key:?} in {} must be non-empty and contain no `=` or NUL",
                    t.what
                ),
            );
            continue;
        }
        if RESERVED_ENV.contains(&key) {
            cx.error(
                key_span.start,
                format!(
                    "env name `{key}` in {} is reserved; the runtime sets it",
                    t.what
                ),
            );
            continue;
        }
        match v.get_ref() {
            DeValue::String(s) => out.push((key.to_string(), s.to_string())),
            other => cx.error(
                v.span().start,
                format!(
                    "env `{key}` in {} must be a string, found {}; quote the value",
                    t.what,
                    other.type_str()
                ),
            ),
        }
    }
    out
}
