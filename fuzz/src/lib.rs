//! Bodies of the fuzz targets: each takes arbitrary bytes, drives one parser or entry point of the
//! core with them, and asserts what must hold for EVERY input. A panic here is a finding.
//!
//! Compiled twice: by the cargo-fuzz crate (`fuzz_targets/*.rs` wrap each body in
//! `fuzz_target!`) and by the main crate's `tests/reliability_fuzz.rs` (through `#[path]`), which
//! runs the same bodies over `fuzz/seeds/<target>/` and a seeded random loop in plain `cargo test`.
//! Only the main crate (no `python` feature), serde_json and tempfile are used here.

#![allow(clippy::missing_panics_doc)]

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use crypto_analyzer_promotion::evidence::{ExecutionEvidence, RegimeSummary, ValidationBundle};
use crypto_analyzer_promotion::gating::{evaluate_candidate, GateInputs, Input, ThresholdConfig};
use crypto_analyzer_promotion::pyfmt::{canonicalize, to_canonical_string};
use crypto_analyzer_promotion::store::rules as store;
use crypto_analyzer_promotion::store::sqlite::migrate;
use crypto_analyzer_promotion::store::sqlite::Store;
use crypto_analyzer_promotion::store::RegistryStore;
use crypto_analyzer_promotion::store::{CandidateFilter, NewCandidate};
use crypto_analyzer_promotion::val::{parse_json_allow_nan, Val};
use crypto_analyzer_promotion::{Error, Status};
use serde_json::Value;

/// Names of the targets, as in fuzz/Cargo.toml and fuzz/seeds/.
pub const TARGETS: [&str; 7] = [
    "json_canonical",
    "evidence_relativize",
    "store_roundtrip",
    "bundle_json",
    "evidence_files",
    "bootstrap_config",
    "cache_files",
];

/// Run the body of target `name` (unknown names are a bug of the caller).
pub fn run_target(name: &str, data: &[u8]) {
    match name {
        "json_canonical" => json_canonical(data),
        "evidence_relativize" => evidence_relativize(data),
        "store_roundtrip" => store_roundtrip(data),
        "bundle_json" => bundle_json(data),
        "evidence_files" => evidence_files(data),
        "bootstrap_config" => bootstrap_config(data),
        "cache_files" => cache_files(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

fn assert_sorted_keys(v: &Value) {
    match v {
        Value::Object(map) => {
            let keys: Vec<&String> = map.keys().collect();
            for pair in keys.windows(2) {
                assert!(pair[0].as_bytes() < pair[1].as_bytes(), "keys not sorted: {pair:?}");
            }
            map.values().for_each(assert_sorted_keys);
        }
        Value::Array(items) => items.iter().for_each(assert_sorted_keys),
        _ => {}
    }
}

/// Canonical JSON (evidence_json / payload_json): any document serde_json accepts is written as
/// ASCII JSON that parses again, has sorted keys, and is a fixed point of the canonicaliser.
pub fn json_canonical(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(v) = serde_json::from_str::<Value>(text) else { return };
    let c1 = to_canonical_string(&v);
    assert!(c1.is_ascii(), "canonical JSON must be ASCII (ensure_ascii)");
    let back: Value = match serde_json::from_str(&c1) {
        Ok(b) => b,
        Err(e) => panic!("canonical JSON does not parse: {e}: {c1}"),
    };
    assert_sorted_keys(&back);
    let c2 = to_canonical_string(&back);
    assert_eq!(c1, c2, "canonical JSON is not a fixed point");
    assert_eq!(to_canonical_string(&canonicalize(&v)), c1, "canonicalize() and the writer disagree");
    // Same shape: canonicalisation never drops or adds members.
    assert_eq!(shape(&v), shape(&back), "canonical JSON changed the shape");
}

fn shape(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<String> = map.iter().map(|(k, x)| format!("{k:?}:{}", shape(x))).collect();
            keys.sort();
            format!("{{{}}}", keys.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(shape).collect::<Vec<_>>().join(",")),
        // A float may become null (NaN cannot come from JSON text, but keep numbers together).
        Value::Number(_) | Value::Null => "n".to_string(),
        Value::Bool(_) => "b".to_string(),
        Value::String(_) => "s".to_string(),
    }
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|x| strings(x, out)),
        Value::Object(map) => map.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// Evidence as stored by create_candidate: first line = evidence_base_path (empty: none), the
/// rest = the evidence JSON. Non-objects are refused with InvalidInput; objects come out as
/// canonical JSON; a relativized path never climbs out of the base (`..`) and the base is kept.
pub fn evidence_relativize(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (base, json) = text.split_once('\n').unwrap_or(("", text));
    if base.contains('\0') {
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(json) else { return };
    let base_opt = if base.is_empty() { None } else { Some(Path::new(base)) };
    match store::evidence_to_json(Some(&v), base_opt) {
        Ok(None) => assert!(v.is_null(), "only null evidence is stored as NULL"),
        Ok(Some(stored)) => {
            assert!(v.is_object(), "only objects may be stored");
            let parsed: Value = match serde_json::from_str(&stored) {
                Ok(p) => p,
                Err(e) => panic!("stored evidence does not parse: {e}"),
            };
            let Value::Object(map) = &parsed else { panic!("stored evidence is not an object") };
            let mut before = Vec::new();
            strings(&v, &mut before);
            let mut after = Vec::new();
            strings(
                &Value::Object(
                    map.iter()
                        .filter(|(k, _)| *k != "evidence_base_path")
                        .map(|(k, x)| (k.clone(), x.clone()))
                        .collect(),
                ),
                &mut after,
            );
            let changed: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
            for s in &changed {
                assert!(!s.starts_with('/'), "a relativized path is still absolute: {s}");
                assert!(!s.split('/').any(|part| part == ".."), "a relativized path escapes its base: {s}");
            }
            if !changed.is_empty() {
                assert!(
                    matches!(map.get("evidence_base_path"), Some(Value::String(_))),
                    "relativized evidence must keep evidence_base_path"
                );
            }
            if base_opt.is_none() {
                assert_eq!(stored, to_canonical_string(&v), "without a base the evidence is only canonicalised");
            }
        }
        Err(Error::InvalidInput(_)) => assert!(!v.is_object() && !v.is_null(), "an object was refused"),
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

struct FuzzDb {
    _dir: tempfile::TempDir,
    store: Store,
}

fn fuzz_db() -> &'static Mutex<FuzzDb> {
    static DB: OnceLock<Mutex<FuzzDb>> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let db = dir.path().join("fuzz.db");
        if let Err(e) = migrate::run_migrations_phase3(&db, Some("fuzz")) {
            panic!("migrations: {e}");
        }
        let store = match Store::open(&db) {
            Ok(s) => s,
            Err(e) => panic!("open: {e}"),
        };
        Mutex::new(FuzzDb { _dir: dir, store })
    })
}

/// The store with hostile text in every field: the bytes are split on 0x1f into fields
/// (lossy UTF-8, so NUL, quotes, `'; DROP TABLE` and any code point reach SQLite). Every call
/// either succeeds or fails with InvalidInput (never a SQLite error, never a panic); what was
/// written reads back byte for byte; the event log grows by exactly one event per write.
pub fn store_roundtrip(data: &[u8]) {
    let fields: Vec<String> = data.split(|b| *b == 0x1f).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
    let horizon = data.iter().take(8).fold(0i64, |acc, b| acc.wrapping_mul(31).wrapping_add(i64::from(*b)));
    let mut new = NewCandidate::new(field(0), field(1), field(2), horizon, field(3), field(4));
    new.notes = fields.get(5).cloned();
    new.family_id = fields.get(6).cloned();
    // A given id (field 7) exercises the duplicate-id path when it repeats.
    new.candidate_id = fields.get(7).cloned();
    let status = field(8);
    if !status.is_empty() {
        new.status = status;
    }
    new.evidence = fields.get(9).and_then(|t| serde_json::from_str::<Value>(t).ok());

    let mut guard = fuzz_db().lock().unwrap_or_else(|p| p.into_inner());
    let s = &mut guard.store;
    let id = match s.create_candidate(&new) {
        Ok(id) => id,
        Err(Error::InvalidInput(msg)) => {
            let expected = msg.starts_with("unknown status")
                || msg.starts_with("candidate_id already exists")
                || msg.starts_with("evidence must be a dict")
                // status candidate/accepted needs a passed report of this candidate (c79684b).
                || msg.contains("eligibility_report_id required for candidate/accepted");
            assert!(expected, "unexpected InvalidInput: {msg}");
            return;
        }
        Err(other) => panic!("create_candidate failed with a non-input error: {other:?}"),
    };
    let row = match s.get_candidate(&id) {
        Ok(Some(r)) => r,
        other => panic!("created candidate not found: {other:?}"),
    };
    assert_eq!(row.dataset_id, new.dataset_id);
    assert_eq!(row.run_id, new.run_id);
    assert_eq!(row.signal_name, new.signal_name);
    assert_eq!(row.horizon, new.horizon);
    assert_eq!(row.config_hash, new.config_hash);
    assert_eq!(row.git_commit, new.git_commit);
    assert_eq!(row.notes, new.notes);
    assert_eq!(row.family_id, new.family_id);
    assert_eq!(row.status, new.status);
    let events = match s.get_events(&id) {
        Ok(e) => e,
        Err(e) => panic!("get_events: {e:?}"),
    };
    assert_eq!(events.len(), 1, "a new candidate has exactly its created event");
    assert_eq!(events[0].event_type, "created");

    // A status change with hostile reason text, then the filters with hostile values.
    let reason = field(10);
    let target = ["exploratory", "rejected"][data.len() % 2]; // candidate/accepted: promote_to_* only (c79684b)
    match s.update_status(&id, target, Some(&reason)) {
        Ok(event_id) => assert!(event_id > events[0].event_id, "event ids must increase"),
        Err(e) => panic!("update_status on an existing candidate failed: {e:?}"),
    }
    let events2 = match s.get_events(&id) {
        Ok(e) => e,
        Err(e) => panic!("get_events: {e:?}"),
    };
    assert_eq!(events2.len(), 2);
    let payload: Value = match events2[1].payload_json.as_deref().map(serde_json::from_str) {
        Some(Ok(p)) => p,
        other => panic!("status_change payload: {other:?}"),
    };
    assert_eq!(payload["old_status"], Value::String(new.status.clone()));
    assert_eq!(payload["new_status"], Value::String(target.to_string()));
    if !reason.is_empty() {
        assert_eq!(payload["reason"], Value::String(reason.clone()));
    }
    let filter = CandidateFilter {
        status: Some(target.to_string()),
        dataset_id: Some(new.dataset_id.clone()),
        signal_name: Some(new.signal_name.clone()),
        limit: Some(1_000_000),
    };
    match s.list_candidates(&filter) {
        Ok(rows) => assert!(rows.iter().any(|r| r.candidate_id == id), "filters must find the candidate"),
        Err(e) => panic!("list_candidates: {e:?}"),
    }
    // An unknown id with hostile text is InvalidInput, never anything else.
    let unknown = format!("{reason}\u{0}{id}'--");
    match s.update_status(&unknown, "rejected", None) {
        Err(Error::InvalidInput(m)) => assert!(m.starts_with("candidate_id not found")),
        other => panic!("unknown id: {other:?}"),
    }
}

fn same_decision(
    a: &crypto_analyzer_promotion::gating::PromotionDecision,
    b: &crypto_analyzer_promotion::gating::PromotionDecision,
) -> bool {
    a.status == b.status
        && a.reasons == b.reasons
        && a.warnings == b.warnings
        && to_canonical_string(&a.metrics_snapshot_json()) == to_canonical_string(&b.metrics_snapshot_json())
}

/// ValidationBundle JSON (the file `evaluate` reads): refused only with InvalidInput; what is
/// accepted is written back as text that reads back to the same text (fixed point after one
/// round); the gate on it never panics, always answers one of the statuses, deterministically.
pub fn bundle_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let bundle = match ValidationBundle::from_json_str(text) {
        Ok(b) => b,
        Err(Error::InvalidInput(_)) => return,
        Err(other) => panic!("bundle parse failed with a non-input error: {other:?}"),
    };
    let s1 = bundle.to_json_string();
    let again = match ValidationBundle::from_json_str(&s1) {
        Ok(b) => b,
        Err(e) => panic!("a written bundle does not read back: {e:?}\n{s1}"),
    };
    assert_eq!(again.to_json_string(), s1, "bundle JSON is not a fixed point");
    let inputs = GateInputs {
        ic_summary: bundle.first_horizon_summary(),
        meta: bundle.meta.clone(),
        regime_summary: Input::NotProvided,
        rc_summary: Input::NotProvided,
        execution_evidence: Input::NotProvided,
    };
    let thr = ThresholdConfig { require_reality_check: data.len().is_multiple_of(2), ..Default::default() };
    let target = [Status::Exploratory, Status::Candidate, Status::Accepted][data.len() % 3];
    let d1 = evaluate_candidate(&inputs, &thr, target, false, None);
    let d2 = evaluate_candidate(&inputs, &thr, target, false, None);
    assert!(["exploratory", "accepted", "rejected"].contains(&d1.status.as_str()), "status {}", d1.status);
    assert!(same_decision(&d1, &d2), "the gate is not deterministic");
    assert_eq!(d1.status == "accepted", d1.reasons.is_empty() && d1.status != "exploratory");
}

fn val_eq(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Float(x), Val::Float(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (Val::List(x), Val::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| val_eq(p, q)),
        (Val::Map(x), Val::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k1, v1), (k2, v2))| k1 == k2 && val_eq(v1, v2))
        }
        _ => a == b,
    }
}

/// The evidence files the service reads (execution evidence JSON, rc summary JSON, regime CSV)
/// and the thresholds dict: the NaN-tolerant JSON reader agrees with a strict JSON parser on
/// every strict document; readers fail only with InvalidInput; the gate on what they produce
/// never panics.
pub fn evidence_files(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(strict) = serde_json::from_str::<Value>(text) {
        match parse_json_allow_nan(text) {
            Ok(v) => {
                assert!(val_eq(&v, &Val::from_json(&strict)), "NaN-tolerant reader disagrees with strict JSON: {text}")
            }
            Err(e) => panic!("NaN-tolerant reader refused strict JSON: {e}"),
        }
    }
    let ev = match ExecutionEvidence::from_json_str(text) {
        Ok(ev) => {
            let dict = ev.to_dict();
            let back = ExecutionEvidence::from_dict(&dict);
            assert!(val_eq(&back.to_dict(), &dict), "ExecutionEvidence to_dict/from_dict is not a fixed point");
            let _ = ev.check_required(None);
            Input::Provided(ev)
        }
        Err(Error::InvalidInput(m)) => Input::Unusable(m),
        Err(other) => panic!("execution evidence failed with a non-input error: {other:?}"),
    };
    let regime = match RegimeSummary::from_csv_str(text) {
        Ok(r) => Input::Provided(r),
        Err(Error::InvalidInput(m)) => Input::Unusable(m),
        Err(other) => panic!("regime CSV failed with a non-input error: {other:?}"),
    };
    let parsed = parse_json_allow_nan(text).ok();
    let thr = match parsed.as_ref().map(ThresholdConfig::from_val) {
        Some(Ok(t)) => t,
        Some(Err(Error::InvalidInput(_))) | None => ThresholdConfig::default(),
        Some(Err(other)) => panic!("thresholds failed with a non-input error: {other:?}"),
    };
    let mut thr = thr;
    thr.require_regime_robustness = true;
    thr.require_reality_check = true;
    thr.require_execution_evidence = true;
    if thr.worst_regime_ic_mean_min.is_none() {
        thr.worst_regime_ic_mean_min = Some(crypto_analyzer_promotion::gating::Num::Float(0.0));
    }
    let rc = match parsed {
        Some(v @ Val::Map(_)) => Input::Provided(v),
        _ => Input::NotProvided,
    };
    let inputs = GateInputs {
        ic_summary: Val::Map(vec![("mean_ic".into(), Val::Float(0.05)), ("t_stat".into(), Val::Float(3.0))]),
        meta: Val::Map(Vec::new()),
        regime_summary: regime,
        rc_summary: rc,
        execution_evidence: ev,
    };
    let d1 = evaluate_candidate(&inputs, &thr, Status::Accepted, false, None);
    let d2 = evaluate_candidate(&inputs, &thr, Status::Accepted, false, None);
    assert!(same_decision(&d1, &d2), "the gate is not deterministic");
    assert!(d1.status == "accepted" || d1.status == "rejected");
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map(|(f, r)| (*f, r)).unwrap_or((0, &[]));
        self.0 = rest;
        first
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.u8()))
    }
    fn f64(&mut self) -> f64 {
        f64::from_bits(self.u64())
    }
}

/// The bootstrap configuration (method, block length, stream, seed, T) and one simulation:
/// bad configurations are refused with InvalidInput; good ones give blocks that tile exactly T
/// periods with starts in 0..T, indices in 0..T, the same blocks on a second call, and null
/// statistics of the right length.
pub fn bootstrap_config(data: &[u8]) {
    use crypto_analyzer_promotion::reality_check::bootstrap::{blocks_to_segments, BootstrapSpec, Method, RngKind};
    use crypto_analyzer_promotion::reality_check::{null_stats_one, Layout, Matrix, NullCentering, Prepared};

    let mut b = Bytes(data);
    let t = 1 + (usize::from(b.u8()) << 4 | usize::from(b.u8() & 0x0f)) % 600;
    let name = ["stationary", "block_fixed", "Stationary", ""][usize::from(b.u8() % 4)];
    let small = |x: f64, sel: u8| match sel % 4 {
        0 => x,
        1 => (x.abs() % 50.0).floor(),
        2 => 1.0 + (x.abs() % 1000.0),
        _ => [0.0, 1.0, 0.5, f64::NAN, f64::INFINITY, 1e308, 12.0, 600.0, 601.0][(x.to_bits() % 9) as usize],
    };
    let (raw_l, sel_l) = (b.f64(), b.u8());
    let (raw_s, sel_s) = (b.f64(), b.u8());
    let avg = small(raw_l, sel_l);
    let bs = small(raw_s, sel_s);
    let rng = ["default", "numpy_legacy", "numpy"][usize::from(b.u8() % 3)];
    let seed = match b.u8() % 3 {
        0 => b.u64(),
        1 => b.u64() % 1000,
        _ => u64::from(u32::MAX) - b.u64() % 3,
    };
    let sim = b.u64() % 4;
    let method = match Method::parse(name, avg, bs) {
        Ok(m) => m,
        Err(Error::InvalidInput(_)) => return,
        Err(other) => panic!("Method::parse: non-input error {other:?}"),
    };
    let rng = match RngKind::parse(rng) {
        Ok(r) => r,
        Err(Error::InvalidInput(_)) => return,
        Err(other) => panic!("RngKind::parse: non-input error {other:?}"),
    };
    let spec = BootstrapSpec { t, method, rng, seed };
    match spec.check(sim + 1) {
        Ok(()) => {}
        Err(Error::InvalidInput(_)) => return,
        Err(other) => panic!("check: non-input error {other:?}"),
    }
    let mut blocks = Vec::new();
    if let Err(e) = spec.blocks(sim, &mut blocks) {
        panic!("blocks failed after check passed: {e:?}");
    }
    assert_eq!(blocks.iter().map(|(_, l)| *l).sum::<usize>(), t, "blocks must tile T periods");
    assert!(blocks.iter().all(|(s, l)| *s < t && *l >= 1 && *l <= t), "block out of range: {blocks:?}");
    let mut again = Vec::new();
    let _ = spec.blocks(sim, &mut again);
    assert_eq!(blocks, again, "simulation {sim} is not reproducible");
    let idx = match spec.indices(sim) {
        Ok(i) => i,
        Err(e) => panic!("indices: {e:?}"),
    };
    assert_eq!(idx.len(), t);
    assert!(idx.iter().all(|i| *i < t));
    let mut segs = Vec::new();
    blocks_to_segments(&blocks, t, &mut segs);
    assert!(segs.iter().all(|(a, z)| a < z && *z <= t));
    assert_eq!(segs.iter().map(|(a, z)| z - a).sum::<usize>(), t);

    // A tiny family from the remaining bytes (NaN allowed) through one null simulation.
    let k = 1 + usize::from(b.u8() % 3);
    let tt = t.min(40);
    let values: Vec<f64> = (0..tt * k)
        .map(|_| match b.u8() % 5 {
            0 => f64::NAN,
            1 => b.f64(),
            _ => f64::from(b.u8()) / 64.0 - 2.0,
        })
        .collect();
    let x = Matrix { values: &values, t: tt, k, layout: Layout::RowMajor };
    let prepared = match Prepared::new(x, avg.clamp(1.0, 1e6), true) {
        Ok(p) => p,
        Err(Error::InvalidInput(_)) => return,
        Err(other) => panic!("Prepared::new: non-input error {other:?}"),
    };
    let spec_small = BootstrapSpec { t: tt, ..spec };
    for centering in [NullCentering::Recentred, NullCentering::None] {
        match null_stats_one(&prepared, &spec_small, centering, sim) {
            Ok(v) => assert_eq!(v.len(), k),
            Err(Error::InvalidInput(_)) => {}
            Err(other) => panic!("null_stats_one: non-input error {other:?}"),
        }
    }
}

struct CacheDir {
    dir: tempfile::TempDir,
    values: Vec<f64>,
}

fn cache_dir() -> &'static Mutex<CacheDir> {
    static DIR: OnceLock<Mutex<CacheDir>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let values = vec![0.25, -1.5, 3.0];
        let blob = crypto_analyzer_promotion::reality_check::cache::npy_bytes(&values);
        let inside = dir.path().join("cache");
        for (p, bytes) in [(inside.join("k1.npy"), &blob), (dir.path().join("outside.npy"), &blob)] {
            if let Some(parent) = p.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if let Err(e) = std::fs::write(&p, bytes) {
                panic!("write {}: {e}", p.display());
            }
        }
        Mutex::new(CacheDir { dir, values })
    })
}

/// The cache's file formats: `.npy` bytes (anything parse_npy accepts reads back identically
/// after writing; refusals are Cache errors) and manifest.json (whatever it says, a load serves
/// only the artifact that lives in the cache dir and matches its sha256; never a file outside).
pub fn cache_files(data: &[u8]) {
    use crypto_analyzer_promotion::reality_check::cache;

    match cache::parse_npy(data) {
        Ok(v) => {
            let back = match cache::parse_npy(&cache::npy_bytes(&v)) {
                Ok(b) => b,
                Err(e) => panic!("written .npy does not parse: {e:?}"),
            };
            assert!(back.len() == v.len() && back.iter().zip(&v).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        Err(Error::Cache(_)) => {}
        Err(other) => panic!("parse_npy: non-cache error {other:?}"),
    }
    let guard = cache_dir().lock().unwrap_or_else(|p| p.into_inner());
    let dir = guard.dir.path().join("cache");
    if let Err(e) = std::fs::write(dir.join(cache::MANIFEST), data) {
        panic!("write manifest: {e}");
    }
    match cache::load(&dir, "k1") {
        Ok(Ok(v)) => {
            assert_eq!(v, guard.values, "served something else than the artifact");
            let m: Value = match serde_json::from_slice(data) {
                Ok(m) => m,
                Err(e) => panic!("served from a manifest that is not JSON: {e}"),
            };
            let path = m["k1"]["path"].as_str().unwrap_or_default();
            let real = dir.join(path).canonicalize().ok();
            let real_dir = dir.canonicalize().ok();
            assert!(
                matches!((real, real_dir), (Some(r), Some(d)) if r.starts_with(&d)),
                "served a file outside the cache dir: {path:?}"
            );
        }
        Ok(Err(_)) => {}
        Err(Error::Io { .. }) | Err(Error::InvalidInput(_)) => {}
        Err(other) => panic!("cache::load: unexpected error {other:?}"),
    }
}
