"""Connections: sqlite3.Connection or path, caller's transaction kept, bad connections and
files refused clearly, horizons checked, several threads and processes writing at once."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import threading
import time
from queue import Empty

import numpy as np
import pytest
from crypto_analyzer_promotion import _core, exceptions
from crypto_analyzer_promotion import store_sqlite as st

BASE = dict(dataset_id="ds1", run_id="run1", signal_name="s", horizon=5, config_hash="c", git_commit="g")


def test_sqlite3_connection_and_path_see_the_same_rows(db):
    conn = sqlite3.connect(str(db))
    cid = st.create_candidate(conn, **BASE)
    assert st.get_candidate(str(db), cid) == st.get_candidate(conn, cid) == st.get_candidate(db, cid)
    # The caller's own connection reads what the Rust side wrote.
    assert conn.execute("SELECT status FROM promotion_candidates WHERE candidate_id=?", (cid,)).fetchone() == (
        "exploratory",
    )
    conn.close()


def test_callers_uncommitted_rows_are_committed_not_lost(db, ref):
    conn = sqlite3.connect(str(db))
    conn.execute("CREATE TABLE notes_of_caller (x)")
    conn.commit()
    conn.execute("INSERT INTO notes_of_caller VALUES ('mine')")
    assert conn.in_transaction
    cid = st.create_candidate(conn, **BASE)  # would wait 10 s (busy) if the caller's lock were kept
    assert not conn.in_transaction
    conn.close()
    assert ref.rows(db, "SELECT x FROM notes_of_caller") == [{"x": "mine"}]
    assert st.get_candidate(db, cid) is not None


def test_memory_and_closed_connections_are_value_errors(db):
    mem = sqlite3.connect(":memory:")
    for call in (
        lambda c: st.list_candidates(c),
        lambda c: st.create_candidate(c, **BASE),
        lambda c: st.promotion_tables_exist(c),
    ):
        with pytest.raises(ValueError, match="in-memory"):
            call(mem)
    with pytest.raises(ValueError, match="in-memory"):
        st.list_candidates(":memory:")
    closed = sqlite3.connect(str(db))
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        st.list_candidates(closed)
    with pytest.raises(ValueError, match="sqlite3.Connection or a database path"):
        st.list_candidates(42)


def test_a_file_that_is_not_sqlite(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello " * 2000)
    with pytest.raises(ValueError, match="not a SQLite database"):
        st.list_candidates(junk)
    with pytest.raises(ValueError, match="not a SQLite database"):
        st.create_candidate(junk, **BASE)
    assert junk.read_text() == "hello " * 2000


@pytest.mark.parametrize("horizon", ["5", 5.0, 5.5, None, True, [5]])
def test_horizon_must_be_an_integer(db, ref, horizon):
    with pytest.raises(ValueError, match="horizon must be an integer"):
        st.create_candidate(db, **dict(BASE, horizon=horizon))
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_candidates")[0]["n"] == 0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([dict(BASE, horizon="5")], "horizon must be an integer, got str: '5'"),
        ([dict(BASE, colour="red")], "rows[0] has an unknown key: 'colour'"),
        ([{k: v for k, v in BASE.items() if k != "horizon"}], "rows[0] is missing 'horizon'"),
        ([{k: v for k, v in BASE.items() if k != "run_id"}], "rows[0] is missing 'run_id'"),
        ([BASE, dict(BASE, notes=3)], "rows[1]['notes'] must be a str"),
    ],
)
def test_argument_errors_are_the_packages_invalid_input_error(db, ref, rows, message):
    # Raised while converting arguments in the bindings, before the core runs: the same class as
    # the core's own input errors (still a ValueError), and nothing written.
    for _ in range(2):  # the second raise uses the class looked up by the first
        with pytest.raises(exceptions.InvalidInputError) as info:
            st.create_candidates_many(db, rows)
        assert type(info.value) is exceptions.InvalidInputError and isinstance(info.value, ValueError)
        assert str(info.value) == message
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_candidates")[0]["n"] == 0
    # The wrapper hands the core dicts; a caller of _core itself can pass anything.
    with pytest.raises(exceptions.InvalidInputError, match=r"^rows\[0\] must be a dict of create_candidate arguments$"):
        _core.store_create_candidates_many(str(db), [42], None)


def test_numpy_integer_horizon_is_accepted(db, ref):
    cid = st.create_candidate(db, **dict(BASE, horizon=np.int64(12)))
    row = st.get_candidate(db, cid)
    assert row["horizon"] == 12 and cid == ref.expected_id("run1", "s", 12, row["created_at_utc"])


def test_threads_write_at_once_without_losing_events(db):
    ids, errors = [], []

    def work(k):
        try:
            for i in range(20):
                cid = st.create_candidate(db, **dict(BASE, signal_name=f"t{k}_{i}"))
                st.update_status(db, cid, "rejected", reason=f"thread {k}")
                ids.append(cid)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 120
    assert all(len(st.get_events(db, cid)) == 2 for cid in ids)


def _child_writes(db_path, tag, n, queue):
    try:
        for i in range(n):
            cid = st.create_candidate(db_path, **dict(BASE, signal_name=f"{tag}_{i}"))
            st.record_event(db_path, cid, "child", {"i": i})
        queue.put("ok")
    except Exception as exc:  # reported to the parent
        queue.put(repr(exc))


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_second_process_writes_while_the_first_holds_a_connection(db, ref, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} not available")
    ctx = mp.get_context(method)
    held = sqlite3.connect(str(db))  # the first process keeps its own connection open ...
    st.create_candidate(held, **dict(BASE, signal_name="parent_first"))  # ... and the cached Rust one
    queue = ctx.Queue()
    child = ctx.Process(target=_child_writes, args=(str(db), f"child_{method}", 30, queue))
    child.start()
    for i in range(30):
        cid = st.create_candidate(held, **dict(BASE, signal_name=f"parent_{i}"))
        st.record_event(held, cid, "parent", {"i": i})
    # Hold the write lock for a moment: the child must wait (busy timeout), not fail.
    held.execute("BEGIN IMMEDIATE")
    time.sleep(0.3)
    held.commit()
    try:
        got = queue.get(timeout=60)
    except Empty:
        child.join(timeout=5)
        pytest.fail(f"the child process reported nothing (exit code {child.exitcode}; -7 is SIGBUS)")
    assert got == "ok"
    child.join(timeout=60)
    assert child.exitcode == 0
    n_cand = ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_candidates")[0]["n"]
    n_ev = ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_events")[0]["n"]
    assert (n_cand, n_ev) == (61, 121)
    assert ref.rows(db, "PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    held.close()


def test_busy_error_class_is_a_runtime_error():
    assert issubclass(exceptions.DatabaseBusyError, RuntimeError)


# `make test-wheel` repeats the next test (20 rounds) against the installed release wheel.
_REPEAT = int(os.environ.get("CRYPTO_ANALYZER_TEST_REPEAT", "1"))


@pytest.mark.parametrize("round_", range(_REPEAT))
def test_nothing_is_lost_when_callers_open_and_close_their_own_connections(db, ref, round_):
    """A caller's sqlite3 connection closing last checkpoints and deletes the WAL. On a second
    SQLite library in the process (a wheel's own copy, or pysqlite3 as sqlite3) that happened
    under the store's connection and rows were lost; on one shared library nothing is lost."""
    created = []
    for i in range(25):
        conn = sqlite3.connect(str(db))
        conn.execute("CREATE TABLE IF NOT EXISTS caller_rows (i INTEGER)")
        conn.execute("INSERT INTO caller_rows VALUES (?)", (i,))  # left uncommitted on purpose
        created.append(st.create_candidate(conn, **dict(BASE, signal_name=f"round{i}")))
        st.update_status(db, created[-1], "rejected", reason="by path")
        assert conn.execute("SELECT COUNT(*) FROM promotion_candidates").fetchone()[0] == 2 * i + 1
        conn.close()  # may delete -wal/-shm under the store's cached connection
        created.append(st.create_candidate(str(db), **dict(BASE, signal_name=f"after_close{i}")))
    fresh = ref.rows(db, "SELECT candidate_id, status FROM promotion_candidates")
    found = {r["candidate_id"] for r in fresh}
    lost = set(created) - found
    print(f"caller open/close round {round_}: created {len(created)}, found {len(found)}, lost {len(lost)}")
    assert sorted(found) == sorted(created)
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM caller_rows")[0]["n"] == 25
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_events")[0]["n"] == 75


_RACE_SCRIPT = r"""
import sqlite3, sys, threading, time
from crypto_analyzer_promotion import store_sqlite as st, migrations_phase3 as mig
db = sys.argv[1]
mig.run_migrations_phase3(None, db)
base = dict(dataset_id="d", run_id="r", signal_name="s", horizon=1, config_hash="c", git_commit="g")
stop, errors, made = False, [], []
def writer():
    i = 0
    while not stop:
        try:
            made.append(st.create_candidate(db, **dict(base, signal_name=f"w{i}")))
            st.list_candidates(db, limit=5)
            i += 1
        except Exception as exc:
            errors.append(repr(exc))
            return
def opener():  # like a UI thread that opens and closes its own sqlite3 connection per action
    while not stop:
        c = sqlite3.connect(db)
        c.execute("SELECT COUNT(*) FROM promotion_candidates").fetchone()
        c.close()
threads = [threading.Thread(target=writer), threading.Thread(target=opener)]
for t in threads: t.start()
time.sleep(float(sys.argv[2]))
stop = True
for t in threads: t.join()
c = sqlite3.connect(db)
assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
assert c.execute("SELECT COUNT(*) FROM promotion_candidates").fetchone()[0] == len(made)
assert c.execute("SELECT COUNT(*) FROM promotion_events").fetchone()[0] == len(made)
assert not errors, errors
print("OK", len(made))
"""


def test_callers_opening_and_closing_connections_in_another_thread_do_not_corrupt(tmp_path):
    """Without the package's idle sqlite3 connection per file this crashed (SIGBUS) or corrupted
    the file within seconds; run in a child interpreter so a crash fails the test, not pytest."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _RACE_SCRIPT, str(tmp_path / "race.db"), "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.startswith("OK"), (out.returncode, out.stdout, out.stderr[-2000:])


def test_the_store_and_the_caller_share_one_sqlite_library(db, monkeypatch):
    """Decisive for "one SQLite per process": POSIX locks of one process never conflict, so only
    the SQLite library itself can tell the store that the caller holds the write lock. With one
    library the store waits (busy) for the caller's open write transaction; a second library
    would take the lock too and write beside it."""
    from crypto_analyzer_promotion import _core

    monkeypatch.setenv("CRYPTO_ANALYZER_BUSY_TIMEOUT_MS", "200")
    _core.store_forget_connection(str(db))  # reopened below with the 200 ms busy timeout
    st.list_candidates(db)
    holder = sqlite3.connect(str(db), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE caller_scratch (x)")
    try:
        t0 = time.monotonic()
        with pytest.raises(exceptions.DatabaseBusyError):
            st.create_candidate(str(db), **BASE)
        assert time.monotonic() - t0 < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    cid = st.create_candidate(str(db), **BASE)
    assert st.get_candidate(db, cid) is not None
