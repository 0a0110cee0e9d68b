//! The helper every heavy call goes through: release the GIL, run the core, convert errors.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use crate::error::{Error, Result};

/// Run `work` with the GIL released and turn its error into a Python exception.
/// Arguments must already be extracted into owned Rust values (that is what `Send` enforces).
/// A panic inside `work` (or inside a rayon task it joins) is caught here and raised as
/// `InternalError`, so a bug never unwinds into the interpreter.
pub(crate) fn detach<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    py.detach(move || guard(work)).map_err(PyErr::from)
}

/// Run `work`, turning a panic into [`Error::Internal`].
pub(crate) fn guard<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        Err(Error::Internal(format!("panic in the engine (caught, not propagated): {}", panic_message(&*payload))))
    })
}

/// Run a binding body that holds the GIL (it converts Python objects), turning a panic into
/// `InternalError` as [`guard`] does, instead of PyO3's PanicException (a BaseException).
pub(crate) fn guard_py<T>(work: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        Err(Error::Internal(format!("panic in the engine (caught, not propagated): {}", panic_message(&*payload)))
            .into())
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
