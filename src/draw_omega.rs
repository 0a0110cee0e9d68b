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
//! scale*_{b,k} = sqrt(n*_k) / ω*_{b,k}
//! ```
//!
//! i.e. the sum over runs of the squared run sums of `x* − m̄*`. Fewer than two runs with an
//! observation (or a zero variance) leave ω* undefined: that draw uses the fixed `√n_k/ω̂_k`.
//! The run sums come from the centred prefix sums already built for the kernel: a draw costs
//! (number of runs)·K. The runs of a chunk of draws are counting-sorted by their first row and
//! the columns go by the kernel's own tiles (a tile's ω* follows its means, while its prefix sums
//! are in cache, and a streamed tile is built from the input once for both), so the prefix rows
//! are read about once per chunk in memory order (row b of a run is a few rows after row a)
//! instead of twice per run at random. Each draw sums its own runs in (first row, run order)
//! order: results do not depend on chunking or threads.

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
    /// Per draw and tile column: Σ (S − c d)², observations, runs with an observation.
    q: Vec<f64>,
    n: Vec<u64>,
    nruns: Vec<u32>,
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

/// What one column tile of a chunk's draws needs: the draws' centred means `d` and the output
/// scales (both chunk × K, row j = draw j), the fallback scales (K) and the tile's first column.
pub(crate) struct TileScales<'s> {
    pub k: usize,
    pub c0: usize,
    /// The tile's centred means, row j = draw j (n × wd).
    pub d_tile: &'s [f64],
    pub fallback: &'s [f64],
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
        Ok(())
    }

    /// `scale[j*K + k] = sqrt(n*_k)/ω*_{j,k}` for the `n` draws of the chunk (runs from
    /// [`DrawOmega::sort_runs`]) and the columns of one tile, from that tile's prefix sums.
    /// `fallback[k]` (the fixed sqrt(n_k)/ω̂_k) is used where ω* is undefined; columns with `d`
    /// NaN get NaN.
    #[inline(always)]
    pub(crate) fn tile_scales(&mut self, tile: &TileView<'_>, n: usize, out: &mut TileScales<'_>) -> Result<()> {
        let (k, c0, wd) = (out.k, out.c0, tile.wd);
        if out.d_tile.len() < n * wd || out.scale.len() < n * k || out.fallback.len() < c0 + wd {
            return Err(Error::Internal("draw ω*: buffers shorter than the chunk".into()));
        }
        self.q.clear();
        self.q.resize(n * wd, 0.0);
        self.n.clear();
        self.n.resize(n * wd, 0);
        self.nruns.clear();
        self.nruns.resize(n * wd, 0);
        let d = out.d_tile;
        if tile.has_counts() {
            for &(a, b, j) in &self.sorted {
                let (pa, pb, ca, cb) = (tile.row(a)?, tile.row(b)?, tile.cnt_row(a)?, tile.cnt_row(b)?);
                let (Some(ca), Some(cb)) = (ca, cb) else {
                    return Err(Error::Internal("draw ω*: counts missing".into()));
                };
                let (Some(dj), Some(q), Some(nn), Some(nr)) = (
                    d.get(j * wd..(j + 1) * wd),
                    self.q.get_mut(j * wd..(j + 1) * wd),
                    self.n.get_mut(j * wd..(j + 1) * wd),
                    self.nruns.get_mut(j * wd..(j + 1) * wd),
                ) else {
                    return Err(Error::Internal(format!("draw {j} outside the chunk")));
                };
                for i in 0..wd {
                    let c = cb[i].wrapping_sub(ca[i]);
                    if c == 0 {
                        continue;
                    }
                    let e = (pb[i] - pa[i]) - f64::from(c) * dj[i];
                    q[i] += e * e;
                    nn[i] += u64::from(c);
                    nr[i] += 1;
                }
            }
        } else {
            for &(a, b, j) in &self.sorted {
                let (pa, pb) = (tile.row(a)?, tile.row(b)?);
                let (Some(dj), Some(q)) = (d.get(j * wd..(j + 1) * wd), self.q.get_mut(j * wd..(j + 1) * wd)) else {
                    return Err(Error::Internal(format!("draw {j} outside the chunk")));
                };
                let c = (b - a) as f64;
                for (((q, &va), &vb), &dc) in q.iter_mut().zip(pa).zip(pb).zip(dj) {
                    let e = (vb - va) - c * dc;
                    *q += e * e;
                }
                self.n[j * wd] += (b - a) as u64;
                self.nruns[j * wd] += 1;
            }
        }
        let per_column = tile.has_counts();
        for j in 0..n {
            for i in 0..wd {
                let col = c0 + i;
                // Without gaps the count and runs are the same for every column (slot 0).
                let at = if per_column { j * wd + i } else { j * wd };
                let (qv, nv, rv) = (self.q[j * wd + i], self.n[at], self.nruns[at]);
                let dv = d[j * wd + i];
                out.scale[j * k + col] = if dv.is_nan() {
                    f64::NAN
                } else if rv >= 2 && qv > 0.0 && qv.is_finite() {
                    // sqrt(n*) / sqrt(q / n*) = n* / sqrt(q)
                    nv as f64 / qv.sqrt()
                } else {
                    out.fallback[col]
                };
            }
        }
        Ok(())
    }

    /// [`DrawOmega::sort_runs`] then [`DrawOmega::tile_scales`] over every tile: the scales of a
    /// whole chunk whose means came from elsewhere (the gather reference kernel).
    pub(crate) fn chunk_scales(
        &mut self,
        p: &Prepared,
        seg_lists: &[Vec<(usize, usize)>],
        d: &[f64],
        fallback: &[f64],
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
            self.tile_scales(&view, n, &mut TileScales { k, c0, d_tile: &d_tile, fallback, scale })?;
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
        let mut scale = [0.0; 5];
        w.chunk_scales(&p, &draws, &d, &[7.0], &mut scale, &mut TileBuf::default()).unwrap();
        assert_eq!(scale[0], 7.0);
        assert!((scale[1] - 4.0 / 40.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(scale[2], 7.0);
        assert!((scale[3] - 4.0 / 22.875f64.sqrt()).abs() < 1e-14, "{}", scale[3]);
        assert!(scale[4].is_nan());
        // A draw's result does not depend on the other draws of its chunk.
        let mut one = [0.0];
        w.chunk_scales(&p, &draws[3..4], &d[3..4], &[7.0], &mut one, &mut TileBuf::default()).unwrap();
        assert_eq!(one[0].to_bits(), scale[3].to_bits());
    }
}
