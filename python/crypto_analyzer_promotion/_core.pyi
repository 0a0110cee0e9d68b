"""Type stubs for the Rust extension ``crypto_analyzer_promotion._core``.

Each part of the engine keeps its stubs in its own section below.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, final

import numpy as np
import numpy.typing as npt

from crypto_analyzer_promotion._rc_types import (
    KernelName,
    MethodName,
    NullCenteringName,
    NullScaleName,
    PrefixModeName,
    RngName,
)

__version__: str

# ---------------------------------------------------------------------------
# section: store and migrations (every backend: the first argument, target, is a SQLite path
# or a postgresql:// URL; the store picks the backend from it)
# ---------------------------------------------------------------------------

PROMOTION_TABLES_REQUIRED_MSG: str
VALID_STATUSES: list[str]
BUSY_TIMEOUT_MS: int

def store_promotion_tables_exist(target: str) -> bool: ...
def store_require_promotion_tables(target: str) -> None: ...
def store_create_candidate(
    target: str,
    *,
    dataset_id: str,
    run_id: str,
    signal_name: str,
    horizon: Any,
    config_hash: str,
    git_commit: str,
    family_id: str | None = None,
    estimator: str | None = None,
    notes: str | None = None,
    evidence: Any = None,
    status: str | None = None,
    candidate_id: str | None = None,
    evidence_base_path: str | None = None,
    eligibility_report_id: str | None = None,
) -> str: ...
def store_create_candidates_many(
    target: str, rows: Sequence[dict[str, Any]], evidence_base_path: str | None = None
) -> list[str]: ...
def store_update_status(target: str, candidate_id: str, status: str, reason: str | None = None) -> int: ...
def store_record_event(target: str, candidate_id: str, event_type: str, payload: Any = None) -> int: ...
def store_list_candidates(
    target: str,
    status: str | None = None,
    dataset_id: str | None = None,
    signal_name: str | None = None,
    limit: int | None = ...,  # 100
) -> list[dict[str, Any]]: ...
def store_get_candidate(target: str, candidate_id: str) -> dict[str, Any] | None: ...
def store_get_events(target: str, candidate_id: str) -> list[dict[str, Any]]: ...
def store_forget_connection(target: str) -> None: ...
def store_redact(target: str) -> str: ...
def store_insert_eligibility_report(
    target: str,
    eligibility_report_id: str,
    candidate_id: str,
    level: str,
    passed: Any,
    blockers_json: Any,
    warnings_json: Any,
    computed_at_utc: str,
    run_key: Any = None,
    run_instance_id: Any = None,
    dataset_id_v2: Any = None,
    engine_version: Any = None,
    config_version: Any = None,
) -> None: ...
def store_promote(
    target: str, candidate_id: str, level: str, eligibility_report_id: str, reason: str | None = None
) -> int: ...
def store_get_eligibility_reports(target: str, candidate_id: str) -> list[dict[str, Any]]: ...
def store_request_acceptance(
    target: str, candidate_id: str, eligibility_report_id: str, reason: str | None = None
) -> int: ...
def store_approve_acceptance(target: str, candidate_id: str, reason: str | None = None) -> int: ...
def store_reject_acceptance(target: str, candidate_id: str, reason: str) -> int: ...
def store_separation_of_duties(target: str) -> bool: ...

PROMOTE_WITH_REPORT_MSG: str
ELIGIBILITY_TABLE_REQUIRED_MSG: str

def store_connection_settings(target: str) -> dict[str, Any]: ...

SQLITE_ENTRY_POINT: str
SQLITE_SYNCHRONOUS_ENV: str

def sqlite_library() -> dict[str, Any]: ...
def sqlite_mark_unavailable(reason: str) -> None: ...
def store_canonical_json(obj: Any) -> str: ...
def store_json_loads(text: str) -> Any: ...
def store_candidate_id(run_id: str, signal_name: str, horizon: int, created_at_utc: str) -> str: ...
def store_migrations() -> list[tuple[int, str]]: ...
def store_setup_roles(target: str) -> None: ...
def store_run_migrations(
    target: str, git_commit: str | None = None, extra: list[tuple[int, str, str]] | None = None
) -> list[int]: ...
def store_apply_migration_sql(target: str, version: int) -> None: ...
def store_schema_migrations_exists(target: str) -> bool: ...
def store_applied_versions(target: str) -> list[int]: ...
def store_phase3_tables_exist(target: str) -> bool: ...

# end section: store

# ---------------------------------------------------------------------------
# section: gating, evidence, service
# ---------------------------------------------------------------------------

MIN_REGIMES_WITH_SAMPLES: int

#: The four statuses of a candidate (``STATUSES`` at run time, in this order).
Status: TypeAlias = Literal["exploratory", "candidate", "accepted", "rejected"]
#: The levels an eligibility report may have (``ELIGIBILITY_LEVELS`` at run time): not "rejected".
EligibilityLevel: TypeAlias = Literal["exploratory", "candidate", "accepted"]
STATUSES: list[Status]
ELIGIBILITY_LEVELS: list[EligibilityLevel]
#: A validation bundle's fields and execution evidence's fields, in the analyzer's order.
VALIDATION_BUNDLE_FIELDS: list[str]
EXECUTION_EVIDENCE_FIELDS: list[str]

def status_evaluation_target(current: str | None = None) -> Status: ...
def gating_evaluate_candidate(
    bundle: str | dict[str, Any],
    thresholds: dict[str, Any],
    regime_summary: str | dict[str, Any] | None = None,
    rc_summary: dict[str, Any] | None = None,
    execution_evidence: dict[str, Any] | None = None,
    target_status: str = "exploratory",
    allow_missing_execution_evidence: bool = False,
    execution_evidence_base_path: str | None = None,
) -> dict[str, Any]: ...
def gating_evaluate_eligibility(
    bundle: str | dict[str, Any], level: str, rc_summary: dict[str, Any] | None = None
) -> dict[str, Any]: ...
def _json_dumps_str_list(items: Sequence[str]) -> str: ...

VALIDATION_BUNDLE_SCHEMA_VERSION: int
RC_SUMMARY_SCHEMA_VERSION: int
SEED_DERIVATION_SCHEMA_VERSION: int
FOLD_CAUSALITY_ATTESTATION_SCHEMA_VERSION: int

def validation_bundle_from_json(text: str) -> dict[str, Any]: ...
def validation_bundle_normalize(fields: dict[str, Any]) -> dict[str, Any]: ...
def validation_bundle_to_json(fields: dict[str, Any]) -> str: ...
def execution_evidence_validate_required(fields: dict[str, Any], base_path: str | None = None) -> list[str]: ...
def execution_evidence_to_dict(fields: dict[str, Any]) -> dict[str, Any]: ...
def execution_evidence_from_dict(d: dict[str, Any]) -> dict[str, Any]: ...
def _python_float_repr(x: float) -> str: ...
def _python_format_4f(x: float) -> str: ...
def service_evaluate_and_record(
    db_path: str,
    candidate_id: str,
    thresholds: dict[str, Any],
    bundle: str | dict[str, Any] | None = None,
    regime_summary: str | dict[str, Any] | None = None,
    rc_summary: dict[str, Any] | None = None,
    evidence_base_path: str | None = None,
    target_status: str = "exploratory",
    allow_missing_execution_evidence: bool = False,
    execution_evidence: dict[str, Any] | None = None,
    execution_evidence_resolved: bool = False,
    expected_status: str | None = None,
) -> dict[str, Any]: ...
def service_resolve_evidence(
    evidence: dict[str, Any], evidence_base_path: str | None = None, bundle: str | dict[str, Any] | None = None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]: ...
def service_evidence_files(evidence: dict[str, Any], evidence_base_path: str | None = None) -> list[dict[str, Any]]: ...

# end section: gating

# ---------------------------------------------------------------------------
# section: reality check and cache
# ---------------------------------------------------------------------------

@final
class RcEngine:
    """A T×K family prepared once (observed means, Hansen's ω, centred prefix sums stored, or
    streamed from ``values`` read in place: ``prefix`` "auto" | "stored" | "streamed")."""

    def __new__(
        cls,
        values: npt.NDArray[np.float64],
        omega_block_length: float,
        keep_values: bool = False,
        prefix: PrefixModeName = "auto",
    ) -> RcEngine: ...
    @property
    def streamed(self) -> bool: ...
    @property
    def t(self) -> int: ...
    @property
    def k(self) -> int: ...
    @property
    def observed(self) -> npt.NDArray[np.float64]: ...
    @property
    def omega(self) -> npt.NDArray[np.float64]: ...
    @property
    def n_obs(self) -> npt.NDArray[np.uint64]: ...
    def null_stats(
        self,
        b: int,
        *,
        null_centering: NullCenteringName,
        method: MethodName,
        avg_block_length: float,
        block_size: float,
        seed: int,
        rng: RngName,
        base_state: tuple[int, int] | None = None,
    ) -> npt.NDArray[np.float64]: ...
    def run(
        self,
        *,
        method: MethodName,
        avg_block_length: float,
        block_size: float,
        seed: int,
        rng: RngName,
        null_centering: NullCenteringName,
        n_sim: int,
        return_null_matrix: bool = False,
        compare_to: npt.NDArray[np.float64] | None = None,
        indices: npt.NDArray[np.int64] | None = None,
        kernel: KernelName = "prefix",
        progress: Callable[[int, int], Any] | None = None,
        base_state: tuple[int, int] | None = None,
        null_scale: NullScaleName = "none",
        variance_share: float | None = None,
    ) -> dict[str, Any]: ...

def rc_bootstrap_indices(
    t: int,
    b: int,
    *,
    method: MethodName,
    avg_block_length: float,
    block_size: float,
    seed: int,
    rng: RngName,
    base_state: tuple[int, int] | None = None,
) -> npt.NDArray[np.int64]: ...
def rc_pvalues_from_null_matrix(
    observed: npt.NDArray[np.float64], null_matrix: npt.NDArray[np.float64]
) -> dict[str, Any]: ...
def rc_threads() -> int: ...
def rc_variance_shares(
    values: npt.NDArray[np.float64], method: str, avg_block_length: float, block_size: float
) -> list[float | None]: ...
def rc_median_share(shares: Sequence[float | None]) -> float | None: ...
def rc_null_scale_factor(
    null_scale: NullScaleName, null_centering: NullCenteringName, variance_share: float | None = None
) -> float: ...
def rc_size_warning(
    n_periods: int,
    n_hypotheses: int,
    method: str,
    avg_block_length: float,
    block_size: float,
    variance_share: float | None = None,
) -> str | None: ...

RC_SHARE_COLUMNS: int
RC_SHARE_THRESHOLD: float
RC_FEW_BLOCKS: float

def rc_run_block(
    engine: RcEngine,
    *,
    method: MethodName,
    avg_block_length: float,
    block_size: float,
    seed: int,
    rng: RngName,
    null_centering: NullCenteringName,
    n_sim: int,
    kernel: KernelName = "prefix",
    base_state: tuple[int, int] | None = None,
    null_scale: NullScaleName = "none",
    variance_share: float | None = None,
) -> dict[str, Any]: ...
def rc_combine_blocks(
    parts: list[dict[str, Any]],
    null_centering: NullCenteringName,
    null_scale: NullScaleName = "none",
    variance_share: float | None = None,
) -> dict[str, Any]: ...
def rc_cache_algorithm_version(
    null_centering: NullCenteringName = "recentred",
    rng: RngName = "default",
    seeded_by_base: bool = False,
    null_scale: NullScaleName = "none",
) -> str: ...
def rc_cache_key(version: str, fields: Sequence[str]) -> str: ...
def rc_cache_is_disabled(no_cache_flag: bool = False) -> bool: ...
def rc_cache_save(cache_dir: str, key: str, values: npt.NDArray[np.float64]) -> Path: ...
def rc_cache_load(cache_dir: str, key: str) -> tuple[npt.NDArray[np.float64] | None, str | None]: ...
def rc_cache_manifest(cache_dir: str) -> dict[str, dict[str, str]]: ...
def rc_cache_verify(cache_dir: str, key: str) -> str | None: ...
def rc_cache_save_summary(cache_dir: str, key: str, result: dict[str, Any]) -> Path: ...
def rc_cache_load_summary(cache_dir: str, key: str, k: int, n_sim: int) -> dict[str, Any] | None: ...

# numpy-compatible PCG64 stream (rng="numpy_pcg64") and the analyzer's run-key seeding
def seed_root(run_key: str, salt: str, fold_id: str | None = None, version: int = 1) -> int: ...
def numpy_pcg64_state(seed: int) -> tuple[int, int]: ...
def numpy_pcg64_draws(
    state: int,
    inc: int,
    has_uint32: bool,
    uinteger: int,
    kind: str,
    n: int,
    p: float = 1.0,
    bound: int = 1,
) -> tuple[list[Any], tuple[int, int, bool, int]]: ...
def numpy_pcg64_base_seeds(state: int, inc: int, n: int) -> list[int]: ...
def numpy_zig_tables() -> tuple[list[int], list[float]]: ...

# end section: rc

# ---------------------------------------------------------------------------
# section: reliability test hooks — hidden, for tests only
# ---------------------------------------------------------------------------

def _debug_raise(kind: str) -> None: ...
def _debug_kinds() -> list[str]: ...

# end section: reliability
