"""Turn what callers pass as ``conn`` into the target the Rust store works on: a database file or a
``postgresql://`` URL (the store picks the backend from it)."""

from __future__ import annotations

import os
import sqlite3

from . import _core

ConnLike = sqlite3.Connection | str | os.PathLike[str]

_IN_MEMORY_MSG = (
    "in-memory SQLite databases are not supported by the promotion store: it writes the "
    "database file from Rust, so pass a sqlite3.Connection to a file database or a path"
)


def is_postgres_url(target: object) -> bool:
    """True for a ``postgresql://`` or ``postgres://`` URL (a PostgreSQL registry)."""
    if not isinstance(target, str):
        return False
    head = target.lstrip()[:13].lower()
    return head.startswith(("postgresql://", "postgres://"))


def resolve_db_path(conn: ConnLike) -> str:
    """Return the file of ``conn`` (or the ``postgresql://`` URL it is, unchanged).

    * ``sqlite3.Connection``: any transaction the caller left open is committed first (so the
      Rust side neither loses nor waits for it); the file comes from ``PRAGMA database_list``.
      An in-memory or closed connection raises ValueError.
    * ``str`` / ``pathlib.Path``: returned as ``str``.
    """
    if isinstance(conn, sqlite3.Connection):
        try:
            if conn.in_transaction:
                conn.commit()
            cur = conn.cursor()
            cur.row_factory = None
            rows = cur.execute("PRAGMA database_list").fetchall()
            cur.close()
        except sqlite3.ProgrammingError as exc:
            raise ValueError(f"the sqlite3 connection cannot be used (closed?): {exc}") from exc
        for row in rows:
            if row[1] == "main":
                if not row[2]:
                    raise ValueError(_IN_MEMORY_MSG)
                return str(row[2])
        raise ValueError("the sqlite3 connection has no main database")
    if is_postgres_url(conn):
        return str(conn).strip()
    if isinstance(conn, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(conn))
        if path in ("", ":memory:") or path.startswith("file::memory:") or "mode=memory" in path:
            raise ValueError(_IN_MEMORY_MSG)
        return path
    raise ValueError(
        f"conn must be a sqlite3.Connection or a database path (str or pathlib.Path), got {type(conn).__name__}"
    )


def redact(target: str) -> str:
    """The target with any password replaced by ``***`` (paths are returned unchanged)."""
    return _core.store_redact(target)


__all__ = ["ConnLike", "is_postgres_url", "redact", "resolve_db_path"]
