"""Bind the Rust store to the SQLite library of Python's own ``sqlite3`` module.

The extension links no SQLite (see docs/sqlite.md): two SQLite libraries in one process cannot
see each other's POSIX locks and lose writes to a database both open. At import the SQLite
behind ``sqlite3`` (whatever it is: the system library, a copy linked into Python, or
``pysqlite3`` installed as ``sqlite3``) calls the extension's entry point with its own API
routines, which the extension keeps and uses for every store connection. Two routes:

1. ``load_extension``: when ``sqlite3.Connection.enable_load_extension`` exists, an in-memory
   connection loads this package's own ``_core`` module as a SQLite extension (the module is
   already loaded by Python, so the dynamic loader returns the same instance).
2. automatic extension: Pythons built without ``--enable-loadable-sqlite-extensions`` (pyenv's
   default, many distributions) lack that method but their SQLite still has
   ``sqlite3_auto_extension``. It is looked up with ctypes in the very module ``sqlite3`` runs on
   (``_sqlite3``'s shared object, searched like the loader does), the entry point is registered,
   ``sqlite3.connect(":memory:")`` is opened once (Python's own open, so only Python's SQLite can
   call us), and the registration is cancelled. If the symbol found belonged to another SQLite,
   Python's open would not call the entry point and binding fails: the route checks itself.

When neither works (a SQLite built with SQLITE_OMIT_LOAD_EXTENSION, as Apple ships for macOS's
system Python, or one older than 3.34.1) the package still imports, but every store call raises
``PromotionRuntimeError`` naming the cause: the store never runs on a second SQLite.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from . import _core


def _bound() -> bool:
    return _core.sqlite_library()["source"] != "unbound"


def _where() -> str:
    return f"sqlite3 module {sqlite3.__name__!r} (SQLite {sqlite3.sqlite_version})"


def _by_load_extension() -> str | None:
    """Route 1; None when bound, else why not."""
    conn = sqlite3.connect(":memory:")
    try:
        enable = getattr(conn, "enable_load_extension", None)
        if enable is None:
            return "it has no enable_load_extension (built without loadable extensions)"
        try:
            enable(True)
        except sqlite3.Error as exc:
            return f"enable_load_extension failed: {exc}"
        try:
            # The SQL function works on every Python (load_extension(entrypoint=) needs 3.12).
            conn.execute("SELECT load_extension(?, ?)", (_core.__file__, _core.SQLITE_ENTRY_POINT))
        except sqlite3.Error as exc:
            return f"load_extension failed: {exc}"
        finally:
            try:
                enable(False)
            except sqlite3.Error:
                pass
    finally:
        conn.close()
    return None if _bound() else "load_extension ran but did not call the entry point"


def _sqlite_module_file() -> str | None:
    """The shared object of the C module behind ``sqlite3`` (``_sqlite3``, ``pysqlite3._sqlite3``);
    None when it is linked into the interpreter."""
    for name, mod in list(sys.modules.items()):
        if name.split(".")[-1] == "_sqlite3" and getattr(mod, "Connection", None) is sqlite3.Connection:
            return getattr(mod, "__file__", None)
    return None


def _auto_extension_hosts() -> list[str | None]:
    """Where ``sqlite3_auto_extension`` of Python's own SQLite can be looked up, most likely first.

    Linux and macOS: the ``_sqlite3`` shared object (a symbol lookup through its handle also
    searches the libraries it links, e.g. the system ``libsqlite3``), or the interpreter itself
    (None) when ``_sqlite3`` is built in. Windows: ``GetProcAddress`` on ``_sqlite3.pyd`` finds only
    what that module exports, which is not SQLite's API, so the ``sqlite3.dll`` it links comes next:
    the one beside it (python.org's and uv's Pythons ship it in ``DLLs\\``), then the one the process
    has loaded under that name. A wrong library is caught by the route's own check.
    """
    where = _sqlite_module_file()
    hosts: list[str | None] = [where]
    if sys.platform == "win32":
        import os

        if where is not None:
            hosts.append(os.path.join(os.path.dirname(where), "sqlite3.dll"))
        hosts.append("sqlite3.dll")
    return hosts


def _by_auto_extension() -> str | None:
    """Route 2; None when bound, else why not."""
    try:
        import ctypes
    except ImportError as exc:  # pragma: no cover - ctypes is part of CPython
        return f"ctypes is unavailable: {exc}"
    reasons = []
    for where in _auto_extension_hosts():
        shown = where or "the interpreter"
        try:
            host = ctypes.CDLL(where)  # None: the interpreter itself (SQLite linked in statically)
            register = host.sqlite3_auto_extension
            cancel = host.sqlite3_cancel_auto_extension
            entry = getattr(ctypes.CDLL(_core.__file__), _core.SQLITE_ENTRY_POINT)
        except (OSError, AttributeError, TypeError) as exc:
            reasons.append(f"sqlite3_auto_extension not found in {shown}: {exc}")
            continue
        for fn in (register, cancel):
            fn.argtypes = [ctypes.c_void_p]
            fn.restype = ctypes.c_int
        entry_addr = ctypes.cast(entry, ctypes.c_void_p).value
        if register(entry_addr) != 0:
            reasons.append(f"the sqlite3_auto_extension of {shown} refused the entry point")
            continue
        try:
            sqlite3.connect(":memory:").close()
        except sqlite3.Error as exc:
            return f"Python's SQLite refused the store: {exc}"
        finally:
            cancel(entry_addr)
        if _bound():
            return None
        reasons.append(
            f"the sqlite3_auto_extension found in {shown} is not the SQLite Python's sqlite3 opens connections with"
        )
    return "; ".join(reasons)


_route: str | None = None


def _bind() -> str | None:
    """Bind once; return None on success, else the reason it failed."""
    global _route
    if _bound():
        return None
    first = _by_load_extension()
    if first is None:
        _route = "load_extension"
        return None
    second = _by_auto_extension()
    if second is None:
        _route = "auto_extension"
        return None
    return f"Python's {_where()} cannot share its SQLite with the store: {first}; {second}"


def bind() -> None:
    """Bind the store to Python's SQLite, or record why not (raised at first store use)."""
    reason = _bind()
    if reason is not None:
        _core.sqlite_mark_unavailable(reason)


def sqlite_info(db: Any = None) -> dict[str, Any]:
    """What the store runs on and how durable its commits are.

    Keys: ``version`` (SQLite version of the bound library, None if unbound), ``source``
    (``"python-sqlite3"``, or ``"unbound"`` with ``unavailable_reason``), ``route``
    (``"load_extension"`` / ``"auto_extension"``: how it was bound), ``python_sqlite3``
    (module name and SQLite version Python's ``sqlite3`` reports), ``synchronous`` (``"FULL"``
    default; ``"NORMAL"`` only when opted into with ``CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS=NORMAL``),
    ``synchronous_error`` (an invalid value of that variable), ``synchronous_env``, ``journal_mode``.
    With ``db`` (a path or ``sqlite3.Connection``), ``connection`` holds what SQLite reports on
    the store's own connection to that file: ``synchronous``, ``journal_mode``, ``busy_timeout_ms``.
    """
    info = dict(_core.sqlite_library())
    info["route"] = _route
    info["python_sqlite3"] = f"{sqlite3.__name__} {sqlite3.sqlite_version}"
    info["journal_mode"] = "wal"
    if db is not None:
        from ._conn import resolve_db_path

        info["connection"] = dict(_core.store_connection_settings(resolve_db_path(db)))
    return info


def describe() -> str:
    """One line for ``--version``-style diagnostics."""
    i = sqlite_info()
    if i["source"] == "unbound":
        lib = f"SQLite unavailable ({i['unavailable_reason']})"
    else:
        lib = f"SQLite {i['version']} (shared with Python's {i['python_sqlite3'].split()[0]}, via {i['route']})"
    if i["synchronous"] == "FULL":
        dur = "synchronous=FULL (committed writes survive a power cut)"
    elif i["synchronous"] == "NORMAL":
        dur = (
            f"synchronous=NORMAL (opted in via {i['synchronous_env']}: commits made just before a "
            "power cut or OS crash may be lost)"
        )
    else:
        dur = f"synchronous invalid: {i['synchronous_error']}"
    return f"{lib}; WAL, {dur}"


__all__ = ["bind", "sqlite_info", "describe"]
