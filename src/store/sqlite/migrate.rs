//! The Phase 3 migrations on SQLite: the SQLite texts of [`VERSIONS`] (`migrations/sqlite/`),
//! applied in order.
//!
//! Each pending migration: the database file is copied aside (SQLite backup, consistent even in
//! WAL mode), the SQL and its row in `schema_migrations_phase3` run in one transaction, and if
//! anything fails the copy is restored into the database and the error returned (the copy is
//! kept next to the database for inspection). After the versions, the append-only triggers of
//! `promotion_events` are ensured on every run, so databases migrated by older code get them too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, MAIN_DB};

use crate::error::{Error, Result};
use crate::store::migrations::{self, current_git_commit, Dialect, Migration, VERSIONS};
use crate::store::rules::now_utc_iso;
use crate::store::sqlite::guards;
use crate::store::sqlite::{sql_err, with_cached_store_opts, with_write_transaction};

/// The migration that adds `promotion_candidates.eligibility_report_id` (before its SQL runs).
const ELIGIBILITY_COLUMN_MIGRATION: &str = "2026_02_promotion_eligibility_trigger";

/// Append-only triggers of promotion_events (idempotent).
pub const PROMOTION_EVENTS_GUARDS_SQL: &str = include_str!("../../../migrations/sqlite/promotion_events_guards.sql");

/// The tables the Phase 3 migrations 2–7 create (besides schema_migrations_phase3); the
/// analyzer's `phase3_tables_exist` checks these.
pub const PHASE3_TABLES: [&str; 6] =
    ["regime_runs", "regime_states", "promotion_candidates", "promotion_events", "sweep_families", "sweep_hypotheses"];

/// The embedded migrations as owned values.
pub fn phase3_migrations() -> Vec<Migration> {
    migrations::migrations(Dialect::Sqlite)
}

/// The SQL of one embedded version (the guards included for version 5).
pub fn migration_sql(version: i64) -> Option<String> {
    migrations::version_sql(Dialect::Sqlite, version, PROMOTION_EVENTS_GUARDS_SQL)
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    let found: Option<i64> = conn
        .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| r.get(0))
        .optional()
        .map_err(sql_err)?;
    Ok(found.is_some())
}

fn applied_versions_conn(conn: &Connection) -> Result<Vec<i64>> {
    if !table_exists(conn, "schema_migrations_phase3")? {
        return Ok(Vec::new());
    }
    let mut st = conn.prepare("SELECT version FROM schema_migrations_phase3 ORDER BY version").map_err(sql_err)?;
    let rows = st
        .query_map([], |r| r.get::<_, i64>(0))
        .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(sql_err)?;
    Ok(rows)
}

/// Run `f` on this process's cached connection to an existing database; None when the file is
/// absent (a read creates nothing).
fn with_existing<T>(db_path: &Path, f: impl FnOnce(&Connection) -> Result<T>) -> Result<Option<T>> {
    if !db_path.exists() {
        return Ok(None);
    }
    with_cached_store_opts(db_path, true, |s| f(s.connection())).map(Some)
}

/// Whether `schema_migrations_phase3` exists.
pub fn schema_migrations_phase3_exists(db_path: &Path) -> Result<bool> {
    Ok(with_existing(db_path, |c| table_exists(c, "schema_migrations_phase3"))?.unwrap_or(false))
}

/// Applied versions, ascending (empty when none).
pub fn get_applied_versions_phase3(db_path: &Path) -> Result<Vec<i64>> {
    Ok(with_existing(db_path, applied_versions_conn)?.unwrap_or_default())
}

/// Highest applied version, 0 when nothing is applied.
pub fn max_applied_version_phase3(db_path: &Path) -> Result<i64> {
    Ok(get_applied_versions_phase3(db_path)?.into_iter().max().unwrap_or(0))
}

/// Whether every Phase 3 table exists.
pub fn phase3_tables_exist(db_path: &Path) -> Result<bool> {
    let all = with_existing(db_path, |c| {
        for t in PHASE3_TABLES {
            if !table_exists(c, t)? {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(all.unwrap_or(false))
}

/// Where the copy of the database is put before migration `version`.
pub fn backup_path(db_path: &Path, version: i64) -> PathBuf {
    let mut name = db_path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".phase3_v{version:03}.bak"));
    db_path.with_file_name(name)
}

/// Apply the embedded Phase 3 migrations; returns the versions applied by this call.
pub fn run_migrations_phase3(db_path: &Path, git_commit: Option<&str>) -> Result<Vec<i64>> {
    run_migrations(db_path, &phase3_migrations(), git_commit)
}

/// Apply `migrations` (sorted by version) that are not yet recorded, then ensure the
/// promotion_events guards. Idempotent. Returns the versions applied by this call.
pub fn run_migrations(db_path: &Path, migrations: &[Migration], git_commit: Option<&str>) -> Result<Vec<i64>> {
    with_cached_store_opts(db_path, true, |s| run_migrations_on(s.connection_mut(), db_path, migrations, git_commit))
}

/// [`run_migrations`] on a connection the caller opened (to the file at `db_path`).
pub fn run_migrations_on(
    conn: &mut Connection,
    db_path: &Path,
    migrations: &[Migration],
    git_commit: Option<&str>,
) -> Result<Vec<i64>> {
    let mut sorted: Vec<&Migration> = migrations.iter().collect();
    sorted.sort_by_key(|m| m.version);
    let applied: BTreeSet<i64> = applied_versions_conn(conn)?.into_iter().collect();
    let mut commit: Option<String> = git_commit.map(str::to_string);
    let mut done = Vec::new();
    for m in sorted {
        if applied.contains(&m.version) {
            continue;
        }
        let commit = commit.get_or_insert_with(current_git_commit).clone();
        if apply_one(conn, db_path, m, &commit)? {
            done.push(m.version);
        }
    }
    ensure_guards(conn)?;
    Ok(done)
}

/// Ensure the append-only triggers of promotion_events (when the table exists).
/// Also ensures the governance triggers of migrations 009–013 (see [`crate::store::sqlite::guards`]).
pub fn ensure_guards(conn: &mut Connection) -> Result<()> {
    if table_exists(conn, "promotion_events")? && table_exists(conn, "promotion_candidates")? {
        with_write_transaction(conn, |tx| tx.execute_batch(PROMOTION_EVENTS_GUARDS_SQL).map_err(sql_err))?;
    }
    if !guards::pending_guards(conn)?.is_empty() {
        with_write_transaction(conn, |tx| {
            // Re-read under the write lock: another process may have just done it.
            let pending = guards::pending_guards(tx)?;
            guards::apply_guards(tx, &pending)
        })?;
    }
    Ok(())
}

/// Apply one migration with copy-aside and restore. Returns false if another process applied
/// it while we waited for the write lock.
fn apply_one(conn: &mut Connection, db_path: &Path, m: &Migration, git_commit: &str) -> Result<bool> {
    let backup = backup_path(db_path, m.version);
    let _ = std::fs::remove_file(&backup);
    conn.backup(MAIN_DB, &backup, None::<fn(rusqlite::backup::Progress)>).map_err(|e| {
        Error::Runtime(format!(
            "could not copy the database aside to {} before migration {} ({}): {e}",
            backup.display(),
            m.version,
            m.name
        ))
    })?;
    let sql = migrations::sql_to_run(m, PROMOTION_EVENTS_GUARDS_SQL);
    let result = apply_in_transaction(conn, m, &sql, git_commit);
    match result {
        Ok(applied) => {
            let _ = std::fs::remove_file(&backup);
            Ok(applied)
        }
        Err(err) => {
            // The transaction is rolled back when dropped; the copy undoes whatever the SQL
            // committed on its own (e.g. an explicit COMMIT inside the file).
            let _ = conn.execute_batch("ROLLBACK");
            let restored = conn.restore(MAIN_DB, &backup, None::<fn(rusqlite::backup::Progress)>);
            let how = match restored {
                Ok(()) => format!("the database was restored from {}", backup.display()),
                Err(e) => format!("restoring from {} FAILED ({e}); the copy is still there", backup.display()),
            };
            Err(Error::Runtime(format!("migration {} ({}) failed: {err}; {how}", m.version, m.name)))
        }
    }
}

fn apply_in_transaction(conn: &mut Connection, m: &Migration, sql: &str, git_commit: &str) -> Result<bool> {
    with_write_transaction(conn, |tx| {
        // Another process may have applied it while we waited for the lock (nothing written).
        if table_exists(tx, "schema_migrations_phase3")? {
            let already: Option<i64> = tx
                .query_row("SELECT 1 FROM schema_migrations_phase3 WHERE version = ?1", [m.version], |r| r.get(0))
                .optional()
                .map_err(sql_err)?;
            if already.is_some() {
                return Ok(false);
            }
        }
        apply_sql(tx, &m.name, sql)?;
        tx.execute(
            "INSERT OR REPLACE INTO schema_migrations_phase3 (version, name, applied_at_utc, git_commit) VALUES (?1, ?2, ?3, ?4)",
            params![m.version, m.name, now_utc_iso(), git_commit],
        )
        .map_err(sql_err)?;
        Ok(true)
    })
}

/// Run one migration's SQL inside the caller's transaction: the eligibility column first for
/// migration 9 (only when missing, so a half-migrated database is fine), then the file, then
/// the governance triggers whose tables now exist.
fn apply_sql(conn: &Connection, name: &str, sql: &str) -> Result<()> {
    if name == ELIGIBILITY_COLUMN_MIGRATION {
        guards::ensure_eligibility_column(conn)?;
    }
    conn.execute_batch(sql).map_err(sql_err)?;
    let pending = guards::pending_guards(conn)?;
    guards::apply_guards(conn, &pending)
}

/// Execute the SQL of one embedded version on the database (no bookkeeping row). Idempotent.
pub fn apply_migration_sql(db_path: &Path, version: i64) -> Result<()> {
    let sql = migration_sql(version)
        .ok_or_else(|| Error::invalid(format!("unknown Phase 3 migration version: {version}")))?;
    let name = VERSIONS.iter().find(|v| v.version == version).map(|v| v.name).unwrap_or_default();
    with_cached_store_opts(db_path, true, |s| {
        with_write_transaction(s.connection_mut(), |tx| apply_sql(tx, name, &sql))
    })
}
