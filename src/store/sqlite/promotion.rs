//! Eligibility reports and promotions in the store: `insert_eligibility_report`,
//! `promote_to_candidate` / `promote_to_accepted`, and the service's promotion write.
//!
//! Each call is ONE transaction (the analyzer commits the status and its event separately).
//! Beyond the analyzer's rules: a report promotes only the candidate it was computed for, a report
//! for an unknown candidate is refused, and an unknown candidate id writes nothing. The triggers
//! of migration 9/10 enforce the same rules for plain SQL. Promotion straight from exploratory to
//! accepted stays possible here (the analyzer's tests use it); the service moves one rung.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::model::EligibilityRow;
use crate::store::rules::{
    check_report_link, not_found, now_utc_iso, refuse_promotion_status, status_change_payload, status_changed,
    validate_status, ReportLink, ELIGIBILITY_TABLE_REQUIRED_MSG,
};
use crate::store::sqlite::{insert_event_row, sql_err, trigger_message, Store};
use crate::store::Rung;

fn table_exists(tx: &Transaction<'_>, name: &str) -> Result<bool> {
    tx.query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(sql_err)
}

fn candidate_status(tx: &Transaction<'_>, candidate_id: &str) -> Result<Option<String>> {
    // Cached statements: these run on every evaluation, and preparing a statement on a table with
    // triggers is most of its cost.
    tx.prepare_cached("SELECT status FROM promotion_candidates WHERE candidate_id = ?1")
        .and_then(|mut st| st.query_row([candidate_id], |r| r.get(0)).optional())
        .map_err(sql_err)
}

/// A write refused by one of our triggers becomes InvalidInput with the trigger's message.
fn write_err(e: rusqlite::Error) -> Error {
    match trigger_message(&e) {
        Some(msg) => Error::invalid(msg),
        None => sql_err(e),
    }
}

fn insert_report(tx: &Transaction<'_>, r: &EligibilityRow) -> Result<()> {
    r.validate()?;
    if !table_exists(tx, "eligibility_reports")? {
        return Err(Error::Runtime(ELIGIBILITY_TABLE_REQUIRED_MSG.to_string()));
    }
    candidate_status(tx, &r.candidate_id)?.ok_or_else(|| not_found(&r.candidate_id))?;
    let exists: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM eligibility_reports WHERE eligibility_report_id = ?1",
            [&r.eligibility_report_id],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql_err)?;
    if exists.is_some() {
        return Err(Error::invalid(format!("eligibility_report_id already exists: {}", r.eligibility_report_id)));
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    tx.prepare_cached(
        "INSERT INTO eligibility_reports (eligibility_report_id, candidate_id, level, passed, blockers_json, \
         warnings_json, computed_at_utc, run_key, run_instance_id, dataset_id_v2, engine_version, config_version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut st| {
        st.execute(params![
            r.eligibility_report_id,
            r.candidate_id,
            r.level,
            i64::from(r.passed),
            r.blockers_json,
            r.warnings_json,
            r.computed_at_utc,
            text(&r.run_key),
            text(&r.run_instance_id),
            text(&r.dataset_id_v2),
            text(&r.engine_version),
            text(&r.config_version),
        ])
    })
    .map_err(write_err)?;
    Ok(())
}

/// Check that report `report_id` may promote `candidate_id` to `level`; clear messages for each
/// reason (the trigger would refuse the same with one message).
fn check_report(tx: &Transaction<'_>, candidate_id: &str, level: &str, report_id: &str) -> Result<()> {
    if !table_exists(tx, "eligibility_reports")? {
        return Err(Error::Runtime(ELIGIBILITY_TABLE_REQUIRED_MSG.to_string()));
    }
    let found = tx
        .query_row(
            "SELECT candidate_id, level, passed FROM eligibility_reports WHERE eligibility_report_id = ?1",
            [report_id],
            |r| Ok(ReportLink { candidate_id: r.get(0)?, level: r.get(1)?, passed: r.get::<_, i64>(2)? == 1 }),
        )
        .optional()
        .map_err(sql_err)?;
    check_report_link(candidate_id, level, report_id, found)
}

/// Link the report, set the status and write the `status_change` event (inside `tx`).
fn promote_in(
    tx: &Transaction<'_>,
    candidate_id: &str,
    level: &str,
    report_id: &str,
    reason: Option<&str>,
) -> Result<i64> {
    if level != "candidate" && level != "accepted" {
        return Err(Error::invalid(format!("promotion target must be candidate or accepted, got {level:?}")));
    }
    let old = candidate_status(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
    check_report(tx, candidate_id, level, report_id)?;
    let ts = now_utc_iso();
    tx.prepare_cached(
        "UPDATE promotion_candidates SET status = ?1, eligibility_report_id = ?2 WHERE candidate_id = ?3",
    )
    .and_then(|mut st| st.execute(params![level, report_id, candidate_id]))
    .map_err(write_err)?;
    let payload = status_change_payload(&old, level, &ts, Some(report_id), reason);
    insert_event(tx, candidate_id, &ts, "status_change", &payload)
}

fn insert_event(tx: &Transaction<'_>, candidate_id: &str, ts: &str, event_type: &str, payload: &Value) -> Result<i64> {
    insert_event_row(tx, candidate_id, ts, event_type, Some(&crate::pyfmt::to_canonical_string(payload)))
        .map_err(write_err)
}

impl Store {
    /// Insert one eligibility report (one transaction). Unknown level, malformed JSON lists, a
    /// passed report with blockers, an unknown candidate or a duplicate id → InvalidInput, nothing
    /// written; table missing → Runtime.
    pub fn insert_eligibility_report(&mut self, report: &EligibilityRow) -> Result<()> {
        self.require_promotion_tables()?;
        report.validate()?;
        self.with_write_transaction(|tx| insert_report(tx, report))
    }

    /// `promote_to_candidate` / `promote_to_accepted`: link a passed report of `level` computed
    /// for this candidate, set the status, write the `status_change` event — one transaction.
    /// Returns the event id.
    pub fn promote(&mut self, candidate_id: &str, level: &str, report_id: &str, reason: Option<&str>) -> Result<i64> {
        self.require_promotion_tables()?;
        validate_status(level)?;
        self.with_write_transaction(|tx| promote_in(tx, candidate_id, level, report_id, reason))
    }

    /// The service's promotion: insert the (passed) report, promote to its level, and write the
    /// `evaluated` event, all in ONE transaction.
    pub fn record_promotion(&mut self, report: &EligibilityRow, reason: Option<&str>, evaluated: &Value) -> Result<()> {
        self.require_promotion_tables()?;
        report.validate()?;
        self.with_write_transaction(|tx| {
            insert_report(tx, report)?;
            promote_in(tx, &report.candidate_id, &report.level, &report.eligibility_report_id, reason)?;
            insert_event(tx, &report.candidate_id, &now_utc_iso(), "evaluated", evaluated)?;
            Ok(())
        })
    }

    /// The write side of `service::evaluate_and_record` (see [`Rung`]): in ONE IMMEDIATE
    /// transaction (the database's write lock is held from the first read), refuse if the status
    /// is no longer the one the evaluation decided from, then either store the report, promote
    /// to its level (`status_change`) and write the `evaluated` event, or set exploratory /
    /// rejected with the `evaluated` event. Nothing is written on any error.
    pub fn record_rung(&mut self, rung: &Rung<'_>) -> Result<()> {
        self.require_promotion_tables()?;
        match rung.report {
            Some(r) => {
                r.validate()?;
                if r.candidate_id != rung.candidate_id {
                    return Err(Error::invalid(format!(
                        "eligibility report {} was computed for candidate {}, not {}",
                        r.eligibility_report_id, r.candidate_id, rung.candidate_id
                    )));
                }
            }
            None => {
                validate_status(rung.new_status)?;
                refuse_promotion_status(rung.new_status)?;
            }
        }
        self.with_write_transaction(|tx| {
            let found = candidate_status(tx, rung.candidate_id)?.ok_or_else(|| not_found(rung.candidate_id))?;
            if found != rung.expected_status {
                return Err(status_changed(rung.candidate_id, rung.expected_status, &found));
            }
            let ts = now_utc_iso();
            match rung.report {
                Some(r) => {
                    insert_report(tx, r)?;
                    promote_in(tx, rung.candidate_id, &r.level, &r.eligibility_report_id, rung.reason)?;
                }
                None => {
                    tx.prepare_cached("UPDATE promotion_candidates SET status = ?1 WHERE candidate_id = ?2")
                        .and_then(|mut st| st.execute(params![rung.new_status, rung.candidate_id]))
                        .map_err(write_err)?;
                }
            }
            insert_event(tx, rung.candidate_id, &ts, "evaluated", rung.evaluated)?;
            Ok(())
        })
    }

    /// The eligibility reports of a candidate, in insertion order (empty before migration 8).
    pub fn get_eligibility_reports(&self, candidate_id: &str) -> Result<Vec<EligibilityRow>> {
        let conn = self.connection();
        let exists: Option<i64> = conn
            .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'eligibility_reports'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql_err)?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        let mut st = conn
            .prepare(
                "SELECT eligibility_report_id, candidate_id, level, passed, blockers_json, warnings_json, \
                 computed_at_utc, run_key, run_instance_id, dataset_id_v2, engine_version, config_version \
                 FROM eligibility_reports WHERE candidate_id = ?1 ORDER BY rowid",
            )
            .map_err(sql_err)?;
        let rows = st
            .query_map([candidate_id], |r| {
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
            })
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql_err)?;
        Ok(rows)
    }
}
