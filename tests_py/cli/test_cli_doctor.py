"""`crypto-analyzer-promotion doctor`: one screen (or --json) that says whether the environment is
safe and complete, exits non-zero with the fix named when something must be fixed, and never shows
a credential."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from crypto_analyzer_promotion import _sqlite
from crypto_analyzer_promotion import adopt as ad
from crypto_analyzer_promotion.migrations_phase3 import run_migrations_phase3

from .test_cli_adopt import make_tree


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTO_ANALYZER_")}
    proc = subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion", "doctor", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def checks(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, dict]]:
    proc = doctor(*args, "--json", env=env)
    data = json.loads(proc.stdout)
    return proc.returncode, {c["name"]: c for c in data["checks"]}


def test_a_sound_environment_passes():
    proc = doctor()
    assert proc.returncode == 0, proc.stdout
    assert "everything checked is safe and complete" in proc.stdout
    code, found = checks()
    assert code == 0 and [found[n]["status"] for n in ("package", "sqlite", "durability")] == ["ok"] * 3
    assert f"SQLite {sqlite3.sqlite_version}" in found["sqlite"]["detail"]
    assert "synchronous=FULL" in found["durability"]["detail"]


def test_durability_opt_out_is_a_warning_and_a_bad_value_a_failure():
    code, found = checks(env={"CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS": "NORMAL"})
    assert code == 0 and found["durability"]["status"] == "warn" and "may be lost" in found["durability"]["detail"]
    code, found = checks(env={"CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS": "sometimes"})
    assert code == 1 and found["durability"]["status"] == "fail"
    assert "CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS" in found["durability"]["fix"]


def test_analyzer_adoption_states(tmp_path):
    tree = tmp_path / "an"
    make_tree(tree)
    code, found = checks("--analyzer-dir", str(tree))
    assert code == 0 and found["adoption"]["status"] == "warn" and "adopt --analyzer-dir" in found["adoption"]["fix"]
    # Modules switched but nothing declared: a fresh clone would not install the package.
    ad.adopt(tree, declare_dependency=False)
    code, found = checks("--analyzer-dir", str(tree))
    assert code == 1 and found["dependency"]["status"] == "fail" and "uv sync" in found["dependency"]["detail"]
    ad.restore(tree)
    # Declared but the lock was not refreshed.
    ad.adopt(tree, lock=False)
    code, found = checks("--analyzer-dir", str(tree))
    assert code == 1 and found["dependency"]["status"] == "ok" and found["lock"]["status"] == "fail"
    assert found["lock"]["fix"].startswith("uv lock")
    # Locked: everything in order.
    (tree / "uv.lock").write_text('version = 1\n[[package]]\nname = "crypto-analyzer-promotion"\n')
    code, found = checks("--analyzer-dir", str(tree))
    assert code == 0 and found["lock"]["status"] == "ok" and found["adoption"]["status"] == "ok"
    # A module edited by hand after adoption.
    (tree / "crypto_analyzer" / ad.MODULES[0][0]).write_text("# mine\n")
    code, found = checks("--analyzer-dir", str(tree))
    assert code == 1 and found["adoption"]["status"] == "fail" and "--restore" in found["adoption"]["fix"]
    code, found = checks("--analyzer-dir", str(tmp_path / "nowhere"))
    assert code == 1 and found["analyzer"]["status"] == "fail"


def test_database_migration_level(tmp_path):
    missing = tmp_path / "none.db"
    code, found = checks("--db", str(missing))
    assert code == 1 and found["database"]["status"] == "fail" and not missing.exists()  # never creates one
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    code, found = checks("--db", str(empty))
    assert code == 1 and "migrations at 0 of" in found["database"]["detail"] and "init" in found["database"]["fix"]
    db = tmp_path / "reg.db"
    run_migrations_phase3(None, str(db))
    code, found = checks("--db", str(db))
    assert code == 0 and found["database"]["status"] == "ok", found
    # The global --db works too.
    proc = subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion", "--db", str(db), "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and '"database"' in proc.stdout


def test_a_postgresql_password_is_never_shown():
    url = "postgresql://alice:s3cr%21t-pw@127.0.0.1:9/registry?connect_timeout=2"
    proc = doctor("--db", url)
    assert proc.returncode == 1
    assert "s3cr" not in proc.stdout + proc.stderr and "alice" in proc.stdout


def test_windows_looks_for_sqlite3_dll_beside_the_module(monkeypatch):
    """On Windows, sqlite3_auto_extension is exported by the sqlite3.dll that _sqlite3.pyd links, not
    by the .pyd: both are candidates, in that order (the route checks which one Python really uses)."""
    pyd = str(Path("C:/Python311/DLLs/_sqlite3.pyd"))
    monkeypatch.setattr(_sqlite, "_sqlite_module_file", lambda: pyd)
    monkeypatch.setattr(sys, "platform", "win32")
    assert _sqlite._auto_extension_hosts() == [pyd, os.path.join(os.path.dirname(pyd), "sqlite3.dll"), "sqlite3.dll"]
    monkeypatch.setattr(sys, "platform", "linux")
    assert _sqlite._auto_extension_hosts() == [pyd]


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_posix_looks_in_the_module_itself(monkeypatch, platform):
    monkeypatch.setattr(_sqlite, "_sqlite_module_file", lambda: None)
    monkeypatch.setattr(sys, "platform", platform)
    assert _sqlite._auto_extension_hosts() == [None]  # the interpreter itself: SQLite linked in
