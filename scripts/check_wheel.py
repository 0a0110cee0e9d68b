"""Check a release wheel: it must pack no SQLite library and its extension must link none.

Usage: python scripts/check_wheel.py dist/crypto_analyzer_promotion-*.whl

The extension runs on the SQLite of Python's own sqlite3 module (docs/sqlite.md); a wheel that
packed or linked its own copy would put a second SQLite in the process. Prints the wheel's file
list (like `unzip -l`) and the extension's DT_NEEDED entries; exits 1 on any SQLite found.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def needed(so: Path) -> list[str]:
    """DT_NEEDED entries of an ELF file (readelf), or [] with a note when readelf is missing."""
    if shutil.which("readelf") is None:
        print("  (readelf not found: DT_NEEDED not listed)")
        return []
    out = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def check(wheel: Path) -> list[str]:
    problems = []
    with zipfile.ZipFile(wheel) as zf:
        infos = zf.infolist()
        print(f"{wheel.name}: {len(infos)} files")
        for info in infos:
            print(f"  {info.file_size:>10}  {info.filename}")
            name = info.filename.lower()
            if "sqlite" in Path(name).name and not name.endswith((".py", ".pyi", ".sql")):
                problems.append(f"packs a SQLite file: {info.filename}")
            if ".libs/" in name:
                problems.append(f"packs a repaired shared library: {info.filename}")
        exts = [i for i in infos if re.search(r"/_core[^/]*\.(so|pyd|dylib)$", i.filename)]
        if len(exts) != 1:
            problems.append(f"expected one _core extension, found {[i.filename for i in exts]}")
        with tempfile.TemporaryDirectory() as tmp:
            for info in exts:
                so = Path(zf.extract(info, tmp))
                deps = needed(so)
                print(f"  {info.filename} needs: {', '.join(deps) or '(nothing listed)'}")
                problems += [f"{info.filename} links {d}" for d in deps if "sqlite" in d.lower()]
                if b"libsqlite3.so" in so.read_bytes():
                    problems.append(f"{info.filename} names libsqlite3.so")
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    bad = 0
    for arg in argv:
        problems = check(Path(arg))
        for p in problems:
            print(f"FAIL: {p}")
        bad |= bool(problems)
        if not problems:
            print(f"ok: {Path(arg).name} packs and links no SQLite")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
