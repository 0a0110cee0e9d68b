"""Promotion service: ``evaluate_and_record`` (gate a stored candidate, record the decision).

Drop-in for ``crypto_analyzer.promotion.service``. The Rust core loads the candidate and its
evidence, runs the gate, and writes the status and the ``evaluated`` event in one transaction.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from ._backend import core as _core
from ._conn import ConnLike, resolve_db_path
from .gating import (
    PromotionDecision,
    ThresholdConfig,
    _bundle_arg,
    _decision,
    _regime_arg,
    _thresholds_arg,
    evaluate_candidate,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PathLike = Union[str, "os.PathLike[str]"]


def evaluate_and_record(
    conn: ConnLike,
    candidate_id: str,
    thresholds: ThresholdConfig,
    bundle_or_path: Any,
    *,
    regime_summary_df: Optional["pd.DataFrame"] = None,
    rc_summary: Optional[Dict[str, Any]] = None,
    evidence_base_path: Optional[PathLike] = None,
    target_status: str = "exploratory",
    allow_missing_execution_evidence: bool = False,
) -> PromotionDecision:
    """Gate candidate ``candidate_id`` and record the decision.

    Inputs not given are loaded from the candidate's evidence_json (``ic_summary_by_regime_path``
    CSV, ``rc_summary_path`` JSON, ``execution_evidence_path`` JSON), relative paths under
    ``evidence_base_path`` (default: the current folder) and then under the base stored in
    evidence_json. A candidate with a family_id always requires the Reality Check.
    ``bundle_or_path`` may be None to use the evidence's ``bundle_path``.
    Unknown id → "rejected", ``candidate_id not found: <id>``; unreadable bundle → "rejected",
    ``could not load ValidationBundle from path``; in both cases nothing is written.
    """
    db = resolve_db_path(conn)
    base = None if evidence_base_path is None else os.fsdecode(os.fspath(evidence_base_path))
    bundle = None if bundle_or_path is None else _bundle_arg(bundle_or_path)
    d = _core.service_evaluate_and_record(
        db,
        candidate_id,
        _thresholds_arg(thresholds),
        bundle,
        _regime_arg(regime_summary_df),
        rc_summary,
        base,
        target_status,
        bool(allow_missing_execution_evidence),
    )
    return _decision(d)


__all__ = ["evaluate_and_record", "evaluate_candidate", "ThresholdConfig", "PromotionDecision"]
