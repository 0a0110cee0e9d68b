"""`crypto-analyzer-promotion adopt`: an analyzer tree's seven replaced modules become re-exports of
the package, the originals are kept and restored byte for byte, hand edits are never overwritten."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from crypto_analyzer_promotion import adopt as ad
from crypto_analyzer_promotion.exceptions import InvalidInputError, MissingFileError

from .conftest import REPO

ANALYZER = REPO.parent / "shared" / "analyzer" / "c79684b"
RELS = [rel for rel, _ in ad.MODULES]


def make_tree(root: Path) -> dict:
    """A small analyzer-like tree: the seven modules (distinct contents) and one other file."""
    originals = {}
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


def test_adopt_then_restore_is_byte_identical(tmp_path):
    originals = make_tree(tmp_path)
    before = snapshot(tmp_path)
    st = ad.adopt(tmp_path)
    assert st.adopted and set(st.modules.values()) == {"reexport"}
    for rel, pkg in ad.MODULES:
        assert (tmp_path / "crypto_analyzer" / rel).read_text() == ad.reexport_text(pkg)
        assert (tmp_path / ad.BACKUP_DIR / "originals" / rel).read_bytes() == originals[rel]
    assert (tmp_path / "crypto_analyzer" / "other.py").read_text() == "X = 1\n"
    again = ad.adopt(tmp_path)  # idempotent: the saved originals are not replaced by re-exports
    assert again.adopted
    assert (tmp_path / ad.BACKUP_DIR / "originals" / RELS[0]).read_bytes() == originals[RELS[0]]
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
    ad.adopt(tmp_path)
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
    ad.adopt(tmp_path)
    (tmp_path / ad.BACKUP_DIR / "originals" / RELS[-1]).write_text("tampered\n")
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
        ad.adopt(tmp_path)
    assert snapshot(tmp_path) == before and not (tmp_path / ad.BACKUP_DIR).exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_adopt_status_restore(tmp_path):
    originals = make_tree(tmp_path)
    proc = _cli("adopt", "--analyzer-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
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
    ad.adopt(tree)
    code = (
        "import crypto_analyzer.stats.reality_check as r, crypto_analyzer_promotion.reality_check as p; "
        "assert r.run_reality_check is p.run_reality_check; print(r.RealityCheckConfig().run_key)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ad.restore(tree)
    for rel in RELS:
        assert (tree / "crypto_analyzer" / rel).read_bytes() == (ANALYZER / "crypto_analyzer" / rel).read_bytes()
