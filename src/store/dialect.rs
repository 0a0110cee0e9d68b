//! The primitives a dialect gives the store's operations: the operations themselves
//! (`src/store/ops.rs`) are written once over these two traits, the way sqlx runs one migrator
//! over its `Migrate` trait.
//!
//! Two kinds of primitive:
//!
//! * reads written ONCE in `ops.rs`, run through [`WriteTx::query`] / [`Dialect::query`] with
//!   typed parameters ([`Arg`], placeholders `?1`, `?2`, ... which each dialect turns into its
//!   own style) and read back as [`Cell`]s (and the one statement both dialects run as is,
//!   [`insert_report_row`], through [`WriteTx::execute`]);
//! * named write primitives ([`WriteTx::create_candidate`], [`WriteTx::change_status`],
//!   [`WriteTx::record_evaluation`], [`WriteTx::insert_event`]), at the granularity at which the
//!   dialect's database enforces the rules.
//!
//! Every rule, message, id, timestamp, payload and the order of the reads and writes stays in
//! `ops.rs` and `rules.rs`. A dialect implements [`Dialect`] on its connection type and
//! [`WriteTx`] on its open write transaction:
//!
//! * SQLite (`sqlite/primitives.rs`): [`Dialect::write`] is one `BEGIN IMMEDIATE` transaction
//!   (the database's write lock is held from the first statement; a second writer waits out the
//!   busy timeout), so what `ops.rs` reads stays true until the commit; a write primitive is the
//!   UPDATE / INSERTs themselves, checked again by the triggers.
//! * PostgreSQL (`postgres/primitives.rs`): [`Dialect::write`] is one READ COMMITTED
//!   transaction, retried from the start on a deadlock or serialization failure; what `ops.rs`
//!   reads is only for its messages (a role of the registry may not lock rows), and a write
//!   primitive is ONE call of a `registry_*` database function that locks the candidate row and
//!   checks the rule again (migrations/postgresql/014): a writer that raced in between gets the
//!   same message as if it had been read.

use crate::error::{Error, Result};
use crate::store::model::{Candidate, CandidateFilter, EligibilityRow, NewCandidate};
use crate::store::rules::{report_id_taken, ReportLink};

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
    /// The payload of its `created` event (`rules::created_payload` of `created_at_utc`).
    pub created_payload: &'a str,
}

/// One status change and its `status_change` event, as the operation read and decided it.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange<'a> {
    /// The candidate.
    pub candidate_id: &'a str,
    /// The new status.
    pub new_status: &'a str,
    /// The report a promotion links (candidate/accepted), None otherwise.
    pub report_id: Option<&'a str>,
    /// The reason given, if any.
    pub reason: Option<&'a str>,
    /// When (the event's `ts_utc`).
    pub ts_utc: &'a str,
    /// The event's payload (`rules::status_change_payload`, canonical JSON).
    pub payload_json: &'a str,
}

/// One evaluation written at once: the report stored (if any), then a promotion on it with its
/// `status_change` event, or a plain status change without one, then the `evaluated` event.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationWrite<'a> {
    /// The candidate.
    pub candidate_id: &'a str,
    /// The status the evaluation decided from (None: not checked), checked again where the
    /// dialect's database holds the rules.
    pub expected_status: Option<&'a str>,
    /// The eligibility report to store first.
    pub report: Option<&'a EligibilityRow>,
    /// A promotion on that report.
    pub promotion: Option<StatusChange<'a>>,
    /// Without a promotion: the new status (exploratory or rejected; no `status_change` event).
    pub new_status: Option<&'a str>,
    /// When (the `evaluated` event's `ts_utc`).
    pub ts_utc: &'a str,
    /// The `evaluated` event's payload (canonical JSON, None for NULL).
    pub payload_json: Option<&'a str>,
}

/// A step of the acceptance flow (separation of duties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptanceStep {
    /// A researcher asks for the step to accepted on a report.
    Request,
    /// An approver takes the requested step.
    Approve,
    /// An approver turns the request down (the candidate becomes rejected).
    Reject,
}

/// One step of the acceptance flow as the operation read and decided it: its event, and for an
/// answer the status change it makes.
#[derive(Debug, Clone, Copy)]
pub struct AcceptanceWrite<'a> {
    /// Which step.
    pub step: AcceptanceStep,
    /// The candidate.
    pub candidate_id: &'a str,
    /// The report the request rests on.
    pub report_id: &'a str,
    /// The reason given (a rejection's is required).
    pub reason: Option<&'a str>,
    /// The status change an answer makes (None for a request).
    pub status_change: Option<StatusChange<'a>>,
    /// When (the event's `ts_utc`).
    pub ts_utc: &'a str,
    /// The step's event payload (`rules::acceptance_payload`, canonical JSON).
    pub payload_json: &'a str,
}

/// The statement that stores one eligibility report, written once (`?N` placeholders; optional
/// text fields as ""); an id already used is refused with `rules::report_id_taken`.
pub fn insert_report_row(tx: &mut dyn WriteTx, report: &EligibilityRow) -> Result<()> {
    let blank = |v: &Option<String>| v.as_deref().unwrap_or_default().to_string();
    let extra = [
        blank(&report.run_key),
        blank(&report.run_instance_id),
        blank(&report.dataset_id_v2),
        blank(&report.engine_version),
        blank(&report.config_version),
    ];
    let inserted = tx.execute(
        "INSERT INTO eligibility_reports (eligibility_report_id, candidate_id, level, passed, blockers_json, \
         warnings_json, computed_at_utc, run_key, run_instance_id, dataset_id_v2, engine_version, config_version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT DO NOTHING",
        &[
            Arg::Text(&report.eligibility_report_id),
            Arg::Text(&report.candidate_id),
            Arg::Text(&report.level),
            Arg::Int(i64::from(report.passed)),
            Arg::Text(&report.blockers_json),
            Arg::Text(&report.warnings_json),
            Arg::Text(&report.computed_at_utc),
            Arg::Text(&extra[0]),
            Arg::Text(&extra[1]),
            Arg::Text(&extra[2]),
            Arg::Text(&extra[3]),
            Arg::Text(&extra[4]),
        ],
    )?;
    if inserted == 0 {
        return Err(report_id_taken(&report.eligibility_report_id));
    }
    Ok(())
}

/// The statements of one write transaction of a dialect. Errors are already the core's
/// ([`crate::Error`]); a dialect that retries a transaction remembers, inside its implementation,
/// whether the failure was one it retries.
///
/// The reads of an operation (`query`) find what its messages need; the writes are the named
/// primitives below, each at the granularity the dialect's database enforces its rules: on
/// SQLite a few statements under the transaction's write lock (triggers hold the rules), on
/// PostgreSQL ONE call of a `registry_*` function (migrations/postgresql/014) that locks the
/// candidate, checks the rule again inside the database, writes the event and stamps the login
/// and the server's clock; its refusals come back with the same messages as the checks in
/// `ops.rs` and `rules.rs`.
pub trait WriteTx {
    /// Run a statement written once that returns rows (`?N` placeholders, see [`Arg`]).
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Rows>;
    /// Run a statement written once that returns no rows; the number of rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64>;
    /// Whether the table `name` exists.
    fn table_exists(&mut self, name: &str) -> Result<bool>;
    /// Insert one candidate row and its `created` event; returns the id it got (the caller's, or
    /// `row.candidate_id`; on PostgreSQL the database derives it with the same formula from its
    /// own clock, which also stamps `created_at_utc`). The id already taken →
    /// `rules::candidate_id_taken`; a refusal of the database's governance rules → InvalidInput
    /// naming the rule.
    fn create_candidate(&mut self, row: &CandidateInsert<'_>) -> Result<String>;
    /// Change a status and append its `status_change` event; returns the event's id.
    fn change_status(&mut self, change: &StatusChange<'_>) -> Result<i64>;
    /// Write one evaluation (see [`EvaluationWrite`]); returns the `evaluated` event's id.
    fn record_evaluation(&mut self, w: &EvaluationWrite<'_>) -> Result<i64>;
    /// Write one step of the acceptance flow (its status change, then its event); returns the
    /// event's id. On PostgreSQL the database also checks who: an approver answers, and with
    /// separation of duties on not a login that created, evaluated, requested or changed the
    /// status of the candidate, or wrote the requested report.
    fn acceptance(&mut self, w: &AcceptanceWrite<'_>) -> Result<i64>;
    /// Append one other event to `promotion_events` (`payload_json`: canonical JSON, None for
    /// NULL); returns its `event_id`.
    fn insert_event(
        &mut self,
        candidate_id: &str,
        ts_utc: &str,
        event_type: &str,
        payload_json: Option<&str>,
    ) -> Result<i64>;
    /// The report `report_id` as a promotion reads it, None when there is none; the
    /// eligibility table missing → Runtime with `rules::ELIGIBILITY_TABLE_REQUIRED_MSG`.
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
    /// A registry setting (PostgreSQL: `registry_setting`, None when unset or before migration
    /// 14; SQLite: None, a file has no settings).
    fn registry_setting(&mut self, name: &str) -> Result<Option<String>>;
    /// The eligibility reports of a candidate in the dialect's order (SQLite: insertion order,
    /// PostgreSQL: `computed_at_utc, eligibility_report_id`, the table having no insertion-order
    /// column there). The table exists (checked by the caller).
    fn select_reports(&mut self, candidate_id: &str) -> Result<Vec<EligibilityRow>>;
}
