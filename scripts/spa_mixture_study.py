"""The studentized SPA with a mixed per-draw scale: measure size and power of candidates.

The engine's studentized SPA divides each draw b by its own ω*_{b,k} (a bootstrap-t; docs/statistics.md).
ω*² is a batch-means estimate over the draw's runs (about T/L of them, of geometric lengths): its
relative variance is about 4L/T, twice that of the kernel ω̂² the observed statistic divides by
(about 2L/T). The bootstrap-t's null is then heavier than the observed statistic's distribution:
conservative, most with many hypotheses and few blocks, and less powerful than arch's SPA on
normal panels. Candidate: ω_mix² = λ ω*² + (1 − λ) ω̂², whose relative variance λ²·4L/T matches
the kernel's at λ = 1/√2 (λ = 1: the engine's bootstrap-t; λ = 0: the pre-fix fixed ω̂, which
over-rejected).

Each panel: one engine run (default settings, the null scaled by the variance share c) returns the
recentred null d = m* − m; ω* is recomputed here in numpy from the same draws
(`bootstrap_indices`), and each candidate is computed from the same draws. The engine's own λ
(`ENGINE_LAMBDA`) must reproduce its p-values (counted as `engine_mismatch`: rounding ties only). Designs and data seeds
are those of scripts/size_power_study.py.

    .venv/bin/python scripts/spa_mixture_study.py --panels 2000 --designs small_T wide_K base
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    bootstrap_indices,
    make_null_generator_stationary,
)
from size_power_study import DESIGNS, long_run_se, panel

LAMBDAS = [1.0, 0.85, 1 / math.sqrt(2), 0.6, 0.5, 0.0]
# The engine's λ (OMEGA_STAR_WEIGHT in src/reality_check/draw_omega.rs since issue 26; 1 before):
# that candidate must reproduce the engine's p-value on every panel.
ENGINE_LAMBDA = 0.85


def omega_star_sq(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """ω*²_{b,k} = (1/T) Σ_runs (Σ_{t in run} (x*_t − m̄*_b))², runs the maximal stretches of
    consecutive indices of draw b (no gaps in these panels), B×K."""
    b_count, t = idx.shape
    out = np.empty((b_count, x.shape[1]))
    for b in range(b_count):
        row = idx[b]
        xs = x[row]
        xs = xs - xs.mean(axis=0)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(row) != 1) + 1))
        sums = np.add.reduceat(xs, starts, axis=0)
        n_runs = starts.size
        q = (sums * sums).sum(axis=0) / t
        out[b] = q if n_runs >= 2 else np.nan
    return out


def spa_p(d, m, omega, w_star_sq, t, lam, c, thr):
    """Consistent studentized SPA p-value with ω_mix² = λ ω*² + (1 − λ) ω̂² (fixed ω̂ where ω* is
    undefined), the draws' statistics times c."""
    fixed = np.sqrt(t) / omega
    t_obs = max(float(np.max(m * fixed)), 0.0)
    mix = lam * w_star_sq + (1.0 - lam) * omega**2
    scale = np.where(np.isfinite(mix) & (mix > 0), np.sqrt(t) / np.sqrt(np.where(mix > 0, mix, 1.0)), fixed)
    mu = np.where(m >= thr, m, 0.0)
    t_star = np.maximum(np.max((d + m - mu) * scale, axis=1), 0.0)
    return (1 + int(np.sum(c * t_star >= t_obs))) / (d.shape[0] + 1)


def run_design(d, idx_design: int, args) -> dict:
    n_panels = max(args.min_panels, int(round(args.panels * d.weight)))
    rng = np.random.default_rng(args.seed * 1000 + idx_design)
    hits: dict[str, int] = {}
    mismatch = 0

    def add(name: str, hit: bool) -> None:
        hits[name] = hits.get(name, 0) + bool(hit)

    t0 = time.time()
    for r in range(n_panels):
        x = panel(rng, d)
        seed = (args.seed * 1000 + idx_design) * 100_000 + r
        cfg = RealityCheckConfig(n_sim=args.b, method=d.method, avg_block_length=d.block, block_size=d.block, seed=seed)
        idx = np.stack([bootstrap_indices(d.t, b, cfg) for b in range(args.b)])
        wss = omega_star_sq(x, idx)
        cases = [("size", x)] + [(f"power_{p:g}", None) for p in (args.power if d.power else [])]
        for name, xx in cases:
            if xx is None:
                xx = x.copy()
                xx[:, 0] += float(name.split("_")[1]) * long_run_se(d)
                w = omega_star_sq(xx, idx)  # the shift moves only column 0's mean, not its ω*
                assert np.allclose(w, wss, rtol=1e-9, equal_nan=True)
            gen = make_null_generator_stationary(xx, cfg)
            got = gen.run(args.b, return_null_matrix=True)
            m = gen.observed_stats.to_numpy()
            omega = np.asarray(got["omega"])
            c = got["null_scale"]  # the engine's factor: the candidates differ only in ω
            thr = -np.sqrt(omega**2 / d.t * 2 * math.log(math.log(d.t)))
            for lam in LAMBDAS:
                p = spa_p(got["null_matrix"], m, omega, wss, d.t, lam, c, thr)
                add(f"{name}_lam{lam:.3f}", p < args.alpha)
                if lam == ENGINE_LAMBDA:
                    mismatch += p != got["spa_studentized"]["consistent"]
            add(f"{name}_rc", got["rc_p_value"] < args.alpha)
    out = {"name": d.name, "label": d.label(), "panels": n_panels, "engine_mismatch": mismatch}
    out["rates"] = {
        k: {"hits": v, "rate": v / n_panels, "mc_se": math.sqrt((v / n_panels) * (1 - v / n_panels) / n_panels)}
        for k, v in sorted(hits.items())
    }
    out["elapsed_s"] = round(time.time() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--panels", type=int, default=1000)
    ap.add_argument("--min-panels", type=int, default=50)
    ap.add_argument("--b", type=int, default=299)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--power", type=float, nargs="*", default=[3.0])
    ap.add_argument("--designs", nargs="*", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    rows = []
    for i, d in enumerate(DESIGNS):
        if args.designs is not None and d.name not in args.designs:
            continue
        row = run_design(d, i, args)
        rows.append(row)
        cells = "  ".join(f"{k}={100 * v['rate']:.2f}±{100 * v['mc_se']:.2f}" for k, v in row["rates"].items())
        print(
            f"{d.name} ({row['panels']} panels, {row['elapsed_s']} s, engine mismatch {row['engine_mismatch']}): {cells}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"argv": sys.argv[1:], "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
