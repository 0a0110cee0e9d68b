"""Reality Check null simulation: this engine against the old per-simulation Python generator,
a vectorised numpy recentred bootstrap and arch's SPA, on workload W (T=5,000, K=200,
stationary bootstrap L=12, B=10,000). Also how time grows with T, K and B, and peak memory.
Then W2, the published scale (T=25,000, K=8,000, B=1,000, a float64 DataFrame, 1.49 GiB) end to
end through ``run_family_reality_check``: setup (input → engine: conversion, means, prefix sums
or none, ω) and simulations timed apart, peak RSS and the engine's extra memory over the input,
min/median of 3 fresh processes (``--w2-repeat``), each measured alone.
W and W2 are also run on the kinds of data users have (``VARIANTS``: pure noise, a weak best
column, several strong edges, NaN gaps), W with its references timed on the same data in the same
run.

Run: ``python benches/bench_rc.py`` (about 4-5 minutes) or ``--quick`` (smaller, ~1 min; W2
at B=200 once). ``--no-w2`` skips W2 (it needs about 3.5 GB of free memory).
Slow references are timed on a subset of simulations and extrapolated linearly to B (they do
the same work for every simulation); the table says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import textwrap
import time

import numpy as np
from crypto_analyzer_promotion.reality_check import RealityCheckConfig, make_null_generator_stationary

VARIANTS = ("noise", "weak best", "strong edges", "NaN gaps")


def expected_max(k: int) -> float:
    """About the expected maximum of k independent standard normals (Gumbel approximation)."""
    if k < 2:
        return 0.0
    a = np.sqrt(2 * np.log(k))
    return float(a - (np.log(np.log(k)) + np.log(4 * np.pi)) / (2 * a))


def shape_variant(x: np.ndarray, variant: str, sd: float, rng: np.random.Generator, k_family: int = 0) -> None:
    """Turn pure noise `x` (T×K, standard deviation `sd`) into one of the data kinds users have, in
    place: "noise" as is; "weak best": every column loses a little (mean −(E max − 0.6) s.d./√T),
    so the best column's observed studentized statistic is only about 0.6 on average (0.89 on W's
    seed) and few columns can be dropped from ω* (the issue's slow case); "strong edges": 5 columns with t ≈ 7; "NaN gaps":
    5 % of the values missing. `k_family`: the family's K when `x` is a slice of its columns."""
    t, k = x.shape
    k = k_family or k
    if variant == "weak best":
        x -= (expected_max(k) - 0.6) / np.sqrt(t) * sd
    elif variant == "strong edges":
        x[:, : min(5, k)] += 7.0 / np.sqrt(t) * sd
    elif variant == "NaN gaps":
        x[rng.random(size=x.shape) < 0.05] = np.nan
    elif variant != "noise":
        raise ValueError(variant)


def w_variants(t: int, k: int, seed: int = 0) -> dict[str, np.ndarray]:
    """W's data in each of [`VARIANTS`] (the same noise underneath)."""
    out = {}
    for v in VARIANTS:
        x = np.random.default_rng(seed).normal(size=(t, k)) * 0.05
        shape_variant(x, v, 0.05, np.random.default_rng(seed + 1))
        out[v] = x
    return out


def engine_seconds(x: np.ndarray, n_sim: int, threads: int, repeat: int = 2, cpu: list | None = None) -> float:
    """Best of `repeat` batch times (data preparation excluded; reported separately). With `cpu`,
    the best CPU seconds (all threads) are appended to it."""
    os.environ["CRYPTO_ANALYZER_THREADS"] = str(threads)
    gen = make_null_generator_stationary(x, RealityCheckConfig(avg_block_length=12, n_sim=n_sim))
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        gen.run(n_sim)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    if cpu is not None:
        cpu.append(best_cpu)
    return best


def prepare_seconds(x: np.ndarray) -> float:
    t0 = time.perf_counter()
    make_null_generator_stationary(x, RealityCheckConfig(avg_block_length=12))
    return time.perf_counter() - t0


def python_reference_per_sim(x: np.ndarray, sims: int, seed: int = 42, avg_block_length: float = 12) -> float:
    """The old generator as docs/statistics.md describes it: legacy seeding per simulation, a Python
    loop of geometric + randint per block, one gather of T×K values, nanmean, max (un-centred)."""
    t, _ = x.shape
    p = 1.0 / avg_block_length
    t0 = time.perf_counter()
    for b in range(sims):
        np.random.seed(seed + b)
        idx: list[int] = []
        while len(idx) < t:
            length = np.random.geometric(p)
            start = np.random.randint(0, t)
            idx.extend(((start + np.arange(min(length, t - len(idx)))) % t).tolist())
        stats = np.nanmean(x[np.asarray(idx)], axis=0)
        float(np.max(stats))
    return (time.perf_counter() - t0) / sims


def numpy_vectorised_per_sim(
    x: np.ndarray, sims: int, chunk: int = 8, seed: int = 42, avg_block_length: float = 12
) -> float:
    """A vectorised numpy recentred stationary bootstrap: indices for `chunk` simulations at once
    (a new block starts at each t with probability 1/L), one fancy-index gather, mean, − m, max."""
    t, _ = x.shape
    p = 1.0 / avg_block_length
    rng = np.random.default_rng(seed)
    gaps = bool(np.isnan(x).any())
    m = np.nanmean(x, axis=0) if gaps else x.mean(axis=0)  # without NaN: plain mean, numpy's fastest path
    pos = np.arange(t)
    done = 0
    t0 = time.perf_counter()
    while done < sims:
        c = min(chunk, sims - done)
        new = rng.random((c, t)) < p
        new[:, 0] = True
        starts = rng.integers(0, t, size=(c, t))
        block_t0 = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
        idx = (np.take_along_axis(starts, block_t0, axis=1) + pos - block_t0) % t
        means = np.nanmean(x[idx], axis=1) if gaps else x[idx].mean(axis=1)  # c × K
        np.max(means - m, axis=1)
        done += c
    return (time.perf_counter() - t0) / sims


def arch_times(x: np.ndarray, reps: int) -> tuple[float, float] | None:
    """(fixed seconds, seconds per bootstrap) of arch.bootstrap.SPA (unstudentized, stationary).
    arch's variance step (a Python loop over T lags) is a fixed cost; the per-replication cost is
    measured on `reps` replications."""
    try:
        from arch.bootstrap import SPA
    except ImportError:
        return None
    t = x.shape[0]
    spa = SPA(np.zeros(t), -x, block_size=12, reps=reps, bootstrap="stationary", studentize=False, seed=1)
    t0 = time.perf_counter()
    spa._compute_variance()  # the fixed part, timed alone
    fixed = time.perf_counter() - t0
    spa2 = SPA(np.zeros(t), -x, block_size=12, reps=reps, bootstrap="stationary", studentize=False, seed=1)
    t0 = time.perf_counter()
    spa2.compute()
    total = time.perf_counter() - t0
    return fixed, max(total - fixed, 0.0) / reps


MEM_SCRIPT = textwrap.dedent(
    """
    import resource, sys, numpy as np
    from crypto_analyzer_promotion.reality_check import RealityCheckConfig, make_null_generator_stationary
    t, k, b = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    x = np.random.default_rng(0).normal(size=(t, k))
    def current_kib():
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    def peak_kib():
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:  # reset the peak so that import-time peaks do not hide the run's (Linux)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    before = current_kib()  # resident now: interpreter, numpy, pandas, the input
    gen = make_null_generator_stationary(x, RealityCheckConfig())
    gen.run(b)
    print(before, peak_kib())
    """
)


def peak_memory_mb(t: int, k: int, b: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEM_SCRIPT, str(t), str(k), str(b)], capture_output=True, text=True, check=True
    )
    before, after = (int(v) for v in out.stdout.split())
    return before / 1024.0, after / 1024.0  # KiB -> MiB (Linux)


W2_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time, json
    import numpy as np, pandas as pd
    from crypto_analyzer_promotion import reality_check as rc
    t, k, b, variant = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    sys.path.insert(0, sys.argv[5])
    from bench_rc import shape_variant
    # The family as users hold it: a float64 DataFrame, one column per hypothesis (sorted ids).
    # Filled column by column so that building it never holds two copies.
    block = np.empty((k, t))
    rng = np.random.default_rng(0)
    for i in range(0, k, 500):
        block[i:i + 500] = rng.normal(size=(min(500, k - i), t)) * 0.05
        shape_variant(block[i:i + 500].T, variant if i == 0 or variant != "strong edges" else "noise", 0.05, rng, k)
    df = pd.DataFrame(block.T, columns=[f"h{i:05d}" for i in range(k)], copy=False)
    del block
    def rss_kib(field="VmRSS:"):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
        return 0
    peak = [0]
    stop = threading.Event()
    def sample():  # the engine releases the GIL: sample RSS every 2 ms
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib())
            time.sleep(0.002)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    before = rss_kib()
    built = []
    engine_cls = rc._core.RcEngine
    def timed_engine(*a, **kw):  # records when the engine is ready (= the first simulation)
        e = engine_cls(*a, **kw)
        built.append((time.perf_counter(), time.process_time()))
        return e
    rc._core.RcEngine = timed_engine
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0, c0 = time.perf_counter(), time.process_time()
    res = rc.run_family_reality_check(df, rc.RealityCheckConfig(n_sim=b, avg_block_length=12, seed=42))
    t1, c1 = time.perf_counter(), time.process_time()
    stop.set()
    th.join()
    peak_kib = max(peak[0], rss_kib("VmHWM:"))
    if len(sys.argv) > 6:  # optional: keep the null maxima (to compare builds bit for bit)
        np.save(sys.argv[6], res.null_max_distribution)
    print(json.dumps(dict(setup=built[0][0] - t0, sims=t1 - built[0][0], total=t1 - t0, before_kib=before,
                          cpu_setup=built[0][1] - c0, cpu_sims=c1 - built[0][1],
                          peak_kib=peak_kib, input_bytes=df.shape[0] * df.shape[1] * 8,
                          null_max_head=[float(v) for v in res.null_max_distribution[:3]])))
    """
)


def w2_once(t: int, k: int, b: int, variant: str = "noise", save: str | None = None) -> dict:
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [sys.executable, "-c", W2_SCRIPT, str(t), str(k), str(b), variant, here] + ([save] if save else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def w2_report(t: int, k: int, b: int, repeat: int, variants: tuple[str, ...] = VARIANTS) -> None:
    gib = 2**30
    print(
        f"\nWorkload W2 (published scale): T={t}, K={k}, stationary L=12, B={b}, float64 DataFrame "
        f"({t * k * 8 / gib:.2f} GiB), run_family_reality_check end to end, {os.cpu_count()} cores, "
        f"min / median of {repeat} fresh processes, each kind of data (see W's table):"
    )
    print(
        "| data | setup s (input → engine) | simulations s | total s | ms / simulation | peak RSS GiB | extra over input GiB | extra / input |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    cpu_lines = []
    for variant in variants:
        runs = [w2_once(t, k, b, variant) for _ in range(repeat)]

        def mm(key: str, runs: list = runs) -> str:
            vals = sorted(r[key] for r in runs)
            return f"{vals[0]:.2f} / {vals[len(vals) // 2]:.2f}"

        inp = runs[0]["input_bytes"]
        extra = sorted((r["peak_kib"] - r["before_kib"]) * 1024 for r in runs)
        peak = sorted(r["peak_kib"] * 1024 for r in runs)
        per = sorted(r["sims"] / b * 1e3 for r in runs)
        print(
            f"| {variant} | {mm('setup')} | {mm('sims')} | {mm('total')} | {per[0]:.2f} / {per[len(per) // 2]:.2f} | "
            f"{peak[0] / gib:.2f} / {peak[len(peak) // 2] / gib:.2f} | {extra[0] / gib:.2f} / {extra[len(extra) // 2] / gib:.2f} | "
            f"{extra[0] / inp:.2f} / {extra[len(extra) // 2] / inp:.2f} |"
        )
        cpu_lines.append(f"{variant}: setup {mm('cpu_setup')}, simulations {mm('cpu_sims')}")
    print(
        "CPU seconds (all threads, min / median; on a shared machine, CPU / cores approximates the wall time the "
        f"run would take alone): {'; '.join(cpu_lines)}; load average after W2: {os.getloadavg()[0]:.1f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller B and subsets (about 1 min)")
    ap.add_argument(
        "--tiny",
        action="store_true",
        help="every section at toy sizes (seconds; the test suite runs it so the script cannot rot: no timing is meaningful)",
    )
    ap.add_argument("--no-w2", action="store_true", help="skip W2 (needs about 3.5 GB of free memory)")
    ap.add_argument("--w2-repeat", type=int, default=3, help="fresh processes for W2 (min/median)")
    args = ap.parse_args()
    tiny = args.tiny
    quick = args.quick or tiny
    T, K, L = (400, 12, 12) if tiny else (5000, 200, 12)
    B = 100 if tiny else 2000 if quick else 10_000
    ref_sims = 2 if tiny else 5 if quick else 20
    vec_sims = 8 if tiny else 24 if quick else 96
    arch_reps = 3 if tiny else 10 if quick else 40
    cores = os.cpu_count() or 1
    x = np.random.default_rng(0).normal(size=(T, K)) * 0.05

    label = " (--tiny)" if tiny else " (--quick)" if quick else ""
    print(f"Workload W: T={T}, K={K}, stationary L={L}, B={B}{label}")
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, numpy {np.__version__}")
    prep = prepare_seconds(x)
    e1 = engine_seconds(x, B, 1)
    en = engine_seconds(x, B, cores)
    py_ref = python_reference_per_sim(x, ref_sims)
    vec = numpy_vectorised_per_sim(x, vec_sims)
    arch = None if quick and os.environ.get("BENCH_RC_NO_ARCH") else arch_times(x, arch_reps)

    rows = [
        ("this engine, 1 thread", e1 / B, "measured, all B"),
        (f"this engine, {cores} threads", en / B, "measured, all B"),
        ("Python reference (old generator)", py_ref, f"{ref_sims} sims timed, x B extrapolated"),
        ("vectorised numpy, recentred", vec, f"{vec_sims} sims timed, x B extrapolated"),
    ]
    if arch is not None:
        fixed, per = arch
        rows.append(
            (
                "arch.bootstrap.SPA (unstudentized)",
                per + fixed / B,
                f"{arch_reps} reps timed + fixed {fixed:.2f} s, extrapolated",
            )
        )
    print()
    print(
        f"| implementation | ms / simulation | total for B={B} (s) | engine 1 thread is faster by | engine {cores} threads is faster by | how |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name, per_sim, how in rows:
        print(
            f"| {name} | {per_sim * 1e3:.4f} | {per_sim * B:.2f} | {per_sim / (e1 / B):.1f}x | {per_sim / (en / B):.1f}x | {how} |"
        )
    print(f"\nData preparation (centring, prefix sums, FFT omega), once per family: {prep * 1e3:.1f} ms")

    print(
        f"\nW on the data users have (T={T}, K={K}, L={L}, B={B}; each row's references timed on the same data in "
        "the same run; weak best: every column loses a little and the best one's observed studentized statistic is "
        "below 1 (0.89 on W's data), so few columns can be dropped from ω*; strong edges: 5 columns with t ≈ 7; NaN gaps: 5 % missing). "
        "ms per simulation (wall; the engine's CPU ms over all threads too: on a shared machine the wall time "
        "includes waiting for a core, the CPU time does not):"
    )
    print(
        f"| data | engine 1 thread | engine {cores} threads | 1t / {cores}t | engine CPU 1t / {cores}t | Python reference "
        f"| vectorised numpy | arch SPA | engine {cores}t faster than arch by |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for variant, xv in w_variants(T, K).items():
        cpu: list[float] = []
        v1 = engine_seconds(xv, B, 1, cpu=cpu)
        vn = engine_seconds(xv, B, cores, cpu=cpu)
        vpy = python_reference_per_sim(xv, ref_sims)
        vvec = numpy_vectorised_per_sim(xv, vec_sims)
        # arch's SPA has no notion of gaps (its means would be NaN): not timed on NaN data.
        varch = None if variant == "NaN gaps" or arch is None else arch_times(xv, arch_reps)
        arch_ms = "n/a" if varch is None else f"{(varch[1] + varch[0] / B) * 1e3:.4f}"
        arch_x = "n/a" if varch is None else f"{(varch[1] + varch[0] / B) / (vn / B):.0f}x"
        print(
            f"| {variant} | {v1 / B * 1e3:.4f} | {vn / B * 1e3:.4f} | {v1 / vn:.2f} | "
            f"{cpu[0] / B * 1e3:.4f} / {cpu[1] / B * 1e3:.4f} | {vpy * 1e3:.3f} | "
            f"{vvec * 1e3:.3f} | {arch_ms} | {arch_x} |"
        )

    print("\nScaling (all cores; seconds for the batch, ms per simulation):")
    print("| T | K | B | seconds | ms / sim |")
    print("|---:|---:|---:|---:|---:|")
    grid_t = [100, 200] if tiny else [1250, 2500, 5000, 10_000]
    grid_k = [5, 10] if tiny else [50, 100, 200, 400]
    grid_b = [B // 4, B // 2, B]
    rng = np.random.default_rng(1)
    for t in grid_t:
        s = engine_seconds(rng.normal(size=(t, K)), B // 2, cores, repeat=1)
        print(f"| {t} | {K} | {B // 2} | {s:.3f} | {s / (B // 2) * 1e3:.4f} |")
    for k in grid_k:
        s = engine_seconds(rng.normal(size=(T, k)), B // 2, cores, repeat=1)
        print(f"| {T} | {k} | {B // 2} | {s:.3f} | {s / (B // 2) * 1e3:.4f} |")
    for b in grid_b:
        s = engine_seconds(x, b, cores, repeat=1)
        print(f"| {T} | {K} | {b} | {s:.3f} | {s / b * 1e3:.4f} |")

    print(
        "\nPeak memory (fresh process; peak RSS = VmHWM reset before the run, else ru_maxrss; input T×K float64 = "
        f"{T * K * 8 / 1e6:.0f} MB; a B×K null matrix would be B*K*8 bytes):"
    )
    print("| T | K | B | RSS before (MiB) | peak (MiB) | peak − before (MiB) | B×K matrix would be (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for b in [100] if tiny else [1000, 10_000] if quick else [1000, 10_000, 100_000]:
        before, after = peak_memory_mb(T, K, b)
        print(f"| {T} | {K} | {b} | {before:.0f} | {after:.0f} | {after - before:.0f} | {b * K * 8 / 2**20:.0f} |")

    if tiny:
        w2_report(500, 40, 50, 1)
    elif not args.no_w2:
        w2_report(25_000, 8_000, 200 if quick else 1_000, 1 if quick else args.w2_repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
