"""Promotion service: ``evaluate_and_record`` (gate a stored candidate, record the decision).

Drop-in for ``crypto_analyzer.promotion.service``. The Rust core loads the candidate and its
evidence, runs the gate, and writes the status and the ``evaluated`` event in one transaction.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _core
from ._conn import ConnLike, resolve_db_path
from .gating import (
    PromotionDecision,
    ThresholdConfig,
    _bundle_arg,
    _decision,
    _rc_arg,
    _regime_arg,
    _thresholds_arg,
    evaluate_candidate,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PathLike = str | os.PathLike[str]

#: Where the analyzer re-exports this module (see resolve_evidence below).
_ANALYZER_SERVICE_MODULE = "crypto_analyzer.promotion.service"


def resolve_evidence(
    evidence_json: dict[str, Any], evidence_base_path: PathLike | None, bundle_or_path: Any
) -> tuple[Any, Any, dict[str, Any] | None, Any]:
    """The analyzer's ``promotion.evidence_resolver.resolve_evidence``: load the bundle (an object
    is returned as is, a path is read) and the files named by ``evidence_json``
    (``ic_summary_by_regime_path``, ``rc_summary_path``, ``execution_evidence_path``).

    Returns ``(bundle, regime_summary_df, rc_summary, execution_evidence)``, each None when absent
    or unreadable. Relative paths: under ``evidence_base_path``, then the current folder, then the
    base stored in evidence_json; one climbing out of its base is not read (None).
    """
    from .execution_evidence import ExecutionEvidence
    from .validation_bundle import ValidationBundle

    base = None if evidence_base_path is None else os.fsdecode(os.fspath(evidence_base_path))
    given_object = bundle_or_path is not None and not isinstance(bundle_or_path, (str, os.PathLike))
    arg = None if bundle_or_path is None or given_object else _bundle_arg(bundle_or_path)
    b, regime, rc, ex = _core.service_resolve_evidence(dict(evidence_json or {}), base, arg)
    if given_object:
        bundle: Any = bundle_or_path
    else:
        bundle = None if b is None else ValidationBundle(**b)
    regime_df = None
    if regime is not None:
        import pandas as pd

        regime_df = pd.DataFrame(regime["rows"], columns=regime["columns"])
    execution_evidence = None if ex is None else ExecutionEvidence(**ex)
    return bundle, regime_df, rc, execution_evidence


def evidence_files(evidence_json: dict[str, Any], evidence_base_path: PathLike | None = None) -> list[dict[str, Any]]:
    """Every ``*_path`` entry of ``evidence_json`` (but ``evidence_base_path``), sorted by key, with
    the file :func:`evaluate_and_record` reads for it when given that ``evidence_base_path`` and
    the evidence's bundle path (as the CLI and the page call it).

    Each entry is ``{"key", "path", "resolved", "exists", "error"}``: ``resolved`` is None and
    ``error`` says why when a relative path climbs out of its base (never read).
    """
    base = None if evidence_base_path is None else os.fsdecode(os.fspath(evidence_base_path))
    return list(_core.service_evidence_files(dict(evidence_json or {}), base))


_RESOLVE_EVIDENCE = resolve_evidence


def _replaced_resolver() -> Callable[..., Any] | None:
    """A ``resolve_evidence`` someone put in place of ours (``unittest.mock.patch``), on this
    module or on the analyzer's module that re-exports this one; None when there is none.

    The analyzer's own tests patch ``crypto_analyzer.promotion.service.resolve_evidence`` and
    expect ``evaluate_and_record`` to go through the patched function, as its code did.
    """
    own = globals().get("resolve_evidence")
    if own is not _RESOLVE_EVIDENCE:
        return own
    mod = sys.modules.get(_ANALYZER_SERVICE_MODULE)
    if mod is not None and getattr(mod, "evaluate_and_record", None) is evaluate_and_record:
        theirs = getattr(mod, "resolve_evidence", _RESOLVE_EVIDENCE)
        if theirs is not _RESOLVE_EVIDENCE:
            return theirs
    return None


def evaluate_and_record(
    conn: ConnLike,
    candidate_id: str,
    thresholds: ThresholdConfig,
    bundle_or_path: Any,
    *,
    regime_summary_df: pd.DataFrame | None = None,
    rc_summary: dict[str, Any] | None = None,
    evidence_base_path: PathLike | None = None,
    target_status: str = "exploratory",
    allow_missing_execution_evidence: bool = False,
    expected_status: str | None = None,
) -> PromotionDecision:
    """Gate candidate ``candidate_id`` and record the decision.

    For ``target_status`` candidate/accepted a gate pass is followed by
    :func:`~crypto_analyzer_promotion.gating.evaluate_eligibility` at that level: a passed report
    is stored, linked, and the status set to the target together with the ``evaluated`` event (one
    transaction); a failed one writes nothing and returns "rejected" with the blockers as reasons.
    For target exploratory the status written is exploratory (gate passed) or rejected.

    Inputs not given are loaded from the candidate's evidence_json (``ic_summary_by_regime_path``
    CSV, ``rc_summary_path`` JSON, ``execution_evidence_path`` JSON), relative paths under
    ``evidence_base_path`` (default: the current folder) and then under the base stored in
    evidence_json. A candidate with a family_id always requires the Reality Check.
    ``bundle_or_path`` may be None to use the evidence's ``bundle_path``.
    Unknown id → "rejected", ``candidate_id not found: <id>``; unreadable bundle → "rejected",
    ``could not load ValidationBundle from path``; in both cases nothing is written.

    ``expected_status``: the status the caller chose ``target_status`` from (the next rung). If
    the stored status is another one, when read or when written (another process evaluated or
    promoted it meanwhile), ValueError "... changed status from X to Y while it was evaluated;
    evaluate again" and nothing is written. Without it, the status the service reads is the one
    the write checks. The same on SQLite and PostgreSQL.
    """
    db = resolve_db_path(conn)
    base = None if evidence_base_path is None else os.fsdecode(os.fspath(evidence_base_path))
    resolver = _replaced_resolver()
    if resolver is not None:
        return _evaluate_with_resolver(
            resolver,
            db,
            candidate_id,
            thresholds,
            bundle_or_path,
            regime_summary_df,
            rc_summary,
            base,
            target_status,
            allow_missing_execution_evidence,
            expected_status,
        )
    bundle = None if bundle_or_path is None else _bundle_arg(bundle_or_path)
    d = _core.service_evaluate_and_record(
        db,
        candidate_id,
        _thresholds_arg(thresholds),
        bundle,
        _regime_arg(regime_summary_df),
        _rc_arg(rc_summary),
        base,
        target_status,
        bool(allow_missing_execution_evidence),
        expected_status=expected_status,
    )
    return _decision(d)


def _evaluate_with_resolver(
    resolver: Callable[..., Any],
    db: str,
    candidate_id: str,
    thresholds: ThresholdConfig,
    bundle_or_path: Any,
    regime_summary_df: Any,
    rc_summary: Any,
    base: str | None,
    target_status: str,
    allow_missing_execution_evidence: bool,
    expected_status: str | None = None,
) -> PromotionDecision:
    """evaluate_and_record with the evidence loaded by a replaced ``resolve_evidence``."""
    from .store_sqlite import get_candidate

    row = get_candidate(db, candidate_id)
    if row is None:
        return PromotionDecision(status="rejected", reasons=[f"candidate_id not found: {candidate_id}"])
    try:
        evidence = json.loads(row["evidence_json"]) if row.get("evidence_json") else {}
    except ValueError:
        evidence = {}
    bundle, regime, rc, execution_evidence = resolver(evidence, base if base is not None else ".", bundle_or_path)
    if bundle is None:
        return PromotionDecision(status="rejected", reasons=["could not load ValidationBundle from path"])
    from .gating import _evidence_arg

    d = _core.service_evaluate_and_record(
        db,
        candidate_id,
        _thresholds_arg(thresholds),
        _bundle_arg(bundle),
        _regime_arg(regime_summary_df if regime_summary_df is not None else regime),
        _rc_arg(rc_summary if rc_summary is not None else rc),
        base,
        target_status,
        bool(allow_missing_execution_evidence),
        _evidence_arg(execution_evidence),
        True,
        expected_status=expected_status,
    )
    return _decision(d)


__all__ = [
    "evaluate_and_record",
    "resolve_evidence",
    "evidence_files",
    "evaluate_candidate",
    "ThresholdConfig",
    "PromotionDecision",
]
