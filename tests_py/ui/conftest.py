"""A small promotion database built from the fixtures through the store API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
APP = REPO / "python" / "crypto_analyzer_promotion" / "app.py"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Page tests run on SQLite and PostgreSQL, except those that check results with plain
    sqlite3 (the ``sql`` fixture) or are marked ``sqlite_only``."""
    if "registry" not in metafunc.fixturenames or "sql" in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        return
    metafunc.parametrize("registry", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def promo_db(registry: str) -> SimpleNamespace:
    """The candidates in a migrated registry (a SQLite path, or a PostgreSQL schema URL when
    the test is parametrized over both backends)."""
    from crypto_analyzer_promotion.store_sqlite import create_candidate

    db = registry
    fam = json.loads((FIXTURES / "family" / "family.json").read_text())
    noise = fam["bundle_stems"]["best_noise"]
    n_signal, n_h = noise.rsplit("_h", 1)
    common = dict(
        dataset_id=fam["dataset_id"],
        run_id=fam["run_id"],
        config_hash="cfg",
        git_commit="abc",
        evidence_base_path=str(FIXTURES),
    )
    lucky = create_candidate(
        db,
        signal_name=n_signal,
        horizon=int(n_h),
        candidate_id="prom_lucky",
        evidence={"bundle_path": str(FIXTURES / "bundles" / f"{noise}.json")},
        **common,
    )
    edge = create_candidate(
        db,
        signal_name="momentum_24h",
        horizon=1,
        family_id=fam["family_id"],
        candidate_id="prom_edge",
        evidence={
            "bundle_path": str(FIXTURES / "bundles" / "momentum_24h_h1.json"),
            "rc_summary_path": str(FIXTURES / "rc" / "rc_summary_family.json"),
            "execution_evidence_path": str(FIXTURES / "execution" / "momentum_24h_h1_execution_evidence.json"),
            "ic_summary_by_regime_path": str(FIXTURES / "regimes" / "momentum_24h_h1_regime_summary.csv"),
        },
        **common,
    )
    return SimpleNamespace(db=db, edge=edge, lucky=lucky, fixtures=FIXTURES, app=APP)


# Plain-sqlite3 reads run in a separate process, so the independent check shares nothing with
# the engine's SQLite (a second copy of SQLite in this process, with its own connection pool).
_READER = """
import json, sqlite3, sys
with sqlite3.connect(sys.argv[1]) as c:
    rows = c.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()
print(json.dumps(rows))
"""


def _query(db: Path, sql: str, params: list) -> list:
    out = subprocess.run(
        [sys.executable, "-c", _READER, str(db), sql, json.dumps(params)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def status_of(db: Path, cid: str) -> str:
    return _query(db, "SELECT status FROM promotion_candidates WHERE candidate_id=?", [cid])[0][0]


def events_of(db: Path, cid: str) -> list[tuple[str, dict]]:
    rows = _query(
        db, "SELECT event_type, payload_json FROM promotion_events WHERE candidate_id=? ORDER BY event_id", [cid]
    )
    return [(t, json.loads(p) if p else {}) for t, p in rows]


def table_names(db: Path) -> set[str]:
    return {r[0] for r in _query(db, "SELECT name FROM sqlite_master WHERE type='table'", [])}


@pytest.fixture
def sql():
    def best_noise() -> tuple[str, int]:
        stem = json.loads((FIXTURES / "family" / "family.json").read_text())["bundle_stems"]["best_noise"]
        signal, h = stem.rsplit("_h", 1)
        return signal, int(h)

    return SimpleNamespace(
        status_of=status_of, events_of=events_of, table_names=table_names, query=_query, best_noise=best_noise
    )
