"""The benchmark scripts still run against today's API (tiny sizes; no timing is checked here:
speed is measured by `make bench`). `bench_store.py` once broke unnoticed when candidates of
status candidate/accepted started needing an eligibility report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = Path(__file__).resolve().parents[1] / "benches"


def _run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(BENCHES / script), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def test_bench_store_runs_every_section() -> None:
    out = _run("bench_store.py", "--n", "60", "--big", "300", "--calls", "20")
    assert "FULL   create_candidate, per call (path)" in out
    assert "NORMAL batch: create_candidates_many, rows" in out
    assert "Filtered list over 300 candidates" in out
    assert "status=rejected, dataset_id=ds2 (0 rows)" in out


def test_bench_gating_prints_every_row() -> None:
    out = _run("bench_gating.py")
    rows = [line for line in out.splitlines() if line.startswith("| evaluate")]
    assert len(rows) == 4, out


def test_bench_rc_distributed_runs_at_a_small_scale() -> None:
    import pytest

    pytest.importorskip("distributed", reason="the distributed extra is installed by `make venv`")
    out = _run("bench_rc_distributed.py", "--quick")
    assert "bit-identical (null maxima, RC, SPA, Romano-Wolf): yes" in out
    assert "workers restarted: 0" in out and "every worker below its limit: yes" in out
