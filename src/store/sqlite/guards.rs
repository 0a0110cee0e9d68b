//! The governance triggers of migrations 009–013 (`migrations/governance_guards.sql`).
//!
//! Each trigger is (re)created when every table (or `table.column`) it needs exists and the
//! text stored in `sqlite_master` differs from ours: databases migrated by the analyzer's own
//! code carry weaker triggers of the same names, which are replaced. Reads first, so a database
//! that is already up to date is not written.

use rusqlite::{Connection, OptionalExtension};

use crate::error::Result;
use crate::store::sqlite::sql_err;

/// The SQL file, embedded.
pub const GOVERNANCE_GUARDS_SQL: &str = include_str!("../../../migrations/sqlite/governance_guards.sql");

/// One trigger of the file: its name, what must exist, its `CREATE TRIGGER` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    /// The trigger's name.
    pub name: String,
    /// The tables (or `table.column`) that must exist before it is created.
    pub needs: Vec<String>,
    /// Its `CREATE TRIGGER` statement.
    pub sql: String,
}

/// The triggers of [`GOVERNANCE_GUARDS_SQL`], in file order.
pub fn governance_guards() -> Vec<Guard> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>, String)> = None;
    for line in GOVERNANCE_GUARDS_SQL.lines() {
        if let Some(rest) = line.strip_prefix("-- @trigger ") {
            if let Some((name, needs, sql)) = current.take() {
                out.push(Guard { name, needs, sql: statement(&sql) });
            }
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap_or_default().to_string();
            let needs = parts.next().unwrap_or_default().split(',').map(str::to_string).collect();
            current = Some((name, needs, String::new()));
        } else if let Some((_, _, sql)) = current.as_mut() {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    if let Some((name, needs, sql)) = current {
        out.push(Guard { name, needs, sql: statement(&sql) });
    }
    out
}

/// The statement as SQLite stores it in sqlite_master (no trailing `;`, trimmed).
fn statement(text: &str) -> String {
    text.trim().trim_end_matches(';').trim_end().to_string()
}

fn table_exists(conn: &Connection, table: &str) -> Result<bool> {
    conn.query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(sql_err)
}

/// Whether `table` has `column` (false when the table is missing).
pub fn column_exists(conn: &Connection, table: &str, column: &str) -> Result<bool> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info(?1)").map_err(sql_err)?;
    let names = st
        .query_map([table], |r| r.get::<_, String>(0))
        .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(sql_err)?;
    Ok(names.iter().any(|n| n == column))
}

fn need_met(conn: &Connection, need: &str) -> Result<bool> {
    match need.split_once('.') {
        Some((table, column)) => column_exists(conn, table, column),
        None => table_exists(conn, need),
    }
}

fn stored_sql(conn: &Connection, name: &str) -> Result<Option<String>> {
    conn.query_row("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1", [name], |r| {
        r.get::<_, Option<String>>(0)
    })
    .optional()
    .map(Option::flatten)
    .map_err(sql_err)
}

/// The guards that are applicable (their tables exist) and missing or different.
pub fn pending_guards(conn: &Connection) -> Result<Vec<Guard>> {
    let mut out = Vec::new();
    for g in governance_guards() {
        let mut met = true;
        for need in &g.needs {
            if !need_met(conn, need)? {
                met = false;
                break;
            }
        }
        if !met {
            continue;
        }
        if stored_sql(conn, &g.name)?.as_deref().map(str::trim) != Some(g.sql.as_str()) {
            out.push(g);
        }
    }
    Ok(out)
}

/// (Re)create `guards` on `conn` (the caller holds the transaction).
pub fn apply_guards(conn: &Connection, guards: &[Guard]) -> Result<()> {
    for g in guards {
        conn.execute_batch(&format!("DROP TRIGGER IF EXISTS \"{}\";\n{};", g.name, g.sql)).map_err(sql_err)?;
    }
    Ok(())
}

/// Add `promotion_candidates.eligibility_report_id` when it is missing (migration 9).
pub fn ensure_eligibility_column(conn: &Connection) -> Result<()> {
    if table_exists(conn, "promotion_candidates")?
        && !column_exists(conn, "promotion_candidates", "eligibility_report_id")?
    {
        conn.execute_batch("ALTER TABLE promotion_candidates ADD COLUMN eligibility_report_id TEXT;")
            .map_err(sql_err)?;
    }
    Ok(())
}
