"""On-disk cache of Reality Check null distributions (replaces ``crypto_analyzer.stats.rc_cache``).

Artifacts are ``<key>.npy`` files (numpy v1.0 format, float64) listed in ``manifest.json``
(key -> {"path", "sha256"}). The manifest is rewritten atomically under a lock file, so several
processes may save at once; every load checks the sha256 and a missing or corrupt artifact is
reported as absent (``None``), never served. All file work is done by the Rust core.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from . import _core

PathLike = str | os.PathLike[str]

__all__ = [
    "get_rc_cache_key",
    "rc_cache_algorithm_version",
    "save_cached_null_max",
    "load_cached_null_max",
    "load_manifest",
    "is_cache_disabled",
]


def rc_cache_algorithm_version(
    null_centering: str = "recentred", rng: str = "default", seeded_by_base: bool = False
) -> str:
    """The algorithm version that prefixes every key (differs per null centering and stream;
    ``seeded_by_base``: ``rng="numpy_pcg64"`` with per-simulation seeds drawn from a run key's base
    generator instead of ``seed + b``)."""
    return _core.rc_cache_algorithm_version(null_centering, rng, seeded_by_base)


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
    null_centering: str = "recentred",
    rng: str = "default",
    seeded_by_base: bool = False,
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
    version = rc_cache_algorithm_version(null_centering, rng, seeded_by_base)
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


def load_manifest(cache_dir: PathLike) -> dict:
    """key -> {"path": ..., "sha256": ...}; ``{}`` when there is no (readable) manifest."""
    return dict(_core.rc_cache_manifest(os.fspath(cache_dir)))


def is_cache_disabled(no_cache_flag: bool = False) -> bool:
    """True when ``no_cache_flag`` or env ``CRYPTO_ANALYZER_NO_CACHE=1``."""
    return bool(_core.rc_cache_is_disabled(bool(no_cache_flag)))
