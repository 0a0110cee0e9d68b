//! Canonical JSON: the one byte format for evidence_json and event payloads.
//!
//! The output is byte-identical to Python's
//! `json.dumps(round_floats(obj), sort_keys=True, separators=(",", ":"))`
//! (ensure_ascii left at its default, True), where `round_floats` rounds every float to 10
//! decimal digits and turns NaN/±inf into `null`. Same value in → same bytes out, on every run.
//!
//! * keys sorted by code point (UTF-8 byte order is code point order);
//! * floats: rounded half-to-even on their exact binary value (like Python's `round(x, 10)`),
//!   then written as Python's `repr(float)` does (shortest round-trip digits, fixed notation for
//!   decimal exponents -4..16, otherwise `1e+16` style), so `3.0` stays `3.0`;
//! * integers as integers; strings escaped as Python's `ensure_ascii=True` does (`\uXXXX`,
//!   lowercase hex, surrogate pairs above U+FFFF).

use serde_json::{Map, Number, Value};

/// Decimal digits kept after the point when floats are canonicalised.
pub const FLOAT_DIGITS: usize = 10;

/// Round `x` to [`FLOAT_DIGITS`] decimals exactly as Python's `round(x, 10)` does.
/// Returns `None` for NaN and ±inf (stored as JSON `null`).
pub fn round_float(x: f64) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    // Rust's fixed-precision formatting is exact (correctly rounded, ties to even on the exact
    // binary value), which is what CPython's round() computes through dtoa.
    let text = format!("{:.*}", FLOAT_DIGITS, x);
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() => Some(r),
        _ => Some(x),
    }
}

/// Return the canonical form of `v`: floats rounded, non-finite floats null, maps sorted.
pub fn canonicalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => canonical_number(n),
        Value::Array(items) => Value::Array(items.iter().map(canonicalize).collect()),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let mut out = Map::new();
            for (k, val) in entries {
                out.insert(k.clone(), canonicalize(val));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn canonical_number(n: &Number) -> Value {
    if n.is_i64() || n.is_u64() {
        return Value::Number(n.clone());
    }
    match n.as_f64().and_then(round_float).and_then(Number::from_f64) {
        Some(r) => Value::Number(r),
        None => Value::Null,
    }
}

/// Canonical JSON text of `v` (canonicalises first; see the module documentation).
pub fn to_canonical_string(v: &Value) -> String {
    let mut out = String::with_capacity(64);
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                match n.as_f64().and_then(round_float) {
                    Some(f) => write_python_float(out, f),
                    None => out.push_str("null"),
                }
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, val);
            }
            out.push('}');
        }
    }
}

/// Write `s` as a JSON string the way Python's json module does with ensure_ascii=True.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units).iter() {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
        }
    }
    out.push('"');
}

/// Write a finite float as Python's `repr(float)` does.
fn write_python_float(out: &mut String, x: f64) {
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7", "1e16", "0e0". When two
    // strings of that length round-trip, Python picks the one nearest to x (ties to even), which
    // is the exact rounding to that many digits; Rust's shortest mode may pick the other one.
    let shortest = format!("{:e}", x);
    let n_digits =
        shortest.split('e').next().map(|m| m.chars().filter(|c| c.is_ascii_digit()).count()).unwrap_or(1).max(1);
    let nearest = format!("{:.*e}", n_digits - 1, x);
    let sci = if nearest.parse::<f64>().ok() == Some(x) { nearest } else { shortest };
    let (mantissa, exp_text) = match sci.split_once('e') {
        Some(parts) => parts,
        None => (sci.as_str(), "0"),
    };
    let exp: i32 = exp_text.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                let (int_part, frac_part) = digits.split_at(int_len);
                out.push_str(int_part);
                out.push('.');
                out.push_str(frac_part);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        let (first, rest) = digits.split_at(digits.len().min(1));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repr(x: f64) -> String {
        let mut s = String::new();
        write_python_float(&mut s, x);
        s
    }

    #[test]
    #[allow(clippy::excessive_precision)] // exact binary values on purpose
    fn floats_follow_python_repr() {
        assert_eq!(repr(3.0), "3.0");
        assert_eq!(repr(-0.0), "-0.0");
        assert_eq!(repr(0.1), "0.1");
        assert_eq!(repr(1e16), "1e+16");
        assert_eq!(repr(1.5e-5), "1.5e-05");
        assert_eq!(repr(0.0001), "0.0001");
        assert_eq!(repr(123456789012345.6), "123456789012345.6");
        assert_eq!(repr(1.7976931348623157e308), "1.7976931348623157e+308");
        // Two 17-digit strings round-trip; Python takes the nearer (ties to even).
        assert_eq!(repr(1575981093853829.25), "1575981093853829.2");
        assert_eq!(repr(125549716009800.125), "125549716009800.12");
    }

    #[test]
    fn canonical_text_is_sorted_and_rounded() {
        let v = json!({"b": 1.23456789012345, "a": [1, 2.0, "é"], "c": null});
        assert_eq!(to_canonical_string(&v), r#"{"a":[1,2.0,"\u00e9"],"b":1.2345678901,"c":null}"#);
    }
}
