"""Helpers for driving the real console script in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dbread
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
SCRIPT = Path(sys.executable).parent / "crypto-analyzer-promotion"

# The analyzer's literal message (the analyzer's store_sqlite).
TABLES_MSG = (
    "Promotion tables not found. Run Phase 3 migrations to create them: run_migrations_phase3(conn, "
    "db_path). From CLI: python cli/promotion.py init --db <path>"
)


class Cli:
    def __init__(self, db: Path, cwd: Path):
        self.db = db
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTO_ANALYZER_")}

    def __call__(self, *args: str, db: bool = True, cwd: Path | None = None, env: dict | None = None):
        cmd = [str(SCRIPT), *(["--db", str(self.db)] if db else []), *args]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=str(cwd or self.cwd), env={**self.env, **(env or {})}, timeout=120
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def json_lines(self, *args: str) -> list[dict]:
        proc = self(*args)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def status_of(db: Path | str, cid: str) -> str:
    """Independent read (plain sqlite3, or psql on PostgreSQL)."""
    return dbread.scalar(db, "SELECT status FROM promotion_candidates WHERE candidate_id = ?", [cid])


def events_of(db: Path | str, cid: str) -> list[tuple[str, dict]]:
    rows = dbread.rows(
        db, "SELECT event_type, payload_json FROM promotion_events WHERE candidate_id = ? ORDER BY event_id", [cid]
    )
    return [(t, json.loads(p) if p else {}) for t, p in rows]


def bundle_summary(stem: str) -> dict:
    b = json.loads((FIXTURES / "bundles" / f"{stem}.json").read_text())
    return next(iter(b["ic_summary_by_horizon"].values()))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    assert SCRIPT.exists(), f"console script not installed: {SCRIPT}"
    work = tmp_path / "work"
    work.mkdir()
    return Cli(tmp_path / "promo.db", work)


# Test modules whose `ready_cli` tests run on SQLite and on PostgreSQL (`--db` is then a
# postgresql:// URL of a fresh schema); tests marked sqlite_only check SQLite-specific behaviour.
BOTH_BACKENDS = {"test_cli_commands.py"}


def pytest_generate_tests(metafunc):
    if "ready_cli" not in metafunc.fixturenames or Path(str(metafunc.module.__file__)).name not in BOTH_BACKENDS:
        return
    if metafunc.definition.get_closest_marker("sqlite_only") is None:
        metafunc.parametrize("cli_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def cli_backend(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def ready_cli(cli: Cli, cli_backend: str, request) -> Cli:
    if cli_backend == "postgresql":
        cli.db = request.getfixturevalue("pg_url")
    proc = cli("init", "--create")
    assert proc.returncode == 0, proc.stderr
    return cli


def create_edge(cli: Cli, rc_summary: Path | None = None, **extra: str) -> str:
    args = [
        "create",
        "--from-run",
        "fixture_run_001",
        "--signal",
        "momentum_24h",
        "--horizon",
        "1",
        "--dataset-id",
        "fixture_ds_hourly_v1",
        "--config-hash",
        "cfg1",
        "--git-commit",
        "abc123",
        "--bundle-path",
        str(FIXTURES / "bundles" / "momentum_24h_h1.json"),
        "--execution-evidence-path",
        str(FIXTURES / "execution" / "momentum_24h_h1_execution_evidence.json"),
        "--regime-summary-path",
        str(FIXTURES / "regimes" / "momentum_24h_h1_regime_summary.csv"),
        "--rc-summary-path",
        str(rc_summary or FIXTURES / "rc" / "rc_summary_family.json"),
        "--evidence-base-path",
        str(FIXTURES),
    ]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", v]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def h():
    """The helpers above, for test modules (importlib mode cannot import conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        status_of=status_of,
        events_of=events_of,
        bundle_summary=bundle_summary,
        create_edge=create_edge,
        FIXTURES=FIXTURES,
        TABLES_MSG=TABLES_MSG,
        SCRIPT=SCRIPT,
    )
