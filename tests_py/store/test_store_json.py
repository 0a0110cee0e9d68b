"""Canonical JSON: the stored bytes equal json.dumps(round_floats(obj), sort_keys=True,
separators=(",", ":")) and are the same every run; bad evidence is refused by key."""

from __future__ import annotations

import json
import math
import pathlib
import random

import numpy as np
import pytest
from crypto_analyzer_promotion import store_sqlite as st


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        # floats over the whole range, including ties near the 10th digit and subnormals
        e = rng.choice([rng.uniform(-320, 308), rng.uniform(-12, 17), 0])
        x = rng.uniform(-1, 1) * 10.0**e
        return rng.choice([x, round(x, 11), float(rng.randrange(-(10**6), 10**6)) / 2 ** rng.randrange(40)])
    if kind == 1:
        return rng.randrange(-(2**63), 2**63)
    if kind == 2:
        return "".join(
            rng.choice(["a", "Z", " ", '"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "€", "😀", "\u2028", "/"])
            for _ in range(rng.randrange(8))
        )
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.choice([float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1e16, 1e-5, 1e-4])
    if kind == 5:
        return rng.random()
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 7:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {random_value_key(rng): random_value(rng, depth + 1) for _ in range(rng.randrange(6))}


def random_value_key(rng):
    return rng.choice(["a", "B", "b", "é", "😀", "z", "10", "9", "", "key with space", "\u00ff"])


def test_canonical_text_equals_python_json_on_random_documents(ref):
    rng = random.Random(20260201)
    for _ in range(3000):
        obj = {"v": random_value(rng), "w": random_value(rng)}
        assert st.canonical_json(obj) == ref.python_canonical(obj), obj


def test_canonical_floats_near_powers_of_two_match_python(ref):
    # round(x, 10) then repr: the large powers of two keep all their digits (2**89 is
    # 6.189700196426902e+26), the small ones round to 0.0 or a short decimal.
    values = []
    for e in range(-1074, 1024):
        p = math.ldexp(1.0, e)
        values += [p, -p, math.nextafter(p, 0.0), math.nextafter(p, math.inf)]
    values = [v for v in values if math.isfinite(v)]
    assert st.canonical_json(values) == ref.python_canonical(values)


def test_float_rounding_matches_python_round_on_many_floats(ref):
    rng = random.Random(7)
    values = [rng.uniform(-1, 1) * 10.0 ** rng.uniform(-15, 20) for _ in range(20000)]
    values += [k / 2**35 for k in range(-2000, 2000)]  # exact binary ties at the 11th digit
    assert st.canonical_json(values) == ref.python_canonical(values)
    assert json.loads(st.canonical_json(values)) == [round(v, 10) for v in values]


def test_stored_evidence_bytes_are_python_canonical_and_stable(db, make, ref):
    evidence = {
        "metrics": {"mean_ic": 0.0312345678912345, "t_stat": 2.71828182845904, "p": float("nan")},
        "b_path": "x.csv",
        "list": [1.5, 2, None, True],
        "name": "naïve",
    }
    a = st.get_candidate(db, make(evidence=evidence))["evidence_json"]
    b = st.get_candidate(db, make(evidence=dict(reversed(list(evidence.items())))))["evidence_json"]
    assert a == b == ref.python_canonical(evidence)
    assert json.loads(a)["metrics"]["p"] is None


def test_numpy_scalars_and_arrays_are_plain_json(db, make, ref):
    evidence = {
        "f64": np.float64(0.1),
        "f32": np.float32(0.5),
        "i": np.int64(7),
        "b": np.bool_(True),
        "arr": np.array([[1.0, 2.0], [3.0, float("nan")]]),
        "p": pathlib.PurePosixPath("a/b"),
    }
    stored = st.get_candidate(db, make(evidence=evidence))["evidence_json"]
    plain = {"f64": 0.1, "f32": 0.5, "i": 7, "b": True, "arr": [[1.0, 2.0], [3.0, None]], "p": "a/b"}
    assert stored == ref.python_canonical(plain)


@pytest.mark.parametrize(
    "evidence, where",
    [
        ({"x": [1, 2, {3}]}, "evidence['x'][2] is not JSON-serializable: set"),
        ({"a": {"b": object()}}, "evidence['a']['b'] is not JSON-serializable: object"),
        ({"bytes": b"raw"}, "evidence['bytes'] is not JSON-serializable: bytes"),
        ({"c": 1 + 2j}, "evidence['c'] is not JSON-serializable: complex"),
        ({1: "int key"}, "key that is not a str"),
    ],
)
def test_unserializable_evidence_names_the_key_and_writes_nothing(db, make, ref, evidence, where):
    with pytest.raises(ValueError) as info:
        make(evidence=evidence)
    assert where in str(info.value)
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_candidates")[0]["n"] == 0
    assert ref.rows(db, "SELECT COUNT(*) AS n FROM promotion_events")[0]["n"] == 0


def test_bad_payload_is_refused_by_key(db, make):
    cid = make()
    with pytest.raises(ValueError, match=r"payload\['when'\] is not JSON-serializable: datetime"):
        import datetime

        st.record_event(db, cid, "note", {"when": datetime.datetime(2026, 1, 1)})
    assert len(st.get_events(db, cid)) == 1


def test_circular_evidence_is_an_error_not_a_crash(make):
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested more than"):
        make(evidence={"loop": loop})


def test_evidence_must_be_a_mapping(make, db):
    with pytest.raises(ValueError, match="evidence must be a dict"):
        make(evidence=[1, 2])
    # The refused call wrote nothing: no candidate, no event (plain sqlite3 / psql).
    counts = [_count_rows(db, t) for t in ("promotion_candidates", "promotion_events")]
    assert counts == [0, 0]


def _count_rows(db, table: str) -> int:
    if str(db).startswith("postgresql://"):
        import subprocess

        out = subprocess.run(
            ["psql", str(db), "-tAc", f"SELECT COUNT(*) FROM {table}"], capture_output=True, text=True, check=True
        )
        return int(out.stdout.strip())
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()
