"""The CLI and the page do not import each other: what both read lives in ``_views``.

Every import statement is read (module level and inside functions), relative ones resolved.
"""

from __future__ import annotations

import ast
from pathlib import Path

import crypto_analyzer_promotion as cap

PKG = Path(cap.__file__).parent
NAME = "crypto_analyzer_promotion"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([NAME, *parts])


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports (``from x import y`` counts x and x.y)."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _under(mods: set[str], prefix: str) -> set[str]:
    return {m for m in mods if m == prefix or m.startswith(prefix + ".")}


def test_cli_does_not_import_ui():
    assert not _under(_imports(PKG / "cli.py"), f"{NAME}.ui")


def test_ui_does_not_import_cli():
    for f in sorted((PKG / "ui").glob("*.py")):
        assert not _under(_imports(f), f"{NAME}.cli"), f.name


def test_shared_views_import_neither():
    mods = _imports(PKG / "_views.py")
    assert not _under(mods, f"{NAME}.cli") and not _under(mods, f"{NAME}.ui")


def test_both_read_the_shared_module():
    assert f"{NAME}._views" in _imports(PKG / "cli.py")
    assert f"{NAME}._views" in _imports(PKG / "ui" / "page.py")


def test_the_resolver_sees_relative_imports():
    # A self-check of _imports: page.py's `from .._views import ...` and `from ..gating import ...`.
    mods = _imports(PKG / "ui" / "page.py")
    assert {f"{NAME}._views", f"{NAME}.gating"} <= mods
