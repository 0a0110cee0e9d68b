//! The eligibility gate in the core: levels, the analyzer's texts, Python repr of values.
//! (tests_py/gating/test_eligibility.py covers every rule, and compares with the analyzer's own.)

use crypto_analyzer_promotion::eligibility::{evaluate_eligibility, json_dumps_str_list, python_repr, BundleView};
use crypto_analyzer_promotion::val::Val;
use crypto_analyzer_promotion::Error;

fn text(s: &str) -> Val {
    Val::Text(s.to_string())
}

fn full_meta() -> Vec<(String, Val)> {
    vec![
        ("validation_bundle_schema_version".into(), Val::Int(1)),
        ("dataset_id_v2".into(), text("d2")),
        ("dataset_hash_algo".into(), text("sqlite_logical_v2")),
        ("dataset_hash_mode".into(), text("STRICT")),
        ("run_key".into(), text("rk")),
        ("engine_version".into(), text("e")),
        ("config_version".into(), text("c")),
        ("seed_version".into(), Val::Int(1)),
    ]
}

fn view(meta: Vec<(String, Val)>) -> BundleView {
    BundleView { meta: Val::Map(meta), run_id: text("run1"), attrs: Vec::new() }
}

#[test]
fn full_provenance_passes_every_level() {
    for level in ["exploratory", "candidate", "accepted"] {
        let r = evaluate_eligibility(&view(full_meta()), level, None).unwrap();
        assert!(r.passed, "{level}: {:?}", r.blockers);
        assert_eq!((r.run_key.as_str(), r.run_instance_id.as_str(), r.config_version.as_str()), ("rk", "run1", "c"));
    }
    let r = evaluate_eligibility(&view(full_meta()), "accepted", None).unwrap();
    assert_eq!(r.warnings, ["research_spec_version recommended for accepted"]);
}

#[test]
fn unknown_level_is_invalid_input() {
    for level in ["", "Accepted", "rejected"] {
        assert!(
            matches!(evaluate_eligibility(&view(full_meta()), level, None), Err(Error::InvalidInput(m)) if m.contains("unknown eligibility level"))
        );
    }
}

#[test]
fn strict_hash_mode_and_python_repr_in_messages() {
    let mut meta = full_meta();
    meta.push(("dataset_hash_mode".into(), text("it's")));
    let r = evaluate_eligibility(&view(meta), "candidate", None).unwrap();
    assert_eq!(
        r.blockers,
        [
            "dataset_hash_mode must be STRICT for promotion (got \"it's\")",
            "dataset_hash_mode must be STRICT for promotion"
        ]
    );
    let rc = Val::Map(vec![
        ("rc_summary_schema_version".into(), Val::Float(2.5)),
        ("requested_n_sim".into(), Val::Int(200)),
        ("actual_n_sim".into(), Val::Int(189)),
    ]);
    let r = evaluate_eligibility(&view(full_meta()), "candidate", Some(&rc)).unwrap();
    assert_eq!(
        r.blockers,
        [
            "rc_summary_schema_version must be 1 (got 2.5)",
            "actual_n_sim (189) < 95% of requested_n_sim (200); promotion requires sufficient null simulations",
        ]
    );
}

#[test]
fn repr_and_json_dumps_match_python() {
    assert_eq!(python_repr(&Val::Null), "None");
    assert_eq!(python_repr(&Val::Bool(true)), "True");
    assert_eq!(python_repr(&Val::Float(1e-5)), "1e-05");
    assert_eq!(python_repr(&text("a'b\"c\n")), "'a\\'b\"c\\n'");
    assert_eq!(python_repr(&Val::List(vec![Val::Int(1), text("x")])), "[1, 'x']");
    assert_eq!(python_repr(&Val::Map(vec![("k".into(), Val::Float(1.0))])), "{'k': 1.0}");
    assert_eq!(json_dumps_str_list(&[]), "[]");
    assert_eq!(json_dumps_str_list(&["a".into(), "é\"".into()]), "[\"a\", \"\\u00e9\\\"\"]");
}
