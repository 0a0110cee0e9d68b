"""Governance through the service and the store (c79684b): one rung per evaluation, eligibility
before candidate/accepted, a stored and linked report, nothing written on a failed eligibility,
and the database refusing what the store refuses."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import dbread
import pytest
from bundles import PROVENANCE, write_bundle
from crypto_analyzer_promotion import store_sqlite as st
from crypto_analyzer_promotion.gating import ThresholdConfig
from crypto_analyzer_promotion.service import evaluate_and_record
from crypto_analyzer_promotion.validation_bundle import ValidationBundle

THR = ThresholdConfig(ic_mean_min=0.02, tstat_min=2.0)


def create(db, evidence=None, **kw):
    return st.create_candidate(
        db,
        dataset_id="d",
        run_id="run_g",
        signal_name="sig",
        horizon=1,
        config_hash="x",
        git_commit="y",
        evidence=evidence,
        **kw,
    )


def state(db):
    """Everything a call may write, to compare before/after (sqlite3, or psql on PostgreSQL)."""
    return (
        dbread.rows(db, "SELECT candidate_id, status, eligibility_report_id FROM promotion_candidates ORDER BY 1"),
        dbread.rows(db, "SELECT event_id, candidate_id, event_type, payload_json FROM promotion_events ORDER BY 1"),
        dbread.rows(db, "SELECT * FROM eligibility_reports ORDER BY 1"),
    )


def next_rung(db, cid, bundle_path, thr=THR, **kw):
    """What the analyzer's CLI and page do: the target is the next rung from the current status."""
    current = st.get_candidate(db, cid)["status"]
    target = "candidate" if current == "exploratory" else "accepted"
    return evaluate_and_record(
        db,
        cid,
        thr,
        str(bundle_path),
        evidence_base_path=bundle_path.parent,
        target_status=target,
        allow_missing_execution_evidence=True,
        **kw,
    )


def test_full_provenance_climbs_one_rung_per_evaluation(db_path, tmp_path):
    path = write_bundle(tmp_path / "run", PROVENANCE)
    cid = create(db_path, {"bundle_path": str(path)})
    d1 = next_rung(db_path, cid, path)
    row = st.get_candidate(db_path, cid)
    assert (d1.status, row["status"]) == ("accepted", "candidate")
    d2 = next_rung(db_path, cid, path)
    row = st.get_candidate(db_path, cid)
    assert (d2.status, row["status"]) == ("accepted", "accepted")
    reports = st.get_eligibility_reports(db_path, cid)
    assert [(r["level"], r["passed"]) for r in reports] == [("candidate", 1), ("accepted", 1)]
    assert row["eligibility_report_id"] == reports[1]["eligibility_report_id"]
    for r in reports:
        want = hashlib.sha256((cid + r["level"] + r["computed_at_utc"]).encode()).hexdigest()[:16]
        assert r["eligibility_report_id"] == "elig_" + want
        assert (r["run_key"], r["run_instance_id"], r["dataset_id_v2"], r["engine_version"], r["config_version"]) == (
            "rk",
            "run_g",
            "ds2",
            "e1",
            "c1",
        )
        assert r["blockers_json"] == "[]"
    assert reports[0]["warnings_json"] == "[]"
    assert reports[1]["warnings_json"] == '["research_spec_version recommended for accepted"]'
    events = st.get_events(db_path, cid)
    assert [e["event_type"] for e in events] == ["created", "status_change", "evaluated", "status_change", "evaluated"]
    sc1, sc2 = json.loads(events[1]["payload_json"]), json.loads(events[3]["payload_json"])
    assert (sc1["old_status"], sc1["new_status"], sc1["eligibility_report_id"]) == (
        "exploratory",
        "candidate",
        reports[0]["eligibility_report_id"],
    )
    assert (sc2["old_status"], sc2["new_status"], sc2["eligibility_report_id"]) == (
        "candidate",
        "accepted",
        reports[1]["eligibility_report_id"],
    )
    assert "reason" not in sc1


def test_without_provenance_stays_exploratory_and_nothing_is_written(db_path, tmp_path):
    path = write_bundle(tmp_path / "run", {})
    cid = create(db_path, {"bundle_path": str(path)})
    before = state(db_path)
    d = next_rung(db_path, cid, path)
    assert d.status == "rejected"
    assert d.reasons[:3] == [
        "dataset_id_v2 missing",
        "dataset_hash_algo must be sqlite_logical_v2 (got None)",
        "dataset_hash_mode must be STRICT for promotion (got None)",
    ]
    assert d.reasons[-1] == "seed_version missing (required for candidate/accepted)"
    assert d.metrics_snapshot == {"mean_ic": 0.04, "t_stat": 3.0, "n_obs": 100}
    assert d.warnings == []  # the eligibility report's (the gate's override warning is not kept, as in c79684b)
    assert state(db_path) == before
    assert st.get_candidate(db_path, cid)["status"] == "exploratory"


def test_a_gate_failure_at_a_promotion_target_rejects_without_a_report(db_path, tmp_path):
    path = write_bundle(tmp_path / "run", PROVENANCE, mean_ic=0.001)
    cid = create(db_path)
    d = next_rung(db_path, cid, path)
    assert d.status == "rejected" and d.reasons == ["mean_ic 0.0010 < 0.02"]
    assert st.get_candidate(db_path, cid)["status"] == "rejected"
    assert st.get_eligibility_reports(db_path, cid) == []


def test_exploratory_target_never_promotes(db_path, tmp_path):
    path = write_bundle(tmp_path / "run", PROVENANCE)
    cid = create(db_path)
    d = evaluate_and_record(db_path, cid, THR, str(path))
    assert d.status == "accepted"
    assert st.get_candidate(db_path, cid)["status"] == "exploratory"
    assert st.get_eligibility_reports(db_path, cid) == []


def test_rc_summary_from_evidence_goes_through_eligibility(db_path, tmp_path):
    folder = tmp_path / "run"
    path = write_bundle(folder, PROVENANCE)
    (folder / "rc.json").write_text(json.dumps({"rc_p_value": 0.01}))
    cid = create(db_path, {"rc_summary_path": "rc.json"})
    before = state(db_path)
    d = evaluate_and_record(
        db_path,
        cid,
        ThresholdConfig(require_reality_check=True),
        str(path),
        evidence_base_path=folder,
        target_status="candidate",
        allow_missing_execution_evidence=True,
    )
    assert (d.status, d.reasons) == ("rejected", ["rc_summary_schema_version must be 1 (got None)"])
    assert state(db_path) == before
    (folder / "rc.json").write_text(json.dumps({"rc_p_value": 0.01, "rc_summary_schema_version": 1}))
    d = evaluate_and_record(
        db_path,
        cid,
        ThresholdConfig(require_reality_check=True),
        str(path),
        evidence_base_path=folder,
        target_status="candidate",
        allow_missing_execution_evidence=True,
    )
    assert d.status == "accepted" and st.get_candidate(db_path, cid)["status"] == "candidate"


def test_evidence_lookup_base_then_current_folder_and_escape_refused(db_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "reports" / "csv"
    write_bundle(csv, PROVENANCE)
    (csv / "exec.json").write_text(
        json.dumps(
            {
                "capacity_curve_path": "csv/cap.csv",
                "max_participation_rate": 0.05,
                "cost_config": {"fee_bps": 1, "slippage_bps": 1},
            }
        )
    )
    (csv / "cap.csv").write_text("a,b\n1,2\n")
    # Stored paths are relative to the current folder; the base is the bundle's folder (the
    # analyzer's reportv2 layout); the capacity curve is relative to reports/ (the base's parent).
    cid = create(
        db_path, {"bundle_path": "reports/csv/bundle.json", "execution_evidence_path": "reports/csv/exec.json"}
    )
    d = evaluate_and_record(
        db_path, cid, THR, "reports/csv/bundle.json", evidence_base_path=Path("reports/csv"), target_status="candidate"
    )
    assert (d.status, d.reasons) == ("accepted", [])
    cid2 = create(db_path, {"execution_evidence_path": "../../../etc/passwd"})
    d = evaluate_and_record(
        db_path, cid2, THR, "reports/csv/bundle.json", evidence_base_path=Path("reports/csv"), target_status="candidate"
    )
    assert d.status == "rejected"
    assert any("climbs out of evidence_base_path; refused (not read)" in r for r in d.reasons), d.reasons


def test_unknown_target_status_is_a_clear_error(db_path, tmp_path):
    path = write_bundle(tmp_path / "run", PROVENANCE)
    cid = create(db_path)
    before = state(db_path)
    with pytest.raises(ValueError, match="unknown target_status"):
        evaluate_and_record(db_path, cid, THR, str(path), target_status="Accepted")
    assert state(db_path) == before


# ------------------------------------------------------------------ store functions from Python


def test_store_promotion_functions_and_their_errors(db_path):
    a, b = create(db_path), create(db_path, candidate_id="b")
    st.insert_eligibility_report(db_path, "ra", a, "candidate", True, "[]", "[]", "2026-02-01T00:00:00Z", run_key="rk")
    before = state(db_path)
    bad_calls = [
        (
            lambda: st.insert_eligibility_report(db_path, "rx", "ghost", "candidate", True, "[]", "[]", "t"),
            "candidate_id not found: ghost",
        ),
        (
            lambda: st.insert_eligibility_report(db_path, "rx", a, "promoted", True, "[]", "[]", "t"),
            "unknown eligibility level",
        ),
        (
            lambda: st.insert_eligibility_report(db_path, "rx", a, "candidate", True, [], "[]", "t"),
            "blockers_json must be a str",
        ),
        (
            lambda: st.insert_eligibility_report(db_path, "rx", a, "candidate", False, "[]", "[]", "t"),
            "must list its blockers",
        ),
        (
            lambda: st.insert_eligibility_report(db_path, "rx", a, "candidate", True, "[]", "[]", "t", run_key=5),
            "run_key must be a str or None",
        ),
        (lambda: st.promote_to_candidate(db_path, b, "ra"), "computed for candidate"),
        (lambda: st.promote_to_accepted(db_path, a, "ra"), "is for level candidate, not accepted"),
        (lambda: st.promote_to_candidate(db_path, "ghost", "ra"), "candidate_id not found: ghost"),
        (
            lambda: st.update_status(db_path, a, "accepted", eligibility_report_id="ra"),
            r"Use promote_to_candidate\(\) or promote_to_accepted\(\) with an eligibility report",
        ),
    ]
    for call, msg in bad_calls:
        with pytest.raises(ValueError, match=msg):
            call()
        assert state(db_path) == before, msg
    st.promote_to_candidate(db_path, a, "ra", reason="ok")
    assert st.get_candidate(db_path, a)["eligibility_report_id"] == "ra"


@pytest.mark.sqlite_only
def test_plain_sqlite3_tampering_after_service_promotion(db_path, tmp_path):
    path = write_bundle(tmp_path / "run", PROVENANCE)
    a = create(db_path)
    b = create(db_path, candidate_id="b")
    next_rung(db_path, a, path)
    rid = st.get_candidate(db_path, a)["eligibility_report_id"]
    before = state(db_path)
    conn = sqlite3.connect(db_path)
    for sql, params, msg in [
        (
            "UPDATE promotion_candidates SET status='candidate', eligibility_report_id=? WHERE candidate_id='b'",
            (rid,),
            "another candidate",
        ),
        (
            "UPDATE promotion_candidates SET status='accepted' WHERE candidate_id='b'",
            (),
            "eligibility_report_id required",
        ),
        ("UPDATE eligibility_reports SET blockers_json='[\"x\"]' WHERE eligibility_report_id=?", (rid,), "immutable"),
        (
            "UPDATE eligibility_reports SET warnings_json='[]', passed=1 WHERE eligibility_report_id=?",
            (rid,),
            "immutable",
        ),
        ("DELETE FROM eligibility_reports WHERE eligibility_report_id=?", (rid,), "immutable"),
        ("UPDATE promotion_events SET payload_json='{}' WHERE candidate_id=?", (a,), "append-only"),
        ("INSERT INTO governance_events (timestamp, actor, action) VALUES ('t', 'x', 'evaluate')", (), None),
        ("UPDATE governance_events SET actor='y'", (), "append-only"),
        ("DELETE FROM governance_events", (), "append-only"),
    ]:
        if msg is None:
            conn.execute(sql, params)
            conn.commit()
            continue
        with pytest.raises(sqlite3.IntegrityError, match=msg):
            conn.execute(sql, params)
        conn.rollback()
    conn.close()
    after = state(db_path)
    assert after == before
    assert b


# ------------------------------------------------------------------ resolve_evidence and a replaced resolver


def test_resolve_evidence_loads_what_evidence_json_names(tmp_path, monkeypatch, evidence_dir):
    from crypto_analyzer_promotion.execution_evidence import ExecutionEvidence
    from crypto_analyzer_promotion.service import resolve_evidence

    monkeypatch.chdir(tmp_path)
    evidence = {
        "ic_summary_by_regime_path": "ic_summary_by_regime.csv",
        "rc_summary_path": "rc_summary.json",
        "execution_evidence_path": "execution_evidence.json",
    }
    bundle, regime, rc, ex = resolve_evidence(evidence, evidence_dir, "validation_bundle.json")
    assert isinstance(bundle, ValidationBundle) and bundle.run_id == "run_fixture_001"
    assert list(regime.columns[:2]) == ["regime", "mean_ic"] and len(regime) >= 2
    assert rc == json.loads((evidence_dir / "rc_summary.json").read_text())
    assert isinstance(ex, ExecutionEvidence) and ex.max_participation_rate == 0.05
    # A bundle object is returned as is; absent, unreadable and escaping paths give None.
    obj = ValidationBundle(
        run_id="x", dataset_id="d", signal_name="s", freq="1h", horizons=[1], ic_summary_by_horizon={}
    )
    got = resolve_evidence(
        {"rc_summary_path": "../../x.json", "execution_evidence_path": "nope.json"}, evidence_dir, obj
    )
    assert got[0] is obj and got[1:] == (None, None, None)
    assert resolve_evidence({}, evidence_dir, "")[0] is None


def test_a_replaced_resolver_is_used(db_path, tmp_path, monkeypatch):
    """Callers (the analyzer's tests) replace resolve_evidence on the module and expect the
    service to use it: a resolver returning no bundle gives the analyzer's rejection, nothing written."""
    from unittest import mock

    from crypto_analyzer_promotion import service

    path = write_bundle(tmp_path / "run", PROVENANCE)
    cid = create(db_path, {"bundle_path": "/nonexistent/bundle.json"})
    before = state(db_path)
    with mock.patch.object(service, "resolve_evidence", return_value=(None, None, None, None)) as m:
        d = service.evaluate_and_record(db_path, cid, THR, str(path))
    m.assert_called_once()
    assert m.call_args[0][0] == {"bundle_path": "/nonexistent/bundle.json"}
    assert (d.status, d.reasons) == ("rejected", ["could not load ValidationBundle from path"])
    assert state(db_path) == before
    # A resolver that loads: its objects are what the gate sees (here: no execution evidence).
    loaded = ValidationBundle.load(path)
    with mock.patch.object(service, "resolve_evidence", return_value=(loaded, None, None, None)):
        d = service.evaluate_and_record(db_path, cid, THR, "ignored.json", target_status="candidate")
    assert d.reasons == [
        "execution evidence required (target beyond exploratory or require_execution_evidence) but none provided"
    ]
    assert st.get_candidate(db_path, cid)["status"] == "rejected"


def test_a_status_changed_since_the_caller_read_it_is_refused_and_nothing_written(db_path, tmp_path):
    # The CLI and the page pass the status they chose the next rung from; another process may
    # have evaluated or promoted the candidate since. Same refusal on SQLite and PostgreSQL.
    path = write_bundle(tmp_path / "run", PROVENANCE)
    cid = create(db_path, {"bundle_path": str(path)})
    next_rung(db_path, cid, path)  # exploratory -> candidate
    before = state(db_path)
    with pytest.raises(ValueError, match=f"candidate {cid} changed status from exploratory to candidate"):
        evaluate_and_record(
            db_path,
            cid,
            THR,
            str(path),
            target_status="candidate",
            allow_missing_execution_evidence=True,
            expected_status="exploratory",
        )
    assert state(db_path) == before
    d = next_rung(db_path, cid, path, expected_status="candidate")
    assert d.status == "accepted" and st.get_candidate(db_path, cid)["status"] == "accepted"
