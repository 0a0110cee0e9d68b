"""The null (maxima, the B×K matrix, Romano–Wolf, SPA, ω) is bit-identical to the engine's output
before the streamed prefix sums (``fixtures/null_bits.npz``, written by that build; see ``make_null_bits.py``),
on every kernel path: prefix sums stored or streamed from the input, AVX2 or scalar build,
gather reference, explicit indices, null(b), 1 or 2 threads, C or Fortran order.

Two groups of values changed on purpose after the fixture was written, and are compared across
every path with the stored-prefix AVX2 run of the same build instead:
- the studentized SPA p-values (the first three entries of ``spa``): each draw is now divided by
  its own ω* (size study, docs/size_study.md); their values are checked against plain numpy in
  test_rc_exactness.py;
- ω and the observed studentized SPA statistic (``spa[6]``): ω's autocovariances now come from a
  real FFT of length 51,200 instead of a complex one of 65,536 at T = 25,000 (omega.rs), which moves
  some values by a few ulp; they stay within 1e-14 of the fixture (checked here) and within 1e-10
  of a direct numpy sum (test_rc_exactness.py)."""

from __future__ import annotations

import gc
import importlib.util
import pathlib

import numpy as np
import pytest
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion.exceptions import InvalidInputError

HERE = pathlib.Path(__file__).resolve().parent / "fixtures"
EXPECTED = np.load(HERE / "null_bits.npz")

_spec = importlib.util.spec_from_file_location("make_null_bits", HERE / "make_null_bits.py")
assert _spec and _spec.loader
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


STUDENTIZED = slice(0, 3)  # spa[0:3]: the studentized SPA p-values (lower, consistent, upper)
SPA_STAT_STUDENTIZED = 6  # spa[6]: the observed studentized SPA statistic (depends on ω)
OMEGA_RTOL = 1e-14  # ω (and what it divides) against the fixture's complex-FFT values


def close_to_fixture(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaN where the fixture has none"
    ok = ~np.isnan(want)
    rel = np.abs(got[ok] - want[ok]) / np.maximum(np.abs(want[ok]), 1e-300)
    assert rel.size == 0 or rel.max() <= OMEGA_RTOL, f"{what}: {rel.max():.2e} from the fixture"


def same_bits(got: dict, prefix: str, reference: dict | None = None) -> None:
    for key, val in got.items():
        want = EXPECTED[f"{prefix}/{key}"]
        got_a = np.asarray(val)
        if key in ("spa", "omega"):
            assert reference is not None, "the studentized SPA and ω need a same-build reference"
            same_build = np.asarray(reference[key])
            if key == "omega":
                close_to_fixture(got_a, want, f"{prefix}/omega")
                want = same_build
            else:
                close_to_fixture(got_a[[SPA_STAT_STUDENTIZED]], want[[SPA_STAT_STUDENTIZED]], f"{prefix}/spa_stat")
                want = want.copy()
                want[STUDENTIZED] = same_build[STUDENTIZED]
                want[SPA_STAT_STUDENTIZED] = same_build[SPA_STAT_STUDENTIZED]
        assert got_a.shape == want.shape, f"{prefix}/{key}: shape {got_a.shape} != {want.shape}"
        if got_a.dtype == np.float64:
            diff = np.flatnonzero(got_a.view(np.uint64) != want.view(np.uint64))
            assert diff.size == 0, (
                f"{prefix}/{key}: {diff.size} values differ, first at {diff[0]}: {got_a.flat[diff[0]]!r} vs {want.flat[diff[0]]!r}"
            )
        else:
            assert np.array_equal(got_a, want), f"{prefix}/{key}: the B×K null matrix differs"


@pytest.fixture(params=["1", "2"], ids=["1thread", "2threads"])
def threads(request, monkeypatch):
    monkeypatch.setenv("CRYPTO_ANALYZER_THREADS", request.param)
    return int(request.param)


@pytest.mark.parametrize("prefix", ["stored", "streamed"])
@pytest.mark.parametrize("kernel", ["prefix", "prefix_scalar"])
def test_every_case_equals_the_fixture_bit_for_bit(prefix, kernel, threads):
    for name, data, eng in gen.cases():
        got = gen.run_case(data, eng, prefix=prefix, kernel=kernel)
        same_bits(got, name, gen.run_case(data, eng, prefix="stored", kernel="prefix"))


@pytest.mark.parametrize("prefix", ["stored", "streamed"])
def test_gather_explicit_and_single_simulation_equal_the_fixture(prefix):
    data = dict(t=61, k=7, nan=True, seed=11, order="F")
    eng = dict(
        method="stationary",
        avg_block_length=5.0,
        block_size=5.0,
        seed=9,
        rng="default",
        null_centering="recentred",
        n_sim=80,
    )
    ref = gen.run_case(data, eng, prefix="stored", kernel="prefix")
    same_bits(gen.run_case(data, eng, keep_values=True, kernel="gather", prefix=prefix), "gather", ref)
    idx = np.random.default_rng(3).integers(0, 61, size=(80, 61)).astype(np.int64)
    ref = gen.run_case(data, eng, indices=idx, prefix="stored")
    same_bits(gen.run_case(data, eng, indices=idx, prefix=prefix), "explicit", ref)
    for nan in (False, True):
        e = _core.RcEngine(gen.panel(61, 7, nan, 11), 5.0, prefix=prefix)
        assert e.streamed == (prefix == "streamed")
        got = np.stack(
            [
                e.null_stats(
                    b,
                    method="stationary",
                    avg_block_length=5.0,
                    block_size=5.0,
                    seed=9,
                    rng="default",
                    null_centering="recentred",
                )
                for b in (0, 1, 77)
            ]
        )
        assert np.array_equal(got.view(np.uint64), EXPECTED[f"null_stats-{nan}"].view(np.uint64))


def test_the_fixture_can_fail():
    # A value moved by 1e-12 changes the null matrix's bits: the comparison is not vacuous.
    name, data, eng = gen.cases()[0]
    x = gen.panel(data["t"], data["k"], data["nan"], data["seed"])
    x[5, 3] += 1e-12
    e = _core.RcEngine(np.ascontiguousarray(x), 5.0)
    r = e.run(return_null_matrix=True, **eng)
    assert not np.array_equal(gen.digest(r["null_matrix"]), EXPECTED[f"{name}/null_matrix_sha256"])


def test_auto_mode_streams_only_large_inputs():
    assert not _core.RcEngine(np.zeros((50, 4)), 5.0).streamed
    # (T+1)·K·8 bytes above 256 MiB: read in place. All NaN, so no column needs ω's FFT.
    big = np.full((2**15, 1025), np.nan, order="F")
    assert _core.RcEngine(big, 5.0).streamed


@pytest.mark.parametrize("order", ["C", "F"])
def test_streamed_engine_detects_a_changed_input(order):
    x = gen.panel(61, 7, False, 11)
    x = np.asfortranarray(x) if order == "F" else np.ascontiguousarray(x)
    e = _core.RcEngine(x, 5.0, prefix="streamed")
    kw = dict(
        method="stationary", avg_block_length=5.0, block_size=5.0, seed=9, rng="default", null_centering="recentred"
    )
    e.run(n_sim=10, **kw)
    x[30, 2] += 1.0
    with pytest.raises(InvalidInputError, match="modified after"):
        e.run(n_sim=10, **kw)


def test_streamed_engine_keeps_the_array_alive():
    x = np.asfortranarray(gen.panel(61, 7, True, 11))
    e = _core.RcEngine(x, 5.0, prefix="streamed")
    want = e.run(
        n_sim=20,
        method="stationary",
        avg_block_length=5.0,
        block_size=5.0,
        seed=9,
        rng="default",
        null_centering="recentred",
    )["null_max"].copy()
    del x
    gc.collect()
    got = e.run(
        n_sim=20,
        method="stationary",
        avg_block_length=5.0,
        block_size=5.0,
        seed=9,
        rng="default",
        null_centering="recentred",
    )["null_max"]
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))


def test_unknown_prefix_mode_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="prefix mode"):
        _core.RcEngine(np.zeros((5, 2)), 2.0, prefix="fast")
