//! Eligibility governance: may this bundle be promoted to a level? (The analyzer's
//! `evaluate_eligibility` with its bundle contract, fold-causality attestation and RC/RW checks.)
//!
//! Exploratory is warn-only; candidate/accepted fail closed. Blockers and warnings are
//! byte-identical to the analyzer's, values printed as Python's `repr` / `str` print them. Where
//! the analyzer crashed or silently passed on a malformed value the report says so instead
//! (see [`Deviation`] notes in the function docs): a non-number n_sim, a p-value that is not a
//! number in [0,1], adjusted p-values that are not a mapping, a nested `meta` that is not a dict.

#![warn(missing_docs)]

use crate::error::Result;
use crate::pyfmt::{self, python_float_repr};
use crate::val::{map_get, Val};

/// Schema version of the validation bundle the gate requires (the analyzer's
/// `contracts.schema_versions`).
pub const VALIDATION_BUNDLE_SCHEMA_VERSION: i64 = 1;
/// Schema version of the Reality Check summary the gate requires.
pub const RC_SUMMARY_SCHEMA_VERSION: i64 = 1;
/// Schema version of the seed derivation the gate requires.
pub const SEED_DERIVATION_SCHEMA_VERSION: i64 = 1;
/// Schema version of the fold-causality attestation the gate requires.
pub const FOLD_CAUSALITY_ATTESTATION_SCHEMA_VERSION: i64 = 1;

/// Provenance keys the bundle contract requires for candidate/accepted.
pub const REQUIRED_PROVENANCE_KEYS: [&str; 6] =
    ["dataset_id_v2", "dataset_hash_algo", "dataset_hash_mode", "run_key", "engine_version", "config_version"];

/// Checks a fold-causality attestation must report as exactly `true`.
pub const REQUIRED_ENFORCEMENT_CHECKS: [&str; 4] =
    ["train_only_fit_enforced", "purge_applied", "embargo_applied", "no_future_rows_in_fit"];

/// What the gate reads of a bundle.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BundleView {
    /// `bundle.meta` (a map; `Null` counts as `{}`).
    pub meta: Val,
    /// `bundle.run_id` (`Null` when the object has none).
    pub run_id: Val,
    /// Attributes of the bundle object used when meta lacks the key (dataset_id_v2,
    /// dataset_hash_algo, dataset_hash_mode, run_key, engine_version, config_version,
    /// research_spec_version); usually empty.
    pub attrs: Vec<(String, Val)>,
}

/// Result of [`evaluate_eligibility`].
#[derive(Clone, Debug, PartialEq)]
pub struct EligibilityReport {
    /// Whether the bundle may be promoted to `level` (no blockers).
    pub passed: bool,
    /// The level evaluated: exploratory, candidate or accepted.
    pub level: String,
    /// Why it may not (the analyzer's texts, in its order); empty when it passed.
    pub blockers: Vec<String>,
    /// Findings that do not block (at exploratory every finding is a warning).
    pub warnings: Vec<String>,
    /// The bundle's run key ("" when it has none).
    pub run_key: String,
    /// The bundle's run instance id ("" when it has none).
    pub run_instance_id: String,
    /// The bundle's dataset id v2 ("" when it has none).
    pub dataset_id_v2: String,
    /// The engine version the bundle was produced with ("" when it has none).
    pub engine_version: String,
    /// The configuration version the bundle was produced with ("" when it has none).
    pub config_version: String,
}

/// Python truthiness.
pub fn truthy(v: &Val) -> bool {
    match v {
        Val::Null => false,
        Val::Bool(b) => *b,
        Val::Int(i) => *i != 0,
        Val::Float(f) => *f != 0.0,
        Val::Text(s) => !s.is_empty(),
        Val::List(l) => !l.is_empty(),
        Val::Map(m) => !m.is_empty(),
    }
}

/// Python `v == n` for an int `n` (True == 1 and 1.0 == 1 in Python).
fn py_eq_int(v: &Val, n: i64) -> bool {
    match v {
        Val::Int(i) => *i == n,
        Val::Float(f) => *f == n as f64,
        Val::Bool(b) => i64::from(*b) == n,
        _ => false,
    }
}

/// Python's `repr(x)` of a JSON-like value (`None`, `True`, `'text'`, `[1, 2]`, `{'a': 1.0}`).
pub fn python_repr(v: &Val) -> String {
    match v {
        Val::Null => "None".into(),
        Val::Bool(true) => "True".into(),
        Val::Bool(false) => "False".into(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => python_float_repr(*f),
        Val::Text(s) => pyfmt::python_str_repr(s),
        Val::List(items) => format!("[{}]", items.iter().map(python_repr).collect::<Vec<_>>().join(", ")),
        Val::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, x)| format!("{}: {}", pyfmt::python_str_repr(k), python_repr(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `str(x)` (scalars as `python_str`, containers as their repr).
pub fn python_str(v: &Val) -> String {
    match v {
        Val::List(_) | Val::Map(_) => python_repr(v),
        other => other.python_str(),
    }
}

/// `val is not None and str(val).strip()`.
fn present(v: Option<&Val>) -> bool {
    match v {
        None | Some(Val::Null) => false,
        Some(x) => !python_str(x).trim().is_empty(),
    }
}

fn get<'a>(map: &'a Val, key: &str) -> Option<&'a Val> {
    map.get(key)
}

fn get_or_null<'a>(map: &'a Val, key: &str) -> &'a Val {
    static NULL: Val = Val::Null;
    map.get(key).unwrap_or(&NULL)
}

/// `meta.get(key) or getattr(bundle, key, None)`.
fn pick(view: &BundleView, key: &str) -> Val {
    match get(&view.meta, key) {
        Some(v) if truthy(v) => v.clone(),
        _ => map_get(&view.attrs, key).cloned().unwrap_or(Val::Null),
    }
}

/// The analyzer's bundle contract (`validate_bundle_for_level`) on the meta dict: (reasons,
/// warnings). A nested `meta` key is read as the analyzer does; one that is not a dict counts
/// as empty (the analyzer crashed there and skipped the whole contract).
fn bundle_contract(meta: &Val, level: &str) -> (Vec<String>, Vec<String>) {
    let empty = Val::Map(Vec::new());
    let meta = match get(meta, "meta") {
        Some(inner @ Val::Map(_)) => inner,
        Some(_) => &empty,
        None => meta,
    };
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    if level == "exploratory" {
        for key in REQUIRED_PROVENANCE_KEYS {
            if !present(get(meta, key)) {
                warnings.push(format!("exploratory: missing or empty '{key}' (required for candidate/accepted)"));
            }
        }
        if get(meta, "dataset_hash_mode").and_then(Val::as_str) != Some("STRICT") {
            warnings.push("exploratory: dataset_hash_mode is not STRICT (required for promotion)".into());
        }
        return (reasons, warnings);
    }
    let vb = get_or_null(meta, "validation_bundle_schema_version");
    if !py_eq_int(vb, VALIDATION_BUNDLE_SCHEMA_VERSION) {
        reasons.push(format!(
            "validation_bundle_schema_version must be {VALIDATION_BUNDLE_SCHEMA_VERSION} (got {})",
            python_repr(vb)
        ));
    }
    for key in REQUIRED_PROVENANCE_KEYS {
        if !present(get(meta, key)) {
            reasons.push(format!("missing or empty '{key}'"));
        }
    }
    if get(meta, "dataset_hash_algo").and_then(Val::as_str) != Some("sqlite_logical_v2") {
        reasons.push("dataset_hash_algo must be sqlite_logical_v2".into());
    }
    if get(meta, "dataset_hash_mode").and_then(Val::as_str) != Some("STRICT") {
        reasons.push("dataset_hash_mode must be STRICT for promotion".into());
    }
    match get(meta, "seed_version") {
        None | Some(Val::Null) => reasons.push("seed_version missing (required for candidate/accepted)".into()),
        Some(v) if !py_eq_int(v, SEED_DERIVATION_SCHEMA_VERSION) => {
            reasons.push(format!("seed_version must be {SEED_DERIVATION_SCHEMA_VERSION} (got {})", python_repr(v)))
        }
        Some(_) => {}
    }
    (reasons, warnings)
}

/// The fold-causality attestation's own checks (`validate_attestation`). A non-dict
/// `enforcement_checks` counts as empty (every check missing).
fn attestation_blockers(att: &Val) -> Vec<String> {
    let mut out = Vec::new();
    if !py_eq_int(
        get_or_null(att, "fold_causality_attestation_schema_version"),
        FOLD_CAUSALITY_ATTESTATION_SCHEMA_VERSION,
    ) {
        out.push(format!(
            "fold_causality_attestation_schema_version must be {FOLD_CAUSALITY_ATTESTATION_SCHEMA_VERSION}"
        ));
    }
    let checks = get_or_null(att, "enforcement_checks");
    for key in REQUIRED_ENFORCEMENT_CHECKS {
        if !matches!(checks.get(key), Some(Val::Bool(true))) {
            out.push(format!("enforcement_checks.{key} must be true"));
        }
    }
    out
}

/// `int(x)` of an n_sim value: Ok(None) when absent/None, Ok(Some(n)) for a finite number or a
/// bool, Err(message) for anything else (the analyzer crashed on those).
fn n_sim(rc: &Val, key: &str) -> std::result::Result<Option<i64>, String> {
    match get(rc, key) {
        None | Some(Val::Null) => Ok(None),
        Some(Val::Int(i)) => Ok(Some(*i)),
        Some(Val::Bool(b)) => Ok(Some(i64::from(*b))),
        Some(Val::Float(f)) if f.is_finite() => Ok(Some(f.trunc() as i64)),
        Some(other) => Err(format!("{key} must be a finite number (got {})", python_repr(other))),
    }
}

/// A Romano–Wolf adjusted p-value the gate accepts: a number (not a bool) in [0, 1].
fn valid_p(v: &Val) -> bool {
    match v {
        Val::Int(i) => (0..=1).contains(i),
        Val::Float(f) => (0.0..=1.0).contains(f),
        _ => false,
    }
}

fn rw_blockers(view: &BundleView, rc: &Val, actual: Option<i64>, blockers: &mut Vec<String>) {
    let meta = &view.meta;
    let rw_enabled = get(meta, "rw_enabled").is_some_and(truthy) || get(rc, "rw_enabled").is_some_and(truthy);
    if !rw_enabled {
        return;
    }
    let skipped = match get(meta, "rw_skipped_reason") {
        Some(v) if truthy(v) => v.clone(),
        _ => get_or_null(rc, "rw_skipped_reason").clone(),
    };
    let mut adj = get(meta, "rw_adjusted_p_values").filter(|v| !v.is_null()).cloned();
    if adj.is_none() {
        if let Some(v @ Val::Map(_)) = get(rc, "rw_adjusted_p_values") {
            adj = Some(v.clone());
        }
    }
    let hypothesis_ids: Option<Vec<String>> = match get(rc, "hypothesis_ids") {
        Some(Val::List(items)) => Some(items.iter().map(python_str).collect()),
        _ => None,
    };
    if truthy(&skipped) {
        blockers.push(format!("RW skipped: {}", python_str(&skipped)));
        return;
    }
    if actual == Some(0) {
        blockers.push("rw_enabled=True but no null simulations produced (actual_n_sim=0)".into());
        return;
    }
    let Some(adj) = adj else {
        blockers.push("rw_enabled=True but rw_adjusted_p_values missing".into());
        return;
    };
    let Val::Map(entries) = &adj else {
        blockers.push(format!(
            "rw_adjusted_p_values must be a mapping of hypothesis id to p-value (got {})",
            python_repr(&adj)
        ));
        return;
    };
    if let Some(ids) = &hypothesis_ids {
        if entries.len() != ids.len() {
            blockers.push(format!(
                "rw_adjusted_p_values length ({}) must match hypothesis count ({})",
                entries.len(),
                ids.len()
            ));
            return;
        }
        let keys: Vec<&String> = entries.iter().map(|(k, _)| k).collect();
        let key_set: std::collections::BTreeSet<&String> = keys.iter().copied().collect();
        let id_set: std::collections::BTreeSet<&String> = ids.iter().collect();
        if key_set != id_set {
            blockers.push("rw_adjusted_p_values keys must match hypothesis_ids".into());
            return;
        }
        if keys.iter().zip(ids.iter()).any(|(k, id)| *k != id) {
            blockers.push("rw_adjusted_p_values key order must match hypothesis_ids".into());
            return;
        }
    }
    if entries.iter().any(|(_, v)| !valid_p(v)) {
        blockers.push("rw_adjusted_p_values must be in [0,1] and finite".into());
    }
}

/// Eligibility of `bundle` for `level` ("exploratory", "candidate", "accepted"; anything else is
/// an error). `rc_summary` is the RC/RW summary map (`None` = `{}`).
pub fn evaluate_eligibility(view: &BundleView, level: &str, rc_summary: Option<&Val>) -> Result<EligibilityReport> {
    crate::status::Status::parse_level(level)?;
    let empty = Val::Map(Vec::new());
    let rc = rc_summary.unwrap_or(&empty);
    let meta = &view.meta;
    let dataset_id_v2 = pick(view, "dataset_id_v2");
    let hash_algo = pick(view, "dataset_hash_algo");
    let hash_mode = pick(view, "dataset_hash_mode");
    let run_key = pick(view, "run_key");
    let engine_version = pick(view, "engine_version");
    let config_version = pick(view, "config_version");
    let research_spec_version = pick(view, "research_spec_version");
    let run_instance_id = if truthy(&view.run_id) { view.run_id.clone() } else { get_or_null(meta, "run_id").clone() };
    let text_or_empty = |v: &Val| if truthy(v) { python_str(v) } else { String::new() };
    let mut blockers: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    if level == "exploratory" {
        if !truthy(&dataset_id_v2) {
            warnings.push("dataset_id_v2 missing (required for candidate/accepted)".into());
        }
        if !truthy(&run_key) {
            warnings.push("run_key missing (required for candidate/accepted)".into());
        }
        warnings.extend(bundle_contract(meta, level).1);
    } else {
        let walk_forward = get(meta, "walk_forward_used").is_some_and(truthy)
            || get(meta, "fold_causality_attestation_path").is_some_and(truthy);
        if walk_forward {
            let ver = get_or_null(meta, "fold_causality_attestation_schema_version");
            if !py_eq_int(ver, FOLD_CAUSALITY_ATTESTATION_SCHEMA_VERSION) {
                blockers.push(format!(
                    "fold_causality_attestation_schema_version must be {FOLD_CAUSALITY_ATTESTATION_SCHEMA_VERSION} (got {})",
                    python_repr(ver)
                ));
            }
            match get(meta, "fold_causality_attestation") {
                Some(att @ Val::Map(_)) => blockers.extend(attestation_blockers(att)),
                _ => blockers
                    .push("fold_causality_attestation missing or not a dict (required when walk-forward used)".into()),
            }
        }
        if truthy(rc) {
            let ver = get_or_null(rc, "rc_summary_schema_version");
            if !py_eq_int(ver, RC_SUMMARY_SCHEMA_VERSION) {
                blockers.push(format!(
                    "rc_summary_schema_version must be {RC_SUMMARY_SCHEMA_VERSION} (got {})",
                    python_repr(ver)
                ));
            }
        }
        let filled = |v: &Val| truthy(v) && !python_str(v).trim().is_empty();
        if !filled(&dataset_id_v2) {
            blockers.push("dataset_id_v2 missing".into());
        }
        if hash_algo.as_str() != Some("sqlite_logical_v2") {
            blockers.push(format!("dataset_hash_algo must be sqlite_logical_v2 (got {})", python_repr(&hash_algo)));
        }
        if hash_mode.as_str() != Some("STRICT") {
            blockers.push(format!("dataset_hash_mode must be STRICT for promotion (got {})", python_repr(&hash_mode)));
        }
        if !filled(&run_key) {
            blockers.push("run_key missing".into());
        }
        if !filled(&engine_version) {
            blockers.push("engine_version missing".into());
        }
        if config_version.is_null() {
            blockers.push("config_version missing".into());
        }
        if research_spec_version.is_null() && level == "accepted" {
            warnings.push("research_spec_version recommended for accepted".into());
        }
        let actual = n_sim(rc, "actual_n_sim");
        let requested = n_sim(rc, "requested_n_sim");
        for bad in [&actual, &requested].into_iter().filter_map(|r| r.as_ref().err()) {
            blockers.push(bad.clone());
        }
        let actual = actual.ok().flatten();
        if let (Some(req), Some(act)) = (requested.ok().flatten(), actual) {
            if req > 0 && (act as f64) < (req as f64) * 0.95 {
                blockers.push(format!(
                    "actual_n_sim ({act}) < 95% of requested_n_sim ({req}); promotion requires sufficient null simulations"
                ));
            }
        }
        rw_blockers(view, rc, actual, &mut blockers);
        let (reasons, contract_warnings) = bundle_contract(meta, level);
        blockers.extend(reasons);
        warnings.extend(contract_warnings);
    }
    Ok(EligibilityReport {
        passed: blockers.is_empty(),
        level: level.to_string(),
        blockers,
        warnings,
        run_key: text_or_empty(&run_key),
        run_instance_id: text_or_empty(&run_instance_id),
        dataset_id_v2: text_or_empty(&dataset_id_v2),
        engine_version: text_or_empty(&engine_version),
        config_version: text_or_empty(&config_version),
    })
}

/// Python's `json.dumps(list_of_str)` (default separators, ASCII escapes): how the analyzer
/// stores blockers_json / warnings_json.
pub fn json_dumps_str_list(items: &[String]) -> String {
    let parts: Vec<String> =
        items.iter().map(|s| crate::pyfmt::to_canonical_string(&serde_json::Value::String(s.clone()))).collect();
    format!("[{}]", parts.join(", "))
}

/// Bundle attributes read when `meta` lacks the key.
pub const ATTRIBUTE_FALLBACKS: [&str; 7] = [
    "dataset_id_v2",
    "dataset_hash_algo",
    "dataset_hash_mode",
    "run_key",
    "engine_version",
    "config_version",
    "research_spec_version",
];

impl BundleView {
    /// The view of a loaded bundle: its meta, run_id, and the fallback attributes kept in `extra`.
    pub fn from_bundle(b: &crate::evidence::ValidationBundle) -> BundleView {
        BundleView {
            meta: b.meta.clone(),
            run_id: b.run_id.clone(),
            attrs: b.extra.iter().filter(|(k, _)| ATTRIBUTE_FALLBACKS.contains(&k.as_str())).cloned().collect(),
        }
    }
}
