"""`crypto-analyzer-promotion adopt`: an analyzer tree's seven replaced modules become re-exports of
the package that pass the analyzer's own ruff gates, its pyproject.toml (and requirements.txt, and
through uv its uv.lock) declare the package, the originals are kept and restored byte for byte, and
hand edits are never overwritten."""

from __future__ import annotations

import difflib
import functools
import http.server
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import crypto_analyzer_promotion
import pytest
import tomllib
from crypto_analyzer_promotion import adopt as ad
from crypto_analyzer_promotion.exceptions import InvalidInputError, MissingFileError, PromotionRuntimeError

from .conftest import REPO

ANALYZER = REPO.parent / "shared" / "analyzer" / "c79684b"
RELS = [rel for rel, _ in ad.MODULES]


PYPROJECT = """[project]
name = "crypto-analyzer"
dynamic = ["version"]
dependencies = [
    "numpy",
    "pandas"
]

[tool.ruff]
line-length = 120
"""


def make_tree(root: Path, pyproject: str = PYPROJECT) -> dict:
    """A small analyzer-like tree: the seven modules (distinct contents), its pyproject.toml,
    requirements.txt and uv.lock, and one other file."""
    originals = {}
    (root / "pyproject.toml").parent.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject)
    (root / "requirements.txt").write_text("numpy==2.4.2\npandas==2.3.3")  # no final newline, on purpose
    (root / "uv.lock").write_text('version = 1\n[[package]]\nname = "numpy"\n')
    for i, rel in enumerate(RELS):
        p = root / "crypto_analyzer" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        text = f"# original {rel}\nVALUE = {i}\n".encode()
        p.write_bytes(text)
        originals[rel] = text
    (root / "crypto_analyzer" / "other.py").write_text("X = 1\n")
    return originals


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def saved(root: Path, rel: str) -> bytes:
    return (root / ad.BACKUP_DIR / "originals" / "crypto_analyzer" / rel).read_bytes()


def test_adopt_then_restore_is_byte_identical(tmp_path):
    originals = make_tree(tmp_path)
    before = snapshot(tmp_path)
    st = ad.adopt(tmp_path, lock=False)
    assert st.adopted and set(st.modules.values()) == {"reexport"}
    for rel, pkg in ad.MODULES:
        assert (tmp_path / "crypto_analyzer" / rel).read_text() == ad.reexport_text(pkg)
        assert saved(tmp_path, rel) == originals[rel]
    assert (tmp_path / "crypto_analyzer" / "other.py").read_text() == "X = 1\n"
    # The dependency, declared where the analyzer declares its own, with the installed version.
    spec = ad.dependency_spec()
    assert spec == f"crypto-analyzer-promotion~={crypto_analyzer_promotion.__version__}"
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == ["numpy", "pandas", spec] and project["name"] == "crypto-analyzer"
    assert (tmp_path / "requirements.txt").read_text().splitlines()[-1] == spec
    assert st.dependency == spec and st.locked is False  # the fake uv.lock does not pin it
    assert st.next_steps and "uv lock" in st.next_steps[0]
    again = ad.adopt(tmp_path, lock=False)  # idempotent: the saved originals are not replaced by re-exports
    assert again.adopted and again.dependency == spec
    assert saved(tmp_path, RELS[0]) == originals[RELS[0]]
    assert tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]["dependencies"].count(spec) == 1
    st = ad.restore(tmp_path)
    assert not st.backed_up and set(st.modules.values()) == {"original"}
    assert snapshot(tmp_path) == before
    assert ad.restore(tmp_path).modules == st.modules  # restoring twice is a no-op


def test_reexport_module_exposes_the_package_module():
    ns: dict = {}
    exec(ad.reexport_text("reality_check"), ns)
    import crypto_analyzer_promotion.reality_check as rc

    assert ns["RealityCheckConfig"] is rc.RealityCheckConfig
    assert ns["run_reality_check"] is rc.run_reality_check


def test_hand_edit_after_adoption_is_not_overwritten(tmp_path):
    make_tree(tmp_path)
    ad.adopt(tmp_path, lock=False)
    edited = tmp_path / "crypto_analyzer" / RELS[2]
    edited.write_text("# my own change\n")
    before = snapshot(tmp_path)
    with pytest.raises(InvalidInputError, match="changed by hand"):
        ad.restore(tmp_path)
    with pytest.raises(InvalidInputError, match="changed since"):
        ad.adopt(tmp_path)
    assert snapshot(tmp_path) == before
    assert ad.status(tmp_path).modules[RELS[2]] == "changed"


def test_corrupt_backup_is_refused_before_any_write(tmp_path):
    make_tree(tmp_path)
    ad.adopt(tmp_path, lock=False)
    (tmp_path / ad.BACKUP_DIR / "originals" / "crypto_analyzer" / RELS[-1]).write_text("tampered\n")
    before = snapshot(tmp_path)
    with pytest.raises(InvalidInputError, match="missing or corrupt"):
        ad.restore(tmp_path)
    assert snapshot(tmp_path) == before


def test_bad_trees_are_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(MissingFileError, match="not an analyzer tree"):
        ad.adopt(tmp_path)
    make_tree(tmp_path)
    (tmp_path / "crypto_analyzer" / RELS[4]).unlink()
    before = snapshot(tmp_path)
    with pytest.raises(MissingFileError, match="not found"):
        ad.adopt(tmp_path, lock=False)
    assert snapshot(tmp_path) == before and not (tmp_path / ad.BACKUP_DIR).exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_adopt_status_restore(tmp_path):
    originals = make_tree(tmp_path)
    proc = _cli("adopt", "--analyzer-dir", str(tmp_path), "--no-lock")
    assert proc.returncode == 0, proc.stderr
    assert "next: " in proc.stderr and "uv lock" in proc.stderr
    assert json.loads(proc.stdout)["adopted"] is True
    proc = _cli("adopt", "--analyzer-dir", str(tmp_path), "--status")
    assert json.loads(proc.stdout)["modules"] == {rel: "reexport" for rel in RELS}
    proc = _cli("adopt", "--analyzer-dir", str(tmp_path), "--restore")
    assert proc.returncode == 0 and json.loads(proc.stdout)["adopted"] is False
    assert all((tmp_path / "crypto_analyzer" / rel).read_bytes() == text for rel, text in originals.items())
    proc = _cli("adopt", "--analyzer-dir", str(tmp_path / "nowhere"))
    assert proc.returncode == 1 and "not an analyzer tree" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(not ANALYZER.is_dir(), reason="the analyzer's c79684b tree (../shared) is not on this machine")
def test_adopted_analyzer_imports_the_package(tmp_path):
    tree = tmp_path / "an"
    shutil.copytree(ANALYZER / "crypto_analyzer", tree / "crypto_analyzer")
    ad.adopt(tree, declare_dependency=False)
    code = (
        "import crypto_analyzer.stats.reality_check as r, crypto_analyzer_promotion.reality_check as p; "
        "assert r.run_reality_check is p.run_reality_check; print(r.RealityCheckConfig().run_key)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ad.restore(tree)
    for rel in RELS:
        assert (tree / "crypto_analyzer" / rel).read_bytes() == (ANALYZER / "crypto_analyzer" / rel).read_bytes()


# ------------------------------------------------------------------------------------------------
# what the analyzer's own gates see
# ------------------------------------------------------------------------------------------------

RUFF = Path(sys.executable).parent / "ruff"


@pytest.mark.skipif(not ANALYZER.is_dir(), reason="the analyzer's c79684b tree (../shared) is not on this machine")
@pytest.mark.parametrize("quote_style", ["default", "single"])
def test_reexport_modules_pass_the_analyzers_ruff_gates(tmp_path, quote_style):
    """The seven modules adopt writes pass `ruff check` and `ruff format --check` under the
    analyzer's own ruff configuration (its pyproject.toml; also with single quotes configured)."""
    pyproject = (ANALYZER / "pyproject.toml").read_text()
    if quote_style == "single":
        pyproject += '\n[tool.ruff.format]\nquote-style = "single"\n'
    tree = tmp_path / "an"
    shutil.copytree(ANALYZER / "crypto_analyzer", tree / "crypto_analyzer")
    (tree / "pyproject.toml").write_text(pyproject)
    ad.adopt(tree, lock=False)
    files = [str(tree / "crypto_analyzer" / rel) for rel in RELS]
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        proc = subprocess.run([str(RUFF), *cmd, *files], capture_output=True, text=True, cwd=tree, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # The old form (no blank line after the import) is what ruff flagged; it is still recognised.
    legacy = tree / "crypto_analyzer" / RELS[0]
    legacy.write_text(ad._legacy_reexport_text(ad.MODULES[0][1]))
    proc = subprocess.run([str(RUFF), "check", "--no-cache", str(legacy)], capture_output=True, text=True, cwd=tree)
    assert proc.returncode == 1 and "I001" in proc.stdout
    assert ad.status(tree).modules[RELS[0]] == "reexport"
    assert ad.adopt(tree, lock=False).adopted  # rewritten in the current form
    assert legacy.read_text() == ad.reexport_text(ad.MODULES[0][1], "'" if quote_style == "single" else '"')


def test_docs_hand_written_form_is_what_adopt_writes():
    """docs/analyzer.md shows each re-export module exactly as adopt writes it."""
    doc = (REPO / "docs" / "analyzer.md").read_text()
    for rel, pkg in ad.MODULES:
        block = f"`crypto_analyzer/{rel}`:\n\n```python\n{ad.reexport_text(pkg)}```"
        assert block in doc, f"docs/analyzer.md lacks the exact re-export of {rel}"


# ------------------------------------------------------------------------------------------------
# pyproject.toml edits
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "deps",
    [
        'dependencies = ["numpy", "pandas"]',
        'dependencies = ["numpy", "pandas",]',
        "dependencies = []",
        'dependencies = [\n    "numpy",\n    "pandas",\n]',
        'dependencies = [\n  "numpy",  # arrays\n  "pandas"\n]',
        "dependencies = [\n]",
    ],
)
def test_dependency_is_added_to_every_list_layout(deps):
    text = (
        f'[build-system]\nrequires = ["setuptools"]\n\n[project]\nname = "crypto-analyzer"\n{deps}\n\n[tool.x]\ny = 1\n'
    )
    new = ad._new_pyproject(text, "crypto-analyzer-promotion~=1.2.3", None)
    before, after = tomllib.loads(text), tomllib.loads(new)
    assert after["project"]["dependencies"] == [*before["project"]["dependencies"], "crypto-analyzer-promotion~=1.2.3"]
    assert {k: v for k, v in after.items() if k != "project"} == {k: v for k, v in before.items() if k != "project"}
    # Every byte of the original is kept: the edit only inserts the item (and the comma that
    # separates it from the last one).
    ops = difflib.SequenceMatcher(None, text, new, autojunk=False).get_opcodes()
    assert {tag for tag, *_ in ops} <= {"equal", "insert"}, ops
    inserted = "".join(new[j1:j2] for tag, _i1, _i2, j1, j2 in ops if tag == "insert")
    assert re.sub(r"[\s,]", "", inserted) == '"crypto-analyzer-promotion~=1.2.3"', inserted


def test_uv_index_is_explicit_and_only_for_the_package():
    text = PYPROJECT + '\n[tool.uv.sources]\nother = { path = "../other" }\n'
    new = ad._new_pyproject(text, "crypto-analyzer-promotion~=1.2.3", "https://pkgs.example.org/simple/")
    uv = tomllib.loads(new)["tool"]["uv"]
    assert uv["index"] == [
        {"name": "crypto-analyzer-promotion", "url": "https://pkgs.example.org/simple/", "explicit": True}
    ]
    assert uv["sources"] == {
        "other": {"path": "../other"},
        "crypto-analyzer-promotion": {"index": "crypto-analyzer-promotion"},
    }


def test_pyproject_that_is_not_the_analyzers_is_refused(tmp_path):
    make_tree(tmp_path, PYPROJECT.replace('"crypto-analyzer"', '"something-else"'))
    before = snapshot(tmp_path)
    with pytest.raises(InvalidInputError, match="not the analyzer's pyproject.toml"):
        ad.adopt(tmp_path, lock=False)
    assert snapshot(tmp_path) == before
    (tmp_path / "pyproject.toml").unlink()
    with pytest.raises(MissingFileError, match="no pyproject.toml"):
        ad.adopt(tmp_path, lock=False)
    assert not (tmp_path / ad.BACKUP_DIR).exists()


def test_uncommitted_changes_in_the_modules_are_refused(tmp_path):
    make_tree(tmp_path)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *cmd], cwd=tmp_path, env=env, check=True)
    (tmp_path / "crypto_analyzer" / RELS[3]).write_text("# work in progress\n")
    before = snapshot(tmp_path)
    with pytest.raises(InvalidInputError, match=f"uncommitted changes .*{RELS[3]}"):
        ad.adopt(tmp_path, lock=False)
    assert snapshot(tmp_path) == before
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=tmp_path, check=True)
    assert ad.adopt(tmp_path, lock=False).adopted  # a clean tree is adopted; re-running it is fine too
    assert ad.adopt(tmp_path, lock=False).adopted


# ------------------------------------------------------------------------------------------------
# the package index
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def index(tmp_path) -> Iterator[tuple[Path, str]]:
    """A PEP 503 index on 127.0.0.1 serving the folder it yields."""
    root = tmp_path / "index"
    (root / "simple" / "crypto-analyzer-promotion").mkdir(parents=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield root / "simple" / "crypto-analyzer-promotion", f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()


def _serve(page: Path, *versions: str) -> None:
    links = "".join(
        f'<a href="crypto_analyzer_promotion-{v}-cp310-abi3-manylinux_2_17_x86_64.whl">w</a>' for v in versions
    )
    (page / "index.html").write_text(f"<html><body>{links}</body></html>")


def test_index_without_a_matching_wheel_is_refused_before_any_write(tmp_path, index):
    page, url = index
    tree = tmp_path / "an"
    make_tree(tree)
    before = snapshot(tree)
    _serve(page, "0.0.9", "9.0.0")
    with pytest.raises(
        InvalidInputError, match=r"serves no wheel of crypto-analyzer-promotion~=.*\(it serves: 0.0.9, 9.0.0\)"
    ):
        ad.adopt(tree, index_url=url, lock=False)
    with pytest.raises(InvalidInputError, match="does not serve crypto-analyzer-promotion .HTTP 404"):
        ad.adopt(tree, index_url=url.replace("/simple/", "/nothing/"), lock=False)
    assert snapshot(tree) == before
    # Credentials in an index URL never appear in a message.
    with pytest.raises(InvalidInputError) as err:
        ad.adopt(tree, index_url=url.replace("http://", "http://alice:s3cret@"), lock=False)
    assert "s3cret" not in str(err.value) and "alice" not in str(err.value) and "***@127.0.0.1" in str(err.value)
    assert snapshot(tree) == before


def test_index_is_written_for_uv_and_restore_undoes_it(tmp_path, index):
    page, url = index
    tree = tmp_path / "an"
    make_tree(tree)
    before = snapshot(tree)
    _serve(page, crypto_analyzer_promotion.__version__)
    st = ad.adopt(tree, index_url=url, lock=False)
    assert st.adopted and st.index_url == url
    uv = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]["uv"]
    assert uv["sources"]["crypto-analyzer-promotion"] == {"index": "crypto-analyzer-promotion"}
    assert f"--extra-index-url {url}" in (tree / "requirements.txt").read_text()
    ad.restore(tree)
    assert snapshot(tree) == before


# ------------------------------------------------------------------------------------------------
# uv lock (a stand-in uv on PATH: the real one runs in `make test-analyzer`)
# ------------------------------------------------------------------------------------------------


def _fake_uv(bindir: Path, script: str) -> None:
    bindir.mkdir()
    uv = bindir / "uv"
    uv.write_text("#!/bin/sh\n" + script)
    uv.chmod(uv.stat().st_mode | stat.S_IEXEC)


def test_uv_lock_refreshes_the_lock_and_restore_puts_the_original_back(tmp_path, monkeypatch):
    tree = tmp_path / "an"
    make_tree(tree)
    before = snapshot(tree)
    _fake_uv(
        tmp_path / "bin",
        '[ "$1" = lock ] || exit 3\nprintf \'version = 1\\n[[package]]\\nname = "crypto-analyzer-promotion"\\n\' > uv.lock\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    st = ad.adopt(tree)
    assert st.adopted and st.locked is True and st.next_steps == []
    assert 'name = "crypto-analyzer-promotion"' in (tree / "uv.lock").read_text()
    # The user re-locks by hand later: restore still gives back the analyzer's own lock.
    (tree / "uv.lock").write_text("relocked\n")
    ad.restore(tree)
    assert snapshot(tree) == before


def test_failed_uv_lock_leaves_the_tree_as_it_was(tmp_path, monkeypatch):
    tree = tmp_path / "an"
    make_tree(tree)
    before = snapshot(tree)
    _fake_uv(tmp_path / "bin", 'echo "error: No solution found when resolving dependencies" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(PromotionRuntimeError, match="uv lock. failed .*nothing was changed:\n.*No solution found"):
        ad.adopt(tree)
    assert snapshot(tree) == before
