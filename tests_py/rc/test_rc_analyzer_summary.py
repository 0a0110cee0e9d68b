"""The analyzer's (c79684b) Reality Check summary keys and CRYPTO_ANALYZER_ENABLE_ROMANOWOLF
semantics, and (when the analyzer's tree is on this machine) its own eligibility gate run on our
summaries."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from crypto_analyzer_promotion.reality_check import (
    RealityCheckConfig,
    make_null_generator_stationary,
    run_family_reality_check,
    run_reality_check,
)

ANALYZER = Path(__file__).resolve().parents[3] / "shared" / "analyzer" / "c79684b"
RW = "CRYPTO_ANALYZER_ENABLE_ROMANOWOLF"


def _seed_root(run_key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{run_key}|rc_null|1".encode()).digest()[:8], "big") % 2**63


def _family(seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {f"{s}|1": pd.Series(rng.normal(0.001 * i, 0.02, 120)) for i, s in enumerate(["c", "a", "b"])}


def _run(cfg: RealityCheckConfig, **kw) -> dict:
    series = _family()
    gen = make_null_generator_stationary(series, cfg, **kw)
    obs = pd.Series({h: float(v.mean()) for h, v in series.items()})
    return run_reality_check(obs, gen, cfg)


def test_summary_keys_without_run_key(monkeypatch):
    monkeypatch.delenv(RW, raising=False)
    out = _run(RealityCheckConfig(n_sim=50, seed=3, seed_root=77))
    assert out["rc_summary_schema_version"] == 1
    assert out["requested_n_sim"] == out["actual_n_sim"] == out["n_sim"] == 50
    assert "n_sim_shortfall_warning" not in out
    assert (out["seed_root"], out["seed_version"], out["component_salt"]) == (77, 1, None)
    spec = out["null_construction_spec"]
    assert spec == {
        "method": "stationary",
        "avg_block_length": 12,
        "block_size": 12,
        "seed_derivation": "explicit",
        "seed_version": 1,
        "rng": "default",
        "null_centering": "recentred",
    }
    assert out["rw_enabled"] is False and out["rw_adjusted_p_values"].empty
    assert "rw_method" not in out and "rw_skipped_reason" not in out
    assert out["hypothesis_ids"] == ["a|1", "b|1", "c|1"]


def test_summary_keys_with_run_key_and_romano_wolf(monkeypatch):
    monkeypatch.setenv(RW, "1")
    out = _run(RealityCheckConfig(n_sim=60, run_key="rk-9", horizon=1))
    assert out["seed_root"] == _seed_root("rk-9") and out["component_salt"] == "rc_null"
    assert out["null_construction_spec"]["seed_derivation"] == "run_key"
    rw = out["rw_adjusted_p_values"]
    assert out["rw_enabled"] is True and out["rw_method"] == "romano_wolf_stepdown"
    assert list(rw.index) == out["hypothesis_ids"]
    assert rw.to_dict() == out["romano_wolf_p_values"]
    assert ((rw >= 0) & (rw <= 1)).all()
    params = out["rw_null_params"]
    assert params["requested_n_sim"] == params["actual_n_sim"] == 60
    assert params["seed_root"] == out["seed_root"] and params["null_construction_spec"] == out["null_construction_spec"]


@pytest.mark.parametrize("value", ["0", "", "true", " 1 "])
def test_only_the_value_1_enables_romano_wolf(monkeypatch, value):
    monkeypatch.setenv(RW, value)
    out = _run(RealityCheckConfig(n_sim=20))
    assert out["rw_enabled"] is (value.strip() == "1")


def test_nan_observed_statistic_skips_romano_wolf_with_the_analyzers_reason(monkeypatch):
    monkeypatch.setenv(RW, "1")
    obs = pd.Series({"a|1": 0.04, "b|1": np.nan, "c|1": 0.01})
    out = run_reality_check(obs, lambda b: np.zeros(3), RealityCheckConfig(n_sim=30))
    assert out["rw_enabled"] is True and out["rw_adjusted_p_values"].empty
    assert out["rw_skipped_reason"] == "observed stats contain NaN/inf; RW requires finite values"


def test_shortfall_rows_are_dropped_and_reported(monkeypatch):
    monkeypatch.setenv(RW, "1")
    obs = pd.Series({"a|1": 0.3, "b|1": 0.1})
    null = np.random.default_rng(2).normal(0, 0.2, (40, 2))
    out = run_reality_check(
        obs, lambda b: None if b % 4 == 0 else (null[b] if b % 4 else None), RealityCheckConfig(n_sim=40)
    )
    kept = np.array([null[b] for b in range(40) if b % 4])
    assert (out["requested_n_sim"], out["actual_n_sim"]) == (40, 30)
    assert (
        out["n_sim_shortfall_warning"]
        == "actual_n_sim=30 < requested_n_sim=40 (10 null rows dropped due to length mismatch)"
    )
    assert out["rc_p_value"] == (1 + np.sum(kept.max(axis=1) >= 0.3)) / 31
    none = run_reality_check(obs, lambda b: [1.0], RealityCheckConfig(n_sim=5))
    assert none["actual_n_sim"] == 0 and none["rc_p_value"] == 1.0
    assert none["rw_skipped_reason"] == "no null simulations produced; RW requires full null matrix"


def test_family_result_summary_is_json_and_carries_the_keys(monkeypatch):
    monkeypatch.setenv(RW, "1")
    r = run_family_reality_check(_family(), RealityCheckConfig(n_sim=40, run_key="k"))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["rc_summary_schema_version"] == 1 and d["actual_n_sim"] == 40
    assert list(d["rw_adjusted_p_values"]) == d["hypothesis_ids"] == ["a|1", "b|1", "c|1"]
    assert d["null_construction_spec"]["seed_derivation"] == "run_key"


GATE = r"""
import json, sys, types
from crypto_analyzer.promotion.gating import evaluate_eligibility
summary = json.loads(sys.stdin.read())
meta = {"run_key": "rk", "dataset_id_v2": "ds", "engine_version": "e1", "config_version": "c1",
        "dataset_hash_algo": "sqlite_logical_v2", "dataset_hash_mode": "STRICT",
        "validation_bundle_schema_version": 1, "seed_version": 1}
bundle = types.SimpleNamespace(meta=meta, run_id="run1")
out = {}
for level in ("candidate", "accepted"):
    rep = evaluate_eligibility(bundle, level, rc_summary=summary)
    out[level] = {"passed": rep.passed, "blockers": rep.blockers}
print(json.dumps(out))
"""


@pytest.mark.skipif(
    not (ANALYZER / "crypto_analyzer").is_dir(), reason="the analyzer's c79684b tree is not on this machine"
)
@pytest.mark.parametrize("rw", ["0", "1"])
@pytest.mark.parametrize("source", ["run_reality_check", "family_to_dict"])
def test_our_summaries_pass_the_analyzers_own_gate(monkeypatch, rw, source):
    monkeypatch.setenv(RW, rw)
    if source == "family_to_dict":
        summary = run_family_reality_check(_family(), RealityCheckConfig(n_sim=40, run_key="rk")).to_dict()
    else:
        out = _run(RealityCheckConfig(n_sim=40, run_key="rk"))
        summary = {k: v for k, v in out.items() if k != "null_max_distribution"}
        rw_adj = summary.pop("rw_adjusted_p_values")
        summary["rw_adjusted_p_values"] = {k: float(v) for k, v in rw_adj.items()}  # as the report writes it
    proc = subprocess.run(
        [sys.executable, "-c", GATE],
        input=json.dumps(summary, default=str),
        text=True,
        capture_output=True,
        cwd=ANALYZER,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["candidate"] == {"passed": True, "blockers": []}
    assert res["accepted"] == {"passed": True, "blockers": []}
