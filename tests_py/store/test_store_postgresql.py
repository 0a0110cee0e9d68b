"""What only the PostgreSQL backend has to show: a URL accepted where a database is, the server's
triggers refusing tampering by plain SQL (psql), one clear error without the password for bad
URLs / a server that is down / wrong credentials, and concurrent processes losing nothing.
The store behaviour shared with SQLite is tested on both backends by test_store_api/json."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import traceback

import pytest
from crypto_analyzer_promotion import _conn, _core
from crypto_analyzer_promotion import exceptions as X
from crypto_analyzer_promotion import migrations_phase3 as mig
from crypto_analyzer_promotion import store_sqlite as st

BASE = {
    "dataset_id": "ds1",
    "run_id": "run1",
    "signal_name": "sig_a",
    "horizon": 5,
    "config_hash": "cfg",
    "git_commit": "abc",
}
core = _core


def _password(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def _count(pg_sql, url, table):
    return pg_sql(url, f"SELECT count(*) AS n FROM {table}")[0]["n"]


@pytest.fixture
def reg(pg_url):
    mig.run_migrations_phase3(pg_url)
    return pg_url


def _report(url, rid, cid, level, passed=True):
    blockers = "[]" if passed else '["blocked"]'  # a failed report lists its blockers (as on SQLite)
    core.store_insert_eligibility_report(url, rid, cid, level, passed, blockers, "[]", "2026-01-01T00:00:00+00:00")


def test_url_works_wherever_a_database_is_accepted(pg_url, pg_sql):
    assert mig.get_applied_versions_phase3(pg_url) == []
    assert mig._schema_migrations_phase3_exists(pg_url) is False
    assert st.promotion_tables_exist(pg_url) is False
    with pytest.raises(RuntimeError, match="Promotion tables not found"):
        st.list_candidates(pg_url)
    assert mig.run_migrations_phase3(None, pg_url) == list(range(1, 15))
    assert mig.run_migrations_phase3(pg_url) == []
    assert mig.get_applied_versions_phase3(pg_url) == list(range(1, 15))
    assert mig._max_applied_version_phase3(pg_url) == 14
    assert mig.phase3_tables_exist(pg_url) is True
    st.init_promotion_tables(pg_url)  # idempotent
    names = [r["name"] for r in pg_sql(pg_url, "SELECT name FROM schema_migrations_phase3 ORDER BY version")]
    sqlite_names = [n for _, n, _ in mig.MIGRATIONS_PHASE3]  # the SQLite runner's names
    assert names[: len(sqlite_names)] == sqlite_names
    assert names[7:] == [
        "2026_02_eligibility_reports",
        "2026_02_promotion_eligibility_trigger",
        "2026_02_eligibility_reports_immutability",
        "2026_02_governance_events",
        "2026_02_artifact_lineage",
        "2026_02_artifact_edges",
        "2026_03_registry_rules",
    ]
    # postgres:// is the same thing
    other = pg_url.replace("postgresql://", "postgres://", 1)
    cid = st.create_candidate(other, **BASE)
    assert st.get_candidate(pg_url, cid)["candidate_id"] == cid
    st._core.store_forget_connection(other)


def test_eligibility_first_promotion(reg, pg_sql):
    a = st.create_candidate(reg, **BASE)
    b = st.create_candidate(reg, **dict(BASE, run_id="run2"))
    with pytest.raises(ValueError, match=r"Use promote_to_candidate\(\) or promote_to_accepted\(\)"):
        st.update_status(reg, a, "candidate")
    with pytest.raises(ValueError, match="candidate_id not found: prom_ghost"):
        _report(reg, "r0", "prom_ghost", "candidate")
    _report(reg, "ra", a, "candidate")
    _report(reg, "ra_acc_failed", a, "accepted", passed=False)
    events_b = len(st.get_events(reg, b))
    with pytest.raises(ValueError, match="was computed for candidate"):
        st.promote_to_candidate(reg, b, "ra")
    with pytest.raises(ValueError, match="did not pass"):
        st.promote_to_accepted(reg, a, "ra_acc_failed")
    with pytest.raises(ValueError, match="candidate_id not found: prom_ghost"):
        st.promote_to_candidate(reg, "prom_ghost", "ra")
    assert len(st.get_events(reg, b)) == events_b
    assert _count(pg_sql, reg, "promotion_events") == 2  # the two created events only
    st.promote_to_candidate(reg, a, "ra", "gate passed")
    row = st.get_candidate(reg, a)
    assert row["status"] == "candidate" and row["eligibility_report_id"] == "ra"
    last = json.loads(st.get_events(reg, a)[-1]["payload_json"])
    assert last["eligibility_report_id"] == "ra" and last["old_status"] == "exploratory"
    assert last["new_status"] == "candidate" and last["reason"] == "gate passed"
    _report(reg, "ra_acc", a, "accepted")
    st.promote_to_accepted(reg, a, "ra_acc")
    assert st.get_candidate(reg, a)["status"] == "accepted"


def test_tampering_through_plain_sql_is_refused_by_the_server(reg, pg_sql):
    a = st.create_candidate(reg, **BASE)
    b = st.create_candidate(reg, **dict(BASE, run_id="run2"))
    _report(reg, "ra", a, "candidate")
    _report(reg, "rb_failed", b, "candidate", passed=False)
    st.promote_to_candidate(reg, a, "ra")
    before = pg_sql(reg, "SELECT * FROM promotion_events ORDER BY event_id")
    attempts = [
        ("UPDATE promotion_events SET payload_json = NULL", "append-only: UPDATE is not allowed"),
        ("DELETE FROM promotion_events WHERE candidate_id = ?", "append-only: DELETE is not allowed", a),
        ("TRUNCATE promotion_events", "append-only: TRUNCATE is not allowed"),
        (
            "INSERT INTO promotion_events (candidate_id, ts_utc, event_type) VALUES ('ghost', 't', 'x')",
            "candidate_id not found in promotion_candidates",
        ),
        (
            "UPDATE promotion_candidates SET status = 'accepted' WHERE candidate_id = ?",
            "eligibility_report_id required",
            b,
        ),
        (
            "UPDATE promotion_candidates SET status = 'candidate', eligibility_report_id = 'ra' WHERE candidate_id = ?",
            "eligibility_report_id required",
            b,
        ),
        (
            (
                "UPDATE promotion_candidates SET status = 'candidate', eligibility_report_id = 'rb_failed' "
                "WHERE candidate_id = ?"
            ),
            "eligibility_report_id required",
            b,
        ),
        (
            "UPDATE eligibility_reports SET blockers_json = '[]x' WHERE eligibility_report_id = 'ra'",
            "evidence is immutable",
        ),
        ("DELETE FROM eligibility_reports WHERE eligibility_report_id = 'ra'", "evidence is immutable"),
    ]
    for sql, expect, *params in attempts:
        with pytest.raises(pg_sql.Error, match=expect):
            pg_sql(reg, sql, params)
    assert pg_sql(reg, "SELECT * FROM promotion_events ORDER BY event_id") == before
    assert st.get_candidate(reg, b)["status"] == "exploratory"
    assert pg_sql(reg, "SELECT blockers_json FROM eligibility_reports WHERE eligibility_report_id = 'ra'") == [
        {"blockers_json": "[]"}
    ]


def _assert_clean(exc: BaseException, *secrets: str) -> None:
    """Neither the exception nor any exception chained to it carries a secret (the traceback's
    source lines are code, not values; the test's own source does contain the secrets)."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen) + repr(seen) + repr(seen.args) + "".join(traceback.format_exception_only(type(seen), seen))
        for s in secrets:
            assert s not in text, f"secret echoed in: {text}"
        seen = seen.__cause__ or seen.__context__


def test_wrong_credentials_one_clear_error_nothing_written(reg, pg_sql):
    password = _password(reg)
    wrong = reg.replace(f":{password}@", ":Wr0ng-Pa55@", 1)
    with pytest.raises(X.DatabaseConnectionError, match="password authentication failed") as info:
        st.create_candidate(wrong, **BASE)
    assert isinstance(info.value, ConnectionError) and isinstance(info.value, RuntimeError)
    assert ":***@" in str(info.value)
    _assert_clean(info.value, "Wr0ng-Pa55", password)
    assert _count(pg_sql, reg, "promotion_candidates") == 0


def test_credentials_from_pg_environment_variables(reg, monkeypatch, pg_sql):
    password = _password(reg)
    no_pw = reg.replace(f":{password}@", "@", 1)
    monkeypatch.setenv("PGPASSWORD", password)
    cid = st.create_candidate(no_pw, **BASE)
    assert st.get_candidate(reg, cid) is not None
    st._core.store_forget_connection(no_pw)
    monkeypatch.setenv("PGPASSWORD", "env-Wr0ng-Pa55")
    with pytest.raises(X.DatabaseConnectionError, match="password authentication failed") as info:
        st.list_candidates(no_pw)
    _assert_clean(info.value, "env-Wr0ng-Pa55", password)
    st._core.store_forget_connection(no_pw)
    # user from PGUSER too
    no_user = no_pw.replace("crypto@", "", 1)
    monkeypatch.setenv("PGPASSWORD", password)
    monkeypatch.setenv("PGUSER", "crypto")
    assert len(st.list_candidates(no_user)) == 1
    st._core.store_forget_connection(no_user)


def test_server_down_is_one_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://crypto:Down-Secret-9@127.0.0.1:{port}/registry"
    for call in (
        lambda: st.create_candidate(url, **BASE),
        lambda: mig.run_migrations_phase3(url),
        lambda: st.list_candidates(url),
    ):
        with pytest.raises(
            X.DatabaseConnectionError,
            match="could not connect to PostgreSQL at "
            r"postgresql://crypto:\*\*\*@127.0.0.1",
        ) as info:
            call()
        _assert_clean(info.value, "Down-Secret-9")


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("postgresql://crypto:Bad-Secret-1@127.0.0.1:notaport/registry", "invalid PostgreSQL URL"),
        ("postgresql://crypto:Bad-Secret-1@127.0.0.1:5432/registry?sslmode=sometimes", "invalid PostgreSQL URL"),
        (
            "postgresql://crypto:Bad-Secret-1@127.0.0.1:5432/registry?password=Bad-Secret-2&bogus_option=1",
            "invalid PostgreSQL URL",
        ),
    ],
)
def test_bad_urls_are_value_errors_without_the_password(url, fragment):
    with pytest.raises(X.InvalidInputError, match=fragment) as info:
        st.create_candidate(url, **BASE)
    _assert_clean(info.value, "Bad-Secret-1", "Bad-Secret-2")
    assert "Bad-Secret" not in _conn.redact(url)


def _worker(url: str, wid: int, ops: int, out: mp.Queue[tuple[int, list[str], int, int]]) -> None:
    """Mixed operations on the shared registry; reports what it did."""
    created, events, promoted = [], 0, 0
    for j in range(ops):
        cid = st.create_candidate(url, **dict(BASE, run_id=f"w{wid}", candidate_id=f"w{wid}-{j}"))
        created.append(cid)
        st.record_event(url, "w0-0" if j % 2 else cid, "touch", {"w": wid, "j": j})
        events += 1
        if j % 3 == 2:
            _report(url, f"rep-{cid}", cid, "candidate")
            st.promote_to_candidate(url, cid, f"rep-{cid}")
            promoted += 1
        elif j % 3 == 1:
            st.update_status(url, cid, "rejected", reason="weak")
    out.put((wid, created, events, promoted))


def _size() -> tuple[int, int]:
    """Workers x operations: 4x24 in the suite; CRYPTO_ANALYZER_PG_CONCURRENCY=8x500 for the full size."""
    w, n = os.environ.get("CRYPTO_ANALYZER_PG_CONCURRENCY", "4x24").lower().split("x")
    return int(w), int(n)


def test_processes_writing_at_once_lose_nothing(reg, pg_sql):
    st.create_candidate(reg, **dict(BASE, candidate_id="w0-0"))
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    workers, ops = _size()
    procs = [ctx.Process(target=_worker, args=(reg, w + 1, ops, out)) for w in range(workers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    created = [c for _, cs, _, _ in results for c in cs]
    assert len(created) == len(set(created)) == workers * ops
    assert _count(pg_sql, reg, "promotion_candidates") == workers * ops + 1
    n_events = {
        r["event_type"]: r["n"]
        for r in pg_sql(reg, "SELECT event_type, count(*) AS n FROM promotion_events GROUP BY event_type")
    }
    assert n_events["created"] == workers * ops + 1
    assert n_events["touch"] == sum(r[2] for r in results)
    assert n_events["status_change"] == sum(1 for j in range(ops) if j % 3) * workers
    # The rule holds for every row: candidate/accepted only with a passed report of that level
    # computed for that very candidate.
    bad = pg_sql(
        reg,
        "SELECT c.candidate_id FROM promotion_candidates c LEFT JOIN eligibility_reports r "
        "ON r.eligibility_report_id = c.eligibility_report_id WHERE c.status IN ('candidate', 'accepted') "
        "AND (r.passed IS DISTINCT FROM 1 OR r.level <> c.status OR r.candidate_id <> c.candidate_id)",
    )
    assert bad == []
    assert _count(pg_sql, reg, "promotion_candidates WHERE status = 'candidate'") == sum(r[3] for r in results)


def test_fork_after_use_gets_its_own_connection(reg):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    st.create_candidate(reg, **dict(BASE, candidate_id="parent-1"))
    pid = os.fork()
    if pid == 0:  # child: must not use (or close) the parent's session
        code = 1
        try:
            st.create_candidate(reg, **dict(BASE, candidate_id="child-1"))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    st.create_candidate(reg, **dict(BASE, candidate_id="parent-2"))  # parent's session still fine
    assert {r["candidate_id"] for r in st.list_candidates(reg)} == {"parent-1", "child-1", "parent-2"}


def _writer_forever(url: str, prefix: str) -> None:
    i = 0
    while True:
        cid = st.create_candidate(url, **dict(BASE, run_id=prefix, candidate_id=f"{prefix}-{i}"))
        st.record_event(url, cid, "touch", {"i": i})
        if i % 2:
            _report(url, f"r{prefix}-{i}", cid, "candidate")
            st.promote_to_candidate(url, cid, f"r{prefix}-{i}")
        i += 1


def test_sigkilled_writers_leave_no_half_written_candidate(reg, pg_sql):
    import signal
    import time

    ctx = mp.get_context("spawn")
    for round_ in range(3):
        start = _count(pg_sql, reg, "promotion_candidates")
        p = ctx.Process(target=_writer_forever, args=(reg, f"k{round_}"))
        p.start()
        deadline = time.time() + 60
        while time.time() < deadline and _count(pg_sql, reg, "promotion_candidates") < start + 5:
            time.sleep(0.02)
        os.kill(p.pid, signal.SIGKILL)
        p.join(timeout=30)
        assert p.exitcode == -signal.SIGKILL
        assert _count(pg_sql, reg, "promotion_candidates") >= start + 5
    # Every candidate has exactly one created event (none half-written), every promoted one is
    # linked to its own passed report and has its status_change event.
    half = pg_sql(
        reg,
        "SELECT c.candidate_id FROM promotion_candidates c LEFT JOIN promotion_events e "
        "ON e.candidate_id = c.candidate_id AND e.event_type = 'created' "
        "GROUP BY c.candidate_id HAVING count(e.event_id) <> 1",
    )
    assert half == []
    wrong = pg_sql(
        reg,
        "SELECT candidate_id FROM promotion_candidates WHERE status = 'candidate' AND "
        "eligibility_report_id IS DISTINCT FROM 'r' || candidate_id",
    )
    assert wrong == []
    promoted = pg_sql(reg, "SELECT candidate_id FROM promotion_candidates WHERE status = 'candidate'")
    assert promoted
    for row in promoted:
        ev = [e["event_type"] for e in st.get_events(reg, row["candidate_id"])]
        assert ev.count("status_change") == 1 and ev[0] == "created"
