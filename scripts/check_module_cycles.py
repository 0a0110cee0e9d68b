"""Fail when the Rust modules under src/ import each other in a cycle (run by `make lint`).

A module is a file: src/lib.rs is `crate`, src/a.rs and src/a/mod.rs are `crate::a`, src/a/b.rs
is `crate::a::b`. Module A depends on module B when A's code names a path into B: `crate::b::...`,
`super::...`, `self::...`, or a child module by its bare name (`kernel::Batch` after `mod kernel;`);
a path resolves to the longest module prefix it names. A child naming its own ancestor is not a
dependency that can form a layering cycle (a submodule is part of its parent and may use what the
parent declares), so those edges are left out; every other edge counts, the parent's use of its
children included. Inline `#[cfg(test)] mod tests` blocks at the end of a file are not read.

Prints each cycle (a strongly connected set of two or more modules) and exits 1; exits 0 when
there is none. Usage: python scripts/check_module_cycles.py [SRC_DIR]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_]\w*)*)(::\{)?")
MOD_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_]\w*)\s*;", re.M)
TESTS_RE = re.compile(r"^#\[cfg\(test\)\]\s*\n\s*mod\s+\w+\s*\{", re.M)


def module_of(path: Path, src: Path) -> tuple[str, ...]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts == ["lib"]:
        return ()
    if parts[-1] == "mod":
        parts.pop()
    return tuple(parts)


def strip(code: str) -> str:
    """The code without comments and string literals (they may mention paths)."""
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    code = re.sub(r"//[^\n]*", " ", code)
    code = re.sub(r'r#*"(?:.|\n)*?"#*', '""', code)
    code = re.sub(r'"(?:\\.|[^"\\])*"', '""', code)
    m = TESTS_RE.search(code)
    return code[: m.start()] if m else code


def group_items(code: str, start: int) -> list[str]:
    """The first-level items of a `{...}` group starting just after its `{`, as path texts."""
    depth, item, items = 1, "", []
    for ch in code[start:]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                break
        if depth == 1 and ch == ",":
            items.append(item)
            item = ""
        else:
            item += ch
    items.append(item)
    return [re.sub(r"\s+", "", i) for i in items if i.strip()]


def resolve(mods: set[tuple[str, ...]], base: tuple[str, ...], rest: list[str]) -> tuple[str, ...]:
    """The longest module named by `base` followed by the segments `rest`."""
    best = base
    cur = base
    for seg in rest:
        cur = (*cur, seg)
        if cur in mods:
            best = cur
        else:
            break
    return best


def edges(src: Path) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    files = {module_of(p, src): p for p in sorted(src.rglob("*.rs"))}
    mods = set(files)
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in mods}
    for mod, path in files.items():
        code = strip(path.read_text(encoding="utf-8"))
        children = {c for c in MOD_RE.findall(code) if (*mod, c) in mods}
        targets: list[tuple[str, ...]] = []
        for m in PATH_RE.finditer(code):
            head, tail, group = m.group(1), m.group(2), m.group(3)
            base = {"crate": (), "super": mod[:-1], "self": mod}[head]
            segs = [s for s in tail.split("::") if s]
            if head == "super":
                while segs and segs[0] == "super":  # super::super::
                    base, segs = base[:-1], segs[1:]
            prefixes = [segs]
            if group:
                prefixes = [segs + [s for s in item.split("::") if s] for item in group_items(code, m.end())]
            targets.extend(resolve(mods, base, p) for p in prefixes)
        for child in children:
            for m in re.finditer(rf"(?<![\w:]){child}((?:::[A-Za-z_]\w*)*)(::\{{)?", code):
                segs = [s for s in m.group(1).split("::") if s]
                prefixes = [segs]
                if m.group(2):
                    prefixes = [segs + [s for s in i.split("::") if s] for i in group_items(code, m.end())]
                targets.extend(resolve(mods, (*mod, child), p) for p in prefixes)
        for t in targets:
            if t != mod and mod[: len(t)] != t:  # not itself, not one of its ancestors
                graph[mod].add(t)
    return graph


def cycles(graph: dict[tuple[str, ...], set[tuple[str, ...]]]) -> list[list[tuple[str, ...]]]:
    """Strongly connected sets of two or more modules (Tarjan), each sorted."""
    index: dict[tuple[str, ...], int] = {}
    low: dict[tuple[str, ...], int] = {}
    stack: list[tuple[str, ...]] = []
    on: set[tuple[str, ...]] = set()
    out: list[list[tuple[str, ...]]] = []

    def visit(v: tuple[str, ...]) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def name(m: tuple[str, ...]) -> str:
    return "::".join(("crate", *m))


def main() -> int:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src")
    graph = edges(src)
    found = cycles(graph)
    for comp in found:
        members = set(comp)
        print("module cycle: " + ", ".join(name(m) for m in comp))
        for m in comp:
            for t in sorted(graph[m] & members):
                print(f"  {name(m)} -> {name(t)}")
    if found:
        return 1
    n_edges = sum(len(v) for v in graph.values())
    print(f"module cycles: none ({len(graph)} modules, {n_edges} dependencies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
