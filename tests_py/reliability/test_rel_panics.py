"""No Rust panic and no core error crosses into Python as anything but an exception.

`_core._debug_raise(kind)` (hidden, test-only) makes the binding layer fail in each way the core
can: every Error variant must arrive as the class exceptions.py documents for it (and as the
built-in the analyzer's API raises), and a panic — on the calling thread, or in a rayon worker joined
with the GIL released — must arrive as InternalError. The unguarded panic (left to PyO3) must
still be an exception, and the interpreter must keep running after all of them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion import exceptions as X

# kind -> (class, built-in the analyzer's API raises, message fragment). Independent of the Rust mapping.
EXPECTED = {
    "invalid_input": (X.InvalidInputError, ValueError, "debug: invalid input"),
    "json": (X.InvalidInputError, ValueError, "invalid JSON: EOF while parsing"),
    "file_not_found": (X.MissingFileError, FileNotFoundError, "/nonexistent/debug.json"),
    "permission_denied": (X.AccessDeniedError, PermissionError, "/debug/readonly"),
    "io": (X.PromotionIOError, OSError, "no space left (debug)"),
    "runtime": (X.PromotionRuntimeError, RuntimeError, "debug: runtime"),
    "busy": (X.DatabaseBusyError, TimeoutError, "database is busy (locked by another connection) after waiting 1 ms"),
    "sqlite": (X.DatabaseError, RuntimeError, "sqlite error:"),
    "postgres": (X.DatabaseError, RuntimeError, "postgresql error: debug: refused by a trigger"),
    "connect": (
        X.DatabaseConnectionError,
        ConnectionError,
        "could not connect to PostgreSQL at postgresql://u:***@h/db",
    ),
    "cache": (X.CacheIntegrityError, RuntimeError, "cache integrity: debug: sha256 mismatch"),
    "internal": (X.InternalError, RuntimeError, "internal error: debug: invariant"),
    "panic": (
        X.InternalError,
        RuntimeError,
        "panic in the engine (caught, not propagated): _debug_raise: deliberate panic",
    ),
    "panic_in_thread": (X.InternalError, RuntimeError, "deliberate panic in a worker thread"),
    "panic_gil": (
        X.InternalError,
        RuntimeError,
        "panic in the engine (caught, not propagated): _debug_raise: deliberate panic holding the GIL",
    ),
}


def test_every_kind_is_covered():
    assert set(_core._debug_kinds()) == set(EXPECTED) | {"interrupted", "panic_unguarded"}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_error_variant_reaches_python_as_its_class(kind):
    cls, builtin, fragment = EXPECTED[kind]
    with pytest.raises(cls) as info:
        _core._debug_raise(kind)
    assert type(info.value) is cls
    assert isinstance(info.value, builtin) and isinstance(info.value, X.PromotionError)
    assert fragment in str(info.value)


def test_interrupted_is_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        _core._debug_raise("interrupted")


def test_unknown_kind_is_a_value_error():
    with pytest.raises(X.InvalidInputError, match="unknown _debug_raise kind"):
        _core._debug_raise("no-such-kind")


def test_panics_never_kill_the_interpreter(tmp_path):
    """In a fresh interpreter: guarded panics are caught as InternalError (an Exception), the
    unguarded one is PyO3's PanicException (a BaseException), and the process goes on to use the
    store normally afterwards and exits 0."""
    code = textwrap.dedent(
        """
        import sys, tempfile, os
        from crypto_analyzer_promotion import _core, migrations_phase3, store_sqlite
        from crypto_analyzer_promotion.exceptions import InternalError
        seen = []
        for kind in ["panic", "panic_in_thread", "panic", "panic_in_thread"]:
            try:
                _core._debug_raise(kind)
            except InternalError as e:
                seen.append("InternalError")
        try:
            _core._debug_raise("panic_unguarded")
        except BaseException as e:
            seen.append(type(e).__name__)
        d = tempfile.mkdtemp()
        db = os.path.join(d, "p.db")
        migrations_phase3.run_migrations_phase3(None, db)
        cid = store_sqlite.create_candidate(db, dataset_id="d", run_id="r", signal_name="s", horizon=1,
                                            config_hash="c", git_commit="g")
        store_sqlite.update_status(db, cid, "rejected")
        print(",".join(seen), len(store_sqlite.get_events(db, cid)))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "InternalError,InternalError,InternalError,InternalError,PanicException 2"


@pytest.mark.parametrize("registry", ["sqlite", "postgresql"], indirect=True)
def test_store_bindings_survive_hostile_arguments_without_panicking(tmp_path, registry):
    """A sweep of hostile values through every store function on a registry of each backend:
    each call returns or raises an Exception subclass (never PanicException / a crash), in a child
    process that must exit 0; the registry stays whole (SQLite: integrity_check; both: the
    candidate created first reads back with its events)."""
    code = textwrap.dedent(
        """
        import itertools, os, sqlite3, sys
        from crypto_analyzer_promotion import migrations_phase3, store_sqlite as st
        db = sys.argv[1]
        first = st.create_candidate(db, dataset_id="d", run_id="r", signal_name="s", horizon=1,
                                    config_hash="c", git_commit="g", candidate_id="first")
        texts = ["", "\\x00", "'; DROP TABLE promotion_events;--", "\\u202e", "x" * 100000, "%", "_", "\\ud800"]
        others = [None, 0, -1, 2**63, 2**64, float("nan"), float("inf"), b"bytes", [], {}, object()]
        n = panics = 0
        def call(f, *a, **k):
            global n, panics
            n += 1
            try:
                f(*a, **k)
            except Exception:
                pass
            except BaseException as e:
                panics += 1
                print("NOT AN EXCEPTION:", type(e).__name__, e)
        for v in texts + others:
            kw = dict(dataset_id="d", run_id="r", signal_name="s", horizon=1, config_hash="c", git_commit="g")
            for field in list(kw) + ["family_id", "estimator", "notes", "status", "candidate_id", "evidence_base_path"]:
                call(st.create_candidate, db, **{**kw, field: v})
            call(st.create_candidate, db, **kw, evidence={"k": v})
            call(st.create_candidate, db, **kw, evidence=v)
            call(st.update_status, db, v, "accepted", reason=v)
            call(st.update_status, db, "x", v)
            call(st.record_event, db, v, v, v)
            call(st.list_candidates, db, status=v, dataset_id=v, signal_name=v, limit=v)
            call(st.get_candidate, db, v)
            call(st.get_events, db, v)
            call(st.create_candidates_many, db, [v])
            call(st.create_candidates_many, db, v)
            call(st.promotion_tables_exist, v)
            call(migrations_phase3.run_migrations_phase3, v)
        if not db.startswith("postgresql://"):
            conn = sqlite3.connect(db)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert st.get_candidate(db, first)["dataset_id"] == "d"
        assert st.get_events(db, first)[0]["event_type"] == "created"
        print(n, panics)
        """
    )
    # Run in an empty folder: text values double as relative database paths.
    r = subprocess.run(
        [sys.executable, "-c", code, registry], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr[-3000:]
    n, panics = r.stdout.split()[-2:]
    assert int(panics) == 0, r.stdout[-3000:]
    assert int(n) > 300


_SWEEP_PRELUDE = """
import os, tempfile
import numpy as np
n = panics = 0
def call(f, *a, **k):
    global n, panics
    n += 1
    try:
        f(*a, **k)
    except Exception:
        pass
    except BaseException as e:
        panics += 1
        print("NOT AN EXCEPTION:", getattr(f, "__name__", f), type(e).__name__, str(e)[:200])
HOSTILE = [None, 0, -1, 2**63, 2**64, float("nan"), float("inf"), -float("inf"), "", "\\x00", "\\ud800",
           "x" * 100000, b"bytes", [], {}, {"a": {"b": [None]}}, [[1, 2], [3]], object(), np.array([]),
           np.full((3, 2), np.nan), np.zeros((0, 3)), np.array([[1.0, np.inf]]), np.array(["a"])]
"""


def _run_sweep(tmp_path, body: str) -> tuple:
    code = textwrap.dedent(_SWEEP_PRELUDE) + textwrap.dedent(body) + "\nprint(n, panics)\n"

    def limit_memory():  # a runaway allocation aborts the child, not the machine
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path, preexec_fn=limit_memory
    )
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    n, panics = r.stdout.split()[-2:]
    return int(n), int(panics), r.stdout


def test_gating_bindings_survive_hostile_arguments_without_panicking(tmp_path):
    """Every gating binding (the _core functions and their Python wrappers) with hostile values in
    every argument: each call returns or raises an Exception subclass, never PanicException."""
    n, panics, out = _run_sweep(
        tmp_path,
        """
        from crypto_analyzer_promotion import _core, gating, service, validation_bundle as vb, execution_evidence as xe
        from crypto_analyzer_promotion import migrations_phase3, store_sqlite
        d = tempfile.mkdtemp()
        db = os.path.join(d, "p.db")
        migrations_phase3.run_migrations_phase3(None, db)
        cid = store_sqlite.create_candidate(db, dataset_id="d", run_id="r", signal_name="s", horizon=1,
                                            config_hash="c", git_commit="g")
        good_thr = gating.ThresholdConfig()
        for v in HOSTILE:
            call(_core.gating_evaluate_candidate, v, {})
            call(_core.gating_evaluate_candidate, {}, v)
            call(_core.gating_evaluate_candidate, {"ic_summary_by_horizon": {1: v}}, {})
            call(_core.gating_evaluate_candidate, {}, {}, regime_summary=v, rc_summary=v, execution_evidence=v)
            call(_core.gating_evaluate_candidate, {}, {}, target_status=v)
            call(_core.gating_evaluate_candidate, {}, {}, execution_evidence_base_path=v)
            call(_core.validation_bundle_from_json, v)
            call(_core.validation_bundle_normalize, v)
            call(_core.validation_bundle_normalize, {"horizons": v, "ic_summary_by_horizon": v, "meta": v})
            call(_core.validation_bundle_to_json, v)
            call(_core.validation_bundle_to_json, {"run_id": v, "horizons": [v]})
            call(_core.execution_evidence_validate_required, v)
            call(_core.execution_evidence_validate_required, {"min_liquidity_usd": v}, base_path=v)
            call(_core.execution_evidence_to_dict, v)
            call(_core.execution_evidence_to_dict, {"cost_config": v})
            call(_core.execution_evidence_from_dict, v)
            call(_core._python_float_repr, v)
            call(_core._python_format_4f, v)
            call(_core.service_evaluate_and_record, v, cid, {})
            call(_core.service_evaluate_and_record, db, v, {})
            call(_core.service_evaluate_and_record, db, cid, v)
            call(_core.service_evaluate_and_record, db, cid, {}, bundle=v, regime_summary=v, rc_summary=v,
                 evidence_base_path=v)
            call(gating.evaluate_candidate, v, good_thr)
            call(gating.evaluate_candidate, {}, v, regime_summary_df=v, rc_summary=v, execution_evidence=v)
            call(service.evaluate_and_record, db, cid, good_thr, v)
            call(vb.ValidationBundle, v)
            call(xe.execution_evidence_from_json, v)
        """,
    )
    assert panics == 0, out[-3000:]
    assert n > 500


def test_reality_check_entry_points_survive_hostile_arguments_without_panicking(tmp_path):
    """The Reality Check entry points (_core.RcEngine and its methods, rc_bootstrap_indices,
    rc_pvalues_from_null_matrix, and the Python functions over them) with hostile values."""
    n, panics, out = _run_sweep(
        tmp_path,
        """
        from crypto_analyzer_promotion import _core
        from crypto_analyzer_promotion import reality_check as rc
        x = np.random.default_rng(0).normal(size=(30, 3))
        eng = _core.RcEngine(x, 4.0)
        spec = dict(method="stationary", avg_block_length=4.0, block_size=4.0, seed=1, rng="default")
        for v in HOSTILE:
            call(_core.RcEngine, v, 4.0)
            call(_core.RcEngine, x, v)
            call(_core.RcEngine, x, 4.0, keep_values=v)
            call(eng.null_stats, v, null_centering="recentred", **spec)
            for key in spec:
                call(eng.null_stats, 0, null_centering="recentred", **{**spec, key: v})
                call(eng.run, null_centering="recentred", n_sim=20, **{**spec, key: v})
            call(eng.run, null_centering=v, n_sim=20, **spec)
            call(eng.run, null_centering="recentred", n_sim=v, **spec)
            call(eng.run, null_centering="recentred", n_sim=20, compare_to=v, **spec)
            call(eng.run, null_centering="recentred", n_sim=2, indices=v, **spec)
            call(eng.run, null_centering="recentred", n_sim=20, kernel=v, **spec)
            call(eng.run, null_centering="recentred", n_sim=20, progress=v, **spec)
            call(_core.rc_bootstrap_indices, v, 0, **spec)
            call(_core.rc_bootstrap_indices, 30, v, **spec)
            call(_core.rc_pvalues_from_null_matrix, v, np.zeros((2, 3)))
            call(_core.rc_pvalues_from_null_matrix, np.zeros(3), v)
            call(rc.run_family_reality_check, v, rc.RealityCheckConfig(n_sim=10))
            call(rc.run_family_reality_check, x, v)
            call(rc.reality_check_pvalue, v, v)
            call(rc.make_null_generator_stationary, v)
            call(rc.bootstrap_indices, v, 0)
        # Explicit indices out of range and of the wrong shape, a progress callback that raises.
        call(eng.run, null_centering="recentred", n_sim=2, indices=np.full((2, 30), 99, dtype=np.int64), **spec)
        call(eng.run, null_centering="recentred", n_sim=2, indices=np.full((2, 30), -1, dtype=np.int64), **spec)
        call(eng.run, null_centering="recentred", n_sim=200000, progress=lambda d, t: 1 / 0, **spec)
        """,
    )
    assert panics == 0, out[-3000:]
    assert n > 500
