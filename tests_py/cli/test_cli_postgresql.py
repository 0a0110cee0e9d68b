"""The console script on a PostgreSQL registry (`--db postgresql://...` or
CRYPTO_ANALYZER_DB_PATH): the store commands and `evaluate` work, and a wrong password is one
line that never shows a password. The rest of the CLI suite runs on SQLite (test_cli_commands.py)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def pg_cli(cli, pg_url):
    cli.db = pg_url
    proc = cli("init", "--create")
    assert proc.returncode == 0, proc.stderr
    return cli


def _password(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def test_store_commands_on_a_server(pg_cli, h, pg_sql):
    cid = h.create_edge(pg_cli)
    other = h.create_edge(pg_cli, signal="other_sig")
    rows = pg_cli.json_lines("list")
    assert {r["candidate_id"] for r in rows} == {cid, other}
    assert pg_cli("set-status", cid, "rejected", "--reason", "weak").returncode == 0
    assert {r["candidate_id"] for r in pg_cli.json_lines("list", "--status", "rejected")} == {cid}
    evs = pg_cli.json_lines("events", cid)
    assert [e["event_type"] for e in evs] == ["created", "status_change"]
    shown = json.loads(pg_cli("show", cid).stdout)
    assert shown["candidate"]["candidate_id"] == cid
    assert all(f["exists"] for f in shown["evidence_files"])
    # independent read through psql
    got = pg_sql(pg_cli.db, "SELECT status FROM promotion_candidates WHERE candidate_id = ?", [cid])
    assert got == [{"status": "rejected"}]
    # the database from the environment
    proc = pg_cli("list", db=False, env={"CRYPTO_ANALYZER_DB_PATH": pg_cli.db})
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2
    # candidate/accepted by hand: refused with c79684b's message, nothing written
    proc = pg_cli("set-status", other, "candidate", "--reason", "by hand")
    assert proc.returncode == 1 and "promote_to_candidate" in proc.stderr
    assert pg_sql(pg_cli.db, "SELECT status FROM promotion_candidates WHERE candidate_id = ?", [other]) == [
        {"status": "exploratory"}
    ]


def test_evaluate_climbs_one_rung_per_call_on_a_server(pg_cli, h, pg_sql):
    cid = h.create_edge(pg_cli)
    for rung in ("candidate", "accepted"):
        proc = pg_cli("evaluate", "--id", cid, "--require-rc", "--require-exec", "--max-participation", "0.1")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["status"] == "accepted"
        got = pg_sql(pg_cli.db, "SELECT status FROM promotion_candidates WHERE candidate_id = ?", [cid])
        assert got == [{"status": rung}]
    types = [e["event_type"] for e in pg_cli.json_lines("events", cid)]
    assert types == ["created", "status_change", "evaluated", "status_change", "evaluated"]
    reports = pg_sql(pg_cli.db, "SELECT level, passed FROM eligibility_reports WHERE candidate_id = ?", [cid])
    assert sorted((r["level"], r["passed"]) for r in reports) == [("accepted", 1), ("candidate", 1)]


def test_wrong_password_is_one_line_without_the_password(pg_cli):
    password = _password(pg_cli.db)
    wrong = pg_cli.db.replace(f":{password}@", ":Cli-Wr0ng-Pw@", 1)
    for env_db in (False, True):
        if env_db:
            proc = pg_cli("list", db=False, env={"CRYPTO_ANALYZER_DB_PATH": wrong})
        else:
            pg_cli.db, keep = wrong, pg_cli.db
            proc = pg_cli("list")
            pg_cli.db = keep
        assert proc.returncode == 1
        err = proc.stderr.strip()
        assert len(err.splitlines()) == 1 and "password authentication failed" in err, err
        assert "Cli-Wr0ng-Pw" not in err and password not in err and ":***@" in err
        assert "Cli-Wr0ng-Pw" not in proc.stdout


def test_roles_command_sets_up_the_three_roles(pg_cli, pg_sql, tmp_path):
    proc = pg_cli("roles")
    assert proc.returncode == 0, proc.stderr
    assert "reader, researcher and approver" in proc.stdout
    assert pg_cli("roles").returncode == 0  # idempotent
    fn = "registry_promote(text, text, text, text)"
    got = pg_sql(
        pg_cli.db,
        "SELECT r.rolname, r.rolcanlogin, has_function_privilege(r.rolname, current_schema() || '.' || ?, 'EXECUTE') "
        "AS run, has_table_privilege(r.rolname, current_schema() || '.promotion_candidates', 'SELECT') AS sel, "
        "has_table_privilege(r.rolname, current_schema() || '.promotion_candidates', 'UPDATE') AS upd "
        "FROM pg_roles r WHERE r.rolname IN ('reader', 'researcher', 'approver') ORDER BY 1",
        [fn],
    )
    assert got == [
        {"rolname": "approver", "rolcanlogin": False, "run": True, "sel": True, "upd": False},
        {"rolname": "reader", "rolcanlogin": False, "run": False, "sel": True, "upd": False},
        {"rolname": "researcher", "rolcanlogin": False, "run": True, "sel": True, "upd": False},
    ]
    # A SQLite file has no users: one clear error.
    pg_cli.db = str(tmp_path / "x.db")
    proc = pg_cli("roles")
    assert proc.returncode == 1 and "roles exist only on a PostgreSQL registry" in proc.stderr


def test_the_acceptance_flow_from_the_command_line(pg_cli, h, pg_sql):
    from crypto_analyzer_promotion import _core

    cids = []
    for signal in ("sig_ok", "sig_no"):
        cid = h.create_edge(pg_cli, signal=signal)
        proc = pg_cli("evaluate", "--id", cid, "--require-rc", "--require-exec", "--max-participation", "0.1")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _core.store_insert_eligibility_report(
            pg_cli.db, f"acc_{cid}", cid, "accepted", True, "[]", "[]", "2026-01-01T00:00:00+00:00"
        )
        cids.append(cid)
    ok, no = cids
    proc = pg_cli("approve", ok)
    assert proc.returncode == 1 and f"candidate {ok} has no open acceptance request" in proc.stderr
    for cid in cids:
        proc = pg_cli("request-acceptance", cid, "--report", f"acc_{cid}", "--reason", "ready")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["requested"] == f"acc_{cid}"
    proc = pg_cli("approve", ok, "--reason", "reviewed")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["new_status"] == "accepted"
    proc = pg_cli("reject", no, "--reason", " ")
    assert proc.returncode == 1 and "--reason must not be empty" in proc.stderr
    assert pg_cli("reject", no, "--reason", "overfit").returncode == 0
    got = pg_sql(pg_cli.db, "SELECT candidate_id, status FROM promotion_candidates ORDER BY status")
    assert [(r["candidate_id"], r["status"]) for r in got] == [(ok, "accepted"), (no, "rejected")]
    types = [e["event_type"] for e in pg_cli.json_lines("events", ok)]
    assert types[-3:] == ["acceptance_requested", "status_change", "acceptance_approved"]
