//! The Deta query language translated to a PostgreSQL condition on the `value` (jsonb) column,
//! so the database skips most items that cannot match. The translation is sound but may be
//! loose: every item matching the query passes it, and the store still checks each row with
//! [`Query::matches`], which stays the one definition of a match (so both stores give the same
//! items). Where an exact translation would differ from the Rust rules (numbers beyond 2^53,
//! lists and objects compared as values, NUL in strings), only a type check is sent.
//!
//! Pure: it builds SQL text and its parameters, and must not run anything.

use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::query::{CondView, Op, Query};

/// A parameter of the generated SQL.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// Operands at least this large (in magnitude) are compared by Rust only: below it, an i64 or
/// f64 item value is ordered against the operand the same way by Rust's f64 comparison and
/// PostgreSQL's exact numeric one; near and past it, rounding can differ.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// SQL text and parameters being built; placeholders continue after those already bound.
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub fn new(text: &str, params: Vec<Param>) -> Sql {
        Sql {
            text: text.to_owned(),
            params,
        }
    }

    /// Binds `value`; returns its placeholder (`$n`).
    pub fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    pub fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// The parameters as tokio-postgres takes them.
    pub fn args(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Appends ` AND (<filter>)` for `query`, or nothing when every item matches.
pub fn push_filter(sql: &mut Sql, query: &Query) {
    let branches = query.branches();
    if branches.is_empty() {
        return;
    }
    let mut ors = Vec::with_capacity(branches.len());
    for branch in branches {
        let ands: Vec<String> = branch.iter().map(|c| cond(sql, c)).collect();
        ors.push(if ands.is_empty() {
            "TRUE".to_owned()
        } else {
            format!("({})", ands.join(" AND "))
        });
    }
    sql.push(&format!(" AND ({})", ors.join(" OR ")));
}

/// One condition: a superset of the items [`CondView`] matches.
fn cond(sql: &mut Sql, c: &CondView<'_>) -> String {
    let path = sql.bind(c.path.to_vec());
    let v = format!("(value #> {path}::text[])");
    let t = format!("(value #>> {path}::text[])");
    let present = format!("{v} IS NOT NULL");
    let operand = c.operand;
    match c.op {
        Op::Eq => match scalar(operand) {
            Some(json) => {
                let o = sql.bind(json);
                format!("{v} = {o}::text::jsonb")
            }
            None => match number(operand) {
                Some(n) => compare_number(sql, &v, "=", n),
                None => present,
            },
        },
        Op::Ne => match scalar(operand) {
            Some(json) => {
                let o = sql.bind(json);
                format!("({present} AND {v} <> {o}::text::jsonb)")
            }
            None => present,
        },
        Op::Lt | Op::Gt | Op::Lte | Op::Gte => {
            let sign = match c.op {
                Op::Lt => "<",
                Op::Gt => ">",
                Op::Lte => "<=",
                _ => ">=",
            };
            compare(sql, &v, &t, sign, operand).unwrap_or(present)
        }
        Op::Range => match operand.as_array().map(Vec::as_slice) {
            Some([lo, hi]) => {
                let lo = compare(sql, &v, &t, ">=", lo).unwrap_or_else(|| present.clone());
                let hi = compare(sql, &v, &t, "<=", hi).unwrap_or(present);
                format!("({lo} AND {hi})")
            }
            _ => present,
        },
        Op::Pfx => match text(operand) {
            Some(p) => {
                let p = sql.bind(p);
                format!(
                    "(CASE WHEN jsonb_typeof({v}) = 'string' THEN starts_with({t} COLLATE \"C\", {p}) ELSE FALSE END)"
                )
            }
            None => present,
        },
        Op::Contains => {
            let in_string = match text(operand) {
                Some(s) => format!("strpos({t}, {}) > 0", sql.bind(s)),
                None => "FALSE".to_owned(),
            };
            let in_list = match scalar(operand) {
                Some(json) => format!("{v} @> jsonb_build_array({}::text::jsonb)", sql.bind(json)),
                None => "TRUE".to_owned(),
            };
            format!(
                "(CASE jsonb_typeof({v}) WHEN 'string' THEN {in_string} WHEN 'array' THEN {in_list} ELSE FALSE END)"
            )
        }
        Op::NotContains => {
            let in_string = match text(operand) {
                Some(s) => format!("strpos({t}, {}) = 0", sql.bind(s)),
                None => "TRUE".to_owned(),
            };
            format!(
                "(CASE jsonb_typeof({v}) WHEN 'string' THEN {in_string} WHEN 'array' THEN TRUE ELSE FALSE END)"
            )
        }
    }
}

/// An order comparison with a string or a number; None when only presence can be checked.
fn compare(sql: &mut Sql, v: &str, t: &str, sign: &str, operand: &Value) -> Option<String> {
    if let Some(s) = text(operand) {
        let s = sql.bind(s);
        return Some(format!(
            "(CASE WHEN jsonb_typeof({v}) = 'string' THEN {t} COLLATE \"C\" {sign} {s} ELSE FALSE END)"
        ));
    }
    number(operand).map(|n| compare_number(sql, v, sign, n))
}

/// `v <sign> n` for numbers: jsonb compares numbers exactly, which orders them as Rust does
/// as long as the operand is below 2^53 in magnitude (see [`number`]).
fn compare_number(sql: &mut Sql, v: &str, sign: &str, n: String) -> String {
    let n = sql.bind(n);
    format!(
        "(CASE WHEN jsonb_typeof({v}) = 'number' THEN {v} {sign} {n}::text::jsonb ELSE FALSE END)"
    )
}

/// A string, boolean or null operand as JSON text (compared exactly by jsonb); None for
/// numbers, lists, objects and strings holding NUL (which PostgreSQL text cannot hold).
fn scalar(operand: &Value) -> Option<String> {
    match operand {
        Value::String(s) if s.contains('\0') => None,
        Value::String(_) | Value::Bool(_) | Value::Null => Some(operand.to_string()),
        _ => None,
    }
}

/// A string operand PostgreSQL text can hold.
fn text(operand: &Value) -> Option<String> {
    operand
        .as_str()
        .filter(|s| !s.contains('\0'))
        .map(str::to_owned)
}

/// A number operand small enough to compare exactly, as JSON text.
fn number(operand: &Value) -> Option<String> {
    let n = operand.as_number()?;
    let exact = n.as_i64().map_or_else(
        || n.as_f64().is_some_and(|f| f.abs() < EXACT_LIMIT),
        |i| (i as f64).abs() < EXACT_LIMIT,
    );
    exact.then(|| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_operator_translates_with_its_parameters() {
        let q = Query::parse(&json!([
            {"a": "x", "b?ne": true, "c?lt": 3, "d?gte": "m", "e?pfx": "p"},
            {"f?r": [1, 2.5], "g?contains": "s", "h?not_contains": 1, "i": [1], "j": 1e300},
            {}
        ]))
        .unwrap();
        let mut sql = Sql::new("", vec![Box::new(0i64)]);
        push_filter(&mut sql, &q);
        assert!(sql.text.starts_with(" AND (("), "{}", sql.text);
        assert!(sql.text.ends_with(" OR TRUE)"), "{}", sql.text);
        assert!(sql.text.contains("(value #> $2::text[]) = $3::text::jsonb"));
        assert!(sql.text.contains("starts_with("));
        // 1e300 is past the exact limit, so only presence is checked.
        assert!(sql.text.contains("IS NOT NULL"));
        // Every parameter bound is used, the one bound before included.
        for n in 2..=sql.params.len() {
            let used = sql
                .text
                .match_indices(&format!("${n}"))
                .any(|(i, m)| !sql.text[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()));
            assert!(used, "${n} in {}", sql.text);
        }
    }

    #[test]
    fn no_query_means_no_filter() {
        let mut sql = Sql::new("x", Vec::new());
        push_filter(&mut sql, &Query::parse(&Value::Null).unwrap());
        assert_eq!(sql.text, "x");
    }
}
