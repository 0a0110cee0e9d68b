"""Independent reads of a registry on either backend, for the tests: plain ``sqlite3`` for a
SQLite file, ``psql`` (another client of the server) for a ``postgresql://`` URL. Nothing here
goes through the package.

Importable from any test module as ``import dbread`` (``tests_py/conftest.py`` puts this folder
on ``sys.path``; importlib mode has no test packages).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def is_url(db: Any) -> bool:
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def psql_binary() -> str:
    found = shutil.which("psql")
    if found:
        return found
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True):
        return str(cand)
    raise RuntimeError("psql not found (install postgresql-client)")


class PsqlError(RuntimeError):
    """psql reported an error (the server refused the statement)."""


def run_psql(url: str, sql: str, params: Sequence[Any] = ()) -> str:
    """Run ``sql`` with psql on ``url``; ``?`` placeholders take ``params`` (as SQL literals)."""
    names: list[str] = []

    def sub(_m: re.Match[str]) -> str:
        names.append(f"p{len(names)}")
        return f":'{names[-1]}'"

    text = re.sub(r"\?", sub, sql)
    args = [psql_binary(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url]
    for name, value in zip(names, params):
        args += ["-v", f"{name}={value}"]
    proc = subprocess.run(args, input=text, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise PsqlError(proc.stderr.strip())
    return proc.stdout


def rows(db: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of a SELECT as tuples (what sqlite3's fetchall gives), on either backend.
    ``?`` placeholders on both. PostgreSQL's explicit ``rowid`` column is left out."""
    if is_url(db):
        out = run_psql(db, f"SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql}) t", params)
        return [tuple(v for k, v in r.items() if k != "rowid") for r in json.loads(out)]
    conn = sqlite3.connect(str(db))
    try:
        return [tuple(r) for r in conn.execute(sql, tuple(params)).fetchall()]
    finally:
        conn.close()


def scalar(db: Any, sql: str, params: Sequence[Any] = ()) -> Any:
    got = rows(db, sql, params)
    return got[0][0] if got else None


def both_backends(metafunc: Any, modules: set[str]) -> None:
    """Run the tests of ``modules`` that use the ``registry`` fixture on SQLite and on
    PostgreSQL (tests marked ``sqlite_only`` stay on SQLite). Call from ``pytest_generate_tests``."""
    if "registry" not in metafunc.fixturenames or Path(str(metafunc.module.__file__)).name not in modules:
        return
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        return
    metafunc.parametrize("registry", ["sqlite", "postgresql"], indirect=True)
