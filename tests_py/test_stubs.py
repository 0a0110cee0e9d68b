"""The hand-written `_core.pyi` stubs match the compiled extension (mypy's stubtest)."""

import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mypy", reason="mypy is installed by `make venv`; run `make test`")


def test_core_stubs_match_the_extension():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "crypto_analyzer_promotion._core",
            "--allowlist",
            str(pathlib.Path(__file__).with_name("stubtest_allowlist.txt")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
