"""`rc` and `cache` commands on the fixture family, in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

N_SIM = "199"


def _rc(cli, h, cache: Path, *extra: str, series: Path | None = None):
    return cli(
        "rc",
        str(series or h.FIXTURES / "family" / "ic_series.csv"),
        "--family-id",
        "fam_t",
        "--dataset-id",
        "ds_t",
        "--git-commit",
        "c0",
        "--n-sim",
        N_SIM,
        "--cache-dir",
        str(cache),
        *extra,
        db=False,
    )


def test_rc_json_finds_the_real_edge_and_caches_the_null(cli, h, tmp_path):
    cache = tmp_path / "cache"
    proc = _rc(cli, h, cache, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    df = pd.read_csv(h.FIXTURES / "family" / "ic_series.csv", index_col=0)
    assert sorted(out["hypothesis_ids"]) == sorted(df.columns)
    # independent reference: nanmean per column, max
    means = df.mean()
    assert out["observed_max"] == pytest.approx(float(means.max()), rel=1e-9)
    assert out["rc_p_value"] < 0.05
    assert len(out["null_max_distribution"]) == int(N_SIM)
    assert out["romano_wolf_p_values"]["momentum_24h|1"] < 0.05
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal

    again = json.loads(_rc(cli, h, cache, "--json").stdout)
    assert again["cache_hit"] is True and again["cache_key"] == out["cache_key"]
    assert again["null_max_distribution"] == out["null_max_distribution"]
    assert again["rc_p_value"] == out["rc_p_value"]
    nocache = json.loads(_rc(cli, h, cache, "--json", "--no-cache").stdout)
    assert nocache["cache_hit"] is False

    entries = [json.loads(line) for line in cli("cache", "ls", "--cache-dir", str(cache), db=False).stdout.splitlines()]
    by_key = {e["key"]: e for e in entries}
    assert out["cache_key"] in by_key and all(e["exists"] for e in entries)
    ok = cli("cache", "verify", "--cache-dir", str(cache), db=False)
    assert ok.returncode == 0
    assert [json.loads(line) for line in ok.stdout.splitlines()] == [{"key": k, "ok": True} for k in sorted(by_key)]

    # corrupt the null artifact: verify names it and fails
    artifact = cache / by_key[out["cache_key"]]["path"]
    raw = bytearray(artifact.read_bytes())
    raw[-1] ^= 0xFF
    artifact.write_bytes(bytes(raw))
    bad = cli("cache", "verify", "--cache-dir", str(cache), db=False)
    assert bad.returncode == 1
    assert {"key": out["cache_key"], "ok": False} in [json.loads(line) for line in bad.stdout.splitlines()]

    cleared = cli("cache", "clear", "--cache-dir", str(cache), db=False)
    assert cleared.returncode == 0 and json.loads(cleared.stdout) == {"removed": len(entries)}
    assert cli("cache", "ls", "--cache-dir", str(cache), db=False).stdout == ""
    assert not artifact.exists()


def test_rc_text_output_and_saved_summary(cli, h, tmp_path):
    summary = tmp_path / "s" / "rc.json"
    proc = _rc(cli, h, tmp_path / "c", "--save-summary", str(summary), "--top", "3")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for label in ("RC p-value", "SPA p-values", "lower", "consistent", "upper", "Romano-Wolf", "momentum_24h|1"):
        assert label in text
    saved = json.loads(summary.read_text())
    assert saved["rc_p_value"] < 0.05 and "null_max_distribution" in saved


def test_rc_warns_with_the_measured_size_when_the_series_has_few_blocks(cli, h, tmp_path):
    """T = 250 periods at the default L = 12 (about 21 blocks): the text output and the JSON
    summary carry the measured-size warning (docs/size_study.md); the 2,000-period fixture does not."""
    df = pd.read_csv(h.FIXTURES / "family" / "ic_series.csv", index_col=0)
    short = tmp_path / "short.csv"
    df.iloc[:250].to_csv(short)
    text = _rc(cli, h, tmp_path / "c1", "--no-cache", series=short).stdout
    assert "WARNING size: T / L = 250 / 12; 20.8 blocks is below 40" in text and "rejected 7.15 %" in text
    out = json.loads(_rc(cli, h, tmp_path / "c2", "--json", "--no-cache", series=short).stdout)
    assert out["size_warning"].startswith("size: T / L = 250 / 12")
    full = json.loads(_rc(cli, h, tmp_path / "c3", "--json", "--no-cache").stdout)
    assert full["size_warning"] is None
    assert "WARNING" not in _rc(cli, h, tmp_path / "c4", "--no-cache").stdout


def test_rc_reads_parquet(cli, h, tmp_path):
    pytest.importorskip("pyarrow")
    df = pd.read_csv(h.FIXTURES / "family" / "ic_series.csv")
    pq = tmp_path / "fam.parquet"
    df.to_parquet(pq, index=False)
    a = json.loads(_rc(cli, h, tmp_path / "c1", "--json", "--no-cache", series=pq).stdout)
    b = json.loads(_rc(cli, h, tmp_path / "c2", "--json", "--no-cache").stdout)
    assert a["rc_p_value"] == b["rc_p_value"] and a["hypothesis_ids"] == b["hypothesis_ids"]


def test_rc_parquet_reader_equals_pandas_on_every_layout(tmp_path):
    """The CLI's Parquet reader (metadata layout, values straight into one float64 array) gives
    the frame pandas would: with the time as a stored index or as the first column, integer,
    boolean and float columns, missing values as NaN; bad files are one-line errors."""
    pytest.importorskip("pyarrow")
    from crypto_analyzer_promotion import cli as cli_mod

    rng = np.random.default_rng(5)
    t = 40
    df = pd.DataFrame(
        {
            "f": rng.normal(size=t),
            "i": rng.integers(-5, 5, size=t),
            "b": rng.integers(0, 2, size=t).astype(bool),
            "n": pd.array([None if r % 7 == 0 else float(r) for r in range(t)], dtype="Float64"),
        },
        index=pd.Index(np.arange(t) * 10, name="ts"),
    )
    expected = df.astype(float).reset_index(drop=True)
    for name, frame in (("indexed", df), ("first_column", df.reset_index())):
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path, index=name == "indexed")
        got = cli_mod._read_series(str(path))
        assert list(got.columns) == ["f", "i", "b", "n"] and got.shape == (t, 4)
        assert np.array_equal(got.to_numpy(), expected.to_numpy(), equal_nan=True), name
    text = tmp_path / "text.parquet"
    pd.DataFrame({"ts": [1, 2], "a": [0.1, 0.2], "s": ["x", "y"]}).to_parquet(text, index=False)
    with pytest.raises(cli_mod.CliError, match="non-numeric column\\(s\\): s"):
        cli_mod._read_series(str(text))
    empty = tmp_path / "empty.parquet"
    pd.DataFrame({"ts": pd.Series([], dtype="int64"), "a": pd.Series([], dtype=float)}).to_parquet(empty, index=False)
    with pytest.raises(cli_mod.CliError, match="expected a time column and one column per hypothesis"):
        cli_mod._read_series(str(empty))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not a parquet file")
    with pytest.raises(cli_mod.CliError, match="cannot read"):
        cli_mod._read_series(str(broken))


def test_rc_bad_inputs_are_one_line_errors(cli, h, tmp_path):
    missing = _rc(cli, h, tmp_path / "c", series=tmp_path / "nope.csv")
    assert missing.returncode == 1 and missing.stderr.strip().endswith("nope.csv")
    text = tmp_path / "text.csv"
    text.write_text("ts,a,b\n1,0.1,x\n2,0.2,y\n")
    bad = _rc(cli, h, tmp_path / "c", series=text)
    assert bad.returncode == 1 and "non-numeric" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    dup = tmp_path / "dup.csv"
    dup.write_text("ts,a,a\n1,0.1,0.2\n2,0.2,0.1\n")
    proc = _rc(cli, h, tmp_path / "c", series=dup)
    assert proc.returncode == 1 and "duplicate hypothesis column(s): a" in proc.stderr


def test_cache_commands_on_a_missing_dir(cli, tmp_path):
    for action in ("ls", "verify"):
        proc = cli("cache", action, "--cache-dir", str(tmp_path / "none"), db=False)
        assert proc.returncode == 1 and proc.stderr.strip() == f"cache dir not found: {tmp_path / 'none'}"
    proc = cli("cache", "clear", "--cache-dir", str(tmp_path / "none"), db=False)
    assert proc.returncode == 0


def test_rc_progress_bar_only_on_a_terminal(h, tmp_path):
    import os
    import pty
    import subprocess

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [str(h.SCRIPT), "rc", str(h.FIXTURES / "family" / "ic_series.csv"), "--n-sim", N_SIM, "--no-cache"],
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            timeout=120,
        )
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    err = b"".join(chunks).decode(errors="replace")
    assert "Reality Check [" in err and f"{N_SIM}/{N_SIM}" in err
    assert "RC p-value" in proc.stdout  # results on stdout, the bar on stderr only


def test_rc_null_scale_flag_picks_the_null_and_its_cache_entry(cli, h, tmp_path):
    """`--rc-null-scale none` is White's unscaled RC: recorded in the summary, factor 1, its own
    cache key; the default records the variance scale and its factor c = 1/sqrt(min(1, share))."""
    cache = tmp_path / "cache"
    scaled = json.loads(_rc(cli, h, cache, "--json").stdout)
    plain = json.loads(_rc(cli, h, cache, "--json", "--rc-null-scale", "none").stdout)
    assert scaled["rc_null_scale"] == "variance_share" and plain["rc_null_scale"] == "none"
    assert plain["rc_null_scale_factor"] == 1.0
    share = scaled["bootstrap_variance_share"]
    assert scaled["rc_null_scale_factor"] == pytest.approx(1.0 / min(1.0, share) ** 0.5, rel=1e-15)
    assert plain["cache_hit"] is False and plain["cache_key"] != scaled["cache_key"]
    assert plain["spa_p_values"] == scaled["spa_p_values"]
    text = _rc(cli, h, tmp_path / "c2", "--no-cache", "--rc-null-scale", "none").stdout
    assert "RC null scale=none (x1.0000)" in text
    bad = _rc(cli, h, tmp_path / "c3", "--rc-null-scale", "bogus")
    assert bad.returncode != 0 and "--rc-null-scale" in bad.stderr
