"""Promotion store: candidates and their append-only event log (SQLite, written from Rust).

Drop-in for ``crypto_analyzer.promotion.store_sqlite``. Every function takes ``conn`` first: a
``sqlite3.Connection`` to a file database (its open transaction is committed first) or a path.
Rows come back as dicts keyed by column name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from . import _core
from ._conn import ConnLike, resolve_db_path
from .migrations_phase3 import run_migrations_phase3

PathLike = str | os.PathLike[str]

PROMOTION_TABLES_REQUIRED_MSG: str = _core.PROMOTION_TABLES_REQUIRED_MSG
#: ValueError text of update_status for status candidate/accepted (the analyzer's).
PROMOTE_WITH_REPORT_MSG: str = _core.PROMOTE_WITH_REPORT_MSG
#: The statuses a candidate may have.
VALID_STATUSES = tuple(_core.VALID_STATUSES)


def _opt_path(p: PathLike | None) -> str | None:
    return None if p is None else os.fsdecode(os.fspath(p))


def promotion_tables_exist(conn: ConnLike) -> bool:
    """True when promotion_candidates and promotion_events exist."""
    return bool(_core.store_promotion_tables_exist(resolve_db_path(conn)))


def require_promotion_tables(conn: ConnLike) -> None:
    """Raise RuntimeError(PROMOTION_TABLES_REQUIRED_MSG) unless the promotion tables exist."""
    _core.store_require_promotion_tables(resolve_db_path(conn))


def init_promotion_tables(db_path: ConnLike) -> None:
    """Create the promotion tables (runs the Phase 3 migrations; idempotent)."""
    run_migrations_phase3(db_path)


def create_candidate(
    conn: ConnLike,
    *,
    dataset_id: str,
    run_id: str,
    signal_name: str,
    horizon: int,
    config_hash: str,
    git_commit: str,
    family_id: str | None = None,
    estimator: str | None = None,
    notes: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    status: str = "exploratory",
    candidate_id: str | None = None,
    evidence_base_path: PathLike | None = None,
    eligibility_report_id: str | None = None,
) -> str:
    """Insert a candidate and its ``created`` event in one transaction; return its id.

    The default id is ``"prom_"`` + the first 16 hex digits of
    sha256(f"{run_id}|{signal_name}|{horizon}|{created_at_utc}"). evidence_json is canonical JSON
    (sorted keys, floats rounded to 10 digits, NaN → null); absolute paths under
    ``evidence_base_path`` are stored relative to it and the base is kept under the key
    ``evidence_base_path``. Status candidate/accepted needs ``eligibility_report_id`` naming a
    passed report of that level computed for this candidate (the database's triggers refuse
    anything else), so new candidates are normally created exploratory and promoted with
    :func:`promote_to_candidate` / :func:`promote_to_accepted`.
    """
    return _core.store_create_candidate(
        resolve_db_path(conn),
        dataset_id=dataset_id,
        run_id=run_id,
        signal_name=signal_name,
        horizon=horizon,
        config_hash=config_hash,
        git_commit=git_commit,
        family_id=family_id,
        estimator=estimator,
        notes=notes,
        evidence=evidence,
        status=status,
        candidate_id=candidate_id,
        evidence_base_path=_opt_path(evidence_base_path),
        eligibility_report_id=eligibility_report_id,
    )


def create_candidates_many(
    conn: ConnLike,
    rows: Iterable[Mapping[str, Any]],
    *,
    evidence_base_path: PathLike | None = None,
) -> list[str]:
    """Create many candidates (each a dict of create_candidate's keyword arguments) and their
    ``created`` events in ONE transaction: all or nothing. Returns the ids in order."""
    return list(
        _core.store_create_candidates_many(
            resolve_db_path(conn), [dict(r) for r in rows], _opt_path(evidence_base_path)
        )
    )


def update_status(
    conn: ConnLike,
    candidate_id: str,
    status: str,
    reason: str | None = None,
    *,
    eligibility_report_id: str | None = None,
) -> None:
    """Set the status and write a ``status_change`` event
    ``{new_status, old_status, ts_utc, reason?}`` in one transaction.

    Only exploratory and rejected: candidate/accepted → ValueError(PROMOTE_WITH_REPORT_MSG); use
    :func:`promote_to_candidate` / :func:`promote_to_accepted`. Unknown status or candidate id →
    ValueError. Nothing is written when an error is raised. ``eligibility_report_id`` is accepted
    for the analyzer's signature and not used (as there).
    """
    del eligibility_report_id
    _core.store_update_status(resolve_db_path(conn), candidate_id, status, reason)


def insert_eligibility_report(
    conn: ConnLike,
    eligibility_report_id: str,
    candidate_id: str,
    level: str,
    passed: bool,
    blockers_json: str,
    warnings_json: str,
    computed_at_utc: str,
    *,
    run_key: str | None = None,
    run_instance_id: str | None = None,
    dataset_id_v2: str | None = None,
    engine_version: str | None = None,
    config_version: str | None = None,
) -> None:
    """Store one eligibility report (one transaction; the row is immutable afterwards).

    ``blockers_json`` / ``warnings_json`` are JSON texts of lists of strings; a passed report has
    no blockers and a failed one at least one. Unknown level (exploratory, candidate, accepted),
    unknown candidate id, duplicate report id or malformed JSON → ValueError; table missing
    (migrations 008+ not run) → RuntimeError. Nothing is written when an error is raised.
    """
    _core.store_insert_eligibility_report(
        resolve_db_path(conn),
        eligibility_report_id,
        candidate_id,
        level,
        passed,
        blockers_json,
        warnings_json,
        computed_at_utc,
        run_key,
        run_instance_id,
        dataset_id_v2,
        engine_version,
        config_version,
    )


def promote_to_candidate(
    conn: ConnLike, candidate_id: str, eligibility_report_id: str, reason: str | None = None
) -> None:
    """Set status candidate and link the report, with the ``status_change`` event
    ``{new_status, old_status, eligibility_report_id, ts_utc, reason?}``, in one transaction.

    The report must exist, have passed, be of level candidate and have been computed for THIS
    candidate; otherwise, or for an unknown candidate id, ValueError and nothing written.
    """
    _core.store_promote(resolve_db_path(conn), candidate_id, "candidate", eligibility_report_id, reason)


def promote_to_accepted(
    conn: ConnLike, candidate_id: str, eligibility_report_id: str, reason: str | None = None
) -> None:
    """Like :func:`promote_to_candidate` for status accepted (a passed report of level accepted).
    Possible from any status (the one-rung rule lives in the service)."""
    _core.store_promote(resolve_db_path(conn), candidate_id, "accepted", eligibility_report_id, reason)


def get_eligibility_reports(conn: ConnLike, candidate_id: str) -> list[dict[str, Any]]:
    """The eligibility reports stored for a candidate (all columns), oldest first; [] before
    migration 008."""
    return _core.store_get_eligibility_reports(resolve_db_path(conn), candidate_id)


def record_event(conn: ConnLike, candidate_id: str, event_type: str, payload: Mapping[str, Any] | None = None) -> int:
    """Append an event (payload_json canonical JSON, NULL when the payload is empty).
    Returns the new event_id. Unknown candidate id → ValueError."""
    return int(_core.store_record_event(resolve_db_path(conn), candidate_id, event_type, payload))


def list_candidates(
    conn: ConnLike,
    status: str | None = None,
    dataset_id: str | None = None,
    signal_name: str | None = None,
    limit: int | None = 100,
) -> list[dict[str, Any]]:
    """Candidates matching every given filter, newest ``created_at_utc`` first, at most ``limit``."""
    return _core.store_list_candidates(resolve_db_path(conn), status, dataset_id, signal_name, limit)


def get_candidate(conn: ConnLike, candidate_id: str) -> dict[str, Any] | None:
    """The candidate row (all columns) or None."""
    return _core.store_get_candidate(resolve_db_path(conn), candidate_id)


def get_events(conn: ConnLike, candidate_id: str) -> list[dict[str, Any]]:
    """Events of a candidate (event_id, candidate_id, ts_utc, event_type, payload_json),
    ascending event_id."""
    return _core.store_get_events(resolve_db_path(conn), candidate_id)


def canonical_json(obj: Any) -> str:
    """The canonical JSON text the store writes for ``obj`` (equal to
    ``json.dumps(round_floats(obj), sort_keys=True, separators=(",", ":"))``)."""
    return _core.store_canonical_json(obj)


__all__ = [
    "PROMOTION_TABLES_REQUIRED_MSG",
    "VALID_STATUSES",
    "promotion_tables_exist",
    "require_promotion_tables",
    "init_promotion_tables",
    "create_candidate",
    "create_candidates_many",
    "update_status",
    "insert_eligibility_report",
    "promote_to_candidate",
    "promote_to_accepted",
    "get_eligibility_reports",
    "PROMOTE_WITH_REPORT_MSG",
    "record_event",
    "list_candidates",
    "get_candidate",
    "get_events",
    "canonical_json",
]
