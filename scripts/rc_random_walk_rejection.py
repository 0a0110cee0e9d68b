"""Rejection rate of the Reality Check on the analyzer's calibration "null" (random walks).

The analyzer's test `test_calibration_rc_type_i_not_wildly_above_alpha` (c79684b) draws, per trial,
two series `default_rng(42 + trial).standard_normal(80).cumsum() * 0.01`, runs the RC with
n_sim=25, seed=42+1000+trial, stationary L=12, and asserts P(p <= 0.05) <= 0.15 over 50 trials.
Random walks are not stationary, so their sample means are far from 0 relative to a block
bootstrap's spread: a correct (recentred) RC rejects often. The analyzer's un-centred null passes
only because it almost never rejects anything (docs/statistics.md).

Prints, for the test's own 50 trials and for many more, the rejection rate of: our default
(recentred, our stream), the recentred null with n_sim=999, the analyzer's own null reproduced
exactly (rng="numpy_pcg64", null_centering="none"), and, as a control, the recentred RC on i.i.d.
normal series of the same length (a true null that satisfies the bootstrap's assumptions).

Usage: python scripts/rc_random_walk_rejection.py [--trials 2000] [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    make_null_generator_stationary,
    run_reality_check,
)


def _series(seed: int, n_obs: int, walk: bool) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(2):
        x = rng.standard_normal(n_obs)
        out[f"h{i}|1"] = x.cumsum() * 0.01 if walk else x * 0.01
    return out


def rejection_rate(trials: range, seed: int, n_obs: int, n_sim: int, walk: bool, centering: str, rng: str) -> dict:
    rej = 0
    for trial in trials:
        data = _series(seed + trial, n_obs, walk)
        cfg = RealityCheckConfig(metric="mean_ic", horizon=1, n_sim=n_sim, seed=seed + 1000 + trial)
        gen = make_null_generator_stationary(data, cfg, null_centering=centering, rng=rng)
        obs = {h: float(np.mean(v)) for h, v in data.items()}
        rej += run_reality_check(obs, gen, cfg)["rc_p_value"] <= 0.05
    n = len(trials)
    rate = rej / n
    half = 1.96 * math.sqrt(max(rate * (1 - rate), 1e-12) / n)
    return {
        "trials": n,
        "rejections": int(rej),
        "rate": round(rate, 4),
        "ci95": [round(max(rate - half, 0.0), 4), round(min(rate + half, 1.0), 4)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--n-obs", type=int, default=80)
    ap.add_argument("--only", default="", help="run only the variants whose label contains this text")
    ap.add_argument(
        "--test-only", action="store_true", help="one line: the default RC on the analyzer test's own 50 trials"
    )
    a = ap.parse_args()
    if a.test_only:
        r = rejection_rate(range(50), a.seed, a.n_obs, 25, True, "recentred", "default")
        print(f"  P(p <= 0.05) = {r['rate']:.2f} ({r['rejections']}/50); the test requires <= 0.15")
        return
    variants = [
        ("random walk, recentred (default), n_sim=25", True, 25, "recentred", "default", a.n_obs),
        ("random walk, recentred, n_sim=999", True, 999, "recentred", "default", a.n_obs),
        (
            "random walk, analyzer c79684b null (numpy_pcg64, un-centred), n_sim=25",
            True,
            25,
            "none",
            "numpy_pcg64",
            a.n_obs,
        ),
        ("i.i.d. normal (true null), recentred (default), n_sim=25", False, 25, "recentred", "default", a.n_obs),
        ("i.i.d. normal (true null), recentred, n_sim=999", False, 999, "recentred", "default", a.n_obs),
        ("i.i.d. normal (true null), recentred, n_sim=999, T=1000", False, 999, "recentred", "default", 1000),
        ("random walk, recentred, n_sim=999, T=1000", True, 999, "recentred", "default", 1000),
    ]
    for label, walk, n_sim, centering, rng, n_obs in variants:
        if a.only and a.only not in label:
            continue
        row = {
            "variant": label,
            "test_trials_0_49": rejection_rate(range(50), a.seed, n_obs, n_sim, walk, centering, rng),
            f"trials_0_{a.trials - 1}": rejection_rate(range(a.trials), a.seed, n_obs, n_sim, walk, centering, rng),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
