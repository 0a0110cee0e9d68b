"""ExecutionEvidence and ValidationBundle behave like ordinary dataclasses and round-trip the JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion.execution_evidence import (
    ExecutionEvidence,
    execution_evidence_from_json,
    execution_evidence_to_json,
)
from crypto_analyzer_promotion.validation_bundle import ValidationBundle


def test_execution_evidence_is_a_plain_dataclass():
    ev = ExecutionEvidence(max_participation_rate=0.05, notes="n")
    assert dataclasses.asdict(ev)["max_participation_rate"] == 0.05
    assert ev == ExecutionEvidence(max_participation_rate=0.05, notes="n")
    assert repr(ev).startswith("ExecutionEvidence(min_liquidity_usd=None, max_participation_rate=0.05")


def test_the_dataclasses_declare_the_cores_fields_in_its_order():
    # The core's lists are what gating reads off these objects: a field added to one side only
    # would be silently dropped on the way to the gate.
    assert [f.name for f in dataclasses.fields(ExecutionEvidence)] == list(_core.EXECUTION_EVIDENCE_FIELDS)
    bundle_fields = [f.name for f in dataclasses.fields(ValidationBundle)]
    assert bundle_fields == [*_core.VALIDATION_BUNDLE_FIELDS, "extra"]


def test_validate_required(tmp_path):
    assert ExecutionEvidence().validate_required() == ["capacity_curve_path", "max_participation_rate", "cost_config"]
    ev = ExecutionEvidence(capacity_curve_path="  ", max_participation_rate=0.1, cost_config={"fee_bps": 1})
    assert ev.validate_required() == ["capacity_curve_path", "cost_config"]
    ev = ExecutionEvidence(
        capacity_curve_path="cap.csv", max_participation_rate=0.1, cost_config={"fee_bps": 1, "slippage_bps": 1}
    )
    assert ev.validate_required() == []
    assert ev.validate_required(base_path=tmp_path) == ["capacity_curve_path"]
    (tmp_path / "cap.csv").write_text("x\n1\n")
    assert ev.validate_required(base_path=tmp_path) == []
    assert ev.validate_required(base_path=str(tmp_path)) == []
    ev.capacity_curve_path = "../" + tmp_path.name + "/cap.csv"
    assert ev.validate_required(base_path=tmp_path) == ["capacity_curve_path"]


def test_to_dict_canonical_and_from_dict_tolerant():
    ev = ExecutionEvidence(
        max_participation_rate=0.123456789012345,
        cost_config={"slippage_bps": 2, "fee_bps": 1.0},
        min_liquidity_usd=float("nan"),
    )
    d = ev.to_dict()
    assert list(d) == sorted(d)
    assert d == {
        "cost_config": {"fee_bps": 1.0, "slippage_bps": 2},
        "max_participation_rate": round(0.123456789012345, 10),
    }
    back = ExecutionEvidence.from_dict(
        {
            "max_participation_rate": "0.05",
            "min_liquidity_usd": "lots",
            "spread_model": [1],
            "extra_key": 1,
            "capacity_curve_path": 7,
            "cost_config": {"fee_bps": 1, "slippage_bps": 2},
        }
    )
    assert back == ExecutionEvidence(
        max_participation_rate=0.05, capacity_curve_path="7", cost_config={"fee_bps": 1, "slippage_bps": 2}
    )
    assert execution_evidence_from_json(execution_evidence_to_json(back)) == back
    assert ExecutionEvidence.from_dict({"max_participation_rate": "nan"}).max_participation_rate is None


def test_validation_bundle_round_trip(evidence_dir, tmp_path):
    path = evidence_dir / "validation_bundle.json"
    b = ValidationBundle.load(path)
    assert b.horizons == [4, 1]
    assert set(b.ic_summary_by_horizon) == {4, 1}
    assert b.ic_series_path_by_horizon == {4: "ic_series_h4.csv", 1: "ic_series_h1.csv"}
    out = tmp_path / "copy.json"
    b.save(out)
    assert json.loads(out.read_text()) == json.loads(path.read_text())
    assert ValidationBundle.load(out) == b
    assert dataclasses.replace(b, run_id="x") != b


def test_validation_bundle_keeps_unknown_keys_and_nan():
    raw = {
        "run_id": "r",
        "dataset_id": "d",
        "signal_name": "s",
        "freq": "1h",
        "horizons": [2],
        "ic_summary_by_horizon": {"2": {"mean_ic": 0.1}},
        "ic_decay_table": [],
        "meta": {},
        "schema_version": 3,
    }
    b = ValidationBundle.from_json(json.dumps(raw))
    assert b.extra == {"schema_version": 3}
    assert json.loads(b.to_json())["schema_version"] == 3
    b.ic_summary_by_horizon[2]["mean_ic"] = float("nan")
    assert b.to_dict()["ic_summary_by_horizon"] == {"2": {"mean_ic": None}}
    assert ValidationBundle.from_dict(b.to_dict()).ic_summary_by_horizon == {2: {"mean_ic": None}}


@pytest.mark.parametrize(
    "text,match",
    [
        ("{", "malformed"),
        ("[]", "must be a JSON object"),
        ('{"run_id": "r"}', "missing required key dataset_id"),
        (
            '{"run_id":"r","dataset_id":"d","signal_name":"s","horizons":[1],"ic_summary_by_horizon":{"x":{}}}',
            "integer horizons",
        ),
    ],
)
def test_validation_bundle_errors(text, match):
    with pytest.raises(ValueError, match=match):
        ValidationBundle.from_json(text)
