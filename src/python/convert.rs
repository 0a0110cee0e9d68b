//! Python objects ⇄ serde_json values, for evidence and event payloads.
//!
//! Accepted: dict (str keys), list, tuple, str, int, float, bool, None, numpy scalars and arrays
//! (through `.item()` / `.tolist()`), `os.PathLike` such as `pathlib.Path` (→ str). NaN and ±inf
//! become `null`. Anything else is a ValueError naming where it sits, e.g.
//! `evidence['x'][2] is not JSON-serializable: set`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Deeper than this is reported as an error (a list that contains itself would never end).
const MAX_DEPTH: usize = 200;

/// Convert a Python object into JSON; errors name the path from the root `value`.
pub(crate) fn py_to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    py_to_json_named(obj, "value")
}

/// Like [`py_to_json`], naming the root `root` in error messages (e.g. "evidence", "payload").
pub(crate) fn py_to_json_named(obj: &Bound<'_, PyAny>, root: &str) -> PyResult<Value> {
    let mut path = root.to_string();
    convert(obj, &mut path, 0)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "<unknown type>".to_string())
}

fn not_serializable(path: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    PyValueError::new_err(format!("{path} is not JSON-serializable: {}", type_name(obj)))
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

fn convert(obj: &Bound<'_, PyAny>, path: &mut String, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{path} is nested more than {MAX_DEPTH} levels deep (circular reference?)"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return Err(PyValueError::new_err(format!(
            "{path} is not JSON-serializable: integer out of the 64-bit range"
        )));
    }
    if obj.is_instance_of::<PyFloat>() {
        let x: f64 = obj.extract()?;
        return Ok(Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_string()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                let repr = k.repr().map(|r| r.to_string()).unwrap_or_default();
                return Err(PyValueError::new_err(format!(
                    "{path} has a key that is not a str: {repr} ({}); JSON keys must be strings",
                    type_name(&k)
                )));
            };
            let key = key.to_str()?.to_string();
            let len = path.len();
            path.push_str(&format!("['{key}']"));
            let val = convert(&v, path, depth + 1)?;
            path.truncate(len);
            map.insert(key, val);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            let item = item?;
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            items.push(convert(&item, path, depth + 1)?);
            path.truncate(len);
        }
        return Ok(Value::Array(items));
    }
    if is_numpy(obj) {
        // numpy scalar → Python scalar; numpy array → nested lists.
        let method = if obj.hasattr("tolist")? && obj.hasattr("ndim")? && obj.getattr("ndim")?.extract::<i64>()? > 0 {
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
        return convert(&plain, path, depth + 1);
    }
    let py = obj.py();
    let pathlike = py.import("os")?.getattr("PathLike")?;
    if obj.is_instance(&pathlike)? {
        let fspath = py.import("os")?.getattr("fspath")?.call1((obj,))?;
        if let Ok(s) = fspath.cast::<PyString>() {
            return Ok(Value::String(s.to_str()?.to_string()));
        }
    }
    Err(not_serializable(path, obj))
}

/// Convert a JSON value into Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
