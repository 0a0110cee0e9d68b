"""evaluate_eligibility: every rule of the analyzer's eligibility gate, messages compared literally.

Two kinds of checks:
* literal cases whose expected blockers/warnings were written from the analyzer's rules (run
  everywhere);
* a differential run against the analyzer's own ``evaluate_eligibility`` on a few thousand
  generated bundles, when its tree is present (``../shared/analyzer/c79684b`` or
  ``$CRYPTO_ANALYZER_DIR``); skipped otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from pathlib import Path
from typing import Any

import crypto_analyzer_promotion as pkg
import pandas as pd
import pytest
from crypto_analyzer_promotion import EligibilityReport, evaluate_eligibility
from crypto_analyzer_promotion.exceptions import InvalidInputError
from crypto_analyzer_promotion.validation_bundle import ValidationBundle

KEYS = ("dataset_id_v2", "dataset_hash_algo", "dataset_hash_mode", "run_key", "engine_version", "config_version")


def full_meta(**overrides: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "validation_bundle_schema_version": 1,
        "dataset_id_v2": "ds2v2",
        "dataset_hash_algo": "sqlite_logical_v2",
        "dataset_hash_mode": "STRICT",
        "run_key": "rk1",
        "engine_version": "e1",
        "config_version": "c1",
        "seed_version": 1,
    }
    meta.update(overrides)
    return {k: v for k, v in meta.items() if v is not ...}


def bundle(meta: dict[str, Any], run_id: str = "run1") -> ValidationBundle:
    return ValidationBundle(
        run_id=run_id,
        dataset_id="d",
        signal_name="s",
        freq="1h",
        horizons=[1],
        ic_summary_by_horizon={1: {"mean_ic": 0.05, "t_stat": 3.0, "n_obs": 100}},
        ic_decay_table=[],
        meta=meta,
    )


ATTESTATION = {
    "fold_causality_attestation_schema_version": 1,
    "enforcement_checks": {
        "train_only_fit_enforced": True,
        "purge_applied": True,
        "embargo_applied": True,
        "no_future_rows_in_fit": True,
    },
}

EMPTY_CANDIDATE_BLOCKERS = [
    "dataset_id_v2 missing",
    "dataset_hash_algo must be sqlite_logical_v2 (got None)",
    "dataset_hash_mode must be STRICT for promotion (got None)",
    "run_key missing",
    "engine_version missing",
    "config_version missing",
    "validation_bundle_schema_version must be 1 (got None)",
    "missing or empty 'dataset_id_v2'",
    "missing or empty 'dataset_hash_algo'",
    "missing or empty 'dataset_hash_mode'",
    "missing or empty 'run_key'",
    "missing or empty 'engine_version'",
    "missing or empty 'config_version'",
    "dataset_hash_algo must be sqlite_logical_v2",
    "dataset_hash_mode must be STRICT for promotion",
    "seed_version missing (required for candidate/accepted)",
]

EMPTY_EXPLORATORY_WARNINGS = (
    [
        "dataset_id_v2 missing (required for candidate/accepted)",
        "run_key missing (required for candidate/accepted)",
    ]
    + [f"exploratory: missing or empty '{k}' (required for candidate/accepted)" for k in KEYS]
    + ["exploratory: dataset_hash_mode is not STRICT (required for promotion)"]
)

CASES = [
    # (name, meta, level, rc_summary, passed, blockers, warnings)
    ("empty_candidate", {}, "candidate", None, False, EMPTY_CANDIDATE_BLOCKERS, []),
    (
        "empty_accepted",
        {},
        "accepted",
        None,
        False,
        EMPTY_CANDIDATE_BLOCKERS,
        ["research_spec_version recommended for accepted"],
    ),
    ("empty_exploratory", {}, "exploratory", None, True, [], EMPTY_EXPLORATORY_WARNINGS),
    ("full_candidate", full_meta(), "candidate", None, True, [], []),
    ("full_accepted_with_spec", full_meta(research_spec_version="1"), "accepted", None, True, [], []),
    ("full_exploratory", full_meta(), "exploratory", None, True, [], []),
    (
        "hash_mode_fast",
        full_meta(dataset_hash_mode="FAST"),
        "candidate",
        None,
        False,
        [
            "dataset_hash_mode must be STRICT for promotion (got 'FAST')",
            "dataset_hash_mode must be STRICT for promotion",
        ],
        [],
    ),
    (
        "hash_mode_fast_exploratory",
        full_meta(dataset_hash_mode="FAST"),
        "exploratory",
        None,
        True,
        [],
        ["exploratory: dataset_hash_mode is not STRICT (required for promotion)"],
    ),
    (
        "hash_algo_odd_type",
        full_meta(dataset_hash_algo=2),
        "candidate",
        None,
        False,
        ["dataset_hash_algo must be sqlite_logical_v2 (got 2)", "dataset_hash_algo must be sqlite_logical_v2"],
        [],
    ),
    (
        "hash_algo_empty_string_reads_none",
        full_meta(dataset_hash_algo=""),
        "candidate",
        None,
        False,
        [
            "dataset_hash_algo must be sqlite_logical_v2 (got None)",
            "missing or empty 'dataset_hash_algo'",
            "dataset_hash_algo must be sqlite_logical_v2",
        ],
        [],
    ),
    (
        "run_key_blank",
        full_meta(run_key="   "),
        "candidate",
        None,
        False,
        ["run_key missing", "missing or empty 'run_key'"],
        [],
    ),
    (
        "engine_version_empty",
        full_meta(engine_version=""),
        "candidate",
        None,
        False,
        ["engine_version missing", "missing or empty 'engine_version'"],
        [],
    ),
    (
        "config_version_none",
        full_meta(config_version=None),
        "candidate",
        None,
        False,
        ["config_version missing", "missing or empty 'config_version'"],
        [],
    ),
    ("config_version_zero_int", full_meta(config_version=0), "candidate", None, False, ["config_version missing"], []),
    (
        "bundle_schema_2",
        full_meta(validation_bundle_schema_version=2),
        "candidate",
        None,
        False,
        ["validation_bundle_schema_version must be 1 (got 2)"],
        [],
    ),
    (
        "bundle_schema_str",
        full_meta(validation_bundle_schema_version="1"),
        "accepted",
        None,
        False,
        ["validation_bundle_schema_version must be 1 (got '1')"],
        ["research_spec_version recommended for accepted"],
    ),
    ("bundle_schema_float_equal", full_meta(validation_bundle_schema_version=1.0), "candidate", None, True, [], []),
    (
        "seed_missing",
        full_meta(seed_version=...),
        "candidate",
        None,
        False,
        ["seed_version missing (required for candidate/accepted)"],
        [],
    ),
    ("seed_2", full_meta(seed_version=2), "candidate", None, False, ["seed_version must be 1 (got 2)"], []),
    (
        "seed_text_with_quote",
        full_meta(seed_version="it's"),
        "candidate",
        None,
        False,
        ['seed_version must be 1 (got "it\'s")'],
        [],
    ),
    (
        "rc_schema_missing",
        full_meta(),
        "candidate",
        {"rc_p_value": 0.01},
        False,
        ["rc_summary_schema_version must be 1 (got None)"],
        [],
    ),
    ("rc_schema_ok", full_meta(), "candidate", {"rc_summary_schema_version": 1, "rc_p_value": 0.01}, True, [], []),
    ("rc_empty_dict_not_checked", full_meta(), "candidate", {}, True, [], []),
    ("rc_schema_not_checked_exploratory", full_meta(), "exploratory", {"rc_p_value": 0.01}, True, [], []),
    (
        "n_sim_shortfall",
        full_meta(),
        "accepted",
        {"rc_summary_schema_version": 1, "requested_n_sim": 1000, "actual_n_sim": 949},
        False,
        ["actual_n_sim (949) < 95% of requested_n_sim (1000); promotion requires sufficient null simulations"],
        ["research_spec_version recommended for accepted"],
    ),
    (
        "n_sim_95_percent_ok",
        full_meta(),
        "candidate",
        {"rc_summary_schema_version": 1, "requested_n_sim": 1000, "actual_n_sim": 950},
        True,
        [],
        [],
    ),
    (
        "n_sim_float_truncated",
        full_meta(),
        "candidate",
        {"rc_summary_schema_version": 1, "requested_n_sim": 100.9, "actual_n_sim": 94.9},
        False,
        ["actual_n_sim (94) < 95% of requested_n_sim (100); promotion requires sufficient null simulations"],
        [],
    ),
    (
        "rw_missing",
        full_meta(rw_enabled=True),
        "candidate",
        None,
        False,
        ["rw_enabled=True but rw_adjusted_p_values missing"],
        [],
    ),
    (
        "rw_from_rc",
        full_meta(),
        "candidate",
        {"rc_summary_schema_version": 1, "rw_enabled": True},
        False,
        ["rw_enabled=True but rw_adjusted_p_values missing"],
        [],
    ),
    (
        "rw_skipped",
        full_meta(rw_enabled=True, rw_skipped_reason="no hypotheses"),
        "candidate",
        None,
        False,
        ["RW skipped: no hypotheses"],
        [],
    ),
    (
        "rw_zero_sims",
        full_meta(rw_enabled=True),
        "candidate",
        {"rc_summary_schema_version": 1, "actual_n_sim": 0, "rw_adjusted_p_values": {"h": 0.1}},
        False,
        ["rw_enabled=True but no null simulations produced (actual_n_sim=0)"],
        [],
    ),
    ("rw_ok_meta", full_meta(rw_enabled=True, rw_adjusted_p_values={"h1": 0.02}), "candidate", None, True, [], []),
    (
        "rw_length",
        full_meta(rw_enabled=True),
        "candidate",
        {"rc_summary_schema_version": 1, "rw_adjusted_p_values": {"a": 0.1}, "hypothesis_ids": ["a", "b"]},
        False,
        ["rw_adjusted_p_values length (1) must match hypothesis count (2)"],
        [],
    ),
    (
        "rw_keys",
        full_meta(rw_enabled=True),
        "candidate",
        {"rc_summary_schema_version": 1, "rw_adjusted_p_values": {"a": 0.1, "c": 0.2}, "hypothesis_ids": ["a", "b"]},
        False,
        ["rw_adjusted_p_values keys must match hypothesis_ids"],
        [],
    ),
    (
        "rw_order",
        full_meta(rw_enabled=True),
        "candidate",
        {"rc_summary_schema_version": 1, "rw_adjusted_p_values": {"b": 0.1, "a": 0.2}, "hypothesis_ids": ["a", "b"]},
        False,
        ["rw_adjusted_p_values key order must match hypothesis_ids"],
        [],
    ),
    (
        "rw_out_of_range",
        full_meta(rw_enabled=True, rw_adjusted_p_values={"a": 1.5}),
        "candidate",
        None,
        False,
        ["rw_adjusted_p_values must be in [0,1] and finite"],
        [],
    ),
    (
        "rw_nan",
        full_meta(rw_enabled=True, rw_adjusted_p_values={"a": float("nan"), "b": None}),
        "candidate",
        None,
        False,
        ["rw_adjusted_p_values must be in [0,1] and finite"],
        [],
    ),
    (
        "rw_series_in_rc",
        full_meta(rw_enabled=True),
        "candidate",
        {
            "rc_summary_schema_version": 1,
            "rw_adjusted_p_values": pd.Series({"a": 0.01, "b": 0.3}),
            "hypothesis_ids": ["a", "b"],
        },
        True,
        [],
        [],
    ),
    (
        "walk_forward_no_attestation",
        full_meta(walk_forward_used=True),
        "candidate",
        None,
        False,
        [
            "fold_causality_attestation_schema_version must be 1 (got None)",
            "fold_causality_attestation missing or not a dict (required when walk-forward used)",
        ],
        [],
    ),
    (
        "attestation_path_only",
        full_meta(fold_causality_attestation_path="att.json"),
        "accepted",
        None,
        False,
        [
            "fold_causality_attestation_schema_version must be 1 (got None)",
            "fold_causality_attestation missing or not a dict (required when walk-forward used)",
        ],
        ["research_spec_version recommended for accepted"],
    ),
    (
        "attestation_ok",
        full_meta(
            walk_forward_used=True, fold_causality_attestation_schema_version=1, fold_causality_attestation=ATTESTATION
        ),
        "candidate",
        None,
        True,
        [],
        [],
    ),
    (
        "attestation_checks_false",
        full_meta(
            walk_forward_used=True,
            fold_causality_attestation_schema_version=1,
            fold_causality_attestation={
                "fold_causality_attestation_schema_version": 2,
                "enforcement_checks": {"purge_applied": 1, "embargo_applied": True},
            },
        ),
        "candidate",
        None,
        False,
        [
            "fold_causality_attestation_schema_version must be 1",
            "enforcement_checks.train_only_fit_enforced must be true",
            "enforcement_checks.purge_applied must be true",
            "enforcement_checks.no_future_rows_in_fit must be true",
        ],
        [],
    ),
    ("attestation_not_needed_exploratory", full_meta(walk_forward_used=True), "exploratory", None, True, [], []),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rules_and_messages_literally(case):
    _name, meta, level, rc, passed, blockers, warnings = case
    report = evaluate_eligibility(bundle(meta), level, rc_summary=rc)
    assert report.blockers == blockers
    assert report.warnings == warnings
    assert report.passed is passed
    assert report.level == level


def test_report_fields_and_exports():
    report = evaluate_eligibility(bundle(full_meta(), run_id="run_7"), "candidate")
    assert isinstance(report, EligibilityReport) and dataclasses.is_dataclass(report)
    assert (
        report.run_key,
        report.run_instance_id,
        report.dataset_id_v2,
        report.engine_version,
        report.config_version,
    ) == ("rk1", "run_7", "ds2v2", "e1", "c1")
    assert (
        evaluate_eligibility(bundle({"run_id": "from_meta"}, run_id=""), "exploratory").run_instance_id == "from_meta"
    )
    assert pkg.evaluate_eligibility is evaluate_eligibility and pkg.EligibilityReport is EligibilityReport
    from crypto_analyzer_promotion import gating

    assert {"EligibilityReport", "evaluate_eligibility"} <= set(gating.__all__)


def test_bundle_as_dict_path_and_attribute_fallback(tmp_path: Path):
    d = bundle(full_meta()).to_dict()
    assert evaluate_eligibility(d, "candidate").passed
    p = tmp_path / "b.json"
    bundle(full_meta(run_key=...)).save(p)
    assert evaluate_eligibility(str(p), "candidate").blockers == ["run_key missing", "missing or empty 'run_key'"]

    class WithAttrs:
        run_id = "r"
        meta = full_meta(run_key="")
        run_key = "from_attribute"

    # meta's empty run_key falls back to the attribute (the gate's rule); the contract reads meta.
    report = evaluate_eligibility(WithAttrs(), "candidate")
    assert report.blockers == ["missing or empty 'run_key'"]
    assert report.run_key == "from_attribute"


@pytest.mark.parametrize("level", ["Candidate", "promoted", "", "rejected"])
def test_unknown_level_is_a_clear_error(level):
    with pytest.raises(InvalidInputError, match="unknown eligibility level"):
        evaluate_eligibility(bundle(full_meta()), level)


def test_bad_input_types_are_clear_errors():
    with pytest.raises(ValueError, match="bundle.meta must be a dict"):
        evaluate_eligibility({"meta": ["not", "a", "dict"]}, "candidate")
    with pytest.raises(ValueError, match="rc_summary must be a dict"):
        evaluate_eligibility(bundle(full_meta()), "candidate", rc_summary=[1, 2])
    with pytest.raises(ValueError, match="not JSON-serializable"):
        evaluate_eligibility(bundle(full_meta(run_key={1, 2})), "candidate")


def test_deviations_where_the_analyzer_crashed_or_passed_silently():
    """Malformed values the analyzer crashed on (TypeError) or let through now block."""
    rc = {"rc_summary_schema_version": 1, "requested_n_sim": "1000", "actual_n_sim": 10}
    assert evaluate_eligibility(bundle(full_meta()), "candidate", rc).blockers == [
        "requested_n_sim must be a finite number (got '1000')"
    ]
    listed = evaluate_eligibility(bundle(full_meta(rw_enabled=True, rw_adjusted_p_values=[0.1])), "candidate")
    assert listed.blockers == ["rw_adjusted_p_values must be a mapping of hypothesis id to p-value (got [0.1])"]
    for bad in ("0.5", 5, True):
        r = evaluate_eligibility(bundle(full_meta(rw_enabled=True, rw_adjusted_p_values={"a": bad})), "candidate")
        assert r.blockers == ["rw_adjusted_p_values must be in [0,1] and finite"], bad


# ------------------------------------------------------------------ differential, against the analyzer


def _analyzer_dir() -> Path | None:
    env = os.environ.get("CRYPTO_ANALYZER_DIR")
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[3] / "shared" / "analyzer" / "c79684b")
    for c in cands:
        if (c / "crypto_analyzer" / "promotion" / "gating.py").is_file():
            return c
    return None


def _analyzer_gating():
    root = _analyzer_dir()
    if root is None:
        pytest.skip("the analyzer's tree is not here (../shared/analyzer/c79684b or $CRYPTO_ANALYZER_DIR)")
    sys.path.insert(0, str(root))
    try:
        import importlib

        return importlib.import_module("crypto_analyzer.promotion.gating"), importlib.import_module(
            "crypto_analyzer.validation_bundle"
        )
    except Exception as e:  # pragma: no cover - depends on the analyzer's deps
        pytest.skip(f"the analyzer's gating does not import here: {e}")
    finally:
        sys.path.remove(str(root))


POOLS: dict[str, list[Any]] = {
    "validation_bundle_schema_version": [..., None, 1, 2, "1", 1.0, True],
    "dataset_id_v2": [..., None, "", "  ", "ds", 0, 7],
    "dataset_hash_algo": [..., None, "", "sqlite_logical_v2", "sha256", 3],
    "dataset_hash_mode": [..., None, "", "STRICT", "FAST", "strict"],
    "run_key": [..., None, "", " ", "rk", 5],
    "engine_version": [..., None, "", "e1", 0],
    "config_version": [..., None, "", "c1", 0, False],
    "research_spec_version": [..., None, "1", 0],
    "seed_version": [..., None, 1, 2, "1", True, 1.0],
    "run_id": [..., "", "meta_run"],
    "walk_forward_used": [..., False, True, 0, "yes"],
    "fold_causality_attestation_path": [..., "", "att.json"],
    "fold_causality_attestation_schema_version": [..., None, 1, 2, "1"],
    "fold_causality_attestation": [
        ...,
        None,
        "x",
        {},
        ATTESTATION,
        {
            "fold_causality_attestation_schema_version": 1,
            "enforcement_checks": {"purge_applied": True, "embargo_applied": 1},
        },
    ],
    "rw_enabled": [..., False, True, 1, ""],
    "rw_skipped_reason": [..., None, "", "too few"],
    "rw_adjusted_p_values": [
        ...,
        None,
        {"a": 0.1},
        {"a": 0.1, "b": 0.5},
        {"b": 0.2, "a": 0.1},
        {"a": 1.5},
        {"a": -0.1},
        {"a": None},
        {"a": float("nan")},
        {"a": 0.0, "b": 1.0},
    ],
}
RC_POOLS: dict[str, list[Any]] = {
    "rc_summary_schema_version": [..., None, 1, 2, "1"],
    "rw_enabled": [..., False, True],
    "rw_skipped_reason": [..., None, "", "cap"],
    "rw_adjusted_p_values": [..., None, {"a": 0.1, "b": 0.4}, {"b": 0.1, "a": 0.4}, {"a": 0.3}, {"a": 2.0, "b": 0.1}],
    "hypothesis_ids": [..., None, ["a", "b"], ["a"], ["b", "a"], ["a", "c"], "a,b"],
    "actual_n_sim": [..., None, 0, 90, 95, 100, 94.7, 1000],
    "requested_n_sim": [..., None, 0, 100, 100.0, 1000, -5],
    "rc_p_value": [..., 0.01],
}


def _draw(rng: random.Random, pools: dict[str, list[Any]], p_key: float) -> dict[str, Any]:
    out = {}
    for k, pool in pools.items():
        if rng.random() < p_key:
            v = rng.choice(pool)
            if v is not ...:
                out[k] = v
    return out


def test_matches_the_analyzers_gate_on_generated_bundles():
    their_gating, their_vb = _analyzer_gating()
    rng = random.Random(20260201)
    n_compared = 0
    n_passed = 0
    for i in range(3000):
        base = full_meta() if rng.random() < 0.5 else {}
        meta = {**base, **_draw(rng, POOLS, 0.25 if base else 0.6)}
        rc = _draw(rng, RC_POOLS, 0.5) if rng.random() < 0.6 else None
        level = rng.choice(["exploratory", "candidate", "accepted"])
        run_id = rng.choice(["run1", ""])
        theirs = their_gating.evaluate_eligibility(
            their_vb.ValidationBundle(
                run_id=run_id,
                dataset_id="d",
                signal_name="s",
                freq="1h",
                horizons=[1],
                ic_summary_by_horizon={},
                ic_decay_table=[],
                meta=dict(meta),
            ),
            level,
            rc_summary=None if rc is None else dict(rc),
        )
        ours = evaluate_eligibility(bundle(meta, run_id=run_id), level, rc_summary=rc)
        ctx = f"case {i}: level={level} meta={meta!r} rc={rc!r}"
        assert ours.blockers == theirs.blockers, ctx
        assert ours.warnings == theirs.warnings, ctx
        assert ours.passed == theirs.passed, ctx
        for f in ("run_key", "run_instance_id", "dataset_id_v2", "engine_version", "config_version"):
            assert getattr(ours, f) == str(getattr(theirs, f)), (f, ctx)
        n_compared += 1
        n_passed += ours.passed
    # The generator reaches both outcomes often.
    assert n_compared == 3000 and 300 < n_passed < 2700, n_passed
