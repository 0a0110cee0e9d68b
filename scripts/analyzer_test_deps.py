"""Install into this interpreter the analyzer's test dependencies that are missing.

Reads the analyzer's requirements.txt (plus duckdb, which its tests import) and installs, without
their pins, the distributions that are not installed at all: versions already present (numpy,
pandas, ...) are never changed, so the package is tested against the interpreter's own versions.

Usage: python scripts/analyzer_test_deps.py ANALYZER_DIR
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

EXTRA = ["duckdb", "pytest"]


def wanted(analyzer_dir: Path) -> list[str]:
    names: list[str] = []
    req = analyzer_dir / "requirements.txt"
    if req.is_file():
        for line in req.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0])
    return names + EXTRA


def missing(names: list[str]) -> list[str]:
    out = []
    for name in names:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(name)
    return out


def main() -> int:
    if len(sys.argv) != 2 or not Path(sys.argv[1], "crypto_analyzer").is_dir():
        print("usage: analyzer_test_deps.py ANALYZER_DIR (a tree with crypto_analyzer/)", file=sys.stderr)
        return 2
    todo = missing(wanted(Path(sys.argv[1])))
    if not todo:
        print("analyzer test deps: all installed")
        return 0
    print("analyzer test deps: installing", " ".join(todo))
    return subprocess.call([sys.executable, "-m", "pip", "install", "-q", *todo])


if __name__ == "__main__":
    sys.exit(main())
