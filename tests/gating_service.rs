//! evaluate_and_record against a real database: what is written, and that nothing is written for
//! an unknown id or an unreadable bundle.

use std::fs;
use std::path::{Path, PathBuf};

use crypto_analyzer_promotion::gating::{Input, ThresholdConfig};
use crypto_analyzer_promotion::service::{evaluate_and_record, BundleArg, EvaluateRequest};
use crypto_analyzer_promotion::store::sqlite::migrate::run_migrations_phase3;
use crypto_analyzer_promotion::store::sqlite::Store;
use crypto_analyzer_promotion::store::Backend;
use crypto_analyzer_promotion::store::NewCandidate;
use crypto_analyzer_promotion::store::RegistryStore;
use crypto_analyzer_promotion::val::Val;
use crypto_analyzer_promotion::Status;
use serde_json::json;

const BUNDLE: &str = r#"{"run_id":"r","dataset_id":"d","signal_name":"s","freq":"1h","horizons":[4],
  "ic_summary_by_horizon":{"4":{"mean_ic":0.01,"t_stat":3.0,"n_obs":10}},"ic_decay_table":[],"meta":{}}"#;

fn setup(dir: &Path, family: Option<&str>) -> (PathBuf, String) {
    let db = dir.join("p.db");
    run_migrations_phase3(&db, Some("test")).unwrap();
    fs::write(dir.join("bundle.json"), BUNDLE).unwrap();
    fs::write(dir.join("rc.json"), r#"{"rc_p_value": 0.5}"#).unwrap();
    let mut new = NewCandidate::new("d", "r", "s", 4, "cfg", "abc");
    new.family_id = family.map(str::to_string);
    new.evidence = Some(json!({"bundle_path": "bundle.json", "rc_summary_path": "rc.json"}));
    let id = Store::open(&db).unwrap().create_candidate(&new).unwrap();
    (db, id)
}

fn request(id: &str, base: &Path, bundle: BundleArg) -> EvaluateRequest {
    EvaluateRequest {
        expected_status: None,
        candidate_id: id.to_string(),
        thresholds: ThresholdConfig::default(),
        bundle,
        regime_summary: Input::NotProvided,
        rc_summary: Input::NotProvided,
        evidence_base_path: Some(base.to_path_buf()),
        target_status: Status::Exploratory,
        allow_missing_execution_evidence: false,
        execution_evidence: None,
    }
}

#[test]
fn records_status_and_event_with_family_forcing_rc() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, id) = setup(tmp.path(), Some("fam"));
    let d =
        evaluate_and_record(&Backend::Sqlite(db.clone()), &request(&id, tmp.path(), BundleArg::FromEvidence)).unwrap();
    assert_eq!(d.status, "rejected");
    assert_eq!(d.reasons, vec!["mean_ic 0.0100 < 0.02", "rc_p_value 0.5000 > 0.05"]);
    let mut store = Store::open(&db).unwrap();
    assert_eq!(store.get_candidate(&id).unwrap().unwrap().status, "rejected");
    let events = store.get_events(&id).unwrap();
    assert_eq!(events.len(), 2);
    let payload: serde_json::Value = serde_json::from_str(events[1].payload_json.as_deref().unwrap()).unwrap();
    assert_eq!(events[1].event_type, "evaluated");
    assert_eq!(payload["thresholds_used"]["require_reality_check"], json!(true));
    assert_eq!(payload["thresholds_used"]["allow_missing_execution_evidence"], json!(false));
    assert_eq!(payload["artifact_pointers"], json!({"bundle_path": "bundle.json", "rc_summary_path": "rc.json"}));
    assert!(payload.get("warnings").is_none());
}

#[test]
fn unknown_id_and_unreadable_bundle_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, id) = setup(tmp.path(), None);
    let d = evaluate_and_record(
        &Backend::Sqlite(db.clone()),
        &request("prom_missing", tmp.path(), BundleArg::FromEvidence),
    )
    .unwrap();
    assert_eq!(d.reasons, vec!["candidate_id not found: prom_missing"]);
    fs::write(tmp.path().join("broken.json"), "{").unwrap();
    for arg in
        [BundleArg::Path("broken.json".into()), BundleArg::Path("absent.json".into()), BundleArg::Fields(Val::Int(3))]
    {
        let d = evaluate_and_record(&Backend::Sqlite(db.clone()), &request(&id, tmp.path(), arg)).unwrap();
        assert_eq!(d.status, "rejected");
        assert_eq!(d.reasons, vec!["could not load ValidationBundle from path"]);
        assert_eq!(d.warnings.len(), 1);
    }
    let mut store = Store::open(&db).unwrap();
    assert_eq!(store.get_events(&id).unwrap().len(), 1);
    assert_eq!(store.get_candidate(&id).unwrap().unwrap().status, "exploratory");
}

#[test]
fn escaping_evidence_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("p.db");
    run_migrations_phase3(&db, Some("test")).unwrap();
    let base = tmp.path().join("base");
    fs::create_dir(&base).unwrap();
    fs::write(base.join("bundle.json"), BUNDLE).unwrap();
    fs::write(tmp.path().join("rc.json"), r#"{"rc_p_value": 0.001}"#).unwrap();
    let mut new = NewCandidate::new("d", "r", "s", 4, "cfg", "abc");
    new.evidence = Some(json!({"rc_summary_path": "../rc.json"}));
    let id = Store::open(&db).unwrap().create_candidate(&new).unwrap();
    let mut req = request(&id, &base, BundleArg::Path("bundle.json".into()));
    req.thresholds.require_reality_check = true;
    req.thresholds.ic_mean_min = crypto_analyzer_promotion::gating::Num::Float(0.0);
    let d = evaluate_and_record(&Backend::Sqlite(db.clone()), &req).unwrap();
    assert_eq!(d.reasons, vec!["require_reality_check=True but no rc_p_value in meta or rc_summary"]);
    assert_eq!(
        d.warnings,
        vec![
            "rc summary not used: rc_summary_path \"../rc.json\" climbs out of evidence_base_path; refused (not read)"
        ]
    );
}

/// One bundle-load rule for the service and the gate: a climbing relative path is refused under
/// evidence bases, used as given when there are none (the gate called on a path of its own).
#[test]
fn load_bundle_is_shared_by_the_service_and_the_gate() {
    use crypto_analyzer_promotion::service::{bundle_rejection, load_bundle, BUNDLE_LOAD_REASON};
    let none = Val::Map(Vec::new());
    let climbing = BundleArg::Path("../no-such-dir-for-this-test/bundle.json".into());
    let refused = load_bundle(&climbing, &none, &[PathBuf::from(".")]).unwrap_err();
    assert!(refused.contains("climbs out of evidence_base_path"), "{refused}");
    let as_given = load_bundle(&climbing, &none, &[]).unwrap_err();
    assert!(!as_given.contains("climbs out"), "{as_given}");
    let d = bundle_rejection(as_given.clone());
    assert_eq!(
        (d.status.as_str(), d.reasons, d.warnings),
        ("rejected", vec![BUNDLE_LOAD_REASON.to_string()], vec![as_given])
    );
}
