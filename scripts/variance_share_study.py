"""Where the size warning's data-driven threshold comes from (issue 26, docs/size_study.md).

For each design of the size study (scripts/size_power_study.py: the same panel generator and
data seeds), the share of the long-run variance the package's default bootstrap (stationary,
L = 12; fixed blocks of 12 for the fixed-block design) reproduces, as the engine measures it for
the size warning (median over the first columns): its 5th, 50th and 95th percentiles over the
panels and how often it falls below thresholds near the engine's. The study's measured sizes are
beside each design in docs/size_study.md.

    .venv/bin/python scripts/variance_share_study.py --panels 200
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion.reality_check import RealityCheckConfig, bootstrap_variance_share
from size_power_study import DESIGNS, panel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", type=int, default=200)
    ap.add_argument("--seed", type=int, default=26, help="the size study's seed (its data seeds)")
    ap.add_argument("--block-length", type=int, default=12)
    ap.add_argument("--designs", nargs="*", default=None)
    args = ap.parse_args(argv)
    threshold = float(_core.RC_SHARE_THRESHOLD)
    cuts = (0.85, threshold, 0.92)
    t0 = time.time()
    print(
        f"share of the long-run variance reproduced by the default bootstrap (L = {args.block_length}), median "
        f"over the first {_core.RC_SHARE_COLUMNS} columns; {args.panels} panels a design; the warning fires below "
        f"{threshold}"
    )
    print("| design | q05 | median | q95 | " + " | ".join(f"< {c}" for c in cuts) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(cuts))
    for idx, d in enumerate(DESIGNS):
        if args.designs and d.name not in args.designs:
            continue
        rng = np.random.default_rng(args.seed * 1000 + idx)  # the size study's data seeds
        cfg = RealityCheckConfig(method=d.method, avg_block_length=args.block_length, block_size=args.block_length)
        shares = np.array([bootstrap_variance_share(panel(rng, d), cfg) for _ in range(args.panels)], dtype=float)
        q05, q50, q95 = np.quantile(shares, [0.05, 0.5, 0.95])
        rates = " | ".join(f"{100 * np.mean(shares < c):.1f} %" for c in cuts)
        print(f"| {d.name}: T={d.t}, K={d.k}, φ={d.phi} | {q05:.3f} | {q50:.3f} | {q95:.3f} | {rates} |", flush=True)
    print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
