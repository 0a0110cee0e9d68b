//! The promotion store on SQLite: connections (WAL, busy timeout, `synchronous`), error mapping,
//! the connection cache, and the SQLite primitives (`primitives.rs`) the store's operations
//! (`src/store/ops.rs`) are written over.
//!
//! Every write that must be atomic (a candidate and its `created` event, a status and
//! its `status_change` / `evaluated` event) runs in one `BEGIN IMMEDIATE` transaction, so a
//! second writer waits (busy timeout) instead of failing half-way. Connections use WAL mode, so
//! readers never block writers and several processes can write the same file.
//!
//! Python callers reach the store through [`with_cached_store`], which keeps one connection per
//! database path per process (reopened after a fork or when the file is replaced).

pub mod guards;
pub mod library;
pub mod migrate;
mod primitives;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::store::rules::{normalize_path, PROMOTION_TABLES_REQUIRED_MSG};

/// How long a writer waits for another writer before reporting [`Error::Busy`] (default).
pub const BUSY_TIMEOUT_MS: u64 = 10_000;

/// Environment variable overriding [`BUSY_TIMEOUT_MS`] (milliseconds, read when a connection
/// is opened; capped at ten minutes; an unparsable value is ignored).
pub const BUSY_TIMEOUT_ENV: &str = "CRYPTO_ANALYZER_BUSY_TIMEOUT_MS";

/// The busy timeout in force: env [`BUSY_TIMEOUT_ENV`] when set to a number, else the default.
pub fn busy_timeout_ms() -> u64 {
    std::env::var(BUSY_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|ms| ms.min(600_000))
        .unwrap_or(BUSY_TIMEOUT_MS)
}

/// Environment variable choosing how durable every store connection is: `FULL` (default) or
/// `NORMAL` (read when a connection is opened; case-insensitive; anything else is refused).
pub const SYNCHRONOUS_ENV: &str = "CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS";

/// SQLite's `synchronous` setting of the store's connections (always in WAL mode).
///
/// * `Full` (default): the WAL is synced on every commit, so a committed transaction survives a
///   power cut or OS crash.
/// * `Normal` (opt-in via [`SYNCHRONOUS_ENV`]): the WAL is synced only at checkpoints; the last
///   transactions committed before a power cut or OS crash may roll back (an application crash
///   loses nothing). Faster per commit; for bulk loads that can be redone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=FULL`: every commit synced (the default).
    Full,
    /// `synchronous=NORMAL`: synced at checkpoints only (opt-in).
    Normal,
}

impl Synchronous {
    /// The PRAGMA keyword (`"FULL"` / `"NORMAL"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }

    /// Parse the environment value: empty → Full; `FULL` / `NORMAL` in any case.
    pub fn parse(value: &str) -> Result<Synchronous> {
        match value.trim().to_ascii_uppercase().as_str() {
            "" | "FULL" => Ok(Synchronous::Full),
            "NORMAL" => Ok(Synchronous::Normal),
            _ => Err(Error::invalid(format!("{SYNCHRONOUS_ENV} must be FULL (default) or NORMAL, got {value:?}"))),
        }
    }
}

/// The durability the store opens connections with: env [`SYNCHRONOUS_ENV`], default Full.
pub fn synchronous_mode() -> Result<Synchronous> {
    match std::env::var(SYNCHRONOUS_ENV) {
        Ok(v) => Synchronous::parse(&v),
        Err(std::env::VarError::NotPresent) => Ok(Synchronous::Full),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::invalid(format!("{SYNCHRONOUS_ENV} must be FULL (default) or NORMAL, got a non-UTF-8 value")))
        }
    }
}

/// The settings in force on one connection, read back from SQLite (diagnostics and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSettings {
    /// `PRAGMA synchronous` as a keyword: OFF, NORMAL, FULL or EXTRA.
    pub synchronous: String,
    /// `PRAGMA journal_mode` (lower case, e.g. "wal").
    pub journal_mode: String,
    /// `PRAGMA busy_timeout` in milliseconds.
    pub busy_timeout_ms: i64,
}

/// Read [`ConnectionSettings`] from `conn`.
pub fn connection_settings(conn: &Connection) -> Result<ConnectionSettings> {
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).map_err(sql_err)?;
    let journal_mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(sql_err)?;
    let busy_timeout_ms: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).map_err(sql_err)?;
    let synchronous = match sync {
        0 => "OFF",
        1 => "NORMAL",
        2 => "FULL",
        3 => "EXTRA",
        _ => "UNKNOWN",
    };
    Ok(ConnectionSettings {
        synchronous: synchronous.to_string(),
        journal_mode: journal_mode.to_ascii_lowercase(),
        busy_timeout_ms,
    })
}

/// The message of a `RAISE(ABORT, ...)` in one of our triggers, if `e` is one.
pub fn trigger_message(e: &rusqlite::Error) -> Option<String> {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER {
            return Some(msg.clone());
        }
    }
    None
}

/// A "no such column" error on a database before migration 9, said plainly.
pub fn missing_column(e: rusqlite::Error, column: &str) -> Error {
    if e.to_string().contains(&format!("no such column: {column}"))
        || e.to_string().contains(&format!("has no column named {column}"))
    {
        return Error::Runtime(format!(
            "promotion_candidates has no {column} column; run the Phase 3 migrations (008+): run_migrations_phase3(conn, db_path)"
        ));
    }
    sql_err(e)
}

/// Map a SQLite error onto the core error: busy/locked → Busy, missing promotion tables →
/// the analyzer's RuntimeError, "not a database" → InvalidInput.
pub fn sql_err(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(ref failure, ref detail) = e {
        match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return Error::Busy {
                    waited_ms: busy_timeout_ms(),
                    detail: detail.clone().unwrap_or_else(|| failure.to_string()),
                }
            }
            ErrorCode::NotADatabase => {
                return Error::invalid("the database file is not a SQLite database (file is not a database)")
            }
            _ => {}
        }
    }
    let text = e.to_string();
    if text.contains("no such table: promotion_candidates") || text.contains("no such table: promotion_events") {
        return Error::Runtime(PROMOTION_TABLES_REQUIRED_MSG.to_string());
    }
    Error::Sqlite(e)
}

/// Open a connection with the store's settings (WAL, busy timeout, `synchronous` from
/// [`synchronous_mode`]: FULL unless the user opted into NORMAL).
/// With `create` false a missing file is reported as the analyzer's missing-tables error and
/// no file is created.
pub fn open_connection(db_path: &Path, create: bool) -> Result<Connection> {
    crate::store::sqlite::library::ensure_ready()?;
    let synchronous = synchronous_mode()?;
    if db_path.as_os_str().to_string_lossy().contains('\0') {
        return Err(Error::invalid("database path contains a NUL byte"));
    }
    if !create && !db_path.exists() {
        return Err(Error::Runtime(PROMOTION_TABLES_REQUIRED_MSG.to_string()));
    }
    if db_path.is_dir() {
        return Err(Error::invalid(format!("database path is a directory: {}", db_path.display())));
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(db_path, flags).map_err(|e| open_err(db_path, e))?;
    conn.busy_timeout(Duration::from_millis(busy_timeout_ms())).map_err(sql_err)?;
    // The first statement reads the header: a file that is not SQLite fails here.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| open_err(db_path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Another process holds the file in a mode we cannot change now; still usable.
    }
    conn.execute_batch(&format!("PRAGMA synchronous={}; PRAGMA cache_size=-16384;", synchronous.as_str()))
        .map_err(sql_err)?;
    // A connection inherited across fork is closed in the child (see `with_cached_store_opts`);
    // that close must not checkpoint or delete the WAL that the parent is still using.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn open_err(db_path: &Path, e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(ref failure, _) = e {
        if failure.code == ErrorCode::NotADatabase {
            return Error::invalid(format!("{} is not a SQLite database (file is not a database)", db_path.display()));
        }
    }
    sql_err(e)
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
        .and_then(|mut st| st.query_row([name], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    Ok(found.is_some())
}

/// Whether both promotion tables exist in the database at `conn`.
pub fn promotion_tables_exist_conn(conn: &Connection) -> Result<bool> {
    Ok(table_exists(conn, "promotion_candidates")? && table_exists(conn, "promotion_events")?)
}

/// Run `f` in ONE `BEGIN IMMEDIATE` transaction on `conn`. Every write of the store goes through
/// here: the write lock is taken first (a second writer waits out the busy timeout instead of
/// failing half-way), the transaction commits when `f` returns `Ok` and rolls back (dropped
/// unfinished) when it returns `Err`.
pub fn with_write_transaction<T>(conn: &mut Connection, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_err)?;
    let out = f(&tx)?;
    tx.commit().map_err(sql_err)?;
    Ok(out)
}

/// A connection to one promotion database.
///
/// The extension runs on the same SQLite library as Python's `sqlite3` module (see
/// `sqlite_host`), so this connection and the caller's are ordinary connections of one library:
/// SQLite itself keeps their POSIX locks consistent, and dropping a `Store` simply closes its
/// connection.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    tables_checked: bool,
}

impl Store {
    /// Open an existing database file (WAL mode, busy timeout). A missing file is reported as
    /// missing promotion tables; a file that is not SQLite as InvalidInput.
    pub fn open(db_path: &Path) -> Result<Store> {
        Self::open_with(db_path, false)
    }

    /// Like [`Store::open`]; with `create` a missing file is created (migrations, init).
    pub fn open_with(db_path: &Path, create: bool) -> Result<Store> {
        Ok(Store { conn: open_connection(db_path, create)?, path: db_path.to_path_buf(), tables_checked: false })
    }

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection (for reads the store has no method for).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Mutable access to the connection (the migration runner needs transactions on it).
    pub fn connection_mut(&mut self) -> &mut Connection {
        self.tables_checked = false;
        &mut self.conn
    }
}

// ---------------------------------------------------------------------------------------------
// One cached connection per database path per process.
// ---------------------------------------------------------------------------------------------

#[derive(PartialEq, Clone, Copy)]
struct FileId(u64, u64);

fn file_id(path: &Path) -> Option<FileId> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(FileId(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some(FileId(0, 0))
    }
}

struct Cached {
    pid: u32,
    /// Identity (device, inode) of the database file when the connection was opened.
    file: Option<FileId>,
    store: Option<Store>,
}

type Slot = Arc<Mutex<Cached>>;

fn cache() -> &'static Mutex<HashMap<PathBuf, Slot>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Slot>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Run `f` with this process's cached [`Store`] for `db_path` (opened on first use; reopened
/// after a fork or when the file at the path was replaced). Calls on the same path are serialised
/// by a mutex; different paths proceed in parallel.
///
/// Keeping the connection open saves the open, the WAL setup and the prepared statements on
/// every call (most of the cost of a small write).
pub fn with_cached_store<T>(db_path: &Path, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
    with_cached_store_opts(db_path, false, f)
}

/// [`with_cached_store`], creating the file when `create` is true.
pub fn with_cached_store_opts<T>(db_path: &Path, create: bool, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
    let key = normalize_path(db_path);
    let slot = {
        let mut map = cache().lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Cached { pid: 0, file: None, store: None })))
            .clone()
    };
    let mut guard = match slot.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            // A previous call panicked mid-way: do not trust its connection.
            let mut g = poisoned.into_inner();
            g.store = None;
            g
        }
    };
    let pid = std::process::id();
    if guard.pid != pid {
        // Inherited across fork: SQLite connections must not be used in the child. Close it
        // (it never checkpoints on close, so the parent's WAL is left alone) rather than keep
        // it, because while it stays open the child's SQLite keeps the parent's lock
        // bookkeeping for this file and a new connection would skip taking its own locks.
        drop(guard.store.take());
    } else if guard.store.is_some() && (file_id(&key).is_none() || file_id(&key) != guard.file) {
        // The file at the path was deleted or replaced: writing on would go to the old inode.
        guard.store = None;
    }
    if guard.store.is_none() {
        let store = Store::open_with(&key, create)?;
        guard.file = file_id(&key); // `create` may have just made it
        guard.store = Some(store);
        guard.pid = pid;
    }
    match guard.store.as_mut() {
        Some(store) => f(store).map_err(|e| readonly_as_permission(e, &key)),
        None => Err(Error::Internal("cached store missing after open".into())),
    }
}

/// SQLite's "attempt to write a readonly database" is a permission problem of the file (or its
/// folder): report it as one (Python: AccessDeniedError, a PermissionError) naming the file.
fn readonly_as_permission(e: Error, db_path: &Path) -> Error {
    match e {
        Error::Sqlite(rusqlite::Error::SqliteFailure(ref f, _)) if f.code == ErrorCode::ReadOnly => Error::Io {
            context: "the database is read-only, cannot write".into(),
            path: db_path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "attempt to write a readonly database"),
        },
        other => other,
    }
}

/// Drop the cached connection of `db_path` (e.g. before deleting the file).
pub fn forget_cached_store(db_path: &Path) {
    let key = normalize_path(db_path);
    let mut map = cache().lock().unwrap_or_else(|p| p.into_inner());
    map.remove(&key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronous_values_parse_strictly() {
        assert_eq!(Synchronous::parse("").unwrap(), Synchronous::Full);
        assert_eq!(Synchronous::parse(" full ").unwrap(), Synchronous::Full);
        assert_eq!(Synchronous::parse("Normal").unwrap(), Synchronous::Normal);
        for bad in ["OFF", "0", "1", "EXTRA", "fast"] {
            assert!(matches!(Synchronous::parse(bad), Err(Error::InvalidInput(_))), "{bad}");
        }
    }

    #[test]
    fn a_new_connection_runs_wal_and_the_default_synchronous_full() {
        // The process environment is shared by the tests: only assert the default when unset.
        if std::env::var_os(SYNCHRONOUS_ENV).is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("s.db"), true).unwrap();
        let s = connection_settings(&conn).unwrap();
        assert_eq!((s.synchronous.as_str(), s.journal_mode.as_str()), ("FULL", "wal"));
    }
}
