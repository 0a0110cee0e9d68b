"""The Reality Check engine against this machine's limits (a roofline; benches/README.md).

Compiles the probe ``probe/roofline_probe.rs`` (outside cargo's bench targets) (std only) with ``rustc -O`` into a temporary folder and
runs it: the peak rate of vector additions, read bandwidth and ``y += x`` ("add into") rates in L1,
L2, the last-level cache and memory, on one core and on every core; rates are per CPU-second of
each thread (the machine may be shared). Then counts, for W (T=5,000, K=200, L=12) and W2
(T=25,000, K=8,000, streamed prefix sums), the work of one simulation from its real bootstrap
indices (runs per simulation), times the engine on one thread (CPU seconds per simulation: the
whole engine, and the same draws without the per-draw ω*, on data whose every mean is negative so
that no ω* is computed) and prints what it achieves against each limit. ``--perf`` adds a profile
of W (``perf record``, when perf is installed and allowed) by function.

Run: ``python benches/bench_roofline.py`` (about a minute or two; ``--no-w2`` skips W2, which
needs about 3.5 GB of free memory; ``--tiny`` runs every section at toy sizes for the test suite).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    bootstrap_indices,
    make_null_generator_stationary,
)

HERE = Path(__file__).resolve().parent
CHUNK = 64  # simulations per chunk with stored prefix sums (src/reality_check.rs)
CHUNK_STREAMED = 256  # with streamed prefix sums (W2)


def probe(tmp: Path, secs: float, mem_mib: int) -> dict[tuple[str, int], float] | None:
    rustc = shutil.which("rustc")
    if rustc is None:
        print("rustc not found: no machine limits measured")
        return None
    exe = tmp / "roofline_probe"
    subprocess.run(
        [rustc, "-O", "--edition", "2021", str(HERE / "probe" / "roofline_probe.rs"), "-o", str(exe)], check=True
    )
    out = subprocess.run(
        [str(exe), "--secs", str(secs), "--mem-mib", str(mem_mib)], check=True, capture_output=True, text=True
    ).stdout
    limits: dict[tuple[str, int], float] = {}
    for line in out.splitlines():
        name, threads, value, _unit = line.split("\t")
        limits[(name, int(threads))] = float(value)
    return limits


def runs_per_sim(t: int, sims: int) -> float:
    """Mean number of runs (maximal stretches of consecutive periods) of W's stationary bootstrap."""
    cfg = RealityCheckConfig(avg_block_length=12, seed=42)
    counts = [int((np.diff(bootstrap_indices(t, b, cfg)) != 1).sum()) + 1 for b in range(sims)]
    return float(np.mean(counts))


def cpu_per_sim(x: np.ndarray, sims: int, repeat: int = 3) -> float:
    os.environ["CRYPTO_ANALYZER_THREADS"] = "1"
    gen = make_null_generator_stationary(x, RealityCheckConfig(avg_block_length=12, n_sim=sims, seed=42))
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        gen.run(sims)
        best = min(best, time.process_time() - c0)
    return best / sims


def w2_cpu_per_sim(t: int, k: int, sims: int) -> float:
    sys.path.insert(0, str(HERE))
    import bench_rc

    r = bench_rc.w2_once(t, k, sims)
    # Setup excluded; on 2 threads the CPU time is both threads'.
    return r["cpu_sims"] / sims


def perf_profile(tmp: Path, t: int, k: int, sims: int) -> None:
    perf = shutil.which("perf")
    if perf is None:
        print("\nperf not installed: no profile")
        return
    script = tmp / "w.py"
    script.write_text(
        "import os, numpy as np\n"
        "os.environ['CRYPTO_ANALYZER_THREADS'] = '1'\n"
        "from crypto_analyzer_promotion.reality_check import RealityCheckConfig, make_null_generator_stationary\n"
        f"x = np.random.default_rng(0).normal(size=({t}, {k})) * 0.05\n"
        f"g = make_null_generator_stationary(x, RealityCheckConfig(avg_block_length=12, n_sim={sims}))\n"
        f"g.run({sims})\n"
    )
    data = tmp / "perf.data"
    rec = subprocess.run([perf, "record", "-q", "-o", str(data), sys.executable, str(script)], capture_output=True)
    if rec.returncode != 0:
        print(f"\nperf record failed (perf_event_paranoid?): {rec.stderr.decode()[-300:]}")
        return
    rep = subprocess.run(
        [perf, "report", "-i", str(data), "--no-children", "--sort", "symbol", "--stdio", "-q"],
        capture_output=True,
        text=True,
    ).stdout
    rows = []
    for line in rep.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith("%") and "crypto_analyzer_promotion::" in line:
            rows.append((float(parts[0][:-1]), parts[2]))
    total = sum(p for p, _ in rows)
    print(f"\nProfile of W on 1 thread (perf record, {sims} simulations; share of the engine's own samples):")
    print("| function | share |\n|---|---:|")
    for pct, sym in rows[:8]:
        print(f"| {sym.replace('crypto_analyzer_promotion::reality_check::', '')} | {pct / total * 100:.0f}% |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="toy sizes (the test suite runs it; no number is meaningful)")
    ap.add_argument("--quick", action="store_true", help="shorter probe runs (0.1 s each)")
    ap.add_argument("--no-w2", action="store_true", help="skip W2 (needs about 3.5 GB of free memory)")
    ap.add_argument("--perf", action="store_true", help="also profile W with perf (when installed and allowed)")
    args = ap.parse_args()
    tiny = args.tiny
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        limits = probe(tmp, 0.01 if tiny else 0.1 if args.quick else 0.2, 16 if tiny else 1024)
        if limits is None:
            return 0
        cores = max(th for _, th in limits)
        avx2 = "AVX2" if limits.get(("avx2", 0)) else "no AVX2: scalar loops"
        print(f"Machine limits ({avx2}; per CPU-second of each thread, best of 3; benches/probe/roofline_probe.rs):")
        print(f"| measure | 1 core | {cores} cores |\n|---|---:|---:|")
        for name, unit, scale in [
            ("peak_add", "vector additions, G adds/s", 1e-9),
            ("read_L1", "read L1 (16 KiB), GB/s", 1e-9),
            ("read_L2", "read L2 (512 KiB), GB/s", 1e-9),
            ("read_LLC", "read LLC (16 MiB), GB/s", 1e-9),
            ("read_memory", "read memory, GB/s", 1e-9),
            ("add_into_L1", "y += x in L1, G adds/s", 1e-9),
            ("add_into_L2", "y += x in L2, G adds/s", 1e-9),
            ("add_into_LLC", "y += x in LLC, G adds/s", 1e-9),
            ("add_into_memory", "y += x in memory, G adds/s", 1e-9),
        ]:
            one = limits[(name, 1)] * scale
            many = limits.get((name, cores), float("nan")) * scale
            print(f"| {unit} | {one:.2f} | {many:.2f} |")

        t, k = (400, 12) if tiny else (5000, 200)
        sims = 100 if tiny else 2000
        runs = runs_per_sim(t, 20 if tiny else 200)
        x = np.random.default_rng(0).normal(size=(t, k)) * 0.05
        full = cpu_per_sim(x, sims)
        no_omega = cpu_per_sim(x - 1.0, sims)  # every mean < 0: observed studentized SPA 0, no ω*
        events = 2 * runs  # each run's two ends (segments ≈ runs: a block rarely continues the last)
        adds = events * k  # the means: one prefix row added per event
        omega_first = runs / 3 * k  # ω*'s first third of the runs, every column: (S - c d)², 2 mul + 3 add
        prefix_row = (t + 1) * k * 8  # bytes of the prefix sums, read once per chunk by the sweep
        acc_bytes = adds * 8 * 3  # y += x: two reads, one write per addition
        lim = {n: v for (n, th), v in limits.items() if th == 1}
        rows = [
            ("vector additions (means + ω* first part)", adds + 5 * omega_first, lim["peak_add"], "adds"),
            ("y += x in L2 (the means' accumulators)", adds, lim["add_into_L2"], "adds"),
            ("LLC read (prefix rows, twice per chunk)", 2 * prefix_row / CHUNK, lim["read_LLC"], "bytes"),
            ("L2 traffic of the accumulators", acc_bytes, lim["read_L2"], "bytes"),
        ]
        print(
            f"\nW (T={t}, K={k}, L=12) per simulation: {runs:.0f} runs, {events:.0f} row events, "
            f"{adds / 1e3:.0f} k additions for the means, {omega_first * 5 / 1e3:.0f} k flops for ω*'s first third "
            f"(the rest adds the few columns that can still count). Engine on 1 thread: {full * 1e6:.1f} CPU-µs per "
            f"simulation, {no_omega * 1e6:.1f} without the per-draw ω* (so ω* is {(full - no_omega) * 1e6:.1f}, "
            f"{(full - no_omega) / full * 100:.0f} %):"
        )
        print("| limit | work per simulation | at the limit µs | engine µs | fraction of the limit |")
        print("|---|---:|---:|---:|---:|")
        for name, work, rate, unit in rows:
            at = work / rate
            print(f"| {name} | {work / 1e3:.0f} k {unit} | {at * 1e6:.2f} | {full * 1e6:.1f} | {at / full:.2f} |")
        sweep_at = adds / lim["add_into_L2"]
        print(
            f"The means alone (no ω*): {no_omega * 1e6:.1f} µs against {sweep_at * 1e6:.1f} µs of y += x in L2 "
            f"({sweep_at / no_omega:.2f} of that limit)."
        )

        if not args.no_w2:
            t2, k2, b2 = (500, 40, 50) if tiny else (25_000, 8_000, 200)
            runs2 = runs_per_sim(t2, 10 if tiny else 50)
            w2 = w2_cpu_per_sim(t2, k2, b2)
            adds2 = 2 * runs2 * k2
            input_bytes = t2 * k2 * 8
            # Streamed: every group of chunks rebuilds the tiles from the input once (2 chunks of up
            # to 256 simulations on 2 threads: the input is read once per min(B, 512) simulations).
            per_group = min(b2, cores * CHUNK_STREAMED)
            mem = input_bytes / per_group
            print(
                f"\nW2 (T={t2}, K={k2}, B={b2}, streamed prefix sums) per simulation: {runs2:.0f} runs, "
                f"{adds2 / 1e6:.1f} M additions for the means; the input ({input_bytes / 2**30:.2f} GiB) is read once "
                f"per group of {per_group} simulations. Engine: {w2 * 1e3:.2f} CPU-ms per simulation ({cores} threads' "
                "CPU time over B):"
            )
            print("| limit | work per simulation | at the limit ms | engine CPU-ms | fraction of the limit |")
            print("|---|---:|---:|---:|---:|")
            for name, work, rate, unit in [
                ("y += x in L2 (means)", adds2, lim["add_into_L2"], "adds"),
                ("vector additions (means)", adds2, lim["peak_add"], "adds"),
                ("memory read (input, per group)", mem, lim["read_memory"], "bytes"),
            ]:
                at = work / rate
                print(f"| {name} | {work / 1e6:.1f} M {unit} | {at * 1e3:.2f} | {w2 * 1e3:.2f} | {at / w2:.2f} |")
        if args.perf:
            perf_profile(tmp, t, k, sims * 3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
