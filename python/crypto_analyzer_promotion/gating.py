"""Promotion gate: ``evaluate_candidate(bundle, thresholds, ...)`` → :class:`PromotionDecision`.

Drop-in for ``crypto_analyzer.promotion.gating``. The rules run in Rust; this module holds the
dataclasses and converts inputs (a bundle object, dict or path; a pandas DataFrame) for the core.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Optional, Union

from . import _core

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .execution_evidence import ExecutionEvidence

#: Minimum number of regimes (other than "unknown") when require_regime_robustness is True.
MIN_REGIMES_WITH_SAMPLES = 2

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class ThresholdConfig:
    """Minimum evidence thresholds. Regime robustness, Reality Check and execution evidence are opt-in."""

    ic_mean_min: float = 0.02
    tstat_min: float = 2.5
    p_value_max: float = 0.05
    deflated_sharpe_min: Optional[float] = 1.0
    require_regime_robustness: bool = False
    worst_regime_ic_mean_min: Optional[float] = None
    require_reality_check: bool = False
    max_rc_p_value: float = 0.05
    require_execution_evidence: bool = False
    min_liquidity_usd_min: Optional[float] = None
    max_participation_rate_max: Optional[float] = None


@dataclass
class PromotionDecision:
    """Result of the gate. ``warnings`` are recorded for audit and never cause a rejection."""

    status: Literal["exploratory", "candidate", "accepted", "rejected"]
    reasons: List[str] = field(default_factory=list)
    metrics_snapshot: Dict[str, Any] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)


_THRESHOLD_FIELDS = tuple(f.name for f in dataclasses.fields(ThresholdConfig))
_BUNDLE_ATTRS = (
    "run_id", "dataset_id", "signal_name", "freq", "horizons", "ic_summary_by_horizon",
    "ic_decay_table", "meta", "ic_series_path_by_horizon", "ic_decay_path", "turnover_path",
    "gross_returns_path", "net_returns_path",
)
_EVIDENCE_FIELDS = (
    "min_liquidity_usd", "max_participation_rate", "spread_model", "impact_model",
    "capacity_curve_path", "cost_config", "notes",
)


def _thresholds_arg(thresholds: Any) -> Dict[str, Any]:
    if thresholds is None:
        return {}
    if isinstance(thresholds, Mapping):
        return dict(thresholds)
    return {name: getattr(thresholds, name) for name in _THRESHOLD_FIELDS if hasattr(thresholds, name)}


def _bundle_arg(bundle: Any) -> Union[str, Dict[str, Any]]:
    """A path (str), or the bundle's attributes as a dict (any object with the analyzer's names)."""
    if isinstance(bundle, (str, os.PathLike)):
        return os.fsdecode(os.fspath(bundle))
    if isinstance(bundle, Mapping):
        return dict(bundle)
    out: Dict[str, Any] = {}
    extra = getattr(bundle, "extra", None)
    if isinstance(extra, Mapping):
        out.update(extra)
    for name in _BUNDLE_ATTRS:
        if hasattr(bundle, name):
            out[name] = getattr(bundle, name)
    return out


def _regime_arg(regime_summary_df: Any) -> Union[None, str, Dict[str, Any]]:
    """A DataFrame (or a list of row dicts) as columns + row records, or a CSV path."""
    if regime_summary_df is None:
        return None
    if isinstance(regime_summary_df, (str, os.PathLike)):
        return os.fsdecode(os.fspath(regime_summary_df))
    if hasattr(regime_summary_df, "columns") and hasattr(regime_summary_df, "to_dict"):
        return {
            "columns": [str(c) for c in regime_summary_df.columns],
            "rows": [{str(k): v for k, v in row.items()} for row in regime_summary_df.to_dict(orient="records")],
        }
    rows = [dict(r) for r in regime_summary_df]
    columns: List[str] = []
    for r in rows:
        for k in r:
            if str(k) not in columns:
                columns.append(str(k))
    return {"columns": columns, "rows": [{str(k): v for k, v in r.items()} for r in rows]}


def _evidence_arg(execution_evidence: Any) -> Optional[Dict[str, Any]]:
    if execution_evidence is None:
        return None
    if isinstance(execution_evidence, Mapping):
        from .execution_evidence import ExecutionEvidence

        execution_evidence = ExecutionEvidence.from_dict(execution_evidence)
    return {name: getattr(execution_evidence, name, None) for name in _EVIDENCE_FIELDS}


def _decision(d: Mapping[str, Any]) -> PromotionDecision:
    return PromotionDecision(
        status=d["status"],
        reasons=list(d["reasons"]),
        metrics_snapshot=dict(d["metrics_snapshot"]),
        warnings=list(d["warnings"]),
    )


def evaluate_candidate(
    bundle: Any,
    thresholds: ThresholdConfig,
    regime_summary_df: Optional["pd.DataFrame"] = None,
    rc_summary: Optional[Dict[str, Any]] = None,
    execution_evidence: Optional["ExecutionEvidence"] = None,
    target_status: str = "exploratory",
    allow_missing_execution_evidence: bool = False,
    execution_evidence_base_path: Optional[PathLike] = None,
) -> PromotionDecision:
    """Deterministic promotion gate (rules and messages: see the README and the contract).

    ``bundle`` is a ValidationBundle (the analyzer's or this package's), any object with the same
    attributes, a dict, or a path to the bundle JSON (an unreadable path gives a "rejected"
    decision with reason ``could not load ValidationBundle from path``). ``regime_summary_df`` is a
    DataFrame with columns regime, mean_ic (optionally n_bars), a list of row dicts, or a CSV path.
    """
    base = None if execution_evidence_base_path is None else os.fsdecode(os.fspath(execution_evidence_base_path))
    d = _core.gating_evaluate_candidate(
        _bundle_arg(bundle),
        _thresholds_arg(thresholds),
        _regime_arg(regime_summary_df),
        rc_summary,
        _evidence_arg(execution_evidence),
        target_status,
        bool(allow_missing_execution_evidence),
        base,
    )
    return _decision(d)


__all__ = ["MIN_REGIMES_WITH_SAMPLES", "ThresholdConfig", "PromotionDecision", "evaluate_candidate"]
