"""End to end: migrate → create from the fixture bundle → evaluate (RC, regime, execution) →
stored status and event log, read back with plain sqlite3."""

from __future__ import annotations

import json
import sqlite3

from crypto_analyzer_promotion import store_sqlite
from crypto_analyzer_promotion.gating import ThresholdConfig
from crypto_analyzer_promotion.migrations_phase3 import run_migrations_phase3
from crypto_analyzer_promotion.service import evaluate_and_record


def test_fixture_candidate_through_the_workflow(tmp_path, evidence_dir, monkeypatch):
    db = str(tmp_path / "e2e.db")
    run_migrations_phase3(db)
    evidence = {
        "bundle_path": str(evidence_dir / "validation_bundle.json"),
        "ic_summary_by_regime_path": str(evidence_dir / "ic_summary_by_regime.csv"),
        "rc_summary_path": str(evidence_dir / "rc_summary.json"),
        "execution_evidence_path": str(evidence_dir / "execution_evidence.json"),
    }
    cid = store_sqlite.create_candidate(
        db,
        dataset_id="ds_fixture",
        run_id="run_fixture_001",
        signal_name="momentum_24h",
        horizon=4,
        config_hash="cfg_abc123",
        git_commit="0123abcd",
        family_id="fam_momentum",
        evidence=evidence,
        evidence_base_path=str(evidence_dir),
    )
    monkeypatch.chdir(tmp_path)  # not the evidence folder

    # 1) exploratory → candidate: RC required (family), regime required, execution evidence required.
    thr = ThresholdConfig(
        require_regime_robustness=True,
        worst_regime_ic_mean_min=0.015,
        require_reality_check=True,
        max_rc_p_value=0.05,
        require_execution_evidence=True,
        min_liquidity_usd_min=1_000_000.0,
        max_participation_rate_max=0.1,
    )
    d1 = evaluate_and_record(db, cid, thr, None, target_status="candidate")
    assert (d1.status, d1.reasons, d1.warnings) == ("accepted", [], [])
    # c79684b: the fixture's provenance passes eligibility; the report is stored and linked.
    row = store_sqlite.get_candidate(db, cid)
    (report,) = store_sqlite.get_eligibility_reports(db, cid)
    assert row["status"] == "candidate" and row["eligibility_report_id"] == report["eligibility_report_id"]
    assert (report["level"], report["passed"], report["blockers_json"], report["run_key"]) == (
        "candidate",
        1,
        "[]",
        "rk_fixture_001",
    )

    # 2) stricter thresholds: every rule fails with the analyzer's text.
    strict = ThresholdConfig(
        ic_mean_min=0.05,
        tstat_min=4.0,
        require_regime_robustness=True,
        worst_regime_ic_mean_min=0.02,
        max_rc_p_value=0.01,
        require_execution_evidence=True,
        max_participation_rate_max=0.02,
    )
    d2 = evaluate_and_record(db, cid, strict, None, target_status="accepted")
    assert d2.status == "rejected"
    assert d2.reasons == [
        "mean_ic 0.0412 < 0.05",
        "t_stat 3.8700 < 4.0",
        "worst regime mean_ic 0.0180 < 0.02",
        "rc_p_value 0.0199 > 0.01",
        "max_participation_rate 0.05 > 0.02",
    ]

    with sqlite3.connect(db) as c:
        status = c.execute("SELECT status FROM promotion_candidates WHERE candidate_id=?", (cid,)).fetchone()[0]
        events = c.execute(
            "SELECT event_id, event_type, payload_json FROM promotion_events WHERE candidate_id=? ORDER BY event_id",
            (cid,),
        ).fetchall()
    assert status == "rejected"
    assert [e[1] for e in events] == ["created", "status_change", "evaluated", "evaluated"]
    assert events[0][0] < events[1][0] < events[2][0] < events[3][0]
    p1, p2 = json.loads(events[2][2]), json.loads(events[3][2])
    assert p1["status"] == "accepted" and p1["reasons"] == []
    assert p2["status"] == "rejected" and p2["reasons"] == d2.reasons
    assert p2["thresholds_used"]["require_reality_check"] is True  # forced by family_id
    assert p2["artifact_pointers"] == {
        "bundle_path": "validation_bundle.json",
        "ic_summary_by_regime_path": "ic_summary_by_regime.csv",
        "rc_summary_path": "rc_summary.json",
        "execution_evidence_path": "execution_evidence.json",
    }
    assert p2["metrics_snapshot"] == {"mean_ic": 0.0412, "t_stat": 3.87, "n_obs": 1320}
    # The store's own reader agrees.
    assert [e["event_type"] for e in store_sqlite.get_events(db, cid)] == [
        "created",
        "status_change",
        "evaluated",
        "evaluated",
    ]
