"""Fixtures of the reliability suite: the harness module and before/after snapshots."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load(name: str):
    """Load a helper module of this folder by path (importlib mode has no package here)."""
    key = f"_rel_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def harness():
    return _load("harness")


def _iterdump(conn):
    """conn.iterdump(); pysqlite3 (swapped in as sqlite3 by `make test-wheel`) has none, so its
    connections get the same pure-Python dump code from the standard library."""
    if hasattr(conn, "iterdump"):
        return conn.iterdump()
    import sysconfig

    path = Path(sysconfig.get_paths()["stdlib"]) / "sqlite3" / "dump.py"
    spec = importlib.util.spec_from_file_location("_stdlib_sqlite3_dump", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._iterdump(conn)


def db_digest(db: Path) -> str:
    """sha256 of the logical content (schema + every row, via iterdump) of a SQLite file, or of
    the raw bytes when it is not a database. Independent of WAL checkpoints."""
    if not db.exists():
        return "absent"
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            h = hashlib.sha256()
            for line in _iterdump(conn):
                h.update(line.encode("utf-8", "surrogatepass"))
                h.update(b"\n")
            return "sql:" + h.hexdigest()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return "raw:" + hashlib.sha256(db.read_bytes()).hexdigest()


def tree_digest(root: Path, skip_suffixes=("-wal", "-shm")) -> dict:
    """{relative path: sha256 | 'dir' | 'link->target'} of everything under root (the cache dir
    or the work folder), WAL/SHM side files of SQLite excluded (they hold no new data after a
    refused write; the database itself is compared by content)."""
    out = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames) + sorted(filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if name.endswith(skip_suffixes):
                continue
            if p.is_symlink():
                out[rel] = "link->" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            elif p.suffix == ".db" or name.endswith(".sqlite"):
                out[rel] = db_digest(p)
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class _Snap:
    db_digest = staticmethod(db_digest)
    tree_digest = staticmethod(tree_digest)


@pytest.fixture
def snap():
    return _Snap
