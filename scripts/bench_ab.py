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

Store measures run at ``synchronous=NORMAL`` (commits are not waited for on the disk, so the
store's own CPU cost shows instead of fsync time) and, for the per-call creates, at ``FULL`` too.
"""

from __future__ import annotations

import argparse
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
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
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
    shutil.rmtree(src, ignore_errors=True)
    return site


# ----------------------------------------------------------------- the worker (one side, one round)
def worker(calls: int, batch: int, reads: int, rc_sims: int, side: str) -> dict:
    import crypto_analyzer_promotion as pkg

    if not Path(pkg.__file__).resolve().is_relative_to(Path(side).resolve()):
        raise SystemExit(f"imported {pkg.__file__}, not the package under {side}")
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

    import numpy as np

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
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(worker(args.calls, args.batch, args.reads, args.rc_sims, args.worker)))
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
            proc = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            results[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1}/{args.rounds} side {name} done", flush=True)

    print(f"\nA = {args.a} ({rev_sha(args.a)[:12]}), B = {args.b} ({rev_sha(args.b)[:12]}), {args.rounds} rounds each")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("| measure | A median | B median | B/A | A spread | B spread |\n|---|---:|---:|---:|---:|---:|")
    for key in results["A"][0]:
        a = [x[key] for x in results["A"]]
        b = [x[key] for x in results["B"]]
        ma, mb = statistics.median(a), statistics.median(b)
        spread_a = (max(a) - min(a)) / ma * 100
        spread_b = (max(b) - min(b)) / mb * 100
        print(f"| {key} | {ma:,.0f} | {mb:,.0f} | {mb / ma:.2f} | {spread_a:.0f}% | {spread_b:.0f}% |")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
