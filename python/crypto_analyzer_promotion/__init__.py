"""Rust engine for the crypto analyzer's promotion workflow.

Public modules mirror the analyzer's own (see README): ``store_sqlite``, ``migrations_phase3``,
``gating``, ``execution_evidence``, ``service``, ``reality_check``, ``rc_cache``.
"""

from __future__ import annotations

from . import _core, _sqlite

# Before any store use: run the store on the SQLite of Python's own sqlite3 (docs/sqlite.md).
_sqlite.bind()

from ._sqlite import sqlite_info  # noqa: E402
from .gating import (  # noqa: E402
    EligibilityReport,
    PromotionDecision,
    ThresholdConfig,
    evaluate_candidate,
    evaluate_eligibility,
)

__version__ = _core.__version__

__all__ = [
    "__version__",
    "sqlite_info",
    "ThresholdConfig",
    "PromotionDecision",
    "EligibilityReport",
    "evaluate_candidate",
    "evaluate_eligibility",
]
