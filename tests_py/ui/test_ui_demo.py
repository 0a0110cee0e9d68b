"""`python -m crypto_analyzer_promotion.demo --no-serve`: builds the demo database and reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _demo(cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTO_ANALYZER_")}
    return subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion.demo", "--no-serve", "--n-sim", "300"],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_builds_the_database_and_reuses_the_rc_cache(tmp_path, sql):
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "$ crypto-analyzer-promotion --db demo_out/demo.db init --create" in out
    assert "cache             miss (computed)" in out
    db = tmp_path / "demo_out" / "demo.db"
    rows = sql.query(db, "SELECT signal_name, horizon, status FROM promotion_candidates", [])
    assert sorted(map(tuple, rows)) == sorted(
        [
            ("momentum_24h", 1, "accepted"),
            ("momentum_24h", 1, "rejected"),
            ("funding_carry", 4, "rejected"),
            (sql.best_noise()[0], sql.best_noise()[1], "rejected"),
        ]
    )
    report = out[out.index("== Report") :]
    for sig, _h, status in rows:
        assert any(sig in line and status in line for line in report.splitlines())
    assert (tmp_path / "demo_out" / "rc_cache" / "manifest.json").is_file()
    assert "Page not started (--no-serve)" in out

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "cache             hit" in second.stdout
    # a fresh database each run: still four candidates
    assert len(sql.query(db, "SELECT candidate_id FROM promotion_candidates", [])) == 4


def test_demo_reports_missing_fixtures(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTO_ANALYZER_")}
    proc = subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion.demo", "--no-serve", "--fixtures", str(tmp_path / "nothing")],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("demo failed: fixtures not found") and "Traceback" not in proc.stderr
