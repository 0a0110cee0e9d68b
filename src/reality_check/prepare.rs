//! The data prepared once for any number of batches: validation, the observed means `m_k`, the
//! observation counts, Hansen's ω_k and the centred prefix sums (stored, or rebuilt from the
//! caller's input in every sweep: [`PrefixMode`]). Prepared in parallel by column blocks.

#![warn(missing_docs)]

use std::sync::Arc;

use rayon::prelude::*;

use super::omega::OmegaWorker;
use super::{Layout, Matrix};
use crate::error::{Error, Result};
use crate::pool::thread_pool;
use crate::pyfmt::python_str_repr;

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
    /// The mode named `auto`, `stored` or `streamed`; anything else is InvalidInput naming the three.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "stored" => Ok(PrefixMode::Stored),
            "streamed" => Ok(PrefixMode::Streamed),
            "auto" => Ok(PrefixMode::Auto),
            other => Err(Error::invalid(format!(
                "unknown prefix mode {}: expected 'auto', 'stored' or 'streamed'",
                python_str_repr(other)
            ))),
        }
    }
}

/// Above this size of stored prefix sums, [`PrefixMode::Auto`] streams them from the input.
pub const STORED_PREFIX_MAX_BYTES: usize = 256 << 20;

/// Columns per task when the data are prepared in parallel.
const PREP_COLS: usize = 64;

/// The centred prefix sums, stored or read from the input.
pub(super) enum Sums {
    Stored { prefix: Vec<f64>, cnt: Option<Vec<u32>> },
    Streamed { input: Arc<dyn SharedValues>, layout: Layout, total: Vec<f64> },
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
    /// Observations (rows, time steps) of every column.
    pub t: usize,
    /// Columns (hypotheses, strategies).
    pub k: usize,
    /// Observed statistics `m_k` (NaN: no observation, or T < 2).
    pub observed: Vec<f64>,
    /// Observations per column.
    pub n_obs: Vec<usize>,
    /// Hansen's ω_k (stationary-bootstrap kernel estimate); NaN when undefined.
    pub omega: Vec<f64>,
    /// Block length used for ω (1/q).
    pub omega_block_length: f64,
    pub(super) sums: Sums,
    pub(super) has_nan: bool,
    pub(super) centred: Option<Vec<f64>>,
}

/// What one pass over a column gives: the sum and count of its observations in row order (the
/// order defines the bits), its mean, Hansen's ω, the total of its centred values as the prefix
/// sums add them (`P[T]`, which a streamed sweep must arrive at), and where its first infinite
/// value is in `x.values` (then nothing else is computed).
struct ColumnPass {
    n_obs: usize,
    observed: f64,
    omega: f64,
    total: f64,
    first_inf: Option<usize>,
}

/// Columns read together by [`column_group`].
const GROUP_COLS: usize = 4;

/// Columns `c0..c0+w` (w ≤ [`GROUP_COLS`]), each read from memory once (a Fortran-ordered column
/// is one contiguous slice; a C-ordered one is gathered into `scratch`) and kept in cache from its
/// sum to its ω. A column's sum and centred total are each one chain of dependent additions in row
/// order (the order defines the bits); the group's chains advance in one loop, so the CPU overlaps
/// them instead of waiting on one at a time. Each column's additions are unchanged.
fn column_group(
    x: &Matrix<'_>,
    c0: usize,
    w: usize,
    ow: &mut OmegaWorker,
    scratch: &mut [Vec<f64>; GROUP_COLS],
) -> Vec<ColumnPass> {
    let (t, k) = (x.t, x.k);
    let w = w.min(GROUP_COLS);
    if x.layout == Layout::RowMajor {
        for (i, buf) in scratch.iter_mut().enumerate().take(w) {
            buf.clear();
            buf.extend(x.values.iter().skip(c0 + i).step_by(k.max(1)).take(t));
        }
    }
    // Missing members of a short group repeat its first column (their results are dropped).
    let col = |i: usize| -> &[f64] {
        let c = if i < w { i } else { 0 };
        match x.layout {
            Layout::ColMajor => x.values.get((c0 + c) * t..(c0 + c + 1) * t).unwrap_or(&[]),
            Layout::RowMajor => &scratch[c],
        }
    };
    let cols = [col(0), col(1), col(2), col(3)];
    // Every column has t values (the caller checked T·K); the loops never index past the shortest.
    let t = cols.iter().map(|c| c.len()).min().unwrap_or(0);
    let (mut sum, mut n_obs) = ([0.0f64; GROUP_COLS], [0usize; GROUP_COLS]);
    for r in 0..t {
        for ((s, n), c) in sum.iter_mut().zip(n_obs.iter_mut()).zip(&cols) {
            let v = c[r];
            if !v.is_nan() {
                *s += v;
                *n += 1;
            }
        }
    }
    let observed: [f64; GROUP_COLS] =
        std::array::from_fn(|i| if t < 2 || n_obs[i] == 0 { f64::NAN } else { sum[i] / n_obs[i] as f64 });
    let mut total = [0.0f64; GROUP_COLS];
    for r in 0..t {
        for ((s, &m), c) in total.iter_mut().zip(&observed).zip(&cols) {
            let d = centred_value(c[r], m);
            *s += if d.is_nan() { 0.0 } else { d };
        }
    }
    (0..w)
        .map(|i| {
            if !sum[i].is_finite() {
                if let Some(r) = cols[i].iter().position(|v| v.is_infinite()) {
                    let pos = match x.layout {
                        Layout::ColMajor => (c0 + i) * t + r,
                        Layout::RowMajor => r * k + c0 + i,
                    };
                    return ColumnPass {
                        n_obs: n_obs[i],
                        observed: f64::NAN,
                        omega: f64::NAN,
                        total: 0.0,
                        first_inf: Some(pos),
                    };
                }
            }
            let omega = ow.omega(cols[i].iter().copied(), observed[i]);
            ColumnPass { n_obs: n_obs[i], observed: observed[i], omega, total: total[i], first_inf: None }
        })
        .collect()
}

/// `x − m` (NaN when either is NaN): the centred value every prefix sum adds.
#[inline(always)]
pub(super) fn centred_value(v: f64, m: f64) -> f64 {
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
/// `P[t+1] = P[t] + (x[t] − m, or 0 when NaN)`, and the counts when asked. The one definition of
/// the prefix sums: the stored ones and every streamed tile are built here, so they agree bit for bit.
/// Rows of the input centred at a time when prefix sums are built from a Fortran-ordered input:
/// a column's rows are read as one contiguous run of this many values.
const CENTRE_ROWS: usize = 128;

/// The centred values of rows `r0..r1`, columns `c0..c0+m.len()` of `x` into `out` (row-major,
/// width `m.len()`), reading the input in its own memory order.
fn centre_rows(x: &Matrix<'_>, m: &[f64], c0: usize, r0: usize, r1: usize, out: &mut [f64]) {
    let w = m.len();
    match x.layout {
        Layout::ColMajor => {
            for (c, &mc) in m.iter().enumerate() {
                let base = (c0 + c) * x.t;
                let col = x.values.get(base + r0..base + r1).unwrap_or(&[]);
                for (o, &v) in out.iter_mut().skip(c).step_by(w).zip(col) {
                    *o = centred_value(v, mc);
                }
            }
        }
        Layout::RowMajor => {
            for (r, dst) in (r0..r1).zip(out.chunks_mut(w)) {
                let base = r * x.k + c0;
                let row = x.values.get(base..base + w).unwrap_or(&[]);
                for ((d, &v), &mc) in dst.iter_mut().zip(row).zip(m) {
                    *d = centred_value(v, mc);
                }
            }
        }
    }
}

fn prefix_block(x: &Matrix<'_>, observed: &[f64], c0: usize, rows: &mut [&mut [f64]], cnt: Option<&mut [&mut [u32]]>) {
    let w = rows.first().map(|r| r.len()).unwrap_or(0);
    let Some(m) = observed.get(c0..c0 + w) else { return };
    if w == 0 {
        return;
    }
    let mut acc = vec![0.0f64; w];
    let mut acc_n = vec![0u32; w];
    let mut block = vec![0.0f64; CENTRE_ROWS * w];
    let mut cnt = cnt;
    for r0 in (0..x.t).step_by(CENTRE_ROWS) {
        let r1 = (r0 + CENTRE_ROWS).min(x.t);
        centre_rows(x, m, c0, r0, r1, &mut block);
        for (tt, dv) in (r0..r1).zip(block.chunks(w)) {
            for (a, d) in acc.iter_mut().zip(dv) {
                *a += if d.is_nan() { 0.0 } else { *d };
            }
            if let Some(row) = rows.get_mut(tt + 1) {
                row.copy_from_slice(&acc);
            }
            if let Some(cnt) = cnt.as_deref_mut() {
                for (a, d) in acc_n.iter_mut().zip(dv) {
                    *a += u32::from(!d.is_nan());
                }
                if let Some(row) = cnt.get_mut(tt + 1) {
                    row.copy_from_slice(&acc_n);
                }
            }
        }
    }
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
        // One parallel pass over the columns: sums, counts, means, ω, centred totals, and where
        // the first infinite value is (a sum that is not finite has one: the values are finite
        // or NaN otherwise, and NaN is skipped).
        let cols: Vec<ColumnPass> = (0..k.div_ceil(GROUP_COLS))
            .into_par_iter()
            .map_init(
                || (OmegaWorker::new(omega_block_length), std::array::from_fn(|_| Vec::new())),
                |(ow, scratch), g| {
                    let c0 = g * GROUP_COLS;
                    column_group(&x, c0, GROUP_COLS.min(k - c0), ow, scratch)
                },
            )
            .flatten_iter()
            .collect();
        if let Some(pos) = cols.iter().filter_map(|c| c.first_inf).min() {
            let (row, col) = match x.layout {
                Layout::RowMajor => (pos / k, pos % k),
                Layout::ColMajor => (pos % t.max(1), pos / t.max(1)),
            };
            return Err(Error::invalid(format!(
                "data contains an infinite value (row {row}, hypothesis column {col}); \
                 replace it with NaN (no observation) or a finite value"
            )));
        }
        let observed: Vec<f64> = cols.iter().map(|c| c.observed).collect();
        let n_obs: Vec<usize> = cols.iter().map(|c| c.n_obs).collect();
        let omega: Vec<f64> = cols.iter().map(|c| c.omega).collect();
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
                let total = cols.iter().map(|c| c.total).collect();
                Sums::Streamed { input, layout: x.layout, total }
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
        Ok(Prepared { t, k, observed, n_obs, omega, omega_block_length, sums, has_nan, centred })
    }

    pub(super) fn has_nan(&self) -> bool {
        self.has_nan
    }

    /// True when the prefix sums are rebuilt from the input in every sweep.
    pub fn is_streamed(&self) -> bool {
        matches!(self.sums, Sums::Streamed { .. })
    }

    /// The centred prefix sums of columns `c0..c0+wd`: a view of the stored ones, or rebuilt
    /// from the input into `buf` ([`Prepared::build_tile`] then [`Prepared::tile_view`]).
    pub(crate) fn tile<'a>(&'a self, c0: usize, wd: usize, buf: &'a mut TileBuf) -> Result<TileView<'a>> {
        self.build_tile(c0, wd, buf)?;
        self.tile_view(c0, wd, buf)
    }

    /// Streamed mode: rebuild the prefix sums of columns `c0..c0+wd` from the input into `buf`
    /// (the same additions as the stored ones, so the same bits). A rebuilt tile must end on the
    /// column totals computed when the engine was built; otherwise the input changed. Stored
    /// mode: nothing to do.
    pub(crate) fn build_tile(&self, c0: usize, wd: usize, buf: &mut TileBuf) -> Result<()> {
        if c0 + wd > self.k {
            return Err(Error::Internal(format!("tile {c0}+{wd} outside {} columns", self.k)));
        }
        let Sums::Streamed { input, layout, total } = &self.sums else {
            return Ok(());
        };
        buf.built = None;
        let x = Matrix { values: input.values(), t: self.t, k: self.k, layout: *layout };
        let (t, has_nan) = (self.t, self.has_nan);
        let counts = if has_nan { Some(&mut buf.cnt) } else { None };
        tile_prefix(&x, &self.observed, c0, wd, &mut buf.prefix, counts);
        let last = buf.prefix.get(t * wd..(t + 1) * wd).unwrap_or(&[]);
        let same_sums =
            last.len() == wd && last.iter().zip(&total[c0..c0 + wd]).all(|(a, b)| a.to_bits() == b.to_bits());
        // A column's count prefix ends on its observations (none when it has no mean).
        let observations = |c: usize| if self.observed[c].is_nan() { 0 } else { self.n_obs[c] as u32 };
        let same_counts = !has_nan
            || buf
                .cnt
                .get(t * wd..(t + 1) * wd)
                .is_some_and(|n| n.iter().enumerate().all(|(i, &got)| got == observations(c0 + i)));
        if !(same_sums && same_counts) {
            return Err(Error::invalid(
                "the input array was modified after the Reality Check engine was built; build a new \
                 null generator from the changed data",
            ));
        }
        buf.built = Some((c0, wd));
        Ok(())
    }

    /// The prefix sums of columns `c0..c0+wd`: the stored ones, or those [`Prepared::build_tile`]
    /// put in `buf` for the same columns.
    pub(crate) fn tile_view<'a>(&'a self, c0: usize, wd: usize, buf: &'a TileBuf) -> Result<TileView<'a>> {
        if c0 + wd > self.k {
            return Err(Error::Internal(format!("tile {c0}+{wd} outside {} columns", self.k)));
        }
        match &self.sums {
            Sums::Stored { prefix, cnt } => Ok(TileView { prefix, cnt: cnt.as_deref(), stride: self.k, off: c0, wd }),
            Sums::Streamed { .. } if buf.built == Some((c0, wd)) => {
                let cnt = if self.has_nan { Some(&buf.cnt[..]) } else { None };
                Ok(TileView { prefix: &buf.prefix, cnt, stride: wd, off: 0, wd })
            }
            Sums::Streamed { .. } => Err(Error::Internal(format!("tile {c0}+{wd} was not built"))),
        }
    }
}

/// Columns per tile of the kernels: the tile-local accumulators of a chunk's `n` simulations
/// (n × width doubles) stay in a core's L2 cache. Narrower tiles keep them in L1 but pay the
/// per-event cost (decode, bounds, a few lanes) more often. Measured at T=25,000, K=8,000, n=256
/// (streamed): events + ω* for 512 simulations took 26.7, 8.8, 6.7 and 6.3 CPU-s with budgets of
/// 16 KiB, 64 KiB, 256 KiB and 1 MiB while the tile rebuild grew from 1.3 to 2.0 CPU-s; end to end
/// at B=1,000, 128 KiB, 256 KiB and 512 KiB took 13.1, 11.9 and 11.5 s.
pub(crate) fn tile_width(n: usize, k: usize) -> usize {
    let w = TILE_BYTES / (8 * n.max(1));
    w.clamp(TILE_MIN_COLS, 1024).min(k.max(1))
}

/// Accumulator budget of a tile (see [`tile_width`]).
const TILE_BYTES: usize = 512 * 1024;
const TILE_MIN_COLS: usize = 8;

/// A tile's prefix sums rebuilt from the input (streamed mode), reused from tile to tile.
#[derive(Debug, Default)]
pub(crate) struct TileBuf {
    prefix: Vec<f64>,
    cnt: Vec<u32>,
    /// The columns `(c0, wd)` the buffer holds (None while building or after a failed check).
    built: Option<(usize, usize)>,
}

/// One column tile's centred prefix sums as the kernels read them: `P[r]` of columns
/// `c0..c0+wd` is `prefix[r*stride + off..][..wd]`, the counts alike when the data have gaps.
pub(crate) struct TileView<'a> {
    prefix: &'a [f64],
    cnt: Option<&'a [u32]>,
    stride: usize,
    off: usize,
    pub wd: usize,
}

impl<'a> TileView<'a> {
    /// `P[r]` of the tile's columns.
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> Result<&'a [f64]> {
        let at = r * self.stride + self.off;
        self.prefix.get(at..at + self.wd).ok_or_else(|| Error::Internal(format!("row {r} outside the prefix sums")))
    }

    /// The observation counts up to row r (None when the data have no gaps).
    #[inline(always)]
    pub(crate) fn cnt_row(&self, r: usize) -> Result<Option<&'a [u32]>> {
        match self.cnt {
            None => Ok(None),
            Some(c) => {
                let at = r * self.stride + self.off;
                c.get(at..at + self.wd)
                    .map(Some)
                    .ok_or_else(|| Error::Internal(format!("row {r} outside the count prefix")))
            }
        }
    }

    pub(crate) fn has_counts(&self) -> bool {
        self.cnt.is_some()
    }

    /// Ask the CPU to start loading row r (sums and counts) into cache: a hint, no effect on
    /// results; nothing when r is outside the tile or the CPU is not x86-64.
    #[inline(always)]
    pub(crate) fn prefetch_row(&self, r: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let at = r * self.stride + self.off;
            if let Some(row) = self.prefix.get(at..at + self.wd) {
                for line in row.chunks(8) {
                    // SAFETY: prefetching never faults; the pointer is inside the slice.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
                }
            }
            if let Some(row) = self.cnt.and_then(|c| c.get(at..at + self.wd)) {
                for line in row.chunks(16) {
                    // SAFETY: as above.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = r;
    }
}

/// Prefix sums `P[r]`, r = 0..=T, of the centred columns `c0..c0+wd` of `x` (row-major, width
/// `wd`), and of their observation counts when `counts` is given: built by [`prefix_block`], the
/// function that builds the stored prefix sums, so both give the same bits.
fn tile_prefix(
    x: &Matrix<'_>,
    observed: &[f64],
    c0: usize,
    wd: usize,
    prefix: &mut Vec<f64>,
    counts: Option<&mut Vec<u32>>,
) {
    // Rows 1..=T are all written below and row 0 is zero: no need to clear the buffer that the
    // previous tile left (it is as large as the tile, and clearing it is a pass of its own).
    prefix.resize((x.t + 1) * wd, 0.0);
    prefix.truncate((x.t + 1) * wd);
    if wd == 0 {
        return;
    }
    prefix[..wd].fill(0.0);
    let mut rows: Vec<&mut [f64]> = prefix.chunks_mut(wd).collect();
    match counts {
        Some(cnt) => {
            cnt.resize((x.t + 1) * wd, 0);
            cnt.truncate((x.t + 1) * wd);
            cnt[..wd].fill(0);
            let mut crows: Vec<&mut [u32]> = cnt.chunks_mut(wd).collect();
            prefix_block(x, observed, c0, &mut rows, Some(&mut crows));
        }
        None => prefix_block(x, observed, c0, &mut rows, None),
    }
}
