//! The gate's rules, one case each; every expected reason is the analyzer's literal text.

use std::path::Path;

use crypto_analyzer_promotion::evidence::{ExecutionEvidence, RegimeSummary};
use crypto_analyzer_promotion::gating::{evaluate_candidate, GateInputs, Input, Num, ThresholdConfig};
use crypto_analyzer_promotion::val::Val;
use crypto_analyzer_promotion::Status;
use serde_json::json;

fn val(v: serde_json::Value) -> Val {
    Val::from_json(&v)
}

fn inputs(summary: serde_json::Value) -> GateInputs {
    GateInputs {
        ic_summary: val(summary),
        meta: val(json!({})),
        regime_summary: Input::NotProvided,
        rc_summary: Input::NotProvided,
        execution_evidence: Input::NotProvided,
    }
}

fn good() -> GateInputs {
    inputs(json!({"mean_ic": 0.05, "t_stat": 3.0, "n_obs": 500}))
}

fn run(i: &GateInputs, t: &ThresholdConfig) -> (String, Vec<String>, Vec<String>) {
    let d = evaluate_candidate(i, t, Status::Exploratory, false, None);
    (d.status, d.reasons, d.warnings)
}

fn complete_evidence() -> ExecutionEvidence {
    ExecutionEvidence::from_dict(&val(json!({
        "capacity_curve_path": "cap.csv", "max_participation_rate": 0.05,
        "min_liquidity_usd": 100000.0, "cost_config": {"fee_bps": 1, "slippage_bps": 2}
    })))
}

#[test]
fn passes_with_good_metrics() {
    let (s, r, w) = run(&good(), &ThresholdConfig::default());
    assert_eq!(s, "accepted");
    assert!(r.is_empty() && w.is_empty());
}

#[test]
fn missing_ic_summary_is_exploratory() {
    let d = evaluate_candidate(&inputs(json!({})), &ThresholdConfig::default(), Status::Exploratory, false, None);
    assert_eq!(d.status, "exploratory");
    assert_eq!(d.reasons, vec!["missing IC summary"]);
    assert_eq!(d.metrics_snapshot_json(), json!({"mean_ic": null, "t_stat": null, "n_obs": 0}));
}

#[test]
fn mean_ic_and_t_stat_below_minimum() {
    let (s, r, _) = run(&inputs(json!({"mean_ic": 0.01, "t_stat": 1.23456, "n_obs": 10})), &ThresholdConfig::default());
    assert_eq!(s, "rejected");
    assert_eq!(r, vec!["mean_ic 0.0100 < 0.02", "t_stat 1.2346 < 2.5"]);
}

#[test]
fn int_threshold_prints_like_python_int() {
    let t = ThresholdConfig { ic_mean_min: Num::Int(1), tstat_min: Some(Num::Float(1e-5)), ..Default::default() };
    let (_, r, _) = run(&inputs(json!({"mean_ic": 0.5, "t_stat": -1.0})), &t);
    assert_eq!(r, vec!["mean_ic 0.5000 < 1", "t_stat -1.0000 < 1e-05"]);
}

#[test]
fn non_finite_and_string_metrics_have_reasons() {
    let mut i = good();
    i.ic_summary =
        Val::Map(vec![("mean_ic".into(), Val::Float(f64::NAN)), ("t_stat".into(), Val::Float(f64::INFINITY))]);
    let (s, r, _) = run(&i, &ThresholdConfig::default());
    assert_eq!(s, "rejected");
    assert_eq!(r, vec!["mean_ic is not a finite number (got nan)", "t_stat is not a finite number (got inf)"]);
    let (_, r, _) = run(&inputs(json!({"mean_ic": "0.05"})), &ThresholdConfig::default());
    assert_eq!(r, vec!["mean_ic is not a finite number (got string \"0.05\")"]);
}

fn regime_thr() -> ThresholdConfig {
    ThresholdConfig {
        require_regime_robustness: true,
        worst_regime_ic_mean_min: Some(Num::Float(0.01)),
        ..Default::default()
    }
}

#[test]
fn regime_rules() {
    let t0 = ThresholdConfig { require_regime_robustness: true, ..Default::default() };
    assert_eq!(run(&good(), &t0).1, vec!["require_regime_robustness=True but worst_regime_ic_mean_min not set"]);
    assert_eq!(run(&good(), &regime_thr()).1, vec!["require_regime_robustness=True but no regime summary provided"]);

    let mut i = good();
    i.regime_summary = Input::Provided(RegimeSummary::from_csv_str("regime,ic\nbull,0.1\n").unwrap());
    assert_eq!(run(&i, &regime_thr()).1, vec!["regime summary missing mean_ic column"]);

    i.regime_summary = Input::Provided(RegimeSummary::from_csv_str("regime,mean_ic\nbull,0.1\nunknown,0.2\n").unwrap());
    assert_eq!(run(&i, &regime_thr()).1, vec!["fewer than 2 regimes with samples (got 1)"]);

    i.regime_summary = Input::Provided(
        RegimeSummary::from_csv_str("regime,mean_ic,n_bars\nbull,0.1,5\nbear,-0.03125,5\nunknown,-0.9,1\n").unwrap(),
    );
    assert_eq!(run(&i, &regime_thr()).1, vec!["worst regime mean_ic -0.0312 < 0.01"]);

    i.regime_summary = Input::Provided(RegimeSummary::from_csv_str("regime,mean_ic\nbull,0.1\nbear,0.02\n").unwrap());
    assert_eq!(run(&i, &regime_thr()).0, "accepted");

    i.regime_summary = Input::Provided(RegimeSummary::from_csv_str("regime,mean_ic\nbull,0.1\nbear,nan\n").unwrap());
    assert_eq!(
        run(&i, &regime_thr()).1,
        vec!["regime summary mean_ic is not a finite number for regime \"bear\" (got nan)"]
    );
}

#[test]
fn reality_check_rules() {
    let t = ThresholdConfig { require_reality_check: true, ..Default::default() };
    assert_eq!(run(&good(), &t).1, vec!["require_reality_check=True but no rc_p_value in meta or rc_summary"]);
    let mut i = good();
    i.meta = val(json!({"rc_p_value": 0.2}));
    assert_eq!(run(&i, &t).1, vec!["rc_p_value 0.2000 > 0.05"]);
    // rc_summary wins over meta.
    i.rc_summary = Input::Provided(val(json!({"rc_p_value": 0.01})));
    assert_eq!(run(&i, &t).0, "accepted");
    i.rc_summary = Input::Provided(val(json!({"rc_p_value": "low"})));
    assert_eq!(run(&i, &t).1, vec!["rc_summary rc_p_value is not a finite number (got string \"low\")"]);
}

#[test]
fn execution_rules() {
    let t = ThresholdConfig::default();
    let d = evaluate_candidate(&good(), &t, Status::Candidate, false, None);
    assert_eq!(
        d.reasons,
        vec!["execution evidence required (target beyond exploratory or require_execution_evidence) but none provided"]
    );
    let d = evaluate_candidate(&good(), &t, Status::Accepted, true, None);
    assert_eq!(d.status, "accepted");
    assert_eq!(d.warnings, vec!["allow_missing_execution_evidence: execution evidence not checked"]);

    let mut i = good();
    i.execution_evidence = Input::Provided(ExecutionEvidence::default());
    let t2 = ThresholdConfig { require_execution_evidence: true, ..Default::default() };
    assert_eq!(
        run(&i, &t2).1,
        vec!["execution evidence missing required: capacity_curve_path, max_participation_rate, cost_config"]
    );

    i.execution_evidence = Input::Provided(complete_evidence());
    assert_eq!(run(&i, &t2).0, "accepted");
    let t3 = ThresholdConfig {
        require_execution_evidence: true,
        min_liquidity_usd_min: Some(Num::Float(1e6)),
        max_participation_rate_max: Some(Num::Float(0.01)),
        ..Default::default()
    };
    assert_eq!(run(&i, &t3).1, vec!["min_liquidity_usd 100000.0 < 1000000.0", "max_participation_rate 0.05 > 0.01"]);

    // With a base path the capacity curve must be a readable file there.
    let d = evaluate_candidate(&i, &t2, Status::Exploratory, false, Some(Path::new("/nonexistent-dir")));
    assert_eq!(d.reasons, vec!["execution evidence missing required: capacity_curve_path"]);
}

#[test]
fn deterministic() {
    let mut i = good();
    i.meta = val(json!({"rc_p_value": 0.2}));
    let t = ThresholdConfig { require_reality_check: true, ..Default::default() };
    let a = evaluate_candidate(&i, &t, Status::Accepted, false, None);
    let b = evaluate_candidate(&i, &t, Status::Accepted, false, None);
    assert_eq!(a, b);
}
