//! The promotion store on a PostgreSQL server, for a registry a team shares: the connection
//! ([`PgStore`], `conn.rs`) and its per-process cache, the statements the store's operations
//! run (the primitives in `primitives.rs`; the operations themselves are written once in
//! `src/store/ops.rs`, with the same rows, canonical JSON, ids and messages as on SQLite), the
//! migration runner (`migrate.rs`), and two PostgreSQL-only writes that the Python API does not
//! reach: [`PgStore::record_rung`] with a governance event in the same transaction, and
//! [`PgStore::append_governance_event`].
//!
//! Concurrency: every write is ONE transaction at READ COMMITTED whose write is one call of a
//! `registry_*` database function (migrations/postgresql/014) that locks the candidate row it
//! changes (`SELECT ... FOR UPDATE`) and the eligibility report it links (`FOR SHARE`) before it
//! checks the rule. Two writers of the same candidate therefore run one after the other and the
//! second is checked against the first's committed status; writers of different candidates
//! never wait for each other. Row locks were chosen over SERIALIZABLE because every rule the
//! store enforces is about one candidate row and one report row, which the locks cover exactly,
//! without the false-positive aborts SERIALIZABLE produces on index pages under a write-heavy
//! load. A deadlock (40P01) or serialization failure (40001) is still retried a bounded number
//! of times (the whole transaction, from the start), then reported as [`Error::Busy`].
//!
//! Since migration 14 the rules live in the database for every client: the functions
//! (`SECURITY DEFINER`, pinned `search_path`) check them, write the events and stamp the login
//! and the server's clock; their refusals (SQLSTATE class CA) are mapped back to the store's
//! messages by [`refusal`]. Roles without direct write privileges can only use them, and the
//! triggers hold plain SQL from the owner to the same rules.

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
use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row, Statement, Transaction};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::pyfmt::to_canonical_string;
use crate::store::model::{Candidate, EligibilityRow};
use crate::store::postgres::conn::{is_retryable, outcome_unknown, pg_err, PgTarget};
use crate::store::rules::{
    check_report_link, not_found, payload_to_json, status_changed, validate_status, ReportLink,
    ELIGIBILITY_REQUIRED_MSG, GOVERNANCE_TABLE_REQUIRED_MSG,
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
    /// When the action happened. Not stored since migration 14: the database records its own
    /// clock (a trigger stamps every row).
    pub timestamp: String,
    /// Who acted. Not stored since migration 14: the database records the session's login.
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

    /// One rung of an evaluation, written in ONE transaction (the write primitive of
    /// `evaluate_and_record` on PostgreSQL, through `backend::RegistryStore::record_rung`): lock the candidate; refuse if its
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
        let report_json = w.report.map(report_to_json);
        let ctx = Ctx {
            candidate_id: w.candidate_id,
            expected: w.expected_status,
            level: w.new_status.unwrap_or_default(),
            report_id: link,
        };
        self.run_tx(|tx, stmts| {
            // registry_record_evaluation (migrations/postgresql/014) locks the candidate, refuses
            // a status other than the expected one, stores the report, moves one rung on it with
            // its status_change event and appends the `evaluated` event, all stamped by the server.
            let st = prep(tx, stmts, "SELECT registry_record_evaluation($1, $2, $3, $4, $5, $6, $7)")?;
            let params: [&(dyn ToSql + Sync); 7] = [
                &w.candidate_id,
                &w.expected_status,
                &w.new_status,
                &report_json,
                &w.reason,
                &w.event_payload.is_some(),
                &payload_json,
            ];
            let row = tx.query_one(&st, &params).map_err(|e| refusal(e, &ctx))?;
            let event_id = row.try_get::<_, Option<i64>>(0)?;
            if let Some(g) = w.governance {
                append_governance(tx, stmts, g)?;
            }
            Ok(event_id)
        })
    }

    /// Append one governance event; returns its event_id.
    pub fn append_governance_event(&mut self, g: &NewGovernanceEvent) -> Result<i64> {
        if !self.table_exists("governance_events")? {
            return Err(Error::Runtime(GOVERNANCE_TABLE_REQUIRED_MSG.to_string()));
        }
        self.run_tx(|tx, stmts| append_governance(tx, stmts, g))
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

/// Append a governance event through registry_append_governance_event (its actor and time are
/// the server's: the session's login role and clock; artifact refs as canonical JSON).
fn append_governance(
    tx: &mut Transaction<'_>,
    stmts: &mut HashMap<String, Statement>,
    g: &NewGovernanceEvent,
) -> TxResult<i64> {
    let refs = match &g.artifact_refs {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(v) => Some(to_canonical_string(v)),
    };
    let st = prep(tx, stmts, "SELECT registry_append_governance_event($1, $2, $3, $4, $5, $6)")?;
    let row = tx
        .query_one(&st, &[&g.action, &g.candidate_id, &g.eligibility_report_id, &g.run_key, &g.dataset_id_v2, &refs])
        .map_err(|e| refusal(e, &Ctx::default()))?;
    Ok(row.try_get::<_, i64>(0)?)
}

/// An eligibility report as the JSON object registry_record_evaluation stores (optional text
/// fields as "", passed as 0/1).
pub(crate) fn report_to_json(r: &EligibilityRow) -> String {
    let blank = |v: &Option<String>| v.clone().unwrap_or_default();
    serde_json::json!({
        "eligibility_report_id": r.eligibility_report_id,
        "candidate_id": r.candidate_id,
        "level": r.level,
        "passed": i32::from(r.passed),
        "blockers_json": r.blockers_json,
        "warnings_json": r.warnings_json,
        "computed_at_utc": r.computed_at_utc,
        "run_key": blank(&r.run_key),
        "run_instance_id": blank(&r.run_instance_id),
        "dataset_id_v2": blank(&r.dataset_id_v2),
        "engine_version": blank(&r.engine_version),
        "config_version": blank(&r.config_version),
    })
    .to_string()
}

/// Raised when the registry predates version 14 (its rules as database functions).
const REGISTRY_FUNCTIONS_REQUIRED_MSG: &str = "this registry predates Phase 3 migration 14 (the registry's rules as \
     database functions): run run_migrations_phase3 (or `crypto-analyzer-promotion init`) as the registry's owner";

/// What a registry function's refusal is about: to rebuild the store's own message.
#[derive(Default, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    candidate_id: &'a str,
    expected: Option<&'a str>,
    level: &'a str,
    report_id: Option<&'a str>,
}

/// A registry function's refusal (SQLSTATE class CA, migrations/postgresql/014) as the store's
/// error with the same message as on SQLite (`rules`); a step reserved to approvers (CA008) and
/// anything else stay server errors.
pub(crate) fn refusal(e: postgres::Error, ctx: &Ctx<'_>) -> TxErr {
    let Some(db) = e.as_db_error() else { return TxErr::Pg(e) };
    let detail = db.detail().unwrap_or_default();
    let core = match db.code().code() {
        "CA001" => not_found(ctx.candidate_id),
        "CA002" => status_changed(ctx.candidate_id, ctx.expected.unwrap_or_default(), detail),
        "CA003" => {
            let found = serde_json::from_str::<Value>(detail).ok().and_then(|v| {
                Some(ReportLink {
                    candidate_id: v.get("candidate_id")?.as_str()?.to_string(),
                    level: v.get("level")?.as_str()?.to_string(),
                    passed: v.get("passed")?.as_bool()?,
                })
            });
            let report_id = ctx.report_id.unwrap_or_default();
            match check_report_link(ctx.candidate_id, ctx.level, report_id, found) {
                Err(e) => e,
                Ok(()) => Error::invalid(db.message()),
            }
        }
        "CA004" | "CA005" | "CA006" | "CA007" | "CA010" => Error::invalid(db.message()),
        _ if *db.code() == SqlState::UNDEFINED_FUNCTION && db.message().contains("registry_") => {
            Error::Runtime(REGISTRY_FUNCTIONS_REQUIRED_MSG.to_string())
        }
        _ => return TxErr::Pg(e),
    };
    TxErr::Core(core)
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
