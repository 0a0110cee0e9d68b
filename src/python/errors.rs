//! The one place where core errors become Python exceptions.
//!
//! The exception classes are declared once, in Python (`crypto_analyzer_promotion.exceptions`),
//! so that they can inherit from both our base class and the built-in the analyzer's API raises
//! (ValueError, FileNotFoundError, RuntimeError). Here we only pick the class.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::error::Error;

fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module = py.import("crypto_analyzer_promotion.exceptions")?;
    Ok(module.getattr(name)?.cast_into::<PyType>()?)
}

fn class_name(err: &Error) -> &'static str {
    match err {
        Error::InvalidInput(_) | Error::Json(_) => "InvalidInputError",
        Error::FileNotFound { .. } => "MissingFileError",
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => "AccessDeniedError",
        Error::Io { .. } => "PromotionIOError",
        Error::Runtime(_) => "PromotionRuntimeError",
        Error::Busy { .. } => "DatabaseBusyError",
        Error::Sqlite(_) | Error::Postgres(_) => "DatabaseError",
        Error::Connect(_) => "DatabaseConnectionError",
        Error::Cache(_) => "CacheIntegrityError",
        Error::Internal(_) => "InternalError",
        Error::Interrupted => "KeyboardInterrupt",
    }
}

/// `?` on a core [`Result`](crate::error::Result) inside a binding raises the matching exception.
impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        to_pyerr(err)
    }
}

/// Convert a core error into the matching Python exception.
fn to_pyerr(err: Error) -> PyErr {
    if matches!(err, Error::Interrupted) {
        return PyKeyboardInterrupt::new_err("interrupted");
    }
    let message = err.to_string();
    let name = class_name(&err);
    Python::attach(|py| match exception_class(py, name) {
        Ok(cls) => PyErr::from_type(cls, message),
        // The exceptions module failing to import is itself a bug; still never panic.
        Err(import_err) => PyRuntimeError::new_err(format!("{message} (and {import_err})")),
    })
}
