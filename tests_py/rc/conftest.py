"""Shared helpers for the Reality Check tests (plain numpy; no engine code here)."""

from __future__ import annotations

import numpy as np
import pytest


def ar1(rng: np.random.Generator, t: int, k: int, phi: float = 0.3, sigma: float = 1.0) -> np.ndarray:
    """T×K AR(1) noise with unit innovations scaled by sigma (mean 0, dependent rows)."""
    e = rng.normal(size=(t + 50, k)) * sigma
    x = np.empty_like(e)
    x[0] = e[0]
    for i in range(1, t + 50):
        x[i] = phi * x[i - 1] + e[i]
    return x[50:]


@pytest.fixture
def small_panel() -> np.ndarray:
    """T=37, K=5 with gaps in two columns (fixed, so the exactness tests are reproducible)."""
    rng = np.random.default_rng(20240611)
    x = rng.normal(size=(37, 5)) * 0.1 + np.array([0.02, -0.01, 0.0, 0.03, 0.005])
    x[[3, 4, 10, 30], 1] = np.nan
    x[::5, 4] = np.nan
    return x


@pytest.fixture
def make_ar1():
    """The AR(1) generator above, as a fixture (importlib mode cannot import conftest)."""
    return ar1
