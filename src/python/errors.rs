//! The one place where core errors become Python exceptions.
//!
//! The exception classes are declared once, in Python (`crypto_analyzer_promotion.exceptions`),
//! so that they can inherit from both our base class and the built-in the analyzer's API raises
//! (ValueError, FileNotFoundError, RuntimeError). Here we only pick the class; the classes are
//! looked up once per process (on the first error) and kept.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::error::Error;

/// The package's exception classes the core raises.
#[derive(Clone, Copy)]
enum Class {
    InvalidInput,
    MissingFile,
    AccessDenied,
    PromotionIo,
    PromotionRuntime,
    DatabaseBusy,
    Database,
    DatabaseConnection,
    CacheIntegrity,
    Internal,
}

/// Every class, in declaration order: `ALL[c as usize]` is `c` (checked at compile time below).
const ALL: [Class; 10] = [
    Class::InvalidInput,
    Class::MissingFile,
    Class::AccessDenied,
    Class::PromotionIo,
    Class::PromotionRuntime,
    Class::DatabaseBusy,
    Class::Database,
    Class::DatabaseConnection,
    Class::CacheIntegrity,
    Class::Internal,
];

const _: () = {
    let mut i = 0;
    while i < ALL.len() {
        assert!(ALL[i] as usize == i);
        i += 1;
    }
};

impl Class {
    /// The class's name in `crypto_analyzer_promotion.exceptions`.
    fn name(self) -> &'static str {
        match self {
            Class::InvalidInput => "InvalidInputError",
            Class::MissingFile => "MissingFileError",
            Class::AccessDenied => "AccessDeniedError",
            Class::PromotionIo => "PromotionIOError",
            Class::PromotionRuntime => "PromotionRuntimeError",
            Class::DatabaseBusy => "DatabaseBusyError",
            Class::Database => "DatabaseError",
            Class::DatabaseConnection => "DatabaseConnectionError",
            Class::CacheIntegrity => "CacheIntegrityError",
            Class::Internal => "InternalError",
        }
    }
}

/// The classes, indexed by `Class as usize`, imported once.
static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

/// The exception class for `class`, imported from `crypto_analyzer_promotion.exceptions` on the
/// first call. A failed import is not cached (the next error tries again).
fn exception_class<'py>(py: Python<'py>, class: Class) -> PyResult<Bound<'py, PyType>> {
    let classes = CLASSES.get_or_try_init(py, || -> PyResult<Vec<Py<PyType>>> {
        let module = py.import("crypto_analyzer_promotion.exceptions")?;
        ALL.iter().map(|c| Ok(module.getattr(c.name())?.cast_into::<PyType>()?.unbind())).collect()
    })?;
    match classes.get(class as usize) {
        Some(cls) => Ok(cls.bind(py).clone()),
        None => Err(PyRuntimeError::new_err(format!("no exception class for index {}", class as usize))),
    }
}

fn class_of(err: &Error) -> Class {
    match err {
        Error::InvalidInput(_) | Error::Json(_) | Error::StatusChanged { .. } => Class::InvalidInput,
        Error::FileNotFound { .. } => Class::MissingFile,
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => Class::AccessDenied,
        Error::Io { .. } => Class::PromotionIo,
        Error::Runtime(_) => Class::PromotionRuntime,
        Error::Busy { .. } => Class::DatabaseBusy,
        Error::Sqlite(_) | Error::Postgres(_) => Class::Database,
        Error::Connect(_) => Class::DatabaseConnection,
        Error::Cache(_) => Class::CacheIntegrity,
        // Interrupted never gets here (KeyboardInterrupt is raised directly).
        Error::Internal(_) | Error::Interrupted => Class::Internal,
    }
}

/// `?` on a core [`Result`](crate::error::Result) inside a binding raises the matching exception.
impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        to_pyerr(err)
    }
}

/// A bad argument found while converting Python values in a binding: `InvalidInputError` (a
/// `ValueError`), like every input error the core reports.
pub(crate) fn invalid_input(message: impl Into<String>) -> PyErr {
    to_pyerr(Error::InvalidInput(message.into()))
}

/// Convert a core error into the matching Python exception.
fn to_pyerr(err: Error) -> PyErr {
    if matches!(err, Error::Interrupted) {
        return PyKeyboardInterrupt::new_err("interrupted");
    }
    let message = err.to_string();
    let class = class_of(&err);
    Python::attach(|py| match exception_class(py, class) {
        Ok(cls) => PyErr::from_type(cls, message),
        // The exceptions module failing to import is itself a bug; still never panic.
        Err(import_err) => PyRuntimeError::new_err(format!("{message} (and {import_err})")),
    })
}
