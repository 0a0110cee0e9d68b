"""PostgreSQL benchmark: the package's store on PostgreSQL vs on SQLite, and vs psycopg doing the
same SQL from Python, in one run; then evaluate_and_record/s through the service on both backends.

Not a test: prints a table. Run with `make bench` (or `.venv/bin/python benches/bench_pg.py`).
Options: --n 1000 (creates per side), --big 20000 (rows for the filtered-list timing),
--rounds 3 (each timing is repeated; min and median are printed).

Server: CRYPTO_ANALYZER_BENCH_PG_URL when set, else a throwaway cluster from
scripts/pg_cluster.sh (default durability settings: fsync on, synchronous_commit on), removed at
the end. psycopg (binary wheel) is the benchmark's own dependency, not the package's: `make venv`
installs it; nothing is installed at run time.

Per create, every side does the same work: validate, candidate id (sha256), canonical evidence
JSON, and the candidate row and its `created` event in ONE transaction. SQLite runs with the
store's settings as it runs them, printed in its row (WAL with synchronous=FULL by default: every
commit waits for the disk; NORMAL only when CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS opts in); PostgreSQL
with synchronous_commit=on (every commit waits for the WAL flush).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from crypto_analyzer_promotion import _core, migrations_phase3, sqlite_info, store_sqlite

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "scripts" / "pg_cluster.sh"
# The SQLite side's durability as this process runs it (the store's default, or the opt-in).
SQLITE_LABEL = f"package on SQLite (file, WAL, synchronous={sqlite_info()['synchronous']})"
EVIDENCE = {"mean_ic": 0.0312345678901, "t_stat": 2.71828, "n_obs": 5000, "paths": ["a.csv", "b.csv"]}


def ensure_psycopg():
    try:
        return importlib.import_module("psycopg")
    except ImportError:
        raise SystemExit(
            "bench_pg: psycopg is not installed (the comparison side); `make venv` installs it, "
            "or: pip install 'psycopg[binary]>=3.1'"
        ) from None


def round_floats(o):
    if isinstance(o, float):
        return round(o, 10) if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: round_floats(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [round_floats(v) for v in o]
    return o


def canonical(o) -> str:
    return json.dumps(round_floats(o), sort_keys=True, separators=(",", ":"))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def psycopg_create(conn, i: int) -> str:
    """The store's create, written with psycopg (same SQL, same bytes, one transaction)."""
    created = now_iso()
    run_id, sig, h = f"run{i}", f"sig{i % 5}", 5
    cid = "prom_" + hashlib.sha256(f"{run_id}|{sig}|{h}|{created}".encode()).hexdigest()[:16]
    with conn.transaction():
        conn.execute(
            "INSERT INTO promotion_candidates (candidate_id, created_at_utc, status, dataset_id, run_id, family_id, "
            "signal_name, horizon, estimator, config_hash, git_commit, notes, evidence_json) "
            "VALUES (%s, %s, 'exploratory', %s, %s, NULL, %s, %s, NULL, 'cfg', 'abc', NULL, %s)",
            (cid, created, f"ds{i % 4}", run_id, sig, h, canonical(EVIDENCE)),
            prepare=True,
        )
        conn.execute(
            "INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json) VALUES (%s, %s, 'created', %s)",
            (cid, created, canonical({"created_at_utc": created})),
            prepare=True,
        )
    return cid


LIST_SQL = (
    "SELECT candidate_id, created_at_utc, status, dataset_id, run_id, family_id, signal_name, horizon, estimator, "
    "config_hash, git_commit, notes, evidence_json, eligibility_report_id FROM promotion_candidates "
    "WHERE status = %s AND dataset_id = %s ORDER BY created_at_utc DESC, rowid DESC LIMIT %s"
)


def psycopg_list(conn):
    cur = conn.execute(LIST_SQL, ("rejected", "ds1", 100), prepare=True)
    cols = [d.name for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def timed(fn, rounds: int):
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out), statistics.median(out)


def fresh_schema(base: str, psycopg) -> str:
    name = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{name}"


def seed(target: str, big: int) -> None:
    rows = [
        {
            "dataset_id": f"ds{i % 4}",
            "run_id": f"seed{i}",
            "signal_name": f"sig{i % 5}",
            "horizon": 5,
            "config_hash": "cfg",
            "git_commit": "abc",
            "evidence": EVIDENCE,
            "candidate_id": f"seed-{i}",
        }
        for i in range(big)
    ]
    for k in range(0, big, 5000):
        store_sqlite.create_candidates_many(target, rows[k : k + 5000])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--big", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    args, _ = ap.parse_known_args(argv)
    psycopg = ensure_psycopg()

    import os

    base = os.environ.get("CRYPTO_ANALYZER_BENCH_PG_URL", "").strip()
    cluster_dir = None
    if not base:
        proc = subprocess.run(["bash", str(CLUSTER), "up"], capture_output=True, text=True, check=True)
        got = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        base, cluster_dir = got["PG_URL"], got["PG_DIR"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = run(args, base, Path(tmp), psycopg)
            evals = run_evaluate(args, base, Path(tmp), psycopg)
    finally:
        if cluster_dir:
            subprocess.run(["bash", str(CLUSTER), "down", cluster_dir], capture_output=True, check=False)
    print(
        f"\nPostgreSQL store benchmark (n={args.n} creates per side per round, {args.rounds} rounds, "
        f"filtered list over {args.big} rows; min / median)"
    )
    print(f"{'side':50s} {'creates/s':>21s} {'list ms (100 rows)':>22s}")
    for name, (c_min, c_med), (l_min, l_med) in results:
        print(f"{name:50s} {args.n / c_med:9.0f} / {args.n / c_min:9.0f}  {l_min * 1e3:9.3f} / {l_med * 1e3:9.3f}")
    print("(creates/s: at the median round / the best round; list: min / median of the rounds' means)")
    n_eval = eval_calls(args)
    print(f"\nevaluate_and_record ({n_eval} calls per round, {args.rounds} rounds; same candidate evidence and bundle)")
    print(f"{'side':50s} {'evaluate_and_record/s':>21s}")
    for name, (e_min, e_med) in evals:
        print(f"{name:50s} {n_eval / e_med:9.0f} / {n_eval / e_min:9.0f}")
    print("(at the median round / the best round)")
    return 0


def eval_calls(args) -> int:
    return max(20, args.n // 5)


def run_evaluate(args, base: str, tmp: Path, psycopg):
    """evaluate_and_record through the service on each backend: one candidate with the four
    evidence files of fixtures/bundles/momentum_24h, every gate on, status + event committed."""
    from crypto_analyzer_promotion.gating import ThresholdConfig
    from crypto_analyzer_promotion.service import evaluate_and_record

    fixture = ROOT / "fixtures" / "bundles" / "momentum_24h"
    evidence = {
        "bundle_path": "validation_bundle.json",
        "rc_summary_path": "rc_summary.json",
        "ic_summary_by_regime_path": "ic_summary_by_regime.csv",
        "execution_evidence_path": "execution_evidence.json",
    }
    thr = ThresholdConfig(
        require_regime_robustness=True,
        worst_regime_ic_mean_min=0.01,
        require_reality_check=True,
        require_execution_evidence=True,
    )
    n_eval = eval_calls(args)

    def side(target: str):
        cid = store_sqlite.create_candidate(
            target,
            dataset_id="d",
            run_id="r",
            signal_name="s",
            horizon=4,
            config_hash="c",
            git_commit="g",
            evidence=evidence,
        )

        def evals():
            for _ in range(n_eval):
                evaluate_and_record(target, cid, thr, None, evidence_base_path=fixture)

        return timed(evals, args.rounds)

    sq = tmp / "bench_eval.db"
    migrations_phase3.run_migrations_phase3(None, sq)
    out = [(SQLITE_LABEL, side(str(sq)))]
    url = fresh_schema(base, psycopg)
    migrations_phase3.run_migrations_phase3(url)
    out.append(("package on PostgreSQL (127.0.0.1, Rust client)", side(url)))
    _core.store_forget_connection(url)
    return out


def run(args, base: str, tmp: Path, psycopg):
    n, rounds = args.n, args.rounds
    results = []

    def store_side(target: str):
        counter = iter(range(10**9))

        def creates():
            for _ in range(n):
                i = next(counter)
                store_sqlite.create_candidate(
                    target,
                    dataset_id=f"ds{i % 4}",
                    run_id=f"run{i}",
                    signal_name=f"sig{i % 5}",
                    horizon=5,
                    config_hash="cfg",
                    git_commit="abc",
                    evidence=EVIDENCE,
                )

        return creates

    def list_side(target: str):
        def lists():
            for _ in range(50):
                store_sqlite.list_candidates(target, status="rejected", dataset_id="ds1", limit=100)

        return lists

    # SQLite (the package)
    sq = tmp / "bench.db"
    migrations_phase3.run_migrations_phase3(None, sq)
    c = timed(store_side(str(sq)), rounds)
    seed(str(sq), args.big)
    mark_rejected_sqlite(sq, args.big)
    lst = timed(list_side(str(sq)), rounds)
    results.append((SQLITE_LABEL, c, (lst[0] / 50, lst[1] / 50)))

    # PostgreSQL (the package)
    url = fresh_schema(base, psycopg)
    migrations_phase3.run_migrations_phase3(url)
    c = timed(store_side(url), rounds)
    seed(url, args.big)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE promotion_candidates SET status = 'rejected' WHERE candidate_id LIKE 'seed-%' "
            "AND (substr(candidate_id, 6)::int % 4) = 1"
        )
        conn.execute("ANALYZE promotion_candidates")
    lst = timed(list_side(url), rounds)
    results.append(("package on PostgreSQL (127.0.0.1, Rust client)", c, (lst[0] / 50, lst[1] / 50)))
    _core.store_forget_connection(url)

    # PostgreSQL (psycopg, same SQL, from Python), on the same seeded schema
    with psycopg.connect(url, autocommit=True) as conn:
        counter = iter(range(10**9, 2 * 10**9))

        def pcreates():
            for _ in range(n):
                psycopg_create(conn, next(counter))

        def plists():
            for _ in range(50):
                psycopg_list(conn)

        c = timed(pcreates, rounds)
        lst = timed(plists, rounds)
        # same rows as the package returns
        assert [r["candidate_id"] for r in psycopg_list(conn)] == [
            r["candidate_id"] for r in store_sqlite.list_candidates(url, status="rejected", dataset_id="ds1", limit=100)
        ]
        _core.store_forget_connection(url)
    results.append(("psycopg 3 on PostgreSQL (same SQL, Python)", c, (lst[0] / 50, lst[1] / 50)))
    return results


def mark_rejected_sqlite(path: Path, big: int) -> None:
    import sqlite3

    conn = sqlite3.connect(str(path))
    with conn:
        conn.executemany(
            "UPDATE promotion_candidates SET status = 'rejected' WHERE candidate_id = ?",
            [(f"seed-{i}",) for i in range(1, big, 4)],
        )
        conn.execute("ANALYZE")
    conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
