//! One entry point to the promotion store whichever database holds it: a SQLite file (the
//! embedded default) or a PostgreSQL server (`postgresql://...`).
//!
//! [`Backend::parse`] picks the backend from what the caller passed; [`with_backend`] runs a
//! closure on this process's cached connection of either kind through the [`RegistryStore`]
//! trait, whose methods are the store operations both backends implement with the same rows,
//! canonical JSON, ids and messages.
//!
//! Wiring note: the SQLite implementation below delegates to `store::Store`'s inherent methods as
//! they are at the time of writing (no eligibility arguments yet); after the governance store
//! lands, `update_status`/`record_evaluation` gain the report id there too.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Result;
use crate::pg_conn::is_postgres_url;
use crate::pg_store::{with_pg_store, PgStore};
use crate::store::{with_cached_store, Candidate, CandidateFilter, Event, NewCandidate, Store};

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
            Backend::Postgres(url) => match crate::pg_conn::PgTarget::parse(url) {
                Ok(t) => t.redacted().to_string(),
                Err(_) => "postgresql://(unparsable URL)".to_string(),
            },
        }
    }
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
