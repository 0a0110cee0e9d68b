//! The PostgreSQL store against a real server: migrations, store operations, the eligibility
//! rules, tampering through plain SQL (refused by the server's triggers), connection failures
//! (one clear error, no password echoed) and concurrent writers.
//!
//! Server: `CRYPTO_ANALYZER_TEST_PG_URL` when set, else a throwaway cluster started with
//! `scripts/pg_cluster.sh up --fast` (installs PostgreSQL from Debian's packages when missing)
//! and removed at the end. Every section works in its own schema.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crypto_analyzer_promotion::error::Error;
use crypto_analyzer_promotion::store::postgres::migrate::{
    pg_applied_versions, pg_phase3_tables_exist, pg_run_migrations,
};
use crypto_analyzer_promotion::store::postgres::{with_pg_store, NewGovernanceEvent, PgStore, RungWrite};
use crypto_analyzer_promotion::store::rules::{
    candidate_id_for, ELIGIBILITY_REQUIRED_MSG, PROMOTE_WITH_REPORT_MSG as USE_PROMOTE_MSG,
};
use crypto_analyzer_promotion::store::RegistryStore;
use crypto_analyzer_promotion::store::{CandidateFilter, EligibilityRow as NewEligibilityReport, NewCandidate};
use serde_json::json;

struct Cluster {
    url: String,
    dir: Option<String>,
}

impl Cluster {
    fn start() -> Cluster {
        if let Ok(url) = std::env::var("CRYPTO_ANALYZER_TEST_PG_URL") {
            if !url.is_empty() {
                return Cluster { url, dir: None };
            }
        }
        let out = Command::new("bash")
            .args([concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg_cluster.sh"), "up", "--fast"])
            .output()
            .expect("run scripts/pg_cluster.sh");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "pg_cluster.sh up failed: {}", String::from_utf8_lossy(&out.stderr));
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(str::to_string)
                .unwrap_or_else(|| panic!("pg_cluster.sh printed no {k}"))
        };
        Cluster { url: get("PG_URL="), dir: Some(get("PG_DIR=")) }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new("bash")
                .args([concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg_cluster.sh"), "down", dir])
                .status();
        }
    }
}

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

/// A fresh schema on the server; the URL whose connections use it.
fn fresh_schema(base: &str) -> String {
    let name = format!("t{}_{}", std::process::id(), SCHEMAS.fetch_add(1, Ordering::SeqCst));
    let mut c = plain(base);
    c.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{name}")
}

/// A plain client, like any other program on the network would use.
fn plain(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("plain connect")
}

fn new_cand(run: &str) -> NewCandidate {
    NewCandidate::new("ds1", run, "sig_a", 5, "cfg", "abc")
}

fn report(id: &str, cid: &str, level: &str, passed: bool) -> NewEligibilityReport {
    NewEligibilityReport {
        eligibility_report_id: id.into(),
        candidate_id: cid.into(),
        level: level.into(),
        passed,
        // A failed report lists its blockers (checked by EligibilityRow::validate, as on SQLite).
        blockers_json: if passed { "[]".into() } else { r#"["blocked"]"#.into() },
        warnings_json: "[]".into(),
        computed_at_utc: "2026-01-01T00:00:00+00:00".into(),
        ..Default::default()
    }
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn postgresql_backend_against_a_real_server() {
    let cluster = Cluster::start();
    migrations(&cluster.url);
    store_operations(&cluster.url);
    eligibility_rules(&cluster.url);
    tampering_is_refused_by_the_server(&cluster.url);
    connection_failures(&cluster.url);
    concurrent_writers(&cluster.url);
    evaluation_rungs(&cluster.url);
}

fn migrations(base: &str) {
    let url = fresh_schema(base);
    let applied = pg_run_migrations(&url, &[], Some("testcommit")).unwrap();
    assert_eq!(applied, (1..=14).collect::<Vec<i64>>());
    assert_eq!(pg_run_migrations(&url, &[], None).unwrap(), Vec::<i64>::new());
    assert_eq!(pg_applied_versions(&url).unwrap(), (1..=14).collect::<Vec<i64>>());
    assert!(pg_phase3_tables_exist(&url).unwrap());
    let mut c = plain(&url);
    let rows = c.query("SELECT version, name, git_commit FROM schema_migrations_phase3 ORDER BY version", &[]).unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(names[0], "2026_02_schema_migrations_phase3");
    assert_eq!(names[8], "2026_02_promotion_eligibility_trigger");
    assert_eq!(names[12], "2026_02_artifact_edges");
    assert!(rows.iter().all(|r| r.get::<_, Option<String>>(2).as_deref() == Some("testcommit")));
    // A failing extra migration leaves nothing behind (DDL is transactional).
    let bad = crypto_analyzer_promotion::store::migrations::Migration {
        version: 15,
        name: "bad".into(),
        sql: "CREATE TABLE half_made (x INT); SELECT no_such_function();".into(),
    };
    let err = pg_run_migrations(&url, &[bad], None).unwrap_err().to_string();
    assert!(err.contains("migration 15 (bad) failed"), "{err}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_class WHERE relname = 'half_made'"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM schema_migrations_phase3 WHERE version = 15"), 0);
    // Store calls before migrating: the analyzer's missing-tables error.
    let empty = fresh_schema(base);
    let e = with_pg_store(&empty, |s| s.list_candidates(&CandidateFilter::default())).unwrap_err();
    assert!(matches!(e, Error::Runtime(ref m) if m.starts_with("Promotion tables not found")), "{e}");
}

fn store_operations(base: &str) {
    let url = fresh_schema(base);
    pg_run_migrations(&url, &[], Some("c")).unwrap();
    let mut s = PgStore::connect(&url).unwrap();
    let mut n = new_cand("run1");
    n.evidence = Some(json!({"b": 1.23456789012345, "a": [1, 2.0, null], "z": f64::NAN.to_string()}));
    let id = s.create_candidate(&n).unwrap();
    let row = s.get_candidate(&id).unwrap().unwrap();
    let c = &row;
    assert_eq!(id, candidate_id_for("run1", "sig_a", 5, &c.created_at_utc));
    assert_eq!(c.status, "exploratory");
    assert_eq!(c.horizon, 5);
    assert_eq!(c.evidence_json.as_deref(), Some(r#"{"a":[1,2.0,null],"b":1.2345678901,"z":"NaN"}"#));
    assert_eq!(row.eligibility_report_id, None);
    let ev = s.get_events(&id).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].event_type, "created");
    assert_eq!(ev[0].payload_json.as_deref(), Some(format!(r#"{{"created_at_utc":"{}"}}"#, c.created_at_utc).as_str()));

    // Duplicate id: clear error, nothing written.
    let mut dup = new_cand("run2");
    dup.candidate_id = Some(id.clone());
    let e = s.create_candidate(&dup).unwrap_err();
    assert_eq!(e.to_string(), format!("candidate_id already exists: {id}"));
    // Batch all-or-nothing: the second row collides, the first must not stay.
    let mut a = new_cand("run3");
    a.candidate_id = Some("prom_batch_a".into());
    let e = s.create_candidates_many(&[a.clone(), dup.clone()]).unwrap_err();
    assert!(e.to_string().contains("already exists"));
    assert!(s.get_candidate("prom_batch_a").unwrap().is_none());
    let ids = s.create_candidates_many(&[a, new_cand("run4")]).unwrap();
    assert_eq!(ids.len(), 2);

    // Bad status / unknown id.
    let mut bad = new_cand("run5");
    bad.status = "promoted".into();
    assert!(s.create_candidate(&bad).unwrap_err().to_string().starts_with("unknown status"));
    assert_eq!(s.update_status("nope", "rejected", None).unwrap_err().to_string(), "candidate_id not found: nope");
    assert_eq!(s.record_event("nope", "x", None).unwrap_err().to_string(), "candidate_id not found: nope");

    // update_status: old/new status in the event, reason kept.
    s.update_status(&id, "rejected", Some("weak")).unwrap();
    let ev = s.get_events(&id).unwrap();
    let p: serde_json::Value = serde_json::from_str(ev[1].payload_json.as_deref().unwrap()).unwrap();
    assert_eq!(p["old_status"], "exploratory");
    assert_eq!(p["new_status"], "rejected");
    assert_eq!(p["reason"], "weak");
    // candidate/accepted through update_status without a report: c79684b's message.
    assert_eq!(s.update_status(&id, "candidate", None).unwrap_err().to_string(), USE_PROMOTE_MSG);
    // record_event: empty payload → NULL, event ids increase.
    let e1 = s.record_event(&id, "note", Some(&json!({}))).unwrap();
    let e2 = s.record_event(&id, "note", Some(&json!({"k": 0.1}))).unwrap();
    assert!(e2 > e1);
    let ev = s.get_events(&id).unwrap();
    assert_eq!(ev[2].payload_json, None);
    assert_eq!(ev[3].payload_json.as_deref(), Some(r#"{"k":0.1}"#));

    // list: filters, newest first, limit; ties of created_at broken by insertion order.
    let all = s.list_candidates(&CandidateFilter { limit: None, ..Default::default() }).unwrap();
    assert_eq!(all.len(), 3);
    let created: Vec<&str> = all.iter().map(|r| r.created_at_utc.as_str()).collect();
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted);
    let rej = s.list_candidates(&CandidateFilter { status: Some("rejected".into()), ..Default::default() }).unwrap();
    assert_eq!(rej.len(), 1);
    let one = s.list_candidates(&CandidateFilter { limit: Some(1), ..Default::default() }).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].candidate_id, all[0].candidate_id);
}

fn eligibility_rules(base: &str) {
    let url = fresh_schema(base);
    pg_run_migrations(&url, &[], Some("c")).unwrap();
    let mut s = PgStore::connect(&url).unwrap();
    let a = s.create_candidate(&new_cand("ra")).unwrap();
    let b = s.create_candidate(&new_cand("rb")).unwrap();
    let e = s.insert_eligibility_report(&report("r_x", "prom_unknown", "candidate", true)).unwrap_err();
    assert_eq!(e.to_string(), "candidate_id not found: prom_unknown");
    let e = s.insert_eligibility_report(&report("r_x", &a, "gold", true)).unwrap_err();
    assert!(e.to_string().starts_with("unknown eligibility level"), "{e}");
    s.insert_eligibility_report(&report("r_a_cand", &a, "candidate", true)).unwrap();
    s.insert_eligibility_report(&report("r_a_fail", &a, "candidate", false)).unwrap();
    s.insert_eligibility_report(&report("r_a_acc", &a, "accepted", true)).unwrap();
    let e = s.insert_eligibility_report(&report("r_a_cand", &a, "candidate", true)).unwrap_err();
    assert_eq!(e.to_string(), "eligibility_report_id already exists: r_a_cand");

    let events_before = s.get_events(&b).unwrap().len();
    for (cid, rid, why) in [
        (&b, "r_a_cand", "was computed for candidate"),
        (&a, "r_a_fail", "did not pass"),
        (&a, "r_a_acc", "is for level accepted, not candidate"),
        (&a, "r_missing", "eligibility report not found: r_missing"),
    ] {
        let e = s.promote_to_candidate(cid, rid, None).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
    assert_eq!(s.get_events(&b).unwrap().len(), events_before);
    assert_eq!(s.get_candidate(&a).unwrap().unwrap().status, "exploratory");
    let e = s.promote_to_candidate("prom_unknown", "r_a_cand", None).unwrap_err();
    assert_eq!(e.to_string(), "candidate_id not found: prom_unknown");

    s.promote_to_candidate(&a, "r_a_cand", Some("gate passed")).unwrap();
    let row = s.get_candidate(&a).unwrap().unwrap();
    assert_eq!(row.status, "candidate");
    assert_eq!(row.eligibility_report_id.as_deref(), Some("r_a_cand"));
    let ev = s.get_events(&a).unwrap();
    let p: serde_json::Value = serde_json::from_str(ev.last().unwrap().payload_json.as_deref().unwrap()).unwrap();
    assert_eq!(p["eligibility_report_id"], "r_a_cand");
    assert_eq!(p["old_status"], "exploratory");
    assert_eq!(p["new_status"], "candidate");
    s.promote(&a, "accepted", "r_a_acc", None).unwrap();
    assert_eq!(s.get_candidate(&a).unwrap().unwrap().status, "accepted");
    // Created directly at candidate: the report must exist for the id the row gets.
    let mut direct = new_cand("rd");
    direct.status = "candidate".into();
    assert_eq!(s.create_candidate(&direct).unwrap_err().to_string(), ELIGIBILITY_REQUIRED_MSG);
    // A promotion links the report in the same transaction; record_evaluation refuses to promote.
    s.insert_eligibility_report(&report("r_b_cand", &b, "candidate", true)).unwrap();
    let e = s.record_evaluation(&b, "candidate", &json!({"decision": "candidate"})).unwrap_err();
    assert_eq!(e.to_string(), USE_PROMOTE_MSG);
    s.promote(&b, "candidate", "r_b_cand", None).unwrap();
    assert_eq!(s.get_candidate(&b).unwrap().unwrap().eligibility_report_id.as_deref(), Some("r_b_cand"));
    let g = s
        .append_governance_event(&NewGovernanceEvent {
            timestamp: "2026-01-01T00:00:00+00:00".into(),
            actor: "test".into(),
            action: "promote".into(),
            candidate_id: Some(b.clone()),
            artifact_refs: Some(json!([{"sha256": "ab", "x": 0.5}])),
            ..Default::default()
        })
        .unwrap();
    assert!(g >= 1);
}

fn tampering_is_refused_by_the_server(base: &str) {
    let url = fresh_schema(base);
    pg_run_migrations(&url, &[], Some("c")).unwrap();
    let mut s = PgStore::connect(&url).unwrap();
    let a = s.create_candidate(&new_cand("ta")).unwrap();
    let b = s.create_candidate(&new_cand("tb")).unwrap();
    s.insert_eligibility_report(&report("ra", &a, "candidate", true)).unwrap();
    s.insert_eligibility_report(&report("rb_fail", &b, "candidate", false)).unwrap();
    s.promote_to_candidate(&a, "ra", None).unwrap();
    s.append_governance_event(&NewGovernanceEvent {
        timestamp: "t".into(),
        actor: "x".into(),
        action: "evaluate".into(),
        ..Default::default()
    })
    .unwrap();

    let mut c = plain(&url);
    let before_events = count(&mut c, "SELECT count(*) FROM promotion_events");
    let refused = |c: &mut postgres::Client, sql: &str, expect: &str| {
        let e = c.batch_execute(sql).expect_err(sql);
        let msg = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string());
        assert!(msg.contains(expect), "{sql}: {msg}");
    };
    refused(&mut c, "UPDATE promotion_events SET event_type = 'x'", "append-only: UPDATE is not allowed");
    refused(&mut c, "DELETE FROM promotion_events", "append-only: DELETE is not allowed");
    refused(&mut c, "TRUNCATE promotion_events", "append-only: TRUNCATE is not allowed");
    refused(&mut c, "TRUNCATE promotion_candidates CASCADE", "append-only: TRUNCATE is not allowed");
    refused(
        &mut c,
        "INSERT INTO promotion_events (candidate_id, ts_utc, event_type) VALUES ('prom_nobody', 't', 'x')",
        "candidate_id not found in promotion_candidates",
    );
    // Promotion without a passed report of that level for THAT candidate.
    let upd = |cid: &str, status: &str, rid: Option<&str>| {
        match rid {
        Some(r) => format!("UPDATE promotion_candidates SET status = '{status}', eligibility_report_id = '{r}' WHERE candidate_id = '{cid}'"),
        None => format!("UPDATE promotion_candidates SET status = '{status}' WHERE candidate_id = '{cid}'"),
    }
    };
    refused(&mut c, &upd(&b, "candidate", None), "eligibility_report_id required");
    refused(&mut c, &upd(&b, "accepted", None), "eligibility_report_id required");
    refused(&mut c, &upd(&b, "candidate", Some("ra")), "eligibility_report_id required"); // a's report
    refused(&mut c, &upd(&b, "candidate", Some("rb_fail")), "eligibility_report_id required");
    refused(&mut c, &upd(&a, "accepted", None), "eligibility_report_id required"); // level mismatch
    refused(
        &mut c,
        "INSERT INTO promotion_candidates (candidate_id, created_at_utc, status, dataset_id, run_id, signal_name, \
         horizon, config_hash, git_commit) VALUES ('prom_x', 't', 'accepted', 'd', 'r', 's', 1, 'c', 'g')",
        "eligibility_report_id required",
    );
    // A linked report is wholly immutable (blockers too) and cannot be deleted or truncated.
    refused(
        &mut c,
        "UPDATE eligibility_reports SET blockers_json = '[\"x\"]' WHERE eligibility_report_id = 'ra'",
        "evidence is immutable",
    );
    refused(
        &mut c,
        "UPDATE eligibility_reports SET passed = 0 WHERE eligibility_report_id = 'ra'",
        "evidence is immutable",
    );
    refused(&mut c, "DELETE FROM eligibility_reports WHERE eligibility_report_id = 'ra'", "evidence is immutable");
    // (TRUNCATE: since migration 14 the candidates' foreign key to their report refuses it first.)
    refused(&mut c, "TRUNCATE eligibility_reports", "cannot truncate a table referenced in a foreign key constraint");
    // An unlinked report may still be corrected (as in c79684b).
    c.batch_execute("UPDATE eligibility_reports SET warnings_json = '[\"w\"]' WHERE eligibility_report_id = 'rb_fail'")
        .unwrap();
    refused(
        &mut c,
        "UPDATE governance_events SET actor = 'y'",
        "governance_events is append-only; updates not allowed",
    );
    refused(&mut c, "DELETE FROM governance_events", "governance_events is append-only; deletes not allowed");
    refused(&mut c, "TRUNCATE governance_events", "governance_events is append-only; deletes not allowed");
    c.batch_execute(
        "INSERT INTO artifact_lineage (artifact_id, artifact_type, sha256, created_utc) VALUES ('a1', 't', 'h', 'c')",
    )
    .unwrap();
    refused(&mut c, "UPDATE artifact_lineage SET sha256 = 'x'", "artifact_lineage is append-only; updates not allowed");
    refused(&mut c, "DELETE FROM artifact_lineage", "artifact_lineage is append-only; deletes not allowed");
    refused(&mut c, "INSERT INTO artifact_edges VALUES ('a1', 'missing', 'derived_from')", "violates foreign key");
    c.batch_execute("INSERT INTO artifact_edges VALUES ('a1', 'a1', 'derived_from')").unwrap();
    refused(&mut c, "DELETE FROM artifact_edges", "artifact_edges is append-only; deletes not allowed");
    assert_eq!(count(&mut c, "SELECT count(*) FROM promotion_events"), before_events);
    let st: String =
        c.query_one("SELECT status FROM promotion_candidates WHERE candidate_id = $1", &[&b]).unwrap().get(0);
    assert_eq!(st, "exploratory");
}

fn connection_failures(base: &str) {
    let target = crypto_analyzer_promotion::store::postgres::conn::PgTarget::parse(base).unwrap();
    let redacted = target.redacted().to_string();
    let password =
        base.split("://").nth(1).and_then(|r| r.split('@').next()).and_then(|u| u.split(':').nth(1)).unwrap();
    assert!(!redacted.contains(password));
    // Wrong password.
    let wrong = base.replace(password, "not-the-password-123");
    let e = PgStore::connect(&wrong).err().expect("wrong password must fail");
    let m = e.to_string();
    assert!(matches!(e, Error::Connect(_)), "{m}");
    assert!(m.contains("password authentication failed"), "{m}");
    assert!(!m.contains("not-the-password-123") && !m.contains(password), "{m}");
    // A server that is down (a port nobody listens on).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = format!("postgresql://crypto:topsecret@127.0.0.1:{port}/registry");
    let e = PgStore::connect(&down).err().expect("down server must fail");
    let m = e.to_string();
    assert!(matches!(e, Error::Connect(_)), "{m}");
    assert!(m.contains("could not connect") && m.contains("crypto:***@127.0.0.1"), "{m}");
    assert!(!m.contains("topsecret"), "{m}");
    // Malformed URLs.
    for bad in [
        "postgresql://crypto:topsecret@127.0.0.1:notaport/registry",
        "postgresql://crypto:topsecret@127.0.0.1:5432/registry?sslmode=bogus",
    ] {
        let e = PgStore::connect(bad).err().expect("bad URL must fail");
        let m = e.to_string();
        assert!(matches!(e, Error::InvalidInput(_)), "{m}");
        assert!(m.contains("invalid PostgreSQL URL") && !m.contains("topsecret"), "{m}");
    }
    // No such database.
    let nodb = base.replace("/registry", "/no_such_db");
    let m = PgStore::connect(&nodb).err().expect("missing db must fail").to_string();
    assert!(m.contains("does not exist") && !m.contains(password), "{m}");
}

fn concurrent_writers(base: &str) {
    let url = fresh_schema(base);
    pg_run_migrations(&url, &[], Some("c")).unwrap();
    let workers = 8;
    let per = 40;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut s = PgStore::connect(&url).unwrap();
                let mut mine = Vec::new();
                for j in 0..per {
                    let mut n = new_cand(&format!("w{w}-{j}"));
                    n.candidate_id = Some(format!("w{w}-{j}"));
                    mine.push(s.create_candidate(&n).unwrap());
                    // Everyone also writes on worker 0's first candidate (row-lock contention).
                    if j % 3 == 0 {
                        s.record_event("w0-0", "touch", Some(&json!({"w": w, "j": j}))).ok();
                    }
                    if j % 4 == 1 {
                        s.update_status(&mine[j - 1], "rejected", Some("r")).unwrap();
                    }
                }
                mine
            })
        })
        .collect();
    let ids: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(ids.len(), workers * per);
    let mut c = plain(&url);
    assert_eq!(count(&mut c, "SELECT count(*) FROM promotion_candidates"), (workers * per) as i64);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM promotion_events WHERE event_type = 'created'"),
        (workers * per) as i64
    );
    let rejected = (workers * (per / 4)) as i64;
    assert_eq!(count(&mut c, "SELECT count(*) FROM promotion_candidates WHERE status = 'rejected'"), rejected);
    assert_eq!(count(&mut c, "SELECT count(*) FROM promotion_events WHERE event_type = 'status_change'"), rejected);
    // every touch that returned Ok is there (touches start once w0-0 exists)
    let touches = count(&mut c, "SELECT count(*) FROM promotion_events WHERE event_type = 'touch'");
    assert!(touches >= (per / 3) as i64, "{touches}");
}

fn evaluation_rungs(base: &str) {
    let url = fresh_schema(base);
    pg_run_migrations(&url, &[], Some("c")).unwrap();
    let mut s = PgStore::connect(&url).unwrap();
    let mut c = plain(&url);
    let a = s.create_candidate(&new_cand("ea")).unwrap();
    let payload = json!({"status": "candidate", "reasons": []});
    let gov = NewGovernanceEvent {
        timestamp: "t".into(),
        actor: "service".into(),
        action: "promote".into(),
        candidate_id: Some(a.clone()),
        ..Default::default()
    };
    let w = |rid: Option<&'static str>, passed: bool| rid.map(|id| report(id, &a, "candidate", passed));
    // A failed report on promotion: refused, and the report is not kept either (one transaction).
    let failed = w(Some("ev_fail"), false);
    let e = s
        .record_rung(&RungWrite {
            candidate_id: &a,
            expected_status: Some("exploratory"),
            new_status: Some("candidate"),
            event_payload: Some(&payload),
            report: failed.as_ref(),
            reason: None,
            governance: Some(&gov),
        })
        .unwrap_err();
    assert!(e.to_string().contains("did not pass"), "{e}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM eligibility_reports"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM governance_events"), 0);
    // A failed eligibility without a status change: report and event stored, status unchanged.
    let ev = s
        .record_rung(&RungWrite {
            candidate_id: &a,
            expected_status: Some("exploratory"),
            new_status: None,
            event_payload: Some(&json!({"status": "exploratory"})),
            report: failed.as_ref(),
            reason: None,
            governance: None,
        })
        .unwrap();
    assert!(ev.is_some());
    assert_eq!(s.get_candidate(&a).unwrap().unwrap().status, "exploratory");
    // Two evaluations that both read "exploratory" race to promote: exactly one rung is written.
    let results: Vec<_> = (0..2)
        .map(|k| {
            let url = url.clone();
            let a = a.clone();
            std::thread::spawn(move || {
                let mut s = PgStore::connect(&url).unwrap();
                let rep = report(&format!("ev_ok_{k}"), &a, "candidate", true);
                s.record_rung(&RungWrite {
                    candidate_id: &a,
                    expected_status: Some("exploratory"),
                    new_status: Some("candidate"),
                    event_payload: Some(&json!({"status": "candidate", "k": k})),
                    report: Some(&rep),
                    reason: None,
                    governance: None,
                })
                .map_err(|e| e.to_string())
            })
        })
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(lost.contains("changed status from exploratory to candidate"), "{lost}");
    let row = s.get_candidate(&a).unwrap().unwrap();
    assert_eq!(row.status, "candidate");
    assert!(row.eligibility_report_id.as_deref().unwrap().starts_with("ev_ok_"));
    assert_eq!(count(&mut c, "SELECT count(*) FROM eligibility_reports"), 2); // ev_fail + the winner's
    assert_eq!(count(&mut c, "SELECT count(*) FROM promotion_events WHERE event_type = 'evaluated'"), 2);
    // The next rung with its governance event.
    let acc = report("ev_acc", &a, "accepted", true);
    s.record_rung(&RungWrite {
        candidate_id: &a,
        expected_status: Some("candidate"),
        new_status: Some("accepted"),
        event_payload: Some(&json!({"status": "accepted"})),
        report: Some(&acc),
        reason: None,
        governance: Some(&gov),
    })
    .unwrap();
    assert_eq!(s.get_candidate(&a).unwrap().unwrap().eligibility_report_id.as_deref(), Some("ev_acc"));
    assert_eq!(count(&mut c, "SELECT count(*) FROM governance_events"), 1);
}
