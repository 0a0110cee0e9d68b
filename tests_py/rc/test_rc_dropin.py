"""Drop-in details of the analyzer's reality_check API, checked against plain numpy written here."""

import numpy as np
import pandas as pd
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    compute_sweep_statistic,
    reality_check_pvalue,
    run_reality_check,
)
from rc_reference import romano_wolf_stepdown


def test_labelled_observations_are_paired_with_the_generator_in_id_order(monkeypatch):
    monkeypatch.setenv("CRYPTO_ANALYZER_ENABLE_ROMANOWOLF", "1")
    rng = np.random.default_rng(3)
    ids_sorted = ["a", "b", "c", "d"]
    obs_sorted = np.array([0.02, 0.30, 0.05, 0.12])
    null = rng.normal(0.0, 0.1, size=(300, 4))  # column k is the null of ids_sorted[k]
    expected = dict(zip(ids_sorted, romano_wolf_stepdown(obs_sorted, null)))

    shuffled = pd.Series(obs_sorted[[2, 0, 3, 1]], index=["c", "a", "d", "b"])
    out = run_reality_check(shuffled, lambda b: null[b], RealityCheckConfig(n_sim=300))
    assert out["hypothesis_ids"] == ids_sorted
    assert out["romano_wolf_p_values"] == expected
    as_dict = run_reality_check(dict(shuffled), lambda b: null[b], RealityCheckConfig(n_sim=300))
    assert as_dict["romano_wolf_p_values"] == expected
    # The analyzer's key for the same numbers.
    assert out["rw_adjusted_p_values"].to_dict() == expected
    expected_rc = (1 + np.sum(null.max(axis=1) >= obs_sorted.max())) / 301
    assert out["rc_p_value"] == expected_rc


def test_pvalue_takes_null_maxima_or_any_width_of_null_matrix():
    obs = [0.1, 0.2, 0.3]
    maxima = np.array([0.1, 0.5, 0.25, 0.3])
    assert reality_check_pvalue(obs, maxima) == (1 + np.sum(maxima >= 0.3)) / (maxima.size + 1)
    wide = np.array([[0.1, 0.5], [0.25, 0.4], [0.0, np.nan], [np.nan, np.nan]])
    row_max = np.array([0.5, 0.4, 0.0, np.nan])
    assert reality_check_pvalue(obs, wide) == (1 + np.sum(row_max >= 0.3)) / 5
    assert reality_check_pvalue([], wide) == 1.0


def test_sweep_statistic_uses_signal_horizon_when_present_and_empty_sweep_is_empty():
    df = pd.DataFrame(
        {
            "hypothesis_id": ["h1", "h2", "h1"],
            "signal": ["y", "x", "y"],
            "horizon": [4, 1, 4],
            "mean_ic": [0.2, 0.1, 0.4],
        }
    )
    s = compute_sweep_statistic(df)
    assert s.to_dict() == {"x|1": 0.1, "y|4": (0.2 + 0.4) / 2}
    empty = compute_sweep_statistic(pd.DataFrame())
    assert empty.empty and empty.dtype == np.float64
    assert run_reality_check(empty, lambda b: np.empty(0))["rc_p_value"] == 1.0
