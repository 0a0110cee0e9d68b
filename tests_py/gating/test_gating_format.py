"""The core prints numbers exactly as Python does: repr(float) and f"{x:.4f}"."""

from __future__ import annotations

import random
import struct

from crypto_analyzer_promotion import _core

TRICKY = [
    0.0,
    -0.0,
    1.0,
    0.02,
    2.5,
    0.05,
    1e-05,
    1e-4,
    0.0001,
    1e16,
    1e15,
    9999999999999998.0,
    123456789012345680.0,
    0.1 + 0.2,
    5e-324,
    1.7976931348623157e308,
    2.2250738585072014e-308,
    0.03125,
    0.09375,
    0.00005,
    0.00015,
    2.00005,
    1.23455,
    -0.00001,
    -0.00005,
    1e20,
    1e22,
    1e-7,
    float("nan"),
    float("inf"),
    float("-inf"),
    100.0,
    1234567.0,
    0.3,
    2 / 3,
    -1 / 3,
]


def _random_floats(n: int):
    rng = random.Random(1234)
    for _ in range(n):
        # Random bit patterns cover every exponent; uniform values cover the usual range.
        bits = rng.getrandbits(64)
        yield struct.unpack("<d", struct.pack("<Q", bits))[0]
        yield rng.uniform(-1, 1)
        yield round(rng.uniform(-1, 1), rng.randint(1, 8))
        yield rng.randint(-(10**6), 10**6) / 2 ** rng.randint(0, 20)


def test_float_repr_matches_python():
    for x in TRICKY + list(_random_floats(5000)):
        assert _core._python_float_repr(x) == repr(x), x


def test_format_4f_matches_python():
    for x in TRICKY + list(_random_floats(5000)):
        assert _core._python_format_4f(x) == f"{x:.4f}", x
