"""Type stubs for the Rust extension ``crypto_analyzer_promotion._core``.

Each part of the engine keeps its stubs in its own section below.
"""

from typing import Any, Callable, Optional, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

# ---------------------------------------------------------------------------
# section: store and migrations (issue 3)
# ---------------------------------------------------------------------------

# end section: store

# ---------------------------------------------------------------------------
# section: gating, evidence, service (issue 4)
# ---------------------------------------------------------------------------

MIN_REGIMES_WITH_SAMPLES: int

def gating_evaluate_candidate(
    bundle: str | dict[str, Any],
    thresholds: dict[str, Any],
    regime_summary: Optional[str | dict[str, Any]] = None,
    rc_summary: Optional[dict[str, Any]] = None,
    execution_evidence: Optional[dict[str, Any]] = None,
    target_status: str = "exploratory",
    allow_missing_execution_evidence: bool = False,
    execution_evidence_base_path: Optional[str] = None,
) -> dict[str, Any]: ...
def validation_bundle_from_json(text: str) -> dict[str, Any]: ...
def validation_bundle_normalize(fields: dict[str, Any]) -> dict[str, Any]: ...
def validation_bundle_to_json(fields: dict[str, Any]) -> str: ...
def execution_evidence_validate_required(fields: dict[str, Any], base_path: Optional[str] = None) -> list[str]: ...
def execution_evidence_to_dict(fields: dict[str, Any]) -> dict[str, Any]: ...
def execution_evidence_from_dict(d: dict[str, Any]) -> dict[str, Any]: ...
def _python_float_repr(x: float) -> str: ...
def _python_format_4f(x: float) -> str: ...
def service_evaluate_and_record(
    db_path: str,
    candidate_id: str,
    thresholds: dict[str, Any],
    bundle: Optional[str | dict[str, Any]] = None,
    regime_summary: Optional[str | dict[str, Any]] = None,
    rc_summary: Optional[dict[str, Any]] = None,
    evidence_base_path: Optional[str] = None,
    target_status: str = "exploratory",
    allow_missing_execution_evidence: bool = False,
) -> dict[str, Any]: ...

# end section: gating

# ---------------------------------------------------------------------------
# section: reality check and cache (issue 5)
# ---------------------------------------------------------------------------

# end section: rc
