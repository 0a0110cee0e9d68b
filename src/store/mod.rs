//! One entry point to the promotion store whichever database holds it: a SQLite file (the
//! embedded default) or a PostgreSQL server (`postgresql://...`).
//!
//! [`Backend::parse`] picks the backend from what the caller passed; [`with_backend`] runs a
//! closure on this process's cached connection of either kind through the [`RegistryStore`]
//! trait, whose methods are the store operations, written once (`ops.rs`) over the per-dialect
//! primitives of `dialect.rs`: the same rows, canonical JSON, ids and messages on both.
//!
//! [`RegistryStore::record_rung`] is the write side of `service::evaluate_and_record`, the one
//! service function for both backends.

#![warn(missing_docs)]

pub mod dialect;
pub mod migrations;
pub mod model;
pub mod ops;
pub mod postgres;
pub mod rules;
pub mod sqlite;

pub use model::{Candidate, CandidateFilter, EligibilityRow, Event, NewCandidate};
pub use ops::RegistryStore;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Result;
use crate::store::postgres::conn::is_postgres_url;
use crate::store::postgres::with_pg_store;
use crate::store::sqlite::with_cached_store;

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

    /// [`Backend::parse`] of a path-like argument: a `postgresql://` URL, else the path itself
    /// (also one that is not UTF-8).
    pub fn from_path(target: &Path) -> Backend {
        match target.to_str() {
            Some(text) if is_postgres_url(text) => Backend::Postgres(text.trim().to_string()),
            _ => Backend::Sqlite(target.to_path_buf()),
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
    /// The candidate the evaluation is for.
    pub candidate_id: &'a str,
    /// The status the evaluation read and decided from. If another writer changed it since,
    /// nothing is written and [`rules::status_changed`]'s error is returned: an evaluation moves at
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

/// Run `f` on this process's cached store of `backend` (SQLite file or PostgreSQL server).
pub fn with_backend<T>(backend: &Backend, f: impl FnOnce(&mut dyn RegistryStore) -> Result<T>) -> Result<T> {
    match backend {
        Backend::Sqlite(path) => with_cached_store(Path::new(path), |s| f(s)),
        Backend::Postgres(url) => with_pg_store(url, |s| f(s)),
    }
}

/// Whether both promotion tables exist; a SQLite file that does not exist has none (and is not
/// created).
pub fn promotion_tables_exist(backend: &Backend) -> Result<bool> {
    if let Backend::Sqlite(path) = backend {
        if !path.exists() {
            return Ok(false);
        }
    }
    with_backend(backend, |s| s.promotion_tables_exist())
}

/// Drop this process's cached connection to `backend` (e.g. before deleting the file).
pub fn forget_connection(backend: &Backend) {
    match backend {
        Backend::Sqlite(path) => sqlite::forget_cached_store(path),
        Backend::Postgres(url) => postgres::forget_pg_store(url),
    }
}

// ---------------------------------------------------------------------------------------------
// The Phase 3 migrations on either dialect (one version list: migrations::VERSIONS).
// ---------------------------------------------------------------------------------------------

/// Apply the embedded migrations and `extra`; returns the versions applied by this call.
pub fn run_migrations(
    backend: &Backend,
    extra: Vec<migrations::Migration>,
    git_commit: Option<&str>,
) -> Result<Vec<i64>> {
    match backend {
        Backend::Sqlite(path) => {
            let mut all = sqlite::migrate::phase3_migrations();
            all.extend(extra);
            sqlite::migrate::run_migrations(path, &all, git_commit)
        }
        Backend::Postgres(url) => postgres::migrate::pg_run_migrations(url, &extra, git_commit),
    }
}

/// Execute the SQL of one embedded version (no bookkeeping row). Idempotent.
pub fn apply_migration_sql(backend: &Backend, version: i64) -> Result<()> {
    match backend {
        Backend::Sqlite(path) => sqlite::migrate::apply_migration_sql(path, version),
        Backend::Postgres(url) => postgres::migrate::pg_apply_migration_sql(url, version),
    }
}

/// Create the registry's group roles (reader, researcher, approver) and their grants. PostgreSQL
/// only: a SQLite file has no users to tell apart.
pub fn setup_roles(backend: &Backend) -> Result<()> {
    match backend {
        Backend::Sqlite(_) => Err(crate::error::Error::invalid(
            "roles exist only on a PostgreSQL registry (a postgresql:// URL); a SQLite file has no users",
        )),
        Backend::Postgres(url) => postgres::migrate::pg_setup_roles(url),
    }
}

/// Whether `schema_migrations_phase3` exists (a SQLite file that does not exist: false).
pub fn schema_migrations_exists(backend: &Backend) -> Result<bool> {
    match backend {
        Backend::Sqlite(path) => sqlite::migrate::schema_migrations_phase3_exists(path),
        Backend::Postgres(url) => postgres::migrate::pg_schema_migrations_exists(url),
    }
}

/// Applied versions, ascending.
pub fn applied_migration_versions(backend: &Backend) -> Result<Vec<i64>> {
    match backend {
        Backend::Sqlite(path) => sqlite::migrate::get_applied_versions_phase3(path),
        Backend::Postgres(url) => postgres::migrate::pg_applied_versions(url),
    }
}

/// Whether every Phase 3 table exists.
pub fn phase3_tables_exist(backend: &Backend) -> Result<bool> {
    match backend {
        Backend::Sqlite(path) => sqlite::migrate::phase3_tables_exist(path),
        Backend::Postgres(url) => postgres::migrate::pg_phase3_tables_exist(url),
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
