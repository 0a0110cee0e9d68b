"""migrations_phase3: versions, names, columns, idempotence, restore, append-only triggers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from crypto_analyzer_promotion import _core, store_sqlite
from crypto_analyzer_promotion import migrations_phase3 as mig


def rows(db, sql, params=()):
    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


NAMES = [
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
]
ALL = list(range(1, 15))


def columns(db: Path, table: str):
    return [(r["name"], r["type"], r["notnull"], r["pk"]) for r in rows(db, f"PRAGMA table_info({table})")]


def test_module_exposes_every_contract_name():
    for name in [
        "run_migrations_phase3",
        "MIGRATIONS_PHASE3",
        "_schema_migrations_phase3_exists",
        "_max_applied_version_phase3",
        "get_applied_versions_phase3",
        "phase3_tables_exist",
    ]:
        assert hasattr(mig, name), name
    assert [(v, n) for v, n, _ in mig.MIGRATIONS_PHASE3] == list(enumerate(NAMES, start=1))
    assert all(callable(apply) for _, _, apply in mig.MIGRATIONS_PHASE3)


def test_fresh_database_then_idempotent_rerun(tmp_path):
    db = tmp_path / "m.db"
    conn = sqlite3.connect(str(db))
    assert mig._schema_migrations_phase3_exists(conn) is False
    assert mig._max_applied_version_phase3(conn) == 0
    assert mig.get_applied_versions_phase3(conn) == []
    assert mig.phase3_tables_exist(conn) is False
    assert mig.run_migrations_phase3(conn, str(db)) == ALL
    assert mig.run_migrations_phase3(conn, str(db)) == []
    assert mig._schema_migrations_phase3_exists(conn) is True
    assert mig._max_applied_version_phase3(conn) == 14
    assert mig.get_applied_versions_phase3(conn) == ALL
    assert mig.phase3_tables_exist(conn) is True
    recorded = conn.execute(
        "SELECT version, name, applied_at_utc, git_commit FROM schema_migrations_phase3 ORDER BY version"
    ).fetchall()
    assert [(v, n) for v, n, _, _ in recorded] == list(enumerate(NAMES, start=1))
    assert all(ts.endswith("+00:00") and "T" in ts for _, _, ts, _ in recorded)
    assert all(isinstance(c, str) and c for _, _, _, c in recorded)
    conn.close()


def test_columns_and_indexes_match_the_analyzer(db):
    assert columns(db, "promotion_candidates") == [
        ("candidate_id", "TEXT", 0, 1),
        ("created_at_utc", "TEXT", 1, 0),
        ("status", "TEXT", 1, 0),
        ("dataset_id", "TEXT", 1, 0),
        ("run_id", "TEXT", 1, 0),
        ("family_id", "TEXT", 0, 0),
        ("signal_name", "TEXT", 1, 0),
        ("horizon", "INTEGER", 1, 0),
        ("estimator", "TEXT", 0, 0),
        ("config_hash", "TEXT", 1, 0),
        ("git_commit", "TEXT", 1, 0),
        ("notes", "TEXT", 0, 0),
        ("evidence_json", "TEXT", 0, 0),
        ("eligibility_report_id", "TEXT", 0, 0),
    ]
    assert [c[0] for c in columns(db, "eligibility_reports")] == [
        "eligibility_report_id",
        "candidate_id",
        "level",
        "passed",
        "blockers_json",
        "warnings_json",
        "computed_at_utc",
        "run_key",
        "run_instance_id",
        "dataset_id_v2",
        "engine_version",
        "config_version",
    ]
    assert [c[0] for c in columns(db, "governance_events")] == [
        "event_id",
        "timestamp",
        "actor",
        "action",
        "candidate_id",
        "eligibility_report_id",
        "run_key",
        "dataset_id_v2",
        "artifact_refs_json",
    ]
    assert [c[0] for c in columns(db, "artifact_lineage")] == [
        "artifact_id",
        "run_instance_id",
        "run_key",
        "dataset_id_v2",
        "artifact_type",
        "relative_path",
        "sha256",
        "created_utc",
        "engine_version",
        "config_version",
        "schema_versions_json",
        "plugin_manifest_json",
    ]
    assert [(c[0], c[3]) for c in columns(db, "artifact_edges")] == [
        ("child_artifact_id", 1),
        ("parent_artifact_id", 2),
        ("relation", 3),
    ]
    assert [c[0] for c in columns(db, "promotion_events")] == [
        "event_id",
        "candidate_id",
        "ts_utc",
        "event_type",
        "payload_json",
    ]
    assert [c[0] for c in columns(db, "schema_migrations_phase3")] == [
        "version",
        "name",
        "applied_at_utc",
        "git_commit",
    ]
    assert [c[0] for c in columns(db, "regime_runs")] == [
        "regime_run_id",
        "created_at_utc",
        "dataset_id",
        "freq",
        "model",
        "params_json",
    ]
    assert [(c[0], c[3]) for c in columns(db, "regime_states")] == [
        ("regime_run_id", 1),
        ("ts_utc", 2),
        ("regime_label", 0),
        ("regime_prob", 0),
    ]
    assert [(c[0], c[3]) for c in columns(db, "sweep_hypotheses")] == [
        ("family_id", 1),
        ("hypothesis_id", 2),
        ("signal_name", 0),
        ("horizon", 0),
        ("estimator", 0),
        ("params_json", 0),
        ("regime_run_id", 0),
    ]
    assert [c[0] for c in columns(db, "sweep_families")] == [
        "family_id",
        "created_at_utc",
        "dataset_id",
        "run_id",
        "sweep_name",
        "sweep_payload_json",
        "git_commit",
        "config_hash",
    ]
    indexed = {
        (r["tbl_name"], col["name"])
        for r in rows(db, "SELECT name, tbl_name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")
        for col in rows(db, f"PRAGMA index_info({r['name']})")
    }
    for want in [
        ("promotion_candidates", "status"),
        ("promotion_candidates", "dataset_id"),
        ("promotion_candidates", "signal_name"),
        ("promotion_candidates", "created_at_utc"),
        ("promotion_events", "candidate_id"),
        ("regime_runs", "dataset_id"),
        ("sweep_families", "dataset_id"),
        ("sweep_families", "created_at_utc"),
        ("sweep_hypotheses", "signal_name"),
        ("sweep_hypotheses", "horizon"),
        ("eligibility_reports", "candidate_id"),
        ("governance_events", "candidate_id"),
        ("governance_events", "timestamp"),
        ("artifact_lineage", "run_key"),
        ("artifact_lineage", "dataset_id_v2"),
        ("artifact_lineage", "created_utc"),
        ("artifact_edges", "child_artifact_id"),
        ("artifact_edges", "parent_artifact_id"),
    ]:
        assert want in indexed, want
    sql = rows(db, "SELECT sql FROM sqlite_master WHERE name='promotion_events'")[0]["sql"]
    assert "AUTOINCREMENT" in sql and "REFERENCES promotion_candidates" in sql


def test_apply_callables_create_their_table(tmp_path):
    db = tmp_path / "apply.db"
    sqlite3.connect(str(db)).close()
    # Versions 9, 10 and 14 create triggers (and the column), not tables.
    made_by = {
        9: ("trigger", "promotion_candidates_require_eligibility"),
        10: ("trigger", "eligibility_reports_prevent_update_when_referenced"),
        14: ("trigger", "promotion_candidates_status_check_update"),
    }
    for version, name, apply in mig.MIGRATIONS_PHASE3:
        apply(str(db))
        kind, thing = made_by.get(version, ("table", name.removeprefix("2026_02_")))
        assert rows(db, "SELECT name FROM sqlite_master WHERE type=? AND name=?", (kind, thing)), thing
    assert mig._max_applied_version_phase3(db) == 0  # apply() alone records nothing


def test_events_are_append_only_and_tied_to_candidates(db, make):
    cid = make()
    conn = sqlite3.connect(str(db))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE promotion_events SET event_type = 'forged'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM promotion_events")
    with pytest.raises(sqlite3.IntegrityError, match="candidate_id not found"):
        conn.execute("INSERT INTO promotion_events (candidate_id, ts_utc, event_type) VALUES ('ghost', 't', 'x')")
    conn.close()
    assert [e["event_type"] for e in store_sqlite.get_events(db, cid)] == ["created"]


def test_triggers_reach_a_database_migrated_by_the_old_python_code(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(str(db))
    conn.executescript(
        """
        CREATE TABLE schema_migrations_phase3 (version INTEGER PRIMARY KEY, name TEXT,
            applied_at_utc TEXT, git_commit TEXT);
        CREATE TABLE promotion_candidates (candidate_id TEXT PRIMARY KEY, created_at_utc TEXT,
            status TEXT, dataset_id TEXT, run_id TEXT, family_id TEXT, signal_name TEXT,
            horizon INTEGER, estimator TEXT, config_hash TEXT, git_commit TEXT, notes TEXT,
            evidence_json TEXT);
        CREATE TABLE promotion_events (event_id INTEGER PRIMARY KEY AUTOINCREMENT,
            candidate_id TEXT, ts_utc TEXT, event_type TEXT, payload_json TEXT);
        INSERT INTO promotion_candidates (candidate_id, status) VALUES ('old1', 'exploratory');
        INSERT INTO promotion_events (candidate_id, ts_utc, event_type) VALUES ('old1', 't', 'created');
        """
    )
    conn.executemany(
        "INSERT INTO schema_migrations_phase3 VALUES (?, ?, 't', 'old')",
        list(enumerate(NAMES[:7], start=1)),
    )
    conn.commit()
    with conn:  # still mutable before our runner saw it
        conn.execute("UPDATE promotion_events SET ts_utc = 't2'")
    # Versions 1-7 recorded by the old code: the governance migrations 8-14 run.
    assert mig.run_migrations_phase3(conn, db) == list(range(8, 15))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM promotion_events")
    assert mig.run_migrations_phase3(conn, db) == []  # and again: idempotent
    triggers = {t["name"] for t in rows(db, "SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert {
        "promotion_events_candidate_exists",
        "promotion_events_no_delete",
        "promotion_events_no_update",
        "promotion_candidates_require_eligibility",
        "governance_events_prevent_delete",
    } <= triggers
    conn.close()


def test_failed_migration_restores_the_copy(db):
    conn = sqlite3.connect(str(db))
    conn.execute("INSERT INTO regime_runs VALUES ('r1', 't', 'd', '1h', 'hmm', NULL)")
    conn.commit()
    conn.close()
    before = rows(db, "SELECT * FROM regime_runs")
    # Commits part of its work itself, then fails: a transaction rollback alone cannot undo it.
    bad_sql = "CREATE TABLE half (x); DELETE FROM regime_runs; COMMIT; BEGIN; INSERT INTO nowhere VALUES (1);"
    with pytest.raises(RuntimeError, match=r"migration 15 \(2026_02_broken\) failed.*restored from"):
        _core.store_run_migrations(str(db), "test", [(15, "2026_02_broken", bad_sql)])
    assert rows(db, "SELECT * FROM regime_runs") == before
    assert not rows(db, "SELECT name FROM sqlite_master WHERE name='half'")
    assert mig.get_applied_versions_phase3(db) == ALL
    assert (db.parent / (db.name + ".phase3_v015.bak")).exists()


def test_callers_open_transaction_is_committed_first(tmp_path):
    db = tmp_path / "caller.db"
    conn = sqlite3.connect(str(db))
    conn.execute("CREATE TABLE mine (x)")
    conn.execute("INSERT INTO mine VALUES (42)")
    assert conn.in_transaction
    mig.run_migrations_phase3(conn, str(db))
    assert not conn.in_transaction
    assert rows(db, "SELECT x FROM mine") == [{"x": 42}]
    conn.close()


def test_migrations_refuse_memory_and_non_sqlite(tmp_path):
    with pytest.raises(ValueError, match="in-memory"):
        mig.run_migrations_phase3(sqlite3.connect(":memory:"), None)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 300)
    with pytest.raises(ValueError, match="not a SQLite database"):
        mig.run_migrations_phase3(None, junk)
    assert junk.read_bytes() == b"not a database at all" * 300
