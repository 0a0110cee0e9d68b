"""Every gate rule and message; expected reasons are the analyzer's literal text."""

from __future__ import annotations

import dataclasses
import math
import types

import crypto_analyzer_promotion as cap
import pandas as pd
import pytest
from crypto_analyzer_promotion.execution_evidence import ExecutionEvidence
from crypto_analyzer_promotion.gating import (
    MIN_REGIMES_WITH_SAMPLES,
    PromotionDecision,
    ThresholdConfig,
    evaluate_candidate,
)


def complete_evidence(**kw):
    base = dict(
        capacity_curve_path="cap.csv",
        max_participation_rate=0.05,
        min_liquidity_usd=100000.0,
        cost_config={"fee_bps": 1, "slippage_bps": 2},
    )
    base.update(kw)
    return ExecutionEvidence(**base)


def test_top_level_reexports_and_defaults():
    assert cap.ThresholdConfig is ThresholdConfig
    assert cap.PromotionDecision is PromotionDecision
    assert cap.evaluate_candidate is evaluate_candidate
    assert MIN_REGIMES_WITH_SAMPLES == 2
    assert dataclasses.asdict(ThresholdConfig()) == {
        "ic_mean_min": 0.02,
        "tstat_min": 2.5,
        "p_value_max": 0.05,
        "deflated_sharpe_min": 1.0,
        "require_regime_robustness": False,
        "worst_regime_ic_mean_min": None,
        "require_reality_check": False,
        "max_rc_p_value": 0.05,
        "require_execution_evidence": False,
        "min_liquidity_usd_min": None,
        "max_participation_rate_max": None,
    }
    d = PromotionDecision("accepted")
    assert (d.reasons, d.metrics_snapshot, d.warnings) == ([], {}, [])


def test_accepts_good_bundle_and_snapshots_metrics(make_bundle):
    d = evaluate_candidate(make_bundle(0.05, 3.0, 500), ThresholdConfig())
    assert d == PromotionDecision("accepted", [], {"mean_ic": 0.05, "t_stat": 3.0, "n_obs": 500}, [])


def test_missing_ic_summary_is_exploratory(make_bundle):
    d = evaluate_candidate(make_bundle(mean_ic=..., t_stat=..., n_obs=...), ThresholdConfig())
    assert d.status == "exploratory"
    assert d.reasons == ["missing IC summary"]
    assert d.metrics_snapshot == {"mean_ic": None, "t_stat": None, "n_obs": 0}
    # No horizons at all: same.
    b = make_bundle()
    b["horizons"] = []
    assert evaluate_candidate(b, ThresholdConfig()).reasons == ["missing IC summary"]


def test_mean_ic_and_t_stat_messages(make_bundle):
    d = evaluate_candidate(make_bundle(0.0123456, 1.99995), ThresholdConfig())
    assert d.status == "rejected"
    assert d.reasons == ["mean_ic 0.0123 < 0.02", "t_stat 1.9999 < 2.5"]
    # The same strings as the analyzer's f-strings.
    assert d.reasons == [f"mean_ic {0.0123456:.4f} < {0.02}", f"t_stat {1.99995:.4f} < {2.5}"]


@pytest.mark.parametrize(
    "thr,expected",
    [
        (ThresholdConfig(ic_mean_min=1), "mean_ic 0.5000 < 1"),
        (ThresholdConfig(ic_mean_min=1e-05 + 1), "mean_ic 0.5000 < 1.00001"),
        (ThresholdConfig(ic_mean_min=1e16), "mean_ic 0.5000 < 1e+16"),
        (ThresholdConfig(ic_mean_min=0.6000000000000001), "mean_ic 0.5000 < 0.6000000000000001"),
    ],
)
def test_threshold_printed_like_python(thr, expected, make_bundle):
    d = evaluate_candidate(make_bundle(0.5, 10.0), thr)
    assert d.reasons == [expected]
    assert expected == f"mean_ic {0.5:.4f} < {thr.ic_mean_min}"


def test_t_stat_check_skipped_when_absent_or_threshold_none(make_bundle):
    assert evaluate_candidate(make_bundle(0.05, t_stat=...), ThresholdConfig()).status == "accepted"
    assert evaluate_candidate(make_bundle(0.05, 0.1), ThresholdConfig(tstat_min=None)).status == "accepted"


def test_bad_metric_types_have_clear_reasons(make_bundle):
    d = evaluate_candidate(make_bundle(float("nan"), float("-inf")), ThresholdConfig())
    assert d.status == "rejected"
    assert d.reasons == ["mean_ic is not a finite number (got nan)", "t_stat is not a finite number (got -inf)"]
    assert math.isnan(d.metrics_snapshot["mean_ic"])
    d = evaluate_candidate(make_bundle("0.05", 3.0), ThresholdConfig())
    assert d.reasons == ['mean_ic is not a finite number (got string "0.05")']


def regime_thr(**kw):
    return ThresholdConfig(require_regime_robustness=True, worst_regime_ic_mean_min=0.01, **kw)


def test_regime_rules(make_bundle):
    good = make_bundle()
    assert evaluate_candidate(good, ThresholdConfig(require_regime_robustness=True)).reasons == [
        "require_regime_robustness=True but worst_regime_ic_mean_min not set"
    ]
    assert evaluate_candidate(good, regime_thr()).reasons == [
        "require_regime_robustness=True but no regime summary provided"
    ]
    assert evaluate_candidate(good, regime_thr(), regime_summary_df=pd.DataFrame()).reasons == [
        "require_regime_robustness=True but no regime summary provided"
    ]
    df = pd.DataFrame({"regime": ["a", "b"], "ic": [0.1, 0.2]})
    assert evaluate_candidate(good, regime_thr(), regime_summary_df=df).reasons == [
        "regime summary missing mean_ic column"
    ]
    df = pd.DataFrame({"regime": ["a", "unknown"], "mean_ic": [0.1, 0.2]})
    assert evaluate_candidate(good, regime_thr(), regime_summary_df=df).reasons == [
        "fewer than 2 regimes with samples (got 1)"
    ]
    df = pd.DataFrame({"regime": ["a", "b", "unknown"], "mean_ic": [0.1, 0.00125, -5.0], "n_bars": [5, 6, 7]})
    assert evaluate_candidate(good, regime_thr(), regime_summary_df=df).reasons == [
        "worst regime mean_ic 0.0013 < 0.01"
    ]
    df = pd.DataFrame({"regime": ["a", "b"], "mean_ic": [0.1, 0.01]})
    assert evaluate_candidate(good, regime_thr(), regime_summary_df=df).status == "accepted"


def test_regime_nan_and_string_mean_ic_have_reasons(make_bundle):
    df = pd.DataFrame({"regime": ["a", "b"], "mean_ic": [0.1, float("nan")]})
    assert evaluate_candidate(make_bundle(), regime_thr(), regime_summary_df=df).reasons == [
        'regime summary mean_ic is not a finite number for regime "b" (got nan)'
    ]
    df = pd.DataFrame({"regime": ["a", "b"], "mean_ic": ["0.1", "x"]})
    d = evaluate_candidate(make_bundle(), regime_thr(), regime_summary_df=df)
    assert d.reasons == [
        'regime summary mean_ic is not a finite number for regime "a" (got string "0.1")',
        'regime summary mean_ic is not a finite number for regime "b" (got string "x")',
    ]


def test_reality_check_rules(make_bundle):
    thr = ThresholdConfig(require_reality_check=True)
    assert evaluate_candidate(make_bundle(), thr).reasons == [
        "require_reality_check=True but no rc_p_value in meta or rc_summary"
    ]
    assert evaluate_candidate(make_bundle(rc_p_value=0.25), thr).reasons == ["rc_p_value 0.2500 > 0.05"]
    # rc_summary wins over meta.
    assert evaluate_candidate(make_bundle(rc_p_value=0.25), thr, rc_summary={"rc_p_value": 0.01}).status == "accepted"
    assert evaluate_candidate(make_bundle(), thr, rc_summary={"rc_p_value": 0.06}).reasons == [
        "rc_p_value 0.0600 > 0.05"
    ]
    assert evaluate_candidate(make_bundle(), thr, rc_summary={"rc_p_value": float("nan")}).reasons == [
        "rc_summary rc_p_value is not a finite number (got nan)"
    ]
    # Not required: not checked.
    assert evaluate_candidate(make_bundle(rc_p_value=0.9), ThresholdConfig()).status == "accepted"


def test_execution_rules(make_bundle):
    good = make_bundle()
    assert evaluate_candidate(good, ThresholdConfig(), target_status="candidate").reasons == [
        "execution evidence required (target beyond exploratory or require_execution_evidence) but none provided"
    ]
    assert evaluate_candidate(good, ThresholdConfig(require_execution_evidence=True)).status == "rejected"
    d = evaluate_candidate(good, ThresholdConfig(), target_status="accepted", allow_missing_execution_evidence=True)
    assert d.status == "accepted"
    assert d.warnings == ["allow_missing_execution_evidence: execution evidence not checked"]
    d = evaluate_candidate(good, ThresholdConfig(), execution_evidence=ExecutionEvidence(), target_status="candidate")
    assert d.reasons == [
        "execution evidence missing required: capacity_curve_path, max_participation_rate, cost_config"
    ]
    d = evaluate_candidate(good, ThresholdConfig(), execution_evidence=complete_evidence(), target_status="candidate")
    assert d.status == "accepted"
    thr = ThresholdConfig(min_liquidity_usd_min=1e6, max_participation_rate_max=0.01)
    d = evaluate_candidate(good, thr, execution_evidence=complete_evidence(), target_status="candidate")
    assert d.reasons == ["min_liquidity_usd 100000.0 < 1000000.0", "max_participation_rate 0.05 > 0.01"]
    # Exploratory target without the flag: evidence not checked at all.
    assert evaluate_candidate(good, thr, execution_evidence=ExecutionEvidence()).status == "accepted"


def test_execution_capacity_curve_checked_under_base_path(tmp_path, make_bundle):
    ev = complete_evidence(capacity_curve_path="cap.csv")
    thr = ThresholdConfig(require_execution_evidence=True)
    d = evaluate_candidate(make_bundle(), thr, execution_evidence=ev, execution_evidence_base_path=tmp_path)
    assert d.reasons == ["execution evidence missing required: capacity_curve_path"]
    (tmp_path / "cap.csv").write_text("notional,sharpe\n1,1\n")
    d = evaluate_candidate(make_bundle(), thr, execution_evidence=ev, execution_evidence_base_path=tmp_path)
    assert d.status == "accepted"
    ev = complete_evidence(capacity_curve_path="../../etc/passwd")
    d = evaluate_candidate(make_bundle(), thr, execution_evidence=ev, execution_evidence_base_path=tmp_path)
    assert d.reasons == ["execution evidence missing required: capacity_curve_path"]
    assert any("climbs out" in w for w in d.warnings)


def test_all_reasons_in_contract_order(make_bundle):
    thr = ThresholdConfig(require_regime_robustness=True, worst_regime_ic_mean_min=0.5, require_reality_check=True)
    df = pd.DataFrame({"regime": ["a", "b"], "mean_ic": [0.1, 0.2]})
    d = evaluate_candidate(make_bundle(0.01, 1.0, rc_p_value=0.5), thr, regime_summary_df=df, target_status="candidate")
    assert d.reasons == [
        "mean_ic 0.0100 < 0.02",
        "t_stat 1.0000 < 2.5",
        "worst regime mean_ic 0.1000 < 0.5",
        "rc_p_value 0.5000 > 0.05",
        "execution evidence required (target beyond exploratory or require_execution_evidence) but none provided",
    ]


def test_accepts_objects_dicts_and_paths(evidence_dir):
    from crypto_analyzer_promotion.validation_bundle import ValidationBundle

    path = evidence_dir / "validation_bundle.json"
    by_path = evaluate_candidate(path, ThresholdConfig())
    by_str = evaluate_candidate(str(path), ThresholdConfig())
    ours = ValidationBundle.load(path)
    by_obj = evaluate_candidate(ours, ThresholdConfig())
    ns = types.SimpleNamespace(**{k: getattr(ours, k) for k in ("horizons", "ic_summary_by_horizon", "meta")})
    by_ns = evaluate_candidate(ns, ThresholdConfig())
    assert by_path == by_str == by_obj == by_ns
    assert by_path.metrics_snapshot == {"mean_ic": 0.0412, "t_stat": 3.87, "n_obs": 1320}
    bad = evaluate_candidate(evidence_dir / "nope.json", ThresholdConfig())
    assert (bad.status, bad.reasons) == ("rejected", ["could not load ValidationBundle from path"])


def test_threshold_config_errors_are_value_errors(make_bundle):
    with pytest.raises(ValueError, match="ic_mean_min"):
        evaluate_candidate(make_bundle(), ThresholdConfig(ic_mean_min=float("nan")))
    with pytest.raises(ValueError, match="tstat_min"):
        evaluate_candidate(make_bundle(), ThresholdConfig(tstat_min="high"))


def test_deterministic(make_bundle):
    args = (make_bundle(0.01, 1.0, rc_p_value=0.2), ThresholdConfig(require_reality_check=True))
    results = [evaluate_candidate(*args, target_status="accepted") for _ in range(5)]
    assert all(r == results[0] for r in results)


def test_numpy_scalars_and_frames(make_bundle):
    import numpy as np

    b = make_bundle(np.float32(0.5), np.float64(3.0), np.int64(42))
    d = evaluate_candidate(b, ThresholdConfig(ic_mean_min=np.float64(0.75)))
    assert d.reasons == ["mean_ic 0.5000 < 0.75"]
    assert d.metrics_snapshot == {"mean_ic": 0.5, "t_stat": 3.0, "n_obs": 42}
    df = pd.DataFrame({"regime": np.array(["a", "b"]), "mean_ic": np.array([0.02, 0.03], dtype=np.float32)})
    thr = ThresholdConfig(require_regime_robustness=True, worst_regime_ic_mean_min=0.05)
    expected = f"worst regime mean_ic {float(np.float32(0.02)):.4f} < 0.05"
    assert evaluate_candidate(make_bundle(), thr, regime_summary_df=df).reasons == [expected]


def test_rc_summary_must_be_a_dict(make_bundle):
    with pytest.raises(ValueError, match="rc_summary must be a dict"):
        evaluate_candidate(make_bundle(), ThresholdConfig(), rc_summary=[0.01])


def test_regime_summary_as_rows_or_csv_path(make_bundle, tmp_path):
    thr = ThresholdConfig(require_regime_robustness=True, worst_regime_ic_mean_min=0.05)
    rows = [{"regime": "a", "mean_ic": 0.01}, {"regime": "b", "mean_ic": 0.2}]
    assert evaluate_candidate(make_bundle(), thr, regime_summary_df=rows).reasons == [
        "worst regime mean_ic 0.0100 < 0.05"
    ]
    csv = tmp_path / "reg.csv"
    csv.write_text("regime,mean_ic\na,0.01\nb,0.2\n")
    assert evaluate_candidate(make_bundle(), thr, regime_summary_df=csv).reasons == [
        "worst regime mean_ic 0.0100 < 0.05"
    ]
