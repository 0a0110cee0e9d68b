//! The value the gate works on: [`Val`], a JSON-like value that (unlike `serde_json::Value`) can
//! hold NaN and ±inf, so the gate can say "mean_ic is not a finite number (got nan)" instead of
//! silently reading a null; how such a value prints (Python's `str`, short descriptions for
//! messages); and reading JSON as Python's `json` module writes it (`NaN`, `Infinity`).
//!
//! Writing a `Val` to JSON turns non-finite floats into null, as the analyzer's own writers do.
//! Number formats come from [`crate::pyfmt`].

#![warn(missing_docs)]

use serde_json::{Map, Number, Value};

use crate::pyfmt::python_float_repr;

/// A JSON-like value that may hold non-finite floats. Maps keep their insertion order.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Val {
    /// JSON null / Python None (the default).
    #[default]
    Null,
    /// A boolean (never read as a number).
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A float, possibly NaN or ±inf.
    Float(f64),
    /// A string.
    Text(String),
    /// A list.
    List(Vec<Val>),
    /// An object: its entries in insertion order; a repeated key's last entry is the one read.
    Map(Vec<(String, Val)>),
}

impl Val {
    /// The value of a parsed JSON document; a number that is not a 64-bit integer becomes a
    /// float (as Python reads it).
    pub fn from_json(v: &Value) -> Val {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Val::Text(s.clone()),
            Value::Array(items) => Val::List(items.iter().map(Val::from_json).collect()),
            Value::Object(map) => Val::Map(map.iter().map(|(k, x)| (k.clone(), Val::from_json(x))).collect()),
        }
    }

    /// JSON form; non-finite floats become null.
    pub fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Float(f) => Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            Val::Text(s) => Value::String(s.clone()),
            Val::List(items) => Value::Array(items.iter().map(Val::to_json).collect()),
            Val::Map(entries) => {
                let mut m = Map::new();
                for (k, x) in entries {
                    m.insert(k.clone(), x.to_json());
                }
                Value::Object(m)
            }
        }
    }

    /// Whether it is [`Val::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// The value as a number when it is an int or a float (possibly non-finite); bools are not numbers.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value when it is a finite int or float.
    pub fn as_finite(&self) -> Option<f64> {
        self.as_number().filter(|x| x.is_finite())
    }

    /// The text when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The entries when it is an object (see [`map_get`] to read one).
    pub fn as_map(&self) -> Option<&[(String, Val)]> {
        match self {
            Val::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Look a key up in a map value.
    pub fn get(&self, key: &str) -> Option<&Val> {
        self.as_map().and_then(|m| map_get(m, key))
    }

    /// How Python's `str(x)` / `f"{x}"` prints the value (for scalars).
    pub fn python_str(&self) -> String {
        match self {
            Val::Null => "None".to_string(),
            Val::Bool(true) => "True".to_string(),
            Val::Bool(false) => "False".to_string(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => python_float_repr(*f),
            Val::Text(s) => s.clone(),
            other => other.to_json().to_string(),
        }
    }

    /// A short description for error messages: `nan`, `string "0.05"`, `null`, `list [1,2]`.
    pub fn describe(&self) -> String {
        match self {
            Val::Null => "null".to_string(),
            Val::Bool(b) => format!("boolean {b}"),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => python_float_repr(*f),
            Val::Text(s) => format!("string {}", Value::String(s.clone())),
            Val::List(_) => format!("list {}", self.to_json()),
            Val::Map(_) => format!("object {}", self.to_json()),
        }
    }
}

/// The value of `key` in an object's entries: the last entry with that key, as Python's `json`
/// keeps the last of repeated keys.
pub fn map_get<'a>(map: &'a [(String, Val)], key: &str) -> Option<&'a Val> {
    map.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

// Marks a non-finite number while parsing. The marker carries a digest of the whole text, so
// no string the document itself contains (e.g. "\u0000nonfinite:NaN") can be taken for one.
const NONFINITE_MARK: &str = "\u{0}nonfinite:";

fn nonfinite_marker(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    format!("{NONFINITE_MARK}{}:", digest.get(..32).unwrap_or(&digest))
}

/// Parse JSON as Python's `json` module writes it: the non-standard tokens `NaN`, `Infinity` and
/// `-Infinity` (Python's default `allow_nan=True`) are read as non-finite floats instead of making
/// the whole file "malformed".
pub fn parse_json_allow_nan(text: &str) -> std::result::Result<Val, serde_json::Error> {
    let marker = nonfinite_marker(text);
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let token = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| rest.starts_with(t));
        match token {
            Some(t) => {
                // The marker in JSON string syntax: the NUL escaped, the rest plain ASCII.
                out.push_str(&format!("\"\\u0000{}{t}\"", &marker[1..]));
                rest = &rest[t.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    let v: Value = serde_json::from_str(&out)?;
    Ok(restore_nonfinite(Val::from_json(&v), &marker))
}

fn restore_nonfinite(v: Val, marker: &str) -> Val {
    match v {
        Val::Text(s) => match s.strip_prefix(marker) {
            Some("NaN") => Val::Float(f64::NAN),
            Some("Infinity") => Val::Float(f64::INFINITY),
            Some("-Infinity") => Val::Float(f64::NEG_INFINITY),
            _ => Val::Text(s),
        },
        Val::List(items) => Val::List(items.into_iter().map(|x| restore_nonfinite(x, marker)).collect()),
        Val::Map(entries) => Val::Map(entries.into_iter().map(|(k, x)| (k, restore_nonfinite(x, marker))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_python_nan_tokens() {
        let v = parse_json_allow_nan(r#"{"a": NaN, "b": [-Infinity, Infinity], "c": "NaN \" x", "d": 1}"#).unwrap();
        assert!(matches!(v.get("a"), Some(Val::Float(f)) if f.is_nan()));
        assert_eq!(v.get("b"), Some(&Val::List(vec![Val::Float(f64::NEG_INFINITY), Val::Float(f64::INFINITY)])));
        assert_eq!(v.get("c"), Some(&Val::Text("NaN \" x".into())));
        assert_eq!(v.get("d"), Some(&Val::Int(1)));
        assert!(parse_json_allow_nan("{\"a\": nan}").is_err());
    }
}
