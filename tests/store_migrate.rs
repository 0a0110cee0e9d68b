//! The Phase 3 migration runner: order, bookkeeping, idempotence, copy-aside/restore, guards.

use std::path::PathBuf;

use crypto_analyzer_promotion::store::migrations::Migration;
use crypto_analyzer_promotion::store::sqlite::migrate;
use rusqlite::Connection;

fn temp_db(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn names(conn: &Connection, kind: &str) -> Vec<String> {
    let mut st = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = ?1 AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    st.query_map([kind], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
}

fn columns(conn: &Connection, table: &str) -> Vec<String> {
    let mut st = conn.prepare(&format!("PRAGMA table_info({table})")).unwrap();
    st.query_map([], |r| r.get::<_, String>(1)).unwrap().map(|r| r.unwrap()).collect()
}

#[test]
fn applies_every_version_once_with_contract_names_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = temp_db(&dir, "a.db");
    let applied = migrate::run_migrations_phase3(&db, Some("abc123")).unwrap();
    assert_eq!(applied, (1..=14).collect::<Vec<i64>>());
    assert_eq!(migrate::run_migrations_phase3(&db, Some("abc123")).unwrap(), Vec::<i64>::new());

    let conn = Connection::open(&db).unwrap();
    let rows: Vec<(i64, String, String, String)> = conn
        .prepare("SELECT version, name, applied_at_utc, git_commit FROM schema_migrations_phase3 ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let expected_names = [
        "2026_02_schema_migrations_phase3",
        "2026_02_regime_runs",
        "2026_02_regime_states",
        "2026_02_promotion_candidates",
        "2026_02_promotion_events",
        "2026_02_sweep_families",
        "2026_02_sweep_hypotheses",
        "2026_02_eligibility_reports",
        "2026_02_promotion_eligibility_trigger",
        "2026_02_eligibility_reports_immutability",
        "2026_02_governance_events",
        "2026_02_artifact_lineage",
        "2026_02_artifact_edges",
        "2026_03_registry_rules",
    ];
    assert_eq!(rows.len(), 14);
    for (i, (v, n, ts, commit)) in rows.iter().enumerate() {
        assert_eq!(*v, i as i64 + 1);
        assert_eq!(n, expected_names[i]);
        assert!(ts.ends_with("+00:00") && ts.contains('T'), "{ts}");
        assert_eq!(commit, "abc123");
    }
    assert_eq!(
        columns(&conn, "promotion_candidates"),
        [
            "candidate_id",
            "created_at_utc",
            "status",
            "dataset_id",
            "run_id",
            "family_id",
            "signal_name",
            "horizon",
            "estimator",
            "config_hash",
            "git_commit",
            "notes",
            "evidence_json",
            "eligibility_report_id"
        ]
    );
    assert_eq!(
        columns(&conn, "promotion_events"),
        ["event_id", "candidate_id", "ts_utc", "event_type", "payload_json"]
    );
    assert_eq!(
        columns(&conn, "regime_runs"),
        ["regime_run_id", "created_at_utc", "dataset_id", "freq", "model", "params_json"]
    );
    assert_eq!(columns(&conn, "regime_states"), ["regime_run_id", "ts_utc", "regime_label", "regime_prob"]);
    assert_eq!(
        columns(&conn, "sweep_families"),
        [
            "family_id",
            "created_at_utc",
            "dataset_id",
            "run_id",
            "sweep_name",
            "sweep_payload_json",
            "git_commit",
            "config_hash"
        ]
    );
    assert_eq!(
        columns(&conn, "sweep_hypotheses"),
        ["family_id", "hypothesis_id", "signal_name", "horizon", "estimator", "params_json", "regime_run_id"]
    );
    let idx = names(&conn, "index");
    for want in [
        "idx_promotion_candidates_status",
        "idx_promotion_candidates_dataset_id",
        "idx_promotion_candidates_signal_name",
        "idx_promotion_candidates_created_at_utc",
        "idx_promotion_events_candidate_id",
        "idx_regime_runs_dataset_freq",
        "idx_sweep_families_dataset_id",
        "idx_sweep_families_created_at_utc",
        "idx_sweep_hypotheses_signal_name",
        "idx_sweep_hypotheses_horizon",
    ] {
        assert!(idx.contains(&want.to_string()), "missing index {want}: {idx:?}");
    }
    let sql: String =
        conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'promotion_events'", [], |r| r.get(0)).unwrap();
    assert!(sql.contains("AUTOINCREMENT"));
    assert!(sql.contains("REFERENCES promotion_candidates"));
    // No backup copies left after success.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".bak"))
        .collect();
    assert!(leftovers.is_empty());
    assert_eq!(migrate::max_applied_version_phase3(&db).unwrap(), 14);
    assert!(migrate::phase3_tables_exist(&db).unwrap());
}

#[test]
fn read_helpers_on_a_missing_file_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = temp_db(&dir, "missing.db");
    assert!(!migrate::schema_migrations_phase3_exists(&db).unwrap());
    assert_eq!(migrate::max_applied_version_phase3(&db).unwrap(), 0);
    assert!(migrate::get_applied_versions_phase3(&db).unwrap().is_empty());
    assert!(!migrate::phase3_tables_exist(&db).unwrap());
    assert!(!db.exists());
}

#[test]
fn failing_migration_is_restored_from_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = temp_db(&dir, "f.db");
    migrate::run_migrations_phase3(&db, Some("x")).unwrap();
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute("INSERT INTO regime_runs VALUES ('r1', 't', 'd', '1h', 'hmm', NULL)", []).unwrap();
    }
    // The SQL commits half of its work on its own, then fails: only the copy can undo it.
    let mut ms = migrate::phase3_migrations();
    ms.push(Migration {
        version: 15,
        name: "2026_02_broken".into(),
        sql:
            "CREATE TABLE half_done (x); DELETE FROM regime_runs; COMMIT; BEGIN; INSERT INTO no_such_table VALUES (1);"
                .into(),
    });
    let err = migrate::run_migrations(&db, &ms, Some("x")).unwrap_err().to_string();
    assert!(err.contains("migration 15 (2026_02_broken) failed"), "{err}");
    assert!(err.contains("restored from"), "{err}");
    let conn = Connection::open(&db).unwrap();
    assert!(!names(&conn, "table").contains(&"half_done".to_string()));
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM regime_runs", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1, "the row deleted by the failed migration is back");
    assert_eq!(migrate::get_applied_versions_phase3(&db).unwrap(), (1..=14).collect::<Vec<i64>>());
    assert!(migrate::backup_path(&db, 15).exists(), "the copy is kept after a failure");
}

#[test]
fn guards_reach_databases_migrated_by_older_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = temp_db(&dir, "old.db");
    {
        // What the analyzer's Python migrations left: tables and version rows, no triggers.
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations_phase3 (version INTEGER PRIMARY KEY, name TEXT, applied_at_utc TEXT, git_commit TEXT);
             CREATE TABLE promotion_candidates (candidate_id TEXT PRIMARY KEY, created_at_utc TEXT, status TEXT, dataset_id TEXT,
               run_id TEXT, family_id TEXT, signal_name TEXT, horizon INTEGER, estimator TEXT, config_hash TEXT, git_commit TEXT,
               notes TEXT, evidence_json TEXT);
             CREATE TABLE promotion_events (event_id INTEGER PRIMARY KEY AUTOINCREMENT, candidate_id TEXT, ts_utc TEXT,
               event_type TEXT, payload_json TEXT);
             INSERT INTO promotion_candidates (candidate_id, status) VALUES ('c1', 'exploratory');
             INSERT INTO promotion_events (candidate_id, ts_utc, event_type) VALUES ('c1', 't', 'created');",
        )
        .unwrap();
        for v in 1..=7 {
            conn.execute("INSERT INTO schema_migrations_phase3 VALUES (?1, 'old', 't', 'g')", [v]).unwrap();
        }
    }
    // Versions 1-7 are recorded: only the governance migrations 8-14 run.
    assert_eq!(migrate::run_migrations_phase3(&db, Some("x")).unwrap(), (8..=14).collect::<Vec<i64>>());
    assert!(migrate::run_migrations_phase3(&db, Some("x")).unwrap().is_empty(), "second run is a no-op");
    let conn = Connection::open(&db).unwrap();
    let triggers = names(&conn, "trigger");
    for want in ["promotion_events_candidate_exists", "promotion_events_no_delete", "promotion_events_no_update"] {
        assert!(triggers.contains(&want.to_string()), "{want} missing: {triggers:?}");
    }
    let upd = conn.execute("UPDATE promotion_events SET event_type = 'x'", []).unwrap_err().to_string();
    assert!(upd.contains("append-only"), "{upd}");
    let del = conn.execute("DELETE FROM promotion_events", []).unwrap_err().to_string();
    assert!(del.contains("append-only"), "{del}");
    let orphan = conn
        .execute("INSERT INTO promotion_events (candidate_id, ts_utc, event_type) VALUES ('ghost', 't', 'x')", [])
        .unwrap_err()
        .to_string();
    assert!(orphan.contains("candidate_id not found"), "{orphan}");
}

#[test]
fn not_a_database_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = temp_db(&dir, "junk.db");
    std::fs::write(&db, vec![b'z'; 8192]).unwrap();
    let err = migrate::run_migrations_phase3(&db, Some("x")).unwrap_err();
    assert!(matches!(err, crypto_analyzer_promotion::Error::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("not a SQLite database"));
}
