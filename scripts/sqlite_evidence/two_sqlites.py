"""Evidence: what the store sees when the caller's connections are on ANOTHER SQLite copy.

The store is bound to the stdlib sqlite3's SQLite (system 3.40.1 here); the caller uses pysqlite3
(its own 3.51.1) by path, i.e. two SQLite libraries in one process. Needs pysqlite3-binary (as in
.venv-wheel). Usage, from outside the repository:

    .venv-wheel/bin/python scripts/sqlite_evidence/two_sqlites.py
"""

from __future__ import annotations

import os
import tempfile

import crypto_analyzer_promotion as pkg
import pysqlite3.dbapi2 as other
from crypto_analyzer_promotion import _core, migrations_phase3
from crypto_analyzer_promotion import store_sqlite as st

BASE = dict(dataset_id="d", run_id="r", signal_name="s", horizon=1, config_hash="c", git_commit="g")


def lock_test(tmp: str) -> None:
    """The caller holds the write lock; does the store notice (busy) or write beside it?"""
    db = os.path.join(tmp, "lock.db")
    migrations_phase3.run_migrations_phase3(None, db)
    os.environ["CRYPTO_ANALYZER_BUSY_TIMEOUT_MS"] = "200"
    _core.store_forget_connection(db)
    holder = other.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE scratch (x)")
    try:
        st.create_candidate(db, **BASE)
        print("lock test: store WROTE while the caller held the write lock (two SQLites)")
    except Exception as exc:
        print("lock test: store waited, then:", type(exc).__name__)
    holder.execute("ROLLBACK")
    holder.close()


def open_close_rounds(tmp: str, rounds: int = 5) -> None:
    """The caller open/close pattern of tests_py/store/test_store_conn.py, caller on the other copy."""
    for rnd in range(rounds):
        db = os.path.join(tmp, f"r{rnd}.db")
        migrations_phase3.run_migrations_phase3(None, db)
        created = []
        try:
            for i in range(25):
                c = other.connect(db)
                c.execute("CREATE TABLE IF NOT EXISTS caller_rows (i INTEGER)")
                c.execute("INSERT INTO caller_rows VALUES (?)", (i,))
                c.commit()
                created.append(st.create_candidate(db, **dict(BASE, signal_name=f"a{i}")))
                c.close()
                created.append(st.create_candidate(db, **dict(BASE, signal_name=f"b{i}")))
            c = other.connect(db)
            found = {r[0] for r in c.execute("SELECT candidate_id FROM promotion_candidates")}
            c.close()
            lost: object = len(set(created) - found)
        except Exception as exc:
            lost = f"error {type(exc).__name__}: {exc}"
        print(f"round {rnd}: created {len(created)}, lost {lost}")


def main() -> None:
    print("store on SQLite", pkg.sqlite_info()["version"], "; caller on pysqlite3", other.sqlite_version)
    tmp = tempfile.mkdtemp()
    lock_test(tmp)
    open_close_rounds(tmp)


if __name__ == "__main__":
    main()
