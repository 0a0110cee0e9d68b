//! The primitives a dialect gives the store's operations: the operations themselves
//! (`src/store/ops.rs`) are written once over these two traits, the way sqlx runs one migrator
//! over its `Migrate` trait.
//!
//! Two kinds of primitive:
//!
//! * statements written ONCE in `ops.rs`, run through [`WriteTx::query`] / [`WriteTx::execute`]
//!   / [`Dialect::query`] with typed parameters ([`Arg`], placeholders `?1`, `?2`, ... which each
//!   dialect turns into its own style) and read back as [`Cell`]s; where the dialects differ
//!   only in a row-lock clause the statement asks [`WriteTx::row_lock`] for it;
//! * named primitives, one statement (or lookup) each, where the SQL text, the id returned or
//!   the error mapping really differs between SQLite and PostgreSQL.
//!
//! Every rule, message, id, timestamp, payload and the order of the reads and writes stays in
//! `ops.rs` and `rules.rs`. A dialect implements [`Dialect`] on its connection type and
//! [`WriteTx`] on its open write transaction:
//!
//! * SQLite (`sqlite/mod.rs`): [`Dialect::write`] is one `BEGIN IMMEDIATE` transaction (the
//!   database's write lock is held from the first statement; a second writer waits out the busy
//!   timeout); row "locks" are no-ops because that lock already covers every row.
//! * PostgreSQL (`postgres/mod.rs`): [`Dialect::write`] is one READ COMMITTED transaction,
//!   retried from the start on a deadlock or serialization failure; the candidate row is locked
//!   `FOR UPDATE` (`FOR KEY SHARE` when only its existence matters), a linked report `FOR SHARE`.

use crate::error::{Error, Result};
use crate::store::model::{Candidate, CandidateFilter, EligibilityRow, NewCandidate};
use crate::store::rules::ReportLink;

/// A typed parameter of a statement written once (bound to `?1`, `?2`, ... in order).
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// Text.
    Text(&'a str),
    /// Text or SQL NULL.
    OptText(Option<&'a str>),
    /// An integer (bound to the column's integer width on PostgreSQL).
    Int(i64),
}

/// One value of a row read by a statement written once.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer (any width; a PostgreSQL boolean reads as 0 / 1).
    Int(i64),
    /// Text.
    Text(String),
}

impl Cell {
    fn unexpected(&self, want: &str) -> Error {
        Error::Internal(format!("store: expected {want} from the database, got {self:?}"))
    }

    /// The text; anything else is an internal error (the schema promises text).
    pub fn into_text(self) -> Result<String> {
        match self {
            Cell::Text(s) => Ok(s),
            other => Err(other.unexpected("text")),
        }
    }

    /// The text, None for NULL.
    pub fn into_opt_text(self) -> Result<Option<String>> {
        match self {
            Cell::Null => Ok(None),
            other => other.into_text().map(Some),
        }
    }

    /// The integer; anything else is an internal error.
    pub fn into_int(self) -> Result<i64> {
        match self {
            Cell::Int(v) => Ok(v),
            other => Err(other.unexpected("an integer")),
        }
    }
}

/// The rows a statement returned, each a list of [`Cell`]s in the order of its columns.
pub type Rows = Vec<Vec<Cell>>;

/// How a statement written once locks the rows it reads until the transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    /// Against every other writer (the row is about to change).
    Update,
    /// Against deletion and key changes only (rows that reference it may be added).
    KeyShare,
    /// Against changes (the row is read as evidence).
    Share,
}

/// One row of `promotion_candidates` to insert: the caller's fields, the id and timestamp the
/// operation chose, and the evidence as stored (canonical JSON text).
#[derive(Debug, Clone, Copy)]
pub struct CandidateInsert<'a> {
    /// The id the row gets ([`NewCandidate::id_at`] of `created_at_utc`).
    pub candidate_id: &'a str,
    /// When it was created (ISO-8601 UTC with microseconds).
    pub created_at_utc: &'a str,
    /// The caller's fields (status, dataset, run, signal, ..., an optional report link).
    pub new: &'a NewCandidate,
    /// The evidence as stored, or None.
    pub evidence_json: Option<&'a str>,
}

/// The statements of one write transaction of a dialect. Errors are already the core's
/// ([`crate::Error`]); a dialect that retries a transaction remembers, inside its implementation,
/// whether the failure was one it retries.
pub trait WriteTx {
    /// Run a statement written once that returns rows (`?N` placeholders, see [`Arg`]).
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Rows>;
    /// Run a statement written once that returns no rows; the number of rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64>;
    /// The clause that locks the rows a SELECT reads as `lock` asks (appended to the statement;
    /// empty where the transaction's own lock already covers it).
    fn row_lock(&self, lock: RowLock) -> &'static str;
    /// Whether the table `name` exists.
    fn table_exists(&mut self, name: &str) -> Result<bool>;
    /// Insert one candidate row. The id already taken → `rules::candidate_id_taken`; a refusal of
    /// the database's governance rules (candidate/accepted without a passed report of that
    /// level for this candidate) → InvalidInput naming the rule.
    fn insert_candidate(&mut self, row: &CandidateInsert<'_>) -> Result<()>;
    /// Set the candidate's status, and link `report_id` when given. The one statement that
    /// changes a candidate's status.
    fn set_status(&mut self, candidate_id: &str, status: &str, report_id: Option<&str>) -> Result<()>;
    /// Append one row to `promotion_events` (`payload_json`: canonical JSON, None for NULL);
    /// returns its `event_id`.
    fn insert_event(
        &mut self,
        candidate_id: &str,
        ts_utc: &str,
        event_type: &str,
        payload_json: Option<&str>,
    ) -> Result<i64>;
    /// The report `report_id` as a promotion reads it (kept from changing until the transaction
    /// ends), None when there is none; the eligibility table missing → Runtime with
    /// `rules::ELIGIBILITY_TABLE_REQUIRED_MSG`.
    fn report_link(&mut self, report_id: &str) -> Result<Option<ReportLink>>;
}

/// A connection of one dialect: the reads, and the write transaction the operations run in.
pub trait Dialect {
    /// The connection's "both promotion tables were seen" flag (cleared when DDL may have
    /// changed the schema).
    fn tables_checked(&mut self) -> &mut bool;
    /// Whether both promotion tables exist.
    fn has_promotion_tables(&mut self) -> Result<bool>;
    /// Whether the table `name` exists (outside any transaction).
    fn table_exists(&mut self, name: &str) -> Result<bool>;
    /// Run a read written once, outside any write transaction (`?N` placeholders, see [`Arg`]).
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Rows>;
    /// Run `body` in ONE write transaction with the dialect's locking: commit when it returns
    /// `Ok`, roll back (nothing written) when it returns `Err`. A dialect may run `body` again
    /// from the start after a transient conflict.
    fn write<T>(&mut self, body: &mut dyn FnMut(&mut dyn WriteTx) -> Result<T>) -> Result<T>;
    /// Candidates matching the filter, newest `created_at_utc` first (ties: newest insert first);
    /// a negative or missing limit is no limit.
    fn select_candidates(&mut self, filter: &CandidateFilter) -> Result<Vec<Candidate>>;
    /// One candidate (all columns), or None.
    fn select_candidate(&mut self, candidate_id: &str) -> Result<Option<Candidate>>;
    /// The eligibility reports of a candidate in the dialect's order (SQLite: insertion order,
    /// PostgreSQL: `computed_at_utc, eligibility_report_id`, the table having no insertion-order
    /// column there). The table exists (checked by the caller).
    fn select_reports(&mut self, candidate_id: &str) -> Result<Vec<EligibilityRow>>;
}
