"""Run the store, connection, concurrency and crash tests against an INSTALLED package.

Used by `make test-wheel` (release wheel in a clean venv) and `make test-pip-pysqlite3`
(`pip install .`). Run it with the test venv's python from a folder where the source tree's
`python/` is not importable:

    cd /tmp/x && /path/.venv-wheel/bin/python /repo/scripts/test_installed.py [--sqlite3 pysqlite3] [--repeat 20]

Inside the pytest session (a plugin) it asserts that `crypto_analyzer_promotion` was imported
from the venv's site-packages, that `sqlite3` is the expected module (stdlib, or pysqlite3 via
scripts/pysqlite3_as_sqlite3.py) and that the store runs on that module's SQLite; at the end it
prints every round of the caller open/close test with its count of lost rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = ["tests_py/store", "tests_py/reliability/test_rel_concurrency.py"]


class InstalledPackageCheck:
    """pytest plugin: where the package came from, which SQLite, and the lost-row counts."""

    def __init__(self, expect_sqlite3: str) -> None:
        self.expect_sqlite3 = expect_sqlite3
        self.rounds: list[str] = []

    def pytest_sessionstart(self, session) -> None:
        import sqlite3

        import crypto_analyzer_promotion as pkg
        from crypto_analyzer_promotion import _core

        site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
        where = Path(pkg.__file__).resolve()
        core = Path(_core.__file__).resolve()
        print(f"\ninstalled package: {where}\nextension: {core}")
        assert any(s in where.parents for s in site), f"package imported from {where}, not site-packages {site}"
        assert any(s in core.parents for s in site), f"extension imported from {core}"
        assert REPO / "python" not in where.parents, "imported from the source tree"
        info = pkg.sqlite_info()
        print(f"sqlite3 module: {sqlite3.__name__} (SQLite {sqlite3.sqlite_version}); store: {info}")
        if self.expect_sqlite3 == "pysqlite3":
            assert sqlite3.__name__ == "pysqlite3", f"sqlite3 is {sqlite3.__name__}, not pysqlite3"
        else:
            assert sqlite3.__name__ == "sqlite3", sqlite3.__name__
        assert info["source"] == "python-sqlite3" and info["version"] == sqlite3.sqlite_version, info

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call":
            self.rounds += [ln for ln in report.capstdout.splitlines() if ln.startswith("caller open/close round")]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        lost = sum(int(ln.rsplit(" ", 1)[1]) for ln in self.rounds)
        terminalreporter.write_line("")
        for ln in self.rounds:
            terminalreporter.write_line(ln)
        terminalreporter.write_line(
            f"caller open/close test: {len(self.rounds)} rounds, {lost} rows lost in total "
            f"(sqlite3 = {self.expect_sqlite3})"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sqlite3", choices=["stdlib", "pysqlite3"], default="stdlib")
    ap.add_argument("--repeat", type=int, default=20, help="rounds of the caller open/close test")
    args, rest = ap.parse_known_args()
    if Path.cwd().resolve() == REPO or (Path.cwd() / "python" / "crypto_analyzer_promotion").exists():
        print("run from a folder outside the source tree", file=sys.stderr)
        return 2
    os.environ["CRYPTO_ANALYZER_TEST_REPEAT"] = str(args.repeat)
    # Test modules are imported as tests_py.*: spawned children (multiprocessing) re-import them,
    # so the repository root goes on their path. It holds no crypto_analyzer_promotion package
    # (that lives under python/, which stays off the path; the session asserts it).
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), os.environ.get("PYTHONPATH", "")] if p)
    sys.path.insert(0, str(REPO))
    if (os.environ.get("CRYPTO_ANALYZER_TEST_SQLITE3") == "pysqlite3") != (args.sqlite3 == "pysqlite3"):
        print(
            "--sqlite3 pysqlite3 needs CRYPTO_ANALYZER_TEST_SQLITE3=pysqlite3 in the environment (the "
            "venv's pysqlite3_as_sqlite3.pth swaps the module at interpreter start)",
            file=sys.stderr,
        )
        return 2
    import pytest

    plugin = InstalledPackageCheck(args.sqlite3)
    return int(
        pytest.main(
            [*(str(REPO / t) for t in TESTS), "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO), *rest],
            plugins=[plugin],
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
