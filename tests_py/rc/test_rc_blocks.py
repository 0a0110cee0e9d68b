"""The column-block engine (rc_blocks) in one process, no Dask: a family split into contiguous
blocks, each run on its own and combined, gives the single-process batch bit for bit — null
maxima, RC, every SPA variant (studentized with the per-draw ω*), Romano–Wolf — for every
stream, both methods, both nulls, with gaps, for splits of every kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from crypto_analyzer_promotion import rc_blocks
from crypto_analyzer_promotion.exceptions import InvalidInputError
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    _block_length,
    _family_matrix,
    _resolve_stream,
    bootstrap_variance_share,
    make_null_generator_stationary,
    run_family_reality_check,
)


def panel(seed: int, t: int, k: int, gaps: bool, negative_block: bool = False) -> pd.DataFrame:
    """AR(1) columns, some with an edge; optionally gaps, an all-NaN column and a first block of
    strongly negative means (whose own studentized SPA statistic is 0 while the family's is not)."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(t + 20, k))
    x = np.empty_like(e)
    x[0] = e[0]
    for i in range(1, t + 20):
        x[i] = 0.4 * x[i - 1] + e[i]
    x = x[20:] * 0.1
    x[:, ::4] += 0.03
    if negative_block:
        x[:, : max(1, k // 3)] -= 0.5
    if gaps:
        x[rng.random(size=x.shape) < 0.08] = np.nan
        x[:, k // 2] = np.nan
    return pd.DataFrame(x, columns=[f"s{i:03d}|1" for i in range(k)])


def splits(k: int) -> list[list[tuple[int, int]]]:
    """One block, blocks that do not divide K, blocks of one column, an uneven split."""
    out = [[(0, k)], rc_blocks.column_ranges(k, 3), rc_blocks.column_ranges(k, k)]
    if k > 4:
        out.append([(0, 1), (1, k - 2), (k - 2, k)])
    return out


def blocks_result(df: pd.DataFrame, cfg: RealityCheckConfig, centering: str, rng, ranges) -> dict:
    """The blocks run with the family's null scale (cfg.rc_null_scale and the family's variance
    share, as DistributedFamily passes them), then combined."""
    _, values = _family_matrix(df)
    kwargs = _resolve_stream(cfg, rng).kwargs(cfg)
    share = bootstrap_variance_share(values, cfg)
    parts = [
        rc_blocks.run_block(
            values[:, a:b],
            _block_length(cfg),
            n_sim=cfg.n_sim,
            null_centering=centering,
            stream_kwargs=kwargs,
            null_scale=cfg.rc_null_scale,
            variance_share=share,
        )
        for a, b in ranges
    ]
    return rc_blocks.combine_blocks(parts, centering, cfg.rc_null_scale, share)


def assert_same_bits(got: dict, want: dict, case: str) -> None:
    for key in ("null_max", "romano_wolf", "observed", "omega"):
        assert np.asarray(got[key]).tobytes() == np.asarray(want[key]).tobytes(), f"{case}: {key}"
    for key in ("rc_p_value", "observed_max", "spa_stat_studentized", "spa_stat_unstudentized"):
        assert np.float64(got[key]).tobytes() == np.float64(want[key]).tobytes(), f"{case}: {key}"
    for key in ("spa_studentized", "spa_unstudentized"):
        for v in ("lower", "consistent", "upper"):
            assert np.float64(got[key][v]).tobytes() == np.float64(want[key][v]).tobytes(), f"{case}: {key} {v}"
    assert got["n_sim"] == want["n_sim"] and got["null_centering"] == want["null_centering"]
    assert np.float64(got["null_scale"]).tobytes() == np.float64(want["null_scale"]).tobytes(), f"{case}: null_scale"


CASES = [
    # (seed, T, K, gaps, method, rng, run_key, centering, negative_block)
    (1, 300, 11, False, "stationary", "default", None, "recentred", False),
    (2, 257, 10, True, "stationary", "default", None, "recentred", True),
    (3, 200, 9, True, "block_fixed", "default", None, "recentred", False),
    (4, 180, 8, False, "stationary", "numpy_legacy", None, "recentred", True),
    (5, 211, 7, True, "block_fixed", "numpy_legacy", None, "none", False),
    (6, 240, 9, True, "stationary", "numpy_pcg64", None, "recentred", False),
    (7, 190, 6, False, "block_fixed", "numpy_pcg64", "run-7", "recentred", True),
    (8, 150, 12, True, "stationary", "default", None, "none", False),
]


@pytest.mark.parametrize("seed,t,k,gaps,method,rng,run_key,centering,negative", CASES)
def test_blocks_equal_the_single_batch(seed, t, k, gaps, method, rng, run_key, centering, negative):
    df = panel(seed, t, k, gaps, negative)
    cfg = RealityCheckConfig(n_sim=240, method=method, avg_block_length=7, block_size=5, seed=seed, run_key=run_key)
    want = make_null_generator_stationary(df, cfg, null_centering=centering, rng=rng).run(cfg.n_sim)
    # Not vacuous: the stepdown has several distinct steps, and with the recentred null a discovery.
    assert len(set(want["romano_wolf"])) >= 3
    assert centering == "none" or min(want["romano_wolf"]) < 0.5
    for ranges in splits(k):
        got = blocks_result(df, cfg, centering, rng, ranges)
        assert_same_bits(got, want, f"{method}/{rng}/{centering} gaps={gaps} ranges={ranges}")


def test_a_block_whose_own_spa_statistic_is_zero():
    """The first block's means are all negative: alone, its studentized SPA statistic is 0, so it
    must give every draw its own ω* anyway (the family's statistic is positive)."""
    df = panel(11, 260, 9, False, negative_block=True)
    cfg = RealityCheckConfig(n_sim=300, seed=3)
    _, values = _family_matrix(df)
    alone = make_null_generator_stationary(df.iloc[:, :3], cfg).run(cfg.n_sim)
    assert alone["spa_stat_studentized"] == 0.0
    want = make_null_generator_stationary(df, cfg).run(cfg.n_sim)
    assert want["spa_stat_studentized"] > 0.0
    # The studentized SPA p-values differ from the fixed-ω ones: ω* matters here.
    assert want["spa_studentized"] != want["spa_unstudentized"]
    assert_same_bits(blocks_result(df, cfg, "recentred", None, [(0, 3), (3, 9)]), want, "negative block")


def test_family_result_through_blocks_matches_run_family_reality_check():
    df = panel(21, 220, 10, True)
    cfg = RealityCheckConfig(n_sim=200, seed=9)
    res = run_family_reality_check(df, cfg, no_cache=True)
    got = blocks_result(df, cfg, "recentred", None, [(0, 4), (4, 10)])
    assert got["null_max"].tobytes() == res.null_max_distribution.tobytes()
    assert got["rc_p_value"] == res.rc_p_value
    assert dict(got["spa_studentized"]) == res.spa_p_values
    assert [float(v) for v in got["romano_wolf"]] == [res.romano_wolf_p_values[h] for h in res.hypothesis_ids]


def test_one_period_gives_p_one():
    df = pd.DataFrame({"a": [0.1], "b": [0.2]})
    cfg = RealityCheckConfig(n_sim=20)
    want = make_null_generator_stationary(df, cfg).run(cfg.n_sim)
    assert_same_bits(blocks_result(df, cfg, "recentred", None, [(0, 1), (1, 2)]), want, "T=1")


def test_column_ranges():
    assert rc_blocks.column_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert rc_blocks.column_ranges(2, 5) == [(0, 1), (1, 2)]
    for bad in (0, -1, True, 1.5):
        with pytest.raises(InvalidInputError):
            rc_blocks.column_ranges(4, bad)


def _two_parts(t0: int = 100, t1: int = 100) -> list[dict]:
    cfg = RealityCheckConfig(n_sim=30)
    kwargs = _resolve_stream(cfg).kwargs(cfg)
    rng = np.random.default_rng(0)
    return [
        rc_blocks.run_block(rng.normal(size=(t, 2)), 12.0, n_sim=30, null_centering="recentred", stream_kwargs=kwargs)
        for t in (t0, t1)
    ]


def test_blocks_of_different_lengths_are_one_clear_error():
    with pytest.raises(InvalidInputError, match="not read from the same data"):
        rc_blocks.combine_blocks(_two_parts(100, 90), "recentred")


@pytest.mark.parametrize(
    "corrupt,match",
    [
        (lambda p: p.update(rec_col=np.full_like(p["rec_col"], 99)), "outside the block"),
        (lambda p: p.update(rec_start=p["rec_start"][:-1]), "malformed"),
        (lambda p: p.update(null_max=p["null_max"][:5]), "wrong length"),
        (lambda p: p.update(spa=np.zeros((30, 5))), "n_sim x 6"),
        (lambda p: p.pop("omega"), "omega"),
        (lambda p: p.update(n_sim=31), "simulations"),
    ],
)
def test_malformed_block_outputs_are_refused(corrupt, match):
    parts = _two_parts()
    assert parts[1]["rec_col"].size > 0
    corrupt(parts[1])
    with pytest.raises(InvalidInputError, match=match):
        rc_blocks.combine_blocks(parts, "recentred")
    with pytest.raises(InvalidInputError):
        rc_blocks.combine_blocks([], "recentred")
