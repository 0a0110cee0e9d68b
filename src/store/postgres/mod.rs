//! The promotion store on a PostgreSQL server, for a registry a team shares: the connection
//! ([`PgStore`], `conn.rs`) and its per-process cache, the statements the store's operations
//! run (the primitives in `primitives.rs`; the operations themselves are written once in
//! `src/store/ops.rs`, with the same rows, canonical JSON, ids and messages as on SQLite), the
//! migration runner (`migrate.rs`), and two PostgreSQL-only writes that the Python API does not
//! reach: [`PgStore::record_rung`] with a governance event in the same transaction, and
//! [`PgStore::append_governance_event`].
//!
//! Concurrency: every operation is ONE transaction at READ COMMITTED that first locks the
//! candidate row it changes (`SELECT ... FOR UPDATE`) and the eligibility report it links
//! (`FOR SHARE`). Two writers of the same candidate therefore run one after the other and the
//! second sees the first's committed status; writers of different candidates never wait for
//! each other. Row locks were chosen over SERIALIZABLE because every rule the store enforces is
//! about one candidate row and one report row, which the locks cover exactly, without the
//! false-positive aborts SERIALIZABLE produces on index pages under a write-heavy load. A
//! deadlock (40P01) or serialization failure (40001) is still retried a bounded number of times
//! (the whole transaction, from the start), then reported as [`Error::Busy`].
//!
//! The server's triggers (migrations/postgresql) enforce the same rules independently of this
//! code, so plain SQL from any client cannot bypass them.

pub mod conn;
pub mod migrate;
mod pgfiles;
mod primitives;
mod tls;
mod transport;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, GenericClient, Row, Statement, Transaction};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::pyfmt::to_canonical_string;
use crate::store::model::{Candidate, EligibilityRow};
use crate::store::postgres::conn::{is_retryable, outcome_unknown, pg_err, PgTarget};
use crate::store::rules::{
    check_report_link, not_found, now_utc_iso, payload_to_json, report_id_taken, status_change_payload, status_changed,
    validate_status, ReportLink, ELIGIBILITY_REQUIRED_MSG, ELIGIBILITY_TABLE_REQUIRED_MSG,
    GOVERNANCE_TABLE_REQUIRED_MSG,
};
use crate::store::RegistryStore;

/// How many times a transaction is attempted when the server reports a deadlock or a
/// serialization failure.
pub const MAX_TX_ATTEMPTS: u32 = 8;

const CANDIDATE_COLUMNS: &str = "candidate_id, created_at_utc, status, dataset_id, run_id, \
    family_id, signal_name, horizon, estimator, config_hash, git_commit, notes, evidence_json, \
    eligibility_report_id";

/// One row to append to `governance_events` (None text fields stored as "", as c79684b does).
#[derive(Debug, Clone, Default)]
pub struct NewGovernanceEvent {
    /// When the action happened (as the caller gave it).
    pub timestamp: String,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// The candidate concerned, if any.
    pub candidate_id: Option<String>,
    /// The eligibility report concerned, if any.
    pub eligibility_report_id: Option<String>,
    /// The analyzer's run key, if any.
    pub run_key: Option<String>,
    /// The dataset id (v2), if any.
    pub dataset_id_v2: Option<String>,
    /// Artifact references (stored as canonical JSON; None or `[]`: empty).
    pub artifact_refs: Option<Value>,
}

/// What [`PgStore::record_rung`] writes in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct RungWrite<'a> {
    /// The candidate the evaluation is for.
    pub candidate_id: &'a str,
    /// The status the evaluation started from (None: not checked).
    pub expected_status: Option<&'a str>,
    /// The new status (None: no status change).
    pub new_status: Option<&'a str>,
    /// The payload of the `evaluated` event (None: no event).
    pub event_payload: Option<&'a Value>,
    /// The eligibility report computed for this candidate (stored; linked on promotion).
    pub report: Option<&'a EligibilityRow>,
    /// The reason of the `status_change` event a promotion writes.
    pub reason: Option<&'a str>,
    /// A governance event to append in the same transaction.
    pub governance: Option<&'a NewGovernanceEvent>,
}

/// A failure inside a transaction body: the client's (maybe retryable) or ours (final).
pub(crate) enum TxErr {
    Pg(postgres::Error),
    Core(Error),
}

impl From<postgres::Error> for TxErr {
    fn from(e: postgres::Error) -> Self {
        TxErr::Pg(e)
    }
}

impl From<Error> for TxErr {
    fn from(e: Error) -> Self {
        TxErr::Core(e)
    }
}

type TxResult<T> = std::result::Result<T, TxErr>;

fn row_to_candidate(r: &Row) -> TxResult<Candidate> {
    Ok(Candidate {
        candidate_id: r.try_get(0)?,
        created_at_utc: r.try_get(1)?,
        status: r.try_get(2)?,
        dataset_id: r.try_get(3)?,
        run_id: r.try_get(4)?,
        family_id: r.try_get(5)?,
        signal_name: r.try_get(6)?,
        horizon: r.try_get(7)?,
        estimator: r.try_get(8)?,
        config_hash: r.try_get(9)?,
        git_commit: r.try_get(10)?,
        notes: r.try_get(11)?,
        evidence_json: r.try_get(12)?,
        eligibility_report_id: r.try_get(13)?,
    })
}

/// A short pause before retrying a transaction (grows with the attempt, jittered by the clock so
/// that two processes that collided do not collide again in lockstep).
fn backoff(attempt: u32) {
    let base_ms = 2u64 << attempt.min(6);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) % base_ms.max(1))
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(base_ms + jitter));
}

/// A connection to one promotion registry on a PostgreSQL server.
pub struct PgStore {
    client: Client,
    target: PgTarget,
    stmts: HashMap<String, Statement>,
    tables_checked: bool,
}

impl PgStore {
    /// Connect to the server named by `url` (see [`PgTarget::parse`]).
    pub fn connect(url: &str) -> Result<PgStore> {
        let target = PgTarget::parse(url)?;
        let client = target.connect()?;
        Ok(PgStore { client, target, stmts: HashMap::new(), tables_checked: false })
    }

    /// The URL with the password replaced by `***`.
    pub fn redacted_url(&self) -> &str {
        self.target.redacted()
    }

    /// Whether the connection was closed (server restart, network): the cache reconnects.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub(crate) fn target(&self) -> &PgTarget {
        &self.target
    }

    pub(crate) fn client_mut_keep(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Forget prepared statements and the tables check (after DDL changed the schema).
    pub(crate) fn forget_statements(&mut self) {
        self.tables_checked = false;
        self.stmts.clear();
    }

    /// Run `body` in one transaction; retry the whole transaction on deadlock / serialization
    /// failure (at most [`MAX_TX_ATTEMPTS`] attempts).
    pub(crate) fn run_tx<T>(
        &mut self,
        mut body: impl FnMut(&mut Transaction<'_>, &mut HashMap<String, Statement>) -> TxResult<T>,
    ) -> Result<T> {
        let target = &self.target;
        let stmts = &mut self.stmts;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.client.transaction().map_err(|e| pg_err(target, &e))?;
            let outcome = match body(&mut tx, stmts) {
                Ok(v) => match tx.commit() {
                    Ok(()) => Ok(v),
                    // No answer to COMMIT: the server may or may not have committed.
                    Err(e) if e.as_db_error().is_none() => return Err(outcome_unknown(target, &e)),
                    Err(e) => Err(TxErr::Pg(e)),
                },
                Err(e) => Err(e), // dropping `tx` rolls back
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(TxErr::Pg(e)) if is_retryable(&e) && attempt < MAX_TX_ATTEMPTS => backoff(attempt),
                Err(TxErr::Pg(e)) => return Err(pg_err(target, &e)),
                Err(TxErr::Core(e)) => return Err(e),
            }
        }
    }

    pub(crate) fn table_exists(&mut self, name: &str) -> Result<bool> {
        let target = &self.target;
        let row =
            self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name]).map_err(|e| pg_err(target, &e))?;
        row.try_get::<_, bool>(0).map_err(|e| pg_err(target, &e))
    }

    /// `promote(candidate_id, "candidate", ...)`.
    pub fn promote_to_candidate(
        &mut self,
        candidate_id: &str,
        eligibility_report_id: &str,
        reason: Option<&str>,
    ) -> Result<i64> {
        RegistryStore::promote(self, candidate_id, "candidate", eligibility_report_id, reason)
    }

    /// `promote(candidate_id, "accepted", ...)`.
    pub fn promote_to_accepted(
        &mut self,
        candidate_id: &str,
        eligibility_report_id: &str,
        reason: Option<&str>,
    ) -> Result<i64> {
        RegistryStore::promote(self, candidate_id, "accepted", eligibility_report_id, reason)
    }

    /// One rung of an evaluation with an optional governance event, written in ONE transaction
    /// (PostgreSQL only; `evaluate_and_record` writes through [`RegistryStore::record_rung`]):
    /// lock the candidate; refuse if its
    /// status is no longer `expected_status` (another process evaluated or promoted it since it
    /// was read: evaluate again; nothing written); store the eligibility `report` (if any); set
    /// `new_status` (None: no status change, e.g. a failed eligibility), linking the report when
    /// the new status is candidate/accepted (it must be a passed report of that level for this
    /// candidate) and writing the `status_change` event; append the `evaluated` event (if any) and the governance event (if any).
    /// Returns the id of the `evaluated` event.
    pub fn record_rung(&mut self, w: &RungWrite<'_>) -> Result<Option<i64>> {
        self.require_promotion_tables()?;
        if let Some(st) = w.new_status {
            validate_status(st)?;
        }
        let promoting = matches!(w.new_status, Some("candidate" | "accepted"));
        let link = match (promoting, w.report) {
            (true, Some(r)) => Some(r.eligibility_report_id.as_str()),
            (true, None) => return Err(Error::invalid(ELIGIBILITY_REQUIRED_MSG)),
            (false, _) => None,
        };
        if let Some(r) = w.report {
            if r.candidate_id != w.candidate_id {
                return Err(Error::invalid(format!(
                    "eligibility report {} was computed for another candidate ({})",
                    r.eligibility_report_id, r.candidate_id
                )));
            }
            crate::store::rules::validate_level(&r.level)?;
        }
        let payload_json = w.event_payload.and_then(|p| payload_to_json(Some(p)));
        let governance = w.governance.map(governance_values);
        self.run_tx(|tx, stmts| {
            let old = lock_candidate(tx, stmts, w.candidate_id)?;
            if let Some(expected) = w.expected_status {
                if old != expected {
                    return Err(status_changed(w.candidate_id, expected, &old).into());
                }
            }
            if let Some(r) = w.report {
                insert_report(tx, stmts, r)?;
            }
            if let Some(rid) = link {
                check_report(tx, stmts, w.candidate_id, w.new_status.unwrap_or_default(), rid)?;
            }
            if let Some(st) = w.new_status {
                set_status(tx, stmts, w.candidate_id, st, link)?;
            }
            if let (Some(rid), Some(st)) = (link, w.new_status) {
                // A promotion: the same `status_change` event as `RegistryStore::promote` writes.
                let ts = now_utc_iso();
                let payload = status_change_payload(&old, st, &ts, Some(rid), w.reason);
                let json = payload_to_json(Some(&payload));
                insert_event(tx, stmts, w.candidate_id, &ts, "status_change", json.as_deref())?;
            }
            let event_id = match w.event_payload {
                Some(_) => {
                    Some(insert_event(tx, stmts, w.candidate_id, &now_utc_iso(), "evaluated", payload_json.as_deref())?)
                }
                None => None,
            };
            if let Some(g) = &governance {
                insert_governance(tx, stmts, g)?;
            }
            Ok(event_id)
        })
    }

    /// Append one governance event; returns its event_id.
    pub fn append_governance_event(&mut self, g: &NewGovernanceEvent) -> Result<i64> {
        if !self.table_exists("governance_events")? {
            return Err(Error::Runtime(GOVERNANCE_TABLE_REQUIRED_MSG.to_string()));
        }
        let vals = governance_values(g);
        self.run_tx(|tx, stmts| insert_governance(tx, stmts, &vals))
    }

    /// A read: one statement, no explicit transaction (autocommit; its own snapshot).
    fn read<T>(&mut self, body: impl FnOnce(&mut Client, &mut HashMap<String, Statement>) -> TxResult<T>) -> Result<T> {
        let target = &self.target;
        body(&mut self.client, &mut self.stmts).map_err(|e| match e {
            TxErr::Pg(e) => pg_err(target, &e),
            TxErr::Core(e) => e,
        })
    }
}

/// A prepared statement, prepared once per connection.
fn prep<C: GenericClient>(tx: &mut C, stmts: &mut HashMap<String, Statement>, sql: &str) -> TxResult<Statement> {
    if let Some(st) = stmts.get(sql) {
        return Ok(st.clone());
    }
    let st = tx.prepare(sql)?;
    stmts.insert(sql.to_string(), st.clone());
    Ok(st)
}

/// The text values of a governance event row (None → "", artifact refs as canonical JSON).
fn governance_values(g: &NewGovernanceEvent) -> [String; 8] {
    let refs = match &g.artifact_refs {
        None | Some(Value::Null) => String::new(),
        Some(Value::Array(a)) if a.is_empty() => String::new(),
        Some(v) => to_canonical_string(v),
    };
    let blank = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        g.timestamp.clone(),
        g.actor.clone(),
        g.action.clone(),
        blank(&g.candidate_id),
        blank(&g.eligibility_report_id),
        blank(&g.run_key),
        blank(&g.dataset_id_v2),
        refs,
    ]
}

fn insert_governance(
    tx: &mut Transaction<'_>,
    stmts: &mut HashMap<String, Statement>,
    v: &[String; 8],
) -> TxResult<i64> {
    let st = prep(
        tx,
        stmts,
        "INSERT INTO governance_events (timestamp, actor, action, candidate_id, eligibility_report_id, run_key, \
         dataset_id_v2, artifact_refs_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING event_id",
    )?;
    let row = tx.query_one(&st, &[&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]])?;
    Ok(row.try_get::<_, i64>(0)?)
}

/// Insert one report (optional text fields as ""); an id already used → InvalidInput.
fn insert_report(tx: &mut Transaction<'_>, stmts: &mut HashMap<String, Statement>, r: &EligibilityRow) -> TxResult<()> {
    let blank = |v: &Option<String>| v.clone().unwrap_or_default();
    let extra = [
        blank(&r.run_key),
        blank(&r.run_instance_id),
        blank(&r.dataset_id_v2),
        blank(&r.engine_version),
        blank(&r.config_version),
    ];
    let passed: i32 = i32::from(r.passed);
    let ins = prep(
        tx,
        stmts,
        "INSERT INTO eligibility_reports (eligibility_report_id, candidate_id, level, passed, blockers_json, \
         warnings_json, computed_at_utc, run_key, run_instance_id, dataset_id_v2, engine_version, config_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
    )?;
    let n = tx.execute(
        &ins,
        &[
            &r.eligibility_report_id,
            &r.candidate_id,
            &r.level,
            &passed,
            &r.blockers_json,
            &r.warnings_json,
            &r.computed_at_utc,
            &extra[0],
            &extra[1],
            &extra[2],
            &extra[3],
            &extra[4],
        ],
    )?;
    if n == 0 {
        return Err(report_id_taken(&r.eligibility_report_id).into());
    }
    Ok(())
}

/// Lock the candidate row for this transaction; its status (unknown id → InvalidInput).
fn lock_candidate(
    tx: &mut Transaction<'_>,
    stmts: &mut HashMap<String, Statement>,
    candidate_id: &str,
) -> TxResult<String> {
    let st = prep(tx, stmts, "SELECT status FROM promotion_candidates WHERE candidate_id = $1 FOR UPDATE")?;
    match tx.query_opt(&st, &[&candidate_id])? {
        Some(row) => Ok(row.try_get::<_, String>(0)?),
        None => Err(not_found(candidate_id).into()),
    }
}

/// The report as a promotion reads it, locked FOR SHARE until the transaction ends (None: no
/// such report; no eligibility table: the analyzer's RuntimeError).
fn report_link(
    tx: &mut Transaction<'_>,
    stmts: &mut HashMap<String, Statement>,
    report_id: &str,
) -> TxResult<Option<ReportLink>> {
    let st = match prep(
        tx,
        stmts,
        "SELECT candidate_id, level, passed FROM eligibility_reports WHERE eligibility_report_id = $1 FOR SHARE",
    ) {
        Ok(st) => st,
        Err(TxErr::Pg(e)) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
            return Err(Error::Runtime(ELIGIBILITY_TABLE_REQUIRED_MSG.to_string()).into())
        }
        Err(e) => return Err(e),
    };
    let row = match tx.query_opt(&st, &[&report_id]) {
        Ok(r) => r,
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
            return Err(Error::Runtime(ELIGIBILITY_TABLE_REQUIRED_MSG.to_string()).into())
        }
        Err(e) => return Err(e.into()),
    };
    Ok(match row {
        Some(row) => Some(ReportLink {
            candidate_id: row.try_get(0)?,
            level: row.try_get(1)?,
            passed: row.try_get::<_, i32>(2)? == 1,
        }),
        None => None,
    })
}

/// The report must exist, have passed, have `level` and belong to `candidate_id`; it is
/// locked FOR SHARE until the transaction ends.
fn check_report(
    tx: &mut Transaction<'_>,
    stmts: &mut HashMap<String, Statement>,
    candidate_id: &str,
    level: &str,
    report_id: &str,
) -> TxResult<()> {
    let found = report_link(tx, stmts, report_id)?;
    Ok(check_report_link(candidate_id, level, report_id, found)?)
}

/// The one statement that changes a candidate's status (and links the report that promoted it).
fn set_status(
    tx: &mut Transaction<'_>,
    stmts: &mut HashMap<String, Statement>,
    candidate_id: &str,
    status: &str,
    report: Option<&str>,
) -> TxResult<()> {
    match report {
        Some(rid) => {
            let st = prep(
                tx,
                stmts,
                "UPDATE promotion_candidates SET status = $1, eligibility_report_id = $2 WHERE candidate_id = $3",
            )?;
            tx.execute(&st, &[&status, &rid, &candidate_id])?;
        }
        None => {
            let st = prep(tx, stmts, "UPDATE promotion_candidates SET status = $1 WHERE candidate_id = $2")?;
            tx.execute(&st, &[&status, &candidate_id])?;
        }
    }
    Ok(())
}

fn insert_event(
    tx: &mut Transaction<'_>,
    stmts: &mut HashMap<String, Statement>,
    candidate_id: &str,
    ts: &str,
    event_type: &str,
    payload_json: Option<&str>,
) -> TxResult<i64> {
    let st = prep(
        tx,
        stmts,
        "INSERT INTO promotion_events (candidate_id, ts_utc, event_type, payload_json) VALUES ($1, $2, $3, $4) RETURNING event_id",
    )?;
    let row = tx.query_one(&st, &[&candidate_id, &ts, &event_type, &payload_json])?;
    Ok(row.try_get::<_, i64>(0)?)
}

// ---------------------------------------------------------------------------------------------
// One cached connection per URL per process.
// ---------------------------------------------------------------------------------------------

struct CachedPg {
    pid: u32,
    store: Option<PgStore>,
}

fn cache() -> &'static Mutex<HashMap<String, Arc<Mutex<CachedPg>>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Mutex<CachedPg>>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Run `f` with this process's cached [`PgStore`] for `url` (connected on first use; reconnected
/// after a fork, or when the server closed the connection). Calls on the same URL are
/// serialised by a mutex; different URLs proceed in parallel.
pub fn with_pg_store<T>(url: &str, f: impl FnOnce(&mut PgStore) -> Result<T>) -> Result<T> {
    let slot = {
        let mut map = cache().lock().unwrap_or_else(|p| p.into_inner());
        map.entry(url.to_string()).or_insert_with(|| Arc::new(Mutex::new(CachedPg { pid: 0, store: None }))).clone()
    };
    let mut guard = match slot.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            let mut g = poisoned.into_inner();
            g.store = None;
            g
        }
    };
    let pid = std::process::id();
    if guard.pid != pid {
        // Inherited across fork: the socket is shared with the parent. Dropping the client would
        // send the server a Terminate message on the parent's session, so it is forgotten.
        if let Some(inherited) = guard.store.take() {
            std::mem::forget(inherited);
        }
    } else if guard.store.as_ref().is_some_and(PgStore::is_closed) {
        guard.store = None;
    }
    if guard.store.is_none() {
        guard.store = Some(PgStore::connect(url)?);
        guard.pid = pid;
    }
    let Some(store) = guard.store.as_mut() else {
        return Err(Error::Internal("cached PostgreSQL store missing after connect".into()));
    };
    let out = f(store);
    if matches!(out, Err(Error::Connect(_))) || store.is_closed() {
        guard.store = None; // reconnect on the next call
    }
    out
}

/// Drop the cached connection of `url`.
pub fn forget_pg_store(url: &str) {
    let mut map = cache().lock().unwrap_or_else(|p| p.into_inner());
    map.remove(url);
}
