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
use crate::store::dialect::{
    insert_report_row, AcceptanceStep, AcceptanceWrite, Arg, CandidateInsert, Cell, Dialect, EvaluationWrite, Rows,
    StatusChange, WriteTx,
};
use crate::store::model::{Candidate, CandidateFilter, EligibilityRow, Event, NewCandidate};
use crate::store::rules::{
    acceptance_payload, check_report_link, created_payload, evidence_to_json, no_open_request, not_found, not_one_rung,
    now_utc_iso, open_request_exists, payload_to_json, refuse_promotion_status, report_id_taken, status_change_payload,
    status_changed, validate_status, ReportLink, ACCEPTANCE_APPROVED, ACCEPTANCE_REJECTED, ACCEPTANCE_REQUESTED,
    ELIGIBILITY_TABLE_REQUIRED_MSG, PROMOTION_TABLES_REQUIRED_MSG, REJECT_NEEDS_REASON_MSG,
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
    /// Ask for the step to accepted on a passed accepted-level report of this candidate (at
    /// candidate, no request open): an `acceptance_requested` event.
    fn request_acceptance(&mut self, candidate_id: &str, report_id: &str, reason: Option<&str>) -> Result<i64>;
    /// Take the requested step to accepted (`status_change` + `acceptance_approved` events).
    fn approve_acceptance(&mut self, candidate_id: &str, reason: Option<&str>) -> Result<i64>;
    /// Turn the open request down with a reason: the candidate becomes rejected
    /// (`status_change` + `acceptance_rejected` events).
    fn reject_acceptance(&mut self, candidate_id: &str, reason: &str) -> Result<i64>;
    /// Whether the database separates duties (PostgreSQL's `separation_of_duties` setting,
    /// on unless the owner turned it off; a SQLite file: false, it has no users).
    fn separation_of_duties(&mut self) -> Result<bool>;
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
                ids.push(tx.create_candidate(&CandidateInsert {
                    candidate_id: &id,
                    created_at_utc: &created_at,
                    new,
                    evidence_json: evidence_json.as_deref(),
                    created_payload: &created_payload(&created_at),
                })?);
            }
            Ok(ids)
        })
    }

    fn update_status(&mut self, candidate_id: &str, status: &str, reason: Option<&str>) -> Result<i64> {
        self.require_promotion_tables()?;
        validate_status(status)?;
        refuse_promotion_status(status)?;
        self.write(&mut |tx| {
            let old = read_status(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
            let ts = now_utc_iso();
            let payload = to_canonical_string(&status_change_payload(&old, status, &ts, None, reason));
            tx.change_status(&StatusChange {
                candidate_id,
                new_status: status,
                report_id: None,
                reason,
                ts_utc: &ts,
                payload_json: &payload,
            })
        })
    }

    fn record_evaluation(&mut self, candidate_id: &str, new_status: &str, payload: &Value) -> Result<i64> {
        self.require_promotion_tables()?;
        validate_status(new_status)?;
        refuse_promotion_status(new_status)?;
        let payload_json = payload_to_json(Some(payload));
        self.write(&mut |tx| {
            read_status(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
            tx.record_evaluation(&EvaluationWrite {
                candidate_id,
                expected_status: None,
                report: None,
                promotion: None,
                new_status: Some(new_status),
                ts_utc: &now_utc_iso(),
                payload_json: payload_json.as_deref(),
            })
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
        check_promotion_level(level)?;
        self.write(&mut |tx| {
            let old = read_status(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
            let link = tx.report_link(report_id)?;
            check_report_link(candidate_id, level, report_id, link)?;
            let ts = now_utc_iso();
            let payload = to_canonical_string(&status_change_payload(&old, level, &ts, Some(report_id), reason));
            tx.change_status(&StatusChange {
                candidate_id,
                new_status: level,
                report_id: Some(report_id),
                reason,
                ts_utc: &ts,
                payload_json: &payload,
            })
        })
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
        if let Some(r) = rung.report {
            check_promotion_level(&r.level)?;
        }
        let evaluated = to_canonical_string(rung.evaluated);
        self.write(&mut |tx| {
            let found = read_status(tx, rung.candidate_id)?.ok_or_else(|| not_found(rung.candidate_id))?;
            if found != rung.expected_status {
                return Err(status_changed(rung.candidate_id, rung.expected_status, &found));
            }
            let ts = now_utc_iso();
            let mut status_payload = String::new();
            if let Some(r) = rung.report {
                // The checks of storing the report, then of promoting on it (the report is the
                // one about to be stored, so its link is known without reading it back).
                let rid = r.eligibility_report_id.as_str();
                if !tx.table_exists("eligibility_reports")? {
                    return Err(Error::Runtime(ELIGIBILITY_TABLE_REQUIRED_MSG.to_string()));
                }
                if tx.report_link(rid)?.is_some() {
                    return Err(report_id_taken(rid));
                }
                let link =
                    ReportLink { candidate_id: r.candidate_id.clone(), level: r.level.clone(), passed: r.passed };
                check_report_link(rung.candidate_id, &r.level, rid, Some(link))?;
                status_payload =
                    to_canonical_string(&status_change_payload(&found, &r.level, &ts, Some(rid), rung.reason));
            }
            tx.record_evaluation(&EvaluationWrite {
                candidate_id: rung.candidate_id,
                expected_status: Some(rung.expected_status),
                report: rung.report,
                promotion: rung.report.map(|r| StatusChange {
                    candidate_id: rung.candidate_id,
                    new_status: &r.level,
                    report_id: Some(&r.eligibility_report_id),
                    reason: rung.reason,
                    ts_utc: &ts,
                    payload_json: &status_payload,
                }),
                new_status: if rung.report.is_some() { None } else { Some(rung.new_status) },
                ts_utc: &ts,
                payload_json: Some(&evaluated),
            })?;
            Ok(())
        })
    }

    fn request_acceptance(&mut self, candidate_id: &str, report_id: &str, reason: Option<&str>) -> Result<i64> {
        self.require_promotion_tables()?;
        self.write(&mut |tx| {
            let old = read_status(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
            check_acceptance(tx, candidate_id, &old, report_id)?;
            if let Some((event_id, _)) = open_request(tx, candidate_id)? {
                return Err(open_request_exists(candidate_id, event_id));
            }
            let payload = to_canonical_string(&acceptance_payload(report_id, reason, None));
            tx.acceptance(&AcceptanceWrite {
                step: AcceptanceStep::Request,
                candidate_id,
                report_id,
                reason,
                status_change: None,
                ts_utc: &now_utc_iso(),
                payload_json: &payload,
            })
        })
    }

    fn approve_acceptance(&mut self, candidate_id: &str, reason: Option<&str>) -> Result<i64> {
        self.require_promotion_tables()?;
        self.write(&mut |tx| {
            let old = read_status(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
            let (request, report_id) = open_request(tx, candidate_id)?.ok_or_else(|| no_open_request(candidate_id))?;
            check_acceptance(tx, candidate_id, &old, &report_id)?;
            let ts = now_utc_iso();
            let status_payload =
                to_canonical_string(&status_change_payload(&old, "accepted", &ts, Some(&report_id), reason));
            let payload = to_canonical_string(&acceptance_payload(&report_id, reason, Some(request)));
            tx.acceptance(&AcceptanceWrite {
                step: AcceptanceStep::Approve,
                candidate_id,
                report_id: &report_id,
                reason,
                status_change: Some(StatusChange {
                    candidate_id,
                    new_status: "accepted",
                    report_id: Some(&report_id),
                    reason,
                    ts_utc: &ts,
                    payload_json: &status_payload,
                }),
                ts_utc: &ts,
                payload_json: &payload,
            })
        })
    }

    fn reject_acceptance(&mut self, candidate_id: &str, reason: &str) -> Result<i64> {
        self.require_promotion_tables()?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(REJECT_NEEDS_REASON_MSG));
        }
        self.write(&mut |tx| {
            let old = read_status(tx, candidate_id)?.ok_or_else(|| not_found(candidate_id))?;
            let (request, report_id) = open_request(tx, candidate_id)?.ok_or_else(|| no_open_request(candidate_id))?;
            let ts = now_utc_iso();
            let status_payload = to_canonical_string(&status_change_payload(&old, "rejected", &ts, None, Some(reason)));
            let payload = to_canonical_string(&acceptance_payload(&report_id, Some(reason), Some(request)));
            tx.acceptance(&AcceptanceWrite {
                step: AcceptanceStep::Reject,
                candidate_id,
                report_id: &report_id,
                reason: Some(reason),
                status_change: Some(StatusChange {
                    candidate_id,
                    new_status: "rejected",
                    report_id: None,
                    reason: Some(reason),
                    ts_utc: &ts,
                    payload_json: &status_payload,
                }),
                ts_utc: &ts,
                payload_json: &payload,
            })
        })
    }

    fn separation_of_duties(&mut self) -> Result<bool> {
        Ok(self.registry_setting("separation_of_duties")?.is_some_and(|v| v == "on"))
    }
}

/// The open acceptance request of a candidate (its event id and report): the last request or
/// answer, if it is a request.
fn open_request(tx: &mut dyn WriteTx, candidate_id: &str) -> Result<Option<(i64, String)>> {
    let rows = tx.query(
        "SELECT event_id, event_type, payload_json FROM promotion_events WHERE candidate_id = ?1 \
         AND event_type IN (?2, ?3, ?4) ORDER BY event_id DESC LIMIT 1",
        &[
            Arg::Text(candidate_id),
            Arg::Text(ACCEPTANCE_REQUESTED),
            Arg::Text(ACCEPTANCE_APPROVED),
            Arg::Text(ACCEPTANCE_REJECTED),
        ],
    )?;
    let Some(row) = first_row(rows) else { return Ok(None) };
    let [event_id, event_type, payload] = cells(row)?;
    if event_type.into_text()? != ACCEPTANCE_REQUESTED {
        return Ok(None);
    }
    let event_id = event_id.into_int()?;
    let report = payload
        .into_opt_text()?
        .and_then(|p| serde_json::from_str::<Value>(&p).ok())
        .and_then(|v| v.get("eligibility_report_id").and_then(Value::as_str).map(str::to_string))
        .ok_or_else(|| Error::invalid(format!("acceptance request event {event_id} names no eligibility report")))?;
    Ok(Some((event_id, report)))
}

/// The report and rung checks of the step to accepted on `report_id`.
fn check_acceptance(tx: &mut dyn WriteTx, candidate_id: &str, old: &str, report_id: &str) -> Result<()> {
    let link = tx.report_link(report_id)?;
    check_report_link(candidate_id, "accepted", report_id, link)?;
    if old != "candidate" {
        return Err(not_one_rung("accepted", candidate_id, old));
    }
    Ok(())
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
    insert_report_row(tx, report)
}

/// The candidate's status, None when there is no such candidate (on SQLite the transaction's
/// write lock keeps it until the commit; on PostgreSQL the write primitive locks and reads it
/// again inside the database).
fn read_status(tx: &mut dyn WriteTx, candidate_id: &str) -> Result<Option<String>> {
    match first_row(
        tx.query("SELECT status FROM promotion_candidates WHERE candidate_id = ?1", &[Arg::Text(candidate_id)])?,
    ) {
        Some(row) => {
            let [status] = cells(row)?;
            status.into_text().map(Some)
        }
        None => Ok(None),
    }
}

/// Whether the candidate exists.
fn candidate_exists(tx: &mut dyn WriteTx, candidate_id: &str) -> Result<bool> {
    Ok(first_row(tx.query("SELECT 1 FROM promotion_candidates WHERE candidate_id = ?1", &[Arg::Text(candidate_id)])?)
        .is_some())
}

fn first_row(rows: Rows) -> Option<Vec<Cell>> {
    rows.into_iter().next()
}

/// The cells of a row of exactly `N` columns (another count is an internal error).
fn cells<const N: usize>(row: Vec<Cell>) -> Result<[Cell; N]> {
    let got = row.len();
    row.try_into().map_err(|_| Error::Internal(format!("store: expected {N} columns from the database, got {got}")))
}

/// A promotion goes to candidate or accepted.
fn check_promotion_level(level: &str) -> Result<()> {
    if level != "candidate" && level != "accepted" {
        return Err(Error::invalid(format!("promotion target must be candidate or accepted, got {level:?}")));
    }
    Ok(())
}
