//! evaluate_and_record: load the candidate and its evidence, run the gate and (for a target of
//! candidate/accepted) the eligibility gate, then write everything in one transaction.
//!
//! Each call writes at most its target, as in the analyzer: the status becomes the target
//! (`candidate` or `accepted`) only when the gate accepts AND the eligibility report at that level
//! passes; the report is then stored and linked, the status changed and the `evaluated` event
//! written together. A failed eligibility writes nothing (as in the analyzer) and returns
//! "rejected" with the blockers. For target exploratory a passing gate leaves the candidate
//! exploratory; a failing one rejects it. The analyzer's CLI and page pick the next rung from the
//! current status; the target itself is not restricted here (the analyzer's own tests evaluate
//! straight from exploratory to accepted).
//!
//! Evidence paths in the candidate's evidence_json are resolved against `evidence_base_path`
//! (default: the current folder), then the current folder, then the absolute
//! `evidence_base_path` the store kept in evidence_json, so the same call works from any folder.
//! A relative path climbing out of its base (`../../etc/passwd`) is refused and never read.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use sha2::{Digest, Sha256};

use crate::eligibility::{self, json_dumps_str_list, BundleView};
use crate::error::Result;
use crate::evidence::{self, escapes_base, ExecutionEvidence, RegimeSummary, ValidationBundle};
use crate::gating::{self, GateInputs, Input, PromotionDecision, ThresholdConfig};
use crate::status::Status;
use crate::store::rules::{is_status_changed, now_utc_iso, status_changed};
use crate::store::{with_backend, Backend, Candidate, EligibilityRow, Rung};
use crate::val::Val;

/// The reason of the `rejected` decision when the bundle cannot be loaded (the analyzer's text).
pub const BUNDLE_LOAD_REASON: &str = "could not load ValidationBundle from path";

/// Evidence keys copied into the event's `artifact_pointers` when set.
const POINTER_KEYS: [&str; 5] = [
    "rc_summary_path",
    "ic_summary_by_regime_path",
    "ic_decay_by_regime_path",
    "regime_coverage_path",
    "execution_evidence_path",
];

/// The bundle argument of evaluate_and_record.
#[derive(Clone, Debug)]
pub enum BundleArg {
    /// A path to the bundle JSON, as the caller gave it.
    Path(String),
    /// The bundle's attributes (an object or dict on the Python side).
    Fields(Val),
    /// None given: use `bundle_path` / `validation_bundle_path` from evidence_json.
    FromEvidence,
}

/// One call of `evaluate_and_record`: which candidate, against which thresholds and evidence,
/// aiming at which status.
#[derive(Clone, Debug)]
pub struct EvaluateRequest {
    /// The stored candidate to evaluate.
    pub candidate_id: String,
    /// The gate's thresholds.
    pub thresholds: ThresholdConfig,
    /// The validation bundle (a path, its fields, or the one named in the evidence).
    pub bundle: BundleArg,
    /// The regime summary given by the caller (or to be loaded from the evidence).
    pub regime_summary: Input<RegimeSummary>,
    /// The Reality Check summary given by the caller (or to be loaded from the evidence).
    pub rc_summary: Input<Val>,
    /// Where relative evidence paths are looked up first.
    pub evidence_base_path: Option<PathBuf>,
    /// The status the evaluation aims for.
    pub target_status: Status,
    /// Whether a move to candidate/accepted may go ahead without execution evidence.
    pub allow_missing_execution_evidence: bool,
    /// Execution evidence already resolved by the caller (None: load `execution_evidence_path`
    /// from evidence_json).
    pub execution_evidence: Option<Input<ExecutionEvidence>>,
    /// The status the caller chose `target_status` from (the CLI and the page: the next rung
    /// from the status they read). When the stored status is another one, by the read or by the
    /// write, the call is refused and nothing is written. None: the status the service reads.
    pub expected_status: Option<String>,
}

/// The evidence of a candidate, loaded (the analyzer's `resolve_evidence`).
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The bundle, or why it could not be loaded.
    pub bundle: std::result::Result<ValidationBundle, String>,
    /// The regime summary (given, loaded, or absent).
    pub regime_summary: Input<RegimeSummary>,
    /// The Reality Check summary (given, loaded, or absent).
    pub rc_summary: Input<Val>,
    /// The execution evidence (given, loaded, or absent).
    pub execution_evidence: Input<ExecutionEvidence>,
}

/// Load the bundle and the evidence files named in `evidence` (the candidate's evidence_json),
/// relative paths looked up under `base`, the current folder, then the base kept in evidence.
pub fn resolve_evidence(evidence: &Val, base: Option<&Path>, bundle: &BundleArg) -> Resolved {
    let bases = bases(base, evidence);
    Resolved {
        bundle: load_bundle(bundle, evidence, &bases),
        regime_summary: load_from_evidence(
            evidence,
            "ic_summary_by_regime_path",
            &bases,
            evidence::load_regime_summary,
        ),
        rc_summary: load_from_evidence(evidence, "rc_summary_path", &bases, evidence::load_rc_summary),
        execution_evidence: load_from_evidence(
            evidence,
            "execution_evidence_path",
            &bases,
            evidence::load_execution_evidence,
        ),
    }
}

/// The folders relative evidence paths are looked up in, in order: the caller's base, the
/// current folder (the analyzer's order), then the base the store kept.
fn bases(req_base: Option<&Path>, evidence: &Val) -> Vec<PathBuf> {
    let mut out = vec![req_base.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))];
    let cwd = PathBuf::from(".");
    if !out.contains(&cwd) {
        out.push(cwd);
    }
    if let Some(stored) = evidence.get("evidence_base_path").and_then(Val::as_str) {
        let stored = PathBuf::from(stored);
        if !stored.as_os_str().is_empty() && !out.contains(&stored) {
            out.push(stored);
        }
    }
    out
}

fn evidence_str<'a>(evidence: &'a Val, key: &str) -> Option<&'a str> {
    evidence.get(key).and_then(Val::as_str).filter(|s| !s.trim().is_empty())
}

/// Load an optional input named by `key` in evidence_json.
fn load_from_evidence<T>(
    evidence: &Val,
    key: &str,
    bases: &[PathBuf],
    load: impl Fn(&Path) -> std::result::Result<T, String>,
) -> Input<T> {
    let Some(raw) = evidence_str(evidence, key) else { return Input::NotProvided };
    match evidence::resolve_evidence_path(key, raw, bases) {
        Err(msg) => Input::Unusable(msg),
        Ok(path) => match load(&path) {
            Ok(v) => Input::Provided(v),
            Err(msg) => Input::Unusable(msg),
        },
    }
}

/// The bundle, or the detail of why it could not be loaded: the one bundle-load rule of the
/// service and the gate. A path is resolved by [`resolve_bundle_path`] (with no `bases`, as the
/// gate has none, it is used as given); fields are read leniently; `FromEvidence` takes
/// `bundle_path` / `validation_bundle_path` from `evidence`. [`bundle_rejection`] is the
/// decision for the `Err` case.
pub fn load_bundle(
    arg: &BundleArg,
    evidence: &Val,
    bases: &[PathBuf],
) -> std::result::Result<ValidationBundle, String> {
    match arg {
        BundleArg::Fields(v) => ValidationBundle::from_val_lenient(v).map_err(|e| e.to_string()),
        BundleArg::Path(raw) => {
            let path = resolve_bundle_path(raw, bases)?;
            ValidationBundle::load(&path).map_err(|e| e.to_string())
        }
        BundleArg::FromEvidence => {
            let key = ["bundle_path", "validation_bundle_path"]
                .into_iter()
                .find(|k| evidence_str(evidence, k).is_some())
                .ok_or_else(|| "no bundle given and evidence_json has no bundle_path".to_string())?;
            let raw = evidence_str(evidence, key).unwrap_or_default();
            let path = evidence::resolve_evidence_path(key, raw, bases)?;
            ValidationBundle::load(&path).map_err(|e| e.to_string())
        }
    }
}

/// The decision when the bundle cannot be loaded: "rejected" with [`BUNDLE_LOAD_REASON`] and the
/// detail as a warning (nothing is recorded).
pub fn bundle_rejection(detail: String) -> PromotionDecision {
    let mut d = PromotionDecision::rejected(BUNDLE_LOAD_REASON);
    d.warnings.push(detail);
    d
}

/// Where a bundle path given by the caller is read: absolute as given; relative under the first
/// base where it exists, else as given (current folder). `Err` when a relative path climbs out
/// of its bases (with no bases, as for the gate called on a path, it is used as given).
pub fn resolve_bundle_path(raw: &str, bases: &[PathBuf]) -> std::result::Result<PathBuf, String> {
    let p = Path::new(raw);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    if !bases.is_empty() && escapes_base(p) {
        // Callers such as the CLI pass the bundle_path stored in evidence_json: the same rule as
        // for every evidence path. An absolute path is used as given.
        return Err(format!(
            "bundle path {} climbs out of evidence_base_path; refused (not read); pass an absolute path to use a file outside it",
            Value::String(raw.to_string())
        ));
    }
    Ok(bases.iter().map(|b| b.join(p)).find(|c| c.exists()).unwrap_or_else(|| p.to_path_buf()))
}

/// One `*_path` entry of a candidate's evidence_json and the file evaluation reads for it.
#[derive(Clone, Debug, PartialEq)]
pub struct EvidenceFile {
    /// The evidence key (e.g. `rc_summary_path`).
    pub key: String,
    /// The path as stored.
    pub path: String,
    /// The file read, or why none is (a relative path climbing out of its base).
    pub resolved: std::result::Result<PathBuf, String>,
    /// Whether `resolved` is an existing file.
    pub exists: bool,
}

/// Every `*_path` entry of `evidence` (but `evidence_base_path`), sorted by key, resolved as
/// [`evaluate_and_record`] resolves it for the bundle path the CLI and the page pass (the
/// `bundle_path` / `validation_bundle_path` keys) and `evidence_base_path` = `base`: what `show`
/// and the page display is the file evaluation reads.
pub fn evidence_files(evidence: &Val, base: Option<&Path>) -> Vec<EvidenceFile> {
    let bases = bases(base, evidence);
    let mut keys: Vec<&str> = match evidence.as_map() {
        Some(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
        None => Vec::new(),
    };
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter(|k| k.ends_with("_path") && *k != "evidence_base_path")
        .filter_map(|key| {
            let raw = evidence_str(evidence, key)?;
            let resolved = if matches!(key, "bundle_path" | "validation_bundle_path") {
                resolve_bundle_path(raw, &bases)
            } else {
                evidence::resolve_evidence_path(key, raw, &bases)
            };
            let exists = resolved.as_ref().is_ok_and(|p| p.is_file());
            Some(EvidenceFile { key: key.to_string(), path: raw.to_string(), resolved, exists })
        })
        .collect()
}

/// The base under which the execution evidence's relative capacity_curve_path exists (the first
/// base when none has it, so the gate reports it missing there).
fn capacity_base(ev: &Input<ExecutionEvidence>, bases: &[PathBuf]) -> Option<PathBuf> {
    let first = bases.first().cloned();
    let Input::Provided(ev) = ev else { return first };
    let Some(cap) = ev.capacity_curve_path.as_str().map(str::trim) else { return first };
    let rel = Path::new(cap);
    if cap.is_empty() || rel.is_absolute() || escapes_base(rel) {
        return first;
    }
    bases.iter().find(|b| b.join(rel).is_file()).cloned().or(first)
}

fn artifact_pointers(arg: &BundleArg, evidence: &Val) -> Value {
    let mut out = Map::new();
    let bundle_ptr = match arg {
        BundleArg::Path(p) => Some(p.clone()),
        _ => evidence_str(evidence, "bundle_path")
            .or_else(|| evidence_str(evidence, "validation_bundle_path"))
            .map(str::to_string),
    };
    if let Some(p) = bundle_ptr {
        out.insert("bundle_path".into(), Value::String(p));
    }
    for key in POINTER_KEYS {
        if let Some(v) = evidence.get(key) {
            let truthy = match v {
                Val::Null | Val::Bool(false) => false,
                Val::Text(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                out.insert(key.into(), v.to_json());
            }
        }
    }
    Value::Object(out)
}

/// What evaluate_and_record writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// Nothing (unknown id, unreadable bundle, failed eligibility).
    Nothing,
    /// Status exploratory/rejected and the `evaluated` event.
    Status {
        /// The new status.
        status: String,
        /// The `evaluated` event's payload.
        payload: Value,
    },
    /// A passed eligibility report, the promotion to its level (`status_change`), and the
    /// `evaluated` event.
    Promotion {
        /// The passed report, stored and linked.
        report: Box<EligibilityRow>,
        /// The `status_change` event's reason.
        reason: Option<String>,
        /// The `evaluated` event's payload.
        payload: Value,
    },
}

/// The analyzer's report id: `elig_` + 16 hex of sha256(candidate_id + level + computed_at_utc).
pub fn eligibility_report_id(candidate_id: &str, level: &str, computed_at_utc: &str) -> String {
    let hex = hex::encode(Sha256::digest(format!("{candidate_id}{level}{computed_at_utc}").as_bytes()));
    format!("elig_{}", hex.get(..16).unwrap_or(&hex))
}

/// What evaluate_and_record decides and would record, without touching the database.
pub fn decide(candidate: Option<&Candidate>, req: &EvaluateRequest) -> (PromotionDecision, Record) {
    let Some(row) = candidate else {
        return (PromotionDecision::rejected(format!("candidate_id not found: {}", req.candidate_id)), Record::Nothing);
    };
    let mut warnings = Vec::new();
    let evidence = match row.evidence_json.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Val::Map(Vec::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => Val::from_json(&v),
            Ok(_) | Err(_) => {
                warnings.push("evidence_json of the candidate is not a JSON object; ignored".to_string());
                Val::Map(Vec::new())
            }
        },
    };
    let bases = bases(req.evidence_base_path.as_deref(), &evidence);

    let bundle = match load_bundle(&req.bundle, &evidence, &bases) {
        Ok(b) => b,
        Err(detail) => return (bundle_rejection(detail), Record::Nothing),
    };
    let regime_summary = match &req.regime_summary {
        Input::NotProvided => {
            load_from_evidence(&evidence, "ic_summary_by_regime_path", &bases, evidence::load_regime_summary)
        }
        given => given.clone(),
    };
    let rc_summary = match &req.rc_summary {
        Input::NotProvided => load_from_evidence(&evidence, "rc_summary_path", &bases, evidence::load_rc_summary),
        given => given.clone(),
    };
    let execution_evidence = match &req.execution_evidence {
        Some(given) => given.clone(),
        None => load_from_evidence(&evidence, "execution_evidence_path", &bases, evidence::load_execution_evidence),
    };

    let mut thresholds = req.thresholds.clone();
    if row.family_id.as_deref().map(str::trim).is_some_and(|f| !f.is_empty()) {
        thresholds.require_reality_check = true;
    }
    let exec_base = capacity_base(&execution_evidence, &bases);
    let rc_for_eligibility = match &rc_summary {
        Input::Provided(v) => Some(v.clone()),
        _ => None,
    };
    let inputs = GateInputs {
        ic_summary: bundle.first_horizon_summary(),
        meta: bundle.meta.clone(),
        regime_summary,
        rc_summary,
        execution_evidence,
    };
    let mut decision = gating::evaluate_candidate(
        &inputs,
        &thresholds,
        req.target_status,
        req.allow_missing_execution_evidence,
        exec_base.as_deref(),
    );
    warnings.append(&mut decision.warnings);
    decision.warnings = warnings;

    let mut thresholds_used = thresholds.to_json_map();
    thresholds_used
        .insert("allow_missing_execution_evidence".into(), Value::Bool(req.allow_missing_execution_evidence));
    let mut payload = Map::new();
    payload.insert("status".into(), Value::String(decision.status.clone()));
    payload.insert("reasons".into(), Value::from(decision.reasons.clone()));
    payload.insert("metrics_snapshot".into(), decision.metrics_snapshot_json());
    payload.insert("thresholds_used".into(), Value::Object(thresholds_used));
    payload.insert("artifact_pointers".into(), artifact_pointers(&req.bundle, &evidence));
    if !decision.warnings.is_empty() {
        payload.insert("warnings".into(), Value::from(decision.warnings.clone()));
    }
    let payload = Value::Object(payload);
    let reason = (!decision.reasons.is_empty()).then(|| decision.reasons.join("; "));
    let target = req.target_status.as_str();
    if req.target_status.needs_eligibility() && decision.status == "accepted" {
        let view = BundleView::from_bundle(&bundle);
        let report = match eligibility::evaluate_eligibility(&view, target, rc_for_eligibility.as_ref()) {
            Ok(r) => r,
            Err(e) => return (PromotionDecision::rejected(e.to_string()), Record::Nothing),
        };
        if !report.passed {
            let d = PromotionDecision {
                status: "rejected".into(),
                reasons: report.blockers,
                metrics_snapshot: decision.metrics_snapshot,
                warnings: report.warnings,
            };
            return (d, Record::Nothing);
        }
        let computed_at = now_utc_iso();
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let row = EligibilityRow {
            eligibility_report_id: eligibility_report_id(&req.candidate_id, target, &computed_at),
            candidate_id: req.candidate_id.clone(),
            level: target.to_string(),
            passed: true,
            blockers_json: json_dumps_str_list(&report.blockers),
            warnings_json: json_dumps_str_list(&report.warnings),
            computed_at_utc: computed_at,
            run_key: opt(&report.run_key),
            run_instance_id: opt(&report.run_instance_id),
            dataset_id_v2: opt(&report.dataset_id_v2),
            engine_version: opt(&report.engine_version),
            config_version: opt(&report.config_version),
        };
        return (decision, Record::Promotion { report: Box::new(row), reason, payload });
    }
    let status = if decision.status == "rejected" { "rejected" } else { "exploratory" };
    (decision, Record::Status { status: status.to_string(), payload })
}

/// How many times [`evaluate_and_record`] evaluates again when the candidate's status changed
/// between its read and its write and the caller gave no `expected_status`.
pub const MAX_EVALUATIONS: u32 = 4;

/// Evaluate a stored candidate and record the decision, on either backend (a SQLite file or a
/// PostgreSQL server). Unknown id or unreadable bundle: a "rejected" decision and nothing written.
///
/// The decision is taken from the candidate as read (evidence files are read outside any lock or
/// transaction); the write ([`RegistryStore::record_rung`](crate::store::RegistryStore)) then
/// locks the candidate and refuses, writing nothing, if another writer changed its status in
/// between: each evaluation moves at most one rung from the status it saw. With
/// `expected_status` (the status the caller chose the target from) that refusal is returned;
/// without, the candidate is read and evaluated again (at most [`MAX_EVALUATIONS`] times).
pub fn evaluate_and_record(db: &Backend, req: &EvaluateRequest) -> Result<PromotionDecision> {
    let mut attempt = 1;
    loop {
        match evaluate_once(db, req) {
            Err(e) if req.expected_status.is_none() && is_status_changed(&e) && attempt < MAX_EVALUATIONS => {
                attempt += 1;
            }
            out => return out,
        }
    }
}

fn evaluate_once(db: &Backend, req: &EvaluateRequest) -> Result<PromotionDecision> {
    let candidate = with_backend(db, |s| {
        s.require_promotion_tables()?;
        s.get_candidate(&req.candidate_id)
    })?;
    if let (Some(row), Some(expected)) = (&candidate, &req.expected_status) {
        if &row.status != expected {
            return Err(status_changed(&req.candidate_id, expected, &row.status));
        }
    }
    let (decision, record) = decide(candidate.as_ref(), req);
    let Some(row) = candidate else { return Ok(decision) };
    let rung = |new_status: &str, report: Option<&EligibilityRow>, reason: Option<&str>, payload: &Value| {
        let rung = Rung {
            candidate_id: &req.candidate_id,
            expected_status: &row.status,
            new_status,
            report,
            reason,
            evaluated: payload,
        };
        with_backend(db, |s| s.record_rung(&rung))
    };
    match record {
        Record::Nothing => {}
        Record::Status { status, payload } => rung(&status, None, None, &payload)?,
        Record::Promotion { report, reason, payload } => {
            rung(&report.level, Some(&report), reason.as_deref(), &payload)?
        }
    }
    Ok(decision)
}
