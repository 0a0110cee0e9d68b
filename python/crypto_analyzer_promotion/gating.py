"""Promotion gate: ``evaluate_candidate(bundle, thresholds, ...)`` → :class:`PromotionDecision`.

Drop-in for ``crypto_analyzer.promotion.gating``. The rules run in Rust; this module holds the
dataclasses and converts inputs (a bundle object, dict or path; a pandas DataFrame) for the core.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import _core

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ._core import EligibilityLevel, Status
    from .execution_evidence import ExecutionEvidence
else:
    # The stubs' Literal types, built from the core's lists (typing.get_type_hints resolves them).
    Status = Literal[tuple(_core.STATUSES)]
    EligibilityLevel = Literal[tuple(_core.ELIGIBILITY_LEVELS)]

#: Minimum number of regimes (other than "unknown") when require_regime_robustness is True.
MIN_REGIMES_WITH_SAMPLES = 2

PathLike = str | os.PathLike[str]


@dataclass
class ThresholdConfig:
    """Minimum evidence thresholds. Regime robustness, Reality Check and execution evidence are opt-in."""

    ic_mean_min: float = 0.02
    tstat_min: float = 2.5
    p_value_max: float = 0.05
    deflated_sharpe_min: float | None = 1.0
    require_regime_robustness: bool = False
    worst_regime_ic_mean_min: float | None = None
    require_reality_check: bool = False
    max_rc_p_value: float = 0.05
    require_execution_evidence: bool = False
    min_liquidity_usd_min: float | None = None
    max_participation_rate_max: float | None = None


@dataclass
class PromotionDecision:
    """Result of the gate. ``warnings`` are recorded for audit and never cause a rejection."""

    status: Status
    reasons: list[str] = field(default_factory=list)
    metrics_snapshot: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class EligibilityReport:
    """Result of :func:`evaluate_eligibility`; persisted before a promotion to candidate/accepted."""

    passed: bool
    level: EligibilityLevel
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    run_key: str = ""
    run_instance_id: str = ""
    dataset_id_v2: str = ""
    engine_version: str = ""
    config_version: str = ""


#: Bundle attributes read when ``meta`` lacks the key (as the analyzer's getattr fallback).
_ELIGIBILITY_ATTRS = (
    "dataset_id_v2",
    "dataset_hash_algo",
    "dataset_hash_mode",
    "run_key",
    "engine_version",
    "config_version",
    "research_spec_version",
)

_THRESHOLD_FIELDS = tuple(f.name for f in dataclasses.fields(ThresholdConfig))
#: The bundle's fields (written once, in the core).
_BUNDLE_ATTRS = tuple(_core.VALIDATION_BUNDLE_FIELDS)
_EVIDENCE_FIELDS = tuple(_core.EXECUTION_EVIDENCE_FIELDS)


def _thresholds_arg(thresholds: Any) -> dict[str, Any]:
    if thresholds is None:
        return {}
    if isinstance(thresholds, Mapping):
        return dict(thresholds)
    out = {name: getattr(thresholds, name) for name in _THRESHOLD_FIELDS if hasattr(thresholds, name)}
    if not out:
        # An object with none of the fields (a number, a string...) is a mistake, not "defaults".
        raise TypeError(
            f"thresholds must be a ThresholdConfig (or a mapping of its fields), got {type(thresholds).__name__}"
        )
    return out


def _bundle_arg(bundle: Any) -> str | dict[str, Any]:
    """A path (str), or the bundle's attributes as a dict (any object with the analyzer's names)."""
    if isinstance(bundle, (str, os.PathLike)):
        return os.fsdecode(os.fspath(bundle))
    if isinstance(bundle, Mapping):
        return dict(bundle)
    out: dict[str, Any] = {}
    extra = getattr(bundle, "extra", None)
    if isinstance(extra, Mapping):
        out.update(extra)
    for name in _BUNDLE_ATTRS + _ELIGIBILITY_ATTRS:
        if hasattr(bundle, name):
            out[name] = getattr(bundle, name)
    return out


def _plain_mapping(value: Any) -> Any:
    """A pandas Series (the analyzer's ``rw_adjusted_p_values``) as the dict it stands for."""
    if hasattr(value, "to_dict") and hasattr(value, "index") and not isinstance(value, Mapping):
        return value.to_dict()
    return value


def _rc_arg(rc_summary: Any) -> Any:
    if isinstance(rc_summary, Mapping):
        return {k: _plain_mapping(v) for k, v in rc_summary.items()}
    return rc_summary


def _eligibility_bundle_arg(bundle: Any) -> str | dict[str, Any]:
    """A path, or ``{"meta", "run_id", "attrs"}`` read off a bundle object or dict."""
    if isinstance(bundle, (str, os.PathLike)):
        return os.fsdecode(os.fspath(bundle))
    if isinstance(bundle, Mapping):
        get = bundle.get
    else:

        def get(name: str, default: Any = None) -> Any:
            return getattr(bundle, name, default)

    meta = get("meta", None) or {}
    if isinstance(meta, Mapping):
        meta = {k: _plain_mapping(v) for k, v in meta.items()}
    attrs = {name: get(name) for name in _ELIGIBILITY_ATTRS if get(name, None) is not None}
    return {"meta": meta, "run_id": get("run_id", "") or "", "attrs": attrs}


def _regime_arg(regime_summary_df: Any) -> None | str | dict[str, Any]:
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
    columns: list[str] = []
    for r in rows:
        for k in r:
            if str(k) not in columns:
                columns.append(str(k))
    return {"columns": columns, "rows": [{str(k): v for k, v in r.items()} for r in rows]}


def _evidence_arg(execution_evidence: Any) -> dict[str, Any] | None:
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
    regime_summary_df: pd.DataFrame | None = None,
    rc_summary: dict[str, Any] | None = None,
    execution_evidence: ExecutionEvidence | None = None,
    target_status: str = "exploratory",
    allow_missing_execution_evidence: bool = False,
    execution_evidence_base_path: PathLike | None = None,
) -> PromotionDecision:
    """Deterministic promotion gate (rules and messages: see docs/api.md).

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
        _rc_arg(rc_summary),
        _evidence_arg(execution_evidence),
        target_status,
        bool(allow_missing_execution_evidence),
        base,
    )
    return _decision(d)


def evaluate_eligibility(
    bundle: Any,
    level: EligibilityLevel,
    rc_summary: dict[str, Any] | None = None,
) -> EligibilityReport:
    """Eligibility of ``bundle`` for promotion ``level`` (rules and messages: see the README).

    Exploratory only warns; candidate/accepted fail closed on missing provenance (dataset_id_v2,
    STRICT sqlite_logical_v2 dataset hash, run_key, engine_version, config_version), schema
    versions (bundle, seed, RC summary), null-simulation shortfall, Romano–Wolf integrity and,
    when walk-forward was used, the fold-causality attestation. ``bundle`` is a ValidationBundle,
    any object with its attributes, a dict, or a path to the bundle JSON. An unknown level is a
    ValueError.
    """
    d = _core.gating_evaluate_eligibility(_eligibility_bundle_arg(bundle), level, _rc_arg(rc_summary))
    return EligibilityReport(
        passed=bool(d["passed"]),
        level=d["level"],
        blockers=list(d["blockers"]),
        warnings=list(d["warnings"]),
        run_key=d["run_key"],
        run_instance_id=d["run_instance_id"],
        dataset_id_v2=d["dataset_id_v2"],
        engine_version=d["engine_version"],
        config_version=d["config_version"],
    )


__all__ = [
    "MIN_REGIMES_WITH_SAMPLES",
    "ThresholdConfig",
    "PromotionDecision",
    "EligibilityReport",
    "evaluate_candidate",
    "evaluate_eligibility",
]
