"""Type stubs for the Rust extension ``crypto_analyzer_promotion._core``.

Each part of the engine keeps its stubs in its own section below.
"""

from typing import Any, Callable, Optional, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

# ---------------------------------------------------------------------------
# section: store and migrations (issue 3)
# ---------------------------------------------------------------------------

PROMOTION_TABLES_REQUIRED_MSG: str
VALID_STATUSES: list[str]
BUSY_TIMEOUT_MS: int

def store_promotion_tables_exist(db_path: str) -> bool: ...
def store_require_promotion_tables(db_path: str) -> None: ...
def store_create_candidate(
    db_path: str,
    *,
    dataset_id: str,
    run_id: str,
    signal_name: str,
    horizon: Any,
    config_hash: str,
    git_commit: str,
    family_id: Optional[str] = None,
    estimator: Optional[str] = None,
    notes: Optional[str] = None,
    evidence: Any = None,
    status: Optional[str] = None,
    candidate_id: Optional[str] = None,
    evidence_base_path: Optional[str] = None,
) -> str: ...
def store_create_candidates_many(
    db_path: str, rows: Sequence[dict[str, Any]], evidence_base_path: Optional[str] = None
) -> list[str]: ...
def store_update_status(db_path: str, candidate_id: str, status: str, reason: Optional[str] = None) -> int: ...
def store_record_event(db_path: str, candidate_id: str, event_type: str, payload: Any = None) -> int: ...
def store_list_candidates(
    db_path: str,
    status: Optional[str] = None,
    dataset_id: Optional[str] = None,
    signal_name: Optional[str] = None,
    limit: Optional[int] = ...,  # 100
) -> list[dict[str, Any]]: ...
def store_get_candidate(db_path: str, candidate_id: str) -> Optional[dict[str, Any]]: ...
def store_get_events(db_path: str, candidate_id: str) -> list[dict[str, Any]]: ...
def store_forget_connection(db_path: str) -> None: ...
def store_canonical_json(obj: Any) -> str: ...
def store_json_loads(text: str) -> Any: ...
def store_candidate_id(run_id: str, signal_name: str, horizon: int, created_at_utc: str) -> str: ...
def store_migrations() -> list[tuple[int, str]]: ...
def store_run_migrations(
    db_path: str, git_commit: Optional[str] = None, extra: Optional[list[tuple[int, str, str]]] = None
) -> list[int]: ...
def store_apply_migration_sql(db_path: str, version: int) -> None: ...
def store_schema_migrations_exists(db_path: str) -> bool: ...
def store_applied_versions(db_path: str) -> list[int]: ...
def store_phase3_tables_exist(db_path: str) -> bool: ...

# end section: store

# ---------------------------------------------------------------------------
# section: gating, evidence, service (issue 4)
# ---------------------------------------------------------------------------

# end section: gating

# ---------------------------------------------------------------------------
# section: reality check and cache (issue 5)
# ---------------------------------------------------------------------------

# end section: rc
