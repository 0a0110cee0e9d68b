"""A candidate for the RC's default, measured (issue 26, docs/size_study.md): White's RC with each
hypothesis' bootstrap deviations scaled up by 1/sqrt(share), where share is the part of that
series' long-run variance the block bootstrap reproduces (the engine's variance share,
src/reality_check/size.rs, per column and capped at 1). Not the package's default: this script
measures it beside the RC as it is, on the size study's designs and data seeds
(scripts/size_power_study.py), from the same bootstrap draws (``return_null_matrix``).

    .venv/bin/python scripts/rc_variance_correction_study.py --panels 4000 --designs small_T mid_T base iid strong_dep
    .venv/bin/python scripts/rc_variance_correction_study.py --panels 400 --power 3 4 --designs small_T base wide_K crypto
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion.reality_check import RealityCheckConfig, run_family_reality_check
from size_power_study import DESIGNS, long_run_se, panel


def shares(x: np.ndarray, method: str, length: float) -> np.ndarray:
    """Per-column variance shares (the engine reads RC_SHARE_COLUMNS at a time), None → 1, capped at 1."""
    n = int(_core.RC_SHARE_COLUMNS)
    out: list = []
    for j in range(0, x.shape[1], n):
        out += _core.rc_variance_shares(np.asfortranarray(x[:, j : j + n]), method, length, length)
    return np.array([1.0 if v is None else min(1.0, v) for v in out])


def p_value(null_max: np.ndarray, observed_max: float) -> float:
    return (1 + int(np.sum(null_max >= observed_max))) / (null_max.size + 1)


def run(design, idx: int, panels: int, b: int, alpha: float, edge: float, seed: int) -> dict:
    rng = np.random.default_rng(seed * 1000 + idx)  # the size study's data seeds
    rej = {"rc": 0, "corrected": 0}
    for r in range(panels):
        x = panel(rng, design)
        if edge:
            x = x.copy()
            x[:, 0] += edge * long_run_se(design)
        cfg = RealityCheckConfig(
            n_sim=b, method=design.method, avg_block_length=12, block_size=12, seed=(seed * 1000 + idx) * 100_000 + r
        )
        res = run_family_reality_check(x, cfg, no_cache=True, return_null_matrix=True)
        null = np.asarray(res.null_matrix)
        obs_max = float(np.nanmax(np.asarray(res.observed_stats)))
        rej["rc"] += p_value(np.nanmax(null, axis=1), obs_max) < alpha
        scale = 1.0 / np.sqrt(shares(x, design.method, 12.0))
        rej["corrected"] += p_value(np.nanmax(null * scale, axis=1), obs_max) < alpha
    return {k: v / panels for k, v in rej.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", type=int, default=1000)
    ap.add_argument("--b", type=int, default=299)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--power", type=float, nargs="*", default=None, help="edges in long-run s.e. (column 0)")
    ap.add_argument("--designs", nargs="*", default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    edges = args.power if args.power else [0.0]
    print(
        f"{'size' if edges == [0.0] else 'power'} at nominal {args.alpha}, B = {args.b}, L = 12, {args.panels} panels"
    )
    print("| design | edge (long-run s.e.) | RC | RC, variance-corrected |")
    print("|---|---:|---:|---:|")
    for idx, d in enumerate(DESIGNS):
        if args.designs and d.name not in args.designs:
            continue
        for edge in edges:
            got = run(d, idx, args.panels, args.b, args.alpha, edge, args.seed)

            def cell(p: float) -> str:
                return f"{100 * p:.2f} ± {100 * math.sqrt(p * (1 - p) / args.panels):.2f}"

            print(f"| {d.name} | {edge:g} | {cell(got['rc'])} | {cell(got['corrected'])} |", flush=True)
    print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
