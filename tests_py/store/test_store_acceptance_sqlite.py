"""The acceptance flow on a SQLite file (one user): the same steps, checks (other than who) and
events as on PostgreSQL, and the analyzer's direct steps unchanged."""

from __future__ import annotations

import json

import pytest
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion import acceptance as acc
from crypto_analyzer_promotion import exceptions as X
from crypto_analyzer_promotion import migrations_phase3 as mig
from crypto_analyzer_promotion import store_sqlite as st

BASE = {
    "dataset_id": "ds1",
    "run_id": "run1",
    "signal_name": "sig_a",
    "horizon": 5,
    "config_hash": "c",
    "git_commit": "g",
}


def _report(db: str, rid: str, cid: str, level: str, passed: bool = True) -> None:
    blockers = "[]" if passed else '["blocked"]'
    _core.store_insert_eligibility_report(db, rid, cid, level, passed, blockers, "[]", "2026-01-01T00:00:00+00:00")


@pytest.fixture
def at_candidate(tmp_path):
    db = str(tmp_path / "reg.db")
    mig.run_migrations_phase3(db)
    cid = st.create_candidate(db, **BASE)
    _report(db, "rc", cid, "candidate")
    st.promote_to_candidate(db, cid, "rc")
    return db, cid


def test_request_then_approve(at_candidate):
    db, cid = at_candidate
    assert acc.separation_of_duties(db) is False
    with pytest.raises(X.InvalidInputError, match=f"candidate {cid} has no open acceptance request"):
        acc.approve_acceptance(db, cid)
    with pytest.raises(X.InvalidInputError, match="eligibility report not found: nope"):
        acc.request_acceptance(db, cid, "nope")
    _report(db, "ra", cid, "accepted")
    req = acc.request_acceptance(db, cid, "ra", reason="ready")
    with pytest.raises(X.InvalidInputError, match=f"already has an open acceptance request \\(event {req}\\)"):
        acc.request_acceptance(db, cid, "ra")
    assert st.get_candidate(db, cid)["status"] == "candidate"
    done = acc.approve_acceptance(db, cid, reason="reviewed")
    row = st.get_candidate(db, cid)
    assert (row["status"], row["eligibility_report_id"]) == ("accepted", "ra")
    events = [e for e in st.get_events(db, cid) if e["event_id"] >= req]
    assert [e["event_type"] for e in events] == ["acceptance_requested", "status_change", "acceptance_approved"]
    assert events[-1]["event_id"] == done
    assert events[0]["payload_json"] == '{"eligibility_report_id":"ra","reason":"ready"}'
    assert json.loads(events[-1]["payload_json"]) == {
        "eligibility_report_id": "ra",
        "reason": "reviewed",
        "request_event_id": req,
    }


def test_request_needs_a_passed_accepted_report_at_candidate_and_reject_needs_a_reason(at_candidate):
    db, cid = at_candidate
    _report(db, "ra_fail", cid, "accepted", passed=False)
    with pytest.raises(X.InvalidInputError, match="ra_fail"):
        acc.request_acceptance(db, cid, "ra_fail")
    _report(db, "ra", cid, "accepted")
    acc.request_acceptance(db, cid, "ra")
    with pytest.raises(X.InvalidInputError, match="rejecting an acceptance request needs a reason"):
        acc.reject_acceptance(db, cid, " ")
    acc.reject_acceptance(db, cid, "overfit")
    assert st.get_candidate(db, cid)["status"] == "rejected"
    with pytest.raises(X.InvalidInputError, match="one rung per change: accepted only from candidate"):
        acc.request_acceptance(db, cid, "ra")
    assert [e["event_type"] for e in st.get_events(db, cid)][-2:] == ["status_change", "acceptance_rejected"]
