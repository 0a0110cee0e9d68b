"""The committed fixtures are exactly what the generator produces, and they are what they claim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "generate_fixtures.py" and "__pycache__" not in p.parts
    }


def test_regenerating_gives_identical_bytes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(FIXTURES / "generate_fixtures.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    committed = _files(FIXTURES)
    fresh = _files(tmp_path)
    assert len(fresh) >= 15
    # Every generated file is committed with the same bytes (other parts may add hand-made files
    # in their own subfolders, e.g. bundles/momentum_24h/ from the gating tests).
    for name, data in fresh.items():
        assert name in committed, f"{name} is generated but not committed"
        assert committed[name] == data, f"{name} differs from a fresh generation"


def test_fixtures_are_small() -> None:
    assert sum(len(b) for b in _files(FIXTURES).values()) < 1_000_000


def test_family_has_one_real_edge_dependence_and_gaps() -> None:
    fam = json.loads((FIXTURES / "family" / "family.json").read_text())
    df = pd.read_csv(FIXTURES / "family" / "ic_series.csv")
    assert df.columns[0] == "ts_utc"
    ids = list(df.columns[1:])
    assert ids == fam["hypothesis_ids"] and len(ids) == 20 and len(df) == 2000
    X = df[ids].to_numpy(dtype=float)
    assert np.isnan(X).any()
    means = np.nanmean(X, axis=0)
    n = np.sum(np.isfinite(X), axis=0)
    se = np.nanstd(X, axis=0) / np.sqrt(n)
    edge = ids.index(fam["edge_hypothesis"])
    assert means[edge] / se[edge] > 5
    others = np.delete(means / se, edge)
    assert np.all(np.abs(others) < 4)
    x = X[:, edge]
    ok = np.isfinite(x[1:]) & np.isfinite(x[:-1])
    lag1 = np.corrcoef(x[1:][ok], x[:-1][ok])[0, 1]
    assert 0.15 < lag1 < 0.45


def test_bundle_summary_matches_its_series() -> None:
    df = pd.read_csv(FIXTURES / "family" / "ic_series.csv")
    for path in (FIXTURES / "bundles").glob("*.json"):
        b = json.loads(path.read_text())
        for key in ("run_id", "dataset_id", "signal_name", "freq", "horizons", "ic_decay_table", "meta"):
            assert key in b
        h = str(b["horizons"][0])
        s = b["ic_summary_by_horizon"][h]
        x = df[f"{b['signal_name']}|{h}"].dropna().to_numpy()
        assert s["n_obs"] == len(x)
        assert abs(s["mean_ic"] - x.mean()) < 1e-6
        assert abs(s["t_stat"] - x.mean() / x.std(ddof=1) * np.sqrt(len(x))) < 1e-4
        assert (FIXTURES / b["ic_decay_path"]).is_file()
