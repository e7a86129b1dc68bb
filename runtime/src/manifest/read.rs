//! Typed reads of spanned TOML values for manifest validation (SPEC §3): unknown keys, wrong
//! types and missing keys become [`Diagnostic`]s located at the key or value. Knows the TOML
//! document model and source positions, not the manifest's rules.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::Diagnostic;

pub(super) type Span = Range<usize>;
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// Collects diagnostics for one file.
pub(super) struct Ctx<'t> {
    file: PathBuf,
    text: &'t str,
    line_starts: Vec<usize>,
    diags: Vec<(usize, Diagnostic)>,
}

/// A table being read, with the span to blame for missing keys and a name for messages
/// (e.g. `[app]`, ``[[micro]] `api` ``).
#[derive(Clone)]
pub(super) struct Table<'a, 'i> {
    pub t: &'a DeTable<'i>,
    pub span: Span,
    pub what: String,
}

impl<'a, 'i> Table<'a, 'i> {
    /// Entries in file order.
    pub fn entries(&self) -> Vec<(&'a str, Span, &'a Value<'i>)> {
        let mut v: Vec<_> = self
            .t
            .iter()
            .map(|(k, v)| (k.get_ref().as_ref(), k.span(), v))
            .collect();
        v.sort_by_key(|(_, span, _)| span.start);
        v
    }

    pub fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.t.get(key)
    }
}

/// Aliases that edit distance would not find (Deta Spacefile habits).
const ALIASES: &[(&str, &str)] = &[
    ("presets", "env"),
    ("environment", "env"),
    ("micros", "micro"),
];

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The allowed key nearest to `key`, when it is close enough to be a typo.
pub(crate) fn suggest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let lower = key.to_lowercase();
    if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == lower) {
        return allowed.iter().copied().find(|a| a == to);
    }
    let limit = if key.chars().count() <= 4 { 1 } else { 2 };
    allowed
        .iter()
        .map(|a| (levenshtein(&lower, a), *a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

impl<'t> Ctx<'t> {
    pub fn new(file: &Path, text: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Ctx {
            file: file.to_path_buf(),
            text,
            line_starts,
            diags: Vec::new(),
        }
    }

    pub fn error(&mut self, at: usize, message: impl Into<String>) {
        let at = at.min(self.text.len());
        let line_ix = self.line_starts.partition_point(|&s| s <= at) - 1;
        let start = self.line_starts[line_ix];
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let line_text = self.text[start..end].trim_end_matches('\r');
        let col = self
            .text
            .get(start..at)
            .map_or(1, |s| s.chars().count() + 1);
        let diag = Diagnostic {
            file: self.file.clone(),
            line: line_ix + 1,
            col,
            message: message.into(),
            source_line: line_text.to_string(),
        };
        self.diags.push((at, diag));
    }

    pub fn has_errors(&self) -> bool {
        !self.diags.is_empty()
    }

    /// The diagnostics in source order.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diags.sort_by_key(|(at, _)| *at);
        self.diags.into_iter().map(|(_, d)| d).collect()
    }

    /// The source text under `span` (empty if out of bounds).
    pub fn text_at(&self, span: &Span) -> &'t str {
        self.text.get(span.clone()).unwrap_or("")
    }

    /// Reports every key of `tbl` not in `allowed`.
    pub fn check_keys(&mut self, tbl: &Table, allowed: &[&str]) {
        for (key, span, _) in tbl.entries() {
            if allowed.contains(&key) {
                continue;
            }
            let hint = match suggest(key, allowed) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => format!("; expected one of: {}", allowed.join(", ")),
            };
            self.error(
                span.start,
                format!("unknown key `{key}` in {}{hint}", tbl.what),
            );
        }
    }

    fn wrong_type(&mut self, tbl: &Table, key: &str, v: &Value, expected: &str) {
        let found = v.get_ref().type_str();
        self.error(
            v.span().start,
            format!("`{key}` in {} must be {expected}, found {found}", tbl.what),
        );
    }

    pub fn string(&mut self, tbl: &Table, key: &str) -> Option<(String, Span)> {
        let v = tbl.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some((s.to_string(), v.span())),
            _ => {
                self.wrong_type(tbl, key, v, "a string");
                None
            }
        }
    }

    /// A string that must be present and not empty.
    pub fn required_string(&mut self, tbl: &Table, key: &str) -> Option<(String, Span)> {
        if tbl.get(key).is_none() {
            self.error(
                tbl.span.start,
                format!("{} is missing required key `{key}`", tbl.what),
            );
            return None;
        }
        self.nonempty_string(tbl, key)
    }

    /// A string that, when present, must not be empty.
    pub fn nonempty_string(&mut self, tbl: &Table, key: &str) -> Option<(String, Span)> {
        let (s, span) = self.string(tbl, key)?;
        if s.is_empty() {
            self.error(
                span.start,
                format!("`{key}` in {} must not be empty", tbl.what),
            );
            return None;
        }
        Some((s, span))
    }

    pub fn boolean(&mut self, tbl: &Table, key: &str) -> Option<(bool, Span)> {
        let v = tbl.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some((*b, v.span())),
            _ => {
                self.wrong_type(tbl, key, v, "a boolean (true or false)");
                None
            }
        }
    }

    /// A list of strings; bad elements are reported and skipped.
    pub fn strings(&mut self, tbl: &Table, key: &str) -> Vec<(String, Span)> {
        let Some(v) = tbl.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type(tbl, key, v, "a list of strings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.to_string(), item.span())),
                other => self.error(
                    item.span().start,
                    format!(
                        "`{key}` in {} must be a list of strings, found {} in it",
                        tbl.what,
                        a(other.type_str())
                    ),
                ),
            }
        }
        out
    }

    /// A sub-table, read as `what`.
    pub fn table<'a, 'i>(
        &mut self,
        tbl: &Table<'a, 'i>,
        key: &str,
        what: String,
    ) -> Option<Table<'a, 'i>> {
        let v = tbl.get(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Table {
                t,
                span: v.span(),
                what,
            }),
            _ => {
                self.wrong_type(tbl, key, v, "a table");
                None
            }
        }
    }

    /// An array of tables (`[[key]]`), each with its span.
    pub fn tables<'a, 'i>(
        &mut self,
        tbl: &Table<'a, 'i>,
        key: &str,
    ) -> Vec<(&'a DeTable<'i>, Span)> {
        let Some(v) = tbl.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type(
                tbl,
                key,
                v,
                &format!("an array of tables ([[{}]])", tbl_path(tbl, key)),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(t) => out.push((t, item.span())),
                other => self.error(
                    item.span().start,
                    format!(
                        "`{key}` in {} must hold tables, found {}",
                        tbl.what,
                        a(other.type_str())
                    ),
                ),
            }
        }
        out
    }
}

/// "an integer", "a string".
fn a(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

/// `micro` at the root, `micro.action` inside a micro.
fn tbl_path(tbl: &Table, key: &str) -> String {
    if tbl.what.starts_with("[[micro]]") {
        format!("micro.{key}")
    } else {
        key.to_string()
    }
}

/// An integer's value, if it fits in an i64.
pub(super) fn integer(v: &DeValue) -> Option<i64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let micro = [
            "name",
            "component",
            "src",
            "primary",
            "path",
            "env",
            "action",
        ];
        assert_eq!(suggest("compnent", &micro), Some("component"));
        assert_eq!(suggest("Name", &micro), Some("name"));
        assert_eq!(suggest("actions", &micro), Some("action"));
        assert_eq!(suggest("presets", &micro), Some("env"));
        assert_eq!(suggest("engine", &micro), None);
        assert_eq!(suggest("xyz", &micro), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
    }
}
