"""`rc --workers N` / `rc --scheduler ADDRESS`: the Reality Check through a Dask cluster from the
console script gives the single run's summary, and an unreachable scheduler is one clear line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("distributed", reason="the distributed extra is installed by `make venv`")

N_SIM = "150"


def test_rc_on_a_local_cluster_equals_the_single_run(cli, h, tmp_path):
    csv = h.FIXTURES / "family" / "ic_series.csv"
    pq = tmp_path / "family.parquet"
    pd.read_csv(csv, index_col=0).to_parquet(pq)
    base = ["rc", "--n-sim", N_SIM, "--no-cache", "--json", "--rng", "numpy_pcg64"]
    single = cli(*base, str(csv), db=False)
    assert single.returncode == 0, single.stderr
    dist = cli(*base, str(pq), "--workers", "2", "--blocks", "3", db=False)
    assert dist.returncode == 0, dist.stderr
    a, b = json.loads(single.stdout), json.loads(dist.stdout)
    for key in ("hypothesis_ids", "rc_p_value", "spa_p_values", "romano_wolf_p_values", "null_max_distribution"):
        assert a[key] == b[key], key
    assert a["rc_p_value"] < 0.05


def test_rc_unreachable_scheduler_is_one_line(cli, h):
    proc = cli(
        "rc",
        str(h.FIXTURES / "family" / "ic_series.csv"),
        "--no-cache",
        "--scheduler",
        "tcp://127.0.0.1:9",
        "--scheduler-timeout",
        "1",
        db=False,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr


def test_rc_blocks_needs_a_cluster(cli, h):
    proc = cli("rc", str(h.FIXTURES / "family" / "ic_series.csv"), "--no-cache", "--blocks", "2", db=False)
    assert proc.returncode == 1 and "--blocks needs --scheduler or --workers" in proc.stderr
