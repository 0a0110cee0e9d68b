"""Exception hierarchy of crypto_analyzer_promotion.

Every error raised by the Rust core is an instance of :class:`PromotionError` *and* of the
built-in exception the analyzer's API raises, so callers that catch ``ValueError``,
``FileNotFoundError`` or ``RuntimeError`` keep working.
"""

from __future__ import annotations


class PromotionError(Exception):
    """Base class of every error raised by this package."""


class InvalidInputError(PromotionError, ValueError):
    """A bad argument or malformed data (unknown status, non-JSON evidence, bad config...)."""


class MissingFileError(PromotionError, FileNotFoundError):
    """A file the caller named does not exist."""


class PromotionIOError(PromotionError, OSError):
    """Another I/O failure on a named path."""


class AccessDeniedError(PromotionIOError, PermissionError):
    """A path exists but may not be read or written (read-only cache dir or database)."""


class PromotionRuntimeError(PromotionError, RuntimeError):
    """A state the analyzer reports as RuntimeError (e.g. promotion tables missing)."""


class DatabaseError(PromotionRuntimeError):
    """SQLite reported an error."""


class DatabaseBusyError(DatabaseError, TimeoutError):
    """The database stayed locked by another writer longer than the busy timeout."""


class DatabaseConnectionError(DatabaseError, ConnectionError):
    """The PostgreSQL server could not be reached or refused the login (the message names the
    server with the password replaced by ``***``)."""


class CacheIntegrityError(PromotionRuntimeError):
    """A cached artifact failed its integrity check."""


class InternalError(PromotionRuntimeError):
    """An invariant of the engine failed: a bug, reported instead of crashing the interpreter."""


__all__ = [
    "PromotionError",
    "InvalidInputError",
    "MissingFileError",
    "PromotionIOError",
    "AccessDeniedError",
    "PromotionRuntimeError",
    "DatabaseError",
    "DatabaseBusyError",
    "DatabaseConnectionError",
    "CacheIntegrityError",
    "InternalError",
]
