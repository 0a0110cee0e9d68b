"""CPU cost of the store's SQLite calls: linked libsqlite3 vs bound through Python's SQLite.

The database is on tmpfs (/dev/shm) so the disk does not dominate. Prints one JSON line with
microseconds per create, status change and batch row, and milliseconds for two filtered lists.
Usage: python speed.py [N]; run it alternately with the two builds' venvs (docs/sqlite.md).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time

import crypto_analyzer_promotion as pkg
from crypto_analyzer_promotion import migrations_phase3
from crypto_analyzer_promotion import store_sqlite as st


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rows = [
        dict(
            dataset_id=f"ds{i % 10}",
            run_id=f"run{i // 100}",
            signal_name=f"sig{i % 50}",
            horizon=1 + i % 24,
            config_hash="c",
            git_commit="g",
            evidence={"bundle_path": f"runs/{i}/b.json", "metrics": {"ic": 0.01 + i * 1e-7}},
        )
        for i in range(n)
    ]
    out: dict = {"source": pkg.sqlite_info()["source"]}
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        db = f"{tmp}/a.db"
        migrations_phase3.run_migrations_phase3(None, db)
        t = time.perf_counter()
        ids = [st.create_candidate(db, **r) for r in rows]
        out["create_us"] = (time.perf_counter() - t) / n * 1e6
        t = time.perf_counter()
        for c in ids:
            st.update_status(db, c, "rejected", reason="x")
        out["status_us"] = (time.perf_counter() - t) / n * 1e6
        db2 = f"{tmp}/b.db"
        migrations_phase3.run_migrations_phase3(None, db2)
        t = time.perf_counter()
        st.create_candidates_many(db2, rows)
        out["batch_us"] = (time.perf_counter() - t) / n * 1e6
        times = []
        for _ in range(20):
            t = time.perf_counter()
            st.list_candidates(db2, dataset_id="ds3")
            st.list_candidates(db2, signal_name="sig7")
            times.append(time.perf_counter() - t)
        out["list2_ms"] = statistics.median(times) * 1e3
    print(json.dumps(out))


if __name__ == "__main__":
    main()
