"""The RC / Romano–Wolf null scale (issue 26; docs/size_study.md, "The RC's default null: one
variance scale per family"): the default ``rc_null_scale="variance_share"`` multiplies the bootstrap deviations by
c = 1/sqrt(min(1, s)), s the median variance share of the first columns; ``"none"`` is White's RC
as published. Checked against the definition written here in numpy from the engine's own draws:
the RC p-value and the null maxima from c·(m* − m), Romano–Wolf from the scaled matrix, the
unstudentized SPA from c·max(max_k(m* − μ_k), 0) for each recentring (the studentized SPA's draws
need each draw's ω*: its scaled definition is checked in test_rc_size_regression.py's frozen values);
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
from rc_reference import romano_wolf_stepdown
from scipy.signal import lfilter


def ar1_panel(seed: int, t: int, k: int, phi: float, edges: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = lfilter([1.0], [1.0, -phi], rng.normal(size=(t + 50, k)), axis=0)[50:]
    x[:, :edges] += 3.0 / (1 - phi) / math.sqrt(t)  # edges, so that p-values of every size occur
    return x


def p_value(null_max: np.ndarray, observed_max: float) -> float:
    return (1 + int(np.sum(null_max >= observed_max))) / (null_max.size + 1)


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
    assert np.array_equal(list(got.romano_wolf_p_values.values()), romano_wolf_stepdown(obs, scaled))
    assert np.array_equal(list(none.romano_wolf_p_values.values()), romano_wolf_stepdown(obs, draws))
    # A wider null: never a smaller p-value, for every test.
    assert got.rc_p_value >= none.rc_p_value
    for variant, p in got.spa_p_values.items():
        assert p >= none.spa_p_values[variant], variant
    d = got.to_dict()
    assert d["rc_null_scale"] == "variance_share" and d["rc_null_scale_factor"] == c
    assert none.to_dict()["rc_null_scale"] == "none"


@pytest.mark.parametrize("phi", [0.7, 0.3])
def test_spa_null_is_scaled_like_the_rc_on_the_engine_draws(phi):
    """The unstudentized SPA from its definition on the engine's draws: each draw's maximum
    max(max_k(m*_k − μ_k), 0) times c against the observed max(max_k m_k, 0), per recentring μ
    (Hansen's lower, consistent, upper). Null panels (no edge), so the p-values sit inside (0, 1)
    and the scale moves them."""
    moved = 0
    for seed in range(5):
        x = ar1_panel(2600 + seed, 400, 12, phi, edges=0)
        cfg = RealityCheckConfig(n_sim=299, seed=seed)
        got = run_family_reality_check(x, cfg, no_cache=True, return_null_matrix=True)
        none = run_family_reality_check(
            x, RealityCheckConfig(n_sim=299, seed=seed, rc_null_scale="none"), no_cache=True
        )
        c = got.null_scale_factor
        draws, obs, omega = np.asarray(got.null_matrix), np.asarray(got.observed_stats), np.asarray(got.omega)
        n = x.shape[0]
        thr = -np.sqrt(omega**2 / n * 2 * math.log(math.log(n)))
        spa_obs = max(float(np.max(obs)), 0.0)
        mus = {"lower": np.maximum(obs, 0.0), "consistent": np.where(obs >= thr, obs, 0.0), "upper": obs}
        for name, mu in mus.items():
            t_star = np.maximum(np.max(draws + (obs - mu), axis=1), 0.0)
            assert got.spa_unstudentized_p_values[name] == p_value(c * t_star, spa_obs), (seed, name)
            assert none.spa_unstudentized_p_values[name] == p_value(t_star, spa_obs), (seed, name)
            moved += got.spa_unstudentized_p_values[name] != none.spa_unstudentized_p_values[name]
        # The studentized SPA on the same scale: a wider null, never a smaller p-value.
        for variant, p in got.spa_p_values.items():
            assert p >= none.spa_p_values[variant], (seed, variant)
            moved += p != none.spa_p_values[variant]
    assert moved > 0  # the scale reached the SPA on these panels


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
