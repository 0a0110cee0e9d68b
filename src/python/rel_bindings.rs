//! Test-only hooks of the reliability suite; hidden (underscore names), not public API.
//!
//! `_debug_raise(kind)` makes the binding layer fail in a chosen way so the tests can check that
//! every core error variant reaches Python as the documented exception class, and that a Rust
//! panic (on the calling thread, or in a rayon worker) surfaces as an exception instead of
//! aborting the interpreter.

use std::io;

use pyo3::prelude::*;
use rayon::prelude::*;

use crate::error::Error;

/// The kinds `_debug_raise` accepts.
const KINDS: [&str; 17] = [
    "invalid_input",
    "json",
    "file_not_found",
    "permission_denied",
    "io",
    "runtime",
    "busy",
    "sqlite",
    "postgres",
    "connect",
    "cache",
    "interrupted",
    "internal",
    "panic",
    "panic_in_thread",
    "panic_unguarded",
    "panic_gil",
];

fn error_of(kind: &str) -> Error {
    match kind {
        "invalid_input" => Error::invalid("debug: invalid input"),
        "json" => match serde_json::from_str::<serde_json::Value>("{\"debug\":") {
            Err(e) => Error::Json(e),
            Ok(_) => Error::Internal("debug: the broken JSON parsed".into()),
        },
        "file_not_found" => {
            Error::io("debug: reading", "/nonexistent/debug.json", io::Error::from(io::ErrorKind::NotFound))
        }
        "permission_denied" => {
            Error::io("debug: writing", "/debug/readonly", io::Error::from(io::ErrorKind::PermissionDenied))
        }
        "io" => Error::io("debug: writing", "/debug/full", io::Error::other("no space left (debug)")),
        "runtime" => Error::Runtime("debug: runtime".into()),
        "busy" => Error::Busy { waited_ms: 1, detail: "debug: database is locked".into() },
        "sqlite" => Error::Sqlite(rusqlite::Error::InvalidQuery),
        "postgres" => Error::Postgres("debug: refused by a trigger".into()),
        "connect" => Error::Connect("debug: could not connect to PostgreSQL at postgresql://u:***@h/db".into()),
        "cache" => Error::Cache("debug: sha256 mismatch".into()),
        "interrupted" => Error::Interrupted,
        "internal" => Error::Internal("debug: invariant".into()),
        other => Error::invalid(format!("unknown _debug_raise kind: {other:?}; expected one of {}", KINDS.join(", "))),
    }
}

/// Raise the exception of error variant `kind`, or panic ("panic": on the calling thread inside
/// the standard guard; "panic_in_thread": in a rayon worker joined inside the guard;
/// "panic_gil": in a binding body holding the GIL, inside `guard_py`; "panic_unguarded": in the
/// binding itself, left to PyO3's PanicException).
#[pyfunction]
#[pyo3(name = "_debug_raise")]
fn debug_raise(py: Python<'_>, kind: &str) -> PyResult<()> {
    if kind == "panic_unguarded" {
        panic!("_debug_raise: deliberate panic outside the guard");
    }
    if kind == "panic_gil" {
        // The guard every binding body that holds the GIL runs in (gating, RC entry points).
        return super::guard_py(|| panic!("_debug_raise: deliberate panic holding the GIL"));
    }
    let kind = kind.to_string();
    super::detach(py, move || match kind.as_str() {
        "panic" => panic!("_debug_raise: deliberate panic"),
        "panic_in_thread" => {
            let total: u64 = (0..64u64)
                .into_par_iter()
                .map(|i| if i == 37 { panic!("_debug_raise: deliberate panic in a worker thread") } else { i })
                .sum();
            Err(Error::Internal(format!("debug: the worker did not panic ({total})")))
        }
        other => Err(error_of(other)),
    })
}

/// The kinds `_debug_raise` accepts.
#[pyfunction]
#[pyo3(name = "_debug_kinds")]
fn debug_kinds() -> Vec<&'static str> {
    KINDS.to_vec()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(debug_raise, m)?)?;
    m.add_function(wrap_pyfunction!(debug_kinds, m)?)?;
    Ok(())
}
