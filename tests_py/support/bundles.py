"""Validation bundles for the tests: the provenance a STRICT bundle carries and one writer.

Importable from any test module as ``import bundles`` (``tests_py/conftest.py`` puts this folder
on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

from crypto_analyzer_promotion.validation_bundle import ValidationBundle

# What eligibility asks of a candidate's bundle; without research_spec_version, an accepted
# report carries the warning that recommends it.
PROVENANCE = {
    "validation_bundle_schema_version": 1,
    "dataset_id_v2": "ds2",
    "dataset_hash_algo": "sqlite_logical_v2",
    "dataset_hash_mode": "STRICT",
    "run_key": "rk",
    "engine_version": "e1",
    "config_version": "c1",
    "seed_version": 1,
}


def write_bundle(folder: Path, meta: dict, mean_ic: float = 0.04) -> Path:
    """``folder/bundle.json``: one horizon (1) with t = 3.0 over 100 observations."""
    b = ValidationBundle(
        run_id="run_g",
        dataset_id="d",
        signal_name="sig",
        freq="1h",
        horizons=[1],
        ic_summary_by_horizon={1: {"mean_ic": mean_ic, "t_stat": 3.0, "n_obs": 100}},
        ic_decay_table=[],
        meta=meta,
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bundle.json"
    b.save(path)
    return path
