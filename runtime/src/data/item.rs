//! Base items: the rules every stored item follows (an object with a string key of at most
//! 1024 bytes, at most 400 KB of JSON, at most 64 levels deep, `__expires` a number of Unix
//! seconds) and generated keys. Shared by the HTTP layer and the stores' update path.
//!
//! Pure: it must not touch storage or HTTP.

use rand::Rng;
use serde_json::{Map, Value};

use super::store::StoredItem;

/// Largest item, as stored JSON text.
pub const MAX_ITEM_BYTES: usize = 400 << 10;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Deepest nesting of objects and lists inside an item.
pub const MAX_DEPTH: usize = 64;
const TTL_FIELD: &str = "__expires";

/// Checks an item and makes it ready to store; also returns the item as answered.
pub fn prepare_item(item: Value) -> Result<(StoredItem, Value), String> {
    let Value::Object(mut map) = item else {
        return Err("an item must be a JSON object".into());
    };
    let key = match map.get("key") {
        None | Some(Value::Null) => new_key(),
        Some(Value::String(k)) => {
            check_key(k)?;
            k.clone()
        }
        Some(_) => return Err("key must be a string".into()),
    };
    map.insert("key".into(), Value::String(key.clone()));
    let (json, expires) = encode(&map)?;
    Ok((StoredItem { key, json, expires }, Value::Object(map)))
}

/// The item's expiry from `__expires` (Unix seconds), if it has one.
pub fn expiry_of(item: &Map<String, Value>) -> Result<Option<i64>, String> {
    match item.get(TTL_FIELD) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(t), _) => Ok(Some(t)),
            (None, Some(f)) if f.is_finite() && f.abs() < 9.0e15 => Ok(Some(f.floor() as i64)),
            _ => Err("__expires is out of range".into()),
        },
        Some(_) => Err("__expires must be a number (Unix seconds)".into()),
    }
}

/// Checks a whole item (expiry, nesting, size) and returns its JSON text and expiry.
pub fn encode(map: &Map<String, Value>) -> Result<(String, Option<i64>), String> {
    let expires = expiry_of(map)?;
    if 1 + map.values().map(depth).max().unwrap_or(0) > MAX_DEPTH {
        return Err(format!("an item is nested deeper than {MAX_DEPTH} levels"));
    }
    let json = serde_json::to_string(map).map_err(|e| e.to_string())?;
    if json.len() > MAX_ITEM_BYTES {
        return Err(format!(
            "an item is larger than 400 KB ({} bytes)",
            json.len()
        ));
    }
    Ok((json, expires))
}

pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("key must not be empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!("key is longer than {MAX_KEY_BYTES} bytes"));
    }
    if key.contains('\0') {
        return Err("key must not contain NUL".into());
    }
    Ok(())
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(list) => 1 + list.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A 12-character key of lowercase letters and digits.
fn new_key() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
