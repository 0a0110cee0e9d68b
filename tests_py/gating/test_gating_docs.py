"""The documented gating example runs as written and prints what docs/api.md says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
ANALYZER_DOC = ROOT / "docs" / "analyzer.md"


def _gating_section() -> str:
    text = API_DOC.read_text(encoding="utf-8")
    start = text.index("## Gating, evidence and the service")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_readme_gating_example_runs_and_output_matches():
    section = _gating_section()
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    expected = re.findall(r"Output:\n\n```text\n(.*?)```", section, flags=re.S)
    assert len(code) == 1 and len(expected) == 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code[0], "docs/api.md", "exec"), {"__name__": "readme_example"})
    assert out.getvalue() == expected[0]


def test_readme_switch_modules_exist():
    import importlib

    text = ANALYZER_DOC.read_text(encoding="utf-8")
    modules = sorted(set(re.findall(r"^import (crypto_analyzer_promotion\.\w+) as _impl$", text, flags=re.M)))
    assert len(modules) == 7, modules  # the seven re-export modules, as adopt writes them
    for module in modules:
        importlib.import_module(module)
