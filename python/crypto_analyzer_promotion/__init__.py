"""Rust engine for the crypto analyzer's promotion workflow.

Public modules mirror the analyzer's own (see README): ``store_sqlite``, ``migrations_phase3``,
``gating``, ``execution_evidence``, ``service``, ``reality_check``, ``rc_cache``.
"""

from __future__ import annotations

from . import _core
from .gating import (
    EligibilityReport,
    PromotionDecision,
    ThresholdConfig,
    evaluate_candidate,
    evaluate_eligibility,
)

__version__ = _core.__version__

__all__ = [
    "__version__",
    "ThresholdConfig",
    "PromotionDecision",
    "EligibilityReport",
    "evaluate_candidate",
    "evaluate_eligibility",
]
