#!/usr/bin/env python3
"""`make stress`: the full-size reliability run of the promotion registry.

1. Concurrency: N processes (Python API, CLI, Streamlit AppTest sessions mixed) each doing M
   operations (creates, status changes, events, evaluations) against one database, released
   together by a start barrier; then every invariant of tests_py/reliability/harness.py is
   checked, and that they overlapped (a common window, >= 2N writer switches in commit order,
   every process interleaved with the others).
2. Crash safety: writers (API, CLI, page) are SIGKILLed at random moments K times (each replaced),
   then the rest are killed; reopen and check the same invariants.
3. Cache crash safety: RC-null cache writers SIGKILLed at random moments; the manifest must stay
   valid JSON and every entry's sha256 must match its file.

Prints a summary (and writes it as JSON with --json). Exit 1 on any violation or any failed
operation in the concurrency run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESS = HERE.parent / "tests_py" / "reliability" / "harness.py"


def load_harness():
    spec = importlib.util.spec_from_file_location("rel_harness", HARNESS)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def parse_mix(text: str, n: int):
    kinds = []
    for part in text.split(","):
        kind, _, count = part.partition(":")
        kinds += [kind.strip()] * int(count or 1)
    if len(kinds) != n:
        raise SystemExit(f"--mix {text!r} names {len(kinds)} workers, --workers is {n}")
    return kinds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--ops", type=int, default=500)
    ap.add_argument(
        "--mix", default=None, help="e.g. api:4,cli:2,ui:2 (default: half API, a quarter CLI, a quarter UI)"
    )
    ap.add_argument("--kills", type=int, default=40, help="SIGKILLs of registry writers")
    ap.add_argument("--cache-kills", type=int, default=30, help="SIGKILLs of cache writers")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--workdir", default=None, help="keep databases and logs here (default: a temp dir)")
    ap.add_argument("--json", default=None, help="also write the summary here")
    args = ap.parse_args(argv)
    h = load_harness()
    n = args.workers
    mix = args.mix or f"api:{n - 2 * (n // 4)},cli:{n // 4},ui:{n // 4}"
    kinds = parse_mix(mix, n)
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="promotion_stress_"))
    summary = {"workers": n, "ops_per_worker": args.ops, "mix": mix, "workdir": str(root)}
    ok = True

    print(f"[1/3] {n} processes ({mix}) x {args.ops} operations on one database ...", flush=True)
    res = h.run_workers(root / "concurrency", kinds, args.ops, seed=args.seed)
    try:
        rep = h.check_run(res)
        ok &= rep["reported_failed"] == 0 and rep["reported_ok"] + rep["refused_stale_evaluations"] == n * args.ops
        # All processes were writing at once (start barrier; common window; interleaved commits).
        h.assert_overlap(rep, min_switches=2 * n)
    except h.InvariantError as e:
        rep = {"violations": str(e)}
        ok = False
    rep["returncodes"] = sorted(set(res.returncodes.values()))
    ok &= rep["returncodes"] == [0]
    summary["concurrency"] = rep
    print(json.dumps(rep, indent=1), flush=True)

    crash_kinds = ["api", "api", "cli", "ui"][: max(1, min(4, n))]
    print(f"[2/3] {args.kills} SIGKILLs among writers {crash_kinds} ...", flush=True)
    res = h.run_crashes(root / "crash", crash_kinds, n_kills=args.kills, seed=args.seed + 1)
    try:
        rep = h.check_run(res)
    except h.InvariantError as e:
        rep = {"violations": str(e)}
        ok = False
    summary["crash"] = rep
    print(json.dumps(rep, indent=1), flush=True)

    print(f"[3/3] {args.cache_kills} SIGKILLs among RC cache writers ...", flush=True)
    try:
        rep = h.run_cache_crashes(root / "cache_crash", n_writers=4, n_kills=args.cache_kills, seed=args.seed + 2)
    except h.InvariantError as e:
        rep = {"violations": str(e)}
        ok = False
    summary["cache_crash"] = rep
    print(json.dumps(rep, indent=1), flush=True)

    summary["ok"] = bool(ok)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, sort_keys=True))
    c, k, cc = summary["concurrency"], summary["crash"], summary["cache_crash"]
    print("\nSUMMARY")
    print(
        f"  concurrency: {n} processes x {args.ops} ops ({mix}): {c.get('reported_ok')} reported ok, "
        f"{c.get('reported_failed')} failed, {c.get('events')} events, {c.get('elapsed_s')} s -> "
        f"{'all present exactly once' if 'violations' not in c else 'VIOLATIONS'}"
    )
    print(
        f"  crashes: {k.get('killed_workers')} writers SIGKILLed, {k.get('reported_ok')} reported ops all present, "
        f"{k.get('in_flight_committed')} in-flight ops committed / {k.get('in_flight_lost')} rolled back -> "
        f"{'consistent' if 'violations' not in k else 'VIOLATIONS'}"
    )
    print(
        f"  cache: {cc.get('killed_writers')} writers SIGKILLed during {cc.get('saves_started')} saves, "
        f"{cc.get('entries')} entries all verified -> {'valid' if 'violations' not in cc else 'VIOLATIONS'}"
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
