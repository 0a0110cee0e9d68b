"""The Reality Check over a Dask cluster: the family's columns split into contiguous blocks, one
task a block, combined on the client into the single-process result, bit for bit.

Used through ``run_family_reality_check(series, cfg, client=client)``; needs the optional extra
``crypto_analyzer_promotion[distributed]`` (dask, distributed, pyarrow). Nothing here is imported
by a single-process run. ``series`` may be what a single run takes (a DataFrame, a dict of Series,
a T x K array: each block is sent with its task), a Parquet file or folder (every task reads only
its own columns; the client reads only the schema), or a dask DataFrame (each block task gets the
partitions of its columns). Each task runs the engine's column-block API
(:mod:`crypto_analyzer_promotion.rc_blocks`); nothing but seeds, settings and per-draw vectors
crosses the network (docs/distributed.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _core, rc_blocks
from ._rc_types import NullCenteringName, NullScaleName
from .exceptions import InvalidInputError
from .parquet_input import ParquetColumns, parquet_layout

__all__ = ["DistributedFamily", "local_client", "close_local_client", "connect"]


def _require_dask() -> Any:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - the extra is installed by `make venv`
        raise ImportError(
            "the distributed Reality Check needs dask and distributed: "
            "pip install 'crypto_analyzer_promotion[distributed]'"
        ) from exc
    return distributed


def connect(address: str, timeout: float = 10.0) -> Any:
    """A ``dask.distributed.Client`` for the scheduler at ``address``; an unreachable scheduler is
    one ``ConnectionError`` naming it (after ``timeout`` seconds)."""
    distributed = _require_dask()
    try:
        return distributed.Client(address, timeout=f"{float(timeout)}s")
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def local_client(
    n_workers: int,
    threads_per_worker: int | None = None,
    memory_limit: str | int | None = None,
) -> Any:
    """A client of a new local cluster of ``n_workers`` worker processes (closed with the client),
    each running one block at a time with ``threads_per_worker`` engine threads (default: this
    machine's cores shared out, at least one), so that the workers share the cores instead of
    each starting a thread per core."""
    distributed = _require_dask()
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise InvalidInputError(f"workers must be a positive integer (got {n_workers!r})")
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // n_workers)
    kw: dict[str, Any] = {}
    if memory_limit is not None:
        kw["memory_limit"] = memory_limit
    return distributed.Client(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={"CRYPTO_ANALYZER_THREADS": str(threads)},
        **kw,
    )


def _n_workers(dask_scheduler: Any) -> int:
    return len(dask_scheduler.workers)


def close_local_client(client: Any, timeout: float = 10.0) -> None:
    """Close a client from :func:`local_client` and its cluster, workers first: closing the
    scheduler while workers still run lets a worker's heartbeat meet a closing connection, which
    distributed logs as an error with a traceback on the terminal of a run that succeeded."""
    import time

    try:
        cluster = getattr(client, "cluster", None)
        if cluster is not None:
            cluster.scale(0)
            deadline = time.monotonic() + timeout
            while client.run_on_scheduler(_n_workers) and time.monotonic() < deadline:
                time.sleep(0.05)
    except (OSError, TimeoutError, RuntimeError):
        pass  # closing below is what matters; a cluster that is already going needs no help
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# Sources: where each block task gets its columns from. Each is a small picklable description.


@dataclass(frozen=True)
class _ArrayBlock:
    """The block's columns themselves (the caller's data was in memory): scattered to a worker
    (one hop, no copy in the task graph) and handed to the task as its data argument."""

    values: np.ndarray


@dataclass(frozen=True)
class _FramesBlock:
    """Marker for a dask DataFrame block: its partitions arrive as the task's arguments."""

    columns: tuple[str, ...]


def _frames_to_values(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> np.ndarray:
    frame = pd.concat(frames, axis=0) if len(frames) != 1 else frames[0]
    frame = frame.loc[:, list(columns)]
    bad = [str(c) for c, dt in zip(frame.columns, frame.dtypes) if not pd.api.types.is_numeric_dtype(dt)]
    if bad:
        raise InvalidInputError(f"non-numeric series for hypotheses: {', '.join(bad[:5])}")
    return np.asfortranarray(frame.to_numpy(dtype=np.float64, na_value=np.nan))


# ---------------------------------------------------------------------------------------------
# Tasks (module-level functions: the workers import this module by name).


def _block_values(source: Any, data: tuple[Any, ...]) -> np.ndarray:
    if isinstance(source, _FramesBlock):
        return _frames_to_values(list(data), source.columns)
    if isinstance(source, _ArrayBlock):
        return np.asarray(data[0])
    return source.read()


def _share_method(cfg: Any) -> dict[str, Any]:
    """The bootstrap method of a block's variance shares, from the run's config: the ``method``
    argument of ``_shares_task`` and ``rc_blocks.block_stats``."""
    return {"method": cfg.method, "avg_block_length": cfg.avg_block_length, "block_size": cfg.block_size}


def _shares_task(source: Any, method: dict[str, Any], *data: Any) -> list:
    return rc_blocks.variance_shares(
        _block_values(source, data), method["method"], method["avg_block_length"], method["block_size"]
    )


def _stats_task(source: Any, block_length: float, method: dict[str, Any], *data: Any) -> dict[str, Any]:
    return rc_blocks.block_stats(_block_values(source, data), block_length, method)


def _run_task(
    source: Any,
    block_length: float,
    n_sim: int,
    null_centering: NullCenteringName,
    stream_kwargs: dict[str, Any],
    null_scale: tuple[NullScaleName, float | None],
    *data: Any,
) -> dict[str, Any]:
    values = _block_values(source, data)
    out = rc_blocks.run_block(
        values,
        block_length,
        n_sim=n_sim,
        null_centering=null_centering,
        stream_kwargs=stream_kwargs,
        null_scale=null_scale[0],
        variance_share=null_scale[1],
    )
    out["variance_shares"] = rc_blocks.variance_shares(
        values, stream_kwargs["method"], stream_kwargs["avg_block_length"], stream_kwargs["block_size"]
    )
    del values
    return out


# ---------------------------------------------------------------------------------------------
# The family (a Parquet family's layout and reader: parquet_input.py)


def _is_dask_frame(series: Any) -> bool:
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover
        return False
    return isinstance(series, dd.DataFrame)


class DistributedFamily:
    """A family whose column blocks run as tasks on a Dask cluster. Plays the role of the
    single run's NullGenerator in ``run_family_reality_check``: ``hypothesis_ids``,
    ``n_periods``, ``observed_values()``, ``omega``, ``run(n_sim, progress=...)``."""

    def __init__(
        self,
        series: Any,
        cfg: Any,
        client: Any,
        stream: Any,
        null_centering: NullCenteringName,
        block_length: float,
        blocks: int | None = None,
    ) -> None:
        _require_dask()
        self._client = client
        self._cfg = cfg
        self._stream = stream
        self.null_centering = null_centering
        self._block_length = float(block_length)
        self._frames: list[list[Any]] = []
        self._stats: dict[str, Any] | None = None
        self._variance_shares: list | None = None
        # The family's first columns, whose variance shares give the RC null's scale and the size
        # warning: read on their own when a run needs the scale before its blocks run.
        head = int(_core.RC_SHARE_COLUMNS)
        self._head: Any = None
        self._head_frames: list[Any] = []
        sources: list[Any]
        if isinstance(series, (str, os.PathLike)):
            files, names, t = parquet_layout(Path(series))
            ids = sorted(str(c) for c in names)
            if len(set(ids)) != len(ids):
                raise InvalidInputError("hypothesis ids collide after conversion to str")
            by_id = {str(c): c for c in names}
            ranges = rc_blocks.column_ranges(len(ids), self._n_blocks(blocks, len(ids)))
            sources = [ParquetColumns(tuple(files), tuple(by_id[i] for i in ids[a:b]), t) for a, b in ranges]
            self._head = ParquetColumns(tuple(files), tuple(by_id[i] for i in ids[:head]), t)
            self.n_periods = t
        elif _is_dask_frame(series):
            cols = [str(c) for c in series.columns]
            if len(cols) == 0:
                raise InvalidInputError("empty family: no hypotheses")
            if len(set(cols)) != len(cols) or any(not isinstance(c, str) for c in series.columns):
                raise InvalidInputError("the dask DataFrame needs distinct string column names (hypothesis ids)")
            bad = [c for c, dt in zip(cols, series.dtypes) if not pd.api.types.is_numeric_dtype(dt)]
            if bad:
                raise InvalidInputError(f"non-numeric series for hypotheses: {', '.join(bad[:5])}")
            ids = sorted(cols)
            ranges = rc_blocks.column_ranges(len(ids), self._n_blocks(blocks, len(ids)))
            sources = []
            for a, b in ranges:
                block_cols = tuple(ids[a:b])
                sources.append(_FramesBlock(block_cols))
                self._frames.append(list(series[list(block_cols)].to_delayed()))
            self._head = _FramesBlock(tuple(ids[:head]))
            self._head_frames = list(series[list(ids[:head])].to_delayed())
            self.n_periods = -1  # known once a block has run
        else:
            from .reality_check import _family_matrix

            ids, values = _family_matrix(series)
            ranges = rc_blocks.column_ranges(len(ids), self._n_blocks(blocks, len(ids)))
            sources = [_ArrayBlock(np.asfortranarray(values[:, a:b])) for a, b in ranges]
            self._head = _ArrayBlock(np.asfortranarray(values[:, :head]))
            self.n_periods = int(values.shape[0])
        self.hypothesis_ids = list(ids)
        self._sources = sources

    def _n_blocks(self, blocks: int | None, k: int) -> int:
        if blocks is not None:
            return blocks
        info = self._client.scheduler_info()
        return max(1, len(info.get("workers", {})))

    def _submit(self, fn: Callable[..., Any], args: tuple, i: int) -> Any:
        if self._frames:
            import dask

            return self._client.compute(dask.delayed(fn, pure=True)(*args, *self._frames[i]))
        source = args[0]
        if isinstance(source, _ArrayBlock):
            data = self._client.scatter(source.values, hash=False)
            # The task carries only an empty marker; the columns come as the scattered data.
            return self._client.submit(fn, _ArrayBlock(np.empty((0, 0))), *args[1:], data, pure=False)
        return self._client.submit(fn, *args, pure=False)

    def _blocks(
        self, fn: Callable[..., Any], rest: tuple, progress: Callable[[int, int], Any] | None, total: int
    ) -> list[Any]:
        """Every block's task, gathered in column order. Scattered columns (an in-memory family)
        have no lineage: when a worker that held some dies, its tasks are cancelled, and the run
        is submitted again (up to twice more), the columns scattered anew."""
        attempts = 3 if any(isinstance(s, _ArrayBlock) for s in self._sources) else 1
        for attempt in range(attempts):
            futures = [self._submit(fn, (s, *rest), i) for i, s in enumerate(self._sources)]
            try:
                return self._gather(futures, progress, total)
            except CancelledError:
                if attempt + 1 == attempts:
                    raise
        raise AssertionError("unreachable")

    def _gather(self, futures: list[Any], progress: Callable[[int, int], Any] | None, total: int) -> list[Any]:
        distributed = _require_dask()
        n = len(futures)
        done = 0
        try:
            for _ in distributed.as_completed(futures):
                done += 1
                if progress is not None:
                    progress(total * done // n, total)
            return [f.result() for f in futures]
        except BaseException:
            self._client.cancel(futures)
            raise

    def _check_t(self, parts: list[dict[str, Any]]) -> None:
        ts = {int(p["t"]) for p in parts}
        if len(ts) != 1:
            raise InvalidInputError(f"column blocks of different lengths ({sorted(ts)} periods): mismatched data")
        (t,) = ts
        if self.n_periods >= 0 and t != self.n_periods:
            raise InvalidInputError(f"the blocks read {t} periods where the data has {self.n_periods}")
        self.n_periods = t

    def _load_stats(self) -> dict[str, Any]:
        if self._stats is None:
            parts = self._blocks(_stats_task, (self._block_length, _share_method(self._cfg)), None, 1)
            self._check_t(parts)
            self._take_shares(parts)
            self._stats = {
                "observed": np.concatenate([p["observed"] for p in parts]),
                "omega": np.concatenate([p["omega"] for p in parts]),
            }
        return self._stats

    def _head_shares(self) -> list:
        """The variance shares of the family's first ``RC_SHARE_COLUMNS`` columns alone (the same
        values as every block's, since each column's share is its own): computed here from an
        in-memory family, else by one task that reads or receives only those columns, so that the
        null's scale costs no pass over the blocks."""
        method = _share_method(self._cfg)
        head = self._head
        if isinstance(head, _ArrayBlock):
            return _shares_task(head, method, head.values)
        if isinstance(head, _FramesBlock):
            import dask

            future = self._client.compute(dask.delayed(_shares_task, pure=True)(head, method, *self._head_frames))
        else:
            future = self._client.submit(_shares_task, head, method, pure=False)
        return list(self._gather([future], None, 1)[0])

    def _take_shares(self, parts: list[dict[str, Any]]) -> None:
        """The family's first columns' variance shares: each block sent its own first ones, so
        their concatenation in column order starts with the family's (any split, same values)."""
        shares = [s for p in parts for s in p.pop("variance_shares", [])]
        self._variance_shares = shares[: int(_core.RC_SHARE_COLUMNS)]

    @property
    def variance_share(self) -> float | None:
        if self._variance_shares is None:
            self._variance_shares = self._head_shares()
        return _core.rc_median_share(self._variance_shares or [])

    def observed_values(self) -> np.ndarray:
        return self._load_stats()["observed"]

    @property
    def omega(self) -> np.ndarray:
        return self._load_stats()["omega"]

    def run(
        self,
        n_sim: int,
        *,
        return_null_matrix: bool = False,
        progress: Callable[[int, int], Any] | None = None,
    ) -> dict[str, Any]:
        if return_null_matrix:
            raise InvalidInputError("return_null_matrix is not available for a distributed run (client=...)")
        stream = self._stream.refresh()
        kwargs = stream.kwargs(self._cfg)
        # The RC / Romano–Wolf null scale reads the family's variance share (its first columns,
        # whichever blocks hold them), so every block needs it before it runs: a first pass of
        # the blocks' statistics when it is not known yet.
        scale_name: NullScaleName = self._cfg.rc_null_scale
        share = self.variance_share if scale_name != "none" and self.null_centering != "none" else None
        scale = (scale_name, share)
        args = (self._block_length, int(n_sim), self.null_centering, kwargs, scale)
        parts = self._blocks(_run_task, args, progress, int(n_sim))
        self._check_t(parts)
        self._take_shares(parts)
        out = rc_blocks.combine_blocks(parts, self.null_centering, scale_name, share)
        self._stats = {"observed": out["observed"], "omega": out["omega"]}
        stream.advance(int(n_sim))
        return out
