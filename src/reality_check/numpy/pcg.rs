//! numpy's `default_rng` stream, reproduced element for element: `SeedSequence` hashing, PCG64
//! (128-bit LCG, XSL-RR output), `Generator.integers` (Lemire's bounded method on numpy's 32- or
//! 64-bit path), `Generator.geometric` (search for p >= 1/3, inversion through the ziggurat
//! `standard_exponential` below) — and the analyzer's (c79684b) bootstrap procedures on top of it.
//!
//! The analyzer's simulation `b` uses `np.random.default_rng(s_b)` where `s_b = seed + b`, or, with
//! a run key, the b-th `integers(0, 2**63 - 1)` of a base generator (see [`SeedSource`]). Per block
//! its stationary bootstrap draws `geometric(1/L)` then `integers(0, T)`; its fixed-block bootstrap
//! draws `integers(0, max(0, T - size) + 1)`.
//!
//! The ziggurat tables of `standard_exponential` are numpy's (see [`zig_tables`]); the Python
//! tests check them against numpy layer by layer and draw by draw.

#![warn(missing_docs)]

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::reality_check::numpy::zig_tables::{KE, WE};

const MULT: u128 = (2_549_297_995_355_413_924u128 << 64) | 4_865_540_595_714_422_341u128;

// SeedSequence constants (numpy/random/bit_generator.pyx).
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL: usize = 4;

/// 32-bit little-endian words of a non-negative integer (numpy's `_int_to_uint32_array`; 0 → [0]).
pub fn int_words(v: u128) -> Vec<u32> {
    if v == 0 {
        return vec![0];
    }
    let mut out = Vec::new();
    let mut n = v;
    while n > 0 {
        out.push(n as u32);
        n >>= 32;
    }
    out
}

fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut v = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    v = v.wrapping_mul(*hash_const);
    v ^ (v >> XSHIFT)
}

fn mix(x: u32, y: u32) -> u32 {
    let r = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    r ^ (r >> XSHIFT)
}

/// `SeedSequence(entropy).pool` for an integer entropy given as 32-bit words (no spawn key).
pub fn seed_sequence_pool(entropy: &[u32]) -> [u32; POOL] {
    let mut pool = [0u32; POOL];
    let mut hc = INIT_A;
    for (i, slot) in pool.iter_mut().enumerate() {
        *slot = hashmix(entropy.get(i).copied().unwrap_or(0), &mut hc);
    }
    for src in 0..POOL {
        for dst in 0..POOL {
            if src != dst {
                let h = hashmix(pool[src], &mut hc);
                pool[dst] = mix(pool[dst], h);
            }
        }
    }
    for &word in entropy.iter().skip(POOL) {
        for slot in pool.iter_mut() {
            let h = hashmix(word, &mut hc);
            *slot = mix(*slot, h);
        }
    }
    pool
}

/// `SeedSequence.generate_state(n, np.uint64)` from a pool.
pub fn generate_state_u64(pool: &[u32; POOL], n: usize) -> Vec<u64> {
    let mut hc = INIT_B;
    let words: Vec<u32> = (0..2 * n)
        .map(|i| {
            let mut v = pool[i % POOL] ^ hc;
            hc = hc.wrapping_mul(MULT_B);
            v = v.wrapping_mul(hc);
            v ^ (v >> XSHIFT)
        })
        .collect();
    words.chunks(2).map(|w| (w[0] as u64) | ((w[1] as u64) << 32)).collect()
}

/// numpy's PCG64 bit generator (with its one-word `next_uint32` buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcg64 {
    /// The 128-bit LCG state.
    pub state: u128,
    /// The LCG increment (odd).
    pub inc: u128,
    /// Whether the upper half of the last 64-bit output is buffered for the next 32-bit draw.
    pub has_uint32: bool,
    /// That buffered upper half.
    pub uinteger: u32,
}

impl Pcg64 {
    /// `PCG64(SeedSequence(seed))`, i.e. the bit generator of `np.random.default_rng(seed)`.
    pub fn from_seed(seed: u128) -> Pcg64 {
        let pool = seed_sequence_pool(&int_words(seed));
        let s = generate_state_u64(&pool, 4);
        let initstate = ((s[0] as u128) << 64) | s[1] as u128;
        let initseq = ((s[2] as u128) << 64) | s[3] as u128;
        let mut g = Pcg64 { state: 0, inc: (initseq << 1) | 1, has_uint32: false, uinteger: 0 };
        g.step();
        g.state = g.state.wrapping_add(initstate);
        g.step();
        g
    }

    /// A generator in a given raw state (`bit_generator.state["state"]`).
    pub fn from_state(state: u128, inc: u128, has_uint32: bool, uinteger: u32) -> Pcg64 {
        Pcg64 { state, inc, has_uint32, uinteger }
    }

    #[inline]
    fn step(&mut self) {
        self.state = self.state.wrapping_mul(MULT).wrapping_add(self.inc);
    }

    /// The next 64-bit output: one LCG step, then XSL-RR (numpy's `next_uint64`).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let s = self.state;
        let rot = (s >> 122) as u32;
        (((s >> 64) as u64) ^ (s as u64)).rotate_right(rot)
    }

    /// The next 32-bit output as numpy gives it: the lower half of a new 64-bit output, then its
    /// buffered upper half.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.has_uint32 {
            self.has_uint32 = false;
            return self.uinteger;
        }
        let v = self.next_u64();
        self.has_uint32 = true;
        self.uinteger = (v >> 32) as u32;
        v as u32
    }

    /// A double in [0, 1) from the top 53 bits of a 64-bit output (numpy's `next_double`).
    #[inline]
    pub fn next_double(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `Generator.integers(0, n)` (int64, `endpoint=False`) for `n >= 1`: no draw when `n == 1`,
    /// Lemire on 32-bit draws when `n - 1 <= 0xFFFFFFFF`, on 64-bit draws above.
    pub fn integers(&mut self, n: u64) -> u64 {
        let rng = n.saturating_sub(1);
        if rng == 0 {
            return 0;
        }
        if rng <= 0xFFFF_FFFF {
            if rng == 0xFFFF_FFFF {
                return self.next_u32() as u64;
            }
            let excl = (rng as u32) + 1;
            let mut m = (self.next_u32() as u64) * excl as u64;
            let mut left = m as u32;
            if left < excl {
                let threshold = (u32::MAX - rng as u32) % excl;
                while left < threshold {
                    m = (self.next_u32() as u64) * excl as u64;
                    left = m as u32;
                }
            }
            return m >> 32;
        }
        let excl = rng + 1;
        let mut m = (self.next_u64() as u128) * excl as u128;
        let mut left = m as u64;
        if left < excl {
            let threshold = (u64::MAX - rng) % excl;
            while left < threshold {
                m = (self.next_u64() as u128) * excl as u128;
                left = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// `Generator.standard_exponential()` (float64 ziggurat).
    pub fn standard_exponential(&mut self) -> f64 {
        let z = zig_tables();
        loop {
            let mut ri = self.next_u64() >> 3;
            let idx = (ri & 0xFF) as usize;
            ri >>= 8;
            let x = ri as f64 * z.we[idx];
            if ri < z.ke[idx] {
                return x;
            }
            if idx == 0 {
                return ZIG_EXP_R - (-self.next_double()).ln_1p();
            }
            if (z.fe[idx - 1] - z.fe[idx]) * self.next_double() + z.fe[idx] < (-x).exp() {
                return x;
            }
        }
    }

    /// `Generator.geometric(p)` for `0 < p <= 1` (support 1, 2, …).
    pub fn geometric(&mut self, p: f64) -> i64 {
        if p >= 1.0 / 3.0 {
            let q = 1.0 - p;
            let (mut x, mut sum, mut prod) = (1i64, p, p);
            let u = self.next_double();
            while u > sum {
                prod *= q;
                sum += prod;
                x += 1;
            }
            x
        } else {
            let z = (-self.standard_exponential() / (-p).ln_1p()).ceil();
            if z >= 9.223_372_036_854_776e18 {
                i64::MAX
            } else {
                z as i64
            }
        }
    }
}

/// The ziggurat's tail start `r` (numpy's `ziggurat_exp_r`, 7.69711747013104972).
const ZIG_EXP_R: f64 = 7.697_117_470_131_05;

/// numpy's float64 exponential ziggurat tables.
pub struct ZigTables {
    /// Per layer: the acceptance bound of the draw's integer part (numpy's `ke_double`).
    pub ke: [u64; 256],
    /// Per layer: the width scale of the layer (numpy's `we_double`).
    pub we: [f64; 256],
    /// Per layer: the density at the layer's edge, `exp(-x_i)` (numpy's `fe_double`).
    pub fe: [f64; 256],
}

/// `ke` and `we` as numpy has them (read out of numpy, see `numpy_zig_tables`); `fe[i] = exp(-x_i)`
/// with the layer edge `x_i = we[i] * 2**53` (`fe[0] = 1`). numpy's `we` are correctly rounded
/// edges; recomputing them in double precision from Marsaglia & Tsang's recurrence is off by an
/// ulp for most layers, which would change most draws, hence the table. `fe` (not readable from
/// numpy exactly) can differ from numpy's by a few ulps; it only decides a wedge draw that falls
/// within those ulps of the density (probability ~1e-16 per wedge draw, itself ~1 % of draws).
pub fn zig_tables() -> &'static ZigTables {
    static T: OnceLock<ZigTables> = OnceLock::new();
    T.get_or_init(|| {
        let mut fe = [1.0f64; 256];
        for (f, w) in fe.iter_mut().zip(WE.iter()).skip(1) {
            *f = (-(w * 9_007_199_254_740_992.0)).exp();
        }
        ZigTables { ke: KE, we: WE, fe }
    })
}

/// Where simulation b's seed comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedSource {
    /// `default_rng(seed + b)` (the analyzer without a run key).
    SeedPlusB {
        /// The run's seed.
        seed: u64,
    },
    /// `default_rng(base.integers(0, 2**63 - 1))`, the b-th draw of a base PCG64 in this raw state
    /// (the analyzer with a run key: base = `default_rng(seed_root(run_key, "rc_null", fold))`).
    Base {
        /// The base generator's state.
        state: u128,
        /// The base generator's increment.
        inc: u128,
    },
}

/// The exclusive bound of the analyzer's per-simulation seed draw, `integers(0, 2**63 - 1)`.
pub const PER_SIM_SEED_BOUND: u64 = (1u64 << 63) - 1;

thread_local! {
    /// Per thread: (base state, index of the next seed, generator positioned there). Workers take
    /// consecutive simulations, so drawing the b-th seed costs O(1) amortized.
    static CURSOR: std::cell::RefCell<Option<(u128, u128, u64, Pcg64)>> = const { std::cell::RefCell::new(None) };
}

impl SeedSource {
    /// The generator of simulation `b`.
    pub fn sim_rng(&self, b: u64) -> Pcg64 {
        match *self {
            SeedSource::SeedPlusB { seed } => Pcg64::from_seed(seed as u128 + b as u128),
            SeedSource::Base { state, inc } => Pcg64::from_seed(base_seed_at(state, inc, b) as u128),
        }
    }
}

/// The b-th `integers(0, 2**63 - 1)` of the base generator in raw state `(state, inc)`.
pub fn base_seed_at(state: u128, inc: u128, b: u64) -> u64 {
    CURSOR.with(|c| {
        let mut c = c.borrow_mut();
        let reuse = matches!(&*c, Some((s, i, next, _)) if *s == state && *i == inc && *next <= b);
        if !reuse {
            *c = Some((state, inc, 0, Pcg64::from_state(state, inc, false, 0)));
        }
        let Some((_, _, next, g)) = c.as_mut() else {
            return 0; // unreachable: just set
        };
        while *next < b {
            g.integers(PER_SIM_SEED_BOUND);
            *next += 1;
        }
        *next += 1;
        g.integers(PER_SIM_SEED_BOUND)
    })
}

/// The raw state of `np.random.default_rng(seed)` (to use as a [`SeedSource::Base`]).
pub fn base_state_of_seed(seed: u128) -> (u128, u128) {
    let g = Pcg64::from_seed(seed);
    (g.state, g.inc)
}

/// The analyzer's stationary bootstrap: per block `L = geometric(p)` then `start = integers(0, t)`,
/// emitting `start, start+1, …` (mod t) until t indices. Pushes `(start, len)` blocks.
pub fn stationary_blocks(g: &mut Pcg64, t: usize, avg_block_length: f64, out: &mut Vec<(usize, usize)>) -> Result<()> {
    if !(avg_block_length.is_finite() && avg_block_length >= 1.0) {
        return Err(Error::invalid(format!("avg_block_length must be a finite number >= 1 (got {avg_block_length})")));
    }
    let p = 1.0 / avg_block_length;
    let mut left = t;
    while left > 0 {
        let len = g.geometric(p).max(1) as u64;
        let start = g.integers(t as u64) as usize;
        let len = len.min(left as u64) as usize;
        out.push((start, len));
        left -= len;
    }
    Ok(())
}

/// The analyzer's fixed-block bootstrap: per block `start = integers(0, max(0, t - size) + 1)`,
/// emitting `start .. min(start + size, t)` until t indices (truncated to t).
pub fn block_fixed_blocks(g: &mut Pcg64, t: usize, block_size: usize, out: &mut Vec<(usize, usize)>) {
    let n_starts = t.saturating_sub(block_size) as u64 + 1;
    let mut left = t;
    while left > 0 {
        let start = g.integers(n_starts) as usize;
        let len = (start + block_size).min(t) - start;
        let len = len.min(left);
        if len == 0 {
            break; // unreachable: start < n_starts <= t, block_size >= 1
        }
        out.push((start, len));
        left -= len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zig_tables_spot_values() {
        // Values printed in numpy's ziggurat_constants.h. `fe` is recomputed from the rounded layer
        // edges, so it may differ from numpy's correctly rounded values by a few ulps (it only
        // decides wedge draws falling within those ulps: probability ~1e-16 per wedge draw).
        let z = zig_tables();
        assert_eq!(z.ke[0], 0x001C_5214_2724_97C6);
        assert_eq!(z.ke[1], 0);
        assert_eq!(z.we[255], 8.545_517_038_584_027e-16);
        for (got, numpy) in [(z.fe[1], 9.381_436_808_621_747e-1), (z.fe[255], 4.541_343_538_414_968e-4)] {
            assert!((got - numpy).abs() <= 4.0 * f64::EPSILON * numpy, "{got} vs {numpy}");
        }
        assert!(z.fe.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn fixed_blocks_cover_t() {
        let mut g = Pcg64::from_seed(5);
        for (t, size) in [(1usize, 1usize), (1, 5), (10, 3), (10, 10), (10, 11), (7, 1)] {
            let mut out = Vec::new();
            block_fixed_blocks(&mut g, t, size, &mut out);
            assert_eq!(out.iter().map(|b| b.1).sum::<usize>(), t);
            assert!(out.iter().all(|&(s, l)| s + l <= t));
        }
    }
}
