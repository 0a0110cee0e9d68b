"""Property 2: rng="numpy_legacy" reproduces numpy's legacy global generator element for element."""

from __future__ import annotations

import numpy as np
import pytest
from crypto_analyzer_promotion.reality_check import RealityCheckConfig, bootstrap_indices


def numpy_stationary(seed: int, b: int, t: int, avg_block_length: float) -> np.ndarray:
    """The old generator's procedure, written with numpy's legacy global RandomState."""
    np.random.seed(seed + b)
    p = 1.0 / avg_block_length
    idx: list[int] = []
    while len(idx) < t:
        length = np.random.geometric(p)
        start = np.random.randint(0, t)
        take = min(int(length), t - len(idx))
        idx.extend(((start + np.arange(take)) % t).tolist())
    return np.array(idx, dtype=np.int64)


def numpy_block_fixed(seed: int, b: int, t: int, block: int) -> np.ndarray:
    np.random.seed(seed + b)
    if block > t:
        return np.arange(t, dtype=np.int64)
    idx: list[int] = []
    while len(idx) < t:
        start = np.random.randint(0, t - block + 1)
        idx.extend(range(start, start + block))
    return np.array(idx[:t], dtype=np.int64)


@pytest.mark.parametrize(
    "seed,t,avg,b",
    [
        (42, 100, 12, 0),
        (42, 100, 12, 7),
        (0, 1, 12, 0),  # T = 1
        (5, 57, 1, 3),  # L = 1: sequential-search geometric, every block length 1
        (123, 40, 2.5, 11),  # p = 0.4 >= 1/3: search branch
        (7, 30, 75, 2),  # L > T
        (2**32 - 10, 300, 12, 9),  # near the top of the legacy seed range
        (99, 1000, 3.7, 1),
        (1, 70000, 50, 0),  # T beyond 2**16: wider masks
    ],
)
def test_stationary_matches_numpy_legacy(seed, t, avg, b):
    cfg = RealityCheckConfig(method="stationary", avg_block_length=avg, seed=seed)
    got = bootstrap_indices(t, b, cfg, rng="numpy_legacy")
    want = numpy_stationary(seed, b, t, avg)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "seed,t,block,b",
    [
        (42, 100, 12, 0),
        (42, 100, 12, 5),
        (3, 1, 1, 0),
        (3, 10, 10, 4),
        (8, 10, 25, 1),
        (11, 77, 1, 2),
        (13, 999, 64, 3),
    ],
)
def test_block_fixed_matches_numpy_legacy(seed, t, block, b):
    cfg = RealityCheckConfig(method="block_fixed", block_size=block, seed=seed)
    got = bootstrap_indices(t, b, cfg, rng="numpy_legacy")
    np.testing.assert_array_equal(got, numpy_block_fixed(seed, b, t, block))


def test_legacy_seed_out_of_range_is_a_clear_error():
    cfg = RealityCheckConfig(seed=2**32 - 1)
    with pytest.raises(ValueError, match="2\\*\\*32"):
        bootstrap_indices(10, 1, cfg, rng="numpy_legacy")


def test_default_stream_is_stable_and_sane():
    """The default stream is pinned: these indices are part of every default-stream result."""
    cfg = RealityCheckConfig(avg_block_length=4, seed=42)
    a = bootstrap_indices(20, 3, cfg)
    # Regression pin of the documented stream (xoshiro256++ keyed by (seed, b)); changing the
    # stream would silently change every cached or reported default-stream result.
    assert a.tolist() == [19, 0, 1, 2, 3, 17, 18, 16, 17, 17, 17, 18, 19, 0, 1, 2, 3, 4, 17, 18]
    np.testing.assert_array_equal(a, bootstrap_indices(20, 3, cfg))
    assert not np.array_equal(a, bootstrap_indices(20, 4, cfg))
    # Mean block length close to L (runs of consecutive indices modulo T, many simulations).
    lengths = []
    for b in range(200):
        idx = bootstrap_indices(2000, b, RealityCheckConfig(avg_block_length=8, seed=1))
        breaks = np.flatnonzero((np.diff(idx) % 2000) != 1)
        lengths.extend(np.diff(np.concatenate([[-1], breaks, [idx.size - 1]])).tolist())
    # Runs merge when a new block happens to continue the previous one (prob. 1/T): ~ L.
    assert 7.5 < np.mean(lengths) < 8.5
