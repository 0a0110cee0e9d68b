//! Bindings for the store and the Phase 3 migrations. Thin wrappers: extract arguments, run the
//! core with the GIL released (panics caught and reported as InternalError), convert results.
//! The public Python API is `crypto_analyzer_promotion.store_sqlite` / `.migrations_phase3`.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::intern;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};

use super::detach;
use super::convert::{json_to_py, py_to_json, py_to_json_named};
use crate::error::Error;
use crate::json::to_canonical_string;
use crate::migrate::{self, Migration};
use crate::store::{self, Candidate, CandidateFilter, Event, NewCandidate};

pub(super) fn extract_horizon(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    let bad = || {
        let tn = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        let repr = obj.repr().map(|r| r.to_string()).unwrap_or_default();
        PyValueError::new_err(format!("horizon must be an integer, got {tn}: {repr}"))
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

pub(super) fn candidate_to_dict<'py>(py: Python<'py>, c: &Candidate) -> PyResult<Bound<'py, PyDict>> {
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
    Ok(d)
}

pub(super) fn event_to_dict<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "event_id"), e.event_id)?;
    d.set_item(intern!(py, "candidate_id"), &e.candidate_id)?;
    d.set_item(intern!(py, "ts_utc"), &e.ts_utc)?;
    d.set_item(intern!(py, "event_type"), &e.event_type)?;
    d.set_item(intern!(py, "payload_json"), &e.payload_json)?;
    Ok(d)
}

pub(super) fn optional_json(obj: Option<&Bound<'_, PyAny>>, root: &str) -> PyResult<Option<serde_json::Value>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => py_to_json_named(o, root).map(Some),
    }
}

#[pyfunction]
fn store_promotion_tables_exist(py: Python<'_>, db_path: PathBuf) -> PyResult<bool> {
    detach(py, move || {
        if !db_path.exists() {
            return Ok(false);
        }
        store::with_cached_store(&db_path, |s| s.promotion_tables_exist())
    })
}

#[pyfunction]
fn store_require_promotion_tables(py: Python<'_>, db_path: PathBuf) -> PyResult<()> {
    detach(py, move || store::with_cached_store(&db_path, |s| s.require_promotion_tables()))
}

#[pyfunction]
#[pyo3(signature = (db_path, *, dataset_id, run_id, signal_name, horizon, config_hash, git_commit,
    family_id=None, estimator=None, notes=None, evidence=None, status=None, candidate_id=None,
    evidence_base_path=None))]
#[allow(clippy::too_many_arguments)]
fn store_create_candidate(
    py: Python<'_>,
    db_path: PathBuf,
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
) -> PyResult<String> {
    let mut new = NewCandidate::new(dataset_id, run_id, signal_name, extract_horizon(horizon)?, config_hash, git_commit);
    new.family_id = family_id;
    new.estimator = estimator;
    new.notes = notes;
    new.evidence = optional_json(evidence, "evidence")?;
    if let Some(s) = status {
        new.status = s;
    }
    new.candidate_id = candidate_id;
    new.evidence_base_path = evidence_base_path;
    detach(py, move || store::with_cached_store(&db_path, |s| s.create_candidate(&new)))
}

pub(super) fn get_opt_str(d: &Bound<'_, PyDict>, key: &str, at: usize) -> PyResult<Option<String>> {
    match d.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .extract::<String>()
            .map(Some)
            .map_err(|_| PyValueError::new_err(format!("rows[{at}]['{key}'] must be a str"))),
    }
}

pub(super) fn get_str(d: &Bound<'_, PyDict>, key: &str, at: usize) -> PyResult<String> {
    get_opt_str(d, key, at)?.ok_or_else(|| PyValueError::new_err(format!("rows[{at}] is missing '{key}'")))
}

pub(super) const ROW_KEYS: [&str; 13] = [
    "dataset_id", "run_id", "signal_name", "horizon", "config_hash", "git_commit", "family_id",
    "estimator", "notes", "evidence", "status", "candidate_id", "evidence_base_path",
];

/// The rows of `create_candidates_many` (dicts of create_candidate's keyword arguments).
pub(super) fn rows_to_new_candidates(rows: &Bound<'_, PyAny>, evidence_base_path: Option<PathBuf>) -> PyResult<Vec<NewCandidate>> {
    let mut items = Vec::new();
    for (at, row) in rows.try_iter()?.enumerate() {
        let row = row?;
        let d = row
            .cast::<PyDict>()
            .map_err(|_| PyValueError::new_err(format!("rows[{at}] must be a dict of create_candidate arguments")))?;
        for k in d.keys() {
            let known = k.extract::<String>().map(|key| ROW_KEYS.contains(&key.as_str())).unwrap_or(false);
            if !known {
                let repr = k.repr().map(|r| r.to_string()).unwrap_or_default();
                return Err(PyValueError::new_err(format!("rows[{at}] has an unknown key: {repr}")));
            }
        }
        let horizon = d
            .get_item("horizon")?
            .ok_or_else(|| PyValueError::new_err(format!("rows[{at}] is missing 'horizon'")))?;
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
        new.evidence_base_path = match d.get_item("evidence_base_path")? {
            Some(v) if !v.is_none() => Some(v.extract::<PathBuf>()?),
            _ => evidence_base_path.clone(),
        };
        items.push(new);
    }
    Ok(items)
}

#[pyfunction]
#[pyo3(signature = (db_path, rows, evidence_base_path=None))]
fn store_create_candidates_many(
    py: Python<'_>,
    db_path: PathBuf,
    rows: &Bound<'_, PyAny>,
    evidence_base_path: Option<PathBuf>,
) -> PyResult<Vec<String>> {
    let items = rows_to_new_candidates(rows, evidence_base_path)?;
    detach(py, move || store::with_cached_store(&db_path, |s| s.create_candidates_many(&items)))
}

#[pyfunction]
#[pyo3(signature = (db_path, candidate_id, status, reason=None))]
fn store_update_status(
    py: Python<'_>,
    db_path: PathBuf,
    candidate_id: String,
    status: String,
    reason: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        store::with_cached_store(&db_path, |s| s.update_status(&candidate_id, &status, reason.as_deref()))
    })
}

#[pyfunction]
#[pyo3(signature = (db_path, candidate_id, event_type, payload=None))]
fn store_record_event(
    py: Python<'_>,
    db_path: PathBuf,
    candidate_id: String,
    event_type: String,
    payload: Option<&Bound<'_, PyAny>>,
) -> PyResult<i64> {
    let payload = optional_json(payload, "payload")?;
    detach(py, move || {
        store::with_cached_store(&db_path, |s| s.record_event(&candidate_id, &event_type, payload.as_ref()))
    })
}

#[pyfunction]
#[pyo3(signature = (db_path, status=None, dataset_id=None, signal_name=None, limit=Some(100)))]
fn store_list_candidates<'py>(
    py: Python<'py>,
    db_path: PathBuf,
    status: Option<String>,
    dataset_id: Option<String>,
    signal_name: Option<String>,
    limit: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    let filter = CandidateFilter { status, dataset_id, signal_name, limit };
    let rows = detach(py, move || store::with_cached_store(&db_path, |s| s.list_candidates(&filter)))?;
    let out = PyList::empty(py);
    for c in &rows {
        out.append(candidate_to_dict(py, c)?)?;
    }
    Ok(out)
}

#[pyfunction]
fn store_get_candidate<'py>(py: Python<'py>, db_path: PathBuf, candidate_id: String) -> PyResult<Option<Bound<'py, PyDict>>> {
    let row = detach(py, move || store::with_cached_store(&db_path, |s| s.get_candidate(&candidate_id)))?;
    row.map(|c| candidate_to_dict(py, &c)).transpose()
}

#[pyfunction]
fn store_get_events<'py>(py: Python<'py>, db_path: PathBuf, candidate_id: String) -> PyResult<Bound<'py, PyList>> {
    let rows = detach(py, move || store::with_cached_store(&db_path, |s| s.get_events(&candidate_id)))?;
    let out = PyList::empty(py);
    for e in &rows {
        out.append(event_to_dict(py, e)?)?;
    }
    Ok(out)
}

#[pyfunction]
fn store_forget_connection(db_path: PathBuf) {
    store::forget_cached_store(&db_path);
}

/// Canonical JSON text of a Python object (the exact bytes stored in evidence_json/payload_json).
#[pyfunction]
fn store_canonical_json(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(to_canonical_string(&py_to_json(obj)?))
}

/// Round-trip a JSON document through the converter (parse → Python objects).
#[pyfunction]
fn store_json_loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| super::to_pyerr(Error::Json(e)))?;
    json_to_py(py, &v)
}

#[pyfunction]
fn store_candidate_id(run_id: &str, signal_name: &str, horizon: i64, created_at_utc: &str) -> String {
    store::candidate_id_for(run_id, signal_name, horizon, created_at_utc)
}

// ------------------------------------------------------------------ migrations

/// (version, name) of the embedded migrations, in order.
#[pyfunction]
fn store_migrations() -> Vec<(i64, String)> {
    migrate::MIGRATIONS_PHASE3.iter().map(|(v, n, _)| (*v, (*n).to_string())).collect()
}

#[pyfunction]
#[pyo3(signature = (db_path, git_commit=None, extra=None))]
fn store_run_migrations(
    py: Python<'_>,
    db_path: PathBuf,
    git_commit: Option<String>,
    extra: Option<Vec<(i64, String, String)>>,
) -> PyResult<Vec<i64>> {
    let mut migrations = migrate::phase3_migrations();
    for (version, name, sql) in extra.unwrap_or_default() {
        migrations.push(Migration { version, name, sql });
    }
    detach(py, move || migrate::run_migrations(&db_path, &migrations, git_commit.as_deref()))
}

#[pyfunction]
fn store_apply_migration_sql(py: Python<'_>, db_path: PathBuf, version: i64) -> PyResult<()> {
    detach(py, move || migrate::apply_migration_sql(&db_path, version))
}

#[pyfunction]
fn store_schema_migrations_exists(py: Python<'_>, db_path: PathBuf) -> PyResult<bool> {
    detach(py, move || migrate::schema_migrations_phase3_exists(&db_path))
}

#[pyfunction]
fn store_applied_versions(py: Python<'_>, db_path: PathBuf) -> PyResult<Vec<i64>> {
    detach(py, move || migrate::get_applied_versions_phase3(&db_path))
}

#[pyfunction]
fn store_phase3_tables_exist(py: Python<'_>, db_path: PathBuf) -> PyResult<bool> {
    detach(py, move || migrate::phase3_tables_exist(&db_path))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PROMOTION_TABLES_REQUIRED_MSG", store::PROMOTION_TABLES_REQUIRED_MSG)?;
    m.add("VALID_STATUSES", store::VALID_STATUSES.to_vec())?;
    m.add("BUSY_TIMEOUT_MS", store::BUSY_TIMEOUT_MS)?;
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
    m.add_function(wrap_pyfunction!(store_canonical_json, m)?)?;
    m.add_function(wrap_pyfunction!(store_json_loads, m)?)?;
    m.add_function(wrap_pyfunction!(store_candidate_id, m)?)?;
    m.add_function(wrap_pyfunction!(store_migrations, m)?)?;
    m.add_function(wrap_pyfunction!(store_run_migrations, m)?)?;
    m.add_function(wrap_pyfunction!(store_apply_migration_sql, m)?)?;
    m.add_function(wrap_pyfunction!(store_schema_migrations_exists, m)?)?;
    m.add_function(wrap_pyfunction!(store_applied_versions, m)?)?;
    m.add_function(wrap_pyfunction!(store_phase3_tables_exist, m)?)?;
    Ok(())
}
