//! The store operations, written ONCE for every dialect over the primitives of
//! [`Dialect`] / [`WriteTx`] (`dialect.rs`): the checks and the analyzer's messages
//! (`rules.rs`), the order of the reads and writes inside each transaction, the events each
//! write appends, canonical JSON, ids and timestamps.
//!
//! [`RegistryStore`] is what callers use (through [`crate::store::with_backend`]); every
//! dialect's connection gets it from the one blanket implementation below.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::pyfmt::to_canonical_string;
use crate::store::dialect::{Arg, CandidateInsert, Cell, Dialect, RowLock, Rows, WriteTx};
use crate::store::model::{Candidate, CandidateFilter, EligibilityRow, Event, NewCandidate};
use crate::store::rules::{
    check_report_link, created_payload, evidence_to_json, not_found, now_utc_iso, payload_to_json,
    refuse_promotion_status, report_id_taken, status_change_payload, status_changed, validate_status,
    ELIGIBILITY_TABLE_REQUIRED_MSG, PROMOTION_TABLES_REQUIRED_MSG,
};
use crate::store::Rung;

/// The store operations, the same on every dialect: the same rows, canonical JSON, ids and
/// messages. Callers reach them through [`crate::store::with_backend`] and never name a dialect.
pub trait RegistryStore {
    /// Whether both promotion tables exist.
    fn promotion_tables_exist(&mut self) -> Result<bool>;
    /// `Error::Runtime` with the analyzer's message unless both promotion tables exist.
    fn require_promotion_tables(&mut self) -> Result<()>;
    /// Insert a candidate and its `created` event in one transaction; returns the id.
    fn create_candidate(&mut self, new: &NewCandidate) -> Result<String>;
    /// Insert many candidates (each with its `created` event) in ONE transaction; all or nothing.
    fn create_candidates_many(&mut self, items: &[NewCandidate]) -> Result<Vec<String>>;
    /// Set a status (not candidate/accepted) and write its `status_change` event.
    fn update_status(&mut self, candidate_id: &str, status: &str, reason: Option<&str>) -> Result<i64>;
    /// Set a status (not candidate/accepted) and write an `evaluated` event with `payload` in one
    /// transaction.
    fn record_evaluation(&mut self, candidate_id: &str, new_status: &str, payload: &Value) -> Result<i64>;
    /// Append an event (canonical JSON payload, NULL when empty).
    fn record_event(&mut self, candidate_id: &str, event_type: &str, payload: Option<&Value>) -> Result<i64>;
    /// Candidates matching the filter, newest first.
    fn list_candidates(&mut self, filter: &CandidateFilter) -> Result<Vec<Candidate>>;
    /// One candidate, or None.
    fn get_candidate(&mut self, candidate_id: &str) -> Result<Option<Candidate>>;
    /// The events of a candidate, ascending event_id.
    fn get_events(&mut self, candidate_id: &str) -> Result<Vec<Event>>;
    /// Store one eligibility report for an existing candidate.
    fn insert_eligibility_report(&mut self, report: &EligibilityRow) -> Result<()>;
    /// Promote to `level` with a passed report of that level computed for this candidate.
    fn promote(&mut self, candidate_id: &str, level: &str, report_id: &str, reason: Option<&str>) -> Result<i64>;
    /// The eligibility reports of a candidate (each dialect's order: see
    /// [`Dialect::select_reports`]); empty before migration 8.
    fn get_eligibility_reports(&mut self, candidate_id: &str) -> Result<Vec<EligibilityRow>>;
    /// Write one evaluation's rung (see [`Rung`]) in one transaction; nothing on any error.
    fn record_rung(&mut self, rung: &Rung<'_>) -> Result<()>;
}

impl<D: Dialect> RegistryStore for D {
    fn promotion_tables_exist(&mut self) -> Result<bool> {
        self.has_promotion_tables()
    }

    fn require_promotion_tables(&mut self) -> Result<()> {
        if *self.tables_checked() {
            return Ok(());
        }
        if !self.has_promotion_tables()? {
            return Err(Error::Runtime(PROMOTION_TABLES_REQUIRED_MSG.to_string()));
        }
        *self.tables_checked() = true;
        Ok(())
    }

    fn create_candidate(&mut self, new: &NewCandidate) -> Result<String> {
        let mut ids = self.create_candidates_many(std::slice::from_ref(new))?;
        ids.pop().ok_or_else(|| Error::Internal("create_candidate returned no id".into()))
    }

    fn create_candidates_many(&mut self, items: &[NewCandidate]) -> Result<Vec<String>> {
        self.require_promotion_tables()?;
        // Validate and serialise everything before touching the database.
        let mut prepared = Vec::with_capacity(items.len());
        for new in items {
            validate_status(&new.status)?;
            prepared.push((new, evidence_to_json(new.evidence.as_ref(), new.evidence_base_path.as_deref())?));
        }
        self.write(&mut |tx| {
            let mut ids = Vec::with_capacity(prepared.len());
            for (new, evidence_json) in &prepared {
                let created_at = now_utc_iso();
                let id = new.id_at(&created_at);
                tx.insert_candidate(&CandidateInsert {
                    candidate_id: &id,
                    created_at_utc: &created_at,
                    new,
                    evidence_json: evidence_json.as_deref(),
                })?;
                tx.insert_event(&id, &created_at, "created", Some(&created_payload(&created_at)))?;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    fn update_status(&mut self, candidate_id: &str, status: &str, reason: Option<&str>) -> Result<i64> {
        self.require_promotion_tables()?;
        validate_status(status)?;
        refuse_promotion_status(status)?;
        self.write(&mut |tx| {
            let old = lock_candidate(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
            let ts = now_utc_iso();
            let payload = status_change_payload(&old, status, &ts, None, reason);
            tx.set_status(candidate_id, status, None)?;
            tx.insert_event(candidate_id, &ts, "status_change", payload_to_json(Some(&payload)).as_deref())
        })
    }

    fn record_evaluation(&mut self, candidate_id: &str, new_status: &str, payload: &Value) -> Result<i64> {
        self.require_promotion_tables()?;
        validate_status(new_status)?;
        refuse_promotion_status(new_status)?;
        let payload_json = payload_to_json(Some(payload));
        self.write(&mut |tx| {
            lock_candidate(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
            let ts = now_utc_iso();
            tx.set_status(candidate_id, new_status, None)?;
            tx.insert_event(candidate_id, &ts, "evaluated", payload_json.as_deref())
        })
    }

    fn record_event(&mut self, candidate_id: &str, event_type: &str, payload: Option<&Value>) -> Result<i64> {
        self.require_promotion_tables()?;
        if event_type.is_empty() {
            return Err(Error::invalid("event_type must be a non-empty string"));
        }
        let payload_json = payload_to_json(payload);
        self.write(&mut |tx| {
            if !candidate_exists(tx, candidate_id)? {
                return Err(not_found(candidate_id));
            }
            tx.insert_event(candidate_id, &now_utc_iso(), event_type, payload_json.as_deref())
        })
    }

    fn list_candidates(&mut self, filter: &CandidateFilter) -> Result<Vec<Candidate>> {
        self.require_promotion_tables()?;
        self.select_candidates(filter)
    }

    fn get_candidate(&mut self, candidate_id: &str) -> Result<Option<Candidate>> {
        self.require_promotion_tables()?;
        self.select_candidate(candidate_id)
    }

    fn get_events(&mut self, candidate_id: &str) -> Result<Vec<Event>> {
        self.require_promotion_tables()?;
        let rows = self.query(
            "SELECT event_id, candidate_id, ts_utc, event_type, payload_json FROM promotion_events \
             WHERE candidate_id = ?1 ORDER BY event_id ASC",
            &[Arg::Text(candidate_id)],
        )?;
        rows.into_iter()
            .map(|row| {
                let [event_id, candidate_id, ts_utc, event_type, payload_json] = cells(row)?;
                Ok(Event {
                    event_id: event_id.into_int()?,
                    candidate_id: candidate_id.into_text()?,
                    ts_utc: ts_utc.into_text()?,
                    event_type: event_type.into_text()?,
                    payload_json: payload_json.into_opt_text()?,
                })
            })
            .collect()
    }

    fn insert_eligibility_report(&mut self, report: &EligibilityRow) -> Result<()> {
        self.require_promotion_tables()?;
        report.validate()?;
        self.write(&mut |tx| insert_report(tx, report))
    }

    fn promote(&mut self, candidate_id: &str, level: &str, report_id: &str, reason: Option<&str>) -> Result<i64> {
        self.require_promotion_tables()?;
        validate_status(level)?;
        self.write(&mut |tx| promote_in(tx, candidate_id, level, report_id, reason))
    }

    fn get_eligibility_reports(&mut self, candidate_id: &str) -> Result<Vec<EligibilityRow>> {
        if !self.table_exists("eligibility_reports")? {
            return Ok(Vec::new());
        }
        self.select_reports(candidate_id)
    }

    /// In ONE write transaction (the candidate locked from the first read): refuse if the status
    /// is no longer the one the evaluation decided from, then either store the report, promote to
    /// its level (`status_change`), or set exploratory / rejected; then the `evaluated` event.
    fn record_rung(&mut self, rung: &Rung<'_>) -> Result<()> {
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
        let evaluated = to_canonical_string(rung.evaluated);
        self.write(&mut |tx| {
            let found = lock_candidate(tx, rung.candidate_id)?.ok_or_else(|| not_found(rung.candidate_id))?;
            if found != rung.expected_status {
                return Err(status_changed(rung.candidate_id, rung.expected_status, &found));
            }
            match rung.report {
                Some(r) => {
                    insert_report(tx, r)?;
                    promote_in(tx, rung.candidate_id, &r.level, &r.eligibility_report_id, rung.reason)?;
                }
                None => tx.set_status(rung.candidate_id, rung.new_status, None)?,
            }
            tx.insert_event(rung.candidate_id, &now_utc_iso(), "evaluated", Some(&evaluated))?;
            Ok(())
        })
    }
}

/// Store one report inside `tx`: the eligibility table must exist (else the analyzer's
/// RuntimeError) and the candidate too; an id already used is refused.
fn insert_report(tx: &mut dyn WriteTx, report: &EligibilityRow) -> Result<()> {
    if !tx.table_exists("eligibility_reports")? {
        return Err(Error::Runtime(ELIGIBILITY_TABLE_REQUIRED_MSG.to_string()));
    }
    if !candidate_exists(tx, &report.candidate_id)? {
        return Err(not_found(&report.candidate_id));
    }
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

/// The candidate's status, its row locked against every other writer until the transaction
/// ends; None when there is no such candidate.
fn lock_candidate(tx: &mut dyn WriteTx, candidate_id: &str) -> Result<Option<String>> {
    let sql =
        format!("SELECT status FROM promotion_candidates WHERE candidate_id = ?1{}", tx.row_lock(RowLock::Update));
    match first_row(tx.query(&sql, &[Arg::Text(candidate_id)])?) {
        Some(row) => {
            let [status] = cells(row)?;
            status.into_text().map(Some)
        }
        None => Ok(None),
    }
}

/// Whether the candidate exists; its row kept from being deleted until the transaction ends
/// (events and reports may still be added to it concurrently).
fn candidate_exists(tx: &mut dyn WriteTx, candidate_id: &str) -> Result<bool> {
    let sql = format!("SELECT 1 FROM promotion_candidates WHERE candidate_id = ?1{}", tx.row_lock(RowLock::KeyShare));
    Ok(first_row(tx.query(&sql, &[Arg::Text(candidate_id)])?).is_some())
}

fn first_row(rows: Rows) -> Option<Vec<Cell>> {
    rows.into_iter().next()
}

/// The cells of a row of exactly `N` columns (another count is an internal error).
fn cells<const N: usize>(row: Vec<Cell>) -> Result<[Cell; N]> {
    let got = row.len();
    row.try_into().map_err(|_| Error::Internal(format!("store: expected {N} columns from the database, got {got}")))
}

/// Promote inside `tx`: check the report may promote this candidate to `level`, link it, set
/// the status and write the `status_change` event; returns its id.
fn promote_in(
    tx: &mut dyn WriteTx,
    candidate_id: &str,
    level: &str,
    report_id: &str,
    reason: Option<&str>,
) -> Result<i64> {
    if level != "candidate" && level != "accepted" {
        return Err(Error::invalid(format!("promotion target must be candidate or accepted, got {level:?}")));
    }
    let old = lock_candidate(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
    let link = tx.report_link(report_id)?;
    check_report_link(candidate_id, level, report_id, link)?;
    let ts = now_utc_iso();
    tx.set_status(candidate_id, level, Some(report_id))?;
    let payload = status_change_payload(&old, level, &ts, Some(report_id), reason);
    tx.insert_event(candidate_id, &ts, "status_change", Some(&to_canonical_string(&payload)))
}
