"""The RC / Romano–Wolf null scale (issue 26; docs/size_study.md, "The RC's default null: one
variance scale per family"): the default ``rc_null_scale="variance_share"`` multiplies the bootstrap deviations by
c = 1/sqrt(min(1, s)), s the median variance share of the first columns; ``"none"`` is White's RC
as published. Checked against the definition written here in numpy from the engine's own draws:
the RC p-value and the null maxima from c·(m* − m), Romano–Wolf from the scaled matrix; the SPA and
the draws themselves do not move; the cache never serves one null for the other."""

from __future__ import annotations

import math

import numpy as np
import pytest
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion.exceptions import InvalidInputError
from crypto_analyzer_promotion.rc_cache import get_rc_cache_key
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    bootstrap_variance_share,
    run_family_reality_check,
)
from scipy.signal import lfilter


def ar1_panel(seed: int, t: int, k: int, phi: float, edges: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = lfilter([1.0], [1.0, -phi], rng.normal(size=(t + 50, k)), axis=0)[50:]
    x[:, :edges] += 3.0 / (1 - phi) / math.sqrt(t)  # edges, so that p-values of every size occur
    return x


def p_value(null_max: np.ndarray, observed_max: float) -> float:
    return (1 + int(np.sum(null_max >= observed_max))) / (null_max.size + 1)


def stepdown(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Romano–Wolf adjusted p-values from their definition (docs/statistics.md), in column order."""
    order = np.argsort(-observed, kind="stable")
    b = null.shape[0]
    out = np.ones(observed.size)
    running = 0.0
    for j, col in enumerate(order):
        suffix_max = np.max(null[:, order[j:]], axis=1)
        running = max(running, (1 + int(np.sum(suffix_max >= observed[col]))) / (b + 1))
        out[col] = running
    return out


@pytest.mark.parametrize("phi", [0.7, 0.3])
def test_default_scale_equals_the_definition_on_the_engine_draws(phi):
    x = ar1_panel(26 + int(phi * 10), 400, 12, phi)
    cfg = RealityCheckConfig(n_sim=299, seed=7)
    none = run_family_reality_check(
        x, RealityCheckConfig(n_sim=299, seed=7, rc_null_scale="none"), no_cache=True, return_null_matrix=True
    )
    got = run_family_reality_check(x, cfg, no_cache=True, return_null_matrix=True)
    share = bootstrap_variance_share(x, cfg)
    assert share is not None and share == got.variance_share
    c = 1.0 / math.sqrt(min(1.0, share))
    assert got.null_scale_factor == c and none.null_scale_factor == 1.0
    if phi == 0.7:
        assert c > 1.05  # strong dependence: the scale is not a no-op here
    # The draws are the same and reported as drawn.
    assert got.null_matrix.tobytes() == none.null_matrix.tobytes()
    draws = np.asarray(got.null_matrix)
    scaled = c * draws
    obs = np.asarray(got.observed_stats)
    assert np.asarray(got.null_max_distribution).tobytes() == np.max(scaled, axis=1).tobytes()
    assert got.rc_p_value == p_value(np.max(scaled, axis=1), float(np.max(obs)))
    assert none.rc_p_value == p_value(np.max(draws, axis=1), float(np.max(obs)))
    assert np.array_equal(list(got.romano_wolf_p_values.values()), stepdown(obs, scaled))
    assert np.array_equal(list(none.romano_wolf_p_values.values()), stepdown(obs, draws))
    # A wider null: never a smaller p-value; the SPA is untouched.
    assert got.rc_p_value >= none.rc_p_value
    assert got.spa_p_values == none.spa_p_values
    assert got.spa_unstudentized_p_values == none.spa_unstudentized_p_values
    d = got.to_dict()
    assert d["rc_null_scale"] == "variance_share" and d["rc_null_scale_factor"] == c
    assert none.to_dict()["rc_null_scale"] == "none"


def test_uncentred_null_is_never_scaled_and_bad_names_are_refused():
    x = ar1_panel(5, 300, 6, 0.7)
    r = run_family_reality_check(x, RealityCheckConfig(n_sim=99), no_cache=True, null_centering="none")
    assert r.null_scale_factor == 1.0
    with pytest.raises(InvalidInputError, match="rc_null_scale"):
        run_family_reality_check(x, RealityCheckConfig(n_sim=99, rc_null_scale="bogus"), no_cache=True)  # type: ignore[arg-type]
    assert _core.rc_null_scale_factor("variance_share", "recentred", 0.81) == 1.0 / 0.9
    assert _core.rc_null_scale_factor("variance_share", "recentred", 1.2) == 1.0  # capped at 1
    assert _core.rc_null_scale_factor("variance_share", "recentred", None) == 1.0
    assert _core.rc_null_scale_factor("variance_share", "recentred", -0.5) == 1.0
    assert _core.rc_null_scale_factor("none", "recentred", 0.5) == 1.0
    assert _core.rc_null_scale_factor("variance_share", "none", 0.5) == 1.0


def test_cache_keeps_the_scaled_and_unscaled_nulls_apart(tmp_path):
    fields = ("fam", "ds", "c0", "mean_ic", None, 99, 3, "stationary", 12)
    assert get_rc_cache_key(*fields) == get_rc_cache_key(*fields, null_scale="variance_share")
    assert get_rc_cache_key(*fields) != get_rc_cache_key(*fields, null_scale="none")
    x = ar1_panel(11, 300, 8, 0.7)
    kw = dict(family_id="fam", dataset_id="ds", cache_dir=tmp_path)
    plain = run_family_reality_check(x, RealityCheckConfig(n_sim=99, seed=3, rc_null_scale="none"), **kw)
    scaled = run_family_reality_check(x, RealityCheckConfig(n_sim=99, seed=3), **kw)
    assert not scaled.cache_hit and plain.cache_key != scaled.cache_key
    again = run_family_reality_check(x, RealityCheckConfig(n_sim=99, seed=3), **kw)
    assert again.cache_hit
    assert again.rc_p_value == scaled.rc_p_value
    assert again.null_scale_factor == scaled.null_scale_factor > 1.0
    assert again.romano_wolf_p_values == scaled.romano_wolf_p_values
    assert again.to_dict()["rc_null_scale_factor"] == scaled.to_dict()["rc_null_scale_factor"]
    assert np.asarray(again.null_max_distribution).tobytes() == np.asarray(scaled.null_max_distribution).tobytes()
