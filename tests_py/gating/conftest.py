"""Shared fixtures of the gating/evidence/service tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dbread
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE_BUNDLE_DIR = REPO / "fixtures" / "bundles" / "momentum_24h"


def _make_bundle(mean_ic: Any = 0.05, t_stat: Any = 3.0, n_obs: Any = 500, **meta: Any) -> dict[str, Any]:
    """A bundle dict with one horizon (4) whose summary holds the given values."""
    summary: dict[str, Any] = {}
    for key, value in (("mean_ic", mean_ic), ("t_stat", t_stat), ("n_obs", n_obs)):
        if value is not ...:
            summary[key] = value
    return {
        "run_id": "r1",
        "dataset_id": "d1",
        "signal_name": "sig",
        "freq": "1h",
        "horizons": [4],
        "ic_summary_by_horizon": {4: summary},
        "ic_decay_table": [],
        "meta": dict(meta),
    }


@pytest.fixture(name="make_bundle")
def make_bundle_fixture():
    """Factory of bundle dicts (see _make_bundle)."""
    return _make_bundle


@pytest.fixture
def evidence_dir(tmp_path: Path) -> Path:
    """A copy of the fixture bundle folder (bundle, regime CSV, RC summary, execution evidence)."""
    dst = tmp_path / "evidence"
    shutil.copytree(FIXTURE_BUNDLE_DIR, dst)
    return dst


# Test modules whose `db_path` tests run on SQLite and on PostgreSQL (db_path is then a path or
# a postgresql:// URL); tests marked sqlite_only check SQLite-specific behaviour.
BOTH_BACKENDS = {"test_gating_service.py", "test_governance_service.py"}


def pytest_generate_tests(metafunc):
    dbread.both_backends(metafunc, BOTH_BACKENDS)


@pytest.fixture
def db_path(registry: str) -> str:
    """A migrated registry (see the root conftest's ``registry``)."""
    return registry
