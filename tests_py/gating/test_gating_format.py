"""The core prints numbers exactly as Python does: repr(float) and f"{x:.4f}"."""

from __future__ import annotations

import math
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


def _near_powers_of_two():
    # Every power of two and its two neighbours, both signs. At a power of two the gap below is
    # half the gap above, so the nearest 16- or 17-digit decimal may not read back as x.
    for e in range(-1074, 1024):
        p = math.ldexp(1.0, e)
        for x in (p, math.nextafter(p, 0.0), math.nextafter(p, math.inf)):
            if math.isfinite(x):
                yield x
                yield -x


def _subnormals(n: int):
    rng = random.Random(4321)
    yield from (struct.unpack("<d", struct.pack("<Q", bits))[0] for bits in range(1, 1000))
    for _ in range(n):
        yield struct.unpack("<d", struct.pack("<Q", rng.getrandbits(52)))[0]


def test_float_repr_matches_python():
    for x in TRICKY + list(_random_floats(5000)):
        assert _core._python_float_repr(x) == repr(x), x


def test_format_4f_matches_python():
    for x in TRICKY + list(_random_floats(5000)):
        assert _core._python_format_4f(x) == f"{x:.4f}", x


def test_float_repr_matches_python_near_powers_of_two_and_on_subnormals():
    # An unchecked copy of repr printed 46 exact powers of two wrongly (2**-24 as
    # 5.960464477539062e-08, which reads back as another float); one implementation is left.
    values = list(_near_powers_of_two()) + list(_subnormals(5000))
    wrong = [(repr(x), _core._python_float_repr(x)) for x in values if _core._python_float_repr(x) != repr(x)]
    assert not wrong, f"{len(wrong)} of {len(values)} wrong, e.g. {wrong[:5]}"
    assert _core._python_float_repr(2.0**-24) == "5.960464477539063e-08"


def test_format_4f_matches_python_near_powers_of_two_and_on_subnormals():
    for x in list(_near_powers_of_two()) + list(_subnormals(1000)):
        assert _core._python_format_4f(x) == f"{x:.4f}", x
