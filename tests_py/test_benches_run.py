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


def test_bench_rc_runs_every_section_at_toy_sizes() -> None:
    out = _run("bench_rc.py", "--tiny")
    for row in ("| this engine, 1 thread |", "| vectorised numpy, recentred |", "| arch.bootstrap.SPA"):
        assert row in out, out
    assert "Scaling (all cores" in out and "Peak memory" in out
    assert "Workload W2" in out and "CPU seconds" in out
    # W and W2 on every kind of data, W with its references (arch has no notion of gaps).
    for variant in ("noise", "weak best", "strong edges", "NaN gaps"):
        w_rows = [line for line in out.splitlines() if line.startswith(f"| {variant} |")]
        assert len(w_rows) == 2, (variant, out)  # W's row and W2's row
        assert (w_rows[0].count("n/a") == 2) == (variant == "NaN gaps"), w_rows[0]


def test_bench_pg_runs_both_sides_on_a_throwaway_cluster() -> None:
    import pytest

    # The comparison side's driver: in .venv (make venv), not in the compat venv.
    pytest.importorskip("psycopg", reason="psycopg is installed by `make venv` (bench_pg's comparison side)")
    # Its own cluster from scripts/pg_cluster.sh, as `make bench` runs it.
    out = _run("bench_pg.py", "--n", "10", "--big", "100", "--rounds", "1")
    for side in ("package on SQLite", "package on PostgreSQL (127.0.0.1, Rust client)", "psycopg 3 on PostgreSQL"):
        assert side in out, out
    assert "evaluate_and_record (20 calls per round" in out


def test_bench_roofline_runs_every_section_at_toy_sizes() -> None:
    import shutil

    import pytest

    if shutil.which("rustc") is None:
        pytest.skip("rustc not installed: the probe cannot be compiled")
    out = _run("bench_roofline.py", "--tiny")
    for row in ("| vector additions, G adds/s |", "| read memory, GB/s |", "| y += x in L2, G adds/s |"):
        assert row in out, out
    assert "fraction of the limit" in out and "without the per-draw ω*" in out
    assert "W2 (T=500, K=40, B=50" in out
