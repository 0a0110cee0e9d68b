//! The PostgreSQL primitives of the store's operations ([`Dialect`] / [`WriteTx`]; the
//! operations themselves are in `src/store/ops.rs`): the SQL texts, and what is PostgreSQL's own.
//!
//! * Writes: since migration 14 every write primitive is ONE call of a `registry_*` function
//!   (migrations/postgresql/014_registry_rules.sql; owned by the schema owner, `SECURITY
//!   DEFINER`, `search_path` pinned): the function locks the candidate row (`FOR UPDATE`) and
//!   the report it links (`FOR SHARE`), checks the rule again inside the database, writes the
//!   event and stamps the login (`session_user`) and the server's clock. A role of the registry
//!   (`crypto-analyzer-promotion roles`) has no other way to write, and may not lock rows: the
//!   reads of `ops.rs` run without a lock clause and only find the messages; a function's
//!   refusal (SQLSTATE class CA) comes back with the same message (`refusal` in `mod.rs`).
//!   Storing a report outside an evaluation (`insert_eligibility_report`) stays a plain INSERT,
//!   which only the owner may run.
//! * Retry: a deadlock (40P01) or serialization failure (40001) in any statement or at commit
//!   runs the whole transaction again from the start, at most [`MAX_TX_ATTEMPTS`] times with a
//!   jittered backoff, then [`Error::Busy`].
//! * Ids: the functions return the event ids; a candidate without the caller's id gets the id
//!   the database derives from its own clock with `rules::candidate_id_for`'s formula.
//! * A candidate is created exploratory or rejected (a report must point at an existing
//!   candidate, and a promotion is one rung): created at candidate/accepted it is refused with
//!   `rules::ELIGIBILITY_REQUIRED_MSG` (no report) or `rules::CREATE_PROMOTED_MSG`.
//! * Eligibility reports are returned oldest `computed_at_utc` first (ties by id): the table has
//!   no insertion-order column on PostgreSQL.
//! * A `LIMIT NULL` is no limit.
//! * Statements written once: `?N` placeholders become `$N`; integers are bound at the width of
//!   the column.

use std::collections::HashMap;

use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{GenericClient, Row, Statement, Transaction};

use crate::error::{Error, Result};
use crate::store::dialect::{
    AcceptanceStep, AcceptanceWrite, Arg, CandidateInsert, Cell, Dialect, EvaluationWrite, Rows, StatusChange, WriteTx,
};
use crate::store::model::{Candidate, CandidateFilter, EligibilityRow};
use crate::store::postgres::conn::{is_retryable, outcome_unknown, pg_err, PgTarget};
use crate::store::postgres::{
    backoff, prep, refusal, report_to_json, row_to_candidate, Ctx, PgStore, TxErr, TxResult, CANDIDATE_COLUMNS,
    MAX_TX_ATTEMPTS,
};
use crate::store::rules::{ReportLink, CREATE_PROMOTED_MSG, ELIGIBILITY_REQUIRED_MSG, ELIGIBILITY_TABLE_REQUIRED_MSG};

/// A statement written once with `?N` placeholders in PostgreSQL's `$N` style (the statements
/// written once contain no other question mark).
fn pg_placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

/// The values of `args` typed as the prepared statement's parameters (an [`Arg::Int`] bound to an
/// INTEGER or SMALLINT column is narrowed, refused when it does not fit).
fn bind<'a>(st: &Statement, args: &'a [Arg<'a>]) -> TxResult<Vec<Box<dyn ToSql + Sync + 'a>>> {
    let mut out: Vec<Box<dyn ToSql + Sync + 'a>> = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        let ty = st.params().get(i).unwrap_or(&Type::INT8);
        out.push(match *arg {
            Arg::Text(s) => Box::new(s),
            Arg::OptText(s) => Box::new(s),
            Arg::Int(v) if *ty == Type::INT4 => Box::new(
                i32::try_from(v).map_err(|_| Error::invalid(format!("integer {v} does not fit an INTEGER column")))?,
            ),
            Arg::Int(v) if *ty == Type::INT2 => Box::new(
                i16::try_from(v).map_err(|_| Error::invalid(format!("integer {v} does not fit a SMALLINT column")))?,
            ),
            Arg::Int(v) => Box::new(v),
        });
    }
    Ok(out)
}

fn refs<'a>(values: &'a [Box<dyn ToSql + Sync + 'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// One row as [`Cell`]s, read by the type of each column.
fn cells_of(row: &Row) -> TxResult<Vec<Cell>> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let int = |v: Option<i64>| v.map_or(Cell::Null, Cell::Int);
        out.push(if *ty == Type::INT8 {
            int(row.try_get::<_, Option<i64>>(i)?)
        } else if *ty == Type::INT4 {
            int(row.try_get::<_, Option<i32>>(i)?.map(i64::from))
        } else if *ty == Type::INT2 {
            int(row.try_get::<_, Option<i16>>(i)?.map(i64::from))
        } else if *ty == Type::BOOL {
            int(row.try_get::<_, Option<bool>>(i)?.map(i64::from))
        } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(ty) {
            row.try_get::<_, Option<String>>(i)?.map_or(Cell::Null, Cell::Text)
        } else {
            return Err(Error::Internal(format!("store: unsupported column type {ty} in column {i}")).into());
        });
    }
    Ok(out)
}

/// Run a statement written once on `client` (a transaction or the connection) and read its rows.
fn run_query<C: GenericClient>(
    client: &mut C,
    stmts: &mut HashMap<String, Statement>,
    sql: &str,
    args: &[Arg<'_>],
) -> TxResult<Rows> {
    let st = prep(client, stmts, &pg_placeholders(sql))?;
    let values = bind(&st, args)?;
    client.query(&st, &refs(&values))?.iter().map(cells_of).collect()
}

/// The statements of one write transaction; `retry` is set when a statement failed in a way that
/// running the transaction again can cure.
struct PgTx<'a, 'c> {
    tx: Transaction<'c>,
    stmts: &'a mut HashMap<String, Statement>,
    target: &'a PgTarget,
    retry: bool,
}

impl PgTx<'_, '_> {
    /// The core error of a statement's outcome, remembering whether it is retryable.
    fn done<T>(&mut self, r: TxResult<T>) -> Result<T> {
        r.map_err(|e| match e {
            TxErr::Pg(e) => {
                self.retry |= is_retryable(&e);
                pg_err(self.target, &e)
            }
            TxErr::Core(e) => e,
        })
    }
}

impl WriteTx for PgTx<'_, '_> {
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Rows> {
        let r = run_query(&mut self.tx, self.stmts, sql, args);
        self.done(r)
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let r = (|| -> TxResult<u64> {
            let st = prep(&mut self.tx, self.stmts, &pg_placeholders(sql))?;
            let values = bind(&st, args)?;
            Ok(self.tx.execute(&st, &refs(&values))?)
        })();
        self.done(r)
    }

    fn table_exists(&mut self, name: &str) -> Result<bool> {
        let r = (|| -> TxResult<bool> {
            let st = prep(&mut self.tx, self.stmts, "SELECT to_regclass($1) IS NOT NULL")?;
            Ok(self.tx.query_one(&st, &[&name])?.try_get::<_, bool>(0)?)
        })();
        self.done(r)
    }

    fn create_candidate(&mut self, row: &CandidateInsert<'_>) -> Result<String> {
        let new = row.new;
        if matches!(new.status.as_str(), "candidate" | "accepted") && new.eligibility_report_id.is_none() {
            return Err(Error::invalid(ELIGIBILITY_REQUIRED_MSG));
        }
        if new.eligibility_report_id.is_some() {
            // A report needs its candidate first (foreign key), and a promotion is one rung.
            return Err(Error::invalid(CREATE_PROMOTED_MSG));
        }
        // The caller's id, or NULL: the database derives it from its clock (the time it stamps).
        let id = new.candidate_id.as_deref().filter(|id| !id.is_empty());
        let ctx = Ctx { candidate_id: id.unwrap_or(row.candidate_id), ..Ctx::default() };
        let params: [&(dyn ToSql + Sync); 12] = [
            &id,
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
        let r = self.call(
            "SELECT registry_create_candidate($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &params,
            &ctx,
        );
        self.done(r)
    }

    fn change_status(&mut self, change: &StatusChange<'_>) -> Result<i64> {
        let ctx = Ctx {
            candidate_id: change.candidate_id,
            level: change.new_status,
            report_id: change.report_id,
            ..Ctx::default()
        };
        let r = match change.report_id {
            None => self.call(
                "SELECT registry_set_status($1, $2, $3)",
                &[&change.candidate_id, &change.new_status, &change.reason],
                &ctx,
            ),
            Some(rid) => self.call(
                "SELECT registry_promote($1, $2, $3, $4)",
                &[&change.candidate_id, &change.new_status, &rid, &change.reason],
                &ctx,
            ),
        };
        self.done(r)
    }

    fn record_evaluation(&mut self, w: &EvaluationWrite<'_>) -> Result<i64> {
        let new_status = w.promotion.map(|p| p.new_status).or(w.new_status);
        let report_id = w.promotion.and_then(|p| p.report_id);
        let reason = w.promotion.and_then(|p| p.reason);
        let report_json = w.report.map(report_to_json);
        let ctx = Ctx {
            candidate_id: w.candidate_id,
            expected: w.expected_status,
            level: new_status.unwrap_or_default(),
            report_id,
        };
        let r = self.call(
            "SELECT registry_record_evaluation($1, $2, $3, $4, $5, true, $6)",
            &[&w.candidate_id, &w.expected_status, &new_status, &report_json, &reason, &w.payload_json],
            &ctx,
        );
        self.done(r)
    }

    fn acceptance(&mut self, w: &AcceptanceWrite<'_>) -> Result<i64> {
        let ctx =
            Ctx { candidate_id: w.candidate_id, level: "accepted", report_id: Some(w.report_id), ..Ctx::default() };
        let r = match w.step {
            AcceptanceStep::Request => self.call(
                "SELECT registry_request_acceptance($1, $2, $3)",
                &[&w.candidate_id, &w.report_id, &w.reason],
                &ctx,
            ),
            AcceptanceStep::Approve => {
                self.call("SELECT registry_approve_acceptance($1, $2)", &[&w.candidate_id, &w.reason], &ctx)
            }
            AcceptanceStep::Reject => {
                self.call("SELECT registry_reject_acceptance($1, $2)", &[&w.candidate_id, &w.reason], &ctx)
            }
        };
        self.done(r)
    }

    fn insert_event(
        &mut self,
        candidate_id: &str,
        _ts_utc: &str,
        event_type: &str,
        payload_json: Option<&str>,
    ) -> Result<i64> {
        // The time is the server's (registry_record_event stamps it).
        let ctx = Ctx { candidate_id, ..Ctx::default() };
        let r =
            self.call("SELECT registry_record_event($1, $2, $3)", &[&candidate_id, &event_type, &payload_json], &ctx);
        self.done(r)
    }

    fn report_link(&mut self, report_id: &str) -> Result<Option<ReportLink>> {
        let r = (|| -> TxResult<Option<ReportLink>> {
            let sql = "SELECT candidate_id, level, passed FROM eligibility_reports WHERE eligibility_report_id = $1";
            let row =
                match prep(&mut self.tx, self.stmts, sql).and_then(|st| Ok(self.tx.query_opt(&st, &[&report_id])?)) {
                    Ok(row) => row,
                    Err(TxErr::Pg(e)) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
                        return Err(Error::Runtime(ELIGIBILITY_TABLE_REQUIRED_MSG.to_string()).into())
                    }
                    Err(e) => return Err(e),
                };
            Ok(match row {
                Some(row) => Some(ReportLink {
                    candidate_id: row.try_get(0)?,
                    level: row.try_get(1)?,
                    passed: row.try_get::<_, i32>(2)? == 1,
                }),
                None => None,
            })
        })();
        self.done(r)
    }
}

impl PgTx<'_, '_> {
    /// One call of a registry function returning one value; its refusal mapped with `ctx`.
    fn call<T: for<'r> postgres::types::FromSql<'r>>(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        ctx: &Ctx<'_>,
    ) -> TxResult<T> {
        let st = prep(&mut self.tx, self.stmts, sql).map_err(|e| match e {
            TxErr::Pg(e) => refusal(e, ctx),
            other => other,
        })?;
        let row = self.tx.query_one(&st, params).map_err(|e| refusal(e, ctx))?;
        Ok(row.try_get::<_, T>(0)?)
    }
}

impl Dialect for PgStore {
    fn tables_checked(&mut self) -> &mut bool {
        &mut self.tables_checked
    }

    fn has_promotion_tables(&mut self) -> Result<bool> {
        let target = &self.target;
        let row = self
            .client
            .query_one(
                "SELECT to_regclass('promotion_candidates') IS NOT NULL AND to_regclass('promotion_events') IS NOT NULL",
                &[],
            )
            .map_err(|e| pg_err(target, &e))?;
        row.try_get::<_, bool>(0).map_err(|e| pg_err(target, &e))
    }

    fn table_exists(&mut self, name: &str) -> Result<bool> {
        PgStore::table_exists(self, name)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Rows> {
        self.read(|client, stmts| run_query(client, stmts, sql, args))
    }

    fn write<T>(&mut self, body: &mut dyn FnMut(&mut dyn WriteTx) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = self.client.transaction().map_err(|e| pg_err(&self.target, &e))?;
            let mut ptx = PgTx { tx, stmts: &mut self.stmts, target: &self.target, retry: false };
            let (retry, err) = match body(&mut ptx) {
                Ok(v) => match ptx.tx.commit() {
                    Ok(()) => return Ok(v),
                    // No answer to COMMIT: the server may or may not have committed.
                    Err(e) if e.as_db_error().is_none() => return Err(outcome_unknown(&self.target, &e)),
                    Err(e) => (is_retryable(&e), pg_err(&self.target, &e)),
                },
                Err(e) => (ptx.retry, e), // dropping the transaction rolls back
            };
            if !retry || attempt >= MAX_TX_ATTEMPTS {
                return Err(err);
            }
            backoff(attempt);
        }
    }

    fn select_candidates(&mut self, filter: &CandidateFilter) -> Result<Vec<Candidate>> {
        let mut sql = format!("SELECT {CANDIDATE_COLUMNS} FROM promotion_candidates");
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        let mut clauses: Vec<String> = Vec::new();
        for (col, val) in
            [("status", &filter.status), ("dataset_id", &filter.dataset_id), ("signal_name", &filter.signal_name)]
        {
            if let Some(v) = val {
                args.push(v);
                clauses.push(format!("{col} = ${}", args.len()));
            }
        }
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        let limit: Option<i64> = filter.limit.filter(|l| *l >= 0);
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY created_at_utc DESC, rowid DESC LIMIT ${}", args.len()));
        self.read(|tx, stmts| {
            let st = prep(tx, stmts, &sql)?;
            tx.query(&st, &args)?.iter().map(row_to_candidate).collect()
        })
    }

    fn select_candidate(&mut self, candidate_id: &str) -> Result<Option<Candidate>> {
        self.read(|tx, stmts| {
            let st = prep(
                tx,
                stmts,
                &format!("SELECT {CANDIDATE_COLUMNS} FROM promotion_candidates WHERE candidate_id = $1"),
            )?;
            tx.query_opt(&st, &[&candidate_id])?.as_ref().map(row_to_candidate).transpose()
        })
    }

    fn registry_setting(&mut self, name: &str) -> Result<Option<String>> {
        self.read(|client, stmts| {
            let exists = client
                .query_one("SELECT to_regprocedure('registry_setting(text)') IS NOT NULL", &[])?
                .try_get::<_, bool>(0)?;
            if !exists {
                return Ok(None);
            }
            let st = prep(client, stmts, "SELECT registry_setting($1)")?;
            Ok(client.query_one(&st, &[&name])?.try_get::<_, Option<String>>(0)?)
        })
    }

    fn select_reports(&mut self, candidate_id: &str) -> Result<Vec<EligibilityRow>> {
        self.read(|tx, stmts| {
            let st = prep(
                tx,
                stmts,
                "SELECT eligibility_report_id, candidate_id, level, passed, blockers_json, warnings_json, \
                 computed_at_utc, run_key, run_instance_id, dataset_id_v2, engine_version, config_version \
                 FROM eligibility_reports WHERE candidate_id = $1 ORDER BY computed_at_utc, eligibility_report_id",
            )?;
            let rows = tx.query(&st, &[&candidate_id])?;
            rows.iter()
                .map(|r| {
                    Ok(EligibilityRow {
                        eligibility_report_id: r.try_get(0)?,
                        candidate_id: r.try_get(1)?,
                        level: r.try_get(2)?,
                        passed: r.try_get::<_, i32>(3)? == 1,
                        blockers_json: r.try_get(4)?,
                        warnings_json: r.try_get(5)?,
                        computed_at_utc: r.try_get(6)?,
                        run_key: r.try_get(7)?,
                        run_instance_id: r.try_get(8)?,
                        dataset_id_v2: r.try_get(9)?,
                        engine_version: r.try_get(10)?,
                        config_version: r.try_get(11)?,
                    })
                })
                .collect()
        })
    }
}
