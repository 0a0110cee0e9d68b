"""Execution evidence for the promotion gate (capacity curve, participation cap, cost config).

Drop-in for ``crypto_analyzer.promotion.execution_evidence``. The dataclass is plain Python; the
checks and the canonical form are computed by the Rust core.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from . import _core

PathLike = str | os.PathLike[str]


@dataclass
class ExecutionEvidence:
    """Evidence for the execution-realism gate; every field is optional.

    Required when the gate is on: ``capacity_curve_path`` (non-empty; with a base path, a readable
    file under it), ``max_participation_rate``, ``cost_config`` (a dict with ``fee_bps`` and
    ``slippage_bps``).
    """

    min_liquidity_usd: float | None = None
    max_participation_rate: float | None = None
    spread_model: dict[str, Any] | None = None
    impact_model: dict[str, Any] | None = None
    capacity_curve_path: str | None = None
    cost_config: dict[str, Any] | None = None
    notes: str | None = None

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def validate_required(self, base_path: PathLike | None = None) -> list[str]:
        """Names of missing required items, in the order capacity_curve_path,
        max_participation_rate, cost_config. Empty list = complete. With ``base_path`` a
        relative capacity_curve_path must be a readable file under it or under its parent
        (reportv2 writes it relative to its out_dir); one climbing out of ``base_path``
        counts as missing and is not read."""
        base = None if base_path is None else os.fsdecode(os.fspath(base_path))
        return list(_core.execution_evidence_validate_required(self._fields(), base))

    def to_dict(self) -> dict[str, Any]:
        """Canonical dict: keys sorted, None omitted, floats rounded to 10 digits, NaN dropped."""
        return dict(_core.execution_evidence_to_dict(self._fields()))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExecutionEvidence:
        """Build from a dict; extra keys ignored, unparsable or non-finite numbers become None,
        non-dict models become None."""
        return cls(**_core.execution_evidence_from_dict(dict(d)))


def execution_evidence_to_json(evidence: ExecutionEvidence) -> str:
    """Stable JSON text of :meth:`ExecutionEvidence.to_dict` (sorted keys)."""
    return json.dumps(evidence.to_dict(), sort_keys=True)


def execution_evidence_from_json(s: str) -> ExecutionEvidence:
    """Parse JSON text into :class:`ExecutionEvidence` (tolerant, like ``from_dict``)."""
    return ExecutionEvidence.from_dict(json.loads(s))


__all__ = ["ExecutionEvidence", "execution_evidence_to_json", "execution_evidence_from_json"]
