"""Fixtures shared by every test area: a PostgreSQL server for the tests that run on both
backends.

The server is ``CRYPTO_ANALYZER_TEST_PG_URL`` when set (a database the tests may create schemas
in), else a throwaway cluster that ``scripts/pg_cluster.sh up --fast`` starts for the session
(installing PostgreSQL from Debian's packages when missing) and removes at the end. Each test
gets a fresh schema (``pg_url``); ``pg_sql`` runs plain SQL through ``psql``, like any other
client of the server would. ``CRYPTO_ANALYZER_TEST_PG=0`` turns the PostgreSQL tests off (they
are then skipped and say so); otherwise a server that cannot be started fails them.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Test helper modules (``import dbread``): importlib mode has no test packages.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

from dbread import PsqlError, run_psql  # noqa: E402

CLUSTER_SCRIPT = ROOT / "scripts" / "pg_cluster.sh"
PG_URL_ENV = "CRYPTO_ANALYZER_TEST_PG_URL"
_schemas = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    url = os.environ.get(PG_URL_ENV, "").strip()
    if url:
        yield url
        return
    if os.environ.get("CRYPTO_ANALYZER_TEST_PG", "1") == "0":
        pytest.skip("PostgreSQL tests turned off (CRYPTO_ANALYZER_TEST_PG=0)")
    proc = subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), "up", "--fast"], capture_output=True, text=True, timeout=1200, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"could not start a throwaway PostgreSQL cluster: {proc.stderr[-3000:]}")
    got = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    try:
        yield got["PG_URL"]
    finally:
        subprocess.run(
            ["bash", str(CLUSTER_SCRIPT), "down", got["PG_DIR"]], capture_output=True, timeout=120, check=False
        )


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh schema on the server; the URL whose sessions use it (search_path)."""
    name = f"t{os.getpid()}_{next(_schemas)}"
    run_psql(pg_server, f"CREATE SCHEMA {name}")
    sep = "&" if "?" in pg_server else "?"
    url = f"{pg_server}{sep}options=-csearch_path%3D{name}"
    try:
        yield url
    finally:
        from crypto_analyzer_promotion import _core

        _core.store_forget_connection(url)
        run_psql(pg_server, f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def pg_sql() -> Callable[..., Any]:
    """``pg_sql(url, sql, params=())`` → rows as dicts (a SELECT), or None for other statements.
    Raises PsqlError with the server's message when the statement is refused."""

    def _run(url: str, sql: str, params: Sequence[Any] = ()) -> Any:
        if sql.lstrip().upper().startswith("SELECT"):
            out = run_psql(url, f"SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql}) t", params)
            return json.loads(out)
        run_psql(url, sql, params)
        return None

    _run.Error = PsqlError  # type: ignore[attr-defined]
    return _run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: SQLite-specific behaviour; not run on PostgreSQL")


@pytest.fixture
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty registry: a SQLite file path, or for param "postgresql" the URL of a
    fresh schema on the test server. Areas parametrize it with ``dbread.both_backends``."""
    from crypto_analyzer_promotion.migrations_phase3 import run_migrations_phase3

    if getattr(request, "param", "sqlite") == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        run_migrations_phase3(url)
        return url
    path = str(tmp_path / "promo.db")
    run_migrations_phase3(path)
    return path
