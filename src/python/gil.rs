//! The helper every heavy call goes through: release the GIL, run the core, convert errors.

use pyo3::prelude::*;

use crate::error::Result;

/// Run `work` with the GIL released and turn its error into a Python exception.
/// Arguments must already be extracted into owned Rust values (that is what `Send` enforces).
pub(crate) fn detach<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    py.detach(work).map_err(super::to_pyerr)
}
