//! The promotion gate: thresholds, decision, and the rules in the analyzer's order.
//!
//! Reason strings are byte-identical to the analyzer's: `{:.4f}` values are printed like Python's
//! `f"{x:.4f}"` and thresholds like Python's `str(x)` (`0.02`, `2.5`, `1e-05`, `3` for an int).
//! Inputs the analyzer would have silently mis-read (NaN, ±inf, a string mean_ic, an unreadable
//! evidence file, a path climbing out of the evidence base) get a reason saying what was wrong.

#![warn(missing_docs)]

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::evidence::{ExecutionEvidence, RegimeSummary};
use crate::pyfmt::{python_float_repr, python_format_4f};
use crate::status::Status;
use crate::val::{map_get, Val};

/// The regime rule needs at least this many regimes (other than "unknown") in the summary.
pub const MIN_REGIMES_WITH_SAMPLES: usize = 2;

/// The status names the gate may return or aim for (the workflow's order).
pub const STATUSES: [&str; 4] = crate::status::NAMES;

/// A threshold number, printed the way Python prints the value the user gave (int or float).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// Given as an integer (prints without a decimal point).
    Int(i64),
    /// Given as a float (prints as Python's `repr`).
    Float(f64),
}

impl Num {
    /// The value compared against.
    pub fn value(&self) -> f64 {
        match self {
            Num::Int(i) => *i as f64,
            Num::Float(f) => *f,
        }
    }

    /// The value as Python's `str` prints what the user gave (in reasons).
    pub fn python_str(&self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => python_float_repr(*f),
        }
    }

    /// The value as JSON (a non-finite float as null).
    pub fn to_json(&self) -> Value {
        match self {
            Num::Int(i) => json!(i),
            Num::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        }
    }

    /// A threshold from a loosely typed value; `Ok(None)` for null. NaN and non-numbers are errors.
    pub fn from_val(field: &str, v: &Val) -> Result<Option<Num>> {
        match v {
            Val::Null => Ok(None),
            Val::Int(i) => Ok(Some(Num::Int(*i))),
            Val::Float(f) if f.is_nan() => {
                Err(Error::invalid(format!("ThresholdConfig.{field} must be a number, got nan")))
            }
            Val::Float(f) => Ok(Some(Num::Float(*f))),
            other => Err(Error::invalid(format!("ThresholdConfig.{field} must be a number, got {}", other.describe()))),
        }
    }
}

/// Minimum evidence thresholds (the analyzer's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdConfig {
    /// The first horizon's mean IC must be at least this.
    pub ic_mean_min: Num,
    /// Its t-statistic must be at least this when the bundle has one (None: not checked).
    pub tstat_min: Option<Num>,
    /// Part of the analyzer's configuration, carried and printed; the gate does not read it.
    pub p_value_max: Option<Num>,
    /// Part of the analyzer's configuration, carried and printed; the gate does not read it.
    pub deflated_sharpe_min: Option<Num>,
    /// Apply the regime rule (needs [`ThresholdConfig::worst_regime_ic_mean_min`] and a regime
    /// summary).
    pub require_regime_robustness: bool,
    /// The regime rule: every regime's mean IC must be at least this.
    pub worst_regime_ic_mean_min: Option<Num>,
    /// Require a Reality Check p-value (from the bundle's meta or the RC summary).
    pub require_reality_check: bool,
    /// The Reality Check p-value must be at most this.
    pub max_rc_p_value: Num,
    /// Check execution evidence even when aiming at exploratory.
    pub require_execution_evidence: bool,
    /// The execution evidence's `min_liquidity_usd` must be at least this (None: not checked).
    pub min_liquidity_usd_min: Option<Num>,
    /// The execution evidence's `max_participation_rate` must be at most this (None: not checked).
    pub max_participation_rate_max: Option<Num>,
}

impl Default for ThresholdConfig {
    fn default() -> Self {
        ThresholdConfig {
            ic_mean_min: Num::Float(0.02),
            tstat_min: Some(Num::Float(2.5)),
            p_value_max: Some(Num::Float(0.05)),
            deflated_sharpe_min: Some(Num::Float(1.0)),
            require_regime_robustness: false,
            worst_regime_ic_mean_min: None,
            require_reality_check: false,
            max_rc_p_value: Num::Float(0.05),
            require_execution_evidence: false,
            min_liquidity_usd_min: None,
            max_participation_rate_max: None,
        }
    }
}

/// The field names of [`ThresholdConfig`], in the analyzer's order.
pub const THRESHOLD_FIELDS: [&str; 11] = [
    "ic_mean_min",
    "tstat_min",
    "p_value_max",
    "deflated_sharpe_min",
    "require_regime_robustness",
    "worst_regime_ic_mean_min",
    "require_reality_check",
    "max_rc_p_value",
    "require_execution_evidence",
    "min_liquidity_usd_min",
    "max_participation_rate_max",
];

fn truthy(v: &Val) -> bool {
    match v {
        Val::Null => false,
        Val::Bool(b) => *b,
        Val::Int(i) => *i != 0,
        Val::Float(f) => *f != 0.0,
        Val::Text(s) => !s.is_empty(),
        Val::List(l) => !l.is_empty(),
        Val::Map(m) => !m.is_empty(),
    }
}

impl ThresholdConfig {
    /// From a map of field values (the Python dataclass's fields); absent keys take the defaults.
    pub fn from_val(v: &Val) -> Result<ThresholdConfig> {
        let entries = v
            .as_map()
            .ok_or_else(|| Error::invalid(format!("ThresholdConfig must be a mapping, got {}", v.describe())))?;
        let d = ThresholdConfig::default();
        let num = |k: &str, dflt: Option<Num>| -> Result<Option<Num>> {
            match map_get(entries, k) {
                None => Ok(dflt),
                Some(x) => Num::from_val(k, x),
            }
        };
        let required = |k: &str, dflt: Num| -> Result<Num> {
            num(k, Some(dflt))?.ok_or_else(|| Error::invalid(format!("ThresholdConfig.{k} must be a number, got None")))
        };
        let flag = |k: &str, dflt: bool| map_get(entries, k).map(truthy).unwrap_or(dflt);
        Ok(ThresholdConfig {
            ic_mean_min: required("ic_mean_min", d.ic_mean_min)?,
            tstat_min: num("tstat_min", d.tstat_min)?,
            p_value_max: num("p_value_max", d.p_value_max)?,
            deflated_sharpe_min: num("deflated_sharpe_min", d.deflated_sharpe_min)?,
            require_regime_robustness: flag("require_regime_robustness", d.require_regime_robustness),
            worst_regime_ic_mean_min: num("worst_regime_ic_mean_min", d.worst_regime_ic_mean_min)?,
            require_reality_check: flag("require_reality_check", d.require_reality_check),
            max_rc_p_value: required("max_rc_p_value", d.max_rc_p_value)?,
            require_execution_evidence: flag("require_execution_evidence", d.require_execution_evidence),
            min_liquidity_usd_min: num("min_liquidity_usd_min", d.min_liquidity_usd_min)?,
            max_participation_rate_max: num("max_participation_rate_max", d.max_participation_rate_max)?,
        })
    }

    /// Every threshold field, for the `evaluated` event's `thresholds_used`.
    pub fn to_json_map(&self) -> Map<String, Value> {
        let opt = |n: &Option<Num>| n.map(|x| x.to_json()).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("ic_mean_min".into(), self.ic_mean_min.to_json());
        m.insert("tstat_min".into(), opt(&self.tstat_min));
        m.insert("p_value_max".into(), opt(&self.p_value_max));
        m.insert("deflated_sharpe_min".into(), opt(&self.deflated_sharpe_min));
        m.insert("require_regime_robustness".into(), json!(self.require_regime_robustness));
        m.insert("worst_regime_ic_mean_min".into(), opt(&self.worst_regime_ic_mean_min));
        m.insert("require_reality_check".into(), json!(self.require_reality_check));
        m.insert("max_rc_p_value".into(), self.max_rc_p_value.to_json());
        m.insert("require_execution_evidence".into(), json!(self.require_execution_evidence));
        m.insert("min_liquidity_usd_min".into(), opt(&self.min_liquidity_usd_min));
        m.insert("max_participation_rate_max".into(), opt(&self.max_participation_rate_max));
        m
    }
}

/// The gate's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct PromotionDecision {
    /// The verdict, as the analyzer's gate gives it: accepted when no rule failed, rejected when
    /// one did, exploratory when the bundle has no IC summary.
    pub status: String,
    /// The rules that failed (the analyzer's texts, in its order); empty when none did.
    pub reasons: Vec<String>,
    /// mean_ic, t_stat, n_obs of the first horizon, in that order (empty when no bundle was read).
    pub metrics_snapshot: Vec<(String, Val)>,
    /// What was noted but did not decide (inputs given but not usable, checks skipped).
    pub warnings: Vec<String>,
}

impl PromotionDecision {
    /// A rejection for one reason, with no metrics and no warnings.
    pub fn rejected(reason: impl Into<String>) -> Self {
        PromotionDecision {
            status: "rejected".into(),
            reasons: vec![reason.into()],
            metrics_snapshot: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// [`PromotionDecision::metrics_snapshot`] as a JSON object (non-finite floats as null).
    pub fn metrics_snapshot_json(&self) -> Value {
        Val::Map(self.metrics_snapshot.clone()).to_json()
    }
}

/// One optional input of the gate: not given, given but unusable (with the message), or given.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<T> {
    /// Not given.
    NotProvided,
    /// Given but not usable, and why.
    Unusable(String),
    /// Given and usable.
    Provided(T),
}

impl<T> Input<T> {
    /// Whether it was given (usable or not).
    pub fn is_provided(&self) -> bool {
        !matches!(self, Input::NotProvided)
    }
}

/// Everything the gate reads besides the thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct GateInputs {
    /// The first horizon's IC summary map (`{}` when there is none).
    pub ic_summary: Val,
    /// The bundle's `meta` map.
    pub meta: Val,
    /// The regime summary (per-regime IC rows).
    pub regime_summary: Input<RegimeSummary>,
    /// The RC summary map.
    pub rc_summary: Input<Val>,
    /// The execution evidence (liquidity, participation, costs).
    pub execution_evidence: Input<ExecutionEvidence>,
}

fn not_finite(name: &str, v: &Val) -> String {
    format!("{name} is not a finite number (got {})", v.describe())
}

/// Where the RC p-value comes from: rc_summary["rc_p_value"], else meta["rc_p_value"].
/// `Ok(None)` when neither holds one; `Err(reason)` when the first present one is not a finite number.
fn rc_p_value(inputs: &GateInputs) -> std::result::Result<Option<f64>, String> {
    let from_summary = match &inputs.rc_summary {
        Input::Provided(s) => s.get("rc_p_value").filter(|v| !v.is_null()),
        _ => None,
    };
    if let Some(v) = from_summary {
        return v.as_finite().map(Some).ok_or_else(|| not_finite("rc_summary rc_p_value", v));
    }
    if let Some(v) = inputs.meta.get("rc_p_value").filter(|v| !v.is_null()) {
        return v.as_finite().map(Some).ok_or_else(|| not_finite("meta rc_p_value", v));
    }
    Ok(None)
}

fn regime_rule(thr: &ThresholdConfig, input: &Input<RegimeSummary>, reasons: &mut Vec<String>) {
    let Some(min_ic_regime) = thr.worst_regime_ic_mean_min else {
        reasons.push("require_regime_robustness=True but worst_regime_ic_mean_min not set".into());
        return;
    };
    let summary = match input {
        Input::Unusable(msg) => {
            reasons.push(format!("regime summary could not be used: {msg}"));
            return;
        }
        Input::Provided(s) if !s.rows.is_empty() => s,
        _ => {
            reasons.push("require_regime_robustness=True but no regime summary provided".into());
            return;
        }
    };
    if !summary.has_column("mean_ic") {
        reasons.push("regime summary missing mean_ic column".into());
        return;
    }
    let label = |row: &[(String, Val)]| map_get(row, "regime").map(Val::python_str);
    let rows: Vec<&Vec<(String, Val)>> =
        summary.rows.iter().filter(|row| label(row).as_deref() != Some("unknown")).collect();
    if rows.len() < MIN_REGIMES_WITH_SAMPLES {
        reasons.push(format!("fewer than {MIN_REGIMES_WITH_SAMPLES} regimes with samples (got {})", rows.len()));
        return;
    }
    let mut worst: Option<f64> = None;
    let mut bad = Vec::new();
    for row in &rows {
        let v = map_get(row, "mean_ic").cloned().unwrap_or(Val::Null);
        match v.as_finite() {
            Some(x) => worst = Some(worst.map_or(x, |w| w.min(x))),
            None => bad.push(format!(
                "regime summary mean_ic is not a finite number for regime {} (got {})",
                Value::String(label(row).unwrap_or_else(|| "None".into())),
                v.describe()
            )),
        }
    }
    if !bad.is_empty() {
        reasons.extend(bad);
        return;
    }
    if let Some(w) = worst {
        if w < min_ic_regime.value() {
            reasons.push(format!("worst regime mean_ic {} < {}", python_format_4f(w), min_ic_regime.python_str()));
        }
    }
}

fn execution_rule(
    thr: &ThresholdConfig,
    input: &Input<ExecutionEvidence>,
    base_path: Option<&Path>,
    reasons: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let ev = match input {
        Input::NotProvided => {
            reasons.push(
                "execution evidence required (target beyond exploratory or require_execution_evidence) but none provided"
                    .into(),
            );
            return;
        }
        Input::Unusable(msg) => {
            reasons.push(format!("execution evidence could not be used: {msg}"));
            return;
        }
        Input::Provided(ev) => ev,
    };
    let (missing, notes) = ev.check_required(base_path);
    warnings.extend(notes);
    if !missing.is_empty() {
        reasons.push(format!("execution evidence missing required: {}", missing.join(", ")));
        return;
    }
    let soft = |name: &str, value: &Val, limit: Option<Num>, above: bool, reasons: &mut Vec<String>| {
        let Some(limit) = limit else { return };
        if value.is_null() {
            return;
        }
        match value.as_finite() {
            None => reasons.push(not_finite(name, value)),
            Some(x) => {
                let fails = if above { x > limit.value() } else { x < limit.value() };
                if fails {
                    let op = if above { ">" } else { "<" };
                    reasons.push(format!("{name} {} {op} {}", value.python_str(), limit.python_str()));
                }
            }
        }
    };
    soft("min_liquidity_usd", &ev.min_liquidity_usd, thr.min_liquidity_usd_min, false, reasons);
    soft("max_participation_rate", &ev.max_participation_rate, thr.max_participation_rate_max, true, reasons);
}

/// Deterministic promotion gate. Rules in the analyzer's order; any reason → "rejected".
pub fn evaluate_candidate(
    inputs: &GateInputs,
    thr: &ThresholdConfig,
    target_status: Status,
    allow_missing_execution_evidence: bool,
    execution_evidence_base_path: Option<&Path>,
) -> PromotionDecision {
    let mut reasons: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let summary = &inputs.ic_summary;
    let mean_ic = summary.get("mean_ic").cloned().unwrap_or(Val::Null);
    let t_stat = summary.get("t_stat").cloned().unwrap_or(Val::Null);
    let n_obs = summary.get("n_obs").cloned().unwrap_or(Val::Int(0));
    let metrics_snapshot = vec![
        ("mean_ic".to_string(), mean_ic.clone()),
        ("t_stat".to_string(), t_stat.clone()),
        ("n_obs".to_string(), n_obs),
    ];

    if mean_ic.is_null() {
        return PromotionDecision {
            status: "exploratory".into(),
            reasons: vec!["missing IC summary".into()],
            metrics_snapshot,
            warnings,
        };
    }
    match mean_ic.as_finite() {
        None => reasons.push(not_finite("mean_ic", &mean_ic)),
        Some(m) if m < thr.ic_mean_min.value() => {
            reasons.push(format!("mean_ic {} < {}", python_format_4f(m), thr.ic_mean_min.python_str()))
        }
        Some(_) => {}
    }
    if let (false, Some(tmin)) = (t_stat.is_null(), thr.tstat_min) {
        match t_stat.as_finite() {
            None => reasons.push(not_finite("t_stat", &t_stat)),
            Some(t) if t < tmin.value() => {
                reasons.push(format!("t_stat {} < {}", python_format_4f(t), tmin.python_str()))
            }
            Some(_) => {}
        }
    }
    if thr.require_regime_robustness {
        regime_rule(thr, &inputs.regime_summary, &mut reasons);
    } else if let Input::Unusable(msg) = &inputs.regime_summary {
        warnings.push(format!("regime summary not used: {msg}"));
    }

    if thr.require_reality_check {
        if let Input::Unusable(msg) = &inputs.rc_summary {
            warnings.push(format!("rc summary not used: {msg}"));
        }
        match rc_p_value(inputs) {
            Err(reason) => reasons.push(reason),
            Ok(None) => reasons.push("require_reality_check=True but no rc_p_value in meta or rc_summary".into()),
            Ok(Some(p)) if p > thr.max_rc_p_value.value() => {
                reasons.push(format!("rc_p_value {} > {}", python_format_4f(p), thr.max_rc_p_value.python_str()))
            }
            Ok(Some(_)) => {}
        }
    } else if let Input::Unusable(msg) = &inputs.rc_summary {
        warnings.push(format!("rc summary not used: {msg}"));
    }

    let enforce_exec = target_status.needs_eligibility() || thr.require_execution_evidence;
    if enforce_exec {
        if allow_missing_execution_evidence {
            warnings.push("allow_missing_execution_evidence: execution evidence not checked".into());
        } else {
            execution_rule(thr, &inputs.execution_evidence, execution_evidence_base_path, &mut reasons, &mut warnings);
        }
    } else if let Input::Unusable(msg) = &inputs.execution_evidence {
        warnings.push(format!("execution evidence not used: {msg}"));
    }

    let status = if reasons.is_empty() { "accepted" } else { "rejected" };
    PromotionDecision { status: status.into(), reasons, metrics_snapshot, warnings }
}
