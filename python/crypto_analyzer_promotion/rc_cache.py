"""On-disk cache of Reality Check null distributions (replaces ``crypto_analyzer.stats.rc_cache``).

Artifacts are ``<key>.npy`` files (numpy v1.0 format, float64) listed in ``manifest.json``
(key -> {"path", "sha256"}). The manifest is rewritten atomically under a lock file, so several
processes may save at once; every load checks the sha256 and a missing or corrupt artifact is
reported as absent (``None``), never served. Beside a null, its summary (SPA and Romano–Wolf
p-values of the same batch) is the JSON artifact ``<key>-summary-v4.json``; summaries of older
versions are not read. All file work is done by the Rust core.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _core
from ._rc_types import NullCenteringName, NullScaleName, RngName

PathLike = str | os.PathLike[str]

__all__ = [
    "get_rc_cache_key",
    "rc_cache_algorithm_version",
    "save_cached_null_max",
    "load_cached_null_max",
    "save_summary",
    "load_summary",
    "verify_entry",
    "load_manifest",
    "is_cache_disabled",
]


def rc_cache_algorithm_version(
    null_centering: NullCenteringName = "recentred",
    rng: RngName = "default",
    seeded_by_base: bool = False,
    null_scale: NullScaleName = "variance_share",
) -> str:
    """The algorithm version that prefixes every key (differs per null centering, stream and
    null scale; ``seeded_by_base``: ``rng="numpy_pcg64"`` with per-simulation seeds drawn from a
    run key's base generator instead of ``seed + b``; ``null_scale``: the RC / Romano–Wolf null
    scale, so a null cached unscaled is never served as the variance-scaled one)."""
    return _core.rc_cache_algorithm_version(null_centering, rng, seeded_by_base, null_scale)


def get_rc_cache_key(
    family_id: Any,
    dataset_id: Any,
    git_commit: Any,
    rc_metric: Any,
    rc_horizon: Any,
    rc_n_sim: Any,
    rc_seed: Any,
    rc_method: Any,
    rc_avg_block_length: Any,
    *,
    null_centering: NullCenteringName = "recentred",
    rng: RngName = "default",
    seeded_by_base: bool = False,
    null_scale: NullScaleName = "variance_share",
) -> str:
    """24 hex characters of sha256 over ``version|family_id|dataset_id|...|rc_avg_block_length``.

    Each field is rendered with ``str()`` (``None`` -> ``"None"``). The version is
    :func:`rc_cache_algorithm_version`, so the recentred null and the old un-centred null (and the
    two random streams) never share a key.
    """
    fields = [
        family_id,
        dataset_id,
        git_commit,
        rc_metric,
        rc_horizon,
        rc_n_sim,
        rc_seed,
        rc_method,
        rc_avg_block_length,
    ]
    version = rc_cache_algorithm_version(null_centering, rng, seeded_by_base, null_scale)
    return _core.rc_cache_key(version, [str(f) for f in fields])


def save_cached_null_max(cache_dir: PathLike, key: str, arr: Any) -> Path:
    """Write ``arr`` (1-D float64) as ``<key>.npy`` and record it in the manifest; returns its path.

    Raises ``AccessDeniedError`` (a PermissionError) for a read-only dir and ``PromotionIOError``
    (an OSError) when ``cache_dir`` is a file.
    """
    values = np.ascontiguousarray(np.asarray(arr, dtype=np.float64).reshape(-1))
    return Path(_core.rc_cache_save(os.fspath(cache_dir), str(key), values))


def load_cached_null_max(cache_dir: PathLike, key: str) -> np.ndarray | None:
    """The cached array, or ``None`` when absent, missing, corrupt (sha256 mismatch) or refused."""
    arr, _reason = _core.rc_cache_load(os.fspath(cache_dir), str(key))
    return arr


def save_summary(cache_dir: PathLike, key: str, result: Mapping[str, Any]) -> Path:
    """Write the summary of ``result`` (a dict from ``RcEngine.run``: n_sim, spa_studentized,
    spa_unstudentized, romano_wolf) as ``<key>-summary-v4.json`` and record it in the manifest."""
    return Path(_core.rc_cache_save_summary(os.fspath(cache_dir), str(key), dict(result)))


def load_summary(cache_dir: PathLike, key: str, k: int, n_sim: int) -> dict[str, Any] | None:
    """The summary of ``key`` (the keys of ``RcEngine.run``: n_sim, spa_studentized,
    spa_unstudentized, romano_wolf), or ``None`` when absent, corrupt or for another K / n_sim."""
    return _core.rc_cache_load_summary(os.fspath(cache_dir), str(key), int(k), int(n_sim))


def verify_entry(cache_dir: PathLike, key: str) -> str | None:
    """``None`` when manifest entry ``key`` (a null or a summary) would be served, else the reason."""
    return _core.rc_cache_verify(os.fspath(cache_dir), str(key))


def load_manifest(cache_dir: PathLike) -> dict:
    """key -> {"path": ..., "sha256": ...}; ``{}`` when there is no (readable) manifest."""
    return dict(_core.rc_cache_manifest(os.fspath(cache_dir)))


def is_cache_disabled(no_cache_flag: bool = False) -> bool:
    """True when ``no_cache_flag`` or env ``CRYPTO_ANALYZER_NO_CACHE=1``."""
    return bool(_core.rc_cache_is_disabled(bool(no_cache_flag)))
