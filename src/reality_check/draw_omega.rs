//! Per-draw ω*_{b,k} for the studentized SPA (a bootstrap-t).
//!
//! The observed studentized statistic divides by ω̂_k, an estimate with its own sampling noise
//! (relative s.d. about sqrt(2L/T)); dividing every bootstrap draw by the same fixed ω̂_k gives
//! draws with unit variance, so the null is too light-tailed for the observed statistic and the
//! test over-rejects (measured 7.9 % at nominal 5 %, see docs/size_study.md). Studentizing each
//! draw by its own ω*_{b,k} carries that noise into the null.
//!
//! ω* is the block variance of Götze and Künsch (1996) over the draw's runs: a run is a maximal
//! stretch of consecutive period indices `[a, b)` (a block that wraps past T−1 is two runs).
//! With `c_{j,k}` the observations of column k in run j, `n*_k = Σ_j c_{j,k}` and
//! `S_{j,k} = Σ_{t in run j, observed} (x_{t,k} − m_k)`:
//!
//! ```text
//! ω*²_{b,k} = (1/n*_k) Σ_j (S_{j,k} − c_{j,k} d_{b,k})²,   d_{b,k} = m*_{b,k} − m_k,
//! scale*_{b,k} = sqrt(n*_k) / sqrt(λ ω*²_{b,k} + (1 − λ) ω̂²_k)
//! ```
//!
//! i.e. the sum over runs of the squared run sums of `x* − m̄*`, mixed with the kernel ω̂² with
//! weight λ = [`OMEGA_STAR_WEIGHT`]: ω*² alone (a batch mean over about T/L runs of random lengths)
//! is noisier than the ω̂² the observed statistic has, which made the pure bootstrap-t conservative.
//! Fewer than two runs with an observation (or a zero ω*) leave ω* undefined: that draw uses the
//! fixed `√n_k/ω̂_k`.
//! The run sums come from the centred prefix sums already built for the kernel: a draw costs
//! (number of runs)·K. The runs of a chunk of draws are counting-sorted by their first row and
//! the columns go by the kernel's own tiles (a tile's ω* follows its means, while its prefix sums
//! are in cache, and a streamed tile is built from the input once for both), so the prefix rows
//! are read about once per chunk in memory order (row b of a run is a few rows after row a)
//! instead of twice per run at random. Each draw sums its own runs in (first row, run order)
//! order: results do not depend on chunking or threads.
//!
//! Only what the tally can see is computed exactly. A draw counts for a recentring when some column
//! has `(d + shift)·scale ≥ s` (s > 0 the observed studentized statistic, every shift ≤ 0), so a
//! column with `d ≤ 0` never counts, and q only grows with each run (a sum of squares; floating-point
//! addition of a non-negative term never lowers it). So after the first third ([`FIRST_PART`]) of the
//! chunk's runs (in the same order), `d · mixed_scale(n*_max, q_so_far)` bounds the column's product
//! from above whatever the remaining runs add (n*_max bounds its final observations; [`mixed_scale`]
//! falls with q operation by operation in floating point, and grows with n* by far more than its
//! rounding); a column whose
//! bound and fallback product are both below s can no longer count, its scale is set to 0 (which
//! cannot count either) and its remaining runs are skipped. The rest — a few percent of the columns
//! on noise — add their remaining runs in the same order as before: the same bits, the same counts.

#![warn(missing_docs)]

use crate::error::{Error, Result};
use crate::reality_check::{tile_width, Prepared, TileBuf, TileView};

/// Reusable buffers of one worker.
#[derive(Debug, Default)]
pub struct DrawOmega {
    runs: Vec<(usize, usize)>,
    /// Runs of the chunk `(a, b, draw)`, then the same counting-sorted by `a`.
    all: Vec<(usize, usize, usize)>,
    sorted: Vec<(usize, usize, usize)>,
    bucket: Vec<usize>,
    /// Per draw and tile column: Σ (S − c d)²; with gaps also its observations and runs with one.
    q: Vec<f64>,
    n: Vec<u64>,
    nruns: Vec<u32>,
    /// Per draw: its observations, its runs (every column's, without gaps), and the observations
    /// of its runs after the first part.
    draw_len: Vec<u64>,
    draw_runs: Vec<u32>,
    rest_len: Vec<u64>,
    /// Runs in the first part (every column); per (draw, tile column): may it still count; per
    /// draw: the columns that may (CSR), or every column when they are many.
    cut: usize,
    open: Vec<bool>,
    open_start: Vec<usize>,
    open_cols: Vec<u32>,
    dense: Vec<bool>,
}

/// Share of a chunk's runs (1/FIRST_PART) added for every column before the columns that cannot
/// count are dropped: after a third, q is about a third of its final value, so the bound is about
/// 1.7 times the scale and a column stays open when its draw is past about 0.6 s (some 3 % of the
/// columns on noise). Measured at W2 (512 simulations, one process, alternating): a fifth, 30 %,
/// 40 % and 55 % took 5.6, 4.8, 5.6 and 5.9 CPU-s (min of 3); every run for every column (the
/// build before) took 7.3 in an earlier alternation.
const FIRST_PART: usize = 3;

/// Rows fetched ahead of the runs while the open columns are added (see `tile_scales`).
const PREFETCH_ROWS: usize = 64;

/// A draw whose open columns are more than 1/DENSE_SHARE of the tile adds its remaining runs to
/// every column (vectorized) rather than column by column.
const DENSE_SHARE: usize = 8;

/// Weight λ of the draw's own ω*² in the variance each draw is studentized by,
/// `ω²_{b,k} = λ ω*²_{b,k} + (1 − λ) ω̂²_k` (docs/size_study.md, "The studentized SPA: the same
/// scale, and each draw's ω mixed with ω̂").
/// ω*² is a batch-means estimate over the draw's runs; its sampling noise is larger than the
/// kernel ω̂²'s the observed statistic divides by, so λ = 1 (the pure bootstrap-t) gave a null
/// heavier than the observed statistic's: 3.6 % at T = 250, K = 10 and 1.0 % at K = 100, with
/// 18 points less power than the RC. λ = 0 is the fixed ω̂, which over-rejected (12–27 %).
pub(crate) const OMEGA_STAR_WEIGHT: f64 = 0.85;

/// `sqrt(n*) / ω` with `ω² = λ q / n* + fixed_var` (`fixed_var` = (1 − λ) ω̂²), written as
/// `n* / sqrt(λ q + n*·fixed_var)`: the pruning's bound is the same expression at a larger n* and
/// a smaller q. At equal n* each operation is monotone in q in floating point; a larger n* (an
/// integer) raises the exact value by a relative 1/(2n*) or more, far above the few ulps of
/// rounding, so the bound stays above (the pruning tests check it cell by cell). fixed_var = 0
/// gives `n*/sqrt(λ q)`.
#[inline(always)]
pub(crate) fn mixed_scale(n: f64, q: f64, fixed_var: f64) -> f64 {
    n / (OMEGA_STAR_WEIGHT * q + n * fixed_var).sqrt()
}

/// What the per-draw scales are for: the fixed scales used where ω* is undefined, the fixed part
/// of each column's variance ((1 − λ) ω̂², [`mixed_scale`]), and the observed studentized statistic
/// s the tally compares with (0: compute every scale exactly).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScaleTarget<'s> {
    pub fallback: &'s [f64],
    pub fixed_var: &'s [f64],
    pub threshold: f64,
}

/// Merge segments `[a, b)` that continue each other into maximal runs (order kept).
fn merge_runs(segs: &[(usize, usize)], out: &mut Vec<(usize, usize)>) {
    out.clear();
    for &(a, b) in segs {
        match out.last_mut() {
            Some(last) if last.1 == a => last.1 = b,
            _ => out.push((a, b)),
        }
    }
}

/// What one column tile of a chunk's draws needs: the draws' centred means `d` (n × wd), the
/// output scales (chunk × K, row j = draw j), the target and the tile's first column.
pub(crate) struct TileScales<'s> {
    pub k: usize,
    pub c0: usize,
    /// The tile's centred means, row j = draw j (n × wd).
    pub d_tile: &'s [f64],
    pub target: ScaleTarget<'s>,
    pub scale: &'s mut [f64],
}

impl DrawOmega {
    /// The runs of the chunk's draws (given by their segments), counting-sorted by first row:
    /// stable, so each draw keeps its own run order. Call once per chunk, before the tiles.
    pub(crate) fn sort_runs(&mut self, seg_lists: &[Vec<(usize, usize)>], t: usize) -> Result<()> {
        self.all.clear();
        for (j, segs) in seg_lists.iter().enumerate() {
            merge_runs(segs, &mut self.runs);
            for &(a, b) in &self.runs {
                if a >= b || b > t {
                    return Err(Error::Internal(format!("run [{a}, {b}) outside 0..{t}")));
                }
                self.all.push((a, b, j));
            }
        }
        self.bucket.clear();
        self.bucket.resize(t + 1, 0);
        for &(a, _, _) in &self.all {
            self.bucket[a + 1] += 1;
        }
        for r in 1..=t {
            self.bucket[r] += self.bucket[r - 1];
        }
        self.sorted.clear();
        self.sorted.resize(self.all.len(), (0, 0, 0));
        for &run in &self.all {
            let slot = &mut self.bucket[run.0];
            self.sorted[*slot] = run;
            *slot += 1;
        }
        let n = seg_lists.len();
        self.cut = self.sorted.len() / FIRST_PART;
        for v in [&mut self.draw_len, &mut self.rest_len] {
            v.clear();
            v.resize(n, 0);
        }
        self.draw_runs.clear();
        self.draw_runs.resize(n, 0);
        for (i, &(a, b, j)) in self.sorted.iter().enumerate() {
            self.draw_len[j] += (b - a) as u64;
            self.draw_runs[j] += 1;
            if i >= self.cut {
                self.rest_len[j] += (b - a) as u64;
            }
        }
        Ok(())
    }

    /// `scale[j*K + k] = sqrt(n*_k)/ω*_{j,k}` for the `n` draws of the chunk (runs from
    /// [`DrawOmega::sort_runs`]) and the columns of one tile, from that tile's prefix sums, where
    /// the tally can see it; 0 where it cannot (module doc). `fallback[k]` (the fixed
    /// sqrt(n_k)/ω̂_k) is used where ω* is undefined; columns with `d` NaN get NaN.
    #[inline(always)]
    pub(crate) fn tile_scales(&mut self, tile: &TileView<'_>, n: usize, out: &mut TileScales<'_>) -> Result<()> {
        let (k, c0, wd) = (out.k, out.c0, tile.wd);
        let target = out.target;
        if out.d_tile.len() < n * wd
            || out.scale.len() < n * k
            || target.fallback.len() < c0 + wd
            || target.fixed_var.len() < c0 + wd
            || self.draw_len.len() < n
        {
            return Err(Error::Internal("draw ω*: buffers shorter than the chunk".into()));
        }
        self.q.clear();
        self.q.resize(n * wd, 0.0);
        // Per-column observations and runs only with gaps; without, every column of a draw has
        // the draw's (`draw_len`, `draw_runs`).
        let per_column = tile.has_counts();
        let per_column_len = if per_column { n * wd } else { 0 };
        self.n.clear();
        self.n.resize(per_column_len, 0);
        self.nruns.clear();
        self.nruns.resize(per_column_len, 0);
        let d = out.d_tile;
        let total = self.sorted.len();
        // A threshold ≤ 0 asks for every scale: the first part is then every run.
        let first = if target.threshold > 0.0 { self.cut.min(total) } else { total };
        for idx in 0..first {
            let (a, b, j) = self.sorted[idx];
            self.add_run(tile, a, b, j, d, None)?;
        }
        if first < total {
            self.close_columns(n, wd, c0, d, target, per_column);
            let mut fetched = 0;
            // The tile's last row is T (sort_runs sized its buckets T + 1).
            let tile_rows = self.bucket.len().saturating_sub(1);
            for idx in first..total {
                let (a, b, j) = self.sorted[idx];
                // The open columns are scattered over the rows: the hardware prefetcher cannot
                // follow them, so the rows a little ahead (of a, and of most b) are fetched whole
                // (W2, 512 simulations, alternating in one process, CPU-s min / median: 4.9 / 5.4
                // with 48 rows ahead, 5.1 / 5.1 with 128, 5.5 / 6.8 without).
                while fetched <= (a + PREFETCH_ROWS).min(tile_rows) {
                    tile.prefetch_row(fetched);
                    fetched += 1;
                }
                if self.dense[j] {
                    self.add_run(tile, a, b, j, d, None)?;
                } else {
                    let (lo, hi) = (self.open_start[j], self.open_start[j + 1]);
                    self.add_run(tile, a, b, j, d, Some((lo, hi)))?;
                }
            }
        } else {
            self.open.clear();
            self.open.resize(n * wd, true);
        }
        for j in 0..n {
            for i in 0..wd {
                let col = c0 + i;
                let at = j * wd + i;
                let (nv, rv) =
                    if per_column { (self.n[at], self.nruns[at]) } else { (self.draw_len[j], self.draw_runs[j]) };
                let qv = self.q[at];
                let dv = d[at];
                out.scale[j * k + col] = if dv.is_nan() {
                    f64::NAN
                } else if !self.open[at] {
                    0.0
                } else if rv >= 2 && qv > 0.0 && qv.is_finite() {
                    mixed_scale(nv as f64, qv, target.fixed_var[col])
                } else {
                    target.fallback[col]
                };
            }
        }
        Ok(())
    }

    /// Add run `[a, b)` of draw `j` to the sums of its columns: every column of the tile, or the
    /// draw's open columns `open_cols[lo..hi]`. The same expressions either way (no fused
    /// multiply-add), so a column's sum has the same bits whichever way its runs were added.
    #[inline(always)]
    fn add_run(
        &mut self,
        view: &TileView<'_>,
        a: usize,
        b: usize,
        j: usize,
        d: &[f64],
        open: Option<(usize, usize)>,
    ) -> Result<()> {
        let wd = view.wd;
        let (pa, pb) = (view.row(a)?, view.row(b)?);
        let cols = j * wd..(j + 1) * wd;
        let outside = || Error::Internal(format!("draw {j} outside the chunk"));
        let (Some(dj), Some(q)) = (d.get(cols.clone()), self.q.get_mut(cols.clone())) else {
            return Err(outside());
        };
        match (view.cnt_row(a)?, view.cnt_row(b)?) {
            (Some(ca), Some(cb)) => {
                let (Some(nn), Some(nr)) = (self.n.get_mut(cols.clone()), self.nruns.get_mut(cols)) else {
                    return Err(outside());
                };
                let mut one = |i: usize| {
                    let c = cb[i].wrapping_sub(ca[i]);
                    if c != 0 {
                        let e = (pb[i] - pa[i]) - f64::from(c) * dj[i];
                        q[i] += e * e;
                        nn[i] += u64::from(c);
                        nr[i] += 1;
                    }
                };
                match open {
                    None => (0..wd).for_each(&mut one),
                    Some((lo, hi)) => self.open_cols[lo..hi].iter().for_each(|&i| one(i as usize)),
                }
            }
            (None, None) => {
                let c = (b - a) as f64;
                match open {
                    None => {
                        for (((q, &va), &vb), &dc) in q.iter_mut().zip(pa).zip(pb).zip(dj) {
                            let e = (vb - va) - c * dc;
                            *q += e * e;
                        }
                    }
                    Some((lo, hi)) => {
                        for &i in &self.open_cols[lo..hi] {
                            let i = i as usize;
                            let e = (pb[i] - pa[i]) - c * dj[i];
                            q[i] += e * e;
                        }
                    }
                }
            }
            _ => return Err(Error::Internal("draw ω*: counts missing".into())),
        }
        Ok(())
    }

    /// After the first part of the runs: mark the (draw, column) pairs that may still count
    /// (module doc) and list them per draw; a draw with many goes on adding to every column.
    fn close_columns(&mut self, n: usize, wd: usize, c0: usize, d: &[f64], target: ScaleTarget<'_>, counts: bool) {
        self.open.clear();
        self.open.resize(n * wd, false);
        self.open_cols.clear();
        self.open_start.clear();
        self.open_start.push(0);
        self.dense.clear();
        self.dense.resize(n, false);
        let s = target.threshold;
        for j in 0..n {
            let start = self.open_cols.len();
            for i in 0..wd {
                let at = j * wd + i;
                let dv = d[at];
                if dv.is_nan() || dv <= 0.0 {
                    continue; // (d + shift)·scale ≤ 0 < s whatever the scale
                }
                // Most observations and whether two runs are certain, for the final value.
                let (n_max, two_runs) = if counts {
                    (self.n[at] + self.rest_len[j], self.nruns[at] >= 2)
                } else {
                    (self.draw_len[j], self.draw_runs[j] >= 2)
                };
                let qv = self.q[at];
                let below = two_runs
                    && qv > 0.0
                    && qv.is_finite()
                    && dv * mixed_scale(n_max as f64, qv, target.fixed_var[c0 + i]) < s
                    && dv * target.fallback[c0 + i] < s;
                if !below {
                    self.open[at] = true;
                    self.open_cols.push(i as u32);
                }
            }
            if self.open_cols.len() - start > wd / DENSE_SHARE {
                self.dense[j] = true;
                self.open_cols.truncate(start);
                self.open[j * wd..(j + 1) * wd].fill(true);
            }
            self.open_start.push(self.open_cols.len());
        }
    }

    /// [`DrawOmega::sort_runs`] then [`DrawOmega::tile_scales`] over every tile: the scales of a
    /// whole chunk whose means came from elsewhere (the gather reference kernel).
    pub(crate) fn chunk_scales(
        &mut self,
        p: &Prepared,
        seg_lists: &[Vec<(usize, usize)>],
        d: &[f64],
        target: ScaleTarget<'_>,
        scale: &mut [f64],
        buf: &mut TileBuf,
    ) -> Result<()> {
        let (k, n) = (p.k, seg_lists.len());
        self.sort_runs(seg_lists, p.t)?;
        let tile = tile_width(n, k);
        let mut c0 = 0;
        while c0 < k {
            let wd = tile.min(k - c0);
            let view = p.tile(c0, wd, buf)?;
            let mut d_tile = Vec::with_capacity(n * wd);
            for row in d.chunks(k).take(n) {
                d_tile.extend_from_slice(&row[c0..c0 + wd]);
            }
            self.tile_scales(&view, n, &mut TileScales { k, c0, d_tile: &d_tile, target, scale })?;
            c0 += wd;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reality_check::{Layout, Matrix};

    #[test]
    fn runs_merge_only_contiguous_segments() {
        let mut out = Vec::new();
        merge_runs(&[(3, 5), (5, 9), (0, 2), (7, 8), (8, 9)], &mut out);
        assert_eq!(out, vec![(3, 9), (0, 2), (7, 9)]);
    }

    #[test]
    fn block_variance_by_definition() {
        // One column, x = [1, 2, 4, 8], m = 3.75.
        let x = [1.0, 2.0, 4.0, 8.0];
        let p = Prepared::new(Matrix { values: &x, t: 4, k: 1, layout: Layout::RowMajor }, 2.0, false).unwrap();
        let mut w = DrawOmega::default();
        let draws = vec![
            // Segments that continue each other are one run: a single run -> the fallback.
            vec![(0, 2), (2, 4)],
            // Runs [2,4) and [0,2): run sums of x - m are 4.5 and -4.5, d = 0, q = 40.5, n* = 4.
            vec![(2, 4), (0, 2)],
            // [2,4),[2,4): m* = 6, d = 2.25; run sums of x* - m* are 0 and 0 -> fallback.
            vec![(2, 4), (2, 4)],
            // [2,4),[2,3),[0,1): x* = 4, 8, 4, 1, m* = 4.25, d = 0.5; run sums of x* - m* are
            // 3.5, -0.25, -3.25: q = 22.875.
            vec![(2, 4), (2, 3), (0, 1)],
            // NaN mean: NaN scale.
            vec![(2, 4), (0, 2)],
        ];
        let d = [0.0, 0.0, 2.25, 0.5, f64::NAN];
        // The fixed part (1 − λ)ω̂² of the column's variance: 0.3.
        let exact = ScaleTarget { fallback: &[7.0], fixed_var: &[0.3], threshold: 0.0 };
        let mut scale = [0.0; 5];
        w.chunk_scales(&p, &draws, &d, exact, &mut scale, &mut TileBuf::default()).unwrap();
        assert_eq!(scale[0], 7.0);
        // sqrt(n*) / sqrt(λ ω*² + 0.3) with ω*² = q/n*, n* = 4.
        let by_definition = |q: f64| 2.0 / (OMEGA_STAR_WEIGHT * q / 4.0 + 0.3).sqrt();
        assert!((scale[1] - by_definition(40.5)).abs() < 1e-14, "{}", scale[1]);
        assert_eq!(scale[2], 7.0);
        assert!((scale[3] - by_definition(22.875)).abs() < 1e-14, "{}", scale[3]);
        assert!(scale[4].is_nan());
        // A draw's result does not depend on the other draws of its chunk.
        let mut one = [0.0];
        w.chunk_scales(&p, &draws[3..4], &d[3..4], exact, &mut one, &mut TileBuf::default()).unwrap();
        assert_eq!(one[0].to_bits(), scale[3].to_bits());
    }

    /// Dropping the columns that cannot count never changes a draw's decision: for many draws,
    /// columns and thresholds (some equal to a product, some small enough that most columns stay
    /// open and draws go dense), with and without gaps, `(d + shift)·scale ≥ s` is the same with
    /// the exact scales and with the pruned ones.
    #[test]
    fn dropped_columns_never_change_a_count() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut w = DrawOmega::default();
        let mut dropped = 0;
        for (t, k, nan) in [(60, 40, false), (60, 40, true), (97, 13, true), (200, 9, false)] {
            let x: Vec<f64> = (0..t * k).map(|_| if nan && next() < 0.1 { f64::NAN } else { next() - 0.5 }).collect();
            let p = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 4.0, false).unwrap();
            let n = 50;
            let draws: Vec<Vec<(usize, usize)>> = (0..n)
                .map(|_| {
                    let (mut segs, mut len) = (Vec::new(), 0);
                    while len < t {
                        let a = ((next() * t as f64) as usize).min(t - 1);
                        let b = (a + 1 + (next() * 7.0) as usize).min(t);
                        segs.push((a, b));
                        len += b - a;
                    }
                    segs
                })
                .collect();
            let d: Vec<f64> = (0..n * k).map(|_| (next() - 0.4) * 0.1).collect();
            let fallback: Vec<f64> = (0..k).map(|_| 1.0 + next() * 10.0).collect();
            // Half the columns with a fixed part of their variance, half without.
            let fixed_var: Vec<f64> = (0..k).map(|c| if c % 2 == 0 { 0.0 } else { next() * 0.02 }).collect();
            let mut exact = vec![0.0; n * k];
            let all = ScaleTarget { fallback: &fallback, fixed_var: &fixed_var, threshold: 0.0 };
            w.chunk_scales(&p, &draws, &d, all, &mut exact, &mut TileBuf::default()).unwrap();
            let mut products: Vec<f64> =
                d.iter().zip(&exact).map(|(a, b)| a * b).filter(|v| v.is_finite() && *v > 0.0).collect();
            products.sort_by(f64::total_cmp);
            for quantile in [0.0, 0.3, 0.7, 0.95, 0.999] {
                let s = products[((products.len() - 1) as f64 * quantile) as usize];
                let mut pruned = vec![0.0; n * k];
                let target = ScaleTarget { fallback: &fallback, fixed_var: &fixed_var, threshold: s };
                w.chunk_scales(&p, &draws, &d, target, &mut pruned, &mut TileBuf::default()).unwrap();
                for i in 0..n * k {
                    if d[i].is_nan() {
                        continue;
                    }
                    dropped += usize::from(pruned[i] == 0.0 && exact[i] != 0.0);
                    for shift in [0.0, -0.001, -0.02] {
                        let e = d[i] + shift;
                        assert_eq!(e * exact[i] >= s, e * pruned[i] >= s, "T={t} K={k} s={s} cell {i} shift {shift}");
                    }
                }
            }
        }
        // The test exercises the pruning: many scales were dropped.
        assert!(dropped > 1000, "only {dropped} scales dropped");
    }
}

#[cfg(test)]
mod pruning_tests {
    //! The pruning proven on the cases that can go wrong: every open cell keeps the exact scale's
    //! bits, every closed cell provably cannot count, on draws built to hit each branch.
    use super::*;
    use crate::reality_check::{Layout, Matrix};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: usize) -> usize {
            ((self.next() * n as f64) as usize).min(n - 1)
        }
    }

    /// The bound the pruning compares with s for cell (draw j, column i) after the first part,
    /// recomputed here from the tile's prefix rows in the engine's order and expressions:
    /// `(d · mixed_scale(n_max, q_first), two runs certain, q_first)`.
    fn first_part_bound(
        w: &DrawOmega,
        view: &TileView<'_>,
        j: usize,
        i: usize,
        dv: f64,
        fixed_var: f64,
    ) -> (f64, bool, f64) {
        let mut q = 0.0;
        let (mut nobs, mut nruns) = (0u64, 0u32);
        for &(a, b, jj) in &w.sorted[..w.cut] {
            if jj != j {
                continue;
            }
            let (pa, pb) = (view.row(a).unwrap()[i], view.row(b).unwrap()[i]);
            let c = match (view.cnt_row(a).unwrap(), view.cnt_row(b).unwrap()) {
                (Some(ca), Some(cb)) => cb[i] - ca[i],
                _ => (b - a) as u32,
            };
            if c == 0 {
                continue;
            }
            let e = if view.has_counts() { (pb - pa) - f64::from(c) * dv } else { (pb - pa) - (b - a) as f64 * dv };
            q += e * e;
            nobs += u64::from(c);
            nruns += 1;
        }
        let (n_max, two) =
            if view.has_counts() { (nobs + w.rest_len[j], nruns >= 2) } else { (w.draw_len[j], w.draw_runs[j] >= 2) };
        (dv * mixed_scale(n_max as f64, q, fixed_var), two, q)
    }

    #[test]
    fn open_cells_keep_their_exact_bits_and_closed_cells_cannot_count() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut seen = [0usize; 8];
        // (T, K, gaps): gaps switch the tile to per-column counts (n_max = observations so far +
        // every row left, which the gaps then make an over-count).
        for (t, k, gaps) in [(48, 12, false), (48, 12, true), (90, 30, true), (120, 9, false)] {
            let mut x: Vec<f64> = (0..t * k).map(|_| rng.next() - 0.5).collect();
            // Column 0 alternates 1, 3 (m = 2, centred ±1, prefix sums exact integers): runs of
            // one 3 each give S = c·d exactly for d = 1, so q = 0 with d > 0 (the fallback).
            for r in 0..t {
                x[r * k] = if r % 2 == 0 { 1.0 } else { 3.0 };
            }
            if gaps {
                for r in 0..t {
                    for c in 1..k {
                        // Column 1: only the last half has gaps (the rows the first part never
                        // reaches); column 2: one observation in the first rows, NaN after
                        // row 3; column 3: all NaN; the rest: 10 % gaps.
                        let nan = match c {
                            1 => r >= t / 2 && r % 3 != 0,
                            2 => r >= 3,
                            3 => true,
                            _ => rng.next() < 0.1,
                        };
                        if nan {
                            x[r * k + c] = f64::NAN;
                        }
                    }
                }
            }
            let p = Prepared::new(Matrix { values: &x, t, k, layout: Layout::RowMajor }, 4.0, false).unwrap();
            let mut draws: Vec<Vec<(usize, usize)>> = vec![
                // Draw 0: every run starts in the first rows, so (counting-sorted by first row)
                // all of them fall in the first third of the chunk's runs.
                vec![(0, 2), (1, 3), (0, 1), (2, 4), (1, 2), (0, 3)],
                // Draw 1: one run (the fallback: fewer than two runs).
                vec![(0, t)],
                // Draw 2: the runs [1,2) and [3,4) repeated: for column 0, S = 1 = c·d with d = 1.
                vec![(1, 2), (3, 4), (1, 2), (3, 4)],
                // Draw 3: segments that continue each other (one long run after merging), then short ones.
                vec![(t / 2, t / 2 + 3), (t / 2 + 3, t / 2 + 9), (t - 2, t), (5, 6)],
            ];
            while draws.len() < 40 {
                let (mut segs, mut len) = (Vec::new(), 0);
                while len < t {
                    let a = rng.below(t);
                    let b = (a + 1 + rng.below(8)).min(t);
                    segs.push((a, b));
                    len += b - a;
                }
                draws.push(segs);
            }
            let n = draws.len();
            let mut d: Vec<f64> = (0..n * k).map(|_| (rng.next() - 0.35) * 0.2).collect();
            d[2 * k] = 1.0; // draw 2, column 0: q = 0 exactly with d > 0
            d[5 * k + 1] = f64::NAN; // NaN statistics
            d[6 * k + 4] = f64::NAN;
            let fallback: Vec<f64> = (0..k).map(|_| 1.0 + rng.next() * 10.0).collect();
            // Columns with and without a fixed part of their variance ((1 − λ) ω̂²).
            let fixed_var: Vec<f64> = (0..k).map(|c| if c % 3 == 1 { 0.0 } else { rng.next() * 0.01 }).collect();

            let mut buf = TileBuf::default();
            let mut w = DrawOmega::default();
            let mut exact = vec![0.0; n * k];
            let all = ScaleTarget { fallback: &fallback, fixed_var: &fixed_var, threshold: 0.0 };
            w.chunk_scales(&p, &draws, &d, all, &mut exact, &mut buf).unwrap();
            assert_eq!(tile_width(n, k), k, "one tile: the bounds below are the tile's");
            // The runs as the pruned calls will see them (sort_runs depends on the draws only).
            w.sort_runs(&draws, t).unwrap();
            assert!(w.cut > 0 && w.cut < w.sorted.len());
            let draw0_first_part = w.sorted[..w.cut].iter().filter(|r| r.2 == 0).count();
            assert_eq!(draw0_first_part, w.draw_runs[0] as usize, "draw 0's runs all in the first third");
            assert_eq!(w.rest_len[0], 0);
            let view = p.tile(0, k, &mut buf).unwrap();
            let bounds: Vec<(f64, bool, f64)> =
                (0..n * k).map(|at| first_part_bound(&w, &view, at / k, at % k, d[at], fixed_var[at % k])).collect();
            // The q = 0 cell: exact scale is the fallback.
            assert_eq!(bounds[2 * k].2, 0.0);
            assert_eq!(exact[2 * k].to_bits(), fallback[0].to_bits());
            assert_eq!(exact[k].to_bits(), fallback[0].to_bits(), "one run: the fallback");

            let mut thresholds: Vec<f64> = Vec::new();
            let mut products: Vec<f64> =
                d.iter().zip(&exact).map(|(a, b)| a * b).filter(|v| v.is_finite() && *v > 0.0).collect();
            products.sort_by(f64::total_cmp);
            for qt in [0.0, 0.5, 0.9, 0.99] {
                thresholds.push(products[((products.len() - 1) as f64 * qt) as usize]);
            }
            // Thresholds equal to a bound (a cell at its own bound must stay open), to a
            // fallback product, and a hair above a bound (the cell may close).
            for at in (0..n * k).filter(|&at| d[at] > 0.0 && bounds[at].1 && bounds[at].2 > 0.0).step_by(37) {
                let s = bounds[at].0;
                if s.is_finite() && s > 0.0 {
                    thresholds.push(s);
                    thresholds.push(f64::from_bits(s.to_bits() + 1));
                    thresholds.push(d[at] * fallback[at % k]);
                }
            }
            for &s in &thresholds {
                let mut pruned = vec![0.0; n * k];
                let target = ScaleTarget { fallback: &fallback, fixed_var: &fixed_var, threshold: s };
                w.chunk_scales(&p, &draws, &d, target, &mut pruned, &mut buf).unwrap();
                for at in 0..n * k {
                    let (dv, fb) = (d[at], fallback[at % k]);
                    if dv.is_nan() {
                        assert!(pruned[at].is_nan() && exact[at].is_nan(), "cell {at}: NaN statistic, NaN scale");
                        seen[0] += 1;
                        continue;
                    }
                    let (bound, two, q) = bounds[at];
                    if pruned[at] != 0.0 {
                        // Open: the exact scale, to the bit.
                        assert_eq!(pruned[at].to_bits(), exact[at].to_bits(), "T={t} K={k} s={s} cell {at}");
                        seen[1] += 1;
                        if bound == s {
                            seen[2] += 1; // open at a threshold equal to its bound
                        }
                        if q == 0.0 && dv > 0.0 {
                            seen[3] += 1; // q = 0 after the first part: cannot close
                        }
                        if at / k == 0 {
                            seen[4] += 1; // a draw with every run in the first part
                        }
                    } else {
                        // Closed: it cannot count for any shift ≤ 0, with the exact scale or the
                        // fallback, and it was closed for the reason the module doc gives.
                        assert!(exact[at] != 0.0);
                        assert!(dv <= 0.0 || (dv * exact[at] < s && dv * fb < s), "cell {at} closed but counts");
                        if dv > 0.0 {
                            assert!(two && q > 0.0 && bound < s && dv * fb < s, "cell {at} closed without a bound");
                            assert!(dv * exact[at] <= bound, "cell {at}: the bound is not an upper bound");
                            seen[5] += 1;
                            if gaps {
                                seen[6] += 1;
                            }
                        } else {
                            seen[7] += 1;
                        }
                    }
                }
            }
        }
        // Every case was exercised.
        assert!(seen.iter().all(|&c| c > 0), "cases not reached: {seen:?}");
    }
}
