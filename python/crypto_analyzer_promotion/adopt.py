"""Switch an analyzer checkout to this package, and back.

:func:`adopt` makes an analyzer checkout run on the package, in a form the analyzer's own CI
accepts once committed:

1. its seven replaced modules become re-exports of the package's modules
   (:func:`reexport_text`: they pass the analyzer's ``ruff check`` and ``ruff format --check``);
2. its ``pyproject.toml`` declares the package as a dependency (``~=`` the installed version) and,
   with ``index_url``, tells uv to take the package, and only it, from that PEP 503 index;
   ``requirements.txt``, where there is one, gets the same pin;
3. where ``uv`` is on PATH, ``uv lock`` refreshes ``uv.lock`` (otherwise the result names the
   command to run), so that ``uv sync --frozen`` on a fresh clone installs the package.

Every file it changes is first copied to ``<analyzer>/.crypto_analyzer_promotion/originals/``, with
a manifest of the sha256 of the original and of what adopt wrote. :func:`restore` puts every
original back byte for byte and removes that folder. Both are idempotent; neither overwrites a file
changed by hand in between (a clear error, nothing written). Every check (the tree is the analyzer,
the seven modules are clean in git, the index serves a matching wheel) runs before the first write,
and a failed ``uv lock`` puts everything back.

From the command line: ``crypto-analyzer-promotion adopt --analyzer-dir DIR [--index-url URL]``,
``--status`` to look, ``--restore`` to undo.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import InvalidInputError, MissingFileError, PromotionRuntimeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (tomli is a dependency there)
    import tomli as tomllib

__all__ = [
    "MODULES",
    "BACKUP_DIR",
    "DIST_NAME",
    "reexport_text",
    "dependency_spec",
    "adopt",
    "restore",
    "status",
    "AdoptionStatus",
]

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
#: The package's name on an index, normalised (PEP 503), as the analyzer's pyproject.toml names it.
DIST_NAME = "crypto-analyzer-promotion"
#: The name of the uv index entry adopt writes (``[[tool.uv.index]]`` and ``[tool.uv.sources]``).
UV_INDEX_NAME = "crypto-analyzer-promotion"
ANALYZER_PROJECT = "crypto-analyzer"
_MANIFEST = "manifest.json"
# Project files adopt may change besides the modules (relative to the analyzer's root).
_PYPROJECT, _LOCK, _REQUIREMENTS = "pyproject.toml", "uv.lock", "requirements.txt"

PathLike = str | os.PathLike[str]


def reexport_text(package_module: str, quote: str = '"') -> str:
    """The re-export module that replaces an analyzer module.

    Every name of the package module that is not a dunder is re-exported (the analyzer's tests use
    some private helpers, which ``import *`` would skip). The text is what ``ruff format`` writes
    and passes ``ruff check`` with isort rules; ``quote`` follows the analyzer's
    ``[tool.ruff.format] quote-style``.
    """
    return (
        "# Written by `crypto-analyzer-promotion adopt`: this module re-exports\n"
        f"# crypto_analyzer_promotion.{package_module} (`adopt --restore` undoes it).\n"
        f"import crypto_analyzer_promotion.{package_module} as _impl\n"
        "\n"
        f"globals().update({{k: getattr(_impl, k) for k in dir(_impl) if k[:2] != {quote}__{quote}}})\n"
    )


def _legacy_reexport_text(package_module: str) -> str:
    # What earlier versions of adopt wrote (ruff's isort rule flags it): still recognised as a
    # re-export, and rewritten in the current form by adopt.
    return (
        f"import crypto_analyzer_promotion.{package_module} as _impl\n"
        'globals().update({k: getattr(_impl, k) for k in dir(_impl) if not k.startswith("__")})\n'
    )


def _package_version() -> str:
    from . import __version__

    return str(__version__)


def dependency_spec(version: str | None = None) -> str:
    """The requirement adopt declares: the compatible release of the installed version (PEP 440
    ``~=X.Y.Z``: at least this version, below the next minor)."""
    v = version or _package_version()
    if not re.fullmatch(r"\d+\.\d+\.\d+", v):
        raise InvalidInputError(f"cannot derive a version bound from the package version {v!r}")
    return f"{DIST_NAME}~={v}"


def _spec_allows(spec: str, version: str) -> bool:
    """Whether ``version`` (X.Y.Z) satisfies the ``~=X.Y.Z`` requirement ``spec``."""
    want = tuple(int(x) for x in spec.split("~=", 1)[1].split("."))
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        return False
    got = tuple(int(x) for x in m.groups())
    return got >= want and got[:2] == want[:2]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".cap-tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _redact_url(url: str) -> str:
    """The URL without its user and password (an index URL may carry credentials)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def _tree(analyzer_dir: PathLike) -> Path:
    root = Path(analyzer_dir)
    if not (root / "crypto_analyzer").is_dir():
        raise MissingFileError(f"not an analyzer tree (no crypto_analyzer/ package): {root}")
    return root


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"unreadable {path.name} in {path.parent}: {exc}") from None


def _analyzer_pyproject(root: Path) -> dict[str, Any]:
    """The analyzer's pyproject.toml, checked to be the analyzer's."""
    path = root / _PYPROJECT
    if not path.is_file():
        raise MissingFileError(f"not an analyzer checkout (no pyproject.toml): {root}")
    data = _read_toml(path)
    name = data.get("project", {}).get("name")
    if not isinstance(name, str) or re.sub(r"[-_.]+", "-", name).lower() != ANALYZER_PROJECT:
        raise InvalidInputError(
            f"not the analyzer's pyproject.toml (project name {name!r}, expected {ANALYZER_PROJECT!r})"
        )
    return data


def _quote_style(pyproject: dict[str, Any]) -> str:
    style = pyproject.get("tool", {}).get("ruff", {}).get("format", {}).get("quote-style", "double")
    return "'" if style == "single" else '"'


# ------------------------------------------------------------------------------------------------
# pyproject.toml and requirements.txt: minimal text edits, checked by parsing the result
# ------------------------------------------------------------------------------------------------


def _is_our_requirement(req: str) -> bool:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    return m is not None and re.sub(r"[-_.]+", "-", m.group(1)).lower() == DIST_NAME


def _declared_requirement(pyproject: dict[str, Any]) -> str | None:
    deps = pyproject.get("project", {}).get("dependencies", [])
    return next((d for d in deps if isinstance(d, str) and _is_our_requirement(d)), None)


def _add_dependency(text: str, spec: str) -> str:
    """Insert ``spec`` into [project].dependencies, keeping every other byte."""
    project = re.search(r"(?m)^\[project\][ \t]*\r?$", text)
    if not project:
        raise InvalidInputError("pyproject.toml has no [project] table to declare the dependency in")
    nxt = re.search(r"(?m)^\[", text[project.end() :])
    end = project.end() + (nxt.start() if nxt else len(text) - project.end())
    body = text[project.end() : end]
    m = re.search(r"(?m)^dependencies[ \t]*=[ \t]*\[", body)
    if not m:
        raise InvalidInputError("pyproject.toml's [project] has no dependencies = [...] list to add the package to")
    start = project.end() + m.end()
    close = text.find("]", start)
    if close < 0:
        raise InvalidInputError("pyproject.toml's [project].dependencies list is not closed")
    inner = text[start:close]
    nl = "\r\n" if "\r\n" in text else "\n"
    head = inner.rstrip()
    tail = inner[len(head) :]  # the line break and indent before the closing bracket
    if "\n" in inner:  # one item per line: a new line, indented like the items
        items = [ln for ln in inner.splitlines() if ln.strip()]
        indent = items[-1][: len(items[-1]) - len(items[-1].lstrip())] if items else "    "
        comma = "," if head.strip() and not head.endswith(",") else ""
        new_inner = f'{head}{comma}{nl}{indent}"{spec}",{tail}'
    else:  # all on one line
        sep = ", " if head.strip() and not head.endswith(",") else (" " if head.strip() else "")
        new_inner = f'{head}{sep}"{spec}"'
    return text[:start] + new_inner + text[close:]


def _add_uv_index(text: str, index_url: str) -> str:
    """Name the index in [[tool.uv.index]] (explicit: used only for packages pinned to it) and pin
    the package to it in [tool.uv.sources]."""
    nl = "\r\n" if "\r\n" in text else "\n"
    source = f'{DIST_NAME} = {{ index = "{UV_INDEX_NAME}" }}'
    sources = re.search(r"(?m)^\[tool\.uv\.sources\][ \t]*\r?$", text)
    if sources:
        text = text[: sources.end()] + nl + source + text[sources.end() :]
    if not text.endswith(("\n", "\r\n")):
        text += nl
    block = [
        "",
        "# Written by `crypto-analyzer-promotion adopt`: uv takes crypto-analyzer-promotion, and only it,",
        "# from this index (explicit = true keeps every other package on the default index).",
        "[[tool.uv.index]]",
        f'name = "{UV_INDEX_NAME}"',
        f'url = "{index_url}"',
        "explicit = true",
    ]
    if not sources:
        block += ["", "[tool.uv.sources]", source]
    return text + nl.join(block) + nl


def _new_pyproject(text: str, spec: str, index_url: str | None) -> str:
    before = tomllib.loads(text)
    new = _add_dependency(text, spec)
    if index_url is not None:
        new = _add_uv_index(new, index_url)
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:  # a layout the text edit did not foresee
        raise InvalidInputError(
            f"could not add the dependency to pyproject.toml safely ({exc}); add it by hand"
        ) from None
    deps = after.get("project", {}).get("dependencies", [])
    if deps[:-1] != before.get("project", {}).get("dependencies", []) or deps[-1] != spec:
        raise InvalidInputError("could not add the dependency to pyproject.toml safely; add it by hand")
    return new


def _new_requirements(text: str, spec: str, index_url: str | None) -> str:
    nl = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith(("\n", "\r\n")):
        text += nl
    lines = ["# crypto-analyzer-promotion (written by `crypto-analyzer-promotion adopt`)"]
    if index_url is not None:
        # pip has no per-package index: the extra index serves the package; the pin bounds it.
        lines.append(f"--extra-index-url {index_url}")
    lines.append(spec)
    return text + nl.join(lines) + nl


# ------------------------------------------------------------------------------------------------
# checks that run before anything is written
# ------------------------------------------------------------------------------------------------


def _git_dirty(root: Path, rels: list[str]) -> list[str]:
    """The paths among ``rels`` that git reports changed (empty when the tree is not a git checkout
    or git is not installed)."""
    git = shutil.which("git")
    if git is None or not rels:
        return []
    try:
        proc = subprocess.run(
            [git, "-C", str(root), "status", "--porcelain", "--", *rels],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:  # not a git checkout
        return []
    return [line[3:].strip() for line in proc.stdout.splitlines() if line.strip()]


def _index_versions(index_url: str) -> list[str]:
    """The package versions a PEP 503 simple index serves wheels of."""
    page = index_url.rstrip("/") + f"/{DIST_NAME}/"
    shown = _redact_url(index_url)
    if urllib.parse.urlsplit(index_url).scheme not in ("http", "https", "file"):
        raise InvalidInputError(f"--index-url must be an http(s) or file URL of a PEP 503 index, got {shown}")
    try:
        req = urllib.request.Request(page, headers={"Accept": "text/html"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise InvalidInputError(f"the index {shown} does not serve {DIST_NAME} (HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InvalidInputError(f"the index {shown} could not be read: {reason}") from None
    names = re.findall(r"crypto_analyzer_promotion-([0-9][^-/#\"'<>]*)-[^\"'<>#/]*\.whl", body)
    return sorted(set(names))


# ------------------------------------------------------------------------------------------------
# status
# ------------------------------------------------------------------------------------------------


@dataclass
class AdoptionStatus:
    """Where an analyzer checkout stands.

    ``modules``: per module, "original", "reexport" or "changed" (neither), or "missing".
    ``dependency``: the requirement on the package in its pyproject.toml, or None.
    ``index_url``: the uv index adopt named, or None. ``locked``: whether uv.lock pins the package
    (None when the checkout has no uv.lock). ``next_steps``: what is left for the user to run.
    """

    analyzer_dir: str
    modules: dict[str, str]
    backed_up: bool
    dependency: str | None = None
    index_url: str | None = None
    locked: bool | None = None
    next_steps: list[str] = field(default_factory=list)

    @property
    def adopted(self) -> bool:
        return self.backed_up and all(v == "reexport" for v in self.modules.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "analyzer_dir": self.analyzer_dir,
            "adopted": self.adopted,
            "backed_up": self.backed_up,
            "modules": dict(self.modules),
            "dependency": self.dependency,
            "index_url": None if self.index_url is None else _redact_url(self.index_url),
            "locked": self.locked,
            "next_steps": list(self.next_steps),
        }


def _manifest(root: Path) -> dict[str, Any]:
    p = root / BACKUP_DIR / _MANIFEST
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"unreadable adoption manifest {p}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("modules"), dict):
        raise InvalidInputError(f"malformed adoption manifest {p}")
    data.setdefault("files", {})
    return data


def _module_state(root: Path, rel: str, pkg: str, man: dict[str, Any]) -> str:
    path = root / "crypto_analyzer" / rel
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    if data in (reexport_text(pkg).encode(), reexport_text(pkg, "'").encode(), _legacy_reexport_text(pkg).encode()):
        return "reexport"
    if not man or _sha256(data) == man["modules"].get(rel):
        return "original"
    return "changed"


def _lock_pins_package(root: Path) -> bool | None:
    lock = root / _LOCK
    if not lock.is_file():
        return None
    return f'name = "{DIST_NAME}"' in lock.read_text(encoding="utf-8", errors="replace")


def status(analyzer_dir: PathLike) -> AdoptionStatus:
    """Which of the seven modules are re-exports, and whether the dependency is declared and locked."""
    root = _tree(analyzer_dir)
    man = _manifest(root)
    mods = {rel: _module_state(root, rel, pkg, man) for rel, pkg in MODULES}
    dependency = index_url = None
    if (root / _PYPROJECT).is_file():
        data = _read_toml(root / _PYPROJECT)
        dependency = _declared_requirement(data)
        for entry in data.get("tool", {}).get("uv", {}).get("index", []) or []:
            if isinstance(entry, dict) and entry.get("name") == UV_INDEX_NAME:
                index_url = entry.get("url")
    st = AdoptionStatus(str(root), mods, bool(man), dependency, index_url, _lock_pins_package(root))
    if st.adopted and dependency is None:
        st.next_steps.append(f"declare the dependency: add {dependency_spec()!r} to pyproject.toml")
    if dependency is not None and st.locked is False:
        st.next_steps.append(f"refresh the lock: uv lock (in {root})")
    return st


# ------------------------------------------------------------------------------------------------
# adopt and restore
# ------------------------------------------------------------------------------------------------


def _uv() -> str | None:
    return shutil.which("uv")


def _build_metadata_files(root: Path) -> dict[Path, bytes]:
    """The files of the analyzer's top-level ``*.egg-info`` folders."""
    return {p: p.read_bytes() for d in root.glob("*.egg-info") if d.is_dir() for p in d.rglob("*") if p.is_file()}


def _run_uv_lock(uv: str, root: Path) -> None:
    """``uv lock`` in the analyzer's checkout. Building the analyzer's metadata (its version is
    dynamic) rewrites ``*.egg-info`` in place, which some checkouts track: those files are put back
    as they were, so adopt changes exactly the files it means to."""
    egg_info = _build_metadata_files(root)
    egg_dirs = {d for d in root.glob("*.egg-info") if d.is_dir()}
    try:
        proc = subprocess.run([uv, "lock"], cwd=root, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PromotionRuntimeError(f"`uv lock` could not run in {root}: {exc}") from None
    finally:
        for path in set(_build_metadata_files(root)) - set(egg_info):
            path.unlink()
        for path, data in egg_info.items():
            if not path.is_file() or path.read_bytes() != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                _write_atomic(path, data)
        for d in {d for d in root.glob("*.egg-info") if d.is_dir()} - egg_dirs:
            shutil.rmtree(d)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise PromotionRuntimeError(f"`uv lock` failed in {root}; nothing was changed:\n{tail}")


def adopt(
    analyzer_dir: PathLike,
    *,
    index_url: str | None = None,
    declare_dependency: bool = True,
    lock: bool = True,
) -> AdoptionStatus:
    """Switch an analyzer checkout to the package (idempotent).

    ``index_url``: a PEP 503 index that serves the package's wheel; checked before anything is
    written, and written into pyproject.toml for uv. ``declare_dependency=False`` writes only the
    seven modules (for a harness that installs the package itself). ``lock``: refresh uv.lock with
    ``uv lock`` when uv is on PATH (when it is not, ``next_steps`` names the command).
    """
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
    originals_pending = [rel for rel, s in st.modules.items() if s == "original"]
    dirty = _git_dirty(root, [f"crypto_analyzer/{rel}" for rel in originals_pending])
    if dirty:
        raise InvalidInputError(
            f"uncommitted changes in the module(s) adopt replaces: {', '.join(sorted(dirty))}; commit or stash them first"
        )
    pyproject = _analyzer_pyproject(root) if declare_dependency else {}
    quote = _quote_style(pyproject) if pyproject else '"'
    man = _manifest(root) or {"modules": {}, "files": {}}

    # What will be written, all computed before the first write.
    writes: dict[str, bytes] = {}
    for rel, pkg in MODULES:
        writes[f"crypto_analyzer/{rel}"] = reexport_text(pkg, quote).encode()
    if declare_dependency:
        spec = dependency_spec()
        declared = _declared_requirement(pyproject)
        if index_url is not None:
            served = _index_versions(index_url)
            if not any(_spec_allows(spec, v) for v in served):
                raise InvalidInputError(
                    f"the index {_redact_url(index_url)} serves no wheel of {spec} "
                    f"(it serves: {', '.join(served) or 'none'})"
                )
        if declared is None:
            text = (root / _PYPROJECT).read_text(encoding="utf-8")
            writes[_PYPROJECT] = _new_pyproject(text, spec, index_url).encode()
            req = root / _REQUIREMENTS
            if req.is_file() and not any(
                _is_our_requirement(ln) for ln in req.read_text(encoding="utf-8").splitlines()
            ):
                writes[_REQUIREMENTS] = _new_requirements(req.read_text(encoding="utf-8"), spec, index_url).encode()
        elif index_url is not None and st.index_url != index_url:
            raise InvalidInputError(
                f"pyproject.toml already declares {declared!r}; run `adopt --restore` first to change its index"
            )
    uv = _uv() if declare_dependency and lock else None
    will_lock = uv is not None and (_PYPROJECT in writes or st.locked is False)
    writes = {k: v for k, v in writes.items() if not (root / k).is_file() or (root / k).read_bytes() != v}
    if not writes and not will_lock:
        return status(root)

    # 1) Originals first (never overwritten once saved), then the manifest, then the new files:
    # an interruption at any point leaves a tree that `restore` brings back.
    backup = root / BACKUP_DIR / "originals"
    # uv.lock is saved whenever the dependency is declared: whether adopt refreshes it or the user
    # runs `uv lock` later, restore puts the original back with the original pyproject.toml.
    declaring = _PYPROJECT in writes or will_lock
    touched = list(writes) + ([_LOCK] if declaring and (root / _LOCK).is_file() else [])
    for rel in touched:
        module = rel.removeprefix("crypto_analyzer/") if rel.startswith("crypto_analyzer/") else None
        book = man["modules"] if module is not None else man["files"]
        key = module if module is not None else rel
        if key in book:
            continue
        if module is not None and st.modules[module] != "original":
            continue  # a legacy re-export being rewritten: its original is saved already
        data = (root / rel).read_bytes()
        dst = backup / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(dst, data)
        book[key] = _sha256(data) if module is not None else {"original": _sha256(data)}
    _save_manifest(root, man)
    for rel, data in writes.items():
        _write_atomic(root / rel, data)
        if rel in man["files"]:
            man["files"][rel]["adopted"] = _sha256(data)
    _save_manifest(root, man)
    if will_lock and uv is not None:
        try:
            _run_uv_lock(uv, root)
        except PromotionRuntimeError:
            restore(root)
            raise
        if (root / _LOCK).is_file():
            man["files"].setdefault(_LOCK, {"original": None})["adopted"] = _sha256((root / _LOCK).read_bytes())
    _save_manifest(root, man)
    result = status(root)
    if declare_dependency and uv is None and result.locked is False:
        result.next_steps = [f"uv is not on PATH: run `uv lock` in {root} to refresh uv.lock, then commit it"]
    return result


def _save_manifest(root: Path, man: dict[str, Any]) -> None:
    (root / BACKUP_DIR).mkdir(exist_ok=True)
    _write_atomic(root / BACKUP_DIR / _MANIFEST, json.dumps(man, indent=2, sort_keys=True).encode())


def restore(analyzer_dir: PathLike) -> AdoptionStatus:
    """Put every original file back, byte for byte, and remove the backups (idempotent)."""
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
    # Every saved original is read and verified before the first write; the writes then use
    # those bytes.
    module_writes: dict[str, bytes] = {}
    for rel, _pkg in MODULES:
        if rel not in man["modules"]:
            continue
        saved = backup / "crypto_analyzer" / rel
        if not saved.is_file():
            saved = backup / rel  # the layout adopt used before it saved project files too
        data = saved.read_bytes() if saved.is_file() else None
        if data is None or _sha256(data) != man["modules"][rel]:
            raise InvalidInputError(f"saved original of {rel} is missing or corrupt in {backup}")
        if st.modules[rel] != "original":
            module_writes[rel] = data
    file_writes: dict[str, bytes | None] = {}
    for rel, book in sorted(man["files"].items()):
        path = root / rel
        current = _sha256(path.read_bytes()) if path.is_file() else None
        if current == book.get("original"):
            continue
        # uv.lock is generated from pyproject.toml: with the original pyproject.toml back, the
        # original lock belongs with it, whoever re-locked in between.
        if rel != _LOCK and current != book.get("adopted"):
            raise InvalidInputError(
                f"{rel} changed since adoption, not overwritten: undo that change (or restore it by hand) first"
            )
        if book.get("original") is None:
            file_writes[rel] = None  # adopt created it
            continue
        data = (backup / rel).read_bytes() if (backup / rel).is_file() else None
        if data is None or _sha256(data) != book["original"]:
            raise InvalidInputError(f"saved original of {rel} is missing or corrupt in {backup}")
        file_writes[rel] = data
    for rel, data in module_writes.items():
        _write_atomic(root / "crypto_analyzer" / rel, data)
    for rel, data in file_writes.items():
        if data is None:
            (root / rel).unlink()
        else:
            _write_atomic(root / rel, data)
    shutil.rmtree(root / BACKUP_DIR)
    return status(root)
