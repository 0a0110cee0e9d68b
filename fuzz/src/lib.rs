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

use crypto_analyzer_promotion::json::{canonicalize, to_canonical_string};
use crypto_analyzer_promotion::store::{self, CandidateFilter, NewCandidate, Store};
use crypto_analyzer_promotion::{migrate, Error};
use serde_json::Value;

/// Names of the targets, as in fuzz/Cargo.toml and fuzz/seeds/.
pub const TARGETS: [&str; 3] = ["json_canonical", "evidence_relativize", "store_roundtrip"];

/// Run the body of target `name` (unknown names are a bug of the caller).
pub fn run_target(name: &str, data: &[u8]) {
    match name {
        "json_canonical" => json_canonical(data),
        "evidence_relativize" => evidence_relativize(data),
        "store_roundtrip" => store_roundtrip(data),
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
            strings(&Value::Object(map.iter().filter(|(k, _)| *k != "evidence_base_path").map(|(k, x)| (k.clone(), x.clone())).collect()), &mut after);
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
                || msg.starts_with("evidence must be a dict");
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
    let target = ["exploratory", "candidate", "accepted", "rejected"][data.len() % 4];
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
    match s.update_status(&unknown, "accepted", None) {
        Err(Error::InvalidInput(m)) => assert!(m.starts_with("candidate_id not found")),
        other => panic!("unknown id: {other:?}"),
    }
}
