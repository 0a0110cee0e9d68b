//! The rows of the promotion store, the same on every dialect: what is read
//! ([`Candidate`], [`Event`], [`EligibilityRow`]) and what is written ([`NewCandidate`],
//! [`EligibilityRow`]), with the checks that need no database.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};

/// One row of `promotion_candidates`.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub candidate_id: String,
    pub created_at_utc: String,
    pub status: String,
    pub dataset_id: String,
    pub run_id: String,
    pub family_id: Option<String>,
    pub signal_name: String,
    pub horizon: i64,
    pub estimator: Option<String>,
    pub config_hash: String,
    pub git_commit: String,
    pub notes: Option<String>,
    pub evidence_json: Option<String>,
    /// The eligibility report that promoted it (None before migration 9 or when never promoted).
    pub eligibility_report_id: Option<String>,
}

/// One row of `promotion_events`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: i64,
    pub candidate_id: String,
    pub ts_utc: String,
    pub event_type: String,
    pub payload_json: Option<String>,
}

/// What `create_candidate` needs. Build with [`NewCandidate::new`] and set the optional fields.
#[derive(Debug, Clone)]
pub struct NewCandidate {
    pub dataset_id: String,
    pub run_id: String,
    pub signal_name: String,
    pub horizon: i64,
    pub config_hash: String,
    pub git_commit: String,
    pub family_id: Option<String>,
    pub estimator: Option<String>,
    pub notes: Option<String>,
    /// A JSON object (or None). Floats are rounded and keys sorted when stored.
    pub evidence: Option<Value>,
    pub status: String,
    pub candidate_id: Option<String>,
    pub evidence_base_path: Option<PathBuf>,
    /// Status candidate/accepted needs a passed report of that level computed for this candidate
    /// (the triggers of migration 9 check it).
    pub eligibility_report_id: Option<String>,
}

impl NewCandidate {
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
    pub status: Option<String>,
    pub dataset_id: Option<String>,
    pub signal_name: Option<String>,
    pub limit: Option<i64>,
}

/// One row of `eligibility_reports`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EligibilityRow {
    pub eligibility_report_id: String,
    pub candidate_id: String,
    pub level: String,
    pub passed: bool,
    /// JSON text of a list of strings.
    pub blockers_json: String,
    /// JSON text of a list of strings.
    pub warnings_json: String,
    pub computed_at_utc: String,
    pub run_key: Option<String>,
    pub run_instance_id: Option<String>,
    pub dataset_id_v2: Option<String>,
    pub engine_version: Option<String>,
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
