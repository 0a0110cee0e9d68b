"""Store benchmark: the Rust store against the same operations in plain Python sqlite3.

Not a test: prints a table. Run with `make bench` (or `.venv/bin/python benches/bench_store.py`).
Options: --n 10000 (candidates per side), --big 100000 (rows for the filtered-list timing).

Every side uses the same schema (our migration SQL) and does the same work per create: check the
promotion tables, validate the status, compute the contract id, canonical evidence JSON, and write
the row and its `created` event in one transaction. Two plain-Python baselines:

* "defaults": `sqlite3.connect(path)` as is (rollback journal, synchronous=FULL), which is what
  plain Python code gets; timed on min(n, 1000) creates because every commit waits for the disk;
* "same settings": plain sqlite3 with the store's settings (WAL, synchronous=NORMAL), so that the
  ratio shows what Rust itself adds, apart from the connection settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from crypto_analyzer_promotion import migrations_phase3, store_sqlite

VALID = ("exploratory", "candidate", "accepted", "rejected")


# ----------------------------------------------------------------- plain Python reference
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


def py_require(conn):
    n = conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type='table' "
        "AND name IN ('promotion_candidates', 'promotion_events')"
    ).fetchone()[0]
    if n != 2:
        raise RuntimeError(store_sqlite.PROMOTION_TABLES_REQUIRED_MSG)


def py_create(conn, *, dataset_id, run_id, signal_name, horizon, config_hash, git_commit,
              evidence=None, status="exploratory"):
    py_require(conn)
    if status not in VALID:
        raise ValueError(status)
    created = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    cid = "prom_" + hashlib.sha256(f"{run_id}|{signal_name}|{horizon}|{created}".encode()).hexdigest()[:16]
    ev = canonical(evidence) if evidence is not None else None
    with conn:
        conn.execute(
            "INSERT INTO promotion_candidates (candidate_id, created_at_utc, status, dataset_id, run_id, "
            "family_id, signal_name, horizon, estimator, config_hash, git_commit, notes, evidence_json) "
            "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, NULL, ?, ?, NULL, ?)",
            (cid, created, status, dataset_id, run_id, signal_name, horizon, config_hash, git_commit, ev),
        )
        conn.execute(
            "INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json) VALUES (?, ?, 'created', ?)",
            (cid, created, canonical({"created_at_utc": created})),
        )
    return cid


def py_list(conn, status=None, dataset_id=None, signal_name=None, limit=100):
    py_require(conn)
    where, args = [], []
    for col, val in (("status", status), ("dataset_id", dataset_id), ("signal_name", signal_name)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    sql = "SELECT * FROM promotion_candidates"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at_utc DESC, rowid DESC LIMIT ?"
    cur = conn.execute(sql, (*args, limit))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def py_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


# ----------------------------------------------------------------- workload
def row(i: int) -> dict:
    return dict(
        dataset_id=f"ds{i % 10}",
        run_id=f"run{i // 100}",
        signal_name=f"sig{i % 50}",
        horizon=1 + i % 24,
        config_hash="c0ffee",
        git_commit="abc123",
        status=VALID[i % 4],
        evidence={
            "bundle_path": f"runs/{i}/bundle.json",
            "rc_summary_path": f"runs/{i}/rc.json",
            "metrics": {"mean_ic": 0.01 + i * 1e-7, "t_stat": 2.5 + i / 7.0, "n_obs": 1000 + i},
            "notes": "seeded by bench",
        },
    )


FILTERS = [
    dict(status="candidate"),
    dict(dataset_id="ds3"),
    dict(signal_name="sig7"),
    dict(status="accepted", dataset_id="ds2"),
    dict(),
]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def best_of(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fresh(folder: Path, name: str) -> Path:
    path = folder / name
    migrations_phase3.run_migrations_phase3(None, path)
    return path


def fresh_plain(folder: Path, name: str) -> Path:
    """Schema created by plain sqlite3 from the same SQL files; left in its default journal mode."""
    path = folder / name
    conn = sqlite3.connect(str(path))
    sql_dir = Path(__file__).resolve().parent.parent / "migrations"
    for f in sorted(sql_dir.glob("0*.sql")):
        conn.executescript(f.read_text())
    conn.executescript((sql_dir / "promotion_events_guards.sql").read_text())
    conn.close()
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000)
    args, _ = ap.parse_known_args()
    n = args.n
    rows = [row(i) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rust_db, py_db, bulk_db, big_db, conn_db = (
            fresh(folder, f"{k}.db") for k in ("rust", "py", "bulk", "big", "conn")
        )
        rust_path = str(rust_db)

        # warm both sides (first open, statement caches)
        store_sqlite.list_candidates(rust_path, limit=1)
        pconn = py_connect(py_db)
        py_list(pconn, limit=1)

        n_def = min(n, 1000)
        dconn = sqlite3.connect(str(fresh_plain(folder, "default.db")))
        t_def_create, _ = timed(lambda: [py_create(dconn, **r) for r in rows[:n_def]])
        t_def_create *= n / n_def
        t_py_create, _ = timed(lambda: [py_create(pconn, **r) for r in rows])
        t_rs_create, _ = timed(lambda: [store_sqlite.create_candidate(rust_path, **r) for r in rows])
        sconn = sqlite3.connect(str(conn_db))
        t_rs_create_conn, _ = timed(lambda: [store_sqlite.create_candidate(sconn, **r) for r in rows])
        t_bulk, _ = timed(lambda: store_sqlite.create_candidates_many(str(bulk_db), rows))

        def list_all(fn, conn):
            for f in FILTERS:
                fn(conn, **f)

        t_py_list = best_of(lambda: list_all(py_list, pconn))
        t_def_list = best_of(lambda: list_all(py_list, dconn))
        t_rs_list = best_of(lambda: list_all(store_sqlite.list_candidates, rust_path))
        # Same answers on both sides (ids differ only by timestamp, so compare the other columns).
        for f in FILTERS:
            a = [(r["status"], r["dataset_id"], r["signal_name"]) for r in py_list(pconn, **f)]
            b = [(r["status"], r["dataset_id"], r["signal_name"]) for r in store_sqlite.list_candidates(rust_path, **f)]
            assert a == b, f

        # 100,000 rows: filtered list latency.
        big_rows = [row(i) for i in range(args.big)]
        t_big_fill, _ = timed(lambda: store_sqlite.create_candidates_many(str(big_db), big_rows))
        big_lists = {}
        for f in FILTERS:
            key = ", ".join(f"{k}={v}" for k, v in f.items()) or "(no filter)"
            big_lists[key] = best_of(lambda: store_sqlite.list_candidates(str(big_db), **f))
        bconn = py_connect(big_db)
        t_big_py = best_of(lambda: py_list(bconn, status="accepted", dataset_id="ds2"))
        t_big_rs = best_of(lambda: store_sqlite.list_candidates(str(big_db), status="accepted", dataset_id="ds2"))
        # Worst case: two filters that match nothing (every row of one index range is checked).
        t_big_none = best_of(lambda: store_sqlite.list_candidates(str(big_db), status="candidate", dataset_id="ds2"))
        pconn.close()
        dconn.close()
        sconn.close()
        bconn.close()

    us = lambda t: f"{t / n * 1e6:.1f} µs"  # noqa: E731
    ms = lambda t: f"{t * 1e3:.2f} ms"  # noqa: E731
    print(f"Store benchmark: {n:,} candidates (row + created event; one transaction per create "
          f"unless bulk); plain-sqlite3 defaults timed on {n_def:,} creates")
    head = ("operation", "plain (defaults)", "plain (WAL)", "Rust store", "vs defaults", "vs WAL")
    print(f"{head[0]:<44}{head[1]:>17}{head[2]:>14}{head[3]:>12}{head[4]:>13}{head[5]:>9}")

    def line(name, t_def, t_same, t_rs, fmt):
        print(f"{name:<44}{fmt(t_def):>17}{fmt(t_same):>14}{fmt(t_rs):>12}"
              f"{t_def / t_rs:>12.1f}x{t_same / t_rs:>8.1f}x")

    line("create_candidate per call (path)", t_def_create, t_py_create, t_rs_create, us)
    line("create_candidate per call (sqlite3 conn)", t_def_create, t_py_create, t_rs_create_conn, us)
    line("create_candidates_many (one transaction)", t_def_create, t_py_create, t_bulk, us)
    line("list_candidates x5 filter sets, limit 100", t_def_list, t_py_list, t_rs_list, ms)
    print(f"\nFiltered list over {args.big:,} candidates (filled in {t_big_fill:.2f} s by "
          f"create_candidates_many), limit 100, median of 7:")
    for key, t in big_lists.items():
        print(f"  {key:<40}{t * 1e3:8.2f} ms  (target < 50 ms: {'ok' if t < 0.05 else 'MISSED'})")
    print(f"  {'status=candidate, dataset_id=ds2 (0 rows)':<40}{t_big_none * 1e3:8.2f} ms  "
          f"(worst case: scans one index range; target < 50 ms: {'ok' if t_big_none < 0.05 else 'MISSED'})")
    print(f"  plain sqlite3 vs Rust store, status=accepted, dataset_id=ds2: {t_big_py * 1e3:.2f} ms vs "
          f"{t_big_rs * 1e3:.2f} ms ({t_big_py / t_big_rs:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
