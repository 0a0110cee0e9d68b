"""The console script `crypto-analyzer-promotion`, driven in subprocesses: every command, its
output format and exit codes, and the analyzer CLI's messages."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

COMMANDS = [
    "init",
    "list",
    "create",
    "evaluate",
    "show",
    "events",
    "set-status",
    "rc",
    "cache",
    "cache ls",
    "cache verify",
    "cache clear",
    "adopt",
]


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_on_every_command(cli, command):
    proc = cli(*command.split(), "--help", db=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: crypto-analyzer-promotion")


def test_python_dash_m_is_the_same_cli(cli, h):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "crypto_analyzer_promotion", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "set-status" in proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["bogus"],
        [],
        ["list", "--limit", "many"],
        ["list", "--status", "maybe"],
        ["evaluate"],
        ["evaluate", "--id", "x", "--max-rc-p-value", "low"],
        ["create", "--from-run", "r"],
        ["create", "--from-run", "r", "--signal", "s", "--horizon", "one"],
        ["set-status", "prom_x", "candidate"],
        ["set-status", "prom_x", "promoted", "--reason", "r"],
        ["rc"],
        ["rc", "x.csv", "--n-sim", "0"],
        ["rc", "x.csv", "--method", "circular"],
        ["cache"],
        ["cache", "wipe"],
    ],
)
def test_usage_errors_exit_2_with_one_line(cli, args):
    proc = cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["evaluate", "--id", "prom_x"],
        ["show", "prom_x"],
        ["events", "prom_x"],
        ["set-status", "prom_x", "rejected", "--reason", "r"],
        ["init"],
        ["create", "--from-run", "r", "--signal", "s", "--horizon", "1"],
    ],
)
def test_missing_database_is_one_line_exit_1(cli, args):
    proc = cli(*args)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"DB not found: {cli.db}"
    assert not cli.db.exists(), "a missing database must not be created by accident"


def test_missing_tables_print_the_contract_message(cli):
    sqlite3.connect(cli.db).close()  # an empty database file
    for args in (["list"], ["evaluate", "--id", "prom_x"]):
        proc = cli(*args)
        assert proc.returncode == 1
        assert proc.stderr.strip() == cli_tables_msg()


def cli_tables_msg() -> str:
    return (
        "Promotion tables not found. Run Phase 3 migrations to create them: run_migrations_phase3(conn, "
        "db_path). From CLI: python cli/promotion.py init --db <path>"
    )


def test_init_creates_the_tables_and_is_idempotent(cli):
    sqlite3.connect(cli.db).close()
    for _ in range(2):
        proc = cli("init")
        assert proc.returncode == 0
        assert proc.stdout.strip() == "Promotion tables initialized (run_migrations_phase3 applied)."
    with sqlite3.connect(cli.db) as c:
        names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"promotion_candidates", "promotion_events"} <= names


def test_init_create_makes_the_file_and_folders(cli, tmp_path):
    cli.db = tmp_path / "new" / "dir" / "p.db"
    assert cli("init", "--create").returncode == 0
    assert cli.db.is_file()


def test_db_default_comes_from_the_environment(ready_cli, h):
    proc = ready_cli("list", db=False, env={"CRYPTO_ANALYZER_DB_PATH": str(ready_cli.db)})
    assert proc.returncode == 0 and proc.stdout == ""
    # and else reports/crypto_analyzer.db relative to the current folder
    proc = ready_cli("list", db=False)
    assert proc.returncode == 1 and proc.stderr.strip() == f"DB not found: {Path('reports') / 'crypto_analyzer.db'}"


def test_create_prints_the_id_and_list_prints_json_lines(ready_cli, h):
    cid = h.create_edge(ready_cli)
    assert re.fullmatch(r"prom_[0-9a-f]{16}", cid)
    rows = ready_cli.json_lines("list")
    assert [r["candidate_id"] for r in rows] == [cid]
    row = rows[0]
    assert (
        row["status"],
        row["signal_name"],
        row["horizon"],
        row["dataset_id"],
        row["run_id"],
        row["config_hash"],
        row["git_commit"],
    ) == ("exploratory", "momentum_24h", 1, "fixture_ds_hourly_v1", "fixture_run_001", "cfg1", "abc123")
    ev = json.loads(row["evidence_json"])
    # stored relative to the evidence base, with the base kept so any folder can find them
    assert ev["bundle_path"] == "bundles/momentum_24h_h1.json"
    assert ev["execution_evidence_path"] == "execution/momentum_24h_h1_execution_evidence.json"
    assert Path(ev["evidence_base_path"]) == h.FIXTURES


def test_list_filters_and_limit(ready_cli, h):
    a = h.create_edge(ready_cli)
    b = h.create_edge(ready_cli, signal="other_sig")
    c = h.create_edge(ready_cli, dataset_id="ds2")
    assert ready_cli("set-status", a, "rejected", "--reason", "test").returncode == 0
    ids = lambda *args: {r["candidate_id"] for r in ready_cli.json_lines("list", *args)}  # noqa: E731
    assert ids() == {a, b, c}
    assert ids("--status", "rejected") == {a}
    assert ids("--status", "exploratory") == {b, c}
    assert ids("--signal-name", "other_sig") == {b}
    assert ids("--dataset-id", "ds2") == {c}
    assert len(ids("--limit", "2")) == 2
    assert ready_cli("list", "--limit", "0").returncode == 1


def test_evaluate_accepts_and_works_from_any_folder(ready_cli, h, tmp_path):
    cid = h.create_edge(ready_cli)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    s = h.bundle_summary("momentum_24h_h1")
    # exploratory (target "candidate"), then accepted (target "accepted"): the gate passes both
    # times and the service stores the decision's status.
    # c79684b: each passing evaluation climbs one rung through a stored eligibility report.
    for rung in ("candidate", "accepted"):
        proc = ready_cli(
            "evaluate", "--id", cid, "--require-rc", "--require-exec", "--max-participation", "0.1", cwd=elsewhere
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = json.loads(proc.stdout)
        assert out["status"] == "accepted" and out["reasons"] == []
        assert out["metrics_snapshot"]["mean_ic"] == pytest.approx(s["mean_ic"])
        assert out["metrics_snapshot"]["t_stat"] == pytest.approx(s["t_stat"])
        assert h.status_of(ready_cli.db, cid) == rung
    types = [t for t, _ in h.events_of(ready_cli.db, cid)]
    assert types == ["created", "status_change", "evaluated", "status_change", "evaluated"]


def test_evaluate_rejection_exit_1_with_reasons(ready_cli, h):
    stem = json.loads((h.FIXTURES / "family" / "family.json").read_text())["bundle_stems"]["best_noise"]
    signal, hz = stem.rsplit("_h", 1)
    proc = ready_cli(
        "create",
        "--from-run",
        "r",
        "--signal",
        signal,
        "--horizon",
        hz,
        "--bundle-path",
        str(h.FIXTURES / "bundles" / f"{stem}.json"),
    )
    cid = proc.stdout.strip()
    proc = ready_cli("evaluate", "--id", cid, "--allow-missing-exec")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    s = h.bundle_summary(stem)
    assert out["status"] == "rejected"
    assert f"mean_ic {s['mean_ic']:.4f} < 0.02" in out["reasons"]
    assert out["warnings"] == ["allow_missing_execution_evidence: execution evidence not checked"]
    assert h.status_of(ready_cli.db, cid) == "rejected"


def test_evaluate_incomplete_execution_evidence(ready_cli, h):
    cid = h.create_edge(ready_cli)
    # a second candidate whose execution evidence has no capacity curve
    proc = ready_cli(
        "create",
        "--from-run",
        "r2",
        "--signal",
        "momentum_24h",
        "--horizon",
        "1",
        "--bundle-path",
        str(h.FIXTURES / "bundles" / "momentum_24h_h1.json"),
        "--execution-evidence-path",
        str(h.FIXTURES / "execution" / "incomplete_execution_evidence.json"),
        "--evidence-base-path",
        str(h.FIXTURES),
    )
    cid2 = proc.stdout.strip()
    proc = ready_cli("evaluate", "--id", cid2, "--require-exec")
    assert proc.returncode == 1
    reasons = json.loads(proc.stdout)["reasons"]
    assert any(r.startswith("execution evidence missing required:") and "capacity_curve_path" in r for r in reasons)
    assert h.status_of(ready_cli.db, cid) == "exploratory"


def test_evaluate_unknown_id(ready_cli):
    proc = ready_cli("evaluate", "--id", "prom_doesnotexist")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "Candidate not found: prom_doesnotexist"


def test_show_and_events(ready_cli, h):
    cid = h.create_edge(ready_cli)
    ready_cli("evaluate", "--id", cid, "--require-rc", "--require-exec")
    proc = ready_cli("show", cid)
    assert proc.returncode == 0
    d = json.loads(proc.stdout)
    assert d["candidate"]["candidate_id"] == cid
    files = {f["key"]: f for f in d["evidence_files"]}
    assert files["bundle_path"]["exists"] and files["execution_evidence_path"]["exists"]
    assert Path(files["bundle_path"]["resolved"]) == h.FIXTURES / "bundles" / "momentum_24h_h1.json"
    assert d["last_decision"]["status"] == "accepted"
    assert d["metrics_snapshot"]["n_obs"] == h.bundle_summary("momentum_24h_h1")["n_obs"]
    evs = ready_cli.json_lines("events", cid)
    # c79684b: the passing evaluation promoted it to candidate through an eligibility report.
    assert [e["event_type"] for e in evs] == ["created", "status_change", "evaluated"]
    assert evs[0]["event_id"] < evs[1]["event_id"] < evs[2]["event_id"]
    assert evs[1]["payload"]["new_status"] == "candidate" and evs[1]["payload"]["eligibility_report_id"]
    assert evs[2]["payload"]["status"] == "accepted"
    for cmd in ("show", "events"):
        proc = ready_cli(cmd, "prom_nope")
        assert proc.returncode == 1 and proc.stderr.strip() == "Candidate not found: prom_nope"


def test_show_reports_missing_evidence_files(ready_cli, h, tmp_path):
    gone = tmp_path / "gone.json"
    gone.write_text("{}")
    proc = ready_cli("create", "--from-run", "r", "--signal", "s", "--horizon", "1", "--bundle-path", str(gone))
    cid = proc.stdout.strip()
    gone.unlink()
    files = json.loads(ready_cli("show", cid).stdout)["evidence_files"]
    assert files and not any(f["exists"] for f in files)


def test_set_status_requires_a_reason_and_records_it(ready_cli, h):
    cid = h.create_edge(ready_cli)
    proc = ready_cli("set-status", cid, "rejected", "--reason", "   ")
    assert proc.returncode == 1 and proc.stderr.strip()
    assert h.status_of(ready_cli.db, cid) == "exploratory"
    proc = ready_cli("set-status", cid, "rejected", "--reason", "reviewed by hand")
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert (out["old_status"], out["new_status"]) == ("exploratory", "rejected")
    assert h.status_of(ready_cli.db, cid) == "rejected"
    t, payload = h.events_of(ready_cli.db, cid)[-1]
    assert t == "status_change" and payload["new_status"] == "rejected" and payload["reason"] == "reviewed by hand"
    proc = ready_cli("set-status", "prom_nope", "rejected", "--reason", "x")
    assert proc.returncode == 1 and proc.stderr.strip() == "Candidate not found: prom_nope"
    # c79684b: candidate/accepted only through evaluation (an eligibility report); nothing written.
    n_events = len(h.events_of(ready_cli.db, cid))
    for status in ("candidate", "accepted"):
        proc = ready_cli("set-status", cid, status, "--reason", "by hand")
        assert proc.returncode == 1
        assert "Use promote_to_candidate() or promote_to_accepted() with an eligibility report" in proc.stderr
    assert h.status_of(ready_cli.db, cid) == "rejected" and len(h.events_of(ready_cli.db, cid)) == n_events


def test_evaluate_regime_robustness(ready_cli, h):
    cid = h.create_edge(ready_cli)
    regimes = pd.read_csv(h.FIXTURES / "regimes" / "momentum_24h_h1_regime_summary.csv")
    worst = float(regimes.loc[regimes["regime"] != "unknown", "mean_ic"].min())
    bar = round(worst + 0.005, 4)
    proc = ready_cli(
        "evaluate", "--id", cid, "--require-regime", "--worst-regime-ic-min", str(bar), "--allow-missing-exec"
    )
    assert proc.returncode == 1
    assert f"worst regime mean_ic {worst:.4f} < {bar}" in json.loads(proc.stdout)["reasons"]
    proc = ready_cli("evaluate", "--id", cid, "--require-regime")
    assert proc.returncode == 1 and "--worst-regime-ic-min" in proc.stderr
