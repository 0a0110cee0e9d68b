"""Reference formulas the Reality Check tests compare the engine with, written once in plain numpy.

Importable from any test module as ``import rc_reference`` (``tests_py/conftest.py`` puts this
folder on ``sys.path``).
"""

from __future__ import annotations

import warnings

import numpy as np


def romano_wolf_stepdown(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Romano–Wolf adjusted p-values from their definition (docs/statistics.md), in column order:
    hypotheses by observed statistic, largest first (ties in column order); the j-th one's raw
    p-value counts the draws whose maximum over it and every hypothesis after it reaches its
    statistic, (1 + count) / (B + 1); the adjusted p-values are the running maximum. ``null[b, k]``
    are the null statistics as given. A hypothesis without a statistic (NaN) is out of the order
    and gets 1; a NaN in the null never counts."""
    observed = np.asarray(observed, dtype=float)
    null = np.asarray(null, dtype=float)
    order = [k for k in np.argsort(-observed, kind="stable") if not np.isnan(observed[k])]
    b = null.shape[0]
    out = np.ones(observed.size)
    running = 0.0
    for j, col in enumerate(order):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a draw whose columns are all NaN
            suffix_max = np.nanmax(null[:, order[j:]], axis=1)
        running = max(running, (1 + int(np.sum(suffix_max >= observed[col]))) / (b + 1))
        out[col] = running
    return out
