"""Concurrency and crash safety on a PostgreSQL registry: 8 OS processes x 500 mixed operations
(create, evaluate_and_record to the next rung, rejecting and gate-only evaluations, list) on one
server, and writers killed with SIGKILL mid-run. Afterwards, read back with psql (not the
package): every reported operation is there exactly once, nothing else is (but for the one in
flight in a killed writer), the status history replays one rung at a time with a passed report of
that level behind every promotion, no report is left without its promotion (no half-written
evaluation), and the writers really overlapped. The worker is tests_py/support/pg_worker.py."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dbread
import pytest
from bundles import PROVENANCE, write_bundle
from crypto_analyzer_promotion import store_sqlite as st
from crypto_analyzer_promotion.migrations_phase3 import run_migrations_phase3

WORKER = Path(__file__).resolve().parents[1] / "support" / "pg_worker.py"
RUNG = {"exploratory": "candidate", "candidate": "accepted"}


def _setup(url: str, tmp_path: Path, n_seed: int) -> str:
    run_migrations_phase3(url)
    bundle = write_bundle(tmp_path, {**PROVENANCE, "research_spec_version": 1})
    for i in range(n_seed):
        st.create_candidate(
            url,
            dataset_id="ds",
            run_id=f"seed-{i}",
            signal_name="sig",
            horizon=1,
            config_hash="x",
            git_commit="y",
            evidence={"bundle_path": str(bundle)},
        )
    return str(bundle)


def _start(url: str, w: int, n_ops: int, seed: int, log: Path, bundle: str) -> subprocess.Popen:
    args = [sys.executable, str(WORKER), url, str(w), str(n_ops), str(seed), str(log), bundle]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(f"{log}.err", "w"))


def _read_logs(logs: list[Path]) -> list[dict]:
    """The operations the writers reported. A writer SIGKILLed while writing its log leaves its
    last line unterminated: that operation counts as unreported (as if killed just before)."""
    out = []
    for log in logs:
        if log.exists():
            text = log.read_text()
            complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
            out += [json.loads(line) for line in complete.splitlines() if line.strip()]
    return out


def _check(url: str, ops: list[dict], killed: int) -> dict:
    """The invariants (see the module docstring); returns counts. ``killed``: writers killed
    mid-run, each of which may have committed one operation it never reported."""
    cands = {
        r[0]: r
        for r in dbread.rows(
            url, "SELECT candidate_id, status, eligibility_report_id, run_id FROM promotion_candidates"
        )
    }
    events = dbread.rows(
        url, "SELECT event_id, candidate_id, event_type, payload_json FROM promotion_events ORDER BY event_id"
    )
    reports = {
        r[0]: r
        for r in dbread.rows(url, "SELECT eligibility_report_id, candidate_id, level, passed FROM eligibility_reports")
    }
    by_cand: dict[str, list] = {c: [] for c in cands}
    for e in events:
        assert e[1] in by_cand, f"event without its candidate: {e}"
        by_cand[e[1]].append(e)
    promotions: Counter = Counter()
    linked: Counter = Counter()
    n_evaluated = 0
    for cid, evs in by_cand.items():
        assert [e[2] for e in evs].count("created") == 1 and evs[0][2] == "created", (cid, evs)
        cur, last_report, prev = "exploratory", None, "created"
        for e in evs[1:]:
            payload = json.loads(e[3]) if e[3] else {}
            if e[2] == "status_change":
                assert (payload["old_status"], payload["new_status"]) == (cur, RUNG.get(cur)), (cid, cur, payload)
                rep = reports.get(payload["eligibility_report_id"])
                assert rep is not None and rep[1:] == (cid, payload["new_status"], 1), (cid, payload, rep)
                cur, last_report = payload["new_status"], rep[0]
                promotions[(cid, cur)] += 1
                linked[rep[0]] += 1
            elif e[2] == "evaluated":
                n_evaluated += 1
                if prev != "status_change":
                    # Only exploratory candidates are evaluated without a promotion here: a
                    # status written over a promotion made since the evaluation read it (a lost
                    # update) shows up as one from candidate/accepted.
                    assert cur == "exploratory", (cid, cur, payload)
                    cur = "rejected" if payload["status"] == "rejected" else "exploratory"
            else:
                raise AssertionError(f"unexpected event {e}")
            if prev == "status_change":
                assert e[2] == "evaluated", f"a promotion without its evaluated event: {cid} {evs}"
            prev = e[2]
        assert prev != "status_change", f"a promotion without its evaluated event: {cid}"
        assert cands[cid][1] == cur, (cid, cands[cid], cur)
        assert cands[cid][2] == last_report or (last_report is None and not cands[cid][2]), (cid, cands[cid])
    # Every report belongs to exactly one promotion: none half-written, none orphaned.
    assert all(linked[r] == 1 for r in reports), [r for r in reports if linked[r] != 1]

    ok = [o for o in ops if o.get("ok")]
    created = Counter(o["tag"] for o in ok if o["op"] == "create")
    runs = Counter(c[3] for c in cands.values() if not c[3].startswith("seed-"))
    for tag in created:
        assert runs[tag] == 1, (tag, runs[tag])
    unreported_creates = sum(n for tag, n in runs.items() if tag not in created)
    assert unreported_creates <= killed
    promoted_ok = Counter((o["cid"], o["target"]) for o in ok if o["op"] == "promote" and o["decision"] == "accepted")
    assert not (promoted_ok - promotions), promoted_ok - promotions  # every reported promotion is there
    extra_promotions = sum((promotions - promoted_ok).values())
    assert extra_promotions <= killed
    evals_ok = sum(1 for o in ok if o["op"] in ("promote", "reject", "evaluate"))
    assert evals_ok <= n_evaluated <= evals_ok + killed
    # A refused (conflicting) evaluation wrote nothing: the counts above would be off otherwise.
    return {
        "candidates": len(cands),
        "events": len(events),
        "reports": len(reports),
        "promotions": sum(promotions.values()),
        "evaluated": n_evaluated,
        "conflicts": sum(1 for o in ops if o.get("conflict")),
        "ops": dict(Counter(o["op"] for o in ops)),
        "unreported": unreported_creates + extra_promotions,
    }


def _max_in_flight(ops: list[dict]) -> tuple[int, int]:
    """(largest number of writes in flight at once, number of distinct workers among them)."""
    writes = [o for o in ops if o["op"] in ("create", "promote", "reject", "evaluate")]
    marks = sorted([(o["t0"], 1, o["w"]) for o in writes] + [(o["t1"], -1, o["w"]) for o in writes])
    best, live, workers = 0, Counter(), 0
    for _t, d, w in marks:
        live[w] += d
        n = sum(live.values())
        if n > best:
            best, workers = n, sum(1 for v in live.values() if v > 0)
    return best, workers


def test_eight_processes_x_500_mixed_operations(pg_url, tmp_path):
    bundle = _setup(pg_url, tmp_path, n_seed=40)
    n_workers, n_ops = 8, 500
    logs = [tmp_path / f"w{w}.log" for w in range(n_workers)]
    t0 = time.monotonic()
    procs = [_start(pg_url, w, n_ops, 7, logs[w], bundle) for w in range(n_workers)]
    rcs = [p.wait(timeout=300) for p in procs]
    elapsed = time.monotonic() - t0
    assert rcs == [0] * n_workers, [Path(f"{log}.err").read_text()[-1500:] for log in logs]
    ops = _read_logs(logs)
    assert len(ops) == n_workers * n_ops
    report = _check(pg_url, ops, killed=0)
    assert report["unreported"] == 0
    in_flight, workers = _max_in_flight(ops)
    print(json.dumps({"elapsed_s": round(elapsed, 2), "max_writes_in_flight": in_flight, **report}))
    assert in_flight >= 2 and workers >= 2  # the writers overlapped
    assert report["promotions"] > 50 and report["ops"].get("create", 0) > 500
    # Races for the same rung happened and were refused (nothing written), not double-applied.
    assert report["conflicts"] > 0


def test_sigkilled_writers_leave_no_half_written_candidate(pg_url, tmp_path):
    bundle = _setup(pg_url, tmp_path, n_seed=20)
    rng = random.Random(3)
    logs: list[Path] = []
    killed = 0
    for rnd in range(3):
        batch = []
        for w in range(4):
            log = tmp_path / f"r{rnd}w{w}.log"
            logs.append(log)
            batch.append(_start(pg_url, 10 * rnd + w, 100_000, 5, log, bundle))
        time.sleep(1.5)  # the interpreter and the package load, then they write
        for p in batch:
            time.sleep(rng.uniform(0.05, 0.4))
            p.send_signal(signal.SIGKILL)
        for p in batch:
            assert p.wait(timeout=60) == -signal.SIGKILL
            killed += 1
    ops = _read_logs(logs)
    report = _check(pg_url, ops, killed=killed)
    print(json.dumps({"killed": killed, **report}))
    assert sum(1 for o in ops if o["op"] != "list") > 50


@pytest.fixture(autouse=True)
def _no_pg_env(monkeypatch):
    """The workers take the server from their URL only."""
    for k in list(os.environ):
        if k.startswith("PG"):
            monkeypatch.delenv(k)
