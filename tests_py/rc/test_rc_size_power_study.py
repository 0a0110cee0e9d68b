"""scripts/size_power_study.py (`make size-study`): its panel generator makes the designs it names
(mean 0, unit-variance shocks, the AR(1) long-run variance the power edges are scaled by), and its
`--quick` mode runs end to end with every column of docs/size_study.md's tables."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "size_power_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("size_power_study", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["size_power_study"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "kw",
    [
        dict(shocks="normal", garch=False, factor=0.0, phi=0.0),
        dict(shocks="t4", garch=False, factor=0.5, phi=0.0),
        dict(shocks="t4", garch=True, factor=0.3, phi=0.0),
        dict(shocks="normal", garch=True, factor=0.0, phi=0.5),
    ],
)
def test_panels_have_mean_zero_and_the_stated_long_run_variance(study, kw):
    """Over many periods: the mean is 0 within 4 standard errors, the shocks' variance is 1 (so
    the long-run variance of an AR(1) column is 1/(1−φ)²), and the factor share is the stated
    correlation between columns (a little less with GARCH)."""
    d = study.Design("t", 200_000, 3, **kw)
    x = study.panel(np.random.default_rng(7), d)
    assert x.shape == (200_000, 3)
    e = x[1:] - d.phi * x[:-1]  # the shocks
    se_mean = study.long_run_se(d)
    assert np.all(np.abs(x.mean(axis=0)) < 4 * se_mean), x.mean(axis=0)
    assert np.allclose(e.var(axis=0), 1.0, atol=0.06 if kw["shocks"] == "t4" else 0.02), e.var(axis=0)
    corr = np.corrcoef(e, rowvar=False)[0, 1]
    if kw["garch"]:
        # ρ is the factor's share in the standardized shocks; each column's own volatility
        # (E σ1σ2 < sqrt(E σ1² E σ2²)) lowers the correlation of the shocks themselves a little.
        assert kw["factor"] - 0.06 < corr <= kw["factor"] + 0.02
    else:
        assert corr == pytest.approx(kw["factor"], abs=0.02)
    # The long-run s.e. the power edges use: (1/(1−φ))/√T, checked on batch means.
    batches = x.reshape(200, 1000, 3).mean(axis=1)
    assert batches.std() * math.sqrt(1000) == pytest.approx(1.0 / (1.0 - d.phi), rel=0.15)


def test_quick_mode_runs_every_measure_with_arch_beside_ours(tmp_path):
    out = tmp_path / "q.json"
    md = tmp_path / "q.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--designs", "small_T", "fixed_blocks", "--auto-block"]
        + ["--json", str(out), "--markdown", str(md)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert [d["name"] for d in res["designs"]] == ["small_T", "fixed_blocks"]
    small = res["designs"][0]["results"]
    for name in (
        "rc",
        "romano_wolf_fwer_complete",
        "romano_wolf_fwer_partial",
        "spa_studentized_consistent",
        "spa_unstudentized_lower",
        "spa_studentized_fixed_omega_consistent",
        "arch_spa_consistent",
        "arch_stepm_fwer_complete",
        "arch_stepm_fwer_partial",
        "power_3_rc",
        "power_4_arch_spa_consistent",
        "power_3_spa_unstudentized_consistent",
        "rc_auto_block",
    ):
        r = small[name]
        assert r["n"] == res["designs"][0]["panels"] and 0 <= r["hits"] <= r["n"]
        assert r["mc_se"] == pytest.approx(math.sqrt(r["rate"] * (1 - r["rate"]) / r["n"]))
    compared = res["designs"][0]["power_compared"]["3"]
    assert compared["arch_spa_consistent"]["minus_arch"] is None
    for name in ("rc", "spa_studentized_consistent", "spa_unstudentized_consistent"):
        diff = compared[name]["minus_arch"]
        assert diff["n"] == res["designs"][0]["panels"]
        assert diff["diff"] == pytest.approx(
            small[f"power_3_{name}"]["rate"] - small["power_3_arch_spa_consistent"]["rate"]
        )
        assert 0.0 <= compared[name]["size_adjusted"]["power"] <= 1.0
    assert "fixed_blocks" in [d["name"] for d in res["designs"]] and "power_compared" not in res["designs"][1]
    text = md.read_text()
    assert "| small_T | 3 | SPA unstud. consistent |" in text
    assert "| small_T: T=250, K=10, AR(1) φ=0.3, normal, stationary L=12 |" in text
    assert "fixed blocks b=12" in text and "arch StepM FWER" in text


def test_size_adjusted_power_is_exactly_alpha_on_the_null_and_orders_by_p_value(study):
    """The size-adjusted rule rejects exactly α of the null p-values it was set on (ties at the
    critical value randomized), so on the same p-values its power is α; p-values all below every
    null p-value give power 1, all above give 0; and it counts the alternative's p-values below the
    null's α-quantile, which this checks against a count written out here."""
    rng = np.random.default_rng(26)
    p0 = rng.integers(1, 301, size=4000) / 300.0  # a bootstrap's grid: ties everywhere
    for alpha in (0.01, 0.05, 0.1):
        got = study.size_adjusted_power(p0, p0, alpha)
        assert got["power"] == pytest.approx(alpha, abs=1e-12)
        v, g = got["critical_p"], got["randomized_share"]
        assert np.mean(p0 < v) <= alpha <= np.mean(p0 <= v) and 0.0 <= g <= 1.0
    assert study.size_adjusted_power(p0, np.full(10, 0.0), 0.05)["power"] == 1.0
    assert study.size_adjusted_power(p0, np.full(10, 1.0), 0.05)["power"] == 0.0
    p1 = rng.integers(1, 301, size=3000) / 300.0 * rng.uniform(0.0, 1.0, size=3000)
    got = study.size_adjusted_power(p0, p1, 0.05)
    v = got["critical_p"]
    share_at_v = (0.05 - np.sum(p0 < v) / p0.size) / (np.sum(p0 == v) / p0.size)
    assert got["power"] == pytest.approx(np.sum(p1 < v) / p1.size + share_at_v * np.sum(p1 == v) / p1.size)
    # With continuous null p-values and no ties, the critical value is the null's α-quantile.
    u = rng.uniform(size=2000)
    got = study.size_adjusted_power(u, u, 0.05)
    assert got["critical_p"] == np.sort(u)[100] and got["randomized_share"] == 0.0


def test_paired_difference_and_its_standard_error(study):
    """rate(a) − rate(b) on the same panels, with sd(a − b)/√n: written out for a small case."""
    tally = study.Tally()
    a = [1, 1, 0, 1, 0, 0, 1, 1]
    b = [1, 0, 0, 1, 1, 0, 0, 0]
    for x, y in zip(a, b):
        tally.add("a", bool(x))
        tally.add("b", bool(y))
    d = np.array(a, float) - np.array(b, float)
    got = tally.paired("a", "b")
    assert got["diff"] == pytest.approx(5 / 8 - 3 / 8) and got["n"] == 8
    assert got["mc_se"] == pytest.approx(math.sqrt(np.sum((d - d.mean()) ** 2) / 7 / 8))
    assert tally.paired("a", "missing") is None
