//! Governance in the store and the schema (migrations 008–013): eligibility reports, promotions,
//! the triggers, tampering through plain SQL, and databases created by the analyzer's own code.

use std::path::{Path, PathBuf};

use crypto_analyzer_promotion::store::sqlite::guards;
use crypto_analyzer_promotion::store::sqlite::migrate;
use crypto_analyzer_promotion::store::sqlite::{self as store, Store};
use crypto_analyzer_promotion::store::{EligibilityRow, NewCandidate};
use crypto_analyzer_promotion::store::{RegistryStore, Rung};
use crypto_analyzer_promotion::Error;
use rusqlite::Connection;
use serde_json::json;

fn fresh_db(dir: &tempfile::TempDir) -> PathBuf {
    let db = dir.path().join("g.db");
    migrate::run_migrations_phase3(&db, Some("test")).unwrap();
    db
}

fn candidate(s: &mut Store, id: &str) -> String {
    let mut n = NewCandidate::new("ds", "run1", "sig", 1, "cfg", "g");
    n.candidate_id = Some(id.to_string());
    s.create_candidate(&n).unwrap()
}

fn report(id: &str, candidate_id: &str, level: &str, passed: bool) -> EligibilityRow {
    EligibilityRow {
        eligibility_report_id: id.into(),
        candidate_id: candidate_id.into(),
        level: level.into(),
        passed,
        blockers_json: if passed { "[]".into() } else { r#"["run_key missing"]"#.into() },
        warnings_json: "[]".into(),
        computed_at_utc: "2026-02-01T12:00:00+00:00".into(),
        run_key: Some("rk".into()),
        run_instance_id: None,
        dataset_id_v2: Some("d2".into()),
        engine_version: Some("e".into()),
        config_version: Some("c".into()),
    }
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Everything a failed call must leave untouched.
fn snapshot(db: &Path) -> (i64, i64, String) {
    let conn = Connection::open(db).unwrap();
    let n_events: i64 = conn.query_row("SELECT COUNT(*) FROM promotion_events", [], |r| r.get(0)).unwrap();
    let n_reports: i64 = conn.query_row("SELECT COUNT(*) FROM eligibility_reports", [], |r| r.get(0)).unwrap();
    let statuses: String = conn
        .query_row(
            "SELECT group_concat(candidate_id || ':' || status || ':' || ifnull(eligibility_report_id, '-'), ',') \
             FROM (SELECT * FROM promotion_candidates ORDER BY candidate_id)",
            [],
            |r| r.get::<_, Option<String>>(0),
        )
        .unwrap()
        .unwrap_or_default();
    (n_events, n_reports, statuses)
}

fn invalid_msg<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::InvalidInput(m)) => m,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn promote_links_the_report_and_writes_one_status_change() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let id = candidate(&mut s, "c1");
    s.insert_eligibility_report(&report("r_cand", &id, "candidate", true)).unwrap();
    s.promote(&id, "candidate", "r_cand", Some("passed")).unwrap();
    let c = s.get_candidate(&id).unwrap().unwrap();
    assert_eq!((c.status.as_str(), c.eligibility_report_id.as_deref()), ("candidate", Some("r_cand")));
    let ev = s.get_events(&id).unwrap();
    assert_eq!(ev.len(), 2);
    let p: serde_json::Value = serde_json::from_str(ev[1].payload_json.as_deref().unwrap()).unwrap();
    assert_eq!(ev[1].event_type, "status_change");
    assert_eq!(p["new_status"], "candidate");
    assert_eq!(p["old_status"], "exploratory");
    assert_eq!(p["eligibility_report_id"], "r_cand");
    assert_eq!(p["reason"], "passed");
    assert_eq!(p["ts_utc"], ev[1].ts_utc.as_str());
    // Straight from exploratory to accepted stays possible at the store level.
    let id2 = candidate(&mut s, "c2");
    s.insert_eligibility_report(&report("r_acc", &id2, "accepted", true)).unwrap();
    s.promote(&id2, "accepted", "r_acc", None).unwrap();
    assert_eq!(s.get_candidate(&id2).unwrap().unwrap().status, "accepted");
    let rows = s.get_eligibility_reports(&id2).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].run_instance_id.as_deref(), Some(""), "None is stored as '' as the analyzer does");
}

#[test]
fn bad_promotions_are_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let a = candidate(&mut s, "a");
    let b = candidate(&mut s, "b");
    s.insert_eligibility_report(&report("ra", &a, "candidate", true)).unwrap();
    s.insert_eligibility_report(&report("ra_failed", &a, "candidate", false)).unwrap();
    let before = snapshot(&db);
    let m = invalid_msg(s.promote(&b, "candidate", "ra", None));
    assert_eq!(m, "eligibility report ra was computed for candidate a, not b; a report promotes only the candidate it was computed for");
    assert_eq!(invalid_msg(s.promote("ghost", "candidate", "ra", None)), "candidate_id not found: ghost");
    assert_eq!(invalid_msg(s.promote(&a, "candidate", "nope", None)), "eligibility report not found: nope");
    assert_eq!(
        invalid_msg(s.promote(&a, "candidate", "ra_failed", None)),
        "eligibility report ra_failed did not pass; cannot promote to candidate"
    );
    assert_eq!(
        invalid_msg(s.promote(&a, "accepted", "ra", None)),
        "eligibility report ra is for level candidate, not accepted; cannot promote to accepted"
    );
    assert!(invalid_msg(s.promote(&a, "rejected", "ra", None)).contains("must be candidate or accepted"));
    assert!(invalid_msg(s.promote(&a, "Accepted", "ra", None)).contains("unknown status"));
    assert_eq!(snapshot(&db), before);
}

#[test]
fn bad_reports_are_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let a = candidate(&mut s, "a");
    s.insert_eligibility_report(&report("r1", &a, "candidate", true)).unwrap();
    let before = snapshot(&db);
    assert_eq!(
        invalid_msg(s.insert_eligibility_report(&report("r2", "ghost", "candidate", true))),
        "candidate_id not found: ghost"
    );
    assert_eq!(
        invalid_msg(s.insert_eligibility_report(&report("r1", &a, "candidate", true))),
        "eligibility_report_id already exists: r1"
    );
    assert!(invalid_msg(s.insert_eligibility_report(&report("r3", &a, "Candidate", true)))
        .starts_with("unknown eligibility level \"Candidate\""));
    assert!(invalid_msg(s.insert_eligibility_report(&report("", &a, "candidate", true))).contains("non-empty"));
    let mut bad_json = report("r4", &a, "candidate", true);
    bad_json.blockers_json = "not json".into();
    assert!(invalid_msg(s.insert_eligibility_report(&bad_json))
        .starts_with("blockers_json must be the JSON text of a list of strings"));
    let mut not_strings = report("r5", &a, "candidate", true);
    not_strings.warnings_json = "[1, 2]".into();
    assert!(invalid_msg(s.insert_eligibility_report(&not_strings)).starts_with("warnings_json must be"));
    let mut passed_with_blockers = report("r6", &a, "candidate", true);
    passed_with_blockers.blockers_json = r#"["x"]"#.into();
    assert!(invalid_msg(s.insert_eligibility_report(&passed_with_blockers)).contains("cannot list blockers"));
    let mut failed_without = report("r7", &a, "candidate", false);
    failed_without.blockers_json = "[]".into();
    assert!(invalid_msg(s.insert_eligibility_report(&failed_without)).contains("must list its blockers"));
    assert_eq!(snapshot(&db), before);
}

#[test]
fn update_status_refuses_promotion_statuses_with_the_analyzer_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let a = candidate(&mut s, "a");
    let before = snapshot(&db);
    for st in ["candidate", "accepted"] {
        assert_eq!(
            invalid_msg(s.update_status(&a, st, None)),
            "Use promote_to_candidate() or promote_to_accepted() with an eligibility report for status candidate/accepted"
        );
    }
    assert_eq!(snapshot(&db), before);
}

#[test]
fn create_candidate_at_a_promotion_status_needs_its_own_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let a = candidate(&mut s, "a");
    s.insert_eligibility_report(&report("ra", &a, "candidate", true)).unwrap();
    let before = snapshot(&db);
    let mut n = NewCandidate::new("ds", "run1", "sig", 1, "cfg", "g");
    n.status = "candidate".into();
    let m = invalid_msg(s.create_candidate(&n));
    assert!(m.contains("eligibility_report_id required for candidate/accepted"), "{m}");
    n.eligibility_report_id = Some("ra".into());
    let m = invalid_msg(s.create_candidate(&n));
    assert!(m.contains("computed for another candidate"), "{m}");
    assert_eq!(snapshot(&db), before);
    // Exploratory with no report is the normal way in.
    n.status = "exploratory".into();
    n.eligibility_report_id = None;
    s.create_candidate(&n).unwrap();
}

#[test]
fn a_promoting_rung_is_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let a = candidate(&mut s, "a");
    let rung = |r: &EligibilityRow, expected: &'static str, evaluated: &serde_json::Value| {
        let r = r.clone();
        let evaluated = evaluated.clone();
        move |s: &mut Store| {
            s.record_rung(&Rung {
                candidate_id: &r.candidate_id,
                expected_status: expected,
                new_status: "",
                report: Some(&r),
                reason: None,
                evaluated: &evaluated,
            })
        }
    };
    rung(&report("r1", &a, "candidate", true), "exploratory", &json!({"status": "accepted"}))(&mut s).unwrap();
    let types: Vec<String> = s.get_events(&a).unwrap().into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["created", "status_change", "evaluated"]);
    // A duplicate report id fails before anything is written.
    let before = snapshot(&db);
    let e = rung(&report("r1", &a, "accepted", true), "candidate", &json!({}))(&mut s).unwrap_err();
    assert_eq!(e.to_string(), "eligibility_report_id already exists: r1");
    assert_eq!(snapshot(&db), before);
}

fn sql_err(conn: &Connection, sql: &str) -> String {
    conn.execute_batch(sql).map(|_| "no error".to_string()).unwrap_or_else(|e| e.to_string())
}

/// A candidate promoted through the store, then plain-SQL tampering on every table.
#[test]
fn tampering_through_plain_sql_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(&dir);
    let mut s = Store::open(&db).unwrap();
    let a = candidate(&mut s, "a");
    let b = candidate(&mut s, "b");
    s.insert_eligibility_report(&report("ra", &a, "accepted", true)).unwrap();
    s.promote(&a, "accepted", "ra", None).unwrap();
    s.insert_eligibility_report(&report("rb_failed", &b, "candidate", false)).unwrap();
    s.insert_eligibility_report(&report("rb_unused", &b, "candidate", true)).unwrap();
    drop(s);
    store::forget_cached_store(&db);
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO governance_events (timestamp, actor, action, candidate_id) VALUES ('t', 'x', 'evaluate', 'a');
         INSERT INTO artifact_lineage (artifact_id, artifact_type, sha256, created_utc) VALUES ('p', 'manifest', 'h', 't');
         INSERT INTO artifact_lineage (artifact_id, artifact_type, sha256, created_utc) VALUES ('c', 'manifest', 'h', 't');
         INSERT INTO artifact_edges VALUES ('c', 'p', 'derived_from');",
    )
    .unwrap();
    let before = snapshot(&db);
    let cases: Vec<(&str, &str)> = vec![
        ("UPDATE promotion_candidates SET status = 'candidate' WHERE candidate_id = 'b'", "eligibility_report_id required"),
        ("UPDATE promotion_candidates SET status = 'candidate', eligibility_report_id = 'rb_failed' WHERE candidate_id = 'b'", "eligibility_report_id required"),
        ("UPDATE promotion_candidates SET status = 'accepted', eligibility_report_id = 'ra' WHERE candidate_id = 'b'", "computed for another candidate"),
        ("UPDATE promotion_candidates SET status = 'accepted', eligibility_report_id = 'rb_unused' WHERE candidate_id = 'b'", "eligibility_report_id required"),
        ("UPDATE promotion_candidates SET eligibility_report_id = 'rb_unused' WHERE candidate_id = 'a'", "eligibility_report_id required"),
        ("UPDATE promotion_candidates SET eligibility_report_id = NULL WHERE candidate_id = 'a'", "eligibility_report_id required"),
        ("UPDATE promotion_candidates SET candidate_id = 'a2' WHERE candidate_id = 'a'", "computed for another candidate"),
        ("INSERT INTO promotion_candidates (candidate_id, created_at_utc, status, dataset_id, run_id, signal_name, horizon, config_hash, git_commit, eligibility_report_id) VALUES ('n', 't', 'accepted', 'd', 'r', 's', 1, 'c', 'g', 'ra')", "computed for another candidate"),
        ("UPDATE eligibility_reports SET blockers_json = '[\"x\"]' WHERE eligibility_report_id = 'ra'", "evidence is immutable"),
        ("UPDATE eligibility_reports SET warnings_json = '[\"x\"]' WHERE eligibility_report_id = 'ra'", "evidence is immutable"),
        ("UPDATE eligibility_reports SET passed = 1 WHERE eligibility_report_id = 'rb_failed'", "evidence is immutable"),
        ("UPDATE eligibility_reports SET candidate_id = 'b' WHERE eligibility_report_id = 'ra'", "evidence is immutable"),
        ("DELETE FROM eligibility_reports WHERE eligibility_report_id = 'ra'", "evidence is immutable"),
        ("INSERT INTO eligibility_reports VALUES ('rx', 'ghost', 'accepted', 1, '[]', '[]', 't', '', '', '', '', '')", "candidate_id not found"),
        ("INSERT INTO eligibility_reports VALUES ('ry', 'a', 'promoted', 1, '[]', '[]', 't', '', '', '', '', '')", "CHECK constraint failed"),
        ("INSERT INTO eligibility_reports VALUES ('rz', 'a', 'accepted', 2, '[]', '[]', 't', '', '', '', '', '')", "CHECK constraint failed"),
        ("UPDATE governance_events SET action = 'promote'", "append-only"),
        ("DELETE FROM governance_events", "append-only"),
        ("UPDATE artifact_lineage SET sha256 = 'x'", "append-only"),
        ("DELETE FROM artifact_lineage", "append-only"),
        ("UPDATE artifact_edges SET relation = 'uses_null'", "append-only"),
        ("DELETE FROM artifact_edges", "append-only"),
        ("UPDATE promotion_events SET event_type = 'x'", "append-only"),
        ("DELETE FROM promotion_events", "append-only"),
    ];
    for (sql, want) in cases {
        let err = sql_err(&conn, sql);
        assert!(err.contains(want), "{sql}\n  -> {err}");
    }
    assert_eq!(snapshot(&db), before);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM governance_events"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM artifact_edges"), 1);
    // An unreferenced report may be deleted (nothing was promoted with it).
    conn.execute_batch("DELETE FROM eligibility_reports WHERE eligibility_report_id = 'rb_unused'").unwrap();
    // A rejected candidate keeps its link; the report stays protected.
    conn.execute_batch("UPDATE promotion_candidates SET status = 'rejected' WHERE candidate_id = 'a'").unwrap();
    assert!(sql_err(&conn, "DELETE FROM eligibility_reports WHERE eligibility_report_id = 'ra'").contains("immutable"));
}

/// The analyzer's Phase 3 schema as its Python code (versions 1-7) left it: index names of its
/// own, no foreign key, no triggers. Written here from the analyzer's schema, not copied.
const ANALYZER_V7_DDL: &str = "
CREATE TABLE schema_migrations_phase3 (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_utc TEXT NOT NULL, git_commit TEXT);
CREATE TABLE regime_runs (regime_run_id TEXT PRIMARY KEY, created_at_utc TEXT NOT NULL, dataset_id TEXT NOT NULL, freq TEXT NOT NULL, model TEXT NOT NULL, params_json TEXT);
CREATE INDEX idx_regime_runs_dataset_freq ON regime_runs(dataset_id, freq);
CREATE TABLE regime_states (regime_run_id TEXT NOT NULL, ts_utc TEXT NOT NULL, regime_label TEXT NOT NULL, regime_prob REAL, PRIMARY KEY (regime_run_id, ts_utc));
CREATE INDEX idx_regime_states_ts ON regime_states(regime_run_id, ts_utc);
CREATE TABLE promotion_candidates (candidate_id TEXT PRIMARY KEY, created_at_utc TEXT NOT NULL, status TEXT NOT NULL,
  dataset_id TEXT NOT NULL, run_id TEXT NOT NULL, family_id TEXT, signal_name TEXT NOT NULL, horizon INTEGER NOT NULL,
  estimator TEXT, config_hash TEXT NOT NULL, git_commit TEXT NOT NULL, notes TEXT, evidence_json TEXT);
CREATE INDEX idx_promotion_candidates_status ON promotion_candidates(status);
CREATE INDEX idx_promotion_candidates_dataset ON promotion_candidates(dataset_id);
CREATE TABLE promotion_events (event_id INTEGER PRIMARY KEY AUTOINCREMENT, candidate_id TEXT NOT NULL, ts_utc TEXT NOT NULL, event_type TEXT NOT NULL, payload_json TEXT);
CREATE INDEX idx_promotion_events_candidate ON promotion_events(candidate_id);
CREATE TABLE sweep_families (family_id TEXT PRIMARY KEY, created_at_utc TEXT NOT NULL, dataset_id TEXT NOT NULL, run_id TEXT, sweep_name TEXT, sweep_payload_json TEXT NOT NULL, git_commit TEXT, config_hash TEXT);
CREATE TABLE sweep_hypotheses (family_id TEXT NOT NULL, hypothesis_id TEXT NOT NULL, signal_name TEXT NOT NULL, horizon INTEGER NOT NULL, estimator TEXT, params_json TEXT, regime_run_id TEXT, PRIMARY KEY (family_id, hypothesis_id));
INSERT INTO promotion_candidates VALUES ('old1', '2026-01-01T00:00:00+00:00', 'accepted', 'ds', 'r', NULL, 's', 1, NULL, 'c', 'g', NULL, '{\"bundle_path\":\"b.json\"}');
INSERT INTO promotion_candidates VALUES ('old2', '2026-01-01T00:00:01+00:00', 'exploratory', 'ds', 'r', NULL, 's', 2, NULL, 'c', 'g', NULL, NULL);
INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json) VALUES ('old1', 't', 'created', NULL);
";

/// What the analyzer's versions 8-13 add, with its weaker triggers (a report of any candidate
/// promotes; only passed/level of a referenced report are guarded).
const ANALYZER_V13_EXTRA_DDL: &str = "
CREATE TABLE eligibility_reports (eligibility_report_id TEXT PRIMARY KEY, candidate_id TEXT NOT NULL,
  level TEXT NOT NULL CHECK(level IN ('exploratory','candidate','accepted')), passed INTEGER NOT NULL CHECK(passed IN (0,1)),
  blockers_json TEXT NOT NULL, warnings_json TEXT NOT NULL, computed_at_utc TEXT NOT NULL, run_key TEXT, run_instance_id TEXT,
  dataset_id_v2 TEXT, engine_version TEXT, config_version TEXT);
ALTER TABLE promotion_candidates ADD COLUMN eligibility_report_id TEXT;
CREATE TRIGGER promotion_candidates_require_eligibility BEFORE UPDATE OF status ON promotion_candidates FOR EACH ROW
WHEN NEW.status IN ('candidate','accepted') BEGIN
  SELECT RAISE(ABORT, 'weak') WHERE NEW.eligibility_report_id IS NULL
    OR (SELECT passed FROM eligibility_reports WHERE eligibility_report_id = NEW.eligibility_report_id) IS NOT 1;
END;
CREATE TRIGGER eligibility_reports_prevent_update_when_referenced BEFORE UPDATE ON eligibility_reports FOR EACH ROW
WHEN (OLD.passed IS NOT NEW.passed OR OLD.level IS NOT NEW.level) BEGIN SELECT RAISE(ABORT, 'weak'); END;
CREATE TABLE governance_events (event_id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, candidate_id TEXT, eligibility_report_id TEXT, run_key TEXT, dataset_id_v2 TEXT, artifact_refs_json TEXT);
CREATE TABLE artifact_lineage (artifact_id TEXT PRIMARY KEY, run_instance_id TEXT, run_key TEXT, dataset_id_v2 TEXT,
  artifact_type TEXT NOT NULL, relative_path TEXT, sha256 TEXT NOT NULL, created_utc TEXT NOT NULL, engine_version TEXT,
  config_version TEXT, schema_versions_json TEXT, plugin_manifest_json TEXT);
CREATE TABLE artifact_edges (child_artifact_id TEXT NOT NULL, parent_artifact_id TEXT NOT NULL, relation TEXT NOT NULL,
  PRIMARY KEY (child_artifact_id, parent_artifact_id, relation));
INSERT INTO eligibility_reports VALUES ('rep_old2', 'old2', 'candidate', 1, '[]', '[]', 't', '', '', '', '', '');
INSERT INTO governance_events (timestamp, actor, action, candidate_id) VALUES ('t', 'cli', 'evaluate', 'old2');
";

fn analyzer_db(dir: &tempfile::TempDir, name: &str, up_to: i64) -> PathBuf {
    let db = dir.path().join(name);
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(ANALYZER_V7_DDL).unwrap();
    if up_to >= 13 {
        conn.execute_batch(ANALYZER_V13_EXTRA_DDL).unwrap();
    }
    for v in 1..=up_to {
        conn.execute("INSERT INTO schema_migrations_phase3 VALUES (?1, 'analyzer', 't', 'g')", [v]).unwrap();
    }
    db
}

fn trigger_sql(conn: &Connection, name: &str) -> Option<String> {
    conn.query_row("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1", [name], |r| r.get(0)).ok()
}

#[test]
fn a_database_of_the_analyzers_old_code_migrates_to_13() {
    let dir = tempfile::tempdir().unwrap();
    let db = analyzer_db(&dir, "old.db", 7);
    assert_eq!(migrate::run_migrations_phase3(&db, Some("x")).unwrap(), (8..=14).collect::<Vec<i64>>());
    assert!(migrate::run_migrations_phase3(&db, Some("x")).unwrap().is_empty());
    let conn = Connection::open(&db).unwrap();
    assert!(guards::column_exists(&conn, "promotion_candidates", "eligibility_report_id").unwrap());
    for g in guards::governance_guards() {
        assert_eq!(trigger_sql(&conn, &g.name).as_deref(), Some(g.sql.as_str()), "{}", g.name);
    }
    // Old rows are kept as they were (an accepted candidate from before governance stays).
    let old: (String, Option<String>) = conn
        .query_row(
            "SELECT status, eligibility_report_id FROM promotion_candidates WHERE candidate_id = 'old1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(old, ("accepted".to_string(), None));
    drop(conn);
    // And the store works on it: promote old2 through a report.
    let mut s = Store::open(&db).unwrap();
    s.insert_eligibility_report(&report("r2", "old2", "candidate", true)).unwrap();
    s.promote("old2", "candidate", "r2", None).unwrap();
    assert_eq!(s.get_candidate("old2").unwrap().unwrap().eligibility_report_id.as_deref(), Some("r2"));
    assert_eq!(s.get_candidate("old1").unwrap().unwrap().evidence_json.as_deref(), Some(r#"{"bundle_path":"b.json"}"#));
}

#[test]
fn a_half_migrated_database_with_the_column_already_there_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let db = analyzer_db(&dir, "half.db", 7);
    // The analyzer's migration 9 commits its ALTER TABLE on its own: a crash after it leaves the
    // column without the version row.
    Connection::open(&db)
        .unwrap()
        .execute_batch("ALTER TABLE promotion_candidates ADD COLUMN eligibility_report_id TEXT")
        .unwrap();
    assert_eq!(migrate::run_migrations_phase3(&db, Some("x")).unwrap(), (8..=14).collect::<Vec<i64>>());
}

#[test]
fn a_database_of_the_analyzers_new_code_gets_the_stricter_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let db = analyzer_db(&dir, "new.db", 13);
    let conn = Connection::open(&db).unwrap();
    // With the analyzer's trigger, another candidate's report promotes:
    conn.execute_batch(
        "INSERT INTO eligibility_reports VALUES ('rep_x', 'old2', 'accepted', 1, '[]', '[]', 't', '', '', '', '', '')",
    )
    .unwrap();
    drop(conn);
    assert_eq!(migrate::run_migrations_phase3(&db, Some("x")).unwrap(), vec![14], "1-13 recorded: only 14 to apply");
    let conn = Connection::open(&db).unwrap();
    for g in guards::governance_guards() {
        assert_eq!(trigger_sql(&conn, &g.name).as_deref(), Some(g.sql.as_str()), "{}", g.name);
    }
    let err = sql_err(&conn, "UPDATE promotion_candidates SET status = 'accepted', eligibility_report_id = 'rep_x' WHERE candidate_id = 'old1'");
    assert!(err.contains("computed for another candidate"), "{err}");
    conn.execute_batch("UPDATE promotion_candidates SET status = 'candidate', eligibility_report_id = 'rep_old2' WHERE candidate_id = 'old2'").unwrap();
    let err = sql_err(
        &conn,
        "UPDATE eligibility_reports SET blockers_json = '[\"edited\"]' WHERE eligibility_report_id = 'rep_old2'",
    );
    assert!(err.contains("immutable"), "{err}");
    assert!(sql_err(&conn, "DELETE FROM governance_events").contains("append-only"));
    // Already up to date: a further run writes nothing (schema untouched).
    let v0: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    drop(conn);
    migrate::run_migrations_phase3(&db, Some("x")).unwrap();
    let v1: i64 = Connection::open(&db).unwrap().query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v0, v1);
}

#[test]
fn store_reports_a_database_before_migration_8_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v7.db");
    let mut ms = migrate::phase3_migrations();
    ms.truncate(7);
    migrate::run_migrations(&db, &ms, Some("x")).unwrap();
    let mut s = Store::open(&db).unwrap();
    let a = candidate(&mut s, "a");
    assert_eq!(s.get_candidate(&a).unwrap().unwrap().eligibility_report_id, None);
    match s.insert_eligibility_report(&report("r", &a, "candidate", true)) {
        Err(Error::Runtime(m)) => assert_eq!(m, "eligibility_reports table not found; run Phase 3 migrations 008+"),
        other => panic!("{other:?}"),
    }
    assert!(s.get_eligibility_reports(&a).unwrap().is_empty());
}
