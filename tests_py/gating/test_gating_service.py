"""evaluate_and_record: evidence loading, path resolution and escape, nothing partial written."""

from __future__ import annotations

import json
import sqlite3

import dbread
import pandas as pd
import pytest
from crypto_analyzer_promotion import store_sqlite
from crypto_analyzer_promotion.gating import ThresholdConfig
from crypto_analyzer_promotion.service import evaluate_and_record

FULL = ThresholdConfig(
    require_regime_robustness=True,
    worst_regime_ic_mean_min=0.01,
    require_reality_check=True,
    require_execution_evidence=True,
)


def create(db_path, evidence=None, **kw):
    return store_sqlite.create_candidate(
        db_path,
        dataset_id="ds_fixture",
        run_id="run_fixture_001",
        signal_name="momentum_24h",
        horizon=4,
        config_hash="cfg",
        git_commit="abc",
        evidence=evidence,
        **kw,
    )


def raw_events(db_path, cid):
    """Independent read (sqlite3, or psql on PostgreSQL)."""
    return dbread.rows(
        db_path, "SELECT event_type, payload_json FROM promotion_events WHERE candidate_id=? ORDER BY event_id", [cid]
    )


def raw_status(db_path, cid):
    return dbread.scalar(db_path, "SELECT status FROM promotion_candidates WHERE candidate_id=?", [cid])


REL_EVIDENCE = {
    "bundle_path": "validation_bundle.json",
    "ic_summary_by_regime_path": "ic_summary_by_regime.csv",
    "rc_summary_path": "rc_summary.json",
    "execution_evidence_path": "execution_evidence.json",
}


def test_unknown_id_is_rejected_and_nothing_written(db_path, evidence_dir):
    cid = create(db_path)
    before = raw_events(db_path, cid)
    d = evaluate_and_record(db_path, "prom_nope", ThresholdConfig(), evidence_dir / "validation_bundle.json")
    assert (d.status, d.reasons, d.metrics_snapshot) == ("rejected", ["candidate_id not found: prom_nope"], {})
    assert raw_events(db_path, cid) == before
    assert dbread.scalar(db_path, "SELECT COUNT(*) FROM promotion_events") == 1


@pytest.mark.parametrize(
    "content",
    [
        None,
        "{not json",
        "[1, 2]",
        '{"run_id": "r"}',
        '{"run_id":"r","dataset_id":"d","signal_name":"s","horizons":"4","ic_summary_by_horizon":{}}',
    ],
)
def test_unreadable_bundle_is_rejected_and_nothing_written(db_path, tmp_path, content):
    cid = create(db_path)
    path = tmp_path / "bundle.json"
    if content is not None:
        path.write_text(content)
    d = evaluate_and_record(db_path, cid, ThresholdConfig(), path)
    assert d.status == "rejected"
    assert d.reasons == ["could not load ValidationBundle from path"]
    assert len(d.warnings) == 1 and d.warnings[0]  # says what was wrong
    assert raw_status(db_path, cid) == "exploratory"
    assert [e[0] for e in raw_events(db_path, cid)] == ["created"]


def test_loads_evidence_relative_to_base_and_records_event(db_path, evidence_dir):
    cid = create(db_path, evidence=REL_EVIDENCE)
    d = evaluate_and_record(
        db_path, cid, FULL, "validation_bundle.json", evidence_base_path=evidence_dir, target_status="candidate"
    )
    assert (d.status, d.reasons, d.warnings) == ("accepted", [], [])
    assert d.metrics_snapshot == {"mean_ic": 0.0412, "t_stat": 3.87, "n_obs": 1320}
    assert raw_status(db_path, cid) == "candidate"  # c79684b: the target, through an eligibility report
    assert [e[0] for e in raw_events(db_path, cid)] == ["created", "status_change", "evaluated"]
    kind, payload_json = raw_events(db_path, cid)[-1]
    assert kind == "evaluated"
    payload = json.loads(payload_json)
    assert payload == {
        "status": "accepted",
        "reasons": [],
        "metrics_snapshot": {"mean_ic": 0.0412, "t_stat": 3.87, "n_obs": 1320},
        "thresholds_used": {
            "ic_mean_min": 0.02,
            "tstat_min": 2.5,
            "p_value_max": 0.05,
            "deflated_sharpe_min": 1.0,
            "require_regime_robustness": True,
            "worst_regime_ic_mean_min": 0.01,
            "require_reality_check": True,
            "max_rc_p_value": 0.05,
            "require_execution_evidence": True,
            "min_liquidity_usd_min": None,
            "max_participation_rate_max": None,
            "allow_missing_execution_evidence": False,
        },
        "artifact_pointers": {
            "bundle_path": "validation_bundle.json",
            "ic_summary_by_regime_path": "ic_summary_by_regime.csv",
            "rc_summary_path": "rc_summary.json",
            "execution_evidence_path": "execution_evidence.json",
        },
    }
    # Canonical JSON: sorted keys, no spaces-dependent surprises.
    assert payload_json == json.dumps(payload, sort_keys=True, separators=(",", ":"))


def test_inputs_from_evidence_drive_reasons(db_path, evidence_dir):
    (evidence_dir / "rc_summary.json").write_text('{"rc_p_value": 0.3}')
    (evidence_dir / "ic_summary_by_regime.csv").write_text("regime,mean_ic\nup,0.05\ndown,-0.02\n")
    cid = create(db_path, evidence=REL_EVIDENCE)
    d = evaluate_and_record(db_path, cid, FULL, None, evidence_base_path=evidence_dir)
    assert d.reasons == ["worst regime mean_ic -0.0200 < 0.01", "rc_p_value 0.3000 > 0.05"]
    assert raw_status(db_path, cid) == "rejected"


def test_caller_inputs_win_over_evidence(db_path, evidence_dir):
    cid = create(db_path, evidence=REL_EVIDENCE)
    df = pd.DataFrame({"regime": ["a", "b"], "mean_ic": [0.2, 0.001]})
    d = evaluate_and_record(
        db_path, cid, FULL, None, evidence_base_path=evidence_dir, regime_summary_df=df, rc_summary={"rc_p_value": 0.5}
    )
    assert d.reasons == ["worst regime mean_ic 0.0010 < 0.01", "rc_p_value 0.5000 > 0.05"]


def test_stored_base_found_from_any_folder(db_path, evidence_dir, tmp_path, monkeypatch):
    absolute = {k: str(evidence_dir / v) for k, v in REL_EVIDENCE.items()}
    cid = create(db_path, evidence=absolute, evidence_base_path=str(evidence_dir))
    stored = json.loads(store_sqlite.get_candidate(db_path, cid)["evidence_json"])
    assert stored["rc_summary_path"] == "rc_summary.json"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # Relative bundle path as the analyzer's CLI stores it; run from an unrelated folder.
    d = evaluate_and_record(db_path, cid, FULL, "validation_bundle.json", target_status="candidate")
    assert (d.status, d.reasons) == ("accepted", [])


def test_path_escape_refused_and_not_read(db_path, evidence_dir, tmp_path):
    # A file outside the base that WOULD pass the gate if it were read.
    (tmp_path / "outside.json").write_text('{"rc_p_value": 0.001}')
    ev = dict(REL_EVIDENCE, rc_summary_path="../outside.json", execution_evidence_path="../../etc/passwd")
    cid = create(db_path, evidence=ev)
    d = evaluate_and_record(db_path, cid, FULL, None, evidence_base_path=evidence_dir)
    assert d.status == "rejected"
    assert d.reasons == [
        "require_reality_check=True but no rc_p_value in meta or rc_summary",
        'execution evidence could not be used: execution_evidence_path "../../etc/passwd" climbs out of '
        "evidence_base_path; refused (not read)",
    ]
    assert d.warnings == [
        'rc summary not used: rc_summary_path "../outside.json" climbs out of evidence_base_path; refused (not read)'
    ]


def test_malformed_evidence_files_give_reasons(db_path, evidence_dir):
    (evidence_dir / "rc_summary.json").write_text("{oops")
    (evidence_dir / "ic_summary_by_regime.csv").write_text("regime,ic\nup,0.05\ndown,0.04\n")
    (evidence_dir / "execution_evidence.json").write_text('"just a string"')
    cid = create(db_path, evidence=REL_EVIDENCE)
    d = evaluate_and_record(db_path, cid, FULL, None, evidence_base_path=evidence_dir)
    assert d.reasons[0] == "regime summary missing mean_ic column"
    assert d.reasons[1] == "require_reality_check=True but no rc_p_value in meta or rc_summary"
    assert "RC summary JSON is malformed" in d.warnings[0]
    assert d.reasons[2].startswith("execution evidence could not be used: execution_evidence_path ")
    assert d.reasons[2].endswith('execution evidence JSON must be an object, got string "just a string"')


def test_missing_evidence_files(db_path, evidence_dir):
    ev = dict(REL_EVIDENCE, ic_summary_by_regime_path="missing.csv")
    cid = create(db_path, evidence=ev)
    d = evaluate_and_record(db_path, cid, FULL, None, evidence_base_path=evidence_dir)
    assert d.reasons == [
        "regime summary could not be used: ic_summary_by_regime_path file not found: "
        + str(evidence_dir / "missing.csv")
    ]
    # Not required: only a warning, the decision is unaffected.
    d = evaluate_and_record(db_path, cid, ThresholdConfig(), None, evidence_base_path=evidence_dir)
    assert d.status == "accepted"
    assert d.warnings == [
        "regime summary not used: ic_summary_by_regime_path file not found: " + str(evidence_dir / "missing.csv")
    ]


def test_family_id_requires_reality_check(db_path, evidence_dir):
    cid = create(db_path, family_id="fam_1")
    d = evaluate_and_record(db_path, cid, ThresholdConfig(), evidence_dir / "validation_bundle.json")
    assert d.reasons == ["require_reality_check=True but no rc_p_value in meta or rc_summary"]
    payload = json.loads(raw_events(db_path, cid)[-1][1])
    assert payload["thresholds_used"]["require_reality_check"] is True


@pytest.mark.sqlite_only
def test_accepts_sqlite_connection_and_bundle_objects(db_path, evidence_dir):
    from crypto_analyzer_promotion.validation_bundle import ValidationBundle

    conn = sqlite3.connect(db_path)
    cid = create(conn)
    bundle = ValidationBundle.load(evidence_dir / "validation_bundle.json")
    d = evaluate_and_record(conn, cid, ThresholdConfig(), bundle)
    assert d.status == "accepted"
    # c79684b: a passing gate at target exploratory leaves the candidate exploratory.
    assert (
        conn.execute("SELECT status FROM promotion_candidates WHERE candidate_id=?", (cid,)).fetchone()[0]
        == "exploratory"
    )
    conn.close()


def test_deterministic_decision_and_payload(db_path, evidence_dir):
    cid = create(db_path, evidence=REL_EVIDENCE)
    thr = ThresholdConfig(require_reality_check=True, max_rc_p_value=0.01)
    a = evaluate_and_record(db_path, cid, thr, None, evidence_base_path=evidence_dir, target_status="candidate")
    b = evaluate_and_record(db_path, cid, thr, None, evidence_base_path=evidence_dir, target_status="candidate")
    assert a == b
    assert a.reasons == ["rc_p_value 0.0199 > 0.01"]
    events = raw_events(db_path, cid)
    assert [e[0] for e in events] == ["created", "evaluated", "evaluated"]
    assert events[1][1] == events[2][1]


def test_nan_metric_reason_and_null_in_payload(db_path):
    cid = create(db_path)
    bundle = {"horizons": [4], "ic_summary_by_horizon": {4: {"mean_ic": float("nan"), "t_stat": 3.0}}, "meta": {}}
    d = evaluate_and_record(db_path, cid, ThresholdConfig(), bundle)
    assert d.reasons == ["mean_ic is not a finite number (got nan)"]
    payload = json.loads(raw_events(db_path, cid)[-1][1])
    assert payload["metrics_snapshot"] == {"mean_ic": None, "t_stat": 3.0, "n_obs": 0}


def test_missing_tables_raise_runtime_error(tmp_path):
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(RuntimeError, match="Promotion tables not found"):
        evaluate_and_record(str(path), "x", ThresholdConfig(), None)


def test_relative_bundle_path_climbing_out_is_refused(db_path, evidence_dir, tmp_path):
    cid = create(db_path)
    outside = tmp_path / "outside_bundle.json"
    outside.write_text((evidence_dir / "validation_bundle.json").read_text())
    d = evaluate_and_record(db_path, cid, ThresholdConfig(), "../outside_bundle.json", evidence_base_path=evidence_dir)
    assert d.reasons == ["could not load ValidationBundle from path"]
    assert "climbs out of evidence_base_path" in d.warnings[0]
    assert [e[0] for e in raw_events(db_path, cid)] == ["created"]
    # The same file by absolute path is the caller's explicit choice.
    assert (
        evaluate_and_record(db_path, cid, ThresholdConfig(), str(outside), evidence_base_path=evidence_dir).status
        == "accepted"
    )


def test_files_written_by_pythons_json_with_nan_tokens(db_path, evidence_dir):
    # json.dump writes NaN/Infinity tokens by default; they are read as numbers, not "malformed".
    bundle = json.loads((evidence_dir / "validation_bundle.json").read_text())
    bundle["ic_summary_by_horizon"]["4"]["mean_ic"] = float("nan")
    (evidence_dir / "validation_bundle.json").write_text(json.dumps(bundle))
    (evidence_dir / "rc_summary.json").write_text(json.dumps({"rc_p_value": 0.01, "observed_max": float("inf")}))
    assert "NaN" in (evidence_dir / "validation_bundle.json").read_text()
    cid = create(db_path, evidence=REL_EVIDENCE)
    d = evaluate_and_record(
        db_path, cid, ThresholdConfig(require_reality_check=True), None, evidence_base_path=evidence_dir
    )
    assert d.reasons == ["mean_ic is not a finite number (got nan)"]
    assert d.warnings == []


def test_threads_evaluating_at_once_lose_no_event(db_path, evidence_dir):
    from concurrent.futures import ThreadPoolExecutor

    cids = [create(db_path, evidence=REL_EVIDENCE, candidate_id=f"prom_t{i}") for i in range(4)]
    jobs = [cids[i % 4] for i in range(24)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        decisions = list(
            pool.map(lambda c: evaluate_and_record(db_path, c, FULL, None, evidence_base_path=evidence_dir), jobs)
        )
    assert {d.status for d in decisions} == {"accepted"}
    assert dbread.scalar(db_path, "SELECT COUNT(*) FROM promotion_events WHERE event_type='evaluated'") == 24
