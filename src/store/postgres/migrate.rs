//! Phase 3 migrations on PostgreSQL: versions 1-14 in PostgreSQL's dialect
//! (`migrations/postgresql/`), recorded in `schema_migrations_phase3` with the same versions and
//! names as the SQLite runner. Every text is run with `@schema@` replaced by the quoted schema it
//! migrates (`current_schema()`), so the functions of version 14 and the trigger functions can
//! name every object schema-qualified and pin `search_path`.
//!
//! PostgreSQL runs DDL inside transactions, so each pending migration is ONE transaction (its
//! SQL and its bookkeeping row): a failing migration leaves nothing behind, which replaces the
//! SQLite runner's copy-aside/restore. Concurrent runners (several processes or machines
//! migrating the same registry) serialise on a transaction-scoped advisory lock and re-check
//! what is applied after getting it. The append-only guards of `promotion_events` are ensured
//! after every run (only written when one is missing, so a run on an up-to-date registry takes
//! no table lock).

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::store::migrations::{self, current_git_commit, Dialect, Migration};
use crate::store::postgres::conn::pg_err;
use postgres::Transaction;

use crate::store::postgres::{with_pg_store, PgStore, TxErr};
use crate::store::rules::now_utc_iso;

/// Append-only triggers of promotion_events (idempotent).
pub const PG_PROMOTION_EVENTS_GUARDS_SQL: &str = include_str!("../../../migrations/postgresql/guards.sql");

/// The group roles and their grants (`crypto-analyzer-promotion roles`; idempotent).
pub const PG_ROLES_SQL: &str = include_str!("../../../migrations/postgresql/roles.sql");

/// The placeholder the PostgreSQL texts use for the schema they migrate (every object is
/// schema-qualified, so functions can pin `search_path` and no temporary object shadows a table).
const SCHEMA_PLACEHOLDER: &str = "@schema@";

/// `sql` with [`SCHEMA_PLACEHOLDER`] replaced by the quoted name of the schema this transaction
/// creates objects in (the first existing schema of its search_path).
fn in_schema(tx: &mut Transaction<'_>, sql: &str) -> std::result::Result<String, TxErr> {
    if !sql.contains(SCHEMA_PLACEHOLDER) {
        return Ok(sql.to_string());
    }
    let schema: Option<String> = tx.query_one("SELECT quote_ident(current_schema())", &[])?.try_get(0)?;
    let schema = schema.ok_or_else(|| {
        Error::Runtime("no schema to migrate: none of the schemas in the connection's search_path exists".into())
    })?;
    Ok(sql.replace(SCHEMA_PLACEHOLDER, &schema))
}

/// The triggers the guards create on promotion_events.
const GUARD_TRIGGERS: [&str; 4] = [
    "promotion_events_no_update",
    "promotion_events_no_delete",
    "promotion_events_no_truncate",
    "promotion_events_candidate_exists",
];

/// The tables versions 2-13 create (besides schema_migrations_phase3).
pub const PG_PHASE3_TABLES: [&str; 10] = [
    "regime_runs",
    "regime_states",
    "promotion_candidates",
    "promotion_events",
    "sweep_families",
    "sweep_hypotheses",
    "eligibility_reports",
    "governance_events",
    "artifact_lineage",
    "artifact_edges",
];

/// Key of the advisory lock migration runners take (any constant unique to this package).
const MIGRATION_LOCK_KEY: i64 = 0x0050_4833_5052_4f4d; // "PH3PROM"

/// The embedded PostgreSQL migrations as owned values.
pub fn pg_phase3_migrations() -> Vec<Migration> {
    migrations::migrations(Dialect::Postgresql)
}

/// The SQL of one embedded version (the guards included for version 5).
pub fn pg_migration_sql(version: i64) -> Option<String> {
    migrations::version_sql(Dialect::Postgresql, version, PG_PROMOTION_EVENTS_GUARDS_SQL)
}

fn table_exists(store: &mut PgStore, name: &str) -> Result<bool> {
    store.table_exists(name)
}

fn applied_versions(store: &mut PgStore) -> Result<Vec<i64>> {
    if !table_exists(store, "schema_migrations_phase3")? {
        return Ok(Vec::new());
    }
    let rows = store.client_mut_keep().query("SELECT version FROM schema_migrations_phase3 ORDER BY version", &[]);
    match rows {
        Ok(rows) => rows.iter().map(|r| r.try_get::<_, i64>(0).map_err(|e| pg_err(store.target(), &e))).collect(),
        Err(e) => Err(pg_err(store.target(), &e)),
    }
}

/// Whether `schema_migrations_phase3` exists.
pub fn pg_schema_migrations_exists(url: &str) -> Result<bool> {
    with_pg_store(url, |s| table_exists(s, "schema_migrations_phase3"))
}

/// Applied versions, ascending (empty when none).
pub fn pg_applied_versions(url: &str) -> Result<Vec<i64>> {
    with_pg_store(url, applied_versions)
}

/// Whether every Phase 3 table exists.
pub fn pg_phase3_tables_exist(url: &str) -> Result<bool> {
    with_pg_store(url, |s| {
        for t in PG_PHASE3_TABLES {
            if !table_exists(s, t)? {
                return Ok(false);
            }
        }
        Ok(true)
    })
}

/// Apply the embedded migrations (and `extra` ones); returns the versions applied by this call.
pub fn pg_run_migrations(url: &str, extra: &[Migration], git_commit: Option<&str>) -> Result<Vec<i64>> {
    let mut all = pg_phase3_migrations();
    all.extend(extra.iter().cloned());
    with_pg_store(url, |s| run_migrations_on(s, &all, git_commit))
}

/// [`pg_run_migrations`] on a store the caller holds.
pub fn run_migrations_on(store: &mut PgStore, migrations: &[Migration], git_commit: Option<&str>) -> Result<Vec<i64>> {
    let mut sorted: Vec<&Migration> = migrations.iter().collect();
    sorted.sort_by_key(|m| m.version);
    let applied: BTreeSet<i64> = applied_versions(store)?.into_iter().collect();
    let mut commit: Option<String> = git_commit.map(str::to_string);
    let mut done = Vec::new();
    for m in sorted {
        if applied.contains(&m.version) {
            continue;
        }
        let commit = commit.get_or_insert_with(current_git_commit).clone();
        let sql = migrations::sql_to_run(m, PG_PROMOTION_EVENTS_GUARDS_SQL);
        let applied_now = store
            .run_tx(|tx, _| {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
                // Another runner may have applied it while we waited for the lock.
                let exists: bool = tx.query_one("SELECT to_regclass('schema_migrations_phase3') IS NOT NULL", &[])?.try_get(0)?;
                if exists
                    && tx
                        .query_opt("SELECT 1 FROM schema_migrations_phase3 WHERE version = $1", &[&m.version])?
                        .is_some()
                {
                    return Ok(false);
                }
                let sql = in_schema(tx, &sql)?;
                tx.batch_execute(&sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations_phase3 (version, name, applied_at_utc, git_commit) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, applied_at_utc = EXCLUDED.applied_at_utc, \
                     git_commit = EXCLUDED.git_commit",
                    &[&m.version, &m.name, &now_utc_iso(), &commit],
                )?;
                Ok(true)
            })
            .map_err(|e| match e {
                // Lost connection: its own message says whether the outcome is unknown (at COMMIT).
                Error::Connect(_) => e,
                e => Error::Runtime(format!("migration {} ({}) failed: {e}; nothing of it was kept (rolled back)", m.version, m.name)),
            })?;
        store.forget_statements();
        if applied_now {
            done.push(m.version);
        }
    }
    ensure_guards(store)?;
    Ok(done)
}

/// Ensure the append-only triggers of promotion_events (when the tables exist and one of the
/// triggers is missing).
pub fn ensure_guards(store: &mut PgStore) -> Result<()> {
    if !table_exists(store, "promotion_events")? || !table_exists(store, "promotion_candidates")? {
        return Ok(());
    }
    let names: Vec<String> = GUARD_TRIGGERS.iter().map(|s| (*s).to_string()).collect();
    let count: i64 = match store.client_mut_keep().query_one(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass('promotion_events') AND tgname = ANY($1) AND NOT tgisinternal",
        &[&names],
    ) {
        Ok(r) => r.try_get(0).map_err(|e| pg_err(store.target(), &e))?,
        Err(e) => return Err(pg_err(store.target(), &e)),
    };
    if count == GUARD_TRIGGERS.len() as i64 {
        return Ok(());
    }
    store.run_tx(|tx, _| {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
        let sql = in_schema(tx, PG_PROMOTION_EVENTS_GUARDS_SQL)?;
        tx.batch_execute(&sql)?;
        Ok(())
    })?;
    store.forget_statements();
    Ok(())
}

/// Execute the SQL of one embedded version (no bookkeeping row). Idempotent.
pub fn pg_apply_migration_sql(url: &str, version: i64) -> Result<()> {
    let sql = pg_migration_sql(version)
        .ok_or_else(|| Error::invalid(format!("unknown Phase 3 migration version: {version}")))?;
    with_pg_store(url, |s| {
        s.run_tx(|tx, _| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
            let sql = in_schema(tx, &sql)?;
            tx.batch_execute(&sql)?;
            Ok(())
        })?;
        s.forget_statements();
        Ok(())
    })
}

/// Create the group roles `reader`, `researcher` and `approver` when missing and grant them
/// what they may do on the registry `url` names ([`PG_ROLES_SQL`]; docs/postgresql.md). Needs a
/// migrated registry (version 14) and a session that may create roles and grant on its tables.
pub fn pg_setup_roles(url: &str) -> Result<()> {
    with_pg_store(url, |s| {
        if !applied_versions(s)?.contains(&14) {
            return Err(Error::Runtime(
                "the registry is not migrated to version 14 yet: run the migrations (as the owner) first".into(),
            ));
        }
        s.run_tx(|tx, _| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
            let sql = in_schema(tx, PG_ROLES_SQL)?;
            tx.batch_execute(&sql)?;
            Ok(())
        })?;
        s.forget_statements();
        Ok(())
    })
}
