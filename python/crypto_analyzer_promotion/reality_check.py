"""White's Reality Check for a family of signal hypotheses (replaces
``crypto_analyzer.stats.reality_check``), with Hansen's SPA and Romano–Wolf stepdown.

The null simulator is the Rust engine: it resamples periods with a stationary (or fixed-block)
bootstrap and, by default, **recentres** the bootstrap means (``max_k (m*_k - m_k)``), which is what
White's test requires. ``null_centering="none"`` reproduces the old un-centred null for old reports
only. See docs/statistics.md for every definition.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast, get_args

import numpy as np
import pandas as pd

from . import _core, rc_cache
from ._rc_types import KernelName, NullCenteringName, NullScaleName, RngName
from .exceptions import InvalidInputError
from .rc_blocks import variance_shares

__all__ = [
    "RealityCheckConfig",
    "FamilyRealityCheckResult",
    "NullGenerator",
    "compute_sweep_statistic",
    "reality_check_pvalue",
    "make_null_generator_stationary",
    "run_reality_check",
    "run_family_reality_check",
    "bootstrap_indices",
    "rc_threads",
    "romano_wolf_enabled",
    "RC_SUMMARY_SCHEMA_VERSION",
    "size_warning",
    "bootstrap_variance_share",
    "SEED_ROOT_VERSION",
    "SALT_RC_NULL",
]

# The analyzer's RC summary contract (c79684b): schema and seed-derivation versions, and the salt
# of the Reality Check null in its run-key seeding.
RC_SUMMARY_SCHEMA_VERSION = 1
SEED_ROOT_VERSION = 1
SALT_RC_NULL = "rc_null"
_RW_ENV = "CRYPTO_ANALYZER_ENABLE_ROMANOWOLF"
_PER_SIM_SEED_BOUND = 2**63 - 1


@dataclass
class RealityCheckConfig:
    """Configuration of a Reality Check (names and defaults as in the analyzer).

    ``run_key``: derive the null's seed from the run key (``seed_root(run_key, "rc_null",
    fold_id=horizon)``) instead of ``seed``. ``seed_root``: reported as given when there is no run key.
    ``rng``: the random stream, ``"default"`` (ours, fast), ``"numpy_legacy"`` (the analyzer before
    c79684b) or ``"numpy_pcg64"`` (the analyzer's c79684b release, element for element); a
    ``np.random.Generator`` (PCG64) selects ``"numpy_pcg64"`` with that generator as the base that
    draws each simulation's seed, and is advanced by one draw per simulation as the analyzer does.
    ``rc_null_scale``: how the RC, Romano–Wolf and Hansen's SPA scale the bootstrap null:
    ``"variance_share"`` (the default) multiplies each draw's deviations (the SPA: each draw's
    statistic) by 1/sqrt(min(1, s)), s the share of the series' long-run variance the bootstrap
    reproduces (:func:`bootstrap_variance_share`), which brings the RC's size into [3.5 %, 6.5 %]
    at small T and under strong dependence and the studentized SPA's under strong dependence
    (docs/size_study.md); ``"none"`` is White's RC and Hansen's SPA as published.
    """

    metric: str = "mean_ic"
    horizon: int | None = None
    n_sim: int = 200
    method: str = "stationary"
    avg_block_length: int = 12
    block_size: int = 12
    seed: int = 42
    run_key: str | None = None
    seed_root: int | None = None
    rng: Any = None
    rc_null_scale: NullScaleName = "variance_share"


def _block_length(cfg: RealityCheckConfig) -> float:
    """L of the method in use: avg_block_length (stationary) or block_size (block_fixed). The
    method's name is checked by the engine."""
    return float(cfg.avg_block_length if cfg.method == "stationary" else cfg.block_size)


def _check_seed(seed: Any) -> int:
    try:
        s = int(seed)
    except (TypeError, ValueError):
        raise InvalidInputError(f"seed must be a non-negative integer (got {seed!r})") from None
    if s < 0 or s >= 2**64 or s != seed:
        raise InvalidInputError(f"seed must be a non-negative integer below 2**64 (got {seed!r})")
    return s


# Checked here as well as in the engine: the name picks the seeding (run key, base draws) before
# any call reaches Rust, and an unknown one is refused when the generator is made.
_RNG_NAMES: tuple[str, ...] = get_args(RngName)


@dataclass(frozen=True)
class _Stream:
    """The random stream a null is drawn from, resolved from the config (see RealityCheckConfig)."""

    rng: RngName
    seed: int  # the stream's seed (cfg.seed, or the run key's seed for the default stream)
    base_state: tuple[int, int] | None = None  # numpy_pcg64 seeded by base draws
    generator: Any = None  # the caller's np.random.Generator (advanced after a batch)
    seed_derivation: str = "explicit"  # "explicit" | "run_key" | "generator"

    def kwargs(self, cfg: RealityCheckConfig) -> dict:
        out = dict(
            method=cfg.method,
            avg_block_length=float(cfg.avg_block_length),
            block_size=float(cfg.block_size),
            seed=self.seed,
            rng=self.rng,
        )
        if self.base_state is not None:
            out["base_state"] = self.base_state
        return out

    def refresh(self) -> _Stream:
        """With a caller's Generator: the stream from the generator's current state."""
        if self.generator is None:
            return self
        return _generator_stream(self.generator, self.seed)

    def advance(self, n_sim: int) -> None:
        """Consume the caller's Generator as the analyzer does (one seed per simulation)."""
        if self.generator is not None and n_sim > 0:
            self.generator.integers(0, _PER_SIM_SEED_BOUND, size=int(n_sim))


def _generator_stream(gen: Any, seed: int) -> _Stream:
    bitgen = gen.bit_generator
    if type(bitgen).__name__ != "PCG64":
        raise InvalidInputError(
            f"rng: a np.random.Generator over PCG64 (np.random.default_rng) is required to reproduce the "
            f"analyzer's stream (got {type(bitgen).__name__})"
        )
    st = bitgen.state["state"]
    return _Stream("numpy_pcg64", seed, (int(st["state"]), int(st["inc"])), gen, "generator")


def _fold_id(cfg: RealityCheckConfig) -> str | None:
    return None if cfg.horizon is None else str(cfg.horizon)


def _resolve_stream(cfg: RealityCheckConfig, rng: Any = None) -> _Stream:
    """The stream of ``cfg`` (``rng`` overrides ``cfg.rng``)."""
    choice = cfg.rng if rng is None else rng
    if isinstance(choice, _Stream):
        return choice
    seed = _check_seed(cfg.seed)
    if isinstance(choice, np.random.Generator):
        return _generator_stream(choice, seed)
    name = "default" if choice is None else choice
    if not isinstance(name, str) or name not in _RNG_NAMES:
        raise InvalidInputError(
            f"unknown rng {name!r}: expected 'default', 'numpy_legacy', 'numpy_pcg64' or a np.random.Generator"
        )
    if cfg.run_key is not None and not isinstance(cfg.run_key, str):
        raise InvalidInputError(f"run_key must be a string (got {type(cfg.run_key).__name__})")
    name = cast(RngName, name)
    if not cfg.run_key or name == "numpy_legacy":
        # The legacy stream reproduces the analyzer before run keys existed: seed + b only.
        return _Stream(name, seed)
    root = int(_core.seed_root(cfg.run_key, SALT_RC_NULL, _fold_id(cfg), SEED_ROOT_VERSION))
    if name == "numpy_pcg64":
        state, inc = _core.numpy_pcg64_state(root)
        return _Stream(name, root, (int(state), int(inc)), None, "run_key")
    return _Stream(name, root, None, None, "run_key")


def _spec_kwargs(cfg: RealityCheckConfig, rng: Any = None) -> dict:
    return _resolve_stream(cfg, rng).kwargs(cfg)


def bootstrap_indices(t: int, b: int, cfg: RealityCheckConfig | None = None, *, rng: Any = None) -> np.ndarray:
    """The T period indices of simulation ``b`` (int64), as the engine draws them (``rng``
    overrides ``cfg.rng``; with a Generator, its current state is the base and it is not advanced)."""
    cfg = cfg or RealityCheckConfig()
    return _core.rc_bootstrap_indices(int(t), int(b), **_resolve_stream(cfg, rng).kwargs(cfg))


def rc_threads() -> int:
    """Threads the engine uses (env ``CRYPTO_ANALYZER_THREADS``, default all cores)."""
    return int(_core.rc_threads())


# ---------------------------------------------------------------------------------------------
# Inputs


def _as_float_frame_values(df: pd.DataFrame) -> np.ndarray:
    bad = [str(c) for c, dt in zip(df.columns, df.dtypes) if not pd.api.types.is_numeric_dtype(dt)]
    if bad:
        raise InvalidInputError(f"non-numeric series for hypotheses: {', '.join(bad[:5])}")
    try:
        if all(dt == np.float64 for dt in df.dtypes):
            # One float64 block (the usual frame): a view of it, never a copy (NaN stays NaN).
            return df.to_numpy()
        values = df.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"series could not be converted to float64: {exc}") from None
    return values


def _family_matrix(series: Any) -> tuple[list[str], np.ndarray]:
    """(sorted hypothesis ids, T×K float64 contiguous array) from a dict of Series, a DataFrame
    (columns = hypotheses) or a T×K array. Dict entries are aligned on the intersection of their
    indexes. The array is passed to Rust without a copy when already float64 and contiguous."""
    if isinstance(series, Mapping):
        if len(series) == 0:
            raise InvalidInputError("empty family: no hypotheses")
        items = {str(k): (v if isinstance(v, pd.Series) else pd.Series(v)) for k, v in series.items()}
        if len(items) != len(series):
            raise InvalidInputError("hypothesis ids collide after conversion to str")
        ids = sorted(items)
        frame = pd.concat([items[i] for i in ids], axis=1, join="inner", keys=ids)
        frame.columns = ids
        values = _as_float_frame_values(frame)
    elif isinstance(series, pd.DataFrame):
        if series.shape[1] == 0:
            raise InvalidInputError("empty family: no hypotheses")
        ids_raw = [str(c) for c in series.columns]
        if len(set(ids_raw)) != len(ids_raw):
            raise InvalidInputError("duplicate hypothesis ids in the DataFrame columns")
        if ids_raw != sorted(ids_raw):
            order = np.argsort(np.array(ids_raw, dtype=object), kind="stable")
            series = series.iloc[:, order]
        ids = sorted(ids_raw)
        values = _as_float_frame_values(series)
    else:
        arr = np.asarray(series)
        if arr.ndim != 2:
            raise InvalidInputError(f"expected a T x K array, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise InvalidInputError(f"non-numeric array dtype {arr.dtype}")
        if arr.shape[1] == 0:
            raise InvalidInputError("empty family: no hypotheses")
        width = len(str(arr.shape[1] - 1))
        ids = [f"h{i:0{width}d}" for i in range(arr.shape[1])]
        values = arr.astype(np.float64, copy=False)
    if not (values.flags.c_contiguous or values.flags.f_contiguous):
        values = np.ascontiguousarray(values)
    return ids, values


# ---------------------------------------------------------------------------------------------
# The analyzer's API


def compute_sweep_statistic(results_df: pd.DataFrame, metric: str = "mean_ic", horizon: int | None = None) -> pd.Series:
    """Mean of ``metric`` per hypothesis, keyed by hypothesis_id (``signal|horizon`` when those
    columns exist), sorted by id. ``horizon`` keeps only rows of that horizon."""
    if metric not in results_df.columns:
        if results_df.empty:
            # A sweep that produced no rows: an empty family (run_reality_check gives p = 1).
            return pd.Series(dtype=np.float64, name=metric, index=pd.Index([], name="hypothesis_id"))
        raise InvalidInputError(f"metric column {metric!r} not in results")
    df = results_df
    if horizon is not None and "horizon" in df.columns:
        df = df[df["horizon"] == horizon]
    # The analyzer's rule: `signal|horizon` when those columns exist, whatever else the frame has.
    if "signal" in df.columns and "horizon" in df.columns:
        ids = df["signal"].astype(str) + "|" + df["horizon"].astype(str)
    elif "signal_name" in df.columns and "horizon" in df.columns:
        ids = df["signal_name"].astype(str) + "|" + df["horizon"].astype(str)
    elif "hypothesis_id" in df.columns:
        ids = df["hypothesis_id"].astype(str)
    else:
        ids = pd.Series(df.index.astype(str), index=df.index)
    values = pd.to_numeric(df[metric], errors="coerce")
    out = values.groupby(ids.values).mean().sort_index()
    out.index.name = "hypothesis_id"
    out.name = metric
    return out


def _stats_array(stat_by_hypothesis: Any) -> tuple[list[str], np.ndarray]:
    if isinstance(stat_by_hypothesis, pd.Series):
        return [str(i) for i in stat_by_hypothesis.index], stat_by_hypothesis.to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    if isinstance(stat_by_hypothesis, Mapping):
        keys = list(stat_by_hypothesis)
        return [str(k) for k in keys], np.array([float(stat_by_hypothesis[k]) for k in keys], dtype=np.float64)
    arr = np.asarray(stat_by_hypothesis, dtype=np.float64).reshape(-1)
    return [str(i) for i in range(arr.size)], arr


def reality_check_pvalue(stat_by_hypothesis: Any, null_stats_matrix: Any) -> float:
    """``(1 + #{b: max_k null[b,k] >= max_k observed}) / (B + 1)``; empty -> 1.0."""
    _, obs = _stats_array(stat_by_hypothesis)
    null = np.asarray(null_stats_matrix, dtype=np.float64)
    if obs.size == 0 or null.size == 0:
        return 1.0
    if null.ndim == 1:
        null = null.reshape(-1, 1)  # a vector is B null maxima (one per simulation)
    if null.shape[1] != obs.size:
        # Only each row's maximum enters the RC p-value, so a B x K' matrix (or B maxima) is
        # compared with the observed maximum. fmax ignores NaN; an all-NaN row stays NaN.
        obs = np.array([np.fmax.reduce(obs)])
        null = np.fmax.reduce(null, axis=1).reshape(-1, 1)
    out = _core.rc_pvalues_from_null_matrix(np.ascontiguousarray(obs), np.ascontiguousarray(null))
    return float(out["rc_p_value"])


class NullGenerator:
    """Rust-backed null generator: ``null(b)`` gives the K null statistics of simulation ``b``
    (recentred ``m*_b - m`` by default). :func:`run_reality_check` runs it as one parallel batch."""

    def __init__(
        self,
        engine: Any,
        hypothesis_ids: list[str],
        cfg: RealityCheckConfig,
        null_centering: NullCenteringName,
        rng: Any,
        n_periods: int,
        variance_shares: list | None = None,
    ) -> None:
        self._engine = engine
        self._variance_shares = variance_shares
        self.hypothesis_ids = list(hypothesis_ids)
        self.cfg = cfg
        self.null_centering = null_centering
        self._stream = rng if isinstance(rng, _Stream) else _resolve_stream(cfg, rng)
        self.rng = self._stream.rng
        self.n_periods = n_periods

    @property
    def observed_stats(self) -> pd.Series:
        """m_k, the nanmean of each hypothesis (NaN for no observation or T < 2)."""
        return pd.Series(self._engine.observed, index=pd.Index(self.hypothesis_ids, name="hypothesis_id"))

    def observed_values(self) -> np.ndarray:
        """m_k as an array, in ``hypothesis_ids`` order."""
        return self._engine.observed

    @property
    def omega(self) -> np.ndarray:
        """Hansen's ω̂_k (stationary-bootstrap kernel estimate): it studentizes the observed SPA
        statistic; each bootstrap draw is studentized by λ ω*²_{b,k} + (1 − λ) ω̂²_k, ω* its own
        block variance, λ = 0.85 (docs/statistics.md)."""
        return self._engine.omega

    @property
    def seed_derivation(self) -> str:
        return self._stream.seed_derivation

    @property
    def variance_share(self) -> float | None:
        """The share of the long-run variance the bootstrap reproduces, median over the first
        columns (:func:`bootstrap_variance_share`); None when not measured or no column gives one."""
        return None if self._variance_shares is None else _core.rc_median_share(self._variance_shares)

    def __call__(self, b: int) -> np.ndarray:
        stream = self._stream
        if stream.generator is not None:
            # The analyzer's semantics for an explicit Generator: each call draws the next seed.
            seed = int(stream.generator.integers(0, _PER_SIM_SEED_BOUND))
            return self._engine.null_stats(
                0, null_centering=self.null_centering, **_Stream("numpy_pcg64", seed).kwargs(self.cfg)
            )
        return self._engine.null_stats(int(b), null_centering=self.null_centering, **stream.kwargs(self.cfg))

    def run(
        self,
        n_sim: int,
        *,
        compare_to: np.ndarray | None = None,
        return_null_matrix: bool = False,
        progress: Callable[[int, int], Any] | None = None,
        indices: np.ndarray | None = None,
        kernel: KernelName = "prefix",
    ) -> dict:
        """The whole batch in Rust (parallel, GIL released, Ctrl-C stops it). ``indices``: an
        explicit (n_sim, T) int64 array of period indices replacing the bootstrap draws. The RC
        and Romano–Wolf use ``cfg.rc_null_scale`` (``null_max`` is scaled, ``null_matrix`` is
        the draws as ``null(b)`` gives them; ``null_scale`` is the factor)."""
        if isinstance(n_sim, bool) or not isinstance(n_sim, (int, np.integer)) or n_sim <= 0:
            raise InvalidInputError(f"n_sim must be a positive integer (got {n_sim!r})")
        if indices is not None:
            indices = np.ascontiguousarray(np.asarray(indices, dtype=np.int64))
        if compare_to is not None:
            compare_to = np.ascontiguousarray(np.asarray(compare_to, dtype=np.float64))
        stream = self._stream.refresh()
        out = self._engine.run(
            null_centering=self.null_centering,
            null_scale=self.cfg.rc_null_scale,
            variance_share=self.variance_share,
            n_sim=int(n_sim),
            return_null_matrix=bool(return_null_matrix),
            compare_to=compare_to,
            indices=indices,
            kernel=kernel,
            progress=progress,
            **stream.kwargs(self.cfg),
        )
        if indices is None:
            stream.advance(int(n_sim))
        return out


def make_null_generator_stationary(
    series_by_hypothesis: Any,
    cfg: RealityCheckConfig | None = None,
    *,
    null_centering: NullCenteringName = "recentred",
    rng: Any = None,
    keep_values: bool = False,
) -> NullGenerator:
    """A Rust-backed ``null(b)`` over a dict of Series (aligned on the intersection of their
    indexes), a DataFrame (columns = hypotheses) or a T×K array; hypotheses sorted by id.
    ``cfg.method`` picks stationary or fixed blocks; ``rng`` (default ``cfg.rng``, else
    ``"default"``) the random stream, ``cfg.run_key`` its seed (see :class:`RealityCheckConfig`).

    A float64 array (C or Fortran order) or a float64 DataFrame whose columns are already sorted
    is read without a copy. Above 256 MiB of data the engine keeps a reference to it and reads
    it in every batch instead of storing prefix sums (no memory beyond the input): do not modify
    it while the generator is in use (a batch that sees a change raises InvalidInputError)."""
    cfg = cfg or RealityCheckConfig()
    stream = _resolve_stream(cfg, rng)
    block_length = _block_length(cfg)
    ids, values = _family_matrix(series_by_hypothesis)
    engine = _core.RcEngine(values, block_length, keep_values)
    shares = variance_shares(values, cfg.method, cfg.avg_block_length, cfg.block_size)
    return NullGenerator(engine, ids, cfg, null_centering, stream, values.shape[0], shares)


def _p_or_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def romano_wolf_enabled() -> bool:
    """The analyzer's switch: env ``CRYPTO_ANALYZER_ENABLE_ROMANOWOLF`` is ``1``."""
    return os.environ.get(_RW_ENV, "").strip() == "1"


def _provenance(cfg: RealityCheckConfig, seed_derivation: str, extra: dict | None = None) -> dict:
    """The analyzer's seed provenance keys (c79684b): ``seed_root`` is the run key's root without
    fold (as the analyzer reports it), else ``cfg.seed_root``."""
    run_key = cfg.run_key if isinstance(cfg.run_key, str) and cfg.run_key else None
    if run_key is not None:
        seed_root_val: int | None = int(_core.seed_root(run_key, SALT_RC_NULL, None, SEED_ROOT_VERSION))
        salt: str | None = SALT_RC_NULL
    else:
        seed_root_val, salt = cfg.seed_root, None
    spec = {
        "method": cfg.method,
        "avg_block_length": cfg.avg_block_length,
        "block_size": cfg.block_size,
        "seed_derivation": seed_derivation,
        "seed_version": SEED_ROOT_VERSION,
    }
    spec.update(extra or {})
    return {
        "rc_summary_schema_version": RC_SUMMARY_SCHEMA_VERSION,
        "seed_root": seed_root_val,
        "seed_version": SEED_ROOT_VERSION,
        "component_salt": salt,
        "null_construction_spec": spec,
    }


def _add_romano_wolf(out: dict, cfg: RealityCheckConfig, obs: np.ndarray, have_null: bool) -> None:
    """The analyzer's Romano–Wolf keys: computed only with env ``CRYPTO_ANALYZER_ENABLE_ROMANOWOLF=1``,
    from a full null (not from cached maxima), and skipped with a reason when an observed
    statistic is NaN/inf. ``rw_adjusted_p_values`` is a Series in ``hypothesis_ids`` order."""
    enabled = romano_wolf_enabled()
    out["rw_enabled"] = enabled
    out["rw_adjusted_p_values"] = pd.Series(dtype=np.float64)
    if not enabled:
        return
    rw = out.get("romano_wolf_p_values")
    if not have_null or out["actual_n_sim"] == 0 or rw is None:
        out["rw_skipped_reason"] = "no null simulations produced; RW requires full null matrix"
        return
    if obs.size and not np.all(np.isfinite(obs)):
        out["rw_skipped_reason"] = "observed stats contain NaN/inf; RW requires finite values"
        return
    ids = out["hypothesis_ids"]
    out["rw_adjusted_p_values"] = pd.Series([float(rw[h]) for h in ids], index=list(ids), dtype=np.float64)
    out["rw_method"] = "romano_wolf_stepdown"
    out["rw_null_params"] = {
        "rc_method": out["rc_method"],
        "rc_seed": out["rc_seed"],
        "rc_avg_block_length": out["rc_avg_block_length"],
        "requested_n_sim": out["requested_n_sim"],
        "actual_n_sim": out["actual_n_sim"],
        "seed_root": out["seed_root"],
        "seed_version": out["seed_version"],
        "component_salt": out["component_salt"],
        "null_construction_spec": out["null_construction_spec"],
    }


def run_reality_check(
    observed_stats: Any,
    null_generator: Callable[[int], Any],
    cfg: RealityCheckConfig | None = None,
    cached_null_max: Any | None = None,
    *,
    return_null_matrix: bool = False,
    progress: Callable[[int, int], Any] | None = None,
) -> dict:
    """Reality Check of ``observed_stats`` (Series keyed by hypothesis id) against the null.

    Returns a dict with rc_p_value, observed_max, null_max_distribution, hypothesis_ids (sorted),
    rc_metric, rc_horizon, rc_seed, rc_method, rc_avg_block_length, romano_wolf_p_values (id ->
    adjusted p, always computed from a full null; ``None`` from cached maxima) and the analyzer's
    (c79684b) summary keys: rc_summary_schema_version, requested_n_sim, actual_n_sim, n_sim,
    seed_root, seed_version, component_salt, null_construction_spec, n_sim_shortfall_warning (when
    fewer simulations than requested were usable), rw_enabled, rw_adjusted_p_values (a Series in
    hypothesis_ids order when env ``CRYPTO_ANALYZER_ENABLE_ROMANOWOLF=1``, else empty), rw_method,
    rw_null_params, rw_skipped_reason. With our :class:`NullGenerator` the batch runs in Rust and
    the dict also has null_centering, rng, spa_p_values and spa_unstudentized_p_values. Any other
    callable is called once per simulation and its K values are used as the null statistics as
    they are; a call returning ``None`` or the wrong number of values is dropped (shortfall).
    ``cached_null_max`` (n_sim null maxima) is used for the RC p-value when it has n_sim values and
    Romano–Wolf is not enabled, as in the analyzer.
    """
    cfg = cfg or RealityCheckConfig()
    out = _run_reality_check(observed_stats, null_generator, cfg, cached_null_max, return_null_matrix, progress)
    derivation = (
        null_generator.seed_derivation
        if isinstance(null_generator, NullGenerator)
        else ("run_key" if cfg.run_key else "explicit")
    )
    extra = {}
    if "rng" in out:
        extra = {"rng": out["rng"], "null_centering": out["null_centering"]}
    gen_cfg = null_generator.cfg if isinstance(null_generator, NullGenerator) else cfg
    out.update(_provenance(gen_cfg, derivation, extra))
    _add_romano_wolf(out, cfg, out.pop("_obs"), out.pop("_have_null"))
    return out


def _run_reality_check(
    observed_stats: Any,
    null_generator: Callable[[int], Any],
    cfg: RealityCheckConfig,
    cached_null_max: Any | None,
    return_null_matrix: bool,
    progress: Callable[[int, int], Any] | None,
) -> dict:
    ids, obs = _stats_array(observed_stats)
    if isinstance(observed_stats, (pd.Series, Mapping)):
        # Hypotheses are sorted by id (docs/statistics.md); a null generator returns its K values in
        # that order, so labelled observations are put in the same order before pairing.
        order = sorted(range(len(ids)), key=ids.__getitem__)
        ids, obs = [ids[i] for i in order], obs[order]
    base = {
        "hypothesis_ids": ids,
        "rc_metric": cfg.metric,
        "rc_horizon": cfg.horizon,
        "rc_seed": cfg.seed,
        "rc_method": cfg.method,
        "rc_avg_block_length": cfg.avg_block_length,
        "_obs": obs,
        "_have_null": False,
    }
    if len(ids) == 0:
        return {
            **base,
            "rc_p_value": 1.0,
            "observed_max": None,
            "null_max_distribution": np.empty(0),
            "requested_n_sim": 0,
            "actual_n_sim": 0,
            "n_sim": 0,
            "romano_wolf_p_values": {},
        }
    n_sim = cfg.n_sim
    if isinstance(n_sim, bool) or not isinstance(n_sim, (int, np.integer)) or n_sim <= 0:
        raise InvalidInputError(f"n_sim must be a positive integer (got {n_sim!r})")
    n_sim = int(n_sim)
    base["requested_n_sim"] = n_sim
    if cached_null_max is not None:
        null_max = np.ascontiguousarray(np.asarray(cached_null_max, dtype=np.float64).reshape(-1))
        if null_max.size == n_sim and not romano_wolf_enabled():
            out = _core.rc_pvalues_from_null_matrix(
                np.array([np.nanmax(obs) if np.any(~np.isnan(obs)) else np.nan]), null_max.reshape(-1, 1)
            )
            return {
                **base,
                "rc_p_value": float(out["rc_p_value"]),
                "observed_max": _p_or_none(float(out["observed_max"])),
                "null_max_distribution": null_max,
                "actual_n_sim": int(null_max.size),
                "n_sim": int(null_max.size),
                "romano_wolf_p_values": None,
            }
    if isinstance(null_generator, NullGenerator):
        pos = {h: i for i, h in enumerate(null_generator.hypothesis_ids)}
        missing = [h for h in ids if h not in pos]
        if missing or len(ids) != len(pos):
            raise InvalidInputError(
                "observed_stats and the null generator cover different hypotheses"
                + (f" (e.g. {missing[0]!r})" if missing else "")
            )
        compare = np.full(len(pos), np.nan)
        for h, v in zip(ids, obs):
            compare[pos[h]] = v
        r = null_generator.run(n_sim, compare_to=compare, return_null_matrix=return_null_matrix, progress=progress)
        gen_ids = null_generator.hypothesis_ids
        gcfg = null_generator.cfg  # the null was drawn with the generator's bootstrap settings
        out = {
            **base,
            "rc_seed": gcfg.seed,
            "rc_method": gcfg.method,
            "rc_avg_block_length": gcfg.avg_block_length,
            "hypothesis_ids": gen_ids,
            "_obs": compare,
            "_have_null": True,
            "rc_p_value": float(r["rc_p_value"]),
            "observed_max": _p_or_none(float(r["observed_max"])),
            "null_max_distribution": r["null_max"],
            "actual_n_sim": int(r["n_sim"]),
            "n_sim": int(r["n_sim"]),
            "romano_wolf_p_values": dict(zip(gen_ids, map(float, r["romano_wolf"]))),
            "spa_p_values": dict(r["spa_studentized"]),
            "spa_unstudentized_p_values": dict(r["spa_unstudentized"]),
            "null_centering": r["null_centering"],
            "rc_null_scale": gcfg.rc_null_scale,
            "rc_null_scale_factor": float(r["null_scale"]),
            "rng": null_generator.rng,
        }
        if return_null_matrix:
            out["null_matrix"] = r["null_matrix"]
        return out
    rows = []
    dropped = 0
    for b in range(n_sim):
        v = null_generator(b)
        if v is None:
            dropped += 1
            continue
        if isinstance(v, pd.Series):
            v = v.reindex(ids).to_numpy(dtype=np.float64, na_value=np.nan)
        row = np.asarray(v, dtype=np.float64).reshape(-1)
        if row.size != len(ids):
            dropped += 1  # the analyzer drops a row of the wrong length and reports the shortfall
            continue
        rows.append(row)
    actual = len(rows)
    out = {**base, "actual_n_sim": actual, "n_sim": actual, "_have_null": actual > 0}
    if dropped:
        out["n_sim_shortfall_warning"] = (
            f"actual_n_sim={actual} < requested_n_sim={n_sim} ({dropped} null rows dropped due to length mismatch)"
        )
    if actual == 0:
        out.update(
            {
                "rc_p_value": 1.0,
                "observed_max": _p_or_none(float(np.nanmax(obs))) if np.any(~np.isnan(obs)) else None,
                "null_max_distribution": np.empty(0),
                "romano_wolf_p_values": None,
            }
        )
        return out
    matrix = np.ascontiguousarray(np.vstack(rows))
    r = _core.rc_pvalues_from_null_matrix(np.ascontiguousarray(obs), matrix)
    out.update(
        {
            "rc_p_value": float(r["rc_p_value"]),
            "observed_max": _p_or_none(float(r["observed_max"])),
            "null_max_distribution": r["null_max"],
            "romano_wolf_p_values": dict(zip(ids, map(float, r["romano_wolf"]))),
        }
    )
    if return_null_matrix:
        out["null_matrix"] = matrix
    return out


# ---------------------------------------------------------------------------------------------
# One call for the CLI / UI


# Where the default tests' measured size at nominal 5 % leaves [3.5 %, 6.5 %] (docs/size_study.md):
# the rule and its thresholds live in the engine (src/reality_check/size.rs); these are its values.
SIZE_BAND = (0.035, 0.065)
FEW_BLOCKS = int(_core.RC_FEW_BLOCKS)
VARIANCE_SHARE_THRESHOLD = float(_core.RC_SHARE_THRESHOLD)


def size_warning(
    n_periods: int, n_hypotheses: int, method: str, block_length: float, variance_share: float | None = None
) -> str | None:
    """A warning naming the measured size when a configuration is outside the designs where the
    default tests hold their size (docs/size_study.md), else None: fewer than ``FEW_BLOCKS``
    blocks per series (T / L), where White's unscaled RC and Romano–Wolf reject more often than
    the nominal level and the default scaled ones sit at the band's edge; and a ``variance_share``
    (see :func:`bootstrap_variance_share`) below ``VARIANCE_SHARE_THRESHOLD``, where serial
    dependence outlasts the blocks: every unscaled test over-rejects, and the default scale's
    correction is measured only down to a share of about 0.82."""
    return _core.rc_size_warning(
        int(n_periods), int(n_hypotheses), method, float(block_length), float(block_length), variance_share
    )


def bootstrap_variance_share(values: Any, cfg: RealityCheckConfig | None = None) -> float | None:
    """The share of the series' long-run variance (the variance of their means, times T) that
    ``cfg``'s block bootstrap reproduces: the median over the first ``_core.RC_SHARE_COLUMNS``
    columns of a T×K array (a flat-top estimate with Politis–White's bandwidth against the
    bootstrap's lag weights; NaN skipped). 1 when the blocks keep all the dependence the data
    shows; well below 1 when it outlasts them. None when no column gives one."""
    cfg = cfg or RealityCheckConfig()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise InvalidInputError(f"values must be a T x K array (got shape {arr.shape})")
    return _core.rc_median_share(variance_shares(arr, cfg.method, cfg.avg_block_length, cfg.block_size))


@dataclass
class FamilyRealityCheckResult:
    """Everything a Reality Check of one family produced. ``to_dict()`` is JSON-able and usable
    as an ``rc_summary`` (key ``rc_p_value``)."""

    hypothesis_ids: list
    observed_stats: np.ndarray
    observed_max: float
    rc_p_value: float
    spa_p_values: dict
    spa_unstudentized_p_values: dict
    romano_wolf_p_values: dict
    null_max_distribution: np.ndarray
    n_sim: int
    config: RealityCheckConfig
    null_centering: str
    rng: str
    cache_key: str | None
    cache_hit: bool
    elapsed_s: float
    n_periods: int = 0
    omega: np.ndarray | None = None
    null_matrix: np.ndarray | None = field(default=None, repr=False)
    seed_derivation: str = "explicit"
    variance_share: float | None = None
    null_scale_factor: float = 1.0

    @property
    def size_warning(self) -> str | None:
        """The measured size when this configuration or its data is outside the calibrated
        designs (:func:`size_warning`), else None."""
        cfg = self.config
        return size_warning(
            int(self.n_periods), len(self.hypothesis_ids), cfg.method, _block_length(cfg), self.variance_share
        )

    def to_dict(self) -> dict:
        def num(x: Any) -> float | None:
            x = float(x)
            return None if math.isnan(x) else x

        cfg = self.config
        return {
            "rc_p_value": num(self.rc_p_value),
            "observed_max": num(self.observed_max),
            "hypothesis_ids": list(self.hypothesis_ids),
            "observed_stats": {h: num(v) for h, v in zip(self.hypothesis_ids, self.observed_stats)},
            "spa_p_values": {k: num(v) for k, v in self.spa_p_values.items()},
            "spa_unstudentized_p_values": {k: num(v) for k, v in self.spa_unstudentized_p_values.items()},
            "romano_wolf_p_values": {k: num(v) for k, v in self.romano_wolf_p_values.items()},
            "n_sim": int(self.n_sim),
            "n_periods": int(self.n_periods),
            "rc_metric": cfg.metric,
            "rc_horizon": cfg.horizon,
            "rc_seed": cfg.seed,
            "rc_method": cfg.method,
            "rc_avg_block_length": cfg.avg_block_length,
            "rc_block_size": cfg.block_size,
            "null_centering": self.null_centering,
            "rc_null_scale": cfg.rc_null_scale,
            "rc_null_scale_factor": float(self.null_scale_factor),
            "rng": self.rng,
            "cache_key": self.cache_key,
            "cache_hit": bool(self.cache_hit),
            "elapsed_s": float(self.elapsed_s),
            "size_warning": self.size_warning,
            "bootstrap_variance_share": self.variance_share,
            **self.analyzer_summary(),
        }

    def analyzer_summary(self) -> dict:
        """The analyzer's (c79684b) RC summary keys, JSON-able: what its eligibility gate reads."""
        cfg = self.config
        out: dict = {
            "hypothesis_ids": list(self.hypothesis_ids),
            "requested_n_sim": int(self.n_sim),
            "actual_n_sim": int(self.n_sim),
            "rc_method": cfg.method,
            "rc_seed": cfg.seed,
            "rc_avg_block_length": cfg.avg_block_length,
            **_provenance(cfg, self.seed_derivation, {"rng": self.rng, "null_centering": self.null_centering}),
        }
        obs = np.asarray(self.observed_stats, dtype=np.float64)
        res = out | {"romano_wolf_p_values": self.romano_wolf_p_values}
        _add_romano_wolf(res, cfg, obs, True)
        res.pop("romano_wolf_p_values")
        series = res.pop("rw_adjusted_p_values")
        res["rw_adjusted_p_values"] = {str(k): float(v) for k, v in series.items()}
        return res


def run_family_reality_check(
    series: Any,
    cfg: RealityCheckConfig | None = None,
    *,
    family_id: str | None = None,
    dataset_id: str | None = None,
    git_commit: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    no_cache: bool = False,
    null_centering: NullCenteringName = "recentred",
    rng: Any = None,
    progress: Callable[[int, int], Any] | None = None,
    return_null_matrix: bool = False,
    client: Any = None,
    blocks: int | None = None,
) -> FamilyRealityCheckResult:
    """Reality Check, SPA and Romano–Wolf of a whole family in one parallel Rust batch.

    ``series``: dict of pd.Series keyed by hypothesis id (aligned on the intersection of their
    indexes), a DataFrame (columns = hypotheses) or a T×K array. The cache is used when
    ``cache_dir`` and ``family_id`` are given and caching is not disabled (``no_cache`` or env
    ``CRYPTO_ANALYZER_NO_CACHE=1``); a corrupt or missing artifact is recomputed; a cache dir that
    cannot be written gives a ``RuntimeWarning`` and the computed result. ``rng`` (default
    ``cfg.rng``) and ``cfg.run_key`` choose the stream (see :class:`RealityCheckConfig`); a null drawn
    from a caller's Generator is never cached (it depends on the generator's state).

    ``client``: a ``dask.distributed.Client``: the hypotheses are split into ``blocks`` contiguous
    column blocks (default: one per worker), each run as a task, and combined here into the same
    result bit for bit (docs/distributed.md; needs the ``distributed`` extra). ``series`` may then
    also be a Parquet file or folder (each task reads only its columns) or a dask DataFrame.
    ``return_null_matrix`` is not available then.
    """
    t0 = time.perf_counter()
    cfg = cfg or RealityCheckConfig()
    stream = _resolve_stream(cfg, rng)
    gen: Any
    if client is not None:
        from .distributed import DistributedFamily

        gen = DistributedFamily(series, cfg, client, stream, null_centering, _block_length(cfg), blocks)
    else:
        if blocks is not None:
            raise InvalidInputError("blocks is only used with client= (a distributed run)")
        gen = make_null_generator_stationary(series, cfg, null_centering=null_centering, rng=stream)
    rng = stream.rng
    ids = gen.hypothesis_ids
    k = len(ids)
    n_sim = cfg.n_sim
    if isinstance(n_sim, bool) or not isinstance(n_sim, (int, np.integer)) or n_sim <= 0:
        raise InvalidInputError(f"n_sim must be a positive integer (got {n_sim!r})")
    n_sim = int(n_sim)
    cache_key = None
    cacheable = family_id is not None and stream.generator is None and not rc_cache.is_cache_disabled(no_cache)
    cdir = cache_dir if cacheable else None
    if cdir is not None:
        # The stream's own seed (the run key's root when there is one) and version name the null.
        cache_key = rc_cache.get_rc_cache_key(
            family_id,
            dataset_id,
            git_commit,
            cfg.metric,
            cfg.horizon,
            n_sim,
            stream.seed,
            cfg.method,
            cfg.avg_block_length if cfg.method == "stationary" else cfg.block_size,
            null_centering=null_centering,
            rng=rng,
            seeded_by_base=stream.base_state is not None,
            null_scale=cfg.rc_null_scale,
        )
        if not return_null_matrix:
            null_max = rc_cache.load_cached_null_max(cdir, cache_key)
            summary = rc_cache.load_summary(cdir, cache_key, k, n_sim)
            if null_max is not None and null_max.size == n_sim and summary is not None:
                observed = gen.observed_values()
                obs_max = float(np.nanmax(observed)) if np.any(~np.isnan(observed)) else float("nan")
                rc_p = (
                    reality_check_pvalue(np.array([obs_max]), null_max.reshape(-1, 1))
                    if not math.isnan(obs_max)
                    else 1.0
                )
                return FamilyRealityCheckResult(
                    hypothesis_ids=ids,
                    observed_stats=observed,
                    observed_max=obs_max,
                    rc_p_value=rc_p,
                    spa_p_values=dict(summary["spa_studentized"]),
                    spa_unstudentized_p_values=dict(summary["spa_unstudentized"]),
                    romano_wolf_p_values=dict(zip(ids, map(float, summary["romano_wolf"]))),
                    null_max_distribution=null_max,
                    n_sim=n_sim,
                    config=cfg,
                    null_centering=null_centering,
                    rng=rng,
                    cache_key=cache_key,
                    cache_hit=True,
                    elapsed_s=time.perf_counter() - t0,
                    n_periods=gen.n_periods,
                    omega=gen.omega,
                    seed_derivation=stream.seed_derivation,
                    variance_share=gen.variance_share,
                    null_scale_factor=_core.rc_null_scale_factor(cfg.rc_null_scale, null_centering, gen.variance_share),
                )
    r = gen.run(n_sim, return_null_matrix=return_null_matrix, progress=progress)
    if cdir is not None and cache_key is not None:
        try:
            rc_cache.save_cached_null_max(cdir, cache_key, r["null_max"])
            rc_cache.save_summary(cdir, cache_key, r)
        except OSError as exc:
            warnings.warn(f"Reality Check cache not written ({exc})", RuntimeWarning, stacklevel=2)
    return FamilyRealityCheckResult(
        hypothesis_ids=ids,
        observed_stats=r["observed"],
        observed_max=float(r["observed_max"]),
        rc_p_value=float(r["rc_p_value"]),
        spa_p_values=dict(r["spa_studentized"]),
        spa_unstudentized_p_values=dict(r["spa_unstudentized"]),
        romano_wolf_p_values=dict(zip(ids, map(float, r["romano_wolf"]))),
        null_max_distribution=r["null_max"],
        n_sim=int(r["n_sim"]),
        config=cfg,
        null_centering=r["null_centering"],
        rng=rng,
        cache_key=cache_key,
        cache_hit=False,
        elapsed_s=time.perf_counter() - t0,
        n_periods=gen.n_periods,
        omega=r["omega"],
        null_matrix=r["null_matrix"],
        seed_derivation=stream.seed_derivation,
        variance_share=gen.variance_share,
        null_scale_factor=float(r["null_scale"]),
    )
