"""Hostile-input catalogue: bad inputs across the Python API, the CLI and files.

Every row names the surface, what is done, the exact exception class expected (or, where the
analyzer's API prescribes a value instead of an exception, that value), and a fragment of the message.
Around every row the whole work folder is fingerprinted: the database by its logical content
(iterdump), every other file (cache artifacts, manifest, bundles) by sha256, symlinks by target.
A refused input must leave all of it unchanged.

The store rows (the first block of the catalogue) run again on a registry of each backend
(SQLite file, PostgreSQL schema), fingerprinted by the rows of every store table read with an
independent client (``dbread``: sqlite3 or psql).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dbread
import numpy as np
import pytest
from crypto_analyzer_promotion import exceptions as X
from crypto_analyzer_promotion import migrations_phase3, rc_cache, store_sqlite

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "bundles" / "momentum_24h"
META = "x'); DROP TABLE promotion_events; --\"; DELETE FROM promotion_candidates WHERE '1'='1"
TABLES_MSG = store_sqlite.PROMOTION_TABLES_REQUIRED_MSG
BASE = dict(dataset_id="ds", run_id="run", signal_name="sig", horizon=5, config_hash="cfg", git_commit="g")


@dataclass
class Env:
    root: Path
    db: Path
    cid: str
    cache: Path
    key: str
    bundle: Path


def _deep(n: int) -> dict:
    x: dict = {}
    for _ in range(n):
        x = {"a": x}
    return x


def _circular() -> dict:
    lst: list = []
    lst.append(lst)
    return {"loop": lst}


def _rewrite_manifest(env: Env, entry: dict) -> None:
    """Prepared before the snapshot: a manifest whose entry for env.key is `entry`."""
    m = json.loads((env.cache / "manifest.json").read_text())
    m[env.key] = entry
    (env.cache / "manifest.json").write_text(json.dumps(m))


def _sha(b: bytes) -> str:
    import hashlib

    return hashlib.sha256(b).hexdigest()


# --- preparations (run before the "before" snapshot) -----------------------------------------


def prep_junk_db(env: Env) -> None:
    (env.root / "junk.db").write_bytes(b"this is not a database\n" * 200)


def prep_empty_db(env: Env) -> None:
    conn = sqlite3.connect(env.root / "empty.db")
    conn.execute("CREATE TABLE unrelated (a)")
    conn.commit()
    conn.close()


def prep_truncated_npy(env: Env) -> None:
    f = env.cache / f"{env.key}.npy"
    cut = f.read_bytes()[:-5]
    f.write_bytes(cut)
    _rewrite_manifest(env, {"path": f.name, "sha256": _sha(cut)})  # even a matching sha256


def prep_npy_bad_sha(env: Env) -> None:
    f = env.cache / f"{env.key}.npy"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))


def prep_manifest_outside(env: Env) -> None:
    blob = (env.cache / f"{env.key}.npy").read_bytes()
    (env.root / "outside.npy").write_bytes(blob)
    _rewrite_manifest(env, {"path": "../outside.npy", "sha256": _sha(blob)})


def prep_manifest_absolute(env: Env) -> None:
    blob = (env.cache / f"{env.key}.npy").read_bytes()
    (env.root / "outside.npy").write_bytes(blob)
    _rewrite_manifest(env, {"path": str(env.root / "outside.npy"), "sha256": _sha(blob)})


def prep_manifest_symlink(env: Env) -> None:
    blob = (env.cache / f"{env.key}.npy").read_bytes()
    (env.root / "outside.npy").write_bytes(blob)
    os.symlink(env.root / "outside.npy", env.cache / "link.npy")
    _rewrite_manifest(env, {"path": "link.npy", "sha256": _sha(blob)})


def prep_manifest_garbage(env: Env) -> None:
    (env.cache / "manifest.json").write_text('{"' + env.key + '": {"path": 5, "sha256": [1]}')


def prep_symlink_loop(env: Env) -> None:
    os.symlink(env.root / "loop_b.json", env.root / "loop_a.json")
    os.symlink(env.root / "loop_a.json", env.root / "loop_b.json")


def prep_symlink_to_secret(env: Env) -> None:
    (env.root / "secret.txt").write_text("root:x:0:0:not a bundle\n")
    os.symlink(env.root / "secret.txt", env.root / "b" / "bundle_link.json")


def prep_bad_bundles(env: Env) -> None:
    (env.root / "malformed.json").write_text('{"run_id": "r", "horizons": [1,')
    (env.root / "deep.json").write_text("[" * 50_000 + "]" * 50_000)


def prep_file_as_cache(env: Env) -> None:
    (env.root / "not_a_dir").write_text("x")


# --- the catalogue ----------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    surface: str  # "api" | "file" | "cli"
    action: Callable[[Env], Any]
    exc: type | None  # None: the call must RETURN and `returns` checks the value
    fragment: str
    prep: Callable[[Env], None] | None = None
    returns: Callable[[Any], str | None] | None = None  # -> message fragment found in the value


def _decision(reason: str, warning: str | None = None):
    def check(d) -> str:
        assert d.status == "rejected", d
        assert any(reason in r for r in d.reasons), d.reasons
        if warning:
            assert any(warning in w for w in d.warnings), d.warnings
        return reason

    return check


def _none_with_reason(fragment: str):
    def check(v) -> str:
        arr, reason = v
        assert arr is None, arr
        assert fragment in str(reason), reason
        return fragment

    return check


def _eval(env: Env, bundle, **kw):
    from crypto_analyzer_promotion import service
    from crypto_analyzer_promotion.gating import ThresholdConfig

    return service.evaluate_and_record(env.db, env.cid, ThresholdConfig(), bundle, **kw)


def _threshold(**kw):
    from crypto_analyzer_promotion.gating import ThresholdConfig

    return ThresholdConfig(**kw)


def _evaluate_with(env: Env, thresholds, **kw):
    from crypto_analyzer_promotion import service

    return service.evaluate_and_record(env.db, env.cid, thresholds, str(env.bundle), **kw)


def _rc_cfg(**kw):
    import pandas as pd
    from crypto_analyzer_promotion import reality_check as rc

    stream = kw.pop("rng", "default")
    cfg = rc.RealityCheckConfig(n_sim=20, **kw)
    series = {"a|1": pd.Series(np.linspace(-1, 1, 40)), "b|1": pd.Series(np.cos(np.arange(40.0)))}
    gen = rc.make_null_generator_stationary(series, cfg, rng=stream)
    return rc.run_reality_check(pd.Series({k: float(v.mean()) for k, v in series.items()}), gen, cfg)


def _cli(env: Env, *args: str) -> subprocess.CompletedProcess:
    """The console entry point, run from the work folder (nothing may appear there)."""
    return subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env.root,
        errors="surrogateescape",
    )


def _cli_fails(code: int, fragment: str):
    """The CLI's error contract: exit 2 for a usage error, 1 for any other; one line on stderr."""

    def check(r: subprocess.CompletedProcess) -> str:
        assert r.returncode == code, (r.returncode, r.stdout[-300:], r.stderr[-500:])
        assert fragment in r.stderr, r.stderr[-500:]
        assert "Traceback" not in r.stderr, r.stderr[-2000:]
        return fragment

    return check


def _core_load(env: Env):
    """The public loader's value (must be None) with the reason the core gives for the miss."""
    from crypto_analyzer_promotion import _core

    _, reason = _core.rc_cache_load(os.fspath(env.cache), env.key)
    return rc_cache.load_cached_null_max(env.cache, env.key), reason


CASES = [
    # ---- Python API: store --------------------------------------------------------------------
    Case(
        "unknown_status_on_create",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, status="promoted"),
        X.InvalidInputError,
        'unknown status "promoted": must be one of exploratory, candidate, accepted, rejected',
    ),
    Case(
        "unknown_status_on_update",
        "api",
        lambda e: store_sqlite.update_status(e.db, e.cid, "Accepted"),
        X.InvalidInputError,
        'unknown status "Accepted"',
    ),
    Case(
        "unknown_candidate_id",
        "api",
        lambda e: store_sqlite.update_status(e.db, "prom_0000000000000000", "rejected"),
        X.InvalidInputError,
        "candidate_id not found: prom_0000000000000000",
    ),
    Case(
        "duplicate_candidate_id",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, candidate_id=e.cid),
        X.InvalidInputError,
        "candidate_id already exists: ",
    ),
    Case(
        "event_for_unknown_candidate",
        "api",
        lambda e: store_sqlite.record_event(e.db, "ghost", "note", {"a": 1}),
        X.InvalidInputError,
        "candidate_id not found: ghost",
    ),
    Case(
        "empty_event_type",
        "api",
        lambda e: store_sqlite.record_event(e.db, e.cid, "", {"a": 1}),
        X.InvalidInputError,
        "event_type must be a non-empty string",
    ),
    Case(
        "deeply_nested_evidence",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, evidence=_deep(5000)),
        X.InvalidInputError,
        "is nested more than 200 levels deep",
    ),
    Case(
        "circular_evidence",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, evidence=_circular()),
        X.InvalidInputError,
        "is nested more than 200 levels deep (circular reference?)",
    ),
    Case(
        "evidence_not_a_dict",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, evidence=[1, 2]),
        X.InvalidInputError,
        "evidence must be a dict (JSON object) or None",
    ),
    Case(
        "evidence_with_a_set",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, evidence={"a": {1, 2}}),
        X.InvalidInputError,
        "evidence['a'] is not JSON-serializable: set",
    ),
    Case(
        "evidence_non_str_key",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, evidence={("t",): 1}),
        X.InvalidInputError,
        "JSON keys must be strings",
    ),
    Case(
        "evidence_int_beyond_64_bits",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, evidence={"n": 2**80}),
        X.InvalidInputError,
        "evidence['n'] is not JSON-serializable: integer out of the 64-bit range",
    ),
    Case(
        "evidence_numpy_object_array",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **BASE, evidence={"a": np.array([object()])}),
        X.InvalidInputError,
        "evidence['a'][0] is not JSON-serializable: object",
    ),
    Case(
        "horizon_nan",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **{**BASE, "horizon": float("nan")}),
        X.InvalidInputError,
        "horizon must be an integer, got float: nan",
    ),
    Case(
        "horizon_inf",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **{**BASE, "horizon": float("inf")}),
        X.InvalidInputError,
        "horizon must be an integer, got float: inf",
    ),
    Case(
        "horizon_str",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **{**BASE, "horizon": "5"}),
        X.InvalidInputError,
        "horizon must be an integer, got str: '5'",
    ),
    Case(
        "horizon_beyond_64_bits",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **{**BASE, "horizon": 2**64}),
        X.InvalidInputError,
        "horizon must be an integer, got int: 18446744073709551616",
    ),
    Case(
        "dataset_id_bytes",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **{**BASE, "dataset_id": b"ds"}),
        TypeError,
        "'bytes' object is not an instance of 'str'",
    ),
    Case(
        "signal_lone_surrogate",
        "api",
        lambda e: store_sqlite.create_candidate(e.db, **{**BASE, "signal_name": "\ud800"}),
        UnicodeEncodeError,
        "surrogates not allowed",
    ),
    Case(
        "huge_status_string",
        "api",
        lambda e: store_sqlite.update_status(e.db, e.cid, "x" * 20_000_000),
        X.InvalidInputError,
        'unknown status "xxxxxxxx',
    ),
    Case(
        "sql_metacharacters_every_field_create",
        "api",
        lambda e: store_sqlite.create_candidate(
            e.db,
            dataset_id=META,
            run_id=META,
            signal_name=META,
            horizon=1,
            config_hash=META,
            git_commit=META,
            family_id=META,
            estimator=META,
            notes=META,
            evidence={META: META},
            status=META,
            candidate_id=META,
        ),
        X.InvalidInputError,
        "unknown status \"x'); DROP TABLE promotion_events;",
    ),
    Case(
        "sql_metacharacters_update",
        "api",
        lambda e: store_sqlite.update_status(e.db, META, "rejected", reason=META),
        X.InvalidInputError,
        "candidate_id not found: x'); DROP TABLE promotion_events; --",
    ),
    Case(
        "sql_metacharacters_event",
        "api",
        lambda e: store_sqlite.record_event(e.db, META, META, {META: META}),
        X.InvalidInputError,
        "candidate_id not found: x');",
    ),
    Case(
        "in_memory_connection",
        "api",
        lambda e: store_sqlite.list_candidates(sqlite3.connect(":memory:")),
        ValueError,
        "in-memory SQLite databases are not supported by the promotion store",
    ),
    Case(
        "conn_of_wrong_type",
        "api",
        lambda e: store_sqlite.list_candidates(42),
        ValueError,
        "conn must be a sqlite3.Connection or a database path (str or pathlib.Path), got int",
    ),
    Case(
        "nul_in_db_path",
        "api",
        lambda e: store_sqlite.create_candidate(str(e.root / "a\x00b.db"), **BASE),
        X.InvalidInputError,
        "database path contains a NUL byte",
    ),
    Case(
        "db_path_is_a_directory",
        "api",
        lambda e: store_sqlite.create_candidate(e.root, **BASE),
        X.InvalidInputError,
        "database path is a directory",
    ),
    Case(
        "non_sqlite_file",
        "file",
        lambda e: store_sqlite.create_candidate(e.root / "junk.db", **BASE),
        X.InvalidInputError,
        "is not a SQLite database (file is not a database)",
        prep=prep_junk_db,
    ),
    Case(
        "migrations_on_non_sqlite_file",
        "file",
        lambda e: migrations_phase3.run_migrations_phase3(None, e.root / "junk.db"),
        X.InvalidInputError,
        "is not a SQLite database",
        prep=prep_junk_db,
    ),
    Case(
        "database_without_promotion_tables",
        "file",
        lambda e: store_sqlite.create_candidate(e.root / "empty.db", **BASE),
        X.PromotionRuntimeError,
        TABLES_MSG,
        prep=prep_empty_db,
    ),
    Case(
        "missing_database_file",
        "file",
        lambda e: store_sqlite.update_status(e.root / "nope.db", "x", "accepted"),
        X.PromotionRuntimeError,
        TABLES_MSG,
    ),
    # ---- Python API: gate and service -------------------------------------------------------
    Case(
        "threshold_nan",
        "api",
        lambda e: _evaluate_with(e, _threshold(ic_mean_min=float("nan"))),
        X.InvalidInputError,
        "ThresholdConfig.ic_mean_min must be a number, got nan",
    ),
    Case(
        "threshold_wrong_dtype",
        "api",
        lambda e: _evaluate_with(e, _threshold(tstat_min="high")),
        X.InvalidInputError,
        'ThresholdConfig.tstat_min must be a number, got string "high"',
    ),
    Case(
        "thresholds_not_a_config",
        "api",
        lambda e: _evaluate_with(e, 5),
        TypeError,
        "thresholds must be a ThresholdConfig (or a mapping of its fields), got int",
    ),
    Case(
        "unknown_target_status",
        "api",
        lambda e: _evaluate_with(e, _threshold(), target_status="Accepted"),
        X.InvalidInputError,
        'unknown target_status "Accepted"',
    ),
    Case(
        "rc_summary_not_a_dict",
        "api",
        lambda e: _evaluate_with(e, _threshold(), rc_summary=[0.01]),
        X.InvalidInputError,
        "rc_summary must be a dict, got list",
    ),
    Case(
        "evaluate_unknown_id",
        "api",
        lambda e: __import__("crypto_analyzer_promotion.service", fromlist=["x"]).evaluate_and_record(
            e.db, "prom_missing", _threshold(), str(e.bundle)
        ),
        None,
        "",
        returns=_decision("candidate_id not found: prom_missing"),
    ),
    # ---- files: bundles and evidence ---------------------------------------------------------
    Case(
        "malformed_bundle_json",
        "file",
        lambda e: _eval(e, str(e.root / "malformed.json")),
        None,
        "",
        prep=prep_bad_bundles,
        returns=_decision("could not load ValidationBundle from path", "ValidationBundle JSON is malformed"),
    ),
    Case(
        "deeply_nested_bundle_json",
        "file",
        lambda e: _eval(e, str(e.root / "deep.json")),
        None,
        "",
        prep=prep_bad_bundles,
        returns=_decision("could not load ValidationBundle from path", "recursion limit exceeded"),
    ),
    Case(
        "deeply_nested_bundle_text",
        "file",
        lambda e: __import__("crypto_analyzer_promotion.validation_bundle", fromlist=["x"]).ValidationBundle.from_json(
            "[" * 50_000 + "]" * 50_000
        ),
        X.InvalidInputError,
        "ValidationBundle JSON is malformed: recursion limit exceeded",
    ),
    Case(
        "bundle_wrong_dtype",
        "file",
        lambda e: __import__("crypto_analyzer_promotion.validation_bundle", fromlist=["x"]).ValidationBundle.from_json(
            json.dumps(
                {"run_id": "r", "dataset_id": "d", "signal_name": "s", "horizons": "5", "ic_summary_by_horizon": {}}
            )
        ),
        X.InvalidInputError,
        'ValidationBundle: horizons must be a list of integers, got string "5"',
    ),
    Case(
        "bundle_path_escape",
        "file",
        lambda e: _eval(e, "../../../../etc/passwd", evidence_base_path=e.root / "b"),
        None,
        "",
        returns=_decision(
            "could not load ValidationBundle from path", "climbs out of evidence_base_path; refused (not read)"
        ),
    ),
    Case(
        "bundle_symlink_loop",
        "file",
        lambda e: _eval(e, str(e.root / "loop_a.json")),
        None,
        "",
        prep=prep_symlink_loop,
        returns=_decision("could not load ValidationBundle from path", "could not read ValidationBundle"),
    ),
    Case(
        "symlinked_bundle_to_non_bundle",
        "file",
        lambda e: _eval(e, str(e.root / "b" / "bundle_link.json")),
        None,
        "",
        prep=prep_symlink_to_secret,
        returns=_decision("could not load ValidationBundle from path", "ValidationBundle JSON is malformed"),
    ),
    Case(
        "bundle_is_a_directory",
        "file",
        lambda e: _eval(e, str(e.root / "b")),
        None,
        "",
        returns=_decision("could not load ValidationBundle from path", "Is a directory"),
    ),
    # ---- files: Reality Check cache ----------------------------------------------------------
    Case(
        "cache_key_path_escape",
        "api",
        lambda e: rc_cache.save_cached_null_max(e.cache, "../../escape", np.ones(3)),
        X.InvalidInputError,
        'cache key "../../escape" must be 1-128 characters of [A-Za-z0-9_-]',
    ),
    Case(
        "cache_key_huge",
        "api",
        lambda e: rc_cache.load_cached_null_max(e.cache, "k" * 5_000_000),
        X.InvalidInputError,
        "must be 1-128 characters of [A-Za-z0-9_-]",
    ),
    Case(
        "cache_dir_is_a_file",
        "file",
        lambda e: rc_cache.save_cached_null_max(e.root / "not_a_dir", "k1", np.ones(3)),
        X.PromotionIOError,
        "cache dir is not a directory",
        prep=prep_file_as_cache,
    ),
    Case(
        "cache_values_wrong_dtype",
        "api",
        lambda e: rc_cache.save_cached_null_max(e.cache, "k2", np.array(["a", "b"])),
        ValueError,
        "could not convert string to float",
    ),
    Case(
        "truncated_npy",
        "file",
        _core_load,
        None,
        "",
        prep=prep_truncated_npy,
        returns=_none_with_reason("not a 1-D float64 .npy file"),
    ),
    Case(
        "npy_sha256_mismatch",
        "file",
        _core_load,
        None,
        "",
        prep=prep_npy_bad_sha,
        returns=_none_with_reason("sha256 mismatch (corrupt artifact)"),
    ),
    Case(
        "manifest_points_outside",
        "file",
        _core_load,
        None,
        "",
        prep=prep_manifest_outside,
        returns=_none_with_reason("manifest path points outside the cache dir (refused)"),
    ),
    Case(
        "manifest_absolute_path",
        "file",
        _core_load,
        None,
        "",
        prep=prep_manifest_absolute,
        returns=_none_with_reason("manifest path points outside the cache dir (refused)"),
    ),
    Case(
        "manifest_symlink_outside",
        "file",
        _core_load,
        None,
        "",
        prep=prep_manifest_symlink,
        returns=_none_with_reason("manifest path points outside the cache dir (refused)"),
    ),
    Case(
        "manifest_garbage",
        "file",
        _core_load,
        None,
        "",
        prep=prep_manifest_garbage,
        returns=_none_with_reason("not in manifest"),
    ),
    # ---- CLI ----------------------------------------------------------------------------------
    Case(
        "cli_horizon_not_an_int",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "create", "--from-run", "r", "--signal", "s", "--horizon", "abc"),
        None,
        "",
        returns=_cli_fails(2, "argument --horizon: invalid int value: 'abc'"),
    ),
    Case(
        "cli_horizon_nan",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "create", "--from-run", "r", "--signal", "s", "--horizon", "nan"),
        None,
        "",
        returns=_cli_fails(2, "argument --horizon: invalid int value: 'nan'"),
    ),
    Case(
        "cli_horizon_beyond_64_bits",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "create", "--from-run", "r", "--signal", "s", "--horizon", "9" * 20),
        None,
        "",
        returns=_cli_fails(1, "horizon must be an integer, got int: 99999999999999999999"),
    ),
    Case(
        "cli_signal_invalid_utf8",
        "cli",
        lambda e: _cli(
            e, "--db", str(e.db), "create", "--from-run", "r", "--signal", "\udced\udca0\udc80", "--horizon", "1"
        ),
        None,
        "",
        returns=_cli_fails(1, "surrogates not allowed"),
    ),
    Case(
        "cli_unknown_status",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "set-status", e.cid, "promoted", "--reason", "r"),
        None,
        "",
        returns=_cli_fails(2, "argument status: invalid choice: 'promoted'"),
    ),
    Case(
        "cli_empty_reason",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "set-status", e.cid, "accepted", "--reason", ""),
        None,
        "",
        returns=_cli_fails(1, "--reason must not be empty"),
    ),
    Case(
        "cli_sql_metacharacters",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "set-status", META, "accepted", "--reason", META),
        None,
        "",
        returns=_cli_fails(1, "Candidate not found: x'); DROP TABLE promotion_events;"),
    ),
    Case(
        "cli_evaluate_unknown_id",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "evaluate", "--id", "prom_missing"),
        None,
        "",
        returns=_cli_fails(1, "Candidate not found: prom_missing"),
    ),
    Case(
        "cli_limit_not_an_int",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "list", "--limit", "1e9"),
        None,
        "",
        returns=_cli_fails(2, "argument --limit: invalid int value: '1e9'"),
    ),
    Case(
        "cli_non_sqlite_db",
        "cli",
        lambda e: _cli(e, "--db", str(e.root / "junk.db"), "list"),
        None,
        "",
        prep=prep_junk_db,
        returns=_cli_fails(1, "is not a SQLite database (file is not a database)"),
    ),
    Case(
        "cli_db_is_a_directory",
        "cli",
        lambda e: _cli(e, "--db", str(e.root), "list"),
        None,
        "",
        returns=_cli_fails(1, "DB not found: "),
    ),
    Case(
        "cli_db_without_tables",
        "cli",
        lambda e: _cli(e, "--db", str(e.root / "empty.db"), "list"),
        None,
        "",
        prep=prep_empty_db,
        returns=_cli_fails(1, TABLES_MSG),
    ),
    Case(
        "cli_cache_dir_missing",
        "cli",
        lambda e: _cli(e, "--db", str(e.db), "cache", "verify", "--cache-dir", str(e.root / "no_cache")),
        None,
        "",
        returns=_cli_fails(1, "cache dir not found"),
    ),
    # ---- Reality Check configuration ----------------------------------------------------------
    Case(
        "rc_block_length_nan",
        "api",
        lambda e: _rc_cfg(avg_block_length=float("nan")),
        X.InvalidInputError,
        "must be a finite number >= 1 (got NaN)",
    ),
    Case("rc_unknown_method", "api", lambda e: _rc_cfg(method="bogus"), X.InvalidInputError, "unknown method 'bogus'"),
    Case(
        "rc_legacy_stream_absurd_block_length",
        "api",
        lambda e: _rc_cfg(avg_block_length=1e17, rng="numpy_legacy"),
        X.InvalidInputError,
        'is too large for rng="numpy_legacy"',
    ),
    Case(
        "rc_negative_seed",
        "api",
        lambda e: _rc_cfg(seed=-1),
        X.InvalidInputError,
        "seed must be a non-negative integer below 2**64 (got -1)",
    ),
]


@pytest.fixture
def env(tmp_path) -> Env:
    root = tmp_path / "work"
    root.mkdir()
    db = root / "promo.db"
    migrations_phase3.run_migrations_phase3(None, db)
    shutil.copytree(FIXTURE, root / "b")
    bundle = root / "b" / "validation_bundle.json"
    cid = store_sqlite.create_candidate(
        db, **BASE, evidence={"bundle_path": str(bundle)}, evidence_base_path=root / "b"
    )
    store_sqlite.update_status(db, cid, "rejected", reason="setup")
    cache = root / "cache"
    key = rc_cache.get_rc_cache_key("fam", "ds", "g", "mean_ic", None, 20, 42, "stationary", 12)
    rc_cache.save_cached_null_max(cache, key, np.linspace(0.0, 1.0, 20))
    return Env(root=root, db=db, cid=cid, cache=cache, key=key, bundle=bundle)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, env: Env, snap):
    if case.prep:
        case.prep(env)
    before = snap.tree_digest(env.root)
    if case.exc is None:
        value = case.action(env)
        assert case.returns is not None
        case.returns(value)
    else:
        with pytest.raises(case.exc) as info:
            case.action(env)
        # The exact class, not any subclass of it.
        assert type(info.value) is case.exc, f"{type(info.value).__module__}.{type(info.value).__qualname__}"
        assert case.fragment in str(info.value), str(info.value)[:500]
    after = snap.tree_digest(env.root)
    assert after == before, {
        k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)
    }


# The store rows of the catalogue: they reach the store only through `e.db` and `e.cid`, so they
# run unchanged on either backend.
STORE_CASE_IDS = (
    "unknown_status_on_create",
    "unknown_status_on_update",
    "unknown_candidate_id",
    "duplicate_candidate_id",
    "event_for_unknown_candidate",
    "empty_event_type",
    "deeply_nested_evidence",
    "circular_evidence",
    "evidence_not_a_dict",
    "evidence_with_a_set",
    "evidence_non_str_key",
    "evidence_int_beyond_64_bits",
    "evidence_numpy_object_array",
    "horizon_nan",
    "horizon_inf",
    "horizon_str",
    "horizon_beyond_64_bits",
    "dataset_id_bytes",
    "signal_lone_surrogate",
    "huge_status_string",
    "sql_metacharacters_every_field_create",
    "sql_metacharacters_update",
    "sql_metacharacters_event",
)
STORE_CASES = [c for c in CASES if c.id in STORE_CASE_IDS]
STORE_TABLES = ("promotion_candidates", "promotion_events", "eligibility_reports", "governance_events")


def _registry_rows(db: str) -> dict:
    return {t: dbread.rows(db, f"SELECT * FROM {t} ORDER BY 1") for t in STORE_TABLES}


@pytest.mark.parametrize("registry", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("case", STORE_CASES, ids=[c.id for c in STORE_CASES])
def test_hostile_store_input_on_both_backends(case: Case, registry):
    cid = store_sqlite.create_candidate(registry, **BASE)
    store_sqlite.update_status(registry, cid, "rejected", reason="setup")
    e = Env(root=Path(), db=registry, cid=cid, cache=Path(), key="", bundle=Path())
    before = _registry_rows(registry)
    assert len(before["promotion_events"]) == 2
    with pytest.raises(case.exc) as info:
        case.action(e)
    assert type(info.value) is case.exc, f"{type(info.value).__module__}.{type(info.value).__qualname__}"
    assert case.fragment in str(info.value), str(info.value)[:500]
    assert _registry_rows(registry) == before


def test_catalogue_size_and_surfaces():
    assert len(STORE_CASES) == len(STORE_CASE_IDS)
    assert len(CASES) >= 30
    assert {c.surface for c in CASES} == {"api", "file", "cli"}
    assert len({c.id for c in CASES}) == len(CASES)


def test_sql_metacharacters_are_stored_verbatim_and_harmless(env, snap):
    """The successful counterpart of the SQL rows: every text field holds SQL; it reads back byte
    for byte and both tables (and their rows) are intact."""
    _metacharacters_round_trip(env.db, n_rows=2)
    conn = sqlite3.connect(env.db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM promotion_events WHERE candidate_id = ?", (env.cid,)).fetchone()[0] == 2
    conn.close()


@pytest.mark.parametrize("registry", ["sqlite", "postgresql"], indirect=True)
def test_sql_metacharacters_through_the_store_on_both_backends(registry):
    """The same round trip through the store on a fresh registry of either backend."""
    _metacharacters_round_trip(registry, n_rows=1)


def _metacharacters_round_trip(db, n_rows: int) -> None:
    cid = store_sqlite.create_candidate(
        db,
        dataset_id=META,
        run_id=META,
        signal_name=META,
        horizon=1,
        config_hash=META,
        git_commit=META,
        family_id=META,
        estimator=META,
        notes=META,
        evidence={META: META},
        candidate_id=META,
    )
    store_sqlite.update_status(db, cid, "rejected", reason=META)
    store_sqlite.record_event(db, cid, META, {META: META})
    row = store_sqlite.get_candidate(db, META)
    assert all(
        row[k] == META
        for k in (
            "candidate_id",
            "dataset_id",
            "run_id",
            "signal_name",
            "config_hash",
            "git_commit",
            "family_id",
            "estimator",
            "notes",
        )
    )
    assert json.loads(row["evidence_json"]) == {META: META}
    assert [e["event_type"] for e in store_sqlite.get_events(db, META)] == ["created", "status_change", META]
    assert (
        store_sqlite.list_candidates(db, status="rejected", dataset_id=META, signal_name=META)[0]["candidate_id"]
        == META
    )
    assert len(store_sqlite.list_candidates(db, limit=None)) == n_rows


# ---- inputs that need another process or dropped privileges ------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, sys
    from crypto_analyzer_promotion import store_sqlite, rc_cache
    import numpy as np
    what, arg = sys.argv[1], sys.argv[2]
    try:
        if what == "update":
            store_sqlite.update_status(arg, "c_ro", "rejected", reason="x")
        elif what == "create":
            store_sqlite.create_candidate(arg, dataset_id="d", run_id="r", signal_name="s", horizon=1,
                                          config_hash="c", git_commit="g")
        elif what == "cache":
            rc_cache.save_cached_null_max(arg, "k_ro", np.ones(4))
        out = {"ok": True}
    except Exception as e:
        out = {"ok": False, "type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "msg": str(e)}
    print(json.dumps(out))
    """
)


def _unprivileged_prefix():
    """As root, drop DAC override so file modes apply (the suite runs as root in CI)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("running as root without setpriv: read-only files cannot be simulated")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def _child(args, env=None):
    r = subprocess.run(
        _unprivileged_prefix() + [sys.executable, "-c", _CHILD, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_read_only_database(env, snap):
    store_sqlite.create_candidate(env.db, **BASE, candidate_id="c_ro")
    os.chmod(env.db, 0o444)
    before = snap.tree_digest(env.root)
    try:
        out = _child(["update", str(env.db)])
    finally:
        os.chmod(env.db, 0o644)
    assert out["type"] == "AccessDeniedError" and "PermissionError" in out["mro"], out
    assert (
        "the database is read-only, cannot write" in out["msg"] and "attempt to write a readonly database" in out["msg"]
    )
    assert snap.tree_digest(env.root) == before


def test_read_only_cache_dir(env, snap):
    os.chmod(env.cache, 0o555)
    before = snap.tree_digest(env.root)
    try:
        out = _child(["cache", str(env.cache)])
    finally:
        os.chmod(env.cache, 0o755)
    assert out["type"] == "AccessDeniedError" and "PermissionError" in out["mro"], out
    assert "ermission denied" in out["msg"]
    assert snap.tree_digest(env.root) == before


def test_database_locked_by_another_process(env, snap):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            sys.stdin.readline()
            c.execute("ROLLBACK")
            """
            ),
            str(env.db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        before = snap.tree_digest(env.root / "b")
        r = subprocess.run(
            [sys.executable, "-c", _CHILD, "create", str(env.db)],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ, CRYPTO_ANALYZER_BUSY_TIMEOUT_MS="300"),
        )
        out = json.loads(r.stdout)
    finally:
        holder.stdin.write(b"\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
    assert out["type"] == "DatabaseBusyError" and "TimeoutError" in out["mro"], out
    assert out["msg"].startswith("database is busy (locked by another connection) after waiting 300 ms")
    assert snap.tree_digest(env.root / "b") == before
    # Nothing was written by the refused call (checked after the lock is gone).
    assert len(store_sqlite.list_candidates(env.db, limit=None)) == 1
