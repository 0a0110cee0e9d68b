"""Read numpy's float64 exponential ziggurat tables (ke, we) out of numpy itself.

numpy does not expose the tables, but `Generator.standard_exponential` reads one 64-bit word w:
ri = w >> 11 (53 bits), idx = (w >> 3) & 0xFF, x = ri * we[idx], returned at once iff ri < ke[idx].
PCG64's state can be set so that its next output is any chosen word, so with ri = 1 the draw
returns we[idx], and a binary search over ri (does the draw consume one word or more?) finds ke[idx].

Used by tests_py/rc/test_rc_numpy_pcg64.py to check the tables of src/numpy_zig_tables.rs, and
(`python scripts/numpy_zig_probe.py > src/numpy_zig_tables.rs`) to write them.
"""

from __future__ import annotations

import sys

import numpy as np

M128 = (1 << 128) - 1
MULT = (2549297995355413924 << 64) | 4865540595714422341
MULT_INV = pow(MULT, -1, 1 << 128)
INC = (0x5851F42D4C957F2D << 64) | 0x14057B7EF767814F | 1


def _rotl64(v: int, r: int) -> int:
    r %= 64
    return ((v << r) | (v >> (64 - r))) & ((1 << 64) - 1) if r else v


def state_for_next_word(word: int, hi: int = 0x0123456789ABCDEF) -> int:
    """The PCG64 state whose next 64-bit output is `word` (with increment INC)."""
    rot = hi >> 58
    lo = hi ^ _rotl64(word, rot)
    post = (hi << 64) | lo
    return ((post - INC) * MULT_INV) & M128


def exp_draw(gen: np.random.Generator, word: int) -> tuple[float, bool]:
    """standard_exponential() with the next word forced to `word`; (value, consumed exactly one)."""
    pre = state_for_next_word(word)
    bg = gen.bit_generator
    bg.state = {"bit_generator": "PCG64", "state": {"state": pre, "inc": INC}, "has_uint32": 0, "uinteger": 0}
    v = float(gen.standard_exponential())
    post = ((pre * MULT) + INC) & M128
    return v, bg.state["state"]["state"] == post


def word_of(ri: int, idx: int) -> int:
    return (ri << 11) | (idx << 3)


def probe_tables() -> tuple[list[int], list[float]]:
    gen = np.random.Generator(np.random.PCG64(0))
    ke: list[int] = []
    we: list[float] = []
    for idx in range(256):
        we.append(exp_draw(gen, word_of(1, idx))[0])
        lo, hi = 0, 1 << 53  # smallest ri that is not returned at once, in [0, 2**53]
        while lo < hi:
            mid = (lo + hi) // 2
            if exp_draw(gen, word_of(mid, idx))[1]:
                lo = mid + 1
            else:
                hi = mid
        ke.append(lo)
    return ke, we


def main() -> None:
    ke, we = probe_tables()
    out = sys.stdout
    out.write("//! numpy's float64 exponential ziggurat tables `ke` and `we`, read out of numpy by\n")
    out.write("//! `scripts/numpy_zig_probe.py` (generated; tests_py/rc/test_rc_numpy_pcg64.py re-checks them).\n\n")
    out.write("pub const KE: [u64; 256] = [\n")
    for i in range(0, 256, 4):
        out.write("    " + " ".join(f"0x{v:016X}," for v in ke[i : i + 4]) + "\n")
    out.write("];\n\npub const WE: [f64; 256] = [\n")
    for i in range(0, 256, 3):
        out.write("    " + " ".join(f"{v!r}," for v in we[i : i + 3]) + "\n")
    out.write("];\n")


if __name__ == "__main__":
    main()
