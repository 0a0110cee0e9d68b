//! Bindings of the PostgreSQL store (`pg_store_*`): the same arguments and results as the
//! `store_*` functions, with a `postgresql://` URL in place of the database path. The Python
//! package dispatches to them (`crypto_analyzer_promotion._backend`) when it is given such a URL.

use std::path::PathBuf;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::detach;
use super::store_bindings::{
    candidate_to_dict, event_to_dict, extract_horizon, json_text_arg, opt_text_arg, optional_json, reports_to_list,
    rows_to_new_candidates,
};
use crate::store::postgres::conn::PgTarget;
use crate::store::postgres::migrate as pg_migrate;
use crate::store::postgres::{
    forget_pg_store, with_pg_store, CandidateRow, NewEligibilityReport, NewGovernanceEvent, ELIGIBILITY_REQUIRED_MSG,
    USE_PROMOTE_MSG,
};
use crate::store::sqlite::migrate::Migration;
use crate::store::sqlite::promotion::EligibilityRow;
use crate::store::sqlite::{CandidateFilter, NewCandidate};

fn row_to_dict<'py>(py: Python<'py>, r: &CandidateRow) -> PyResult<Bound<'py, PyDict>> {
    let d = candidate_to_dict(py, &r.candidate)?;
    d.set_item(intern!(py, "eligibility_report_id"), &r.eligibility_report_id)?;
    Ok(d)
}

#[pyfunction]
fn pg_store_promotion_tables_exist(py: Python<'_>, url: String) -> PyResult<bool> {
    detach(py, move || with_pg_store(&url, |s| s.promotion_tables_exist()))
}

#[pyfunction]
fn pg_store_require_promotion_tables(py: Python<'_>, url: String) -> PyResult<()> {
    detach(py, move || with_pg_store(&url, |s| s.require_promotion_tables()))
}

#[pyfunction]
#[pyo3(signature = (url, *, dataset_id, run_id, signal_name, horizon, config_hash, git_commit,
    family_id=None, estimator=None, notes=None, evidence=None, status=None, candidate_id=None,
    evidence_base_path=None, eligibility_report_id=None))]
#[allow(clippy::too_many_arguments)]
fn pg_store_create_candidate(
    py: Python<'_>,
    url: String,
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
    detach(py, move || with_pg_store(&url, |s| s.create_candidate_linked(&new, eligibility_report_id.as_deref())))
}

#[pyfunction]
#[pyo3(signature = (url, rows, evidence_base_path=None))]
fn pg_store_create_candidates_many(
    py: Python<'_>,
    url: String,
    rows: &Bound<'_, PyAny>,
    evidence_base_path: Option<PathBuf>,
) -> PyResult<Vec<String>> {
    let items = rows_to_new_candidates(rows, evidence_base_path)?;
    detach(py, move || with_pg_store(&url, |s| s.create_candidates_many(&items)))
}

#[pyfunction]
#[pyo3(signature = (url, candidate_id, status, reason=None, *, eligibility_report_id=None))]
fn pg_store_update_status(
    py: Python<'_>,
    url: String,
    candidate_id: String,
    status: String,
    reason: Option<String>,
    eligibility_report_id: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        with_pg_store(&url, |s| {
            s.update_status(&candidate_id, &status, reason.as_deref(), eligibility_report_id.as_deref())
        })
    })
}

#[pyfunction]
#[pyo3(signature = (url, candidate_id, eligibility_report_id, reason=None))]
fn pg_store_promote_to_candidate(
    py: Python<'_>,
    url: String,
    candidate_id: String,
    eligibility_report_id: String,
    reason: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        with_pg_store(&url, |s| s.promote_to_candidate(&candidate_id, &eligibility_report_id, reason.as_deref()))
    })
}

#[pyfunction]
#[pyo3(signature = (url, candidate_id, eligibility_report_id, reason=None))]
fn pg_store_promote_to_accepted(
    py: Python<'_>,
    url: String,
    candidate_id: String,
    eligibility_report_id: String,
    reason: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        with_pg_store(&url, |s| s.promote_to_accepted(&candidate_id, &eligibility_report_id, reason.as_deref()))
    })
}

/// The same arguments, checks and messages as `store_insert_eligibility_report`.
#[pyfunction]
#[pyo3(signature = (url, eligibility_report_id, candidate_id, level, passed, blockers_json, warnings_json,
    computed_at_utc, run_key=None, run_instance_id=None, dataset_id_v2=None, engine_version=None,
    config_version=None))]
#[allow(clippy::too_many_arguments)]
fn pg_store_insert_eligibility_report(
    py: Python<'_>,
    url: String,
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
    row.validate()?;
    let r = NewEligibilityReport::from(&row);
    detach(py, move || with_pg_store(&url, |s| s.insert_eligibility_report(&r)))
}

/// `store_promote` on a server: promote to `level` with a passed report of that level.
#[pyfunction]
#[pyo3(signature = (url, candidate_id, level, eligibility_report_id, reason=None))]
fn pg_store_promote(
    py: Python<'_>,
    url: String,
    candidate_id: String,
    level: String,
    eligibility_report_id: String,
    reason: Option<String>,
) -> PyResult<i64> {
    detach(py, move || {
        with_pg_store(&url, |s| s.promote(&candidate_id, &level, &eligibility_report_id, reason.as_deref()))
    })
}

#[pyfunction]
fn pg_store_get_eligibility_reports<'py>(
    py: Python<'py>,
    url: String,
    candidate_id: String,
) -> PyResult<Bound<'py, PyList>> {
    let rows = detach(py, move || with_pg_store(&url, |s| s.get_eligibility_reports(&candidate_id)))?;
    reports_to_list(py, &rows)
}

#[pyfunction]
#[pyo3(signature = (url, *, timestamp, actor, action, candidate_id=None, eligibility_report_id=None,
    run_key=None, dataset_id_v2=None, artifact_refs=None))]
#[allow(clippy::too_many_arguments)]
fn pg_store_append_governance_event(
    py: Python<'_>,
    url: String,
    timestamp: String,
    actor: String,
    action: String,
    candidate_id: Option<String>,
    eligibility_report_id: Option<String>,
    run_key: Option<String>,
    dataset_id_v2: Option<String>,
    artifact_refs: Option<&Bound<'_, PyAny>>,
) -> PyResult<i64> {
    let g = NewGovernanceEvent {
        timestamp,
        actor,
        action,
        candidate_id,
        eligibility_report_id,
        run_key,
        dataset_id_v2,
        artifact_refs: optional_json(artifact_refs, "artifact_refs")?,
    };
    detach(py, move || with_pg_store(&url, |s| s.append_governance_event(&g)))
}

#[pyfunction]
#[pyo3(signature = (url, candidate_id, event_type, payload=None))]
fn pg_store_record_event(
    py: Python<'_>,
    url: String,
    candidate_id: String,
    event_type: String,
    payload: Option<&Bound<'_, PyAny>>,
) -> PyResult<i64> {
    let payload = optional_json(payload, "payload")?;
    detach(py, move || with_pg_store(&url, |s| s.record_event(&candidate_id, &event_type, payload.as_ref())))
}

#[pyfunction]
#[pyo3(signature = (url, status=None, dataset_id=None, signal_name=None, limit=Some(100)))]
fn pg_store_list_candidates<'py>(
    py: Python<'py>,
    url: String,
    status: Option<String>,
    dataset_id: Option<String>,
    signal_name: Option<String>,
    limit: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    let filter = CandidateFilter { status, dataset_id, signal_name, limit };
    let rows = detach(py, move || with_pg_store(&url, |s| s.list_candidates(&filter)))?;
    let out = PyList::empty(py);
    for r in &rows {
        out.append(row_to_dict(py, r)?)?;
    }
    Ok(out)
}

#[pyfunction]
fn pg_store_get_candidate<'py>(
    py: Python<'py>,
    url: String,
    candidate_id: String,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let row = detach(py, move || with_pg_store(&url, |s| s.get_candidate(&candidate_id)))?;
    row.map(|r| row_to_dict(py, &r)).transpose()
}

#[pyfunction]
fn pg_store_get_events<'py>(py: Python<'py>, url: String, candidate_id: String) -> PyResult<Bound<'py, PyList>> {
    let rows = detach(py, move || with_pg_store(&url, |s| s.get_events(&candidate_id)))?;
    let out = PyList::empty(py);
    for e in &rows {
        out.append(event_to_dict(py, e)?)?;
    }
    Ok(out)
}

/// Close this process's cached connection to `url` (if any).
#[pyfunction]
fn pg_store_forget_connection(url: String) {
    forget_pg_store(&url);
}

/// The URL with its password replaced by `***` (safe to print or log).
#[pyfunction]
fn pg_redact_url(py: Python<'_>, url: String) -> PyResult<String> {
    detach(py, move || PgTarget::parse(&url).map(|t| t.redacted().to_string()))
}

#[pyfunction]
#[pyo3(signature = (url, git_commit=None, extra=None))]
fn pg_store_run_migrations(
    py: Python<'_>,
    url: String,
    git_commit: Option<String>,
    extra: Option<Vec<(i64, String, String)>>,
) -> PyResult<Vec<i64>> {
    let extra: Vec<Migration> =
        extra.unwrap_or_default().into_iter().map(|(version, name, sql)| Migration { version, name, sql }).collect();
    detach(py, move || pg_migrate::pg_run_migrations(&url, &extra, git_commit.as_deref()))
}

#[pyfunction]
fn pg_store_apply_migration_sql(py: Python<'_>, url: String, version: i64) -> PyResult<()> {
    detach(py, move || pg_migrate::pg_apply_migration_sql(&url, version))
}

#[pyfunction]
fn pg_store_schema_migrations_exists(py: Python<'_>, url: String) -> PyResult<bool> {
    detach(py, move || pg_migrate::pg_schema_migrations_exists(&url))
}

#[pyfunction]
fn pg_store_applied_versions(py: Python<'_>, url: String) -> PyResult<Vec<i64>> {
    detach(py, move || pg_migrate::pg_applied_versions(&url))
}

#[pyfunction]
fn pg_store_phase3_tables_exist(py: Python<'_>, url: String) -> PyResult<bool> {
    detach(py, move || pg_migrate::pg_phase3_tables_exist(&url))
}

/// (version, name) of the PostgreSQL migrations, in order.
#[pyfunction]
fn pg_store_migrations() -> Vec<(i64, String)> {
    pg_migrate::PG_MIGRATIONS_PHASE3.iter().map(|(v, n, _)| (*v, (*n).to_string())).collect()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PG_USE_PROMOTE_MSG", USE_PROMOTE_MSG)?;
    m.add("PG_ELIGIBILITY_REQUIRED_MSG", ELIGIBILITY_REQUIRED_MSG)?;
    m.add_function(wrap_pyfunction!(pg_store_promotion_tables_exist, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_require_promotion_tables, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_create_candidate, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_create_candidates_many, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_update_status, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_promote_to_candidate, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_promote_to_accepted, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_insert_eligibility_report, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_promote, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_get_eligibility_reports, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_append_governance_event, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_record_event, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_list_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_get_candidate, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_get_events, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_forget_connection, m)?)?;
    m.add_function(wrap_pyfunction!(pg_redact_url, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_run_migrations, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_apply_migration_sql, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_schema_migrations_exists, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_applied_versions, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_phase3_tables_exist, m)?)?;
    m.add_function(wrap_pyfunction!(pg_store_migrations, m)?)?;
    Ok(())
}
