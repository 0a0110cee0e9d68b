"""Dispatch of the store's ``_core`` calls to the SQLite or the PostgreSQL backend.

``store_sqlite``, ``migrations_phase3`` and ``service`` call ``_core.store_<name>(target, ...)``
(``_core.service_<name>``) with what ``_conn.resolve_db_path`` returned. Through :data:`core`
such a call goes to ``_core.pg_<that name>`` when the target is a ``postgresql://`` / ``postgres://`` URL, and to
the SQLite function otherwise. A function that has no PostgreSQL counterpart yet refuses a URL
with a clear error (nothing written) instead of treating it as a file name.
"""

from __future__ import annotations

from typing import Any

from . import _core
from ._conn import is_postgres_url
from .exceptions import InvalidInputError

#: Prefixes of the ``_core`` functions whose first argument is the database.
_PREFIXES = ("store_", "service_")

#: ``store_*`` functions whose first argument is not a database.
_NO_TARGET = frozenset({"store_migrations", "store_canonical_json", "store_json_loads", "store_candidate_id"})

#: Functions that take either backend themselves (the core picks it from the target).
_BOTH_BACKENDS = frozenset({"service_evaluate_and_record"})


class _Dispatch:
    """Attribute access like the ``_core`` module, with backend dispatch on the first argument."""

    def __getattr__(self, name: str) -> Any:
        dispatched = name.startswith(_PREFIXES) and name not in _NO_TARGET and name not in _BOTH_BACKENDS
        pg = getattr(_core, "pg_" + name, None) if dispatched else None
        attr = getattr(_core, name) if pg is None else getattr(_core, name, None)
        if not dispatched:
            return attr
        what = name.split("_", 1)[1]

        def call(target: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(target, str) and is_postgres_url(target):
                if pg is None:
                    raise InvalidInputError(f"{what} is not available on PostgreSQL yet")
                return pg(target, *args, **kwargs)
            if attr is None:
                raise InvalidInputError(f"{what} is only available on PostgreSQL in this build")
            return attr(target, *args, **kwargs)

        call.__name__ = name
        setattr(self, name, call)  # cache: later lookups skip __getattr__
        return call


#: Drop-in for the ``_core`` module in the store modules.
core: Any = _Dispatch()


def redact(target: str) -> str:
    """The target with any password replaced by ``***`` (paths are returned unchanged)."""
    if is_postgres_url(target):
        try:
            return str(_core.pg_redact_url(target))
        except ValueError:
            return "postgresql://(unparsable URL)"
    return target


__all__ = ["core", "redact"]
