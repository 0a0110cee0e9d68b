"""Concurrency and crash harness for the promotion registry.

Used three ways:

* imported by the tests of ``tests_py/reliability`` (small runs, in ``make test``);
* by ``scripts/stress.py`` (``make stress``: 8 processes x 500 operations, plus crash rounds);
* as a worker process: ``python harness.py worker --db ... --kind api|cli|ui ...``.

Every worker is a separate OS process that performs a seeded random sequence of operations
against ONE database and appends one JSON line per finished operation to its own log (one
``os.write`` on an O_APPEND descriptor, written only after the call returned). Each operation
carries a unique tag ``w<worker>-<j>`` that ends up in the database (run_id and notes of a
created candidate, the reason of a status change, the payload of an event, a threshold of an
evaluation), so the checker can find every reported operation exactly once with plain sqlite3,
independently of the package.

Invariants checked by :func:`check_db` (plain ``sqlite3`` + ``json``, nothing from the package):

1. ``PRAGMA integrity_check`` is ``ok`` and ``PRAGMA foreign_key_check`` is empty;
2. no event without its candidate; every candidate has exactly one ``created`` event and it is
   its first; event ids strictly increase with time per candidate (ts non-decreasing in
   event_id order) and the AUTOINCREMENT counter is past every id (no id reused);
3. the status history replays: each ``status_change`` event's ``old_status`` is the status left
   by the previous status-setting event, and the candidate's stored status is the last one;
4. every operation a worker reported as successful is in the database exactly once, with the
   candidate and status it reported;
5. an operation that reported failure left nothing behind;
6. anything in the database that no worker reported must be the one operation that was in
   flight in a worker killed with SIGKILL (at most one per killed worker).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Statuses a create or a manual status change may set: candidate/accepted only come from an
#: evaluation with a passed eligibility report (analyzer c79684b).
STATUSES = ("exploratory", "rejected")
NOTE_EVENT = "rel_note"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUNDLE = REPO / "fixtures" / "bundles" / "momentum_24h" / "validation_bundle.json"


# --------------------------------------------------------------------------------------------
# Drivers: one way of reaching the registry each (Python API, CLI, Streamlit AppTest).
# --------------------------------------------------------------------------------------------


class ApiDriver:
    """The Python API, alternating a path and a ``sqlite3.Connection`` as ``conn``."""

    def __init__(self, db: str, rng: random.Random):
        from crypto_analyzer_promotion import store_sqlite

        self.st = store_sqlite
        self.db = db
        self.rng = rng
        self.conn = sqlite3.connect(db, timeout=30)
        # Evaluations are part of every API worker: a missing service module fails the run
        # (ImportError), it does not quietly shrink it.
        from crypto_analyzer_promotion import service
        from crypto_analyzer_promotion.gating import ThresholdConfig

        self.ops = ["create", "status", "event", "evaluate"]
        self.service = service
        self.thresholds = ThresholdConfig

    def _conn(self):
        return self.conn if self.rng.random() < 0.5 else self.db

    def create(self, tag: str, status: str) -> dict[str, Any]:
        cid = self.st.create_candidate(
            self._conn(),
            dataset_id=f"ds{self.rng.randrange(3)}",
            run_id=tag,
            signal_name=f"sig_{self.rng.randrange(5)}",
            horizon=self.rng.choice([1, 5, 10]),
            config_hash="cfg",
            git_commit="rel",
            notes=tag,
            status=status,
            evidence=_evidence(tag, self.rng.random()),
        )
        return {"id": cid}

    def status(self, cid: str, status: str, tag: str) -> dict[str, Any]:
        self.st.update_status(self._conn(), cid, status, reason=tag)
        return {}

    def event(self, cid: str, tag: str) -> dict[str, Any]:
        event_id = self.st.record_event(self._conn(), cid, NOTE_EVENT, {"tag": tag})
        return {"event_id": int(event_id)}

    def evaluate(self, cid: str, tag: str, bundle: str) -> dict[str, Any]:
        thresholds = self.thresholds(min_liquidity_usd_min=float(tag_number(tag)))
        decision = self.service.evaluate_and_record(self._conn(), cid, thresholds, bundle)
        return {"status": decision.status}


def _evidence(tag: str, x: float) -> dict[str, Any]:
    ev: dict[str, Any] = {"tag": tag, "x": x}
    if BUNDLE.exists():  # so that the CLI and the page, which read the bundle from evidence, can evaluate
        ev["bundle_path"] = str(BUNDLE)
    return ev


class CliError(Exception):
    pass


class CliDriver:
    """``python -m crypto_analyzer_promotion`` (one process per operation), as a shell user would."""

    ops = ["create", "status", "evaluate"]

    def __init__(self, db: str, rng: random.Random):
        self.db = db
        self.rng = rng

    def _run(self, *args: str, ok_codes=(0,)) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "crypto_analyzer_promotion", "--db", self.db, *args],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if r.returncode not in ok_codes or (r.returncode != 0 and not r.stdout.strip()):
            raise CliError(f"exit {r.returncode}: {r.stderr.strip()[-400:]}")
        return r.stdout

    def create(self, tag: str, status: str) -> dict[str, Any]:
        out = self._run(
            "create",
            "--from-run",
            tag,
            "--signal",
            f"sig_{self.rng.randrange(5)}",
            "--horizon",
            str(self.rng.choice([1, 5, 10])),
            "--dataset-id",
            f"ds{self.rng.randrange(3)}",
            "--config-hash",
            "cfg",
            "--git-commit",
            "rel",
            "--bundle-path",
            str(BUNDLE),
            "--notes",
            tag,
        )
        return {"id": out.strip().splitlines()[-1].strip(), "status": "exploratory"}

    def status(self, cid: str, status: str, tag: str) -> dict[str, Any]:
        self._run("set-status", cid, status, "--reason", tag)
        return {}

    def evaluate(self, cid: str, tag: str, bundle: str) -> dict[str, Any]:
        out = self._run("evaluate", "--id", cid, "--min-liquidity-usd", str(tag_number(tag)), ok_codes=(0, 1))
        decision = json.loads(out.strip().splitlines()[-1])
        for r in decision.get("reasons", []):
            if r.startswith(("could not load ValidationBundle", "candidate_id not found")):
                raise CliError(f"nothing recorded: {r}")
        return {"status": decision["status"]}


class UiDriver:
    """One Streamlit AppTest session of the page (app.py), clicking like a user: pick a candidate,
    change its status with a reason, or evaluate it with a min-liquidity threshold."""

    ops = ["status", "evaluate"]

    def __init__(self, db: str, rng: random.Random):
        from streamlit.testing.v1 import AppTest

        os.environ["CRYPTO_ANALYZER_DB_PATH"] = db
        app = Path(__import__("crypto_analyzer_promotion").__file__).with_name("app.py")
        self.at = AppTest.from_file(str(app), default_timeout=120)
        self.at.run()
        # Only the shared candidates: they are the ones every process fights over.
        self.at.sidebar.text_input(key="promo_filter_dataset").set_value("ds_shared").run()
        self._raise_if_exception()

    def _raise_if_exception(self) -> None:
        if self.at.exception:
            raise CliError(f"page exception: {[e.value for e in self.at.exception][:1]}")

    def _texts(self) -> str:
        at = self.at
        parts = [x.value for x in at.success] + [x.value for x in at.error] + [x.value for x in at.info]
        parts += [x.value for x in at.warning]
        return "\n".join(str(p) for p in parts)

    def _select(self, cid: str) -> None:
        self.at.selectbox(key="promo_selected").set_value(cid).run()
        self._raise_if_exception()

    def status(self, cid: str, status: str, tag: str) -> dict[str, Any]:
        self._select(cid)
        self.at.selectbox(key="promo_new_status").set_value(status)
        self.at.text_input(key="promo_reason").set_value(tag)
        self.at.button(key="promo_set_status").click().run()
        self._raise_if_exception()
        if f"{cid}: status set to {status} ({tag})" not in self._texts():
            raise CliError(f"no confirmation on the page: {self._texts()[-300:]}")
        return {}

    def evaluate(self, cid: str, tag: str, bundle: str) -> dict[str, Any]:
        self._select(cid)
        if not self.at.checkbox(key="promo_use_liq").value:
            self.at.checkbox(key="promo_use_liq").check().run()  # enables the number input
        self.at.number_input(key="promo_min_liq").set_value(float(tag_number(tag)))
        self.at.button(key="promo_evaluate").click().run()
        self._raise_if_exception()
        text = self._texts()
        if f"Decision for {cid}:" not in text:
            raise CliError(f"no decision on the page: {text[-300:]}")
        return {}


def tag_number(tag: str) -> int:
    """A unique integer per tag (w<wid>-<j> -> wid * 10**7 + j), used as an exact float."""
    wid, j = tag[1:].split("-")
    return int(wid) * 10**7 + int(j)


DRIVERS = {"api": ApiDriver, "cli": CliDriver, "ui": UiDriver}


def register_driver(kind: str, cls) -> None:
    DRIVERS[kind] = cls


# --------------------------------------------------------------------------------------------
# Worker process
# --------------------------------------------------------------------------------------------


def worker(
    db: str,
    kind: str,
    wid: int,
    n_ops: int,
    seed: int,
    log: str,
    shared: Sequence[str],
    bundle: str | None,
    ready: bool = False,
    go: bool = False,
) -> int:
    """``ready``: print "ready" once the driver is set up (imports, page loaded); ``go``: then wait
    for a line on stdin (the start barrier of :func:`run_workers`). Each record carries the wall
    clock at the start and end of its operation (``t0``, ``t1``) for the overlap check."""
    rng = random.Random(seed * 1_000_003 + wid)
    driver = DRIVERS[kind](db, rng)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    own: list[str] = []
    ops = [op for op in driver.ops if op != "evaluate" or bundle]
    if ready:
        print("ready", flush=True)
    if go and sys.stdin.readline().strip() != "go":
        return 3
    for j in range(n_ops):
        tag = f"w{wid}-{j}"
        op = "create" if (not own and not shared) else rng.choice(ops)
        rec: dict[str, Any] = {"j": j, "op": op, "tag": tag, "kind": kind, "t0": time.time()}
        try:
            if op == "create":
                status = rng.choice(STATUSES)
                rec["status"] = status
                out = driver.create(tag, status)
                own.append(out["id"])
                rec["status"] = out.get("status", status)
            else:
                pool = own if (own and (not shared or rng.random() < 0.5)) else list(shared)
                cid = rng.choice(pool)
                rec["cid"] = cid
                if op == "status":
                    status = rng.choice(STATUSES)
                    rec["status"] = status
                    out = driver.status(cid, status, tag)
                elif op == "event":
                    out = driver.event(cid, tag)
                else:
                    out = driver.evaluate(cid, tag, bundle)
            rec.update(out)
            rec["ok"] = True
        except Exception as exc:  # every failure is reported, never hidden
            rec.update(ok=False, error=type(exc).__name__, msg=str(exc)[:500])
        rec["t1"] = time.time()
        os.write(fd, (json.dumps(rec, sort_keys=True) + "\n").encode())
    os.close(fd)
    return 0


# --------------------------------------------------------------------------------------------
# Setup, running, killing
# --------------------------------------------------------------------------------------------


def init_db(db: Path, n_shared: int = 6) -> list[str]:
    """Migrate a fresh database and create the candidates every worker also touches."""
    from crypto_analyzer_promotion import migrations_phase3, store_sqlite

    migrations_phase3.run_migrations_phase3(None, db)
    ids = []
    for i in range(n_shared):
        ids.append(
            store_sqlite.create_candidate(
                db,
                dataset_id="ds_shared",
                run_id=f"shared-{i}",
                signal_name=f"shared_{i}",
                horizon=1,
                config_hash="cfg",
                git_commit="rel",
                candidate_id=f"shared_{i}",
                evidence=_evidence(f"shared-{i}", 0.0),
            )
        )
    return ids


def _worker_cmd(
    db: Path,
    kind: str,
    wid: int,
    n_ops: int,
    seed: int,
    log: Path,
    shared_file: Path,
    bundle: Path | None,
    ready: bool = False,
    go: bool = False,
) -> list[str]:
    cmd = [
        sys.executable,
        str(HERE / "harness.py"),
        "worker",
        "--db",
        str(db),
        "--kind",
        kind,
        "--wid",
        str(wid),
        "--ops",
        str(n_ops),
        "--seed",
        str(seed),
        "--log",
        str(log),
        "--shared",
        str(shared_file),
    ]
    if bundle:
        cmd += ["--bundle", str(bundle)]
    if ready:
        cmd.append("--ready")
    if go:
        cmd.append("--go")
    return cmd


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CRYPTO_ANALYZER_BUSY_TIMEOUT_MS", "30000")
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(HERE), env.get("PYTHONPATH", "")] if p)
    return env


@dataclass
class RunResult:
    db: Path
    logs: dict[int, Path]
    kinds: dict[int, str]
    killed: dict[int, int] = field(default_factory=dict)  # wid -> in-flight op index
    elapsed_s: float = 0.0
    returncodes: dict[int, int] = field(default_factory=dict)


def _auto_bundle(bundle):
    """``"auto"``: the repository's fixture bundle, which must exist (a missing fixture fails the
    run instead of silently dropping evaluations); ``None``: no evaluations, explicitly."""
    if bundle == "auto":
        if not BUNDLE.exists():
            raise FileNotFoundError(f"fixture bundle missing: {BUNDLE} (evaluations need it)")
        return BUNDLE
    return bundle


def run_workers(
    workdir: Path, kinds: Sequence[str], n_ops: Any, seed: int = 1, bundle: Any = "auto", timeout_s: float = 3600
) -> RunResult:
    """Run one worker per entry of ``kinds`` concurrently (released together by a start
    barrier), wait for all. ``n_ops``: operations per worker, or a dict kind -> operations (API
    calls take milliseconds, a CLI call or a page click a good part of a second). Evaluations use
    the fixture bundle (``bundle="auto"``)."""
    bundle = _auto_bundle(bundle)
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "stress.db"
    shared = init_db(db)
    shared_file = workdir / "shared.json"
    shared_file.write_text(json.dumps(shared))
    res = RunResult(db=db, logs={}, kinds={})
    procs = {}
    t0 = time.monotonic()
    for wid, kind in enumerate(kinds):
        log = workdir / f"w{wid}.log"
        res.logs[wid] = log
        res.kinds[wid] = kind
        procs[wid] = subprocess.Popen(
            _worker_cmd(
                db,
                kind,
                wid,
                n_ops[kind] if isinstance(n_ops, dict) else n_ops,
                seed,
                log,
                shared_file,
                bundle,
                ready=True,
                go=True,
            ),
            env=_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(workdir / f"w{wid}.err", "wb"),
        )
    # Start barrier: every worker (API, CLI, page) is past its imports and set up before any of
    # them performs its first operation.
    for wid, p in procs.items():
        line = p.stdout.readline() if p.stdout else b""
        if line.strip() != b"ready":
            for q in procs.values():
                q.kill()
            raise RuntimeError(
                f"worker {wid} ({kinds[wid]}) did not start: {(workdir / f'w{wid}.err').read_text()[-2000:]}"
            )
    for p in procs.values():
        p.stdin.write(b"go\n")
        p.stdin.flush()
    for p in procs.values():
        p.stdin.close()
    deadline = t0 + timeout_s
    for wid, p in procs.items():
        try:
            res.returncodes[wid] = p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            res.returncodes[wid] = p.wait()
    res.elapsed_s = time.monotonic() - t0
    return res


def run_crashes(
    workdir: Path,
    kinds: Sequence[str],
    n_kills: int,
    seed: int = 7,
    bundle: Any = "auto",
    min_delay: float = 0.02,
    max_delay: float = 0.6,
) -> RunResult:
    """Keep ``len(kinds)`` writers busy; SIGKILL one at a random moment ``n_kills`` times
    (each replaced by a fresh writer), then SIGKILL the rest. Nothing is shut down cleanly."""
    bundle = _auto_bundle(bundle)
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "crash.db"
    shared = init_db(db)
    shared_file = workdir / "shared.json"
    shared_file.write_text(json.dumps(shared))
    rng = random.Random(seed)
    res = RunResult(db=db, logs={}, kinds={})
    live: dict[int, subprocess.Popen] = {}
    next_wid = 0

    def spawn(kind: str) -> None:
        nonlocal next_wid
        wid = next_wid
        next_wid += 1
        log = workdir / f"w{wid}.log"
        res.logs[wid] = log
        res.kinds[wid] = kind
        p = subprocess.Popen(
            _worker_cmd(db, kind, wid, 10**7, seed, log, shared_file, bundle, ready=True),
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=open(workdir / f"w{wid}.err", "wb"),
            start_new_session=True,
        )
        # Wait until it is past its imports, so the kill lands among database writes.
        line = p.stdout.readline() if p.stdout else b""
        if line.strip() != b"ready":
            raise RuntimeError(f"worker {wid} did not start: {(workdir / f'w{wid}.err').read_text()[-2000:]}")
        live[wid] = p

    t0 = time.monotonic()
    for kind in kinds:
        spawn(kind)
    for _ in range(n_kills):
        time.sleep(rng.uniform(min_delay, max_delay))
        wid = rng.choice(sorted(live))
        kind = res.kinds[wid]
        res.returncodes[wid] = _kill(live.pop(wid))
        res.killed[wid] = -1
        spawn(kind)
    time.sleep(rng.uniform(min_delay, max_delay))
    for wid in sorted(live):
        res.returncodes[wid] = _kill(live.pop(wid))
        res.killed[wid] = -1
    res.elapsed_s = time.monotonic() - t0
    for wid in res.killed:
        res.killed[wid] = len(read_log(res.logs[wid]))  # the op in flight when it died
    return res


def _kill(p: subprocess.Popen) -> int:
    """SIGKILL the worker and everything it started (a CLI call in flight dies with it). Returns
    its exit status: ``-SIGKILL`` when it was still running, as it should be."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return p.wait()


# --------------------------------------------------------------------------------------------
# Checking (plain sqlite3 + json: independent of the package)
# --------------------------------------------------------------------------------------------


def read_log(path: Path) -> list[dict[str, Any]]:
    """Complete records of a worker log (a torn last line, possible after SIGKILL, is dropped)."""
    out = []
    if not path.exists():
        return out
    for line in path.read_bytes().split(b"\n"):
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


class InvariantError(AssertionError):
    pass


_TAG = re.compile(r"w[0-9]+-[0-9]+")


def _is_tag(v: Any) -> bool:
    return isinstance(v, str) and _TAG.fullmatch(v) is not None


def _tag_of_event(event_type: str, payload: dict | None) -> str | None:
    if not payload:
        return None
    if event_type == "status_change":
        return payload.get("reason") if _is_tag(payload.get("reason")) else None
    if event_type == NOTE_EVENT:
        return payload.get("tag") if _is_tag(payload.get("tag")) else None
    if event_type == "evaluated":
        used = payload.get("thresholds_used") or {}
        v = used.get("min_liquidity_usd_min")
        if isinstance(v, (int, float)) and v >= 0:
            n = int(v)
            return f"w{n // 10**7}-{n % 10**7}"
    return None


def check_db(
    db: Path,
    logs: dict[int, Sequence[dict[str, Any]]],
    killed: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Check every invariant (see the module docstring). Raises InvariantError listing the
    violations; returns counts for the report."""
    killed = killed or {}
    # The status each candidate was created with (the created event does not carry it): the shared
    # candidates of init_db are "exploratory"; a worker's create reports its status.
    created_status: dict[str, str] = {}
    for recs in logs.values():
        for rec in recs:
            if rec.get("ok") and rec.get("op") == "create" and rec.get("id"):
                created_status[rec["id"]] = rec.get("status")
    problems: list[str] = []
    conn = sqlite3.connect(str(db), timeout=60)
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if integrity != ["ok"]:
            problems.append(f"integrity_check: {integrity[:5]}")
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append(f"foreign_key_check: {fk[:5]}")
        cands = {
            r[0]: {"status": r[1], "run_id": r[2], "notes": r[3]}
            for r in conn.execute("SELECT candidate_id, status, run_id, notes FROM promotion_candidates")
        }
        events = conn.execute(
            "SELECT event_id, candidate_id, ts_utc, event_type, payload_json FROM promotion_events ORDER BY event_id"
        ).fetchall()
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'promotion_events'").fetchone()
    finally:
        conn.close()

    by_cand: dict[str, list[tuple]] = defaultdict(list)
    for ev in events:
        by_cand[ev[1]].append(ev)
    orphans = [ev[0] for ev in events if ev[1] not in cands]
    if orphans:
        problems.append(f"{len(orphans)} events without their candidate, e.g. {orphans[:5]}")
    if events and (seq is None or seq[0] < events[-1][0]):
        problems.append(f"sqlite_sequence {seq} is behind the largest event_id {events[-1][0]}")

    # Tags found in the database: tag -> list of (where, candidate_id, detail)
    found: dict[str, list[tuple[str, str, Any]]] = defaultdict(list)
    for cid, c in cands.items():
        if _is_tag(c["run_id"]) and c["run_id"] == c["notes"]:
            found[c["run_id"]].append(("create", cid, None))
    for cid, evs in by_cand.items():
        if cid not in cands:
            continue
        created = [e for e in evs if e[3] == "created"]
        if len(created) != 1 or evs[0][3] != "created":
            problems.append(f"{cid}: {len(created)} created events, first event {evs[0][3]!r}")
        for a, b in zip(evs, evs[1:]):
            if not (a[0] < b[0] and a[2] <= b[2]):
                problems.append(f"{cid}: event {a[0]} at {a[2]} then {b[0]} at {b[2]}: ids do not increase with time")
        state = created_status.get(cid) or (
            "exploratory" if (cands[cid]["run_id"] or "").startswith("shared-") else None
        )
        promoted = False
        for e in evs:
            payload = json.loads(e[4]) if e[4] else None
            if e[3] == "status_change":
                if state is not None and payload.get("old_status") != state:
                    problems.append(
                        f"{cid}: event {e[0]} says old_status {payload.get('old_status')!r}, history says {state!r}"
                    )
                state = payload.get("new_status")
            elif e[3] == "evaluated":
                # The service writes, in one transaction: "rejected" for a failing gate; for a
                # promotion the status_change (with its eligibility report) just before; else
                # "exploratory" (c79684b).
                status = (payload or {}).get("status")
                if status == "rejected":
                    state = "rejected"
                elif not promoted:
                    state = "exploratory"
            promoted = e[3] == "status_change" and bool((payload or {}).get("eligibility_report_id"))
            tag = _tag_of_event(e[3], payload)
            if tag:
                found[tag].append((e[3], cid, payload))
        if state is not None and cands[cid]["status"] != state:
            problems.append(f"{cid}: stored status {cands[cid]['status']!r} but the last event set {state!r}")
    for cid in cands:
        if cid not in by_cand:
            problems.append(f"{cid}: candidate without any event")

    expected_type = {"create": "create", "status": "status_change", "event": NOTE_EVENT, "evaluate": "evaluated"}
    reported_ok = failed = conflicts = 0
    op_counts: Counter = Counter()
    reported_tags = set()
    failures: Counter = Counter()
    for recs in logs.values():
        for rec in recs:
            tag = rec["tag"]
            reported_tags.add(tag)
            hits = found.get(tag, [])
            if rec.get("ok"):
                reported_ok += 1
                op_counts[(rec.get("kind"), rec["op"])] += 1
                want = expected_type[rec["op"]]
                if len(hits) != 1 or hits[0][0] != want:
                    problems.append(
                        f"{tag} ({rec['op']}) reported ok, found {len(hits)} times in the db: {[h[:2] for h in hits]}"
                    )
                    continue
                where, cid, payload = hits[0]
                if rec["op"] == "create":
                    if cid != rec.get("id"):
                        problems.append(f"{tag}: created id {cid}, reported {rec.get('id')}")
                    elif len(by_cand.get(cid, [])) == 0:
                        problems.append(f"{tag}: created candidate {cid} has no events")
                else:
                    if cid != rec.get("cid"):
                        problems.append(f"{tag}: event on {cid}, reported on {rec.get('cid')}")
                    if rec["op"] == "status" and payload.get("new_status") != rec.get("status"):
                        problems.append(
                            f"{tag}: new_status {payload.get('new_status')!r}, reported {rec.get('status')!r}"
                        )
            else:
                if rec["op"] == "evaluate" and "while it was evaluated; evaluate again" in (rec.get("msg") or ""):
                    # The CLI passes the status it chose the next rung from; another worker changed
                    # it meanwhile: refused, and (checked below) nothing written.
                    conflicts += 1
                else:
                    failed += 1
                    failures[(rec.get("kind"), rec.get("error"), (rec.get("msg") or "")[:80])] += 1
                if hits:
                    problems.append(
                        f"{tag} ({rec['op']}) reported failure ({rec.get('error')}) but left {len(hits)} rows"
                    )
    in_flight_committed = 0
    for tag, hits in found.items():
        if tag in reported_tags:
            continue
        wid, j = (int(x) for x in tag[1:].split("-"))
        if wid in killed and j == killed[wid] and len(hits) == 1:
            in_flight_committed += 1
            continue
        problems.append(f"{tag} is in the database ({[h[:2] for h in hits]}) but no worker reported it")
    if problems:
        raise InvariantError(f"{len(problems)} invariant violations:\n" + "\n".join(problems[:40]))
    return {
        "candidates": len(cands),
        "events": len(events),
        "reported_ok": reported_ok,
        "reported_failed": failed,
        "refused_stale_evaluations": conflicts,
        "failures": {" | ".join(map(str, k)): n for k, n in failures.items()},
        "ops": {f"{k}:{o}": n for (k, o), n in sorted(op_counts.items())},
        "killed_workers": len(killed),
        "in_flight_committed": in_flight_committed,
        "in_flight_lost": len(killed) - in_flight_committed,
    }


def overlap(db: Path, logs: dict[int, Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Were the workers writing at the same time? From the logs: each worker's first operation
    start and last operation end (wall clock); ``latest_start < earliest_end`` means every worker
    had started before any had finished. From the database: the workers' tagged events in commit
    (event_id) order; ``switches`` counts consecutive events from different workers and
    ``interleaved`` lists, per worker, how many of its events directly follow or directly precede
    another worker's (its commits sit in the same sequence as the others')."""
    spans = {}
    for wid, recs in logs.items():
        times = [(r["t0"], r["t1"]) for r in recs if "t0" in r and "t1" in r]
        if times:
            spans[wid] = (min(t for t, _ in times), max(t for _, t in times))
    conn = sqlite3.connect(str(db), timeout=60)
    try:
        rows = conn.execute("SELECT event_type, payload_json FROM promotion_events ORDER BY event_id").fetchall()
    finally:
        conn.close()
    writers = []
    for etype, payload in rows:
        tag = _tag_of_event(etype, json.loads(payload) if payload else None)
        if tag:
            writers.append(int(tag[1:].split("-")[0]))
    switches = 0
    interleaved: Counter = Counter()
    for a, b in zip(writers, writers[1:]):
        if a != b:
            switches += 1
            interleaved[b] += 1
            interleaved[a] += 1
    return {
        "latest_start": max((s for s, _ in spans.values()), default=None),
        "earliest_end": min((e for _, e in spans.values()), default=None),
        "tagged_events": len(writers),
        "switches": switches,
        "interleaved": {wid: interleaved.get(wid, 0) for wid in sorted(logs)},
    }


def check_run(res: RunResult) -> dict[str, Any]:
    logs = {wid: read_log(path) for wid, path in res.logs.items()}
    report = check_db(res.db, logs, res.killed)
    report["elapsed_s"] = round(res.elapsed_s, 2)
    report["workers"] = len(res.logs)
    report["overlap"] = overlap(res.db, logs)
    return report


def assert_overlap(report: dict[str, Any], min_switches: int) -> None:
    """Every worker was writing while the others were: the latest first start precedes the
    earliest last end, at least ``min_switches`` writer switches in commit order, and every
    worker has events next to another worker's in commit order. (SQLite's write lock is not
    fair: a fast API worker may commit a long run before the lock passes on, so "every worker
    follows another" would measure lock fairness, not overlap.)"""
    ov = report["overlap"]
    problems = []
    if ov["latest_start"] is None or not ov["latest_start"] < ov["earliest_end"]:
        problems.append(f"no common window: latest start {ov['latest_start']}, earliest end {ov['earliest_end']}")
    if ov["switches"] < min_switches:
        problems.append(f"only {ov['switches']} writer switches in {ov['tagged_events']} events (< {min_switches})")
    alone = [wid for wid, n in ov["interleaved"].items() if n == 0]
    if alone:
        problems.append(f"workers {alone} never wrote between other workers' events")
    if problems:
        raise InvariantError("workers did not overlap: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------


def _main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--db", required=True)
    w.add_argument("--kind", default="api")
    w.add_argument("--wid", type=int, required=True)
    w.add_argument("--ops", type=int, required=True)
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--log", required=True)
    w.add_argument("--shared")
    w.add_argument("--bundle")
    w.add_argument("--ready", action="store_true")
    w.add_argument("--go", action="store_true", help="after ready, wait for 'go' on stdin")
    c = sub.add_parser("cache-worker")
    c.add_argument("--cache", required=True)
    c.add_argument("--wid", type=int, required=True)
    c.add_argument("--ops", type=int, required=True)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--log", required=True)
    c.add_argument("--ready", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "cache-worker":
        return cache_worker(args.cache, args.wid, args.ops, args.seed, args.log, args.ready)
    shared = json.loads(Path(args.shared).read_text()) if args.shared else []
    return worker(args.db, args.kind, args.wid, args.ops, args.seed, args.log, shared, args.bundle, args.ready, args.go)


# --------------------------------------------------------------------------------------------
# Cache writers (rc_cache): crash safety of the manifest and artifacts
# --------------------------------------------------------------------------------------------

N_CACHE_KEYS = 12


def cache_key_name(i: int) -> str:
    return f"relkey{i:02d}"


def cache_values(i: int, variant: int) -> list[float]:
    """Content saved under key i. Even keys always get the same content (a deterministic RC
    null); odd keys get a different content per save (variant), so a crash between publishing an
    artifact and its manifest entry would be visible as a sha256 mismatch."""
    n = 50 + 7 * i
    v = 0 if i % 2 == 0 else variant
    return [float((k * 31 + i * 17 + v * 101) % 997) / 997.0 for k in range(n)]


def cache_worker(cache_dir: str, wid: int, n_ops: int, seed: int, log: str, ready: bool) -> int:
    import numpy as np
    from crypto_analyzer_promotion import rc_cache

    rng = random.Random(seed * 7919 + wid)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if ready:
        print("ready", flush=True)
    for j in range(n_ops):
        i = rng.randrange(N_CACHE_KEYS)
        variant = wid * 10**7 + j
        if rng.random() < 0.3:
            rc_cache.load_cached_null_max(cache_dir, cache_key_name(i))
            continue
        # Logged BEFORE the save: every content that may appear in the cache is known.
        os.write(fd, (json.dumps({"key": i, "variant": variant}) + "\n").encode())
        rc_cache.save_cached_null_max(cache_dir, cache_key_name(i), np.asarray(cache_values(i, variant)))
        # Logged AFTER the save returned: this content must now be visible (or a later save's).
        os.write(fd, (json.dumps({"key": i, "variant": variant, "done": True}) + "\n").encode())
    os.close(fd)
    return 0


def run_cache_crashes(
    workdir: Path, n_writers: int, n_kills: int, seed: int = 9, min_delay: float = 0.02, max_delay: float = 0.4
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    cache_dir = workdir / "cache"
    rng = random.Random(seed)
    live: dict[int, subprocess.Popen] = {}
    logs: dict[int, Path] = {}
    next_wid = 0

    def spawn() -> None:
        nonlocal next_wid
        wid = next_wid
        next_wid += 1
        logs[wid] = workdir / f"c{wid}.log"
        p = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "harness.py"),
                "cache-worker",
                "--cache",
                str(cache_dir),
                "--wid",
                str(wid),
                "--ops",
                str(10**7),
                "--seed",
                str(seed),
                "--log",
                str(logs[wid]),
                "--ready",
            ],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=open(workdir / f"c{wid}.err", "wb"),
            start_new_session=True,
        )
        if (p.stdout.readline() if p.stdout else b"").strip() != b"ready":
            raise RuntimeError((workdir / f"c{wid}.err").read_text()[-2000:])
        live[wid] = p

    t0 = time.monotonic()
    statuses = []
    for _ in range(n_writers):
        spawn()
    for _ in range(n_kills):
        time.sleep(rng.uniform(min_delay, max_delay))
        statuses.append(_kill(live.pop(rng.choice(sorted(live)))))
        spawn()
    time.sleep(rng.uniform(min_delay, max_delay))
    for wid in sorted(live):
        statuses.append(_kill(live.pop(wid)))
    report = check_cache(cache_dir, logs)
    report.update(
        killed_writers=sum(1 for s in statuses if s == -signal.SIGKILL),
        exited_before_kill=sum(1 for s in statuses if s != -signal.SIGKILL),
        elapsed_s=round(time.monotonic() - t0, 2),
    )
    return report


def check_cache(cache_dir: Path, logs: dict[int, Path]) -> dict[str, Any]:
    """Manifest is valid JSON; every entry names a file inside the cache dir whose sha256
    matches; every served array is a content some writer saved under that key (plain json +
    hashlib + numpy's own .npy reader, then the package's loader)."""
    import hashlib

    import numpy as np

    problems: list[str] = []
    attempted: dict[int, set] = defaultdict(set)
    done: dict[int, set] = defaultdict(set)
    saves = 0
    for path in logs.values():
        for rec in read_log(path):
            if rec.get("done"):
                done[rec["key"]].add(rec["variant"])
                continue
            attempted[rec["key"]].add(rec["variant"])
            saves += 1
    completed = {i for i, vs in done.items() if vs}
    # A save that never returned (its writer was killed) may have dropped the key's entry on
    # purpose (replacing content: entry removed first, so a crash leaves the key absent and
    # recomputed, never a mismatching entry). Only such a key may lack a completed save's entry.
    unfinished = {i for i, vs in attempted.items() if vs - done[i]}
    manifest_path = cache_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    except ValueError as exc:
        raise InvariantError(f"manifest.json is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise InvariantError(f"manifest.json is not an object: {type(manifest).__name__}")
    from crypto_analyzer_promotion import rc_cache

    served = 0
    for key, entry in manifest.items():
        f = cache_dir / entry["path"]
        if f.resolve().parent != cache_dir.resolve():
            problems.append(f"{key}: path {entry['path']!r} is not inside the cache dir")
            continue
        if not f.exists():
            problems.append(f"{key}: artifact {entry['path']} missing")
            continue
        if hashlib.sha256(f.read_bytes()).hexdigest() != entry["sha256"]:
            problems.append(f"{key}: sha256 in the manifest does not match {entry['path']}")
            continue
        i = int(key[len("relkey") :])
        arr = np.load(f)
        if not any(np.array_equal(arr, cache_values(i, v)) for v in attempted[i]):
            problems.append(f"{key}: content is none of the arrays saved under it")
        got = rc_cache.load_cached_null_max(cache_dir, key)
        if got is None or not np.array_equal(got, arr):
            problems.append(f"{key}: load_cached_null_max did not serve the verified artifact")
        served += 1
    for i in sorted(completed - unfinished):
        if cache_key_name(i) not in manifest:
            problems.append(
                f"{cache_key_name(i)}: a save of it returned, no save of it was cut short, "
                "but the manifest has no entry"
            )
    if problems:
        raise InvariantError(f"{len(problems)} cache violations:\n" + "\n".join(problems[:40]))
    return {
        "saves_started": saves,
        "keys_completed": len(completed),
        "keys_cut_short": len(unfinished),
        "entries": len(manifest),
        "served_ok": served,
    }


if __name__ == "__main__":
    sys.exit(_main())
