"""The Streamlit Promotion page. Every action calls the store or the service; the page only reads
widgets, calls, and shows results. No module-level mutable state: Streamlit runs each session
in its own thread, so everything lives in locals or in the session's own ``st.session_state``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from .._conn import redact
from .._views import (
    STATUSES,
    candidate_details,
    default_cache_dir,
    default_db_path,
    evaluation_inputs,
    parse_payload,
    rc_null,
)

_ALL = "(all)"
_ERRORS = (ValueError, RuntimeError, OSError, LookupError)


def _wide() -> dict[str, Any]:
    """Full-width keyword for dataframes/charts on old and new Streamlit versions."""
    try:
        major, minor = (int(x) for x in st.__version__.split(".")[:2])
    except ValueError:
        return {"use_container_width": True}
    return {"width": "stretch"} if (major, minor) >= (1, 46) else {"use_container_width": True}


def _sidebar(db_path: str | None) -> dict[str, Any]:
    sb = st.sidebar
    sb.header("Promotion")
    # The widget shows the URL redacted; left as shown, the page uses the full one.
    given = db_path or default_db_path()
    shown = redact(given)
    db = sb.text_input(
        "DB path",
        value=shown,
        key="promo_db_path",
        help="A SQLite file or a postgresql:// URL (give the password in PGPASSWORD)",
    )
    status = sb.selectbox("Status", [_ALL, *STATUSES], key="promo_filter_status")
    dataset_id = sb.text_input("dataset_id", key="promo_filter_dataset")
    signal_name = sb.text_input("signal_name", key="promo_filter_signal")
    limit = sb.number_input("Max rows", min_value=1, max_value=10_000, value=100, key="promo_filter_limit")
    cache_dir = sb.text_input("RC cache dir", value=default_cache_dir(), key="promo_cache_dir")
    if db.strip() == shown:
        db = given
    return {
        "db": db.strip(),
        "status": None if status == _ALL else status,
        "dataset_id": dataset_id.strip() or None,
        "signal_name": signal_name.strip() or None,
        "limit": int(limit),
        "cache_dir": cache_dir.strip() or None,
    }


def _database_ready(db: str) -> bool:
    """Show the analyzer's message and an Initialize button when the DB or its tables are missing."""
    from .._conn import is_postgres_url
    from ..store_sqlite import PROMOTION_TABLES_REQUIRED_MSG, init_promotion_tables, promotion_tables_exist

    server = is_postgres_url(db)
    shown = redact(db)
    exists = server or (bool(db) and Path(db).is_file())
    try:
        ready = exists and promotion_tables_exist(db)
    except _ERRORS as e:
        st.error(f"Cannot open the database {shown}: {e}")
        return False
    if ready:
        return True
    if not exists:
        st.info(f"Database not found: {db or '(empty path)'}. Initialize creates it.")
    st.warning(PROMOTION_TABLES_REQUIRED_MSG)
    if st.button("Initialize", key="promo_init", type="primary", disabled=not db):
        try:
            if not server:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            init_promotion_tables(db)
        except _ERRORS as e:
            st.error(f"Initialization failed: {e}")
            return False
        st.success(f"Promotion tables created in {shown}.")
        st.rerun()
    return False


def _candidates_table(rows: list[dict]) -> None:
    cols = ["candidate_id", "status", "signal_name", "horizon", "dataset_id", "run_id", "family_id", "created_at_utc"]
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    st.dataframe(df, hide_index=True, **_wide())


def _timeline_chart(events: list[dict]) -> None:
    """Events as points on a time axis (one row per event type), with tooltips."""
    import altair as alt

    rows = []
    for ev in events:
        payload = parse_payload(ev.get("payload_json"))
        detail = ""
        if isinstance(payload, dict):
            detail = str(payload.get("new_status") or payload.get("status") or "")
        rows.append(
            {
                "ts": ev.get("ts_utc"),
                "event": ev.get("event_type", ""),
                "detail": detail,
                "event_id": ev.get("event_id"),
            }
        )
    df = pd.DataFrame(rows)
    df["ts"] = pd.to_datetime(df["ts"], utc=True, errors="coerce", format="ISO8601")
    df = df.dropna(subset=["ts"])
    if df.empty:
        return
    chart = (
        alt.Chart(df)
        .mark_circle(size=120)
        .encode(
            x=alt.X("ts:T", title="time (UTC)"),
            y=alt.Y("event:N", title=None),
            color=alt.Color("event:N", legend=None),
            tooltip=["event_id:Q", "event:N", "detail:N", alt.Tooltip("ts:T", format="%Y-%m-%d %H:%M:%S")],
        )
    )
    st.altair_chart(chart.properties(height=40 + 30 * df["event"].nunique()), **_wide())


def _timeline(events: list[dict]) -> None:
    if events:
        _timeline_chart(events)
    lines = []
    for ev in events:
        payload = parse_payload(ev.get("payload_json"))
        kind = ev.get("event_type", "")
        detail = ""
        if isinstance(payload, dict):
            if kind == "status_change":
                old = payload.get("old_status")
                detail = f"{old + ' → ' if old else '→ '}**{payload.get('new_status')}**"
                if payload.get("reason"):
                    detail += f" — _{payload['reason']}_"
            elif kind == "evaluated":
                detail = f"decision **{payload.get('status')}**"
                if payload.get("reasons"):
                    detail += ": " + "; ".join(str(r) for r in payload["reasons"])
        lines.append(f"- `{ev.get('ts_utc')}` **{kind}** {detail}")
    st.markdown("\n".join(lines) if lines else "_no events_")
    with st.expander("Raw events"):
        st.json([{**ev, "payload_json": parse_payload(ev.get("payload_json"))} for ev in events])


def _rc_chart(null: dict) -> None:
    import altair as alt

    df = pd.DataFrame({"null_max": null["null_max"]})
    p = null.get("rc_p_value")
    obs = null.get("observed_max")
    title = "Reality Check null maxima" + (f" (p = {float(p):.4f})" if p is not None else "")
    values = [v for v in null["null_max"]] + ([float(obs)] if obs is not None else [])
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or 1e-6
    # Bins span the null AND the observed max, so the bars stay visible next to a far-away line.
    hist = (
        alt.Chart(df)
        .mark_bar(opacity=0.75)
        .encode(
            x=alt.X(
                "null_max:Q",
                bin=alt.Bin(maxbins=60, extent=[lo - pad, hi + pad]),
                title="null max_k (m*_k − m_k) per simulation",
                axis=alt.Axis(format=".3f"),
            ),
            y=alt.Y("count()", title="simulations"),
        )
    )
    layers = [hist]
    if obs is not None:
        rule_df = pd.DataFrame({"observed_max": [float(obs)]})
        layers.append(alt.Chart(rule_df).mark_rule(color="red", size=2).encode(x="observed_max:Q"))
    st.altair_chart(alt.layer(*layers).properties(title=title, height=220), **_wide())
    st.caption(
        f"{len(df)} simulations from {null['source']}; red line: observed max"
        + (f" = {float(obs):.6f}" if obs is not None else "")
    )
    if null.get("size_warning"):
        st.warning(str(null["size_warning"]))


def _evaluate_section(db: str, row: dict) -> None:
    from ..gating import ThresholdConfig
    from ..service import evaluate_and_record

    cid = row["candidate_id"]
    bundle_path, base, target = evaluation_inputs(row)
    st.markdown(
        f"Current status **{row.get('status')}**, evaluated as a move to **{target}** (so execution "
        "evidence is required unless overridden). A passing decision whose eligibility report "
        f"passes moves it to **{target}** (report stored and linked); a failing gate rejects it; "
        "a failing eligibility report changes nothing. Every write has an `evaluated` event."
    )
    c1, c2, c3 = st.columns(3)
    ic_min = c1.number_input("min mean IC", value=0.02, step=0.005, format="%.4f", key="promo_ic_min")
    t_min = c2.number_input("min t-stat", value=2.5, step=0.1, key="promo_t_min")
    require_rc = c3.checkbox(
        "Require Reality Check",
        key="promo_req_rc",
        help="A candidate with a family_id always requires it (service rule).",
    )
    max_rc_p = c3.number_input(
        "max RC p-value", value=0.05, min_value=0.0, max_value=1.0, step=0.01, format="%.3f", key="promo_max_rc_p"
    )
    require_regime = c1.checkbox("Require regime robustness", key="promo_req_regime")
    worst_min = c1.number_input(
        "worst-regime min mean IC",
        value=0.0,
        step=0.005,
        format="%.4f",
        key="promo_worst_min",
        disabled=not require_regime,
    )
    require_exec = c2.checkbox("Require execution evidence", key="promo_req_exec")
    use_liq = c2.checkbox("Set min liquidity (USD)", key="promo_use_liq")
    min_liq = c2.number_input(
        "min liquidity USD", value=1_000_000.0, step=100_000.0, key="promo_min_liq", disabled=not use_liq
    )
    use_part = c3.checkbox("Set max participation rate", key="promo_use_part")
    max_part = c3.number_input(
        "max participation rate",
        value=0.1,
        min_value=0.0,
        max_value=1.0,
        step=0.01,
        key="promo_max_part",
        disabled=not use_part,
    )
    override = st.checkbox("Override: allow missing execution evidence", key="promo_override")
    if override:
        st.warning(
            "Override on: execution evidence will NOT be checked. The decision records "
            "the warning 'allow_missing_execution_evidence' in the audit trail."
        )
    if st.button("Evaluate", key="promo_evaluate", type="primary"):
        thresholds = ThresholdConfig(
            ic_mean_min=float(ic_min),
            tstat_min=float(t_min),
            require_regime_robustness=bool(require_regime),
            worst_regime_ic_mean_min=float(worst_min) if require_regime else None,
            require_reality_check=bool(require_rc),
            max_rc_p_value=float(max_rc_p),
            require_execution_evidence=bool(require_exec),
            min_liquidity_usd_min=float(min_liq) if use_liq else None,
            max_participation_rate_max=float(max_part) if use_part else None,
        )
        try:
            decision = evaluate_and_record(
                db,
                cid,
                thresholds,
                bundle_path,
                evidence_base_path=base,
                target_status=target,
                allow_missing_execution_evidence=bool(override),
            )
        except _ERRORS as e:
            st.session_state["promo_flash"] = ("error", f"Evaluation failed: {e}")
        else:
            st.session_state["promo_flash"] = (
                "decision",
                {
                    "candidate_id": cid,
                    "status": decision.status,
                    "reasons": list(decision.reasons),
                    "warnings": list(getattr(decision, "warnings", []) or []),
                },
            )
        st.rerun()


def _status_section(db: str, row: dict) -> None:
    from ..store_sqlite import update_status

    cid = row["candidate_id"]
    c1, c2 = st.columns([1, 3])
    current = row.get("status")
    new_status = c1.selectbox(
        "New status", STATUSES, index=STATUSES.index(current) if current in STATUSES else 0, key="promo_new_status"
    )
    reason = c2.text_input("Reason (required)", key="promo_reason")
    if st.button("Change status", key="promo_set_status"):
        if cid is None or new_status is None or not reason.strip():
            st.error("A reason is required to change the status.")
            return
        try:
            update_status(db, cid, new_status, reason.strip())
        except _ERRORS as e:
            st.error(f"Status change failed: {e}")
            return
        st.session_state["promo_flash"] = ("info", f"{cid}: status set to {new_status} ({reason.strip()})")
        st.rerun()


_ACCEPTANCE_EVENTS = ("acceptance_requested", "acceptance_approved", "acceptance_rejected")


def _acceptance_action(cid: str, call: Callable[[], int], refused: str, done: str) -> None:
    """One acceptance action: ``call()``; refused, ``"<refused>: <error>"`` shows and this returns
    (the caller goes on drawing the tab, so the other buttons and the typed reasons stay); else the
    page reruns with ``"<cid>: <done> (event <id>)"`` as its flash."""
    try:
        eid = call()
    except _ERRORS as e:
        st.error(f"{refused}: {e}")
        return
    st.session_state["promo_flash"] = ("info", f"{cid}: {done} (event {eid})")
    st.rerun()


def _acceptance_section(db: str, row: dict, events: list[dict]) -> None:
    """The acceptance flow (docs/postgresql.md, separation of duties): a researcher asks for the
    step to accepted on a report, an approver approves or rejects with a reason. The page only
    calls :mod:`..acceptance`; who may answer, and whether a request is open, the store decides
    (on PostgreSQL, the database, by the login)."""
    from .. import acceptance

    cid = row["candidate_id"]
    try:
        separated = acceptance.separation_of_duties(db)
    except _ERRORS as e:
        st.error(f"Cannot read the registry's settings: {e}")
        return
    st.caption(
        "Separation of duties is **on**: the step to accepted is an approver's answer to a request, "
        "never from a login that created, evaluated, moved or requested it or wrote its report."
        if separated
        else "Separation of duties is off (a SQLite file has no users): the steps are recorded as events, "
        "without a check of who takes them."
    )
    flow = [ev for ev in events if ev.get("event_type") in _ACCEPTANCE_EVENTS]
    if flow:
        st.markdown(
            "\n".join(
                f"- `{ev.get('ts_utc')}` **{ev.get('event_type')}** {parse_payload(ev.get('payload_json'))}"
                for ev in flow
            )
        )
    # The report of the latest event that names one (an evaluation's), as a starting value only.
    suggested = ""
    for ev in reversed(events):
        payload = parse_payload(ev.get("payload_json"))
        if isinstance(payload, dict) and isinstance(payload.get("eligibility_report_id"), str):
            suggested = payload["eligibility_report_id"]
            break
    st.subheader("Request acceptance")
    report = st.text_input("Eligibility report id (passed, level accepted)", value=suggested, key="promo_acc_report")
    req_reason = st.text_input("Reason (optional)", key="promo_acc_req_reason")
    if st.button("Request acceptance", key="promo_acc_request"):
        if not report.strip():
            st.error("An eligibility report id is required to request acceptance.")
        else:
            _acceptance_action(
                cid,
                lambda: acceptance.request_acceptance(db, cid, report.strip(), req_reason.strip() or None),
                "Request refused",
                "acceptance requested",
            )
    # A refusal above leaves the answers drawn: a widget not drawn in a run loses its state.
    st.subheader("Answer a request (approvers)")
    answer = st.text_input("Reason (required to reject)", key="promo_acc_answer_reason")
    c1, c2 = st.columns(2)
    if c1.button("Approve", key="promo_acc_approve", type="primary"):
        _acceptance_action(
            cid, lambda: acceptance.approve_acceptance(db, cid, answer.strip() or None), "Approval refused", "accepted"
        )
    if c2.button("Reject", key="promo_acc_reject"):
        if not answer.strip():
            st.error("A reason is required to reject an acceptance request.")
        else:
            _acceptance_action(
                cid,
                lambda: acceptance.reject_acceptance(db, cid, answer.strip()),
                "Rejection refused",
                "acceptance rejected",
            )


def _flash() -> None:
    flash = st.session_state.pop("promo_flash", None)
    if not flash:
        return
    kind, payload = flash
    if kind == "decision":
        text = f"Decision for {payload['candidate_id']}: **{payload['status']}**"
        (st.success if payload["status"] in ("accepted", "candidate") else st.error)(text)
        for r in payload["reasons"]:
            st.markdown(f"- {r}")
        for w in payload["warnings"]:
            st.warning(w)
    elif kind == "error":
        st.error(payload)
    else:
        st.info(payload)


def render_promotion_page(db_path: str | None = None) -> None:
    """Draw the Promotion page (sidebar filters, candidates, details, evaluate, status change,
    the acceptance flow)."""
    from ..store_sqlite import get_events, list_candidates

    opts = _sidebar(db_path)
    st.title("Promotion candidates")
    db = opts["db"]
    if not _database_ready(db):
        return
    _flash()
    try:
        rows = list_candidates(
            db,
            status=opts["status"],
            dataset_id=opts["dataset_id"],
            signal_name=opts["signal_name"],
            limit=opts["limit"],
        )
    except _ERRORS as e:
        st.error(f"Cannot list candidates: {e}")
        return
    st.caption(f"{len(rows)} candidate(s) in {redact(db)}")
    if not rows:
        st.info(
            "No candidates match these filters. Create some with "
            "`crypto-analyzer-promotion create ...` or run `make demo`."
        )
        return
    _candidates_table(rows)

    labels = {
        r["candidate_id"]: f"{r['candidate_id']} · {r.get('signal_name')} h{r.get('horizon')} · {r.get('status')}"
        for r in rows
    }
    cid = st.selectbox("Candidate", list(labels), format_func=lambda c: labels.get(c, str(c)), key="promo_selected")
    if cid is None:
        return
    try:
        details = candidate_details(db, cid)
        events = list(get_events(db, cid)) if details else []
    except _ERRORS as e:
        st.error(f"Cannot read candidate {cid}: {e}")
        return
    if details is None:
        st.warning(f"Candidate not found: {cid}")
        return
    row = details["candidate"]

    tab_details, tab_events, tab_eval, tab_status, tab_accept = st.tabs(
        ["Details", "History", "Evaluate", "Status", "Acceptance"]
    )
    with tab_details:
        c1, c2 = st.columns(2)
        with c1:
            st.subheader("Candidate")
            st.dataframe(
                pd.DataFrame(
                    {
                        "field": [k for k in row if k != "evidence_json"],
                        "value": [str(row[k]) for k in row if k != "evidence_json"],
                    }
                ),
                hide_index=True,
                **_wide(),
            )
        with c2:
            st.subheader("Metrics snapshot")
            st.json(details["metrics_snapshot"] or {})
            dec = details["last_decision"]
            if dec:
                st.markdown(f"Last decision: **{dec.get('status')}** at `{dec.get('ts_utc')}`")
        st.subheader("Evidence")
        files = details["evidence_files"]
        if files:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "evidence": f["key"],
                            "path": f["path"],
                            "exists": "yes" if f["exists"] else ("REFUSED" if f.get("error") else "MISSING"),
                            "resolved": f["resolved"],
                        }
                        for f in files
                    ]
                ),
                hide_index=True,
                **_wide(),
            )
        else:
            st.caption("No evidence paths recorded.")
        null = None
        try:
            null = rc_null(details["evidence"], opts["cache_dir"])
        except _ERRORS as e:
            st.caption(f"RC null not available: {e}")
        if null:
            _rc_chart(null)
    with tab_events:
        _timeline(events)
    with tab_eval:
        _evaluate_section(db, row)
    with tab_status:
        _status_section(db, row)
    with tab_accept:
        _acceptance_section(db, row, events)
