"""Property 7 (NaN, T < 2) and bad input: the behaviour docs/statistics.md writes, or a clear
ValueError — never a crash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from crypto_analyzer_promotion.exceptions import InvalidInputError
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    make_null_generator_stationary,
    run_family_reality_check,
)

CFG = RealityCheckConfig(n_sim=99, avg_block_length=3, block_size=3)


def test_gaps_are_skipped_by_every_mean():
    x = np.random.default_rng(0).normal(size=(60, 3))
    x[::4, 0] = np.nan
    r = run_family_reality_check(x, CFG)
    np.testing.assert_allclose(r.observed_stats, np.nanmean(x, axis=0), rtol=1e-12)
    assert r.observed_max == pytest.approx(np.nanmax(np.nanmean(x, axis=0)))


def test_all_nan_column_is_never_a_maximum():
    x = np.random.default_rng(1).normal(size=(80, 3)) - 1.0
    x[:, 2] = np.nan
    r = run_family_reality_check(x, CFG, return_null_matrix=True)
    assert np.isnan(r.observed_stats[2])
    assert r.observed_max == pytest.approx(np.nanmax(np.nanmean(x[:, :2], axis=0)))
    assert np.all(np.isnan(r.null_matrix[:, 2]))
    assert np.all(np.isfinite(r.null_max_distribution))
    assert r.romano_wolf_p_values["h2"] == 1.0
    d = r.to_dict()
    assert d["observed_stats"]["h2"] is None


def test_every_column_nan_gives_p_one():
    x = np.full((30, 2), np.nan)
    r = run_family_reality_check(x, CFG)
    assert np.isnan(r.observed_max) and r.rc_p_value == 1.0
    assert r.to_dict()["observed_max"] is None


@pytest.mark.parametrize("t", [0, 1])
def test_fewer_than_two_periods_gives_nan_stats_and_p_one(t):
    x = np.ones((t, 3)) * 0.5
    r = run_family_reality_check(x, CFG)
    assert np.all(np.isnan(r.observed_stats))
    assert r.rc_p_value == 1.0
    assert set(r.spa_p_values.values()) == {1.0}
    assert set(r.romano_wolf_p_values.values()) == {1.0}


def test_single_hypothesis_is_a_valid_family():
    x = np.random.default_rng(2).normal(size=(200, 1)) + 0.5
    r = run_family_reality_check(x, CFG)
    assert r.rc_p_value == pytest.approx(1 / 100)
    assert r.romano_wolf_p_values["h0"] == pytest.approx(r.rc_p_value)


def test_mismatched_indexes_are_intersected_and_ids_sorted():
    idx = pd.date_range("2024-01-01", periods=50, freq="D")
    rng = np.random.default_rng(3)
    s_b = pd.Series(rng.normal(size=50), index=idx)
    s_a = pd.Series(rng.normal(size=40), index=idx[5:45])
    gen = make_null_generator_stationary({"sig_b|1": s_b, "sig_a|1": s_a}, CFG)
    assert gen.hypothesis_ids == ["sig_a|1", "sig_b|1"]
    assert gen.n_periods == 40
    np.testing.assert_allclose(gen.observed_stats.to_numpy(), [s_a.mean(), s_b.iloc[5:45].mean()], rtol=1e-12)


def test_dataframe_columns_are_sorted_and_fortran_input_works():
    rng = np.random.default_rng(4)
    df = pd.DataFrame(rng.normal(size=(40, 3)), columns=["c", "a", "b"])
    r = run_family_reality_check(df, CFG)
    assert r.hypothesis_ids == ["a", "b", "c"]
    np.testing.assert_allclose(r.observed_stats, df[["a", "b", "c"]].mean().to_numpy(), rtol=1e-12)
    x = np.asfortranarray(rng.normal(size=(40, 3)))
    a = run_family_reality_check(x, CFG)
    b = run_family_reality_check(np.ascontiguousarray(x), CFG)
    np.testing.assert_array_equal(a.null_max_distribution, b.null_max_distribution)


def test_block_fixed_longer_than_t_is_one_block_of_the_whole_series():
    x = np.random.default_rng(5).normal(size=(20, 2))
    r = run_family_reality_check(
        x, RealityCheckConfig(n_sim=9, method="block_fixed", block_size=50), return_null_matrix=True
    )
    # Every simulation is the series itself: centred draws are 0 (up to rounding).
    np.testing.assert_allclose(r.null_matrix, 0.0, atol=1e-12)


def test_stationary_block_longer_than_t_is_allowed():
    x = np.random.default_rng(6).normal(size=(20, 2))
    r = run_family_reality_check(x, RealityCheckConfig(n_sim=50, avg_block_length=500))
    assert 0 < r.rc_p_value <= 1


@pytest.mark.parametrize(
    "series,cfg,match",
    [
        ({}, CFG, "empty family"),
        (pd.DataFrame(index=range(5)), CFG, "empty family"),
        (np.zeros((5, 0)), CFG, "empty family"),
        (np.array([[1.0, np.inf], [0.0, 1.0], [1.0, 2.0]]), CFG, "infinite"),
        (np.array([[1.0, -np.inf], [0.0, 1.0], [1.0, 2.0]]), CFG, "infinite"),
        (np.zeros((10, 2)), RealityCheckConfig(n_sim=0), "n_sim"),
        (np.zeros((10, 2)), RealityCheckConfig(n_sim=-5), "n_sim"),
        (np.zeros((10, 2)), RealityCheckConfig(avg_block_length=0), "avg_block_length"),
        (np.zeros((10, 2)), RealityCheckConfig(method="block_fixed", block_size=0), "block_size"),
        (np.zeros((10, 2)), RealityCheckConfig(method="circular"), "unknown method"),
        (np.zeros((10, 2)), RealityCheckConfig(seed=-1), "seed"),
        (pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]}), CFG, "non-numeric"),
        (np.array([["a", "b"], ["c", "d"]]), CFG, "non-numeric"),
        (np.zeros(10), CFG, "T x K"),
    ],
)
def test_bad_input_is_a_clear_value_error(series, cfg, match):
    with pytest.raises(InvalidInputError, match=match):
        run_family_reality_check(series, cfg)
    assert issubclass(InvalidInputError, ValueError)


def test_unknown_options_are_value_errors():
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="null_centering"):
        run_family_reality_check(x, CFG, null_centering="half")
    with pytest.raises(ValueError, match="rng"):
        run_family_reality_check(x, CFG, rng="mt")


def test_explicit_indices_out_of_range_are_rejected():
    gen = make_null_generator_stationary(np.zeros((5, 2)), CFG)
    with pytest.raises(ValueError, match="outside"):
        gen.run(2, indices=np.array([[0, 1, 2, 3, 5], [0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="shape"):
        gen.run(2, indices=np.zeros((3, 5)))
