//! Python objects ⇄ the core's values: the one walker every binding uses.
//!
//! Accepted: dict, list, tuple, str, int, float, bool, None, numpy scalars and arrays (through
//! `.item()` / `.tolist()`), `os.PathLike` such as `pathlib.Path` (→ str). Floats are kept as they
//! are, NaN and ±inf included, so the gate can name a NaN metric; JSON output
//! ([`py_to_json_named`]) turns them into `null` as the canonical format requires. Anything else
//! is a ValueError naming where it sits, e.g. `evidence['x'][2] is not JSON-serializable: set`.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

use crate::error::Error;
use crate::val::Val;

/// Deeper than this is reported as an error (a list that contains itself would never end).
const MAX_DEPTH: usize = 200;

/// What to do with a dict key that is not a `str`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// Refuse it: stored JSON documents (evidence, payloads) are written as the caller gave them.
    StrOnly,
    /// Use `str(key)`: in-memory structures such as `ic_summary_by_horizon` have int keys.
    Stringify,
}

fn invalid(msg: String) -> PyErr {
    PyErr::from(Error::InvalidInput(msg))
}

/// Convert a Python object; errors name the path from `root` (e.g. "evidence", "bundle").
pub(crate) fn py_to_val(obj: &Bound<'_, PyAny>, root: &str, keys: Keys) -> PyResult<Val> {
    let mut path = root.to_string();
    convert(obj, &mut path, 0, keys)
}

/// Convert a Python object into JSON (NaN/±inf → null); dict keys must be `str`.
pub(crate) fn py_to_json_named(obj: &Bound<'_, PyAny>, root: &str) -> PyResult<Value> {
    Ok(py_to_val(obj, root, Keys::StrOnly)?.to_json())
}

/// [`py_to_json_named`] with the root called `value`.
pub(crate) fn py_to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    py_to_json_named(obj, "value")
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "<unknown type>".to_string())
}

fn not_serializable(path: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    invalid(format!("{path} is not JSON-serializable: {}", type_name(obj)))
}

fn is_numpy(obj: &Bound<'_, PyAny>) -> bool {
    obj.get_type()
        .module()
        .map(|m| {
            let name = m.to_string();
            name == "numpy" || name.starts_with("numpy.")
        })
        .unwrap_or(false)
}

fn dict_key(k: &Bound<'_, PyAny>, path: &str, keys: Keys) -> PyResult<String> {
    if let Ok(s) = k.cast::<PyString>() {
        return Ok(s.to_str()?.to_string());
    }
    if keys == Keys::Stringify {
        return Ok(k.str()?.to_str()?.to_string());
    }
    let repr = k.repr().map(|r| r.to_string()).unwrap_or_default();
    Err(invalid(format!("{path} has a key that is not a str: {repr} ({}); JSON keys must be strings", type_name(k))))
}

fn convert(obj: &Bound<'_, PyAny>, path: &mut String, depth: usize, keys: Keys) -> PyResult<Val> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!("{path} is nested more than {MAX_DEPTH} levels deep (circular reference?)")));
    }
    if obj.is_none() {
        return Ok(Val::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Val::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Val::Int(i)),
            Err(_) => Err(invalid(format!("{path} is not JSON-serializable: integer out of the 64-bit range"))),
        };
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Val::Float(obj.extract::<f64>()?));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Val::Text(s.to_str()?.to_string()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut entries = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = dict_key(&k, path, keys)?;
            let len = path.len();
            path.push_str(&format!("['{key}']"));
            let val = convert(&v, path, depth + 1, keys)?;
            path.truncate(len);
            entries.push((key, val));
        }
        return Ok(Val::Map(entries));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            let item = item?;
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            items.push(convert(&item, path, depth + 1, keys)?);
            path.truncate(len);
        }
        return Ok(Val::List(items));
    }
    if is_numpy(obj) {
        // numpy scalar → Python scalar; numpy array → nested lists.
        let is_array = obj.hasattr("ndim")? && obj.getattr("ndim")?.extract::<i64>().unwrap_or(0) > 0;
        let method = if is_array && obj.hasattr("tolist")? {
            "tolist"
        } else if obj.hasattr("item")? {
            "item"
        } else {
            return Err(not_serializable(path, obj));
        };
        let plain = obj.call_method0(method)?;
        if is_numpy(&plain) {
            return Err(not_serializable(path, obj));
        }
        return convert(&plain, path, depth + 1, keys);
    }
    let os = obj.py().import("os")?;
    if obj.is_instance(&os.getattr("PathLike")?)? {
        let fspath = os.getattr("fspath")?.call1((obj,))?;
        if let Ok(s) = fspath.cast::<PyString>() {
            return Ok(Val::Text(s.to_str()?.to_string()));
        }
    }
    Err(not_serializable(path, obj))
}

/// Convert a core value into Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn val_to_py<'py>(py: Python<'py>, v: &Val) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Val::Null => py.None().into_bound(py),
        Val::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Val::Int(i) => i.into_pyobject(py)?.into_any(),
        Val::Float(f) => PyFloat::new(py, *f).into_any(),
        Val::Text(s) => PyString::new(py, s).into_any(),
        Val::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(val_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Val::Map(entries) => {
            let dict = PyDict::new(py);
            for (k, item) in entries {
                dict.set_item(k, val_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Convert a JSON value into Python objects.
pub(crate) fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    val_to_py(py, &Val::from_json(v))
}
