"""The Reality Check through a Dask cluster (docs/distributed.md).

W2 through the cluster: T=25,000, K=8,000, B=1,000 (a float64 DataFrame, 1.49 GiB) with
``run_family_reality_check(df, cfg, client=...)`` on a LocalCluster of 2 worker processes with one
engine thread each, against the single-process run with 2 threads on the same cores; fresh
processes, alternating; the ratio of the times and whether the results are bit-identical. The
cluster's start-up and the workers' first import of the package are a one-time cost, reported
apart (a cluster serves many runs).

W3: T=25,000, K=32,768, B=1,000 from a Parquet file (6.1 GiB of float64), on a LocalCluster of 2
workers whose memory limits are each below the input's size; prints the time, the peak memory of
every process (client and workers), whether a worker was restarted, and the bytes of the tasks'
arguments and results (what crosses between processes besides Dask's own control messages).

Run: ``python benches/bench_rc_distributed.py`` (W2 3 rounds and W3: about 10 min alone on 2
cores and 7 GB of disk for W3's file under the temporary folder, or ``--w3-dir``), ``--quick``
(small sizes, a minute), ``--no-w2`` / ``--no-w3``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

GIB = 2**30

COMMON = textwrap.dedent(
    """
    import hashlib, json, os, pickle, sys, time
    import numpy as np, pandas as pd
    from crypto_analyzer_promotion import distributed as cd, rc_blocks
    from crypto_analyzer_promotion import reality_check as rc

    def vm_kib(field):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
        return 0

    def peak_kib():
        return vm_kib("VmHWM:")

    # W2's panel, K x T (its transpose is the T x K family): the same values in every script.
    def w2_block(t, k):
        block = np.empty((k, t))
        rng = np.random.default_rng(0)
        for i in range(0, k, 500):
            block[i:i + 500] = rng.normal(size=(min(500, k - i), t)) * 0.05
        return block

    # W2 as the DataFrame a user holds (columns = hypothesis ids), without a copy of the panel.
    def w2_frame(t, k):
        return pd.DataFrame(w2_block(t, k).T, columns=[f"h{i:05d}" for i in range(k)], copy=False)

    # W2 as a Parquet file in a new temporary folder, as pandas writes it (the time as its index):
    # every Parquet run reads this one layout.
    def w2_parquet(df, t):
        import tempfile
        path = os.path.join(tempfile.mkdtemp(), "w2.parquet")
        df.set_axis(pd.Index(np.arange(t), name="ts")).to_parquet(path)
        return path

    PREFAULT_GIB = float(os.environ.get("BENCH_PREFAULT_GIB", "0"))

    # Touch and free PREFAULT_GIB of memory just before a timed run, so that the memory the run
    # allocates next is memory the machine has backed recently. On the VM this bench was measured
    # on, memory the guest has handed back to its host (about 20 s after a process frees it)
    # costs about 3 s a GiB to touch again, against 0.3 s when recently used: without this,
    # whichever run allocates first pays it, single or cluster alike. Returns the s/GiB it took
    # (about 3 when the machine had handed the memory back). Done in a child process, so that no
    # process of the run has it in its peak RSS.
    def prefault():
        if PREFAULT_GIB <= 0:
            return 0.0
        import subprocess
        touch = f"import time, numpy as np; t = time.perf_counter(); a = np.ones({int(PREFAULT_GIB * 2**30) // 8}); "
        touch += "print(time.perf_counter() - t)"
        done = subprocess.run([sys.executable, "-c", touch], capture_output=True, text=True, check=True)
        return float(done.stdout) / PREFAULT_GIB

    def digest(res):
        h = hashlib.sha256(res.null_max_distribution.tobytes())
        h.update(np.array([res.romano_wolf_p_values[i] for i in res.hypothesis_ids]).tobytes())
        h.update(json.dumps([res.rc_p_value, res.spa_p_values, res.spa_unstudentized_p_values]).encode())
        return h.hexdigest()[:16]

    traffic = {"to_workers": 0, "from_workers": 0, "records": 0, "blocks": 0}
    real_submit = cd.DistributedFamily._submit
    def counted_submit(self, fn, args, i):
        for a in args:
            traffic["to_workers"] += a.values.nbytes if isinstance(a, cd._ArrayBlock) else len(pickle.dumps(a))
        return real_submit(self, fn, args, i)
    cd.DistributedFamily._submit = counted_submit
    real_combine = rc_blocks.combine_blocks
    def counted_combine(parts, centering, *scale):
        for p in parts:
            traffic["from_workers"] += sum(np.asarray(v).nbytes for v in p.values())
            traffic["records"] += int(p["rec_col"].size)
            traffic["blocks"] += 1
        return real_combine(parts, centering, *scale)
    rc_blocks.combine_blocks = counted_combine
    """
)

W2_SCRIPT = COMMON + textwrap.dedent(
    """
    t, k, b, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    df = w2_frame(t, k)
    cfg = rc.RealityCheckConfig(n_sim=b, avg_block_length=12, seed=42)
    out = {}
    if mode == "single":
        out["prefault_s_per_gib"] = prefault()
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = rc.run_family_reality_check(df, cfg, no_cache=True)
        out["total"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0
    elif mode == "single_parquet":  # as the CLI's `rc` reads a file into one process (timed)
        path = w2_parquet(df, t)
        del df
        from crypto_analyzer_promotion import cli  # imported before the clock starts
        out["prefault_s_per_gib"] = prefault()
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = rc.run_family_reality_check(cli._read_series(path), cfg, no_cache=True)
        out["total"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0
        os.unlink(path)
    else:
        series = df
        if mode.startswith("parquet"):  # the same family as a Parquet file the workers read (not timed)
            series = w2_parquet(df, t)
        t0 = time.perf_counter()
        n_workers = 1 if mode == "parquet1" else 2  # parquet1: one worker with both cores
        client = cd.local_client(n_workers, threads_per_worker=3 - n_workers)
        client.wait_for_workers(n_workers)
        client.run(lambda: __import__("crypto_analyzer_promotion.distributed"))  # a warm cluster
        out["cluster_start"] = time.perf_counter() - t0
        out["prefault_s_per_gib"] = prefault()
        w_cpu = sum(client.run(time.process_time).values())
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = rc.run_family_reality_check(series, cfg, no_cache=True, client=client, blocks=2)
        out["total"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0 + sum(client.run(time.process_time).values()) - w_cpu
        out["worker_peak_kib"] = sorted(client.run(peak_kib).values())
        if mode.startswith("parquet"):
            os.unlink(series)
        client.close()
        out.update(traffic)
    out["digest"] = digest(res)
    out["client_peak_kib"] = peak_kib()
    print(json.dumps(out))
    """
)

PHASES_SCRIPT = COMMON + textwrap.dedent(
    """
    # Where the time goes: one process (prepare, simulations) against each worker of the cluster
    # (read its columns from the Parquet file, prepare, simulations), timed inside the processes.
    from crypto_analyzer_promotion import _core, parquet_input as pi
    t, k, b, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    cfg = rc.RealityCheckConfig(n_sim=b, avg_block_length=12, seed=42)
    kw = rc._resolve_stream(cfg).kwargs(cfg)

    # Runs on a worker too (pickled by value with the globals it uses: time, _core, rc_blocks, kw).
    def phases(src, values=None):
        out = {}
        def timed(name, f):
            w, c = time.perf_counter(), time.process_time()
            r = f()
            out[name] = [time.perf_counter() - w, time.process_time() - c]
            return r
        v = values if values is not None else timed("read", src.read)
        eng = timed("prepare", lambda: rc_blocks._engine(v, 12.0))
        timed("simulations", lambda: _core.rc_run_block(eng, null_centering="recentred", n_sim=b, **kw))
        return out

    if mode == "single":
        x = w2_block(t, k).T
        prefault()
        print(json.dumps([phases(None, x)]))
    else:
        path = w2_parquet(w2_frame(t, k), t)
        from pathlib import Path
        files, names, tt = pi.parquet_layout(Path(path))
        client = cd.local_client(2, threads_per_worker=1)
        client.wait_for_workers(2)
        client.run(lambda: __import__("crypto_analyzer_promotion.distributed"))
        ids = sorted(names)
        # The split a distributed run makes of the family into 2 blocks.
        srcs = [pi.ParquetColumns(tuple(files), tuple(ids[a:c]), tt) for a, c in rc_blocks.column_ranges(k, 2)]
        prefault()
        res = client.gather([client.submit(phases, s, pure=False) for s in srcs])
        client.close()
        os.unlink(path)
        print(json.dumps(res))
    """
)

W3_WRITE = textwrap.dedent(
    """
    import sys
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    t, k, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    names = ["ts"] + [f"h{i:05d}" for i in range(k)]
    schema = pa.schema([("ts", pa.int64())] + [(n, pa.float64()) for n in names[1:]])
    rng = np.random.default_rng(3)
    # Row groups of about 1 GiB and no statistics or dictionaries: every reader parses the whole
    # footer, whose size is columns x row groups (with 128 MiB groups, 49 x 32,768 column chunks
    # made every process hold 1.6 GiB of metadata).
    rows = max(1, min(t, (1 << 30) // (8 * k)))
    with pq.ParquetWriter(path, schema, compression="none", write_statistics=False, use_dictionary=False) as w:
        for r0 in range(0, t, rows):
            n = min(rows, t - r0)
            x = rng.normal(size=(k, n)) * 0.05
            arrays = [pa.array(np.arange(r0, r0 + n, dtype=np.int64))] + [pa.array(x[i]) for i in range(k)]
            w.write_table(pa.Table.from_arrays(arrays, schema=schema))
            del x, arrays
    """
)

W3_SCRIPT = COMMON + textwrap.dedent(
    """
    t, k, b, blocks, limit, path = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                                    int(sys.argv[5]), sys.argv[6])
    t0 = time.perf_counter()
    client = cd.local_client(2, threads_per_worker=1, memory_limit=limit)
    client.wait_for_workers(2)
    client.run(lambda: __import__("crypto_analyzer_promotion.distributed"))  # a warm cluster
    start = time.perf_counter() - t0
    pids = client.run(os.getpid)
    cfg = rc.RealityCheckConfig(n_sim=b, avg_block_length=12, seed=42)
    t0 = time.perf_counter()
    res = rc.run_family_reality_check(path, cfg, no_cache=True, client=client, blocks=blocks)
    total = time.perf_counter() - t0
    peaks = client.run(peak_kib)
    restarted = sorted(set(pids.values()) - set(client.run(os.getpid).values()))
    client.close()
    print(json.dumps(dict(cluster_start=start, total=total, worker_peak_kib=sorted(peaks.values()),
                          client_peak_kib=peak_kib(), restarted=len(restarted), k=len(res.hypothesis_ids),
                          t=res.n_periods, rc_p=res.rc_p_value, **traffic)))
    """
)


SPLIT_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from crypto_analyzer_promotion import _core, reality_check as rc
    t, k, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    x = np.empty((k, t)); rng = np.random.default_rng(0)
    for i in range(0, k, 500):
        x[i:i + 500] = rng.normal(size=(min(500, k - i), t)) * 0.05
    x = x.T
    cfg = rc.RealityCheckConfig(n_sim=n, seed=42); kw = rc._resolve_stream(cfg).kwargs(cfg)
    def cpu(f):
        c = time.process_time(); r = f(); return time.process_time() - c, r
    pw, e = cpu(lambda: _core.RcEngine(x, 12.0, prefix="streamed"))
    rw, _ = cpu(lambda: e.run(null_centering="recentred", n_sim=n, **kw))
    pb = rb = 0.0
    for a, b in ((0, k // 2), (k // 2, k)):
        p1, eb = cpu(lambda: _core.RcEngine(x[:, a:b], 12.0, prefix="streamed"))
        r1, _ = cpu(lambda: _core.rc_run_block(eb, null_centering="recentred", n_sim=n, **kw))
        pb, rb = pb + p1, rb + r1
    print(json.dumps(dict(whole=[pw, rw], blocks=[pb, rb])))
    """
)


def split_cost(t: int, k: int, b: int) -> None:
    r = _run(SPLIT_SCRIPT, t, k, b, env={"CRYPTO_ANALYZER_THREADS": "1"})
    (pw, rw), (pb, rb) = r["whole"], r["blocks"]
    print(
        f"\nThe split alone, one process, 1 engine thread, T={t}, K={k}, B={b}: whole family prepare {pw:.2f} + "
        f"simulations {rw:.2f} CPU-s; as two column blocks {pb:.2f} + {rb:.2f} CPU-s ({(pb + rb) / (pw + rw):.2f}x)"
    )


def _run(script: str, *args: object, env: dict | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark subprocess failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mm(vals: list[float]) -> str:
    v = sorted(vals)
    return f"{v[0]:.2f} / {v[len(v) // 2]:.2f}"


def w2(t: int, k: int, b: int, repeat: int, env: dict) -> None:
    runs: dict[str, list[dict]] = {"single": [], "single_parquet": [], "frame": [], "parquet": [], "parquet1": []}
    two = {**env, "CRYPTO_ANALYZER_THREADS": "2"}
    for _ in range(repeat):  # alternating, fresh processes
        runs["single"].append(_run(W2_SCRIPT, t, k, b, "single", env=two))
        runs["single_parquet"].append(_run(W2_SCRIPT, t, k, b, "single_parquet", env=two))
        runs["frame"].append(_run(W2_SCRIPT, t, k, b, "frame", env=env))
        runs["parquet"].append(_run(W2_SCRIPT, t, k, b, "parquet", env=env))
        runs["parquet1"].append(_run(W2_SCRIPT, t, k, b, "parquet1", env=env))
    prefaults = sorted(r["prefault_s_per_gib"] for rs in runs.values() for r in rs)
    digests = {r["digest"] for rs in runs.values() for r in rs}
    print(
        f"\nW2 through the cluster: T={t}, K={k}, B={b} ({t * k * 8 / GIB:.2f} GiB of float64); single process "
        f"with 2 engine threads vs a LocalCluster of 2 workers x 1 engine thread (the same 2 cores), from the "
        f"DataFrame in the client's memory or from the same data as a Parquet file; min / median of {repeat} "
        f"fresh processes each, alternating; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| run | total s | CPU s (all processes) | x single (wall) | x single (CPU) | peak RSS client GiB | peak RSS workers GiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    ts = sorted(r["total"] for r in runs["single"])
    cs = sorted(r["cpu"] for r in runs["single"])
    for name, rs in runs.items():
        tw, cw = sorted(r["total"] for r in rs), sorted(r["cpu"] for r in rs)
        wp = ", ".join(f"{v * 1024 / GIB:.2f}" for v in rs[0].get("worker_peak_kib", [])) or "-"
        label = {
            "single": "single process",
            "single_parquet": "single process, from Parquet (read timed)",
            "frame": "2 workers, DataFrame",
            "parquet": "2 workers, Parquet",
            "parquet1": "1 worker x 2 engine threads, Parquet",
        }[name]
        print(
            f"| {label} | {_mm(tw)} | {_mm(cw)} | {tw[0] / ts[0]:.2f} / {tw[len(tw) // 2] / ts[len(ts) // 2]:.2f} | "
            f"{cw[0] / cs[0]:.2f} / {cw[len(cw) // 2] / cs[len(cs) // 2]:.2f} | "
            f"{rs[0]['client_peak_kib'] * 1024 / GIB:.2f} | {wp} |"
        )
    sp = [sorted(r[key] for r in runs["single_parquet"]) for key in ("total", "cpu")]
    pq = [sorted(r[key] for r in runs["parquet"]) for key in ("total", "cpu")]
    med = [v[len(v) // 2] for v in sp + pq]
    print(
        f"2 workers from Parquet against one process reading the same file (median): {med[2] / med[0]:.2f}x wall, "
        f"{med[3] / med[1]:.2f}x CPU"
    )
    f, q = runs["frame"][0], runs["parquet"][0]
    print(f"cluster start-up and first import (not counted): {f['cluster_start']:.1f} s")
    if float(env.get("BENCH_PREFAULT_GIB", "0")) > 0:
        print(
            f"memory touched and freed before each timed run: {env['BENCH_PREFAULT_GIB']} GiB at "
            f"{prefaults[0]:.2f}-{prefaults[-1]:.2f} s/GiB (about 3 when this VM had handed it back to its host)"
        )
    else:
        print(
            "no memory touched before the timed runs (--prefault 0): each run's fresh memory costs what the machine charges"
        )
    print(f"bit-identical (null maxima, RC, SPA, Romano-Wolf): {'yes' if len(digests) == 1 else 'NO'}")
    print(
        f"bytes: to workers {f['to_workers'] / GIB:.3f} GiB from the DataFrame (its columns), {q['to_workers']} from "
        f"Parquet (task arguments); from workers {f['from_workers'] / 2**20:.2f} MiB "
        f"({f['records'] / (b * f['blocks']):.1f} Romano-Wolf records a draw and block)"
    )


def phases(t: int, k: int, b: int, env: dict) -> None:
    """Where the time goes, timed inside the processes: one process with 2 engine threads
    (prepare, simulations) against each of 2 one-thread workers running half the columns from
    the Parquet file (read, prepare, simulations)."""
    single = _run(PHASES_SCRIPT, t, k, b, "single", env={**env, "CRYPTO_ANALYZER_THREADS": "2"})[0]
    workers = _run(PHASES_SCRIPT, t, k, b, "cluster", env=env)
    print(f"\nWhere the time goes (W2, seconds wall / CPU inside each process; `phases` in {Path(__file__).name}):")
    print("| process | read | prepare | simulations | sum (wall) |")
    print("|---|---:|---:|---:|---:|")
    rows = [("one process, 2 threads, all columns", single)]
    rows += [(f"worker {i + 1}, 1 thread, {k // 2} columns", w) for i, w in enumerate(workers)]
    for label, ph in rows:
        cells = [f"{ph[n][0]:.2f} / {ph[n][1]:.2f}" if n in ph else "-" for n in ("read", "prepare", "simulations")]
        print(f"| {label} | {' | '.join(cells)} | {sum(v[0] for v in ph.values()):.2f} |")


def w3(t: int, k: int, b: int, blocks: int, limit: int, folder: Path, keep: bool) -> None:
    path = folder / f"w3_T{t}_K{k}.parquet"
    if not path.exists():
        _run(W3_WRITE + "\nimport json; print(json.dumps({}))", t, k, path)
    size = path.stat().st_size
    try:
        r = _run(W3_SCRIPT, t, k, b, blocks, limit, path)
    finally:
        if not keep:
            path.unlink(missing_ok=True)
    inp = t * k * 8
    print(
        f"\nW3: T={t}, K={k}, B={b} from a Parquet file ({size / GIB:.2f} GiB on disk, {inp / GIB:.2f} GiB of "
        f"float64), LocalCluster 2 workers x 1 thread, memory limit {limit / GIB:.2f} GiB each "
        f"({limit / inp:.2f}x the input), {blocks} column blocks"
    )
    wp = ", ".join(f"{v * 1024 / GIB:.2f}" for v in r["worker_peak_kib"])
    print(
        f"total {r['total']:.1f} s (cluster start-up {r['cluster_start']:.1f} s not counted); peak RSS: client "
        f"{r['client_peak_kib'] * 1024 / GIB:.2f} GiB, workers {wp} GiB; workers restarted: {r['restarted']}; "
        f"every worker below its limit: {'yes' if max(r['worker_peak_kib']) * 1024 < limit else 'NO'}"
    )
    print(
        f"bytes: to workers {r['to_workers']} (task arguments), from workers {r['from_workers'] / 2**20:.2f} MiB "
        f"({r['records'] / (b * r['blocks']):.1f} Romano-Wolf records a draw and block); "
        f"K={r['k']}, T={r['t']}, RC p = {r['rc_p']:.3f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--no-w2", action="store_true")
    ap.add_argument("--no-w3", action="store_true")
    ap.add_argument("--no-split", action="store_true", help="skip the one-process cost of the split")
    ap.add_argument("--repeat", type=int, default=3, help="W2 rounds (fresh processes, alternating)")
    ap.add_argument(
        "--prefault",
        type=float,
        default=3.0,
        help="GiB touched and freed just before each timed W2 run (0: none; see prefault in the scripts)",
    )
    ap.add_argument("--no-phases", action="store_true", help="skip where W2's time goes inside the processes")
    ap.add_argument("--w3-dir", default=None, help="where W3's Parquet file is written (default: a temporary folder)")
    ap.add_argument("--w3-keep", action="store_true", help="keep W3's file (reused by the next run)")
    args = ap.parse_args()
    if args.quick:
        w2_size, w3_size, blocks, limit, repeat = (3000, 400, 100), (2000, 1024, 50), 4, GIB, 1
    else:
        w2_size, w3_size, blocks, limit, repeat = (
            (25_000, 8_000, 1_000),
            (25_000, 32_768, 1_000),
            8,
            3 * GIB,
            args.repeat,
        )
    if not args.no_split:
        split_cost(w2_size[0], w2_size[1], 100 if args.quick else 400)
    env = {"BENCH_PREFAULT_GIB": str(0.0 if args.quick else args.prefault)}
    if not args.no_w2:
        w2(*w2_size, repeat, env)
    if not args.no_phases:
        phases(*w2_size, env)
    if not args.no_w3:
        if args.w3_dir:
            w3(*w3_size, blocks, limit, Path(args.w3_dir), args.w3_keep)
        else:
            with tempfile.TemporaryDirectory() as d:
                w3(*w3_size, blocks, limit, Path(d), False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
