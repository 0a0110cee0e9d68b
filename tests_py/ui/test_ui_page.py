"""The Streamlit Promotion page through streamlit.testing.v1.AppTest: load, filter, select,
evaluate, manual status change, missing database. Results are checked with plain sqlite3."""

from __future__ import annotations

from pathlib import Path

import pytest

st_testing = pytest.importorskip("streamlit.testing.v1")
AppTest = st_testing.AppTest

TABLES_MSG = (
    "Promotion tables not found. Run Phase 3 migrations to create them: run_migrations_phase3(conn, "
    "db_path). From CLI: python cli/promotion.py init --db <path>"
)


def _app(monkeypatch, db: Path, app: Path) -> AppTest:
    monkeypatch.setenv("CRYPTO_ANALYZER_DB_PATH", str(db))
    monkeypatch.delenv("CRYPTO_ANALYZER_RC_CACHE_DIR", raising=False)
    at = AppTest.from_file(str(app), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [x.value for x in at.success] + [x.value for x in at.error] + [x.value for x in at.warning]
    parts += [x.value for x in at.info]
    return "\n".join(str(p) for p in parts)


def _evaluate_edge_requiring_evidence(monkeypatch, promo_db) -> None:
    """Evaluate the edge candidate with RC and execution evidence required: it passes as accepted."""
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    at.selectbox(key="promo_selected").set_value(promo_db.edge).run()
    at.checkbox(key="promo_req_rc").check()
    at.checkbox(key="promo_req_exec").check()
    at.button(key="promo_evaluate").click().run()
    assert not at.exception
    assert any("accepted" in s.value for s in at.success), _texts(at)


def _table(at):
    """The candidates table (the first dataframe on the page)."""
    return at.dataframe[0].value


def test_load_shows_the_candidates_table(monkeypatch, promo_db):
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    assert at.title[0].value == "Promotion candidates"
    df = _table(at)
    assert set(df["candidate_id"]) == {promo_db.edge, promo_db.lucky}
    assert set(df["status"]) == {"exploratory"}
    from crypto_analyzer_promotion._conn import redact

    assert at.sidebar.text_input(key="promo_db_path").value == redact(str(promo_db.db))


def test_filters(monkeypatch, promo_db):
    from crypto_analyzer_promotion.store_sqlite import update_status

    update_status(str(promo_db.db), promo_db.edge, "rejected", "for the test")
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    at.sidebar.selectbox(key="promo_filter_status").set_value("rejected").run()
    assert list(_table(at)["candidate_id"]) == [promo_db.edge]
    at.sidebar.selectbox(key="promo_filter_status").set_value("(all)").run()
    at.sidebar.text_input(key="promo_filter_signal").set_value("momentum_24h").run()
    assert list(_table(at)["candidate_id"]) == [promo_db.edge]
    at.sidebar.text_input(key="promo_filter_signal").set_value("").run()
    at.sidebar.text_input(key="promo_filter_dataset").set_value("no_such_dataset").run()
    assert not at.exception
    assert "No candidates match these filters" in _texts(at)


def test_select_shows_details_evidence_history_and_rc_null(monkeypatch, promo_db):
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    at.selectbox(key="promo_selected").set_value(promo_db.edge).run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    evidence = next(f for f in frames if "evidence" in f.columns)
    assert set(evidence["evidence"]) >= {"bundle_path", "rc_summary_path", "execution_evidence_path"}
    assert set(evidence["exists"]) == {"yes"}
    fields = next(f for f in frames if "field" in f.columns)
    assert dict(zip(fields["field"], fields["value"]))["candidate_id"] == promo_db.edge
    text = _texts(at)
    assert "**created**" in text  # the timeline
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2, "the event timeline, and the RC null chart when the rc_summary has null maxima"
    assert "red line: observed max" in text


def test_evaluate_records_the_decision(monkeypatch, promo_db, sql):
    _evaluate_edge_requiring_evidence(monkeypatch, promo_db)
    # c79684b: one rung, through a stored eligibility report.
    assert sql.status_of(promo_db.db, promo_db.edge) == "candidate"
    assert [k for k, _ in sql.events_of(promo_db.db, promo_db.edge)][-2:] == ["status_change", "evaluated"]
    kind, payload = sql.events_of(promo_db.db, promo_db.edge)[-1]
    assert kind == "evaluated" and payload["status"] == "accepted"
    assert payload["thresholds_used"]["require_reality_check"] is True
    assert payload["thresholds_used"]["require_execution_evidence"] is True


def test_evaluate_through_the_service_on_both_backends(monkeypatch, promo_db):
    """The page evaluates through the service on either backend (read back with the store API)."""
    from crypto_analyzer_promotion.store_sqlite import get_candidate

    _evaluate_edge_requiring_evidence(monkeypatch, promo_db)
    got = get_candidate(promo_db.db, promo_db.edge)
    assert got is not None and got["status"] == "candidate"


def test_a_password_in_the_url_is_never_rendered(monkeypatch, pg_url):
    """A server that refuses the connection: the error names the URL redacted, never the password."""
    from urllib.parse import urlsplit

    secret = "Sup3rS3cretPw"
    parts = urlsplit(pg_url)
    url = f"postgresql://{parts.username or 'u'}:{secret}@127.0.0.1:1/{parts.path.lstrip('/') or 'db'}"
    monkeypatch.setenv("CRYPTO_ANALYZER_DB_PATH", url)
    monkeypatch.delenv("CRYPTO_ANALYZER_RC_CACHE_DIR", raising=False)
    app = Path(__file__).resolve().parents[2] / "python" / "crypto_analyzer_promotion" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=60)
    at.run()
    assert not at.exception
    shown = _texts(at) + "\n" + str(at.sidebar.text_input(key="promo_db_path").value)
    assert "***" in shown, shown
    assert secret not in shown


def test_evaluate_rejection_shows_reasons_and_override_warning(monkeypatch, promo_db, sql):
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    at.selectbox(key="promo_selected").set_value(promo_db.lucky).run()
    assert not any("Override on" in w.value for w in at.warning)
    at.checkbox(key="promo_override").check().run()
    assert any("Override on" in w.value for w in at.warning)
    at.button(key="promo_evaluate").click().run()
    assert any("rejected" in e.value for e in at.error), _texts(at)
    assert "mean_ic" in _texts(at)
    assert any("allow_missing_execution_evidence" in w.value for w in at.warning)
    assert sql.status_of(promo_db.db, promo_db.lucky) == "rejected"
    _, payload = sql.events_of(promo_db.db, promo_db.lucky)[-1]
    assert payload["warnings"] == ["allow_missing_execution_evidence: execution evidence not checked"]


def test_manual_status_change_needs_a_reason(monkeypatch, promo_db, sql):
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    at.selectbox(key="promo_selected").set_value(promo_db.lucky).run()
    at.selectbox(key="promo_new_status").set_value("rejected")
    at.button(key="promo_set_status").click().run()
    assert any("reason is required" in e.value for e in at.error)
    assert sql.status_of(promo_db.db, promo_db.lucky) == "exploratory"
    at.selectbox(key="promo_new_status").set_value("rejected")
    at.text_input(key="promo_reason").set_value("looked at it by hand")
    at.button(key="promo_set_status").click().run()
    assert not at.exception
    assert sql.status_of(promo_db.db, promo_db.lucky) == "rejected"
    kind, payload = sql.events_of(promo_db.db, promo_db.lucky)[-1]
    assert kind == "status_change" and payload["reason"] == "looked at it by hand"
    assert payload["new_status"] == "rejected"
    # c79684b: candidate/accepted only through an evaluation; refused by hand, nothing written.
    n = len(sql.events_of(promo_db.db, promo_db.lucky))
    at.selectbox(key="promo_new_status").set_value("candidate")
    at.text_input(key="promo_reason").set_value("by hand")
    at.button(key="promo_set_status").click().run()
    assert any("promote_to_candidate() or promote_to_accepted()" in e.value for e in at.error), _texts(at)
    assert sql.status_of(promo_db.db, promo_db.lucky) == "rejected"
    assert len(sql.events_of(promo_db.db, promo_db.lucky)) == n


def test_missing_database_offers_initialize(monkeypatch, tmp_path, promo_db, sql):
    db = tmp_path / "sub" / "fresh.db"
    at = _app(monkeypatch, db, promo_db.app)
    assert any(w.value == TABLES_MSG for w in at.warning)
    assert not at.dataframe
    at.button(key="promo_init").click().run()
    assert not at.exception
    assert db.is_file()
    assert {"promotion_candidates", "promotion_events"} <= sql.table_names(db)
    assert "No candidates match" in _texts(at)


def test_existing_file_without_tables(monkeypatch, tmp_path, promo_db):
    db = tmp_path / "empty.db"
    db.touch()
    at = _app(monkeypatch, db, promo_db.app)
    assert any(w.value == TABLES_MSG for w in at.warning)
    assert at.button(key="promo_init")


def _embedded(db_path: str) -> None:
    from crypto_analyzer_promotion.ui import render_promotion_page

    render_promotion_page(db_path=db_path)


def test_render_promotion_page_embeds_with_a_db_path(monkeypatch, promo_db):
    monkeypatch.delenv("CRYPTO_ANALYZER_DB_PATH", raising=False)
    at = AppTest.from_function(_embedded, args=(str(promo_db.db),), default_timeout=60)
    at.run()
    assert not at.exception
    assert set(_table(at)["candidate_id"]) == {promo_db.edge, promo_db.lucky}


def test_rc_null_from_the_cache_when_the_summary_has_only_a_key(monkeypatch, promo_db, tmp_path):
    import json

    import numpy as np
    from crypto_analyzer_promotion.rc_cache import get_rc_cache_key, save_cached_null_max
    from crypto_analyzer_promotion.store_sqlite import create_candidate

    cache = tmp_path / "rc_cache"
    key = get_rc_cache_key("fam_x", "ds", "c0", "mean_ic", None, 50, 42, "stationary", 12)
    save_cached_null_max(str(cache), key, np.linspace(0.001, 0.01, 50))
    summary = tmp_path / "rc_summary.json"
    summary.write_text(json.dumps({"rc_p_value": 0.0196, "observed_max": 0.029, "cache_key": key}))
    create_candidate(
        str(promo_db.db),
        dataset_id="ds",
        run_id="r9",
        signal_name="s9",
        horizon=1,
        config_hash="c",
        git_commit="g",
        candidate_id="prom_cached",
        evidence={"rc_summary_path": str(summary)},
    )
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    at.selectbox(key="promo_selected").set_value("prom_cached").run()
    assert len(at.get("vega_lite_chart")) == 1, "only the timeline: no null without the cache folder"
    at.sidebar.text_input(key="promo_cache_dir").set_value(str(cache)).run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2
    assert f"50 simulations from cache {cache}" in _texts(at)


def test_rc_chart_shows_the_summary_s_size_warning(monkeypatch, promo_db, tmp_path):
    """An rc_summary with a measured-size warning (few blocks, docs/size_study.md): the page shows
    it under the null chart."""
    import json

    from crypto_analyzer_promotion.store_sqlite import create_candidate

    summary = tmp_path / "rc_summary.json"
    warning = "size: T / L = 250 / 12 = 20.8 blocks is below 40: the RC rejected 7.15 % …"
    summary.write_text(
        json.dumps(
            {"rc_p_value": 0.04, "observed_max": 0.02, "null_max_distribution": [0.0, 0.01], "size_warning": warning}
        )
    )
    create_candidate(
        str(promo_db.db),
        dataset_id="ds",
        run_id="r8",
        signal_name="s8",
        horizon=1,
        config_hash="c",
        git_commit="g",
        candidate_id="prom_warned",
        evidence={"rc_summary_path": str(summary)},
    )
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    at.selectbox(key="promo_selected").set_value("prom_warned").run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2
    assert warning in [w.value for w in at.warning]


def test_no_rc_chart_without_an_rc_summary(monkeypatch, promo_db):
    at = _app(monkeypatch, promo_db.db, promo_db.app)
    at.selectbox(key="promo_selected").set_value(promo_db.lucky).run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 1  # the timeline only


def test_acceptance_flow_request_reject_needs_a_reason_then_approve(monkeypatch, promo_db):
    """The Acceptance tab calls the acceptance API: a request on a passed accepted-level report,
    a rejection refused without a reason (nothing written), an approval that takes the step; on
    SQLite and PostgreSQL (as the test's owner login: see test_store_pg_governance.py for the
    role checks, which the database makes whoever calls)."""
    from crypto_analyzer_promotion import _core
    from crypto_analyzer_promotion.store_sqlite import get_candidate, get_events, promote_to_candidate

    db, cid = promo_db.db, promo_db.lucky
    ts = "2026-01-01T00:00:00+00:00"
    _core.store_insert_eligibility_report(str(db), "ui_rc", cid, "candidate", True, "[]", "[]", ts)
    promote_to_candidate(db, cid, "ui_rc")
    _core.store_insert_eligibility_report(str(db), "ui_ra", cid, "accepted", True, "[]", "[]", ts)

    at = _app(monkeypatch, db, promo_db.app)
    at.selectbox(key="promo_selected").set_value(cid).run()
    at.text_input(key="promo_acc_report").set_value("no_such_report")
    at.button(key="promo_acc_request").click().run()
    assert any("Request refused" in e.value and "no_such_report" in e.value for e in at.error), _texts(at)
    assert at.button(key="promo_acc_approve") is not None and at.button(key="promo_acc_reject") is not None
    at.text_input(key="promo_acc_report").set_value("ui_ra")
    at.text_input(key="promo_acc_req_reason").set_value("ready for review")
    at.button(key="promo_acc_request").click().run()
    assert not at.exception
    kinds = [e["event_type"] for e in get_events(db, cid)]
    assert kinds[-1] == "acceptance_requested", kinds
    n = len(kinds)

    at.button(key="promo_acc_reject").click().run()
    assert any("reason is required to reject" in e.value for e in at.error), _texts(at)
    assert len(get_events(db, cid)) == n and get_candidate(db, cid)["status"] == "candidate"

    at.text_input(key="promo_acc_answer_reason").set_value("reviewed")
    at.button(key="promo_acc_approve").click().run()
    assert not at.exception
    assert get_candidate(db, cid)["status"] == "accepted"
    approval = get_events(db, cid)[-1]
    assert [e["event_type"] for e in get_events(db, cid)][-2:] == ["status_change", "acceptance_approved"]
    assert any("acceptance_approved" in m.value for m in at.markdown), _texts(at)
    assert f"{cid}: accepted (event {approval['event_id']})" in [i.value for i in at.info], _texts(at)


def test_acceptance_answers_refused_without_a_request_then_flashed(monkeypatch, promo_db):
    """Each acceptance button shows its own refusal (nothing written) and, once taken, the flash
    naming its event: approve and reject without an open request are refused, then a request and
    a rejection are flashed with their event ids; on SQLite and PostgreSQL."""
    from crypto_analyzer_promotion import _core
    from crypto_analyzer_promotion.store_sqlite import get_candidate, get_events, promote_to_candidate

    db, cid = promo_db.db, promo_db.lucky
    ts = "2026-01-01T00:00:00+00:00"
    _core.store_insert_eligibility_report(str(db), "ui_rc", cid, "candidate", True, "[]", "[]", ts)
    promote_to_candidate(db, cid, "ui_rc")
    _core.store_insert_eligibility_report(str(db), "ui_ra", cid, "accepted", True, "[]", "[]", ts)
    n = len(get_events(db, cid))

    at = _app(monkeypatch, db, promo_db.app)
    at.selectbox(key="promo_selected").set_value(cid).run()
    at.text_input(key="promo_acc_answer_reason").set_value("not yet")
    at.button(key="promo_acc_approve").click().run()
    assert not at.exception
    assert any(
        e.value.startswith("Approval refused: ") and "no open acceptance request" in e.value for e in at.error
    ), _texts(at)
    # The refusal leaves the rest of the tab drawn, with the reason as typed: Reject works at once.
    assert at.text_input(key="promo_acc_answer_reason").value == "not yet"
    at.button(key="promo_acc_reject").click().run()
    assert not at.exception
    assert any(
        e.value.startswith("Rejection refused: ") and "no open acceptance request" in e.value for e in at.error
    ), _texts(at)
    assert len(get_events(db, cid)) == n and get_candidate(db, cid)["status"] == "candidate"

    at.text_input(key="promo_acc_report").set_value("ui_ra")
    at.button(key="promo_acc_request").click().run()
    assert not at.exception
    request = get_events(db, cid)[-1]
    assert request["event_type"] == "acceptance_requested"
    assert f"{cid}: acceptance requested (event {request['event_id']})" in [i.value for i in at.info], _texts(at)

    at.button(key="promo_acc_reject").click().run()
    assert not at.exception
    rejection = get_events(db, cid)[-1]
    assert rejection["event_type"] == "acceptance_rejected"
    assert f"{cid}: acceptance rejected (event {rejection['event_id']})" in [i.value for i in at.info], _texts(at)
    assert get_candidate(db, cid)["status"] == "rejected"
