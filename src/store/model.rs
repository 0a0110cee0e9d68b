//! The rows of the promotion store, the same on every dialect: what is read
//! ([`Candidate`], [`Event`], [`EligibilityRow`]) and what is written ([`NewCandidate`],
//! [`EligibilityRow`]), with the checks that need no database.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};

/// One row of `promotion_candidates`.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its id (`prom_` + 16 hex digits unless the caller chose one).
    pub candidate_id: String,
    /// When it was created (ISO-8601 UTC with microseconds).
    pub created_at_utc: String,
    /// exploratory, candidate, accepted or rejected.
    pub status: String,
    /// The dataset the signal was measured on.
    pub dataset_id: String,
    /// The analyzer run that produced it.
    pub run_id: String,
    /// The sweep family it belongs to, if any.
    pub family_id: Option<String>,
    /// The signal's name.
    pub signal_name: String,
    /// The forecast horizon (periods).
    pub horizon: i64,
    /// The estimator used, if recorded.
    pub estimator: Option<String>,
    /// Hash of the run's configuration.
    pub config_hash: String,
    /// The analyzer commit of the run.
    pub git_commit: String,
    /// Free text.
    pub notes: Option<String>,
    /// The evidence as stored: canonical JSON text of an object (relative paths), or None.
    pub evidence_json: Option<String>,
    /// The eligibility report that promoted it (None before migration 9 or when never promoted).
    pub eligibility_report_id: Option<String>,
}

/// One row of `promotion_events`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its id, increasing in insertion order.
    pub event_id: i64,
    /// The candidate it belongs to.
    pub candidate_id: String,
    /// When it was written (ISO-8601 UTC with microseconds).
    pub ts_utc: String,
    /// created, status_change, evaluated, or the caller's own type.
    pub event_type: String,
    /// Canonical JSON text of the payload, None when there is none.
    pub payload_json: Option<String>,
}

/// What `create_candidate` needs. Build with [`NewCandidate::new`] and set the optional fields.
#[derive(Debug, Clone)]
pub struct NewCandidate {
    /// See [`Candidate::dataset_id`].
    pub dataset_id: String,
    /// See [`Candidate::run_id`].
    pub run_id: String,
    /// See [`Candidate::signal_name`].
    pub signal_name: String,
    /// See [`Candidate::horizon`].
    pub horizon: i64,
    /// See [`Candidate::config_hash`].
    pub config_hash: String,
    /// See [`Candidate::git_commit`].
    pub git_commit: String,
    /// See [`Candidate::family_id`].
    pub family_id: Option<String>,
    /// See [`Candidate::estimator`].
    pub estimator: Option<String>,
    /// See [`Candidate::notes`].
    pub notes: Option<String>,
    /// A JSON object (or None). Floats are rounded and keys sorted when stored.
    pub evidence: Option<Value>,
    /// The initial status (default exploratory; candidate/accepted need `eligibility_report_id`).
    pub status: String,
    /// The id to use; None or empty: derived by `rules::candidate_id_for`.
    pub candidate_id: Option<String>,
    /// Absolute evidence paths under this folder are stored relative to it (and it is recorded).
    pub evidence_base_path: Option<PathBuf>,
    /// Status candidate/accepted needs a passed report of that level computed for this candidate
    /// (the triggers of migration 9 check it).
    pub eligibility_report_id: Option<String>,
}

impl NewCandidate {
    /// The id it gets when created at `created_at_utc`: the caller's when given (non-empty), else
    /// `rules::candidate_id_for` of its run, signal, horizon and creation time.
    pub fn id_at(&self, created_at_utc: &str) -> String {
        match &self.candidate_id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => crate::store::rules::candidate_id_for(&self.run_id, &self.signal_name, self.horizon, created_at_utc),
        }
    }

    /// The required fields; the optional ones start empty and the status exploratory.
    pub fn new(
        dataset_id: impl Into<String>,
        run_id: impl Into<String>,
        signal_name: impl Into<String>,
        horizon: i64,
        config_hash: impl Into<String>,
        git_commit: impl Into<String>,
    ) -> Self {
        NewCandidate {
            dataset_id: dataset_id.into(),
            run_id: run_id.into(),
            signal_name: signal_name.into(),
            horizon,
            config_hash: config_hash.into(),
            git_commit: git_commit.into(),
            family_id: None,
            estimator: None,
            notes: None,
            evidence: None,
            status: "exploratory".to_string(),
            candidate_id: None,
            evidence_base_path: None,
            eligibility_report_id: None,
        }
    }
}

/// Filters of `list_candidates`. `limit` None or negative means no limit.
#[derive(Debug, Clone, Default)]
pub struct CandidateFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this dataset.
    pub dataset_id: Option<String>,
    /// Only this signal.
    pub signal_name: Option<String>,
    /// At most this many rows (None or negative: all).
    pub limit: Option<i64>,
}

/// One row of `eligibility_reports`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EligibilityRow {
    /// Its id (unique).
    pub eligibility_report_id: String,
    /// The candidate it was computed for.
    pub candidate_id: String,
    /// The level it was computed for: candidate or accepted.
    pub level: String,
    /// Whether it passed (then `blockers_json` is empty).
    pub passed: bool,
    /// JSON text of a list of strings.
    pub blockers_json: String,
    /// JSON text of a list of strings.
    pub warnings_json: String,
    /// When it was computed (as the caller gave it).
    pub computed_at_utc: String,
    /// The analyzer's run key, if any.
    pub run_key: Option<String>,
    /// The analyzer's run instance, if any.
    pub run_instance_id: Option<String>,
    /// The dataset id (v2), if any.
    pub dataset_id_v2: Option<String>,
    /// The engine version, if any.
    pub engine_version: Option<String>,
    /// The configuration version, if any.
    pub config_version: Option<String>,
}

fn string_list(name: &str, text: &str) -> Result<usize> {
    let bad = || Error::invalid(format!("{name} must be the JSON text of a list of strings, got {text:?}"));
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(items.len()),
        _ => Err(bad()),
    }
}

impl EligibilityRow {
    /// Everything that can be checked without the database.
    pub fn validate(&self) -> Result<()> {
        if self.eligibility_report_id.trim().is_empty() {
            return Err(Error::invalid("eligibility_report_id must be a non-empty string"));
        }
        crate::store::rules::validate_level(&self.level)?;
        let n_blockers = string_list("blockers_json", &self.blockers_json)?;
        string_list("warnings_json", &self.warnings_json)?;
        if self.passed && n_blockers > 0 {
            return Err(Error::invalid(format!(
                "a passed eligibility report cannot list blockers (blockers_json has {n_blockers})"
            )));
        }
        if !self.passed && n_blockers == 0 {
            return Err(Error::invalid("a failed eligibility report must list its blockers (blockers_json is empty)"));
        }
        Ok(())
    }
}
