"""The Reality Check of one family split into contiguous column blocks (no Dask here).

A block is any contiguous range of the family's columns (hypotheses sorted by id). Each block is
run on its own — in this process, another process or another machine — with
:func:`run_block`, and :func:`combine_blocks` turns the blocks' outputs, in column order, into the
dict the single-process engine's batch gives (``RcEngine.run``), bit for bit: the RC, every SPA
variant (studentized with the per-draw ω*) and the Romano–Wolf adjusted p-values, and the null
maxima. What a block sends and why it is enough: docs/distributed.md. The Dask layer
(:mod:`crypto_analyzer_promotion.distributed`) is built on these two functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._rc_types import NullCenteringName, NullScaleName
from .exceptions import InvalidInputError

__all__ = ["column_ranges", "block_stats", "run_block", "combine_blocks", "variance_shares"]


def column_ranges(k: int, n_blocks: int) -> list[tuple[int, int]]:
    """``n_blocks`` contiguous ``[start, stop)`` ranges covering ``0..k`` (sizes differ by at most
    one; never more blocks than columns)."""
    if isinstance(k, bool) or int(k) < 1:
        raise InvalidInputError(f"a family needs at least one hypothesis (got K={k!r})")
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, (int, np.integer)) or n_blocks < 1:
        raise InvalidInputError(f"blocks must be a positive integer (got {n_blocks!r})")
    k, n = int(k), min(int(n_blocks), int(k))
    bounds = [i * k // n for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]


def _engine(values: np.ndarray, block_length: float) -> Any:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise InvalidInputError(f"a column block must be a T x K array (got shape {arr.shape})")
    if not (arr.flags.aligned and (arr.flags.c_contiguous or arr.flags.f_contiguous)):
        # E.g. an array unpickled from a network buffer: the engine reads aligned memory only.
        arr = np.array(arr, dtype=np.float64, order="F", copy=True)
    # Streamed: the prefix sums are rebuilt from the block's own array in every sweep (no memory
    # beyond it). Measured at T=25,000, 1,000 columns, B=500, 1 thread: 1.4-1.5 CPU-s a block
    # against 1.7 with them stored, which "auto" would pick below 256 MiB.
    return _core.RcEngine(arr, float(block_length), prefix="streamed")


def variance_shares(values: np.ndarray, method: str, avg_block_length: float, block_size: float) -> list:
    """The share of the long-run variance the block bootstrap reproduces, for each of the first
    ``_core.RC_SHARE_COLUMNS`` columns (None where a column gives none; the engine's
    ``reality_check::size``). Every block computes it for its own first columns, so the family's
    first columns are covered whatever the split."""
    # A copy of the few columns read: aligned and contiguous even when the block's array is a view
    # of a network buffer.
    cols = np.array(np.asarray(values)[:, : int(_core.RC_SHARE_COLUMNS)], dtype=np.float64, order="F", copy=True)
    return list(_core.rc_variance_shares(cols, method, float(avg_block_length), float(block_size)))


def block_stats(values: np.ndarray, block_length: float, method: dict[str, Any] | None = None) -> dict[str, Any]:
    """The block's observed means, observations and Hansen's ω (what a cached run still needs),
    and with ``method`` (``method, avg_block_length, block_size``) its ``variance_shares``."""
    eng = _engine(values, block_length)
    out = {"t": int(eng.t), "observed": eng.observed, "n_obs": eng.n_obs, "omega": eng.omega}
    if method is not None:
        out["variance_shares"] = variance_shares(
            values, method["method"], method["avg_block_length"], method["block_size"]
        )
    return out


def run_block(
    values: np.ndarray,
    block_length: float,
    *,
    n_sim: int,
    null_centering: NullCenteringName,
    stream_kwargs: dict[str, Any],
    null_scale: NullScaleName = "none",
    variance_share: float | None = None,
) -> dict[str, Any]:
    """Run the ``n_sim`` simulations over one block (``values``: its T x K_b float64 columns).
    ``block_length`` is the method's L (Hansen's ω); ``stream_kwargs`` the bootstrap spec of the
    whole family (``method, avg_block_length, block_size, seed, rng, base_state``). Returns a dict
    of numpy arrays (picklable): ``t, n_sim, observed, n_obs, omega, null_max, spa, rec_start,
    rec_col, rec_val``. ``null_scale`` and ``variance_share`` (the family's median share, not
    the block's): the RC / Romano–Wolf null scale, the same for every block and the combine."""
    eng = _engine(values, block_length)
    return dict(
        _core.rc_run_block(
            eng,
            null_centering=null_centering,
            n_sim=int(n_sim),
            null_scale=null_scale,
            variance_share=variance_share,
            **stream_kwargs,
        )
    )


def combine_blocks(
    parts: list[dict[str, Any]],
    null_centering: NullCenteringName,
    null_scale: NullScaleName = "none",
    variance_share: float | None = None,
) -> dict[str, Any]:
    """The family's batch result (the dict of ``RcEngine.run``, ``null_matrix`` None) from its
    blocks' outputs in column order, with the null scale the blocks ran with. Blocks of different
    T or n_sim, or malformed outputs, raise InvalidInputError naming the block."""
    if not parts:
        raise InvalidInputError("no column blocks to combine")
    return dict(_core.rc_combine_blocks([dict(p) for p in parts], null_centering, null_scale, variance_share))
