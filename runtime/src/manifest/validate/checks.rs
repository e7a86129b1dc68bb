//! The rules that span several micros (SPEC §3): unique micro names, exactly one primary,
//! micro paths (syntax, uniqueness, no nesting), and action ids and names unique across the
//! app. Works on the drafts read by the parent module; reads no TOML itself.

use super::{Draft, valid_micro_name};
use crate::manifest::read::Ctx;

pub(super) fn names(cx: &mut Ctx, drafts: &[Draft]) {
    for (i, d) in drafts.iter().enumerate() {
        let Some((name, span)) = &d.name else {
            continue;
        };
        if drafts[..i]
            .iter()
            .any(|e| e.name.as_ref().is_some_and(|(n, _)| n == name))
        {
            cx.error(
                span.start,
                format!("micro name `{name}` is used twice; micro names must be unique"),
            );
        }
    }
}

pub(super) fn primary(cx: &mut Ctx, drafts: &mut [Draft]) {
    if let [only] = drafts {
        if let Some((false, span)) = &only.primary {
            let label = &only.label;
            let msg = format!(
                "micro {label} is the app's only micro, so it is the primary; \
                 remove `primary = false`"
            );
            cx.error(span.start, msg);
        }
        only.section.primary = true;
        return;
    }
    let Some(first) = drafts.iter().position(|d| d.section.primary) else {
        if let Some(d) = drafts.first() {
            cx.error(
                d.header.start,
                "no micro is primary; with several micros exactly one needs `primary = true`",
            );
        }
        return;
    };
    let first_label = drafts[first].label.clone();
    for d in drafts
        .iter_mut()
        .skip(first + 1)
        .filter(|d| d.section.primary)
    {
        let at = d.primary.as_ref().map_or(d.header.start, |(_, s)| s.start);
        let msg = format!(
            "micro {} is primary, and so is micro {first_label}; exactly one micro may be primary",
            d.label
        );
        cx.error(at, msg);
        d.section.primary = false;
    }
}

fn path_syntax(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        Err("must start with `/`")
    } else if path == "/" {
        Err("is the primary's; only the primary micro is served at `/`")
    } else if path.ends_with('/') {
        Err("must not end with `/`")
    } else if path.contains("//") {
        Err("must not contain an empty segment (`//`)")
    } else if path.starts_with("/__space") {
        Err("is reserved: paths starting with `/__space` belong to the runtime")
    } else if path.contains(|c: char| c == '?' || c == '#' || c.is_whitespace() || c.is_control()) {
        Err("must not contain `?`, `#`, whitespace or control characters")
    } else {
        Ok(())
    }
}

pub(super) fn paths(cx: &mut Ctx, drafts: &mut [Draft]) {
    // (path, label) of the non-primary micros with a usable path, in file order.
    let mut taken: Vec<(String, String)> = Vec::new();
    for d in drafts.iter_mut() {
        let label = d.label.clone();
        if d.section.primary {
            if let Some((p, span)) = &d.path
                && p != "/"
            {
                cx.error(
                    span.start,
                    format!("micro {label} is the primary, served at `/`; remove `path = \"{p}\"`"),
                );
            }
            d.section.path = "/".into();
            continue;
        }
        let (path, at) = match (&d.path, &d.name) {
            (Some((p, span)), _) => {
                if let Err(why) = path_syntax(p) {
                    cx.error(span.start, format!("path `{p}` of micro {label} {why}"));
                    continue;
                }
                (p.clone(), span.start)
            }
            (None, Some((n, span))) if valid_micro_name(n) => (format!("/{n}"), span.start),
            (None, _) => continue,
        };
        for (other, other_label) in &taken {
            if *other == path {
                cx.error(
                    at,
                    format!(
                        "path `{path}` of micro {label} is already the path of micro {other_label}"
                    ),
                );
            } else if path.starts_with(&format!("{other}/"))
                || other.starts_with(&format!("{path}/"))
            {
                cx.error(
                    at,
                    format!(
                        "path `{path}` of micro {label} overlaps path `{other}` of micro \
                         {other_label}; one may not be a prefix of the other"
                    ),
                );
            }
        }
        d.section.path = path.clone();
        taken.push((path, label));
    }
}

pub(super) fn actions(cx: &mut Ctx, drafts: &[Draft]) {
    let mut ids: Vec<(&str, &str)> = Vec::new();
    let mut names: Vec<(&str, &str)> = Vec::new();
    for d in drafts {
        for a in &d.actions {
            if let Some((id, span)) = &a.id {
                if let Some((_, owner)) = ids.iter().find(|(i, _)| i == id) {
                    cx.error(
                        span.start,
                        format!(
                            "action id `{id}` is already used by an action of micro {owner}; \
                             ids must be unique across the app"
                        ),
                    );
                }
                ids.push((id, &d.label));
            }
            if let Some((name, span)) = &a.name {
                if let Some((_, owner)) = names.iter().find(|(n, _)| n == name) {
                    cx.error(
                        span.start,
                        format!(
                            "action name \"{name}\" is already used by an action of micro \
                             {owner}; names must be unique across the app"
                        ),
                    );
                }
                names.push((name, &d.label));
            }
        }
    }
}
