"""rng="numpy_pcg64" reproduces the analyzer's c79684b nulls element for element.

The references here are plain numpy written in this file: `np.random.default_rng` and the
analyzer's procedures as docs/statistics.md describes them (stationary: `geometric(1/L)` then
`integers(0, T)` per block; fixed blocks: `integers(0, max(0, T - size) + 1)`; simulation b seeded
with `seed + b`, or with the b-th `integers(0, 2**63 - 1)` of `default_rng(seed_root(run_key,
"rc_null", fold_id=horizon))`).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from crypto_analyzer_promotion import _core, rc_cache
from crypto_analyzer_promotion.exceptions import InvalidInputError
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    bootstrap_indices,
    make_null_generator_stationary,
    run_family_reality_check,
    run_reality_check,
)

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# Plain-numpy references


def ref_seed_root(run_key: str, salt: str, fold_id=None, version: int = 1) -> int:
    salt_eff = salt if fold_id is None else f"{salt}|fold:{fold_id}"
    digest = hashlib.sha256(f"{run_key}|{salt_eff}|{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63)


def ref_stationary(rng: np.random.Generator, t: int, avg: float) -> np.ndarray:
    p = 1.0 / avg
    idx: list[int] = []
    while len(idx) < t:
        length = max(int(rng.geometric(p)), 1)
        start = int(rng.integers(0, t))
        take = min(length, t - len(idx))
        idx.extend(((start + np.arange(take)) % t).tolist())
    return np.array(idx, dtype=np.int64)


def ref_block_fixed(rng: np.random.Generator, t: int, size: int) -> np.ndarray:
    max_start = max(0, t - size)
    idx: list[int] = []
    while len(idx) < t:
        start = int(rng.integers(0, max_start + 1))
        idx.extend(range(start, min(start + size, t)))
    return np.array(idx[:t], dtype=np.int64)


def ref_sim_rngs(n_sim: int, seed: int, run_key=None, horizon=None, base=None):
    """The generators of simulations 0..n_sim-1, in order."""
    if base is None and run_key:
        base = np.random.default_rng(ref_seed_root(run_key, "rc_null", horizon))
    for b in range(n_sim):
        if base is not None:
            yield np.random.default_rng(int(base.integers(0, 2**63 - 1)))
        else:
            yield np.random.default_rng(seed + b)


def ref_indices(cfg: RealityCheckConfig, t: int, n_sim: int, base=None) -> list[np.ndarray]:
    out = []
    for g in ref_sim_rngs(n_sim, cfg.seed, cfg.run_key, cfg.horizon, base):
        if cfg.method == "stationary":
            out.append(ref_stationary(g, t, float(cfg.avg_block_length)))
        else:
            out.append(ref_block_fixed(g, t, cfg.block_size))
    return out


def _draws(g: np.random.Generator, kind: str, n: int, **kw):
    s = g.bit_generator.state
    return _core.numpy_pcg64_draws(
        s["state"]["state"], s["state"]["inc"], bool(s["has_uint32"]), s["uinteger"], kind, n, **kw
    )


def _state(g: np.random.Generator):
    s = g.bit_generator.state
    return (s["state"]["state"], s["state"]["inc"], bool(s["has_uint32"]), s["uinteger"])


# ---------------------------------------------------------------------------------------------
# The generator itself


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1, 2**32 + 5, 2**63 - 2, 2**64 - 1, 2**70 + 3, 2**127 + 9])
def test_seed_sequence_and_pcg64_state_match_numpy(seed):
    st = np.random.default_rng(seed).bit_generator.state["state"]
    assert _core.numpy_pcg64_state(seed) == (st["state"], st["inc"])


def test_ziggurat_tables_are_numpys():
    spec = importlib.util.spec_from_file_location("numpy_zig_probe", ROOT / "scripts" / "numpy_zig_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    ke, we = _core.numpy_zig_tables()
    ke_np, we_np = probe.probe_tables()
    assert ke == ke_np
    assert we == we_np


@pytest.mark.parametrize("seed", [7, 2024])
def test_standard_exponential_matches_numpy(seed):
    g = np.random.default_rng(seed)
    got, st = _draws(g, "standard_exponential", 200_000)
    ref = g.standard_exponential(200_000)
    assert np.array_equal(np.array(got), ref)
    assert st == _state(g)


@pytest.mark.parametrize("p", [1.0, 0.5, 1 / 3, 0.3333, 0.25, 1 / 12, 1e-3, 1e-9])
def test_geometric_matches_numpy(p):
    g = np.random.default_rng(11)
    got, st = _draws(g, "geometric", 20_000, p=p)
    assert got == [int(g.geometric(p)) for _ in range(20_000)]
    assert st == _state(g)


@pytest.mark.parametrize("bound", [1, 2, 3, 7, 100, 12_345, 2**32 - 1, 2**32, 2**32 + 1, 2**40, 2**63 - 1])
def test_integers_match_numpy_on_both_paths(bound):
    g = np.random.default_rng(3)
    g.integers(0, 5)  # leaves half a 64-bit word in the 32-bit buffer
    got, st = _draws(g, "integers", 5_000, bound=bound)
    assert got == [int(g.integers(0, bound)) for _ in range(5_000)]
    assert st == _state(g)


def test_mixed_stream_keeps_numpys_uint32_buffer():
    g = np.random.default_rng(99)
    s = _state(g)
    for kind, kw in [
        ("integers", {"bound": 10}),
        ("double", {}),
        ("integers", {"bound": 10}),
        ("u32", {}),
        ("geometric", {"p": 0.01}),
        ("integers", {"bound": 2**40}),
    ]:
        got, s = _core.numpy_pcg64_draws(*s, kind, 3, **kw)
        if kind == "integers":
            ref = [int(g.integers(0, kw["bound"])) for _ in range(3)]
        elif kind == "double":
            ref = [float(g.random()) for _ in range(3)]
        elif kind == "u32":  # a full-range uint32 draw is numpy's next_uint32
            ref = [int(g.integers(0, 2**32 - 1, endpoint=True, dtype=np.uint32)) for _ in range(3)]
        else:
            ref = [int(g.geometric(kw["p"])) for _ in range(3)]
        assert got == ref, kind
        assert s == _state(g), kind


# ---------------------------------------------------------------------------------------------
# Bootstrap indices


CASES = [
    # seed, run_key, t, method, L, b
    (42, None, 100, "stationary", 12, 0),
    (42, None, 100, "stationary", 12, 9),
    (0, None, 1, "stationary", 12, 0),  # T = 1
    (5, None, 57, "stationary", 1, 3),  # L = 1: search branch, every block of length 1
    (123, None, 40, "stationary", 2.5, 11),  # p = 0.4 >= 1/3: search branch
    (7, None, 30, "stationary", 75, 2),  # L > T
    (2**40, None, 300, "stationary", 3.7, 4),  # a seed above 2**32
    (1, None, 70_000, "stationary", 50, 0),
    (42, None, 100, "block_fixed", 12, 5),
    (3, None, 1, "block_fixed", 1, 0),  # T = 1, L = 1
    (3, None, 20, "block_fixed", 1, 2),  # L = 1
    (3, None, 20, "block_fixed", 20, 1),  # L = T: one block
    (3, None, 20, "block_fixed", 33, 6),  # L > T: no draw at all, the whole series
    (42, "run-A", 100, "stationary", 12, 0),
    (42, "run-A", 100, "stationary", 12, 17),
    (42, "run-B", 1, "stationary", 12, 3),
    (42, "run-B", 64, "stationary", 1, 2),
    (42, "run-B", 25, "stationary", 40, 5),
    (9, "run-C", 80, "block_fixed", 7, 4),
    (9, "run-C", 8, "block_fixed", 9, 1),
]


@pytest.mark.parametrize("seed,run_key,t,method,avg,b", CASES)
@pytest.mark.parametrize("horizon", [None, 4])
def test_indices_match_numpy(seed, run_key, t, method, avg, b, horizon):
    cfg = RealityCheckConfig(
        seed=seed, run_key=run_key, horizon=horizon, method=method, avg_block_length=avg, block_size=int(max(avg, 1))
    )
    expected = ref_indices(cfg, t, b + 1)[b]
    got = bootstrap_indices(t, b, cfg, rng="numpy_pcg64")
    np.testing.assert_array_equal(got, expected)
    cfg.rng = "numpy_pcg64"  # the same through the config
    np.testing.assert_array_equal(bootstrap_indices(t, b, cfg), expected)


def test_run_key_substream_is_per_horizon():
    a = bootstrap_indices(50, 0, RealityCheckConfig(run_key="k", horizon=1), rng="numpy_pcg64")
    b = bootstrap_indices(50, 0, RealityCheckConfig(run_key="k", horizon=2), rng="numpy_pcg64")
    assert not np.array_equal(a, b)
    assert _core.seed_root("k", "rc_null", "1") == ref_seed_root("k", "rc_null", 1)
    assert _core.seed_root("k", "rc_null") == ref_seed_root("k", "rc_null")


# ---------------------------------------------------------------------------------------------
# Whole nulls: the analyzer's procedure in plain numpy


def ref_null(series: dict, cfg: RealityCheckConfig, centred: bool, base=None) -> tuple[np.ndarray, np.ndarray]:
    """(null matrix, observed means) as the analyzer's null generator builds them (un-centred), or
    recentred by the observed means."""
    hyps = sorted(series)
    common = series[hyps[0]].index
    for h in hyps[1:]:
        common = common.intersection(series[h].index)
    arrs = np.column_stack([series[h].reindex(common).to_numpy(dtype=float) for h in hyps])
    m = np.nanmean(arrs, axis=0)
    rows = []
    for idx in ref_indices(cfg, len(common), cfg.n_sim, base):
        row = np.nanmean(arrs[idx], axis=0)
        rows.append(row - m if centred else row)
    return np.array(rows), m


def _family(seed: int, t: int = 150, k: int = 4, gaps: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    idx = pd.RangeIndex(t)
    out = {}
    for j in range(k):
        v = rng.standard_normal(t) * 0.02 + 0.002 * j
        if gaps:
            v[rng.random(t) < 0.1] = np.nan
        out[f"s{j}|1"] = pd.Series(v, index=idx)
    return out


@pytest.mark.parametrize("method,avg", [("stationary", 12), ("stationary", 2), ("block_fixed", 10)])
@pytest.mark.parametrize("run_key", [None, "rk-1"])
@pytest.mark.parametrize("centering", ["none", "recentred"])
def test_whole_null_equals_numpy_procedure(method, avg, run_key, centering):
    series = _family(5, gaps=run_key is None)
    cfg = RealityCheckConfig(
        n_sim=120, seed=17, method=method, avg_block_length=avg, block_size=avg, run_key=run_key, horizon=1
    )
    ref, m = ref_null(series, cfg, centering == "recentred")
    obs = pd.Series(m, index=sorted(series))
    gen = make_null_generator_stationary(series, cfg, null_centering=centering, rng="numpy_pcg64")
    out = run_reality_check(obs, gen, cfg, return_null_matrix=True)
    np.testing.assert_allclose(out["null_matrix"], ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out["null_max_distribution"], np.nanmax(ref, axis=1), rtol=1e-10, atol=1e-14)
    expected_p = (1 + np.sum(np.nanmax(ref, axis=1) >= obs.max())) / (cfg.n_sim + 1)
    assert out["rc_p_value"] == expected_p
    # null(b), one simulation at a time, gives the same rows.
    for b in (0, 7, 119):
        np.testing.assert_allclose(gen(b), ref[b], rtol=1e-10, atol=1e-14)


def test_explicit_generator_is_the_base_and_is_consumed_like_the_analyzer():
    series = _family(8)
    gen_ours = np.random.default_rng(2026)
    gen_ref = np.random.default_rng(2026)
    cfg = RealityCheckConfig(n_sim=60, seed=1, rng=gen_ours)
    ref_cfg = RealityCheckConfig(n_sim=60, seed=1)
    ref, m = ref_null(series, ref_cfg, True, base=gen_ref)
    null = make_null_generator_stationary(series, cfg)
    assert null.rng == "numpy_pcg64"
    out = run_reality_check(pd.Series(m, index=sorted(series)), null, cfg, return_null_matrix=True)
    np.testing.assert_allclose(out["null_matrix"], ref, rtol=1e-10, atol=1e-14)
    assert out["null_construction_spec"]["seed_derivation"] == "generator"
    assert _state(gen_ours) == _state(gen_ref)  # advanced by one seed per simulation
    # A second run continues the generator's stream, as the analyzer's would.
    ref2, _ = ref_null(series, ref_cfg, True, base=gen_ref)
    out2 = run_reality_check(pd.Series(m, index=sorted(series)), null, cfg, return_null_matrix=True)
    np.testing.assert_allclose(out2["null_matrix"], ref2, rtol=1e-10, atol=1e-14)
    # null(b) draws the next seed, like the analyzer's generator called once.
    g_ref = np.random.default_rng(int(gen_ref.integers(0, 2**63 - 1)))
    idx = ref_stationary(g_ref, 150, 12.0)
    arrs = np.column_stack([series[h].to_numpy() for h in sorted(series)])
    np.testing.assert_allclose(null(0), arrs[idx].mean(axis=0) - m, rtol=1e-10, atol=1e-14)


def test_non_pcg64_generator_is_refused():
    with pytest.raises(InvalidInputError, match="PCG64"):
        make_null_generator_stationary(_family(1), RealityCheckConfig(rng=np.random.Generator(np.random.MT19937(1))))
    with pytest.raises(InvalidInputError, match="unknown rng"):
        make_null_generator_stationary(_family(1), RealityCheckConfig(rng="pcg"))


def test_default_stream_with_run_key_depends_on_run_key_only():
    series = _family(3)
    res = {}
    for key, seed in [("A", 1), ("A", 2), ("B", 1)]:
        cfg = RealityCheckConfig(n_sim=50, seed=seed, run_key=key)
        res[(key, seed)] = run_family_reality_check(series, cfg).null_max_distribution
    np.testing.assert_array_equal(res[("A", 1)], res[("A", 2)])
    assert not np.array_equal(res[("A", 1)], res[("B", 1)])


def test_cache_versions_differ_per_stream():
    versions = {
        rc_cache.rc_cache_algorithm_version("recentred", rng, base)
        for rng, base in [("default", False), ("numpy_legacy", False), ("numpy_pcg64", False), ("numpy_pcg64", True)]
    }
    assert len(versions) == 4
    fields = ("fam", "ds", "abc", "mean_ic", 1, 200, 42, "stationary", 12)
    keys = {
        rc_cache.get_rc_cache_key(*fields, rng=rng, seeded_by_base=base)
        for rng, base in [("default", False), ("numpy_pcg64", False), ("numpy_pcg64", True)]
    }
    assert len(keys) == 3


def test_family_rc_with_numpy_stream_is_cached_under_its_own_key(tmp_path):
    series = _family(4)
    cfg = RealityCheckConfig(n_sim=40, run_key="rk", horizon=1)
    a = run_family_reality_check(series, cfg, family_id="f", cache_dir=tmp_path, rng="numpy_pcg64")
    b = run_family_reality_check(series, cfg, family_id="f", cache_dir=tmp_path, rng="default")
    assert a.cache_key != b.cache_key and not a.cache_hit and not b.cache_hit
    again = run_family_reality_check(series, cfg, family_id="f", cache_dir=tmp_path, rng="numpy_pcg64")
    assert again.cache_hit
    np.testing.assert_array_equal(again.null_max_distribution, a.null_max_distribution)
    ref, m = ref_null(series, cfg, True)
    np.testing.assert_allclose(a.null_max_distribution, np.nanmax(ref, axis=1), rtol=1e-10, atol=1e-14)
