//! The store's backend-neutral rules and messages, written once for every dialect: the
//! statuses and the analyzer's texts, candidate ids and timestamps, evidence as stored
//! (relativized, canonical JSON), event payloads, and the checks a promotion's report must pass.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pyfmt::to_canonical_string;
use crate::status::Status;

/// The statuses a candidate may have.
pub const VALID_STATUSES: [&str; 4] = crate::status::NAMES;

/// Raised (as RuntimeError) when the promotion tables are missing. Literal text of the analyzer's.
pub const PROMOTION_TABLES_REQUIRED_MSG: &str = "Promotion tables not found. Run Phase 3 migrations to create them: run_migrations_phase3(conn, db_path). From CLI: python cli/promotion.py init --db <path>";

/// Current time as an ISO-8601 UTC string with microseconds, like Python's
/// `datetime.now(timezone.utc).isoformat()`.
pub fn now_utc_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// The default candidate id: `"prom_"` + first 16 hex digits of
/// sha256(`"{run_id}|{signal_name}|{horizon}|{created_at_utc}"`).
pub fn candidate_id_for(run_id: &str, signal_name: &str, horizon: i64, created_at_utc: &str) -> String {
    let digest = Sha256::digest(format!("{run_id}|{signal_name}|{horizon}|{created_at_utc}").as_bytes());
    let hex = hex::encode(digest);
    format!("prom_{}", hex.get(..16).unwrap_or(&hex))
}

/// The payload of a candidate's `created` event (canonical JSON).
pub fn created_payload(created_at_utc: &str) -> String {
    to_canonical_string(&serde_json::json!({ "created_at_utc": created_at_utc }))
}

/// Check that `status` is one of [`VALID_STATUSES`].
pub fn validate_status(status: &str) -> Result<()> {
    Status::parse("status", status).map(|_| ())
}

/// The analyzer's message when update_status is asked for candidate/accepted.
pub const PROMOTE_WITH_REPORT_MSG: &str =
    "Use promote_to_candidate() or promote_to_accepted() with an eligibility report for status candidate/accepted";

/// [`PROMOTE_WITH_REPORT_MSG`] as InvalidInput for status candidate/accepted.
pub fn refuse_promotion_status(status: &str) -> Result<()> {
    if Status::from_name(status).is_some_and(Status::needs_eligibility) {
        return Err(Error::invalid(PROMOTE_WITH_REPORT_MSG));
    }
    Ok(())
}

/// Lexically normalise an absolute path (drop `.`, resolve `..`); relative paths are first made
/// absolute against the current directory.
pub fn normalize_path(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for comp in abs.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Turn absolute paths under `base` into relative ones (forward slashes), recursively.
/// Returns the new value and whether any path was relativized.
pub fn relativize_evidence(v: &Value, base: &Path) -> (Value, bool) {
    let base = normalize_path(base);
    let canonical_base = base.canonicalize().ok();
    let mut changed = false;
    let out = relativize_value(v, &base, canonical_base.as_deref(), &mut changed);
    (out, changed)
}

fn relativize_value(v: &Value, base: &Path, canonical_base: Option<&Path>, changed: &mut bool) -> Value {
    match v {
        Value::String(s) => match relative_under(s, base, canonical_base) {
            Some(rel) => {
                *changed = true;
                Value::String(rel)
            }
            None => v.clone(),
        },
        Value::Array(items) => {
            Value::Array(items.iter().map(|x| relativize_value(x, base, canonical_base, changed)).collect())
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, x) in map {
                let val = if k == "evidence_base_path" {
                    x.clone()
                } else {
                    relativize_value(x, base, canonical_base, changed)
                };
                out.insert(k.clone(), val);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn relative_under(s: &str, base: &Path, canonical_base: Option<&Path>) -> Option<String> {
    let p = Path::new(s);
    if !p.is_absolute() {
        return None;
    }
    let norm = normalize_path(p);
    let rel = match norm.strip_prefix(base) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => {
            // Same file through a symlinked folder (e.g. /tmp vs /private/tmp).
            let cb = canonical_base?;
            let cp = norm.canonicalize().ok()?;
            cp.strip_prefix(cb).ok()?.to_path_buf()
        }
    };
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.is_empty() {
        Some(".".to_string())
    } else {
        Some(parts.join("/"))
    }
}

/// The evidence as it is stored: relativized under `base` (recording the base), canonical text.
/// None stays None (NULL column).
pub fn evidence_to_json(evidence: Option<&Value>, base: Option<&Path>) -> Result<Option<String>> {
    let Some(ev) = evidence else { return Ok(None) };
    if ev.is_null() {
        return Ok(None);
    }
    if !ev.is_object() {
        return Err(Error::invalid("evidence must be a dict (JSON object) or None"));
    }
    let stored = match base {
        Some(base) => {
            let (mut rel, changed) = relativize_evidence(ev, base);
            if changed {
                if let Value::Object(ref mut map) = rel {
                    let abs = normalize_path(base).to_string_lossy().into_owned();
                    map.insert("evidence_base_path".to_string(), Value::String(abs));
                }
            }
            rel
        }
        None => ev.clone(),
    };
    Ok(Some(to_canonical_string(&stored)))
}

/// The payload of a `status_change` event, the same on both stores: old and new status, the time,
/// the eligibility report a promotion rests on, and the caller's reason when one was given.
pub fn status_change_payload(
    old_status: &str,
    new_status: &str,
    ts: &str,
    eligibility_report_id: Option<&str>,
    reason: Option<&str>,
) -> Value {
    let mut payload = Map::new();
    payload.insert("new_status".into(), Value::String(new_status.to_string()));
    payload.insert("old_status".into(), Value::String(old_status.to_string()));
    payload.insert("ts_utc".into(), Value::String(ts.to_string()));
    if let Some(rid) = eligibility_report_id {
        payload.insert("eligibility_report_id".into(), Value::String(rid.to_string()));
    }
    if let Some(r) = reason.filter(|r| !r.is_empty()) {
        payload.insert("reason".into(), Value::String(r.to_string()));
    }
    Value::Object(payload)
}

/// An event payload as stored: canonical JSON, or None (SQL NULL) for no payload, null, `{}`
/// or `[]`.
pub fn payload_to_json(payload: Option<&Value>) -> Option<String> {
    match payload {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(v) => Some(to_canonical_string(v)),
    }
}

/// The refusal of a new candidate whose id is already used.
pub fn candidate_id_taken(candidate_id: &str) -> Error {
    Error::invalid(format!("candidate_id already exists: {candidate_id}"))
}

/// The refusal of a new eligibility report whose id is already used.
pub fn report_id_taken(report_id: &str) -> Error {
    Error::invalid(format!("eligibility_report_id already exists: {report_id}"))
}

/// The refusal of an operation on an unknown candidate id.
pub fn not_found(candidate_id: &str) -> Error {
    Error::invalid(format!("candidate_id not found: {candidate_id}"))
}

/// c79684b's trigger message: candidate/accepted need a passed report of that level.
pub const ELIGIBILITY_REQUIRED_MSG: &str =
    "eligibility_report_id required for candidate/accepted; use promote_to_candidate/promote_to_accepted";

/// PostgreSQL's refusal of a candidate created at candidate/accepted (the same text as the
/// database function registry_create_candidate raises, migrations/postgresql/014).
pub const CREATE_PROMOTED_MSG: &str =
    "a candidate is created exploratory and promoted one rung at a time (promote_to_candidate, then promote_to_accepted)";

/// c79684b's message when migration 011 is missing.
pub const GOVERNANCE_TABLE_REQUIRED_MSG: &str = "governance_events table not found; run Phase 3 migrations 011+";

/// Raised (RuntimeError) when migration 8 has not run. The analyzer's text.
pub const ELIGIBILITY_TABLE_REQUIRED_MSG: &str = "eligibility_reports table not found; run Phase 3 migrations 008+";

/// An unknown level is an error naming the three.
pub fn validate_level(level: &str) -> Result<()> {
    crate::status::Status::parse_level(level).map(|_| ())
}

/// The refusal of an evaluation whose candidate changed status after the evaluation read it (the
/// same error, and text, on every dialect).
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

/// The report `report_id` as a promotion reads it: the candidate it was computed for, its level
/// and whether it passed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportLink {
    /// The candidate the report was computed for.
    pub candidate_id: String,
    /// Its level (candidate or accepted).
    pub level: String,
    /// Whether it passed.
    pub passed: bool,
}

/// Check that report `report_id` (`found`: its row, None when there is none) may promote
/// `candidate_id` to `level`: one clear message for each reason (the triggers refuse the same
/// with one message).
pub fn check_report_link(candidate_id: &str, level: &str, report_id: &str, found: Option<ReportLink>) -> Result<()> {
    let Some(found) = found else {
        return Err(Error::invalid(format!("eligibility report not found: {report_id}")));
    };
    if found.candidate_id != candidate_id {
        return Err(Error::invalid(format!(
            "eligibility report {report_id} was computed for candidate {}, not {candidate_id}; \
             a report promotes only the candidate it was computed for",
            found.candidate_id
        )));
    }
    if !found.passed {
        return Err(Error::invalid(format!("eligibility report {report_id} did not pass; cannot promote to {level}")));
    }
    if found.level != level {
        return Err(Error::invalid(format!(
            "eligibility report {report_id} is for level {}, not {level}; cannot promote to {level}",
            found.level
        )));
    }
    Ok(())
}

/// The event types of the acceptance flow (separation of duties): a researcher's request, an
/// approver's answer.
pub const ACCEPTANCE_REQUESTED: &str = "acceptance_requested";
/// An approver took the requested step to accepted.
pub const ACCEPTANCE_APPROVED: &str = "acceptance_approved";
/// An approver turned the request down (the candidate becomes rejected).
pub const ACCEPTANCE_REJECTED: &str = "acceptance_rejected";

/// The payload of an acceptance event (the same text PostgreSQL's registry_acceptance_payload
/// builds): the report, the reason when one was given, the request answered.
pub fn acceptance_payload(eligibility_report_id: &str, reason: Option<&str>, request_event_id: Option<i64>) -> Value {
    let mut payload = Map::new();
    payload.insert("eligibility_report_id".into(), Value::String(eligibility_report_id.to_string()));
    if let Some(r) = reason.filter(|r| !r.is_empty()) {
        payload.insert("reason".into(), Value::String(r.to_string()));
    }
    if let Some(id) = request_event_id {
        payload.insert("request_event_id".into(), Value::from(id));
    }
    Value::Object(payload)
}

/// A step that is not one rung (the text of PostgreSQL's refusal CA004).
pub fn not_one_rung(level: &str, candidate_id: &str, old_status: &str) -> Error {
    let from = if level == "candidate" { "exploratory" } else { "candidate" };
    Error::invalid(format!(
        "one rung per change: {level} only from {from}, and candidate {candidate_id} is {old_status}"
    ))
}

/// A second request while one is open.
pub fn open_request_exists(candidate_id: &str, event_id: i64) -> Error {
    Error::invalid(format!("candidate {candidate_id} already has an open acceptance request (event {event_id})"))
}

/// An answer without a request.
pub fn no_open_request(candidate_id: &str) -> Error {
    Error::invalid(format!("candidate {candidate_id} has no open acceptance request (request_acceptance first)"))
}

/// A rejection without a reason.
pub const REJECT_NEEDS_REASON_MSG: &str = "rejecting an acceptance request needs a reason";
