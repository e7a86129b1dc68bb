//! The Deta Base query language, pure: parsing a `query` (a list of objects, ORed; the
//! conditions in one object ANDed; `field?op` suffix operators; dotted paths), matching an item
//! against it, and the key range a store may use to narrow its scan.
//!
//! It must not touch storage or HTTP. Malformed queries are reported as messages (the caller
//! answers 400); an operator on a field the item lacks simply does not match.

use std::cmp::Ordering;

use serde_json::Value;

/// A parsed query: an item matches when any branch matches (no branch: every item matches).
#[derive(Debug, Clone, Default)]
pub struct Query {
    branches: Vec<Branch>,
}

/// One query object: every condition must hold.
#[derive(Debug, Clone, Default)]
struct Branch {
    conds: Vec<Cond>,
}

#[derive(Debug, Clone)]
struct Cond {
    path: Vec<String>,
    op: Op,
    operand: Value,
}

/// A condition's operator (`field?op`; none is `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Lte,
    Gte,
    Pfx,
    Range,
    Contains,
    NotContains,
}

/// One condition as plain data, for a store that translates queries into its own language.
#[derive(Debug, Clone, Copy)]
pub struct CondView<'a> {
    pub path: &'a [String],
    pub op: Op,
    pub operand: &'a Value,
}

/// Keys a scan must cover, in key order: from `lo` (inclusive) up to `hi`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub lo: Option<String>,
    /// The upper bound and whether it is inclusive.
    pub hi: Option<(String, bool)>,
}

impl Query {
    /// Parses the `query` field of a `/query` request: null, one object, or a list of objects.
    pub fn parse(value: &Value) -> Result<Query, String> {
        let objects: Vec<&Value> = match value {
            Value::Null => Vec::new(),
            Value::Object(_) => vec![value],
            Value::Array(list) => list.iter().collect(),
            _ => return Err("query must be a list of objects".into()),
        };
        let branches = objects
            .into_iter()
            .map(parse_branch)
            .collect::<Result<_, _>>()?;
        Ok(Query { branches })
    }

    /// The branches (ORed) of conditions (ANDed); no branch: every item matches.
    pub fn branches(&self) -> Vec<Vec<CondView<'_>>> {
        self.branches
            .iter()
            .map(|b| {
                b.conds
                    .iter()
                    .map(|c| CondView {
                        path: &c.path,
                        op: c.op,
                        operand: &c.operand,
                    })
                    .collect()
            })
            .collect()
    }

    /// Whether `item` matches.
    pub fn matches(&self, item: &Value) -> bool {
        self.branches.is_empty() || self.branches.iter().any(|b| b.matches(item))
    }

    /// The smallest key range holding every item that can match (all keys when any branch
    /// has no key condition).
    pub fn key_range(&self) -> KeyRange {
        let mut ranges = Vec::new();
        for branch in &self.branches {
            match branch.key_range() {
                Some(range) => ranges.push(range),
                None => return KeyRange::default(),
            }
        }
        union(ranges)
    }
}

fn parse_branch(value: &Value) -> Result<Branch, String> {
    let Value::Object(map) = value else {
        return Err("query must be a list of objects".into());
    };
    let mut conds = Vec::with_capacity(map.len());
    let mut key_conds = 0;
    for (field, operand) in map {
        let (name, op) = split_op(field)?;
        if name.is_empty() || name.split('.').any(str::is_empty) {
            return Err(format!("invalid field name '{field}'"));
        }
        let path: Vec<String> = name.split('.').map(str::to_owned).collect();
        check_operand(op, operand, field)?;
        if path.len() == 1 && path[0] == "key" {
            key_conds += 1;
            check_key_cond(op, operand, field)?;
        }
        conds.push(Cond {
            path,
            op,
            operand: operand.clone(),
        });
    }
    if key_conds > 1 {
        return Err("only one condition on 'key' is allowed in a query object".into());
    }
    Ok(Branch { conds })
}

fn split_op(field: &str) -> Result<(&str, Op), String> {
    let Some((name, suffix)) = field.rsplit_once('?') else {
        return Ok((field, Op::Eq));
    };
    let op = match suffix {
        "ne" => Op::Ne,
        "lt" => Op::Lt,
        "gt" => Op::Gt,
        "lte" => Op::Lte,
        "gte" => Op::Gte,
        "pfx" => Op::Pfx,
        "r" => Op::Range,
        "contains" => Op::Contains,
        "not_contains" | "!contains" => Op::NotContains,
        _ => return Err(format!("unknown query operator '?{suffix}' in '{field}'")),
    };
    Ok((name, op))
}

fn check_operand(op: Op, operand: &Value, field: &str) -> Result<(), String> {
    let ok = match op {
        Op::Eq | Op::Ne | Op::Contains | Op::NotContains => true,
        Op::Lt | Op::Gt | Op::Lte | Op::Gte => operand.is_number() || operand.is_string(),
        Op::Pfx => operand.is_string(),
        Op::Range => match operand.as_array().map(Vec::as_slice) {
            Some([a, b]) => (a.is_number() && b.is_number()) || (a.is_string() && b.is_string()),
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid operand for '{field}'"))
    }
}

fn check_key_cond(op: Op, operand: &Value, field: &str) -> Result<(), String> {
    let strings = match op {
        Op::Contains | Op::NotContains => {
            return Err(format!("'{field}': contains is not allowed on key"));
        }
        Op::Range => operand
            .as_array()
            .is_some_and(|pair| pair.iter().all(Value::is_string)),
        _ => operand.is_string(),
    };
    if strings {
        Ok(())
    } else {
        Err(format!("'{field}': conditions on key take strings"))
    }
}

impl Branch {
    fn matches(&self, item: &Value) -> bool {
        self.conds.iter().all(|c| c.matches(item))
    }

    fn key_range(&self) -> Option<KeyRange> {
        let cond = self
            .conds
            .iter()
            .find(|c| c.path.len() == 1 && c.path[0] == "key")?;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match cond.op {
            Op::Eq => {
                let k = text(&cond.operand)?;
                Some(KeyRange {
                    lo: Some(k.clone()),
                    hi: Some((k, true)),
                })
            }
            Op::Gt | Op::Gte => Some(KeyRange {
                lo: text(&cond.operand),
                hi: None,
            }),
            Op::Lt | Op::Lte => Some(KeyRange {
                lo: None,
                hi: Some((text(&cond.operand)?, cond.op == Op::Lte)),
            }),
            Op::Pfx => {
                let p = text(&cond.operand)?;
                Some(KeyRange {
                    hi: prefix_successor(&p).map(|s| (s, false)),
                    lo: Some(p),
                })
            }
            Op::Range => {
                let pair = cond.operand.as_array()?;
                Some(KeyRange {
                    lo: text(pair.first()?),
                    hi: Some((text(pair.get(1)?)?, true)),
                })
            }
            Op::Ne | Op::Contains | Op::NotContains => None,
        }
    }
}

/// The least string greater than every string starting with `p` (None: no upper bound).
fn prefix_successor(p: &str) -> Option<String> {
    let mut chars: Vec<char> = p.chars().collect();
    while let Some(last) = chars.pop() {
        let mut code = last as u32 + 1;
        if (0xD800..0xE000).contains(&code) {
            code = 0xE000;
        }
        if let Some(next) = char::from_u32(code) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn union(ranges: Vec<KeyRange>) -> KeyRange {
    let mut iter = ranges.into_iter();
    let Some(mut acc) = iter.next() else {
        return KeyRange::default();
    };
    for r in iter {
        acc.lo = match (acc.lo, r.lo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        };
        acc.hi = match (acc.hi, r.hi) {
            (Some(a), Some(b)) => Some(match a.0.cmp(&b.0) {
                Ordering::Less => b,
                Ordering::Greater => a,
                Ordering::Equal => (a.0, a.1 || b.1),
            }),
            _ => None,
        };
    }
    acc
}

impl Cond {
    fn matches(&self, item: &Value) -> bool {
        let Some(value) = lookup(item, &self.path) else {
            return false;
        };
        let operand = &self.operand;
        match self.op {
            Op::Eq => json_eq(value, operand),
            Op::Ne => !json_eq(value, operand),
            Op::Lt => compare(value, operand) == Some(Ordering::Less),
            Op::Gt => compare(value, operand) == Some(Ordering::Greater),
            Op::Lte => matches!(
                compare(value, operand),
                Some(Ordering::Less | Ordering::Equal)
            ),
            Op::Gte => matches!(
                compare(value, operand),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            Op::Pfx => match (value, operand) {
                (Value::String(v), Value::String(p)) => v.starts_with(p.as_str()),
                _ => false,
            },
            Op::Range => match operand.as_array().map(Vec::as_slice) {
                Some([lo, hi]) => {
                    matches!(
                        compare(value, lo),
                        Some(Ordering::Greater | Ordering::Equal)
                    ) && matches!(compare(value, hi), Some(Ordering::Less | Ordering::Equal))
                }
                _ => false,
            },
            Op::Contains => contains(value, operand) == Some(true),
            Op::NotContains => contains(value, operand) == Some(false),
        }
    }
}

/// The value at a dotted path inside an item.
pub fn lookup<'a>(item: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(item, |v, segment| v.as_object()?.get(segment))
}

/// Deep JSON equality where numbers compare by value (`1` equals `1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare(a, b) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Orders two numbers or two strings; None for any other pair.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(p), Some(q)) => Some(p.cmp(&q)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        _ => None,
    }
}

/// Substring for strings, membership for lists; None when the value holds neither.
fn contains(value: &Value, operand: &Value) -> Option<bool> {
    match value {
        Value::String(s) => Some(operand.as_str().is_some_and(|o| s.contains(o))),
        Value::Array(list) => Some(list.iter().any(|v| json_eq(v, operand))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(v: Value) -> Query {
        Query::parse(&v).unwrap()
    }

    #[test]
    fn equality_and_dotted_paths() {
        let item = json!({"key":"a","name":"x","profile":{"age":30,"tags":["p"]},"n":1});
        assert!(q(json!([{"name":"x"}])).matches(&item));
        assert!(q(json!([{"profile.age":30.0}])).matches(&item));
        assert!(q(json!([{"profile":{"tags":["p"],"age":30}}])).matches(&item));
        assert!(!q(json!([{"name":"y"}])).matches(&item));
        assert!(q(json!([])).matches(&item));
        assert!(q(Value::Null).matches(&item));
        // AND inside one object, OR across objects.
        assert!(!q(json!([{"name":"x","n":2}])).matches(&item));
        assert!(q(json!([{"name":"y"},{"n":1}])).matches(&item));
    }

    #[test]
    fn operators() {
        let item = json!({"key":"k1","s":"hello","n":5,"l":["a",1,{"b":2}]});
        let yes = [
            json!({"n?ne":4}),
            json!({"n?lt":6}),
            json!({"n?gt":4.5}),
            json!({"n?lte":5}),
            json!({"n?gte":5}),
            json!({"s?pfx":"he"}),
            json!({"n?r":[1,5]}),
            json!({"s?r":["a","i"]}),
            json!({"s?contains":"ell"}),
            json!({"l?contains":{"b":2}}),
            json!({"l?contains":1}),
            json!({"s?not_contains":"z"}),
            json!({"l?!contains":"z"}),
            json!({"s?gt":"hell"}),
            json!({"key?pfx":"k"}),
            json!({"key":"k1"}),
        ];
        for cond in yes {
            assert!(q(json!([cond.clone()])).matches(&item), "{cond}");
        }
        let no = [
            json!({"n?ne":5}),
            json!({"n?lt":"9"}),
            json!({"n?r":[6,9]}),
            json!({"s?contains":"z"}),
            json!({"s?not_contains":"ell"}),
            json!({"n?contains":5}),
            json!({"missing?ne":1}),
            json!({"missing?lt":1}),
            json!({"missing?not_contains":"x"}),
            json!({"s.deeper":1}),
        ];
        for cond in no {
            assert!(!q(json!([cond.clone()])).matches(&item), "{cond}");
        }
    }

    #[test]
    fn bad_queries() {
        let bad = [
            json!([{"a?nope":1}]),
            json!([{"a?lt":true}]),
            json!([{"a?pfx":1}]),
            json!([{"a?r":[1]}]),
            json!([{"a?r":[1,"b"]}]),
            json!([{"key":1}]),
            json!([{"key?contains":"a"}]),
            json!([{"key":"a","key?pfx":"b"}]),
            json!([1]),
            json!("x"),
            json!([{"a..b":1}]),
        ];
        for v in bad {
            assert!(Query::parse(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn key_ranges() {
        assert_eq!(q(json!([{"a":1}])).key_range(), KeyRange::default());
        assert_eq!(
            q(json!([{"key?pfx":"ab"}])).key_range(),
            KeyRange {
                lo: Some("ab".into()),
                hi: Some(("ac".into(), false))
            }
        );
        assert_eq!(
            q(json!([{"key":"b"},{"key?r":["a","c"]}])).key_range(),
            KeyRange {
                lo: Some("a".into()),
                hi: Some(("c".into(), true))
            }
        );
        assert_eq!(
            q(json!([{"key":"b"},{"x":1}])).key_range(),
            KeyRange::default()
        );
        assert_eq!(prefix_successor("a\u{10FFFF}"), Some("b".into()));
        assert_eq!(prefix_successor("\u{D7FF}"), Some("\u{E000}".into()));
    }
}
