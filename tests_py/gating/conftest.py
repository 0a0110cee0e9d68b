"""Shared fixtures of the gating/evidence/service tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    from crypto_analyzer_promotion.migrations_phase3 import run_migrations_phase3

    path = str(tmp_path / "promo.db")
    run_migrations_phase3(path)
    return path
