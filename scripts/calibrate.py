#!/usr/bin/env python3
"""`make calibrate`: the size study of the Reality Check, Hansen's SPA and Romano–Wolf.

Null panels: K columns of AR(1) noise (x_t = ρ x_{t-1} + e_t, e_t ~ N(0, 1), 50 burn-in rows),
every population mean exactly 0, T periods. For each of `--seeds` data seeds (numpy
default_rng(seed)), `--reps` panels are drawn and tested with B bootstrap draws (stationary
bootstrap, average block length L, bootstrap seed = data seed * 100000 + replication). A test
rejects when its p-value < `--alpha`. Reported per test: rejections, n, the rate, its Monte-Carlo
standard error sqrt(p(1-p)/n), and whether it is inside the binomial 99 % band of alpha.

Romano–Wolf FWER is measured twice: under the complete null (every column null; the FWER equals
the RC's rejection rate since the best column's adjusted p-value is the RC p-value) and under a
partial null where the first `--edges` columns get a true mean of `--effect` innovation s.d.s:
there FWER = P(any null column has an adjusted p-value < alpha).

    .venv/bin/python scripts/calibrate.py                 # 20 seeds x 200, about 10 minutes on 2 cores
    .venv/bin/python scripts/calibrate.py --seeds 2 --reps 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
from crypto_analyzer_promotion.reality_check import RealityCheckConfig, make_null_generator_stationary
from scipy.signal import lfilter
from scipy.stats import binom

VARIANTS = ("lower", "consistent", "upper")


def ar1_panel(rng: np.random.Generator, t: int, k: int, phi: float, burn: int = 50) -> np.ndarray:
    """T×K AR(1) panel, unit innovations, mean exactly 0."""
    e = rng.normal(size=(t + burn, k))
    return lfilter([1.0], [1.0, -phi], e, axis=0)[burn:]


def fixed_omega_spa(d: np.ndarray, m: np.ndarray, omega: np.ndarray, n: int) -> list[float]:
    """The studentized SPA as it was before the bootstrap-t fix: every draw divided by the same
    ω̂_k (the stationary-bootstrap kernel estimate), computed here from the recentred null matrix
    d = m* − m of the same draws. Returns the (lower, consistent, upper) p-values."""
    scale = math.sqrt(n) / omega
    thr = -omega / math.sqrt(n) * math.sqrt(2 * math.log(math.log(n)))
    t_obs = max(float(np.max(m * scale)), 0.0)
    out = []
    for mu in (np.maximum(m, 0.0), np.where(m >= thr, m, 0.0), m):
        t_star = np.maximum(np.max((d + m - mu) * scale, axis=1), 0.0)
        out.append((1 + int(np.sum(t_star >= t_obs))) / (d.shape[0] + 1))
    return out


def band99(n: int, p: float) -> tuple[float, float]:
    lo, hi = binom.ppf([0.005, 0.995], n, p)
    return float(lo) / n, float(hi) / n


def run(args: argparse.Namespace) -> dict:
    counts: dict[str, int] = {"rc": 0, "romano_wolf_fwer_complete_null": 0}
    for v in VARIANTS:
        counts[f"spa_studentized_{v}"] = 0
        counts[f"spa_unstudentized_{v}"] = 0
    if args.before:
        for v in VARIANTS:
            counts[f"spa_studentized_fixed_omega_{v} (before)"] = 0
    if args.edges:
        counts["romano_wolf_fwer_partial_null"] = 0
    n = 0
    t0 = time.time()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    for s in seeds:
        rng = np.random.default_rng(s)
        for r in range(args.reps):
            x = ar1_panel(rng, args.t, args.k, args.phi)
            cfg = RealityCheckConfig(n_sim=args.b, avg_block_length=args.block, seed=s * 100_000 + r)
            gen = make_null_generator_stationary(x, cfg)
            got = gen.run(args.b, return_null_matrix=args.before)
            if args.before:
                old = fixed_omega_spa(
                    got["null_matrix"], gen.observed_stats.to_numpy(), np.asarray(got["omega"]), args.t
                )
                for v, pv in zip(VARIANTS, old):
                    counts[f"spa_studentized_fixed_omega_{v} (before)"] += pv < args.alpha
            counts["rc"] += got["rc_p_value"] < args.alpha
            counts["romano_wolf_fwer_complete_null"] += bool(np.min(got["romano_wolf"]) < args.alpha)
            for v in VARIANTS:
                counts[f"spa_studentized_{v}"] += got["spa_studentized"][v] < args.alpha
                counts[f"spa_unstudentized_{v}"] += got["spa_unstudentized"][v] < args.alpha
            if args.edges:
                xe = x.copy()
                xe[:, : args.edges] += args.effect
                rw = np.asarray(make_null_generator_stationary(xe, cfg).run(args.b)["romano_wolf"])
                counts["romano_wolf_fwer_partial_null"] += bool(np.min(rw[args.edges :]) < args.alpha)
            n += 1
        print(f"  seed {s}: {n} panels, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    lo, hi = band99(n, args.alpha)
    rows = {}
    for name, c in counts.items():
        p = c / n
        rows[name] = {
            "rejections": int(c),
            "n": n,
            "rate": p,
            "mc_se": math.sqrt(p * (1 - p) / n),
            "in_band99": bool(lo <= p <= hi),
        }
    return {
        "parameters": {
            "T": args.t,
            "K": args.k,
            "phi": args.phi,
            "avg_block_length": args.block,
            "B": args.b,
            "alpha": args.alpha,
            "data_seeds": seeds,
            "reps_per_seed": args.reps,
            "bootstrap_seed": "data_seed * 100000 + replication",
            "method": "stationary",
            "rng": "default",
            "partial_null": {"edges": args.edges, "effect": args.effect},
        },
        "n": n,
        "band99": [lo, hi],
        "elapsed_s": round(time.time() - t0, 1),
        "results": rows,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--t", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--phi", type=float, default=0.3)
    ap.add_argument("--block", type=int, default=15)
    ap.add_argument("--b", type=int, default=300)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--edges", type=int, default=2, help="true edges in the partial-null FWER run (0: skip)")
    ap.add_argument("--effect", type=float, default=0.3)
    ap.add_argument(
        "--no-before",
        dest="before",
        action="store_false",
        help="skip the pre-fix studentized SPA (fixed ω̂ for every draw) recomputed from the null matrix",
    )
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    out = run(args)
    p = out["parameters"]
    print(
        f"size study: T={p['T']} K={p['K']} phi={p['phi']} L={p['avg_block_length']} B={p['B']} alpha={p['alpha']}, "
        f"data seeds {p['data_seeds'][0]}..{p['data_seeds'][-1]} x {p['reps_per_seed']} = n {out['n']} "
        f"({out['elapsed_s']} s)"
    )
    lo, hi = out["band99"]
    print(f"binomial 99 % band of {p['alpha']} at n={out['n']}: [{100 * lo:.2f} %, {100 * hi:.2f} %]")
    print(f"{'test':48s} {'rejections':>10s} {'rate':>8s} {'MC s.e.':>8s}  in band")
    for name, r in out["results"].items():
        print(
            f"{name:48s} {r['rejections']:>5d}/{r['n']:<5d} {100 * r['rate']:6.2f} % {100 * r['mc_se']:6.2f} %  "
            f"{'yes' if r['in_band99'] else 'NO'}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
