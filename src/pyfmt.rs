//! Python's text formats, written once: `repr(float)`, `f"{x:.4f}"`, `round(x, 10)` and the
//! canonical JSON of evidence_json and event payloads. The store writes with it and the gate
//! words its reasons with it, so both print a number the same way Python would.
//!
//! Canonical JSON is byte-identical to Python's
//! `json.dumps(round_floats(obj), sort_keys=True, separators=(",", ":"))`
//! (ensure_ascii left at its default, True), where `round_floats` rounds every float to
//! [`FLOAT_DIGITS`] decimal digits and turns NaN/±inf into `null`. Same value in → same bytes out,
//! on every run.
//!
//! * keys sorted by code point (UTF-8 byte order is code point order);
//! * floats: rounded half-to-even on their exact binary value (like Python's `round(x, 10)`),
//!   then written as Python's `repr(float)` does (shortest round-trip digits, fixed notation for
//!   decimal exponents -4..16, otherwise `1e+16` style), so `3.0` stays `3.0`;
//! * integers as integers; strings escaped as Python's `ensure_ascii=True` does (`\uXXXX`,
//!   lowercase hex, surrogate pairs above U+FFFF).

#![warn(missing_docs)]

use serde_json::{Map, Number, Value};

/// Decimal digits kept after the point when floats are canonicalised (`round(x, 10)`).
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

/// Python's `repr(float)` (also `str(float)` and `f"{x}"`): shortest round-trip digits, exponent
/// form when the decimal point is more than 16 places right or 4 places left (`1e-05`, `1e+16`),
/// `.0` added to whole numbers; `nan`, `inf`, `-inf`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".to_string() } else { "-inf".to_string() };
    }
    let mut out = String::with_capacity(24);
    write_python_float(&mut out, x);
    out
}

/// Python's `f"{x:.4f}"`: the exact binary value rounded to 4 decimals (ties to even).
pub fn python_format_4f(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".to_string() } else { "-inf".to_string() };
    }
    format!("{:.4}", x)
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
    // The nearest one is only taken when it reads back as x: at a power of two the gap below x
    // is half the gap above, so the nearest n-digit decimal can lie outside x's rounding interval
    // (2^-24 is 5.960464477539063e-08, not ...062e-08).
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

/// Python's `repr` of a `str` (quote choice and escapes as CPython prints them), for messages that
/// quote the caller's value the way the analyzer's Python did.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    #[allow(clippy::excessive_precision)] // exact binary values on purpose
    fn float_repr_matches_python_literals() {
        // Expected strings are what CPython's repr() prints for the same values.
        let cases: [(f64, &str); 23] = [
            (0.02, "0.02"),
            (2.5, "2.5"),
            (1.0, "1.0"),
            (3.0, "3.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (-0.0, "-0.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-2.5e-7, "-2.5e-07"),
            (1234.5, "1234.5"),
            // Exact ties between two 17-digit candidates: Python takes the even one.
            (14.868423461914062, "14.868423461914062"),
            (1575981093853829.25, "1575981093853829.2"),
            (125549716009800.125, "125549716009800.12"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(x), want, "repr of {x:?}");
        }
    }

    #[test]
    fn float_repr_of_powers_of_two_round_trips() {
        // At these powers of two the nearest 16-digit decimal lies below x's rounding interval;
        // an earlier copy of repr (in evidence.rs) printed it without checking, e.g.
        // "5.960464477539062e-08" for 2^-24 and "7.678447687145630e-239" for 2^-791.
        // Expected strings are CPython's repr().
        let cases: [(i32, &str); 5] = [
            (-1017, "7.120236347223045e-307"),
            (-791, "7.678447687145631e-239"),
            (-24, "5.960464477539063e-08"),
            (89, "6.189700196426902e+26"),
            (976, "6.386688990511104e+293"),
        ];
        for (e, want) in cases {
            let x = 2f64.powi(e);
            assert_eq!(python_float_repr(x), want, "repr of 2^{e}");
            assert_eq!(python_float_repr(-x), format!("-{want}"), "repr of -2^{e}");
            assert_eq!(python_float_repr(x).parse::<f64>().ok(), Some(x));
        }
        // Every power of two, and its neighbours, reads back as itself.
        for e in -1074..1024 {
            let p = 2f64.powi(e);
            for x in [p, f64::from_bits(p.to_bits() - 1), f64::from_bits(p.to_bits() + 1)] {
                if x.is_finite() && x > 0.0 {
                    assert_eq!(python_float_repr(x).parse::<f64>().ok(), Some(x), "2^{e} neighbour {x:e}");
                }
            }
        }
    }

    #[test]
    fn fixed4_matches_python_literals() {
        let cases: [(f64, &str); 8] = [
            (0.015, "0.0150"),
            (0.03125, "0.0312"), // exact tie, rounds to even
            (0.09375, "0.0938"), // exact tie, rounds to even
            (0.00005, "0.0001"), // binary value is slightly above the tie
            (-0.00001, "-0.0000"),
            (2.00005, "2.0000"), // binary value is slightly below the tie
            (1e20, "100000000000000000000.0000"),
            (f64::INFINITY, "inf"),
        ];
        for (x, want) in cases {
            assert_eq!(python_format_4f(x), want, "{x:?}");
        }
    }

    #[test]
    fn rounding_is_python_round_10() {
        assert_eq!(round_float(0.123456789049), Some(0.123456789));
        assert_eq!(round_float(1.00000000005), Some(1.0000000001)); // binary value just above the tie
        assert_eq!(round_float(f64::NAN), None);
        assert_eq!(round_float(-0.0).map(f64::is_sign_negative), Some(true));
    }

    #[test]
    fn canonical_text_is_sorted_and_rounded() {
        let v = json!({"b": 1.23456789012345, "a": [1, 2.0, "é"], "c": null});
        assert_eq!(to_canonical_string(&v), r#"{"a":[1,2.0,"\u00e9"],"b":1.2345678901,"c":null}"#);
        assert_eq!(to_canonical_string(&canonicalize(&v)), to_canonical_string(&v));
    }

    #[test]
    fn str_repr_matches_python() {
        // Expected strings are what CPython 3.11 prints for repr(s).
        assert_eq!(python_str_repr("bogus"), "'bogus'");
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_str_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(python_str_repr("tab\tnl\n\\"), "'tab\\tnl\\n\\\\'");
        assert_eq!(python_str_repr("\u{7f}"), "'\\x7f'");
    }
}
