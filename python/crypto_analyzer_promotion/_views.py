"""What the CLI (``show``, ``events``, ``evaluate``) and the Streamlit page both read: the default
database and cache folders, the statuses, and read-only views of a candidate.

Neither the CLI nor ``ui/`` is imported here, and they do not import each other: both import
this module. No Streamlit import, no business rules: these read the store, parse JSON the store
wrote and ask the engine which evidence files evaluation reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import _core

#: The four statuses, from the core.
STATUSES = list(_core.STATUSES)
DB_ENV = "CRYPTO_ANALYZER_DB_PATH"
CACHE_DIR_ENV = "CRYPTO_ANALYZER_RC_CACHE_DIR"


def default_db_path() -> str:
    """``$CRYPTO_ANALYZER_DB_PATH``, else ``reports/crypto_analyzer.db`` (as the analyzer's CLI)."""
    return os.environ.get(DB_ENV) or str(Path("reports") / "crypto_analyzer.db")


def default_cache_dir() -> str:
    """``$CRYPTO_ANALYZER_RC_CACHE_DIR``, else ``reports/rc_cache``."""
    return os.environ.get(CACHE_DIR_ENV) or str(Path("reports") / "rc_cache")


def parse_payload(raw: Any) -> Any:
    """An event's payload_json as a dict ({} when NULL; the raw text if it is not JSON)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, (dict, list)):
        return raw
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def evidence_of(row: dict) -> dict:
    """The candidate's evidence_json as a dict ({} when missing or not an object)."""
    ev = parse_payload(row.get("evidence_json"))
    return ev if isinstance(ev, dict) else {}


def bundle_path(evidence: dict) -> str:
    """The bundle evaluation reads: evidence ``bundle_path``, else ``validation_bundle_path``."""
    return str(evidence.get("bundle_path") or evidence.get("validation_bundle_path") or "")


def evidence_base(evidence: dict) -> str | None:
    """The evidence base evaluation uses: the one stored in evidence_json, else the bundle's folder."""
    bundle = bundle_path(evidence)
    return evidence.get("evidence_base_path") or (str(Path(bundle).parent) if bundle else None)


def evidence_files(evidence: dict) -> list[dict]:
    """Every ``*_path`` entry of the evidence with the file evaluation reads for it (the engine's
    resolution: :func:`crypto_analyzer_promotion.service.evidence_files`) and whether it exists."""
    from .service import evidence_files as _files

    return _files(evidence, evidence_base(evidence))


def evaluation_inputs(row: dict) -> tuple[str, str | None, str]:
    """(bundle path, evidence base path, target status) for evaluating a stored candidate.

    The same choice as the analyzer's CLI: the bundle from evidence ``bundle_path`` (or
    ``validation_bundle_path``); target "candidate" from exploratory, else "accepted". The base is
    the one stored in evidence_json when there is one, else the bundle's folder.
    """
    evidence = evidence_of(row)
    return bundle_path(evidence), evidence_base(evidence), _core.status_evaluation_target(row.get("status"))


def last_decision(events: list[dict]) -> dict | None:
    """The payload of the newest ``evaluated`` event (with its ts_utc), or None."""
    for ev in reversed(events):
        if ev.get("event_type") == "evaluated":
            payload = parse_payload(ev.get("payload_json"))
            out = dict(payload) if isinstance(payload, dict) else {"payload": payload}
            out["ts_utc"] = ev.get("ts_utc")
            return out
    return None


def candidate_details(db: Any, candidate_id: str) -> dict | None:
    """Row, evidence (with file existence), metrics snapshot, last decision; None if unknown."""
    from .store_sqlite import get_candidate, get_events

    row = get_candidate(db, candidate_id)
    if row is None:
        return None
    evidence = evidence_of(row)
    events = list(get_events(db, candidate_id))
    decision = last_decision(events)
    snapshot = (decision or {}).get("metrics_snapshot") or evidence.get("metrics_snapshot") or {}
    return {
        "candidate": dict(row),
        "evidence": evidence,
        "evidence_files": evidence_files(evidence),
        "metrics_snapshot": snapshot,
        "last_decision": decision,
        "n_events": len(events),
    }


def rc_null(evidence: dict, cache_dir: str | os.PathLike | None = None) -> dict | None:
    """The RC null maxima for a candidate, when available.

    From the rc_summary file named in the evidence: its ``null_max_distribution`` if present,
    else the cached null of its ``cache_key`` (in its ``cache_dir`` or the given one). Returns
    {null_max, observed_max, rc_p_value, source, size_warning} or None (size_warning: the
    summary's measured-size warning, docs/size_study.md).
    """
    entry = next((e for e in evidence_files(evidence) if e["key"] == "rc_summary_path"), None)
    if entry is None or not entry["exists"]:
        return None
    f = Path(entry["resolved"])
    try:
        summary = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict):
        return None
    null = summary.get("null_max_distribution")
    source = str(f)
    if not null and summary.get("cache_key"):
        from .rc_cache import load_cached_null_max

        for d in (summary.get("cache_dir"), cache_dir):
            if d and Path(d).is_dir():
                arr = load_cached_null_max(str(d), str(summary["cache_key"]))
                if arr is not None:
                    null, source = [float(x) for x in arr], f"cache {d}"
                    break
    if not null:
        return None
    values = [float(x) for x in null if x is not None]
    return {
        "null_max": values,
        "observed_max": summary.get("observed_max"),
        "rc_p_value": summary.get("rc_p_value"),
        "source": source,
        "size_warning": summary.get("size_warning") if isinstance(summary.get("size_warning"), str) else None,
    }
