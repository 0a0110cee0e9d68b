"""Switch an analyzer checkout to this package, and back.

:func:`adopt` turns the seven analyzer modules the package replaces into one-line re-exports of
the package's modules (the text ``../shared/analyzer/README.md`` gives), after copying the
originals to ``<analyzer>/.crypto_analyzer_promotion/originals/`` with a manifest of their
sha256. :func:`restore` puts the originals back and removes that folder. Both are idempotent, and
neither overwrites a module that was changed by hand in between (a clear error instead).

From the command line: ``crypto-analyzer-promotion adopt --analyzer-dir DIR`` and
``crypto-analyzer-promotion adopt --analyzer-dir DIR --restore`` (``--status`` to look).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .exceptions import InvalidInputError, MissingFileError

__all__ = ["MODULES", "BACKUP_DIR", "reexport_text", "adopt", "restore", "status", "AdoptionStatus"]

# analyzer module (relative to crypto_analyzer/) -> package module
MODULES: tuple[tuple[str, str], ...] = (
    ("promotion/store_sqlite.py", "store_sqlite"),
    ("promotion/gating.py", "gating"),
    ("promotion/service.py", "service"),
    ("promotion/execution_evidence.py", "execution_evidence"),
    ("stats/reality_check.py", "reality_check"),
    ("stats/rc_cache.py", "rc_cache"),
    ("db/migrations_phase3.py", "migrations_phase3"),
)
BACKUP_DIR = ".crypto_analyzer_promotion"
_MANIFEST = "manifest.json"

PathLike = str | os.PathLike[str]


def reexport_text(package_module: str) -> str:
    """The re-export module that replaces an analyzer module."""
    return (
        f"import crypto_analyzer_promotion.{package_module} as _impl\n"
        'globals().update({k: getattr(_impl, k) for k in dir(_impl) if not k.startswith("__")})\n'
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".cap-tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _tree(analyzer_dir: PathLike) -> Path:
    root = Path(analyzer_dir)
    if not (root / "crypto_analyzer").is_dir():
        raise MissingFileError(f"not an analyzer tree (no crypto_analyzer/ package): {root}")
    return root


@dataclass
class AdoptionStatus:
    """Per module: "original", "reexport" or "changed" (neither), and whether backups exist."""

    analyzer_dir: str
    modules: dict
    backed_up: bool

    @property
    def adopted(self) -> bool:
        return self.backed_up and all(v == "reexport" for v in self.modules.values())

    def to_dict(self) -> dict:
        return {
            "analyzer_dir": self.analyzer_dir,
            "adopted": self.adopted,
            "backed_up": self.backed_up,
            "modules": dict(self.modules),
        }


def _manifest(root: Path) -> dict:
    p = root / BACKUP_DIR / _MANIFEST
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"unreadable adoption manifest {p}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("modules"), dict):
        raise InvalidInputError(f"malformed adoption manifest {p}")
    return data


def status(analyzer_dir: PathLike) -> AdoptionStatus:
    """Which of the seven modules are re-exports now."""
    root = _tree(analyzer_dir)
    man = _manifest(root)
    mods = {}
    for rel, pkg in MODULES:
        path = root / "crypto_analyzer" / rel
        if not path.is_file():
            mods[rel] = "missing"
            continue
        data = path.read_bytes()
        if data == reexport_text(pkg).encode():
            mods[rel] = "reexport"
        elif not man or _sha256(data) == man["modules"].get(rel):
            mods[rel] = "original"
        else:
            mods[rel] = "changed"
    return AdoptionStatus(str(root), mods, bool(man))


def adopt(analyzer_dir: PathLike) -> AdoptionStatus:
    """Write the seven re-export modules, keeping the originals (idempotent)."""
    root = _tree(analyzer_dir)
    st = status(root)
    missing = [rel for rel, s in st.modules.items() if s == "missing"]
    if missing:
        raise MissingFileError(f"analyzer module(s) not found: {', '.join(missing)}")
    changed = [rel for rel, s in st.modules.items() if s == "changed"]
    if changed:
        raise InvalidInputError(
            f"module(s) changed since the originals were saved: {', '.join(changed)}; "
            "run `adopt --restore` (or resolve by hand) first"
        )
    if st.adopted:
        return st
    backup = root / BACKUP_DIR / "originals"
    man = _manifest(root) or {"modules": {}}
    # 1) Originals first (never overwritten once saved), then the manifest, then the re-exports:
    # an interruption at any point leaves a tree that `restore` brings back.
    for rel, _pkg in MODULES:
        src = root / "crypto_analyzer" / rel
        if st.modules[rel] == "original" and rel not in man["modules"]:
            data = src.read_bytes()
            dst = backup / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(dst, data)
            man["modules"][rel] = _sha256(data)
    _write_atomic(root / BACKUP_DIR / _MANIFEST, json.dumps(man, indent=2, sort_keys=True).encode())
    for rel, pkg in MODULES:
        _write_atomic(root / "crypto_analyzer" / rel, reexport_text(pkg).encode())
    return status(root)


def restore(analyzer_dir: PathLike) -> AdoptionStatus:
    """Put the original modules back and remove the backups (idempotent)."""
    root = _tree(analyzer_dir)
    man = _manifest(root)
    if not man:
        st = status(root)
        if any(s == "reexport" for s in st.modules.values()):
            raise MissingFileError(
                f"no saved originals in {root / BACKUP_DIR}: the re-export modules cannot be restored"
            )
        return st
    st = status(root)
    changed = [rel for rel, s in st.modules.items() if s == "changed"]
    if changed:
        raise InvalidInputError(f"module(s) changed by hand since adoption, not overwritten: {', '.join(changed)}")
    backup = root / BACKUP_DIR / "originals"
    for rel, _pkg in MODULES:
        saved = backup / rel
        if rel not in man["modules"]:
            continue
        data = saved.read_bytes() if saved.is_file() else None
        if data is None or _sha256(data) != man["modules"][rel]:
            raise InvalidInputError(f"saved original of {rel} is missing or corrupt in {backup}")
    for rel, _pkg in MODULES:
        if rel in man["modules"] and st.modules[rel] != "original":
            _write_atomic(root / "crypto_analyzer" / rel, (backup / rel).read_bytes())
    shutil.rmtree(root / BACKUP_DIR)
    return status(root)
