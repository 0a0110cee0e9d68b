//! Bindings for the gating part (owned by its issue). Thin wrappers only.

use pyo3::prelude::*;

pub(crate) fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
