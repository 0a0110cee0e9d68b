//! Bindings for the SQLite library the store runs on and the durability it opens connections
//! with (diagnostics, and the import-time binding done by `crypto_analyzer_promotion._sqlite`).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::detach;
use crate::error::Error;
use crate::store::sqlite as store;
use crate::store::sqlite::library as sqlite_host;
use crate::store::Backend;

/// The library in use and the configured durability, as a dict (never raises).
#[pyfunction]
fn sqlite_library(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let lib = sqlite_host::library();
    let d = PyDict::new(py);
    d.set_item("version", lib.version)?;
    d.set_item("version_number", lib.version_number)?;
    d.set_item("source", lib.source)?;
    d.set_item("unavailable_reason", lib.unavailable_reason)?;
    match store::synchronous_mode() {
        Ok(mode) => {
            d.set_item("synchronous", mode.as_str())?;
            d.set_item("synchronous_error", py.None())?;
        }
        Err(e) => {
            d.set_item("synchronous", py.None())?;
            d.set_item("synchronous_error", e.to_string())?;
        }
    }
    d.set_item("synchronous_env", store::SYNCHRONOUS_ENV)?;
    Ok(d)
}

/// Record why Python's SQLite could not be bound; every later store call raises with it.
#[pyfunction]
fn sqlite_mark_unavailable(reason: &str) {
    sqlite_host::mark_unavailable(reason);
}

/// The settings SQLite reports on the store's own (cached) connection to the SQLite file `target` (PostgreSQL: not available yet).
#[pyfunction]
fn store_connection_settings(py: Python<'_>, target: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let s = detach(py, move || match Backend::from_path(&target) {
        Backend::Sqlite(path) => store::with_cached_store(&path, |st| store::connection_settings(st.connection())),
        Backend::Postgres(_) => Err(Error::invalid("connection_settings is not available on PostgreSQL yet")),
    })?;
    let d = PyDict::new(py);
    d.set_item("synchronous", s.synchronous)?;
    d.set_item("journal_mode", s.journal_mode)?;
    d.set_item("busy_timeout_ms", s.busy_timeout_ms)?;
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SQLITE_ENTRY_POINT", sqlite_host::ENTRY_POINT)?;
    m.add("SQLITE_SYNCHRONOUS_ENV", store::SYNCHRONOUS_ENV)?;
    m.add_function(wrap_pyfunction!(sqlite_library, m)?)?;
    m.add_function(wrap_pyfunction!(sqlite_mark_unavailable, m)?)?;
    m.add_function(wrap_pyfunction!(store_connection_settings, m)?)?;
    Ok(())
}
