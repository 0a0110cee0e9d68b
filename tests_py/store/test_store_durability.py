"""Durability and the SQLite the store runs on: synchronous=FULL by default on every store
connection, NORMAL only by explicit opt-in (CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS), both reported
by diagnostics; the store's SQLite is the one Python's sqlite3 module uses."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import crypto_analyzer_promotion as pkg
import pytest
from crypto_analyzer_promotion import _core, exceptions, migrations_phase3
from crypto_analyzer_promotion import store_sqlite as st

ENV = "CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS"
BASE = dict(dataset_id="d", run_id="r", signal_name="s", horizon=1, config_hash="c", git_commit="g")

# Child: read back what SQLite reports on the store's own connection after real writes.
_CHILD = r"""
import json, sys
import crypto_analyzer_promotion as pkg
from crypto_analyzer_promotion import migrations_phase3, store_sqlite as st
db = sys.argv[1]
migrations_phase3.run_migrations_phase3(None, db)
st.create_candidate(db, dataset_id="d", run_id="r", signal_name="s", horizon=1, config_hash="c", git_commit="g")
print(json.dumps(pkg.sqlite_info(db)))
"""


def _child(tmp_path, value):
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if value is not None:
        env[ENV] = value
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "d.db")], env=env, capture_output=True, text=True, timeout=120
    )
    return out


def test_default_store_connections_run_wal_with_synchronous_full(db):
    assert os.environ.get(ENV) is None, "the suite must run with the default durability"
    st.create_candidate(db, **BASE)
    info = pkg.sqlite_info(db)
    assert info["synchronous"] == "FULL"
    # Read back from SQLite on the store's own connection, not from our configuration.
    assert info["connection"] == {"synchronous": "FULL", "journal_mode": "wal", "busy_timeout_ms": 10_000}


@pytest.mark.parametrize("value", ["NORMAL", "normal"])
def test_normal_is_an_explicit_opt_in_and_is_reported(tmp_path, value):
    out = _child(tmp_path, value)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["synchronous"] == "NORMAL"
    assert info["connection"]["synchronous"] == "NORMAL"
    assert info["connection"]["journal_mode"] == "wal"


def test_unset_and_full_give_full_in_a_fresh_process(tmp_path):
    for value in (None, "FULL", ""):
        out = _child(tmp_path, value)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["connection"]["synchronous"] == "FULL", value


def test_an_invalid_value_is_refused_not_ignored(tmp_path, monkeypatch):
    db = tmp_path / "bad.db"
    monkeypatch.setenv(ENV, "OFF")
    with pytest.raises(exceptions.InvalidInputError, match=f'{ENV} must be FULL .default. or NORMAL, got "OFF"'):
        migrations_phase3.run_migrations_phase3(None, db)
    assert not db.exists()
    assert pkg.sqlite_info()["synchronous"] is None
    assert "OFF" in pkg.sqlite_info()["synchronous_error"]


@pytest.mark.parametrize("value, words", [(None, "synchronous=FULL"), ("NORMAL", "synchronous=NORMAL (opted in")])
def test_cli_version_reports_the_sqlite_and_the_durability(value, words):
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if value is not None:
        env[ENV] = value
    out = subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"crypto-analyzer-promotion {pkg.__version__}"
    assert f"SQLite {sqlite3.sqlite_version} (shared with Python's" in lines[1]
    assert words in lines[1]


def test_the_store_runs_on_the_sqlite_of_pythons_sqlite3_module():
    info = pkg.sqlite_info()
    assert info["source"] == "python-sqlite3", info
    assert info["route"] in ("load_extension", "auto_extension")
    assert info["version"] == sqlite3.sqlite_version
    assert (
        info["version_number"]
        == sqlite3.sqlite_version_info[0] * 1_000_000
        + sqlite3.sqlite_version_info[1] * 1000
        + sqlite3.sqlite_version_info[2]
    )


def test_the_extension_links_no_sqlite_library():
    if not sys.platform.startswith("linux"):
        pytest.skip("checks the ELF dynamic section (Linux only)")
    with open(_core.__file__, "rb") as f:
        data = f.read()
    assert b"libsqlite3.so" not in data, "the extension must not depend on a SQLite library"


# Child: a `sqlite3` whose SQLite cannot be shared (no enable_load_extension, and its connect never
# reaches a SQLite we could bind to), installed before the package is imported.
_UNSHAREABLE = r"""
import sqlite3 as real, sys, types
fake = types.ModuleType("sqlite3")
class Connection:
    def close(self):
        pass
fake.Connection, fake.Error, fake.sqlite_version = Connection, real.Error, "3.99.0"
fake.connect = lambda *a, **k: Connection()
sys.modules["sqlite3"] = fake
import crypto_analyzer_promotion as pkg
from crypto_analyzer_promotion import exceptions, migrations_phase3, gating
info = pkg.sqlite_info()
assert info["source"] == "unbound", info
print("REASON", info["unavailable_reason"])
try:
    migrations_phase3.run_migrations_phase3(None, sys.argv[1])
except exceptions.PromotionRuntimeError as exc:
    print("REFUSED", exc)
else:
    print("NOT REFUSED")
"""


def test_without_a_shareable_sqlite_the_store_refuses_and_names_the_cause(tmp_path):
    db = tmp_path / "never.db"
    out = subprocess.run([sys.executable, "-c", _UNSHAREABLE, str(db)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "REASON Python's sqlite3 module 'sqlite3' (SQLite 3.99.0) cannot share its SQLite" in out.stdout
    assert "no enable_load_extension" in out.stdout
    assert "REFUSED the promotion store cannot open a database" in out.stdout
    assert "two SQLite libraries in one process" in out.stdout
    assert not db.exists()


# ------------------------------------------------------------------------------------------------
# Durability measured, not read back: the syncs SQLite really issues per commit, counted in a
# child process by a small LD_PRELOAD shim (compiled here) that wraps fsync and fdatasync. A store
# that ran synchronous=NORMAL or OFF by default would pass the pragma read-back above only if it
# lied about its settings; it cannot pass this.
# ------------------------------------------------------------------------------------------------

_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
static atomic_long syncs;
long sync_count_probe(void) { return atomic_load(&syncs); }
int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    atomic_fetch_add(&syncs, 1);
    return real(fd);
}
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    atomic_fetch_add(&syncs, 1);
    return real(fd);
}
"""

# Child: migrate, then count the syncs of N commits (one create_candidate each) and print them.
_SYNC_CHILD = r"""
import ctypes, json, sys
from crypto_analyzer_promotion import migrations_phase3, store_sqlite as st
probe = ctypes.CDLL(None).sync_count_probe
probe.restype = ctypes.c_long
db, n = sys.argv[1], int(sys.argv[2])
migrations_phase3.run_migrations_phase3(None, db)
st.create_candidate(db, dataset_id="d", run_id="warm", signal_name="s", horizon=1, config_hash="c", git_commit="g")
before = probe()
for i in range(n):
    st.create_candidate(db, dataset_id="d", run_id=f"r{i}", signal_name="s", horizon=1, config_hash="c", git_commit="g")
print(json.dumps({"syncs": probe() - before, "commits": n}))
"""


@pytest.fixture(scope="module")
def sync_shim(tmp_path_factory):
    cc = next(
        (c for c in ("cc", "gcc", "clang") if subprocess.run(["which", c], capture_output=True).returncode == 0), None
    )
    if cc is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler and Linux's LD_PRELOAD to count syncs")
    d = tmp_path_factory.mktemp("shim")
    (d / "shim.c").write_text(_SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(d / "shim.so"), str(d / "shim.c"), "-ldl"], check=True)
    return d / "shim.so"


def _syncs_per_commit(tmp_path, shim, value, n=20) -> float:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["LD_PRELOAD"] = str(shim)
    if value is not None:
        env[ENV] = value
    out = subprocess.run(
        [sys.executable, "-c", _SYNC_CHILD, str(tmp_path / f"s{value}.db"), str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got["syncs"] / got["commits"]


def test_every_commit_is_synced_to_disk_by_default(tmp_path, sync_shim):
    """WAL with synchronous=FULL syncs the WAL at every commit: at least one sync per commit.
    NORMAL (the explicit opt-in) syncs only at checkpoints: far fewer. The two are measured in the
    same way, so the check can tell them apart (it fails if the default were NORMAL)."""
    full = _syncs_per_commit(tmp_path, sync_shim, None)
    normal = _syncs_per_commit(tmp_path, sync_shim, "NORMAL")
    assert full >= 1.0, f"default store: {full} syncs per commit (synchronous=FULL issues at least one)"
    assert normal < 0.5 < full, f"NORMAL {normal} vs FULL {full} syncs per commit"
