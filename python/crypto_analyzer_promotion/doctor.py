"""``crypto-analyzer-promotion doctor``: is this environment safe and complete?

One check per line: the package and Python, the SQLite the store runs on and by which route, the
durability of commits, and, when asked, an analyzer checkout's adoption (modules, declared
dependency, lock) and a database's migration level. Each check is ``ok``, ``warn`` (works, but
worth knowing) or ``fail`` (a user must fix it; the fix is named). Credentials in a database URL are
never shown.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Check", "run_checks", "render"]


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is "ok", "warn" or "fail"; ``fix`` says what to do when not ok."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _package_checks() -> list[Check]:
    from . import __version__

    py = f"Python {platform.python_version()} ({sys.implementation.name}, {platform.system()} {platform.machine()})"
    return [Check("package", "ok", f"crypto_analyzer_promotion {__version__} on {py}")]


def _sqlite_checks() -> list[Check]:
    from . import _sqlite

    info = _sqlite.sqlite_info()
    out = []
    if info["source"] == "unbound":
        out.append(
            Check(
                "sqlite",
                "fail",
                f"the store cannot run on Python's sqlite3 ({info['python_sqlite3']}): {info['unavailable_reason']}",
                "use a Python whose sqlite3 can load extensions or exports sqlite3_auto_extension "
                "(python.org, uv, Homebrew, conda, pyenv; not Apple's /usr/bin/python3), see docs/sqlite.md",
            )
        )
    else:
        out.append(
            Check(
                "sqlite",
                "ok",
                f"SQLite {info['version']}, shared with Python's {info['python_sqlite3'].split()[0]} via {info['route']}",
            )
        )
    sync = info["synchronous"]
    if sync == "FULL":
        out.append(Check("durability", "ok", "WAL, synchronous=FULL: committed writes survive a power cut"))
    elif sync == "NORMAL":
        out.append(
            Check(
                "durability",
                "warn",
                f"WAL, synchronous=NORMAL (opted in via {info['synchronous_env']}): commits made just before a "
                "power cut or OS crash may be lost",
                f"unset {info['synchronous_env']} outside bulk loads",
            )
        )
    else:
        out.append(
            Check(
                "durability",
                "fail",
                f"invalid durability setting: {info['synchronous_error']}",
                "unset CRYPTO_ANALYZER_SQLITE_SYNCHRONOUS or set it to FULL or NORMAL",
            )
        )
    return out


def _analyzer_version(root: Path) -> str | None:
    init = root / "crypto_analyzer" / "__init__.py"
    if not init.is_file():
        return None
    m = re.search(r"""(?m)^__version__\s*=\s*["']([^"']+)["']""", init.read_text(encoding="utf-8", errors="replace"))
    return m.group(1) if m else None


def _analyzer_checks(analyzer_dir: str | os.PathLike[str]) -> list[Check]:
    from . import __version__, adopt
    from .exceptions import PromotionError

    root = Path(analyzer_dir)
    try:
        st = adopt.status(root)
    except PromotionError as exc:
        return [
            Check(
                "analyzer",
                "fail",
                str(exc),
                "point --analyzer-dir at the analyzer checkout (it holds crypto_analyzer/)",
            )
        ]
    out = [Check("analyzer", "ok", f"crypto-analyzer {_analyzer_version(root) or '(version unknown)'} at {root}")]
    states = set(st.modules.values())
    if st.adopted:
        out.append(Check("adoption", "ok", "the seven modules are re-exports of the package"))
    elif states == {"original"}:
        out.append(
            Check(
                "adoption",
                "warn",
                "not adopted: the analyzer runs its own seven modules",
                f"crypto-analyzer-promotion adopt --analyzer-dir {root}",
            )
        )
    else:
        odd = ", ".join(f"{rel} ({s})" for rel, s in sorted(st.modules.items()) if s != "reexport")
        out.append(
            Check(
                "adoption",
                "fail",
                f"partly adopted or changed by hand: {odd}",
                f"crypto-analyzer-promotion adopt --analyzer-dir {root} --restore, then adopt again",
            )
        )
    if st.dependency is None:
        if st.adopted:
            out.append(
                Check(
                    "dependency",
                    "fail",
                    "the modules import the package but pyproject.toml does not declare it: "
                    "`uv sync` would remove it and a fresh clone would not install it",
                    f"crypto-analyzer-promotion adopt --analyzer-dir {root} [--index-url URL]",
                )
            )
    else:
        spec = st.dependency.split(";")[0]
        m = re.search(r"~=\s*(\d+\.\d+\.\d+)", spec)
        satisfied = m is None or adopt._spec_allows(f"x~={m.group(1)}", str(__version__))
        where = f" from the index {adopt._redact_url(st.index_url)}" if st.index_url else ""
        if satisfied:
            out.append(Check("dependency", "ok", f"pyproject.toml declares {spec}{where}"))
        else:
            out.append(
                Check(
                    "dependency",
                    "fail",
                    f"pyproject.toml declares {spec}, but this environment has {__version__}",
                    "uv sync (or install the declared version)",
                )
            )
        if st.locked is False:
            out.append(
                Check(
                    "lock",
                    "fail",
                    "uv.lock does not pin the package: `uv sync --frozen` would not install it",
                    f"uv lock (in {root}), then commit uv.lock",
                )
            )
        elif st.locked:
            out.append(Check("lock", "ok", "uv.lock pins the package"))
    return out


def _db_checks(db: str) -> list[Check]:
    from . import migrations_phase3
    from ._conn import is_postgres_url, redact
    from .exceptions import PromotionError

    shown = redact(db)
    if not is_postgres_url(db) and not Path(db).is_file():
        return [Check("database", "fail", f"no database file at {shown}", "check the path (doctor never creates one)")]
    latest = max(v for v, _name, _apply in migrations_phase3.MIGRATIONS_PHASE3)
    try:
        applied = migrations_phase3.get_applied_versions_phase3(db)
    except PromotionError as exc:
        return [
            Check("database", "fail", f"{shown}: {exc}", "check that the server runs and the credentials are valid")
        ]
    level = max(applied) if applied else 0
    kind = "PostgreSQL" if is_postgres_url(db) else "SQLite"
    if level == latest:
        return [Check("database", "ok", f"{kind} {shown}: migrations at {level} of {latest}")]
    return [
        Check(
            "database",
            "fail",
            f"{kind} {shown}: migrations at {level} of {latest}",
            f"crypto-analyzer-promotion --db {shown} init",
        )
    ]


def run_checks(analyzer_dir: str | os.PathLike[str] | None = None, db: str | None = None) -> list[Check]:
    """Every check, in the order the screen shows them."""
    checks = _package_checks() + _sqlite_checks()
    if analyzer_dir is not None:
        checks += _analyzer_checks(analyzer_dir)
    if db is not None:
        checks += _db_checks(db)
    return checks


def render(checks: list[Check]) -> str:
    """The one-screen report."""
    lines = []
    for c in checks:
        lines.append(f"[{c.status:^4}] {c.name:<11} {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"{'':18}fix: {c.fix}")
    n_fail = sum(c.status == "fail" for c in checks)
    n_warn = sum(c.status == "warn" for c in checks)
    lines.append(
        "everything checked is safe and complete"
        if not n_fail and not n_warn
        else f"{n_fail} to fix, {n_warn} to know about"
    )
    return "\n".join(lines)
