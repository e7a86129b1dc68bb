//! Deta Base update requests, pure: parsing `{"set","increment","append","prepend","delete"}`
//! with dotted paths, and applying them to an item.
//!
//! It must not touch storage or HTTP; the store applies [`UpdateOps::apply`] inside its write
//! transaction so an update is atomic. Errors are messages the caller answers with 400.

use serde_json::{Map, Number, Value};

/// A validated update.
#[derive(Debug, Clone, Default)]
pub struct UpdateOps {
    set: Vec<(Vec<String>, Value)>,
    increment: Vec<(Vec<String>, Number)>,
    append: Vec<(Vec<String>, Vec<Value>)>,
    prepend: Vec<(Vec<String>, Vec<Value>)>,
    delete: Vec<Vec<String>>,
    /// The request's `set` and `delete`, echoed in the 200 answer.
    pub echo_set: Map<String, Value>,
    pub echo_delete: Vec<Value>,
}

impl UpdateOps {
    /// Parses an update body. Absent or null fields count as empty (the Go SDK sends null).
    pub fn parse(body: &Value) -> Result<UpdateOps, String> {
        let Value::Object(body) = body else {
            return Err("update body must be a JSON object".into());
        };
        let mut ops = UpdateOps::default();
        let mut all_paths: Vec<Vec<String>> = Vec::new();
        for (name, value) in object_field(body, "set")? {
            ops.set
                .push((path_of(name, &mut all_paths)?, value.clone()));
            ops.echo_set.insert(name.clone(), value.clone());
        }
        for (name, value) in object_field(body, "increment")? {
            let Value::Number(n) = value else {
                return Err(format!("increment of '{name}' must be a number"));
            };
            ops.increment
                .push((path_of(name, &mut all_paths)?, n.clone()));
        }
        for (field, target) in [("append", &mut ops.append), ("prepend", &mut ops.prepend)] {
            for (name, value) in object_field(body, field)? {
                let list = match value {
                    Value::Array(list) => list.clone(),
                    other => vec![other.clone()],
                };
                target.push((path_of(name, &mut all_paths)?, list));
            }
        }
        match body.get("delete") {
            None | Some(Value::Null) => {}
            Some(Value::Array(names)) => {
                for name in names {
                    let Value::String(text) = name else {
                        return Err("delete must be a list of field names".into());
                    };
                    ops.delete.push(path_of(text, &mut all_paths)?);
                    ops.echo_delete.push(name.clone());
                }
            }
            Some(_) => return Err("delete must be a list of field names".into()),
        }
        Ok(ops)
    }

    /// Applies the update to `item` (set, increment, append, prepend, then delete).
    /// These operations applied to the stored item `text` of `base`/`key`, encoded for storage
    /// (JSON and expiry); `Ok(Err(message))` when they do not apply to it (a 400). The one
    /// read-modify-encode step of every store's update.
    pub fn apply_to_stored(
        &self,
        text: &str,
        base: &str,
        key: &str,
    ) -> anyhow::Result<Result<(String, Option<i64>), String>> {
        let Value::Object(mut item) = serde_json::from_str(text)? else {
            anyhow::bail!("stored item {base}/{key} is not an object");
        };
        if let Err(msg) = self.apply(&mut item) {
            return Ok(Err(msg));
        }
        Ok(super::item::encode(&item))
    }

    pub fn apply(&self, item: &mut Map<String, Value>) -> Result<(), String> {
        for (path, value) in &self.set {
            *slot(item, path)? = Some(value.clone());
        }
        for (path, by) in &self.increment {
            let mut place = slot(item, path)?;
            let next = match place.take() {
                None => Value::Number(by.clone()),
                Some(Value::Number(old)) => Value::Number(add(&old, by)?),
                Some(_) => {
                    return Err(format!(
                        "cannot increment '{}': not a number",
                        path.join(".")
                    ));
                }
            };
            *place = Some(next);
        }
        for (path, values, front) in self
            .append
            .iter()
            .map(|(p, v)| (p, v, false))
            .chain(self.prepend.iter().map(|(p, v)| (p, v, true)))
        {
            let mut place = slot(item, path)?;
            let mut list = match place.take() {
                None => Vec::new(),
                Some(Value::Array(list)) => list,
                Some(_) => {
                    return Err(format!("cannot append to '{}': not a list", path.join(".")));
                }
            };
            if front {
                list.splice(0..0, values.iter().cloned());
            } else {
                list.extend(values.iter().cloned());
            }
            *place = Some(Value::Array(list));
        }
        for path in &self.delete {
            remove(item, path);
        }
        Ok(())
    }
}

fn object_field<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<Vec<(&'a String, &'a Value)>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map.iter().collect()),
        Some(_) => Err(format!("{field} must be an object")),
    }
}

/// Splits and checks a dotted path: not `key`, no empty segment, no overlap with another path
/// of the same update.
fn path_of(name: &str, seen: &mut Vec<Vec<String>>) -> Result<Vec<String>, String> {
    let path: Vec<String> = name.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(format!("invalid field name '{name}'"));
    }
    if path[0] == "key" {
        return Err("key can not be updated".into());
    }
    for other in seen.iter() {
        let n = other.len().min(path.len());
        if other[..n] == path[..n] {
            return Err(format!("conflicting updates on '{name}'"));
        }
    }
    seen.push(path.clone());
    Ok(path)
}

/// A place holding the value at `path`, whose parents must exist and be objects. Writing
/// `Some` there stores the value; the place starts as the current value.
fn slot<'a>(item: &'a mut Map<String, Value>, path: &[String]) -> Result<SlotGuard<'a>, String> {
    let (last, parents) = path.split_last().ok_or("empty field name")?;
    let mut map = item;
    for segment in parents {
        map = match map.get_mut(segment) {
            Some(Value::Object(inner)) => inner,
            Some(_) => {
                return Err(format!(
                    "'{}': parent '{segment}' is not an object",
                    path.join(".")
                ));
            }
            None => {
                return Err(format!(
                    "'{}': parent '{segment}' does not exist",
                    path.join(".")
                ));
            }
        };
    }
    let current = map.remove(last);
    Ok(SlotGuard {
        map,
        name: last.clone(),
        value: current,
    })
}

/// Puts its value back into the map when dropped (so a failed op leaves the field as it was).
struct SlotGuard<'a> {
    map: &'a mut Map<String, Value>,
    name: String,
    value: Option<Value>,
}

impl std::ops::Deref for SlotGuard<'_> {
    type Target = Option<Value>;
    fn deref(&self) -> &Option<Value> {
        &self.value
    }
}

impl std::ops::DerefMut for SlotGuard<'_> {
    fn deref_mut(&mut self) -> &mut Option<Value> {
        &mut self.value
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            self.map.insert(std::mem::take(&mut self.name), value);
        }
    }
}

fn remove(item: &mut Map<String, Value>, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut map = item;
    for segment in parents {
        match map.get_mut(segment) {
            Some(Value::Object(inner)) => map = inner,
            _ => return,
        }
    }
    map.remove(last);
}

fn add(a: &Number, b: &Number) -> Result<Number, String> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64())
        && let Some(sum) = x.checked_add(y)
    {
        return Ok(sum.into());
    }
    let sum = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
    Number::from_f64(sum).ok_or_else(|| "increment overflows".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(item: Value, update: Value) -> Result<Value, String> {
        let ops = UpdateOps::parse(&update)?;
        let Value::Object(mut map) = item else {
            panic!()
        };
        ops.apply(&mut map)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn all_ops_with_dotted_paths() {
        let item = json!({"key":"a","n":1,"p":{"age":3,"tags":["b"]},"gone":1,"f":1.5});
        let out = run(
            item,
            json!({"set":{"p.name":"x","new":true},"increment":{"n":2,"p.age":-1,"fresh":5,"f":1},
                   "append":{"p.tags":"c","l":[1,2]},"prepend":{"list2":[0]},"delete":["gone","p.nothing","absent.x"]}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"key":"a","n":3,"p":{"age":2,"tags":["b","c"],"name":"x"},"new":true,"fresh":5,
                   "f":2.5,"l":[1,2],"list2":[0]})
        );
    }

    #[test]
    fn null_fields_are_empty() {
        let out = run(
            json!({"a":1}),
            json!({"set":null,"increment":null,"append":null,"prepend":null,"delete":null}),
        );
        assert_eq!(out.unwrap(), json!({"a":1}));
    }

    #[test]
    fn errors() {
        let item = json!({"key":"a","s":"x","o":{"v":1},"l":[]});
        let bad = [
            json!({"set":{"key":"b"}}),
            json!({"set":{"a":1},"delete":["a"]}),
            json!({"set":{"o":1,"o.v":2}}),
            json!({"set":{"missing.x":1}}),
            json!({"set":{"s.x":1}}),
            json!({"increment":{"s":1}}),
            json!({"increment":{"o.v":"1"}}),
            json!({"append":{"s":1}}),
            json!({"prepend":{"o":1}}),
            json!({"delete":[1]}),
            json!({"set":[]}),
            json!({"set":{"a..b":1}}),
            json!([]),
        ];
        for update in bad {
            assert!(run(item.clone(), update.clone()).is_err(), "{update}");
        }
    }
}
