"""Turn what callers pass as ``conn`` into the database file the Rust store works on."""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Dict, List, Union

ConnLike = Union[sqlite3.Connection, str, "os.PathLike[str]"]

_IN_MEMORY_MSG = (
    "in-memory SQLite databases are not supported by the promotion store: it writes the "
    "database file from Rust, so pass a sqlite3.Connection to a file database or a path"
)


# One idle connection of Python's own sqlite3 per database file, kept open for the life of the
# process. Python's sqlite3 module is a second SQLite library in this process and cannot see the
# Rust store's file locks (POSIX locks belong to the process). While it has no connection of its
# own open to a file, each new one believes it is the first and re-initialises the -shm file under
# the store's memory map, and closing its last one checkpoints and deletes the WAL: with another
# thread in the store at that moment, that is a SIGBUS or a corrupt file. Keeping one connection
# open makes every later open and close of the caller's connections ordinary.
_keepers: Dict[str, sqlite3.Connection] = {}
_inherited: List[sqlite3.Connection] = []
_keepers_lock = threading.Lock()
_keepers_pid = os.getpid()


def keep_library_connection(path: str) -> None:
    """Open (once per process) an idle sqlite3 connection to the file at ``path`` and keep it."""
    global _keepers_pid
    if path in _keepers and _keepers_pid == os.getpid():
        return
    with _keepers_lock:
        if _keepers_pid != os.getpid():
            # Inherited across fork: never use or close them here; start afresh.
            _inherited.extend(_keepers.values())
            _keepers.clear()
            _keepers_pid = os.getpid()
        if path in _keepers or not os.path.isfile(path):
            return
        try:
            keeper = sqlite3.connect(path, check_same_thread=False)
            keeper.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # maps the WAL index
        except sqlite3.Error:
            return  # not a database (the store reports it) or not readable
        _keepers[path] = keeper


def resolve_db_path(conn: ConnLike) -> str:
    """Return the file of ``conn``.

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
                keep_library_connection(str(row[2]))
                return str(row[2])
        raise ValueError("the sqlite3 connection has no main database")
    if isinstance(conn, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(conn))
        if path in ("", ":memory:") or path.startswith("file::memory:") or "mode=memory" in path:
            raise ValueError(_IN_MEMORY_MSG)
        keep_library_connection(os.path.abspath(path))
        return path
    raise ValueError(
        f"conn must be a sqlite3.Connection or a database path (str or pathlib.Path), "
        f"got {type(conn).__name__}"
    )


__all__ = ["resolve_db_path", "keep_library_connection", "ConnLike"]
