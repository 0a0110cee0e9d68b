"""The acceptance flow of a team registry (separation of duties, docs/postgresql.md).

A researcher asks for the step to accepted on a passed accepted-level eligibility report
(:func:`request_acceptance`); an approver takes it (:func:`approve_acceptance`) or turns it down
with a reason (:func:`reject_acceptance`, the candidate becomes ``rejected``). Each step is an
event of the candidate (``acceptance_requested``, ``acceptance_approved``,
``acceptance_rejected``), the answers with their ``status_change`` event.

On PostgreSQL the database checks who: only a member of ``approver`` answers, and with
separation of duties on (the default; :func:`separation_of_duties`) not a login that created,
evaluated, changed the status of or requested the acceptance of that candidate, nor the author of
the requested report; a rejection is final unless an approver reopens the candidate; a direct
step to accepted
(``promote_to_accepted``, an evaluation at target accepted) is then refused to every login but a
superuser. On a SQLite file (one user) the same steps and events are written without a check of
who takes them, and the analyzer's direct steps are unchanged.
"""

from __future__ import annotations

from . import _core
from ._conn import ConnLike, resolve_db_path


def request_acceptance(conn: ConnLike, candidate_id: str, eligibility_report_id: str, reason: str | None = None) -> int:
    """Ask for the step to accepted of a candidate at ``candidate`` on a passed report of level
    accepted computed for it (no other request open). Returns the request's event_id."""
    return _core.store_request_acceptance(resolve_db_path(conn), candidate_id, eligibility_report_id, reason)


def approve_acceptance(conn: ConnLike, candidate_id: str, reason: str | None = None) -> int:
    """Take the requested step to accepted on the requested report. Returns the
    ``acceptance_approved`` event_id."""
    return _core.store_approve_acceptance(resolve_db_path(conn), candidate_id, reason)


def reject_acceptance(conn: ConnLike, candidate_id: str, reason: str) -> int:
    """Turn the open request down (``reason`` required); the candidate becomes ``rejected``.
    Returns the ``acceptance_rejected`` event_id."""
    return _core.store_reject_acceptance(resolve_db_path(conn), candidate_id, reason)


def separation_of_duties(conn: ConnLike) -> bool:
    """Whether the registry separates duties (PostgreSQL: its ``separation_of_duties`` setting,
    which only the owner changes; a SQLite file: False, it has no users)."""
    return _core.store_separation_of_duties(resolve_db_path(conn))


__all__ = ["request_acceptance", "approve_acceptance", "reject_acceptance", "separation_of_duties"]
