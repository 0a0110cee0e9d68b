//! The store: ids, atomic writes, events, filters and ordering, canonical JSON, concurrency.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crypto_analyzer_promotion::pyfmt::{canonicalize, to_canonical_string};
use crypto_analyzer_promotion::store::rules::{self, PROMOTION_TABLES_REQUIRED_MSG};
use crypto_analyzer_promotion::store::sqlite::migrate;
use crypto_analyzer_promotion::store::sqlite::{self as store, Store};
use crypto_analyzer_promotion::store::RegistryStore;
use crypto_analyzer_promotion::store::{CandidateFilter, NewCandidate};
use crypto_analyzer_promotion::Error;
use serde_json::json;
use sha2::{Digest, Sha256};

fn fresh_db(dir: &tempfile::TempDir) -> PathBuf {
    let db = dir.path().join("p.db");
    migrate::run_migrations_phase3(&db, Some("test")).unwrap();
    db
}

fn new(signal: &str, dataset: &str) -> NewCandidate {
    NewCandidate::new(dataset, "run1", signal, 5, "cfg", "g1")
}

fn count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

#[test]
fn missing_tables_give_the_contract_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    rusqlite::Connection::open(&db).unwrap().execute_batch("CREATE TABLE x (a)").unwrap();
    let mut s = Store::open(&db).unwrap();
    match s.require_promotion_tables() {
        Err(Error::Runtime(m)) => assert_eq!(
            m,
            "Promotion tables not found. Run Phase 3 migrations to create them: run_migrations_phase3(conn, db_path). From CLI: python cli/promotion.py init --db <path>"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(Store::open(&dir.path().join("nope.db")), Err(Error::Runtime(m)) if m == PROMOTION_TABLES_REQUIRED_MSG)
    );
    assert!(!dir.path().join("nope.db").exists());
}

#[test]
fn create_writes_row_and_created_event_with_the_contract_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let mut n = new("sig_a", "ds1");
    n.evidence = Some(json!({"b": 0.1 + 0.2, "a": f64::MAX}));
    let id = s.create_candidate(&n).unwrap();
    let c = s.get_candidate(&id).unwrap().unwrap();
    let expect = format!("{:x}", Sha256::digest(format!("run1|sig_a|5|{}", c.created_at_utc).as_bytes()));
    assert_eq!(id, format!("prom_{}", &expect[..16]));
    assert_eq!(c.status, "exploratory");
    assert_eq!(c.evidence_json.as_deref(), Some(r#"{"a":1.7976931348623157e+308,"b":0.3}"#));
    let ev = s.get_events(&id).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].event_type, "created");
    assert_eq!(ev[0].payload_json.as_deref(), Some(format!(r#"{{"created_at_utc":"{}"}}"#, c.created_at_utc).as_str()));
    // Explicit id; duplicate id → InvalidInput and nothing more written.
    let mut n2 = new("sig_b", "ds1");
    n2.candidate_id = Some("my_id".into());
    assert_eq!(s.create_candidate(&n2).unwrap(), "my_id");
    assert!(matches!(s.create_candidate(&n2), Err(Error::InvalidInput(m)) if m.contains("already exists")));
    assert_eq!(count(&db, "promotion_candidates"), 2);
    assert_eq!(count(&db, "promotion_events"), 2);
}

#[test]
fn bad_status_and_unknown_ids_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let mut n = new("s", "d");
    n.status = "promoted".into();
    assert!(matches!(s.create_candidate(&n), Err(Error::InvalidInput(_))));
    let id = s.create_candidate(&new("s", "d")).unwrap();
    assert!(matches!(s.update_status(&id, "great", None), Err(Error::InvalidInput(_))));
    assert!(
        matches!(s.update_status("ghost", "rejected", None), Err(Error::InvalidInput(m)) if m == "candidate_id not found: ghost")
    );
    // c79684b: candidate/accepted only through promote_to_* with an eligibility report.
    for promoted in ["candidate", "accepted"] {
        assert!(
            matches!(s.update_status(&id, promoted, None), Err(Error::InvalidInput(m)) if m == rules::PROMOTE_WITH_REPORT_MSG)
        );
        assert!(
            matches!(s.record_evaluation(&id, promoted, &json!({})), Err(Error::InvalidInput(m)) if m == rules::PROMOTE_WITH_REPORT_MSG)
        );
    }
    assert!(matches!(s.record_event("ghost", "note", None), Err(Error::InvalidInput(_))));
    assert!(matches!(s.record_evaluation("ghost", "accepted", &json!({})), Err(Error::InvalidInput(_))));
    assert!(matches!(s.record_evaluation(&id, "bogus", &json!({})), Err(Error::InvalidInput(_))));
    assert_eq!(count(&db, "promotion_candidates"), 1);
    assert_eq!(count(&db, "promotion_events"), 1);
    assert_eq!(s.get_candidate(&id).unwrap().unwrap().status, "exploratory");
}

#[test]
fn status_changes_and_evaluations_are_recorded_with_their_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let id = s.create_candidate(&new("s", "d")).unwrap();
    s.update_status(&id, "rejected", Some("looks bad")).unwrap();
    let eid =
        s.record_evaluation(&id, "exploratory", &json!({"status": "accepted", "reasons": [], "x": 1.0 / 3.0})).unwrap();
    let e2 = s.record_event(&id, "note", Some(&json!({"k": [1, 2]}))).unwrap();
    let e3 = s.record_event(&id, "empty", Some(&json!({}))).unwrap();
    assert!(e2 > eid && e3 > e2);
    let ev = s.get_events(&id).unwrap();
    let types: Vec<&str> = ev.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["created", "status_change", "evaluated", "note", "empty"]);
    assert!(ev.windows(2).all(|w| w[0].event_id < w[1].event_id));
    let sc: serde_json::Value = serde_json::from_str(ev[1].payload_json.as_deref().unwrap()).unwrap();
    assert_eq!(sc["old_status"], "exploratory");
    assert_eq!(sc["new_status"], "rejected");
    assert_eq!(sc["reason"], "looks bad");
    assert_eq!(sc["ts_utc"], ev[1].ts_utc.as_str());
    assert_eq!(ev[2].event_id, eid);
    assert_eq!(ev[2].payload_json.as_deref(), Some(r#"{"reasons":[],"status":"accepted","x":0.3333333333}"#));
    assert_eq!(ev[3].payload_json.as_deref(), Some(r#"{"k":[1,2]}"#));
    assert_eq!(ev[4].payload_json, None);
    assert_eq!(s.get_candidate(&id).unwrap().unwrap().status, "exploratory");
}

#[test]
fn list_filters_limit_and_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut n = new(&format!("sig{}", i % 3), if i % 2 == 0 { "even" } else { "odd" });
        if i % 4 == 0 {
            n.status = "rejected".into();
        }
        ids.push(s.create_candidate(&n).unwrap());
    }
    let all = s.list_candidates(&CandidateFilter::default()).unwrap();
    assert_eq!(all.len(), 12);
    let got: Vec<&str> = all.iter().map(|c| c.candidate_id.as_str()).collect();
    let want: Vec<&str> = ids.iter().rev().map(|s| s.as_str()).collect();
    assert_eq!(got, want);
    assert!(all.windows(2).all(|w| w[0].created_at_utc >= w[1].created_at_utc));
    let f = CandidateFilter { status: Some("rejected".into()), dataset_id: Some("even".into()), ..Default::default() };
    let got: Vec<String> = s.list_candidates(&f).unwrap().into_iter().map(|c| c.candidate_id).collect();
    let want: Vec<String> = (0..12).rev().filter(|i| i % 4 == 0).map(|i| ids[i].clone()).collect();
    assert_eq!(got, want);
    let f = CandidateFilter { signal_name: Some("sig1".into()), limit: Some(2), ..Default::default() };
    let got: Vec<String> = s.list_candidates(&f).unwrap().into_iter().map(|c| c.candidate_id).collect();
    assert_eq!(got, vec![ids[10].clone(), ids[7].clone()]);
}

#[test]
fn evidence_paths_under_the_base_become_relative() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("reports");
    let inside = base.join("run1").join("bundle.json");
    let outside = dir.path().join("elsewhere.csv");
    let ev = json!({
        "bundle_path": inside.to_string_lossy(),
        "other": outside.to_string_lossy(),
        "nested": {"paths": [base.join("a/../b.csv").to_string_lossy()]},
        "plain": "not/a/path",
    });
    let text = rules::evidence_to_json(Some(&ev), Some(&base)).unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["bundle_path"], "run1/bundle.json");
    assert_eq!(v["other"], outside.to_string_lossy().as_ref());
    assert_eq!(v["nested"]["paths"][0], "b.csv");
    assert_eq!(v["plain"], "not/a/path");
    assert_eq!(v["evidence_base_path"], base.to_string_lossy().as_ref());
    // Nothing relativized → no base recorded.
    let text =
        rules::evidence_to_json(Some(&json!({"other": outside.to_string_lossy()})), Some(&base)).unwrap().unwrap();
    assert!(!text.contains("evidence_base_path"));
    assert!(matches!(rules::evidence_to_json(Some(&json!([1])), None), Err(Error::InvalidInput(_))));
}

#[test]
fn canonical_json_is_stable_and_sorted() {
    // 1.23456789015 is stored just below the tie, so it rounds down (Python: round(x, 10) == 1.2345678901).
    let v = json!({"z": {"b": 1e-7, "a": 2.5e16}, "a": "é\n\"😀", "m": [true, null, -0.0, 1.23456789015]});
    let text = to_canonical_string(&v);
    assert_eq!(text, r#"{"a":"\u00e9\n\"\ud83d\ude00","m":[true,null,-0.0,1.2345678901],"z":{"a":2.5e+16,"b":1e-07}}"#);
    assert_eq!(to_canonical_string(&canonicalize(&v)), text);
    assert_eq!(canonicalize(&json!(0.123456789049)), json!(0.123456789));
}

#[test]
fn second_writer_waits_for_the_first_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let id = Store::open(&db).unwrap().create_candidate(&new("s", "d")).unwrap();
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let db2 = db.clone();
    let id2 = id.clone();
    let t = std::thread::spawn(move || {
        let mut s = Store::open(&db2).unwrap();
        s.record_event(&id2, "from_thread", None)
    });
    std::thread::sleep(Duration::from_millis(300));
    holder.execute_batch("COMMIT").unwrap();
    let eid = t.join().unwrap().unwrap();
    assert!(eid > 1);
    let mode: String = holder.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
}

#[test]
fn cached_store_is_reopened_when_the_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let id = store::with_cached_store(&db, |s| s.create_candidate(&new("s", "d"))).unwrap();
    std::fs::remove_file(&db).unwrap();
    let _ = std::fs::remove_file(db.with_extension("db-wal"));
    let _ = std::fs::remove_file(db.with_extension("db-shm"));
    migrate::run_migrations_phase3(&db, Some("t")).unwrap();
    let found = store::with_cached_store(&db, |s| s.get_candidate(&id)).unwrap();
    assert!(found.is_none(), "a fresh file must not show rows of the deleted one");
}

#[test]
fn cached_store_reuses_its_connection_until_the_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let marker_count = |s: &mut Store| -> crypto_analyzer_promotion::Result<i64> {
        Ok(s.connection()
            .query_row("SELECT COUNT(*) FROM temp.sqlite_master WHERE name = 'only_in_this_connection'", [], |r| {
                r.get(0)
            })
            .unwrap())
    };
    store::with_cached_store(&db, |s| {
        s.connection().execute_batch("CREATE TEMP TABLE only_in_this_connection (x)").unwrap();
        Ok(())
    })
    .unwrap();
    // Same connection on the next call (the temp table lives only in that connection).
    assert_eq!(store::with_cached_store(&db, marker_count).unwrap(), 1);
    // A plain `Store::open` is a connection of its own.
    assert_eq!(marker_count(&mut Store::open(&db).unwrap()).unwrap(), 0);
    // Replace the file at the path: the cache must not write on into the old inode.
    std::fs::remove_file(&db).unwrap();
    let _ = std::fs::remove_file(db.with_extension("db-wal"));
    let _ = std::fs::remove_file(db.with_extension("db-shm"));
    let db2 = fresh_db(&dir);
    assert_eq!(db2, db);
    assert_eq!(store::with_cached_store(&db, marker_count).unwrap(), 0);
    assert!(store::with_cached_store(&db, |s| s.promotion_tables_exist()).unwrap());
}

#[test]
fn busy_and_locked_sqlite_errors_become_busy() {
    for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED] {
        let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("database is locked".into()));
        match store::sql_err(e) {
            Error::Busy { waited_ms, detail } => {
                assert_eq!(waited_ms, store::BUSY_TIMEOUT_MS);
                assert_eq!(detail, "database is locked");
            }
            other => panic!("{other:?}"),
        }
    }
}
