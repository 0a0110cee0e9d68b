"""`show`, the page's details and `evaluate` resolve the SAME evidence file.

Each candidate names an RC summary (relative, absolute, climbing out of its base, missing) in its
evidence_json, next to an absolute bundle. Every RC summary on disk carries its own
``rc_p_value``, so the reason ``rc_p_value 0.XXXX > 0.01`` of `evaluate --require-rc` says which
file the engine read; for a missing or refused one its warning says why. `show` (subprocess) and
the page's ``candidate_details`` / ``rc_null`` (in process) must point at that file.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from crypto_analyzer_promotion import store_sqlite

pytest.importorskip("streamlit", reason="the page module imports streamlit")


def _rc(path: Path, p: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rc_p_value": p, "observed_max": 0.5, "null_max_distribution": [0.1, 0.2, 0.3]}))
    return path


@pytest.fixture
def layout(ready_cli, h):
    """The CLI's working folder, an evidence base beside it, and a candidate factory."""
    base = ready_cli.cwd.parent / "evidence"
    base.mkdir()
    bundle = str(h.FIXTURES / "bundles" / "momentum_24h_h1.json")

    def create(rc_path: str) -> str:
        cid = store_sqlite.create_candidate(
            str(ready_cli.db),
            dataset_id="d",
            run_id=f"r_{rc_path}",
            signal_name="s",
            horizon=1,
            config_hash="c",
            git_commit="g",
        )
        evidence = {"bundle_path": bundle, "rc_summary_path": rc_path, "evidence_base_path": str(base)}
        with sqlite3.connect(ready_cli.db) as c:  # stored exactly as written (no relativizing)
            c.execute(
                "UPDATE promotion_candidates SET evidence_json = ? WHERE candidate_id = ?",
                (json.dumps(evidence), cid),
            )
        return cid

    return ready_cli, base, create


def _views(cli, cid: str):
    """(show's rc_summary_path entry, the page's entry, the page's RC null or None)."""
    from crypto_analyzer_promotion.ui import page

    proc = cli("show", cid)
    assert proc.returncode == 0, proc.stderr
    shown = {f["key"]: f for f in json.loads(proc.stdout)["evidence_files"]}["rc_summary_path"]
    import os

    old = os.getcwd()
    os.chdir(cli.cwd)  # the page runs where Streamlit was started; here: the CLI's folder
    try:
        details = page.candidate_details(str(cli.db), cid)
        assert details is not None
        on_page = {f["key"]: f for f in details["evidence_files"]}["rc_summary_path"]
        null = page.rc_null(details["evidence"], None)
    finally:
        os.chdir(old)
    return shown, on_page, null


def _evaluate(cli, cid: str) -> dict:
    proc = cli("evaluate", "--id", cid, "--require-rc", "--max-rc-p-value", "0.01", "--allow-missing-exec")
    assert proc.returncode == 1, proc.stderr
    return json.loads(proc.stdout)


def _same(a: dict, b: dict) -> None:
    assert {k: a[k] for k in ("key", "path", "exists", "error")} == {
        k: b[k] for k in ("key", "path", "exists", "error")
    }
    if a["resolved"] is None or b["resolved"] is None:
        assert a["resolved"] is None and b["resolved"] is None
    else:  # relative resolutions are relative to the folder each ran in (the same one here)
        assert Path(a["resolved"]).resolve() == Path(b["resolved"]).resolve()


def test_relative_path_found_in_the_current_folder(layout):
    cli, base, create = layout
    # Only in the current folder: the engine looks under the base, then the current folder.
    found = _rc(cli.cwd / "rc.json", 0.41)
    cid = create("rc.json")
    shown, on_page, null = _views(cli, cid)
    _same(shown, on_page)
    assert shown["exists"] and Path(cli.cwd, shown["resolved"]).resolve() == found.resolve()
    assert null is not None and Path(cli.cwd, null["source"]).resolve() == found.resolve()
    assert "rc_p_value 0.4100 > 0.01" in _evaluate(cli, cid)["reasons"]


def test_relative_path_prefers_the_base(layout):
    cli, base, create = layout
    _rc(cli.cwd / "rc.json", 0.41)
    in_base = _rc(base / "rc.json", 0.42)
    cid = create("rc.json")
    shown, on_page, _ = _views(cli, cid)
    _same(shown, on_page)
    assert Path(shown["resolved"]).resolve() == in_base.resolve()
    assert "rc_p_value 0.4200 > 0.01" in _evaluate(cli, cid)["reasons"]


def test_absolute_path(layout, tmp_path):
    cli, base, create = layout
    elsewhere = _rc(tmp_path / "elsewhere" / "rc.json", 0.43)
    cid = create(str(elsewhere))
    shown, on_page, null = _views(cli, cid)
    _same(shown, on_page)
    assert shown["exists"] and Path(shown["resolved"]) == elsewhere
    assert null is not None and Path(null["source"]) == elsewhere
    assert "rc_p_value 0.4300 > 0.01" in _evaluate(cli, cid)["reasons"]


def test_climbing_path_is_refused_everywhere(layout):
    cli, base, create = layout
    # The file exists where "../outside/rc.json" points from the base, but the engine never
    # reads a relative path climbing out of its base: show and the page must not show it either.
    _rc(base.parent / "outside" / "rc.json", 0.44)
    cid = create("../outside/rc.json")
    shown, on_page, null = _views(cli, cid)
    _same(shown, on_page)
    assert not shown["exists"] and shown["resolved"] is None and "climbs out" in shown["error"]
    assert null is None
    out = _evaluate(cli, cid)
    assert not any(r.startswith("rc_p_value ") for r in out["reasons"])
    assert f"rc summary not used: {shown['error']}" in out["warnings"]


def test_missing_path(layout):
    cli, base, create = layout
    cid = create("nope.json")
    shown, on_page, null = _views(cli, cid)
    _same(shown, on_page)
    assert not shown["exists"] and shown["error"] is None
    assert Path(shown["resolved"]) == base / "nope.json"
    assert null is None
    out = _evaluate(cli, cid)
    assert f"rc summary not used: rc_summary_path file not found: {shown['resolved']}" in out["warnings"]
