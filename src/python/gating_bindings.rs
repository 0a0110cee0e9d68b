//! Bindings for gating, evidence and the service. Thin wrappers: convert Python values to the
//! core's [`Val`] (which, unlike JSON, keeps NaN/±inf so the gate can name them), call the core,
//! convert back.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::eligibility::{self, BundleView};
use crate::error::Error;
use crate::evidence::{self, ExecutionEvidence, RegimeSummary, ValidationBundle};
use crate::gating::{self, GateInputs, Input, PromotionDecision, ThresholdConfig};
use crate::service;
use crate::status::{self, Status};
use crate::store::Backend;
use crate::val::Val;

use super::convert::{self, val_to_py, Keys};

fn invalid(msg: String) -> PyErr {
    PyErr::from(Error::InvalidInput(msg))
}

/// Python value → [`Val`] (non-finite floats kept; int dict keys such as horizons become str).
fn py_to_val(obj: &Bound<'_, PyAny>, root: &str) -> PyResult<Val> {
    convert::py_to_val(obj, root, Keys::Stringify)
}

fn decision_to_py<'py>(py: Python<'py>, d: &PromotionDecision) -> PyResult<Bound<'py, PyAny>> {
    let out = PyDict::new(py);
    out.set_item("status", &d.status)?;
    out.set_item("reasons", PyList::new(py, &d.reasons)?)?;
    out.set_item("metrics_snapshot", val_to_py(py, &Val::Map(d.metrics_snapshot.clone()))?)?;
    out.set_item("warnings", PyList::new(py, &d.warnings)?)?;
    Ok(out.into_any())
}

fn opt_path(p: Option<String>) -> Option<PathBuf> {
    p.map(PathBuf::from)
}

/// Regime summary from `{"columns": [...], "rows": [{...}, ...]}` (the Python side's DataFrame form).
fn regime_from_val(v: &Val) -> PyResult<RegimeSummary> {
    let columns = match v.get("columns") {
        Some(Val::List(c)) => c.iter().map(Val::python_str).collect(),
        _ => return Err(invalid("regime_summary_df: expected columns".into())),
    };
    let rows = match v.get("rows") {
        Some(Val::List(rows)) => rows.iter().map(|r| r.as_map().map(|m| m.to_vec()).unwrap_or_default()).collect(),
        _ => return Err(invalid("regime_summary_df: expected rows".into())),
    };
    Ok(RegimeSummary { columns, rows })
}

/// Optional inputs as passed from Python: the regime summary (DataFrame form or a CSV path),
/// the RC summary dict, the execution evidence fields.
struct PyInputs {
    regime: Input<RegimeSummary>,
    rc: Input<Val>,
    exec: Input<ExecutionEvidence>,
}

fn extract_inputs(
    regime_summary: Option<&Bound<'_, PyAny>>,
    rc_summary: Option<&Bound<'_, PyAny>>,
    execution_evidence: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyInputs> {
    let regime = match regime_summary {
        None => Input::NotProvided,
        Some(o) if o.is_none() => Input::NotProvided,
        Some(o) if o.cast::<PyString>().is_ok() => {
            let p: String = o.extract()?;
            match super::detach(o.py(), move || Ok(evidence::load_regime_summary(Path::new(&p))))? {
                Ok(r) => Input::Provided(r),
                Err(msg) => Input::Unusable(msg),
            }
        }
        Some(o) => Input::Provided(regime_from_val(&py_to_val(o, "regime_summary_df")?)?),
    };
    let rc = match rc_summary {
        None => Input::NotProvided,
        Some(o) if o.is_none() => Input::NotProvided,
        Some(o) => {
            let v = py_to_val(o, "rc_summary")?;
            if v.as_map().is_none() {
                return Err(invalid(format!("rc_summary must be a dict, got {}", v.describe())));
            }
            Input::Provided(v)
        }
    };
    let exec = match execution_evidence {
        None => Input::NotProvided,
        Some(o) if o.is_none() => Input::NotProvided,
        Some(o) => Input::Provided(ExecutionEvidence::from_fields(&py_to_val(o, "execution_evidence")?)),
    };
    Ok(PyInputs { regime, rc, exec })
}

/// The status an evaluation of a candidate whose stored status is `current` aims for (candidate
/// from exploratory or none, accepted otherwise).
#[pyfunction]
#[pyo3(signature = (current=None))]
fn status_evaluation_target(current: Option<&str>) -> &'static str {
    Status::evaluation_target(current).as_str()
}

/// Gate one candidate. `bundle` is a dict of the bundle's attributes or a path to its JSON.
#[pyfunction]
#[pyo3(signature = (bundle, thresholds, regime_summary=None, rc_summary=None, execution_evidence=None,
                    target_status="exploratory", allow_missing_execution_evidence=false,
                    execution_evidence_base_path=None))]
#[allow(clippy::too_many_arguments)]
fn gating_evaluate_candidate<'py>(
    py: Python<'py>,
    bundle: &Bound<'py, PyAny>,
    thresholds: &Bound<'py, PyAny>,
    regime_summary: Option<&Bound<'py, PyAny>>,
    rc_summary: Option<&Bound<'py, PyAny>>,
    execution_evidence: Option<&Bound<'py, PyAny>>,
    target_status: &str,
    allow_missing_execution_evidence: bool,
    execution_evidence_base_path: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    super::guard_py(|| {
        let target_status = Status::parse("target_status", target_status)?;
        let thr = ThresholdConfig::from_val(&py_to_val(thresholds, "thresholds")?)?;
        let bundle = if bundle.cast::<PyString>().is_ok() {
            // The service's bundle-load rule; no evidence base here, so the path is used as given.
            let arg = service::BundleArg::Path(bundle.extract()?);
            match super::detach(py, move || Ok(service::load_bundle(&arg, &Val::Map(Vec::new()), &[])))? {
                Ok(b) => b,
                Err(detail) => return decision_to_py(py, &service::bundle_rejection(detail)),
            }
        } else {
            ValidationBundle::from_val_lenient(&py_to_val(bundle, "bundle")?)?
        };
        let extra = extract_inputs(regime_summary, rc_summary, execution_evidence)?;
        let inputs = GateInputs {
            ic_summary: bundle.first_horizon_summary(),
            meta: bundle.meta.clone(),
            regime_summary: extra.regime,
            rc_summary: extra.rc,
            execution_evidence: extra.exec,
        };
        let base = opt_path(execution_evidence_base_path);
        // The execution-evidence rule looks at the capacity curve file: run without the GIL.
        let d = super::detach(py, move || {
            Ok(gating::evaluate_candidate(
                &inputs,
                &thr,
                target_status,
                allow_missing_execution_evidence,
                base.as_deref(),
            ))
        })?;
        decision_to_py(py, &d)
    })
}

/// Eligibility of a bundle for a level. `bundle` is `{"meta", "run_id", "attrs"}` (the Python
/// side reads them off the object) or a path to the bundle JSON.
#[pyfunction]
#[pyo3(signature = (bundle, level, rc_summary=None))]
fn gating_evaluate_eligibility<'py>(
    py: Python<'py>,
    bundle: &Bound<'py, PyAny>,
    level: &str,
    rc_summary: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let view = if bundle.cast::<PyString>().is_ok() {
        let p: String = bundle.extract()?;
        super::detach(py, move || ValidationBundle::load(Path::new(&p)).map(|b| BundleView::from_bundle(&b)))?
    } else {
        let v = py_to_val(bundle, "bundle")?;
        let meta = match v.get("meta") {
            None | Some(Val::Null) => Val::Map(Vec::new()),
            Some(m @ Val::Map(_)) => m.clone(),
            Some(other) => return Err(invalid(format!("bundle.meta must be a dict, got {}", other.describe()))),
        };
        let attrs = match v.get("attrs") {
            Some(Val::Map(a)) => a.clone(),
            _ => Vec::new(),
        };
        BundleView { meta, run_id: v.get("run_id").cloned().unwrap_or(Val::Null), attrs }
    };
    let rc = match rc_summary {
        None => None,
        Some(o) if o.is_none() => None,
        Some(o) => {
            let v = py_to_val(o, "rc_summary")?;
            if v.as_map().is_none() {
                return Err(invalid(format!("rc_summary must be a dict, got {}", v.describe())));
            }
            Some(v)
        }
    };
    let r = eligibility::evaluate_eligibility(&view, level, rc.as_ref())?;
    let out = PyDict::new(py);
    out.set_item("passed", r.passed)?;
    out.set_item("level", &r.level)?;
    out.set_item("blockers", PyList::new(py, &r.blockers)?)?;
    out.set_item("warnings", PyList::new(py, &r.warnings)?)?;
    out.set_item("run_key", &r.run_key)?;
    out.set_item("run_instance_id", &r.run_instance_id)?;
    out.set_item("dataset_id_v2", &r.dataset_id_v2)?;
    out.set_item("engine_version", &r.engine_version)?;
    out.set_item("config_version", &r.config_version)?;
    Ok(out.into_any())
}

/// Python's `json.dumps(list_of_str)` as the analyzer stores blockers/warnings (for tests).
#[pyfunction]
fn _json_dumps_str_list(items: Vec<String>) -> String {
    eligibility::json_dumps_str_list(&items)
}

/// Read a bundle JSON text into the in-memory dict (int horizon keys; unknown keys under "extra").
#[pyfunction]
fn validation_bundle_from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    super::guard_py(|| {
        let b = ValidationBundle::from_json_str(text)?;
        bundle_to_py(py, &b)
    })
}

/// Normalise a dict of bundle attributes (int horizon keys, unknown keys under "extra").
#[pyfunction]
fn validation_bundle_normalize<'py>(py: Python<'py>, fields: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    super::guard_py(|| {
        let b = ValidationBundle::from_val_lenient(&py_to_val(fields, "bundle")?)?;
        bundle_to_py(py, &b)
    })
}

/// The bundle's JSON text (sorted keys, 2-space indent, horizon keys as strings, NaN → null).
#[pyfunction]
fn validation_bundle_to_json(fields: &Bound<'_, PyAny>) -> PyResult<String> {
    super::guard_py(|| {
        let b = ValidationBundle::from_val_lenient(&py_to_val(fields, "bundle")?)?;
        Ok(b.to_json_string())
    })
}

fn bundle_to_py<'py>(py: Python<'py>, b: &ValidationBundle) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("run_id", val_to_py(py, &b.run_id)?)?;
    d.set_item("dataset_id", val_to_py(py, &b.dataset_id)?)?;
    d.set_item("signal_name", val_to_py(py, &b.signal_name)?)?;
    d.set_item("freq", val_to_py(py, &b.freq)?)?;
    d.set_item("horizons", PyList::new(py, &b.horizons)?)?;
    let hmap = |m: &std::collections::BTreeMap<i64, Val>| -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (k, v) in m {
            out.set_item(*k, val_to_py(py, v)?)?;
        }
        Ok(out)
    };
    d.set_item("ic_summary_by_horizon", hmap(&b.ic_summary_by_horizon)?)?;
    d.set_item("ic_decay_table", val_to_py(py, &Val::List(b.ic_decay_table.clone()))?)?;
    d.set_item("meta", val_to_py(py, &b.meta)?)?;
    d.set_item("ic_series_path_by_horizon", hmap(&b.ic_series_path_by_horizon)?)?;
    d.set_item("ic_decay_path", val_to_py(py, &b.ic_decay_path)?)?;
    d.set_item("turnover_path", val_to_py(py, &b.turnover_path)?)?;
    d.set_item("gross_returns_path", val_to_py(py, &b.gross_returns_path)?)?;
    d.set_item("net_returns_path", val_to_py(py, &b.net_returns_path)?)?;
    d.set_item("extra", val_to_py(py, &Val::Map(b.extra.clone()))?)?;
    Ok(d.into_any())
}

#[pyfunction]
#[pyo3(signature = (fields, base_path=None))]
fn execution_evidence_validate_required(fields: &Bound<'_, PyAny>, base_path: Option<String>) -> PyResult<Vec<String>> {
    super::guard_py(|| {
        let ev = ExecutionEvidence::from_fields(&py_to_val(fields, "execution_evidence")?);
        // Looks at the capacity curve file: without the GIL.
        super::detach(fields.py(), move || Ok(ev.validate_required(base_path.as_deref().map(Path::new))))
    })
}

#[pyfunction]
fn execution_evidence_to_dict<'py>(py: Python<'py>, fields: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    super::guard_py(|| {
        let ev = ExecutionEvidence::from_fields(&py_to_val(fields, "execution_evidence")?);
        val_to_py(py, &ev.to_dict())
    })
}

/// Tolerant reader: the field values `ExecutionEvidence.from_dict` builds from a loose dict.
#[pyfunction]
fn execution_evidence_from_dict<'py>(py: Python<'py>, d: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    super::guard_py(|| {
        let v = py_to_val(d, "execution evidence dict")?;
        if v.as_map().is_none() {
            return Err(invalid(format!("ExecutionEvidence.from_dict expects a dict, got {}", v.describe())));
        }
        let ev = ExecutionEvidence::from_dict(&v);
        let out = PyDict::new(py);
        out.set_item("min_liquidity_usd", val_to_py(py, &ev.min_liquidity_usd)?)?;
        out.set_item("max_participation_rate", val_to_py(py, &ev.max_participation_rate)?)?;
        out.set_item("spread_model", val_to_py(py, &ev.spread_model)?)?;
        out.set_item("impact_model", val_to_py(py, &ev.impact_model)?)?;
        out.set_item("capacity_curve_path", val_to_py(py, &ev.capacity_curve_path)?)?;
        out.set_item("cost_config", val_to_py(py, &ev.cost_config)?)?;
        out.set_item("notes", val_to_py(py, &ev.notes)?)?;
        Ok(out.into_any())
    })
}

/// Python's `repr(float)`, as the gate prints thresholds (exposed for tests).
#[pyfunction]
fn _python_float_repr(x: f64) -> PyResult<String> {
    super::guard_py(|| Ok(crate::pyfmt::python_float_repr(x)))
}

/// Python's `f"{x:.4f}"`, as the gate prints metrics (exposed for tests).
#[pyfunction]
fn _python_format_4f(x: f64) -> PyResult<String> {
    super::guard_py(|| Ok(crate::pyfmt::python_format_4f(x)))
}

/// Evaluate a stored candidate and record the decision (status + `evaluated` event, one transaction).
#[pyfunction]
#[pyo3(signature = (db_path, candidate_id, thresholds, bundle=None, regime_summary=None, rc_summary=None,
                    evidence_base_path=None, target_status="exploratory", allow_missing_execution_evidence=false,
                    execution_evidence=None, execution_evidence_resolved=false, expected_status=None))]
#[allow(clippy::too_many_arguments)]
fn service_evaluate_and_record<'py>(
    py: Python<'py>,
    db_path: String,
    candidate_id: String,
    thresholds: &Bound<'py, PyAny>,
    bundle: Option<&Bound<'py, PyAny>>,
    regime_summary: Option<&Bound<'py, PyAny>>,
    rc_summary: Option<&Bound<'py, PyAny>>,
    evidence_base_path: Option<String>,
    target_status: &str,
    allow_missing_execution_evidence: bool,
    execution_evidence: Option<&Bound<'py, PyAny>>,
    execution_evidence_resolved: bool,
    expected_status: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    super::guard_py(|| {
        let target_status = Status::parse("target_status", target_status)?;
        let thr = ThresholdConfig::from_val(&py_to_val(thresholds, "thresholds")?)?;
        let bundle_arg = match bundle {
            None => service::BundleArg::FromEvidence,
            Some(o) if o.is_none() => service::BundleArg::FromEvidence,
            Some(o) if o.cast::<PyString>().is_ok() => service::BundleArg::Path(o.extract::<String>()?),
            Some(o) => service::BundleArg::Fields(py_to_val(o, "bundle")?),
        };
        let extra = extract_inputs(regime_summary, rc_summary, execution_evidence)?;
        let req = service::EvaluateRequest {
            candidate_id,
            thresholds: thr,
            bundle: bundle_arg,
            regime_summary: extra.regime,
            rc_summary: extra.rc,
            evidence_base_path: opt_path(evidence_base_path),
            target_status,
            allow_missing_execution_evidence,
            execution_evidence: execution_evidence_resolved.then_some(extra.exec),
            expected_status,
        };
        let db = Backend::parse(&db_path);
        let d = super::detach(py, move || service::evaluate_and_record(&db, &req))?;
        decision_to_py(py, &d)
    })
}

/// The analyzer's `resolve_evidence`: (bundle fields or None, regime summary as
/// `{"columns", "rows"}` or None, RC summary or None, execution evidence fields or None). An input
/// that is absent or cannot be used is None (the analyzer's loaders return None too).
#[pyfunction]
#[pyo3(signature = (evidence, evidence_base_path=None, bundle=None))]
fn service_resolve_evidence<'py>(
    py: Python<'py>,
    evidence: &Bound<'py, PyAny>,
    evidence_base_path: Option<String>,
    bundle: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let ev = py_to_val(evidence, "evidence_json")?;
    let ev = if ev.as_map().is_some() { ev } else { Val::Map(Vec::new()) };
    let arg = match bundle {
        None => service::BundleArg::Path(String::new()),
        Some(o) if o.is_none() => service::BundleArg::Path(String::new()),
        Some(o) if o.cast::<PyString>().is_ok() => service::BundleArg::Path(o.extract::<String>()?),
        Some(o) => service::BundleArg::Fields(py_to_val(o, "bundle")?),
    };
    let base = opt_path(evidence_base_path);
    let r = super::detach(py, move || Ok(service::resolve_evidence(&ev, base.as_deref(), &arg)))?;
    let none = || py.None().into_bound(py);
    let b = match &r.bundle {
        Ok(b) => bundle_to_py(py, b)?,
        Err(_) => none(),
    };
    let regime = match &r.regime_summary {
        Input::Provided(rs) => {
            let d = PyDict::new(py);
            d.set_item("columns", PyList::new(py, &rs.columns)?)?;
            let rows = PyList::empty(py);
            for row in &rs.rows {
                rows.append(val_to_py(py, &Val::Map(row.clone()))?)?;
            }
            d.set_item("rows", rows)?;
            d.into_any()
        }
        _ => none(),
    };
    let rc = match &r.rc_summary {
        Input::Provided(v) => val_to_py(py, v)?,
        _ => none(),
    };
    let ex = match &r.execution_evidence {
        Input::Provided(e) => {
            let d = PyDict::new(py);
            d.set_item("min_liquidity_usd", val_to_py(py, &e.min_liquidity_usd)?)?;
            d.set_item("max_participation_rate", val_to_py(py, &e.max_participation_rate)?)?;
            d.set_item("spread_model", val_to_py(py, &e.spread_model)?)?;
            d.set_item("impact_model", val_to_py(py, &e.impact_model)?)?;
            d.set_item("capacity_curve_path", val_to_py(py, &e.capacity_curve_path)?)?;
            d.set_item("cost_config", val_to_py(py, &e.cost_config)?)?;
            d.set_item("notes", val_to_py(py, &e.notes)?)?;
            d.into_any()
        }
        _ => none(),
    };
    Ok(pyo3::types::PyTuple::new(py, [b, regime, rc, ex])?.into_any())
}

/// Every `*_path` entry of a candidate's evidence_json with the file evaluation reads for it:
/// `[{"key", "path", "resolved" (None when refused), "exists", "error" (None or why refused)}]`.
/// Files are looked at with the GIL released.
#[pyfunction]
#[pyo3(signature = (evidence, evidence_base_path=None))]
fn service_evidence_files<'py>(
    py: Python<'py>,
    evidence: &Bound<'py, PyAny>,
    evidence_base_path: Option<String>,
) -> PyResult<Bound<'py, PyList>> {
    super::guard_py(|| {
        let ev = py_to_val(evidence, "evidence_json")?;
        let base = opt_path(evidence_base_path);
        let files = super::detach(py, move || Ok(service::evidence_files(&ev, base.as_deref())))?;
        let out = PyList::empty(py);
        for f in files {
            let d = PyDict::new(py);
            d.set_item("key", &f.key)?;
            d.set_item("path", &f.path)?;
            match &f.resolved {
                Ok(p) => {
                    d.set_item("resolved", p.to_string_lossy())?;
                    d.set_item("error", py.None())?;
                }
                Err(msg) => {
                    d.set_item("resolved", py.None())?;
                    d.set_item("error", msg)?;
                }
            }
            d.set_item("exists", f.exists)?;
            out.append(d)?;
        }
        Ok(out)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MIN_REGIMES_WITH_SAMPLES", gating::MIN_REGIMES_WITH_SAMPLES)?;
    m.add("STATUSES", status::NAMES.to_vec())?;
    m.add("ELIGIBILITY_LEVELS", status::LEVEL_NAMES.to_vec())?;
    m.add("VALIDATION_BUNDLE_FIELDS", evidence::BUNDLE_KEYS.to_vec())?;
    m.add("EXECUTION_EVIDENCE_FIELDS", evidence::EXECUTION_EVIDENCE_FIELDS.to_vec())?;
    m.add_function(wrap_pyfunction!(status_evaluation_target, m)?)?;
    m.add_function(wrap_pyfunction!(gating_evaluate_candidate, m)?)?;
    m.add_function(wrap_pyfunction!(gating_evaluate_eligibility, m)?)?;
    m.add_function(wrap_pyfunction!(_json_dumps_str_list, m)?)?;
    m.add("VALIDATION_BUNDLE_SCHEMA_VERSION", eligibility::VALIDATION_BUNDLE_SCHEMA_VERSION)?;
    m.add("RC_SUMMARY_SCHEMA_VERSION", eligibility::RC_SUMMARY_SCHEMA_VERSION)?;
    m.add("SEED_DERIVATION_SCHEMA_VERSION", eligibility::SEED_DERIVATION_SCHEMA_VERSION)?;
    m.add("FOLD_CAUSALITY_ATTESTATION_SCHEMA_VERSION", eligibility::FOLD_CAUSALITY_ATTESTATION_SCHEMA_VERSION)?;
    m.add_function(wrap_pyfunction!(validation_bundle_from_json, m)?)?;
    m.add_function(wrap_pyfunction!(validation_bundle_normalize, m)?)?;
    m.add_function(wrap_pyfunction!(validation_bundle_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(execution_evidence_validate_required, m)?)?;
    m.add_function(wrap_pyfunction!(execution_evidence_to_dict, m)?)?;
    m.add_function(wrap_pyfunction!(execution_evidence_from_dict, m)?)?;
    m.add_function(wrap_pyfunction!(_python_float_repr, m)?)?;
    m.add_function(wrap_pyfunction!(_python_format_4f, m)?)?;
    m.add_function(wrap_pyfunction!(service_evaluate_and_record, m)?)?;
    m.add_function(wrap_pyfunction!(service_resolve_evidence, m)?)?;
    m.add_function(wrap_pyfunction!(service_evidence_files, m)?)?;
    Ok(())
}
