"""The Reality Check through a Dask cluster (``run_family_reality_check(..., client=...)``): a
LocalCluster of 2 worker processes, shared by the module. Bit-identical to the single-process run
for in-memory frames, Parquet files and folders, and dask DataFrames; the null cache shared with
single runs; hostile inputs give one clear error and write nothing; a worker killed mid-run
changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed", reason="the distributed extra is installed by `make venv`")
dd = pytest.importorskip("dask.dataframe")

from crypto_analyzer_promotion import distributed as cap_dist  # noqa: E402
from crypto_analyzer_promotion.exceptions import InvalidInputError  # noqa: E402
from crypto_analyzer_promotion.reality_check import RealityCheckConfig, run_family_reality_check  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def panel(seed: int, t: int, k: int, gaps: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, k)) * 0.1
    x[1:] += 0.4 * x[:-1]
    x[:, ::3] += 0.03
    if gaps:
        x[rng.random(size=x.shape) < 0.08] = np.nan
    idx = pd.date_range("2024-01-01", periods=t, freq="h", name="ts")
    # Columns deliberately out of order: hypotheses are sorted by id in every path.
    cols = [f"sig{i:02d}|4" for i in range(k)][::-1]
    return pd.DataFrame(x, index=idx, columns=cols)


def same(a, b) -> None:
    assert a.hypothesis_ids == b.hypothesis_ids
    assert a.null_max_distribution.tobytes() == b.null_max_distribution.tobytes()
    assert np.asarray(a.observed_stats).tobytes() == np.asarray(b.observed_stats).tobytes()
    assert np.asarray(a.omega).tobytes() == np.asarray(b.omega).tobytes()
    assert np.float64(a.rc_p_value).tobytes() == np.float64(b.rc_p_value).tobytes()
    assert np.float64(a.observed_max).tobytes() == np.float64(b.observed_max).tobytes()
    assert a.spa_p_values == b.spa_p_values
    assert a.spa_unstudentized_p_values == b.spa_unstudentized_p_values
    assert a.romano_wolf_p_values == b.romano_wolf_p_values
    assert a.n_periods == b.n_periods and a.n_sim == b.n_sim and a.rng == b.rng
    # The size warning's data-driven part: the same first columns' shares whatever the split.
    assert (
        np.float64(np.nan if a.variance_share is None else a.variance_share).tobytes()
        == np.float64(np.nan if b.variance_share is None else b.variance_share).tobytes()
    )
    assert a.size_warning == b.size_warning


@pytest.mark.parametrize(
    "seed,t,k,gaps,method,rng,blocks",
    [
        (1, 400, 11, False, "stationary", "default", None),
        (2, 333, 10, True, "block_fixed", "default", 3),
        (3, 250, 7, True, "stationary", "numpy_legacy", 7),
        (4, 280, 9, False, "block_fixed", "numpy_pcg64", 4),
    ],
)
def test_frame_through_the_cluster_is_bit_identical(client, seed, t, k, gaps, method, rng, blocks):
    df = panel(seed, t, k, gaps)
    cfg = RealityCheckConfig(n_sim=300, method=method, avg_block_length=8, block_size=6, seed=seed)
    single = run_family_reality_check(df, cfg, rng=rng, no_cache=True)
    dist = run_family_reality_check(df, cfg, rng=rng, no_cache=True, client=client, blocks=blocks)
    same(dist, single)
    assert min(single.romano_wolf_p_values.values()) < 0.5  # a family with a discovery


@pytest.mark.parametrize("blocks", [2, 5])
def test_the_variance_share_reads_the_family_s_first_columns_whatever_the_split(client, blocks):
    # K = 120 > RC_SHARE_COLUMNS: with 2 blocks the second block's own first columns (60..109)
    # must not enter the family's median; with 5 blocks of 24 the first 50 span three blocks.
    rng = np.random.default_rng(40 + blocks)
    x = rng.normal(size=(300, 120))
    for i in range(1, 300):
        x[i] += 0.75 * x[i - 1]  # AR(1), strong dependence in every column ...
    x[:, 60:] = rng.normal(size=(300, 60))  # ... but the second half is white noise
    df = pd.DataFrame(x, columns=[f"h{i:03d}" for i in range(120)])
    cfg = RealityCheckConfig(n_sim=40, seed=blocks)
    single = run_family_reality_check(df, cfg, no_cache=True)
    dist = run_family_reality_check(df, cfg, no_cache=True, client=client, blocks=blocks)
    same(dist, single)
    assert single.variance_share is not None and single.variance_share < 0.9
    assert "long-run variance" in (dist.size_warning or "")


def test_parquet_file_folder_and_dask_frame(client, tmp_path):
    df = panel(5, 300, 8, True)
    cfg = RealityCheckConfig(n_sim=250, seed=5, rng="numpy_pcg64", run_key="dist-run")
    single = run_family_reality_check(df, cfg, no_cache=True)
    path = tmp_path / "family.parquet"
    df.to_parquet(path)
    same(run_family_reality_check(str(path), cfg, no_cache=True, client=client, blocks=3), single)
    # A folder: rows of its files in name order; the time as a plain first column.
    folder = tmp_path / "parts"
    folder.mkdir()
    flat = df.reset_index()
    flat.iloc[:120].to_parquet(folder / "a.parquet", index=False)
    flat.iloc[120:].to_parquet(folder / "b.parquet", index=False)
    same(run_family_reality_check(folder, cfg, no_cache=True, client=client), single)
    ddf = dd.from_pandas(df, npartitions=3)
    same(run_family_reality_check(ddf, cfg, no_cache=True, client=client, blocks=2), single)


@pytest.mark.parametrize("source", ["frame", "parquet", "dask"])
def test_the_null_scale_costs_no_pass_over_the_blocks(client, tmp_path, monkeypatch, source):
    # The default null scale needs the family's variance share before the blocks run; it comes
    # from the first RC_SHARE_COLUMNS columns alone, so a run submits only its block tasks (the
    # blocks' statistics pass would read or send every column twice).
    from crypto_analyzer_promotion import distributed as cd

    rng = np.random.default_rng(77)
    x = rng.normal(size=(200, 70))
    for i in range(1, 200):
        x[i] += 0.5 * x[i - 1]
    df = pd.DataFrame(
        x, columns=[f"h{i:03d}" for i in range(70)], index=pd.date_range("2026-01-01", periods=200, freq="h")
    )
    series: object = df
    if source == "parquet":
        series = tmp_path / "family.parquet"
        df.to_parquet(series)
    elif source == "dask":
        series = dd.from_pandas(df, npartitions=2)
    submitted: list[str] = []
    real = cd.DistributedFamily._blocks

    def counted(self, fn, rest, progress, total):
        submitted.append(fn.__name__)
        return real(self, fn, rest, progress, total)

    monkeypatch.setattr(cd.DistributedFamily, "_blocks", counted)
    cfg = RealityCheckConfig(n_sim=60, seed=7)
    dist = run_family_reality_check(series, cfg, no_cache=True, client=client, blocks=3)
    assert submitted == ["_run_task"]
    single = run_family_reality_check(df, cfg, no_cache=True)
    same(dist, single)
    assert dist.to_dict()["rc_null_scale_factor"] == single.to_dict()["rc_null_scale_factor"] > 1.0


def test_cache_is_shared_with_single_runs(client, tmp_path):
    df = panel(6, 260, 6, False)
    cfg = RealityCheckConfig(n_sim=200, seed=6)
    kw = dict(family_id="fam", dataset_id="ds", git_commit="abc", cache_dir=tmp_path)
    first = run_family_reality_check(df, cfg, client=client, **kw)
    assert not first.cache_hit and first.cache_key
    again = run_family_reality_check(df, cfg, **kw)  # single run: served from the distributed run's cache
    assert again.cache_hit and again.cache_key == first.cache_key
    same(again, first)
    hit = run_family_reality_check(df, cfg, client=client, **kw)
    assert hit.cache_hit
    same(hit, first)
    fresh = run_family_reality_check(df, cfg, no_cache=True)
    same(fresh, first)


def _no_cache_files(d: Path) -> bool:
    return not d.exists() or not any(d.iterdir())


def test_hostile_parquet_inputs_write_nothing(client, tmp_path):
    cache = tmp_path / "cache"
    cfg = RealityCheckConfig(n_sim=50)
    kw = dict(family_id="f", cache_dir=cache)
    df = panel(7, 100, 4, False)
    folder = tmp_path / "missing"
    folder.mkdir()
    df.iloc[:50].to_parquet(folder / "a.parquet")
    df.iloc[50:].drop(columns=[df.columns[1]]).to_parquet(folder / "b.parquet")
    with pytest.raises(InvalidInputError, match=r"b\.parquet: columns differ .*missing sig02\|4"):
        run_family_reality_check(folder, cfg, client=client, **kw)
    bad = df.copy()
    bad["label"] = "x"
    bad.to_parquet(tmp_path / "text.parquet")
    with pytest.raises(InvalidInputError, match="non-numeric column.*label"):
        run_family_reality_check(tmp_path / "text.parquet", cfg, client=client, **kw)
    with pytest.raises(InvalidInputError, match="not found"):
        run_family_reality_check(tmp_path / "nope.parquet", cfg, client=client, **kw)
    assert _no_cache_files(cache)


def test_data_that_changes_length_under_the_run_is_one_error(client, tmp_path, monkeypatch):
    """The client reads T from the metadata; a task that reads another number of rows (the file
    was rewritten meanwhile) fails the run with one clear error and nothing is cached."""
    cache = tmp_path / "cache"
    df = panel(8, 120, 5, False)
    df.to_parquet(tmp_path / "f.parquet")
    real = cap_dist.parquet_layout

    def stale(path):
        files, names, t = real(path)
        return files, names, t + 7

    monkeypatch.setattr(cap_dist, "parquet_layout", stale)
    with pytest.raises(InvalidInputError, match="the data changed"):
        run_family_reality_check(
            tmp_path / "f.parquet", RealityCheckConfig(n_sim=40), client=client, family_id="f", cache_dir=cache
        )
    assert _no_cache_files(cache)


def test_a_stopped_run_writes_nothing(client, tmp_path):
    cache = tmp_path / "cache"

    class Stop(Exception):
        pass

    def progress(done, total):
        raise Stop

    with pytest.raises(Stop):
        run_family_reality_check(
            panel(9, 150, 6, False),
            RealityCheckConfig(n_sim=60),
            client=client,
            family_id="f",
            cache_dir=cache,
            progress=progress,
        )
    assert _no_cache_files(cache)


def test_refusals(client):
    df = panel(10, 50, 3, False)
    with pytest.raises(InvalidInputError, match="return_null_matrix"):
        run_family_reality_check(
            df, RealityCheckConfig(n_sim=10), client=client, return_null_matrix=True, no_cache=True
        )
    with pytest.raises(InvalidInputError, match="client="):
        run_family_reality_check(df, RealityCheckConfig(n_sim=10), blocks=2, no_cache=True)


def test_unreachable_scheduler_is_one_clear_error():
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        cap_dist.connect("tcp://127.0.0.1:9", timeout=1.0)
    assert time.monotonic() - t0 < 30


def test_single_runs_never_import_dask():
    code = (
        "import sys; import numpy as np; import crypto_analyzer_promotion.reality_check as rc; "
        "rc.run_family_reality_check(np.random.default_rng(0).normal(size=(50, 3)), rc.RealityCheckConfig(n_sim=5), "
        "no_cache=True); import crypto_analyzer_promotion.rc_blocks; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("source", ["frame", "parquet"])
def test_a_worker_killed_mid_run_changes_nothing(client, tmp_path, monkeypatch, source):
    """SIGKILL the worker running a block while it runs: the nanny restarts it and the result is
    the single run's, bit for bit. From Parquet the scheduler reruns the lost block (its task
    reads its columns again); an in-memory family's columns were scattered to the dead worker, so
    the run is submitted again (every block's task counted twice)."""
    df = panel(12, 10_000, 60, True)  # about a second a block on one thread
    cfg = RealityCheckConfig(n_sim=3000, seed=12)
    single = run_family_reality_check(df, cfg, no_cache=True)
    series = df
    if source == "parquet":
        series = tmp_path / "kill.parquet"
        df.to_parquet(series)
    submitted = []
    real_submit = cap_dist.DistributedFamily._submit

    def counting_submit(self, fn, args, i):
        if fn is cap_dist._run_task:  # (the first pass of the blocks' statistics is not counted)
            submitted.append(i)
        return real_submit(self, fn, args, i)

    monkeypatch.setattr(cap_dist.DistributedFamily, "_submit", counting_submit)
    pids = client.run(os.getpid)
    out: dict = {}

    def run() -> None:
        try:
            out["res"] = run_family_reality_check(series, cfg, no_cache=True, client=client, blocks=2)
        except BaseException as exc:  # reported below
            out["err"] = exc

    th = threading.Thread(target=run)
    th.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items() if any("_run_task" in str(k) for k in keys)]
        if busy:
            victim = busy[0]
        else:
            time.sleep(0.01)
    assert victim is not None, "no block task seen running"
    os.kill(pids[victim], signal.SIGKILL)
    assert th.is_alive()  # the run had not finished when its worker died
    th.join(timeout=300)
    assert not th.is_alive()
    assert "err" not in out, out.get("err")
    same(out["res"], single)
    assert len(submitted) == (2 if source == "parquet" else 4), submitted
    # The killed worker is gone (the nanny started a new process).
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()
