//! Typed reads of a marked YAML document (saphyr's `MarkedYaml`) for the Spacefile import:
//! syntax errors, unknown keys, wrong types and missing keys become [`Diagnostic`]s located
//! at the key or value, rendered like app.toml's. Knows YAML and positions, not the
//! Spacefile's rules.

use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, Marker, Scalar, YamlData};

use crate::manifest::Diagnostic;
use crate::manifest::suggest;

pub(super) type Node<'i> = MarkedYaml<'i>;

/// Collects diagnostics for one file.
pub(super) struct Ctx<'t> {
    file: PathBuf,
    lines: Vec<&'t str>,
    diags: Vec<Diagnostic>,
}

/// A mapping being read: its entries in file order, where it starts, a name for messages.
pub(super) struct Map<'a, 'i> {
    pub entries: Vec<(&'a str, Marker, &'a Node<'i>)>,
    pub at: Marker,
    pub what: String,
}

impl<'a, 'i> Map<'a, 'i> {
    /// The value under `key`; a YAML null counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Node<'i>> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
            .filter(|v| !matches!(v.data, YamlData::Value(Scalar::Null)))
    }
}

/// The document's root node, or the syntax error.
pub(super) fn load<'i>(cx: &mut Ctx, text: &'i str) -> Option<Node<'i>> {
    match MarkedYaml::load_from_str(text) {
        Ok(docs) => match docs.into_iter().next() {
            Some(root) => Some(root),
            None => {
                cx.error(Marker::new(0, 1, 0), "the Spacefile is empty");
                None
            }
        },
        Err(e) => {
            let at = cx.before_eof(*e.marker());
            cx.error(at, format!("YAML syntax error: {}", e.info()));
            None
        }
    }
}

/// What a node holds, for "found …" in messages.
fn kind(n: &Node) -> &'static str {
    match &n.data {
        YamlData::Value(Scalar::Null) => "nothing (null)",
        YamlData::Value(Scalar::Boolean(_)) => "a boolean",
        YamlData::Value(Scalar::Integer(_)) => "an integer",
        YamlData::Value(Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::String(_)) => "a string",
        YamlData::Sequence(_) => "a list",
        YamlData::Mapping(_) => "a mapping",
        _ => "an unsupported YAML value",
    }
}

impl<'t> Ctx<'t> {
    pub fn new(file: &Path, text: &'t str) -> Self {
        Ctx {
            file: file.to_path_buf(),
            lines: text.split('\n').collect(),
            diags: Vec::new(),
        }
    }

    /// An error at `at` (saphyr's markers: line 1-based, column 0-based, in characters).
    pub fn error(&mut self, at: Marker, message: impl Into<String>) {
        let line = at.line().max(1);
        let source_line = self
            .lines
            .get(line - 1)
            .map_or("", |l| l.trim_end_matches('\r'));
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line,
            col: at.col() + 1,
            message: message.into(),
            source_line: source_line.to_string(),
        });
    }

    /// `at`, or when it lies past the last line of text (an error at the end of the input),
    /// the end of that last line, so the caret has a line to point into.
    fn before_eof(&self, at: Marker) -> Marker {
        let Some(last) = self.lines.iter().rposition(|l| !l.trim().is_empty()) else {
            return at;
        };
        if at.line() <= last + 1 {
            return at;
        }
        let col = self.lines[last].trim_end().chars().count();
        Marker::new(at.index(), last + 1, col)
    }

    pub fn has_errors(&self) -> bool {
        !self.diags.is_empty()
    }

    /// The diagnostics in source order.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diags.sort_by_key(|d| (d.line, d.col));
        self.diags
    }

    /// `node` as a mapping named `what`; anything else is reported.
    pub fn map<'a, 'i>(&mut self, node: &'a Node<'i>, what: String) -> Option<Map<'a, 'i>> {
        let YamlData::Mapping(m) = &node.data else {
            self.error(
                node.span.start,
                format!("{what} must be a mapping of keys, found {}", kind(node)),
            );
            return None;
        };
        let mut entries = Vec::new();
        for (k, v) in m.iter() {
            match &k.data {
                YamlData::Value(Scalar::String(s)) => entries.push((s.as_ref(), k.span.start, v)),
                _ => self.error(
                    k.span.start,
                    format!("keys in {what} must be names, found {}", kind(k)),
                ),
            }
        }
        Some(Map {
            entries,
            at: node.span.start,
            what,
        })
    }

    /// Reports every key of `map` not in `allowed`.
    pub fn check_keys(&mut self, map: &Map, allowed: &[&str]) {
        for (key, at, _) in &map.entries {
            if allowed.contains(key) {
                continue;
            }
            let hint = match suggest(key, allowed) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => format!("; expected one of: {}", allowed.join(", ")),
            };
            self.error(*at, format!("unknown key `{key}` in {}{hint}", map.what));
        }
    }

    fn wrong_type(&mut self, map: &Map, key: &str, v: &Node, expected: &str) {
        let msg = format!(
            "`{key}` in {} must be {expected}, found {}",
            map.what,
            kind(v)
        );
        self.error(v.span.start, msg);
    }

    /// A scalar read as text: strings, and numbers written without quotes (`v: 0`, a port).
    pub fn string(&mut self, map: &Map, key: &str) -> Option<(String, Marker)> {
        let v = map.get(key)?;
        match scalar_text(v, false) {
            Some(s) => Some((s, v.span.start)),
            None => {
                self.wrong_type(map, key, v, "a string");
                None
            }
        }
    }

    /// A string that must be present and not empty.
    pub fn required(&mut self, map: &Map, key: &str) -> Option<(String, Marker)> {
        if map.get(key).is_none() {
            let msg = format!("{} is missing required key `{key}`", map.what);
            self.error(map.at, msg);
            return None;
        }
        let (s, at) = self.string(map, key)?;
        if s.trim().is_empty() {
            self.error(at, format!("`{key}` in {} must not be empty", map.what));
            return None;
        }
        Some((s, at))
    }

    pub fn boolean(&mut self, map: &Map, key: &str) -> Option<(bool, Marker)> {
        let v = map.get(key)?;
        match &v.data {
            YamlData::Value(Scalar::Boolean(b)) => Some((*b, v.span.start)),
            _ => {
                self.wrong_type(map, key, v, "a boolean (true or false)");
                None
            }
        }
    }

    /// A list of strings (a single string is taken as a list of one); bad items are reported.
    pub fn strings(&mut self, map: &Map, key: &str) -> Vec<(String, Marker)> {
        let Some(v) = map.get(key) else {
            return Vec::new();
        };
        if let Some(s) = scalar_text(v, false) {
            return vec![(s, v.span.start)];
        }
        let YamlData::Sequence(items) = &v.data else {
            self.wrong_type(map, key, v, "a list of strings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match scalar_text(item, false) {
                Some(s) => out.push((s, item.span.start)),
                None => {
                    let msg = format!(
                        "`{key}` in {} must be a list of strings, found {} in it",
                        map.what,
                        kind(item)
                    );
                    self.error(item.span.start, msg);
                }
            }
        }
        out
    }

    /// A list of nodes (mappings, read by the caller).
    pub fn list<'a, 'i>(&mut self, map: &Map<'a, 'i>, key: &str) -> Option<&'a [Node<'i>]> {
        let v = map.get(key)?;
        match &v.data {
            YamlData::Sequence(items) => Some(items.as_slice()),
            _ => {
                self.wrong_type(map, key, v, "a list (lines starting with `- `)");
                None
            }
        }
    }
}

/// A scalar as text; booleans only when `bools` (an env default may be `true`).
pub(super) fn scalar_text(n: &Node, bools: bool) -> Option<String> {
    match &n.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Boolean(b)) if bools => Some(b.to_string()),
        _ => None,
    }
}
