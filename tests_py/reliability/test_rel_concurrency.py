"""Concurrency and crash safety of the registry: several OS processes write one database at once,
some are killed with SIGKILL mid-write; afterwards every reported operation is there exactly once
and the audit trail is consistent (see harness.py for the invariants).

The full-size run (8 processes x 500 operations, more crash rounds) is `make stress`."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def _kinds(n_api: int):
    """API writers, one CLI writer and one Streamlit AppTest session (streamlit is a declared test
    dependency: without it the page worker fails to start and the test fails, it is not dropped)."""
    return ["api"] * n_api + ["cli", "ui"]


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path, harness):
    kinds = _kinds(4)
    # API calls take milliseconds, CLI calls and page clicks a good part of a second: more API
    # operations so that every worker is still writing when the others start.
    n_ops = {"api": 300, "cli": 30, "ui": 30}
    res = harness.run_workers(tmp_path / "run", kinds, n_ops=n_ops, seed=11, timeout_s=600)
    assert set(res.returncodes.values()) == {0}, [
        (w, (tmp_path / "run" / f"w{w}.err").read_text()[-800:]) for w in res.returncodes
    ]
    report = harness.check_run(res)
    assert report["reported_failed"] == 0, report["failures"]
    # An evaluation refused because another worker changed the status after it was read (nothing
    # written, checked by check_run) is the one expected non-ok outcome.
    assert report["reported_ok"] + report["refused_stale_evaluations"] == sum(n_ops[k] for k in kinds)
    # 6 shared candidates + one per reported create.
    creates = sum(n for k, n in report["ops"].items() if k.endswith(":create"))
    assert report["candidates"] == 6 + creates
    # Every kind did its operations, evaluations included (none silently dropped).
    for kind in ("api", "cli", "ui"):
        assert any(k.startswith(f"{kind}:") for k in report["ops"]), (kind, report["ops"])
    assert report["ops"].get("api:evaluate", 0) > 0 and report["ops"].get("cli:evaluate", 0) > 0, report["ops"]
    # They were writing at once: a common window, and commits interleaved between workers.
    print(report["overlap"])
    harness.assert_overlap(report, min_switches=2 * len(kinds))


def test_sigkilled_writers_leave_a_consistent_registry(tmp_path, harness):
    res = harness.run_crashes(tmp_path / "crash", ["api", "api", "cli"], n_kills=12, seed=5, max_delay=0.3)
    report = harness.check_run(res)
    # 12 killed and replaced, then the last 3: each was still running when SIGKILL hit it (not
    # exited on its own), and the killed workers had been writing.
    assert sorted(res.returncodes) == sorted(res.killed) and len(res.killed) == 15
    assert all(rc == -signal.SIGKILL for rc in res.returncodes.values()), res.returncodes
    assert sum(1 for w in res.killed if harness.read_log(res.logs[w])) >= 5  # 9 of 15 when written
    assert report["reported_ok"] > 100
    assert report["in_flight_committed"] <= report["killed_workers"]
    # The registry is still writable after the crashes, through the package.
    from crypto_analyzer_promotion import store_sqlite

    cid = store_sqlite.create_candidate(
        res.db, dataset_id="after", run_id="after", signal_name="s", horizon=1, config_hash="c", git_commit="g"
    )
    store_sqlite.update_status(res.db, cid, "rejected", reason="after crash")
    assert [e["event_type"] for e in store_sqlite.get_events(res.db, cid)] == ["created", "status_change"]
    harness.check_run(res)


_MIGRATE_CHILD = """
import sys
from crypto_analyzer_promotion import migrations_phase3
print("ready", flush=True)
sys.stdin.readline()
migrations_phase3.run_migrations_phase3(None, sys.argv[1])
print("done", flush=True)
"""


def test_sigkill_during_migrations_then_rerun(tmp_path):
    """Kill the migration runner at random moments on fresh databases: a rerun always completes
    the schema, versions 1-14 are each recorded once and the file is intact."""
    from crypto_analyzer_promotion import migrations_phase3

    rng = random.Random(3)
    interrupted = 0  # kills that landed before the child reported "done"
    for i in range(8):
        db = tmp_path / f"m{i}.db"
        p = subprocess.Popen(
            [sys.executable, "-c", _MIGRATE_CHILD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert p.stdout.readline().strip() == b"ready"
        p.stdin.write(b"go\n")
        p.stdin.flush()
        time.sleep(rng.uniform(0.0, 0.03))
        p.send_signal(signal.SIGKILL)
        p.wait()
        finished = b"done" in p.stdout.read()
        interrupted += p.returncode == -signal.SIGKILL and not finished
        migrations_phase3.run_migrations_phase3(None, db)
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations_phase3 ORDER BY version")]
        finally:
            conn.close()
        assert versions == list(range(1, 15))
        assert migrations_phase3.phase3_tables_exist(db)
    print(f"{interrupted} of 8 kills landed before the child finished")
    assert interrupted >= 3


_LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO regime_runs VALUES ('lock', 't', 'd', 'f', 'm', NULL)")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""

_WRITER = """
import json, sys, time
from crypto_analyzer_promotion import store_sqlite
t0 = time.monotonic()
try:
    store_sqlite.create_candidate(sys.argv[1], dataset_id="d", run_id="r", signal_name="s", horizon=1,
                                  config_hash="c", git_commit="g")
    out = {"ok": True}
except Exception as e:
    out = {"ok": False, "type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "msg": str(e)}
out["waited"] = time.monotonic() - t0
print(json.dumps(out))
"""


def test_busy_database_waits_a_bounded_time_then_raises_a_clear_error(tmp_path, harness, snap):
    db = tmp_path / "busy.db"
    harness.init_db(db, n_shared=1)
    before = snap.db_digest(db)
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        env = dict(os.environ, CRYPTO_ANALYZER_BUSY_TIMEOUT_MS="400")
        out = subprocess.run([sys.executable, "-c", _WRITER, str(db)], env=env, capture_output=True, timeout=120)
        res = json.loads(out.stdout)
    finally:
        holder.stdin.write(b"\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
    assert res["ok"] is False
    assert res["type"] == "DatabaseBusyError"
    assert {"TimeoutError", "RuntimeError"} <= set(res["mro"])
    assert res["msg"].startswith("database is busy (locked by another connection) after waiting 400 ms")
    assert res["waited"] >= 0.35  # it did retry for the whole timeout before giving up
    assert snap.db_digest(db) == before
    # Once the lock is gone the same call succeeds.
    from crypto_analyzer_promotion import store_sqlite

    store_sqlite.create_candidate(
        db, dataset_id="d", run_id="r", signal_name="s", horizon=1, config_hash="c", git_commit="g"
    )


# ---------------------------------------------------------------------------------------------
# The checker itself must fail on each kind of damage it claims to detect.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, harness):
    res = harness.run_workers(tmp_path_factory.mktemp("clean"), ["api"] * 2, n_ops=40, seed=2)
    harness.check_run(res)
    return res


def _damaged_copy(res, tmp_path, sql: str):

    db = tmp_path / "damaged.db"
    src = sqlite3.connect(res.db)
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.executescript(
        "DROP TRIGGER IF EXISTS promotion_events_no_update; DROP TRIGGER IF EXISTS promotion_events_no_delete;"
        "DROP TRIGGER IF EXISTS promotion_events_candidate_exists;" + sql
    )
    dst.commit()
    dst.close()
    return db


def _first_ok(res, harness, op):
    for path in res.logs.values():
        for rec in harness.read_log(path):
            if rec["ok"] and rec["op"] == op:
                return rec
    raise AssertionError(op)


def _check(harness, res, db, killed=None):
    logs = {w: harness.read_log(p) for w, p in res.logs.items()}
    return harness.check_db(db, logs, killed or {})


@pytest.mark.parametrize(
    "damage, message",
    [
        ("lost_event", "found 0 times"),
        ("duplicated_event", "found 2 times"),
        ("orphan_event", "events without their candidate"),
        ("status_mismatch", "stored status"),
        ("broken_chain", "history says"),
        ("half_candidate", "candidate without any event"),
        ("created_only_status", "stored status"),
        ("unreported_row", "no worker reported it"),
    ],
)
def test_checker_detects_damage(clean_run, harness, tmp_path, damage, message):
    ev = _first_ok(clean_run, harness, "event")
    st = _first_ok(clean_run, harness, "status")
    sql = {
        "lost_event": f"DELETE FROM promotion_events WHERE payload_json LIKE '%\"{ev['tag']}\"%';",
        "duplicated_event": "INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json) "
        f"SELECT candidate_id, '9999', event_type, payload_json FROM promotion_events WHERE payload_json LIKE '%\"{ev['tag']}\"%';",
        "orphan_event": "INSERT INTO promotion_events (candidate_id, ts_utc, event_type) VALUES ('ghost', '9999', 'created');",
        # (a status outside the four is refused by the CHECK triggers of version 14: another one)
        "status_mismatch": "UPDATE promotion_candidates SET status = CASE status WHEN 'rejected' THEN 'exploratory' "
        f"ELSE 'rejected' END WHERE candidate_id = '{st['cid']}';",
        "broken_chain": f'UPDATE promotion_events SET payload_json = replace(payload_json, \'"old_status"\', \'"x":0,"old_status":"bogus","y"\') '
        f"WHERE event_id = (SELECT MAX(event_id) FROM promotion_events WHERE event_type = 'status_change' AND candidate_id = '{st['cid']}');",
        "half_candidate": "INSERT INTO promotion_candidates (candidate_id, created_at_utc, status, dataset_id, run_id, signal_name, "
        "horizon, config_hash, git_commit) VALUES ('half', 't', 'exploratory', 'd', 'r', 's', 1, 'c', 'g');",
        "created_only_status": "UPDATE promotion_candidates SET status = CASE status WHEN 'rejected' THEN 'exploratory' "
        "ELSE 'rejected' END WHERE candidate_id = (SELECT candidate_id FROM promotion_events GROUP BY candidate_id "
        "HAVING COUNT(*) = 1 ORDER BY candidate_id LIMIT 1);",
        "unreported_row": "INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json) "
        "VALUES ('shared_0', '9999', 'rel_note', '{\"tag\":\"w0-99999\"}');",
    }[damage]
    if damage == "created_only_status":  # the clean run must have such a candidate to damage
        conn = sqlite3.connect(clean_run.db)
        only = conn.execute(
            "SELECT COUNT(*) FROM (SELECT candidate_id FROM promotion_events GROUP BY candidate_id HAVING COUNT(*) = 1)"
        ).fetchone()[0]
        conn.close()
        assert only >= 1
    db = _damaged_copy(clean_run, tmp_path, sql)
    with pytest.raises(harness.InvariantError, match=message):
        _check(harness, clean_run, db)


def test_checker_rejects_a_failed_op_that_left_rows(clean_run, harness):
    logs = {w: harness.read_log(p) for w, p in clean_run.logs.items()}
    rec = next(r for r in logs[0] if r["ok"] and r["op"] == "event")
    rec.update(ok=False, error="DatabaseBusyError")
    with pytest.raises(harness.InvariantError, match="reported failure"):
        harness.check_db(clean_run.db, logs, {})


def test_checker_allows_only_the_in_flight_op_of_a_killed_worker(clean_run, harness):
    logs = {w: harness.read_log(p) for w, p in clean_run.logs.items()}
    last = logs[1].pop()  # pretend worker 1 died before logging its last op
    with pytest.raises(harness.InvariantError, match="no worker reported it"):
        harness.check_db(clean_run.db, logs, {})
    assert harness.check_db(clean_run.db, logs, {1: last["j"]})["in_flight_committed"] == 1
    with pytest.raises(harness.InvariantError, match="no worker reported it"):
        harness.check_db(clean_run.db, logs, {1: last["j"] + 1})


def test_sigkilled_cache_writers_leave_a_valid_manifest(tmp_path, harness):
    """Writers save (and readers load) RC nulls under 12 keys; half the keys get new content on
    every save. After 12 SIGKILLs and killing the rest: manifest.json is valid JSON, each entry's
    sha256 matches its file, and what is served is exactly an array that was saved."""
    report = harness.run_cache_crashes(tmp_path, n_writers=3, n_kills=12, seed=4, max_delay=0.3)
    # All 15 writers were still running when killed (none had exited on its own).
    assert report["killed_writers"] == 15 and report["exited_before_kill"] == 0, report
    assert report["saves_started"] > 50
    # Saves did complete, and every key with a completed save (and no save of it cut short by a
    # kill) is served (checked in check_cache).
    assert report["keys_completed"] >= 1 and report["entries"] >= 1, report


def test_cache_checker_detects_a_mismatching_entry(tmp_path, harness):
    import numpy as np
    from crypto_analyzer_promotion import rc_cache

    cache = tmp_path / "cache"
    rc_cache.save_cached_null_max(cache, harness.cache_key_name(1), np.asarray(harness.cache_values(1, 5)))
    log = tmp_path / "c0.log"
    log.write_text(json.dumps({"key": 1, "variant": 5}) + "\n")
    assert harness.check_cache(cache, {0: log})["served_ok"] == 1
    # Content that no writer saved under the key is refused (variant 0 is not a free pass).
    other = tmp_path / "other"
    rc_cache.save_cached_null_max(other, harness.cache_key_name(1), np.asarray(harness.cache_values(1, 0)))
    with pytest.raises(harness.InvariantError, match="none of the arrays saved"):
        harness.check_cache(other, {0: log})
    # A save that returned but left no manifest entry is a lost write.
    done = tmp_path / "c1.log"
    done.write_text(
        json.dumps({"key": 3, "variant": 7}) + "\n" + json.dumps({"key": 3, "variant": 7, "done": True}) + "\n"
    )
    with pytest.raises(harness.InvariantError, match="manifest has no entry"):
        harness.check_cache(cache, {0: log, 1: done})
    (cache / "relkey01.npy").write_bytes((cache / "relkey01.npy").read_bytes()[:-8])
    with pytest.raises(harness.InvariantError, match="sha256 in the manifest does not match"):
        harness.check_cache(cache, {0: log})
    (cache / "manifest.json").write_text("{torn")
    with pytest.raises(harness.InvariantError, match="not valid JSON"):
        harness.check_cache(cache, {0: log})
