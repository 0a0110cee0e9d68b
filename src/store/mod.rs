//! One entry point to the promotion store whichever database holds it: a SQLite file (the
//! embedded default) or a PostgreSQL server (`postgresql://...`).
//!
//! [`Backend::parse`] picks the backend from what the caller passed; [`with_backend`] runs a
//! closure on this process's cached connection of either kind through the [`RegistryStore`]
//! trait, whose methods are the store operations both backends implement with the same rows,
//! canonical JSON, ids and messages.
//!
//! [`RegistryStore::record_rung`] is the write side of `service::evaluate_and_record`, the one
//! service function for both backends (SQLite: `promotion.rs`, PostgreSQL: `pg_store.rs`).

pub mod postgres;
pub mod sqlite;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::postgres::conn::is_postgres_url;
use crate::store::postgres::{with_pg_store, NewEligibilityReport, PgStore, RungWrite};
use crate::store::sqlite::promotion::EligibilityRow;
use crate::store::sqlite::{with_cached_store, Candidate, CandidateFilter, Event, NewCandidate, Store};

/// Where the registry lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (the URL as given; it may carry a password: never print it, use
    /// [`Backend::describe`]).
    Postgres(String),
}

impl Backend {
    /// `postgresql://` / `postgres://` → Postgres, anything else → a SQLite path.
    pub fn parse(target: &str) -> Backend {
        if is_postgres_url(target) {
            Backend::Postgres(target.trim().to_string())
        } else {
            Backend::Sqlite(PathBuf::from(target))
        }
    }

    /// A printable name: the path, or the URL with the password replaced by `***`.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(p) => p.display().to_string(),
            Backend::Postgres(url) => match crate::store::postgres::conn::PgTarget::parse(url) {
                Ok(t) => t.redacted().to_string(),
                Err(_) => "postgresql://(unparsable URL)".to_string(),
            },
        }
    }
}

/// What one evaluation writes (the write side of `service::evaluate_and_record`), in ONE
/// transaction that first locks the candidate (SQLite: the write lock of an IMMEDIATE
/// transaction; PostgreSQL: `SELECT ... FOR UPDATE` on the candidate row).
#[derive(Debug, Clone, Copy)]
pub struct Rung<'a> {
    pub candidate_id: &'a str,
    /// The status the evaluation read and decided from. If another writer changed it since,
    /// nothing is written and [`status_changed`]'s error is returned: an evaluation moves at
    /// most one rung from the status it saw.
    pub expected_status: &'a str,
    /// Without a report: the new status (exploratory or rejected). With one: ignored, the
    /// status becomes the report's level.
    pub new_status: &'a str,
    /// A PASSED eligibility report computed for this candidate: stored, linked, the status set
    /// to its level and a `status_change` event written (eligibility first).
    pub report: Option<&'a EligibilityRow>,
    /// The `status_change` event's reason (promotion only).
    pub reason: Option<&'a str>,
    /// The payload of the `evaluated` event, written last.
    pub evaluated: &'a Value,
}

/// The refusal of a [`Rung`] whose candidate changed status after the evaluation read it (the
/// same error, and text, on both backends).
pub fn status_changed(candidate_id: &str, expected: &str, found: &str) -> Error {
    Error::StatusChanged {
        candidate_id: candidate_id.to_string(),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// Whether `e` is [`status_changed`]'s refusal.
pub fn is_status_changed(e: &Error) -> bool {
    matches!(e, Error::StatusChanged { .. })
}

/// The store operations both backends provide.
pub trait RegistryStore {
    fn require_promotion_tables(&mut self) -> Result<()>;
    fn create_candidate(&mut self, new: &NewCandidate) -> Result<String>;
    fn create_candidates_many(&mut self, items: &[NewCandidate]) -> Result<Vec<String>>;
    fn update_status(&mut self, candidate_id: &str, status: &str, reason: Option<&str>) -> Result<i64>;
    fn record_evaluation(&mut self, candidate_id: &str, new_status: &str, payload: &Value) -> Result<i64>;
    fn record_event(&mut self, candidate_id: &str, event_type: &str, payload: Option<&Value>) -> Result<i64>;
    fn list_candidates(&mut self, filter: &CandidateFilter) -> Result<Vec<Candidate>>;
    fn get_candidate(&mut self, candidate_id: &str) -> Result<Option<Candidate>>;
    fn get_events(&mut self, candidate_id: &str) -> Result<Vec<Event>>;
    /// Write one evaluation's rung (see [`Rung`]) in one transaction; nothing on any error.
    fn record_rung(&mut self, rung: &Rung<'_>) -> Result<()>;
}

impl RegistryStore for Store {
    fn require_promotion_tables(&mut self) -> Result<()> {
        Store::require_promotion_tables(self)
    }
    fn create_candidate(&mut self, new: &NewCandidate) -> Result<String> {
        Store::create_candidate(self, new)
    }
    fn create_candidates_many(&mut self, items: &[NewCandidate]) -> Result<Vec<String>> {
        Store::create_candidates_many(self, items)
    }
    fn update_status(&mut self, candidate_id: &str, status: &str, reason: Option<&str>) -> Result<i64> {
        Store::update_status(self, candidate_id, status, reason)
    }
    fn record_evaluation(&mut self, candidate_id: &str, new_status: &str, payload: &Value) -> Result<i64> {
        Store::record_evaluation(self, candidate_id, new_status, payload)
    }
    fn record_event(&mut self, candidate_id: &str, event_type: &str, payload: Option<&Value>) -> Result<i64> {
        Store::record_event(self, candidate_id, event_type, payload)
    }
    fn list_candidates(&mut self, filter: &CandidateFilter) -> Result<Vec<Candidate>> {
        Store::list_candidates(self, filter)
    }
    fn get_candidate(&mut self, candidate_id: &str) -> Result<Option<Candidate>> {
        Store::get_candidate(self, candidate_id)
    }
    fn get_events(&mut self, candidate_id: &str) -> Result<Vec<Event>> {
        Store::get_events(self, candidate_id)
    }
    fn record_rung(&mut self, rung: &Rung<'_>) -> Result<()> {
        Store::record_rung(self, rung)
    }
}

impl RegistryStore for PgStore {
    fn require_promotion_tables(&mut self) -> Result<()> {
        PgStore::require_promotion_tables(self)
    }
    fn create_candidate(&mut self, new: &NewCandidate) -> Result<String> {
        PgStore::create_candidate(self, new)
    }
    fn create_candidates_many(&mut self, items: &[NewCandidate]) -> Result<Vec<String>> {
        PgStore::create_candidates_many(self, items)
    }
    fn update_status(&mut self, candidate_id: &str, status: &str, reason: Option<&str>) -> Result<i64> {
        PgStore::update_status(self, candidate_id, status, reason, None)
    }
    fn record_evaluation(&mut self, candidate_id: &str, new_status: &str, payload: &Value) -> Result<i64> {
        PgStore::record_evaluation(self, candidate_id, new_status, payload, None)
    }
    fn record_event(&mut self, candidate_id: &str, event_type: &str, payload: Option<&Value>) -> Result<i64> {
        PgStore::record_event(self, candidate_id, event_type, payload)
    }
    fn list_candidates(&mut self, filter: &CandidateFilter) -> Result<Vec<Candidate>> {
        Ok(PgStore::list_candidates(self, filter)?.into_iter().map(|r| r.candidate).collect())
    }
    fn get_candidate(&mut self, candidate_id: &str) -> Result<Option<Candidate>> {
        Ok(PgStore::get_candidate(self, candidate_id)?.map(|r| r.candidate))
    }
    fn get_events(&mut self, candidate_id: &str) -> Result<Vec<Event>> {
        PgStore::get_events(self, candidate_id)
    }
    fn record_rung(&mut self, rung: &Rung<'_>) -> Result<()> {
        if let Some(r) = rung.report {
            r.validate()?;
        }
        let report = rung.report.map(NewEligibilityReport::from);
        let new_status = rung.report.map_or(rung.new_status, |r| r.level.as_str());
        PgStore::record_rung(
            self,
            &RungWrite {
                candidate_id: rung.candidate_id,
                expected_status: Some(rung.expected_status),
                new_status: Some(new_status),
                event_payload: Some(rung.evaluated),
                report: report.as_ref(),
                reason: rung.reason,
                governance: None,
            },
        )
        .map(|_| ())
    }
}

/// Run `f` on this process's cached store of `backend` (SQLite file or PostgreSQL server).
pub fn with_backend<T>(backend: &Backend, f: impl FnOnce(&mut dyn RegistryStore) -> Result<T>) -> Result<T> {
    match backend {
        Backend::Sqlite(path) => with_cached_store(Path::new(path), |s| f(s)),
        Backend::Postgres(url) => with_pg_store(url, |s| f(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_picks_the_backend_and_describe_hides_the_password() {
        assert_eq!(Backend::parse("/tmp/x.db"), Backend::Sqlite(PathBuf::from("/tmp/x.db")));
        let b = Backend::parse("postgresql://u:hunter2@127.0.0.1:5/db");
        assert!(matches!(b, Backend::Postgres(_)));
        assert_eq!(b.describe(), "postgresql://u:***@127.0.0.1:5/db");
        assert!(!b.describe().contains("hunter2"));
    }
}
