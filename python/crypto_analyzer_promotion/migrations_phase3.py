"""Phase 3 migrations (regime, promotion and sweep tables), applied by the Rust runner.

Drop-in for ``crypto_analyzer.db.migrations_phase3``. The SQL lives in the package's
``migrations/`` folder and is embedded in the extension. Each pending migration is applied in
its own transaction after the database file was copied aside (restored if the migration
fails), and recorded in ``schema_migrations_phase3``. The append-only triggers of
``promotion_events`` are ensured on every run, also for databases migrated by older code.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from . import _core
from ._conn import ConnLike, resolve_db_path


def _make_apply(version: int, name: str) -> Callable[[ConnLike], None]:
    def apply(conn: ConnLike) -> None:
        """Execute this migration's SQL (idempotent; not recorded: run_migrations_phase3 records)."""
        _core.store_apply_migration_sql(resolve_db_path(conn), version)

    apply.__name__ = f"apply_{name}"
    apply.__qualname__ = apply.__name__
    return apply


#: ``(version, name, apply)`` for versions 1..7, in order; ``apply(conn)`` runs that SQL.
MIGRATIONS_PHASE3: list[tuple[int, str, Callable[[ConnLike], None]]] = [
    (version, name, _make_apply(version, name)) for version, name in _core.store_migrations()
]


def run_migrations_phase3(conn: ConnLike | None, db_path: str | os.PathLike[str] | None = None) -> list[int]:
    """Apply every pending Phase 3 migration to the database of ``conn`` (or ``db_path``).

    Idempotent. Returns the versions applied by this call (empty when up to date).
    """
    path = resolve_db_path(conn if conn is not None else db_path)  # type: ignore[arg-type]
    applied = list(_core.store_run_migrations(path))
    return applied


def setup_registry_roles(conn: ConnLike) -> None:
    """Create the group roles ``reader``, ``researcher`` and ``approver`` of a PostgreSQL registry
    (when missing) and grant each what it may do (docs/postgresql.md). Idempotent; run after the
    migrations, as a role that may create roles and owns the registry's tables. A SQLite path
    raises ``InvalidInputError``."""
    _core.store_setup_roles(resolve_db_path(conn))


def _schema_migrations_phase3_exists(conn: ConnLike) -> bool:
    return bool(_core.store_schema_migrations_exists(resolve_db_path(conn)))


def get_applied_versions_phase3(conn: ConnLike) -> list[int]:
    """Applied versions, ascending."""
    return list(_core.store_applied_versions(resolve_db_path(conn)))


def _max_applied_version_phase3(conn: ConnLike) -> int:
    """Highest applied version; 0 when nothing is applied."""
    versions = get_applied_versions_phase3(conn)
    return max(versions) if versions else 0


def phase3_tables_exist(conn: ConnLike) -> bool:
    """True when every Phase 3 table (regime, promotion, sweep) exists."""
    return bool(_core.store_phase3_tables_exist(resolve_db_path(conn)))


__all__ = [
    "MIGRATIONS_PHASE3",
    "run_migrations_phase3",
    "get_applied_versions_phase3",
    "phase3_tables_exist",
    "setup_registry_roles",
    "_schema_migrations_phase3_exists",
    "_max_applied_version_phase3",
]
