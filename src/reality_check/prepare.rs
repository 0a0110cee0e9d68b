//! The data prepared once for any number of batches: validation, the observed means `m_k`, the
//! observation counts, Hansen's ω_k and the centred prefix sums (stored, or rebuilt from the
//! caller's input in every sweep: [`PrefixMode`]). Prepared in parallel by column blocks.

use std::sync::Arc;

use rayon::prelude::*;

use super::omega::omega_all;
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
    pub(super) sums: Sums,
    pub(super) has_nan: bool,
    pub(super) centred: Option<Vec<f64>>,
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

    pub(super) fn has_nan(&self) -> bool {
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
