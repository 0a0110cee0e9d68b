//! The SQLite primitives of the store's operations ([`Dialect`] / [`WriteTx`]; the operations
//! themselves are in `src/store/ops.rs`): the SQL texts, and what is SQLite's own.
//!
//! * Locking: [`Dialect::write`] is one `BEGIN IMMEDIATE` transaction
//!   ([`with_write_transaction`]): the database's write lock is taken first and a second writer
//!   waits out the busy timeout, so the row "locks" of [`WriteTx`] are plain reads.
//! * Statements are cached per connection (`prepare_cached`): preparing a statement on a table
//!   with triggers is most of the cost of a small write.
//! * The governance rules live in triggers (migrations/sqlite, `guards.rs`): a candidate
//!   inserted at candidate/accepted or a status change without a passed report of that level is
//!   refused by the database, and its message becomes InvalidInput ([`trigger_message`]).
//! * Databases before migration 9 have no `eligibility_report_id` column: candidates are read
//!   with `*` and inserted without the column unless a report is linked.
//! * Eligibility reports are returned in insertion order (`rowid`).
//! * Statements written once: `?N` is SQLite's own placeholder style; the reads of an operation
//!   need no lock clause (the transaction's write lock covers every row).
//! * The write primitives are the UPDATE / INSERTs themselves (the triggers check them again).

use rusqlite::{params, ErrorCode, OptionalExtension, Transaction};

use crate::error::{Error, Result};
use crate::store::dialect::{
    insert_report_row, AcceptanceStep, AcceptanceWrite, Arg, CandidateInsert, Cell, Dialect, EvaluationWrite, Rows,
    StatusChange, WriteTx,
};
use crate::store::model::{Candidate, CandidateFilter, EligibilityRow};
use crate::store::rules::{
    candidate_id_taken, ReportLink, ACCEPTANCE_APPROVED, ACCEPTANCE_REJECTED, ACCEPTANCE_REQUESTED,
    ELIGIBILITY_TABLE_REQUIRED_MSG,
};
use crate::store::sqlite::{
    missing_column, promotion_tables_exist_conn, sql_err, trigger_message, with_write_transaction, Store,
};

/// Every column (`*`): databases before migration 9 have no eligibility_report_id.
const CANDIDATE_COLUMNS: &str = "*";

const REPORT_COLUMNS: &str = "eligibility_report_id, candidate_id, level, passed, blockers_json, warnings_json, \
    computed_at_utc, run_key, run_instance_id, dataset_id_v2, engine_version, config_version";

/// A write refused by one of our triggers becomes InvalidInput with the trigger's message.
fn write_err(e: rusqlite::Error) -> Error {
    match trigger_message(&e) {
        Some(msg) => Error::invalid(msg),
        None => sql_err(e),
    }
}

fn table_exists(conn: &rusqlite::Connection, name: &str) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
        .and_then(|mut st| st.query_row([name], |_| Ok(())).optional())
        .map(|o| o.is_some())
        .map_err(sql_err)
}

fn row_to_candidate(r: &rusqlite::Row<'_>) -> rusqlite::Result<Candidate> {
    let eligibility_report_id = match r.as_ref().column_index("eligibility_report_id") {
        Ok(i) => r.get(i)?,
        Err(_) => None,
    };
    Ok(Candidate {
        candidate_id: r.get("candidate_id")?,
        created_at_utc: r.get("created_at_utc")?,
        status: r.get("status")?,
        dataset_id: r.get("dataset_id")?,
        run_id: r.get("run_id")?,
        family_id: r.get("family_id")?,
        signal_name: r.get("signal_name")?,
        horizon: r.get("horizon")?,
        estimator: r.get("estimator")?,
        config_hash: r.get("config_hash")?,
        git_commit: r.get("git_commit")?,
        notes: r.get("notes")?,
        evidence_json: r.get("evidence_json")?,
        eligibility_report_id,
    })
}

fn row_to_report(r: &rusqlite::Row<'_>) -> rusqlite::Result<EligibilityRow> {
    Ok(EligibilityRow {
        eligibility_report_id: r.get(0)?,
        candidate_id: r.get(1)?,
        level: r.get(2)?,
        passed: r.get::<_, i64>(3)? == 1,
        blockers_json: r.get(4)?,
        warnings_json: r.get(5)?,
        computed_at_utc: r.get(6)?,
        run_key: r.get(7)?,
        run_instance_id: r.get(8)?,
        dataset_id_v2: r.get(9)?,
        engine_version: r.get(10)?,
        config_version: r.get(11)?,
    })
}

/// An [`Arg`] as rusqlite binds it (`?N` is SQLite's own placeholder style).
fn to_sql<'a>(arg: &'a Arg<'a>) -> rusqlite::types::ToSqlOutput<'a> {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    match *arg {
        Arg::Text(s) | Arg::OptText(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        Arg::OptText(None) => ToSqlOutput::Owned(Value::Null),
        Arg::Int(v) => ToSqlOutput::Owned(Value::Integer(v)),
    }
}

/// Run a statement written once and read every row as [`Cell`]s.
fn query(conn: &rusqlite::Connection, sql: &str, args: &[Arg<'_>]) -> Result<Rows> {
    use rusqlite::types::ValueRef;
    let mut st = conn.prepare_cached(sql).map_err(sql_err)?;
    let width = st.column_count();
    let mut rows = st.query(rusqlite::params_from_iter(args.iter().map(to_sql))).map_err(sql_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql_err)? {
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(match row.get_ref(i).map_err(sql_err)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Text(t) => Cell::Text(
                    std::str::from_utf8(t)
                        .map_err(|_| Error::Internal(format!("store: column {i} is not UTF-8 text")))?
                        .to_string(),
                ),
                other => {
                    return Err(Error::Internal(format!(
                        "store: unexpected {:?} value in column {i}",
                        other.data_type()
                    )))
                }
            });
        }
        out.push(cells);
    }
    Ok(out)
}

/// The statements of one `BEGIN IMMEDIATE` transaction.
struct SqliteTx<'a, 'c> {
    tx: &'a Transaction<'c>,
}

impl WriteTx for SqliteTx<'_, '_> {
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Rows> {
        query(self.tx, sql, args)
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let mut st = self.tx.prepare_cached(sql).map_err(sql_err)?;
        let n = st.execute(rusqlite::params_from_iter(args.iter().map(to_sql))).map_err(write_err)?;
        Ok(n as u64)
    }

    fn table_exists(&mut self, name: &str) -> Result<bool> {
        table_exists(self.tx, name)
    }

    fn create_candidate(&mut self, row: &CandidateInsert<'_>) -> Result<String> {
        self.insert_candidate(row)?;
        self.insert_event(row.candidate_id, row.created_at_utc, "created", Some(row.created_payload))?;
        Ok(row.candidate_id.to_string())
    }

    fn change_status(&mut self, change: &StatusChange<'_>) -> Result<i64> {
        self.set_status(change.candidate_id, change.new_status, change.report_id)?;
        self.insert_event(change.candidate_id, change.ts_utc, "status_change", Some(change.payload_json))
    }

    fn record_evaluation(&mut self, w: &EvaluationWrite<'_>) -> Result<i64> {
        if let Some(r) = w.report {
            insert_report_row(self, r)?;
        }
        if let Some(p) = &w.promotion {
            self.change_status(p)?;
        } else if let Some(status) = w.new_status {
            self.set_status(w.candidate_id, status, None)?;
        }
        self.insert_event(w.candidate_id, w.ts_utc, "evaluated", w.payload_json)
    }

    /// A SQLite file has one user: the step's writes, without a check of who takes it.
    fn acceptance(&mut self, w: &AcceptanceWrite<'_>) -> Result<i64> {
        if let Some(change) = &w.status_change {
            self.change_status(change)?;
        }
        let event_type = match w.step {
            AcceptanceStep::Request => ACCEPTANCE_REQUESTED,
            AcceptanceStep::Approve => ACCEPTANCE_APPROVED,
            AcceptanceStep::Reject => ACCEPTANCE_REJECTED,
        };
        self.insert_event(w.candidate_id, w.ts_utc, event_type, Some(w.payload_json))
    }

    fn insert_event(
        &mut self,
        candidate_id: &str,
        ts_utc: &str,
        event_type: &str,
        payload_json: Option<&str>,
    ) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut st| st.execute(params![candidate_id, ts_utc, event_type, payload_json]))
            .map_err(write_err)?;
        Ok(self.tx.last_insert_rowid())
    }

    fn report_link(&mut self, report_id: &str) -> Result<Option<ReportLink>> {
        if !table_exists(self.tx, "eligibility_reports")? {
            return Err(Error::Runtime(ELIGIBILITY_TABLE_REQUIRED_MSG.to_string()));
        }
        self.tx
            .prepare_cached(
                "SELECT candidate_id, level, passed FROM eligibility_reports WHERE eligibility_report_id = ?1",
            )
            .and_then(|mut st| {
                st.query_row([report_id], |r| {
                    Ok(ReportLink { candidate_id: r.get(0)?, level: r.get(1)?, passed: r.get::<_, i64>(2)? == 1 })
                })
                .optional()
            })
            .map_err(sql_err)
    }
}

impl SqliteTx<'_, '_> {
    /// The candidate row (with the report column only when a report is linked: files before
    /// migration 9 lack it).
    fn insert_candidate(&mut self, row: &CandidateInsert<'_>) -> Result<()> {
        let new = row.new;
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![
            &row.candidate_id,
            &row.created_at_utc,
            &new.status,
            &new.dataset_id,
            &new.run_id,
            &new.family_id,
            &new.signal_name,
            &new.horizon,
            &new.estimator,
            &new.config_hash,
            &new.git_commit,
            &new.notes,
            &row.evidence_json,
        ];
        let sql = if new.eligibility_report_id.is_some() {
            values.push(&new.eligibility_report_id);
            "INSERT INTO promotion_candidates (candidate_id, created_at_utc, status, dataset_id, \
             run_id, family_id, signal_name, horizon, estimator, config_hash, git_commit, notes, \
             evidence_json, eligibility_report_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        } else {
            "INSERT INTO promotion_candidates (candidate_id, created_at_utc, status, dataset_id, \
             run_id, family_id, signal_name, horizon, estimator, config_hash, git_commit, notes, \
             evidence_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        };
        let mut ins = self.tx.prepare_cached(sql).map_err(|e| missing_column(e, "eligibility_report_id"))?;
        match ins.execute(values.as_slice()) {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(msg) = trigger_message(&e) {
                    return Err(Error::invalid(format!("create_candidate {}: {msg}", row.candidate_id)));
                }
                if let rusqlite::Error::SqliteFailure(ref f, _) = e {
                    if f.code == ErrorCode::ConstraintViolation {
                        return Err(candidate_id_taken(row.candidate_id));
                    }
                }
                Err(sql_err(e))
            }
        }
    }

    /// The one statement that changes a candidate's status (and links a promotion's report).
    fn set_status(&mut self, candidate_id: &str, status: &str, report_id: Option<&str>) -> Result<()> {
        match report_id {
            Some(rid) => self
                .tx
                .prepare_cached(
                    "UPDATE promotion_candidates SET status = ?1, eligibility_report_id = ?2 WHERE candidate_id = ?3",
                )
                .and_then(|mut st| st.execute(params![status, rid, candidate_id])),
            None => self
                .tx
                .prepare_cached("UPDATE promotion_candidates SET status = ?1 WHERE candidate_id = ?2")
                .and_then(|mut st| st.execute(params![status, candidate_id])),
        }
        .map(|_| ())
        .map_err(write_err)
    }
}

impl Dialect for Store {
    fn tables_checked(&mut self) -> &mut bool {
        &mut self.tables_checked
    }

    fn has_promotion_tables(&mut self) -> Result<bool> {
        promotion_tables_exist_conn(&self.conn)
    }

    fn table_exists(&mut self, name: &str) -> Result<bool> {
        table_exists(&self.conn, name)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Rows> {
        query(&self.conn, sql, args)
    }

    fn write<T>(&mut self, body: &mut dyn FnMut(&mut dyn WriteTx) -> Result<T>) -> Result<T> {
        with_write_transaction(&mut self.conn, |tx| body(&mut SqliteTx { tx }))
    }

    fn select_candidates(&mut self, filter: &CandidateFilter) -> Result<Vec<Candidate>> {
        let mut sql = format!("SELECT {CANDIDATE_COLUMNS} FROM promotion_candidates");
        let mut args: Vec<&dyn rusqlite::ToSql> = Vec::new();
        let mut clauses: Vec<String> = Vec::new();
        for (col, val) in
            [("status", &filter.status), ("dataset_id", &filter.dataset_id), ("signal_name", &filter.signal_name)]
        {
            if let Some(v) = val {
                args.push(v);
                clauses.push(format!("{col} = ?{}", args.len()));
            }
        }
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        // SQLite: LIMIT -1 is no limit.
        let limit = filter.limit.unwrap_or(-1);
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY created_at_utc DESC, rowid DESC LIMIT ?{}", args.len()));
        let mut st = self.conn.prepare_cached(&sql).map_err(sql_err)?;
        st.query_map(args.as_slice(), row_to_candidate)
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql_err)
    }

    fn select_candidate(&mut self, candidate_id: &str) -> Result<Option<Candidate>> {
        self.conn
            .prepare_cached(&format!("SELECT {CANDIDATE_COLUMNS} FROM promotion_candidates WHERE candidate_id = ?1"))
            .and_then(|mut st| st.query_row([candidate_id], row_to_candidate).optional())
            .map_err(sql_err)
    }

    fn registry_setting(&mut self, _name: &str) -> Result<Option<String>> {
        Ok(None) // a file has one user and no settings
    }

    fn select_reports(&mut self, candidate_id: &str) -> Result<Vec<EligibilityRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {REPORT_COLUMNS} FROM eligibility_reports WHERE candidate_id = ?1 ORDER BY rowid"
            ))
            .map_err(sql_err)?;
        st.query_map([candidate_id], row_to_report)
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql_err)
    }
}
