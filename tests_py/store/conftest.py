"""Fixtures of the store tests: a migrated file database and independent reference helpers."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from pathlib import Path

import pytest
from crypto_analyzer_promotion import migrations_phase3, store_sqlite


def round_floats(obj):
    """Plain-Python reference: floats rounded to 10 digits, NaN/inf → None."""
    if isinstance(obj, float):
        return round(obj, 10) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: round_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v) for v in obj]
    return obj


def python_canonical(obj) -> str:
    """The format the store promises, computed with the json module."""
    return json.dumps(round_floats(obj), sort_keys=True, separators=(",", ":"))


def expected_id(run_id, signal_name, horizon, created_at_utc) -> str:
    digest = hashlib.sha256(f"{run_id}|{signal_name}|{horizon}|{created_at_utc}".encode()).hexdigest()
    return "prom_" + digest[:16]


def rows(db: Path, sql: str, params=()):
    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


BASE = dict(dataset_id="ds1", run_id="run1", signal_name="sig_a", horizon=5, config_hash="cfg", git_commit="abc")


@pytest.fixture
def base_kwargs():
    return dict(BASE)


# Test modules whose `db` tests run on both backends (db is then a path or a postgresql:// URL).
# The other modules hand `db` to sqlite3 and stay SQLite-only.
BOTH_BACKENDS = {"test_store_api.py", "test_store_json.py"}


def pytest_generate_tests(metafunc):
    if "db" in metafunc.fixturenames and Path(str(metafunc.module.__file__)).name in BOTH_BACKENDS:
        metafunc.parametrize("db", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db(request, tmp_path: Path):
    """A migrated registry: a SQLite file (Path) or, for param "postgresql", a fresh schema on
    the test server (its postgresql:// URL)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        migrations_phase3.run_migrations_phase3(None, url)
        return url
    path = tmp_path / "promo.db"
    migrations_phase3.run_migrations_phase3(None, path)
    return path


@pytest.fixture
def make(db, base_kwargs):
    """create_candidate on the fixture database with overrides."""

    def _make(**over):
        kw = dict(base_kwargs)
        kw.update(over)
        return store_sqlite.create_candidate(db, **kw)

    return _make


class _Ref:
    """Independent references (plain sqlite3, json, hashlib), handed to tests as a fixture
    because importlib mode does not let test modules import conftest."""

    round_floats = staticmethod(round_floats)
    python_canonical = staticmethod(python_canonical)
    expected_id = staticmethod(expected_id)
    rows = staticmethod(rows)
    BASE = BASE


@pytest.fixture
def ref(pg_sql):
    """The references; ``rows`` reads a PostgreSQL registry through psql (SQLite's implicit
    rowid column, explicit on PostgreSQL, is left out of SELECT * as sqlite3 leaves it out)."""

    def any_rows(db, sql, params=()):
        if isinstance(db, str) and db.startswith("postgres"):
            return [{k: v for k, v in r.items() if k != "rowid"} for r in pg_sql(db, sql, params)]
        return rows(db, sql, params)

    class _BothRef(_Ref):
        rows = staticmethod(any_rows)

    return _BothRef
