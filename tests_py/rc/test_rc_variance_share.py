"""The data-driven part of the size warning (issue 26, docs/size_study.md): the share of each
series' long-run variance that the block bootstrap reproduces, checked against a plain numpy
reference written here from the definitions (Politis & White 2004's bandwidth rule, the flat-top
window, the bootstrap's lag weights), and the warning it drives on data whose dependence outlasts
the blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    bootstrap_variance_share,
    run_family_reality_check,
)


def reference_share(series: np.ndarray, method: str, length: float) -> float | None:
    x = series[np.isfinite(series)]
    n = x.size
    if n < 8:
        return None
    x = x - x.mean()
    gamma = np.array([x[k:] @ x[: n - k] / n for k in range(n)])  # direct sums, every lag
    if not gamma[0] > 0:
        return None
    k_n = max(5, math.ceil(math.sqrt(math.log10(n))))
    m_max = min(math.ceil(math.sqrt(n)) + k_n, n - 1)
    band = 2 * math.sqrt(math.log10(n) / n)
    rho = gamma / gamma[0]

    def inside(lag: int) -> bool:
        return lag > m_max or abs(rho[lag]) < band

    m_hat = next(m for m in range(m_max + 1) if all(inside(m + j) for j in range(1, k_n + 1)))
    big_m = min(2 * m_hat, m_max)
    lrv = boot = gamma[0]
    for k in range(1, big_m + 1):
        u = k / big_m
        lam = 1.0 if u <= 0.5 else 2 * (1 - u)
        w = (1 - 1 / length) ** k if method == "stationary" else max(0.0, 1 - k / length)
        lrv += 2 * lam * gamma[k]
        boot += 2 * lam * w * gamma[k]
    return boot / lrv if lrv > 0 else None


def ar1(rng: np.random.Generator, phi: float, t: int, k: int) -> np.ndarray:
    e = rng.normal(size=(t + 100, k))
    for i in range(1, t + 100):
        e[i] += phi * e[i - 1]
    return e[100:]


@pytest.mark.parametrize(
    "method,length", [("stationary", 12), ("stationary", 3), ("block_fixed", 12), ("block_fixed", 1)]
)
@pytest.mark.parametrize("phi,t", [(0.0, 250), (0.3, 500), (0.7, 1000), (0.95, 300)])
def test_each_column_matches_the_numpy_reference(method, length, phi, t):
    rng = np.random.default_rng(int(phi * 100) + t + length)
    x = ar1(rng, phi, t, 7)
    x[rng.random(size=x.shape) < 0.05] = np.nan  # gaps: the observed values, in order
    got = _core.rc_variance_shares(np.asfortranarray(x), method, float(length), float(length))
    want = [reference_share(x[:, j], method, length) for j in range(x.shape[1])]
    assert len(got) == 7
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if g is not None:
            assert g == pytest.approx(w, rel=1e-9, abs=1e-12)
    # Either memory layout gives the same bits; the family's figure is their median.
    assert _core.rc_variance_shares(np.ascontiguousarray(x), method, float(length), float(length)) == got
    assert _core.rc_median_share(got) == float(np.median([g for g in got if g is not None]))


def test_only_the_first_columns_are_read():
    rng = np.random.default_rng(5)
    n = int(_core.RC_SHARE_COLUMNS)
    x = np.concatenate([rng.normal(size=(400, n)), np.full((400, 3), np.nan)], axis=1)
    assert len(_core.rc_variance_shares(np.asfortranarray(x), "stationary", 12.0, 12.0)) == n
    # Columns beyond the first n never matter, whatever they hold.
    y = x.copy()
    y[:, n:] = ar1(rng, 0.99, 400, 3)
    cfg = RealityCheckConfig()
    assert bootstrap_variance_share(x, cfg) == bootstrap_variance_share(y, cfg)


def test_series_with_nothing_to_judge_give_none():
    assert bootstrap_variance_share(np.ones((100, 3))) is None
    assert bootstrap_variance_share(np.full((100, 2), np.nan)) is None
    assert _core.rc_median_share([None, 0.5, None]) == 0.5
    assert _core.rc_median_share([]) is None


def test_strong_dependence_warns_and_the_calibration_designs_do_not():
    # φ = 0.7 with L = 12 (the study's strong_dep design, where the RC rejected 9.25 % at 5 %)
    # warns; φ = 0.3 (every other design of the study) does not. Several seeds each.
    cfg = RealityCheckConfig(n_sim=20)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        strong = run_family_reality_check(ar1(rng, 0.7, 1000, 10), cfg, no_cache=True)
        assert strong.variance_share is not None and 0.78 < strong.variance_share < 0.88
        assert strong.size_warning is not None and "long-run variance" in strong.size_warning
        assert strong.to_dict()["bootstrap_variance_share"] == strong.variance_share
        mild = run_family_reality_check(ar1(rng, 0.3, 1000, 10), cfg, no_cache=True)
        assert mild.variance_share is not None and 0.92 < mild.variance_share < 0.99
        assert mild.size_warning is None
    # A longer average block length keeps more of the dependence: the share rises, the warning goes.
    x = ar1(np.random.default_rng(9), 0.7, 2000, 10)  # T / L = 50 blocks at L = 40
    short = run_family_reality_check(x, RealityCheckConfig(n_sim=20, avg_block_length=12), no_cache=True)
    long = run_family_reality_check(x, RealityCheckConfig(n_sim=20, avg_block_length=40), no_cache=True)
    assert short.variance_share < 0.9 < long.variance_share and long.size_warning is None


def test_the_threshold_study_script_runs(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import variance_share_study

    assert variance_share_study.main(["--panels", "2", "--designs", "iid", "strong_dep"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| iid") or line.startswith("| strong_dep")]
    assert len(rows) == 2 and "| 100.0 % |" in rows[1]  # both φ = 0.7 panels below every cut


def test_the_variance_correction_study_script_runs(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import rc_variance_correction_study as study

    assert study.main(["--panels", "3", "--b", "49", "--designs", "iid", "--power", "0", "6"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| iid")]
    assert len(rows) == 2
    # i.i.d. columns: the shares are 1 or within a hair of it, so the corrected RC rejects the same panels.
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == cells[3], row
