"""Property 1: with fixed indices every statistic equals a plain numpy computation (1e-10 rel).

The reference below is written independently from docs/statistics.md: gather the rows, nanmean,
subtract m, take maxima; ω from the O(T²) autocovariance sum; SPA and Romano–Wolf by definition.
The studentized SPA's draws are divided by their own ω*_{b,k} (a bootstrap-t): the block variance
over the draw's runs of consecutive indices, written here from its definition (loops over rows).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    bootstrap_indices,
    make_null_generator_stationary,
)
from rc_reference import romano_wolf_stepdown


def omega_direct(x: np.ndarray, block: float) -> np.ndarray:
    q = 1.0 / block
    out = np.full(x.shape[1], np.nan)
    for k in range(x.shape[1]):
        d = x[~np.isnan(x[:, k]), k]
        n = d.size
        if n < 2:
            continue
        d = d - d.mean()
        w2 = np.sum(d * d) / n
        for i in range(1, n):
            kappa = ((n - i) / n) * (1 - q) ** i + (i / n) * (1 - q) ** (n - i)
            w2 += 2 * kappa * np.sum(d[: n - i] * d[i:]) / n
        out[k] = np.sqrt(w2)
    return out


# λ, the weight of the draw's own ω*² in the variance each draw is studentized by (docs/statistics.md).
OMEGA_STAR_WEIGHT = 0.85


def draw_scales(x: np.ndarray, row: np.ndarray, fallback: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """sqrt(n*)/ω of one draw, ω² = λ ω*² + (1 − λ) ω̂²: runs = maximal stretches of consecutive
    indices; per column, ω*² = (1/n*) Σ_runs (Σ_{observed t in run} (x*_t − m̄*))², n* =
    observations in the draw. Fewer than two runs with an observation, or ω* = 0: the fixed
    sqrt(n)/ω̂ (``fallback``)."""
    runs, cur = [], [row[0]]
    for prev, v in zip(row[:-1], row[1:]):
        if v == prev + 1:
            cur.append(v)
        else:
            runs.append(cur)
            cur = [v]
    runs.append(cur)
    out = np.full(x.shape[1], np.nan)
    for k in range(x.shape[1]):
        col = x[row, k]
        obs = col[~np.isnan(col)]
        if obs.size == 0:
            continue
        mstar = obs.mean()
        sums = []
        for r in runs:
            v = x[r, k]
            v = v[~np.isnan(v)]
            if v.size:
                sums.append(np.sum(v - mstar))
        q = float(np.sum(np.square(sums)))
        if len(sums) >= 2 and q > 0:
            w2 = OMEGA_STAR_WEIGHT * q / obs.size + (1 - OMEGA_STAR_WEIGHT) * omega[k] ** 2
            out[k] = np.sqrt(obs.size) / np.sqrt(w2)
        else:
            out[k] = fallback[k]
    return out


def reference(x: np.ndarray, idx: np.ndarray, block: float) -> dict:
    B = idx.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(x, axis=0)
        mstar = np.stack([np.nanmean(x[row], axis=0) for row in idx])  # B×K
        d = mstar - m
        vstar = np.nanmax(d, axis=1)
    V = np.nanmax(m)
    rc_p = (1 + np.sum(vstar >= V)) / (B + 1)
    rw = romano_wolf_stepdown(m, d)
    # SPA
    n = np.sum(~np.isnan(x), axis=0).astype(float)
    w = omega_direct(x, block)
    thr = -np.sqrt(w**2 / n * 2 * np.log(np.log(n)))
    mus = {"lower": np.maximum(m, 0), "consistent": np.where(m >= thr, m, 0.0), "upper": m}
    scale = np.sqrt(n) / w
    t_u = max(np.nanmax(m), 0.0)
    t_s = max(np.nanmax(m * scale), 0.0)
    spa_u, spa_s = {}, {}
    # Bootstrap-t: draw b, column k is divided by its own ω_{b,k}; columns without ω̂ stay out.
    dscale = np.stack([draw_scales(x, row, scale, w) for row in idx])
    dscale[:, ~(np.isfinite(w) & (w > 0))] = np.nan
    for name, mu in mus.items():
        e = mstar - mu
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            su = np.maximum(np.nanmax(e, axis=1), 0)
            ss = np.maximum(np.nan_to_num(np.nanmax(e * dscale, axis=1), nan=0.0), 0)
        spa_u[name] = (1 + np.sum(su >= t_u)) / (B + 1)
        spa_s[name] = (1 + np.sum(ss >= t_s)) / (B + 1)
    return dict(m=m, d=d, vstar=vstar, rc_p=rc_p, rw=rw, omega=w, spa_u=spa_u, spa_s=spa_s)


def close(a, b, rel=1e-10):
    np.testing.assert_allclose(a, b, rtol=rel, atol=1e-15, equal_nan=True)


@pytest.mark.parametrize("method, omega_block", [("stationary", 4.0), ("block_fixed", 7.0)])
def test_every_statistic_matches_numpy_with_fixed_indices(small_panel, method, omega_block):
    """avg_block_length (4) and block_size (7) differ, so ω must take the length of the method
    in use: avg_block_length for stationary, block_size for block_fixed."""
    x = small_panel
    T = x.shape[0]
    B = 60
    # Fixed, arbitrary indices (not blocks): the kernel must handle any index vector.
    idx = np.random.default_rng(3).integers(0, T, size=(B, T))
    idx[0] = np.arange(T)[::-1]  # a row of descending indices
    idx[1] = (np.arange(T) + 30) % T  # one wrap-around block
    cfg = RealityCheckConfig(method=method, avg_block_length=4, block_size=7, n_sim=B)
    gen = make_null_generator_stationary(x, cfg)
    got = gen.run(B, indices=idx, return_null_matrix=True)
    ref = reference(x, idx, omega_block)
    other = omega_direct(x, 11.0 - omega_block)  # the length of the other method
    assert np.all(np.abs(got["omega"] - other) > 1e-6 * np.abs(other)), "ω took the other method's length"
    close(gen.observed_stats.to_numpy(), ref["m"])
    close(got["null_matrix"], ref["d"])
    close(got["null_max"], ref["vstar"])
    close(got["omega"], ref["omega"])
    assert got["rc_p_value"] == pytest.approx(ref["rc_p"], rel=1e-12)
    close(got["romano_wolf"], ref["rw"])
    for name in ("lower", "consistent", "upper"):
        assert got["spa_unstudentized"][name] == pytest.approx(ref["spa_u"][name], rel=1e-12)
        assert got["spa_studentized"][name] == pytest.approx(ref["spa_s"][name], rel=1e-12)
    # The studentized statistic itself, against numpy.
    n = np.sum(~np.isnan(x), axis=0)
    assert got["spa_stat_studentized"] == pytest.approx(
        max(np.nanmax(np.sqrt(n) * ref["m"] / ref["omega"]), 0), rel=1e-10
    )
    # The gather reference kernel agrees too.
    gen2 = make_null_generator_stationary(x, cfg, keep_values=True)
    got2 = gen2.run(B, indices=idx, return_null_matrix=True, kernel="gather")
    close(got2["null_matrix"], ref["d"])


@pytest.mark.parametrize("rng", ["default", "numpy_legacy"])
@pytest.mark.parametrize("method", ["stationary", "block_fixed"])
def test_generated_run_equals_its_own_indices(small_panel, rng, method):
    """Simulation b of a batch uses exactly bootstrap_indices(T, b): exactness carries over."""
    x = small_panel
    T = x.shape[0]
    cfg = RealityCheckConfig(method=method, avg_block_length=5, block_size=6, n_sim=40, seed=9)
    gen = make_null_generator_stationary(x, cfg, rng=rng)
    batch = gen.run(40, return_null_matrix=True)
    idx = np.stack([bootstrap_indices(T, b, cfg, rng=rng) for b in range(40)])
    ref = reference(x, idx, 5.0 if method == "stationary" else 6.0)
    close(batch["null_matrix"], ref["d"])
    assert batch["rc_p_value"] == pytest.approx(ref["rc_p"], rel=1e-12)
    close(batch["romano_wolf"], ref["rw"])
    # The studentized SPA's per-draw ω* sees the draw's runs, not how the generator cut them into
    # blocks (adjacent blocks that continue each other are one run): same p-values as the indices.
    for name in ("lower", "consistent", "upper"):
        assert batch["spa_studentized"][name] == pytest.approx(ref["spa_s"][name], rel=1e-12)
        assert batch["spa_unstudentized"][name] == pytest.approx(ref["spa_u"][name], rel=1e-12)
    # null(b) alone gives row b.
    close(gen(7), batch["null_matrix"][7], rel=0)


def test_uncentred_null_is_the_old_statistic(small_panel):
    x = small_panel
    T = x.shape[0]
    idx = np.random.default_rng(5).integers(0, T, size=(30, T))
    gen = make_null_generator_stationary(x, RealityCheckConfig(n_sim=30), null_centering="none")
    got = gen.run(30, indices=idx, return_null_matrix=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mstar = np.stack([np.nanmean(x[row], axis=0) for row in idx])
        vstar = np.nanmax(mstar, axis=1)
    close(got["null_matrix"], mstar)
    assert got["null_centering"] == "none"
    assert got["rc_p_value"] == pytest.approx((1 + np.sum(vstar >= np.nanmax(np.nanmean(x, 0)))) / 31)


def test_fft_omega_matches_direct_sum_on_a_longer_series():
    x = np.random.default_rng(1).normal(size=(1500, 3)).cumsum(axis=0) * 0.01 + np.random.default_rng(2).normal(
        size=(1500, 3)
    )
    gen = make_null_generator_stationary(x, RealityCheckConfig(avg_block_length=20))
    close(gen.omega, omega_direct(x, 20.0), rel=1e-10)
