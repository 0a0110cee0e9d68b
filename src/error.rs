//! The one error type of the core. `python/errors.rs` maps each variant to a Python exception
//! exactly once; nothing else in the crate knows about Python exceptions.

#![warn(missing_docs)]

use std::path::PathBuf;

/// Every failure of the core, one variant per kind a caller may need to tell apart (each maps to
/// one Python exception class).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad argument or bad data supplied by the caller (Python: ValueError subclass).
    #[error("{0}")]
    InvalidInput(String),

    /// A file the caller named does not exist (Python: FileNotFoundError subclass).
    #[error("{message}: {}", path.display())]
    FileNotFound {
        /// What was being done, said by the caller (the text before the path).
        message: String,
        /// The path that does not exist.
        path: PathBuf,
    },

    /// Any other I/O failure on a named path (Python: OSError subclass, PermissionError where it is one).
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done, said by the caller (the text before the path).
        context: String,
        /// The path it was done on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// An evaluation's write found the candidate in another status than the one it decided from
    /// (another writer moved it in between); nothing was written. Python: InvalidInputError, as
    /// before; a variant of its own so the service can tell it from other bad input by kind.
    #[error(
        "candidate {candidate_id} changed status from {expected} to {found} while it was evaluated; evaluate again"
    )]
    StatusChanged {
        /// The candidate evaluated.
        candidate_id: String,
        /// The status the evaluation read and decided from.
        expected: String,
        /// The status found when writing.
        found: String,
    },

    /// A state the analyzer reports as RuntimeError (e.g. promotion tables missing).
    #[error("{0}")]
    Runtime(String),

    /// The database stayed locked by another writer longer than the busy timeout.
    #[error("database is busy (locked by another connection) after waiting {waited_ms} ms: {detail}")]
    Busy {
        /// How long the writer waited (the busy timeout; 0 for PostgreSQL's retried conflicts).
        waited_ms: u64,
        /// The database's own message.
        detail: String,
    },

    /// Any other SQLite failure (Python: RuntimeError subclass).
    #[error("sqlite error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// A PostgreSQL server refused a statement (a trigger's message verbatim). Python:
    /// DatabaseError, like [`Error::Sqlite`]. Never contains a password.
    #[error("postgresql error: {0}")]
    Postgres(String),

    /// The PostgreSQL server could not be reached or refused the login (down, wrong port, wrong
    /// credentials, no such database). Python: DatabaseConnectionError (a ConnectionError).
    /// Never contains a password.
    #[error("{0}")]
    Connect(String),

    /// A JSON document could not be parsed or produced (Python: ValueError subclass).
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// A cached artifact failed its integrity check (never served; callers recompute).
    #[error("cache integrity: {0}")]
    Cache(String),

    /// The run was cancelled (Ctrl-C); Python: KeyboardInterrupt.
    #[error("interrupted")]
    Interrupted,

    /// A bug: an invariant of ours failed. Python: RuntimeError subclass. Never used for bad input.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A result whose error is the core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// [`Error::InvalidInput`] with this message.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    /// An I/O failure on `path`: [`Error::FileNotFound`] when the path does not exist, else
    /// [`Error::Io`].
    pub fn io(context: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            return Error::FileNotFound { message: context.into(), path };
        }
        Error::Io { context: context.into(), path, source }
    }
}
