//! White's Reality Check, Hansen's SPA and Romano–Wolf stepdown over a block bootstrap.
//!
//! Data are a T×K matrix (rows = periods, columns = hypotheses), NaN = no observation. The
//! observed statistic is the column nanmean `m_k`. Each simulation `b` resamples the periods with
//! [`crate::bootstrap`] and yields the centred draws `d_k = m*_{b,k} − m_k`.
//!
//! Kernel: the columns are centred (`x − m_k`) and prefix-summed, with a prefix count of
//! observations when there are NaNs; a block `[a, b)` then adds `P[b] − P[a]` to every column, so a
//! simulation costs (number of blocks)·K instead of T·K gathers. The prefix sums are stored once
//! ((T+1)×K, about 1× the input) or, for large inputs, rebuilt from the caller's array in every
//! sweep with the same additions in the same order ([`PrefixMode`]: same bits, no memory beyond
//! the input). A plain gather kernel is kept as a reference. The data are prepared in parallel by
//! column blocks. Simulations run in parallel on one lazily built rayon pool; each worker keeps its
//! buffers; only the per-simulation maxima (B values) and integer exceedance counts (K + 6) are
//! kept, so memory is O(B + K) beyond the prefix sums, unless the caller asks for the B×K matrix.
//! Every output is a function of (data, seed, b) only: identical on any number of threads.

use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

use crate::bootstrap::{blocks_to_segments, indices_to_segments, BootstrapSpec};
use crate::control::RunControl;
use crate::draw_omega::DrawOmega;
use crate::error::{Error, Result};

/// Memory layout of the input matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `values[t * k_cols + k]` (C order).
    RowMajor,
    /// `values[k * t_rows + t]` (Fortran order, e.g. a DataFrame's block).
    ColMajor,
}

/// A borrowed T×K matrix.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    pub values: &'a [f64],
    pub t: usize,
    pub k: usize,
    pub layout: Layout,
}

impl Matrix<'_> {
    #[inline]
    fn get(&self, t: usize, k: usize) -> f64 {
        let i = match self.layout {
            Layout::RowMajor => t * self.k + k,
            Layout::ColMajor => k * self.t + t,
        };
        self.values.get(i).copied().unwrap_or(f64::NAN)
    }
}

/// Which null the Reality Check compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullCentering {
    /// White's recentred null `max_k (m*_k − m_k)` (correct; the default).
    Recentred,
    /// The analyzer's old un-centred `max_k m*_k` (only to reproduce old reports).
    None,
}

impl NullCentering {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "recentred" | "recentered" => Ok(NullCentering::Recentred),
            "none" => Ok(NullCentering::None),
            other => {
                Err(Error::invalid(format!("unknown null_centering {other:?}: expected \"recentred\" or \"none\"")))
            }
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            NullCentering::Recentred => "recentred",
            NullCentering::None => "none",
        }
    }
}

/// Simulation kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Prefix sums per block (fast).
    PrefixSum,
    /// The same prefix kernel without the AVX2 build (to test that dispatch changes no bit).
    PrefixSumScalar,
    /// Gather every index (reference; needs `Prepared::new(.., keep_values = true)`).
    Gather,
}

/// A T×K input kept by its owner (e.g. the caller's numpy array, held alive by the bindings) that
/// the streamed kernel reads in place instead of storing prefix sums.
pub trait SharedValues: Send + Sync {
    /// The T·K values in the layout given to [`Prepared::from_shared`]. They must not change
    /// while the engine lives; every sweep checks the column totals and reports a change.
    fn values(&self) -> &[f64];
}

impl SharedValues for Vec<f64> {
    fn values(&self) -> &[f64] {
        self
    }
}

/// Where the prefix-sum kernel gets the centred prefix sums `P[r]` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMode {
    /// Stored once, (T+1)×K f64 (and u32 counts when there are NaNs): the fastest per
    /// simulation; memory of about 1× the input (1.5× with NaNs).
    Stored,
    /// Rebuilt from the input in every sweep (the same additions in the same order, so the
    /// same bits): no memory beyond the input, one more addition per row and column per chunk.
    Streamed,
    /// Stored when the prefix sums take at most [`STORED_PREFIX_MAX_BYTES`], else streamed.
    Auto,
}

impl PrefixMode {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "stored" => Ok(PrefixMode::Stored),
            "streamed" => Ok(PrefixMode::Streamed),
            "auto" => Ok(PrefixMode::Auto),
            other => Err(Error::invalid(format!(
                "unknown prefix mode {other:?}: expected \"auto\", \"stored\" or \"streamed\""
            ))),
        }
    }
}

/// Above this size of stored prefix sums, [`PrefixMode::Auto`] streams them from the input.
pub const STORED_PREFIX_MAX_BYTES: usize = 256 << 20;

/// Columns per task when the data are prepared in parallel.
const PREP_COLS: usize = 64;

/// The centred prefix sums, stored or read from the input.
enum Sums {
    Stored { prefix: Vec<f64>, cnt: Option<Vec<u32>> },
    Streamed { input: Arc<dyn SharedValues>, layout: Layout, total: Vec<f64>, total_cnt: Vec<u32> },
}

impl std::fmt::Debug for Sums {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sums::Stored { prefix, cnt } => {
                f.debug_struct("Stored").field("prefix_len", &prefix.len()).field("counts", &cnt.is_some()).finish()
            }
            Sums::Streamed { layout, .. } => f.debug_struct("Streamed").field("layout", layout).finish(),
        }
    }
}

/// The data prepared once for any number of simulations (`Send + Sync`).
#[derive(Debug)]
pub struct Prepared {
    pub t: usize,
    pub k: usize,
    /// Observed statistics `m_k` (NaN: no observation, or T < 2).
    pub observed: Vec<f64>,
    /// Observations per column.
    pub n_obs: Vec<usize>,
    /// Hansen's ω_k (stationary-bootstrap kernel estimate); NaN when undefined.
    pub omega: Vec<f64>,
    /// Block length used for ω (1/q).
    pub omega_block_length: f64,
    sums: Sums,
    has_nan: bool,
    centred: Option<Vec<f64>>,
}

/// Per column: sum and count of the observations, in row order (the order defines the bits),
/// and the position in `x.values` of the block's first infinite value in memory order.
fn column_sums(x: &Matrix<'_>, cols: std::ops::Range<usize>) -> (Vec<f64>, Vec<usize>, Option<usize>) {
    let w = cols.len();
    let mut sums = vec![0.0f64; w];
    let mut n_obs = vec![0usize; w];
    let mut first_inf: Option<usize> = None;
    let mut seen = |pos: usize| first_inf = Some(first_inf.map_or(pos, |p: usize| p.min(pos)));
    match x.layout {
        Layout::ColMajor => {
            for (i, c) in cols.enumerate() {
                let col = x.values.get(c * x.t..(c + 1) * x.t).unwrap_or(&[]);
                for &v in col {
                    if !v.is_nan() {
                        sums[i] += v;
                        n_obs[i] += 1;
                    }
                }
                if !sums[i].is_finite() {
                    if let Some(r) = col.iter().position(|v| v.is_infinite()) {
                        seen(c * x.t + r);
                    }
                }
            }
        }
        Layout::RowMajor => {
            for tt in 0..x.t {
                let row = x.values.get(tt * x.k + cols.start..tt * x.k + cols.end).unwrap_or(&[]);
                for (i, &v) in row.iter().enumerate() {
                    if !v.is_nan() {
                        sums[i] += v;
                        n_obs[i] += 1;
                    }
                }
            }
            if sums.iter().any(|s| !s.is_finite()) {
                for tt in 0..x.t {
                    let row = x.values.get(tt * x.k + cols.start..tt * x.k + cols.end).unwrap_or(&[]);
                    if let Some(i) = row.iter().position(|v| v.is_infinite()) {
                        seen(tt * x.k + cols.start + i);
                        break;
                    }
                }
            }
        }
    }
    (sums, n_obs, first_inf)
}

/// `x − m` (NaN when either is NaN): the centred value every prefix sum adds.
#[inline(always)]
fn centred_value(v: f64, m: f64) -> f64 {
    if v.is_nan() || m.is_nan() {
        f64::NAN
    } else {
        v - m
    }
}

/// The column blocks of a row-major (T+1)×K buffer: `out[block][row]` = that row's block slice.
fn column_blocks<T>(buf: &mut [T], k: usize) -> Vec<Vec<&mut [T]>> {
    let nb = k.div_ceil(PREP_COLS);
    let mut blocks: Vec<Vec<&mut [T]>> = (0..nb).map(|_| Vec::with_capacity(buf.len() / k.max(1))).collect();
    for row in buf.chunks_mut(k.max(1)) {
        let mut rest = row;
        for b in blocks.iter_mut() {
            let w = PREP_COLS.min(rest.len());
            let (head, tail) = rest.split_at_mut(w);
            b.push(head);
            rest = tail;
        }
    }
    blocks
}

/// Prefix sums of the centred values for columns `c0..c0+rows[0].len()`, written row by row:
/// `P[t+1] = P[t] + (x[t] − m, or 0 when NaN)`, and the counts when asked.
fn prefix_block(x: &Matrix<'_>, observed: &[f64], c0: usize, rows: &mut [&mut [f64]], cnt: Option<&mut [&mut [u32]]>) {
    let w = rows.first().map(|r| r.len()).unwrap_or(0);
    let mut acc = vec![0.0f64; w];
    let mut acc_n = vec![0u32; w];
    let mut dv = vec![0.0f64; w];
    let mut cnt = cnt;
    for tt in 0..x.t {
        for (i, d) in dv.iter_mut().enumerate() {
            *d = centred_value(x.get(tt, c0 + i), observed[c0 + i]);
        }
        for (a, d) in acc.iter_mut().zip(&dv) {
            *a += if d.is_nan() { 0.0 } else { *d };
        }
        if let Some(row) = rows.get_mut(tt + 1) {
            row.copy_from_slice(&acc);
        }
        if let Some(cnt) = cnt.as_deref_mut() {
            for (a, d) in acc_n.iter_mut().zip(&dv) {
                *a += u32::from(!d.is_nan());
            }
            if let Some(row) = cnt.get_mut(tt + 1) {
                row.copy_from_slice(&acc_n);
            }
        }
    }
}

/// `P[T]` and the count of every column: what a streamed sweep must arrive at.
fn column_totals(x: &Matrix<'_>, observed: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let parts: Vec<(Vec<f64>, Vec<u32>)> = (0..x.k.div_ceil(PREP_COLS))
        .into_par_iter()
        .map(|bi| {
            let (c0, c1) = (bi * PREP_COLS, ((bi + 1) * PREP_COLS).min(x.k));
            let mut tot = vec![0.0f64; c1 - c0];
            let mut n = vec![0u32; c1 - c0];
            let mut add = |i: usize, v: f64, m: f64| {
                let d = centred_value(v, m);
                tot[i] += if d.is_nan() { 0.0 } else { d };
                n[i] += u32::from(!d.is_nan());
            };
            match x.layout {
                Layout::ColMajor => {
                    for (i, c) in (c0..c1).enumerate() {
                        for &v in x.values.get(c * x.t..(c + 1) * x.t).unwrap_or(&[]) {
                            add(i, v, observed[c]);
                        }
                    }
                }
                Layout::RowMajor => {
                    for tt in 0..x.t {
                        for (i, c) in (c0..c1).enumerate() {
                            add(i, x.get(tt, c), observed[c]);
                        }
                    }
                }
            }
            (tot, n)
        })
        .collect();
    let mut total = Vec::with_capacity(x.k);
    let mut total_cnt = Vec::with_capacity(x.k);
    for (a, b) in parts {
        total.extend(a);
        total_cnt.extend(b);
    }
    (total, total_cnt)
}

impl Prepared {
    /// Validate `x`, compute `m_k`, ω_k and the centred prefix sums (stored: `x` is not kept).
    /// `omega_block_length` is the average block length L of the stationary-bootstrap kernel
    /// (q = 1/L).
    pub fn new(x: Matrix<'_>, omega_block_length: f64, keep_values: bool) -> Result<Prepared> {
        thread_pool()?.install(|| Self::build(x, omega_block_length, keep_values, None))
    }

    /// Like [`Prepared::new`] over an input the engine keeps a handle to: with
    /// [`PrefixMode::Streamed`] (or `Auto` on large data) no prefix sums are stored and every
    /// sweep reads `input` instead. Results are identical bit for bit in every mode.
    #[allow(clippy::too_many_arguments)]
    pub fn from_shared(
        input: Arc<dyn SharedValues>,
        t: usize,
        k: usize,
        layout: Layout,
        omega_block_length: f64,
        keep_values: bool,
        mode: PrefixMode,
    ) -> Result<Prepared> {
        let stored_bytes = t.saturating_add(1).saturating_mul(k).saturating_mul(8);
        let stream = match mode {
            PrefixMode::Stored => false,
            PrefixMode::Streamed => true,
            PrefixMode::Auto => stored_bytes > STORED_PREFIX_MAX_BYTES,
        };
        let values = input.values();
        let x = Matrix { values, t, k, layout };
        let keep = if stream { Some(input.clone()) } else { None };
        thread_pool()?.install(|| Self::build(x, omega_block_length, keep_values, keep))
    }

    fn build(
        x: Matrix<'_>,
        omega_block_length: f64,
        keep_values: bool,
        stream: Option<Arc<dyn SharedValues>>,
    ) -> Result<Prepared> {
        let (t, k) = (x.t, x.k);
        if k == 0 {
            return Err(Error::invalid("empty family: the Reality Check needs at least one hypothesis"));
        }
        if t.checked_mul(k) != Some(x.values.len()) {
            return Err(Error::invalid(format!("data has {} values, expected T*K = {t}*{k}", x.values.len())));
        }
        if t > u32::MAX as usize - 1 {
            return Err(Error::invalid("too many periods (T must be < 2**32)"));
        }
        if !(omega_block_length.is_finite() && omega_block_length >= 1.0) {
            return Err(Error::invalid(format!(
                "block length (avg_block_length for stationary, block_size for block_fixed) must be a \
                 finite number >= 1 (got {omega_block_length})"
            )));
        }
        // One parallel pass: column sums and counts, and where the first infinite value is (a sum
        // that is not finite has one: the values are finite or NaN otherwise, and NaN is skipped).
        let blocks: Vec<(Vec<f64>, Vec<usize>, Option<usize>)> = (0..k.div_ceil(PREP_COLS))
            .into_par_iter()
            .map(|bi| column_sums(&x, bi * PREP_COLS..((bi + 1) * PREP_COLS).min(k)))
            .collect();
        let mut sums = Vec::with_capacity(k);
        let mut n_obs = Vec::with_capacity(k);
        let mut first_inf: Option<usize> = None;
        for (s, n, inf) in blocks {
            sums.extend(s);
            n_obs.extend(n);
            first_inf = match (first_inf, inf) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if let Some(pos) = first_inf {
            let (row, col) = match x.layout {
                Layout::RowMajor => (pos / k, pos % k),
                Layout::ColMajor => (pos % t.max(1), pos / t.max(1)),
            };
            return Err(Error::invalid(format!(
                "data contains an infinite value (row {row}, hypothesis column {col}); \
                 replace it with NaN (no observation) or a finite value"
            )));
        }
        let observed: Vec<f64> = if t < 2 {
            vec![f64::NAN; k]
        } else {
            sums.iter().zip(&n_obs).map(|(s, &n)| if n > 0 { s / n as f64 } else { f64::NAN }).collect()
        };
        let has_nan = n_obs.iter().any(|&n| n != t);
        let centred = if keep_values {
            let mut cv = vec![f64::NAN; t * k];
            cv.par_chunks_mut(k).enumerate().for_each(|(tt, row)| {
                for (c, v) in row.iter_mut().enumerate() {
                    *v = centred_value(x.get(tt, c), observed[c]);
                }
            });
            Some(cv)
        } else {
            None
        };
        let sums = match stream {
            Some(input) => {
                let (total, total_cnt) = column_totals(&x, &observed);
                Sums::Streamed { input, layout: x.layout, total, total_cnt }
            }
            None => {
                let mut prefix = vec![0.0f64; (t + 1) * k];
                let mut cnt = if has_nan { Some(vec![0u32; (t + 1) * k]) } else { None };
                let pblocks = column_blocks(&mut prefix, k);
                let cblocks: Vec<Option<Vec<&mut [u32]>>> = match cnt.as_mut() {
                    Some(c) => column_blocks(c, k).into_iter().map(Some).collect(),
                    None => (0..pblocks.len()).map(|_| None).collect(),
                };
                pblocks.into_par_iter().zip(cblocks).enumerate().for_each(|(bi, (mut rows, crows))| {
                    let mut crows = crows;
                    prefix_block(&x, &observed, bi * PREP_COLS, &mut rows, crows.as_deref_mut());
                });
                Sums::Stored { prefix, cnt }
            }
        };
        let omega = omega_all(&x, &observed, omega_block_length);
        Ok(Prepared { t, k, observed, n_obs, omega, omega_block_length, sums, has_nan, centred })
    }

    fn has_nan(&self) -> bool {
        self.has_nan
    }

    /// True when the prefix sums are rebuilt from the input in every sweep.
    pub fn is_streamed(&self) -> bool {
        matches!(self.sums, Sums::Streamed { .. })
    }

    /// Where the per-draw ω* (draw_omega.rs) reads the centred prefix sums from.
    pub(crate) fn prefix_source(&self) -> PrefixSource<'_> {
        match &self.sums {
            Sums::Stored { prefix, cnt } => PrefixSource::Stored { prefix, cnt: cnt.as_deref() },
            Sums::Streamed { input, layout, .. } => PrefixSource::Streamed {
                input: Matrix { values: input.values(), t: self.t, k: self.k, layout: *layout },
                has_nan: self.has_nan,
            },
        }
    }
}

/// The centred prefix sums as the per-draw ω* sees them: stored (T+1)×K (with the counts when
/// there are gaps), or the input itself, from which a column tile's prefix sums are rebuilt with
/// the same additions in the same order as the stored ones (so both give the same bits).
pub(crate) enum PrefixSource<'a> {
    Stored { prefix: &'a [f64], cnt: Option<&'a [u32]> },
    Streamed { input: Matrix<'a>, has_nan: bool },
}

/// Prefix sums `P[r]`, r = 0..=T, of the centred columns `c0..c0+wd` of `x` (row-major, width
/// `wd`), and of their observation counts when `counts` is given: built by [`prefix_block`], the
/// function that builds the stored prefix sums, so both give the same bits.
pub(crate) fn tile_prefix(
    x: &Matrix<'_>,
    observed: &[f64],
    c0: usize,
    wd: usize,
    prefix: &mut Vec<f64>,
    counts: Option<&mut Vec<u32>>,
) {
    prefix.clear();
    prefix.resize((x.t + 1) * wd, 0.0);
    if wd == 0 {
        return;
    }
    let mut rows: Vec<&mut [f64]> = prefix.chunks_mut(wd).collect();
    match counts {
        Some(cnt) => {
            cnt.clear();
            cnt.resize((x.t + 1) * wd, 0);
            let mut crows: Vec<&mut [u32]> = cnt.chunks_mut(wd).collect();
            prefix_block(x, observed, c0, &mut rows, Some(&mut crows));
        }
        None => prefix_block(x, observed, c0, &mut rows, None),
    }
}

/// γ_i, i = 0..n−1, of the (already centred) series `d`, via FFT: O(n log n).
pub fn autocovariances_fft(d: &[f64], planner: &mut FftPlanner<f64>) -> Vec<f64> {
    let mut bufs = FftBufs::default();
    autocovariances_fft_into(d, planner, &mut bufs);
    bufs.gamma
}

/// Buffers [`autocovariances_fft`] reuses from one series to the next (FFT input and scratch).
#[derive(Default)]
struct FftBufs {
    buf: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    gamma: Vec<f64>,
}

/// [`autocovariances_fft`] into `bufs.gamma`, without allocating per series (the same
/// transforms, the same bits).
fn autocovariances_fft_into(d: &[f64], planner: &mut FftPlanner<f64>, bufs: &mut FftBufs) {
    let n = d.len();
    bufs.gamma.clear();
    if n == 0 {
        return;
    }
    let size = (2 * n).next_power_of_two();
    bufs.buf.clear();
    bufs.buf.extend(d.iter().map(|&v| Complex::new(v, 0.0)));
    bufs.buf.resize(size, Complex::new(0.0, 0.0));
    let fwd = planner.plan_fft_forward(size);
    let inv = planner.plan_fft_inverse(size);
    let need = fwd.get_inplace_scratch_len().max(inv.get_inplace_scratch_len());
    if bufs.scratch.len() < need {
        bufs.scratch.resize(need, Complex::new(0.0, 0.0));
    }
    fwd.process_with_scratch(&mut bufs.buf, &mut bufs.scratch[..fwd.get_inplace_scratch_len()]);
    for z in bufs.buf.iter_mut() {
        *z = Complex::new(z.norm_sqr(), 0.0);
    }
    inv.process_with_scratch(&mut bufs.buf, &mut bufs.scratch[..inv.get_inplace_scratch_len()]);
    let scale = 1.0 / (size as f64 * n as f64);
    bufs.gamma.extend(bufs.buf.iter().take(n).map(|z| z.re * scale));
}

/// ω² = γ_0 + 2 Σ_{i=1}^{n−1} κ(n,i) γ_i with the stationary-bootstrap kernel
/// κ(n,i) = ((n−i)/n)(1−q)^i + (i/n)(1−q)^{n−i}.
pub fn omega_squared(gamma: &[f64], q: f64) -> f64 {
    omega_squared_with(gamma, &kernel_weights(gamma.len(), q))
}

/// κ(n,i), i = 0..n−1 (index 0 unused), as [`omega_squared`] defines them.
fn kernel_weights(n: usize, q: f64) -> Vec<f64> {
    let nf = n as f64;
    let one_q = 1.0 - q;
    (0..n)
        .map(|i| {
            let fi = i as f64;
            ((nf - fi) / nf) * one_q.powf(fi) + (fi / nf) * one_q.powf(nf - fi)
        })
        .collect()
}

/// [`omega_squared`] with the weights computed once for every column of the same length (the
/// same expressions, the same order of additions: the same bits).
fn omega_squared_with(gamma: &[f64], kappa: &[f64]) -> f64 {
    if gamma.is_empty() {
        return f64::NAN;
    }
    let mut s = gamma[0];
    for (g, kappa) in gamma.iter().zip(kappa).skip(1) {
        s += 2.0 * kappa * g;
    }
    s
}

fn omega_all(x: &Matrix<'_>, observed: &[f64], block_length: f64) -> Vec<f64> {
    let q = 1.0 / block_length;
    (0..x.k)
        .into_par_iter()
        .map_init(
            || (FftPlanner::<f64>::new(), Vec::<f64>::new(), FftBufs::default()),
            |(planner, kappa, bufs), c| {
                let m = observed[c];
                if m.is_nan() {
                    return f64::NAN;
                }
                let d: Vec<f64> = match x.layout {
                    // A column of a Fortran-ordered input is contiguous: read it as a slice.
                    Layout::ColMajor => x
                        .values
                        .get(c * x.t..(c + 1) * x.t)
                        .unwrap_or(&[])
                        .iter()
                        .filter(|v| !v.is_nan())
                        .map(|v| v - m)
                        .collect(),
                    Layout::RowMajor => (0..x.t).map(|t| x.get(t, c)).filter(|v| !v.is_nan()).map(|v| v - m).collect(),
                };
                if d.len() < 2 {
                    return f64::NAN;
                }
                if kappa.len() != d.len() {
                    *kappa = kernel_weights(d.len(), q);
                }
                autocovariances_fft_into(&d, planner, bufs);
                let w2 = omega_squared_with(&bufs.gamma, kappa);
                if w2 > 0.0 {
                    w2.sqrt()
                } else {
                    f64::NAN
                }
            },
        )
        .collect()
}

/// Options of one batch.
#[derive(Debug, Clone)]
pub struct RcOptions {
    pub spec: BootstrapSpec,
    pub n_sim: usize,
    pub centering: NullCentering,
    pub kernel: Kernel,
    /// Keep the B×K null matrix (row b = the K null statistics of simulation b).
    pub keep_matrix: bool,
    /// Statistics to compare the null against for RC and Romano–Wolf (default: `m_k`).
    pub compare_to: Option<Vec<f64>>,
}

/// SPA p-values in the order lower, consistent, upper.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpaPValues {
    pub lower: f64,
    pub consistent: f64,
    pub upper: f64,
}

#[derive(Debug, Clone)]
pub struct RcResult {
    pub t: usize,
    pub k: usize,
    pub n_sim: usize,
    pub centering: NullCentering,
    /// Observed statistics the null was compared against (m_k unless `compare_to`).
    pub observed: Vec<f64>,
    pub observed_max: f64,
    pub rc_p_value: f64,
    /// V*_b for every simulation (NaN when no column had an observation).
    pub null_max: Vec<f64>,
    /// Romano–Wolf stepdown adjusted p-values, in column order (1.0 for a NaN statistic).
    pub romano_wolf: Vec<f64>,
    pub spa_studentized: SpaPValues,
    pub spa_unstudentized: SpaPValues,
    pub spa_stat_studentized: f64,
    pub spa_stat_unstudentized: f64,
    pub omega: Vec<f64>,
    pub null_matrix: Option<Vec<f64>>,
}

/// `(1 + #{v ≥ observed}) / (B + 1)`; NaN draws never count; NaN observed → 1.
pub fn exceedance_pvalue(null: &[f64], observed: f64) -> f64 {
    if observed.is_nan() {
        return 1.0;
    }
    let c = null.iter().filter(|&&v| v >= observed).count();
    (1 + c) as f64 / (null.len() + 1) as f64
}

/// Max over non-NaN values (NaN when none).
fn nanmax(v: impl Iterator<Item = f64>) -> f64 {
    let mut best = f64::NAN;
    for x in v {
        if !x.is_nan() && (best.is_nan() || x > best) {
            best = x;
        }
    }
    best
}

/// Hypotheses with a statistic, sorted by statistic descending (ties: column order).
fn stepdown_order(stats: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..stats.len()).filter(|&i| !stats[i].is_nan()).collect();
    order.sort_by(|&a, &b| stats[b].total_cmp(&stats[a]).then(a.cmp(&b)));
    order
}

/// Turn stepdown exceedance counts into monotone adjusted p-values in column order.
fn stepdown_pvalues(order: &[usize], counts: &[u64], k: usize, n_sim: usize) -> Vec<f64> {
    let mut p = vec![1.0; k];
    let mut running = 0.0f64;
    for (j, &col) in order.iter().enumerate() {
        let raw = (1 + counts.get(j).copied().unwrap_or(0)) as f64 / (n_sim + 1) as f64;
        running = running.max(raw);
        p[col] = running;
    }
    p
}

/// Add one simulation's null values (in column order) to the stepdown counts.
#[inline]
fn stepdown_accumulate(null_vals: &[f64], order: &[usize], stats: &[f64], counts: &mut [u64]) {
    let mut suffix = f64::NEG_INFINITY;
    for j in (0..order.len()).rev() {
        let col = order[j];
        let v = null_vals[col];
        if v > suffix {
            suffix = v;
        }
        if suffix >= stats[col] {
            counts[j] += 1;
        }
    }
}

/// Per-worker state: reusable buffers and integer counts.
struct Worker {
    blocks: Vec<(usize, usize)>,
    segs: Vec<(usize, usize)>,
    acc: Vec<f64>,
    cnt: Vec<u64>,
    d: Vec<f64>,
    nullv: Vec<f64>,
    /// Per-draw studentization sqrt(n*_k)/ω*_{b,k} of the current simulation (draw_omega.rs).
    dscale: Vec<f64>,
    dscale_all: Vec<f64>,
    domega: DrawOmega,
    rw: Vec<u64>,
    spa: [u64; 6],
    err: Option<Error>,
    /// Segments of each simulation of the current chunk.
    seg_lists: Vec<Vec<(usize, usize)>>,
    /// Centred means of each simulation of the chunk (CHUNK × K), and counts when there are NaNs.
    dall: Vec<f64>,
    call: Vec<u64>,
    /// Counting sort of segment endpoints by row: bucket starts, fill cursors, events
    /// (`sim << 1 | is_start`).
    row_start: Vec<usize>,
    cursor: Vec<usize>,
    events: Vec<u32>,
    /// Buffers of the streamed sweep.
    stream: StreamBufs,
}

impl Worker {
    fn new(k: usize, n_order: usize) -> Self {
        Worker {
            blocks: Vec::new(),
            segs: Vec::new(),
            acc: vec![0.0; k],
            cnt: vec![0; k],
            d: vec![0.0; k],
            nullv: vec![0.0; k],
            dscale: vec![0.0; k],
            dscale_all: Vec::new(),
            domega: DrawOmega::default(),
            rw: vec![0; n_order],
            spa: [0; 6],
            err: None,
            seg_lists: Vec::new(),
            dall: Vec::new(),
            call: Vec::new(),
            row_start: Vec::new(),
            cursor: Vec::new(),
            events: Vec::new(),
            stream: StreamBufs::default(),
        }
    }

    fn ensure_chunk(&mut self, k: usize, has_nan: bool, chunk: usize) {
        if self.seg_lists.len() < chunk {
            self.seg_lists.resize_with(chunk, Vec::new);
            self.dall = vec![0.0; chunk * k];
            if has_nan {
                self.call = vec![0; chunk * k];
            }
        }
    }
    fn merge(mut self, other: Worker) -> Worker {
        for (a, b) in self.rw.iter_mut().zip(&other.rw) {
            *a += b;
        }
        for (a, b) in self.spa.iter_mut().zip(&other.spa) {
            *a += b;
        }
        if self.err.is_none() {
            self.err = other.err;
        }
        self
    }
}

/// Columns per tile of the sweep kernel: the accumulators of the chunk's simulations for one
/// tile (n × width doubles) should stay in a core's L2 cache (~512 KiB budget).
fn tile_width(n: usize, k: usize) -> usize {
    let w = 512 * 1024 / (8 * n.max(1));
    w.max(64).min(k.max(1))
}

/// Prefix kernel over the `n` simulations of a chunk. Every segment `[a, b)` of simulation `j`
/// is the pair of events (+P[b], −P[a]) on its accumulator; the events of the chunk are sorted by
/// row (counting sort), so the prefix rows are read once per chunk in memory order instead of
/// once per segment in random order. Each simulation's own events are applied in an order that
/// depends only on its own segments (row, then segment order), so results do not depend on how
/// simulations are grouped into chunks or on the number of threads.
/// Fills `w.dall[j*K..(j+1)*K]` with m*_{j,k} − m_k.
fn kernel_sweep(p: &Prepared, w: &mut Worker, n: usize, simd: bool) -> Result<()> {
    let (k, t) = (p.k, p.t);
    let has_nan = p.has_nan();
    // Counting sort of the endpoints by row.
    w.row_start.clear();
    w.row_start.resize(t + 2, 0);
    for segs in &w.seg_lists[..n] {
        for &(a, b) in segs {
            if a >= b || b > t {
                return Err(Error::Internal(format!("segment [{a}, {b}) outside 0..{t}")));
            }
            w.row_start[a + 1] += 1;
            w.row_start[b + 1] += 1;
        }
    }
    for r in 1..w.row_start.len() {
        w.row_start[r] += w.row_start[r - 1];
    }
    let total = w.row_start[t + 1];
    w.events.clear();
    w.events.resize(total, 0);
    w.cursor.clear();
    w.cursor.extend_from_slice(&w.row_start[..t + 1]);
    for (j, segs) in w.seg_lists[..n].iter().enumerate() {
        let tag = (j as u32) << 1;
        for &(a, b) in segs {
            let cb = &mut w.cursor[b];
            w.events[*cb] = tag;
            *cb += 1;
            let ca = &mut w.cursor[a];
            w.events[*ca] = tag | 1;
            *ca += 1;
        }
    }
    let tile = tile_width(n, k);
    w.dall[..n * k].fill(0.0);
    if has_nan {
        w.call[..n * k].fill(0);
    }
    let mut c0 = 0;
    while c0 < k {
        let wd = tile.min(k - c0);
        let args = SweepArgs { p, row_start: &w.row_start, events: &w.events, k, c0, wd };
        sweep_tile_dispatch(&args, simd, &mut w.stream, &mut w.dall, &mut w.call)?;
        c0 += wd;
    }
    for j in 0..n {
        let total: usize = w.seg_lists[j].iter().map(|(a, b)| b - a).sum();
        let row = &mut w.dall[j * k..(j + 1) * k];
        if has_nan {
            for (d, c) in row.iter_mut().zip(&w.call[j * k..(j + 1) * k]) {
                *d = if *c == 0 { f64::NAN } else { *d / *c as f64 };
            }
        } else {
            let inv = 1.0 / total as f64;
            for (d, m) in row.iter_mut().zip(&p.observed) {
                *d = if m.is_nan() || total == 0 { f64::NAN } else { *d * inv };
            }
        }
    }
    Ok(())
}

/// Inputs of one column tile of the sweep.
struct SweepArgs<'a> {
    p: &'a Prepared,
    row_start: &'a [usize],
    events: &'a [u32],
    k: usize,
    c0: usize,
    wd: usize,
}

/// Rows of the input centred at a time by the streamed sweep (four cache lines of a column in
/// Fortran order: 8 rows a time was 1.7× slower per simulation, 32 and 64 the same).
const STREAM_ROWS: usize = 32;

/// Buffers of the streamed sweep: the running prefix row of the tile (sums and counts) and the
/// centred values of the next [`STREAM_ROWS`] rows.
#[derive(Default)]
struct StreamBufs {
    run: Vec<f64>,
    run_cnt: Vec<u32>,
    rows: Vec<f64>,
}

/// Add the prefix row (`prow`, and `crow` when there are NaNs) of the row's events to their
/// simulations' accumulators: `+P[r]` for a segment ending at r, `−P[r]` for one starting at r.
/// Plain element-wise adds in event order: vectorizing them (SSE2 or AVX2) changes no rounding.
#[inline(always)]
fn apply_row_events(
    a: &SweepArgs<'_>,
    events: &[u32],
    prow: &[f64],
    crow: Option<&[u32]>,
    dall: &mut [f64],
    call: &mut [u64],
) -> Result<()> {
    let (k, c0, wd) = (a.k, a.c0, a.wd);
    for &e in events {
        let j = (e >> 1) as usize;
        let Some(acc) = dall.get_mut(j * k + c0..j * k + c0 + wd) else {
            return Err(Error::Internal("accumulator outside the chunk".into()));
        };
        if e & 1 == 0 {
            for (s, v) in acc.iter_mut().zip(prow) {
                *s += v;
            }
        } else {
            for (s, v) in acc.iter_mut().zip(prow) {
                *s -= v;
            }
        }
    }
    if let Some(crow) = crow {
        for &e in events {
            let j = (e >> 1) as usize;
            let Some(cacc) = call.get_mut(j * k + c0..j * k + c0 + wd) else {
                return Err(Error::Internal("count accumulator outside the chunk".into()));
            };
            if e & 1 == 0 {
                for (s, v) in cacc.iter_mut().zip(crow) {
                    *s = s.wrapping_add(u64::from(*v));
                }
            } else {
                for (s, v) in cacc.iter_mut().zip(crow) {
                    *s = s.wrapping_sub(u64::from(*v));
                }
            }
        }
    }
    Ok(())
}

/// Apply every event of the chunk to columns `c0..c0+wd` (sums, and counts when there are NaNs),
/// reading the stored prefix rows.
#[inline(always)]
fn sweep_tile_stored(
    a: &SweepArgs<'_>,
    prefix: &[f64],
    cnt: Option<&[u32]>,
    dall: &mut [f64],
    call: &mut [u64],
) -> Result<()> {
    let (k, c0, wd) = (a.k, a.c0, a.wd);
    for r in 0..=a.p.t {
        let (lo, hi) = (a.row_start[r], a.row_start[r + 1]);
        if lo == hi {
            continue;
        }
        let Some(prow) = prefix.get(r * k + c0..r * k + c0 + wd) else {
            return Err(Error::Internal("row outside the prefix sums".into()));
        };
        let crow = match cnt {
            Some(pc) => match pc.get(r * k + c0..r * k + c0 + wd) {
                Some(row) => Some(row),
                None => return Err(Error::Internal("row outside the count prefix".into())),
            },
            None => None,
        };
        apply_row_events(a, &a.events[lo..hi], prow, crow, dall, call)?;
    }
    Ok(())
}

/// The same sweep with `P[r]` rebuilt from the input as the rows go by: `P[r+1] = P[r] + (x[r] −
/// m, or 0 when NaN)`, exactly the additions that build the stored prefix sums, so the same
/// bits. At the end the running row must equal the column totals computed when the engine was
/// built; otherwise the input changed since then.
#[inline(always)]
fn sweep_tile_streamed(
    a: &SweepArgs<'_>,
    input: &Matrix<'_>,
    total: (&[f64], &[u32]),
    sb: &mut StreamBufs,
    dall: &mut [f64],
    call: &mut [u64],
) -> Result<()> {
    let (t, c0, wd) = (a.p.t, a.c0, a.wd);
    let has_nan = a.p.has_nan();
    let m = a.p.observed.get(c0..c0 + wd).ok_or_else(|| Error::Internal("tile outside the columns".into()))?;
    sb.run.clear();
    sb.run.resize(wd, 0.0);
    sb.run_cnt.clear();
    sb.run_cnt.resize(wd, 0);
    sb.rows.resize(STREAM_ROWS * wd, 0.0);
    for r0 in (0..=t).step_by(STREAM_ROWS) {
        let r1 = (r0 + STREAM_ROWS).min(t);
        // Centre rows r0..r1 of the tile into `sb.rows` (row-major), reading the input in its order.
        match input.layout {
            Layout::ColMajor => {
                for (c, &mc) in m.iter().enumerate() {
                    let base = (c0 + c) * t;
                    let col = input.values.get(base + r0..base + r1).unwrap_or(&[]);
                    for (i, &v) in col.iter().enumerate() {
                        sb.rows[i * wd + c] = centred_value(v, mc);
                    }
                }
            }
            Layout::RowMajor => {
                for r in r0..r1 {
                    let base = r * input.k + c0;
                    let Some(row) = input.values.get(base..base + wd) else {
                        return Err(Error::Internal("row outside the input".into()));
                    };
                    let dst = &mut sb.rows[(r - r0) * wd..(r - r0 + 1) * wd];
                    for ((d, &v), &mc) in dst.iter_mut().zip(row).zip(m) {
                        *d = centred_value(v, mc);
                    }
                }
            }
        }
        for r in r0..(r0 + STREAM_ROWS).min(t + 1) {
            let (lo, hi) = (a.row_start[r], a.row_start[r + 1]);
            if lo < hi {
                let crow = if has_nan { Some(&sb.run_cnt[..]) } else { None };
                apply_row_events(a, &a.events[lo..hi], &sb.run, crow, dall, call)?;
            }
            if r < t {
                let dv = &sb.rows[(r - r0) * wd..(r - r0 + 1) * wd];
                for (s, d) in sb.run.iter_mut().zip(dv) {
                    *s += if d.is_nan() { 0.0 } else { *d };
                }
                if has_nan {
                    for (n, d) in sb.run_cnt.iter_mut().zip(dv) {
                        *n += u32::from(!d.is_nan());
                    }
                }
            }
        }
    }
    let (tot, tot_n) = total;
    let same_sums = sb.run.iter().zip(&tot[c0..c0 + wd]).all(|(a, b)| a.to_bits() == b.to_bits());
    let same_counts = !has_nan || sb.run_cnt.iter().zip(&tot_n[c0..c0 + wd]).all(|(a, b)| a == b);
    if !(same_sums && same_counts) {
        return Err(Error::invalid(
            "the input array was modified after the Reality Check engine was built; build a new \
             null generator from the changed data",
        ));
    }
    Ok(())
}

/// One tile, stored or streamed.
#[inline(always)]
fn sweep_tile_body(a: &SweepArgs<'_>, sb: &mut StreamBufs, dall: &mut [f64], call: &mut [u64]) -> Result<()> {
    match &a.p.sums {
        Sums::Stored { prefix, cnt } => sweep_tile_stored(a, prefix, cnt.as_deref(), dall, call),
        Sums::Streamed { input, layout, total, total_cnt } => {
            let x = Matrix { values: input.values(), t: a.p.t, k: a.k, layout: *layout };
            sweep_tile_streamed(a, &x, (total, total_cnt), sb, dall, call)
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sweep_tile_avx2(a: &SweepArgs<'_>, sb: &mut StreamBufs, dall: &mut [f64], call: &mut [u64]) -> Result<()> {
    sweep_tile_body(a, sb, dall, call)
}

/// The same code compiled for AVX2 when the CPU has it (detected at run time) and `simd`, else
/// baseline.
fn sweep_tile_dispatch(
    a: &SweepArgs<'_>,
    simd: bool,
    sb: &mut StreamBufs,
    dall: &mut [f64],
    call: &mut [u64],
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    {
        if simd && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { sweep_tile_avx2(a, sb, dall, call) };
        }
    }
    let _ = simd;
    sweep_tile_body(a, sb, dall, call)
}

/// Reference kernel: gather every index of the segments.
fn kernel_gather(p: &Prepared, w: &mut Worker) -> Result<()> {
    let k = p.k;
    let Some(values) = &p.centred else {
        return Err(Error::Internal("gather kernel needs Prepared::new(.., keep_values=true)".into()));
    };
    w.acc.fill(0.0);
    w.cnt.fill(0);
    for &(a, b) in &w.segs {
        for t in a..b {
            let Some(row) = values.get(t * k..t * k + k) else {
                return Err(Error::Internal("index outside the data".into()));
            };
            for ((s, c), v) in w.acc.iter_mut().zip(w.cnt.iter_mut()).zip(row) {
                if !v.is_nan() {
                    *s += v;
                    *c += 1;
                }
            }
        }
    }
    if !p.has_nan() {
        // Same convention as the prefix kernel: counts are implied.
        let total: usize = w.segs.iter().map(|(a, b)| b - a).sum();
        w.cnt.fill(total as u64);
    }
    finish_means_with_counts(w);
    Ok(())
}

fn finish_means_with_counts(w: &mut Worker) {
    for ((d, s), c) in w.d.iter_mut().zip(&w.acc).zip(&w.cnt) {
        *d = if *c == 0 { f64::NAN } else { s / *c as f64 };
    }
}

/// Everything the per-simulation reduction needs, computed once from the observed data.
struct Targets {
    cmp: Vec<f64>,
    order: Vec<usize>,
    /// shift_k = m_k − μ_k per SPA variant (lower, consistent, upper).
    shift: [Vec<f64>; 3],
    /// sqrt(n_k)/ω_k of the observed statistic, 0 when ω is undefined (column excluded from the
    /// studentized max); the draws use their own ω* (draw_omega.rs), this one where ω* is undefined.
    scale: Vec<f64>,
    stud_valid: Vec<bool>,
    spa_obs_u: f64,
    spa_obs_s: f64,
}

fn targets(p: &Prepared, compare_to: Option<&[f64]>) -> Result<Targets> {
    let k = p.k;
    let cmp: Vec<f64> = match compare_to {
        Some(c) if c.len() != k => {
            return Err(Error::invalid(format!("observed statistics have {} values for {k} hypotheses", c.len())))
        }
        Some(c) => c.iter().zip(&p.observed).map(|(&v, m)| if m.is_nan() { f64::NAN } else { v }).collect(),
        None => p.observed.clone(),
    };
    if cmp.iter().any(|v| v.is_infinite()) {
        return Err(Error::invalid("observed statistics contain an infinite value"));
    }
    let order = stepdown_order(&cmp);
    let mut shift = [vec![0.0; k], vec![0.0; k], vec![0.0; k]];
    let mut scale = vec![0.0; k];
    let mut stud_valid = vec![false; k];
    let mut spa_obs_u = 0.0f64;
    let mut spa_obs_s = 0.0f64;
    for c in 0..k {
        let m = p.observed[c];
        if m.is_nan() {
            continue;
        }
        let n = p.n_obs[c] as f64;
        let w = p.omega[c];
        shift[0][c] = m.min(0.0);
        let loglog = if n > 1.0 { n.ln().ln().max(0.0) } else { 0.0 };
        let thr = if w.is_nan() { 0.0 } else { -((w * w / n) * 2.0 * loglog).sqrt() };
        shift[1][c] = if m >= thr { 0.0 } else { m };
        shift[2][c] = 0.0;
        spa_obs_u = spa_obs_u.max(m);
        if w.is_finite() && w > 0.0 {
            scale[c] = n.sqrt() / w;
            stud_valid[c] = true;
            spa_obs_s = spa_obs_s.max(m * scale[c]);
        }
    }
    Ok(Targets { cmp, order, shift, scale, stud_valid, spa_obs_u, spa_obs_s })
}

/// Reduce one simulation (w.d and w.dscale filled) into its null max, matrix row, and counts.
fn reduce_sim(p: &Prepared, tg: &Targets, centering: NullCentering, w: &mut Worker, row: Option<&mut [f64]>) -> f64 {
    for ((nv, d), m) in w.nullv.iter_mut().zip(&w.d).zip(&p.observed) {
        *nv = match centering {
            NullCentering::Recentred => *d,
            NullCentering::None => d + m,
        };
    }
    if let Some(row) = row {
        row.copy_from_slice(&w.nullv);
    }
    let vmax = nanmax(w.nullv.iter().copied());
    stepdown_accumulate(&w.nullv, &tg.order, &tg.cmp, &mut w.rw);
    for v in 0..3 {
        let mut mu = 0.0f64;
        let mut ms = 0.0f64;
        for c in 0..p.k {
            let d = w.d[c];
            if d.is_nan() {
                continue;
            }
            let e = d + tg.shift[v][c];
            mu = mu.max(e);
            if tg.stud_valid[c] {
                ms = ms.max(e * w.dscale[c]);
            }
        }
        if mu >= tg.spa_obs_u {
            w.spa[v] += 1;
        }
        if ms >= tg.spa_obs_s {
            w.spa[3 + v] += 1;
        }
    }
    vmax
}

// ---------------------------------------------------------------------------------------------
// The thread pool

struct PoolSlot {
    pid: u32,
    threads: usize,
    pool: Arc<rayon::ThreadPool>,
}

static POOL: Mutex<Option<PoolSlot>> = Mutex::new(None);

/// Threads to use: env `CRYPTO_ANALYZER_THREADS` (a positive integer), default all cores.
pub fn configured_threads() -> usize {
    std::env::var("CRYPTO_ANALYZER_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// The one pool of the engine, built on first use and rebuilt in a forked child (its threads do
/// not exist there) or when the configured thread count changed.
pub fn thread_pool() -> Result<Arc<rayon::ThreadPool>> {
    let pid = std::process::id();
    let threads = configured_threads();
    let mut slot = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(s) = slot.as_ref() {
        if s.pid == pid && s.threads == threads {
            return Ok(s.pool.clone());
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("cap-rc-{i}"))
        .build()
        .map_err(|e| Error::Runtime(format!("could not start the thread pool: {e}")))?;
    let old = slot.replace(PoolSlot { pid, threads, pool: Arc::new(pool) });
    if let Some(old) = old {
        if old.pid != pid {
            // After fork the parent's worker threads do not exist here: never touch that pool.
            std::mem::forget(old);
        }
    }
    slot.as_ref().map(|s| s.pool.clone()).ok_or_else(|| Error::Internal("thread pool slot empty".into()))
}

// ---------------------------------------------------------------------------------------------
// Entry points

/// Simulations per work item: the tiled kernel reuses each column tile across them.
const CHUNK: usize = 64;

/// Most simulations per work item when the prefix sums are streamed: every sweep centres the
/// whole input once, so up to 4× the simulations share that cost (tiles get narrower; results do
/// not depend on the grouping). Measured at T=25,000, K=2,000: 256 a sweep took 0.88× the CPU
/// time per simulation of the stored prefix sums at 64, where 64 a sweep streamed took 1.4×.
const CHUNK_STREAMED: usize = 256;

/// Where the indices of the simulations come from.
pub enum IndexSource<'a> {
    /// Generated by the bootstrap spec in `RcOptions`.
    Generated,
    /// Explicit indices, `n_sim` rows of `T` each (row-major); any values in `0..T`.
    Explicit(&'a [i64]),
}

fn validate(p: &Prepared, opts: &RcOptions) -> Result<()> {
    if opts.n_sim == 0 {
        return Err(Error::invalid("n_sim must be a positive integer"));
    }
    if opts.spec.t != p.t {
        return Err(Error::Internal(format!("bootstrap T {} != data T {}", opts.spec.t, p.t)));
    }
    if opts.kernel == Kernel::Gather && p.centred.is_none() {
        return Err(Error::Internal("gather kernel needs the values kept".into()));
    }
    if opts.keep_matrix && opts.n_sim.checked_mul(p.k).is_none() {
        return Err(Error::invalid("n_sim * K overflows"));
    }
    Ok(())
}

/// Run the whole batch. Returns `Error::Interrupted` when `control` is cancelled.
pub fn run(p: &Prepared, opts: &RcOptions, source: IndexSource<'_>, control: &RunControl) -> Result<RcResult> {
    validate(p, opts)?;
    let (k, t, n_sim) = (p.k, p.t, opts.n_sim);
    if let IndexSource::Explicit(idx) = &source {
        if Some(idx.len()) != n_sim.checked_mul(t) {
            return Err(Error::invalid(format!(
                "explicit indices must be n_sim x T = {n_sim} x {t} (got {} values)",
                idx.len()
            )));
        }
    }
    if t >= 2 && matches!(source, IndexSource::Generated) {
        opts.spec.check(n_sim as u64)?;
    }
    let tg = targets(p, opts.compare_to.as_deref())?;
    control.set_total(n_sim as u64);
    let mut null_max = vec![f64::NAN; n_sim];
    let mut matrix = if opts.keep_matrix { Some(vec![f64::NAN; n_sim * k]) } else { None };

    let finish = |null_max: Vec<f64>, matrix: Option<Vec<f64>>, rw: Vec<u64>, spa: [u64; 6]| {
        let observed_max = nanmax(tg.cmp.iter().copied());
        let rc_p = exceedance_pvalue(&null_max, observed_max);
        let romano_wolf = stepdown_pvalues(&tg.order, &rw, k, n_sim);
        let pv = |c: u64| (1 + c) as f64 / (n_sim + 1) as f64;
        RcResult {
            t,
            k,
            n_sim,
            centering: opts.centering,
            observed: tg.cmp.clone(),
            observed_max,
            rc_p_value: rc_p,
            null_max,
            romano_wolf,
            spa_unstudentized: SpaPValues { lower: pv(spa[0]), consistent: pv(spa[1]), upper: pv(spa[2]) },
            spa_studentized: SpaPValues { lower: pv(spa[3]), consistent: pv(spa[4]), upper: pv(spa[5]) },
            spa_stat_unstudentized: tg.spa_obs_u,
            spa_stat_studentized: tg.spa_obs_s,
            omega: p.omega.clone(),
            null_matrix: matrix,
        }
    };

    if t < 2 {
        // No statistic can be computed: every p-value is 1 (docs/statistics.md).
        control.add_done(n_sim as u64);
        let mut r = finish(null_max, matrix, vec![0; tg.order.len()], [0; 6]);
        r.rc_p_value = 1.0;
        r.romano_wolf = vec![1.0; k];
        let one = SpaPValues { lower: 1.0, consistent: 1.0, upper: 1.0 };
        r.spa_studentized = one;
        r.spa_unstudentized = one;
        return Ok(r);
    }

    let n_order = tg.order.len();
    let pool = thread_pool()?;
    // Streamed: as many simulations a sweep as keep every thread busy, up to CHUNK_STREAMED.
    let chunk = if p.is_streamed() {
        n_sim.div_ceil(pool.current_num_threads().max(1)).clamp(CHUNK, CHUNK_STREAMED)
    } else {
        CHUNK
    };
    let mut mat_chunks: Vec<Option<&mut [f64]>> = match matrix.as_mut() {
        Some(m) => m.chunks_mut(chunk * k).map(Some).collect(),
        None => (0..n_sim.div_ceil(chunk)).map(|_| None).collect(),
    };
    let source = &source;
    let tg_ref = &tg;
    let merged = pool.install(|| {
        null_max
            .par_chunks_mut(chunk)
            .zip(mat_chunks.par_iter_mut())
            .enumerate()
            .fold(
                || Worker::new(k, n_order),
                |mut w, (ci, (out, mat))| {
                    if w.err.is_some() || control.is_cancelled() {
                        return w;
                    }
                    w.ensure_chunk(k, p.has_nan(), chunk);
                    let n = out.len();
                    let r = (|| -> Result<()> {
                        // Phase 1: the segments of every simulation of the chunk.
                        for j in 0..n {
                            let b = ci * chunk + j;
                            let mut segs = std::mem::take(&mut w.seg_lists[j]);
                            match source {
                                IndexSource::Generated => {
                                    opts.spec.blocks(b as u64, &mut w.blocks)?;
                                    blocks_to_segments(&w.blocks, t, &mut segs);
                                }
                                IndexSource::Explicit(idx) => {
                                    let row = idx
                                        .get(b * t..(b + 1) * t)
                                        .ok_or_else(|| Error::Internal("explicit index row out of range".into()))?;
                                    indices_to_segments(row, t, &mut segs)?;
                                }
                            }
                            w.seg_lists[j] = segs;
                        }
                        // Phase 2: the centred means of every simulation.
                        match opts.kernel {
                            Kernel::PrefixSum => kernel_sweep(p, &mut w, n, true),
                            Kernel::PrefixSumScalar => kernel_sweep(p, &mut w, n, false),
                            Kernel::Gather => {
                                for j in 0..n {
                                    w.segs = std::mem::take(&mut w.seg_lists[j]);
                                    kernel_gather(p, &mut w)?;
                                    w.seg_lists[j] = std::mem::take(&mut w.segs);
                                    w.dall[j * k..(j + 1) * k].copy_from_slice(&w.d);
                                }
                                Ok(())
                            }
                        }
                    })();
                    if let Err(e) = r {
                        w.err = Some(e);
                        return w;
                    }
                    // Phase 3: the draws' own ω* for the studentized SPA (when the observed
                    // statistic is 0 every draw counts whatever its scale), then per-simulation
                    // maxima and counts.
                    if w.dscale_all.len() < n * k {
                        w.dscale_all.resize(n * k, 0.0);
                    }
                    if tg_ref.spa_obs_s > 0.0 {
                        let (segs, dall, out_s) = (&w.seg_lists[..n], &w.dall[..n * k], &mut w.dscale_all[..n * k]);
                        if let Err(e) = w.domega.chunk_scales(p, segs, dall, &tg_ref.scale, out_s) {
                            w.err = Some(e);
                            return w;
                        }
                    } else {
                        for row in w.dscale_all[..n * k].chunks_mut(k) {
                            row.copy_from_slice(&tg_ref.scale);
                        }
                    }
                    for (j, slot) in out.iter_mut().enumerate() {
                        let (dall, d) = (&w.dall, &mut w.d);
                        d.copy_from_slice(&dall[j * k..(j + 1) * k]);
                        let scales = &w.dscale_all[j * k..(j + 1) * k];
                        w.dscale.copy_from_slice(scales);
                        let row = mat.as_deref_mut().and_then(|m| m.get_mut(j * k..(j + 1) * k));
                        *slot = reduce_sim(p, tg_ref, opts.centering, &mut w, row);
                    }
                    control.add_done(out.len() as u64);
                    w
                },
            )
            .reduce(|| Worker::new(k, n_order), Worker::merge)
    });
    drop(mat_chunks);
    if let Some(e) = merged.err {
        return Err(e);
    }
    if control.is_cancelled() {
        return Err(Error::Interrupted);
    }
    Ok(finish(null_max, matrix, merged.rw, merged.spa))
}

/// The K null statistics of simulation `b` alone (what `null(b)` returns).
pub fn null_stats_one(p: &Prepared, spec: &BootstrapSpec, centering: NullCentering, b: u64) -> Result<Vec<f64>> {
    if p.t < 2 {
        return Ok(vec![f64::NAN; p.k]);
    }
    spec.check(b.saturating_add(1))?;
    let mut w = Worker::new(p.k, 0);
    w.ensure_chunk(p.k, p.has_nan(), 1);
    spec.blocks(b, &mut w.blocks)?;
    let mut segs = std::mem::take(&mut w.seg_lists[0]);
    blocks_to_segments(&w.blocks, p.t, &mut segs);
    w.seg_lists[0] = segs;
    kernel_sweep(p, &mut w, 1, true)?;
    w.d.copy_from_slice(&w.dall[..p.k]);
    Ok(w.d
        .iter()
        .zip(&p.observed)
        .map(|(d, m)| match centering {
            NullCentering::Recentred => *d,
            NullCentering::None => d + m,
        })
        .collect())
}

/// RC and Romano–Wolf from a caller-supplied null matrix (rows = simulations), used as-is.
pub struct MatrixPValues {
    pub observed_max: f64,
    pub rc_p_value: f64,
    pub null_max: Vec<f64>,
    pub romano_wolf: Vec<f64>,
}

pub fn pvalues_from_null_matrix(observed: &[f64], matrix: &[f64], n_sim: usize) -> Result<MatrixPValues> {
    let k = observed.len();
    if n_sim.checked_mul(k) != Some(matrix.len()) {
        return Err(Error::invalid(format!(
            "null matrix has {} values, expected n_sim x K = {n_sim} x {k}",
            matrix.len()
        )));
    }
    if observed.iter().chain(matrix).any(|v| v.is_infinite()) {
        return Err(Error::invalid("statistics contain an infinite value"));
    }
    let order = stepdown_order(observed);
    let mut counts = vec![0u64; order.len()];
    let mut null_max = Vec::with_capacity(n_sim);
    if k > 0 {
        for row in matrix.chunks(k) {
            null_max.push(nanmax(row.iter().copied()));
            stepdown_accumulate(row, &order, observed, &mut counts);
        }
    }
    let observed_max = nanmax(observed.iter().copied());
    let rc_p_value = if k == 0 { 1.0 } else { exceedance_pvalue(&null_max, observed_max) };
    Ok(MatrixPValues { observed_max, rc_p_value, null_max, romano_wolf: stepdown_pvalues(&order, &counts, k, n_sim) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_autocov_matches_direct() {
        let n = 300;
        let d: Vec<f64> = (0..n).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
        let m = d.iter().sum::<f64>() / n as f64;
        let d: Vec<f64> = d.iter().map(|v| v - m).collect();
        let g = autocovariances_fft(&d, &mut FftPlanner::new());
        for i in [0usize, 1, 5, 150, 299] {
            let direct: f64 = (0..n - i).map(|j| d[j] * d[j + i]).sum::<f64>() / n as f64;
            assert!((g[i] - direct).abs() <= 1e-10 * g[0].abs(), "lag {i}: {} vs {direct}", g[i]);
        }
    }

    #[test]
    fn stepdown_is_monotone() {
        let order = vec![2, 0, 1];
        let p = stepdown_pvalues(&order, &[5, 1, 9], 3, 99);
        assert_eq!(p[2], 0.06);
        assert_eq!(p[0], 0.06);
        assert_eq!(p[1], 0.1);
    }
}
