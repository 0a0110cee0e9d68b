"""Gate and evaluate_and_record latency (median of repeated runs). Prints a markdown table."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from crypto_analyzer_promotion.execution_evidence import ExecutionEvidence
from crypto_analyzer_promotion.gating import ThresholdConfig, evaluate_candidate
from crypto_analyzer_promotion.migrations_phase3 import run_migrations_phase3
from crypto_analyzer_promotion.service import evaluate_and_record
from crypto_analyzer_promotion.store_sqlite import create_candidate

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bundles" / "momentum_24h"


def per_call_us(fn, n: int, repeats: int = 5) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(samples)


def main() -> None:
    bundle = {
        "run_id": "r",
        "dataset_id": "d",
        "signal_name": "s",
        "freq": "1h",
        "horizons": [4],
        "ic_summary_by_horizon": {4: {"mean_ic": 0.03, "t_stat": 3.0, "n_obs": 900}},
        "meta": {"rc_p_value": 0.01},
    }
    regimes = pd.DataFrame({"regime": [f"r{i}" for i in range(8)], "mean_ic": [0.02 + i / 1000 for i in range(8)]})
    thr = ThresholdConfig(require_regime_robustness=True, worst_regime_ic_mean_min=0.01, require_reality_check=True)
    ev = ExecutionEvidence(
        max_participation_rate=0.05, capacity_curve_path="c.csv", cost_config={"fee_bps": 1, "slippage_bps": 1}
    )
    rows = [
        ("evaluate_candidate (dict bundle)", per_call_us(lambda: evaluate_candidate(bundle, ThresholdConfig()), 2000)),
        (
            "evaluate_candidate (regime DataFrame, RC, execution evidence)",
            per_call_us(
                lambda: evaluate_candidate(
                    bundle, thr, regime_summary_df=regimes, execution_evidence=ev, target_status="candidate"
                ),
                1000,
            ),
        ),
        (
            "evaluate_candidate (bundle JSON path)",
            per_call_us(lambda: evaluate_candidate(FIXTURE / "validation_bundle.json", ThresholdConfig()), 1000),
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        run_migrations_phase3(db)
        evidence = {
            "bundle_path": "validation_bundle.json",
            "rc_summary_path": "rc_summary.json",
            "ic_summary_by_regime_path": "ic_summary_by_regime.csv",
            "execution_evidence_path": "execution_evidence.json",
        }
        cid = create_candidate(
            db,
            dataset_id="d",
            run_id="r",
            signal_name="s",
            horizon=4,
            config_hash="c",
            git_commit="g",
            evidence=evidence,
        )
        full = ThresholdConfig(
            require_regime_robustness=True,
            worst_regime_ic_mean_min=0.01,
            require_reality_check=True,
            require_execution_evidence=True,
        )
        rows.append(
            (
                "evaluate_and_record (4 evidence files, status + event committed)",
                per_call_us(lambda: evaluate_and_record(db, cid, full, None, evidence_base_path=FIXTURE), 200),
            )
        )
    print("| operation | median per call (µs) |")
    print("|---|---:|")
    for name, us in rows:
        print(f"| {name} | {us:.1f} |")


if __name__ == "__main__":
    main()
