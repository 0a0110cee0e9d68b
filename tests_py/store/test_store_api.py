"""store_sqlite: every analyzer name, ids, events, filters, ordering, messages, paths."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from crypto_analyzer_promotion import store_sqlite as st

CONTRACT_MSG = (
    "Promotion tables not found. Run Phase 3 migrations to create them: "
    "run_migrations_phase3(conn, db_path). From CLI: python cli/promotion.py init --db <path>"
)
CANDIDATE_COLUMNS = [
    "candidate_id",
    "created_at_utc",
    "status",
    "dataset_id",
    "run_id",
    "family_id",
    "signal_name",
    "horizon",
    "estimator",
    "config_hash",
    "git_commit",
    "notes",
    "evidence_json",
    "eligibility_report_id",
]


def test_every_contract_name_exists():
    for name in [
        "PROMOTION_TABLES_REQUIRED_MSG",
        "promotion_tables_exist",
        "require_promotion_tables",
        "init_promotion_tables",
        "create_candidate",
        "update_status",
        "record_event",
        "list_candidates",
        "get_candidate",
        "get_events",
        "insert_eligibility_report",
        "promote_to_candidate",
        "promote_to_accepted",
    ]:
        assert hasattr(st, name), name
    assert st.PROMOTION_TABLES_REQUIRED_MSG == CONTRACT_MSG


def test_missing_tables_raise_the_contract_message_everywhere(tmp_path):
    db = tmp_path / "empty.db"
    sqlite3.connect(str(db)).execute("CREATE TABLE unrelated (x)").connection.close()
    assert st.promotion_tables_exist(db) is False
    calls = [
        lambda: st.require_promotion_tables(db),
        lambda: st.create_candidate(
            db, dataset_id="d", run_id="r", signal_name="s", horizon=1, config_hash="c", git_commit="g"
        ),
        lambda: st.update_status(db, "x", "accepted"),
        lambda: st.record_event(db, "x", "note"),
        lambda: st.list_candidates(db),
        lambda: st.get_candidate(db, "x"),
        lambda: st.get_events(db, "x"),
    ]
    for call in calls:
        with pytest.raises(RuntimeError) as info:
            call()
        assert str(info.value) == CONTRACT_MSG
    # A path with no file at all: same message, and no file is created.
    with pytest.raises(RuntimeError) as info:
        st.list_candidates(tmp_path / "absent.db")
    assert str(info.value) == CONTRACT_MSG
    assert not (tmp_path / "absent.db").exists()
    assert st.promotion_tables_exist(tmp_path / "absent.db") is False


def test_init_promotion_tables(tmp_path):
    db = tmp_path / "init.db"
    st.init_promotion_tables(str(db))
    assert st.promotion_tables_exist(db) is True
    st.require_promotion_tables(db)
    st.init_promotion_tables(db)  # idempotent


def test_create_candidate_row_id_and_created_event(db, make, ref):
    cid = make(family_id="fam1", estimator="ols", notes="n", evidence={"b": 1, "a": 0.1 + 0.2})
    row = st.get_candidate(db, cid)
    assert list(row) == CANDIDATE_COLUMNS
    assert row == ref.rows(db, "SELECT * FROM promotion_candidates WHERE candidate_id=?", (cid,))[0]
    assert cid == ref.expected_id("run1", "sig_a", 5, row["created_at_utc"])
    assert row["status"] == "exploratory"
    assert (row["family_id"], row["estimator"], row["notes"]) == ("fam1", "ols", "n")
    assert row["evidence_json"] == '{"a":0.3,"b":1}'
    assert row["created_at_utc"].endswith("+00:00")
    events = st.get_events(db, cid)
    assert events == [
        {
            "event_id": events[0]["event_id"],
            "candidate_id": cid,
            "ts_utc": row["created_at_utc"],
            "event_type": "created",
            "payload_json": json.dumps({"created_at_utc": row["created_at_utc"]}, separators=(",", ":")),
        }
    ]


def test_explicit_id_status_and_no_evidence(db, make):
    cid = make(candidate_id="my_own_id", status="rejected")
    row = st.get_candidate(db, cid)
    assert cid == "my_own_id" and row["status"] == "rejected" and row["evidence_json"] is None
    with pytest.raises(ValueError, match="already exists"):
        make(candidate_id="my_own_id")
    assert st.get_candidate(db, "nope") is None


def test_update_status_writes_old_and_new_status(db, make):
    cid = make()
    # c79684b: candidate/accepted only with an eligibility report (promote_to_*).
    assert st.update_status(db, cid, "rejected", reason="failed gates") is None
    st.update_status(db, cid, "exploratory")
    assert st.get_candidate(db, cid)["status"] == "exploratory"
    ev = st.get_events(db, cid)
    assert [e["event_type"] for e in ev] == ["created", "status_change", "status_change"]
    p1, p2 = json.loads(ev[1]["payload_json"]), json.loads(ev[2]["payload_json"])
    assert p1 == {
        "new_status": "rejected",
        "old_status": "exploratory",
        "reason": "failed gates",
        "ts_utc": ev[1]["ts_utc"],
    }
    assert p2 == {"new_status": "exploratory", "old_status": "rejected", "ts_utc": ev[2]["ts_utc"]}


@pytest.mark.parametrize("bad", ["promoted", "Accepted", "", "exploratory "])
def test_unknown_status_is_refused_and_nothing_written(db, make, ref, bad):
    with pytest.raises(ValueError, match="unknown status"):
        make(status=bad)
    cid = make()
    with pytest.raises(ValueError, match="unknown status"):
        st.update_status(db, cid, bad)
    assert st.get_candidate(db, cid)["status"] == "exploratory"
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_events")[0]["n"] == 1
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_candidates")[0]["n"] == 1


def test_unknown_candidate_is_a_value_error(db, make, ref):
    make()
    with pytest.raises(ValueError, match="candidate_id not found: ghost"):
        st.update_status(db, "ghost", "rejected")
    with pytest.raises(ValueError, match="candidate_id not found: ghost"):
        st.record_event(db, "ghost", "note", {"a": 1})
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_events")[0]["n"] == 1


def test_record_event_payloads(db, make, ref):
    cid = make()
    e1 = st.record_event(db, cid, "note", {"z": [1, 2.5, None], "a": {"y": float("nan"), "x": "é"}})
    e2 = st.record_event(db, cid, "empty")
    e3 = st.record_event(db, cid, "empty_dict", {})
    assert e1 < e2 < e3
    ev = {e["event_id"]: e for e in st.get_events(db, cid)}
    assert ev[e1]["payload_json"] == ref.python_canonical({"z": [1, 2.5, None], "a": {"y": float("nan"), "x": "é"}})
    assert ev[e2]["payload_json"] is None and ev[e3]["payload_json"] is None


def test_get_events_ascending_and_per_candidate(db, make, ref):
    a, b = make(signal_name="a"), make(signal_name="b")
    for i in range(5):
        st.record_event(db, a if i % 2 else b, f"e{i}", {"i": i})
    for cid in (a, b):
        got = st.get_events(db, cid)
        want = ref.rows(
            db,
            "SELECT event_id, candidate_id, ts_utc, event_type, payload_json FROM promotion_events "
            "WHERE candidate_id=? ORDER BY event_id",
            (cid,),
        )
        assert got == want
        assert [e["event_id"] for e in got] == sorted(e["event_id"] for e in got)


def test_list_candidates_filters_limit_and_order(db, make, ref):
    ids = []
    for i in range(30):
        ids.append(make(signal_name=f"sig{i % 3}", dataset_id=f"ds{i % 2}", status=["exploratory", "rejected"][i % 2]))
    everything = ref.rows(db, "SELECT * FROM promotion_candidates")

    def expected(status=None, dataset_id=None, signal_name=None, limit=100):
        sel = [
            r
            for r in everything
            if (status is None or r["status"] == status)
            and (dataset_id is None or r["dataset_id"] == dataset_id)
            and (signal_name is None or r["signal_name"] == signal_name)
        ]
        # newest created_at_utc first; equal timestamps: the later insert first
        sel.sort(key=lambda r: (r["created_at_utc"], ids.index(r["candidate_id"])), reverse=True)
        return sel[:limit] if limit is not None and limit >= 0 else sel

    for kwargs in [
        {},
        {"status": "rejected"},
        {"dataset_id": "ds1"},
        {"signal_name": "sig2"},
        {"status": "exploratory", "dataset_id": "ds0"},
        {"status": "rejected", "signal_name": "sig0", "dataset_id": "ds1"},
        {"limit": 7},
        {"signal_name": "sig1", "limit": 3},
        {"status": "nope"},
        {"limit": None},
    ]:
        assert st.list_candidates(db, **kwargs) == expected(**kwargs), kwargs
    assert [r["candidate_id"] for r in st.list_candidates(db)] == ids[::-1]
    assert len(st.list_candidates(db)) == 30 and len(st.list_candidates(db, limit=0)) == 0


def test_evidence_paths_are_relativized_under_the_base(db, make, tmp_path):
    base = tmp_path / "reports"
    (base / "run1").mkdir(parents=True)
    evidence = {
        "bundle_path": str(base / "run1" / "bundle.json"),
        "rc_summary_path": base / "run1" / "rc.json",  # a pathlib.Path is accepted too
        "outside": str(tmp_path / "other.csv"),
        "relative_already": "run1/x.csv",
        "list": [str(base / "a.csv"), 1],
    }
    cid = make(evidence=evidence, evidence_base_path=base)
    stored = json.loads(st.get_candidate(db, cid)["evidence_json"])
    assert stored == {
        "bundle_path": "run1/bundle.json",
        "rc_summary_path": "run1/rc.json",
        "outside": str(tmp_path / "other.csv"),
        "relative_already": "run1/x.csv",
        "list": ["a.csv", 1],
        "evidence_base_path": str(base),
    }
    # Found again from anywhere: base + relative path.
    assert Path(stored["evidence_base_path"], stored["bundle_path"]) == base / "run1" / "bundle.json"
    # Nothing under the base: stored as given, no base recorded.
    cid2 = make(evidence={"outside": str(tmp_path / "o.csv")}, evidence_base_path=str(base))
    assert json.loads(st.get_candidate(db, cid2)["evidence_json"]) == {"outside": str(tmp_path / "o.csv")}


def test_bulk_create_is_one_all_or_nothing_transaction(db, ref, base_kwargs):
    rows = [dict(base_kwargs, signal_name=f"s{i}", evidence={"i": i}) for i in range(50)]
    ids = st.create_candidates_many(db, rows)
    assert len(set(ids)) == 50
    for i, cid in enumerate(ids):
        row = st.get_candidate(db, cid)
        assert cid == ref.expected_id("run1", f"s{i}", 5, row["created_at_utc"])
        assert [e["event_type"] for e in st.get_events(db, cid)] == ["created"]
    bad = [dict(base_kwargs, signal_name="ok"), dict(base_kwargs, status="bogus")]
    with pytest.raises(ValueError, match="unknown status"):
        st.create_candidates_many(db, bad)
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_candidates")[0]["n"] == 50
