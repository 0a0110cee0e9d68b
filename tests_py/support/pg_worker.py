"""A writer process of the PostgreSQL concurrency tests (``tests_py/reliability/test_rel_postgresql.py``).

``python pg_worker.py URL WORKER N_OPS SEED LOG BUNDLE`` performs ``N_OPS`` seeded random
operations on the registry at ``URL`` through the package's public API and appends one JSON line
per FINISHED operation to ``LOG`` (one ``os.write`` on an O_APPEND descriptor, after the call
returned), with its start and end times. Operations:

* ``create``: a candidate whose run_id is the operation's tag ``w<worker>-<j>``;
* ``promote``: ``evaluate_and_record`` of a random listed candidate with the next rung as target
  (exploratory → candidate → accepted), what the CLI and the page do;
* ``reject``: ``evaluate_and_record`` with a threshold the bundle fails, on an exploratory one;
* ``evaluate``: ``evaluate_and_record`` at target exploratory on an exploratory one (gate only);
* ``list``: a filtered ``list_candidates``.

An evaluation that loses a race (another process changed the status after it was read) is
refused with "changed status ... evaluate again" and logged as ``conflict`` (nothing written).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time


def main(argv: list[str]) -> int:
    url, worker, n_ops, seed, log, bundle = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), argv[4], argv[5]
    from crypto_analyzer_promotion import store_sqlite as st
    from crypto_analyzer_promotion.gating import ThresholdConfig
    from crypto_analyzer_promotion.service import evaluate_and_record

    passing = ThresholdConfig(ic_mean_min=0.02, tstat_min=2.0)
    failing = ThresholdConfig(ic_mean_min=0.5, tstat_min=2.0)
    rng = random.Random(seed * 1000 + worker)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pool: list[dict] = st.list_candidates(url, limit=500)

    def pick(statuses: tuple[str, ...]) -> dict | None:
        cands = [c for c in pool if c["status"] in statuses]
        return rng.choice(cands) if cands else None

    for j in range(n_ops):
        tag = f"w{worker}-{j}"
        r = rng.random()
        op = (
            "create"
            if r < 0.25
            else "promote"
            if r < 0.6
            else "reject"
            if r < 0.65
            else "evaluate"
            if r < 0.75
            else "list"
        )
        rec: dict = {"w": worker, "j": j, "op": op, "tag": tag, "t0": time.time()}
        try:
            if op == "create":
                rec["cid"] = st.create_candidate(
                    url,
                    dataset_id="ds",
                    run_id=tag,
                    signal_name="sig",
                    horizon=1,
                    config_hash="x",
                    git_commit="y",
                    notes=tag,
                    evidence={"bundle_path": bundle},
                )
            elif op == "list":
                pool = st.list_candidates(url, status=rng.choice([None, "exploratory", "candidate"]), limit=500)
                if len(pool) < 20:
                    pool = st.list_candidates(url, limit=500)
                rec["n"] = len(pool)
            else:
                c = pick(("exploratory", "candidate") if op == "promote" else ("exploratory",))
                if c is None:
                    rec["op"] = "skip"
                else:
                    cur = st.get_candidate(url, c["candidate_id"])
                    assert cur is not None
                    rec["cid"], rec["from"] = cur["candidate_id"], cur["status"]
                    if op == "promote":
                        target = {"exploratory": "candidate", "candidate": "accepted"}.get(cur["status"])
                        thr = passing
                    else:
                        target, thr = "exploratory", failing if op == "reject" else passing
                    if target is None or (op != "promote" and cur["status"] != "exploratory"):
                        rec["op"] = "skip"
                    else:
                        d = evaluate_and_record(
                            url,
                            rec["cid"],
                            thr,
                            None,
                            target_status=target,
                            allow_missing_execution_evidence=True,
                            expected_status=cur["status"],
                        )
                        rec["decision"], rec["target"] = d.status, target
                        c["status"] = target if op == "promote" else d.status
            rec["ok"] = True
        except ValueError as e:
            if "evaluate again" not in str(e):
                raise
            rec["ok"], rec["conflict"] = False, True
        rec["t1"] = time.time()
        os.write(fd, (json.dumps(rec) + "\n").encode())
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
