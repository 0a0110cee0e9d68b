"""A PostgreSQL registry that enforces its own rules (issue 25, items 1-3), proven against the
real server as each role a team hands out: ``reader``, ``researcher`` and ``approver`` (made by
``setup_registry_roles``, the ``roles`` command), each given to a login of its own.

* Every way around the registry functions is refused for every non-owner role: direct
  INSERT/UPDATE/DELETE/TRUNCATE on the governed tables, a status of 'banana', events with a forged
  actor or a backdated time, a self-made passed report, temporary tables shadowing a governance
  table (the search_path attack), trigger and function manipulation, linking a report that does
  not exist or belongs to another candidate; the rows are unchanged afterwards.
* The CHECK, the foreign keys and the one-rung trigger hold even for the owner's plain SQL.
* Who and when are the server's: every event carries the session's login and the server clock.
* What each role can do through the package, and the steps into and out of accepted that only an
  approver takes.
* Races on one candidate (processes released at a barrier while the test holds the candidate's row
  lock, so all of them are provably waiting on it at once): exactly one promotion, clear refusals.
* The holes a security review found, each replayed as the role in plain SQL: an approver approving
  on a report he wrote (or a candidate he moved) through an evaluation that claims not to be one,
  a client-dated report, a researcher undoing an approver's rejection, TRIGGER / REFERENCES /
  sequence grants of an older set-up, and history without an actor.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import secrets
import subprocess
import time
import urllib.parse
from types import SimpleNamespace

import pytest
from bundles import PROVENANCE, write_bundle
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion import acceptance as acc
from crypto_analyzer_promotion import exceptions as X
from crypto_analyzer_promotion import migrations_phase3 as mig
from crypto_analyzer_promotion import store_sqlite as st
from crypto_analyzer_promotion.gating import ThresholdConfig
from crypto_analyzer_promotion.service import evaluate_and_record
from dbread import PsqlError, psql_binary, run_psql

BASE = {
    "dataset_id": "ds1",
    "run_id": "run1",
    "signal_name": "sig_a",
    "horizon": 5,
    "config_hash": "cfg",
    "git_commit": "abc",
}
ROLES = ("reader", "researcher", "approver")
PASSING = ThresholdConfig(ic_mean_min=0.02, tstat_min=2.0)  # the bundle of bundles.write_bundle passes
GOVERNED = ("promotion_candidates", "promotion_events", "eligibility_reports", "governance_events")


def _as_login(url: str, user: str, password: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit((parts.scheme, f"{user}:{password}@{host}", parts.path, parts.query, ""))


@pytest.fixture
def gov(pg_url, pg_sql):
    """A migrated registry with the roles set up and one login per role (``gov.reader`` etc. are
    their URLs, ``gov.login[role]`` their names); ``gov.owner`` is the migrating superuser."""
    mig.run_migrations_phase3(pg_url)
    mig.setup_registry_roles(pg_url)
    mig.setup_registry_roles(pg_url)  # idempotent
    schema = pg_sql(pg_url, "SELECT current_schema() AS s")[0]["s"]
    urls, logins = {}, {}
    for role in ROLES:
        name = f"{role[:3]}_{schema}"
        password = secrets.token_hex(12)
        run_psql(pg_url, f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE {role}")
        urls[role], logins[role] = _as_login(pg_url, name, password), name
    yield SimpleNamespace(owner=pg_url, schema=schema, login=logins, **urls)
    for role, url in urls.items():
        _core.store_forget_connection(url)
        try:
            run_psql(pg_url, f"DROP ROLE IF EXISTS {logins[role]}")
        except PsqlError:
            pass  # a session still closing; the cluster is thrown away at the end


def _report(url: str, rid: str, cid: str, level: str, passed: bool = True) -> None:
    blockers = "[]" if passed else '["blocked"]'
    _core.store_insert_eligibility_report(url, rid, cid, level, passed, blockers, "[]", "2026-01-01T00:00:00+00:00")


def _snapshot(pg_sql, url: str) -> dict:
    return {
        t: pg_sql(url, f"SELECT * FROM {t} ORDER BY 1") for t in GOVERNED
    }  # every governed row, as the owner reads it


def _seeded(gov) -> tuple[str, str]:
    """Candidate ``a`` promoted to candidate on report ``ra``; ``b`` exploratory with a failed
    report ``rb_fail``."""
    a = st.create_candidate(gov.owner, **BASE)
    b = st.create_candidate(gov.owner, **dict(BASE, run_id="run2"))
    _report(gov.owner, "ra", a, "candidate")
    _report(gov.owner, "rb_fail", b, "candidate", passed=False)
    st.promote_to_candidate(gov.owner, a, "ra")
    return a, b


def _attacks(schema: str, a: str, b: str) -> list[tuple[str, str]]:
    """(SQL, what the refusal says) for a role that is not the owner; one psql session each."""
    denied = "permission denied"
    owner = "must be owner|permission denied"
    fn_denied = "permission denied for function"
    fake_report = (
        f"INSERT INTO eligibility_reports (eligibility_report_id, candidate_id, level, passed, blockers_json, "
        f"warnings_json, computed_at_utc) VALUES ('self', '{b}', 'candidate', 1, '[]', '[]', 't')"
    )
    return [
        # direct writes to the governed tables and columns
        (f"UPDATE promotion_candidates SET status = 'exploratory' WHERE candidate_id = '{a}'", denied),
        ("UPDATE promotion_candidates SET status = 'banana'", denied),
        (f"UPDATE promotion_candidates SET eligibility_report_id = 'ghost' WHERE candidate_id = '{b}'", denied),
        (f"UPDATE promotion_candidates SET eligibility_report_id = 'ra' WHERE candidate_id = '{b}'", denied),
        (
            "INSERT INTO promotion_candidates (candidate_id, created_at_utc, status, dataset_id, run_id, "
            "signal_name, horizon, config_hash, git_commit) VALUES ('x', 't', 'accepted', 'd', 'r', 's', 1, 'c', 'g')",
            denied,
        ),
        ("DELETE FROM promotion_candidates", denied),
        ("TRUNCATE promotion_candidates CASCADE", denied),
        # forged actor, backdated time, forged status change
        (
            "INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json, actor) VALUES "
            f"('{a}', '2020-01-01T00:00:00+00:00', 'status_change', '{{\"new_status\":\"accepted\"}}', 'boss')",
            denied,
        ),
        (
            "INSERT INTO governance_events (timestamp, actor, action) VALUES ('2020-01-01T00:00:00', 'boss', 'promote')",
            denied,
        ),
        ("TRUNCATE promotion_events", denied),
        ("DELETE FROM governance_events", denied),
        # a self-made passed report, a failed one rewritten
        (fake_report, denied),
        ("UPDATE eligibility_reports SET passed = 1 WHERE eligibility_report_id = 'rb_fail'", denied),
        ("DELETE FROM eligibility_reports", denied),
        # triggers, constraints and functions belong to the owner
        ("ALTER TABLE promotion_candidates DISABLE TRIGGER ALL", owner),
        ("ALTER TABLE promotion_events DISABLE TRIGGER promotion_events_stamp", owner),
        ("ALTER TABLE promotion_candidates DROP CONSTRAINT promotion_candidates_status_check", owner),
        (
            f"CREATE OR REPLACE FUNCTION {schema}.promotion_candidates_require_eligibility() RETURNS trigger "
            "LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
            owner,
        ),
        (
            f"CREATE OR REPLACE FUNCTION {schema}.registry_check_step(text, text, text, text) RETURNS void "
            "LANGUAGE sql AS $$SELECT$$",
            owner,
        ),
        (f"ALTER FUNCTION {schema}.registry_promote(text, text, text, text) SECURITY INVOKER", owner),
        (f"CREATE FUNCTION {schema}.helper() RETURNS int LANGUAGE sql AS $$SELECT 1$$", denied),
        # the helpers the write functions call are not callable on their own
        (f"SELECT registry_check_step('{b}', 'exploratory', 'candidate', 'ra')", fn_denied),
        (f"SELECT registry_lock_candidate('{a}')", fn_denied),
        # the functions refuse what the rules refuse (a reader may not call them at all)
        (f"SELECT registry_set_status('{a}', 'banana', NULL)", "permission denied|unknown status"),
        (f"SELECT registry_promote('{b}', 'candidate', 'ghost', NULL)", "permission denied|report not found"),
        (f"SELECT registry_promote('{b}', 'candidate', 'ra', NULL)", "permission denied|cannot promote"),
        (f"SELECT registry_promote('{b}', 'candidate', 'rb_fail', NULL)", "permission denied|cannot promote"),
        (f"SELECT registry_promote('{a}', 'accepted', 'ra', NULL)", "permission denied|cannot promote"),
        (
            f"SELECT registry_record_event('{a}', 'status_change', '{{\"new_status\":\"accepted\"}}')",
            "permission denied|written by the registry itself",
        ),
        # temporary tables shadowing the governance tables (pg_temp is searched first for tables)
        (
            "CREATE TEMP TABLE eligibility_reports (eligibility_report_id text, candidate_id text, level text, "
            f"passed integer); INSERT INTO eligibility_reports VALUES ('ra', '{b}', 'candidate', 1); "
            f"SELECT registry_promote('{b}', 'candidate', 'ra', NULL)",
            "permission denied|cannot promote",
        ),
        (
            "CREATE TEMP TABLE eligibility_reports (eligibility_report_id text, candidate_id text, level text, "
            f"passed integer); INSERT INTO eligibility_reports VALUES ('fake', '{b}', 'candidate', 1); "
            f"SET search_path = pg_temp, {schema}; SELECT {schema}.registry_promote('{b}', 'candidate', 'fake', NULL)",
            "permission denied|report not found",
        ),
        (
            "CREATE TEMP TABLE promotion_candidates (candidate_id text, status text); "
            f"INSERT INTO promotion_candidates VALUES ('{a}', 'candidate'); "
            f"CREATE TEMP TABLE eligibility_reports AS SELECT 'ra_acc'::text AS eligibility_report_id, "
            f"'{a}'::text AS candidate_id, 'accepted'::text AS level, 1 AS passed; "
            f"SELECT registry_promote('{a}', 'accepted', 'ra_acc', NULL)",
            "permission denied|report not found",
        ),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_bypass_is_refused_for_each_role(gov, pg_sql, role):
    a, b = _seeded(gov)
    before = _snapshot(pg_sql, gov.owner)
    url = getattr(gov, role)
    assert pg_sql(url, f"SELECT status FROM promotion_candidates WHERE candidate_id = '{a}'") == [
        {"status": "candidate"}
    ]  # every role reads
    attacks = _attacks(gov.schema, a, b)
    for sql, expect in attacks:
        with pytest.raises(PsqlError, match=expect):
            run_psql(url, sql)
    assert _snapshot(pg_sql, gov.owner) == before
    if role == "reader":  # and a reader calls no write function at all
        with pytest.raises(PsqlError, match="permission denied for function"):
            run_psql(url, f"SELECT registry_record_event('{a}', 'note', NULL)")


def test_check_foreign_keys_and_one_rung_hold_for_plain_sql_even_as_owner(gov, pg_sql):
    a, b = _seeded(gov)
    _report(gov.owner, "rb_acc", b, "accepted")
    _report(gov.owner, "ra2", a, "candidate")
    before = _snapshot(pg_sql, gov.owner)
    for sql, expect in [
        (f"UPDATE promotion_candidates SET status = 'banana' WHERE candidate_id = '{b}'", "check constraint"),
        (f"UPDATE promotion_candidates SET eligibility_report_id = 'ghost' WHERE candidate_id = '{b}'", "foreign key"),
        (f"UPDATE promotion_candidates SET eligibility_report_id = 'ra' WHERE candidate_id = '{b}'", "foreign key"),
        (
            "INSERT INTO eligibility_reports (eligibility_report_id, candidate_id, level, passed, blockers_json, "
            "warnings_json, computed_at_utc) VALUES ('orphan', 'prom_ghost', 'candidate', 1, '[]', '[]', 't')",
            "foreign key",
        ),
        (
            f"UPDATE promotion_candidates SET status = 'accepted', eligibility_report_id = 'rb_acc' "
            f"WHERE candidate_id = '{b}'",
            "one rung per change: accepted only from candidate, not from exploratory",
        ),
        (
            f"UPDATE promotion_candidates SET eligibility_report_id = 'ra2' WHERE candidate_id = '{a}'",
            "the eligibility report behind a promotion cannot be replaced",
        ),
    ]:
        with pytest.raises(PsqlError, match=expect):
            run_psql(gov.owner, sql)
    assert _snapshot(pg_sql, gov.owner) == before
    # Every function, trigger function included, runs with a pinned search_path.
    unpinned = pg_sql(
        gov.owner,
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace "
        "AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY(p.proconfig), false)",
    )
    assert unpinned == []
    definers = pg_sql(
        gov.owner,
        "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace AND prosecdef ORDER BY 1",
    )
    assert [r["proname"] for r in definers] == [
        "registry_append_governance_event",
        "registry_approve_acceptance",
        "registry_create_candidate",
        "registry_promote",
        "registry_record_evaluation",
        "registry_record_event",
        "registry_reject_acceptance",
        "registry_request_acceptance",
        "registry_set_status",
        "registry_setting",
    ]


def _py_json_str(s: str) -> str:
    return json.dumps(s)  # ensure_ascii: what the store's canonical JSON writes


def test_actor_and_time_are_the_servers(gov, pg_sql):
    reason = 'weak é 😀 "q" \\ \t'
    cid = st.create_candidate(gov.researcher, **BASE)
    st.record_event(gov.researcher, cid, "note", {"claimed_actor": "boss", "ts_utc": "2020-01-01"})
    st.update_status(gov.researcher, cid, "rejected", reason=reason)
    now = pg_sql(gov.owner, "SELECT extract(epoch FROM now())::float AS x")[0]["x"]
    events = pg_sql(
        gov.owner,
        f"SELECT event_type, ts_utc, actor, payload_json FROM promotion_events WHERE candidate_id = '{cid}' "
        "ORDER BY event_id",
    )
    assert [e["event_type"] for e in events] == ["created", "note", "status_change"]
    assert {e["actor"] for e in events} == {gov.login["researcher"]}
    for e in events:
        ts = pg_sql(gov.owner, f"SELECT extract(epoch FROM '{e['ts_utc']}'::timestamptz)::float AS x")[0]["x"]
        assert now - 120 < ts <= now + 1, e
    row = st.get_candidate(gov.owner, cid)
    created, _note, change = events
    assert row["created_at_utc"] == created["ts_utc"]
    assert created["payload_json"] == '{"created_at_utc":' + _py_json_str(row["created_at_utc"]) + "}"
    # The id the database gives is the store's rule (rules::candidate_id_for) of the server's time.
    key = f"{BASE['run_id']}|{BASE['signal_name']}|{BASE['horizon']}|{row['created_at_utc']}"
    assert cid == "prom_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    # The status_change payload is built by the database, byte for byte the store's canonical JSON.
    expected = {"new_status": "rejected", "old_status": "exploratory", "reason": reason, "ts_utc": change["ts_utc"]}
    assert change["payload_json"] == json.dumps(expected, sort_keys=True, separators=(",", ":"))


def _bundle_candidate(url: str, tmp_path) -> str:
    bundle = write_bundle(tmp_path, {**PROVENANCE, "research_spec_version": 1})
    return st.create_candidate(url, **BASE, evidence={"bundle_path": str(bundle)})


def test_what_each_role_can_do_through_the_package(gov, pg_sql, tmp_path):
    # reader: reads only
    cid = _bundle_candidate(gov.researcher, tmp_path)
    assert [c["candidate_id"] for c in st.list_candidates(gov.reader)] == [cid]
    assert st.get_events(gov.reader, cid)[0]["event_type"] == "created"
    with pytest.raises(X.DatabaseError, match="permission denied for function registry_create_candidate"):
        st.create_candidate(gov.reader, **dict(BASE, run_id="r9"))
    with pytest.raises(X.DatabaseError, match="permission denied"):
        st.record_event(gov.reader, cid, "note", {"a": 1})
    # researcher: creates, notes, evaluates to candidate; writes no report by hand
    st.record_event(gov.researcher, cid, "note", {"a": 1})
    with pytest.raises(X.DatabaseError, match="permission denied"):
        _report(gov.researcher, "by_hand", cid, "candidate")
    d = evaluate_and_record(
        gov.researcher, cid, PASSING, None, target_status="candidate", allow_missing_execution_evidence=True
    )
    assert d.status == "accepted" and st.get_candidate(gov.owner, cid)["status"] == "candidate"
    # ... the step to accepted is an approver's answer to a request (separation of duties, on by
    # default): the researcher's evaluation at target accepted stores its report and asks
    evaluate_and_record(
        gov.researcher, cid, PASSING, None, target_status="accepted", allow_missing_execution_evidence=True
    )
    assert st.get_candidate(gov.owner, cid)["status"] == "candidate"
    rid = next(r for r in st.get_eligibility_reports(gov.owner, cid) if r["level"] == "accepted")
    with pytest.raises(X.DatabaseError, match="the step to accepted is taken by a member of the approver role"):
        st.promote_to_accepted(gov.researcher, cid, rid["eligibility_report_id"])
    acc.approve_acceptance(gov.approver, cid, reason="reviewed")
    assert st.get_candidate(gov.owner, cid)["status"] == "accepted"
    # leaving accepted is an approver's too
    with pytest.raises(X.DatabaseError, match="a step out of accepted is taken by a member of the approver role"):
        st.update_status(gov.researcher, cid, "exploratory", reason="demote")
    st.update_status(gov.approver, cid, "rejected", reason="retired")
    events = pg_sql(
        gov.owner, f"SELECT event_type, actor FROM promotion_events WHERE candidate_id = '{cid}' ORDER BY event_id"
    )
    res, app = gov.login["researcher"], gov.login["approver"]
    assert [(e["event_type"], e["actor"]) for e in events] == [
        ("created", res),
        ("note", res),
        ("status_change", res),
        ("evaluated", res),
        ("acceptance_requested", res),
        ("evaluated", res),
        ("status_change", app),
        ("acceptance_approved", app),
        ("status_change", app),
    ]
    reports = pg_sql(gov.owner, f"SELECT level FROM eligibility_reports WHERE candidate_id = '{cid}' ORDER BY 1")
    assert [r["level"] for r in reports] == ["accepted", "candidate"]  # the refused step left none


def test_one_rung_per_change_through_the_api(gov, pg_sql, tmp_path):
    cid = _bundle_candidate(gov.approver, tmp_path)
    _report(gov.owner, "r_acc", cid, "accepted")
    with pytest.raises(
        X.InvalidInputError,
        match=f"one rung per change: accepted only from candidate, and candidate {cid} is exploratory",
    ):
        st.promote_to_accepted(gov.approver, cid, "r_acc")
    with pytest.raises(X.InvalidInputError, match="one rung per change: accepted only from candidate"):
        evaluate_and_record(
            gov.approver, cid, PASSING, None, target_status="accepted", allow_missing_execution_evidence=True
        )
    assert st.get_candidate(gov.owner, cid)["status"] == "exploratory"
    assert [e["event_type"] for e in st.get_events(gov.owner, cid)] == ["created"]
    reports = pg_sql(gov.owner, f"SELECT eligibility_report_id FROM eligibility_reports WHERE candidate_id = '{cid}'")
    assert reports == [{"eligibility_report_id": "r_acc"}]  # the refused evaluation stored none
    # and a candidate is created exploratory: straight to candidate is refused
    with pytest.raises(ValueError, match="eligibility_report_id required"):
        st.create_candidate(gov.approver, **dict(BASE, run_id="r7"), status="candidate")


# ---------------------------------------------------------------------------------------------
# Races on one candidate
# ---------------------------------------------------------------------------------------------


def _racer(kind: str, url: str, cid: str, arg: str | None, barrier, out) -> None:
    t0 = time.time()
    try:
        st.get_candidate(url, cid)  # connected before the start
        barrier.wait(timeout=120)
        t0 = time.time()
        if kind == "promote":
            st.promote_to_candidate(url, cid, arg)
        else:
            evaluate_and_record(
                url,
                cid,
                PASSING,
                None,
                target_status="candidate",
                expected_status=arg,
                allow_missing_execution_evidence=True,
            )
        out.put(("ok", "", t0, time.time()))
    except Exception as e:  # reported to the parent
        out.put((type(e).__name__, str(e), t0, time.time()))


def _race(gov, pg_sql, kind: str, cid: str, arg: str | None, n: int) -> list[tuple]:
    """``n`` processes released at a barrier while the test holds the candidate's row lock; returns
    their results once it is released. Asserts that all ``n`` were waiting on the lock at once."""
    holder = subprocess.Popen(
        [psql_binary(), "-X", "-q", "-d", gov.owner],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    holder.stdin.write(
        f"BEGIN;\nSET application_name = 'lock_holder';\n"
        f"SELECT 1 FROM promotion_candidates WHERE candidate_id = '{cid}' FOR UPDATE;\n"
    )
    holder.stdin.flush()
    waiting_sql = (
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND application_name <> 'lock_holder'"
    )
    held_sql = (
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'lock_holder' "
        "AND state = 'idle in transaction'"
    )
    deadline = time.time() + 60
    while pg_sql(gov.owner, held_sql)[0]["n"] < 1:
        assert time.time() < deadline, "the lock holder did not take the lock"
        time.sleep(0.05)
    barrier = mp.Barrier(n)
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_racer, args=(kind, gov.researcher, cid, arg, barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        most = 0
        deadline = time.time() + 180
        while most < n and time.time() < deadline:
            most = max(most, pg_sql(gov.owner, waiting_sql)[0]["n"])
            time.sleep(0.05)
        assert most == n, f"only {most} of {n} writers were waiting on the candidate at once"
    finally:
        holder.communicate("COMMIT;\n", timeout=60)
        results = [out.get(timeout=180) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    assert max(r[2] for r in results) < min(r[3] for r in results)  # every call was in flight at once
    return results


def test_racing_promotions_one_success(gov, pg_sql):
    a, _b = _seeded(gov)
    c = st.create_candidate(gov.owner, **dict(BASE, run_id="run3"))
    _report(gov.owner, "rc", c, "candidate")
    n = 6
    results = _race(gov, pg_sql, "promote", c, "rc", n)
    assert sorted(r[0] for r in results) == ["InvalidInputError"] * (n - 1) + ["ok"]
    for kind, msg, *_ in results:
        if kind != "ok":
            assert msg == f"one rung per change: candidate only from exploratory, and candidate {c} is candidate"
    changes = pg_sql(
        gov.owner,
        f"SELECT count(*) AS n FROM promotion_events WHERE candidate_id = '{c}' AND event_type = 'status_change'",
    )
    assert changes == [{"n": 1}]
    assert st.get_candidate(gov.owner, c)["status"] == "candidate"


@pytest.mark.parametrize("expected", [None, "exploratory"])
def test_racing_evaluations_move_one_rung_once(gov, pg_sql, tmp_path, expected):
    cid = _bundle_candidate(gov.owner, tmp_path)
    n = 5
    results = _race(gov, pg_sql, "evaluate", cid, expected, n)
    assert sorted(r[0] for r in results) == ["InvalidInputError"] * (n - 1) + ["ok"]
    for kind, msg, *_ in results:
        if kind == "ok":
            continue
        if expected is None:  # evaluated again from "candidate": the same rung again is refused
            assert msg == f"one rung per change: candidate only from exploratory, and candidate {cid} is candidate"
        else:  # the caller saw exploratory: nothing moves a candidate it did not see
            assert "changed status from exploratory to candidate while it was evaluated" in msg
    rows = pg_sql(
        gov.owner,
        f"SELECT event_type, count(*) AS n FROM promotion_events WHERE candidate_id = '{cid}' GROUP BY 1 ORDER BY 1",
    )
    assert rows == [
        {"event_type": "created", "n": 1},
        {"event_type": "evaluated", "n": 1},
        {"event_type": "status_change", "n": 1},
    ]
    reports = pg_sql(gov.owner, f"SELECT count(*) AS n FROM eligibility_reports WHERE candidate_id = '{cid}'")
    assert reports == [{"n": 1}]
    assert st.get_candidate(gov.owner, cid)["status"] == "candidate"


def test_the_documented_set_up_with_an_owner_who_is_not_a_superuser(pg_server, pg_sql, tmp_path):
    """docs/postgresql.md's set-up as written: an owner with CREATEROLE (no superuser) migrates
    and runs ``roles`` on its own schema; a researcher login then works, and the owner, who only
    runs migrations, is not an approver."""
    tag = secrets.token_hex(4)
    owner, schema, res = f"own_{tag}", f"reg_{tag}", f"res_{tag}"
    pw, res_pw = secrets.token_hex(12), secrets.token_hex(12)
    run_psql(pg_server, f"CREATE ROLE {owner} LOGIN PASSWORD '{pw}' CREATEROLE")
    run_psql(pg_server, f"CREATE SCHEMA {schema} AUTHORIZATION {owner}")
    sep = "&" if "?" in pg_server else "?"
    owner_url = _as_login(f"{pg_server}{sep}options=-csearch_path%3D{schema}", owner, pw)
    res_url = _as_login(owner_url, res, res_pw)
    try:
        assert mig.run_migrations_phase3(owner_url) == list(range(1, 15))
        mig.setup_registry_roles(owner_url)
        assert pg_sql(owner_url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [{"rolsuper": False}]
        run_psql(pg_server, f"CREATE ROLE {res} LOGIN PASSWORD '{res_pw}' IN ROLE researcher")
        cid = _bundle_candidate(res_url, tmp_path)
        d = evaluate_and_record(
            res_url, cid, PASSING, None, target_status="candidate", allow_missing_execution_evidence=True
        )
        assert d.status == "accepted" and st.get_candidate(owner_url, cid)["status"] == "candidate"
        # duties are separated by default: the owner's evaluation at target accepted only asks,
        # and the owner, not an approver, cannot answer
        evaluate_and_record(
            owner_url, cid, PASSING, None, target_status="accepted", allow_missing_execution_evidence=True
        )
        assert st.get_candidate(owner_url, cid)["status"] == "candidate"
        with pytest.raises(X.DatabaseError, match=f"approver role; {owner} is not one"):
            acc.approve_acceptance(owner_url, cid)
        with pytest.raises(PsqlError, match="permission denied"):
            run_psql(res_url, f"UPDATE promotion_candidates SET status = 'rejected' WHERE candidate_id = '{cid}'")
    finally:
        for url in (owner_url, res_url):
            _core.store_forget_connection(url)
        run_psql(pg_server, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        for role in (res, owner):
            try:
                run_psql(pg_server, f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")
            except PsqlError:
                pass  # a session still closing; the cluster is thrown away at the end


# ---------------------------------------------------------------------------------------------
# Separation of duties (issue 25 item 4): request, approve, reject
# ---------------------------------------------------------------------------------------------


def _at_candidate(gov, tmp_path, evaluator: str) -> str:
    """A researcher's candidate, evaluated to candidate by ``evaluator`` (a role's URL)."""
    cid = _bundle_candidate(gov.researcher, tmp_path)
    evaluate_and_record(evaluator, cid, PASSING, None, target_status="candidate", allow_missing_execution_evidence=True)
    assert st.get_candidate(gov.owner, cid)["status"] == "candidate"
    return cid


def test_separation_of_duties_is_a_setting_every_role_sees_and_only_the_owner_changes(gov, pg_sql):
    for role in ROLES:
        url = getattr(gov, role)
        assert acc.separation_of_duties(url) is True
        assert pg_sql(url, "SELECT registry_setting('separation_of_duties') AS v") == [{"v": "on"}]
        with pytest.raises(PsqlError, match="permission denied"):
            run_psql(url, "UPDATE registry_settings SET value = 'off' WHERE name = 'separation_of_duties'")
        with pytest.raises(PsqlError, match="permission denied"):
            run_psql(url, "DELETE FROM registry_settings")
    with pytest.raises(PsqlError, match="registry_settings_separation_of_duties_check"):
        run_psql(gov.owner, "UPDATE registry_settings SET value = 'maybe' WHERE name = 'separation_of_duties'")
    run_psql(gov.owner, "UPDATE registry_settings SET value = 'off' WHERE name = 'separation_of_duties'")
    assert acc.separation_of_duties(gov.reader) is False


def test_an_approver_who_evaluated_the_candidate_is_refused(gov, pg_sql, tmp_path):
    cid = _at_candidate(gov, tmp_path, gov.approver)  # the approver evaluated it
    evaluate_and_record(
        gov.researcher, cid, PASSING, None, target_status="accepted", allow_missing_execution_evidence=True
    )  # the researcher's evaluation at accepted is the request
    assert [e["event_type"] for e in st.get_events(gov.owner, cid)][-2:] == ["acceptance_requested", "evaluated"]
    before = _snapshot(pg_sql, gov.owner)
    with pytest.raises(
        X.DatabaseError, match=f"separation of duties is on: {gov.login['approver']} created, evaluated"
    ):
        acc.approve_acceptance(gov.approver, cid)
    # the direct steps are refused too while duties are separated
    rid = next(r for r in st.get_eligibility_reports(gov.owner, cid) if r["level"] == "accepted")
    with pytest.raises(X.DatabaseError, match="separation of duties is on"):
        st.promote_to_accepted(gov.approver, cid, rid["eligibility_report_id"])
    with pytest.raises(PsqlError, match="separation of duties is on"):
        run_psql(gov.approver, f"SELECT registry_promote('{cid}', 'accepted', '{rid['eligibility_report_id']}', NULL)")
    assert _snapshot(pg_sql, gov.owner) == before
    # with the setting off (the owner's choice) the same approver may take the step
    run_psql(gov.owner, "UPDATE registry_settings SET value = 'off' WHERE name = 'separation_of_duties'")
    acc.approve_acceptance(gov.approver, cid)
    assert st.get_candidate(gov.owner, cid)["status"] == "accepted"


def test_a_researcher_cannot_answer_and_nobody_forges_the_flow(gov, pg_sql, tmp_path):
    cid = _at_candidate(gov, tmp_path, gov.researcher)
    rid = "acc_" + cid
    _report(gov.owner, rid, cid, "accepted")
    with pytest.raises(X.DatabaseError, match="permission denied for function registry_request_acceptance"):
        acc.request_acceptance(gov.reader, cid, rid)
    acc.request_acceptance(gov.researcher, cid, rid, reason="ready")
    before = _snapshot(pg_sql, gov.owner)
    for fn, args in ((acc.approve_acceptance, ()), (acc.reject_acceptance, ("no",))):
        with pytest.raises(X.DatabaseError, match="permission denied for function registry_"):
            fn(gov.researcher, cid, *args)
        with pytest.raises(X.DatabaseError, match="permission denied for function registry_"):
            fn(gov.reader, cid, *args)
    for event_type in ("acceptance_requested", "acceptance_approved", "acceptance_rejected"):
        with pytest.raises(X.InvalidInputError, match=f"event_type {event_type} is written by the registry itself"):
            st.record_event(gov.approver, cid, event_type, {"eligibility_report_id": rid})
    with pytest.raises(X.InvalidInputError, match=f"candidate {cid} already has an open acceptance request"):
        acc.request_acceptance(gov.researcher, cid, rid)
    assert _snapshot(pg_sql, gov.owner) == before


def test_approve_needs_a_request_and_reject_needs_a_reason(gov, pg_sql, tmp_path):
    cid = _at_candidate(gov, tmp_path, gov.researcher)
    with pytest.raises(X.InvalidInputError, match=f"candidate {cid} has no open acceptance request"):
        acc.approve_acceptance(gov.approver, cid)
    with pytest.raises(PsqlError, match="has no open acceptance request"):  # the database's own check
        run_psql(gov.approver, f"SELECT registry_approve_acceptance('{cid}', NULL)")
    rid = "acc_" + cid
    _report(gov.owner, rid, cid, "accepted")
    req = acc.request_acceptance(gov.researcher, cid, rid, reason="ready")
    for blank in ("", "   "):
        with pytest.raises(X.InvalidInputError, match="rejecting an acceptance request needs a reason"):
            acc.reject_acceptance(gov.approver, cid, blank)
    with pytest.raises(PsqlError, match="needs a reason"):
        run_psql(gov.approver, f"SELECT registry_reject_acceptance('{cid}', '')")
    acc.reject_acceptance(gov.approver, cid, "overfit on one regime")
    assert st.get_candidate(gov.owner, cid)["status"] == "rejected"
    with pytest.raises(X.InvalidInputError, match="has no open acceptance request"):
        acc.approve_acceptance(gov.approver, cid)  # the request was answered
    now = pg_sql(gov.owner, "SELECT extract(epoch FROM now())::float AS x")[0]["x"]
    events = pg_sql(
        gov.owner,
        f"SELECT event_id, event_type, actor, ts_utc, payload_json FROM promotion_events WHERE candidate_id = '{cid}' "
        "AND event_id >= %s ORDER BY event_id" % req,
    )
    res, app = gov.login["researcher"], gov.login["approver"]
    assert [(e["event_type"], e["actor"]) for e in events] == [
        ("acceptance_requested", res),
        ("status_change", app),
        ("acceptance_rejected", app),
    ]
    for e in events:
        ts = pg_sql(gov.owner, f"SELECT extract(epoch FROM '{e['ts_utc']}'::timestamptz)::float AS x")[0]["x"]
        assert now - 120 < ts <= now + 1, e
    assert json.loads(events[0]["payload_json"]) == {"eligibility_report_id": rid, "reason": "ready"}
    assert events[2]["payload_json"] == json.dumps(
        {"eligibility_report_id": rid, "reason": "overfit on one regime", "request_event_id": req},
        sort_keys=True,
        separators=(",", ":"),
    )
    assert json.loads(events[1]["payload_json"])["new_status"] == "rejected"


# ---------------------------------------------------------------------------------------------
# The holes a security review found (issue 25): each attack replayed as the role, in plain SQL
# ---------------------------------------------------------------------------------------------


def _report_arg(rid: str, cid: str, level: str, computed_at: str = "2020-01-01T00:00:00+00:00") -> str:
    """The report argument of registry_record_evaluation as a client would forge it."""
    report = {
        "eligibility_report_id": rid,
        "candidate_id": cid,
        "level": level,
        "passed": 1,
        "blockers_json": "[]",
        "warnings_json": "[]",
        "computed_at_utc": computed_at,
    }
    return json.dumps(report)


def _quiet_evaluation(cid: str, report: str, new_status: str | None = None) -> str:
    """The review's call: an evaluation that claims not to be one (p_evaluated false)."""
    status = "NULL" if new_status is None else f"'{new_status}'"
    return f"SELECT registry_record_evaluation('{cid}', NULL, {status}, '{report}', NULL, false, NULL)"


def _events(pg_sql, gov, cid: str) -> list[tuple[str, str]]:
    rows = pg_sql(
        gov.owner, f"SELECT event_type, actor FROM promotion_events WHERE candidate_id = '{cid}' ORDER BY event_id"
    )
    return [(r["event_type"], r["actor"]) for r in rows]


@pytest.fixture
def approver2(gov):
    """A second approver login (its URL), for the approvals separation of duties leaves to another."""
    name, password = f"ap2_{gov.schema}", secrets.token_hex(12)
    run_psql(gov.owner, f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE approver")
    url = _as_login(gov.owner, name, password)
    yield url
    _core.store_forget_connection(url)
    try:
        run_psql(gov.owner, f"DROP ROLE IF EXISTS {name}")
    except PsqlError:
        pass  # a session still closing; the cluster is thrown away at the end


def test_an_approver_cannot_approve_a_report_he_wrote_quietly(gov, pg_sql, tmp_path, approver2):
    cid = _at_candidate(gov, tmp_path, gov.researcher)
    res, app = gov.login["researcher"], gov.login["approver"]
    run_psql(gov.approver, _quiet_evaluation(cid, _report_arg("ra", cid, "accepted")))
    # the report carries its author, and the evaluation its event, whatever the caller said
    assert pg_sql(gov.owner, "SELECT author FROM eligibility_reports WHERE eligibility_report_id = 'ra'") == [
        {"author": app}
    ]
    assert _events(pg_sql, gov, cid)[-1] == ("evaluated", app)
    run_psql(gov.researcher, f"SELECT registry_request_acceptance('{cid}', 'ra', NULL)")
    before = _snapshot(pg_sql, gov.owner)
    with pytest.raises(PsqlError, match=f"separation of duties is on: {app} created, evaluated"):
        run_psql(gov.approver, f"SELECT registry_approve_acceptance('{cid}', 'ok')")
    assert _snapshot(pg_sql, gov.owner) == before
    # the author alone is enough: the same report with no event of the approver's (the owner
    # forges it with the stamping trigger off) is refused too
    cid2 = _at_candidate(gov, tmp_path, gov.researcher)
    run_psql(
        gov.owner,
        "ALTER TABLE eligibility_reports DISABLE TRIGGER eligibility_reports_stamp; "
        "INSERT INTO eligibility_reports (eligibility_report_id, candidate_id, level, passed, blockers_json, "
        f"warnings_json, computed_at_utc, author) VALUES ('ra2', '{cid2}', 'accepted', 1, '[]', '[]', 't', '{app}'); "
        "ALTER TABLE eligibility_reports ENABLE TRIGGER eligibility_reports_stamp",
    )
    run_psql(gov.researcher, f"SELECT registry_request_acceptance('{cid2}', 'ra2', NULL)")
    assert {a for _t, a in _events(pg_sql, gov, cid2)} == {res}
    before = _snapshot(pg_sql, gov.owner)
    with pytest.raises(PsqlError, match="or wrote the requested report ra2"):
        run_psql(gov.approver, f"SELECT registry_approve_acceptance('{cid2}', 'ok')")
    assert _snapshot(pg_sql, gov.owner) == before
    # another approver (a login of its own) approves
    run_psql(approver2, f"SELECT registry_approve_acceptance('{cid2}', 'ok')")
    assert st.get_candidate(gov.owner, cid2)["status"] == "accepted"


def test_an_approver_who_took_a_candidate_up_himself_cannot_approve_it(gov, pg_sql, tmp_path):
    cid = _bundle_candidate(gov.researcher, tmp_path)
    app = gov.login["approver"]
    run_psql(gov.approver, _quiet_evaluation(cid, _report_arg("rc", cid, "candidate"), "candidate"))
    assert _events(pg_sql, gov, cid)[1:] == [("status_change", app), ("evaluated", app)]
    evaluate_and_record(
        gov.researcher, cid, PASSING, None, target_status="accepted", allow_missing_execution_evidence=True
    )  # the researcher's evaluation at accepted is the request
    before = _snapshot(pg_sql, gov.owner)
    with pytest.raises(PsqlError, match=f"separation of duties is on: {app} created, evaluated, changed the status"):
        run_psql(gov.approver, f"SELECT registry_approve_acceptance('{cid}', 'ok')")
    assert _snapshot(pg_sql, gov.owner) == before
    assert st.get_candidate(gov.owner, cid)["status"] == "candidate"


def test_a_researcher_cannot_undo_an_approvers_rejection(gov, pg_sql, tmp_path, approver2):
    cid = _at_candidate(gov, tmp_path, gov.researcher)
    evaluate_and_record(
        gov.researcher, cid, PASSING, None, target_status="accepted", allow_missing_execution_evidence=True
    )  # the request, on the evaluation's accepted report
    (old,) = [
        r["eligibility_report_id"] for r in st.get_eligibility_reports(gov.owner, cid) if r["level"] == "accepted"
    ]
    run_psql(gov.approver, f"SELECT registry_reject_acceptance('{cid}', 'bad')")
    before = _snapshot(pg_sql, gov.owner)
    # the review's attack: the researcher resets the status, directly or as an evaluation's status
    refusal = f"reopening candidate {cid}, whose acceptance an approver rejected, is taken by a member of the approver"
    with pytest.raises(PsqlError, match=refusal):
        run_psql(gov.researcher, f"SELECT registry_set_status('{cid}', 'exploratory', 'reset')")
    with pytest.raises(PsqlError, match=refusal):
        run_psql(
            gov.researcher, f"SELECT registry_record_evaluation('{cid}', NULL, 'exploratory', NULL, NULL, true, NULL)"
        )
    with pytest.raises(X.DatabaseError, match=refusal):
        st.update_status(gov.researcher, cid, "exploratory", reason="reset")
    assert _snapshot(pg_sql, gov.owner) == before
    assert st.get_candidate(gov.owner, cid)["status"] == "rejected"
    # an approver reopens it; back at candidate, the request on the rejected report is refused
    run_psql(gov.approver, f"SELECT registry_set_status('{cid}', 'exploratory', 'reopened after review')")
    evaluate_and_record(
        gov.researcher, cid, PASSING, None, target_status="candidate", allow_missing_execution_evidence=True
    )
    assert st.get_candidate(gov.owner, cid)["status"] == "candidate"
    before = _snapshot(pg_sql, gov.owner)
    with pytest.raises(PsqlError, match=f"eligibility report {old} was turned down by a rejected acceptance request"):
        run_psql(gov.researcher, f"SELECT registry_request_acceptance('{cid}', '{old}', 'again')")
    with pytest.raises(X.InvalidInputError, match=f"eligibility report {old} was turned down"):
        acc.request_acceptance(gov.researcher, cid, old)
    assert _snapshot(pg_sql, gov.owner) == before
    # a new evaluation's report may be asked for, and another approver answers (the one who
    # reopened it changed its status)
    evaluate_and_record(
        gov.researcher, cid, PASSING, None, target_status="accepted", allow_missing_execution_evidence=True
    )
    with pytest.raises(PsqlError, match="separation of duties is on"):
        run_psql(gov.approver, f"SELECT registry_approve_acceptance('{cid}', 'ok')")
    run_psql(approver2, f"SELECT registry_approve_acceptance('{cid}', 'ok')")
    assert st.get_candidate(gov.owner, cid)["status"] == "accepted"


def test_trigger_references_and_sequence_grants_are_revoked(gov, pg_sql):
    res = gov.login["researcher"]
    seq = "pg_get_serial_sequence('promotion_events', 'event_id')"
    governed = ", ".join(GOVERNED)
    # grants an older set-up (or a careless owner) made, then version 14 and `roles` run over them
    run_psql(
        gov.owner,
        f"GRANT TRIGGER, REFERENCES ON {governed} TO researcher, PUBLIC; "
        "GRANT REFERENCES (candidate_id) ON promotion_candidates TO approver; "
        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {gov.schema} TO PUBLIC, reader, researcher, approver",
    )
    held = pg_sql(gov.owner, f"SELECT has_table_privilege('{res}', 'promotion_events', 'TRIGGER') AS held")
    assert held == [{"held": True}]  # so the checks below can fail
    run_psql(gov.owner, "DELETE FROM schema_migrations_phase3 WHERE version = 14")
    assert mig.run_migrations_phase3(gov.owner) == [14]  # version 14 is idempotent
    mig.setup_registry_roles(gov.owner)
    before = _snapshot(pg_sql, gov.owner)
    for sql, expect in [
        (
            "CREATE FUNCTION pg_temp.boom() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE 'boom'; END$$; "
            "CREATE TRIGGER boom BEFORE INSERT ON promotion_events FOR EACH ROW EXECUTE FUNCTION pg_temp.boom()",
            "permission denied for table promotion_events",
        ),
        (f"SELECT nextval({seq})", "permission denied for sequence"),
        (f"SELECT setval({seq}, 1)", "permission denied for sequence"),
    ]:
        for url in (gov.researcher, gov.approver, gov.reader):
            with pytest.raises(PsqlError, match=expect):
                run_psql(url, sql)
    assert _snapshot(pg_sql, gov.owner) == before
    left = pg_sql(
        gov.owner,
        "SELECT c.relname, a.privilege_type, a.grantee FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
        "WHERE c.relnamespace = current_schema()::regnamespace AND a.grantee <> c.relowner "
        f"AND ((c.relname IN ({', '.join(repr(t) for t in GOVERNED)}) AND a.privilege_type <> 'SELECT') "
        "OR c.relkind = 'S')",
    )
    assert left == []
    cols = pg_sql(
        gov.owner,
        "SELECT c.relname FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid "
        "CROSS JOIN LATERAL aclexplode(att.attacl) a WHERE c.relnamespace = current_schema()::regnamespace "
        "AND a.grantee <> c.relowner",
    )
    assert cols == []
    # the registry still works through the functions for every role
    cid = st.create_candidate(gov.researcher, **BASE)
    st.record_event(gov.approver, cid, "note", {"a": 1})
    assert [e["event_type"] for e in st.get_events(gov.reader, cid)] == ["created", "note"]


def test_history_without_an_actor_is_not_approved_by_an_approver(gov, pg_sql, tmp_path):
    cid = _at_candidate(gov, tmp_path, gov.researcher)
    # an event from before version 14 (no actor): the owner writes it with the stamping trigger off
    run_psql(
        gov.owner,
        "ALTER TABLE promotion_events DISABLE TRIGGER promotion_events_stamp; "
        "INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json) "
        f"VALUES ('{cid}', '2025-01-01T00:00:00+00:00', 'evaluated', '{{}}'); "
        "ALTER TABLE promotion_events ENABLE TRIGGER promotion_events_stamp",
    )
    assert ("evaluated", None) in _events(pg_sql, gov, cid)
    evaluate_and_record(
        gov.researcher, cid, PASSING, None, target_status="accepted", allow_missing_execution_evidence=True
    )  # the request
    before = _snapshot(pg_sql, gov.owner)
    refusal = f"candidate {cid} has created, evaluated or status_change events without an actor"
    with pytest.raises(PsqlError, match=refusal):
        run_psql(gov.approver, f"SELECT registry_approve_acceptance('{cid}', 'ok')")
    with pytest.raises(X.DatabaseError, match=refusal):
        acc.approve_acceptance(gov.approver, cid)
    assert _snapshot(pg_sql, gov.owner) == before
    # the owner (here a superuser, whom no rule binds) answers it
    acc.approve_acceptance(gov.owner, cid, reason="history checked by hand")
    assert st.get_candidate(gov.owner, cid)["status"] == "accepted"
