"""Candidates for the RC's default, measured (issue 26, docs/size_study.md): White's RC with the
bootstrap deviations m*_k - m_k scaled up where the block bootstrap reproduces only part of the
series' long-run variance (the engine's variance share, src/reality_check/size.rs):

- "per-column": each hypothesis' deviations times 1/sqrt(share_k) (its own share, capped at 1);
- "common": every deviation times one scale c = 1/sqrt(min(1, median share)), the median over the
  first RC_SHARE_COLUMNS series (what the engine reports as the variance share).

Each is measured beside the RC as it is, on the size study's designs and data seeds
(scripts/size_power_study.py), from the same bootstrap draws (``return_null_matrix``: the draws
as drawn). "common" is the engine's default since issue 26 (``rc_null_scale="variance_share"``):
the script asserts that the engine's RC and Romano–Wolf p-values equal it on every panel. With
``--partial``, Romano–Wolf's family-wise error under a partial null (columns 0 and 1 get a true
edge of 6 long-run s.e., as in the size study) from the same null matrix, uncorrected and common.

    .venv/bin/python scripts/rc_variance_correction_study.py --panels 4000 --designs small_T mid_T base iid strong_dep
    .venv/bin/python scripts/rc_variance_correction_study.py --panels 400 --power 3 4 --designs small_T base wide_K crypto
    .venv/bin/python scripts/rc_variance_correction_study.py --panels 4000 --partial --designs small_T mid_T base
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


def raw_shares(x: np.ndarray, method: str, length: float) -> list:
    """Per-column variance shares (the engine reads RC_SHARE_COLUMNS at a time; None: not measured)."""
    n = int(_core.RC_SHARE_COLUMNS)
    out: list = []
    for j in range(0, x.shape[1], n):
        out += _core.rc_variance_shares(np.asfortranarray(x[:, j : j + n]), method, length, length)
    return out


def common_scale(shares: list) -> float:
    """c = 1/sqrt(min(1, median share of the first RC_SHARE_COLUMNS series)); 1 when none measured."""
    med = _core.rc_median_share(shares[: int(_core.RC_SHARE_COLUMNS)])
    return 1.0 if med is None else 1.0 / math.sqrt(min(1.0, med))


def p_value(null_max: np.ndarray, observed_max: float) -> float:
    return (1 + int(np.sum(null_max >= observed_max))) / (null_max.size + 1)


def run(design, idx: int, panels: int, b: int, alpha: float, edge: float, seed: int, partial: bool) -> dict:
    rng = np.random.default_rng(seed * 1000 + idx)  # the size study's data seeds
    rej = {"rc": 0, "corrected": 0, "common": 0, "rw_partial": 0, "rw_partial_common": 0}
    for r in range(panels):
        x = panel(rng, design)
        if edge:
            x = x.copy()
            x[:, 0] += edge * long_run_se(design)
        if partial:  # the size study's partial null: two strong true edges
            x = x.copy()
            x[:, :2] += 6.0 * long_run_se(design)
        cfg = RealityCheckConfig(
            n_sim=b, method=design.method, avg_block_length=12, block_size=12, seed=(seed * 1000 + idx) * 100_000 + r
        )
        res = run_family_reality_check(x, cfg, no_cache=True, return_null_matrix=True)
        null = np.asarray(res.null_matrix)
        obs = np.asarray(res.observed_stats, dtype=np.float64)
        obs_max = float(np.nanmax(obs))
        sh = raw_shares(x, design.method, 12.0)
        c = common_scale(sh)
        if partial:
            for key, mat in (("rw_partial", null), ("rw_partial_common", null * c)):
                rw = np.asarray(_core.rc_pvalues_from_null_matrix(obs, np.ascontiguousarray(mat))["romano_wolf"])
                rej[key] += bool(np.min(rw[2:]) < alpha)
            # The engine's default Romano–Wolf is the common-scale one, bit for bit.
            assert np.array_equal(np.asarray(list(res.romano_wolf_p_values.values())), rw)
            continue
        rej["rc"] += p_value(np.nanmax(null, axis=1), obs_max) < alpha
        scale = 1.0 / np.sqrt(np.array([1.0 if v is None else min(1.0, v) for v in sh]))
        rej["corrected"] += p_value(np.nanmax(null * scale, axis=1), obs_max) < alpha
        common_p = p_value(c * np.nanmax(null, axis=1), obs_max)
        # The engine's default (rc_null_scale="variance_share") is this variant: the same p-value.
        assert res.rc_p_value == common_p, (design.name, r, res.rc_p_value, common_p)
        rej["common"] += common_p < alpha
    return {k: v / panels for k, v in rej.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", type=int, default=1000)
    ap.add_argument("--b", type=int, default=299)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--power", type=float, nargs="*", default=None, help="edges in long-run s.e. (column 0)")
    ap.add_argument("--designs", nargs="*", default=None)
    ap.add_argument("--partial", action="store_true", help="Romano–Wolf FWER under a partial null instead")
    args = ap.parse_args(argv)
    t0 = time.time()
    edges = args.power if args.power else [0.0]
    print(
        f"{'size' if edges == [0.0] else 'power'} at nominal {args.alpha}, B = {args.b}, L = 12, {args.panels} panels"
    )
    if args.partial:
        print("| design | RW FWER, partial null | RW FWER, common scale |")
        print("|---|---:|---:|")
    else:
        print("| design | edge (long-run s.e.) | RC | RC, per-column scale | RC, common scale |")
        print("|---|---:|---:|---:|---:|")
    for idx, d in enumerate(DESIGNS):
        if args.designs and d.name not in args.designs:
            continue
        for edge in edges:
            got = run(d, idx, args.panels, args.b, args.alpha, edge, args.seed, args.partial)

            def cell(p: float) -> str:
                return f"{100 * p:.2f} ± {100 * math.sqrt(p * (1 - p) / args.panels):.2f}"

            if args.partial:
                print(f"| {d.name} | {cell(got['rw_partial'])} | {cell(got['rw_partial_common'])} |", flush=True)
                continue
            cells = " | ".join(cell(got[k]) for k in ("rc", "corrected", "common"))
            print(f"| {d.name} | {edge:g} | {cells} |", flush=True)
    print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
