"""A/B benchmark of two git revisions: store and Reality Check, alternating A/B/A/B.

Not a test. Builds the extension of each revision (``git archive`` into a temporary folder, then
``maturin build --release`` with one shared cargo target folder, so that the second build only
recompiles this crate), unpacks each wheel into its own folder, and runs this script's worker once
per round and side, alternating A, B, A, B, ... so that the shared machine's load drifts over both
alike. Each worker imports the package of its side only (checked) and times a fixed workload
taken from ``benches/bench_store.py`` (its row generator and migrated fresh databases) and a
bounded slice of ``benches/bench_rc.py`` (``engine_seconds``). Prints, for each measure, the
median of each side over the rounds, the B/A ratio of the medians and each side's spread
(min-max over the rounds, as a percentage of its median).

    .venv/bin/python scripts/bench_ab.py --a main --b HEAD            # ~10-20 min on a loaded 2-core machine
    .venv/bin/python scripts/bench_ab.py --a main --b HEAD --rounds 6 --calls 400
    .venv/bin/python scripts/bench_ab.py --a main --b HEAD --rc        # Reality Check W and W2 only

``--rc`` times the Reality Check alone: W (T=5,000, K=200, L=12, B=10,000 by default) on pure
noise, with a weak best column (every mean below zero but one, so the observed studentized SPA
statistic is small and few columns can be dropped from ω*), with several strong edges and with
NaN gaps, on 1 and 2 threads; W2 (T=25,000, K=8,000, B=1,000, end to end as bench_rc.py runs it);
and half of W2 (K=4,000) as one column block on one engine thread, as each worker of a
distributed run of W2 runs it (``--no-w2`` skips both). Each measure is the CPU time of the
simulations (``time.process_time`` over all threads: on a shared machine the CPU time is what the
other processes' load disturbs least; per simulation for W) and, for 2 threads, the wall time too.
Each side's outputs are hashed (null maxima, RC/SPA/Romano–Wolf p-values and, through the
column-block engine, every draw's SPA maxima and records, which carry every per-draw ω*; W2's
null maxima) and the script says whether A and B gave the same bits.

Store measures run at ``synchronous=NORMAL`` (commits are not waited for on the disk, so the
store's own CPU cost shows instead of fsync time) and, for the per-call creates, at ``FULL`` too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SYNC_ENV = "CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS"


# ----------------------------------------------------------------- build one side
def rev_sha(rev: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def extension_digest(site: Path) -> str:
    """sha256 of the compiled extension unpacked in `site`."""
    h = hashlib.sha256()
    for lib in sorted(site.glob("crypto_analyzer_promotion/_core*")):
        h.update(lib.read_bytes())
    return h.hexdigest()


def build_side(rev: str, work: Path, target_dir: Path) -> Path:
    """Build `rev`'s wheel and unpack it; returns the folder to put first on PYTHONPATH."""
    sha = rev_sha(rev)
    site = work / f"site-{sha[:12]}"
    if site.exists():
        return site
    src = work / f"src-{sha[:12]}"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", sha], check=True, capture_output=True).stdout
    # --touch: the files get the time of extraction, not their commit's. With the commit's time a
    # revision older than the last build in the shared target folder looked up to date to cargo,
    # which then packed the previous side's library again: both sides ran the same binary.
    subprocess.run(["tar", "-x", "--touch", "-C", str(src)], input=archive, check=True)
    wheels = work / f"wheels-{sha[:12]}"
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    print(f"building {rev} ({sha[:12]}) ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "maturin", "build", "--release", "--quiet", "-o", str(wheels)],
        cwd=src,
        env=env,
        check=True,
    )
    wheel = next(wheels.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    # Two revisions that compile to the same extension (a docs-only change) are fine; two that
    # should not, are a build that was not redone: say so rather than time one binary twice.
    for other in work.glob("site-*"):
        if other != site and extension_digest(other) == extension_digest(site):
            print(f"note: {rev}'s extension is byte-identical to {other.name}'s", flush=True)
    shutil.rmtree(src, ignore_errors=True)
    return site


# ----------------------------------------------------------------- the worker (one side, one round)
def check_side(side: str) -> None:
    import crypto_analyzer_promotion as pkg

    if not Path(pkg.__file__).resolve().is_relative_to(Path(side).resolve()):
        raise SystemExit(f"imported {pkg.__file__}, not the package under {side}")


def rc_worker(side: str, w_sims: int, w2_sims: int) -> dict:
    """The Reality Check measures of ``--rc`` (module doc): ms per simulation, and output hashes
    (keys starting with ``bits:``)."""
    import hashlib

    check_side(side)
    sys.path.insert(0, str(REPO / "benches"))
    import bench_rc
    from crypto_analyzer_promotion import rc_blocks
    from crypto_analyzer_promotion.reality_check import (
        RealityCheckConfig,
        _resolve_stream,
        make_null_generator_stationary,
    )

    out: dict[str, float | str] = {}
    cfg = RealityCheckConfig(avg_block_length=12, n_sim=w_sims, seed=42)
    for name, x in bench_rc.w_variants(5000, 200).items():
        gen = make_null_generator_stationary(x, cfg)
        for threads in (1, 2):
            os.environ["CRYPTO_ANALYZER_THREADS"] = str(threads)
            t0, c0 = time.perf_counter(), time.process_time()
            res = gen.run(w_sims)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            out[f"W {name}, {threads} thread(s): CPU ms / sim"] = cpu / w_sims * 1e3
            if threads == 2:
                out[f"W {name}, 2 threads: wall ms / sim"] = wall / w_sims * 1e3
        h = hashlib.sha256(np.asarray(res["null_max"]).tobytes())
        h.update(np.asarray(res["romano_wolf"]).tobytes())
        for key in ("rc_p_value", "spa_stat_studentized"):
            h.update(np.float64(res[key]).tobytes())
        for key in ("spa_studentized", "spa_unstudentized"):
            for v in ("lower", "consistent", "upper"):
                h.update(np.float64(res[key][v]).tobytes())
        # Every draw's studentized SPA maxima (the per-draw ω*) through the column-block engine.
        part = rc_blocks.run_block(
            x,
            12.0,
            n_sim=w_sims,
            null_centering="recentred",
            stream_kwargs=_resolve_stream(cfg).kwargs(cfg),
        )
        for key in ("null_max", "spa", "rec_start", "rec_col", "rec_val"):
            h.update(np.asarray(part[key]).tobytes())
        out[f"bits: W {name}"] = h.hexdigest()
    if w2_sims:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "null_max.npy"
            r = bench_rc.w2_once(25_000, 8_000, w2_sims, save=str(path))
            out["W2 noise, end to end: wall s"] = r["total"]
            out["W2 noise, simulations: CPU s"] = r["cpu_sims"]
            out["bits: W2 noise"] = hashlib.sha256(np.load(path).tobytes()).hexdigest()
        # Half of W2 as one column block on one engine thread, as each of a distributed run's two
        # default workers runs it (docs/distributed.md); streamed prefix sums, B = w2_sims.
        from crypto_analyzer_promotion import _core

        os.environ["CRYPTO_ANALYZER_THREADS"] = "1"
        half = np.asfortranarray(np.random.default_rng(7).normal(size=(25_000, 4_000)) * 0.05)
        eng = _core.RcEngine(half, 12.0, prefix="streamed")
        cfg2 = RealityCheckConfig(avg_block_length=12, n_sim=w2_sims, seed=42)
        c0 = time.process_time()
        part = _core.rc_run_block(eng, null_centering="recentred", n_sim=w2_sims, **_resolve_stream(cfg2).kwargs(cfg2))
        out["W2 half as a column block, 1 thread, simulations: CPU s"] = time.process_time() - c0
        h = hashlib.sha256()
        for key in ("null_max", "spa", "rec_start", "rec_col", "rec_val"):
            h.update(np.asarray(part[key]).tobytes())
        out["bits: W2 half as a column block, 1 thread"] = h.hexdigest()
    return out


def worker(calls: int, batch: int, reads: int, rc_sims: int, side: str) -> dict:
    check_side(side)
    sys.path.insert(0, str(REPO / "benches"))
    import bench_rc  # benches/bench_rc.py: the RC slice
    import bench_store  # benches/bench_store.py: its row generator and fresh databases
    from crypto_analyzer_promotion import store_sqlite as st

    out: dict[str, float] = {}

    def rate(name: str, n: int, fn) -> None:
        t0 = time.perf_counter()
        fn()
        out[name] = n / (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ[SYNC_ENV] = "NORMAL"
        db = bench_store.fresh(folder, "ab-normal.db")
        rows = [bench_store.row(i) for i in range(calls)]
        ids: list[str] = []
        rate("create_candidate/s (NORMAL)", calls, lambda: ids.extend(st.create_candidate(db, **r) for r in rows))
        rate("update_status/s (NORMAL)", calls, lambda: [st.update_status(db, i, "rejected", reason="ab") for i in ids])
        rate("record_event/s (NORMAL)", calls, lambda: [st.record_event(db, i, "note", {"k": 1.5}) for i in ids])
        many = [bench_store.row(calls + i) for i in range(batch)]
        rate("create_candidates_many rows/s (NORMAL)", batch, lambda: st.create_candidates_many(db, many))
        probe = ids[: max(1, min(len(ids), reads))]
        rate("get_events/s", len(probe), lambda: [st.get_events(db, i) for i in probe])
        rate("get_candidate/s", len(probe), lambda: [st.get_candidate(db, i) for i in probe])
        rate("list_candidates(limit 100)/s", reads, lambda: [st.list_candidates(db, limit=100) for _ in range(reads)])
        # Durable commits: the disk's fsync dominates; a quarter of the calls.
        os.environ[SYNC_ENV] = "FULL"
        db_full = bench_store.fresh(folder, "ab-full.db")
        few = rows[: max(calls // 4, 20)]
        rate("create_candidate/s (FULL)", len(few), lambda: [st.create_candidate(db_full, **r) for r in few])
    os.environ.pop(SYNC_ENV, None)

    x = np.random.default_rng(7).normal(size=(500, 50)) * 0.01
    out["RC sims/s (T=500, K=50, 1 thread)"] = rc_sims / bench_rc.engine_seconds(x, rc_sims, threads=1, repeat=2)
    return out


# ----------------------------------------------------------------- driver
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", default="main", help="revision A (default main)")
    ap.add_argument("--b", default="HEAD", help="revision B (default HEAD)")
    ap.add_argument("--rounds", type=int, default=4, help="rounds per side (alternating A, B)")
    ap.add_argument("--calls", type=int, default=300, help="per-call writes per round (NORMAL; FULL: a quarter)")
    ap.add_argument("--batch", type=int, default=2000, help="rows of the one create_candidates_many per round")
    ap.add_argument("--reads", type=int, default=300, help="reads per kind per round")
    ap.add_argument("--rc-sims", type=int, default=2000, help="bootstrap simulations of the RC slice per round")
    ap.add_argument("--work", default=None, help="build folder to reuse between runs (default: a temporary one)")
    ap.add_argument(
        "--target-dir",
        default=None,
        help="cargo target folder for both builds (default: one inside the build folder); the repository's "
        "own target/ saves rebuilding the dependencies",
    )
    ap.add_argument("--rc", action="store_true", help="Reality Check W and W2 only (module doc)")
    ap.add_argument("--w-sims", type=int, default=10_000, help="--rc: B of W")
    ap.add_argument("--w2-sims", type=int, default=1000, help="--rc: B of W2")
    ap.add_argument("--no-w2", action="store_true", help="--rc: skip W2 (it needs about 3.5 GB of free memory)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        if args.rc:
            res = rc_worker(args.worker, args.w_sims, 0 if args.no_w2 else args.w2_sims)
        else:
            res = worker(args.calls, args.batch, args.reads, args.rc_sims, args.worker)
        print(json.dumps(res))
        return 0

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-ab-"))
    work.mkdir(parents=True, exist_ok=True)
    target = Path(args.target_dir) if args.target_dir else work / "target"
    sides = {"A": build_side(args.a, work, target), "B": build_side(args.b, work, target)}
    results: dict[str, list[dict]] = {"A": [], "B": []}
    for r in range(args.rounds):
        for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
            env = dict(os.environ, PYTHONPATH=str(sides[name]))
            env.pop(SYNC_ENV, None)
            cmd = [sys.executable, __file__, "--worker", str(sides[name])]
            cmd += ["--calls", str(args.calls), "--batch", str(args.batch), "--reads", str(args.reads)]
            cmd += ["--rc-sims", str(args.rc_sims)]
            if args.rc:
                cmd += ["--rc", "--w-sims", str(args.w_sims), "--w2-sims", str(args.w2_sims)]
                cmd += ["--no-w2"] if args.no_w2 else []
            proc = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            results[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1}/{args.rounds} side {name} done", flush=True)

    print(f"\nA = {args.a} ({rev_sha(args.a)[:12]}), B = {args.b} ({rev_sha(args.b)[:12]}), {args.rounds} rounds each")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("| measure | A median | B median | B/A | A spread | B spread |\n|---|---:|---:|---:|---:|---:|")
    for key in [k for k in results["A"][0] if k.startswith("bits:")]:
        same = {x[key] for x in results["A"]} == {x[key] for x in results["B"]}
        one = len({x[key] for x in results["A"] + results["B"]}) == 1
        print(f"{key[6:]}: A and B bit-identical: {'yes' if same and one else 'NO'}")
    for key in [k for k in results["A"][0] if not k.startswith("bits:")]:
        a = [x[key] for x in results["A"]]
        b = [x[key] for x in results["B"]]
        ma, mb = statistics.median(a), statistics.median(b)
        spread_a = (max(a) - min(a)) / ma * 100
        spread_b = (max(b) - min(b)) / mb * 100
        fmt = ",.0f" if ma >= 100 else ".4g"
        print(f"| {key} | {ma:{fmt}} | {mb:{fmt}} | {mb / ma:.2f} | {spread_a:.0f}% | {spread_b:.0f}% |")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
