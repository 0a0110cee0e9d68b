//! Bindings for the store and the Phase 3 migrations, ONE set for every backend. Thin wrappers:
//! extract arguments, run the core with the GIL released (panics caught and reported as
//! InternalError), convert results. The first argument of each is the target, a SQLite path or a
//! `postgresql://` URL: [`Backend::from_path`] picks the backend once, the store does the rest.
//! The public Python API is `crypto_analyzer_promotion.store_sqlite` / `.migrations_phase3`.

use std::path::PathBuf;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};

use super::convert::{json_to_py, py_to_json, py_to_json_named};
use super::detach;
use super::errors::invalid_input;
use crate::error::Error;
use crate::pyfmt::to_canonical_string;
use crate::store::migrations::{self, Migration};
use crate::store::rules;
use crate::store::{
    forget_connection, promotion_tables_exist, with_backend, Backend, Candidate, CandidateFilter, EligibilityRow,
    Event, NewCandidate,
};

fn extract_horizon(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    let bad = || {
        let tn = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        let repr = obj.repr().map(|r| r.to_string()).unwrap_or_default();
        invalid_input(format!("horizon must be an integer, got {tn}: {repr}"))
    };
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyString>() {
        return Err(bad());
    }
    if obj.is_exact_instance_of::<PyInt>() {
        return obj.extract::<i64>().map_err(|_| bad());
    }
    let index = obj.py().import("operator")?.getattr("index")?;
    match index.call1((obj,)) {
        Ok(i) => i.extract::<i64>().map_err(|_| bad()),
        Err(_) => Err(bad()),
    }
}

fn candidate_to_dict<'py>(py: Python<'py>, c: &Candidate) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "candidate_id"), &c.candidate_id)?;
    d.set_item(intern!(py, "created_at_utc"), &c.created_at_utc)?;
    d.set_item(intern!(py, "status"), &c.status)?;
    d.set_item(intern!(py, "dataset_id"), &c.dataset_id)?;
    d.set_item(intern!(py, "run_id"), &c.run_id)?;
    d.set_item(intern!(py, "family_id"), &c.family_id)?;
    d.set_item(intern!(py, "signal_name"), &c.signal_name)?;
    d.set_item(intern!(py, "horizon"), c.horizon)?;
    d.set_item(intern!(py, "estimator"), &c.estimator)?;
    d.set_item(intern!(py, "config_hash"), &c.config_hash)?;
    d.set_item(intern!(py, "git_commit"), &c.git_commit)?;
    d.set_item(intern!(py, "notes"), &c.notes)?;
    d.set_item(intern!(py, "evidence_json"), &c.evidence_json)?;
    d.set_item(intern!(py, "eligibility_report_id"), &c.eligibility_report_id)?;
    Ok(d)
}

fn event_to_dict<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "event_id"), e.event_id)?;
    d.set_item(intern!(py, "candidate_id"), &e.candidate_id)?;
    d.set_item(intern!(py, "ts_utc"), &e.ts_utc)?;
    d.set_item(intern!(py, "event_type"), &e.event_type)?;
    d.set_item(intern!(py, "payload_json"), &e.payload_json)?;
    Ok(d)
}

fn optional_json(obj: Option<&Bound<'_, PyAny>>, root: &str) -> PyResult<Option<serde_json::Value>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => py_to_json_named(o, root).map(Some),
    }
}

#[pyfunction]
fn store_promotion_tables_exist(py: Python<'_>, target: PathBuf) -> PyResult<bool> {
    detach(py, move || promotion_tables_exist(&Backend::from_path(&target)))
}

#[pyfunction]
fn store_require_promotion_tables(py: Python<'_>, target: PathBuf) -> PyResult<()> {
    detach(py, move || with_backend(&Backend::from_path(&target), |s| s.require_promotion_tables()))
}

#[pyfunction]
#[pyo3(signature = (target, *, dataset_id, run_id, signal_name, horizon, config_hash, git_commit,
    family_id=None, estimator=None, notes=None, evidence=None, status=None, candidate_id=None,
    evidence_base_path=None, eligibility_report_id=None))]
#[allow(clippy::too_many_arguments)]
fn store_create_candidate(
    py: Python<'_>,
    target: PathBuf,
    dataset_id: String,
    run_id: String,
    signal_name: String,
    horizon: &Bound<'_, PyAny>,
    config_hash: String,
    git_commit: String,
    family_id: Option<String>,
    estimator: Option<String>,
    notes: Option<String>,
    evidence: Option<&Bound<'_, PyAny>>,
    status: Option<String>,
    candidate_id: Option<String>,
    evidence_base_path: Option<PathBuf>,
    eligibility_report_id: Option<String>,
) -> PyResult<String> {
    let mut new =
        NewCandidate::new(dataset_id, run_id, signal_name, extract_horizon(horizon)?, config_hash, git_commit);
    new.family_id = family_id;
    new.estimator = estimator;
    new.notes = notes;
    new.evidence = optional_json(evidence, "evidence")?;
    if let Some(s) = status {
        new.status = s;
    }
    new.candidate_id = candidate_id;
    new.evidence_base_path = evidence_base_path;
    new.eligibility_report_id = eligibility_report_id;
    detach(py, move || with_backend(&Backend::from_path(&target), |s| s.create_candidate(&new)))
}

fn get_opt_str(d: &Bound<'_, PyDict>, key: &str, at: usize) -> PyResult<Option<String>> {
    match d.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => {
            v.extract::<String>().map(Some).map_err(|_| invalid_input(format!("rows[{at}]['{key}'] must be a str")))
        }
    }
}

fn get_str(d: &Bound<'_, PyDict>, key: &str, at: usize) -> PyResult<String> {
    get_opt_str(d, key, at)?.ok_or_else(|| invalid_input(format!("rows[{at}] is missing '{key}'")))
}

const ROW_KEYS: [&str; 14] = [
    "dataset_id",
    "run_id",
    "signal_name",
    "horizon",
    "config_hash",
    "git_commit",
    "family_id",
    "estimator",
    "notes",
    "evidence",
    "status",
    "candidate_id",
    "evidence_base_path",
    "eligibility_report_id",
];

/// The rows of `create_candidates_many` (dicts of create_candidate's keyword arguments).
fn rows_to_new_candidates(rows: &Bound<'_, PyAny>, evidence_base_path: Option<PathBuf>) -> PyResult<Vec<NewCandidate>> {
    let mut items = Vec::new();
    for (at, row) in rows.try_iter()?.enumerate() {
        let row = row?;
        let d = row
            .cast::<PyDict>()
            .map_err(|_| invalid_input(format!("rows[{at}] must be a dict of create_candidate arguments")))?;
        for k in d.keys() {
            let known = k.extract::<String>().map(|key| ROW_KEYS.contains(&key.as_str())).unwrap_or(false);
            if !known {
                let repr = k.repr().map(|r| r.to_string()).unwrap_or_default();
                return Err(invalid_input(format!("rows[{at}] has an unknown key: {repr}")));
            }
        }
        let horizon =
            d.get_item("horizon")?.ok_or_else(|| invalid_input(format!("rows[{at}] is missing 'horizon'")))?;
        let mut new = NewCandidate::new(
            get_str(d, "dataset_id", at)?,
            get_str(d, "run_id", at)?,
            get_str(d, "signal_name", at)?,
            extract_horizon(&horizon)?,
            get_str(d, "config_hash", at)?,
            get_str(d, "git_commit", at)?,
        );
        new.family_id = get_opt_str(d, "family_id", at)?;
        new.estimator = get_opt_str(d, "estimator", at)?;
        new.notes = get_opt_str(d, "notes", at)?;
        new.evidence = optional_json(d.get_item("evidence")?.as_ref(), &format!("rows[{at}]['evidence']"))?;
        if let Some(s) = get_opt_str(d, "status", at)? {
            new.status = s;
        }
        new.candidate_id = get_opt_str(d, "candidate_id", at)?;
        new.eligibility_report_id = get_opt_str(d, "eligibility_report_id", at)?;
        new.evidence_base_path = match d.get_item("evidence_base_path")? {
            Some(v) if !v.is_none() => Some(v.extract::<PathBuf>()?),
            _ => evidence_base_path.clone(),
        };
        items.push(new);
    }
    Ok(items)
}

#[pyfunction]
#[pyo3(signature = (target, rows, evidence_base_path=None))]
fn store_create_candidates_many(
    py: Python<'_>,
    target: PathBuf,
    rows: &Bound<'_, PyAny>,
    evidence_base_path: Option<PathBuf>,
) -> PyResult<Vec<String>> {
    let items = rows_to_new_candidates(rows, evidence_base_path)?;
    detach(py, move || with_backend(&Backend::from_path(&target), |s| s.create_candidates_many(&items)))
}

#[pyfunction]
#[pyo3(signature = (target, candidate_id, status, reason=None))]
fn store_update_status(
    py: Python<'_>,
    target: PathBuf,
    candidate_id: String,
    status: String,
    reason: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        with_backend(&Backend::from_path(&target), |s| s.update_status(&candidate_id, &status, reason.as_deref()))
    })
}

#[pyfunction]
#[pyo3(signature = (target, candidate_id, event_type, payload=None))]
fn store_record_event(
    py: Python<'_>,
    target: PathBuf,
    candidate_id: String,
    event_type: String,
    payload: Option<&Bound<'_, PyAny>>,
) -> PyResult<i64> {
    let payload = optional_json(payload, "payload")?;
    detach(py, move || {
        with_backend(&Backend::from_path(&target), |s| s.record_event(&candidate_id, &event_type, payload.as_ref()))
    })
}

#[pyfunction]
#[pyo3(signature = (target, status=None, dataset_id=None, signal_name=None, limit=Some(100)))]
fn store_list_candidates<'py>(
    py: Python<'py>,
    target: PathBuf,
    status: Option<String>,
    dataset_id: Option<String>,
    signal_name: Option<String>,
    limit: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    let filter = CandidateFilter { status, dataset_id, signal_name, limit };
    let rows = detach(py, move || with_backend(&Backend::from_path(&target), |s| s.list_candidates(&filter)))?;
    let out = PyList::empty(py);
    for c in &rows {
        out.append(candidate_to_dict(py, c)?)?;
    }
    Ok(out)
}

#[pyfunction]
fn store_get_candidate<'py>(
    py: Python<'py>,
    target: PathBuf,
    candidate_id: String,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let row = detach(py, move || with_backend(&Backend::from_path(&target), |s| s.get_candidate(&candidate_id)))?;
    row.map(|c| candidate_to_dict(py, &c)).transpose()
}

#[pyfunction]
fn store_get_events<'py>(py: Python<'py>, target: PathBuf, candidate_id: String) -> PyResult<Bound<'py, PyList>> {
    let rows = detach(py, move || with_backend(&Backend::from_path(&target), |s| s.get_events(&candidate_id)))?;
    let out = PyList::empty(py);
    for e in &rows {
        out.append(event_to_dict(py, e)?)?;
    }
    Ok(out)
}

fn json_text_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<String> {
    obj.extract::<String>().map_err(|_| {
        let tn = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        PyErr::from(Error::invalid(format!("{name} must be a str holding a JSON list of strings, got {tn}")))
    })
}

fn opt_text_arg(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<String>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => o.extract::<String>().map(Some).map_err(|_| {
            let tn = o.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            PyErr::from(Error::invalid(format!("{name} must be a str or None, got {tn}")))
        }),
    }
}

#[pyfunction]
#[pyo3(signature = (target, eligibility_report_id, candidate_id, level, passed, blockers_json, warnings_json,
    computed_at_utc, run_key=None, run_instance_id=None, dataset_id_v2=None, engine_version=None,
    config_version=None))]
#[allow(clippy::too_many_arguments)]
fn store_insert_eligibility_report(
    py: Python<'_>,
    target: PathBuf,
    eligibility_report_id: String,
    candidate_id: String,
    level: String,
    passed: &Bound<'_, PyAny>,
    blockers_json: &Bound<'_, PyAny>,
    warnings_json: &Bound<'_, PyAny>,
    computed_at_utc: String,
    run_key: Option<&Bound<'_, PyAny>>,
    run_instance_id: Option<&Bound<'_, PyAny>>,
    dataset_id_v2: Option<&Bound<'_, PyAny>>,
    engine_version: Option<&Bound<'_, PyAny>>,
    config_version: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let row = EligibilityRow {
        eligibility_report_id,
        candidate_id,
        level,
        passed: passed.is_truthy()?,
        blockers_json: json_text_arg(blockers_json, "blockers_json")?,
        warnings_json: json_text_arg(warnings_json, "warnings_json")?,
        computed_at_utc,
        run_key: opt_text_arg(run_key, "run_key")?,
        run_instance_id: opt_text_arg(run_instance_id, "run_instance_id")?,
        dataset_id_v2: opt_text_arg(dataset_id_v2, "dataset_id_v2")?,
        engine_version: opt_text_arg(engine_version, "engine_version")?,
        config_version: opt_text_arg(config_version, "config_version")?,
    };
    detach(py, move || with_backend(&Backend::from_path(&target), |s| s.insert_eligibility_report(&row)))
}

#[pyfunction]
#[pyo3(signature = (target, candidate_id, level, eligibility_report_id, reason=None))]
fn store_promote(
    py: Python<'_>,
    target: PathBuf,
    candidate_id: String,
    level: String,
    eligibility_report_id: String,
    reason: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        with_backend(&Backend::from_path(&target), |s| {
            s.promote(&candidate_id, &level, &eligibility_report_id, reason.as_deref())
        })
    })
}

#[pyfunction]
fn store_get_eligibility_reports<'py>(
    py: Python<'py>,
    target: PathBuf,
    candidate_id: String,
) -> PyResult<Bound<'py, PyList>> {
    let rows =
        detach(py, move || with_backend(&Backend::from_path(&target), |s| s.get_eligibility_reports(&candidate_id)))?;
    reports_to_list(py, &rows)
}

/// Eligibility reports as a list of dicts (all columns; `passed` as 0/1).
fn reports_to_list<'py>(py: Python<'py>, rows: &[EligibilityRow]) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for r in rows {
        let d = PyDict::new(py);
        d.set_item("eligibility_report_id", &r.eligibility_report_id)?;
        d.set_item("candidate_id", &r.candidate_id)?;
        d.set_item("level", &r.level)?;
        d.set_item("passed", i64::from(r.passed))?;
        d.set_item("blockers_json", &r.blockers_json)?;
        d.set_item("warnings_json", &r.warnings_json)?;
        d.set_item("computed_at_utc", &r.computed_at_utc)?;
        d.set_item("run_key", &r.run_key)?;
        d.set_item("run_instance_id", &r.run_instance_id)?;
        d.set_item("dataset_id_v2", &r.dataset_id_v2)?;
        d.set_item("engine_version", &r.engine_version)?;
        d.set_item("config_version", &r.config_version)?;
        out.append(d)?;
    }
    Ok(out)
}

#[pyfunction]
fn store_forget_connection(target: PathBuf) {
    forget_connection(&Backend::from_path(&target));
}

/// The target as it may be printed: a path as given, a URL with its password replaced by `***`
/// (an unparsable URL as `postgresql://(unparsable URL)`).
#[pyfunction]
fn store_redact(target: PathBuf) -> String {
    Backend::from_path(&target).describe()
}

/// Canonical JSON text of a Python object (the exact bytes stored in evidence_json/payload_json).
#[pyfunction]
fn store_canonical_json(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(to_canonical_string(&py_to_json(obj)?))
}

/// Round-trip a JSON document through the converter (parse → Python objects).
#[pyfunction]
fn store_json_loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| PyErr::from(Error::Json(e)))?;
    json_to_py(py, &v)
}

#[pyfunction]
fn store_candidate_id(run_id: &str, signal_name: &str, horizon: i64, created_at_utc: &str) -> String {
    rules::candidate_id_for(run_id, signal_name, horizon, created_at_utc)
}

// ------------------------------------------------------------------ migrations

/// (version, name) of the embedded migrations, in order.
#[pyfunction]
fn store_migrations() -> Vec<(i64, String)> {
    migrations::VERSIONS.iter().map(|v| (v.version, v.name.to_string())).collect()
}

#[pyfunction]
#[pyo3(signature = (target, git_commit=None, extra=None))]
fn store_run_migrations(
    py: Python<'_>,
    target: PathBuf,
    git_commit: Option<String>,
    extra: Option<Vec<(i64, String, String)>>,
) -> PyResult<Vec<i64>> {
    let extra: Vec<Migration> =
        extra.unwrap_or_default().into_iter().map(|(version, name, sql)| Migration { version, name, sql }).collect();
    detach(py, move || crate::store::run_migrations(&Backend::from_path(&target), extra, git_commit.as_deref()))
}

#[pyfunction]
fn store_apply_migration_sql(py: Python<'_>, target: PathBuf, version: i64) -> PyResult<()> {
    detach(py, move || crate::store::apply_migration_sql(&Backend::from_path(&target), version))
}

#[pyfunction]
#[pyo3(signature = (target, candidate_id, eligibility_report_id, reason=None))]
fn store_request_acceptance(
    py: Python<'_>,
    target: PathBuf,
    candidate_id: String,
    eligibility_report_id: String,
    reason: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        with_backend(&Backend::from_path(&target), |s| {
            s.request_acceptance(&candidate_id, &eligibility_report_id, reason.as_deref())
        })
    })
}

#[pyfunction]
#[pyo3(signature = (target, candidate_id, reason=None))]
fn store_approve_acceptance(
    py: Python<'_>,
    target: PathBuf,
    candidate_id: String,
    reason: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        with_backend(&Backend::from_path(&target), |s| s.approve_acceptance(&candidate_id, reason.as_deref()))
    })
}

#[pyfunction]
fn store_reject_acceptance(py: Python<'_>, target: PathBuf, candidate_id: String, reason: String) -> PyResult<i64> {
    detach(py, move || with_backend(&Backend::from_path(&target), |s| s.reject_acceptance(&candidate_id, &reason)))
}

#[pyfunction]
fn store_separation_of_duties(py: Python<'_>, target: PathBuf) -> PyResult<bool> {
    detach(py, move || with_backend(&Backend::from_path(&target), |s| s.separation_of_duties()))
}

#[pyfunction]
fn store_setup_roles(py: Python<'_>, target: PathBuf) -> PyResult<()> {
    detach(py, move || crate::store::setup_roles(&Backend::from_path(&target)))
}

#[pyfunction]
fn store_schema_migrations_exists(py: Python<'_>, target: PathBuf) -> PyResult<bool> {
    detach(py, move || crate::store::schema_migrations_exists(&Backend::from_path(&target)))
}

#[pyfunction]
fn store_applied_versions(py: Python<'_>, target: PathBuf) -> PyResult<Vec<i64>> {
    detach(py, move || crate::store::applied_migration_versions(&Backend::from_path(&target)))
}

#[pyfunction]
fn store_phase3_tables_exist(py: Python<'_>, target: PathBuf) -> PyResult<bool> {
    detach(py, move || crate::store::phase3_tables_exist(&Backend::from_path(&target)))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PROMOTION_TABLES_REQUIRED_MSG", rules::PROMOTION_TABLES_REQUIRED_MSG)?;
    m.add("VALID_STATUSES", rules::VALID_STATUSES.to_vec())?;
    m.add("BUSY_TIMEOUT_MS", crate::store::sqlite::BUSY_TIMEOUT_MS)?;
    m.add_function(wrap_pyfunction!(store_promotion_tables_exist, m)?)?;
    m.add_function(wrap_pyfunction!(store_require_promotion_tables, m)?)?;
    m.add_function(wrap_pyfunction!(store_create_candidate, m)?)?;
    m.add_function(wrap_pyfunction!(store_create_candidates_many, m)?)?;
    m.add_function(wrap_pyfunction!(store_update_status, m)?)?;
    m.add_function(wrap_pyfunction!(store_record_event, m)?)?;
    m.add_function(wrap_pyfunction!(store_list_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(store_get_candidate, m)?)?;
    m.add_function(wrap_pyfunction!(store_get_events, m)?)?;
    m.add_function(wrap_pyfunction!(store_forget_connection, m)?)?;
    m.add_function(wrap_pyfunction!(store_redact, m)?)?;
    m.add_function(wrap_pyfunction!(store_insert_eligibility_report, m)?)?;
    m.add_function(wrap_pyfunction!(store_promote, m)?)?;
    m.add_function(wrap_pyfunction!(store_get_eligibility_reports, m)?)?;
    m.add("PROMOTE_WITH_REPORT_MSG", rules::PROMOTE_WITH_REPORT_MSG)?;
    m.add("ELIGIBILITY_TABLE_REQUIRED_MSG", rules::ELIGIBILITY_TABLE_REQUIRED_MSG)?;
    m.add_function(wrap_pyfunction!(store_canonical_json, m)?)?;
    m.add_function(wrap_pyfunction!(store_json_loads, m)?)?;
    m.add_function(wrap_pyfunction!(store_candidate_id, m)?)?;
    m.add_function(wrap_pyfunction!(store_migrations, m)?)?;
    m.add_function(wrap_pyfunction!(store_run_migrations, m)?)?;
    m.add_function(wrap_pyfunction!(store_apply_migration_sql, m)?)?;
    m.add_function(wrap_pyfunction!(store_setup_roles, m)?)?;
    m.add_function(wrap_pyfunction!(store_request_acceptance, m)?)?;
    m.add_function(wrap_pyfunction!(store_approve_acceptance, m)?)?;
    m.add_function(wrap_pyfunction!(store_reject_acceptance, m)?)?;
    m.add_function(wrap_pyfunction!(store_separation_of_duties, m)?)?;
    m.add_function(wrap_pyfunction!(store_schema_migrations_exists, m)?)?;
    m.add_function(wrap_pyfunction!(store_applied_versions, m)?)?;
    m.add_function(wrap_pyfunction!(store_phase3_tables_exist, m)?)?;
    Ok(())
}
