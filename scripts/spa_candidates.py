"""Measure candidate fixes for the studentized SPA's size on AR(1) null panels.

One engine run per dataset returns the recentred B×K null matrix d = m* - m; every candidate
(ω estimator, p-value convention, consistent threshold) is then computed here in numpy from the
same draws, so the candidates differ only in the formula. Prints one table row per candidate:
rejections at 5 %, n, rate, Monte-Carlo s.e.

    .venv/bin/python scripts/spa_candidates.py --seeds 20 --reps 100
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    bootstrap_indices,
    make_null_generator_stationary,
)
from scipy.signal import lfilter


def ar1_panel(rng: np.random.Generator, t: int, k: int, phi: float, burn: int = 50) -> np.ndarray:
    e = rng.normal(size=(t + burn, k))
    return lfilter([1.0], [1.0, -phi], e, axis=0)[burn:]


def block_omega_star(x: np.ndarray, idx: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Götze–Künsch per-draw variance: n^-1 Σ_blocks (Σ_{t in block} (x*_t − m̄*))², B×K."""
    b_count, t = idx.shape
    out = np.empty((b_count, x.shape[1]))
    for b in range(b_count):
        row = idx[b]
        xs = x[row]
        xs = xs - xs.mean(axis=0)
        brk = np.flatnonzero(np.diff(row) != 1) + 1
        starts = np.concatenate(([0], brk))
        sums = np.add.reduceat(xs, starts, axis=0)
        out[b] = (sums**2).sum(axis=0) / t
    return np.sqrt(out)


def spa_p(d, m, n, scale, thr, strict=False):
    """p-values (lower, consistent, upper) of max(max_k scale_k * e_k, 0)."""
    b_count = d.shape[0]
    t_obs = max(np.max(m * scale), 0.0)
    out = []
    for mu in (np.maximum(m, 0.0), np.where(m >= thr, m, 0.0), m):
        e = d + m - mu  # m* - mu
        t_star = np.maximum(np.max(e * scale, axis=1), 0.0)
        if strict:
            out.append(np.mean(t_star > t_obs))
        else:
            out.append((1 + np.sum(t_star >= t_obs)) / (b_count + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--t", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--phi", type=float, default=0.3)
    ap.add_argument("--block", type=int, default=15)
    ap.add_argument("--b", type=int, default=300)
    ap.add_argument("--boot-t", action="store_true", help="also the per-draw block-variance bootstrap-t (slow)")
    args = ap.parse_args()
    T, K, L, B = args.t, args.k, args.block, args.b
    n = float(T)
    loglog = math.sqrt(2 * math.log(math.log(n)))
    rej: dict[str, int] = {}
    total = 0
    t0 = time.time()
    for s in range(args.seeds):
        rng = np.random.default_rng(1000 + s)
        for r in range(args.reps):
            x = ar1_panel(rng, T, K, args.phi)
            cfg = RealityCheckConfig(n_sim=B, avg_block_length=L, seed=s * 100_000 + r)
            gen = make_null_generator_stationary(x, cfg)
            got = gen.run(B, return_null_matrix=True)
            d = got["null_matrix"]
            m = gen.observed_stats.to_numpy()
            w_k = np.asarray(got["omega"])
            w_b = np.sqrt(n * d.var(axis=0))  # bootstrap variance of the recentred means
            w_ms = np.sqrt(n * np.mean(d**2, axis=0))  # ... about 0 instead of the draw mean
            rows = {
                "rc": [got["rc_p_value"]],
                "engine_u": [got["spa_unstudentized"][v] for v in ("lower", "consistent", "upper")],
                "engine_s": [got["spa_studentized"][v] for v in ("lower", "consistent", "upper")],
                "u_kernel": spa_p(d, m, n, np.ones(K), -w_k / math.sqrt(n) * loglog),
                "s_kernel": spa_p(d, m, n, math.sqrt(n) / w_k, -w_k / math.sqrt(n) * loglog),
                "s_kernel_strict": spa_p(d, m, n, math.sqrt(n) / w_k, -w_k / math.sqrt(n) * loglog, strict=True),
                "s_bootvar": spa_p(d, m, n, math.sqrt(n) / w_b, -w_b / math.sqrt(n) * loglog),
                "s_bootms": spa_p(d, m, n, math.sqrt(n) / w_ms, -w_ms / math.sqrt(n) * loglog),
                "s_kernel_thr_boot": spa_p(d, m, n, math.sqrt(n) / w_k, -w_b / math.sqrt(n) * loglog),
                "u_bootvar_thr": spa_p(d, m, n, np.ones(K), -w_b / math.sqrt(n) * loglog),
            }
            if args.boot_t:
                idx = np.stack([bootstrap_indices(T, b, cfg) for b in range(B)])
                ws = block_omega_star(x, idx, m)
                t_obs = max(np.max(math.sqrt(n) * m / w_k), 0.0)
                thr = -w_k / math.sqrt(n) * loglog
                ps = []
                for mu in (np.maximum(m, 0.0), np.where(m >= thr, m, 0.0), m):
                    t_star = np.maximum(np.max(math.sqrt(n) * (d + m - mu) / ws, axis=1), 0.0)
                    ps.append((1 + np.sum(t_star >= t_obs)) / (B + 1))
                rows["s_boot_t_block"] = ps
            for name, ps in rows.items():
                for v, p in zip(("lower", "consistent", "upper") if len(ps) == 3 else ("p",), ps):
                    key = f"{name}.{v}"
                    rej[key] = rej.get(key, 0) + int(p < 0.05)
            total += 1
    print(
        f"T={T} K={K} phi={args.phi} L={L} B={B} seeds={args.seeds} reps={args.reps} n={total} ({time.time() - t0:.0f} s)"
    )
    for key, c in rej.items():
        p = c / total
        print(f"{key:32s} {c:5d}/{total}  {100 * p:5.2f} %  s.e. {100 * math.sqrt(p * (1 - p) / total):.2f}")


if __name__ == "__main__":
    main()
