"""ValidationBundle: the analyzer's per-signal validation output, read and written as JSON.

Horizon keys are ints in memory and strings in the JSON file; keys this class does not know are
kept in ``extra`` and written back. Parsing and writing are done by the Rust core.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from . import _core

PathLike = str | os.PathLike[str]


@dataclass
class ValidationBundle:
    """Per-signal validation output (IC summaries by horizon, decay table, meta, artifact paths)."""

    run_id: str
    dataset_id: str
    signal_name: str
    freq: str
    horizons: list[int]
    ic_summary_by_horizon: dict[int, dict[str, Any]]
    ic_decay_table: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    ic_series_path_by_horizon: dict[int, str] = field(default_factory=dict)
    ic_decay_path: str | None = None
    turnover_path: str | None = None
    gross_returns_path: str | None = None
    net_returns_path: str | None = None
    #: Keys of the JSON this class does not know (kept and written back).
    extra: dict[str, Any] = field(default_factory=dict)

    # -- conversions ---------------------------------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for k, v in (self.extra or {}).items():
            out.setdefault(k, v)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ValidationBundle:
        """From a dict shaped like the JSON (string or int horizon keys; unknown keys → extra)."""
        return cls(**_core.validation_bundle_normalize(dict(d)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped dict (horizon keys as strings, NaN as None)."""
        return json.loads(self.to_json())

    @classmethod
    def from_json(cls, text: str) -> ValidationBundle:
        """Parse bundle JSON text. Malformed JSON or wrong types raise ValueError naming the problem."""
        return cls(**_core.validation_bundle_from_json(text))

    def to_json(self) -> str:
        """Deterministic JSON text: sorted keys, 2-space indent."""
        return str(_core.validation_bundle_to_json(self._fields()))

    @classmethod
    def load(cls, path: PathLike) -> ValidationBundle:
        with open(os.fspath(path), encoding="utf-8") as fh:
            return cls.from_json(fh.read())

    def save(self, path: PathLike) -> None:
        with open(os.fspath(path), "w", encoding="utf-8") as fh:
            fh.write(self.to_json() + "\n")


__all__ = ["ValidationBundle"]
